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
        // A log generation of its own: no record of the source's log ever replays onto it.
        let mut meta = crate::page::meta::Meta {
            log_salt: crate::log::new_salt(),
            ..meta
        };
        // The snapshot's buffered commits (not in its tree yet) go to the copy's log as one
        // record of the snapshot's commit, on top of a meta page of the commit before it: the
        // copy's first writable open replays it, a read-only one reads it into its buffer.
        let buffer = snapshot.buffer();
        if !buffer.is_empty() {
            let txn = snapshot.txn_id();
            meta.txn_id = txn - 1; // > the tree's own commit, or equal: its pages are older
            let mut redo = crate::log::RedoBuf::new(usize::MAX);
            for (name, table) in buffer.tables.iter() {
                let mut logged = true;
                if table.cleared {
                    logged &= redo.drop_table(name);
                }
                if table.exists {
                    logged &= redo.table(name);
                }
                for (key, value) in table.entries.iter() {
                    logged &= match value {
                        Some(value) => redo.put(name, key, value),
                        None => redo.remove(name, key),
                    };
                }
                debug_assert!(logged, "an unbounded record takes every change");
            }
            let mut log_path = std::fs::canonicalize(dest)
                .map_err(|e| Error::io("resolving the backup path", e))?
                .into_os_string();
            log_path.push("-log");
            crate::log::RedoLog::write_new(Path::new(&log_path), redo.seal(meta.log_salt, txn))?;
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
