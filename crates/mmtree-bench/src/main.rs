//! mmtree and its peers — LMDB (through `heed`), redb and SQLite (rusqlite, bundled) — measured
//! side by side, in one run, on one machine, on the same data with the same durability (every
//! commit synced).
//!
//! ```sh
//! cargo run --release -p mmtree-bench -- --records 10000000 [--peers lmdb,redb,sqlite]
//! ```
//!
//! Workloads: sorted bulk load (one transaction), random durable batches of 1000 inserts,
//! random gets, a full scan, reopen time, file size. Keys are 16 bytes, values 100 bytes; gets
//! check the bytes they read. Each ratio is mmtree's figure over the peer's (> 1.00 means mmtree
//! is better: faster, or for time and size, smaller). The table is Markdown.

mod lmdb;
mod mm;
mod plot;
mod redb_store;
#[cfg(feature = "rocksdb")]
mod rocks;
mod rww;
mod sqlite_store;

use anyhow::Result;
use clap::Parser;
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
    /// Run one store only (for profiling): mmtree, lmdb, redb or sqlite.
    #[arg(long)]
    only: Option<String>,
    /// Records for W1's random-order load (into a fresh store, commits of 100,000).
    #[arg(long, default_value_t = 1_000_000)]
    w1_records: u64,
    /// Records for W8 (delete half, overwrite 10x): a fixed size, so it stays short at any scale.
    #[arg(long, default_value_t = 100_000)]
    w8_records: u64,
    /// Also write the results as JSON to this file.
    #[arg(long)]
    json: Option<std::path::PathBuf>,
    /// The peers to compare with.
    #[arg(long, value_delimiter = ',', default_value = "lmdb,redb,sqlite")]
    peers: Vec<String>,
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
    fn file_bytes(&self) -> Result<u64>;
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

fn run_all(
    store: &mut dyn Store,
    args: &Args,
    dir: &std::path::Path,
) -> Result<Vec<(String, &'static str, f64, bool)>> {
    let (minor_before, major_before) = faults();
    let mut out = run_workloads(store, args, dir)?;
    let (minor_after, major_after) = faults();
    let minor = minor_after.saturating_sub(minor_before) as f64;
    let major = major_after.saturating_sub(major_before) as f64;
    out.push(("page faults, minor".into(), "count", minor, false));
    out.push(("page faults, major".into(), "count", major, false));
    Ok(out)
}

fn run_workloads(
    store: &mut dyn Store,
    args: &Args,
    dir: &std::path::Path,
) -> Result<Vec<(String, &'static str, f64, bool)>> {
    let mut out = Vec::new();
    let n = args.records;
    eprintln!("[{}] bulk load {n} records", store.name());
    let ((), t) = time(|| store.bulk_load(n))?;
    out.push((
        "sorted bulk load".into(),
        "records/s",
        n as f64 / t.as_secs_f64(),
        true,
    ));

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
        "inserts/s",
        inserted as f64 / t.as_secs_f64(),
        true,
    ));

    eprintln!("[{}] {} random gets", store.name(), args.gets);
    let probe = permutation(n, 99);
    let (found, t) = time(|| store.gets(&mut (0..args.gets).map(|i| probe(i % n) * 2)))?;
    anyhow::ensure!(
        found == args.gets,
        "{}: only {found} of {} gets found",
        store.name(),
        args.gets
    );
    out.push((
        "random gets".into(),
        "gets/s",
        args.gets as f64 / t.as_secs_f64(),
        true,
    ));

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
        "gets/s",
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
    out.push(("single-put commit p50".into(), "µs", pct(0.50), false));
    out.push(("single-put commit p99".into(), "µs", pct(0.99), false));

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
        "seeks/s",
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
        "records/s",
        count as f64 / t.as_secs_f64(),
        true,
    ));

    eprintln!("[{}] reopen", store.name());
    let rounds = 20;
    let ((), t) = time(|| {
        for _ in 0..rounds {
            store.reopen()?;
        }
        Ok(())
    })?;
    out.push((
        "reopen + first get".into(),
        "µs",
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
    let rate = random_load(store.name(), &w1_dir, args.w1_records)?;
    out.push(("random-order load (W1)".into(), "records/s", rate, true));
    std::fs::remove_dir_all(&w1_dir).ok();

    eprintln!(
        "[{}] W8: delete half, overwrite 10x ({} records)",
        store.name(),
        args.w8_records
    );
    let w8_dir = dir.join(format!("w8-{}", store.name()));
    std::fs::create_dir_all(&w8_dir)?;
    out.push((
        "space amplification (W8)".into(),
        "file/live",
        space_amplification(store.name(), &w8_dir, args.w8_records)?,
        false,
    ));
    std::fs::remove_dir_all(&w8_dir).ok();
    out.push((
        "file size".into(),
        "MiB",
        store.file_bytes()? as f64 / (1 << 20) as f64,
        false,
    ));
    Ok(out)
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(role) = &args.child {
        let store = args.store.as_deref().unwrap_or("mmtree");
        let path = args
            .path
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("--path is required"))?;
        return rww::child(role, store, path, args.records, args.seconds);
    }
    let _temp;
    let dir = match &args.dir {
        Some(dir) => dir.clone(),
        None => {
            _temp = tempfile::tempdir()?;
            _temp.path().to_path_buf()
        }
    };
    if args.readwhilewriting {
        return rww::run(&dir, args.records, args.seconds, &args.procs);
    }
    println!(
        "mmtree vs peers: {} records ({}-byte keys, {}-byte values), {} durable batches of {BATCH}, {} gets",
        args.records, key_size(), value_size(), args.batches, args.gets
    );
    if let Some(only) = &args.only {
        let rows = run_all(open_store(only, &dir)?.as_mut(), &args, &dir)?;
        for (workload, unit, figure, _) in rows {
            println!("{workload:<40} {figure:>14.1} {unit:>10}");
        }
        return Ok(());
    }
    let mm_rows = run_all(open_store("mmtree", &dir)?.as_mut(), &args, &dir)?;
    let mut peers = Vec::new();
    for peer in &args.peers {
        let rows = run_all(open_store(peer, &dir)?.as_mut(), &args, &dir)?;
        peers.push((peer.clone(), rows));
    }
    print!("\n| workload | unit | mmtree |");
    for (peer, _) in &peers {
        print!(" {peer} | ratio |");
    }
    print!("\n|---|---|---|");
    for _ in &peers {
        print!("---|---|");
    }
    println!();
    for (i, (workload, unit, mine, higher_better)) in mm_rows.iter().enumerate() {
        print!("| {workload} | {unit} | {} |", figure(*mine));
        for (_, rows) in &peers {
            let theirs = rows[i].2;
            let ratio = if *higher_better {
                mine / theirs
            } else {
                theirs / mine
            };
            if ratio.is_finite() {
                print!(" {} | {ratio:.2}x |", figure(theirs));
            } else {
                print!(" {} | – |", figure(theirs));
            }
        }
        println!();
    }
    println!("\nratio: mmtree over the peer, > 1.00x means mmtree is better (faster, or smaller)");
    if let Some(path) = &args.json {
        let store = |name: &str, rows: &[(String, &'static str, f64, bool)]| {
            serde_json::json!({
                "name": name,
                "results": rows.iter().map(|(workload, unit, value, higher_better)| serde_json::json!({
                    "workload": workload, "unit": unit, "value": value, "higher_is_better": higher_better,
                })).collect::<Vec<_>>(),
            })
        };
        let mut stores = vec![store("mmtree", &mm_rows)];
        stores.extend(peers.iter().map(|(name, rows)| store(name, rows)));
        let doc = serde_json::json!({
            "records": args.records, "key_bytes": key_size(), "value_bytes": value_size(),
            "batches": args.batches, "gets": args.gets, "stores": stores,
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)?)?;
    }
    Ok(())
}

/// W1 (random order): loads `records` records in random key order into a fresh store, in
/// durable commits of 100,000; returns records per second.
fn random_load(name: &str, dir: &std::path::Path, records: u64) -> Result<f64> {
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
    Ok(rate)
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
    Ok(match name {
        "mmtree" => Box::new(mm::MmStore::create(&dir.join("bench.mmt"))?),
        "lmdb" => Box::new(lmdb::LmdbStore::create(&dir.join("lmdb"))?),
        "redb" => Box::new(redb_store::RedbStore::create(&dir.join("bench.redb"))?),
        "sqlite" => Box::new(sqlite_store::SqliteStore::create(
            &dir.join("bench.sqlite"),
        )?),
        other => anyhow::bail!("unknown store {other:?} (mmtree, lmdb, redb, sqlite)"),
    })
}
