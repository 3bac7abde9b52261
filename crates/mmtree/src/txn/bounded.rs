//! Bounded snapshots: read transactions a writer may stop waiting for.
//!
//! An ordinary [`ReadTransaction`](super::ReadTransaction) hands out slices of the mapping, so
//! the pages it can reach are never reused while it lives: an old snapshot makes the file grow.
//! A [`BoundedReadTransaction`] instead copies what it reads (with `pread`, into buffers of its
//! own) and returns owned bytes. It holds a reader slot of its own in the lock file, with a
//! deadline; once the deadline has passed, the next writer (in any process) marks the slot
//! expired and reuses the pages. After every read the snapshot checks its slot: if it was
//! expired, the read fails with [`Error::SnapshotExpired`] and nothing it read is returned.
//!
//! Why that is enough: a writer marks the slot *before* it computes its reuse floor, so before
//! it writes any page the snapshot protected. A read that finds its slot unmarked after copying
//! its pages therefore copied them before any of them was reused.

use super::decode_table_entry;
use crate::btree::node::NodeRef;
use crate::btree::view::{NodeView, Source};
use crate::error::{Error, Result};
use crate::lock::SlotLease;
use crate::page::meta::Meta;
use crate::page::view::PageView;
use crate::shared::{PublishedState, Shared};
use crate::wbuf::BufView;
use std::ops::Bound;
use std::sync::Arc;
use std::time::Duration;
use typed_arena::Arena;

/// A snapshot that copies what it reads and may expire (see [`Db::begin_read_bounded`]).
///
/// [`Db::begin_read_bounded`]: crate::Db::begin_read_bounded
pub struct BoundedReadTransaction {
    db: Arc<Shared>,
    meta: Meta,
    /// The commit it shows, and the write buffer as of it (owned: nothing to expire).
    txn: u64,
    buf: BufView,
    lease: Option<SlotLease>,
    max_age: Duration,
    /// Copies of the pages the current operation read; emptied when it ends (`checked`).
    pages: Arena<Vec<u8>>,
    /// Pages copied by the current operation (every `EXPIRY_CHECK_PAGES` the slot is checked,
    /// so a long range on an expired snapshot stops early).
    copied: std::cell::Cell<usize>,
}

/// How often (in pages copied) a long operation checks whether the snapshot expired.
const EXPIRY_CHECK_PAGES: usize = 64;

impl BoundedReadTransaction {
    pub(crate) fn new(db: Arc<Shared>, meta: Meta, lease: SlotLease, max_age: Duration) -> Self {
        BoundedReadTransaction {
            db,
            meta,
            txn: meta.txn_id,
            buf: BufView::default(),
            lease: Some(lease),
            max_age,
            pages: Arena::new(),
            copied: std::cell::Cell::new(0),
        }
    }

    /// Adds the write buffer of `state` (whose tree this snapshot reads). False: the log moved
    /// on meanwhile; begin again.
    pub(crate) fn with_buffer(&mut self, state: &PublishedState) -> Result<bool> {
        let result = self.db.clone().buffer_at(state, &*self);
        match self.checked(result)? {
            Some((txn, buf)) => {
                self.txn = txn;
                self.buf = buf;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// The id of the commit this snapshot shows.
    pub fn txn_id(&self) -> u64 {
        self.txn
    }

    /// Whether a writer has expired this snapshot (every read from now on fails).
    pub fn is_expired(&self) -> bool {
        self.lease
            .as_ref()
            .is_some_and(|lease| self.db.lock.slot_expired(lease))
    }

    /// A copy of the value stored under `key` in `table` (`None`: no such key, or no such table).
    pub fn get(&mut self, table: &str, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        let result = self.root(table).and_then(|root| match root {
            None => Ok(None),
            Some((root, _)) => super::get(&*self, root, self.buf.table(table), key)
                .map(|value| value.map(<[u8]>::to_vec)),
        });
        self.checked(result)
    }

    /// Up to `limit` entries of `table` with keys between `start` and `end`, in key order, as
    /// copies. To read further, call again with `Bound::Excluded(last key)` as the start.
    pub fn range(
        &mut self,
        table: &str,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let result = self.root(table).and_then(|root| {
            let Some((root, _)) = root else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            let buf = self.buf.table(table);
            for item in super::range(&*self, root, buf, &(start, end)).take(limit) {
                let (key, value) = item?;
                out.push((key.to_vec(), value.to_vec()));
            }
            Ok(out)
        });
        self.checked(result)
    }

    /// The number of entries in `table`, or `None` if there is no such table.
    pub fn table_len(&mut self, table: &str) -> Result<Option<u64>> {
        let result = self.root(table).and_then(|root| match root {
            Some((root, tree_len)) => {
                let len = super::buffered_len(&*self, root, tree_len, self.buf.table(table))?;
                Ok(Some(len))
            }
            None => Ok(None),
        });
        self.checked(result)
    }

    /// Names of all tables, in order.
    pub fn list_tables(&mut self) -> Result<Vec<String>> {
        let catalog = crate::catalog::root_ref(self.meta.catalog_root);
        let result = super::catalog_names(&*self, catalog)
            .map(|names| super::buffered_names(names, &self.buf));
        self.checked(result)
    }

    /// A table's root (from the catalog) and the tree's count of its entries.
    fn root(&self, table: &str) -> Result<Option<(Option<NodeRef>, u64)>> {
        let buf = self.buf.table(table);
        if buf.is_some_and(|b| !b.exists) {
            return Ok(None);
        }
        let catalog = crate::catalog::root_ref(self.meta.catalog_root);
        let tree = match buf {
            Some(b) if b.cleared => None,
            _ => match crate::btree::get(self, catalog, table.as_bytes())? {
                None => None,
                Some(entry) => Some(decode_table_entry(entry)?),
            },
        };
        if tree.is_none() && buf.is_none() {
            return Ok(None);
        }
        Ok(Some(tree.unwrap_or((None, 0))))
    }

    /// What an operation read, unless the snapshot expired while (or before) it read: then
    /// the pages may have been reused and whatever came out of them (data or an error) is void.
    fn checked<T>(&mut self, result: Result<T>) -> Result<T> {
        self.pages = Arena::new();
        self.copied.set(0);
        if self.is_expired() {
            return Err(Error::SnapshotExpired {
                txn: self.txn,
                max_age: self.max_age,
            });
        }
        result
    }
}

impl Source for BoundedReadTransaction {
    fn view(&self, node: NodeRef) -> Result<NodeView<'_>> {
        match node {
            NodeRef::Page(id) => {
                crate::pager::check_page_id(id, self.meta.page_count)?;
                let copied = self.copied.get() + 1;
                self.copied.set(copied);
                if copied.is_multiple_of(EXPIRY_CHECK_PAGES) && self.is_expired() {
                    // The error is replaced by `SnapshotExpired` in `checked`.
                    return Err(Error::corrupted(id, "snapshot expired while reading"));
                }
                let page = self
                    .pages
                    .alloc(self.db.pager.page_copy(&self.db.storage, id)?);
                PageView::parse(page, id)
            }
            NodeRef::Dirty(_) => Err(Error::corrupted(0, "dirty node in a read snapshot")),
        }
    }

    fn overflow(&self, page: u64, len: u64) -> Result<&[u8]> {
        let value =
            self.db
                .pager
                .overflow_copy(&self.db.storage, page, len, self.meta.page_count)?;
        Ok(self.pages.alloc(value))
    }
}

impl Drop for BoundedReadTransaction {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.db.lock.release_lease(lease);
        }
    }
}
