//! Hot backups: a consistent copy of the newest commit while writers go on.

use super::Db;
use crate::error::{Error, Result};
use crate::storage::sync_parent_dir;
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::Path;

impl Db {
    /// A consistent copy of the newest commit, taken while writers keep going: the pages of a
    /// read snapshot are copied with `copy_file_range` (in-kernel, no user-space copy; falls back
    /// to read/write where unsupported), then both meta pages are written for that snapshot and
    /// the copy is synced. `dest` must not exist. Returns the bytes copied.
    ///
    /// The copy is written under a temporary name in `dest`'s directory,
    /// [`Db::backup_temp_path`] (`DEST.partial-PID`), synced, and only then renamed to `dest`
    /// (and the directory synced): a backup that fails or is interrupted never leaves a partial
    /// file under the real name (a `-log` written beside the copy is renamed to `DEST-log`
    /// first). A failed backup removes its temporary files; one killed outright leaves them
    /// behind, and a rerun writes new ones.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let bytes = db.backup(dir.path().join("copy.mmt"))?;
    /// let copy = mmtree::Db::open(dir.path().join("copy.mmt"))?;
    /// assert!(copy.check()?.is_ok());
    /// # let _ = bytes; Ok(()) }
    /// ```
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<u64> {
        let dest = dest.as_ref();
        if std::fs::symlink_metadata(dest).is_ok() {
            return Err(Error::io(
                "creating the backup file",
                std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            ));
        }
        let temp = Self::backup_temp_path(dest);
        let (temp_log, dest_log) = (with_log(&temp), with_log(dest));
        let result = self.backup_into(&temp).and_then(|len| {
            // A log written beside the copy goes first, so the data file never sits under its
            // real name without it.
            if temp_log.exists() {
                rename_new(&temp_log, &dest_log)?;
            }
            rename_new(&temp, dest).map(|()| len)
        });
        match &result {
            // Creating it failed: that file (if any) is not ours.
            Err(Error::Io { operation, .. }) if *operation == "creating the backup file" => {}
            Err(_) => {
                let _ = std::fs::remove_file(&temp);
                let _ = std::fs::remove_file(&temp_log);
            }
            Ok(_) => sync_parent_dir(dest, self.inner.options.observer.as_ref())?,
        }
        result
    }

    /// Where [`Db::backup`] writes the copy before renaming it to `dest`: `DEST.partial-PID`
    /// in the same directory (so a tool can remove it when interrupted).
    pub fn backup_temp_path(dest: impl AsRef<Path>) -> std::path::PathBuf {
        let mut temp = dest.as_ref().as_os_str().to_owned();
        temp.push(format!(".partial-{}", std::process::id()));
        temp.into()
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
        // A log generation of its own: no record of the source's log ever replays onto it. The
        // copy is complete without a log (closed cleanly), so it opens on its own, unless the
        // snapshot has buffered commits (below).
        let mut meta = crate::page::meta::Meta {
            log_salt: crate::log::new_salt(),
            closed_cleanly: true,
            ..meta
        };
        // The snapshot's buffered commits (not in its tree yet) go to the copy's log as one
        // record of the snapshot's commit, on top of a meta page of the commit before it: the
        // copy's first writable open replays it, a read-only one reads it into its buffer.
        let buffer = snapshot.buffer();
        if !buffer.is_empty() {
            let txn = snapshot.txn_id();
            meta.txn_id = txn - 1; // > the tree's own commit, or equal: its pages are older
            meta.closed_cleanly = false; // its log holds a commit
            let mut redo = crate::log::RedoBuf::new(usize::MAX);
            for (name, table) in buffer.tables.iter() {
                let mut logged = true;
                if table.cleared {
                    logged &= redo.drop_table(name);
                }
                if table.exists {
                    logged &= redo.table(name);
                }
                for (key, value) in table.iter() {
                    logged &= match value {
                        Some(value) => redo.put(name, key, value),
                        None => redo.remove(name, key),
                    };
                }
                debug_assert!(logged, "an unbounded record takes every change");
            }
            // Beside the copy's temporary name; `backup` renames it to DEST-log first.
            crate::log::RedoLog::write_new(
                &with_log(dest),
                meta.db_id,
                redo.seal(meta.log_salt, txn),
            )?;
        }
        let mut pages = vec![0u8; 2 * page_size as usize];
        meta.encode(&mut pages[..page_size as usize]);
        meta.encode(&mut pages[page_size as usize..]);
        out.write_all_at(&pages, 0)
            .and_then(|()| out.sync_all())
            .map_err(|e| Error::io("writing the backup file", e))?;
        sync_parent_dir(dest, self.inner.options.observer.as_ref())?;
        drop(snapshot);
        Ok(len)
    }
}

/// `path` + "-log": the redo log beside a data file.
fn with_log(path: &Path) -> std::path::PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-log");
    log.into()
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`): a backup never replaces a
/// file that appeared under its name meanwhile.
fn rename_new(from: &Path, to: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(()),
        // File systems without RENAME_NOREPLACE: a hard link fails if `to` exists.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => std::fs::hard_link(from, to)
            .and_then(|()| std::fs::remove_file(from))
            .map_err(|e| Error::io("renaming the finished backup file", e)),
        Err(e) => Err(Error::io("renaming the finished backup file", e.into())),
    }
}
