//! mmtree and its peers — LMDB (through `heed`), redb, SQLite (rusqlite, bundled) and, with
//! the `rocksdb` feature, RocksDB — measured side by side, in one run, on one machine, on the
//! same data with the same durability (every commit synced).
//!
//! ```sh
//! cargo run --release -p mmtree-bench -- --scale 10m [--profile 24/150] [--peers lmdb,redb,sqlite]
//! ```
//!
//! Each store runs in a child process of its own (so its peak RSS and page faults are its own,
//! and no store inherits another's warm cache): sorted bulk load, W1 random-order load, W2
//! single-put commits, W3 durable batches, W4 random gets (1 and 2 threads), W5 seek + next
//! and a full scan, reopen, W7 random gets under a memory cap (a grandchild in a memory
//! cgroup), in-order inserts (one transaction of plain puts into a fresh store; LMDB with
//! `MDB_APPEND`), W8 space amplification, file size, peak RSS, faults. Gets check the bytes they
//! read. Each ratio is mmtree's figure over the peer's (> 1.00 means mmtree is better: faster,
//! or for time and size, smaller). The table is Markdown; `--json` and `--plots` write the rest.

mod lmdb;
mod mm;
mod plot;
mod redb_store;
#[cfg(feature = "rocksdb")]
mod rocks;
mod rww;
mod sqlite_store;
mod w7;

use anyhow::{Context, Result};
use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "mmtree vs LMDB, redb and SQLite, side by side")]
struct Args {
    /// Records for the bulk load.
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    /// Durable batches of 1000 random inserts.
    #[arg(long, default_value_t = 200)]
    batches: u64,
    /// Random gets.
    #[arg(long, default_value_t = 1_000_000)]
    gets: u64,
    /// A preset: 1m, 10m or 100m records (sets --records, and --w7-seconds unless given).
    #[arg(long)]
    scale: Option<String>,
    /// Key and value bytes: 16/100 (the default) or 24/150.
    #[arg(long, default_value = "16/100")]
    profile: String,
    /// Run one store only (for profiling): mmtree, lmdb, redb, sqlite or rocksdb.
    #[arg(long)]
    only: Option<String>,
    /// Seconds of W7 (random gets with the store's memory capped); 0 skips it.
    #[arg(long, default_value_t = 10.0)]
    w7_seconds: f64,
    /// W7's memory cap in MiB, the same for every store (default: a quarter of the live key
    /// and value bytes, at least 32 MiB).
    #[arg(long, default_value_t = 0)]
    w7_cap_mib: u64,
    /// Write plots (SVG) of the results into this directory.
    #[arg(long)]
    plots: Option<std::path::PathBuf>,
    /// Only draw the plots (into --plots) from a JSON file an earlier run wrote, e.g. one merged
    /// from several `--only` runs.
    #[arg(long, requires = "plots")]
    plot_from: Option<std::path::PathBuf>,
    /// Records for W1's random-order load (into a fresh store, commits of 100,000).
    #[arg(long, default_value_t = 1_000_000)]
    w1_records: u64,
    /// Records for W8 (delete half, overwrite 10x): a fixed size, so it stays short at any scale.
    #[arg(long, default_value_t = 100_000)]
    w8_records: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The peers to compare with (rocksdb needs the `rocksdb` feature).
    #[arg(long, value_delimiter = ',', default_value = DEFAULT_PEERS)]
    peers: Vec<String>,
    /// Run only the in-order insert workload (quick comparisons of that one row).
    #[arg(long)]
    in_order_only: bool,
    /// Run the readwhilewriting workload (reader processes + one writer process) instead.
    #[arg(long)]
    readwhilewriting: bool,
    /// Reader process counts for --readwhilewriting.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    procs: Vec<usize>,
    /// Seconds per --readwhilewriting run.
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// (internal) run as a child process of --readwhilewriting: reader or writer.
    #[arg(long, hide = true)]
    child: Option<String>,
    /// (internal) the child's store.
    #[arg(long, hide = true)]
    store: Option<String>,
    /// (internal) the memory cgroup a W7 child joins.
    #[arg(long, hide = true)]
    cgroup: Option<std::path::PathBuf>,
    /// (internal) the child's database path.
    #[arg(long, hide = true)]
    path: Option<std::path::PathBuf>,
    /// Directory for the databases (a temporary one if not given).
    #[arg(long)]
    dir: Option<std::path::PathBuf>,
}

/// The byte of each value compared on a get (so the value is really read); every profile's
/// values are longer than this.
pub const VALUE_CHECK_BYTE: usize = 99;
pub const BATCH: u64 = 1000;

#[cfg(feature = "rocksdb")]
const DEFAULT_PEERS: &str = "lmdb,redb,rocksdb,sqlite";
#[cfg(not(feature = "rocksdb"))]
const DEFAULT_PEERS: &str = "lmdb,redb,sqlite";

/// The cache size a store with a cache of its own should use (set by W7 under a memory cap).
pub fn cache_bytes() -> Option<usize> {
    std::env::var("MMTREE_BENCH_CACHE_BYTES").ok()?.parse().ok()
}

/// One row of results: workload, unit, figure, whether higher is better.
type Row = (String, String, f64, bool);

/// The longest key and value of any profile.
const MAX_KEY: usize = 24;
const MAX_VALUE: usize = 150;
static KEY_LEN: AtomicUsize = AtomicUsize::new(16);
static VALUE_LEN: AtomicUsize = AtomicUsize::new(100);

/// Sets the record profile (16/100 or 24/150) for this process; call once before any key.
pub fn set_profile(key_len: usize, value_len: usize) {
    assert!(
        (16..=MAX_KEY).contains(&key_len)
            && (VALUE_CHECK_BYTE + 1..=MAX_VALUE).contains(&value_len)
    );
    KEY_LEN.store(key_len, Ordering::Relaxed);
    VALUE_LEN.store(value_len, Ordering::Relaxed);
}

pub fn key_size() -> usize {
    KEY_LEN.load(Ordering::Relaxed)
}

pub fn value_size() -> usize {
    VALUE_LEN.load(Ordering::Relaxed)
}

/// A key or value: a fixed buffer and a length, read as a byte slice.
#[derive(Clone, Copy)]
pub struct Bytes<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> std::ops::Deref for Bytes<N> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> AsRef<[u8]> for Bytes<N> {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

/// Record `id`'s key (16 or 24 bytes); the id big-endian first, so key order is id order.
/// Bulk-loaded records have even ids, randomly inserted ones odd ids, spread over the whole key
/// range.
pub fn key(id: u64) -> Bytes<MAX_KEY> {
    let mut buf = [0u8; MAX_KEY];
    buf[..8].copy_from_slice(&id.to_be_bytes());
    let mut h = id.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    for chunk in buf[8..].chunks_mut(8) {
        chunk.copy_from_slice(&h.to_be_bytes()[..chunk.len()]);
        h = h.rotate_left(17).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
    Bytes {
        buf,
        len: key_size(),
    }
}

/// Record `id`'s value (100 or 150 bytes).
pub fn value(id: u64) -> Bytes<MAX_VALUE> {
    let mut buf = [0u8; MAX_VALUE];
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte = (id as usize).wrapping_add(i * 7) as u8;
    }
    Bytes {
        buf,
        len: value_size(),
    }
}

/// A permutation of 0..n (multiplication by a unit mod n).
pub fn permutation(n: u64, salt: u64) -> impl Fn(u64) -> u64 {
    let n = n.max(1);
    let mut step = (0x9E37_79B9_7F4A_7C15u64.wrapping_add(salt) % n) | 1;
    while gcd(step, n) != 1 {
        step += 2;
    }
    move |i| ((i as u128 * step as u128 + salt as u128) % n as u128) as u64
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// What each store implements.
pub trait Store {
    fn name(&self) -> &'static str;
    /// Loads ids 0, 2, 4, … (sorted) in one transaction.
    fn bulk_load(&mut self, records: u64) -> Result<()>;
    /// One durable commit inserting these ids.
    fn insert_batch(&mut self, ids: &[u64]) -> Result<()>;
    /// One durable commit inserting these ids, given in increasing key order past every key of
    /// the table, with the store's plain put (LMDB: its put with `MDB_APPEND`, the fastest it
    /// has for such input; mmtree: the plain `insert`, no bulk loader).
    fn in_order_inserts(&mut self, ids: &[u64]) -> Result<()> {
        self.insert_batch(ids)
    }
    /// One durable commit deleting these ids.
    fn delete_batch(&mut self, ids: &[u64]) -> Result<()>;
    /// Looks each id up; returns how many were found (every value's bytes are read).
    fn gets(&mut self, ids: &mut dyn Iterator<Item = u64>) -> Result<u64>;
    /// The same from `threads` threads at once, each taking every `threads`-th id.
    fn gets_threads(&mut self, ids: &[u64], threads: usize) -> Result<u64>;
    /// Iterates everything; returns (records, key+value bytes).
    fn scan(&mut self) -> Result<(u64, u64)>;
    /// For each id: seek to its key and read the next `n` entries; returns entries read.
    fn seek_next(&mut self, ids: &mut dyn Iterator<Item = u64>, n: usize) -> Result<u64>;
    /// Closes and reopens, then reads one record.
    fn reopen(&mut self) -> Result<()>;
    /// Holds off the store's background work after writes until `settle` (mmtree: its
    /// background merge of the write buffer, by holding the writer role as a writer at work
    /// would). Peers: nothing.
    fn hold_background(&mut self) -> Result<()> {
        Ok(())
    }
    /// Lets the store's background work after writes run, and waits until it is done (mmtree:
    /// the write buffer merged by its background merge). Peers: nothing.
    fn settle(&mut self) -> Result<()> {
        Ok(())
    }
    fn file_bytes(&self) -> Result<u64>;
}

/// This thread's CPU time so far.
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn time<T>(f: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
    let start = Instant::now();
    let out = f()?;
    Ok((out, start.elapsed()))
}

/// (minor, major) page faults of this process so far, from /proc/self/stat.
fn faults() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let field = |i: usize| fields.get(i).and_then(|f| f.parse().ok()).unwrap_or(0);
    (field(7), field(9))
}

/// Every workload for one store, in this (child) process; then peak RSS and faults.
fn run_all(store: &mut dyn Store, args: &Args, dir: &std::path::Path) -> Result<Vec<Row>> {
    let (minor_before, major_before) = faults();
    let mut out = run_workloads(store, args, dir)?;
    let (minor_after, major_after) = faults();
    let minor = minor_after.saturating_sub(minor_before) as f64;
    let major = major_after.saturating_sub(major_before) as f64;
    out.push(("peak RSS".into(), "MiB".into(), peak_rss_mib(), false));
    out.push(("page faults, minor".into(), "count".into(), minor, false));
    out.push(("page faults, major".into(), "count".into(), major, false));
    Ok(out)
}

/// This process's peak resident set (VmHWM), in MiB. For stores that map their file it
/// includes the mapped file pages they touched.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn run_workloads(store: &mut dyn Store, args: &Args, dir: &std::path::Path) -> Result<Vec<Row>> {
    let mut out = Vec::new();
    let n = args.records;
    eprintln!("[{}] bulk load {n} records", store.name());
    let ((), t) = time(|| store.bulk_load(n))?;
    out.push((
        "sorted bulk load".into(),
        "records/s".into(),
        n as f64 / t.as_secs_f64(),
        true,
    ));
    let after_load = store.file_bytes()? as f64 / (1 << 20) as f64;

    eprintln!(
        "[{}] {} durable batches of {BATCH} random inserts",
        store.name(),
        args.batches
    );
    let slots = (n * 2).max(BATCH * args.batches * 2);
    let order = permutation(slots / 2, 17);
    let ((), t) = time(|| {
        let mut ids = Vec::with_capacity(BATCH as usize);
        for b in 0..args.batches {
            ids.clear();
            ids.extend((0..BATCH).map(|i| order(b * BATCH + i) * 2 + 1));
            store.insert_batch(&ids)?;
        }
        Ok(())
    })?;
    let inserted = args.batches * BATCH;
    out.push((
        format!("random durable batches ({BATCH} inserts)"),
        "inserts/s".into(),
        inserted as f64 / t.as_secs_f64(),
        true,
    ));

    // Random gets in two explicit states: right after the batches with mmtree's background
    // merge held off (the batches' 200,000 entries in its write buffer), then after that merge
    // has run (an empty buffer). A peer runs the same gets twice.
    let probe = permutation(n, 99);
    for (state, settle) in [("full buffer", false), ("empty buffer", true)] {
        if settle {
            store.settle()?;
        } else {
            store.hold_background()?;
        }
        eprintln!("[{}] {} random gets, {state}", store.name(), args.gets);
        let cpu = thread_cpu();
        let (found, t) = time(|| store.gets(&mut (0..args.gets).map(|i| probe(i % n) * 2)))?;
        // On a busy machine the wall clock counts time the thread waited for a core; the
        // thread's CPU time does not (cache misses still count in both).
        eprintln!(
            "[{}] random gets, {state}: {:.0} gets per CPU-second",
            store.name(),
            args.gets as f64 / (thread_cpu() - cpu).as_secs_f64()
        );
        anyhow::ensure!(
            found == args.gets,
            "{}: only {found} of {} gets found",
            store.name(),
            args.gets
        );
        out.push((
            format!("random gets, {state}"),
            "gets/s".into(),
            args.gets as f64 / t.as_secs_f64(),
            true,
        ));
    }

    eprintln!("[{}] random gets, 2 threads", store.name());
    let ids: Vec<u64> = (0..args.gets).map(|i| probe(i % n) * 2).collect();
    let (found, t) = time(|| store.gets_threads(&ids, 2))?;
    anyhow::ensure!(
        found == args.gets,
        "{}: 2-thread gets found {found}",
        store.name()
    );
    out.push((
        "random gets, 2 threads".into(),
        "gets/s".into(),
        args.gets as f64 / t.as_secs_f64(),
        true,
    ));

    eprintln!("[{}] durable single-put commits", store.name());
    let single = (args.batches * 2).clamp(10, 2000);
    let order = permutation(slots / 2, 23);
    let mut latencies = Vec::with_capacity(single as usize);
    for i in 0..single {
        let id = order(i) * 2 + 1;
        let started = Instant::now();
        store.insert_batch(&[id])?;
        latencies.push(started.elapsed().as_secs_f64() * 1e6);
    }
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p) as usize];
    out.push((
        "single-put commit p50".into(),
        "µs".into(),
        pct(0.50),
        false,
    ));
    out.push((
        "single-put commit p99".into(),
        "µs".into(),
        pct(0.99),
        false,
    ));

    // The single puts' buffer merged, as the background merge does once the writer is idle,
    // so the reads below meet one known state.
    store.settle()?;
    eprintln!("[{}] seek + 10 next", store.name());
    let seeks = (args.gets / 10).max(1);
    let probe = permutation(n, 7);
    let (read, t) = time(|| store.seek_next(&mut (0..seeks).map(|i| probe(i % n) * 2), 10))?;
    anyhow::ensure!(
        read >= seeks,
        "{}: seek+next read {read} entries",
        store.name()
    );
    out.push((
        "seek + 10 next".into(),
        "seeks/s".into(),
        seeks as f64 / t.as_secs_f64(),
        true,
    ));

    eprintln!("[{}] full scan", store.name());
    let ((count, _bytes), t) = time(|| store.scan())?;
    anyhow::ensure!(
        count >= n + inserted,
        "{}: scan saw {count} records",
        store.name()
    );
    out.push((
        "full scan".into(),
        "records/s".into(),
        count as f64 / t.as_secs_f64(),
        true,
    ));

    eprintln!("[{}] reopen", store.name());
    let rounds = 20;
    let mut each = Vec::with_capacity(rounds);
    let ((), t) = time(|| {
        for _ in 0..rounds {
            let started = Instant::now();
            store.reopen()?;
            each.push(started.elapsed().as_secs_f64() * 1e6);
        }
        Ok(())
    })?;
    // The first round closes the handle the workloads used; the others a fresh one.
    let mut rest = each[1..].to_vec();
    rest.sort_by(f64::total_cmp);
    eprintln!(
        "[{}] reopen: first {:.0} µs, the other {}: median {:.0} µs, max {:.0} µs",
        store.name(),
        each[0],
        rest.len(),
        rest[rest.len() / 2],
        rest[rest.len() - 1]
    );
    out.push((
        "reopen + first get".into(),
        "µs".into(),
        t.as_secs_f64() * 1e6 / rounds as f64,
        false,
    ));
    eprintln!(
        "[{}] W1: random-order load ({} records)",
        store.name(),
        args.w1_records
    );
    let w1_dir = dir.join(format!("w1-{}", store.name()));
    std::fs::create_dir_all(&w1_dir)?;
    let (rate, w1_bytes) = random_load(store.name(), &w1_dir, args.w1_records)?;
    out.push((
        "random-order load (W1)".into(),
        "records/s".into(),
        rate,
        true,
    ));
    out.push((
        "file size after the sorted load".into(),
        "MiB".into(),
        after_load,
        false,
    ));
    out.push((
        "file size after W1".into(),
        "MiB".into(),
        w1_bytes as f64 / (1 << 20) as f64,
        false,
    ));
    std::fs::remove_dir_all(&w1_dir).ok();
    out.push(in_order_row(store.name(), dir, n)?);

    eprintln!(
        "[{}] W8: delete half, overwrite 10x ({} records)",
        store.name(),
        args.w8_records
    );
    let w8_dir = dir.join(format!("w8-{}", store.name()));
    std::fs::create_dir_all(&w8_dir)?;
    out.push((
        "space amplification (W8)".into(),
        "file/live".into(),
        space_amplification(store.name(), &w8_dir, args.w8_records)?,
        false,
    ));
    std::fs::remove_dir_all(&w8_dir).ok();
    out.push((
        "file size".into(),
        "MiB".into(),
        store.file_bytes()? as f64 / (1 << 20) as f64,
        false,
    ));
    Ok(out)
}

/// The sizes a `--scale` preset sets (records, W7 seconds).
fn scale(name: &str) -> Result<(u64, f64)> {
    Ok(match name {
        "1m" => (1_000_000, 20.0),
        "10m" => (10_000_000, 30.0),
        "100m" => (100_000_000, 60.0),
        other => anyhow::bail!("unknown scale {other:?} (1m, 10m or 100m)"),
    })
}

fn parse_args() -> Result<Args> {
    let matches = Args::command().get_matches();
    let mut args = Args::from_arg_matches(&matches)?;
    if let Some(name) = &args.scale {
        let (records, w7_seconds) = scale(name)?;
        let defaulted = |id: &str| matches.value_source(id) == Some(ValueSource::DefaultValue);
        if defaulted("records") {
            args.records = records;
        }
        if defaulted("w7_seconds") {
            args.w7_seconds = w7_seconds;
        }
    }
    let (k, v) = args
        .profile
        .split_once('/')
        .and_then(|(k, v)| Some((k.parse::<usize>().ok()?, v.parse::<usize>().ok()?)))
        .filter(|&(k, v)| (16..=MAX_KEY).contains(&k) && (VALUE_CHECK_BYTE + 1..=MAX_VALUE).contains(&v))
        .with_context(|| {
            format!(
                "--profile {:?}: expected KEY/VALUE bytes, keys 16..={MAX_KEY}, values {}..={MAX_VALUE} (e.g. 24/150)",
                args.profile,
                VALUE_CHECK_BYTE + 1
            )
        })?;
    set_profile(k, v);
    Ok(args)
}

/// The file or directory a store keeps its data in, under `dir`.
fn store_path(name: &str, dir: &std::path::Path) -> std::path::PathBuf {
    match name {
        "mmtree" => dir.join("bench.mmt"),
        "lmdb" => dir.join("lmdb"),
        "redb" => dir.join("bench.redb"),
        "sqlite" => dir.join("bench.sqlite"),
        other => dir.join(other),
    }
}

/// Result rows as JSON (the shape `plot.rs` and `run_engine` read back).
fn rows_json(rows: &[Row]) -> serde_json::Value {
    rows.iter()
        .map(|(workload, unit, value, higher_better)| {
            serde_json::json!({
                "workload": workload, "unit": unit, "value": value, "higher_is_better": higher_better,
            })
        })
        .collect()
}

/// What one store's child process measured.
struct EngineResult {
    name: String,
    rows: Vec<Row>,
    w7: Option<w7::W7>,
}

/// The child that runs every workload for one store, then W7, and prints its results as one
/// JSON line.
fn engine_child(args: &Args, store_name: &str, dir: &std::path::Path) -> Result<()> {
    if args.in_order_only {
        let rows = vec![in_order_row(store_name, dir, args.records)?];
        let doc =
            serde_json::json!({ "name": store_name, "results": rows_json(&rows), "w7": null });
        println!("RESULT {doc}");
        return Ok(());
    }
    let mut store = open_store(store_name, dir)?;
    let mut rows = run_all(store.as_mut(), args, dir)?;
    let file_bytes = store.file_bytes()?;
    drop(store);
    // A full scan from a cold cache: the files dropped from the page cache, the store reopened.
    w7::evict(&store_path(store_name, dir))?;
    eprintln!("[{store_name}] full scan, cold cache");
    let mut store = open_store(store_name, dir)?;
    let ((count, _), t) = time(|| store.scan())?;
    drop(store);
    rows.push((
        "full scan, cold cache".into(),
        "records/s".into(),
        count as f64 / t.as_secs_f64(),
        true,
    ));
    let mut w7_json = serde_json::Value::Null;
    if args.w7_seconds > 0.0 {
        let run = w7::run(
            store_name,
            dir,
            &store_path(store_name, dir),
            file_bytes,
            args.records,
            args.w7_seconds,
            args.w7_cap_mib << 20,
        )?;
        let (start, end) = run.start_and_end();
        let cap = format!("cap {} MiB", run.cap_bytes >> 20);
        rows.push((
            format!("W7 gets under a {cap}, first quarter"),
            "gets/s".into(),
            start,
            true,
        ));
        rows.push((
            format!("W7 gets under a {cap}, last quarter"),
            "gets/s".into(),
            end,
            true,
        ));
        w7_json = run.json();
    }
    let doc = serde_json::json!({ "name": store_name, "results": rows_json(&rows), "w7": w7_json });
    println!("RESULT {doc}");
    Ok(())
}

/// W7's cap, the same for every store: as given, else a quarter of the live data (keys and
/// values), at least 32 MiB, so every store's file is at least about 4x the cap.
fn w7_cap_mib(args: &Args) -> u64 {
    if args.w7_cap_mib > 0 {
        return args.w7_cap_mib;
    }
    let live = args.records * (key_size() + value_size()) as u64;
    ((live / 4) >> 20).max(32)
}

/// Runs one store's child process and reads its results.
fn run_engine(args: &Args, name: &str, dir: &std::path::Path) -> Result<EngineResult> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--child",
            "engine",
            "--store",
            name,
            "--profile",
            &args.profile,
        ])
        .args(["--records", &args.records.to_string()])
        .args(["--batches", &args.batches.to_string()])
        .args(["--gets", &args.gets.to_string()])
        .args(["--w1-records", &args.w1_records.to_string()])
        .args(["--w8-records", &args.w8_records.to_string()])
        .args(["--w7-seconds", &args.w7_seconds.to_string()])
        .args(["--w7-cap-mib", &w7_cap_mib(args).to_string()])
        .args(args.in_order_only.then_some("--in-order-only"))
        .arg("--dir")
        .arg(dir)
        .stderr(std::process::Stdio::inherit())
        .output()?;
    // The store's files are big at large scales: remove them before the next store runs.
    let path = store_path(name, dir);
    if path.is_dir() {
        std::fs::remove_dir_all(&path).ok();
    } else {
        std::fs::remove_file(&path).ok();
    }
    anyhow::ensure!(
        out.status.success(),
        "the {name} run failed: {}",
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .with_context(|| format!("the {name} run printed no results"))?;
    let doc: serde_json::Value = serde_json::from_str(line)?;
    let rows = doc["results"]
        .as_array()
        .context("results")?
        .iter()
        .map(|r| {
            (
                r["workload"].as_str().unwrap_or("").to_string(),
                r["unit"].as_str().unwrap_or("").to_string(),
                r["value"].as_f64().unwrap_or(f64::NAN),
                r["higher_is_better"].as_bool().unwrap_or(true),
            )
        })
        .collect();
    let w7 = w7::W7::from_json(&doc["w7"]);
    Ok(EngineResult {
        name: name.to_string(),
        rows,
        w7,
    })
}

fn main() -> Result<()> {
    let args = parse_args()?;
    let _temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            _temp = tempfile::tempdir()?;
            _temp.path().to_path_buf()
        }
    };
    match (args.child.as_deref(), args.store.as_deref()) {
        (Some("engine"), Some(store)) => return engine_child(&args, store, &dir),
        (Some("w7"), Some(store)) => {
            if let Some(cgroup) = &args.cgroup {
                w7::join_cgroup(cgroup)?;
            }
            let mut store = open_store(store, &dir)?;
            return w7::child(store.as_mut(), args.records, args.w7_seconds);
        }
        (Some(role), store) => {
            let store = store.unwrap_or("mmtree");
            let path = args.path.as_deref().context("--path is required")?;
            return rww::child(role, store, path, args.records, args.seconds);
        }
        (None, _) => {}
    }
    if let (Some(json), Some(plots)) = (&args.plot_from, &args.plots) {
        let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json)?)?;
        for file in plot::write_plots(&doc, plots)? {
            println!("wrote {}", file.display());
        }
        return Ok(());
    }
    if args.readwhilewriting {
        let stores = match &args.only {
            Some(only) => vec![only.clone()],
            None => args
                .peers
                .iter()
                .filter(|p| !matches!(p.as_str(), "redb" | "rocksdb"))
                .cloned()
                .collect(),
        };
        for name in &stores {
            check_store(name)?;
        }
        return rww::run(&dir, args.records, args.seconds, &args.procs, &stores);
    }
    let names: Vec<String> = match &args.only {
        Some(only) => vec![only.clone()],
        None => std::iter::once("mmtree".to_string())
            .chain(args.peers.iter().cloned())
            .collect(),
    };
    // Every store is checked before the first workload: a run of many minutes never dies at
    // its last store for a name this build does not know.
    for name in &names {
        check_store(name)?;
    }
    println!(
        "mmtree vs peers: {} records ({}-byte keys, {}-byte values), {} durable batches of {BATCH}, {} gets",
        args.records, key_size(), value_size(), args.batches, args.gets
    );
    let mut results = Vec::new();
    let mut failure = None;
    for name in &names {
        match run_engine(&args, name, &dir) {
            Ok(result) => results.push(result),
            Err(error) => {
                // What finished so far is still printed and written.
                eprintln!("mmtree-bench: {name} failed: {error:#}");
                failure = Some(error.context(format!("store {name}")));
                break;
            }
        }
        // Each store's results are written as soon as they are in.
        if let Some(path) = &args.json {
            std::fs::write(
                path,
                serde_json::to_string_pretty(&results_doc(&args, &results))?,
            )?;
        }
    }
    print_table(&results);
    let doc = results_doc(&args, &results);
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    if let Some(error) = failure {
        return Err(error);
    }
    if let Some(plots) = &args.plots {
        std::fs::create_dir_all(plots)?;
        for file in plot::write_plots(&doc, plots)? {
            eprintln!("wrote {}", file.display());
        }
    }
    Ok(())
}

/// The JSON document of a run: its settings and each finished store's results.
fn results_doc(args: &Args, results: &[EngineResult]) -> serde_json::Value {
    let stores: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name,
                "results": rows_json(&r.rows),
                "w7": r.w7.as_ref().map(w7::W7::json),
            })
        })
        .collect();
    serde_json::json!({
        "records": args.records, "key_bytes": key_size(), "value_bytes": value_size(),
        "scale": args.scale, "batches": args.batches, "gets": args.gets,
        "machine": machine(), "stores": stores,
    })
}

/// Whether this build can run store `name`: an unknown name, or rocksdb without the `rocksdb`
/// feature, is an error that says what to do.
fn check_store(name: &str) -> Result<()> {
    match name {
        "mmtree" | "lmdb" | "redb" | "sqlite" => Ok(()),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Ok(()),
        #[cfg(not(feature = "rocksdb"))]
        "rocksdb" => anyhow::bail!(
            "store \"rocksdb\" is not in this build: build with the rocksdb feature \
             (cargo run --release -p mmtree-bench --features rocksdb -- …; it links Debian's \
             librocksdb, see docs/BENCHMARKS.md), or leave it out of --peers"
        ),
        other => anyhow::bail!(
            "unknown store {other:?}: mmtree, lmdb, redb, sqlite, or rocksdb (with --features rocksdb)"
        ),
    }
}

/// The Markdown table: mmtree's figures, then each peer's with the ratio.
fn print_table(results: &[EngineResult]) {
    let Some((mine, peers)) = results.split_first() else {
        return;
    };
    print!("\n| workload | unit | {} |", mine.name);
    for peer in peers {
        print!(" {} | ratio |", peer.name);
    }
    print!("\n|---|---|---|");
    for _ in peers {
        print!("---|---|");
    }
    println!();
    for (i, (workload, unit, value, higher_better)) in mine.rows.iter().enumerate() {
        print!("| {workload} | {unit} | {} |", figure(*value));
        for peer in peers {
            let theirs = peer.rows.get(i).map_or(f64::NAN, |row| row.2);
            let ratio = if *higher_better {
                value / theirs
            } else {
                theirs / value
            };
            if ratio.is_finite() {
                print!(" {} | {ratio:.2}x |", figure(theirs));
            } else {
                print!(" {} | – |", figure(theirs));
            }
        }
        println!();
    }
    if peers.is_empty() {
        return;
    }
    println!("\nratio: mmtree over the peer, > 1.00x means mmtree is better (faster, or smaller)");
    for r in results {
        if let Some(w7) = &r.w7 {
            println!(
                "W7 {}: {} MiB file under a {} MiB cap ({}): gets/s per {} s: {}",
                r.name,
                w7.file_bytes >> 20,
                w7.cap_bytes >> 20,
                w7.method,
                w7.interval_s,
                w7.gets_per_s
                    .iter()
                    .map(|x| figure(*x))
                    .collect::<Vec<_>>()
                    .join(" ")
            );
        }
    }
}

/// The machine, kernel and file system, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        })
        .unwrap_or_default();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}; Linux {}", kernel.trim())
}

/// W1 (random order): loads `records` records in random key order into a fresh store, in
/// durable commits of 100,000; returns records per second.
/// W1; returns the rate and the store's file size after it.
fn random_load(name: &str, dir: &std::path::Path, records: u64) -> Result<(f64, u64)> {
    let mut store = open_store(name, dir)?;
    let order = permutation(records, 11);
    let started = Instant::now();
    let mut ids = Vec::with_capacity(100_000);
    let mut done = 0;
    while done < records {
        ids.clear();
        ids.extend((done..(done + 100_000).min(records)).map(|i| order(i) * 2));
        store.insert_batch(&ids)?;
        done += ids.len() as u64;
    }
    let rate = records as f64 / started.elapsed().as_secs_f64();
    let found = store.gets(&mut (0..records.min(1000)).map(|i| order(i) * 2))?;
    anyhow::ensure!(
        found == records.min(1000),
        "{name}: random load lost records"
    );
    Ok((rate, store.file_bytes()?))
}

/// The in-order insert row: `records` records inserted in key order into a fresh store's table,
/// in one durable transaction, with the plain put (`Store::in_order_inserts`).
fn in_order_row(name: &str, dir: &std::path::Path, records: u64) -> Result<Row> {
    eprintln!("[{name}] in-order inserts, one transaction ({records} records)");
    let order_dir = dir.join(format!("in-order-{name}"));
    std::fs::create_dir_all(&order_dir)?;
    let rate = in_order_inserts(name, &order_dir, records);
    std::fs::remove_dir_all(&order_dir).ok();
    Ok((
        "in-order inserts, one transaction".into(),
        "records/s".into(),
        rate?,
        true,
    ))
}

fn in_order_inserts(name: &str, dir: &std::path::Path, records: u64) -> Result<f64> {
    let mut store = open_store(name, dir)?;
    let ids: Vec<u64> = (0..records).map(|i| i * 2).collect();
    let ((), t) = time(|| store.in_order_inserts(&ids))?;
    let probe = permutation(records, 3);
    let found = store.gets(&mut (0..records.min(1000)).map(|i| probe(i) * 2))?;
    anyhow::ensure!(
        found == records.min(1000),
        "{name}: in-order inserts lost records"
    );
    let ((count, _), _) = time(|| store.scan())?;
    anyhow::ensure!(
        count == records,
        "{name}: in-order inserts: scan saw {count}"
    );
    Ok(records as f64 / t.as_secs_f64())
}

/// W8: load, delete half, then overwrite the live half at random until 10x the live bytes have
/// been written; returns file size ÷ live bytes.
fn space_amplification(name: &str, dir: &std::path::Path, records: u64) -> Result<f64> {
    let mut store = open_store(name, dir)?;
    store.bulk_load(records)?;
    // Ids are 2i; delete those with odd i.
    let doomed: Vec<u64> = (0..records).filter(|i| i % 2 == 1).map(|i| i * 2).collect();
    for chunk in doomed.chunks(BATCH as usize) {
        store.delete_batch(chunk)?;
    }
    let live_records = records.div_ceil(2);
    let record_bytes = (key_size() + value_size()) as u64;
    let live_bytes = live_records * record_bytes;
    let order = permutation(live_records, 5);
    let mut written = 0u64;
    let mut next = 0u64;
    let mut ids = Vec::with_capacity(BATCH as usize);
    while written < 10 * live_bytes {
        ids.clear();
        ids.extend((0..BATCH).map(|j| order((next + j) % live_records) * 4));
        next += BATCH;
        store.insert_batch(&ids)?;
        written += BATCH * record_bytes;
    }
    Ok(store.file_bytes()? as f64 / live_bytes as f64)
}

fn figure(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.1}")
    }
}

fn open_store(name: &str, dir: &std::path::Path) -> Result<Box<dyn Store>> {
    open_at(name, &store_path(name, dir))
}

/// Opens (or creates) store `name` at `path`; another process may have it open too.
pub fn open_at(name: &str, path: &std::path::Path) -> Result<Box<dyn Store>> {
    Ok(match name {
        "mmtree" => Box::new(mm::MmStore::create(path)?),
        "lmdb" => Box::new(lmdb::LmdbStore::create(path)?),
        "redb" => Box::new(redb_store::RedbStore::create(path)?),
        "sqlite" => Box::new(sqlite_store::SqliteStore::create(path)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Box::new(rocks::RocksStore::create(path)?),
        other => {
            check_store(other)?;
            anyhow::bail!("unknown store {other:?}")
        }
    })
}
