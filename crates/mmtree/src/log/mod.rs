//! The redo log (`<database>-log`): one record per commit, so a durable commit costs one small
//! sequential append and one `fdatasync` of the log, not a sync of every tree page it wrote.
//!
//! ```text
//! file:    0                          16      24       28         4096
//!          +--------+---------+--------+-------+--------+- - -+----------+----------+- - -
//!          | magic  | version | crc32c | db id | crc32c | zero| record   | record   | ...
//!          | 8 B    | u32     | u32    | u64   | u32    |     |          |          |
//!          +--------+---------+--------+-------+--------+- - -+----------+----------+- - -
//!          (db id: the database's id, as its meta pages carry it, under a checksum of its own
//!          over bytes 0..24; zero in a log created by an older build: unknown)
//! record:  0        4        8        16       24            28         32
//!          +--------+--------+--------+--------+-------------+----------+--------------+
//!          | crc32c | "MMTR" | salt   | txn id | payload len | op count | payload ...  |
//!          +--------+--------+--------+--------+-------------+----------+--------------+
//! payload: ops, each a tag byte then its fields (lengths little-endian):
//!          1 table       u16 name len, name       (opens or creates the table; later ops use it)
//!          2 put         u32 key len, key, u32 value len, value
//!          3 remove      u32 key len, key
//!          4 drop table  u16 name len, name
//! ```
//!
//! The checksum covers bytes 4 .. 32 + payload len. Records follow each other with no gaps. A
//! record is *valid* on top of a checkpoint (a meta page) when its checksum holds, its salt is
//! the checkpoint's log salt and its txn id is one more than the state before it. Recovery
//! replays valid records in order and stops at the first that is not (a torn tail, an older
//! generation the next checkpoint left behind, a foreign record): never past it. Each
//! checkpoint picks a new salt and starts the log over at 4096, so the file is reused, not grown.
//!
//! Invariants:
//! - the log is appended only by the writer, at the published log end (see `lock`);
//! - a record is in the page cache before its commit is published, and synced before an
//!   `Immediate` commit returns;
//! - the file is extended with written zeros (not `fallocate`), so appends below its length
//!   change no metadata and their `fdatasync` writes only the data.

use crate::error::{Error, Result};
use crate::storage::observe::{IoFile, ObserverHandle};
use crate::storage::Poison;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Where the first record starts.
pub(crate) const RECORDS_AT: u64 = 4096;
const MAGIC: [u8; 8] = *b"\x89MMTLOG\n";
const VERSION: u32 = 1;
const HEADER_CRC_AT: usize = 12;
const HEADER_DB_ID_AT: usize = 16;
const HEADER_DB_ID_CRC_AT: usize = 24;
const HEADER_SIZE: usize = HEADER_DB_ID_CRC_AT + 4;
pub(crate) const RECORD_HEADER: usize = 32;
const RECORD_MAGIC: [u8; 4] = *b"MMTR";
/// The largest record: its payload length must fit the header's u32.
pub(crate) const RECORD_SIZE_MAX: usize = RECORD_HEADER + u32::MAX as usize;
const CRC_AT: usize = 0;
const RECORD_MAGIC_AT: usize = 4;
const SALT_AT: usize = 8;
const TXN_AT: usize = 16;
const PAYLOAD_LEN_AT: usize = 24;
const OPS_AT: usize = 28;
const _: () = assert!(OPS_AT + 4 == RECORD_HEADER);

const OP_TABLE: u8 = 1;
const OP_PUT: u8 = 2;
const OP_REMOVE: u8 = 3;
const OP_DROP_TABLE: u8 = 4;

/// The smallest step the log file grows by.
const GROW_MIN: u64 = 1 << 20;

/// One logical change, as a record holds it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Op<'a> {
    Table(&'a str),
    Put(&'a [u8], &'a [u8]),
    Remove(&'a [u8]),
    DropTable(&'a str),
}

/// The record a write transaction builds as it goes: its header is filled in at commit.
pub(crate) struct RedoBuf {
    bytes: Vec<u8>,
    ops: u32,
    /// The table the last op named (ops name a table only when it changes).
    table: Option<String>,
    max: usize,
}

impl RedoBuf {
    /// A record that may grow to `max` bytes, and never past `RECORD_SIZE_MAX` (its payload
    /// length is a u32): a commit that would log more becomes a checkpoint.
    pub(crate) fn new(max: usize) -> RedoBuf {
        RedoBuf {
            bytes: vec![0u8; RECORD_HEADER],
            ops: 0,
            table: None,
            max: max.min(RECORD_SIZE_MAX),
        }
    }

    /// The record's length so far (header included).
    pub(crate) fn len(&self) -> usize {
        self.bytes.len()
    }

    fn room(&self, extra: usize) -> bool {
        self.bytes.len().saturating_add(extra) <= self.max && self.ops < u32::MAX
    }

    /// Logs `table()`: the table exists from here on, and later ops are on it. False: the
    /// record would outgrow its budget (the commit then becomes a checkpoint).
    #[must_use]
    pub(crate) fn table(&mut self, name: &str) -> bool {
        if self.table.as_deref() == Some(name) {
            return true;
        }
        if !self.room(3 + name.len()) {
            return false;
        }
        self.push_name(OP_TABLE, name);
        self.table = Some(name.to_string());
        true
    }

    #[must_use]
    pub(crate) fn put(&mut self, table: &str, key: &[u8], value: &[u8]) -> bool {
        if !self.table(table) || !self.room(9 + key.len() + value.len()) {
            return false;
        }
        self.bytes.push(OP_PUT);
        push_bytes(&mut self.bytes, key);
        push_bytes(&mut self.bytes, value);
        self.ops += 1;
        true
    }

    #[must_use]
    pub(crate) fn remove(&mut self, table: &str, key: &[u8]) -> bool {
        if !self.table(table) || !self.room(5 + key.len()) {
            return false;
        }
        self.bytes.push(OP_REMOVE);
        push_bytes(&mut self.bytes, key);
        self.ops += 1;
        true
    }

    #[must_use]
    pub(crate) fn drop_table(&mut self, name: &str) -> bool {
        if !self.room(3 + name.len()) {
            return false;
        }
        self.push_name(OP_DROP_TABLE, name);
        self.table = None;
        true
    }

    fn push_name(&mut self, tag: u8, name: &str) {
        debug_assert!(name.len() <= usize::from(u16::MAX));
        self.bytes.push(tag);
        self.bytes
            .extend_from_slice(&(name.len() as u16).to_le_bytes());
        self.bytes.extend_from_slice(name.as_bytes());
        self.ops += 1;
    }

    /// The finished record of commit `txn` in log generation `salt`.
    pub(crate) fn seal(&mut self, salt: u64, txn: u64) -> &[u8] {
        let payload = u32::try_from(self.bytes.len() - RECORD_HEADER)
            .expect("a record never outgrows RECORD_SIZE_MAX (RedoBuf::room)");
        let b = &mut self.bytes;
        b[RECORD_MAGIC_AT..RECORD_MAGIC_AT + 4].copy_from_slice(&RECORD_MAGIC);
        b[SALT_AT..SALT_AT + 8].copy_from_slice(&salt.to_le_bytes());
        b[TXN_AT..TXN_AT + 8].copy_from_slice(&txn.to_le_bytes());
        b[PAYLOAD_LEN_AT..PAYLOAD_LEN_AT + 4].copy_from_slice(&payload.to_le_bytes());
        b[OPS_AT..OPS_AT + 4].copy_from_slice(&self.ops.to_le_bytes());
        let sum = crc32c::crc32c(&b[RECORD_MAGIC_AT..]);
        b[CRC_AT..CRC_AT + 4].copy_from_slice(&sum.to_le_bytes());
        &self.bytes
    }
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// What a record header says, before its payload is read.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordHeader {
    pub txn: u64,
    pub payload_len: u64,
    crc: u32,
}

impl RecordHeader {
    /// The record's whole length.
    pub(crate) fn len(&self) -> u64 {
        RECORD_HEADER as u64 + self.payload_len
    }
}

/// Parses a record header; `None` if it cannot begin a valid record of generation `salt`.
pub(crate) fn parse_header(bytes: &[u8], salt: u64) -> Option<RecordHeader> {
    let bytes = bytes.get(..RECORD_HEADER)?;
    let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let half = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if bytes[RECORD_MAGIC_AT..RECORD_MAGIC_AT + 4] != RECORD_MAGIC || word(SALT_AT) != salt {
        return None;
    }
    Some(RecordHeader {
        txn: word(TXN_AT),
        payload_len: u64::from(half(PAYLOAD_LEN_AT)),
        crc: half(CRC_AT),
    })
}

/// True if `record` (header and payload) passes its checksum.
pub(crate) fn record_intact(header: &RecordHeader, record: &[u8]) -> bool {
    record.len() as u64 == header.len() && crc32c::crc32c(&record[RECORD_MAGIC_AT..]) == header.crc
}

/// The ops of a record's payload, checked as they are read (a log is untrusted input).
pub(crate) fn ops(payload: &[u8]) -> OpIter<'_> {
    OpIter { rest: payload }
}

pub(crate) struct OpIter<'a> {
    rest: &'a [u8],
}

impl<'a> OpIter<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.rest.len() < len {
            return Err(bad_record("an op runs past the end of its record"));
        }
        let (head, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(head)
    }

    fn len_u32(&mut self) -> Result<usize> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")) as usize)
    }

    fn name(&mut self) -> Result<&'a str> {
        let bytes = self.take(2)?;
        let len = usize::from(u16::from_le_bytes(bytes.try_into().expect("2 bytes")));
        std::str::from_utf8(self.take(len)?).map_err(|_| bad_record("a table name is not UTF-8"))
    }

    fn next_op(&mut self) -> Result<Op<'a>> {
        let tag = self.take(1)?[0];
        Ok(match tag {
            OP_TABLE => Op::Table(self.name()?),
            OP_PUT => {
                let key_len = self.len_u32()?;
                let key = self.take(key_len)?;
                let value_len = self.len_u32()?;
                Op::Put(key, self.take(value_len)?)
            }
            OP_REMOVE => {
                let key_len = self.len_u32()?;
                Op::Remove(self.take(key_len)?)
            }
            OP_DROP_TABLE => Op::DropTable(self.name()?),
            other => return Err(bad_record(format!("unknown op tag {other}"))),
        })
    }
}

impl<'a> Iterator for OpIter<'a> {
    type Item = Result<Op<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let op = self.next_op();
        if op.is_err() {
            self.rest = &[];
        }
        Some(op)
    }
}

fn bad_record(reason: impl Into<String>) -> Error {
    Error::corrupted(0, format!("redo log record: {}", reason.into()))
}

/// A record found by [`RedoLog::scan`].
pub(crate) struct Record {
    pub txn: u64,
    /// Where it starts in the log.
    pub offset: u64,
    pub bytes: Vec<u8>,
}

impl Record {
    pub(crate) fn payload(&self) -> &[u8] {
        &self.bytes[RECORD_HEADER..]
    }

    pub(crate) fn end(&self) -> u64 {
        self.offset + self.bytes.len() as u64
    }
}

/// A new log salt: never 0 (the salt of format-1 files, which have no log).
pub(crate) fn new_salt() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.finish().max(1)
}

/// The log file of one open database.
pub(crate) struct RedoLog {
    file: File,
    /// Bytes of the file known to exist (written zeros or records): appends below need no
    /// metadata change.
    prepared: AtomicU64,
    /// Records were appended since the last sync (by this process).
    unsynced: AtomicBool,
    poisoned: Poison,
    observer: Option<ObserverHandle>,
    /// Syncs of the log by this process.
    syncs: AtomicU64,
    /// How long this process's last checkpoint took (ns).
    last_checkpoint_ns: AtomicU64,
    /// The database id its header names (0: none, a log of an older build).
    db_id: AtomicU64,
}

impl RedoLog {
    /// Opens the log at `path`, creating it (with its header naming `db_id`) if missing or if
    /// `fresh` (a new database: a log left beside it belongs to nothing). Read-only: `None` if
    /// there is none. (Whether a missing log may be created is the opener's to decide first.)
    pub(crate) fn open(
        path: &Path,
        read_only: bool,
        fresh: bool,
        db_id: u64,
        observer: Option<ObserverHandle>,
    ) -> Result<Option<RedoLog>> {
        let file = match read_only {
            true => match OpenOptions::new().read(true).open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::io("opening the redo log", e)),
            },
            false => OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)
                .map_err(|e| Error::io("opening the redo log", e))?,
        };
        let len = file
            .metadata()
            .map_err(|e| Error::io("reading the redo log size", e))?
            .len();
        let log = RedoLog {
            file,
            prepared: AtomicU64::new(len),
            unsynced: AtomicBool::new(false),
            poisoned: Poison::default(),
            observer,
            syncs: AtomicU64::new(0),
            last_checkpoint_ns: AtomicU64::new(0),
            db_id: AtomicU64::new(0),
        };
        let mut header = [0u8; HEADER_SIZE];
        let read = log.file.read_at(&mut header, 0).unwrap_or(0);
        let intact = read >= 16 && header_valid(&header[..16]);
        if !intact {
            // A new log, or one whose creation was cut short (shorter than its header page, or
            // all zero there), or a new database's: (re)created. Anything else is refused.
            let unborn = len <= RECORDS_AT && header.iter().all(|&b| b == 0)
                || len < RECORDS_AT && header[..8] == MAGIC;
            if !(fresh || len == 0 || unborn) {
                return Err(Error::BadLog {
                    path: path.to_path_buf(),
                    reason: describe_header(&header[..read]),
                });
            }
            if read_only {
                return Ok(None);
            }
            log.create(path, db_id)?;
        } else if fresh && !read_only {
            log.create(path, db_id)?;
        } else if read == HEADER_SIZE
            && u32::from_le_bytes(header[HEADER_DB_ID_CRC_AT..].try_into().expect("4 bytes"))
                == crc32c::crc32c(&header[..HEADER_DB_ID_CRC_AT])
        {
            let id = u64::from_le_bytes(
                header[HEADER_DB_ID_AT..HEADER_DB_ID_CRC_AT]
                    .try_into()
                    .expect("8 bytes"),
            );
            log.db_id.store(id, Ordering::Release);
        }
        Ok(Some(log))
    }

    /// Writes a new log at `path` (replacing any file there) for database `db_id`, holding
    /// `records` after its header, and syncs it and its directory: a backup's buffered commits.
    pub(crate) fn write_new(path: &Path, db_id: u64, records: &[u8]) -> Result<()> {
        let mut bytes = header_page(db_id);
        bytes.extend_from_slice(records);
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| Error::io("creating the backup's redo log", e))?;
        file.write_all_at(&bytes, 0)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io("writing the backup's redo log", e))?;
        crate::storage::sync_parent_dir(path, None)
    }

    /// The database id the header names; `None` for a log of a build that wrote none.
    pub(crate) fn db_id(&self) -> Option<u64> {
        Some(self.db_id.load(Ordering::Acquire)).filter(|&id| id != 0)
    }

    /// Starts the log over for database `db_id`: a new header, no records. Only for a log that
    /// holds nothing to replay (another database's, or one after a clean close).
    pub(crate) fn recreate(&self, path: &Path, db_id: u64) -> Result<()> {
        self.create(path, db_id)
    }

    /// Writes the header and syncs it (the directory entry is synced by the caller).
    fn create(&self, path: &Path, db_id: u64) -> Result<()> {
        let page = header_page(db_id);
        self.db_id.store(db_id, Ordering::Release);
        if let Some(observer) = &self.observer {
            observer.0.set_len(IoFile::Log, RECORDS_AT);
            observer.0.write(IoFile::Log, 0, &page);
        }
        self.file
            .set_len(RECORDS_AT)
            .and_then(|()| self.file.write_all_at(&page, 0))
            .map_err(|e| Error::io("creating the redo log", e))?;
        self.prepared.store(RECORDS_AT, Ordering::Release);
        self.sync()?;
        // A log created beside an existing database (format 1, or a log moved away) must keep
        // its name through a power loss, or the commits it will hold go with it.
        crate::storage::sync_parent_dir(path, self.observer.as_ref())
    }

    /// Appends `bytes` at `offset` (the published log end), growing the file first if needed.
    pub(crate) fn append(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.check_poisoned()?;
        debug_assert!(offset >= RECORDS_AT);
        let end = offset + bytes.len() as u64;
        self.prepare(end)?;
        if let Some(observer) = &self.observer {
            observer.0.write(IoFile::Log, offset, bytes);
        }
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT | libc::EFBIG) => Error::StorageFull {
                    file: "redo log",
                    wanted_bytes: end,
                    source: e,
                },
                _ => Error::io("appending to the redo log", e),
            })?;
        self.unsynced.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes the file at least `end` bytes long, with written zeros (so later appends below it
    /// change no metadata), in steps of at least a MiB.
    fn prepare(&self, end: u64) -> Result<()> {
        if end <= self.prepared.load(Ordering::Acquire) {
            return Ok(());
        }
        // Another process may have grown it already.
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("reading the redo log size", e))?
            .len();
        if end <= len {
            self.prepared.store(len, Ordering::Release);
            return Ok(());
        }
        let mut target = end.max(len + (len / 4).clamp(GROW_MIN, 64 << 20));
        // A file-size limit (RLIMIT_FSIZE) is checked first: crossing it would raise SIGXFSZ.
        if let Some(limit) = rustix::process::getrlimit(rustix::process::Resource::Fsize).current {
            target = target.min(limit);
            if target < end {
                return Err(Error::StorageFull {
                    file: "redo log",
                    wanted_bytes: end,
                    source: io::Error::from_raw_os_error(libc::EFBIG),
                });
            }
        }
        let zeros = vec![0u8; GROW_MIN as usize];
        let mut at = len;
        while at < target {
            let n = (target - at).min(GROW_MIN) as usize;
            if let Some(observer) = &self.observer {
                observer.0.write(IoFile::Log, at, &zeros[..n]);
            }
            self.file
                .write_all_at(&zeros[..n], at)
                .map_err(|e| Error::StorageFull {
                    file: "redo log",
                    wanted_bytes: target,
                    source: e,
                })?;
            at += n as u64;
        }
        self.prepared.store(target, Ordering::Release);
        Ok(())
    }

    /// `fdatasync` of the log, if anything was appended since the last one. A failure poisons
    /// the handle (never retry a failed fsync). True if it synced.
    pub(crate) fn sync_if_needed(&self) -> Result<bool> {
        if !self.unsynced.swap(false, Ordering::AcqRel) {
            return Ok(false);
        }
        self.sync()?;
        Ok(true)
    }

    /// `fdatasync` of the log. A failure poisons the handle.
    pub(crate) fn sync(&self) -> Result<()> {
        self.check_poisoned()?;
        self.unsynced.store(false, Ordering::Release);
        if let Some(observer) = &self.observer {
            observer.0.sync(IoFile::Log);
        }
        self.syncs.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = rustix::fs::fdatasync(&self.file) {
            let reason = format!("fdatasync of the redo log failed: {error}");
            self.poisoned.set(reason);
            return Err(Error::io("fdatasync of the redo log", error.into()));
        }
        Ok(())
    }

    pub(crate) fn check_poisoned(&self) -> Result<()> {
        self.poisoned.check()
    }

    /// Reads the record at `offset` if it is a valid record of generation `salt` with id `txn`.
    pub(crate) fn record_at(&self, offset: u64, salt: u64, txn: u64) -> Result<Option<Record>> {
        self.record_within(offset, salt, txn, self.len()?)
    }

    /// `record_at` for a log of `len` bytes.
    fn record_within(&self, offset: u64, salt: u64, txn: u64, len: u64) -> Result<Option<Record>> {
        let mut head = [0u8; RECORD_HEADER];
        if !self.read_fully(offset, &mut head)? {
            return Ok(None);
        }
        let Some(header) = parse_header(&head, salt) else {
            return Ok(None);
        };
        if header.txn != txn {
            return Ok(None);
        }
        if offset.saturating_add(header.len()) > len {
            return Ok(None); // claims more than the file holds: torn
        }
        let mut bytes = vec![0u8; header.len() as usize];
        if !self.read_fully(offset, &mut bytes)? || !record_intact(&header, &bytes) {
            return Ok(None);
        }
        Ok(Some(Record { txn, offset, bytes }))
    }

    /// The valid records after a checkpoint at `txn` with log generation `salt`, in order,
    /// from the start of the log up to the first that is not valid.
    pub(crate) fn scan(&self, salt: u64, txn: u64) -> Result<Vec<Record>> {
        let mut records = Vec::new();
        let mut offset = RECORDS_AT;
        let mut next = txn + 1;
        let len = self.len()?;
        while let Some(record) = self.record_within(offset, salt, next, len)? {
            offset = record.end();
            next += 1;
            records.push(record);
        }
        Ok(records)
    }

    /// After a checkpoint (every record obsolete): if the file is longer than `max` bytes, cuts
    /// it back to its header. Other processes that believed it longer simply extend it again.
    pub(crate) fn shrink_if_over(&self, max: u64) -> Result<()> {
        if self.len()? <= max {
            return Ok(());
        }
        if let Some(observer) = &self.observer {
            observer.0.set_len(IoFile::Log, RECORDS_AT);
        }
        self.file
            .set_len(RECORDS_AT)
            .map_err(|e| Error::io("shortening the redo log", e))?;
        self.prepared.store(RECORDS_AT, Ordering::Release);
        Ok(())
    }

    /// (syncs of the log by this process, duration of its last checkpoint).
    pub(crate) fn counters(&self) -> (u64, std::time::Duration) {
        (
            self.syncs.load(Ordering::Relaxed),
            std::time::Duration::from_nanos(self.last_checkpoint_ns.load(Ordering::Relaxed)),
        )
    }

    pub(crate) fn note_checkpoint(&self, took: std::time::Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_checkpoint_ns.store(ns, Ordering::Relaxed);
    }

    fn len(&self) -> Result<u64> {
        Ok(self
            .file
            .metadata()
            .map_err(|e| Error::io("reading the redo log size", e))?
            .len())
    }

    fn read_fully(&self, offset: u64, buf: &mut [u8]) -> Result<bool> {
        match self.file.read_exact_at(buf, offset) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(Error::io("reading the redo log", e)),
        }
    }
}

/// The log's first page: magic, version, their checksum, the database id and its checksum.
fn header_page(db_id: u64) -> Vec<u8> {
    let mut page = vec![0u8; RECORDS_AT as usize];
    page[..8].copy_from_slice(&MAGIC);
    page[8..12].copy_from_slice(&VERSION.to_le_bytes());
    let sum = crc32c::crc32c(&page[..HEADER_CRC_AT]);
    page[HEADER_CRC_AT..HEADER_CRC_AT + 4].copy_from_slice(&sum.to_le_bytes());
    page[HEADER_DB_ID_AT..HEADER_DB_ID_CRC_AT].copy_from_slice(&db_id.to_le_bytes());
    let sum = crc32c::crc32c(&page[..HEADER_DB_ID_CRC_AT]);
    page[HEADER_DB_ID_CRC_AT..HEADER_SIZE].copy_from_slice(&sum.to_le_bytes());
    page
}

fn header_valid(header: &[u8]) -> bool {
    header[..8] == MAGIC
        && u32::from_le_bytes(header[8..12].try_into().expect("4 bytes")) == VERSION
        && u32::from_le_bytes(header[12..16].try_into().expect("4 bytes"))
            == crc32c::crc32c(&header[..HEADER_CRC_AT])
}

fn describe_header(header: &[u8]) -> String {
    if header.len() < 8 || header[..8] != MAGIC {
        return "no mmtree log signature at its start".into();
    }
    if header.len() >= 12 {
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return format!("log format version {version}; this build reads version {VERSION}");
        }
    }
    "its header fails its checksum".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 23, item 8: with `Options::log_bytes` over 4 GiB, a record could grow past what its
    /// u32 payload length holds, and be written with a wrapped length that fails its checksum at
    /// replay (losing it and every later commit). A record never grows past `RECORD_SIZE_MAX`:
    /// the commit becomes a checkpoint instead.
    #[test]
    fn a_record_never_outgrows_its_u32_length() {
        let buf = RedoBuf::new(usize::MAX);
        assert!(buf.room(1 << 20));
        assert!(
            buf.room(u32::MAX as usize),
            "a payload of u32::MAX bytes is recordable"
        );
        assert!(!buf.room(u32::MAX as usize + 1), "one byte more is not");
    }

    #[test]
    fn records_round_trip_and_reject_damage() {
        let mut buf = RedoBuf::new(1 << 20);
        assert!(buf.table("a"));
        assert!(buf.put("a", b"k1", b"v1"));
        assert!(buf.remove("a", b"k0"));
        assert!(buf.put("b", b"k", b""));
        assert!(buf.drop_table("a"));
        let record = buf.seal(77, 5).to_vec();
        let header = parse_header(&record, 77).unwrap();
        assert_eq!(header.txn, 5);
        assert!(record_intact(&header, &record));
        let got: Vec<Op> = ops(&record[RECORD_HEADER..])
            .map(|op| op.unwrap())
            .collect();
        assert_eq!(
            got,
            vec![
                Op::Table("a"),
                Op::Put(b"k1", b"v1"),
                Op::Remove(b"k0"),
                Op::Table("b"),
                Op::Put(b"k", b""),
                Op::DropTable("a"),
            ]
        );
        assert!(parse_header(&record, 78).is_none(), "another generation");
        for at in [0, 9, 20, RECORD_HEADER + 3, record.len() - 1] {
            let mut torn = record.clone();
            torn[at] ^= 0x40;
            let ok = parse_header(&torn, 77).is_some_and(|h| record_intact(&h, &torn));
            assert!(!ok, "a flipped byte at {at} is caught");
        }
        // A payload that lies about its lengths is an error, never a panic.
        assert!(ops(&[OP_PUT, 0xff, 0xff, 0xff, 0x7f]).any(|op| op.is_err()));
        assert!(ops(&[9]).any(|op| op.is_err()));
    }

    #[test]
    fn a_record_stops_growing_at_its_budget() {
        let mut buf = RedoBuf::new(100);
        assert!(buf.put("t", b"k", &[0u8; 40]));
        assert!(!buf.put("t", b"k", &[0u8; 80]));
    }

    #[test]
    fn scan_stops_at_the_first_invalid_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x-log");
        let log = RedoLog::open(&path, false, true, 7, None).unwrap().unwrap();
        let mut offset = RECORDS_AT;
        for txn in 1..=3u64 {
            let mut buf = RedoBuf::new(1 << 20);
            assert!(buf.put("t", &txn.to_be_bytes(), b"value"));
            let record = buf.seal(9, txn).to_vec();
            log.append(offset, &record).unwrap();
            offset += record.len() as u64;
        }
        assert_eq!(log.scan(9, 0).unwrap().len(), 3);
        assert_eq!(log.scan(9, 1).unwrap().len(), 0, "txn 2 must come first");
        assert_eq!(log.scan(8, 0).unwrap().len(), 0, "another salt");
        let second = log.scan(9, 0).unwrap()[1].offset;
        log.file.write_all_at(&[0xee], second + 5).unwrap();
        assert_eq!(
            log.scan(9, 0).unwrap().len(),
            1,
            "a torn second record ends the log"
        );
        drop(log);
        std::fs::write(
            &path,
            b"not a log at all, but long enough to be something else",
        )
        .unwrap();
        assert!(matches!(
            RedoLog::open(&path, false, false, 7, None),
            Err(Error::BadLog { .. })
        ));
    }
}
