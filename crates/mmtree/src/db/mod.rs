//! The database handle, `Db`: open, snapshots, the writer, sync, trim, compaction, figures.
//! Split by concern: `open.rs` (opening and creating), `backup.rs` (hot backups); what every
//! handle of a file shares lives in `crate::shared`.

mod backup;
mod merger;
mod open;
mod salvage;

pub use crate::shared::SetAside;

use crate::error::{Error, Result};
use crate::limits::{PAGE_SIZE_MAX, PAGE_SIZE_MIN};
use crate::options::{Durability, Options};
use crate::shared::{open_files, unix_now_ns, PublishedState, Shared, WriterGuard};
use crate::txn::{BoundedReadTransaction, ReadTransaction, WriteTransaction};
use std::fs::OpenOptions;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Figures about a database, from [`Db::stats`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Stats {
    /// Id of the newest commit.
    pub txn_id: u64,
    /// The page size chosen at creation.
    pub page_size: usize,
    /// Pages in use by the newest commit, meta pages and free pages included.
    pub page_count: u64,
    /// Pages listed as free (reusable now or once old snapshots end).
    pub free_pages: u64,
    /// Size of the data file.
    pub file_bytes: u64,
    /// Live ordinary read transactions in this process (bounded snapshots are not counted here;
    /// they appear in [`Db::readers`]).
    pub readers: usize,
    /// The oldest tree a live snapshot reads: the id of the last merge (checkpoint) before the
    /// commit it shows (buffered commits on top of it hold no pages).
    pub oldest_reader_txn: Option<u64>,
    /// How many commits that tree is behind the newest commit.
    pub oldest_reader_lag: u64,
    /// How long the oldest snapshot has been open.
    pub oldest_reader_age: Option<Duration>,
    /// Free pages that cannot be reused yet because a live snapshot (in any process) may still
    /// read them: the bloat old snapshots cause.
    pub pages_held_back: u64,
    /// Bytes of redo-log records since the last checkpoint: the write buffer (commits not yet
    /// merged into the tree).
    pub log_bytes: u64,
    /// The commit the last durable checkpoint holds (the meta page on disk).
    pub checkpoint_txn: u64,
    /// Time since the last checkpoint (of any process; at most since the database was first
    /// opened by the processes now sharing it).
    pub checkpoint_age: Duration,
    /// Checkpoints made since the database was first opened by the processes now sharing it.
    pub checkpoints: u64,
    /// How long this process's last checkpoint took.
    pub last_checkpoint_duration: Duration,
    /// `fdatasync`s of the redo log made by this process.
    pub log_syncs: u64,
    /// Pages freed since the last checkpoint that only the next checkpoint makes reusable:
    /// always 0 now that every commit that changes the tree is a checkpoint (kept for
    /// compatibility).
    pub pages_pinned: u64,
}

/// A process holding snapshots (see [`Db::readers`]).
#[derive(Clone, Debug)]
pub struct ReaderInfo {
    /// Its process id.
    pub pid: u32,
    /// The oldest commit it reads.
    pub txn: u64,
    /// How many commits behind the newest that is.
    pub lag: u64,
    /// How long it has held that snapshot.
    pub age: Duration,
}

/// An open database. Cheap to clone; all clones share one mapping and one writer lock.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Shared>,
}

impl Db {
    /// Opens the database at `path`, creating it if missing, with default [`Options`].
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("data.mmt");
    /// let db = mmtree::Db::open(&path)?; // creates data.mmt and its lock file, data.mmt-lock
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "v")?;
    /// w.commit()?;
    /// drop(db); // closing merges the redo log (data.mmt-log) into the data file
    /// let db = mmtree::Db::open(&path)?;
    /// assert_eq!(db.begin_read()?.table("t")?.map(|t| t.len()).transpose()?, Some(1));
    /// # Ok(()) }
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path, Options::default())
    }

    /// Opens or creates the database at `path`.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// use mmtree::{Db, Durability, Options};
    /// let options = Options::default()
    ///     .page_size(8192) // for a new file; an existing one keeps its own
    ///     .durability(Durability::Eventual); // commits synced within sync_interval
    /// let db = Db::open_with(dir.path().join("data.mmt"), options)?;
    /// assert_eq!(db.page_size(), 8192);
    /// // Options are checked: a page size that is not a power of two is refused.
    /// let bad = Db::open_with(dir.path().join("other.mmt"), Options::default().page_size(1000));
    /// assert!(matches!(bad, Err(mmtree::Error::InvalidOption(_))));
    /// # Ok(()) }
    /// ```
    pub fn open_with(path: impl AsRef<Path>, options: Options) -> Result<Db> {
        let path = path.as_ref().to_path_buf();
        if !options.page_size.is_power_of_two()
            || !(PAGE_SIZE_MIN..=PAGE_SIZE_MAX).contains(&options.page_size)
        {
            return Err(Error::InvalidOption(format!(
                "page size {} is not a power of two between {PAGE_SIZE_MIN} and {PAGE_SIZE_MAX}",
                options.page_size
            )));
        }
        let file = match options.read_only {
            true => OpenOptions::new().read(true).open(&path),
            false => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path),
        }
        .map_err(|e| Error::io_at("opening the database file", &path, e))?;
        let metadata = file
            .metadata()
            .map_err(|e| Error::io("reading file metadata", e))?;
        let identity = (metadata.dev(), metadata.ino());
        let mut open = open_files().lock().expect("open-files lock");
        if let Some(inner) = open.get(&identity).and_then(Weak::upgrade) {
            // One handle per file and process: a second open shares it, so it must ask for the
            // same behaviour, or a caller asking for durable commits could get eventual ones.
            if let Some(difference) = inner.options.differs_from(&options) {
                return Err(Error::InvalidOption(format!(
                    "{} is already open in this process with other options ({difference}); \
                     open it with the same options, or clone the open Db",
                    path.display()
                )));
            }
            return Ok(Db { inner });
        }
        let inner = open::open_shared(file, path, options, identity)?;
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(identity, Arc::downgrade(&inner));
        drop(open);
        let db = Db { inner };
        db.catch_up_at_open()?;
        Ok(db)
    }

    /// A writable handle that joins processes whose published state lacks a dead writer's
    /// record (the claim is past the published end) replays it now if the writer role is free,
    /// so its snapshots show that commit at once rather than after the next writer begins (one
    /// rule: a whole synced record is a commit, whoever finds it first). A joiner can meet this
    /// when the process it joins has closed the database but its lock file's descriptor lives
    /// on for a moment in a child it is forking (until the child's exec closes it).
    fn catch_up_at_open(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.options.read_only || inner.lock.log_claim() <= inner.published()?.log_end {
            return Ok(());
        }
        if let Some(guard) = inner.acquire_writer(false)? {
            let (guard, state) = self.caught_up(guard)?;
            inner.state.lock().expect("state lock").meta = state.meta;
            drop(guard);
        }
        Ok(())
    }

    /// Starts a read transaction on the newest commit (of any process). Never blocks on the
    /// writer.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "v1")?;
    /// w.commit()?;
    /// let r = db.begin_read()?; // a snapshot of the commit above
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "v2")?;
    /// w.commit()?;
    /// let t = r.table("t")?.expect("committed before the snapshot");
    /// assert_eq!(t.get("k")?, Some(&b"v1"[..])); // later commits are not seen
    /// let newer = db.begin_read()?;
    /// assert_eq!(newer.table("t")?.expect("committed").get("k")?, Some(&b"v2"[..]));
    /// # Ok(()) }
    /// ```
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        ReadTransaction::begin(&self.inner)
    }

    /// Starts a bounded snapshot of the newest commit: one that no writer waits for longer than
    /// `max_age`. Until then it protects its pages like any snapshot; after that, the next
    /// writer (in any process) may reuse them, and the snapshot's next read fails with
    /// [`Error::SnapshotExpired`] rather than return anything read from a reused page. Reads
    /// copy (they use `pread` and return owned bytes), so they are slower than
    /// [`begin_read`](Self::begin_read)'s; use it for long scans and reports that must not make
    /// the file grow without bound. Each one holds a reader slot of its own.
    pub fn begin_read_bounded(&self, max_age: Duration) -> Result<BoundedReadTransaction> {
        loop {
            let inner = &self.inner;
            let lease = inner.lock.lease_slot(u64::from(std::process::id()))?;
            let max_age_ns = u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX);
            inner
                .lock
                .set_slot_deadline(&lease, unix_now_ns().saturating_add(max_age_ns));
            let state = match inner.announce_snapshot(lease.index(), |txn| txn) {
                Ok(state) => state,
                Err(error) => {
                    inner.lock.release_lease(lease);
                    return Err(error);
                }
            };
            let mut read = BoundedReadTransaction::new(inner.clone(), state.meta, lease, max_age);
            // The buffered commits, read with the snapshot's tree; if the log moved on
            // meanwhile, begin again (dropping it releases the lease).
            if read.with_buffer(&state)? {
                return Ok(read);
            }
        }
    }

    /// Starts the write transaction, waiting while another one is in progress in another
    /// thread or process. Called from a thread that already holds a write transaction on this
    /// database, it does not wait (that would never end): it fails with
    /// [`Error::WriteInProgress`].
    ///
    /// "Holds" means *began*: a [`WriteTransaction`] is `Send`, and one sent to another thread
    /// still counts as its beginning thread's. There `begin_write` fails as above; on the
    /// thread it was sent to, `begin_write` waits for it like any other thread's, so commit or
    /// drop it first.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "v")?;
    /// // This thread holds the write transaction: a second one fails instead of waiting for ever.
    /// assert!(matches!(db.begin_write(), Err(mmtree::Error::WriteInProgress)));
    /// w.commit()?; // or drop `w` to abort
    /// let w = db.begin_write()?; // free again
    /// # drop(w);
    /// # Ok(()) }
    /// ```
    pub fn begin_write(&self) -> Result<WriteTransaction> {
        let guard = self.inner.acquire_writer(true)?.expect("waited");
        self.start_write(guard)
    }

    /// Starts the write transaction, or fails at once with [`Error::WriteInProgress`] if another
    /// one is in progress in this or another process.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let w = db.begin_write()?;
    /// std::thread::scope(|s| {
    ///     s.spawn(|| {
    ///         // Another thread: `begin_write` would wait; `try_begin_write` does not.
    ///         assert!(matches!(db.try_begin_write(), Err(mmtree::Error::WriteInProgress)));
    ///     });
    /// });
    /// drop(w); // aborts
    /// assert!(db.try_begin_write().is_ok());
    /// # Ok(()) }
    /// ```
    pub fn try_begin_write(&self) -> Result<WriteTransaction> {
        match self.inner.acquire_writer(false)? {
            Some(guard) => self.start_write(guard),
            None => Err(Error::WriteInProgress),
        }
    }

    /// With the writer lock held: the published state (a writer that died after appending its
    /// record but before publishing it is caught up with here), and the reuse floors from every
    /// process's readers and from the durable checkpoint.
    fn start_write(&self, guard: WriterGuard) -> Result<WriteTransaction> {
        let inner = &self.inner;
        let (mut guard, mut state) = self.caught_up(guard)?;
        if inner.merge_overdue(&state) {
            // Back-pressure: the buffer is at its bound (the merge after the commit that
            // filled it failed, or a read-only process published a crashed log): merge first.
            guard = WriteTransaction::merge(inner, state, guard)?;
            state = inner.published()?;
        }
        let floors = inner.floors(&state);
        inner.state.lock().expect("state lock").meta = state.meta;
        WriteTransaction::new(inner.clone(), state, floors, guard)
    }

    /// With the writer role: the published state, after catching up with a writer that died
    /// mid-commit (see `recover_tail`).
    fn caught_up(&self, guard: WriterGuard) -> Result<(WriterGuard, PublishedState)> {
        let mut state = self.inner.published()?;
        // A writer that died after its checkpoint's meta page was durable and before the lock
        // file published it left a durable checkpoint newer than the published tree: it holds
        // every published commit (a merge takes the newest id, a direct commit the next), its
        // pages were taken from pages the published state lists as free, and its log
        // generation is new. Building on the published state would reuse those pages and
        // append records the durable checkpoint's salt ignores: it is published instead.
        let disk = self.inner.read_meta()?;
        if disk.newest.txn_id > state.meta.txn_id && disk.newest.txn_id >= state.newest {
            let next = PublishedState::checkpointed(disk.newest);
            self.inner.publish_state(&next);
            self.inner.lock.set_log_claim(crate::log::RECORDS_AT);
            state = next;
        }
        if self.inner.lock.log_claim() <= state.log_end {
            return Ok((guard, state));
        }
        let guard = self.recover_tail(guard, &state)?;
        Ok((guard, self.inner.published()?))
    }

    /// A writer died between appending its record and publishing it (its claim is past the
    /// published log end), or a read-only process found the log's records after a crash. If
    /// the record at the log end is whole, it is a durable commit: replay it with the buffer
    /// (a merge, as a checkpoint). If not (torn by the kill), cut it; buffered commits are
    /// merged all the same, so the log starts over in a new generation and no stale record
    /// past the cut can ever follow a new one.
    fn recover_tail(&self, guard: WriterGuard, state: &PublishedState) -> Result<WriterGuard> {
        let inner = &self.inner;
        let log = inner.log()?;
        let next = state.newest + 1;
        match log.record_at(state.log_end, state.meta.log_salt, next)? {
            Some(record) => open::replay(inner, guard, state, &[record]),
            None => {
                inner.lock.set_log_claim(state.log_end);
                match state.buffered() {
                    true => WriteTransaction::merge(inner, *state, guard),
                    false => Ok(guard),
                }
            }
        }
    }

    /// Makes every commit so far durable: syncs the redo log (for [`Durability::Eventual`]
    /// commits; an `Immediate` commit is durable already). On a read-only handle it does
    /// nothing.
    pub fn sync(&self) -> Result<()> {
        if self.inner.options.read_only {
            return Ok(()); // nothing this handle could have written
        }
        self.inner.check_poisoned()?;
        self.inner.sync_log()
    }

    /// Whether a commit writing about `record_bytes` bytes of log record now would write the
    /// tree before it returns: the buffer's records would reach their budget, or the last
    /// checkpoint is older than [`Options::checkpoint_interval`] (a merge, see
    /// [`Db::checkpoint`]), or the database was closed cleanly (its first commit is a
    /// checkpoint). A caller that must not be held up by a merge (a server's event
    /// loop, which applies its clients' writes itself) gives such a commit to another thread.
    /// An answer for now: another process's commit may change it at any time. An error: the
    /// published state could not be read (a damaged lock file), as the commit would find.
    pub fn merge_pending(&self, record_bytes: u64) -> Result<bool> {
        let state = self.inner.published()?;
        Ok(self.inner.merge_due_with_record(&state, record_bytes))
    }

    /// Merges the write buffer into the tree and checkpoints now: the buffered commits are
    /// applied to the tree in key order, the data file is synced, the newest commit's meta page
    /// written durably and the redo log started over (so a crash has nothing to replay).
    /// Commits do this on their own when the buffer's log records reach their budget
    /// ([`Options::log_bytes`]) or the last one is older than
    /// [`Options::checkpoint_interval`], and closing the database does it too. Waits for a
    /// write transaction in progress; called while this thread holds one, it fails with
    /// [`Error::WriteInProgress`].
    pub fn checkpoint(&self) -> Result<()> {
        let guard = self.inner.acquire_writer(true)?.expect("waited");
        let (guard, state) = self.caught_up(guard)?;
        let guard = match state.buffered() {
            true => WriteTransaction::merge(&self.inner, state, guard)?,
            false => {
                self.inner.checkpoint()?;
                guard
            }
        };
        drop(guard);
        Ok(())
    }

    /// Gives free space at the end of the file back to the file system now. Returns the bytes
    /// the file shrank by. Free pages still visible to a live snapshot stay.
    pub fn trim(&self) -> Result<u64> {
        let before = self.inner.storage.file_len();
        // Pages freed since the last checkpoint are not reusable (see `start_write`): checkpoint
        // first, so what they freed can be given back.
        self.checkpoint()?;
        for _ in 0..2 {
            let mut w = self.begin_write()?;
            // The file is shortened only by checkpoints (see `Shared::checkpoint_steps`).
            w.set_durability(Durability::Immediate);
            w.force_trim();
            w.commit()?;
        }
        Ok(before.saturating_sub(self.inner.storage.file_len()))
    }

    /// Compacts: moves live pages from the end of the file into free pages lower down (one
    /// commit that walks every tree), then gives the free end back (a second commit). Returns
    /// the bytes the file shrank by. Pages a live snapshot can still see stay until it ends.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// for i in 0..20_000u32 {
    ///     w.table("old")?.insert(i.to_be_bytes(), [0u8; 100])?;
    /// }
    /// w.table("kept")?.insert("k", "v")?;
    /// w.commit()?;
    /// let mut w = db.begin_write()?;
    /// w.delete_table("old")?;
    /// w.commit()?;
    /// let before = db.stats().file_bytes;
    /// let given_back = db.compact()?; // bytes the file shrank by
    /// assert_eq!(db.stats().file_bytes, before - given_back);
    /// assert!(given_back > 0);
    /// assert_eq!(db.begin_read()?.list_tables()?, ["kept"]);
    /// # Ok(()) }
    /// ```
    pub fn compact(&self) -> Result<u64> {
        let before = self.inner.storage.file_len();
        self.checkpoint()?; // as in `trim`
        let mut w = self.begin_write()?;
        w.set_durability(Durability::Immediate);
        w.compact();
        w.force_trim();
        w.commit()?;
        self.trim()?;
        Ok(before.saturating_sub(self.inner.storage.file_len()))
    }

    /// Walks the whole file; see [`crate::CheckReport`].
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let report = db.check()?;
    /// assert!(report.is_ok(), "{:?}", report.problems);
    /// println!("{} pages in use", report.pages_in_use);
    /// # Ok(()) }
    /// ```
    pub fn check(&self) -> Result<crate::check::CheckReport> {
        let read = self.begin_read()?;
        Ok(crate::check::check(&read))
    }

    /// Salvage: reads what can still be read of `table` in the newest commit, in key order,
    /// handing each entry to `visit`, and skips what cannot (a page that fails its checksum or
    /// its format, with its whole subtree; an undecodable cell) instead of stopping at the
    /// first error as a range read does. The report says how many entries were read and what
    /// was skipped. `None` if the catalog has no readable entry for the table. For getting
    /// data out of a damaged file; nothing is written.
    pub fn salvage(
        &self,
        table: &str,
        mut visit: impl FnMut(&[u8], &[u8]),
    ) -> Result<Option<crate::check::SalvageReport>> {
        let read = self.begin_read()?;
        Ok(crate::check::salvage(&read, table, &mut visit))
    }

    /// Figures about the database. Reader figures cover every process.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let stats = db.stats();
    /// println!(
    ///     "{} pages of {} bytes, {} free; {} bytes of redo log",
    ///     stats.page_count, stats.page_size, stats.free_pages, stats.log_bytes
    /// );
    /// assert_eq!(stats.page_size, db.page_size());
    /// # Ok(()) }
    /// ```
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let published = inner.published().ok();
        let meta = published.map_or(inner.state.lock().expect("state lock").meta, |s| s.meta);
        let (checkpoints, checkpoint_ns) = inner.lock.log_counters();
        let (log_syncs, last_checkpoint_duration) = inner
            .log
            .as_ref()
            .map_or((0, Duration::ZERO), |log| log.counters());
        let local = inner.state.lock().expect("state lock").readers.len();
        let oldest = inner
            .lock
            .readers(Some(inner.slot))
            .into_iter()
            .min_by_key(|slot| slot.txn_id);
        let newest = published.map_or(meta.txn_id, |s| s.newest);
        Stats {
            txn_id: newest,
            page_size: inner.storage.page_size,
            page_count: meta.page_count,
            free_pages: meta.free_pages,
            file_bytes: inner.storage.file_len(),
            readers: local,
            oldest_reader_txn: oldest.map(|slot| slot.txn_id),
            oldest_reader_lag: oldest.map_or(0, |slot| newest.saturating_sub(slot.txn_id)),
            oldest_reader_age: oldest.map(|slot| slot_age(slot.since_unix_ns)),
            pages_held_back: oldest
                .map_or(Ok(0), |slot| self.pages_freed_after(slot.txn_id))
                .unwrap_or(0),
            log_bytes: published.map_or(0, |s| s.log_end - crate::log::RECORDS_AT),
            checkpoint_txn: published.map_or(0, |s| s.checkpoint_txn),
            checkpoint_age: slot_age(checkpoint_ns),
            checkpoints,
            last_checkpoint_duration,
            log_syncs,
            pages_pinned: 0,
        }
    }

    /// Pages listed in freelist records of commits after `txn`.
    fn pages_freed_after(&self, txn: u64) -> Result<u64> {
        let read = self.begin_read()?;
        read.freed_pages_after(txn)
    }

    /// The processes holding snapshots of this database, oldest snapshot first: for each, its pid,
    /// the oldest commit it reads, how many commits behind the newest that is, and for how long.
    /// Each live bounded snapshot ([`Db::begin_read_bounded`]) is listed on its own (with its
    /// process's pid); expired ones are not listed. Slots of processes that died are skipped (and
    /// reused by the next process that opens).
    pub fn readers(&self) -> Vec<ReaderInfo> {
        let inner = &self.inner;
        let newest = inner.published().map_or(0, |state| state.newest);
        let mut readers: Vec<ReaderInfo> = inner
            .lock
            .readers(Some(inner.slot))
            .into_iter()
            .map(|slot| ReaderInfo {
                pid: slot.pid as u32,
                txn: slot.txn_id,
                lag: newest.saturating_sub(slot.txn_id),
                age: slot_age(slot.since_unix_ns),
            })
            .collect();
        readers.sort_by_key(|r| r.txn);
        readers
    }

    /// What the open set aside, if it was opened with [`Options::set_aside_log`] and the log
    /// could not be used (missing, another database's, or a record that cannot be applied).
    pub fn set_aside(&self) -> Option<&SetAside> {
        self.inner.set_aside.get()
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.storage.path
    }

    /// The page size chosen at creation.
    pub fn page_size(&self) -> usize {
        self.inner.storage.page_size
    }

    /// The longest key accepted (a quarter page).
    pub fn key_size_max(&self) -> usize {
        crate::limits::key_size_max(self.inner.storage.page_size)
    }

    /// How much of the file is in the page cache (via `mincore`, like `fincore`):
    /// `(resident bytes, file bytes)`.
    pub fn cache_residency(&self) -> Result<(u64, u64)> {
        let map = self.inner.storage.mapping();
        map.residency(self.inner.storage.file_len())
            .map_err(|e| Error::io("mincore", e))
    }
}

impl Drop for Db {
    /// The last handle of this process (and no transaction left, each holds the shared state):
    /// merges the write buffer, so the next open has nothing to replay. A writer of another
    /// process is not waited for (it merges itself); a failure leaves the commits in the log.
    fn drop(&mut self) {
        merger::stop_if_last(self);
        let inner = &self.inner;
        if Arc::strong_count(inner) == 1
            && !inner.options.read_only
            && inner.recovered.load(std::sync::atomic::Ordering::Acquire)
        {
            let _ = self.merge_on_close();
        }
    }
}

impl Db {
    fn merge_on_close(&self) -> Result<()> {
        let inner = &self.inner;
        inner.check_poisoned()?;
        if !inner.published()?.buffered() {
            return Ok(());
        }
        let Some(guard) = inner.acquire_writer(false)? else {
            return Ok(());
        };
        let (guard, state) = self.caught_up(guard)?;
        if state.buffered() {
            drop(WriteTransaction::merge_unchecked(inner, state, guard)?);
        }
        Ok(())
    }
}

fn slot_age(since_unix_ns: u64) -> Duration {
    Duration::from_nanos(unix_now_ns().saturating_sub(since_unix_ns))
}
