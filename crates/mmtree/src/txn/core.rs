//! The state of one write transaction, shared by its public handles (`WriteTransaction`, `Table`,
//! `BulkLoader`): the arena of dirty nodes, the table roots, and the page allocator.

use crate::alloc::{AllocHost, AllocState, Allocate, Floors};
use crate::btree::append::{AppendCursor, EMIT_NODES};
use crate::btree::arena::Arena;
use crate::btree::mutate::Mutate;
use crate::btree::node::{Node, NodeRef, Value};
use crate::btree::store::NodeStore;
use crate::btree::view::{NodeView, Source};
use crate::error::{Error, Result};
use crate::log::RedoBuf;
use crate::page::meta::Meta;
use crate::page::view::PageView;
use crate::page::{self, overflow_pages, OVERFLOW_HEADER_SIZE};
use crate::pager::overflow_run_pages;
use crate::shared::Shared;
use crate::storage::Mapping;
use crate::wbuf::BufView;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A table as the write transaction sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TableState {
    pub(super) root: Option<NodeRef>,
    pub(super) len: u64,
    /// Changed in this transaction: its catalog entry must be rewritten at commit.
    pub(super) changed: bool,
}

/// A table's catalog entry: its root and its count.
pub(super) type CatalogEntry = (Option<NodeRef>, u64);

pub(crate) struct WriteCore {
    pub(super) db: Arc<Shared>,
    pub(super) map: Arc<Mapping>,
    pub(super) base: Meta,
    pub(super) txn_id: u64,
    pub(super) page_size: usize,
    /// Pages in use, including pages allocated by this transaction at the end of the file.
    pub(super) page_count: u64,
    arena: Arena,
    pub(super) catalog_root: Option<NodeRef>,
    /// Tables opened in this transaction; `None` marks a table dropped in this transaction.
    pub(super) tables: BTreeMap<String, Option<TableState>>,
    /// What `WriteTransaction::peek_table` read from the catalog for tables not in `tables`
    /// (a catalog descent saved per read of a table the transaction does not write: the
    /// catalog does not change before the commit). At most `PEEKED_MAX` names.
    pub(super) peeked: std::sync::Mutex<Vec<(Box<str>, Option<CatalogEntry>)>>,
    pub(super) alloc: AllocState,
    /// Set when an operation failed half-way: the transaction can only be aborted.
    pub(super) broken: Option<String>,
    /// The commit's redo-log record, built as the transaction goes; `None` once it cannot be
    /// logged (too large, a bulk load, a compaction): the commit is then a checkpoint.
    pub(super) redo: Option<RedoBuf>,
    /// Buffered mode: the write buffer as of the commit this transaction builds on, with this
    /// transaction's changes added; the tree is untouched and the commit only appends `redo`.
    /// `None`: direct mode (the buffer was merged into the tree; the commit is a checkpoint).
    pub(super) buf: Option<BufView>,
    /// Record bytes past which a buffered transaction goes direct (its commit would merge).
    pub(super) record_room: u64,
    /// A background merge: applying the buffer stops with `Error::MergeYielded` once a writer
    /// of this process asks for the role (`MergeSignal::yield_requested`).
    pub(super) yields_to_writers: bool,
    /// The append path (`btree::append`): cursors on the rightmost paths of the tables (up to
    /// `APPEND_TABLES_MAX`) whose last insert went in at their right edge, each used while
    /// that table's next keys arrive past its largest key, and dropped by any other change to
    /// its tree (`table_changed`) or to every tree (`trees_changed`).
    append: Vec<(String, AppendCursor)>,
    /// Buffered mode: whether every insert of this transaction so far went past the largest
    /// key of one table (see `APPEND_DIRECT_RECORD`).
    pub(super) streak: Streak,
    /// The commit will sync (`Durability::Immediate`): only then does an append-only
    /// transaction go direct early (`APPEND_DIRECT_RECORD`).
    pub(super) synced_commit: bool,
}

/// A buffered transaction's inserts so far (`WriteCore::streak`).
pub(crate) enum Streak {
    /// None yet.
    Unknown,
    /// All into `table`, each past the largest key before it; `last` is the latest.
    Appending { table: String, last: Vec<u8> },
    /// Anything else: a remove, a replace, a key not past the largest, another table.
    Broken,
}

/// Record bytes past which a buffered transaction whose inserts all went past its table's
/// largest key (`Streak::Appending`) goes direct, if its commit syncs (`synced_commit`): its
/// keys go to the append path, written once as full pages at its commit (a checkpoint), rather
/// than to the log and the buffer and, at the next merge, to the same pages (issue 24 item 7).
pub(crate) const APPEND_DIRECT_RECORD: u64 = 1 << 20;

impl WriteCore {
    pub(crate) fn new(db: Arc<Shared>, base: Meta, floors: Floors) -> WriteCore {
        let map = db.storage.mapping();
        let redo_max = usize::try_from(db.options.log_bytes).unwrap_or(usize::MAX);
        WriteCore {
            redo: Some(RedoBuf::new(redo_max)),
            page_size: base.page_size as usize,
            txn_id: base.txn_id + 1,
            page_count: base.page_count,
            catalog_root: crate::catalog::root_ref(base.catalog_root),
            alloc: AllocState::new(floors, crate::catalog::root_ref(base.freelist_root)),
            arena: Arena::default(),
            tables: BTreeMap::new(),
            peeked: std::sync::Mutex::new(Vec::new()),
            buf: None,
            record_room: u64::MAX,
            yields_to_writers: false,
            append: Vec::new(),
            streak: Streak::Unknown,
            synced_commit: true,
            broken: None,
            map,
            base,
            db,
        }
    }

    /// Leaves buffered mode: the buffer (the commits since the tree's and this transaction's
    /// changes so far) is applied to the tree in key order — a merge — and from here on changes
    /// go to the tree, and the commit is a checkpoint. Nothing to do in direct mode.
    pub(crate) fn go_direct(&mut self) -> Result<()> {
        let Some(view) = self.buf.take() else {
            return Ok(());
        };
        self.redo = None;
        self.guarded(|core| core.apply_view(&view))
    }

    /// Applies buffered changes to the trees: tables in name order, keys in key order, so each
    /// leaf is copied once and the copies are allocated in key order.
    fn apply_view(&mut self, view: &BufView) -> Result<()> {
        for (name, table) in view.tables.iter() {
            if table.cleared {
                self.table_changed(name);
                if let Some(state) = self.table_state(name, false)? {
                    if let Some(root) = state.root {
                        self.free_tree(root)?;
                    }
                }
                self.tables.insert(name.to_string(), None);
            }
            if !table.exists {
                continue;
            }
            let mut state = self.table_state(name, true)?.expect("created");
            state.changed = true;
            for (applied, (key, value)) in table.iter().enumerate() {
                if self.yields_to_writers
                    && applied % 64 == 0
                    && self.db.merge_signal.yield_requested.load(Ordering::Acquire)
                {
                    return Err(Error::MergeYielded);
                }
                match value {
                    Some(value) => self.insert_entry(name, &mut state, key, value)?,
                    None => {
                        self.table_changed(name);
                        let (root, old) = self.tree_remove(state.root, key)?;
                        if let Some(old) = old {
                            state.root = root;
                            state.len = state.len.checked_sub(1).ok_or_else(|| {
                                Error::corrupted(
                                    0,
                                    format!("table {name:?} has a wrong entry count"),
                                )
                            })?;
                            self.free_value(old)?;
                        }
                    }
                }
                self.update_table(name, state);
                if self.maybe_spill()? {
                    if let Some(Some(spilled)) = self.tables.get(&**name) {
                        state = *spilled;
                    }
                }
            }
            self.set_table(name, state);
        }
        Ok(())
    }

    /// Inserts or replaces `key` in table `name` (its state `state`, marked changed): through
    /// the table's append cursor when it has one and the key is past the table's largest key,
    /// else through the general path (`tree_insert`), which gives the table a cursor when the
    /// key went in at its right edge.
    pub(crate) fn insert_entry(
        &mut self,
        name: &str,
        state: &mut TableState,
        key: &[u8],
        value: &[u8],
    ) -> Result<()> {
        let value = self.make_value(key.len(), value)?;
        state.changed = true;
        let slot = self.append.iter().position(|(table, _)| table == name);
        if let Some(slot) = slot {
            if self.append[slot].1.accepts(state.root, key) {
                // Taken out for the call (it needs the whole transaction), then put back last:
                // the list runs from the table appended to least recently to the latest.
                let (table, mut cursor) = self.append.remove(slot);
                let root = cursor.append(self, key, &value)?;
                state.root = Some(root);
                state.len += 1;
                if cursor.finished() >= EMIT_NODES {
                    // Full leaves and branches are written as they pile up, as the bulk
                    // loader's are: the transaction's memory stays a path per table.
                    let mut out = Vec::with_capacity(EMIT_NODES);
                    cursor.emit(self, &mut out)?;
                    self.write_pages(out)?;
                }
                self.append.push((table, cursor));
                return Ok(());
            }
            self.append.remove(slot);
        }
        let (root, old, spine) = self.tree_insert_edge(state.root, key, &value)?;
        state.root = Some(root);
        match old {
            Some(old) => self.free_value(old)?,
            None => state.len += 1,
        }
        if let Some(spine) = spine {
            if self.append.len() == APPEND_TABLES_MAX {
                self.append.remove(0); // the table appended to least recently
            }
            self.append
                .push((name.to_string(), AppendCursor::new(spine, key)));
        }
        Ok(())
    }

    /// Table `name`'s tree changes other than by an append: its append cursor, if it has one,
    /// no longer follows its rightmost path.
    pub(crate) fn table_changed(&mut self, name: &str) {
        self.append.retain(|(table, _)| table != name);
    }

    /// Every tree may change (a spill, a drop, a rename, a bulk load, the commit): no append
    /// cursor survives.
    pub(crate) fn trees_changed(&mut self) {
        self.append.clear();
    }

    /// Fails once an earlier operation failed half-way: the transaction can only be aborted.
    pub(crate) fn usable(&self) -> Result<()> {
        match &self.broken {
            Some(reason) => Err(Error::TransactionFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Runs one operation that changes the transaction. If it fails, whatever it changed before
    /// failing stays half-done (freed pages, taken nodes, written runs), so the transaction is
    /// marked broken: every later operation, reads included, and `commit` fail with
    /// [`Error::TransactionFailed`]; only an abort (drop) remains. The one mechanism for every
    /// write-transaction handle (tables, `delete_table`, the bulk loader, spills).
    pub(crate) fn guarded<T>(
        &mut self,
        step: impl FnOnce(&mut WriteCore) -> Result<T>,
    ) -> Result<T> {
        self.usable()?;
        let result = step(self);
        if let Err(error) = &result {
            self.broken.get_or_insert_with(|| error.to_string());
        }
        result
    }

    /// Logs one change in the commit's record (`log` returns false when the record would
    /// outgrow its budget: the commit becomes a checkpoint, and nothing more is logged).
    pub(crate) fn log(&mut self, log: impl FnOnce(&mut RedoBuf) -> bool) {
        if let Some(redo) = &mut self.redo {
            if !log(redo) {
                self.redo = None;
            }
        }
    }

    /// The transaction id of the content of `page` (its header's): when it was born. A page
    /// that cannot be read counts as old (0), which only keeps it longer.
    fn page_birth(&self, page: u64) -> u64 {
        let offset = page * self.page_size as u64 + page::TXN_AT as u64;
        self.db
            .storage
            .bytes(&self.map, offset, 8, page)
            .map_or(0, |bytes| page::read_u64(bytes, 0))
    }

    /// Memory held by dirty nodes (a page buffer each).
    pub(crate) fn dirty_bytes(&self) -> usize {
        self.arena.live() * self.page_size
    }

    pub(crate) fn page_view(&self, id: u64) -> Result<PageView<'_>> {
        self.db
            .pager
            .tree_page(&self.db.storage, &self.map, id, self.page_count)
    }

    /// Stores `value` for a leaf: inline, or written now to its own overflow run.
    pub(crate) fn make_value(&mut self, key_len: usize, value: &[u8]) -> Result<Value> {
        if (value.len() as u64) > crate::limits::VALUE_SIZE_MAX {
            return Err(Error::ValueTooLarge {
                len: value.len() as u64,
                max: crate::limits::VALUE_SIZE_MAX,
            });
        }
        if page::leaf_entry_size(key_len, value.len()) <= page::entry_size_max(self.page_size) {
            return Ok(Value::Inline(crate::btree::node::ValueBuf::from_slice(
                value,
            )));
        }
        self.write_overflow(value)
    }

    /// Writes encoded pages: runs of consecutive page ids go out in one `pwritev` each. The
    /// buffers go back to the page pool.
    pub(crate) fn write_pages(&mut self, mut pages: Vec<(u64, Vec<u8>)>) -> Result<()> {
        pages.sort_unstable_by_key(|(id, _)| *id);
        let page_size = self.page_size as u64;
        let mut start = 0;
        while start < pages.len() {
            let mut end = start + 1;
            while end < pages.len()
                && end - start < WRITE_RUN_PAGES
                && pages[end].0 == pages[end - 1].0 + 1
            {
                end += 1;
            }
            let run: Vec<&[u8]> = pages[start..end]
                .iter()
                .map(|(_, bytes)| bytes.as_slice())
                .collect();
            self.db
                .storage
                .write_pages_at(pages[start].0 * page_size, &run)?;
            start = end;
        }
        // What we just wrote was checksummed as we built it: no need to verify it on reread.
        for (id, bytes) in &pages {
            self.db
                .pager
                .mark_verified(*id, page::read_u64(bytes, page::TXN_AT));
        }
        self.db
            .recycle_pages(pages.into_iter().map(|(_, bytes)| bytes));
        Ok(())
    }

    /// Opens a table's state, from this transaction or from the catalog.
    pub(crate) fn table_state(&mut self, name: &str, create: bool) -> Result<Option<TableState>> {
        if let Some(state) = self.tables.get(name) {
            if state.is_some() || !create {
                return Ok(*state);
            }
        } else if let Some(entry) = crate::btree::get(self, self.catalog_root, name.as_bytes())? {
            let state = crate::txn::decode_table_entry(entry)?;
            let state = TableState {
                root: state.0,
                len: state.1,
                changed: false,
            };
            self.tables.insert(name.to_string(), Some(state));
            return Ok(Some(state));
        }
        if !create {
            return Ok(None);
        }
        let state = TableState {
            root: None,
            len: 0,
            changed: true,
        };
        self.tables.insert(name.to_string(), Some(state));
        Ok(Some(state))
    }

    pub(crate) fn set_table(&mut self, name: &str, state: TableState) {
        self.tables.insert(name.to_string(), Some(state));
    }

    /// `set_table` for a table this transaction has opened already (the usual case: every
    /// change to a table): updates its entry in place, allocating no name.
    pub(crate) fn update_table(&mut self, name: &str, state: TableState) {
        match self.tables.get_mut(name) {
            Some(slot) => *slot = Some(state),
            None => self.set_table(name, state),
        }
    }

    /// Writes every dirty table tree to pages when dirty nodes use too much memory, so a
    /// transaction of any size fits.
    /// Returns whether it spilled (the dirty tables' roots changed).
    pub(crate) fn maybe_spill(&mut self) -> Result<bool> {
        if self.dirty_bytes() <= self.db.options.spill_bytes {
            return Ok(false);
        }
        self.trees_changed();
        let mut out = Vec::new();
        let names: Vec<String> = self.tables.keys().cloned().collect();
        for name in names {
            if let Some(Some(mut state)) = self.tables.get(&name).copied() {
                if let Some(root @ NodeRef::Dirty(_)) = state.root {
                    state.root = Some(NodeRef::Page(self.flush(root, &mut out)?));
                    self.set_table(&name, state);
                }
            }
        }
        self.write_pages(out)?;
        Ok(true)
    }
}

impl Source for WriteCore {
    fn view(&self, node: NodeRef) -> Result<NodeView<'_>> {
        // A broken transaction's nodes may be half-freed: nothing is read from it.
        self.usable()?;
        match node {
            NodeRef::Page(id) => self.page_view(id),
            NodeRef::Dirty(id) => Ok(self.arena.node(id).view()),
        }
    }

    fn overflow(&self, page: u64, len: u64) -> Result<&[u8]> {
        self.db.pager.overflow(
            &self.db.storage,
            &self.map,
            page,
            len,
            self.page_count,
            crate::pager::Verify::Once,
        )
    }
}

/// Tables with an append cursor at once (several tables filled in key order, taking turns).
const APPEND_TABLES_MAX: usize = 4;

/// The most pages one `pwritev` carries (well below `IOV_MAX`).
const WRITE_RUN_PAGES: usize = 256;

impl NodeStore for WriteCore {
    fn arena(&self) -> &Arena {
        &self.arena
    }

    fn arena_mut(&mut self) -> &mut Arena {
        &mut self.arena
    }

    fn page_size(&self) -> usize {
        self.page_size
    }

    fn load_node(&self, page: u64) -> Result<Node> {
        let view = self.page_view(page)?;
        let mut copy = self.db.page_buffer();
        copy.copy_from_slice(view.bytes());
        Node::from_copy(copy, page)
    }

    fn new_node(&self, leaf: bool) -> Node {
        Node::new(self.db.page_buffer(), leaf)
    }

    fn buffer(&self) -> Vec<u8> {
        self.db.page_buffer()
    }

    fn recycle(&self, node: Node) {
        self.db.recycle_pages(std::iter::once(node.into_buffer()));
    }

    fn alloc_page(&mut self) -> Result<u64> {
        self.take_page()
    }

    fn free_page(&mut self, page: u64) -> Result<()> {
        let born = self.page_birth(page);
        self.release_page(page, born)
    }

    /// Frees a value's overflow run. The run is checked against the file first: a corrupt
    /// reference must not put live or nonexistent pages on the freelist.
    fn free_value(&mut self, value: Value) -> Result<()> {
        if let Value::Overflow { page, len } = value {
            // Checked first: a corrupt reference must not put live or nonexistent pages on the
            // freelist.
            let pages = overflow_run_pages(page, len, self.page_size, self.page_count)?;
            let born = self.page_birth(page); // the run's header is on its first page
            for id in pages {
                self.release_page(id, born)?;
            }
        }
        Ok(())
    }

    /// Writes `value` to a new overflow run now (its pages are private to this transaction until
    /// the commit's meta page names a tree that refers to them).
    fn write_overflow(&mut self, value: &[u8]) -> Result<Value> {
        let pages = overflow_pages(value.len() as u64, self.page_size);
        let first = self.take_run(pages)?;
        let mut header = [0u8; OVERFLOW_HEADER_SIZE];
        page::write_header(&mut header, page::KIND_OVERFLOW, 0, first, self.txn_id);
        page::write_u64(&mut header, page::OVERFLOW_LEN_AT, value.len() as u64);
        let sum = crc32c::crc32c_append(page::checksum(&header[4..]), value);
        page::write_u32(&mut header, page::CHECKSUM_AT, sum);
        let offset = first * self.page_size as u64;
        self.db.storage.write_at(offset, &header)?;
        self.db
            .storage
            .write_at(offset + OVERFLOW_HEADER_SIZE as u64, value)?;
        Ok(Value::Overflow {
            page: first,
            len: value.len() as u64,
        })
    }

    fn seal_page(&self, node: Node, page_id: u64) -> Vec<u8> {
        node.seal(page_id, self.txn_id)
    }
}

impl AllocHost for WriteCore {
    fn alloc_state(&self) -> &AllocState {
        &self.alloc
    }

    fn alloc_state_mut(&mut self) -> &mut AllocState {
        &mut self.alloc
    }

    fn base(&self) -> &Meta {
        &self.base
    }

    fn txn_id(&self) -> u64 {
        self.txn_id
    }

    fn page_count(&self) -> u64 {
        self.page_count
    }

    fn set_page_count(&mut self, page_count: u64) {
        debug_assert!(
            page_count <= self.page_count,
            "the page count grows only by cover"
        );
        self.page_count = page_count;
    }

    fn cover(&mut self, page_count: u64) -> Result<()> {
        self.db
            .storage
            .ensure_len(page_count * self.page_size as u64)?;
        self.page_count = page_count;
        let map = self.db.storage.mapping();
        if !Arc::ptr_eq(&map, &self.map) {
            self.map = map;
        }
        Ok(())
    }
}
