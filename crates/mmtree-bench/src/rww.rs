//! `readwhilewriting` (after db_bench): readers in N processes do random gets while one process
//! commits durable batches of random inserts. Reported per reader process, mmtree vs LMDB.

use crate::{key, lmdb, mm, permutation, value, Store, VALUE_CHECK_BYTE};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a child process does; it prints one line `ops N`.
pub fn child(role: &str, store: &str, path: &Path, records: u64, seconds: f64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let salt = u64::from(std::process::id());
    let ops = match (role, store) {
        ("reader", "mmtree") => {
            let db = mm::open(path)?;
            let r = db.begin_read()?; // long-lived snapshot would pin pages: renew it
            drop(r);
            let mut ops = 0u64;
            let probe = permutation(records, salt);
            while Instant::now() < deadline {
                let r = db.begin_read()?;
                let t = r.table(mm::TABLE)?.context("table")?;
                for i in 0..1000 {
                    let id = probe((ops + i) % records) * 2;
                    let v = t.get(&key(id))?.context("missing")?;
                    anyhow::ensure!(v[VALUE_CHECK_BYTE] == value(id)[VALUE_CHECK_BYTE]);
                }
                ops += 1000;
            }
            ops
        }
        ("reader", "lmdb") => {
            let (env, db) = lmdb::open_existing(path)?;
            let mut ops = 0u64;
            let probe = permutation(records, salt);
            while Instant::now() < deadline {
                let rtxn = env.read_txn()?;
                for i in 0..1000 {
                    let id = probe((ops + i) % records) * 2;
                    let v = db.get(&rtxn, &key(id))?.context("missing")?;
                    anyhow::ensure!(v[VALUE_CHECK_BYTE] == value(id)[VALUE_CHECK_BYTE]);
                }
                ops += 1000;
            }
            ops
        }
        ("writer", "mmtree") => {
            let mut store = mm::MmStore::attach(path)?;
            write_loop(&mut store, records, salt, deadline)?
        }
        ("writer", "lmdb") => {
            let mut store = lmdb::LmdbStore::attach(path)?;
            write_loop(&mut store, records, salt, deadline)?
        }
        _ => bail!("unknown child {role} {store}"),
    };
    println!("ops {ops}");
    Ok(())
}

fn write_loop(store: &mut dyn Store, records: u64, salt: u64, deadline: Instant) -> Result<u64> {
    let order = permutation(records, salt);
    let mut commits = 0;
    let mut ids = Vec::new();
    while Instant::now() < deadline {
        ids.clear();
        ids.extend((0..100).map(|i| order((commits * 100 + i) % records) * 2 + 1));
        store.insert_batch(&ids)?;
        commits += 1;
    }
    Ok(commits)
}

fn spawn(role: &str, store: &str, path: &Path, records: u64, seconds: f64) -> Result<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args([
            "--child",
            role,
            "--store",
            store,
            "--records",
            &records.to_string(),
            "--seconds",
            &seconds.to_string(),
            "--path",
        ])
        .arg(path)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?)
}

fn ops(child: Child) -> Result<u64> {
    let out = child.wait_with_output()?;
    anyhow::ensure!(out.status.success(), "a child failed: {}", out.status);
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("ops ").and_then(|n| n.trim().parse().ok()))
        .context("child printed no ops line")
}

/// Runs the workload for each reader count; prints the table.
pub fn run(dir: &Path, records: u64, seconds: f64, procs: &[usize]) -> Result<()> {
    println!(
        "readwhilewriting: {records} records, 1 writer process (durable commits of 100 random inserts) + N reader processes (random gets), {seconds} s each"
    );
    let mm_path = dir.join("rww.mmt");
    let lm_path = dir.join("rww-lmdb");
    eprintln!("[rww] loading {records} records into each store");
    mm::MmStore::create(&mm_path)?.bulk_load(records)?;
    lmdb::LmdbStore::create(&lm_path)?.bulk_load(records)?;
    println!(
        "{:>3}  {:>16} {:>16} {:>7}   {:>14} {:>14}",
        "N", "mmtree gets/s/p", "lmdb gets/s/p", "ratio", "mmtree commit/s", "lmdb commit/s"
    );
    for &n in procs {
        let mut per_store = Vec::new();
        for (store, path) in [("mmtree", &mm_path), ("lmdb", &lm_path)] {
            eprintln!("[rww] {store}: 1 writer + {n} readers");
            let writer = spawn("writer", store, path, records, seconds)?;
            let readers: Vec<Child> = (0..n)
                .map(|_| spawn("reader", store, path, records, seconds))
                .collect::<Result<_>>()?;
            let mut gets = 0;
            for reader in readers {
                gets += ops(reader)?;
            }
            let commits = ops(writer)?;
            per_store.push((gets as f64 / n as f64 / seconds, commits as f64 / seconds));
        }
        let ((mg, mc), (lg, lc)) = (per_store[0], per_store[1]);
        println!(
            "{n:>3}  {mg:>16.0} {lg:>16.0} {:>6.2}x   {mc:>14.1} {lc:>14.1}",
            mg / lg
        );
    }
    println!("ratio: mmtree reader throughput per process over LMDB's (> 1.00x: mmtree faster)");
    Ok(())
}
