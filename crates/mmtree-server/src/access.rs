//! When each key was last read or written (OBJECT IDLETIME), kept in memory only, as Redis keeps
//! its per-object LRU clock: a restart starts every key's idle time from the restart (a key
//! without an entry counts as accessed when the server started).
//!
//! The cost on the hot path: a connection notes the keys of the reads it runs in a `Batch` of
//! its own (bytes appended to a buffer it keeps, no allocation once warm, no lock) and hands the
//! whole batch to the table once per turn of its event loop (`AccessTimes::apply`: one lock for
//! all the commands a pipeline brought); the group-commit writer does the same for the keys of a
//! segment's writes, once per commit. The clock is in seconds, as Redis' (its LRU clock ticks
//! every 1000 ms).
//!
//! Memory: one entry per key read or written since the server started, dropped when the key is
//! deleted (DEL, UNLINK, GETDEL), flushed (FLUSHDB, FLUSHALL; SWAPDB swaps the databases'
//! entries) or, for keys gone any other way (expiry, a collection's last member removed, RENAME's
//! source, a read of a missing key), by a sweep that checks every entry against the database
//! whenever the table has doubled since the last one (so its work is amortised over the
//! entries added; it runs on a thread of its own, on a snapshot, the lock held only to list the
//! entries and to remove the dead ones; an entry touched in the sweep's own second is left to the
//! next sweep, so the table stays within a few times the keys live or touched lately).

use crate::store;
use foldhash::fast::RandomState;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The table is not swept below this many entries.
const SWEEP_FLOOR: usize = 1 << 16;

/// What a batch does to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Touch,
    Forget,
    /// FLUSHDB (the database) or FLUSHALL (None).
    Flush(Option<u8>),
    /// SWAPDB.
    Swap(u8, u8),
}

/// Access records gathered by one connection (or by the writer) and handed over at once: each
/// key as its database's byte then the key, in one buffer.
#[derive(Default)]
pub struct Batch {
    bytes: Vec<u8>,
    records: Vec<(u32, Action)>,
}

impl Batch {
    fn push(&mut self, db: u32, key: &[u8], action: Action) {
        self.bytes.push(db as u8);
        self.bytes.extend_from_slice(key);
        self.records.push((self.bytes.len() as u32, action));
    }

    /// `key` of database `db` was read or written now.
    pub fn touch(&mut self, db: u32, key: &[u8]) {
        self.push(db, key, Action::Touch);
    }

    /// `key` of database `db` was deleted.
    pub fn forget(&mut self, db: u32, key: &[u8]) {
        self.push(db, key, Action::Forget);
    }

    /// FLUSHDB (`Some(db)`) or FLUSHALL (`None`), in its place among the batch's records.
    pub fn flush(&mut self, db: Option<u32>) {
        self.records
            .push((self.bytes.len() as u32, Action::Flush(db.map(|d| d as u8))));
    }

    /// SWAPDB `a` `b`, in its place.
    pub fn swap(&mut self, a: u32, b: u32) {
        self.records
            .push((self.bytes.len() as u32, Action::Swap(a as u8, b as u8)));
    }

    /// Drops what the batch holds (a commit that failed changed nothing).
    pub fn discard(&mut self) {
        self.clear();
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn clear(&mut self) {
        self.records.clear();
        self.bytes.clear();
        // A batch of huge keys does not keep its buffer.
        if self.bytes.capacity() > 1 << 20 {
            self.bytes = Vec::new();
        }
    }
}

/// Database byte and key → the clock (seconds since the server started) of its last access.
/// Hashed with foldhash, seeded at random per process: fast on short keys, and a client cannot
/// choose keys that collide (they are the client's).
type Times = HashMap<Box<[u8]>, u32, RandomState>;

#[derive(Default)]
struct Table {
    times: Times,
    /// Entries left by the last sweep: the next is due at twice as many.
    swept: usize,
}

/// Every key's last access (see the module's comment).
pub struct AccessTimes {
    started: Instant,
    table: Mutex<Table>,
    sweeping: AtomicBool,
}

impl AccessTimes {
    pub fn new(started: Instant) -> AccessTimes {
        AccessTimes {
            started,
            table: Mutex::new(Table::default()),
            sweeping: AtomicBool::new(false),
        }
    }

    /// The clock at `now`: whole seconds since the server started.
    pub fn clock(&self, now: Instant) -> u32 {
        now.saturating_duration_since(self.started)
            .as_secs()
            .min(u64::from(u32::MAX)) as u32
    }

    /// Applies (and empties) a batch at clock `clock`. Returns true if the table has grown
    /// enough to be swept (`sweep`).
    pub fn apply(&self, batch: &mut Batch, clock: u32) -> bool {
        if batch.is_empty() {
            return false;
        }
        let due = {
            let mut table = self.table.lock().expect("access times");
            let mut from = 0usize;
            for &(end, action) in &batch.records {
                let key = &batch.bytes[from..end as usize];
                from = end as usize;
                match action {
                    Action::Touch => match table.times.get_mut(key) {
                        Some(t) => *t = clock,
                        None => {
                            table.times.insert(key.into(), clock);
                        }
                    },
                    Action::Forget => {
                        table.times.remove(key);
                    }
                    Action::Flush(db) => flush(&mut table.times, db),
                    Action::Swap(a, b) => swap(&mut table.times, a, b),
                }
            }
            table.times.len() > (table.swept * 2).max(SWEEP_FLOOR)
        };
        batch.clear();
        due
    }

    /// Seconds since `key` of `db` was last accessed, at clock `clock` (the caller knows the key
    /// exists).
    pub fn idle(&self, db: u32, key: &[u8], clock: u32) -> u64 {
        let mut full = Vec::with_capacity(key.len() + 1);
        full.push(db as u8);
        full.extend_from_slice(key);
        let at = self
            .table
            .lock()
            .expect("access times")
            .times
            .get(&full[..])
            .copied()
            .unwrap_or(0);
        u64::from(clock.saturating_sub(at))
    }

    /// Entries in the table (INFO's `mmtree_access_times`).
    pub fn len(&self) -> usize {
        self.table.lock().expect("access times").times.len()
    }

    /// Drops the entries of keys `db` no longer holds (`sweep_now`), unless a sweep is running
    /// already (the caller runs this on a thread of its own: `Server::sweep_access_times`).
    pub fn sweep(&self, db: &mmtree::Db) {
        if self.sweeping.swap(true, Ordering::AcqRel) {
            return;
        }
        if let Err(e) = self.sweep_now(db) {
            eprintln!("mmtree serve: sweeping the access times: {e}");
        }
        self.sweeping.store(false, Ordering::Release);
    }

    /// True while a sweep runs.
    pub fn sweeping(&self) -> bool {
        self.sweeping.load(Ordering::Acquire)
    }

    /// The sweep itself: the entries older than the current second are listed under the lock,
    /// checked against a snapshot taken after that second began (so it holds every write those
    /// entries saw: the writer notes a write's keys after its commit), and the dead ones removed
    /// unless touched again meanwhile. Every other entry stays in place throughout, so OBJECT
    /// IDLETIME answers right while a sweep runs. Returns the entries left.
    pub fn sweep_now(&self, db: &mmtree::Db) -> mmtree::Result<usize> {
        let before = self.clock(Instant::now());
        let listed: Vec<Box<[u8]>> = self
            .table
            .lock()
            .expect("access times")
            .times
            .iter()
            .filter(|(_, &t)| t < before)
            .map(|(k, _)| k.clone())
            .collect();
        let read = db.begin_read()?;
        let mut tables = Vec::new();
        for n in 0..store::DATABASES {
            tables.push(read.table(store::table_name(n))?);
        }
        let mut dead = Vec::new();
        for k in listed {
            let present = match tables.get(k[0] as usize) {
                Some(Some(table)) => table.get(&k[1..])?.is_some(),
                _ => false,
            };
            if !present {
                dead.push(k);
            }
        }
        let mut table = self.table.lock().expect("access times");
        for k in dead {
            if table.times.get(&k).is_some_and(|&t| t < before) {
                table.times.remove(&k);
            }
        }
        table.swept = table.times.len();
        Ok(table.swept)
    }
}

/// FLUSHDB (`Some(db)`) or FLUSHALL (`None`): the entries of the keys removed go.
fn flush(times: &mut Times, db: Option<u8>) {
    match db {
        None => times.clear(),
        Some(db) => times.retain(|k, _| k[0] != db),
    }
}

/// SWAPDB: the two databases' entries change places.
fn swap(times: &mut Times, a: u8, b: u8) {
    if a == b {
        return;
    }
    let moved: Vec<(Box<[u8]>, u32)> = times.extract_if(|k, _| k[0] == a || k[0] == b).collect();
    for (mut k, t) in moved {
        k[0] = if k[0] == a { b } else { a };
        times.insert(k, t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_touch_forget_flush_and_swap() {
        let started = Instant::now();
        let times = AccessTimes::new(started);
        let mut batch = Batch::default();
        batch.touch(0, b"a");
        batch.touch(1, b"a");
        batch.touch(0, b"b");
        assert!(!times.apply(&mut batch, 5));
        assert!(batch.is_empty());
        assert_eq!(times.len(), 3);
        assert_eq!(times.idle(0, b"a", 9), 4);
        // A key without an entry counts from the start.
        assert_eq!(times.idle(0, b"zz", 9), 9);
        batch.touch(0, b"a");
        batch.forget(0, b"b");
        times.apply(&mut batch, 8);
        assert_eq!(times.idle(0, b"a", 9), 1);
        assert_eq!(times.idle(0, b"b", 9), 9);
        batch.swap(0, 1);
        times.apply(&mut batch, 9);
        assert_eq!(times.idle(1, b"a", 9), 1);
        assert_eq!(times.idle(0, b"a", 9), 4);
        // In order: a touch after a flush stays.
        batch.flush(Some(0));
        batch.touch(0, b"new");
        times.apply(&mut batch, 9);
        assert_eq!(times.len(), 2);
        batch.flush(None);
        times.apply(&mut batch, 9);
        assert_eq!(times.len(), 0);
    }

    #[test]
    fn a_sweep_keeps_only_the_keys_the_database_holds() {
        let dir = tempfile::tempdir().unwrap();
        let db = mmtree::Db::open(dir.path().join("db")).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table(store::table_name(2))
            .unwrap()
            .insert(b"kept", b"v")
            .unwrap();
        w.commit().unwrap();
        // A server started 100 s ago: the clock is at 100.
        let started = Instant::now() - std::time::Duration::from_secs(100);
        let times = AccessTimes::new(started);
        let mut batch = Batch::default();
        batch.touch(2, b"kept");
        batch.touch(2, b"gone");
        batch.touch(0, b"kept");
        times.apply(&mut batch, 3);
        // Touched in the sweep's own second: kept whatever the snapshot says (its write may
        // be newer than the snapshot).
        batch.touch(2, b"recent");
        times.apply(&mut batch, u32::MAX);
        assert_eq!(times.sweep_now(&db).unwrap(), 2);
        assert_eq!(times.idle(2, b"kept", 4), 1);
        assert_eq!(times.idle(2, b"gone", 4), 4);
        // A growing table asks for a sweep once it doubled (from the floor up).
        let mut due = false;
        for i in 0..=SWEEP_FLOOR {
            batch.touch(0, format!("k{i}").as_bytes());
            due |= times.apply(&mut batch, 4);
        }
        assert!(due);
    }
}
