//! W7, larger than RAM: random gets over a database at least 4x a memory cap, reported per
//! interval, to show whether throughput collapses once the cache is full.
//!
//! The gets run in a child process placed in a memory cgroup whose limit is the cap (cgroup v1
//! `memory.limit_in_bytes`, or v2 `memory.max`). Page-cache pages, including those of a shared
//! mapping, are charged to the cgroup of the process that faults them in, so the store's file
//! pages compete for the cap with its heap. Before the child starts, the store's files are
//! synced and dropped from the page cache (`POSIX_FADV_DONTNEED`), so no page it reads is
//! already resident and charged elsewhere. Where no cgroup can be made (not root, no memory
//! controller), only that eviction is done and the method says "fadvise": the figures then
//! show a cold start, not a cap.
//!
//! By hand, the same setup is:
//! ```sh
//! mkdir /sys/fs/cgroup/memory/w7 && echo $((512<<20)) > /sys/fs/cgroup/memory/w7/memory.limit_in_bytes
//! echo $$ > /sys/fs/cgroup/memory/w7/cgroup.procs   # then run the reader from this shell
//! ```

use crate::{permutation, Store};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a W7 run measured for one store.
pub struct W7 {
    pub method: String,
    pub cap_bytes: u64,
    pub file_bytes: u64,
    pub interval_s: f64,
    pub gets_per_s: Vec<f64>,
}

impl W7 {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "method": self.method, "cap_bytes": self.cap_bytes, "file_bytes": self.file_bytes,
            "interval_s": self.interval_s, "gets_per_s": self.gets_per_s,
        })
    }

    /// Reads back what [`W7::json`] wrote (`None` for null or not an object).
    pub fn from_json(w: &serde_json::Value) -> Option<W7> {
        let w = w.as_object()?;
        Some(W7 {
            method: w["method"].as_str().unwrap_or("").to_string(),
            cap_bytes: w["cap_bytes"].as_u64().unwrap_or(0),
            file_bytes: w["file_bytes"].as_u64().unwrap_or(0),
            interval_s: w["interval_s"].as_f64().unwrap_or(0.0),
            gets_per_s: w["gets_per_s"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_f64()).collect())
                .unwrap_or_default(),
        })
    }

    /// Mean gets/s over the first and the last quarter of the intervals.
    pub fn start_and_end(&self) -> (f64, f64) {
        let n = self.gets_per_s.len();
        let quarter = (n / 4).max(1);
        let mean = |xs: &[f64]| {
            if xs.is_empty() {
                0.0
            } else {
                xs.iter().sum::<f64>() / xs.len() as f64
            }
        };
        (
            mean(&self.gets_per_s[..quarter.min(n)]),
            mean(&self.gets_per_s[n.saturating_sub(quarter)..]),
        )
    }
}

/// A memory cgroup made for one run, removed on drop.
struct Cgroup {
    dir: PathBuf,
    method: &'static str,
}

impl Cgroup {
    fn create(limit: u64) -> Option<Cgroup> {
        let name = format!("mmtree-bench-{}", std::process::id());
        // cgroup v1: the memory controller's own hierarchy.
        let v1 = Path::new("/sys/fs/cgroup/memory");
        if v1.join("memory.limit_in_bytes").exists() {
            let dir = v1.join(&name);
            if std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join("memory.limit_in_bytes"), limit.to_string()).is_ok()
            {
                return Some(Cgroup {
                    dir,
                    method: "cgroup v1 memory.limit_in_bytes",
                });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        // cgroup v2: the unified hierarchy, wherever it is mounted.
        for root in ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"] {
            let root = Path::new(root);
            let controllers = std::fs::read_to_string(root.join("cgroup.controllers"));
            if !controllers.is_ok_and(|c| c.split_whitespace().any(|c| c == "memory")) {
                continue;
            }
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+memory");
            let dir = root.join(&name);
            if std::fs::create_dir_all(&dir).is_ok()
                && std::fs::write(dir.join("memory.max"), limit.to_string()).is_ok()
            {
                return Some(Cgroup {
                    dir,
                    method: "cgroup v2 memory.max",
                });
            }
            let _ = std::fs::remove_dir(&dir);
        }
        None
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Syncs every file under `path` and drops it from the page cache.
pub fn evict(path: &Path) -> Result<()> {
    let mut files = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            files.push(entry?.path());
        }
    } else {
        files.push(path.to_path_buf());
        // Sidecars next to a single-file store (SQLite's -wal/-shm, mmtree's -lock).
        if let (Some(parent), Some(name)) = (path.parent(), path.file_name()) {
            for entry in std::fs::read_dir(parent)? {
                let entry = entry?.path();
                let sidecar = entry.file_name().is_some_and(|n| {
                    n != name && n.to_string_lossy().starts_with(&*name.to_string_lossy())
                });
                if sidecar {
                    files.push(entry);
                }
            }
        }
    }
    for file in files.iter().filter(|f| f.is_file()) {
        let f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(file)?;
        f.sync_all()?;
        rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)
            .with_context(|| format!("fadvise {}", file.display()))?;
    }
    Ok(())
}

/// Runs W7 for a store whose database (`records` bulk-loaded records) is at `path`, already
/// closed: evicts it, then runs the reader child under `cap` bytes.
pub fn run(
    store: &str,
    dir: &Path,
    path: &Path,
    file_bytes: u64,
    records: u64,
    seconds: f64,
    cap: u64,
) -> Result<W7> {
    evict(path)?;
    let cgroup = Cgroup::create(cap);
    let method = cgroup
        .as_ref()
        .map_or("fadvise only (no cgroup)", |c| c.method);
    eprintln!(
        "[{store}] W7: random gets for {seconds} s, file {} MiB, cap {} MiB ({method})",
        file_bytes >> 20,
        cap >> 20
    );
    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["--child", "w7", "--store", store, "--records"])
        .arg(records.to_string())
        .arg("--w7-seconds")
        .arg(seconds.to_string())
        .arg("--dir")
        .arg(dir)
        .arg("--profile")
        .arg(format!("{}/{}", crate::key_size(), crate::value_size()))
        // Stores with a cache of their own keep it well under the cap.
        .env("MMTREE_BENCH_CACHE_BYTES", (cap / 4).to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    if let Some(cgroup) = &cgroup {
        command.arg("--cgroup").arg(&cgroup.dir);
    }
    let out = command.output()?;
    drop(cgroup);
    let text = String::from_utf8_lossy(&out.stdout);
    let gets_per_s: Vec<f64> = if out.status.success() {
        text.lines()
            .find_map(|l| l.strip_prefix("W7 "))
            .context("the W7 child printed no series")?
            .split_whitespace()
            .filter_map(|x| x.parse().ok())
            .collect()
    } else {
        // Killed by the OOM killer, most likely: a store that cannot live under the cap.
        eprintln!("[{store}] W7 child failed: {}", out.status);
        Vec::new()
    };
    Ok(W7 {
        method: if out.status.success() {
            method.to_string()
        } else {
            format!("{method}; the reader failed: {}", out.status)
        },
        cap_bytes: cap,
        file_bytes,
        interval_s: INTERVAL.as_secs_f64(),
        gets_per_s,
    })
}

const INTERVAL: Duration = Duration::from_millis(500);

/// The W7 child (already in its cgroup, with the store opened): does uniformly random gets,
/// printing gets/s per interval on one line.
pub fn child(store: &mut dyn Store, records: u64, seconds: f64) -> Result<()> {
    let mut series = Vec::new();
    let probe = permutation(records, 4242);
    let started = Instant::now();
    let mut next = 0u64;
    let mut interval_start = started;
    let mut interval_gets = 0u64;
    while started.elapsed().as_secs_f64() < seconds {
        let chunk = 200;
        let found = store.gets(&mut (next..next + chunk).map(|i| probe(i % records) * 2))?;
        anyhow::ensure!(found == chunk, "{}: W7 gets missed records", store.name());
        next += chunk;
        interval_gets += chunk;
        let now = Instant::now();
        if now - interval_start >= INTERVAL {
            series.push(interval_gets as f64 / (now - interval_start).as_secs_f64());
            interval_start = now;
            interval_gets = 0;
        }
    }
    let line: Vec<String> = series.iter().map(|x| format!("{x:.0}")).collect();
    println!("W7 {}", line.join(" "));
    Ok(())
}

/// Moves this process into a cgroup (before it opens anything).
pub fn join_cgroup(dir: &Path) -> Result<()> {
    std::fs::write(dir.join("cgroup.procs"), std::process::id().to_string())
        .with_context(|| format!("joining {}", dir.display()))
}
