//! `readwhilewriting` (after db_bench): readers in N processes do random gets while one process
//! commits durable batches of random inserts. Reported per reader process, mmtree vs LMDB.

use crate::{open_at, permutation, Store};
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a child process does; it prints one line `ops N`. Readers do random gets, 1000 per
/// snapshot (each `Store::gets` call is one read transaction); the writer commits durable
/// batches of 100 random inserts.
pub fn child(role: &str, store: &str, path: &Path, records: u64, seconds: f64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let salt = u64::from(std::process::id());
    if !MULTI_PROCESS.contains(&store) {
        bail!("{store} cannot be opened by several processes at once");
    }
    let mut handle = open_at(store, path)?;
    let ops = match role {
        "reader" => {
            let mut ops = 0u64;
            let probe = permutation(records, salt);
            while Instant::now() < deadline {
                let found = handle.gets(&mut (ops..ops + 1000).map(|i| probe(i % records) * 2))?;
                anyhow::ensure!(found == 1000, "{store}: a reader missed records");
                ops += 1000;
            }
            ops
        }
        "writer" => write_loop(handle.as_mut(), records, salt, deadline)?,
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

/// Runs the workload for each reader count and each store (mmtree first); prints the table.
/// Only stores that several processes can open at once take part: redb and RocksDB lock
/// their files to one process.
pub fn run(
    dir: &Path,
    records: u64,
    seconds: f64,
    procs: &[usize],
    stores: &[String],
) -> Result<()> {
    println!(
        "readwhilewriting: {records} records, 1 writer process (durable commits of 100 random inserts) + N reader processes (random gets, 1000 per snapshot), {seconds} s each"
    );
    let mut names = vec!["mmtree".to_string()];
    names.extend(stores.iter().filter(|s| *s != "mmtree").cloned());
    for name in &names {
        if !MULTI_PROCESS.contains(&name.as_str()) {
            bail!("{name} cannot be opened by several processes at once (only {MULTI_PROCESS:?})");
        }
    }
    let paths: Vec<_> = names
        .iter()
        .map(|name| crate::store_path(name, &dir.join("rww")))
        .collect();
    std::fs::create_dir_all(dir.join("rww"))?;
    for (name, path) in names.iter().zip(&paths) {
        eprintln!("[rww] loading {records} records into {name}");
        open_at(name, path)?.bulk_load(records)?;
    }
    print!("\n| readers N | ");
    for name in &names {
        print!("{name} gets/s per reader | ");
    }
    for name in &names[1..] {
        print!("ratio vs {name} | ");
    }
    for name in &names {
        print!("{name} commits/s | ");
    }
    println!();
    println!("|{}", "---|".repeat(1 + names.len() * 3 - 1));
    for &n in procs {
        let mut per_store = Vec::new();
        for (store, path) in names.iter().zip(&paths) {
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
        print!("| {n} | ");
        for (gets, _) in &per_store {
            print!("{gets:.0} | ");
        }
        for (gets, _) in &per_store[1..] {
            print!("{:.2}x | ", per_store[0].0 / gets);
        }
        for (_, commits) in &per_store {
            print!("{commits:.1} | ");
        }
        println!();
    }
    println!(
        "\nratio: mmtree reader throughput per process over the peer's (> 1.00x: mmtree faster)"
    );
    Ok(())
}

/// The stores several processes can open at once.
const MULTI_PROCESS: [&str; 3] = ["mmtree", "lmdb", "sqlite"];
