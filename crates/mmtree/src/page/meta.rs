//! The two meta pages (pages 0 and 1).
//!
//! ```text
//! 0          8         12        16        24            32             40           48          56        64       68
//! +----------+---------+---------+---------+-------------+--------------+------------+-----------+---------+--------+
//! | magic    | version | pg size | txn id  | catalog root| freelist root| page count | free pages| log salt| crc32c |
//! +----------+---------+---------+---------+-------------+--------------+------------+-----------+---------+--------+
//! ```
//!
//! A meta page is written only by a **checkpoint** (format 2): after every page it names was
//! synced, synchronously, so every meta page in a version-2 file is durable. Commits between
//! checkpoints live in the redo log (`log`); *log salt* names the log generation that follows
//! this checkpoint: only log records carrying it are replayed on top of it (a record of an older
//! generation, of another database, or of a writer that died before publishing it carries
//! another salt). A checkpoint writes into the slot that does not hold the newest meta page, so
//! that one is never overwritten before a newer one is durable; on open the valid meta with the
//! larger txn id wins, so a torn meta write falls back to the previous checkpoint, whose log
//! records are still in the log.
//!
//! Bytes 68..84 (since December 2026, still format 3) extend it under a checksum of their own:
//!
//! ```text
//! 68          76      80       84
//! +-----------+-------+--------+
//! | db id     | flags | crc32c | (crc32c of bytes 0..80)
//! +-----------+-------+--------+
//! ```
//!
//! *db id* names the database (random, chosen at creation or at the first checkpoint of a file
//! that had none); its log carries the same id in its header, so a log of another database is
//! recognised. *flags* bit 0, *closed cleanly*: written only by the last process to close the
//! database, after its log was checkpointed — nothing after this state is in the log, so the data
//! file is complete without it. A commit never builds a log record on such a state (it
//! checkpoints, which clears the flag), so a meta page without the flag says the log may hold
//! commits, and an open refuses to go on without that log. A page whose extension fails its
//! checksum (all zero, as older builds wrote it) has db id 0 and no flags: unknown, and opened as
//! before. The rest of the page is zero.
//!
//! Format 1 (older builds) had no log and used word 56 for *weak*: 0 for a steady meta page,
//! else the hashed boot id of the system that wrote it without a sync (`Durability::Eventual`
//! then), trusted only in that boot. Such files are still read; their first checkpoint writes
//! format 2.

use super::{read_u32, read_u64, write_u32, write_u64};

/// "\x89MMTREE\n": a non-ASCII first byte and a newline, like PNG's signature, so text tools and
/// line-ending conversions are caught.
pub(crate) const MAGIC: [u8; 8] = *b"\x89MMTREE\n";
/// The file format version this build writes (and the only one it opens): 3, tree pages with
/// key heads and pages edited in place (`page` module docs).
pub(crate) const FORMAT_VERSION: u32 = 3;
/// The oldest format version `upgrade` converts: 1 (no redo log, weak meta pages; format 2 added
/// the log). Both have the same tree pages (`upgrade::legacy`).
pub(crate) const FORMAT_VERSION_LEGACY_MIN: u32 = 1;

const MAGIC_AT: usize = 0;
const VERSION_AT: usize = MAGIC_AT + 8;
const PAGE_SIZE_AT: usize = VERSION_AT + 4;
const TXN_AT: usize = PAGE_SIZE_AT + 4;
const CATALOG_ROOT_AT: usize = TXN_AT + 8;
const FREELIST_ROOT_AT: usize = CATALOG_ROOT_AT + 8;
const PAGE_COUNT_AT: usize = FREELIST_ROOT_AT + 8;
const FREE_PAGES_AT: usize = PAGE_COUNT_AT + 8;
/// Format 2: the log salt. Format 1: the weak boot id.
const WEAK_AT: usize = FREE_PAGES_AT + 8;
const META_CHECKSUM_AT: usize = WEAK_AT + 8;
/// Bytes of a meta page that older builds read and check.
pub(crate) const META_SIZE: usize = META_CHECKSUM_AT + 4;
const _: () = assert!(META_SIZE == 68);
/// The extension (see the module docs).
const DB_ID_AT: usize = META_SIZE;
const FLAGS_AT: usize = DB_ID_AT + 8;
const EXTENSION_CHECKSUM_AT: usize = FLAGS_AT + 4;
const META_EXTENDED_SIZE: usize = EXTENSION_CHECKSUM_AT + 4;
const _: () = assert!(META_EXTENDED_SIZE == 84);
const FLAG_CLOSED_CLEANLY: u32 = 1;

/// The committed state a meta page describes. Page id 0 means "empty tree" (page 0 is a meta page,
/// never a tree page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Meta {
    pub page_size: u32,
    pub txn_id: u64,
    pub catalog_root: u64,
    pub freelist_root: u64,
    /// Pages in use by this state, meta pages included: every page id it references is below this.
    pub page_count: u64,
    /// Pages recorded in the freelist tree (pending and reusable).
    pub free_pages: u64,
    /// Format 1 only: 0 for steady (durable); else the hashed boot id of the system that wrote
    /// it unsynced. Always 0 in what this build writes.
    pub weak_boot: u64,
    /// The redo log generation that follows this state (format 2; 0 in a format-1 file).
    pub log_salt: u64,
    /// The database's id (0: unknown, a meta page written by an older build).
    pub db_id: u64,
    /// Written by the last process to close the database: the log holds nothing after it.
    pub closed_cleanly: bool,
}

/// What decoding one meta page found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum MetaRead {
    Valid(Meta),
    /// No mmtree signature: not our file (or zeroed).
    NoMagic,
    /// Our signature, but written by another format version.
    Version(u32),
    /// Our signature, but the checksum or a field is wrong: a torn or damaged write.
    Damaged(&'static str),
}

impl Meta {
    /// The state of a new database: commit 0, no trees, just the two meta pages.
    pub(crate) fn created(page_size: u32) -> Meta {
        Meta {
            page_size,
            txn_id: 0,
            catalog_root: 0,
            freelist_root: 0,
            page_count: 2,
            free_pages: 0,
            weak_boot: 0,
            log_salt: 0,
            db_id: 0,
            closed_cleanly: false,
        }
    }

    /// Written after a sync of every page it names.
    pub(crate) fn is_steady(&self) -> bool {
        self.weak_boot == 0
    }

    pub(crate) fn encode(&self, out: &mut [u8]) {
        out[..META_SIZE].fill(0);
        out[MAGIC_AT..MAGIC_AT + 8].copy_from_slice(&MAGIC);
        write_u32(out, VERSION_AT, FORMAT_VERSION);
        write_u32(out, PAGE_SIZE_AT, self.page_size);
        write_u64(out, TXN_AT, self.txn_id);
        write_u64(out, CATALOG_ROOT_AT, self.catalog_root);
        write_u64(out, FREELIST_ROOT_AT, self.freelist_root);
        write_u64(out, PAGE_COUNT_AT, self.page_count);
        write_u64(out, FREE_PAGES_AT, self.free_pages);
        debug_assert_eq!(self.weak_boot, 0, "format 2 writes only durable meta pages");
        write_u64(out, WEAK_AT, self.log_salt);
        let sum = crc32c::crc32c(&out[..META_CHECKSUM_AT]);
        write_u32(out, META_CHECKSUM_AT, sum);
        out[META_SIZE..META_EXTENDED_SIZE].fill(0);
        write_u64(out, DB_ID_AT, self.db_id);
        let flags = if self.closed_cleanly {
            FLAG_CLOSED_CLEANLY
        } else {
            0
        };
        write_u32(out, FLAGS_AT, flags);
        let sum = crc32c::crc32c(&out[..EXTENSION_CHECKSUM_AT]);
        write_u32(out, EXTENSION_CHECKSUM_AT, sum);
    }

    /// Decodes a meta page; `bytes` may be shorter than a page (a truncated file).
    pub(crate) fn decode(bytes: &[u8]) -> MetaRead {
        if bytes.len() < 8 || bytes[MAGIC_AT..MAGIC_AT + 8] != MAGIC {
            return MetaRead::NoMagic;
        }
        if bytes.len() < META_SIZE {
            return MetaRead::Damaged("meta page is cut short");
        }
        let stored = read_u32(bytes, META_CHECKSUM_AT);
        if crc32c::crc32c(&bytes[..META_CHECKSUM_AT]) != stored {
            return MetaRead::Damaged("meta page checksum mismatch");
        }
        let version = read_u32(bytes, VERSION_AT);
        if version != FORMAT_VERSION {
            return MetaRead::Version(version);
        }
        Self::decode_fields(bytes, version)
    }

    /// A meta page of format 1 or 2 (for `upgrade`), checked like a current one.
    pub(crate) fn decode_legacy(bytes: &[u8]) -> Option<Meta> {
        if bytes.len() < META_SIZE || bytes[MAGIC_AT..MAGIC_AT + 8] != MAGIC {
            return None;
        }
        let stored = read_u32(bytes, META_CHECKSUM_AT);
        let version = read_u32(bytes, VERSION_AT);
        if crc32c::crc32c(&bytes[..META_CHECKSUM_AT]) != stored
            || !(FORMAT_VERSION_LEGACY_MIN..FORMAT_VERSION).contains(&version)
        {
            return None;
        }
        match Self::decode_fields(bytes, version) {
            MetaRead::Valid(meta) => Some(meta),
            _ => None,
        }
    }

    fn decode_fields(bytes: &[u8], version: u32) -> MetaRead {
        let word = read_u64(bytes, WEAK_AT);
        let (weak_boot, log_salt) = match version {
            1 => (word, 0),
            _ => (0, word),
        };
        let meta = Meta {
            page_size: read_u32(bytes, PAGE_SIZE_AT),
            txn_id: read_u64(bytes, TXN_AT),
            catalog_root: read_u64(bytes, CATALOG_ROOT_AT),
            freelist_root: read_u64(bytes, FREELIST_ROOT_AT),
            page_count: read_u64(bytes, PAGE_COUNT_AT),
            free_pages: read_u64(bytes, FREE_PAGES_AT),
            weak_boot,
            log_salt,
            db_id: 0,
            closed_cleanly: false,
        };
        let meta = match bytes.get(..META_EXTENDED_SIZE) {
            Some(extended)
                if version == FORMAT_VERSION
                    && read_u32(extended, EXTENSION_CHECKSUM_AT)
                        == crc32c::crc32c(&extended[..EXTENSION_CHECKSUM_AT]) =>
            {
                Meta {
                    db_id: read_u64(extended, DB_ID_AT),
                    closed_cleanly: read_u32(extended, FLAGS_AT) & FLAG_CLOSED_CLEANLY != 0,
                    ..meta
                }
            }
            _ => meta,
        };
        match meta.check() {
            Ok(()) => MetaRead::Valid(meta),
            Err(reason) => MetaRead::Damaged(reason),
        }
    }

    /// The rules every meta (from a meta page or from the lock file) must keep before anything
    /// is sized or read by it.
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let page_size = self.page_size as usize;
        if !page_size.is_power_of_two()
            || !(crate::limits::PAGE_SIZE_MIN..=crate::limits::PAGE_SIZE_MAX).contains(&page_size)
        {
            return Err("meta page has an invalid page size");
        }
        // A file of at most 2^63 bytes: page_count * page_size never overflows, and txn ids
        // leave room to count up.
        if self.page_count < 2
            || self.page_count > (1u64 << 63) / page_size as u64
            || self.txn_id >= 1u64 << 62
            || self.catalog_root >= self.page_count
            || self.freelist_root >= self.page_count
            || self.catalog_root == 1
            || self.freelist_root == 1
            || self.free_pages > self.page_count
        {
            return Err("meta page fields are out of range");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_detects_damage() {
        let meta = Meta {
            page_size: 4096,
            txn_id: 7,
            catalog_root: 5,
            freelist_root: 9,
            page_count: 12,
            free_pages: 3,
            weak_boot: 0,
            log_salt: 0x5a17,
            db_id: 0xdb,
            closed_cleanly: true,
        };
        let mut page = vec![0u8; 4096];
        meta.encode(&mut page);
        assert_eq!(Meta::decode(&page), MetaRead::Valid(meta));
        // A page as older builds wrote it (no extension): unknown id, not closed cleanly.
        let mut old = page.clone();
        old[DB_ID_AT..META_EXTENDED_SIZE].fill(0);
        let legacy = Meta {
            db_id: 0,
            closed_cleanly: false,
            ..meta
        };
        assert_eq!(Meta::decode(&old), MetaRead::Valid(legacy));
        // A damaged extension is ignored the same way, never trusted.
        let mut torn = page.clone();
        torn[FLAGS_AT] ^= 2;
        assert_eq!(Meta::decode(&torn), MetaRead::Valid(legacy));
        page[TXN_AT] ^= 1;
        assert!(matches!(Meta::decode(&page), MetaRead::Damaged(_)));
        assert_eq!(Meta::decode(&[0u8; 4096]), MetaRead::NoMagic);
    }
}
