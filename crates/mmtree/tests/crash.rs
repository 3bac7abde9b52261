//! Crash test with real processes: a child process commits numbered transactions and reports
//! each one on stdout; the parent SIGKILLs it at a random moment, reopens the file, and checks
//! that the store equals the state after some commit no older than the last one reported, and
//! that `check()` passes.
//!
//! The kill lands in a commit's log append, in a checkpoint (the child runs with a small
//! `log_bytes` in some rounds, so commits checkpoint often), or, in every fourth round, in a
//! recovery: a second child opens the killed child's database, which replays its log, and is
//! killed a moment later; then the parent reopens (and replays again).
//!
//! `MMTREE_CRASH_ROUNDS=2000 cargo test -p mmtree --test crash` runs more rounds (default 100);
//! `MMTREE_CRASH_SEED` replays a run.

mod common;
use common::Rng;
use mmtree::{Db, Durability, Options};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "MMTREE_CRASH_CHILD";
const KEYS: u64 = 3000;

/// What commit `n` does, as a pure function of `n`, so the parent can replay the model.
/// (table, key, value to insert or None to remove).
type Op = (&'static str, Vec<u8>, Option<Vec<u8>>);

fn commit_ops(n: u64) -> Vec<Op> {
    let mut ops = Vec::new();
    for i in 0..25 {
        let k = (n * 7919 + i * 104_729) % KEYS;
        let key = format!("key{k:06}").into_bytes();
        if (n + i).is_multiple_of(4) {
            ops.push(("main", key, None));
        } else {
            let len = if (n + i).is_multiple_of(53) {
                9000 + (n % 3000) as usize
            } else {
                20 + ((n + i) % 150) as usize
            };
            let value: Vec<u8> = (0..len).map(|j| (j as u64 + n) as u8).collect();
            ops.push(("main", key, Some(value)));
        }
    }
    // A second table that is emptied now and then, so whole subtrees are freed and reused.
    if n.is_multiple_of(10) {
        ops.push(("side", b"*clear*".to_vec(), None));
    } else {
        ops.push((
            "side",
            format!("s{n:08}").into_bytes(),
            Some(vec![n as u8; 300]),
        ));
    }
    ops.push(("meta", b"n".to_vec(), Some(n.to_le_bytes().to_vec())));
    ops
}

type Model = BTreeMap<&'static str, BTreeMap<Vec<u8>, Vec<u8>>>;

fn apply(model: &mut Model, n: u64) {
    for (table, key, value) in commit_ops(n) {
        let t = model.entry(table).or_default();
        match value {
            Some(v) => {
                t.insert(key, v);
            }
            None if key == b"*clear*" => t.clear(),
            None => {
                t.remove(&key);
            }
        }
    }
}

fn committed_n(db: &Db) -> u64 {
    let r = db.begin_read().unwrap();
    match r.table("meta").unwrap() {
        Some(t) => t
            .get(b"n")
            .unwrap()
            .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap())),
        None => 0,
    }
}

/// The child: commits forever (until killed), reporting each commit number after `commit` returns.
#[test]
#[ignore = "run by the crash test as a child process"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let durability = match std::env::var("MMTREE_CRASH_DURABILITY").as_deref() {
        Ok("eventual") => Durability::Eventual,
        _ => Durability::Immediate,
    };
    let log_bytes = std::env::var("MMTREE_CRASH_LOG_BYTES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64 << 20);
    let db = Db::open_with(
        &path,
        Options::default()
            .durability(durability)
            .log_bytes(log_bytes)
            .strict(true),
    )
    .unwrap();
    let mut n = committed_n(&db);
    let stdout = std::io::stdout();
    loop {
        n += 1;
        let mut w = db.begin_write().unwrap();
        for (table, key, value) in commit_ops(n) {
            match value {
                Some(v) => w.table(table).unwrap().insert(&key, &v).unwrap(),
                None if key == b"*clear*" => {
                    w.delete_table(table).unwrap();
                }
                None => {
                    w.table(table).unwrap().remove(&key).unwrap();
                }
            }
        }
        w.commit().unwrap();
        use std::io::Write;
        let mut out = stdout.lock();
        writeln!(out, "committed {n}").unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_commit_never_loses_a_commit() {
    let rounds: u64 = std::env::var("MMTREE_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("MMTREE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("crash test: {rounds} rounds, MMTREE_CRASH_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.mmt");
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::new();
    let mut model_n = 0u64;
    let mut killed_mid_run = 0;
    for round in 0..rounds {
        let durability = if round % 3 == 2 {
            "eventual"
        } else {
            "immediate"
        };
        let log_bytes = match round % 2 {
            0 => 32u64 << 10, // a checkpoint every few commits
            _ => 64 << 20,
        };
        let spawn = || {
            Command::new(&exe)
                .args([
                    "--exact",
                    "crash_child",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_ENV, &path)
                .env("MMTREE_CRASH_DURABILITY", durability)
                .env("MMTREE_CRASH_LOG_BYTES", log_bytes.to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let mut child = spawn();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(n) = line.strip_prefix("committed ") {
                    last = Some(n.trim().parse::<u64>().unwrap());
                }
            }
            last
        });
        // Kill at a random moment: usually mid-way through some commit.
        let delay = Duration::from_micros(2_000 + rng.next() % 60_000);
        let start = Instant::now();
        while start.elapsed() < delay {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("round {round}: the child exited by itself ({status}): {err}");
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_none() {
            killed_mid_run += 1;
        }
        let mut reported = reader.join().unwrap();
        if round % 4 == 3 {
            // Kill the next opener during its recovery (it replays what the first one logged).
            let mut second = spawn();
            let out = second.stdout.take().unwrap();
            std::thread::sleep(Duration::from_micros(rng.next() % 4_000));
            second.kill().unwrap();
            second.wait().unwrap();
            let later = BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| {
                    l.strip_prefix("committed ")
                        .map(|n| n.trim().parse().unwrap())
                })
                .last();
            reported = reported.max(later);
        }

        let db = Db::open(&path).unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let n = committed_n(&db);
        if let Some(reported) = reported {
            assert!(
                n >= reported,
                "round {round}: commit {reported} was reported but the file holds {n}"
            );
        }
        assert!(
            n >= model_n,
            "round {round}: the store went back from {model_n} to {n}"
        );
        while model_n < n {
            model_n += 1;
            apply(&mut model, model_n);
        }
        let r = db.begin_read().unwrap();
        for (name, entries) in &model {
            let got: Vec<(Vec<u8>, Vec<u8>)> = match r.table(name).unwrap() {
                Some(t) => t
                    .range(..)
                    .unwrap()
                    .map(|i| i.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                    .collect(),
                None => Vec::new(),
            };
            let want: Vec<(Vec<u8>, Vec<u8>)> = entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            assert!(
                got == want,
                "round {round}: table {name} differs from the state after commit {n}"
            );
        }
        drop(r);
        let report = db.check().unwrap();
        assert!(
            report.is_ok(),
            "round {round}: check failed after commit {n}: {:?}",
            report.problems
        );
    }
    eprintln!(
        "crash test: {rounds} kills, {killed_mid_run} by SIGKILL, {model_n} commits survived"
    );
    assert!(
        model_n > 0,
        "no commit ever landed: the child never got going"
    );
}
