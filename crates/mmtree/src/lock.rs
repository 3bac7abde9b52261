//! The lock file (`<database>-lock`): what several processes sharing one database agree on.
//!
//! It is mapped shared and read-write by every process that has the database open, and holds
//! only atomics:
//!
//! ```text
//! 0       8        16          24        32                 136                240 … 296     4096
//! +-------+--------+-----------+---------+------------------+------------------+--------+- - -+
//! | magic | version| slot count| current | published copy 0 | published copy 1 | words  | zero|
//! |       |        |           | copy    | seq + 12 words   | seq + 12 words   | below  |     |
//! +-------+--------+-----------+---------+------------------+------------------+--------+- - -+
//! published copy: seq (odd while being written) | txn | page size | catalog root | freelist root |
//!   page count | free pages | log salt | log end | checkpoint txn | pinned | db id | flags
//! 240: slots in use | data file device | data file inode | poisoned (pid + 1) | log claim |
//!   last checkpoint (unix ns) | checkpoints
//! 4096: reader slots, 32 bytes each:  owner pid u64 | oldest snapshot txn + 1 (0: none) u64 |
//!       since (unix ns) u64 | expiry: 0 never, u64::MAX expired, else a deadline (unix ns)
//! ```
//!
//! The *published* state is what every process reads its snapshots from: the newest commit's
//! meta, where the redo log ends after its record, and the last durable checkpoint. It is
//! double-buffered: the publisher (the writer, or a process alone) writes the copy not in use
//! (its seq odd while it does), then switches `current` to it with one store. A publisher killed
//! half-way leaves a torn copy that nobody reads; readers never wait for a dead process.
//!
//! *Log claim*: before a writer appends its commit record it stores the offset the record ends
//! at; publishing moves *log end* up to it. A claim beyond the published end means a writer
//! died between the two: the next writer cuts what it left (see `shared::Shared::cut_log_tail`).
//!
//! A slot with an expiry belongs to one bounded snapshot (`txn::bounded`), which holds it through
//! an open file description of its own. A writer marks such a slot expired once its deadline has
//! passed (a compare-and-swap of the expiry word), and from then on ignores it: the snapshot's
//! pages may be reused. The snapshot checks the word after every read, so it reports
//! `SnapshotExpired` instead of returning what it read (it reads with `pread` into its own
//! buffers, so reused pages are never under a live reference).
//!
//! Locks are Linux open-file-description (OFD) byte-range locks on this file. The kernel drops
//! them when the process dies (however it dies), they belong to the open file description (so
//! closing some other descriptor of the same file never drops them, the classic `fcntl` trap),
//! and they are independent of pids (so a reused pid cannot keep a dead slot alive):
//!
//! - byte 0, *presence*: every process holds a read lock while it has the database open. An
//!   opener that gets the write lock is alone and (re)initialises the lock file from the data
//!   file, then converts its lock to a read lock (an atomic conversion).
//! - byte 1, *writer*: held (write lock) by the one write transaction, across processes.
//! - byte 2, *ready*: every process whose open is complete holds a read lock. A lone opener
//!   takes it only after its recovery (the log's records replayed), so a joiner that finds
//!   nobody else holding it knows the lock file's published state may lack commits the log
//!   holds (the lone opener failed, stopped as a read-only handle, or died before it finished;
//!   or the file is left over from processes that are all gone) and trusts none of it: it lets
//!   go and tries to be the lone opener itself. A ready process seen while the joiner holds
//!   its presence lock keeps the state valid for it: nobody can rebuild the file meanwhile.
//! - byte `SLOT_LOCK_BASE + i`: held by the process that owns reader slot `i`. A slot whose owner
//!   field is set but whose lock byte is free belongs to a dead process and is reclaimed.
//!
//! The lock file is found by name (`<database>-lock`, symlinks resolved), so two names for one
//! data file (a hard link) or a lock file deleted while in use would give two lock files for one
//! database. The data file itself is locked too (byte 0, OFD, so per inode whatever its name):
//! every process holds a read lock on it, and the one that initialises a lock file must get its
//! write lock — if another process has the data file open through another lock file, it cannot,
//! and the open is refused. The lock file also records the data file's device and inode; a
//! joiner whose data file is another inode (the file was replaced under the same name) is
//! refused too.
//!
//! The lock file carries no durable state: after every process is gone it is rebuilt from the
//! data file's meta pages.

use crate::error::{Error, Result};
use memmap2::{MmapOptions, MmapRaw};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const MAGIC: u64 = u64::from_le_bytes(*b"MMTLOCK\x01");
/// 5: the ready lock (byte 2); a process of version 4 never takes it, so both never share.
/// 6: word 9 of a published copy is the newest commit (the end of the write buffer), no
/// longer pinned pages.
const VERSION: u64 = 6;
/// Reader slots: one per process with live snapshots.
pub(crate) const SLOT_COUNT: u64 = 4096;
const SLOTS_AT: usize = 4096;
/// A reader slot: owner pid, oldest snapshot txn + 1 (0: none), since (unix ns), expiry.
const SLOT_PID_AT: usize = 0;
const SLOT_TXN_AT: usize = SLOT_PID_AT + 8;
const SLOT_SINCE_AT: usize = SLOT_TXN_AT + 8;
const SLOT_EXPIRY_AT: usize = SLOT_SINCE_AT + 8;
const SLOT_SIZE: usize = SLOT_EXPIRY_AT + 8;
const _: () = assert!(SLOT_SIZE == 32 && SLOTS_AT.is_multiple_of(SLOT_SIZE));
const FILE_SIZE: usize = SLOTS_AT + SLOT_COUNT as usize * SLOT_SIZE;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = 8;
const SLOT_COUNT_AT: usize = 16;
/// Which published copy is current (0 or 1).
const CURRENT_AT: usize = 24;
/// The two published copies: a seq word, then `PUBLISHED_WORDS` words.
const COPIES_AT: usize = 32;
pub(crate) const PUBLISHED_WORDS: usize = 12;
const COPY_SIZE: usize = 8 + PUBLISHED_WORDS * 8;
const SLOTS_USED_AT: usize = COPIES_AT + 2 * COPY_SIZE;
const DATA_DEV_AT: usize = SLOTS_USED_AT + 8;
const DATA_INO_AT: usize = DATA_DEV_AT + 8;
/// Pid + 1 of a process whose sync of the data file or the log failed (0: none).
const POISONED_AT: usize = DATA_INO_AT + 8;
/// Where the record being appended ends (see the module comment).
const LOG_CLAIM_AT: usize = POISONED_AT + 8;
const CHECKPOINT_NS_AT: usize = LOG_CLAIM_AT + 8;
const CHECKPOINTS_AT: usize = CHECKPOINT_NS_AT + 8;
const _: () = assert!(SLOTS_USED_AT == 240 && CHECKPOINTS_AT + 8 <= SLOTS_AT);

/// The expiry word of an expired slot.
const EXPIRED: u64 = u64::MAX;

const PRESENCE_LOCK: u64 = 0;
const WRITER_LOCK: u64 = 1;
const READY_LOCK: u64 = 2;
const SLOT_LOCK_BASE: u64 = 1 << 20;

/// The published state, as words (see `shared::PublishedState`).
pub(crate) type MetaWords = [u64; PUBLISHED_WORDS];

pub(crate) struct LockFile {
    file: File,
    path: PathBuf,
    map: Option<MmapRaw>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum LockKind {
    Read,
    Write,
    Unlock,
}

/// One live reader slot, as seen by [`LockFile::readers`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct SlotInfo {
    pub pid: u64,
    pub txn_id: u64,
    pub since_unix_ns: u64,
}

impl LockFile {
    pub(crate) fn open(path: &Path) -> Result<LockFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| Error::io("opening the lock file", e))?;
        Ok(LockFile {
            file,
            path: path.to_path_buf(),
            map: None,
        })
    }

    /// An existing lock file, opened for reading and writing; `None` if there is none or it
    /// cannot be opened for writing here (read-only media, permissions). Creates nothing.
    pub(crate) fn open_existing(path: &Path) -> Result<Option<LockFile>> {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Ok(Some(LockFile {
                file,
                path: path.to_path_buf(),
                map: None,
            })),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENOENT | libc::EROFS | libc::EACCES | libc::EPERM)
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io("opening the lock file", e)),
        }
    }

    /// A lock file of this process alone, in memory (`memfd`): for a read-only handle that has
    /// no lock file to share. The protocol runs unchanged over it; nobody else sees it.
    pub(crate) fn private() -> Result<LockFile> {
        let fd = rustix::fs::memfd_create("mmtree-lock", rustix::fs::MemfdFlags::CLOEXEC)
            .map_err(|e| Error::io("creating a private lock file", e.into()))?;
        Ok(LockFile {
            file: File::from(fd),
            path: PathBuf::from("(private lock file of a read-only handle)"),
            map: None,
        })
    }

    /// The lock file (beside the resolved database path).
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Tries to become the only process with the database open. True: the caller must
    /// [`initialize`](Self::initialize), recover, [`mark_ready`](Self::mark_ready) and then
    /// [`share_presence`](Self::share_presence).
    pub(crate) fn try_alone(&self) -> Result<bool> {
        self.lock(PRESENCE_LOCK, LockKind::Write, false)
    }

    /// (Re)initialises the lock file for the data file `identity` (device, inode); only while
    /// holding the presence write lock.
    pub(crate) fn initialize(&mut self, identity: (u64, u64)) -> Result<()> {
        let zeros = vec![0u8; FILE_SIZE];
        self.file
            .set_len(FILE_SIZE as u64)
            .and_then(|()| self.file.write_all_at(&zeros, 0))
            .map_err(|e| Error::io("initialising the lock file", e))?;
        self.map_file()?;
        self.word(VERSION_AT).store(VERSION, Ordering::SeqCst);
        self.word(SLOT_COUNT_AT).store(SLOT_COUNT, Ordering::SeqCst);
        self.word(DATA_DEV_AT).store(identity.0, Ordering::SeqCst);
        self.word(DATA_INO_AT).store(identity.1, Ordering::SeqCst);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.word(CHECKPOINT_NS_AT).store(now, Ordering::SeqCst);
        self.word(MAGIC_AT).store(MAGIC, Ordering::SeqCst);
        Ok(())
    }

    /// Records that process `pid` saw a failed sync: the page cache may have dropped writes that
    /// later commits would build on, so no process may write until all have closed the database
    /// (the next lone opener rebuilds the lock file and starts from the last durable commit).
    pub(crate) fn set_poisoned(&self, pid: u64) {
        let _ =
            self.word(POISONED_AT)
                .compare_exchange(0, pid + 1, Ordering::SeqCst, Ordering::SeqCst);
    }

    /// The pid of a process that saw a failed sync, if any.
    pub(crate) fn poisoned_by(&self) -> Option<u64> {
        self.word(POISONED_AT).load(Ordering::SeqCst).checked_sub(1)
    }

    /// The data file (device, inode) this lock file was initialised for.
    pub(crate) fn data_identity(&self) -> (u64, u64) {
        (
            self.word(DATA_DEV_AT).load(Ordering::SeqCst),
            self.word(DATA_INO_AT).load(Ordering::SeqCst),
        )
    }

    /// Joins the processes sharing the database: waits for a read lock on presence (while a
    /// lone opener initialises and recovers, it holds the write lock), then checks that a
    /// process whose open is complete is present (see *ready* in the module docs) and the lock
    /// file's signature. `Ok(false)`: nobody ready is present, so the published state cannot be
    /// trusted; the presence lock is let go again, and the caller tries to be alone.
    pub(crate) fn join(&mut self) -> Result<bool> {
        self.lock(PRESENCE_LOCK, LockKind::Read, true)?;
        if !locked_by_others(&self.file, READY_LOCK) {
            if locked_by_others(&self.file, PRESENCE_LOCK) {
                // Someone else is present but not ready: another joiner on its way back to
                // `try_alone`, or a build that knows no ready lock (an older version).
                let mut word = [0u8; 8];
                let version = match self.file.read_exact_at(&mut word, VERSION_AT as u64) {
                    Ok(()) => u64::from_le_bytes(word),
                    Err(_) => VERSION,
                };
                if version != VERSION && version != 0 {
                    self.lock(PRESENCE_LOCK, LockKind::Unlock, false)?;
                    return Err(self.incompatible(format!(
                        "it is in use by a build of lock-file version {version} (this build: \
                         version {VERSION}); close the database there first"
                    )));
                }
            }
            self.lock(PRESENCE_LOCK, LockKind::Unlock, false)?;
            return Ok(false);
        }
        if self.map.is_none() {
            let len = self
                .file
                .metadata()
                .map_err(|e| Error::io("reading the lock file size", e))?
                .len();
            if len != FILE_SIZE as u64 {
                return Err(self.incompatible(format!("it is {len} bytes, expected {FILE_SIZE}")));
            }
            self.map_file()?;
        }
        let magic = self.word(MAGIC_AT).load(Ordering::SeqCst);
        let version = self.word(VERSION_AT).load(Ordering::SeqCst);
        let slots = self.word(SLOT_COUNT_AT).load(Ordering::SeqCst);
        if magic != MAGIC || version != VERSION || slots != SLOT_COUNT {
            return Err(self.incompatible(format!(
                "signature {magic:#x}, version {version}, {slots} slots (this build: version {VERSION}, {SLOT_COUNT} slots)"
            )));
        }
        Ok(true)
    }

    /// Says this process's open is complete: the published state holds every commit (the log
    /// replayed). Joiners trust the lock file only while some process has said so.
    pub(crate) fn mark_ready(&self) -> Result<()> {
        self.lock(READY_LOCK, LockKind::Read, true).map(|_| ())
    }

    fn incompatible(&self, reason: String) -> Error {
        Error::IncompatibleLockFile {
            path: self.path.clone(),
            reason,
        }
    }

    fn map_file(&mut self) -> Result<()> {
        let map = MmapOptions::new()
            .len(FILE_SIZE)
            .map_raw(&self.file)
            .map_err(|e| Error::io("mapping the lock file", e))?;
        self.map = Some(map);
        Ok(())
    }

    /// The 8-byte word at `offset` of the mapping.
    fn word(&self, offset: usize) -> &AtomicU64 {
        let map = self.map.as_ref().expect("lock file mapped");
        assert!(offset.is_multiple_of(8) && offset + 8 <= FILE_SIZE && map.len() >= FILE_SIZE);
        // SAFETY: the mapping is FILE_SIZE bytes, page-aligned, shared and read-write, and lives as
        // long as `self` (the returned reference borrows `self`). `offset` is 8-aligned and in
        // bounds (asserted), so the pointer is valid and aligned for an AtomicU64. Every process
        // accesses these bytes only through atomics, so there is no non-atomic data race. The file
        // is never shortened while mapped: only a process holding the presence write lock (so no
        // other process has it open) resizes it, always to FILE_SIZE.
        unsafe { &*(map.as_mut_ptr().add(offset) as *const AtomicU64) }
    }

    /// Publishes a committed state: writes the copy not in use (its seq odd meanwhile), then
    /// makes it current. Only the holder of the writer lock (or a process alone) publishes. A
    /// publisher killed half-way leaves the other copy current and whole.
    pub(crate) fn publish_meta(&self, words: MetaWords) {
        let next = 1 - (self.word(CURRENT_AT).load(Ordering::SeqCst) & 1) as usize;
        let at = COPIES_AT + next * COPY_SIZE;
        let seq = self.word(at);
        let writing = seq.load(Ordering::SeqCst) | 1; // odd: being written
        seq.store(writing, Ordering::SeqCst);
        for (i, word) in words.iter().enumerate() {
            self.word(at + 8 + i * 8).store(*word, Ordering::SeqCst);
        }
        seq.store(writing.wrapping_add(1), Ordering::SeqCst);
        self.word(CURRENT_AT).store(next as u64, Ordering::SeqCst);
    }

    /// The published state; `None` only if no consistent copy could be read (a lock file
    /// damaged from outside: the caller falls back to the data file).
    pub(crate) fn load_meta(&self) -> Option<MetaWords> {
        for attempt in 0..100_000u32 {
            let current = (self.word(CURRENT_AT).load(Ordering::SeqCst) & 1) as usize;
            let at = COPIES_AT + current * COPY_SIZE;
            let before = self.word(at).load(Ordering::SeqCst);
            if before.is_multiple_of(2) {
                let mut words = [0u64; PUBLISHED_WORDS];
                for (i, word) in words.iter_mut().enumerate() {
                    *word = self.word(at + 8 + i * 8).load(Ordering::SeqCst);
                }
                if self.word(at).load(Ordering::SeqCst) == before {
                    return Some(words);
                }
            }
            // The copy was rewritten while we read it (two publishes went by): read again.
            if attempt > 100 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        None
    }

    /// Before appending a log record: where it will end.
    pub(crate) fn set_log_claim(&self, end: u64) {
        self.word(LOG_CLAIM_AT).store(end, Ordering::SeqCst);
    }

    pub(crate) fn log_claim(&self) -> u64 {
        self.word(LOG_CLAIM_AT).load(Ordering::SeqCst)
    }

    /// Records a checkpoint made now.
    pub(crate) fn count_checkpoint(&self, unix_ns: u64) {
        self.word(CHECKPOINTS_AT).fetch_add(1, Ordering::Relaxed);
        self.word(CHECKPOINT_NS_AT).store(unix_ns, Ordering::SeqCst);
    }

    /// (checkpoints since the lock file was built, time of the last one in unix ns: at first
    /// the time the lock file was built).
    pub(crate) fn log_counters(&self) -> (u64, u64) {
        (
            self.word(CHECKPOINTS_AT).load(Ordering::Relaxed),
            self.word(CHECKPOINT_NS_AT).load(Ordering::SeqCst),
        )
    }

    pub(crate) fn lock_writer(&self, wait: bool) -> Result<bool> {
        self.lock(WRITER_LOCK, LockKind::Write, wait)
    }

    pub(crate) fn unlock_writer(&self) {
        let _ = self.lock(WRITER_LOCK, LockKind::Unlock, false);
    }

    /// Claims a reader slot for this process: returns its index. Slots of dead processes are
    /// reclaimed on the way.
    pub(crate) fn claim_slot(&self, pid: u64) -> Result<usize> {
        self.claim_slot_through(&self.file, pid)
    }

    /// Claims a reader slot through an open file description of its own, so it is held apart
    /// from this process's slot and released when the lease is dropped (a bounded snapshot).
    pub(crate) fn lease_slot(&self, pid: u64) -> Result<SlotLease> {
        // A new open file description of *this* lock file: reopened through our descriptor, not
        // its path (the path may be relative to an old working directory, or renamed or
        // replaced since), and checked to be the same inode, because a lock byte taken on any
        // other file would make the slot look dead to every writer.
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::MetadataExt;
        let proc_path = format!("/proc/self/fd/{}", self.file.as_raw_fd());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&proc_path)
            .map_err(|e| Error::io("reopening the lock file", e))?;
        let identity = |f: &File| f.metadata().map(|m| (m.dev(), m.ino()));
        match (identity(&file), identity(&self.file)) {
            (Ok(ours), Ok(theirs)) if ours == theirs => {}
            (Err(e), _) | (_, Err(e)) => return Err(Error::io("reading the lock file", e)),
            _ => return Err(self.incompatible("reopening it gave a different file".to_string())),
        }
        let index = self.claim_slot_through(&file, pid)?;
        Ok(SlotLease { file, index })
    }

    fn claim_slot_through(&self, file: &File, pid: u64) -> Result<usize> {
        for index in 0..SLOT_COUNT as usize {
            if !lock_byte(file, SLOT_LOCK_BASE + index as u64, LockKind::Write, false)? {
                continue; // a live process (or another lease of ours) owns it
            }
            // We hold the slot's lock: any previous owner is dead.
            self.word(slot_at(index) + SLOT_PID_AT)
                .store(pid, Ordering::SeqCst);
            self.word(slot_at(index) + SLOT_TXN_AT)
                .store(0, Ordering::SeqCst);
            self.word(slot_at(index) + SLOT_SINCE_AT)
                .store(0, Ordering::SeqCst);
            self.word(slot_at(index) + SLOT_EXPIRY_AT)
                .store(0, Ordering::SeqCst);
            self.word(SLOTS_USED_AT)
                .fetch_max(index as u64 + 1, Ordering::SeqCst);
            return Ok(index);
        }
        Err(Error::ReaderTableFull {
            slots: SLOT_COUNT as usize,
        })
    }

    /// Gives a leased slot a deadline (unix ns) after which writers may expire it. Set before
    /// the slot announces a snapshot.
    pub(crate) fn set_slot_deadline(&self, lease: &SlotLease, deadline_unix_ns: u64) {
        let deadline = deadline_unix_ns.clamp(1, EXPIRED - 1);
        self.word(slot_at(lease.index) + SLOT_EXPIRY_AT)
            .store(deadline, Ordering::SeqCst);
    }

    /// Whether a writer has expired this leased slot. The caller reads its pages first, then
    /// asks: a writer marks the slot before it can reuse any page the slot protected.
    pub(crate) fn slot_expired(&self, lease: &SlotLease) -> bool {
        std::sync::atomic::fence(Ordering::SeqCst);
        self.word(slot_at(lease.index) + SLOT_EXPIRY_AT)
            .load(Ordering::SeqCst)
            == EXPIRED
    }

    /// Clears a leased slot and drops its lock (by closing its file description).
    pub(crate) fn release_lease(&self, lease: SlotLease) {
        self.word(slot_at(lease.index) + SLOT_TXN_AT)
            .store(0, Ordering::SeqCst);
        self.word(slot_at(lease.index) + SLOT_EXPIRY_AT)
            .store(0, Ordering::SeqCst);
        self.word(slot_at(lease.index) + SLOT_PID_AT)
            .store(0, Ordering::SeqCst);
        drop(lease);
    }

    /// Marks every slot whose deadline has passed as expired; only a writer does this, before it
    /// reads the reader table for its reuse floor.
    pub(crate) fn expire_overdue(&self, now_unix_ns: u64) -> usize {
        let used = self
            .word(SLOTS_USED_AT)
            .load(Ordering::SeqCst)
            .min(SLOT_COUNT) as usize;
        let mut expired = 0;
        for index in 0..used {
            let word = self.word(slot_at(index) + SLOT_EXPIRY_AT);
            let deadline = word.load(Ordering::SeqCst);
            if deadline != 0
                && deadline != EXPIRED
                && now_unix_ns >= deadline
                && word
                    .compare_exchange(deadline, EXPIRED, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            {
                expired += 1;
            }
        }
        expired
    }

    /// Converts the presence write lock of a process alone into a read lock (others may join).
    pub(crate) fn share_presence(&self) -> Result<()> {
        self.lock(PRESENCE_LOCK, LockKind::Read, true).map(|_| ())
    }

    /// Sets this process's slot to the oldest snapshot it holds (`None`: none). The slot stores
    /// `txn + 1`, so 0 means "no snapshot" and commit 0 can be protected too.
    pub(crate) fn set_slot_txn(&self, index: usize, txn: Option<u64>) {
        let stored = txn.map_or(0, |txn| txn + 1);
        let txn_word = self.word(slot_at(index) + SLOT_TXN_AT);
        if txn_word.load(Ordering::SeqCst) != stored {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            self.word(slot_at(index) + SLOT_SINCE_AT)
                .store(now, Ordering::SeqCst);
            txn_word.store(stored, Ordering::SeqCst);
        }
    }

    pub(crate) fn release_slot(&self, index: usize) {
        self.word(slot_at(index) + SLOT_TXN_AT)
            .store(0, Ordering::SeqCst);
        self.word(slot_at(index) + SLOT_PID_AT)
            .store(0, Ordering::SeqCst);
        let _ = self.lock(SLOT_LOCK_BASE + index as u64, LockKind::Unlock, false);
    }

    /// Every slot with a live owner and a snapshot; slots of dead processes are cleared (their
    /// lock byte is free). `own` is this process's slot (our own OFD lock never conflicts with us,
    /// so it cannot be tested that way).
    pub(crate) fn readers(&self, own: Option<usize>) -> Vec<SlotInfo> {
        let used = self
            .word(SLOTS_USED_AT)
            .load(Ordering::SeqCst)
            .min(SLOT_COUNT) as usize;
        let mut live = Vec::new();
        for index in 0..used {
            let pid = self
                .word(slot_at(index) + SLOT_PID_AT)
                .load(Ordering::SeqCst);
            if pid == 0 {
                continue;
            }
            let txn = self
                .word(slot_at(index) + SLOT_TXN_AT)
                .load(Ordering::SeqCst);
            if Some(index) != own && !self.is_locked(SLOT_LOCK_BASE + index as u64) {
                // The owner died (its lock byte is free): skip the slot. It is not cleared here —
                // a new owner may be claiming it right now (possibly with the same pid, from
                // another pid namespace); whoever claims it next overwrites it.
                continue;
            }
            if self
                .word(slot_at(index) + SLOT_EXPIRY_AT)
                .load(Ordering::SeqCst)
                == EXPIRED
            {
                continue; // a bounded snapshot a writer expired: it protects nothing
            }
            if txn != 0 {
                let since_unix_ns = self
                    .word(slot_at(index) + SLOT_SINCE_AT)
                    .load(Ordering::SeqCst);
                live.push(SlotInfo {
                    pid,
                    txn_id: txn - 1,
                    since_unix_ns,
                });
            }
        }
        live
    }

    /// Whether another open file description holds a lock on `byte`.
    fn is_locked(&self, byte: u64) -> bool {
        locked_by_others(&self.file, byte)
    }

    /// An OFD lock operation on one byte of this file. Ok(false): it would block (non-waiting
    /// only).
    fn lock(&self, byte: u64, kind: LockKind, wait: bool) -> Result<bool> {
        lock_byte(&self.file, byte, kind, wait)
    }
}

/// A reader slot held through its own open file description; closing it frees the slot's lock.
pub(crate) struct SlotLease {
    #[allow(dead_code)] // held for its lock
    file: File,
    index: usize,
}

impl SlotLease {
    pub(crate) fn index(&self) -> usize {
        self.index
    }
}

/// The presence lock on the data file itself (byte 0; see the module docs): `exclusive` while
/// initialising a lock file, shared otherwise. False: another process holds a conflicting lock.
pub(crate) fn lock_data_file(file: &File, exclusive: bool) -> Result<bool> {
    let kind = if exclusive {
        LockKind::Write
    } else {
        LockKind::Read
    };
    lock_byte(file, PRESENCE_LOCK, kind, false)
}

/// The presence lock of a read-only handle without a lock file, on the data file (opened
/// read-only, so it can hold only a shared lock): taken, then checked to be the only one. False:
/// another process has the database open (its lock is released again).
pub(crate) fn lock_data_file_alone(file: &File) -> Result<bool> {
    if !lock_byte(file, PRESENCE_LOCK, LockKind::Read, false)? {
        return Ok(false);
    }
    if locked_by_others(file, PRESENCE_LOCK) {
        lock_byte(file, PRESENCE_LOCK, LockKind::Unlock, false)?;
        return Ok(false);
    }
    Ok(true)
}

/// Whether an open file description other than `file`'s holds a lock on `byte`.
fn locked_by_others(file: &File, byte: u64) -> bool {
    let mut request = flock_request(LockKind::Write, byte);
    // SAFETY: F_OFD_GETLK reads and writes the `flock` struct we pass a valid, exclusive
    // pointer to; the descriptor is open for as long as `file` is borrowed.
    let rc = unsafe {
        libc::fcntl(
            std::os::fd::AsRawFd::as_raw_fd(file),
            libc::F_OFD_GETLK,
            &mut request,
        )
    };
    // An error counts as "locked": a live reader must never be taken for a dead one.
    rc != 0 || request.l_type != libc::F_UNLCK as libc::c_short
}

/// An OFD lock operation on one byte of `file`. Ok(false): it would block (non-waiting only).
fn lock_byte(file: &File, byte: u64, kind: LockKind, wait: bool) -> Result<bool> {
    let mut request = flock_request(kind, byte);
    let command = if wait {
        libc::F_OFD_SETLKW
    } else {
        libc::F_OFD_SETLK
    };
    loop {
        // SAFETY: F_OFD_SETLK(W) only reads the `flock` struct we pass a valid pointer to; the
        // descriptor is open for as long as `file` is borrowed.
        let rc =
            unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(file), command, &mut request) };
        if rc == 0 {
            return Ok(true);
        }
        let error = std::io::Error::last_os_error();
        match error.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) | Some(libc::EACCES) if !wait => return Ok(false),
            _ => return Err(Error::io("locking the lock file", error)),
        }
    }
}

fn slot_at(index: usize) -> usize {
    SLOTS_AT + index * SLOT_SIZE
}

fn flock_request(kind: LockKind, byte: u64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct of integers; all zeros is a valid value (and OFD locks
    // require l_pid to be 0).
    let mut request: libc::flock = unsafe { std::mem::zeroed() };
    request.l_type = match kind {
        LockKind::Read => libc::F_RDLCK,
        LockKind::Write => libc::F_WRLCK,
        LockKind::Unlock => libc::F_UNLCK,
    } as libc::c_short;
    request.l_whence = libc::SEEK_SET as libc::c_short;
    request.l_start = byte as libc::off_t;
    request.l_len = 1;
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_file(dir: &Path) -> LockFile {
        let mut lock = LockFile::open(&dir.join("t-lock")).unwrap();
        assert!(lock.try_alone().unwrap());
        lock.initialize((1, 2)).unwrap();
        lock.mark_ready().unwrap();
        lock.share_presence().unwrap();
        lock
    }

    #[test]
    fn a_publisher_killed_half_way_leaves_the_previous_state_readable() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_file(dir.path());
        assert_eq!(lock.data_identity(), (1, 2));
        let words = [7, 4096, 3, 4, 10, 2, 99, 4096, 5, 0, 0xdb, 1];
        lock.publish_meta(words);
        assert_eq!(lock.load_meta(), Some(words));
        let next = [8, 4096, 5, 6, 12, 1, 99, 4200, 5, 0, 0xdb, 0];
        lock.publish_meta(next);
        assert_eq!(lock.load_meta(), Some(next));
        // A publisher killed while writing the spare copy: its seq stays odd and its words
        // half-written, but `current` still names the whole copy.
        let current = lock.word(CURRENT_AT).load(Ordering::SeqCst) as usize;
        let spare = COPIES_AT + (1 - current) * COPY_SIZE;
        let seq = lock.word(spare).load(Ordering::SeqCst);
        lock.word(spare).store(seq | 1, Ordering::SeqCst);
        lock.word(spare + 8).store(12345, Ordering::SeqCst);
        assert_eq!(
            lock.load_meta(),
            Some(next),
            "readers never wait for a dead publisher"
        );
        lock.publish_meta(words); // the next publish rewrites the torn copy
        assert_eq!(lock.load_meta(), Some(words));
    }

    #[test]
    fn poison_is_recorded_once_and_seen() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock_file(dir.path());
        assert_eq!(lock.poisoned_by(), None);
        lock.set_poisoned(41);
        lock.set_poisoned(42); // the first failure is the one reported
        assert_eq!(lock.poisoned_by(), Some(41));
    }
}
