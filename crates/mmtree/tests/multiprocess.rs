//! Many processes, one database: real child processes (this test binary, re-executed).
//!
//! `MMTREE_MP_SECONDS=30 cargo test -p mmtree --test multiprocess` runs the bank test longer;
//! `MMTREE_MP_ROUNDS=200` runs more SIGKILL rounds.

mod common;
use common::Rng;
use mmtree::{Db, Error, Options};
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ROLE: &str = "MMTREE_MP_ROLE";
const PATH: &str = "MMTREE_MP_PATH";
const ACCOUNTS: u64 = 40;
const START_BALANCE: u64 = 1000;

fn account(i: u64) -> Vec<u8> {
    format!("acct{i:04}").into_bytes()
}

fn seconds() -> f64 {
    std::env::var("MMTREE_MP_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

fn spawn(role: &str, path: &std::path::Path, extra: &[(&str, String)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "mp_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(ROLE, role)
        .env(PATH, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, value) in extra {
        command.env(key, value);
    }
    command.spawn().unwrap()
}

/// Waits for a child and returns the `key value` lines it printed.
fn finish(mut child: Child) -> Vec<(String, u64)> {
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "child failed ({status}):\n{out}\n{err}");
    out.lines()
        .filter_map(|line| {
            let rest = line.split("mp: ").nth(1)?;
            let (key, value) = rest.split_once(' ')?;
            Some((key.to_string(), value.trim().parse().ok()?))
        })
        .collect()
}

fn report(key: &str, value: u64) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "mp: {key} {value}").unwrap();
    out.flush().unwrap();
}

/// The children. Each role runs until its deadline (or until killed) and reports on stdout.
#[test]
#[ignore = "run by the multi-process tests as a child process"]
fn mp_child() {
    let Ok(role) = std::env::var(ROLE) else {
        return;
    };
    let path = std::env::var(PATH).unwrap();
    if role == "try-write" {
        // Opens by the name given (a symlink or a hard link) and tries to become the writer.
        match Db::open(&path) {
            Err(Error::OpenUnderAnotherName { .. }) => report("refused", 1),
            Err(error) => panic!("open failed: {error}"),
            Ok(db) => match db.try_begin_write() {
                Err(Error::WriteInProgress) => report("busy", 1),
                Err(error) => panic!("begin_write failed: {error}"),
                Ok(_) => report("wrote", 1),
            },
        }
        return;
    }
    if role == "die-in-direct-commit" {
        // A log with no room for a change: the commit goes to the tree (a checkpoint), and the
        // process dies once its meta page is durable, before the lock file publishes it.
        let options = mmtree::Options::default()
            .log_bytes(32)
            .crash_after_checkpoint_meta();
        let db = Db::open_with(&path, options).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"child", b"direct").unwrap();
        let _ = w.commit();
        unreachable!("the hook aborts the process");
    }
    if role == "die-in-checkpoint" {
        // Commits (buffered), then merges and dies once the merge's meta page is durable,
        // before the lock file publishes it.
        let options = mmtree::Options::default().crash_after_checkpoint_meta();
        let db = Db::open_with(&path, options).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"child", b"merged").unwrap();
        w.commit().unwrap();
        report("committed", 1);
        let _ = db.checkpoint();
        unreachable!("the hook aborts the process");
    }
    if let Some(torn) = role.strip_prefix("die-in-append-") {
        // Commits one entry and dies between appending its log record and publishing it.
        let options = mmtree::Options::default().crash_in_log_append(torn == "torn");
        let db = Db::open_with(&path, options).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"child", b"was here").unwrap();
        w.commit().unwrap();
        unreachable!("the hook aborts the process");
    }
    // A small log makes the writers merge every few commits (each merge starts the log over,
    // overwriting records that readers of other processes may be reading).
    let mut options = mmtree::Options::default();
    if let Ok(bytes) = std::env::var("MMTREE_MP_LOG_BYTES") {
        options = options.log_bytes(bytes.parse().unwrap());
    }
    let db = match role.as_str() {
        // A read-only handle never merges (a writable one merges when it closes).
        "buffer-reader" => Db::open_with(&path, options.read_only(true)),
        _ => Db::open_with(&path, options),
    }
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds());
    let mut rng = Rng((u64::from(std::process::id()) * 2_654_435_761) | 1);
    match role.as_str() {
        // Moves money between accounts; the total never changes.
        "bank-writer" => {
            let mut commits = 0;
            while Instant::now() < deadline {
                let mut w = db.begin_write().unwrap();
                {
                    let mut t = w.table("accounts").unwrap();
                    for _ in 0..1 + rng.next() % 4 {
                        let (a, b) = (rng.next() % ACCOUNTS, rng.next() % ACCOUNTS);
                        let balance = |t: &mmtree::Table<'_>, i| {
                            u64::from_le_bytes(
                                t.get(account(i)).unwrap().unwrap().try_into().unwrap(),
                            )
                        };
                        let (from, to) = (balance(&t, a), balance(&t, b));
                        let amount = rng.next() % (from + 1);
                        if a != b {
                            t.insert(account(a), (from - amount).to_le_bytes()).unwrap();
                            t.insert(account(b), (to + amount).to_le_bytes()).unwrap();
                        }
                    }
                }
                if rng.next().is_multiple_of(8) {
                    w.abort();
                    continue;
                }
                w.commit().unwrap();
                commits += 1;
            }
            report("commits", commits);
        }
        // Every snapshot must show the same total, and snapshots never go back in time.
        "bank-reader" => {
            let (mut checks, mut violations, mut last_txn) = (0, 0, 0);
            while Instant::now() < deadline {
                let r = db.begin_read().unwrap();
                if r.txn_id() < last_txn {
                    violations += 1;
                    eprintln!("txn went back: {} after {last_txn}", r.txn_id());
                }
                last_txn = r.txn_id();
                let t = r.table("accounts").unwrap().unwrap();
                let total: u64 = t
                    .range(..)
                    .unwrap()
                    .map(|item| u64::from_le_bytes(item.unwrap().1.try_into().unwrap()))
                    .sum();
                if total != ACCOUNTS * START_BALANCE || t.len().unwrap() != ACCOUNTS {
                    violations += 1;
                    eprintln!("snapshot {} has total {total}", r.txn_id());
                }
                checks += 1;
            }
            report("checks", checks);
            report("violations", violations);
        }
        // Commits forever, reporting each commit's counter value after commit returns.
        "counter-writer" => loop {
            let mut w = db.begin_write().unwrap();
            let next = {
                let mut t = w.table("counter").unwrap();
                let next = t
                    .get(b"n")
                    .unwrap()
                    .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()))
                    + 1;
                t.insert(b"n", next.to_le_bytes()).unwrap();
                for i in 0..20u64 {
                    t.insert(format!("pad{i:02}").as_bytes(), [next as u8; 200])
                        .unwrap();
                }
                next
            };
            w.commit().unwrap();
            report("committed", next);
        },
        // Takes a snapshot, says so, and holds it until killed.
        "holder" => {
            let r = db.begin_read().unwrap();
            report("holding", r.txn_id());
            loop {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        // Takes a bounded snapshot, says so, waits for the go file, then reads again: by then
        // the parent has let the deadline pass and committed, so the read must say "expired".
        "bounded-holder" => {
            let max_age: u64 = std::env::var("MMTREE_MP_MAX_AGE_MS")
                .unwrap()
                .parse()
                .unwrap();
            let mut r = db
                .begin_read_bounded(Duration::from_millis(max_age))
                .unwrap();
            let before = r.get("t", b"k000").unwrap().unwrap();
            report("holding", u64::from(before[0]));
            let go = format!("{path}.go");
            while !std::path::Path::new(&go).exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
            match r.get("t", b"k000") {
                Err(Error::SnapshotExpired { txn, .. }) => {
                    assert_eq!(txn, r.txn_id());
                    report("expired", 1);
                }
                other => {
                    eprintln!("expected SnapshotExpired, got {other:?}");
                    report("expired", 0);
                }
            }
            drop(r);
            let mut fresh = db.begin_read_bounded(Duration::from_secs(60)).unwrap();
            report(
                "fresh",
                u64::from(fresh.get("t", b"k000").unwrap().unwrap()[0]),
            );
        }
        // Checks that the writer lock is held elsewhere, and that a commit made elsewhere is seen.
        "writer-once" => {
            let mut w = db.begin_write().unwrap();
            w.table("t").unwrap().insert(b"from-child", [9]).unwrap();
            w.commit().unwrap();
            report("committed", db.begin_read().unwrap().txn_id());
        }
        "buffer-reader" => {
            // Reads a snapshot, waits for the parent's next commit, reads a new one: each
            // reports the value of "k", the entry count, a backward scan's first key and the
            // log bytes (the write buffer: nonzero means no merge happened).
            let read = |label: &str| {
                let r = db.begin_read().unwrap();
                let t = r.table("t").unwrap().unwrap();
                let k = t.get(b"k").unwrap().map_or(0, |v| u64::from(v[0]));
                report(&format!("{label}-k"), k);
                report(&format!("{label}-len"), t.len().unwrap());
                let last = t
                    .range(..)
                    .unwrap()
                    .next_back()
                    .unwrap()
                    .unwrap()
                    .0
                    .to_vec();
                report(&format!("{label}-last"), u64::from(last[0]));
                report(&format!("{label}-txn"), r.txn_id());
                report(&format!("{label}-log"), db.stats().log_bytes);
            };
            read("before");
            let go = format!("{path}.go");
            while !std::path::Path::new(&go).exists() {
                std::thread::sleep(Duration::from_millis(10));
            }
            read("after");
        }
        "probe" => {
            let busy = matches!(db.try_begin_write(), Err(Error::WriteInProgress));
            report("writer-busy", u64::from(busy));
            let r = db.begin_read().unwrap();
            let seen = r
                .table("shared")
                .unwrap()
                .and_then(|t| t.get(b"from-parent").unwrap().map(|v| v[0]));
            report("seen", u64::from(seen.unwrap_or(0)));
        }
        other => panic!("unknown role {other}"),
    }
}

#[test]
fn bank_transfers_keep_the_total_in_every_snapshot_of_every_process() {
    bank(&[]);
}

/// The same with merges every few commits: readers in other processes index log records that a
/// merge may start over under them (they begin again) and read trees merges replace.
#[test]
fn bank_transfers_keep_the_total_while_merges_restart_the_log() {
    bank(&[("MMTREE_MP_LOG_BYTES", "4096".to_string())]);
}

fn bank(env: &[(&str, String)]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        for i in 0..ACCOUNTS {
            w.table("accounts")
                .unwrap()
                .insert(account(i), START_BALANCE.to_le_bytes())
                .unwrap();
        }
        w.commit().unwrap();
    }
    let writers: Vec<Child> = (0..3).map(|_| spawn("bank-writer", &path, env)).collect();
    let readers: Vec<Child> = (0..3).map(|_| spawn("bank-reader", &path, env)).collect();
    let commits: u64 = writers.into_iter().map(|c| finish(c)[0].1).sum();
    for reader in readers {
        let out = finish(reader);
        let checks = out.iter().find(|(k, _)| k == "checks").unwrap().1;
        let violations = out.iter().find(|(k, _)| k == "violations").unwrap().1;
        assert_eq!(violations, 0, "a reader saw a broken invariant");
        assert!(checks > 0);
    }
    assert!(commits > 0);
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    // Every acknowledged commit is there: one setup commit plus the writers' commits.
    assert_eq!(r.txn_id(), 1 + commits, "commits were lost or duplicated");
    let total: u64 = r
        .table("accounts")
        .unwrap()
        .unwrap()
        .range(..)
        .unwrap()
        .map(|i| u64::from_le_bytes(i.unwrap().1.try_into().unwrap()))
        .sum();
    assert_eq!(total, ACCOUNTS * START_BALANCE);
    drop(r);
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    eprintln!("bank: {commits} commits by 3 writer processes, invariant held");
}

/// Reads the child's stdout until a line with `key`, returning its value (None at EOF).
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, key: &str) -> Option<u64> {
    for line in lines {
        let line = line.ok()?;
        if let Some(rest) = line.split("mp: ").nth(1) {
            if let Some(value) = rest.strip_prefix(key) {
                return value.trim().parse().ok();
            }
        }
    }
    None
}

#[test]
fn sigkilled_writers_and_readers_leave_no_stuck_lock_and_no_leaked_slot() {
    let rounds: u64 = std::env::var("MMTREE_MP_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(25);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.mmt");
    let db = Db::open(&path).unwrap(); // the parent stays present throughout
                                       // One commit first: on a new database (closed cleanly) the first commit is a checkpoint,
                                       // slower than the logged ones, and no killed writer would ever get past it to a logged one.
    let mut w = db.begin_write().unwrap();
    w.table("counter").unwrap();
    w.commit().unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut acknowledged = 0u64;
    for round in 0..rounds {
        // A reader that holds a snapshot, then a writer that commits until killed.
        let mut holder = spawn("holder", &path, &[]);
        let mut holder_out = BufReader::new(holder.stdout.take().unwrap()).lines();
        let held = wait_for(&mut holder_out, "holding").expect("holder started");
        assert!(
            db.readers()
                .iter()
                // The slot names the tree the snapshot reads: the last merge at or before the
                // commit it shows.
                .any(|r| r.pid == holder.id() && r.txn <= held),
            "round {round}: the holder's snapshot is not in the reader table: {:?}",
            db.readers()
        );
        let mut writer = spawn("counter-writer", &path, &[]);
        let stdout = writer.stdout.take().unwrap();
        let lines = std::thread::spawn(move || {
            let mut last = None;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(v) = line.split("mp: committed ").nth(1) {
                    last = v.trim().parse::<u64>().ok();
                }
            }
            last
        });
        std::thread::sleep(Duration::from_micros(5_000 + rng.next() % 40_000));
        writer.kill().unwrap();
        holder.kill().unwrap();
        writer.wait().unwrap();
        holder.wait().unwrap();
        if let Some(last) = lines.join().unwrap() {
            acknowledged = acknowledged.max(last);
        }
        // The dead writer's lock is gone at once: the kernel released it with the process.
        let w = db
            .try_begin_write()
            .unwrap_or_else(|e| panic!("round {round}: writer lock still held: {e}"));
        drop(w);
        // Every acknowledged commit is there.
        let r = db.begin_read().unwrap();
        let n = r
            .table("counter")
            .unwrap()
            .and_then(|t| {
                t.get(b"n")
                    .unwrap()
                    .map(|v| u64::from_le_bytes(v.try_into().unwrap()))
            })
            .unwrap_or(0);
        assert!(
            n >= acknowledged,
            "round {round}: commit {acknowledged} was acknowledged, the file has {n}"
        );
        drop(r);
        // The dead processes' slots are reclaimed: nobody holds a snapshot now.
        assert!(
            db.readers().is_empty(),
            "round {round}: dead readers still listed: {:?}",
            db.readers()
        );
        let report = db.check().unwrap();
        assert!(report.is_ok(), "round {round}: {:?}", report.problems);
    }
    // The dead holders did not pin old pages: the file stays small although every commit
    // rewrote ~5 KiB and the killed holders had snapshots.
    let stats = db.stats();
    eprintln!(
        "kill rounds: {rounds}, {acknowledged} acknowledged commits, file {} bytes",
        stats.file_bytes
    );
    assert!(acknowledged > 0);
    assert!(
        stats.file_bytes < 16 << 20,
        "the file grew to {} bytes",
        stats.file_bytes
    );
}

#[test]
fn two_handles_in_one_process_share_locks_and_see_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.mmt");
    let first = Db::open(&path).unwrap();
    let second = Db::open(&path).unwrap();
    let mut w = first.begin_write().unwrap();
    w.table("shared")
        .unwrap()
        .insert(b"from-parent", [7])
        .unwrap();
    w.commit().unwrap();
    assert_eq!(
        second
            .begin_read()
            .unwrap()
            .table("shared")
            .unwrap()
            .unwrap()
            .get(b"from-parent")
            .unwrap(),
        Some(&[7u8][..])
    );
    // Dropping one handle must not drop the other's locks: while `second` writes, another
    // process sees the writer lock held, and it sees the committed data.
    drop(first);
    let w = second.begin_write().unwrap();
    assert!(matches!(
        second.try_begin_write(),
        Err(Error::WriteInProgress)
    ));
    let out = finish(spawn("probe", &path, &[]));
    assert_eq!(
        out,
        vec![("writer-busy".to_string(), 1), ("seen".to_string(), 7)]
    );
    drop(w);
}

/// A writer killed after its merge's meta page is durable and before the lock file publishes
/// it: the durable checkpoint is newer than the published tree. The next writer must build on
/// it (its pages were taken from pages the published state lists as free, and its log
/// generation is new): a commit appended under the old generation would be lost by the next
/// open, and pages reused under the checkpoint would damage it. Failed before the fix: the
/// parent's commit was missing from the copy (and a debug assertion fired at its next merge).
#[test]
fn a_writer_killed_after_its_checkpoint_meta_leaves_no_trap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp.mmt");
    let db = Db::open(&path).unwrap(); // stays open: the lock file keeps the published state
    let mut w = db.begin_write().unwrap();
    for i in 0..2000u32 {
        w.table("t")
            .unwrap()
            .insert(i.to_be_bytes(), [1u8; 60])
            .unwrap();
    }
    w.commit().unwrap();
    db.checkpoint().unwrap();
    let mut child = spawn("die-in-checkpoint", &path, &[]);
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child must have died in its checkpoint"
    );
    // The parent writes on: a buffered commit, then a rewrite of every entry and a merge.
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"parent", b"after").unwrap();
    w.commit().unwrap();
    let copy_of = |name: &str| {
        let copy = dir.path().join(name);
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(
            format!("{}-log", path.display()),
            format!("{}-log", copy.display()),
        )
        .unwrap();
        copy
    };
    // A crash now: the parent's buffered commit must be replayed on top of the child's merge.
    let crashed = copy_of("crash1.mmt");
    let mut w = db.begin_write().unwrap();
    for i in 0..2000u32 {
        w.table("t")
            .unwrap()
            .insert(i.to_be_bytes(), [2u8; 60])
            .unwrap();
    }
    w.commit().unwrap();
    db.checkpoint().unwrap();
    assert!(db.check().unwrap().is_ok());
    let merged = copy_of("crash2.mmt");
    for (copy, value) in [(crashed, 1u8), (merged, 2u8)] {
        let db = Db::open(&copy).unwrap();
        let r = db.begin_read().unwrap();
        let t = r.table("t").unwrap().unwrap();
        assert_eq!(t.get(b"child").unwrap(), Some(&b"merged"[..]), "{copy:?}");
        assert_eq!(t.get(b"parent").unwrap(), Some(&b"after"[..]), "{copy:?}");
        assert_eq!(t.get(7u32.to_be_bytes()).unwrap(), Some(&[value; 60][..]));
        assert_eq!(t.len().unwrap(), 2002);
        drop(r);
        let report = db.check().unwrap();
        assert!(report.is_ok(), "{copy:?}: {:?}", report.problems);
    }
}

/// The same with a commit that goes to the tree directly, and a survivor that only closes: its
/// clean-close mark must not be written over the newer durable checkpoint.
#[test]
fn a_survivor_that_only_closes_keeps_a_dead_writers_durable_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cp2.mmt");
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"parent", b"before").unwrap();
    w.commit().unwrap();
    db.checkpoint().unwrap();
    let mut child = spawn("die-in-direct-commit", &path, &[]);
    assert!(!child.wait().unwrap().success());
    drop(db);
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(t.get(b"child").unwrap(), Some(&b"direct"[..]));
    assert_eq!(t.get(b"parent").unwrap(), Some(&b"before"[..]));
    drop(r);
    assert!(db.check().unwrap().is_ok());
}

/// Issue 24: a commit touches only the log, and another process sees it before any merge —
/// both a process that opens afterwards and one that was already reading (it indexes the new
/// records when its next snapshot begins).
#[test]
fn a_reader_process_sees_a_commit_of_another_before_any_merge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffered.mmt");
    // No background merge: the commits stay buffered while the child reads.
    let db = Db::open_with(&path, Options::default().merge_after_idle(None)).unwrap();
    let commit = |value: u8, extra: &[u8]| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        t.insert(b"k", [value]).unwrap();
        t.insert(extra, b"x").unwrap();
        drop(t);
        w.commit().unwrap();
    };
    commit(1, b"a");
    db.checkpoint().unwrap(); // the tree holds commit 1
    let merged_at = db.stats().checkpoint_txn;
    commit(2, b"b"); // buffered: the tree does not change
    assert!(db.stats().log_bytes > 0);
    let mut child = spawn("buffer-reader", &path, &[]);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(wait_for(&mut lines, "before-k"), Some(2));
    assert_eq!(wait_for(&mut lines, "before-len"), Some(3));
    assert_eq!(wait_for(&mut lines, "before-last"), Some(u64::from(b'k')));
    let before_txn = wait_for(&mut lines, "before-txn").unwrap();
    assert!(wait_for(&mut lines, "before-log").unwrap() > 0);
    // While the child holds its index, two more buffered commits.
    commit(3, b"c");
    commit(4, b"z");
    std::fs::write(format!("{}.go", path.display()), b"").unwrap();
    assert_eq!(wait_for(&mut lines, "after-k"), Some(4));
    assert_eq!(wait_for(&mut lines, "after-len"), Some(5));
    assert_eq!(wait_for(&mut lines, "after-last"), Some(u64::from(b'z')));
    assert_eq!(wait_for(&mut lines, "after-txn"), Some(before_txn + 2));
    assert!(wait_for(&mut lines, "after-log").unwrap() > 0);
    assert!(child.wait().unwrap().success());
    // Nothing was merged meanwhile: the tree is still the one of commit 1.
    let stats = db.stats();
    assert_eq!(stats.checkpoint_txn, merged_at);
    assert!(stats.log_bytes > 0);
    // And a merge keeps it all.
    db.checkpoint().unwrap();
    assert_eq!(db.stats().log_bytes, 0);
    let r = db.begin_read().unwrap();
    assert_eq!(r.table("t").unwrap().unwrap().len().unwrap(), 5);
}

/// Issue 24, item 6: a read-only open of a database whose log holds commits (a crash left them
/// unmerged) reads them into its write buffer instead of refusing, writes nothing, and a writer
/// process that joins later merges them before it appends.
#[test]
fn a_read_only_open_of_a_crashed_database_reads_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.mmt");
    let copy = dir.path().join("crashed.mmt");
    let log = |p: &std::path::Path| format!("{}-log", p.display());
    {
        let db = Db::open_with(&path, Options::default().merge_after_idle(None)).unwrap();
        for i in 0..3u8 {
            let mut w = db.begin_write().unwrap();
            let mut t = w.table("t").unwrap();
            t.insert([b'k', i], [i; 30]).unwrap();
            if i == 2 {
                assert!(t.remove([b'k', 0]).unwrap());
            }
            drop(t);
            w.commit().unwrap();
        }
        assert!(db.stats().log_bytes > 0);
        // The files as a crash leaves them: the commits are only in the log (the lock file is
        // left behind too; without one a read-only handle keeps a private one, and no writer
        // could join).
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(log(&path), log(&copy)).unwrap();
        let lock = |p: &std::path::Path| format!("{}-lock", p.display());
        std::fs::copy(lock(&path), lock(&copy)).unwrap();
    }
    let data_before = std::fs::read(&copy).unwrap();
    let ro = Db::open_with(&copy, mmtree::Options::default().read_only(true)).unwrap();
    let r = ro.begin_read().unwrap();
    let t = r.table("t").unwrap().expect("the table the log created");
    assert_eq!(t.len().unwrap(), 2);
    let keys: Vec<Vec<u8>> = t
        .range(..)
        .unwrap()
        .map(|i| i.unwrap().0.to_vec())
        .collect();
    assert_eq!(keys, vec![vec![b'k', 1], vec![b'k', 2]]);
    assert_eq!(t.get([b'k', 2]).unwrap(), Some(&[2u8; 30][..]));
    let txn = r.txn_id();
    drop(r);
    assert!(ro.check().unwrap().is_ok());
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        data_before,
        "read-only wrote nothing"
    );
    // A writer process joins: it merges the crashed log, then commits.
    let out = finish(spawn("writer-once", &copy, &[]));
    assert_eq!(out, vec![("committed".to_string(), txn + 1)]);
    let r = ro.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(t.len().unwrap(), 3);
    assert_eq!(t.get(b"from-child").unwrap(), Some(&[9u8][..]));
    assert_eq!(t.get([b'k', 0]).unwrap(), None);
    drop(r);
    assert!(ro.check().unwrap().is_ok());
    drop(ro);
    let db = Db::open(&copy).unwrap();
    assert_eq!(
        db.begin_read()
            .unwrap()
            .table("t")
            .unwrap()
            .unwrap()
            .len()
            .unwrap(),
        3
    );
    assert!(db.check().unwrap().is_ok());
}

/// Item 6 of the multi-process issue: a bounded snapshot in another process stops holding pages
/// back once it is older than its cap, and its next read says "expired" instead of returning
/// bytes from reused pages; a new snapshot then works.
#[test]
fn a_writer_expires_an_old_bounded_snapshot_of_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bounded.mmt");
    let db = Db::open(&path).unwrap();
    let rewrite = |version: u8| {
        let mut w = db.begin_write().unwrap();
        {
            let mut t = w.table("t").unwrap();
            for i in 0..200 {
                t.insert(format!("k{i:03}").as_bytes(), [version; 200])
                    .unwrap();
            }
        }
        w.commit().unwrap();
        db.checkpoint().unwrap(); // merged: each version rewrites the tree's pages
    };
    rewrite(1);
    let mut child = spawn(
        "bounded-holder",
        &path,
        &[("MMTREE_MP_MAX_AGE_MS", "200".to_string())],
    );
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(wait_for(&mut lines, "holding"), Some(1));
    // Before the deadline the snapshot holds pages back, like any snapshot.
    rewrite(2);
    assert!(db.stats().pages_held_back > 0);
    assert_eq!(db.readers().len(), 1);
    std::thread::sleep(Duration::from_millis(300));
    let pages_before = db.stats().page_count;
    for version in 3..103 {
        rewrite(version);
    }
    let stats = db.stats();
    assert_eq!(stats.pages_held_back, 0, "{stats:?}");
    assert!(db.readers().is_empty(), "{:?}", db.readers());
    assert!(
        stats.page_count < pages_before + 100,
        "100 rewrites grew the file from {pages_before} to {} pages",
        stats.page_count
    );
    std::fs::write(format!("{}.go", path.display()), b"").unwrap();
    assert_eq!(wait_for(&mut lines, "expired"), Some(1));
    assert_eq!(wait_for(&mut lines, "fresh"), Some(102));
    assert!(child.wait().unwrap().success());
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn a_symlink_or_a_hard_link_never_splits_the_writer_lock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("real.mmt");
    let db = Db::open(&path).unwrap();
    let symlink = dir.path().join("symlink.mmt");
    std::os::unix::fs::symlink(&path, &symlink).unwrap();
    let hard = dir.path().join("hard.mmt");
    std::fs::hard_link(&path, &hard).unwrap();
    let _writer = db.begin_write().unwrap();
    // Through a symlink: the same lock file, so the writer lock is seen.
    let out = finish(spawn("try-write", &symlink, &[]));
    assert_eq!(out, vec![("busy".to_string(), 1)], "through a symlink");
    // Through a hard link: another lock file name; the open is refused, not a second writer.
    let out = finish(spawn("try-write", &hard, &[]));
    assert_eq!(out, vec![("refused".to_string(), 1)], "through a hard link");
    drop(_writer);
    drop(db);
    // Alone, the hard link opens fine (a lock file of its own is rebuilt; nobody shares it).
    let out = finish(spawn("try-write", &hard, &[]));
    assert_eq!(
        out,
        vec![("wrote".to_string(), 1)],
        "alone through a hard link"
    );
}

#[test]
fn a_read_only_handle_writes_nothing_and_keeps_writers_out_while_it_reads() {
    use mmtree::Options;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ro.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"k", b"v").unwrap();
        w.commit().unwrap();
    }
    // As on read-only media or a fresh copy: no lock file next to the data file.
    let lock = dir.path().join("ro.mmt-lock");
    std::fs::remove_file(&lock).unwrap();
    let before = std::fs::read(&path).unwrap();
    let db = Db::open_with(&path, Options::default().read_only(true)).unwrap();
    let r = db.begin_read().unwrap();
    assert_eq!(
        r.table("t").unwrap().unwrap().get(b"k").unwrap(),
        Some(&b"v"[..])
    );
    assert!(matches!(db.begin_write(), Err(Error::ReadOnly { .. })));
    assert!(db.check().unwrap().is_ok());
    assert!(!lock.exists(), "a read-only open created a lock file");
    // A writer in another process cannot start while the snapshot may be read.
    let out = finish(spawn("try-write", &path, &[]));
    assert_eq!(out, vec![("refused".to_string(), 1)]);
    drop(r);
    drop(db);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the data file changed"
    );
    let out = finish(spawn("try-write", &path, &[]));
    assert_eq!(out, vec![("wrote".to_string(), 1)]);
}

#[test]
fn a_file_that_is_not_a_database_is_refused_without_leaving_anything_behind() {
    use mmtree::Options;
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.mmt");
    std::fs::write(&empty, b"").unwrap();
    let read_only = Db::open_with(&empty, Options::default().read_only(true));
    assert!(matches!(read_only, Err(Error::NotADatabase { .. })));
    assert_eq!(
        std::fs::metadata(&empty).unwrap().len(),
        0,
        "an empty file was written"
    );
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, vec![b'x'; 20_000]).unwrap();
    assert!(matches!(
        Db::open(&foreign),
        Err(Error::NotADatabase { .. })
    ));
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["empty.mmt", "notes.txt"],
        "a failed open left files behind"
    );
}

/// Issue 15, item 7: a writer killed between appending its record and publishing it. A whole
/// record is a durable commit: the next writer (in another process that had the database open
/// all along, so no open-time recovery runs) replays it. A torn one is cut: the next commit
/// goes where it was, and nothing of it ever shows up, not after a reopen either.
#[test]
fn a_writer_killed_mid_append_is_replayed_or_cut_by_the_next_writer() {
    for torn in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("append.mmt");
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"parent", b"1").unwrap();
        w.commit().unwrap();
        let role = format!("die-in-append-{}", if torn { "torn" } else { "whole" });
        let child = spawn(&role, &path, &[]);
        let output = child.wait_with_output().unwrap();
        assert!(!output.status.success(), "the child must have aborted");
        let get = |db: &Db, key: &[u8]| {
            let r = db.begin_read().unwrap();
            let t = r.table("t").unwrap().unwrap();
            t.get(key).unwrap().map(|v| v.to_vec())
        };
        // Readers see the published state: the child's commit is not published.
        assert_eq!(get(&db, b"child"), None);
        let mut w = db.begin_write().unwrap();
        let expect_child = (!torn).then(|| b"was here".to_vec());
        assert_eq!(
            w.table("t")
                .unwrap()
                .get(b"child")
                .unwrap()
                .map(|v| v.to_vec()),
            expect_child,
            "torn: {torn}"
        );
        w.table("t").unwrap().insert(b"parent", b"2").unwrap();
        w.commit().unwrap();
        assert_eq!(get(&db, b"parent"), Some(b"2".to_vec()));
        assert!(db.check().unwrap().is_ok());
        drop(db);
        let db = Db::open(&path).unwrap();
        assert_eq!(
            get(&db, b"child"),
            expect_child,
            "torn: {torn}, after a reopen"
        );
        assert_eq!(get(&db, b"parent"), Some(b"2".to_vec()));
        assert!(db.check().unwrap().is_ok());
    }
}
