//! The storage layer: the data file, its one read-only mapping, growth, sync.
//!
//! Invariants:
//! - every change of the file's size goes through [`Storage::ensure_len`] or
//!   [`Storage::truncate_to`];
//! - blocks are reserved with `fallocate` before a page beyond the old end is used, so a full disk
//!   is an `Err`, never SIGBUS;
//! - after a failed `fdatasync` the handle is poisoned and refuses further writes.

mod mmap;
pub(crate) use mmap::prefetch_line;

pub mod observe;
pub use mmap::file_residency;
pub(crate) use mmap::Mapping;

use crate::error::{Error, Result};
use crate::limits::{GROW_STEP_MAX, GROW_STEP_MIN, MAP_RESERVE_MIN};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

pub(crate) struct Storage {
    file: File,
    /// The same file opened with `O_DSYNC`: a durable commit writes its meta page through it, so
    /// the write itself is synchronous (one device write with FUA where the disk supports it)
    /// instead of a write followed by a second full `fdatasync`.
    meta_file: Option<File>,
    pub(crate) path: PathBuf,
    pub(crate) page_size: usize,
    map: RwLock<Arc<Mapping>>,
    file_len: AtomicU64,
    /// Whether the kernel's read-around stays on for the mapping (see `Mapping::reserve`).
    read_ahead: bool,
    poisoned: Poison,
    /// Tests only: sees every write, length change and sync (see `observe`).
    observer: Option<observe::ObserverHandle>,
}

impl Storage {
    pub(crate) fn new(
        file: File,
        path: PathBuf,
        page_size: usize,
        read_ahead: bool,
        observer: Option<observe::ObserverHandle>,
        read_only: bool,
    ) -> Result<Storage> {
        let file_len = file
            .metadata()
            .map_err(|e| Error::io("reading the file size", e))?
            .len();
        let map = reserve_mapping(&file, file_len, read_ahead)?;
        let meta_file = match read_only {
            true => None,
            false => Some(open_meta_file(&file, &path)?),
        };
        Ok(Storage {
            file,
            meta_file,
            path,
            page_size,
            map: RwLock::new(Arc::new(map)),
            file_len: AtomicU64::new(file_len),
            read_ahead,
            poisoned: Poison::default(),
            observer,
        })
    }

    /// Re-reads the file's length (another process may have grown or trimmed it) and, if the
    /// file outgrew the reserved mapping, maps a larger range for new snapshots.
    pub(crate) fn refresh_len(&self) -> Result<u64> {
        let len = self
            .file
            .metadata()
            .map_err(|e| Error::io("reading the file size", e))?
            .len();
        self.file_len.store(len, Ordering::Release);
        self.map_to_cover(len)?;
        Ok(len)
    }

    /// If the file outgrew the reserved mapping: a larger one for new snapshots (old ones keep
    /// theirs, each holds an `Arc`). The one place the file is mapped again.
    fn map_to_cover(&self, len: u64) -> Result<()> {
        if len > self.mapping().len() {
            let map = reserve_mapping(&self.file, len, self.read_ahead)?;
            *self.map.write().expect("mapping lock") = Arc::new(map);
        }
        Ok(())
    }

    pub(crate) fn file(&self) -> &File {
        &self.file
    }

    #[inline]
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len.load(Ordering::Acquire)
    }

    /// Starts reading these pages into the page cache (coalescing runs of consecutive ids into
    /// one request each), for a scan about to visit them.
    pub(crate) fn prefetch(&self, map: &Mapping, ids: &mut [u64]) {
        ids.sort_unstable();
        let ps = self.page_size as u64;
        let limit = self.file_len() / ps;
        let mut i = 0;
        while i < ids.len() {
            let first = ids[i];
            let mut end = first.saturating_add(1);
            i += 1;
            while i < ids.len() && ids[i] <= end {
                end = end.max(ids[i].saturating_add(1));
                i += 1;
            }
            if first < limit {
                map.will_need(first * ps, (end.min(limit) - first) * ps);
            }
        }
    }

    /// The current mapping; a snapshot keeps its `Arc` for as long as it lives.
    #[inline]
    pub(crate) fn mapping(&self) -> Arc<Mapping> {
        self.map.read().expect("mapping lock").clone()
    }

    /// Borrows `len` file bytes at `offset` from `map`, checked against the file's length.
    #[inline]
    pub(crate) fn bytes<'m>(
        &self,
        map: &'m Mapping,
        offset: u64,
        len: usize,
        page: u64,
    ) -> Result<&'m [u8]> {
        let end = offset.checked_add(len as u64);
        match end {
            Some(end) if end <= self.file_len() && end <= map.len() => Ok(map.slice(offset, len)),
            _ => Err(Error::corrupted(
                page,
                "page lies beyond the end of the file",
            )),
        }
    }

    /// Reads `buf.len()` bytes at `offset` with `pread`; past the end of the file is
    /// `Corrupted` (naming `page`), not an I/O error.
    pub(crate) fn read_exact(&self, offset: u64, buf: &mut [u8], page: u64) -> Result<()> {
        match self.file.read_exact_at(buf, offset) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(Error::corrupted(
                page,
                "page lies beyond the end of the file",
            )),
            Err(e) => Err(Error::io("reading a page", e)),
        }
    }

    /// Makes the file at least `needed` bytes long, growing it in steps and reserving the blocks.
    /// The one place where the file grows.
    pub(crate) fn ensure_len(&self, needed: u64) -> Result<()> {
        let current = self.file_len();
        if needed <= current {
            return Ok(());
        }
        let step = (current / 8).clamp(GROW_STEP_MIN, GROW_STEP_MAX);
        let page = self.page_size as u64;
        let mut target = needed.max(current + step).div_ceil(page) * page;
        // A file-size limit (RLIMIT_FSIZE) is checked first: crossing it would raise SIGXFSZ.
        if let Some(limit) = file_size_limit() {
            if target > limit {
                target = (limit / page) * page;
            }
            if target < needed {
                return Err(Error::StorageFull {
                    file: "database file",
                    wanted_bytes: needed,
                    source: io::Error::from_raw_os_error(libc::EFBIG),
                });
            }
        }
        if let Some(observer) = &self.observer {
            observer.0.set_len(observe::IoFile::Data, target);
        }
        let mut reserved = rustix::fs::fallocate(
            &self.file,
            rustix::fs::FallocateFlags::empty(),
            current,
            target - current,
        );
        let exact = needed.div_ceil(page) * page;
        if reserved == Err(rustix::io::Errno::NOSPC) && exact < target {
            // No room for a whole growth step: take just what this transaction needs.
            target = exact;
            reserved = rustix::fs::fallocate(
                &self.file,
                rustix::fs::FallocateFlags::empty(),
                current,
                target - current,
            );
        }
        match reserved {
            Ok(()) => {}
            Err(e) if e == rustix::io::Errno::OPNOTSUPP || e == rustix::io::Errno::NOSYS => {
                // The file system cannot reserve blocks: extend the size only. Writes still go
                // through pwrite, so a full disk still surfaces as an error, not as SIGBUS.
                self.file.set_len(target).map_err(|e| Error::StorageFull {
                    file: "database file",
                    wanted_bytes: target,
                    source: e,
                })?;
            }
            Err(e) => {
                return Err(Error::StorageFull {
                    file: "database file",
                    wanted_bytes: target,
                    source: e.into(),
                })
            }
        }
        self.file_len.store(target, Ordering::Release);
        self.map_to_cover(target)?;
        Ok(())
    }

    /// Shrinks the file to `len` bytes. The caller guarantees no meta page and no live snapshot
    /// references a page at or beyond `len`. The one place where the file shrinks.
    pub(crate) fn truncate_to(&self, len: u64) -> Result<()> {
        if len >= self.file_len() {
            return Ok(());
        }
        self.file_len.store(len, Ordering::Release);
        if let Some(observer) = &self.observer {
            observer.0.set_len(observe::IoFile::Data, len);
        }
        self.file
            .set_len(len)
            .map_err(|e| Error::io_at("trimming the database file", &self.path, e))
    }

    pub(crate) fn write_at(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        debug_assert!(offset + bytes.len() as u64 <= self.file_len());
        if let Some(observer) = &self.observer {
            observer.0.write(observe::IoFile::Data, offset, bytes);
        }
        self.file
            .write_all_at(bytes, offset)
            .map_err(|e| Error::io_at("writing pages", &self.path, e))
    }

    /// Creation: writes the two meta pages at the start of an empty file and syncs them.
    pub(crate) fn create_meta_pages(&self, pages: &[u8]) -> Result<()> {
        if let Some(observer) = &self.observer {
            observer.0.write(observe::IoFile::Data, 0, pages);
        }
        self.file
            .write_all_at(pages, 0)
            .map_err(|e| Error::io_at("writing the meta pages", &self.path, e))?;
        self.sync()?;
        self.refresh_len()?;
        Ok(())
    }

    /// Writes consecutive page buffers at `offset` with `pwritev` (no copying into one buffer).
    pub(crate) fn write_pages_at(&self, offset: u64, pages: &[&[u8]]) -> Result<()> {
        let total: usize = pages.iter().map(|p| p.len()).sum();
        debug_assert!(offset + total as u64 <= self.file_len());
        if let Some(observer) = &self.observer {
            let mut at = offset;
            for page in pages {
                observer.0.write(observe::IoFile::Data, at, page);
                at += page.len() as u64;
            }
        }
        let slices: Vec<std::io::IoSlice<'_>> =
            pages.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let written = loop {
            match rustix::io::pwritev(&self.file, &slices, offset) {
                Ok(written) => break written,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(Error::io_at("writing pages", &self.path, e.into())),
            }
        };
        if written < total {
            // A short write (rare): finish the rest page by page.
            let mut at = 0usize;
            for page in pages {
                let end = at + page.len();
                if end > written {
                    let skip = written.saturating_sub(at);
                    self.write_at(offset + (at + skip) as u64, &page[skip..])?;
                }
                at = end;
            }
        }
        Ok(())
    }

    /// Writes a meta page durably (`O_DSYNC`). A failure poisons the handle: whether the page
    /// reached the disk is unknown.
    pub(crate) fn write_meta_durable(&self, offset: u64, bytes: &[u8]) -> Result<()> {
        self.check_poisoned()?;
        if let Some(observer) = &self.observer {
            observer
                .0
                .write_durable(observe::IoFile::Data, offset, bytes);
        }
        let Some(meta_file) = &self.meta_file else {
            return Err(Error::io(
                "writing the meta page",
                io::Error::from_raw_os_error(libc::EBADF),
            ));
        };
        if let Err(error) = meta_file.write_all_at(bytes, offset) {
            let reason = format!("writing the meta page failed: {error}");
            self.poisoned.set(reason);
            return Err(Error::io_at("writing the meta page", &self.path, error));
        }
        Ok(())
    }

    /// `fdatasync`; a failure poisons the handle (never retry a failed fsync).
    pub(crate) fn sync(&self) -> Result<()> {
        self.check_poisoned()?;
        if let Some(observer) = &self.observer {
            observer.0.sync(observe::IoFile::Data);
        }
        if let Err(error) = rustix::fs::fdatasync(&self.file) {
            let reason = format!("fdatasync failed: {error}");
            self.poisoned.set(reason);
            return Err(Error::io_at("fdatasync", &self.path, error.into()));
        }
        Ok(())
    }

    pub(crate) fn check_poisoned(&self) -> Result<()> {
        self.poisoned.check()
    }
}

/// `fsync` of the directory holding `path`, so a file just created there survives a power loss
/// (its data was synced; its name lives in the directory). For the database, its log, and
/// backups.
pub(crate) fn sync_parent_dir(
    path: &std::path::Path,
    observer: Option<&observe::ObserverHandle>,
) -> Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => std::path::Path::new("."),
    };
    if let Some(observer) = observer {
        observer.0.sync_dir();
    }
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|e| Error::io_at("syncing the directory", parent, e))
}

/// Set by a failed `fdatasync` (or synchronous write): whether the data reached the disk is
/// unknown, and a retry could report success for lost writes, so every later write is refused
/// with the first reason. One per file (the data file, the log).
#[derive(Default)]
pub(crate) struct Poison(Mutex<Option<String>>);

impl Poison {
    /// Records the first failure (later ones keep it).
    pub(crate) fn set(&self, reason: String) {
        self.0.lock().expect("poison lock").get_or_insert(reason);
    }

    pub(crate) fn check(&self) -> Result<()> {
        match &*self.0.lock().expect("poison lock") {
            Some(reason) => Err(Error::Poisoned {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// The data file opened a second time with `O_DSYNC`, for meta writes. Opened through
/// `/proc/self/fd` (the very file `file` is, even if the path was renamed, replaced or was
/// relative to a directory changed since), and checked to be the same inode either way: meta
/// pages written to another file would be a silent loss of every commit.
fn open_meta_file(file: &File, path: &std::path::Path) -> Result<File> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let open = |at: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_DSYNC)
            .open(at)
    };
    let proc_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    let meta_file = open(&proc_path)
        .or_else(|_| open(path))
        .map_err(|e| Error::io("opening the database file for meta writes", e))?;
    let identity = |f: &File| f.metadata().map(|m| (m.dev(), m.ino()));
    let same = identity(file)
        .and_then(|a| identity(&meta_file).map(|b| a == b))
        .map_err(|e| Error::io("reading file metadata", e))?;
    if !same {
        return Err(Error::io(
            "opening the database file for meta writes",
            io::Error::other("the path now names another file (renamed or replaced while opening)"),
        ));
    }
    Ok(meta_file)
}

/// A mapping of twice the file's length (at least `MAP_RESERVE_MIN`), so it can grow under it.
fn reserve_mapping(file: &File, len: u64, read_ahead: bool) -> Result<Mapping> {
    Mapping::reserve(
        file,
        len.saturating_mul(2).max(MAP_RESERVE_MIN),
        len,
        read_ahead,
    )
    .map_err(|e| Error::io("mapping the database file", e))
}

fn file_size_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Fsize).current
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    /// Issue 11, item 8: the `O_DSYNC` descriptor for meta pages is the file that was opened,
    /// even if its path names another file by now (a rename during the open): it is opened
    /// through `/proc/self/fd`. By path, it would be the other file (and the open refused).
    #[test]
    fn the_meta_descriptor_is_the_open_file_whatever_its_path_names_now() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&a)
            .unwrap();
        let meta = open_meta_file(&file, &b).unwrap();
        let inode = |f: &File| f.metadata().unwrap().ino();
        assert_eq!(inode(&meta), inode(&file));
    }
}
