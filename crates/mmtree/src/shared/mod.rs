//! The state every handle of one open database shares, in one process: the file (storage and
//! page checks), the lock file, the options, the newest published commit and this process's
//! snapshots, the writer role, the redo log, and the end of a commit (`publish`: a logged commit
//! or a checkpoint). The `Db` handle (`db/`) and the transactions (`txn/`) sit on top of it.

mod merge_signal;
mod meta_pages;

pub(crate) use meta_pages::{read_meta, OnDisk};

use crate::alloc::Floors;
use crate::btree::node::NodeRef;
use crate::btree::view::Source;
use crate::error::{Error, Result};
use crate::limits::{GROW_STEP_MAX, GROW_STEP_MIN};
use crate::lock::{LockFile, MetaWords};
use crate::log::{RedoBuf, RedoLog, RECORDS_AT};
use crate::options::{Durability, Options};
use crate::page::meta::Meta;
use crate::pager::Pager;
use crate::storage::Storage;
use crate::wbuf::{BufView, Buffer, KeyFilter};
pub(crate) use merge_signal::MergeSignal;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

/// What the lock file publishes (see `lock`): the tree (the last merge, a durable checkpoint),
/// where the log ends after the newest commit's record, the durable checkpoint, and the newest
/// commit (the log holds the records of the commits after the tree's, up to it: the write
/// buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PublishedState {
    pub meta: Meta,
    pub log_end: u64,
    pub checkpoint_txn: u64,
    pub newest: u64,
}

impl PublishedState {
    /// The state right after a checkpoint of `meta` (an empty log).
    pub(crate) fn checkpointed(meta: Meta) -> PublishedState {
        PublishedState {
            meta,
            log_end: RECORDS_AT,
            checkpoint_txn: meta.txn_id,
            newest: meta.txn_id,
        }
    }

    pub(crate) fn words(&self) -> MetaWords {
        let m = &self.meta;
        [
            m.txn_id,
            u64::from(m.page_size),
            m.catalog_root,
            m.freelist_root,
            m.page_count,
            m.free_pages,
            m.log_salt,
            self.log_end,
            self.checkpoint_txn,
            self.newest,
            m.db_id,
            u64::from(m.closed_cleanly),
        ]
    }

    fn from_words(words: MetaWords) -> PublishedState {
        let [txn, page_size, catalog_root, freelist_root, page_count, free_pages, log_salt, log_end, checkpoint_txn, newest, db_id, flags] =
            words;
        PublishedState {
            meta: Meta {
                page_size: u32::try_from(page_size).unwrap_or(0),
                txn_id: txn,
                catalog_root,
                freelist_root,
                page_count,
                free_pages,
                weak_boot: 0,
                log_salt,
                db_id,
                closed_cleanly: flags & 1 != 0,
            },
            log_end,
            checkpoint_txn,
            newest,
        }
    }

    /// Commits are buffered (logged past the tree's commit).
    pub(crate) fn buffered(&self) -> bool {
        self.newest > self.meta.txn_id
    }
}

/// Whether a checkpoint is the one a clean close makes (see `page::meta`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closing {
    No,
    /// A new checkpoint of the newest commit, marked closed cleanly.
    Yes,
    /// The newest commit's checkpoint is on disk already and the log empty: the same meta page
    /// again, with the mark.
    MarkOnly,
}

/// What an open with [`Options::set_aside_log`](crate::Options::set_aside_log) set aside (see
/// [`Db::set_aside`](crate::Db::set_aside)).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SetAside {
    /// Where the log (or the foreign log) was copied or moved; `None` if there was none.
    pub log_copy: Option<std::path::PathBuf>,
    /// Log records that were not replayed (`None`: unknown, no usable log).
    pub records: Option<u64>,
    /// The first commit that was not replayed.
    pub first_txn: Option<u64>,
    /// What happened, in words.
    pub reason: String,
}

/// The background thread that syncs the log for `Eventual` commits.
pub(crate) struct Syncer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: std::thread::JoinHandle<()>,
}

pub(crate) struct Published {
    pub meta: Meta,
    /// Live snapshots: (txn, reader id) -> start time.
    pub readers: BTreeMap<(u64, u64), Instant>,
    pub next_reader: u64,
}

pub(crate) struct Shared {
    /// Runs after every commit (strict mode: the integrity check, from the `db` layer).
    pub(crate) after_commit: Option<fn(&Arc<Shared>)>,
    /// Starts the background merge thread (from the `db` layer), at the first buffered commit
    /// of a writable handle with `Options::merge_after_idle`.
    pub(crate) start_merger: Option<fn(&Arc<Shared>)>,
    pub(crate) storage: Storage,
    /// Page reads: format checks and the verified-page table.
    pub(crate) pager: Pager,
    pub(crate) options: Options,
    pub(crate) state: Mutex<Published>,
    /// The thread holding the writer role in this process.
    pub(crate) writer_busy: Mutex<Option<std::thread::ThreadId>>,
    pub(crate) writer_free: Condvar,
    pub(crate) last_trim_txn: AtomicU64,
    /// Page buffers reused from commit to commit (saves a malloc and free per written page).
    pub(crate) page_pool: Mutex<Vec<Vec<u8>>>,
    /// The redo log (`None` only for a read-only handle of a database without one).
    pub(crate) log: Option<Arc<RedoLog>>,
    /// Syncs the log in the background once an `Eventual` commit was made.
    pub(crate) syncer: Mutex<Option<Syncer>>,
    /// Set once the open is complete (the log replayed): only then may closing checkpoint the
    /// published state (before, the log may hold commits the published state lacks).
    pub(crate) recovered: AtomicBool,
    /// What an open with `Options::set_aside_log` set aside.
    pub(crate) set_aside: OnceLock<SetAside>,
    pub(crate) identity: (u64, u64),
    /// This boot's id (`boot_id`), or the simulated one: a weak meta page of a format-1 file is
    /// trusted only in the boot that wrote it.
    pub(crate) boot: u64,
    /// What the processes sharing this database agree on (see `lock`).
    pub(crate) lock: LockFile,
    /// This process's reader slot in the lock file.
    pub(crate) slot: usize,
    /// This process's index of the write buffer (the log's records past the tree).
    pub(crate) buffer: Mutex<Buffer>,
    /// The background merge thread's mailbox (see `db::merger`).
    pub(crate) merge_signal: Arc<MergeSignal>,
}

/// Held by the write transaction; releases the writer lock on drop.
pub(crate) struct WriterGuard {
    pub(crate) db: Arc<Shared>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.db.lock.unlock_writer();
        *self.db.writer_busy.lock().expect("writer lock") = None;
        self.db.writer_free.notify_one();
    }
}

/// Page buffers kept for reuse: 2048 pages (8 MiB at 4 KiB pages).
const PAGE_POOL_MAX: usize = 2048;

/// Open databases of this process by (device, inode): opening a file twice shares one handle,
/// so the whole-file lock is never taken twice or dropped by accident.
pub(crate) type OpenFiles = Mutex<HashMap<(u64, u64), Weak<Shared>>>;

pub(crate) fn open_files() -> &'static OpenFiles {
    static OPEN: OnceLock<OpenFiles> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

impl Shared {
    /// Takes the writer role: first among this process's threads (a mutex: OFD locks do not
    /// exclude threads sharing a descriptor), then among processes (the lock file's writer
    /// byte). `wait` false: `None` if someone else has it. A thread that already has it gets
    /// [`Error::WriteInProgress`] rather than waiting for itself forever.
    pub(crate) fn acquire_writer(self: &Arc<Self>, wait: bool) -> Result<Option<WriterGuard>> {
        let inner = self;
        if inner.options.read_only {
            return Err(Error::ReadOnly {
                path: inner.storage.path.clone(),
            });
        }
        inner.check_poisoned()?;
        let me = std::thread::current().id();
        let mut busy = inner.writer_busy.lock().expect("writer lock");
        while let Some(holder) = *busy {
            if holder == me {
                return Err(Error::WriteInProgress);
            }
            // This process's merge thread is no writer of the caller's: ask it to give the role
            // up (it stops at its next check) and wait, rather than refuse.
            let merging = inner.merge_signal.thread_id.get() == Some(&holder);
            if !wait && !merging {
                return Ok(None);
            }
            if merging {
                inner
                    .merge_signal
                    .yield_requested
                    .store(true, Ordering::Release);
            }
            busy = inner.writer_free.wait(busy).expect("writer lock");
        }
        *busy = Some(me);
        drop(busy);
        let guard = WriterGuard { db: inner.clone() };
        match inner.lock.lock_writer(wait) {
            Ok(true) => Ok(Some(guard)),
            Ok(false) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The published state (the newest commit of any process), from the lock file, checked
    /// before anything is sized or read by it.
    pub(crate) fn published(&self) -> Result<PublishedState> {
        let damaged = |reason: &str| Error::IncompatibleLockFile {
            path: self.lock.path().to_path_buf(),
            reason: format!(
                "its published state {reason}; close the database in every process so the next \
                 open rebuilds it"
            ),
        };
        // A state that fails the checks below is read again: while this thread stalled between
        // loading it and sizing the file, writers may have published newer states and a
        // checkpoint shrunk the file below the page count of the one it loaded. Only a state
        // that is out of range every time is damage.
        for _ in 0..3 {
            let Some(words) = self.lock.load_meta() else {
                return Err(damaged("could not be read consistently"));
            };
            let state = PublishedState::from_words(words);
            let meta = state.meta;
            // The rules of a meta page, this file's page size, and the file must cover it
            // (another process may have grown it: look again once), so nothing sized by its
            // page count (check's marks) trusts a damaged lock file.
            let covered =
                meta.check().is_ok() && meta.page_size as usize == self.storage.page_size && {
                    // No overflow: `check` bounds the page count by 2^63 bytes.
                    let needed = meta.page_count * u64::from(meta.page_size);
                    needed <= self.storage.file_len() || needed <= self.storage.refresh_len()?
                };
            // Buffered commits (newest past the tree's) exactly when the log has records.
            if covered
                && state.log_end >= RECORDS_AT
                && state.checkpoint_txn <= meta.txn_id
                && state.newest >= meta.txn_id
                && (state.newest > meta.txn_id) == (state.log_end > RECORDS_AT)
            {
                return Ok(state);
            }
        }
        Err(damaged("is out of range"))
    }

    /// The newest commit of any process.
    pub(crate) fn published_meta(&self) -> Result<Meta> {
        Ok(self.published()?.meta)
    }

    pub(crate) fn publish_state(&self, state: &PublishedState) {
        self.lock.publish_meta(state.words());
        self.state.lock().expect("state lock").meta = state.meta;
    }

    /// The newest published commit, announced in reader slot `slot` (which then protects
    /// `protect(txn)`), then checked to be still the newest. *Invariant: a writer never reuses a
    /// page a live snapshot can reach*: a writer that starts after the check sees the slot; one
    /// that started before had this commit (or a newer one, which the check catches, and the
    /// snapshot is taken again) as its base, so it reuses nothing this commit reaches. The one
    /// way a snapshot begins (ordinary and bounded).
    pub(crate) fn announce_snapshot(
        &self,
        slot: usize,
        protect: impl Fn(u64) -> u64,
    ) -> Result<PublishedState> {
        loop {
            let state = self.published()?;
            let meta = state.meta;
            self.lock.set_slot_txn(slot, Some(protect(meta.txn_id)));
            if self.published_meta()?.txn_id == meta.txn_id {
                return Ok(state);
            }
        }
    }

    /// The oldest snapshot of any process. Bounded snapshots past their deadline protect nothing
    /// from here on (they are marked before the floors are computed, so before any of their
    /// pages can be reused).
    pub(crate) fn oldest_reader(&self) -> Option<u64> {
        self.lock.expire_overdue(unix_now_ns());
        self.lock
            .readers(Some(self.slot))
            .iter()
            .map(|slot| slot.txn_id)
            .min()
    }

    /// The reuse floors of a writer building on `state`, from every process's readers. Pages
    /// born at or before the durable checkpoint and freed after it are not reused before the
    /// next checkpoint: a crash falls back to that checkpoint (and replays the log), so its
    /// pages must still be on disk as it left them. Snapshots protect the tree they read (`state.meta`), not their newest
    /// buffered commit: a merge frees pages under the id of the newest commit it merges.
    pub(crate) fn floors(&self, state: &PublishedState) -> Floors {
        let base = state.meta.txn_id;
        let young = self.oldest_reader().map_or(base, |txn| txn.min(base));
        Floors {
            old: young.min(state.checkpoint_txn),
            young,
            checkpoint: state.checkpoint_txn,
        }
    }

    /// Fails if this process or any other saw a failed sync of the data file.
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        self.storage.check_poisoned()?;
        if let Some(log) = &self.log {
            log.check_poisoned()?;
        }
        match self.lock.poisoned_by() {
            Some(pid) => Err(Error::Poisoned {
                reason: format!(
                    "process {pid} saw a failed sync of this database; close it in every \
                     process and reopen it to recover from the last durable commit"
                ),
            }),
            None => Ok(()),
        }
    }

    /// After a failed write or sync: if it poisoned this handle, tell every other process too.
    fn share_poison<T>(&self, result: Result<T>) -> Result<T> {
        let log_poisoned = self
            .log
            .as_ref()
            .is_some_and(|l| l.check_poisoned().is_err());
        if result.is_err() && (self.storage.check_poisoned().is_err() || log_poisoned) {
            self.lock.set_poisoned(u64::from(std::process::id()));
        }
        result
    }

    /// Both meta pages as the file has them now.
    pub(crate) fn read_meta(&self) -> Result<OnDisk> {
        let file_len = self.storage.refresh_len()?;
        read_meta(self.storage.file(), &self.storage.path, file_len, self.boot)
    }

    pub(crate) fn end_read(&self, txn: u64, reader: u64) {
        let mut state = self.state.lock().expect("state lock");
        state.readers.remove(&(txn, reader));
        let oldest = state.readers.keys().next().map(|&(txn, _)| txn);
        self.lock.set_slot_txn(self.slot, oldest);
    }

    /// A zeroed page-sized buffer, from the pool of buffers earlier commits wrote.
    /// A page-sized buffer, from the pool when it has one. Its bytes are stale (whatever the
    /// last page in it held): every user writes what it keeps (`PageBuf` zeroes its free space
    /// when it seals, a copy overwrites the whole buffer).
    pub(crate) fn page_buffer(&self) -> Vec<u8> {
        let page_size = self.storage.page_size;
        match self.page_pool.lock().expect("page pool").pop() {
            Some(mut page) => {
                page.resize(page_size, 0);
                page
            }
            None => vec![0u8; page_size],
        }
    }

    /// Returns written page buffers to the pool (up to `PAGE_POOL_MAX` of them).
    pub(crate) fn recycle_pages(&self, pages: impl Iterator<Item = Vec<u8>>) {
        let mut pool = self.page_pool.lock().expect("page pool");
        for page in pages {
            if pool.len() >= PAGE_POOL_MAX {
                break;
            }
            if page.capacity() == self.storage.page_size {
                pool.push(page);
            }
        }
    }

    /// Whether this commit should try to give back the free tail of the file.
    pub(crate) fn should_trim(&self, base: &Meta) -> bool {
        let worth_it = base.free_pages >= 256 && base.free_pages * 4 >= base.page_count;
        if worth_it && base.txn_id >= self.last_trim_txn.load(Ordering::Relaxed) + 8 {
            self.last_trim_txn.store(base.txn_id, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The log, for a handle that writes (every writable handle has one).
    pub(crate) fn log(&self) -> Result<&Arc<RedoLog>> {
        self.log.as_ref().ok_or_else(|| Error::ReadOnly {
            path: self.storage.path.clone(),
        })
    }

    /// The end of a commit that changed the tree (a merge, a large transaction, a bulk load, a
    /// compaction, a trim, a replay): its pages are written; it becomes a checkpoint, which
    /// starts the log (and so every process's write buffer) over. `state` is the published
    /// state it built on.
    pub(crate) fn publish_checkpoint(&self, mut meta: Meta, state: &PublishedState) -> Result<()> {
        meta.db_id = state.meta.db_id;
        let result = self.checkpoint_steps(meta, Some(state.meta), Closing::No);
        self.share_poison(result)
    }

    /// The end of a buffered commit: its record is appended at the published log end (synced
    /// for `Immediate`), then the state naming it is published; no tree page is written.
    /// Returns that state.
    pub(crate) fn publish_logged(
        &self,
        state: &PublishedState,
        redo: &mut RedoBuf,
        durability: Durability,
    ) -> Result<PublishedState> {
        let result = self.publish_logged_steps(state, redo, durability);
        self.share_poison(result)
    }

    fn publish_logged_steps(
        &self,
        state: &PublishedState,
        redo: &mut RedoBuf,
        durability: Durability,
    ) -> Result<PublishedState> {
        // A state closed cleanly takes no record (the data file says its log holds nothing):
        // the write transaction commits such a state directly, as a checkpoint.
        debug_assert!(!state.meta.closed_cleanly);
        let log = self.log()?;
        let txn = state.newest + 1;
        let record = redo.seal(state.meta.log_salt, txn);
        let end = state.log_end + record.len() as u64;
        let next = PublishedState {
            log_end: end,
            newest: txn,
            ..*state
        };
        self.lock.set_log_claim(end);
        if let Some(torn) = self.options.crash_in_append {
            // Test hook: die here, as a writer killed between its append and its publish.
            let len = if torn { record.len() / 2 } else { record.len() };
            log.append(state.log_end, &record[..len])?;
            log.sync()?;
            std::process::abort();
        }
        log.append(state.log_end, record)?;
        match durability {
            Durability::Immediate => log.sync()?,
            _ => self.start_syncer(log),
        }
        self.publish_state(&next);
        Ok(next)
    }

    /// Whether the buffered commits call for a merge now: their log records reached the budget,
    /// or the last checkpoint is older than `Options::checkpoint_interval` (checked at each
    /// commit).
    pub(crate) fn merge_due(&self, state: &PublishedState) -> bool {
        state.buffered() && self.merge_due_by(state, 0)
    }

    /// The log's records and `record_len` more reach the budget, or the last checkpoint is
    /// older than `Options::checkpoint_interval`.
    fn merge_due_by(&self, state: &PublishedState, record_len: u64) -> bool {
        if state.log_end - RECORDS_AT + record_len >= self.checkpoint_budget(&state.meta) {
            return true;
        }
        let (_, last_ns) = self.lock.log_counters();
        let age = Duration::from_nanos(unix_now_ns().saturating_sub(last_ns));
        age >= self.options.checkpoint_interval
    }

    /// `merge_due` of the state a commit of a `record_len`-byte record would publish
    /// (`Db::merge_pending`).
    pub(crate) fn merge_due_with_record(&self, state: &PublishedState, record_len: u64) -> bool {
        // (The first commit after a clean close goes to the tree: a checkpoint.)
        state.meta.closed_cleanly
            || ((state.buffered() || record_len > 0) && self.merge_due_by(state, record_len))
    }

    /// Whether appending a record of `record_len` bytes to `state`'s log would make a merge due
    /// at once (by its size): the commit then goes to the tree directly, one log write and sync
    /// less (W1's commits of 100,000 records take this path).
    pub(crate) fn merge_due_with(&self, state: &PublishedState, record_len: u64) -> bool {
        // A state closed cleanly takes no record (the data file says its log holds nothing
        // until a checkpoint says otherwise): the commit checkpoints.
        state.meta.closed_cleanly
            || self.options.crash_in_append.is_none()
                && state.log_end - RECORDS_AT + record_len >= self.checkpoint_budget(&state.meta)
    }

    /// How many bytes of record a transaction on `state` may build before the merge would be due
    /// at its commit: past them it goes direct at once (its remaining changes go to the tree,
    /// not through the buffer's map first).
    pub(crate) fn record_room(&self, state: &PublishedState) -> u64 {
        if state.meta.closed_cleanly {
            return 0; // no record on a state closed cleanly (see `page::meta`): direct at once
        }
        match self.options.crash_in_append {
            Some(_) => u64::MAX,
            None => self
                .checkpoint_budget(&state.meta)
                .saturating_sub(state.log_end - RECORDS_AT),
        }
    }

    /// Whether the buffer is at its bound already when a write transaction begins (the merge
    /// after the commit that filled it failed): the writer merges before it goes on.
    pub(crate) fn merge_overdue(&self, state: &PublishedState) -> bool {
        state.buffered() && state.log_end - RECORDS_AT >= self.checkpoint_budget(&state.meta)
    }

    /// How many bytes of log records (the write buffer) call for a merge: half the pages the
    /// tree uses (at least 2 MiB), at most `Options::log_bytes`. Relative to the live data,
    /// not the file, so a small database is not doubled by its log.
    fn checkpoint_budget(&self, meta: &Meta) -> u64 {
        let in_use = meta.page_count.saturating_sub(meta.free_pages) * u64::from(meta.page_size);
        (in_use / 2).max(2 << 20).min(self.options.log_bytes)
    }

    /// The write buffer as of `state` (or of a newer commit on the same tree, if another thread
    /// of this process indexed one already): this process's index of the log, extended by the
    /// records it has not read yet. `tree` reads the tree of `state` (its pages protected by
    /// the caller's announced snapshot): whether a key is there decides the entry counts.
    /// `None`: the log moved on (a merge started it over) while it was read; take a newer state.
    pub(crate) fn buffer_at(
        &self,
        state: &PublishedState,
        tree: &dyn Source,
    ) -> Result<Option<(u64, BufView)>> {
        let mut buffer = self.buffer.lock().expect("buffer lock");
        let (salt, base) = (state.meta.log_salt, state.meta.txn_id);
        if buffer.salt != salt || buffer.base != base {
            *buffer = Buffer {
                salt,
                base,
                txn: base,
                end: RECORDS_AT,
                // Sized for the merge budget: a buffer past it (one large record) only costs
                // false positives.
                view: BufView::with_filter(KeyFilter::bits_for(
                    self.checkpoint_budget(&state.meta),
                )),
            };
        }
        if buffer.txn >= state.newest {
            return Ok(Some((buffer.txn, buffer.view.clone())));
        }
        let Some(log) = &self.log else {
            return Err(Error::corrupted(
                0,
                "the published state names redo-log records, but there is no log",
            ));
        };
        let catalog = crate::catalog::root_ref(state.meta.catalog_root);
        let mut roots: HashMap<String, Option<NodeRef>> = HashMap::new();
        let mut in_tree = |table: &str, key: &[u8]| -> Result<bool> {
            let root = match roots.get(table) {
                Some(root) => *root,
                None => {
                    let root = match crate::btree::get(tree, catalog, table.as_bytes())? {
                        Some(entry) => crate::catalog::decode_table_entry(entry)?.0,
                        None => None,
                    };
                    roots.insert(table.to_string(), root);
                    root
                }
            };
            Ok(root.is_some() && crate::btree::get(tree, root, key)?.is_some())
        };
        // Applied to a clone, kept only when every record is in: a failure leaves the index
        // as it was.
        let (mut view, mut txn, mut end) = (buffer.view.clone(), buffer.txn, buffer.end);
        while txn < state.newest {
            let Some(record) = log.record_at(end, salt, txn + 1)? else {
                let now = self.published()?;
                if now.meta.log_salt != salt || now.meta.txn_id != base {
                    return Ok(None); // merged meanwhile: the records were overwritten
                }
                return Err(Error::BadLog {
                    path: self.storage.path.clone(),
                    reason: format!(
                        "the record of commit {} at byte {end} is not valid, yet the commit \
                         was published",
                        txn + 1
                    ),
                });
            };
            view.apply_record(record.payload(), &mut in_tree)?;
            txn += 1;
            end = record.end();
        }
        view.seal();
        *buffer = Buffer {
            salt,
            base,
            txn,
            end,
            view: view.clone(),
        };
        Ok(Some((txn, view)))
    }

    /// After a buffered commit of this process's writer: its view (the index as of that
    /// commit) becomes the process's, with no log read.
    pub(crate) fn buffer_committed(&self, state: &PublishedState, mut view: BufView) {
        view.seal();
        *self.buffer.lock().expect("buffer lock") = Buffer {
            salt: state.meta.log_salt,
            base: state.meta.txn_id,
            txn: state.newest,
            end: state.log_end,
            view,
        };
    }

    /// With the writer role held: makes the published tree a durable checkpoint, if it is not
    /// one (a format-1 file's weak commit). Buffered commits are merged by the write
    /// transaction, not here.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let result = self.published().and_then(|state| {
            if state.buffered() || state.checkpoint_txn == state.meta.txn_id {
                // Already one: a second meta page of the same commit with another salt would
                // tie with the first on open, and the log's records would follow only one.
                return Ok(());
            }
            self.checkpoint_steps(state.meta, None, Closing::No)
        });
        self.share_poison(result)
    }

    /// By the last process to close the database, with the writer role held: checkpoints the
    /// published state marked *closed cleanly* (the data file is then complete without its log;
    /// see `page::meta`). With an empty log and the checkpoint on disk already, the mark is a
    /// second meta page of the same commit and salt, which the open prefers (`read_meta`).
    fn checkpoint_closing(&self) -> Result<()> {
        let result = self.published().and_then(|state| {
            if state.buffered() {
                // The log holds commits the tree lacks (the merge at close did not run: a
                // transaction outlived the handle, or it failed): never marked clean, the next
                // open replays them.
                return Ok(());
            }
            if self.read_meta()?.newest.txn_id > state.meta.txn_id {
                // A writer died after its checkpoint's meta write, before publishing it: that
                // checkpoint is the newest state; the next open starts from it.
                return Ok(());
            }
            if state.meta.closed_cleanly && state.log_end == RECORDS_AT {
                return Ok(()); // nothing was committed since it was opened
            }
            let mark_only =
                state.log_end == RECORDS_AT && state.checkpoint_txn == state.meta.txn_id;
            let closing = if mark_only {
                Closing::MarkOnly
            } else {
                Closing::Yes
            };
            self.checkpoint_steps(state.meta, None, closing)
        });
        self.share_poison(result)
    }

    /// A checkpoint of `meta` (the published commit, or a new one whose pages are written and
    /// which `replaced` was the newest before): sync the data file, write the meta page
    /// synchronously with a new log salt, publish it with an empty log, and give back a free
    /// tail of the file. Until the meta write is durable, the previous checkpoint and its log
    /// records are intact (the checkpoint rule), so a crash anywhere here loses nothing.
    fn checkpoint_steps(
        &self,
        mut meta: Meta,
        replaced: Option<Meta>,
        closing: Closing,
    ) -> Result<()> {
        let started = Instant::now();
        if closing != Closing::MarkOnly {
            // (A mark repeats the last durable checkpoint: its pages were synced by it.)
            self.storage.sync()?;
        }
        let disk = self.read_meta()?;
        // Meta pages of one commit never differ in salt (see `checkpoint`): a checkpoint is
        // newer than every durable meta page, but for the mark of a clean close, which repeats
        // the newest one (same commit, same salt) with the flag.
        debug_assert!(
            disk.steady
                .is_none_or(|(steady, _)| steady.txn_id < meta.txn_id
                    || closing == Closing::MarkOnly && steady.txn_id == meta.txn_id),
            "checkpoint of commit {} over a durable meta page of it or newer",
            meta.txn_id
        );
        if closing != Closing::MarkOnly {
            meta.log_salt = crate::log::new_salt();
        }
        if meta.db_id == 0 {
            // A file from a build that wrote no id gets one at its first checkpoint.
            meta.db_id = crate::log::new_salt();
        }
        meta.closed_cleanly = closing != Closing::No;
        meta.weak_boot = 0;
        let page_size = self.storage.page_size;
        let mut page = vec![0u8; page_size];
        meta.encode(&mut page);
        let offset = disk.next_slot() * page_size as u64;
        if closing == Closing::MarkOnly {
            // The mark of a clean close needs no sync: it repeats the newest durable checkpoint
            // (same commit, same salt) with the flag, in the other slot. Lost or torn by a power
            // cut, that slot keeps (or fails the checksum of) the previous checkpoint and the
            // durable unflagged copy stays newest: the next open finds the state not closed
            // cleanly, which only asks for the log (never a lost commit). So closing a database
            // whose buffer the background merge emptied writes through the page cache only.
            self.storage.write_at(offset, &page)?;
        } else {
            // Synchronous write (O_DSYNC): durable when it returns.
            self.storage.write_meta_durable(offset, &page)?;
        }
        if self.options.crash_in_checkpoint && closing == Closing::No {
            std::process::abort(); // test hook: a checkpoint durable, never published
        }
        self.publish_state(&PublishedState::checkpointed(meta));
        self.lock.set_log_claim(RECORDS_AT);
        self.lock.count_checkpoint(unix_now_ns());
        if let Some(log) = &self.log {
            log.note_checkpoint(started.elapsed());
            // A log file far larger than the budget (the budget shrank with the data file, or a
            // big one was configured before) is cut back: its records are obsolete now. The
            // last process closing cuts it back to its header (nobody appends to it any more),
            // and so does the background merge (the writer went idle): a close after it finds
            // the log cut already and skips the `ftruncate` (5 ms for 25 MiB of log).
            let keep = match closing {
                Closing::No if !self.on_merge_thread() => 4 * self.checkpoint_budget(&meta),
                Closing::No | Closing::Yes | Closing::MarkOnly => RECORDS_AT,
            };
            let _ = log.shrink_if_over(keep);
        }
        // Give back a free tail. The file is shortened only below what every meta page needs
        // (the new one, the one left in the other slot, and the commit it replaced as newest),
        // only when no snapshot in any process is older than that one (so none has a larger
        // page count). Trimmed pages were reusable, hence unreachable from every live snapshot.
        // The checkpoint has happened by now: a failed truncate only leaves the file longer.
        let replaced = replaced.unwrap_or(meta);
        let kept = disk.kept().map_or(0, |m| m.page_count);
        let keep = replaced.page_count.max(meta.page_count).max(kept) * page_size as u64;
        let slack = (keep / 8).clamp(GROW_STEP_MIN, GROW_STEP_MAX);
        if self.storage.file_len() > keep + 2 * slack
            && self
                .lock
                .readers(Some(self.slot))
                .iter()
                .all(|slot| slot.txn_id >= replaced.txn_id)
        {
            let _ = self.storage.truncate_to(keep + slack);
        }
        Ok(())
    }

    /// Whether the calling thread is this handle's background merge thread.
    fn on_merge_thread(&self) -> bool {
        self.merge_signal.thread_id.get() == Some(&std::thread::current().id())
    }

    /// Starts the background log sync (for `Eventual` commits), once.
    fn start_syncer(&self, log: &Arc<RedoLog>) {
        let mut syncer = self.syncer.lock().expect("syncer lock");
        if syncer.is_some() {
            return;
        }
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let (log, flag, interval) = (log.clone(), stop.clone(), self.options.sync_interval);
        let thread = std::thread::Builder::new()
            .name("mmtree-log-sync".into())
            .spawn(move || {
                let (stopped, wake) = &*flag;
                let mut done = stopped.lock().expect("syncer flag");
                while !*done {
                    done = wake.wait_timeout(done, interval).expect("syncer flag").0;
                    // A failed sync poisons the log; later commits then fail, and say why.
                    let _ = log.sync_if_needed();
                }
            });
        if let Ok(thread) = thread {
            *syncer = Some(Syncer { stop, thread });
        }
    }

    /// Makes every commit so far durable: syncs the log.
    pub(crate) fn sync_log(&self) -> Result<()> {
        let result = match &self.log {
            Some(log) => log.sync(),
            None => Ok(()),
        };
        self.share_poison(result)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The merge thread holds no reference now (it holds one only while merging); it ends
        // before the handle's files close.
        self.merge_signal.stop_and_join();
        self.lock.release_slot(self.slot);
        if let Some(syncer) = self.syncer.lock().expect("syncer lock").take() {
            *syncer.stop.0.lock().expect("syncer flag") = true;
            syncer.stop.1.notify_one();
            let _ = syncer.thread.join(); // its last pass syncs what is left
        }
        // The write buffer was merged by `Db`'s drop when it could be (the last handle, the
        // writer role free); a buffer still in the log stays there (`checkpoint` and
        // `checkpoint_closing` leave a buffered state alone) and the next writer or open
        // replays it. Nothing is checkpointed when the open never finished its replay, nor when
        // a writer died after appending its record and before publishing it (its claim is past
        // the published end): that record may be whole and synced, a commit the published
        // state lacks. The log is left as it is; the next writer or the next open replays it
        // (one rule: a whole synced record is a commit, whoever finds it first).
        let log_used = self.published().is_ok_and(|state| {
            state.log_end > RECORDS_AT && self.lock.log_claim() <= state.log_end
        });
        let claim_clear = self
            .published()
            .is_ok_and(|state| self.lock.log_claim() <= state.log_end);
        if self.recovered.load(Ordering::Acquire)
            && claim_clear
            && !self.options.read_only
            && self.check_poisoned().is_ok()
            && self.lock.lock_writer(false).unwrap_or(false)
        {
            // No write transaction of this process is left (each holds the handle). A writer of
            // another process is not waited for: it is not the last, and checkpoints itself.
            // The last process (it gets the presence write lock: nobody else has the database
            // open, and nobody can join until this handle's lock file closes) marks the state
            // closed cleanly; a joiner then finds no ready process and rebuilds from the file.
            let _ = match self.lock.try_alone() {
                Ok(true) => self.checkpoint_closing(),
                _ if log_used => self.checkpoint(),
                _ => Ok(()),
            };
            self.lock.unlock_writer();
        }
        // `try_lock`: an open that fails half-way drops its `Shared` while holding this mutex
        // (it was never registered then); a stale entry left by a busy mutex is harmless.
        if let Ok(mut open) = open_files().try_lock() {
            if open
                .get(&self.identity)
                .is_some_and(|w| w.strong_count() == 0)
            {
                open.remove(&self.identity);
            }
        }
    }
}

pub(crate) fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
