//! Read transactions: a consistent snapshot, zero-copy reads.

use super::{decode_table_entry, KeyRange, Range};
use crate::btree::node::NodeRef;
use crate::btree::view::{NodeView, Source};
use crate::error::{Error, Result};
use crate::page::meta::Meta;
use crate::page::view::PageView;
use crate::shared::{PublishedState, Shared};
use crate::storage::Mapping;
use crate::wbuf::{BufView, TableBuf};
use std::sync::Arc;
use std::time::Instant;

/// A snapshot of the database as of one commit. Any number may be alive at once, in any threads
/// (`Send + Sync`); each keeps the pages it can reach from being reused until it is dropped.
pub struct ReadTransaction {
    db: Arc<Shared>,
    map: Arc<Mapping>,
    /// The tree this snapshot reads (the last merge before it).
    meta: Meta,
    reader: u64,
    /// The commit it shows: the tree plus the buffered commits up to this one.
    txn: u64,
    /// The write buffer as of `txn`.
    buf: BufView,
}

impl ReadTransaction {
    /// A snapshot of the newest commit (of any process); see `Db::begin_read`.
    pub(crate) fn begin(inner: &Arc<Shared>) -> Result<ReadTransaction> {
        loop {
            let (mut read, published) = Self::begin_tree(inner)?;
            // The buffer as of the published commit, read with this snapshot's tree (protected).
            if let Some((txn, buf)) = inner.buffer_at(&published, &read)? {
                read.txn = txn;
                read.buf = buf;
                return Ok(read);
            }
        }
    }

    /// A snapshot of the newest published tree, and the published state it is part of.
    fn begin_tree(inner: &Arc<Shared>) -> Result<(ReadTransaction, PublishedState)> {
        let mut state = inner.state.lock().expect("state lock");
        let oldest_local = state.readers.keys().next().map(|&(txn, _)| txn);
        // The slot protects the oldest snapshot this process holds, this one included.
        let announced =
            inner.announce_snapshot(inner.slot, |txn| oldest_local.map_or(txn, |o| o.min(txn)));
        let published = match announced {
            Ok(published) => published,
            Err(error) => {
                inner.lock.set_slot_txn(inner.slot, oldest_local);
                return Err(error);
            }
        };
        let meta = published.meta;
        let grown = meta
            .page_count
            .checked_mul(inner.storage.page_size as u64)
            .is_none_or(|bytes| bytes > inner.storage.file_len());
        if grown {
            // Another process grew the file.
            if let Err(error) = inner.storage.refresh_len() {
                inner.lock.set_slot_txn(inner.slot, oldest_local);
                return Err(error);
            }
        }
        state.meta = meta;
        let reader = state.next_reader;
        state.next_reader += 1;
        state.readers.insert((meta.txn_id, reader), Instant::now());
        drop(state);
        let read = ReadTransaction::new(inner.clone(), inner.storage.mapping(), meta, reader);
        Ok((read, published))
    }

    /// A snapshot of the tree of `meta` alone (no buffered commits).
    pub(crate) fn new(db: Arc<Shared>, map: Arc<Mapping>, meta: Meta, reader: u64) -> Self {
        ReadTransaction {
            db,
            map,
            meta,
            reader,
            txn: meta.txn_id,
            buf: BufView::default(),
        }
    }

    /// The id of the commit this snapshot shows.
    pub fn txn_id(&self) -> u64 {
        self.txn
    }

    /// The buffered commits this snapshot shows on top of its tree.
    pub(crate) fn buffer(&self) -> &BufView {
        &self.buf
    }

    pub(crate) fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn db(&self) -> &Arc<Shared> {
        &self.db
    }

    pub(crate) fn mapping(&self) -> &Mapping {
        &self.map
    }

    /// Pages listed in this snapshot's freelist records of commits after `txn`.
    pub(crate) fn freed_pages_after(&self, txn: u64) -> Result<u64> {
        let root = crate::catalog::root_ref(self.meta.freelist_root);
        let mut pages = 0;
        // Old records freed after `txn`, then young ones (they sort after every old record).
        for (from, to) in [
            (txn.saturating_add(1), Some(crate::alloc::YOUNG)),
            (crate::alloc::YOUNG | txn.saturating_add(1), None),
        ] {
            let bounds = crate::btree::cursor::Bounds {
                start: std::ops::Bound::Included(crate::alloc::record_key(from, 0)),
                end: match to {
                    Some(to) => std::ops::Bound::Excluded(crate::alloc::record_key(to, 0)),
                    None => std::ops::Bound::Unbounded,
                },
            };
            for item in crate::btree::cursor::RangeIter::new(self, root, bounds) {
                pages += (item?.1.len() / 8) as u64;
            }
        }
        Ok(pages)
    }

    /// Opens a table, or `None` if it does not exist in this snapshot.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let r = db.begin_read()?;
    /// assert!(r.table("nope")?.is_none()); // reading never creates a table
    /// let t = r.table("t")?.expect("committed");
    /// assert_eq!(t.len()?, 3);
    /// # Ok(()) }
    /// ```
    pub fn table(&self, name: &str) -> Result<Option<ReadTable<'_>>> {
        let buf = self.buf.table(name);
        if buf.is_some_and(|b| !b.exists) {
            return Ok(None); // dropped by a buffered commit
        }
        let catalog = crate::catalog::root_ref(self.meta.catalog_root);
        let tree = match buf {
            Some(b) if b.cleared => None,
            _ => match crate::btree::get(self, catalog, name.as_bytes())? {
                None => None,
                Some(entry) => Some(decode_table_entry(entry)?),
            },
        };
        if tree.is_none() && buf.is_none() {
            return Ok(None);
        }
        let (root, tree_len) = tree.unwrap_or((None, 0));
        Ok(Some(ReadTable {
            snapshot: self,
            root,
            tree_len,
            buf,
        }))
    }

    /// Names of all tables, in order.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let mut w = db.begin_write()?;
    /// w.table("z")?;
    /// w.commit()?;
    /// assert_eq!(db.begin_read()?.list_tables()?, ["t", "z"]);
    /// # Ok(()) }
    /// ```
    pub fn list_tables(&self) -> Result<Vec<String>> {
        let names = super::catalog_names(self, crate::catalog::root_ref(self.meta.catalog_root))?;
        Ok(super::buffered_names(names, &self.buf))
    }

    pub(crate) fn page_view(&self, id: u64) -> Result<PageView<'_>> {
        self.db
            .pager
            .tree_page(&self.db.storage, &self.map, id, self.meta.page_count)
    }
}

impl Drop for ReadTransaction {
    fn drop(&mut self) {
        self.db.end_read(self.meta.txn_id, self.reader);
    }
}

impl Source for ReadTransaction {
    fn view(&self, node: NodeRef) -> Result<NodeView<'_>> {
        match node {
            NodeRef::Page(id) => self.page_view(id),
            NodeRef::Dirty(_) => Err(Error::corrupted(0, "dirty node in a read snapshot")),
        }
    }

    fn overflow(&self, page: u64, len: u64) -> Result<&[u8]> {
        self.db.pager.overflow(
            &self.db.storage,
            &self.map,
            page,
            len,
            self.meta.page_count,
            crate::pager::Verify::Once,
        )
    }

    fn prefetch(&self, ids: &mut [u64]) {
        self.db.storage.prefetch(&self.map, ids);
    }

    fn prefetches(&self) -> bool {
        true
    }

    fn touch_ahead(&self, id: u64) {
        if id >= 2 && id < self.meta.page_count {
            let page_size = self.db.storage.page_size;
            if let Ok(bytes) = self
                .db
                .storage
                .bytes(&self.map, id * page_size as u64, 256, id)
            {
                for line in (0..256).step_by(64) {
                    crate::storage::prefetch_line(&bytes[line..]);
                }
            }
        }
    }
}

/// A table in a read snapshot. Values borrow from the mapping: no copy, no syscall.
pub struct ReadTable<'t> {
    snapshot: &'t ReadTransaction,
    root: Option<NodeRef>,
    /// The tree's count: `len` adds the buffer's changes.
    tree_len: u64,
    buf: Option<&'t TableBuf>,
}

impl<'t> ReadTable<'t> {
    /// The value stored under `key`, pointing into the mapping.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let r = db.begin_read()?;
    /// let t = r.table("t")?.expect("committed");
    /// let v: &[u8] = t.get("a")?.expect("present"); // no copy: valid while `r` lives
    /// assert_eq!(v, b"1");
    /// assert_eq!(t.get(b"zz")?, None);
    /// # Ok(()) }
    /// ```
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<&'t [u8]>> {
        super::get(self.snapshot, self.root, self.buf, key.as_ref())
    }

    /// Entries with keys in `range`, in key order (`.rev()` for the largest first): `..`,
    /// `"a".."m"`, `b"a"..=b"m"`, `&key[..]..`, a pair of `Bound`s; see [`KeyRange`].
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let r = db.begin_read()?;
    /// let t = r.table("t")?.expect("committed");
    /// for item in t.range("b"..)? {
    ///     let (key, value) = item?; // a damaged page is an `Err` item
    ///     println!("{key:?} = {value:?}");
    /// }
    /// let back: Vec<&[u8]> = t.range(..)?.rev().map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
    /// assert_eq!(back, [b"c", b"b", b"a"]);
    /// # Ok(()) }
    /// ```
    pub fn range<R: KeyRange>(&self, range: R) -> Result<Range<'t>> {
        Ok(super::public_range(
            self.snapshot,
            self.root,
            self.buf,
            &range,
        ))
    }

    /// The entry with the smallest key.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let r = db.begin_read()?;
    /// let t = r.table("t")?.expect("committed");
    /// assert_eq!(t.first()?, Some((&b"a"[..], &b"1"[..])));
    /// # Ok(()) }
    /// ```
    pub fn first(&self) -> Result<Option<(&'t [u8], &'t [u8])>> {
        super::first(self.snapshot, self.root, self.buf)
    }

    /// The entry with the largest key.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// # let mut w = db.begin_write()?;
    /// # for (k, v) in [("a", "1"), ("b", "2"), ("c", "3")] { w.table("t")?.insert(k, v)?; }
    /// # w.commit()?;
    /// let r = db.begin_read()?;
    /// let t = r.table("t")?.expect("committed");
    /// assert_eq!(t.last()?, Some((&b"c"[..], &b"3"[..])));
    /// # Ok(()) }
    /// ```
    pub fn last(&self) -> Result<Option<(&'t [u8], &'t [u8])>> {
        super::last(self.snapshot, self.root, self.buf)
    }

    /// Number of entries. Exact; with buffered commits it may read the tree (whether it
    /// holds each key put since the last count), hence the `Result`.
    pub fn len(&self) -> Result<u64> {
        super::buffered_len(self.snapshot, self.root, self.tree_len, self.buf)
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.first()?.is_none())
    }
}
