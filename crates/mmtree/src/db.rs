//! The database handle: open/create, the committed state, readers and the writer lock.

use crate::error::{Error, Result};
use crate::limits::{GROW_STEP_MAX, GROW_STEP_MIN, PAGE_SIZE_MAX, PAGE_SIZE_MIN};
use crate::lock::{lock_data_file, LockFile, MetaWords};
use crate::options::{boot_id, Durability, Options};
use crate::page::meta::{Meta, MetaRead, FORMAT_VERSION};
use crate::pager::Pager;
use crate::storage::Storage;
use crate::txn::{BoundedReadTransaction, ReadTransaction, WriteTransaction};
use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

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
    /// The commit id the oldest live snapshot shows.
    pub oldest_reader_txn: Option<u64>,
    /// How many commits the oldest snapshot is behind the newest.
    pub oldest_reader_lag: u64,
    /// How long the oldest snapshot has been open.
    pub oldest_reader_age: Option<Duration>,
    /// Free pages that cannot be reused yet because a live snapshot (in any process) may still
    /// read them: the bloat old snapshots cause.
    pub pages_held_back: u64,
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

pub(crate) struct Published {
    pub meta: Meta,
    /// Live snapshots: (txn, reader id) -> start time.
    pub readers: BTreeMap<(u64, u64), Instant>,
    pub next_reader: u64,
}

pub(crate) struct DbInner {
    pub storage: Storage,
    /// Page reads: format checks and the verified-page table.
    pub pager: Pager,
    pub options: Options,
    pub state: Mutex<Published>,
    /// The thread holding the writer role in this process.
    writer_busy: Mutex<Option<std::thread::ThreadId>>,
    writer_free: Condvar,
    last_trim_txn: AtomicU64,
    /// Page buffers reused from commit to commit (saves a malloc and free per written page).
    page_pool: Mutex<Vec<Vec<u8>>>,
    unsynced: AtomicBool,
    identity: (u64, u64),
    /// This boot's id (`boot_id`), or the simulated one: weak meta pages are written with it.
    boot: u64,
    /// What the processes sharing this database agree on (see `lock`).
    pub(crate) lock: LockFile,
    /// This process's reader slot in the lock file.
    slot: usize,
}

/// Held by the write transaction; releases the writer lock on drop.
pub(crate) struct WriterGuard {
    db: Arc<DbInner>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.db.lock.unlock_writer();
        *self.db.writer_busy.lock().expect("writer lock") = None;
        self.db.writer_free.notify_one();
    }
}

/// An open database. Cheap to clone; all clones share one mapping and one writer lock.
#[derive(Clone)]
pub struct Db {
    inner: Arc<DbInner>,
}

/// Open databases of this process by (device, inode): opening a file twice shares one handle,
/// so the whole-file lock is never taken twice or dropped by accident.
/// Page buffers kept for reuse: 2048 pages (8 MiB at 4 KiB pages).
const PAGE_POOL_MAX: usize = 2048;

type OpenFiles = Mutex<HashMap<(u64, u64), Weak<DbInner>>>;

fn open_files() -> &'static OpenFiles {
    static OPEN: OnceLock<OpenFiles> = OnceLock::new();
    OPEN.get_or_init(Default::default)
}

impl Db {
    /// Opens the database at `path`, creating it if missing, with default [`Options`].
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        Db::open_with(path, Options::default())
    }

    /// Opens or creates the database at `path`.
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
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening the database file", e))?;
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
        let inner = Arc::new(DbInner::open(file, path, options, identity)?);
        open.retain(|_, weak| weak.strong_count() > 0);
        open.insert(identity, Arc::downgrade(&inner));
        Ok(Db { inner })
    }

    /// Starts a read transaction on the newest commit (of any process). Never blocks on the
    /// writer.
    pub fn begin_read(&self) -> Result<ReadTransaction> {
        let inner = &self.inner;
        let mut state = inner.state.lock().expect("state lock");
        let oldest_local = state.readers.keys().next().map(|&(txn, _)| txn);
        let meta = loop {
            let meta = inner.published_meta()?;
            // Announce the snapshot in our slot, then check it is still the newest: a writer that
            // starts after this check sees the slot; one that started before had this commit (or a
            // newer one, which the check catches) as its base, so it reuses nothing it reaches.
            let protect = oldest_local.map_or(meta.txn, |txn| txn.min(meta.txn));
            inner.lock.set_slot_txn(inner.slot, Some(protect));
            if inner.published_meta()?.txn == meta.txn {
                break meta;
            }
        };
        let grown = meta
            .page_count
            .checked_mul(inner.storage.page_size as u64)
            .is_none_or(|bytes| bytes > inner.storage.file_len());
        if grown {
            // Another process grew the file.
            if let Err(error) = inner.storage.refresh_len() {
                inner.lock.set_slot_txn(inner.slot, oldest_local);
                return Err(error);
            }
        }
        state.meta = meta;
        let reader = state.next_reader;
        state.next_reader += 1;
        state.readers.insert((meta.txn, reader), Instant::now());
        drop(state);
        Ok(ReadTransaction::new(
            inner.clone(),
            inner.storage.mapping(),
            meta,
            reader,
        ))
    }

    /// Starts a bounded snapshot of the newest commit: one that no writer waits for longer than
    /// `max_age`. Until then it protects its pages like any snapshot; after that, the next
    /// writer (in any process) may reuse them, and the snapshot's next read fails with
    /// [`Error::SnapshotExpired`] rather than return anything read from a reused page. Reads
    /// copy (they use `pread` and return owned bytes), so they are slower than
    /// [`begin_read`](Self::begin_read)'s; use it for long scans and reports that must not make
    /// the file grow without bound. Each one holds a reader slot of its own.
    pub fn begin_read_bounded(&self, max_age: Duration) -> Result<BoundedReadTransaction> {
        let inner = &self.inner;
        let lease = inner.lock.lease_slot(u64::from(std::process::id()))?;
        let max_age_ns = u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX);
        inner
            .lock
            .set_slot_deadline(&lease, unix_now_ns().saturating_add(max_age_ns));
        let meta = loop {
            let meta = match inner.published_meta() {
                Ok(meta) => meta,
                Err(error) => {
                    inner.lock.release_lease(lease);
                    return Err(error);
                }
            };
            // Announce, then check it is still the newest (as in `begin_read`).
            inner.lock.set_slot_txn(lease.index(), Some(meta.txn));
            match inner.published_meta() {
                Ok(now) if now.txn == meta.txn => break meta,
                Ok(_) => continue,
                Err(error) => {
                    inner.lock.release_lease(lease);
                    return Err(error);
                }
            }
        };
        Ok(BoundedReadTransaction::new(
            inner.clone(),
            meta,
            lease,
            max_age,
        ))
    }

    /// Starts the write transaction, waiting while another one is in progress.
    pub fn begin_write(&self) -> Result<WriteTransaction> {
        let guard = self.acquire_writer(true)?.expect("waited");
        self.start_write(guard)
    }

    /// Starts the write transaction, or fails at once with [`Error::WriteInProgress`] if another
    /// one is in progress in this or another process.
    pub fn try_begin_write(&self) -> Result<WriteTransaction> {
        match self.acquire_writer(false)? {
            Some(guard) => self.start_write(guard),
            None => Err(Error::WriteInProgress),
        }
    }

    /// Takes the writer role: first among this process's threads (a mutex: OFD locks do not
    /// exclude threads sharing a descriptor), then among processes (the lock file's writer
    /// byte). `wait` false: `None` if someone else has it. A thread that already has it gets
    /// [`Error::WriteInProgress`] rather than waiting for itself forever.
    fn acquire_writer(&self, wait: bool) -> Result<Option<WriterGuard>> {
        let inner = &self.inner;
        inner.check_poisoned()?;
        let me = std::thread::current().id();
        let mut busy = inner.writer_busy.lock().expect("writer lock");
        while let Some(holder) = *busy {
            if holder == me {
                return Err(Error::WriteInProgress);
            }
            if !wait {
                return Ok(None);
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

    /// With the writer lock held: the newest commit (a writer that died after writing its meta
    /// page but before publishing it is caught up with here), the file's length, and the reuse
    /// floor from every process's readers and from the durable state.
    fn start_write(&self, guard: WriterGuard) -> Result<WriteTransaction> {
        let inner = &self.inner;
        // The meta pages in the file are the truth (the lock file holds a copy): a writer that
        // died after writing its meta page but before publishing it, a publish cut half-way, or a
        // damaged lock file are all mended here.
        let mut disk = inner.read_meta()?;
        if inner.lock.load_meta() != Some(meta_words(&disk.newest)) {
            // A writer died between its meta write and its publish; its durable meta write may
            // not have finished, so what it calls steady is made so before anything relies on it.
            inner.storage.sync()?;
            disk = inner.read_meta()?;
            inner.lock.publish_meta(meta_words(&disk.newest));
        }
        let base = disk.newest;
        // Bounded snapshots past their deadline protect nothing from here on (they are marked
        // before the floor is computed, so before any of their pages can be reused).
        inner.lock.expire_overdue(unix_now_ns());
        let oldest_reader = inner
            .lock
            .readers(Some(inner.slot))
            .iter()
            .map(|slot| slot.txn)
            .min();
        // Pages freed after the newest steady (durable) commit are not reused before the next
        // one: a power loss falls back to that commit, so its pages must still be on disk as it
        // left them, however many unsynced commits came after it.
        let floor = oldest_reader
            .map_or(base.txn, |txn| txn.min(base.txn))
            .min(disk.durable_txn());
        inner.state.lock().expect("state lock").meta = base;
        Ok(WriteTransaction::new(inner.clone(), disk, floor, guard))
    }

    /// Makes every commit so far durable (for [`Durability::Eventual`] commits): syncs the data
    /// and rewrites the newest meta page as steady. Waits for a write transaction in progress;
    /// called while this thread holds one, it fails with [`Error::WriteInProgress`].
    pub fn sync(&self) -> Result<()> {
        let guard = self.acquire_writer(true)?.expect("waited");
        self.inner.make_steady()?;
        drop(guard);
        Ok(())
    }

    /// Gives free space at the end of the file back to the file system now. Returns the bytes
    /// the file shrank by. Free pages still visible to a live snapshot stay.
    pub fn trim(&self) -> Result<u64> {
        let before = self.inner.storage.file_len();
        // Pages freed by commits not yet durable are not reusable (see `start_write`): make them
        // durable first, so what they freed can be given back.
        self.sync()?;
        for _ in 0..2 {
            let mut w = self.begin_write()?;
            // The file is shortened only by durable commits (see `publish`).
            w.set_durability(Durability::Immediate);
            w.force_trim();
            w.commit()?;
        }
        Ok(before.saturating_sub(self.inner.storage.file_len()))
    }

    /// Compacts: moves live pages from the end of the file into free pages lower down (one
    /// commit that walks every tree), then gives the free end back (a second commit). Returns
    /// the bytes the file shrank by. Pages a live snapshot can still see stay until it ends.
    pub fn compact(&self) -> Result<u64> {
        let before = self.inner.storage.file_len();
        self.sync()?; // as in `trim`
        let mut w = self.begin_write()?;
        w.set_durability(Durability::Immediate);
        w.compact();
        w.force_trim();
        w.commit()?;
        self.trim()?;
        Ok(before.saturating_sub(self.inner.storage.file_len()))
    }

    /// A consistent copy of the newest commit, taken while writers keep going: the pages of a
    /// read snapshot are copied with `copy_file_range` (in-kernel, no user-space copy; falls back
    /// to read/write where unsupported), then both meta pages are written for that snapshot and
    /// the copy is synced. `dest` must not exist. Returns the bytes copied.
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<u64> {
        let dest = dest.as_ref();
        let result = self.backup_into(dest);
        if let Err(Error::Io { operation, .. }) = &result {
            // A failed copy is removed (unless creating it failed: that file is not ours).
            if *operation != "creating the backup file" {
                let _ = std::fs::remove_file(dest);
            }
        } else if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    fn backup_into(&self, dest: &Path) -> Result<u64> {
        let snapshot = self.begin_read()?;
        let meta = *snapshot.meta();
        let page_size = self.inner.storage.page_size as u64;
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dest)
            .map_err(|e| Error::io("creating the backup file", e))?;
        let len = meta.page_count * page_size;
        out.set_len(len)
            .map_err(|e| Error::io("sizing the backup file", e))?;
        // Pages the snapshot reaches do not change while it lives (copy-on-write + reuse floor);
        // free pages may be rewritten meanwhile, which is harmless: nothing refers to them.
        let src = self.inner.storage.file();
        let (mut off_in, mut off_out) = (2 * page_size, 2 * page_size);
        while off_in < len {
            let want = (len - off_in).min(1 << 30) as usize;
            match rustix::fs::copy_file_range(
                src,
                Some(&mut off_in),
                &out,
                Some(&mut off_out),
                want,
            ) {
                Ok(0) => {
                    return Err(Error::Truncated {
                        path: self.inner.storage.path.clone(),
                        needed_bytes: len,
                        file_bytes: off_in,
                    })
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(
                    rustix::io::Errno::XDEV
                    | rustix::io::Errno::NOSYS
                    | rustix::io::Errno::INVAL
                    | rustix::io::Errno::OPNOTSUPP,
                ) => {
                    let mut buf = vec![0u8; 1 << 20];
                    while off_in < len {
                        let n = ((len - off_in) as usize).min(buf.len());
                        src.read_exact_at(&mut buf[..n], off_in)
                            .and_then(|()| out.write_all_at(&buf[..n], off_out))
                            .map_err(|e| Error::io("copying to the backup file", e))?;
                        off_in += n as u64;
                        off_out += n as u64;
                    }
                }
                Err(e) => return Err(Error::io("copying to the backup file", e.into())),
            }
        }
        let mut pages = vec![0u8; 2 * page_size as usize];
        meta.encode(&mut pages[..page_size as usize]);
        meta.encode(&mut pages[page_size as usize..]);
        out.write_all_at(&pages, 0)
            .and_then(|()| out.sync_all())
            .map_err(|e| Error::io("writing the backup file", e))?;
        sync_parent_dir(dest)?;
        drop(snapshot);
        Ok(len)
    }

    /// Walks the whole file; see [`crate::CheckReport`].
    pub fn check(&self) -> Result<crate::CheckReport> {
        let read = self.begin_read()?;
        Ok(crate::check::check(&read))
    }

    /// Figures about the database. Reader figures cover every process.
    pub fn stats(&self) -> Stats {
        let inner = &self.inner;
        let meta = inner
            .published_meta()
            .unwrap_or(inner.state.lock().expect("state lock").meta);
        let local = inner.state.lock().expect("state lock").readers.len();
        let oldest = inner
            .lock
            .readers(Some(inner.slot))
            .into_iter()
            .min_by_key(|slot| slot.txn);
        Stats {
            txn_id: meta.txn,
            page_size: inner.storage.page_size,
            page_count: meta.page_count,
            free_pages: meta.free_pages,
            file_bytes: inner.storage.file_len(),
            readers: local,
            oldest_reader_txn: oldest.map(|slot| slot.txn),
            oldest_reader_lag: oldest.map_or(0, |slot| meta.txn.saturating_sub(slot.txn)),
            oldest_reader_age: oldest.map(|slot| slot_age(slot.since_unix_ns)),
            pages_held_back: oldest
                .map_or(Ok(0), |slot| self.pages_freed_after(slot.txn))
                .unwrap_or(0),
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
        let newest = inner.published_meta().map_or(0, |meta| meta.txn);
        let mut readers: Vec<ReaderInfo> = inner
            .lock
            .readers(Some(inner.slot))
            .into_iter()
            .map(|slot| ReaderInfo {
                pid: slot.pid as u32,
                txn: slot.txn,
                lag: newest.saturating_sub(slot.txn),
                age: slot_age(slot.since_unix_ns),
            })
            .collect();
        readers.sort_by_key(|r| r.txn);
        readers
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

impl DbInner {
    fn open(file: File, path: PathBuf, options: Options, identity: (u64, u64)) -> Result<DbInner> {
        let boot = options.boot_id.unwrap_or_else(boot_id);
        // The lock file sits next to the file the name leads to (symlinks resolved), so every
        // name that leads to one file through symlinks finds the same lock file.
        let real = std::fs::canonicalize(&path)
            .map_err(|e| Error::io("resolving the database path", e))?;
        let mut lock_path = real.into_os_string();
        lock_path.push("-lock");
        let mut lock = LockFile::open(Path::new(&lock_path))?;
        let given = path.clone();
        let split = move |reason: &str| Error::OpenUnderAnotherName {
            path: given.clone(),
            reason: reason.to_string(),
        };
        // Alone: (re)build the lock file and, for a new database, write the meta pages, before
        // anyone else can join. Not alone: wait until whoever initialises is done.
        let alone = lock.try_alone()?;
        if alone {
            // Alone on this lock file, but is anyone using the data file through another one
            // (a hard link, a deleted lock file)? Their presence lock on the data file says so.
            if !lock_data_file(&file, true)? {
                return Err(split(
                    "the data file is in use through another lock file: a hard link, a renamed \
                     file, or a deleted lock file",
                ));
            }
            lock.initialize(identity)?;
        } else {
            lock.join()?;
            if lock.data_identity() != identity {
                return Err(split(
                    "its lock file is in use for another file of that name (the file was \
                     replaced while open)",
                ));
            }
        }
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("reading the file size", e))?
            .len();
        let fresh =
            file_len == 0 || is_all_zero(&file, file_len)? || is_torn_creation(&file, file_len)?;
        if fresh && !alone {
            // Others have it open, yet it has no meta pages: not (or no longer) a database.
            return Err(Error::NotADatabase { path });
        }
        let meta = if fresh {
            None
        } else {
            Some(read_meta(&file, &path, file_len, boot)?.newest)
        };
        let page_size = meta.map_or(options.page_size, |m| m.page_size as usize);
        let storage = Storage::new(
            file,
            path,
            page_size,
            options.read_ahead,
            options.observer.clone(),
        )?;
        let pager = Pager::new(page_size, options.verify_checksums);
        let meta = match meta {
            Some(meta) => meta,
            None => {
                let meta = Meta::created(page_size as u32);
                // The meta pages go first, extending the file by exactly two pages, so a crash
                // during creation leaves a file that `is_all_zero`/`is_torn_creation` recognise
                // (growth in steps happens later, through `ensure_len`).
                let mut pages = vec![0u8; 2 * page_size];
                meta.encode(&mut pages[..page_size]);
                meta.encode(&mut pages[page_size..]);
                storage.create_meta_pages(&pages)?;
                // The new file's directory entry must survive a power loss too.
                sync_parent_dir(&storage.path)?;
                meta
            }
        };
        if alone {
            lock.publish_meta(meta_words(&meta));
            // Both presence locks become shared: others may join now (the data file's first,
            // so a joiner that got the lock file's read lock finds it shared already).
            lock_data_file(storage.file(), false)?;
            lock.join()?;
        } else if !lock_data_file(storage.file(), false)? {
            return Err(split(
                "the data file is being initialised through another lock file",
            ));
        }
        let slot = lock.claim_slot(u64::from(std::process::id()))?;
        let mut inner = DbInner {
            storage,
            pager,
            options,
            state: Mutex::new(Published {
                meta,
                readers: BTreeMap::new(),
                next_reader: 0,
            }),
            writer_busy: Mutex::new(None),
            writer_free: Condvar::new(),
            last_trim_txn: AtomicU64::new(0),
            page_pool: Mutex::new(Vec::new()),
            unsynced: AtomicBool::new(false),
            identity,
            boot,
            lock,
            slot,
        };
        let published = inner.published_meta()?;
        inner.state.get_mut().expect("state lock").meta = published;
        Ok(inner)
    }

    /// The newest commit of any process, from the lock file (or from the meta pages, if the
    /// lock file's copy is caught half-written by a dead writer or does not make sense).
    pub(crate) fn published_meta(&self) -> Result<Meta> {
        if let Some([txn, page_size, catalog_root, freelist_root, page_count, free_pages]) =
            self.lock.load_meta()
        {
            let meta = Meta {
                page_size: page_size as u32,
                txn,
                catalog_root,
                freelist_root,
                page_count,
                free_pages,
                // Whether it is steady is the meta pages' business, not the readers'.
                weak_boot: 0,
            };
            let sane = page_size == self.storage.page_size as u64
                && page_count >= 2
                && page_count <= (1u64 << 63) / page_size
                && catalog_root < page_count
                && freelist_root < page_count
                && free_pages <= page_count;
            // The file must cover it too (another process may have grown it: look again once),
            // so nothing sized by its page count (check's marks) trusts a damaged lock file.
            let covered = sane
                && (page_count * page_size <= self.storage.file_len()
                    || page_count * page_size <= self.storage.refresh_len()?);
            if covered {
                return Ok(meta);
            }
        } else {
            // A publisher died half-way through publishing: mend it now rather than leave every
            // reader spinning until some writer comes along (a read-only deployment never would).
            self.repair_published();
        }
        Ok(self.read_meta()?.newest)
    }

    /// Republishes the meta pages' newest commit in the lock file, if the writer role is free
    /// right now (this process's, then every process's); otherwise the writer will.
    fn repair_published(&self) {
        {
            let mut busy = self.writer_busy.lock().expect("writer lock");
            if busy.is_some() {
                return;
            }
            *busy = Some(std::thread::current().id());
        }
        if self.lock.lock_writer(false).unwrap_or(false) {
            if let Ok(disk) = self.read_meta() {
                self.lock.publish_meta(meta_words(&disk.newest));
            }
            self.lock.unlock_writer();
        }
        *self.writer_busy.lock().expect("writer lock") = None;
        self.writer_free.notify_one();
    }

    /// Fails if this process or any other saw a failed sync of the data file.
    pub(crate) fn check_poisoned(&self) -> Result<()> {
        self.storage.check_poisoned()?;
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
        if result.is_err() && self.storage.check_poisoned().is_err() {
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
    pub(crate) fn page_buffer(&self) -> Vec<u8> {
        let page_size = self.storage.page_size;
        match self.page_pool.lock().expect("page pool").pop() {
            Some(mut page) => {
                page.clear();
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
        if worth_it && base.txn >= self.last_trim_txn.load(Ordering::Relaxed) + 8 {
            self.last_trim_txn.store(base.txn, Ordering::Relaxed);
            return true;
        }
        false
    }

    /// The end of a commit: sync the data, write the meta page (steady, synchronously; or weak,
    /// without a sync), make it current, and shrink the file below what either meta page needs.
    pub(crate) fn publish(
        &self,
        meta: Meta,
        base: &Meta,
        disk: &OnDisk,
        durability: Durability,
    ) -> Result<()> {
        let result = self.publish_steps(meta, base, disk, durability);
        self.share_poison(result)
    }

    fn publish_steps(
        &self,
        mut meta: Meta,
        base: &Meta,
        disk: &OnDisk,
        durability: Durability,
    ) -> Result<()> {
        let durable = durability == Durability::Immediate;
        if durable {
            self.storage.sync()?;
        }
        meta.weak_boot = if durable { 0 } else { self.boot };
        let page_size = self.storage.page_size;
        let mut page = vec![0u8; page_size];
        meta.encode(&mut page);
        let at = disk.next_slot() * page_size as u64;
        if durable {
            // Synchronous write (O_DSYNC): durable when it returns, the commit's second sync.
            self.storage.write_meta_durable(at, &page)?;
        } else {
            if let Err(error) = self.storage.write_at(at, &page) {
                self.storage
                    .poison(format!("writing the meta page failed: {error}"));
                return Err(error);
            }
            self.unsynced.store(true, Ordering::Release);
        }
        self.lock.publish_meta(meta_words(&meta));
        self.state.lock().expect("state lock").meta = meta;
        // Give back a free tail. The file is shortened only below what every meta page needs
        // (the new one, the one left in the other slot, and `base`, the one it replaced as
        // newest), only when no snapshot in any process is older than `base` (so none has a larger
        // page count), and only after a durable commit (so after a power loss no older meta
        // page can point past the end). Trimmed pages were reusable, hence unreachable from every
        // live snapshot. The commit has happened by now: a failed truncate only leaves the file
        // longer.
        let kept = disk.kept().map_or(0, |m| m.page_count);
        let keep = base.page_count.max(meta.page_count).max(kept) * page_size as u64;
        let slack = (keep / 8).clamp(GROW_STEP_MIN, GROW_STEP_MAX);
        if durable
            && self.storage.file_len() > keep + 2 * slack
            && self
                .lock
                .readers(Some(self.slot))
                .iter()
                .all(|slot| slot.txn >= base.txn)
        {
            let _ = self.storage.truncate_to(keep + slack);
        }
        Ok(())
    }

    /// With the writer role held: makes the newest commit steady if it is weak (sync the data,
    /// then rewrite its meta page, in its own slot, as steady and synchronously). A torn
    /// rewrite falls back to the steady meta page in the other slot, whose pages are intact.
    fn make_steady(&self) -> Result<()> {
        let result = self.make_steady_steps();
        self.share_poison(result)
    }

    fn make_steady_steps(&self) -> Result<()> {
        let disk = self.read_meta()?;
        self.storage.sync()?;
        self.unsynced.store(false, Ordering::Release);
        if disk.newest.is_steady() {
            return Ok(());
        }
        let mut meta = disk.newest;
        meta.weak_boot = 0;
        let page_size = self.storage.page_size;
        let mut page = vec![0u8; page_size];
        meta.encode(&mut page);
        self.storage
            .write_meta_durable(disk.newest_slot * page_size as u64, &page)
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        self.lock.release_slot(self.slot);
        if self.unsynced.load(Ordering::Acquire) && self.lock.lock_writer(true).unwrap_or(false) {
            // No write transaction of this process is left (each holds the handle).
            let _ = self.make_steady();
            self.lock.unlock_writer();
        }
        // `try_lock`: an open that fails half-way drops its `DbInner` while holding this mutex
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

pub(crate) fn meta_words(meta: &Meta) -> MetaWords {
    [
        meta.txn,
        u64::from(meta.page_size),
        meta.catalog_root,
        meta.freelist_root,
        meta.page_count,
        meta.free_pages,
    ]
}

/// `fsync` of the directory holding `path`, so a file just created there survives a power loss
/// (its data was synced; its name lives in the directory).
fn sync_parent_dir(path: &Path) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io("syncing the directory of the database", e))
}

fn slot_age(since_unix_ns: u64) -> Duration {
    Duration::from_nanos(unix_now_ns().saturating_sub(since_unix_ns))
}

fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A database whose creation was cut short, so nothing was ever committed to it: our signature
/// at the start, shorter than its two meta pages, and either no valid meta page (the write
/// landed in part) or only the creation meta page (txn 0, no trees: a power cut after the
/// write of the meta pages and before their sync can keep the first page only). A short file
/// with a valid meta page of any later commit is a truncated database (an error), never
/// something to overwrite.
fn is_torn_creation(file: &File, len: u64) -> Result<bool> {
    if len >= 2 * PAGE_SIZE_MAX as u64 {
        return Ok(false);
    }
    let mut magic = [0u8; 8];
    if len < 8 || file.read_exact_at(&mut magic, 0).is_err() || magic != crate::page::meta::MAGIC {
        return Ok(false);
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| Error::io("reading the file", e))?;
    let mut valid = Vec::new();
    let mut offset = 0;
    while offset <= PAGE_SIZE_MAX {
        if let Some(MetaRead::Valid(meta)) = bytes.get(offset..).map(Meta::decode) {
            valid.push(meta);
        }
        offset = if offset == 0 {
            PAGE_SIZE_MIN
        } else {
            offset * 2
        };
    }
    if valid.is_empty() {
        return Ok(len <= 2 * PAGE_SIZE_MIN as u64);
    }
    Ok(valid
        .iter()
        .all(|meta| *meta == Meta::created(meta.page_size) && len < 2 * u64::from(meta.page_size)))
}

fn is_all_zero(file: &File, len: u64) -> Result<bool> {
    if len > 2 * PAGE_SIZE_MAX as u64 {
        return Ok(false);
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| Error::io("reading the file", e))?;
    Ok(buf.iter().all(|&b| b == 0))
}

/// What the two meta pages hold, read with `pread` (so from the page cache: what this boot wrote).
#[derive(Clone, Copy, Debug)]
pub(crate) struct OnDisk {
    /// The newest valid meta page this boot can trust: the state to open or build on.
    pub newest: Meta,
    pub newest_slot: u64,
    /// The newest valid steady meta page (the state a power loss falls back to) and its slot.
    /// `None` only if the steady slot is damaged.
    pub steady: Option<(Meta, u64)>,
    /// The valid meta page of each slot.
    slots: [Option<Meta>; 2],
}

impl OnDisk {
    /// The slot the next commit writes: never the one holding the newest steady meta page, so
    /// a power loss before the next steady commit always finds it.
    pub(crate) fn next_slot(&self) -> u64 {
        match self.steady {
            Some((_, slot)) => 1 - slot,
            None => 1 - self.newest_slot,
        }
    }

    /// The meta page the next commit leaves in place (the slot it does not write).
    pub(crate) fn kept(&self) -> Option<Meta> {
        self.slots[1 - self.next_slot() as usize]
    }

    /// The commit every page reachable from the durable state is protected by: pages freed
    /// after it must not be reused before a newer steady commit (see `Db::start_write`).
    pub(crate) fn durable_txn(&self) -> u64 {
        self.steady.map_or(self.newest.txn, |(meta, _)| meta.txn)
    }
}

/// Reads both meta pages and picks the newest valid one that `boot` can trust (a weak meta page
/// only in the boot that wrote it).
fn read_meta(file: &File, path: &Path, file_len: u64, boot: u64) -> Result<OnDisk> {
    let read_at = |offset: u64, len: usize| -> Result<Vec<u8>> {
        if offset >= file_len {
            return Ok(Vec::new());
        }
        let len = len.min((file_len - offset) as usize);
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset)
            .map_err(|e| Error::io("reading the meta pages", e))?;
        Ok(buf)
    };
    let first = Meta::decode(&read_at(0, PAGE_SIZE_MIN)?);
    // The second meta page sits one page in; its page size is unknown if the first is damaged.
    let page_sizes: Vec<usize> = match &first {
        MetaRead::Valid(meta) => vec![meta.page_size as usize],
        _ => (0..)
            .map(|shift| PAGE_SIZE_MIN << shift)
            .take_while(|&size| size <= PAGE_SIZE_MAX)
            .collect(),
    };
    let mut second = MetaRead::NoMagic;
    for size in page_sizes {
        let read = Meta::decode(&read_at(size as u64, PAGE_SIZE_MIN)?);
        let matches = match &read {
            MetaRead::Valid(meta) => meta.page_size as usize == size,
            _ => false,
        };
        if matches || matches!(second, MetaRead::NoMagic) {
            second = read;
        }
        if matches {
            break;
        }
    }
    for read in [&first, &second] {
        if let MetaRead::Version(found) = read {
            if *found > FORMAT_VERSION {
                return Err(Error::UnsupportedVersion {
                    path: path.to_path_buf(),
                    found: *found,
                    supported: FORMAT_VERSION,
                });
            }
        }
    }
    let slots = [&first, &second].map(|read| match read {
        MetaRead::Valid(meta) => Some(*meta),
        _ => None,
    });
    if let [Some(a), Some(b)] = slots {
        if a.page_size != b.page_size {
            return Err(Error::corrupted(
                0,
                "the two meta pages disagree on the page size",
            ));
        }
    }
    let trusted = slots.map(|meta| meta.filter(|m| m.is_steady() || m.weak_boot == boot));
    let newest_of = |candidates: [Option<Meta>; 2]| -> Option<(Meta, u64)> {
        match candidates {
            [Some(a), Some(b)] => Some(if a.txn >= b.txn { (a, 0) } else { (b, 1) }),
            [Some(a), None] => Some((a, 0)),
            [None, Some(b)] => Some((b, 1)),
            [None, None] => None,
        }
    };
    let Some((newest, newest_slot)) = newest_of(trusted) else {
        if matches!((&first, &second), (MetaRead::NoMagic, MetaRead::NoMagic)) {
            return Err(Error::NotADatabase {
                path: path.to_path_buf(),
            });
        }
        if let (MetaRead::Version(found), _) | (_, MetaRead::Version(found)) = (&first, &second) {
            return Err(Error::UnsupportedVersion {
                path: path.to_path_buf(),
                found: *found,
                supported: FORMAT_VERSION,
            });
        }
        if slots.iter().any(Option::is_some) {
            return Err(Error::corrupted(
                0,
                "the newest commit was never made durable before a restart, and the meta page \
                 of the durable one before it is damaged",
            ));
        }
        return Err(Error::corrupted(
            0,
            "both meta pages are damaged; no commit can be trusted",
        ));
    };
    let steady = newest_of(slots.map(|meta| meta.filter(Meta::is_steady)));
    let needed = newest.page_count * newest.page_size as u64;
    if file_len < needed {
        return Err(Error::Truncated {
            path: path.to_path_buf(),
            needed_bytes: needed,
            file_bytes: file_len,
        });
    }
    Ok(OnDisk {
        newest,
        newest_slot,
        steady,
        slots,
    })
}
