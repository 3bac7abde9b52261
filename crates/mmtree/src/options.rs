//! How a database is opened: [`Options`] and the [`Durability`] of commits.

use crate::limits::{
    CHECKPOINT_INTERVAL_DEFAULT, LOG_BYTES_DEFAULT, MERGE_AFTER_IDLE_DEFAULT, PAGE_SIZE_DEFAULT,
    SPILL_BYTES_DEFAULT, SYNC_INTERVAL_DEFAULT,
};
#[cfg(feature = "testing")]
use crate::storage::observe::IoObserver;
use crate::storage::observe::ObserverHandle;
#[cfg(feature = "testing")]
use std::sync::Arc;
use std::sync::OnceLock;

/// When a commit reaches the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Durable when `commit` returns: the commit's redo-log record is synced (one `fdatasync` of
    /// the log; a commit too large for the log syncs its pages and meta page instead, as a
    /// checkpoint). A crash or power loss at any later point keeps it. The default.
    #[default]
    Immediate,
    /// Atomic and visible at once, but durable only within [`Options::sync_interval`]
    /// (default 1 s, like Redis's `appendfsync everysec`): the commit's log record is written
    /// to the page cache, and a background thread syncs the log at most that long after it.
    /// A process crash loses nothing (the page cache has the record); a power loss or kernel
    /// crash loses at most the commits of that last window, whole, never more, and never
    /// corrupts the database. [`Db::sync`](crate::Db::sync) makes every commit so far durable at once.
    Eventual,
}

/// Options for [`Db::open_with`](crate::Db::open_with).
///
/// ```
/// # fn main() -> mmtree::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// use mmtree::{Db, Durability, Options};
/// let options = Options::default()
///     .page_size(16 * 1024)                       // for a new file only
///     .durability(Durability::Eventual)           // synced within sync_interval (1 s)
///     .log_bytes(16 << 20);                       // checkpoint every 16 MiB of log
/// let db = Db::open_with(dir.path().join("data.mmt"), options)?;
/// let mut w = db.begin_write()?;
/// w.table("t")?.insert(b"k", b"v")?;
/// w.commit()?;
/// db.sync()?;                                     // every commit so far durable now
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Options {
    /// Page size for a new database (power of two, 4 KiB to 32 KiB). Ignored for an existing file.
    pub page_size: usize,
    /// Default durability of commits.
    pub durability: Durability,
    /// Dirty-page memory a write transaction may hold before it spills pages to the file.
    pub spill_bytes: usize,
    /// Verify each page's checksum the first time this process reads it (default true).
    pub verify_checksums: bool,
    /// Keep the kernel's read-around for the mapping (default false). Off, a page fault reads
    /// only the page it needs (`MADV_RANDOM`), which keeps random reads fast when the file is
    /// larger than memory; forward range scans then prefetch the leaves ahead of them
    /// themselves once they find pages missing from memory.
    pub read_ahead: bool,
    /// The redo-log size that triggers a checkpoint (default 64 MiB); a commit whose log record
    /// would be larger than this commits as a checkpoint instead (its pages are synced directly,
    /// so big transactions and bulk loads are never written twice; a record is never larger than
    /// 4 GiB, whatever this says). Also bounds the pages freed
    /// since the last checkpoint that must stay untouched until the next one (see
    /// `docs/ARCHITECTURE.md`).
    pub log_bytes: u64,
    /// A commit checkpoints when the last checkpoint is older than this (default 60 s), so
    /// recovery after a crash never has much to replay.
    pub checkpoint_interval: std::time::Duration,
    /// How long an [`Durability::Eventual`] commit may stay unsynced (default 1 s).
    pub sync_interval: std::time::Duration,
    /// Merge the write buffer into the tree in the background once the writer has been idle
    /// this long (default 100 ms; `None`: only when the buffer reaches its budget, at
    /// [`Options::checkpoint_interval`], and at close). A writable handle runs one thread for
    /// it; the merge holds the writer role while it runs, so a write transaction begun then
    /// waits for it (bounded by the buffer's budget, [`Options::log_bytes`]).
    pub merge_after_idle: Option<std::time::Duration>,
    /// Strict mode: after every commit, check the whole database and panic on any problem.
    pub(crate) strict: bool,
    /// Open for reading only (see [`Options::read_only`]).
    pub(crate) read_only: bool,
    /// Open the last checkpoint rather than refuse when the log cannot be used (see
    /// [`Options::set_aside_log`]).
    pub(crate) set_aside_log: bool,
    /// Test hook: the boot id this handle believes in (see `simulate_reboot`).
    pub(crate) boot_id: Option<u64>,
    /// Test hook: sees every write to the data file (see `observe_io`).
    pub(crate) observer: Option<ObserverHandle>,
    /// Test hook: the process aborts in the middle of its next logged commit (see
    /// `crash_in_log_append`).
    pub(crate) crash_in_append: Option<bool>,
    /// Test hook: the process aborts in its next checkpoint, after the meta page is durable and
    /// before the lock file publishes it (see `crash_after_checkpoint_meta`).
    pub(crate) crash_in_checkpoint: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            page_size: PAGE_SIZE_DEFAULT,
            durability: Durability::Immediate,
            spill_bytes: SPILL_BYTES_DEFAULT,
            log_bytes: LOG_BYTES_DEFAULT,
            checkpoint_interval: CHECKPOINT_INTERVAL_DEFAULT,
            sync_interval: SYNC_INTERVAL_DEFAULT,
            merge_after_idle: Some(MERGE_AFTER_IDLE_DEFAULT),
            verify_checksums: true,
            read_ahead: false,
            strict: false,
            read_only: false,
            set_aside_log: false,
            boot_id: None,
            observer: None,
            crash_in_append: None,
            crash_in_checkpoint: false,
        }
    }
}

impl Options {
    /// The first setting in which `other` asks for different behaviour than `self` (the page
    /// size only matters at creation and is not compared).
    pub(crate) fn differs_from(&self, other: &Options) -> Option<String> {
        let mut differences = Vec::new();
        if self.durability != other.durability {
            differences.push(format!(
                "durability {:?}, asked for {:?}",
                self.durability, other.durability
            ));
        }
        if self.spill_bytes != other.spill_bytes {
            differences.push(format!(
                "spill_bytes {}, asked for {}",
                self.spill_bytes, other.spill_bytes
            ));
        }
        if (self.log_bytes, self.checkpoint_interval, self.sync_interval)
            != (
                other.log_bytes,
                other.checkpoint_interval,
                other.sync_interval,
            )
        {
            differences.push(format!(
                "log_bytes/checkpoint_interval/sync_interval {}/{:?}/{:?}, asked for {}/{:?}/{:?}",
                self.log_bytes,
                self.checkpoint_interval,
                self.sync_interval,
                other.log_bytes,
                other.checkpoint_interval,
                other.sync_interval
            ));
        }
        if self.merge_after_idle != other.merge_after_idle {
            differences.push(format!(
                "merge_after_idle {:?}, asked for {:?}",
                self.merge_after_idle, other.merge_after_idle
            ));
        }
        if self.verify_checksums != other.verify_checksums {
            differences.push(format!(
                "verify_checksums {}, asked for {}",
                self.verify_checksums, other.verify_checksums
            ));
        }
        if self.read_ahead != other.read_ahead {
            differences.push(format!(
                "read_ahead {}, asked for {}",
                self.read_ahead, other.read_ahead
            ));
        }
        if self.read_only != other.read_only {
            differences.push(format!(
                "read_only {}, asked for {}",
                self.read_only, other.read_only
            ));
        }
        if self.strict != other.strict {
            differences.push(format!(
                "strict {}, asked for {}",
                self.strict, other.strict
            ));
        }
        if self.boot_id != other.boot_id || self.observer.is_some() != other.observer.is_some() {
            differences.push("test hooks differ".to_string());
        }
        (!differences.is_empty()).then(|| differences.join(", "))
    }

    /// Opens for reading only: the data file is opened without write access and never created
    /// or changed, so files on read-only media or without write permission can be read, and
    /// a command that only reads writes nothing. Write transactions fail with
    /// [`Error::ReadOnly`](crate::Error::ReadOnly).
    ///
    /// The lock file: an existing one that can be opened for writing is used as by any reader
    /// (a reader slot protects the snapshots from writers in other processes). Without one
    /// (read-only media, or the file was never opened here) none is created: the handle takes a
    /// shared lock on the data file itself, which refuses writers that open later for as long
    /// as the handle lives; if another process has the database open already, such an open is
    /// refused, since its snapshots could not be protected.
    pub fn read_only(mut self, on: bool) -> Self {
        self.read_only = on;
        self
    }

    /// A way out when the redo log cannot be used, for when it is better to open the last
    /// checkpoint than not at all: a log record with a valid checksum that cannot be applied (a
    /// bug or damage; every open fails on it), a log that is missing although the database was
    /// not closed cleanly ([`Error::LogMissing`](crate::Error::LogMissing)), or a log of
    /// another database ([`Error::ForeignLog`](crate::Error::ForeignLog)). The records that can
    /// be replayed are, the rest is set aside: the log is copied to
    /// `<database>-log.set-aside-<unix seconds>` before it is started over (a foreign one is
    /// moved there), and [`Db::set_aside`](crate::Db::set_aside) says what was set aside. Only a
    /// process that opens the database alone does this; it is never needed otherwise, so the
    /// default is off.
    pub fn set_aside_log(mut self, on: bool) -> Self {
        self.set_aside_log = on;
        self
    }

    /// Strict mode (bbolt's `StrictMode`): after every commit, run [`crate::Db::check`] on it
    /// and panic if it finds any problem. Every commit then costs a walk of the whole file: for
    /// tests, where a broken invariant should stop the test at the commit that broke it.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// For power-loss tests: every write, length change and sync of the data file is reported
    /// to `observer`, in order, before it is made.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn observe_io(mut self, observer: Arc<dyn IoObserver>) -> Self {
        self.observer = Some(ObserverHandle(observer));
        self
    }

    /// For power-loss tests: open as if the system had restarted since the file was last
    /// written, so weak meta pages (format 1: `Eventual` commits that were never synced) are
    /// not trusted, as after a real power loss. (Format 2 has no weak meta pages: what a restart
    /// loses is the log's unsynced tail, which the tests drop themselves.)
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn simulate_reboot(mut self) -> Self {
        self.boot_id = Some(boot_id().wrapping_add(2) | 1);
        self
    }

    /// For multi-process tests: the process aborts during its next logged commit, after
    /// appending its record (synced; `torn`: only the first half of it) and before publishing
    /// it, as a writer killed there would.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn crash_in_log_append(mut self, torn: bool) -> Self {
        self.crash_in_append = Some(torn);
        self
    }

    /// Test hook: the process aborts in its next checkpoint (a merge, a large commit), right
    /// after the meta page is durable and before the lock file publishes it.
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn crash_after_checkpoint_meta(mut self) -> Self {
        self.crash_in_checkpoint = true;
        self
    }

    /// Keeps the kernel's read-around on for the mapping (see [`Options::read_ahead`]).
    pub fn read_ahead(mut self, on: bool) -> Self {
        self.read_ahead = on;
        self
    }

    /// Sets the page size for a new database.
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Sets the default durability.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Sets the spill threshold in bytes.
    pub fn spill_bytes(mut self, bytes: usize) -> Self {
        self.spill_bytes = bytes;
        self
    }

    /// Sets the log size that triggers a checkpoint (see [`Options::log_bytes`]).
    pub fn log_bytes(mut self, bytes: u64) -> Self {
        self.log_bytes = bytes;
        self
    }

    /// Sets the longest time between checkpoints (see [`Options::checkpoint_interval`]).
    pub fn checkpoint_interval(mut self, interval: std::time::Duration) -> Self {
        self.checkpoint_interval = interval;
        self
    }

    /// Sets when the write buffer is merged in the background (see
    /// [`Options::merge_after_idle`]).
    pub fn merge_after_idle(mut self, idle: Option<std::time::Duration>) -> Self {
        self.merge_after_idle = idle;
        self
    }

    /// Sets how long an `Eventual` commit may stay unsynced (see [`Options::sync_interval`]).
    pub fn sync_interval(mut self, interval: std::time::Duration) -> Self {
        self.sync_interval = interval;
        self
    }
}

/// This boot of the system, hashed (never 0: 0 marks a steady meta page). A weak meta page
/// carries it; after a restart `/proc/sys/kernel/random/boot_id` changes and weak meta pages are
/// no longer trusted. Without the file (no procfs) every boot looks the same: weak meta pages
/// are then always trusted, as before this mechanism existed.
pub(crate) fn boot_id() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| {
        let id = std::fs::read("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        let hash = id.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        hash | 1
    })
}
