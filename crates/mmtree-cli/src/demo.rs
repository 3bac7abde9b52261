//! `mmtree demo`: the README's main job. Loads records into a fresh database, reads them back
//! with random gets and a range scan, reopens it, and reports what each step cost.

use crate::common::outln;
use crate::proc_stats::Faults;
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use mmtree::Db;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct Args {
    /// Records to load (1 to 100,000,000).
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    value_size: usize,
    /// Records per write transaction.
    #[arg(long, default_value_t = 100_000)]
    batch: u64,
    /// Database file to create; a temporary file (deleted afterwards) if not given. An existing
    /// file is refused, so the demo never touches real data.
    #[arg(long)]
    path: Option<PathBuf>,
}

const TABLE: &str = "demo";

/// The demo's second process: random gets on the same file, reporting its own page faults.
#[derive(clap::Args)]
pub struct ReaderArgs {
    #[arg(long)]
    path: PathBuf,
    #[arg(long)]
    records: u64,
    #[arg(long)]
    value_size: usize,
    #[arg(long)]
    gets: u64,
}

pub fn reader(args: ReaderArgs) -> Result<()> {
    let start = Faults::now();
    let started = Instant::now();
    let db = Db::open(&args.path)?;
    let r = db.begin_read()?;
    let t = r.table(TABLE)?.context("the demo table is missing")?;
    random_gets(&t, args.records, args.value_size, args.gets, 5)?;
    let faults = Faults::now().since(start);
    outln!(
        "{} {} {} {}",
        args.gets,
        started.elapsed().as_nanos(),
        faults.minor,
        faults.major
    )?;
    Ok(())
}

/// The key of record `i`: records are inserted in a scrambled order, not sorted.
fn key(i: u64) -> [u8; 16] {
    let mut key = *b"user:00000000000";
    let digits = format!("{i:011}");
    key[5..].copy_from_slice(digits.as_bytes());
    key
}

fn value(i: u64, size: usize, out: &mut Vec<u8>) {
    out.clear();
    out.extend((0..size).map(|j| b'a' + ((i as usize + j) % 26) as u8));
}

/// `gets` random lookups among `records`, each value checked (`salt` varies the order).
fn random_gets(
    t: &mmtree::ReadTable<'_>,
    records: u64,
    value_size: usize,
    gets: u64,
    salt: u64,
) -> Result<()> {
    let probe = scramble(records.wrapping_mul(salt).max(records));
    let mut buf = Vec::new();
    for i in 0..gets {
        let id = probe(i) % records;
        let got = t
            .get(key(id))?
            .with_context(|| format!("record {id} is missing"))?;
        value(id, value_size, &mut buf);
        if got != buf.as_slice() {
            bail!("record {id} has a wrong value");
        }
    }
    Ok(())
}

/// A permutation of 0..n: i -> (i * step) mod n with gcd(step, n) = 1.
fn scramble(n: u64) -> impl Fn(u64) -> u64 {
    let mut step = (6_364_136_223_846_793_005 % n.max(1)) | 1;
    while gcd(step, n) != 1 {
        step += 2;
    }
    move |i| ((i as u128 * step as u128) % n as u128) as u64
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn rate(count: u64, elapsed: Duration) -> String {
    let per_second = count as f64 / elapsed.as_secs_f64().max(1e-9);
    if per_second >= 1e6 {
        format!("{:.2} M/s", per_second / 1e6)
    } else {
        format!("{:.0} k/s", per_second / 1e3)
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

pub fn run(args: Args) -> Result<()> {
    if args.records == 0 || args.records > 100_000_000 {
        bail!(
            "--records must be between 1 and 100000000 (got {})",
            args.records
        );
    }
    if args.value_size > 1 << 20 {
        bail!(
            "--value-size must be at most 1 MiB for the demo (got {})",
            args.value_size
        );
    }
    let _temp;
    let path = match args.path {
        Some(path) => {
            if path.exists() {
                bail!(
                    "{} already exists; the demo only creates new files",
                    path.display()
                );
            }
            path
        }
        None => {
            let dir = tempfile::tempdir().context("creating a temporary directory")?;
            let path = dir.path().join("demo.mmt");
            _temp = dir;
            path
        }
    };
    let n = args.records;
    let batch = args.batch.max(1);
    let order = scramble(n);
    outln!(
        "mmtree demo: {n} records, {}-byte values, in {}",
        args.value_size,
        path.display()
    )?;
    let start_faults = Faults::now();

    // 1. Load, in scrambled key order, `batch` records per durable commit.
    let db = Db::open(&path).with_context(|| format!("opening {}", path.display()))?;
    let bar = ProgressBar::new(n).with_style(
        ProgressStyle::with_template("  load   [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut buf = Vec::new();
    let mut done = 0;
    while done < n {
        let end = (done + batch).min(n);
        let mut w = db.begin_write()?;
        {
            let mut t = w.table(TABLE)?;
            for i in done..end {
                let id = order(i);
                value(id, args.value_size, &mut buf);
                t.insert(key(id), &buf)?;
            }
        }
        w.commit()?;
        bar.set_position(end);
        done = end;
    }
    bar.finish_and_clear();
    let load = started.elapsed();
    outln!(
        "  load         {n:>11} records  {:>9.2?}  {:>11}  ({} commits)",
        load,
        rate(n, load),
        n.div_ceil(batch)
    )?;

    // 2. Random gets, each value checked.
    let gets = n.min(1_000_000);
    let started = Instant::now();
    {
        let r = db.begin_read()?;
        let t = r.table(TABLE)?.context("the demo table is missing")?;
        random_gets(&t, n, args.value_size, gets, 3)?;
    }
    let get = started.elapsed();
    outln!(
        "  random get   {gets:>11} lookups  {:>9.2?}  {:>11}",
        get,
        rate(gets, get)
    )?;

    // 3. A full ordered scan, then a short range.
    let started = Instant::now();
    let (count, bytes) = {
        let r = db.begin_read()?;
        let t = r.table(TABLE)?.context("the demo table is missing")?;
        let mut count = 0u64;
        let mut bytes = 0u64;
        let mut previous: Option<&[u8]> = None;
        for item in t.range(..)? {
            let (k, v) = item?;
            if previous.is_some_and(|p| p >= k) {
                bail!("the scan is out of order");
            }
            previous = Some(k);
            count += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        (count, bytes)
    };
    let scan = started.elapsed();
    if count != n {
        bail!("the scan found {count} records, expected {n}");
    }
    outln!(
        "  full scan    {count:>11} records  {:>9.2?}  {:>11}  ({})",
        scan,
        rate(count, scan),
        mib(bytes)
    )?;
    let (from, to) = (key(n / 2), key(n / 2 + 1000));
    let in_range = db
        .begin_read()?
        .table(TABLE)?
        .context("the demo table is missing")?
        .range(&from[..]..&to[..])?
        .count();
    outln!(
        "  range        {in_range:>11} records  [{}, {})",
        String::from_utf8_lossy(&from),
        String::from_utf8_lossy(&to)
    )?;

    // 4. Reopen: no log to replay, no index to rebuild.
    let stats = db.stats();
    drop(db);
    let started = Instant::now();
    let db = Db::open(&path)?;
    let len = db.begin_read()?.table(TABLE)?.map_or(Ok(0), |t| t.len())?;
    let reopen = started.elapsed();
    outln!("  reopen       {len:>11} records  {:>9.2?}", reopen)?;

    // 5. A second process reading the same file: it shares this process's page-cache pages, so
    //    its faults are minor (mapping a cached page), not major (reading from disk).
    let second = std::process::Command::new(std::env::current_exe()?)
        .args([
            "demo-reader",
            "--records",
            &n.to_string(),
            "--value-size",
            &args.value_size.to_string(),
            "--gets",
            &gets.to_string(),
            "--path",
        ])
        .arg(&path)
        .output()
        .context("starting the second process")?;
    if !second.status.success() {
        bail!(
            "the second process failed: {}",
            String::from_utf8_lossy(&second.stderr)
        );
    }
    let figures: Vec<u128> = String::from_utf8_lossy(&second.stdout)
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    if let [count, nanos, minor, major] = figures[..] {
        let elapsed = Duration::from_nanos(nanos as u64);
        outln!(
            "  2nd process  {count:>11} lookups  {elapsed:>9.2?}  {:>11}  ({minor} minor, {major} major faults)",
            rate(count as u64, elapsed)
        )?;
    }

    // 6. What it cost.
    let faults = Faults::now().since(start_faults);
    let (resident, total) = db.cache_residency()?;
    outln!(
        "  file         {} ({} pages of {} B, {} free), {:.0} bytes per record",
        mib(stats.file_bytes),
        stats.page_count,
        stats.page_size,
        stats.free_pages,
        stats.file_bytes as f64 / n as f64
    )?;
    outln!(
        "  page cache   {} of {} resident ({:.0}%)",
        mib(resident),
        mib(total),
        100.0 * resident as f64 / total.max(1) as f64
    )?;
    outln!(
        "  page faults  {} minor, {} major (this process)",
        faults.minor,
        faults.major
    )?;
    let report = db.check()?;
    if !report.is_ok() {
        bail!("check found problems: {:?}", report.problems);
    }
    outln!(
        "  check        ok ({} pages in use, {} free)",
        report.pages_in_use,
        report.pages_free
    )?;
    Ok(())
}
