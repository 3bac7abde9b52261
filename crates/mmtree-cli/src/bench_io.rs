//! `mmtree bench-io FILE`: the seeds' experiment on your own file and machine — read(), pread()
//! and mmap access, sequential and random, cold and warm cache, with time and page faults.

use crate::common::outln;
use crate::proc_stats::Faults;
use anyhow::{bail, Context, Result};
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Reads FILE four ways — read() sequential, pread() random 4 KiB, mmap sequential and random —
/// each with a cold page cache (evicted first) and a warm one, and prints time, MiB/s and page
/// faults. Works on any file; a database file is never modified.
///
/// Example: mmtree bench-io data.mmt --random 20000
#[derive(clap::Args)]
pub struct Args {
    /// The file to read.
    file: PathBuf,
    /// Random 4 KiB reads per random run.
    #[arg(long, default_value_t = 20_000)]
    random: u64,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

const BLOCK: u64 = 4096;

/// One way of reading the file: returns (bytes read, a checksum so the reads are not elided).
type Access<'a> = dyn Fn() -> Result<(u64, u64)> + 'a;

struct Run {
    name: String,
    cache: &'static str,
    elapsed: Duration,
    bytes: u64,
    faults: Faults,
    checksum: u64,
}

fn evict(file: &std::fs::File, len: u64) -> Result<()> {
    rustix::fs::fadvise(file, 0, NonZeroU64::new(len), rustix::fs::Advice::DontNeed)?;
    Ok(())
}

/// A fresh read-only mapping (each mmap run maps anew, so a cold run really starts cold: pages
/// still mapped by a process cannot be evicted).
fn map(file: &std::fs::File) -> Result<memmap2::Mmap> {
    // SAFETY: a read-only mapping of a file we opened read-only. If another program truncated
    // the file while this command runs, touching a page past the new end would raise SIGBUS;
    // that is the documented limit of this measuring tool, which never writes.
    unsafe { memmap2::Mmap::map(file) }.context("mapping the file")
}

fn offsets(len: u64, count: u64) -> Vec<u64> {
    let blocks = (len / BLOCK).max(1);
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % blocks) * BLOCK
        })
        .collect()
}

pub fn run(args: Args) -> Result<()> {
    let file = std::fs::File::open(&args.file)
        .with_context(|| format!("opening {}", args.file.display()))?;
    let len = file.metadata()?.len();
    if len < BLOCK {
        bail!("{} is smaller than 4 KiB", args.file.display());
    }
    let random = offsets(len, args.random);
    let mut runs = Vec::new();
    let kinds: [(&str, &Access<'_>); 4] = [
        ("read() sequential", &|| {
            let mut buf = vec![0u8; 1 << 20];
            let (mut offset, mut sum) = (0u64, 0u64);
            while offset < len {
                let n = file.read_at(&mut buf, offset)?;
                if n == 0 {
                    break;
                }
                sum = sum.wrapping_add(
                    buf[..n]
                        .iter()
                        .step_by(512)
                        .map(|&b| u64::from(b))
                        .sum::<u64>(),
                );
                offset += n as u64;
            }
            Ok((offset, sum))
        }),
        ("pread() random 4K", &|| {
            let mut buf = vec![0u8; BLOCK as usize];
            let mut sum = 0u64;
            for &offset in &random {
                let n = file.read_at(&mut buf, offset)?;
                sum = sum.wrapping_add(u64::from(buf[n / 2]));
            }
            Ok((random.len() as u64 * BLOCK, sum))
        }),
        ("mmap sequential", &|| {
            let map = map(&file)?;
            let sum = map
                .iter()
                .step_by(512)
                .fold(0u64, |s, &b| s.wrapping_add(u64::from(b)));
            Ok((len, sum))
        }),
        ("mmap random 4K", &|| {
            let map = map(&file)?;
            let sum = random.iter().fold(0u64, |s, &o| {
                s.wrapping_add(u64::from(map[o as usize + 100]))
            });
            Ok((random.len() as u64 * BLOCK, sum))
        }),
    ];
    for (name, body) in kinds {
        for cache in ["cold", "warm"] {
            if cache == "cold" {
                evict(&file, len)?;
            }
            let faults = Faults::now();
            let started = Instant::now();
            let (bytes, checksum) = body()?;
            runs.push(Run {
                name: name.to_string(),
                cache,
                elapsed: started.elapsed(),
                bytes,
                faults: Faults::now().since(faults),
                checksum,
            });
        }
    }
    for run in &runs {
        let mib_s = run.bytes as f64 / (1 << 20) as f64 / run.elapsed.as_secs_f64().max(1e-9);
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"access": run.name, "cache": run.cache, "seconds": run.elapsed.as_secs_f64(),
                    "bytes": run.bytes, "mib_per_s": mib_s, "minor_faults": run.faults.minor,
                    "major_faults": run.faults.major, "checksum": run.checksum})
            )?;
        } else {
            outln!(
                "{:<20} {:<5} {:>10.2?} {:>10.1} MiB/s  faults {:>8} minor {:>7} major",
                run.name,
                run.cache,
                run.elapsed,
                mib_s,
                run.faults.minor,
                run.faults.major
            )?;
        }
    }
    Ok(())
}
