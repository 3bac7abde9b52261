//! Simulated power loss. A SIGKILL keeps the page cache, so it says little about what a disk holds
//! after the power fails; this test records every write, length change and sync the engine makes
//! to the data file and to the redo log (through the hidden `Options::observe_io` hook) and, at
//! every durability point (each `fdatasync` of either file and each synchronous meta write),
//! builds the pairs of files a real disk could hold if the power failed right there (each file's
//! unsynced writes treated independently, since the kernel writes back either at any time):
//!
//! - every write since the last sync dropped;
//! - a prefix of them kept (writes reached the disk in order);
//! - a random subset kept, one of them torn at a 512-byte sector boundary (reordered writes);
//! - at a synchronous meta write: that write torn.
//!
//! Each such pair is opened as after a restart (`Options::simulate_reboot`), which replays the
//! log, and must open, pass `check()`, and hold exactly the data of one commit, no older than
//! the last one acknowledged as durable (an `Immediate` commit, a `Db::sync` or a checkpoint
//! that returned). The workload mixes `Immediate` and `Eventual` commits, several tables, values
//! large enough for overflow runs, removes, dropped tables, a bulk load, long runs of inserts in
//! key order (the append path, which writes full pages before its commit), merges of the write
//! buffer (checkpoints: explicit, and automatic with a small `log_bytes`), reopens, trims and
//! compaction.
//!
//! Two more workloads cut the power where a crash leaves the most to do: during *recovery* (a
//! crash image whose log holds commits is opened under the harness, and the power fails at
//! every sync of its replay and closing checkpoint: each cut must still open to exactly the
//! crashed state, every commit of it acknowledged) and during *upgrade* (every sync of the new
//! file: the new name must not exist yet, and the half-written file under its temporary name,
//! opened as it stands, must pass `check()`).
//!
//! `MMTREE_POWERLOSS_CUTS=20000 cargo test -p mmtree --release --test powerloss` runs more
//! workloads (other seeds) until that many cuts were checked; `MMTREE_POWERLOSS_SEED` picks the
//! first seed.

mod common;
use common::Rng;
use mmtree::testing::{IoFile, IoObserver};
use mmtree::{Db, Durability, Options, WriteTransaction};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

type State = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

const SECTOR: u64 = 512;

#[derive(Clone)]
enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

/// The disk as the power-loss model sees it: what is durable, and what is only in the page cache.
#[derive(Default)]
struct Disk {
    durable: Vec<u8>,
    pending: Vec<Op>,
}

fn apply(image: &mut Vec<u8>, op: &Op, keep_sector: &mut dyn FnMut() -> bool) {
    match op {
        Op::SetLen(len) => image.resize(*len as usize, 0),
        Op::Write(offset, bytes) => {
            let end = *offset as usize + bytes.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            let mut at = *offset;
            while at < *offset + bytes.len() as u64 {
                let next = ((at / SECTOR) + 1) * SECTOR;
                let stop = next.min(*offset + bytes.len() as u64);
                if keep_sector() {
                    let src = &bytes[(at - offset) as usize..(stop - offset) as usize];
                    image[at as usize..stop as usize].copy_from_slice(src);
                }
                at = stop;
            }
        }
    }
}

/// What the workload has committed: the state of every commit by txn id, and the newest commit
/// acknowledged as durable.
#[derive(Default)]
struct History {
    states: BTreeMap<u64, State>,
    acked: u64,
}

/// A cut to check: its kind, the images (data file, log), the commit acknowledged at the cut.
type Cut = (&'static str, [Vec<u8>; 2], u64);

fn index(file: IoFile) -> usize {
    match file {
        IoFile::Data => 0,
        IoFile::Log => 1,
    }
}

struct Harness {
    /// The data file and the log.
    disks: Mutex<[Disk; 2]>,
    history: Mutex<History>,
    rng: Mutex<Rng>,
    dir: PathBuf,
    cuts: AtomicU64,
    /// Disks built at cut points, checked by the workload between its operations (a check opens
    /// a database, which must not happen inside the engine's own open or commit): the kind of
    /// cut, the images (data file, log), and the commit acknowledged as durable at the cut.
    images: Mutex<Vec<Cut>>,
    violations: Mutex<Vec<String>>,
    /// Upgrade cuts: no file may exist under this name at a cut, and any state that opens and
    /// passes `check()` will do (the staged file is not the database yet).
    upgrading_to: Option<PathBuf>,
}

impl Harness {
    /// Commits `w`, whose state is `expected`, recorded before the commit (a cut during it may
    /// show either side); `acked` when the commit is durable once it returns (`Immediate`).
    fn commit(&self, w: WriteTransaction, expected: State, acked: bool) {
        let txn = w.txn_id();
        self.history.lock().unwrap().states.insert(txn, expected);
        w.commit().unwrap();
        if acked {
            self.history.lock().unwrap().acked = txn;
        }
    }

    fn new(dir: &Path, seed: u64) -> Harness {
        let mut history = History::default();
        history.states.insert(0, State::new());
        Harness {
            disks: Mutex::new([Disk::default(), Disk::default()]),
            history: Mutex::new(history),
            rng: Mutex::new(Rng(seed | 1)),
            dir: dir.to_path_buf(),
            cuts: AtomicU64::new(0),
            images: Mutex::new(Vec::new()),
            violations: Mutex::new(Vec::new()),
            upgrading_to: None,
        }
    }

    fn random(&self, n: u64) -> u64 {
        self.rng.lock().unwrap().next() % n.max(1)
    }

    /// The images one file could hold if the power failed now; `in_flight`: a synchronous
    /// write to it is under way.
    fn file_images(&self, disk: &Disk, in_flight: Option<&Op>) -> Vec<(&'static str, Vec<u8>)> {
        let all = &mut || true;
        let mut images = Vec::new();
        // 1. Nothing since the last sync reached the disk.
        images.push(("dropped", disk.durable.clone()));
        if !disk.pending.is_empty() {
            // 2. A prefix did, in order.
            let keep = self.random(disk.pending.len() as u64 + 1) as usize;
            let mut image = disk.durable.clone();
            for op in &disk.pending[..keep] {
                apply(&mut image, op, all);
            }
            images.push(("prefix", image));
            // 3. Any subset did, one write of it torn at a sector boundary.
            let mut image = disk.durable.clone();
            let torn = self.random(disk.pending.len() as u64) as usize;
            for (i, op) in disk.pending.iter().enumerate() {
                if i == torn {
                    apply(&mut image, op, &mut || self.random(2) == 0);
                } else if self.random(2) == 0 {
                    apply(&mut image, op, all);
                }
            }
            images.push(("subset+torn", image));
        }
        if let Some(op) = in_flight {
            // 4. A synchronous write cut half-way (everything before it made durable).
            let mut image = disk.durable.clone();
            for op in &disk.pending {
                apply(&mut image, op, all);
            }
            apply(&mut image, op, &mut || self.random(2) == 0);
            images.push(("torn sync write", image));
        }
        images
    }

    /// The power fails here: build the possible pairs of files and queue them for checking.
    fn cut(&self, in_flight: Option<(IoFile, &Op)>) {
        if let Some(new) = self.upgrading_to.as_ref().filter(|new| new.exists()) {
            self.violations.lock().unwrap().push(format!(
                "{} exists before the upgrade is durable",
                new.display()
            ));
        }
        let images = {
            let disks = self.disks.lock().unwrap();
            let flight = |file: IoFile| in_flight.filter(|(f, _)| *f == file).map(|(_, op)| op);
            let data = self.file_images(&disks[0], flight(IoFile::Data));
            let log = self.file_images(&disks[1], flight(IoFile::Log));
            // Every data image with a random log image, and every log image with a random
            // data image.
            let mut pairs = Vec::new();
            for (kind, image) in &data {
                let (log_kind, log_image) = &log[self.random(log.len() as u64) as usize];
                pairs.push((*kind, *log_kind, [image.clone(), log_image.clone()]));
            }
            for (kind, image) in &log {
                let (data_kind, data_image) = &data[self.random(data.len() as u64) as usize];
                pairs.push((*data_kind, *kind, [data_image.clone(), image.clone()]));
            }
            pairs
        };
        let acked = self.history.lock().unwrap().acked;
        let mut queue = self.images.lock().unwrap();
        for (data_kind, log_kind, pair) in images {
            let kind: &'static str = match (data_kind, log_kind) {
                ("dropped", "dropped") => "data dropped, log dropped",
                (_, "dropped") => "data kept in part, log dropped",
                ("dropped", _) => "data dropped, log kept in part",
                _ => "data and log kept in part",
            };
            queue.push((kind, pair, acked));
        }
    }

    /// Checks the disks built since the last call.
    fn verify_cuts(&self) {
        let images = std::mem::take(&mut *self.images.lock().unwrap());
        for (kind, image, acked) in images {
            let n = self.cuts.fetch_add(1, Ordering::Relaxed);
            if let Err(problem) = self.verify(n, &image, acked) {
                self.violations
                    .lock()
                    .unwrap()
                    .push(format!("cut {n} ({kind}): {problem}"));
            }
        }
    }

    fn verify(&self, n: u64, images: &[Vec<u8>; 2], acked: u64) -> Result<(), String> {
        let path = self.dir.join(format!("cut-{n}.mmt"));
        std::fs::write(&path, &images[0]).unwrap();
        let mut log = path.clone().into_os_string();
        log.push("-log");
        std::fs::write(&log, &images[1]).unwrap();
        let result = (|| {
            let db = Db::open_with(&path, Options::default().simulate_reboot())
                .map_err(|e| format!("does not open: {e}"))?;
            let report = db.check().map_err(|e| format!("check failed: {e}"))?;
            if !report.is_ok() {
                return Err(format!("check: {:?}", report.problems));
            }
            if self.upgrading_to.is_some() {
                return Ok(());
            }
            let txn = db.stats().txn_id;
            let history = self.history.lock().unwrap();
            if txn < acked {
                return Err(format!(
                    "opened at commit {txn}, older than commit {acked} acknowledged as durable"
                ));
            }
            // Internal commits (trim, compaction) change no data: the state of the newest
            // recorded commit at or below `txn` is what it must hold.
            let (_, expected) = history.states.range(..=txn).next_back().expect("txn 0");
            let found = contents(&db);
            if &found != expected {
                return Err(format!("commit {txn} holds other data than was committed"));
            }
            Ok(())
        })();
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&log);
        let mut lock = path.into_os_string();
        lock.push("-lock");
        let _ = std::fs::remove_file(lock);
        result
    }
}

impl IoObserver for Harness {
    fn write(&self, file: IoFile, offset: u64, bytes: &[u8]) {
        let mut disks = self.disks.lock().unwrap();
        disks[index(file)]
            .pending
            .push(Op::Write(offset, bytes.to_vec()));
    }

    fn write_durable(&self, file: IoFile, offset: u64, bytes: &[u8]) {
        let op = Op::Write(offset, bytes.to_vec());
        self.cut(Some((file, &op)));
        let mut disks = self.disks.lock().unwrap();
        let disk = &mut disks[index(file)];
        // O_DSYNC makes this range durable, nothing else; page-cache writes it covers are gone.
        let end = offset + bytes.len() as u64;
        disk.pending.retain(|op| match op {
            Op::Write(at, b) => !(*at >= offset && at + b.len() as u64 <= end),
            Op::SetLen(_) => true,
        });
        let Disk { durable, .. } = disk;
        apply(durable, &op, &mut || true);
    }

    fn set_len(&self, file: IoFile, len: u64) {
        self.disks.lock().unwrap()[index(file)]
            .pending
            .push(Op::SetLen(len));
    }

    fn sync(&self, file: IoFile) {
        self.cut(None);
        let mut disks = self.disks.lock().unwrap();
        let disk = &mut disks[index(file)];
        let pending = std::mem::take(&mut disk.pending);
        for op in &pending {
            apply(&mut disk.durable, op, &mut || true);
        }
    }
}

fn contents(db: &Db) -> State {
    let r = db.begin_read().unwrap();
    let mut state = State::new();
    for name in r.list_tables().unwrap() {
        let table = r.table(&name).unwrap().unwrap();
        let rows = table
            .range(..)
            .unwrap()
            .map(|item| {
                let (k, v) = item.unwrap();
                (k.to_vec(), v.to_vec())
            })
            .collect();
        state.insert(name, rows);
    }
    state
}

fn value(rng: &mut Rng, tag: u64) -> Vec<u8> {
    let len = match rng.next() % 10 {
        0 => 5_000 + (rng.next() % 15_000) as usize, // an overflow run
        1 => 0,
        _ => 10 + (rng.next() % 300) as usize,
    };
    (0..len).map(|i| (tag as usize * 31 + i) as u8).collect()
}

/// Runs one workload of `commits` commits under the harness; returns (cuts, violations).
fn run(seed: u64, commits: u64) -> (u64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let harness = Arc::new(Harness::new(dir.path(), seed));
    let path = dir.path().join("db.mmt");
    // A small log, so commits checkpoint on their own now and then, and some commits are too
    // large for the log (checkpoint commits).
    let options = Options::default()
        .observe_io(harness.clone())
        .log_bytes(96 << 10);
    let mut db = Db::open_with(&path, options.clone()).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let mut model = State::new();
    let tables = ["alpha", "beta", "gamma"];
    for n in 0..commits {
        harness.verify_cuts();
        match rng.next() % 20 {
            16 => {
                db.checkpoint().unwrap();
                harness.history.lock().unwrap().acked = db.stats().txn_id;
                continue;
            }
            17 => {
                // Close (a checkpoint) and reopen.
                drop(db);
                db = Db::open_with(&path, options.clone()).unwrap();
                harness.history.lock().unwrap().acked = db.stats().txn_id;
                continue;
            }
            18 => {
                // A bulk load into a new table: a checkpoint commit.
                let name = format!("bulk{n}");
                let mut w = db.begin_write().unwrap();
                let mut loader = w.bulk_load(&name).unwrap();
                let mut rows = BTreeMap::new();
                for i in 0..(rng.next() % 300) {
                    let key = format!("b{i:05}").into_bytes();
                    let value = value(&mut rng, n);
                    loader.append(&key, &value).unwrap();
                    rows.insert(key, value);
                }
                loader.finish().unwrap();
                model.insert(name, rows);
                harness.commit(w, model.clone(), true);
                continue;
            }
            19 => {
                // Plain inserts in key order past a table's end, in one transaction: the append
                // path, which writes full pages before the commit (a checkpoint: the record
                // outgrows the small log), so a cut drops or tears them.
                let name = tables[(rng.next() % 3) as usize];
                let mut w = db.begin_write().unwrap();
                let rows = model.entry(name.to_string()).or_default();
                {
                    let mut t = w.table(name).unwrap();
                    for i in 0..(1_500 + rng.next() % 2_500) {
                        let key = format!("z{n:04}{i:05}").into_bytes();
                        let len = match rng.next() % 200 {
                            0 => 6_000,
                            _ => 10 + (rng.next() % 300) as usize,
                        };
                        let value: Vec<u8> = (0..len).map(|j| (i as usize + j) as u8).collect();
                        t.insert(&key, &value).unwrap();
                        rows.insert(key, value);
                    }
                }
                harness.commit(w, model.clone(), true);
                continue;
            }
            0 => {
                db.compact().unwrap();
                harness.history.lock().unwrap().acked = db.stats().txn_id;
                continue;
            }
            1 => {
                db.trim().unwrap();
                harness.history.lock().unwrap().acked = db.stats().txn_id;
                continue;
            }
            2 => {
                db.sync().unwrap();
                harness.history.lock().unwrap().acked = db.stats().txn_id;
                continue;
            }
            _ => {}
        }
        let durability = if rng.next().is_multiple_of(3) {
            Durability::Eventual
        } else {
            Durability::Immediate
        };
        let mut w = db.begin_write().unwrap();
        w.set_durability(durability);
        let ops = 1 + rng.next() % 120;
        for _ in 0..ops {
            let name = tables[(rng.next() % 3) as usize];
            match rng.next() % 100 {
                0 => {
                    w.delete_table(name).unwrap();
                    model.remove(name);
                }
                1..=25 => {
                    let key = format!("k{:05}", rng.next() % 400).into_bytes();
                    w.table(name).unwrap().remove(&key).unwrap();
                    model.entry(name.to_string()).or_default().remove(&key);
                }
                _ => {
                    let key = format!("k{:05}", rng.next() % 400).into_bytes();
                    let value = value(&mut rng, n);
                    w.table(name).unwrap().insert(&key, &value).unwrap();
                    model
                        .entry(name.to_string())
                        .or_default()
                        .insert(key, value);
                }
            }
        }
        // A table created empty exists with no rows; one that was dropped does not.
        let listed = w.list_tables().unwrap();
        model.retain(|name, _| listed.contains(name));
        for name in listed {
            model.entry(name).or_default();
        }
        harness.commit(w, model.clone(), durability == Durability::Immediate);
    }
    drop(db);
    harness.verify_cuts();
    let cuts = harness.cuts.load(Ordering::Relaxed);
    let violations = harness.violations.lock().unwrap().clone();
    (cuts, violations)
}

/// Commits `commits` transactions with the log holding them (no checkpoint after the first),
/// then copies the files as a crash leaves them, and opens the copy under the harness: the
/// power fails at every sync of its recovery. Returns (cuts, violations).
fn run_recovery(seed: u64, commits: u64) -> (u64, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crashed.mmt");
    // No background merge: the commits wait in the log for the crash image.
    let db = Db::open_with(&path, Options::default().merge_after_idle(None)).unwrap();
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let mut model = State::new();
    let tables = ["alpha", "beta"];
    for n in 0..commits {
        let mut w = db.begin_write().unwrap();
        for _ in 0..1 + rng.next() % 40 {
            let name = tables[(rng.next() % 2) as usize];
            let key = format!("k{:05}", rng.next() % 300).into_bytes();
            if rng.next().is_multiple_of(5) {
                w.table(name).unwrap().remove(&key).unwrap();
                model.entry(name.to_string()).or_default().remove(&key);
            } else {
                let value = value(&mut rng, n);
                w.table(name).unwrap().insert(&key, &value).unwrap();
                model
                    .entry(name.to_string())
                    .or_default()
                    .insert(key, value);
            }
        }
        w.commit().unwrap();
    }
    let txn = db.stats().txn_id;
    assert!(db.stats().log_bytes > 0, "the commits wait in the log");
    let images = [
        std::fs::read(&path).unwrap(),
        std::fs::read(format!("{}-log", path.display())).unwrap(),
    ];
    drop(db);
    let harness = Arc::new(Harness::new(dir.path(), seed));
    {
        let mut disks = harness.disks.lock().unwrap();
        for (disk, image) in disks.iter_mut().zip(images.iter()) {
            disk.durable = image.clone();
        }
        let mut history = harness.history.lock().unwrap();
        history.states.insert(txn, model);
        history.acked = txn;
    }
    let copy = dir.path().join("recovering.mmt");
    std::fs::write(&copy, &images[0]).unwrap();
    std::fs::write(format!("{}-log", copy.display()), &images[1]).unwrap();
    let options = Options::default().observe_io(harness.clone());
    let db = Db::open_with(&copy, options).unwrap(); // the replay, under the harness
    assert_eq!(db.stats().txn_id, txn, "every commit replayed");
    drop(db); // and the closing checkpoint
    harness.verify_cuts();
    let cuts = harness.cuts.load(Ordering::Relaxed);
    let violations = harness.violations.lock().unwrap().clone();
    (cuts, violations)
}

#[test]
fn power_loss_during_recovery_keeps_every_replayed_commit() {
    let (mut cuts, mut violations) = (0, Vec::new());
    for seed in 1..=3 {
        let (n, found) = run_recovery(seed, 30);
        cuts += n;
        violations.extend(found.into_iter().map(|v| format!("seed {seed}: {v}")));
    }
    println!(
        "power loss during recovery: {cuts} cuts, {} violations",
        violations.len()
    );
    assert!(cuts > 0);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn power_loss_during_upgrade_leaves_no_file_under_the_new_name() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let old = dir.path().join("old.mmt");
    std::fs::copy(fixtures.join("format2.mmt"), &old).unwrap();
    std::fs::copy(
        fixtures.join("format2.mmt-log"),
        dir.path().join("old.mmt-log"),
    )
    .unwrap();
    let new = dir.path().join("new.mmt");
    let mut harness = Harness::new(dir.path(), 7);
    harness.upgrading_to = Some(new.clone());
    let harness = Arc::new(harness);
    let options = Options::default().observe_io(harness.clone());
    let report = mmtree::upgrade_with(&old, &new, options).unwrap();
    assert_eq!(report.log_records, 4);
    harness.verify_cuts();
    let cuts = harness.cuts.load(Ordering::Relaxed);
    let violations = harness.violations.lock().unwrap().clone();
    println!(
        "power loss during upgrade: {cuts} cuts, {} violations",
        violations.len()
    );
    assert!(cuts > 0);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
    assert!(Db::open(&new).unwrap().check().unwrap().is_ok());
}

#[test]
fn power_loss_at_every_sync_point_leaves_a_committed_state() {
    let first_seed: u64 = std::env::var("MMTREE_POWERLOSS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let wanted: u64 = std::env::var("MMTREE_POWERLOSS_CUTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let (mut cuts, mut seeds) = (0, 0);
    let mut violations = Vec::new();
    while cuts < wanted {
        let seed = first_seed + seeds;
        let (n, found) = run(seed, 40);
        cuts += n;
        seeds += 1;
        violations.extend(found.into_iter().map(|v| format!("seed {seed}: {v}")));
        if violations.len() > 20 {
            break;
        }
    }
    println!(
        "power loss: {cuts} cuts over {seeds} workloads, {} violations",
        violations.len()
    );
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}
