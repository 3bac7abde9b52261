//! The two meta pages as the file holds them: which one to trust (a weak one only in the boot
//! that wrote it), which slot the next commit writes, and which commit a power loss falls back
//! to.

use crate::error::{Error, Result};
use crate::limits::{PAGE_SIZE_MAX, PAGE_SIZE_MIN};
use crate::page::meta::{Meta, MetaRead, FORMAT_VERSION};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

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
        self.steady
            .map_or(self.newest.txn_id, |(meta, _)| meta.txn_id)
    }
}

/// Reads both meta pages and picks the newest valid one that `boot` can trust (a weak meta page
/// only in the boot that wrote it).
pub(crate) fn read_meta(file: &File, path: &Path, file_len: u64, boot: u64) -> Result<OnDisk> {
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
            if (crate::page::meta::FORMAT_VERSION_LEGACY_MIN..FORMAT_VERSION).contains(found) {
                return Err(Error::OldFormat {
                    path: path.to_path_buf(),
                    found: *found,
                    supported: FORMAT_VERSION,
                });
            }
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
            // The same commit twice: the second is the mark of a clean close (the checkpoint
            // repeated with the flag, see `page::meta`), which wins.
            [Some(a), Some(b)] if a.txn_id == b.txn_id => {
                Some(if b.closed_cleanly && !a.closed_cleanly {
                    (b, 1)
                } else {
                    (a, 0)
                })
            }
            [Some(a), Some(b)] => Some(if a.txn_id > b.txn_id { (a, 0) } else { (b, 1) }),
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
