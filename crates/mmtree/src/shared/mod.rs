//! The state every handle of one open database shares, in one process: the file (storage and
//! page checks), the lock file, the options, the newest published commit and this process's
//! snapshots, the writer role, and the end of a commit (`publish`). The `Db` handle (`db/`) and
//! the transactions (`txn/`) sit on top of it.

mod meta_pages;

pub(crate) use meta_pages::{read_meta, OnDisk};

use crate::error::{Error, Result};
use crate::limits::{GROW_STEP_MAX, GROW_STEP_MIN};
use crate::lock::{LockFile, MetaWords};
use crate::options::{Durability, Options};
use crate::page::meta::Meta;
use crate::pager::Pager;
use crate::storage::Storage;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::time::Instant;

pub(crate) struct Published {
    pub meta: Meta,
    /// Live snapshots: (txn, reader id) -> start time.
    pub readers: BTreeMap<(u64, u64), Instant>,
    pub next_reader: u64,
}

pub(crate) struct Shared {
    /// Runs after every commit (strict mode: the integrity check, from the `db` layer).
    pub(crate) after_commit: Option<fn(&Arc<Shared>)>,
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
    pub(crate) unsynced: AtomicBool,
    pub(crate) identity: (u64, u64),
    /// This boot's id (`boot_id`), or the simulated one: weak meta pages are written with it.
    pub(crate) boot: u64,
    /// What the processes sharing this database agree on (see `lock`).
    pub(crate) lock: LockFile,
    /// This process's reader slot in the lock file.
    pub(crate) slot: usize,
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

    /// The newest commit of any process, from the lock file (or from the meta pages, if the
    /// lock file's copy is caught half-written by a dead writer or does not make sense).
    pub(crate) fn published_meta(&self) -> Result<Meta> {
        if let Some(words) = self.lock.load_meta() {
            let meta = meta_from_words(words);
            // The rules of a meta page, this file's page size, and the file must cover it (another
            // process may have grown it: look again once), so nothing sized by its page count
            // (check's marks) trusts a damaged lock file.
            let covered =
                meta.check().is_ok() && meta.page_size as usize == self.storage.page_size && {
                    // No overflow: `check` bounds the page count by 2^63 bytes.
                    let needed = meta.page_count * u64::from(meta.page_size);
                    needed <= self.storage.file_len() || needed <= self.storage.refresh_len()?
                };
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
    ) -> Result<Meta> {
        loop {
            let meta = self.published_meta()?;
            self.lock.set_slot_txn(slot, Some(protect(meta.txn_id)));
            if self.published_meta()?.txn_id == meta.txn_id {
                return Ok(meta);
            }
        }
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
        if worth_it && base.txn_id >= self.last_trim_txn.load(Ordering::Relaxed) + 8 {
            self.last_trim_txn.store(base.txn_id, Ordering::Relaxed);
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
                .all(|slot| slot.txn_id >= base.txn_id)
        {
            let _ = self.storage.truncate_to(keep + slack);
        }
        Ok(())
    }

    /// With the writer role held: makes the newest commit steady if it is weak (sync the data,
    /// then rewrite its meta page, in its own slot, as steady and synchronously). A torn
    /// rewrite falls back to the steady meta page in the other slot, whose pages are intact.
    pub(crate) fn make_steady(&self) -> Result<()> {
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

impl Drop for Shared {
    fn drop(&mut self) {
        self.lock.release_slot(self.slot);
        if self.unsynced.load(Ordering::Acquire) && self.lock.lock_writer(true).unwrap_or(false) {
            // No write transaction of this process is left (each holds the handle).
            let _ = self.make_steady();
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

/// A meta published in the lock file (whether it is steady is the meta pages' business, not the
/// readers': `weak_boot` is 0).
pub(crate) fn meta_from_words(words: MetaWords) -> Meta {
    let [txn, page_size, catalog_root, freelist_root, page_count, free_pages] = words;
    Meta {
        page_size: u32::try_from(page_size).unwrap_or(0),
        txn_id: txn,
        catalog_root,
        freelist_root,
        page_count,
        free_pages,
        weak_boot: 0,
    }
}

/// The words of the lock file's published meta (the inverse of `meta_from_words`).
pub(crate) fn meta_words(meta: &Meta) -> MetaWords {
    [
        meta.txn_id,
        u64::from(meta.page_size),
        meta.catalog_root,
        meta.freelist_root,
        meta.page_count,
        meta.free_pages,
    ]
}

pub(crate) fn unix_now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
