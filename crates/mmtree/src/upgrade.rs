//! Converting a file of an older format (1 or 2) to the current one: its tables are read with
//! the old page layout (`legacy`) and bulk-loaded into a new file; a format-2 file's redo-log
//! records after its last checkpoint are then replayed on top, so every commit the old file
//! held survives. The old file is only read.
//!
//! Formats 1 and 2 share their tree pages: a 24-byte header, `count` u16 cell offsets, then
//! cells packed from the end of the page; a leaf cell is flags u8 (1: overflow) | key length
//! u16 | stored value length u32 | key | value, a branch cell key length u16 | child u64 | key.
//! Overflow runs and the catalog's entries are unchanged in format 3.

use crate::db::Db;
use crate::error::{Error, Result};
use crate::options::Options;
use crate::page::meta::Meta;
use crate::page::{read_u16, read_u32, read_u64};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// What [`upgrade`] converted.
#[derive(Clone, Debug, Default)]
pub struct UpgradeReport {
    /// The old file's format version.
    pub from_version: u32,
    /// Tables copied.
    pub tables: u64,
    /// Entries copied from the old file's trees.
    pub entries: u64,
    /// Redo-log records (commits after the last checkpoint) replayed on top.
    pub log_records: u64,
}

/// Converts the database at `old` (format 1 or 2) into a new database at `new` (format 3),
/// which must not exist. Close every process that uses `old` first; `old` is only read. The
/// new file keeps the old one's page size, and is written under a temporary name beside `new`
/// and renamed to `new` only once it is complete and durable, so an upgrade that fails or is cut
/// short (a crash, a power loss) never leaves a file under that name: run it again.
pub fn upgrade(old: impl AsRef<Path>, new: impl AsRef<Path>) -> Result<UpgradeReport> {
    upgrade_with(old, new, Options::default())
}

/// [`upgrade`], opening the new database with `options` (its page size is the old file's).
pub fn upgrade_with(
    old: impl AsRef<Path>,
    new: impl AsRef<Path>,
    options: Options,
) -> Result<UpgradeReport> {
    let (old, new) = (old.as_ref(), new.as_ref());
    if std::fs::symlink_metadata(new).is_ok() {
        return Err(Error::InvalidOption(format!(
            "{} already exists; upgrade writes a new file",
            new.display()
        )));
    }
    // The old build kept its log beside the file the name leads to (symlinks resolved).
    let old =
        std::fs::canonicalize(old).map_err(|e| Error::io("opening the file to upgrade", e))?;
    let file = File::open(&old).map_err(|e| Error::io("opening the file to upgrade", e))?;
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading the file size", e))?
        .len();
    let (meta, version) = newest_legacy_meta(&file, &old)?;
    if meta.page_count.saturating_mul(meta.page_size as u64) > len {
        return Err(Error::Truncated {
            path: old.to_path_buf(),
            needed_bytes: meta.page_count * meta.page_size as u64,
            file_bytes: len,
        });
    }
    let staged = Staged::new(new);
    let result = convert(&file, &old, &meta, version, &staged.data, options);
    match result {
        Ok(report) => {
            staged.publish(new)?;
            Ok(report)
        }
        Err(error) => {
            staged.remove();
            Err(error)
        }
    }
}

/// The tables and the logged commits of the old file into a new database at `path`, closed
/// cleanly (its log then holds nothing).
fn convert(
    file: &File,
    old: &Path,
    meta: &Meta,
    version: u32,
    path: &Path,
    options: Options,
) -> Result<UpgradeReport> {
    let reader = legacy::Reader {
        file,
        page_size: meta.page_size as usize,
        page_count: meta.page_count,
    };
    let db = Db::open_with(path, options.page_size(meta.page_size as usize))?;
    let mut report = UpgradeReport {
        from_version: version,
        ..UpgradeReport::default()
    };
    let mut tables: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    if meta.catalog_root != 0 {
        reader.walk(
            meta.catalog_root,
            0,
            &mut Default::default(),
            &mut |key, value| {
                tables.push((key.to_vec(), value.to_vec()));
                Ok(())
            },
        )?;
    }
    for (name, entry) in tables {
        let name = String::from_utf8(name)
            .map_err(|_| Error::corrupted(meta.catalog_root, "a table name is not UTF-8"))?;
        let (root, _len) = crate::catalog::decode_table_entry(&entry)?;
        let mut w = db.begin_write()?;
        let mut loader = w.bulk_load(&name)?;
        if let Some(crate::btree::node::NodeRef::Page(root)) = root {
            reader.walk(root, 0, &mut Default::default(), &mut |key, value| {
                report.entries += 1;
                loader.append(key, value)
            })?;
        }
        loader.finish()?; // an empty table stays a table: `finish` names it in the catalog
        w.commit()?;
        report.tables += 1;
    }
    if version >= 2 && meta.log_salt != 0 {
        report.log_records = replay_log(&db, old, meta)?;
    }
    db.checkpoint()?;
    drop(db); // the last handle: a clean close
    Ok(report)
}

/// The new database under a temporary name beside where it goes: `<new>.partial-upgrade-<pid>`
/// (and its `-log` and `-lock`).
struct Staged {
    data: PathBuf,
}

impl Staged {
    fn new(new: &Path) -> Staged {
        let mut name = new.as_os_str().to_owned();
        name.push(format!(".partial-upgrade-{}", std::process::id()));
        let staged = Staged {
            data: PathBuf::from(name),
        };
        staged.remove(); // what a run of the same pid left
        staged
    }

    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = self.data.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    }

    fn remove(&self) {
        for path in [self.data.clone(), self.beside("-log"), self.beside("-lock")] {
            let _ = std::fs::remove_file(path);
        }
    }

    /// Moves the complete, closed database to `new`: the log first (a database closed cleanly
    /// needs none, and it is this database's), then the data file, without replacing anything
    /// there, then the directory is synced so the names survive a power loss.
    fn publish(&self, new: &Path) -> Result<()> {
        let mut new_log = new.as_os_str().to_owned();
        new_log.push("-log");
        let rename = |from: &Path, to: &Path| {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                from,
                rustix::fs::CWD,
                to,
                rustix::fs::RenameFlags::NOREPLACE,
            )
            .map_err(|e| Error::io("renaming the upgraded file into place", e.into()))
        };
        let published = rename(&self.beside("-log"), Path::new(&new_log))
            .or_else(|_| {
                std::fs::remove_file(self.beside("-log"))
                    .map_err(|e| Error::io("removing the upgraded file's log", e))
            })
            .and_then(|()| rename(&self.data, new))
            .and_then(|()| crate::storage::sync_parent_dir(new, None));
        if published.is_err() {
            self.remove();
        }
        let _ = std::fs::remove_file(self.beside("-lock"));
        published
    }
}

/// The newest valid meta page of a format-1 or format-2 file.
fn newest_legacy_meta(file: &File, path: &Path) -> Result<(Meta, u32)> {
    let mut first = vec![0u8; crate::limits::PAGE_SIZE_MIN];
    file.read_exact_at(&mut first, 0)
        .map_err(|e| Error::io("reading the meta pages", e))?;
    let mut found: Vec<(Meta, u32)> = Vec::new();
    let version_of = |bytes: &[u8]| read_u32(bytes, 8);
    if let Some(meta) = Meta::decode_legacy(&first) {
        found.push((meta, version_of(&first)));
    }
    let mut size = crate::limits::PAGE_SIZE_MIN;
    while size <= crate::limits::PAGE_SIZE_MAX {
        let mut second = vec![0u8; crate::limits::PAGE_SIZE_MIN];
        if file.read_exact_at(&mut second, size as u64).is_ok() {
            if let Some(meta) = Meta::decode_legacy(&second) {
                if meta.page_size as usize == size {
                    found.push((meta, version_of(&second)));
                    break;
                }
            }
        }
        size *= 2;
    }
    // A format-1 meta page written without a sync ("weak") is trusted only in the boot that
    // wrote it, as format 1 did; of the trusted ones, the newest.
    let boot = crate::options::boot_id();
    found.retain(|(meta, _)| meta.is_steady() || meta.weak_boot == boot);
    found.sort_by_key(|(meta, _)| meta.txn_id);
    if let Some(found) = found.pop() {
        return Ok(found);
    }
    // Not an old file: say what it is instead.
    let len = file.metadata().map_or(0, |m| m.len());
    Err(match crate::shared::read_meta(file, path, len, boot) {
        Ok(_) => Error::InvalidOption(format!(
            "{} is already format {}; it needs no upgrade",
            path.display(),
            crate::page::meta::FORMAT_VERSION
        )),
        Err(error @ (Error::UnsupportedVersion { .. } | Error::NotADatabase { .. })) => error,
        Err(_) => Error::InvalidOption(format!(
            "{} has no valid meta page of format 1 or 2 to upgrade from",
            path.display()
        )),
    })
}

/// Replays the old log's valid records after the checkpoint `meta` into `db`.
fn replay_log(db: &Db, old: &Path, meta: &Meta) -> Result<u64> {
    let mut log_path = old.as_os_str().to_owned();
    log_path.push("-log");
    let bytes = match std::fs::read(&log_path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io("reading the redo log to upgrade", e)),
    };
    let mut offset = crate::log::RECORDS_AT as usize;
    let mut next = meta.txn_id + 1;
    let mut replayed = 0;
    while let Some(header) = bytes
        .get(offset..)
        .and_then(|rest| crate::log::parse_header(rest, meta.log_salt))
    {
        let end = offset.saturating_add(usize::try_from(header.len()).unwrap_or(usize::MAX));
        let Some(record) = bytes.get(offset..end) else {
            break; // torn
        };
        if header.txn != next || !crate::log::record_intact(&header, record) {
            break;
        }
        let mut w = db.begin_write()?;
        let mut table = None;
        for op in crate::log::ops(&record[crate::log::RECORD_HEADER..]) {
            w.apply(&mut table, op?)?;
        }
        w.commit()?;
        replayed += 1;
        next += 1;
        offset = end;
    }
    Ok(replayed)
}

/// The tree pages of formats 1 and 2, read with `pread` and checked like current ones.
mod legacy {
    use super::*;

    const HEADER: usize = 24;
    const KIND_BRANCH: u8 = 1;
    const KIND_LEAF: u8 = 2;
    const KIND_OVERFLOW: u8 = 3;
    const LEAF_CELL_HEADER: usize = 7;
    const BRANCH_CELL_HEADER: usize = 10;

    /// Called with every entry of a tree, in key order.
    pub(super) type Visit<'v> = dyn FnMut(&[u8], &[u8]) -> Result<()> + 'v;

    pub(super) struct Reader<'f> {
        pub file: &'f File,
        pub page_size: usize,
        pub page_count: u64,
    }

    impl Reader<'_> {
        fn read(&self, id: u64, len: usize) -> Result<Vec<u8>> {
            if id < 2 || id >= self.page_count {
                return Err(Error::corrupted(id, "page id out of range"));
            }
            let mut bytes = vec![0u8; len];
            self.file
                .read_exact_at(&mut bytes, id * self.page_size as u64)
                .map_err(|e| Error::io("reading a page to upgrade", e))?;
            if read_u64(&bytes, 8) != id {
                return Err(Error::corrupted(id, "page header names another page"));
            }
            if crc32c::crc32c(&bytes[4..]) != read_u32(&bytes, 0) {
                return Err(Error::corrupted(id, "checksum mismatch"));
            }
            Ok(bytes)
        }

        fn overflow(&self, first: u64, len: u64) -> Result<Vec<u8>> {
            let pages = crate::page::overflow_pages(len, self.page_size);
            if len > crate::limits::VALUE_SIZE_MAX || first.saturating_add(pages) > self.page_count
            {
                return Err(Error::corrupted(
                    first,
                    "overflow run lies outside the file",
                ));
            }
            let run = self.read(first, crate::page::OVERFLOW_HEADER_SIZE + len as usize)?;
            if run[4] != KIND_OVERFLOW || read_u64(&run, crate::page::OVERFLOW_LEN_AT) != len {
                return Err(Error::corrupted(first, "not the overflow run a leaf names"));
            }
            Ok(run[crate::page::OVERFLOW_HEADER_SIZE..].to_vec())
        }

        /// Calls `visit` for every entry under `page`, in key order.
        pub(super) fn walk(
            &self,
            page: u64,
            depth: usize,
            seen: &mut std::collections::HashSet<u64>,
            visit: &mut Visit<'_>,
        ) -> Result<()> {
            if depth >= crate::limits::TREE_DEPTH_MAX {
                return Err(Error::corrupted(page, "tree too deep (a cycle?)"));
            }
            if !seen.insert(page) {
                return Err(Error::corrupted(page, "page is reachable twice"));
            }
            let bytes = self.read(page, self.page_size)?;
            let count = read_u16(&bytes, 6) as usize;
            let bad = |what: &str| Error::corrupted(page, format!("format-2 page: {what}"));
            if HEADER + count * 2 > bytes.len() {
                return Err(bad("too many slots"));
            }
            let leaf = match bytes[4] {
                KIND_LEAF => true,
                KIND_BRANCH => false,
                _ => return Err(bad("not a tree page")),
            };
            for index in 0..count {
                let at = read_u16(&bytes, HEADER + index * 2) as usize;
                let header = if leaf {
                    LEAF_CELL_HEADER
                } else {
                    BRANCH_CELL_HEADER
                };
                if at < HEADER + count * 2 || at + header > bytes.len() {
                    return Err(bad("cell out of bounds"));
                }
                if leaf {
                    let flags = bytes[at];
                    let key_len = read_u16(&bytes, at + 1) as usize;
                    let stored = read_u32(&bytes, at + 3) as usize;
                    let key = bytes
                        .get(at + header..at + header + key_len)
                        .ok_or_else(|| bad("key out of bounds"))?;
                    let start = at + header + key_len;
                    let value = bytes
                        .get(start..start.saturating_add(stored))
                        .ok_or_else(|| bad("value out of bounds"))?;
                    match (flags, stored) {
                        (0, _) => visit(key, value)?,
                        (1, 16) => {
                            let value = self.overflow(read_u64(value, 0), read_u64(value, 8))?;
                            visit(key, &value)?
                        }
                        _ => return Err(bad("invalid cell flags")),
                    }
                } else {
                    self.walk(read_u64(&bytes, at + 2), depth + 1, seen, visit)?;
                }
            }
            Ok(())
        }
    }
}
