//! The write transaction and its tables. One at a time per database; dropping it aborts.

use super::commit;
use super::core::{Streak, TableState, WriteCore, APPEND_DIRECT_RECORD};
use super::{check_table_name, BulkLoader, KeyRange, Range};
use crate::alloc::{Allocate, Floors};
use crate::btree::mutate::Mutate;
use crate::btree::node::NodeRef;
use crate::btree::store::NodeStore;
use crate::error::{Error, Result};
use crate::limits::key_size_max;
use crate::options::Durability;
use crate::shared::{PublishedState, Shared, WriterGuard};
use crate::wbuf::TableBuf;
use std::sync::Arc;

/// Refuses a key longer than the page size allows.
pub(crate) fn check_key(page_size: usize, key: &[u8]) -> Result<()> {
    let max = key_size_max(page_size);
    if key.len() > max {
        return Err(Error::KeyTooLarge {
            len: key.len(),
            max,
        });
    }
    Ok(())
}

/// The single write transaction. Sees its own writes. `commit` makes them visible (and durable,
/// with the default [`Durability::Immediate`]); dropping it without `commit` discards them.
pub struct WriteTransaction {
    pub(super) core: WriteCore,
    durability: Durability,
    force_trim: bool,
    compact: bool,
    /// The published state this transaction builds on.
    state: PublishedState,
    /// Strict mode's check is skipped after this commit (a merge at close).
    unchecked: bool,
    writer: Option<WriterGuard>,
}

impl WriteTransaction {
    /// A write transaction on top of the published `state` (the writer role held): in
    /// buffered mode, with the write buffer as of `state`'s newest commit.
    pub(crate) fn new(
        db: Arc<Shared>,
        state: PublishedState,
        floors: Floors,
        writer: WriterGuard,
    ) -> Result<Self> {
        let durability = db.options.durability;
        let mut core = WriteCore::new(db.clone(), state.meta, floors);
        core.synced_commit = durability == Durability::Immediate;
        core.txn_id = state.newest + 1;
        core.record_room = db.record_room(&state);
        match db.buffer_at(&state, &core)? {
            Some((txn, view)) if txn == state.newest => core.buf = Some(view),
            _ => {
                return Err(Error::corrupted(
                    0,
                    "the redo log changed while this process held the writer role",
                ))
            }
        }
        Ok(WriteTransaction {
            core,
            state,
            durability,
            force_trim: false,
            compact: false,
            unchecked: false,
            writer: Some(writer),
        })
    }

    /// Recovery or a merge: the buffer goes to the tree, then this transaction replays log
    /// records (if any) up to commit `txn` and takes that id; it is committed as a checkpoint
    /// (its changes are already in the log).
    pub(crate) fn replaying(&mut self, txn: u64) -> Result<()> {
        debug_assert!(txn > self.core.base.txn_id);
        // The id first: pages spilled while the buffer is applied carry it.
        self.core.txn_id = txn;
        self.core.go_direct()?;
        self.core.redo = None;
        Ok(())
    }

    /// Merges the buffered commits of `state` into the tree (a checkpoint commit that takes the
    /// newest commit's id) and keeps the writer role.
    pub(crate) fn merge(
        db: &Arc<Shared>,
        state: PublishedState,
        writer: WriterGuard,
    ) -> Result<WriterGuard> {
        Self::merge_with(db, state, writer, true, false)
    }

    /// `merge` for the background merge thread: it stops with `Error::MergeYielded` (nothing
    /// committed, the buffer untouched) as soon as a writer of this process asks for the role.
    pub(crate) fn merge_yielding(
        db: &Arc<Shared>,
        state: PublishedState,
        writer: WriterGuard,
    ) -> Result<WriterGuard> {
        Self::merge_with(db, state, writer, true, true)
    }

    /// `merge`, without strict mode's check after it (a handle closing).
    pub(crate) fn merge_unchecked(
        db: &Arc<Shared>,
        state: PublishedState,
        writer: WriterGuard,
    ) -> Result<WriterGuard> {
        Self::merge_with(db, state, writer, false, false)
    }

    fn merge_with(
        db: &Arc<Shared>,
        state: PublishedState,
        writer: WriterGuard,
        checked: bool,
        yields: bool,
    ) -> Result<WriterGuard> {
        let floors = db.floors(&state);
        let mut w = WriteTransaction::new(db.clone(), state, floors, writer)?;
        w.unchecked = !checked;
        w.core.yields_to_writers = yields;
        w.replaying(state.newest)?;
        w.set_durability(Durability::Immediate);
        w.commit_keeping_writer()
    }

    /// Applies one logged change (recovery).
    pub(crate) fn apply(
        &mut self,
        table: &mut Option<String>,
        op: crate::log::Op<'_>,
    ) -> Result<()> {
        use crate::log::Op;
        let current = |table: &Option<String>| {
            table
                .clone()
                .ok_or_else(|| Error::corrupted(0, "redo log record: a change names no table"))
        };
        match op {
            Op::Table(name) => {
                self.table(name)?;
                *table = Some(name.to_string());
            }
            Op::Put(key, value) => {
                let name = current(table)?;
                self.table(&name)?.insert(key, value)?;
            }
            Op::Remove(key) => {
                let name = current(table)?;
                self.table(&name)?.remove(key)?;
            }
            Op::DropTable(name) => {
                self.delete_table(name)?;
                *table = None;
            }
        }
        Ok(())
    }

    /// The id this transaction's commit will have.
    pub fn txn_id(&self) -> u64 {
        self.core.txn_id
    }

    /// Sets the durability of this commit (the database's default otherwise).
    pub fn set_durability(&mut self, durability: Durability) {
        self.durability = durability;
        self.core.synced_commit = durability == Durability::Immediate;
    }

    /// Gives free pages at the end of the file back to the file system at commit, even below the
    /// automatic threshold.
    pub(crate) fn force_trim(&mut self) {
        self.force_trim = true;
    }

    /// Moves live pages from the end of the file into free pages lower down at commit (walks
    /// every tree), so a later trim can give the end back.
    pub(crate) fn compact(&mut self) {
        self.compact = true;
    }

    /// Opens a table, creating it if it does not exist.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut users = w.table("users")?; // created if missing
    /// users.insert("alice", "31")?;
    /// assert_eq!(users.get("alice")?, Some(&b"31"[..])); // sees its own writes
    /// // `users` borrows `w` exclusively: one `Table` at a time (see `table_handle` for several).
    /// w.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn table(&mut self, name: &str) -> Result<Table<'_>> {
        let state = self.open_table(name)?;
        Ok(Table {
            core: &mut self.core,
            name: std::borrow::Cow::Owned(name.to_string()),
            state,
        })
    }

    /// A table whose name the caller keeps alive for as long as the `Table` (a
    /// [`TableHandle`](crate::TableHandle)'s): nothing is allocated.
    pub(super) fn table_borrowing<'a>(&'a mut self, name: &'a str) -> Result<Table<'a>> {
        let state = self.open_table(name)?;
        Ok(Table {
            core: &mut self.core,
            name: std::borrow::Cow::Borrowed(name),
            state,
        })
    }

    /// What `table` does before it hands out the `Table`: checks the name, creates the table
    /// if missing, logs it, and returns its state as this transaction has it.
    fn open_table(&mut self, name: &str) -> Result<TableState> {
        check_table_name(name)?;
        self.core.usable()?;
        let state = self.core.table_state(name, true)?.expect("created");
        self.core.log(|redo| redo.table(name));
        match (&mut self.core.buf, &self.core.redo) {
            (Some(buf), Some(_)) => buf.touch_table(name),
            (Some(_), None) => {
                // The merge of the buffer changed the table's tree: its state as it is now.
                self.core.go_direct()?;
                if let Some(Some(merged)) = self.core.tables.get(name) {
                    return Ok(*merged);
                }
            }
            _ => {}
        }
        Ok(state)
    }

    /// The catalog's entry of table `name` (root and count), as the transaction began: the
    /// catalog is written only by the commit, so each name is read once (`WriteCore::peeked`).
    fn catalog_entry(&self, name: &str) -> Result<Option<super::core::CatalogEntry>> {
        const PEEKED_MAX: usize = 16;
        let mut peeked = self
            .core
            .peeked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((_, entry)) = peeked.iter().find(|(n, _)| **n == *name) {
            return Ok(*entry);
        }
        let entry = match crate::btree::get(&self.core, self.core.catalog_root, name.as_bytes())? {
            Some(entry) => Some(super::decode_table_entry(entry)?),
            None => None,
        };
        if peeked.len() < PEEKED_MAX {
            peeked.push((name.into(), entry));
        }
        Ok(entry)
    }

    /// A table as this transaction sees it, read without opening it (shared): its tree root,
    /// entry count and buffered changes; `None` if there is no such table.
    pub(super) fn peek_table(&self, name: &str) -> Result<Option<PeekedTable<'_>>> {
        self.core.usable()?;
        let buf = self.core.buf.as_ref().and_then(|b| b.table(name));
        if buf.is_some_and(|b| !b.exists) {
            return Ok(None); // dropped by a buffered commit
        }
        let tree = match buf {
            Some(b) if b.cleared => None,
            _ => match self.core.tables.get(name) {
                Some(state) => state.map(|s| (s.root, s.len)),
                None => self.catalog_entry(name)?,
            },
        };
        if tree.is_none() && buf.is_none() {
            return Ok(None);
        }
        let (root, tree_len) = tree.unwrap_or((None, 0));
        Ok(Some(PeekedTable {
            root,
            tree_len,
            buf,
        }))
    }

    /// True if the table exists (in this transaction's view).
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// assert!(!w.has_table("t")?);
    /// w.table("t")?;
    /// assert!(w.has_table("t")?);
    /// # Ok(()) }
    /// ```
    pub fn has_table(&mut self, name: &str) -> Result<bool> {
        self.core.usable()?;
        if let Some(table) = self.core.buf.as_ref().and_then(|b| b.table(name)) {
            return Ok(table.exists);
        }
        Ok(self.core.table_state(name, false)?.is_some())
    }

    /// Deletes a table and all its entries; returns false if it did not exist. If it fails
    /// half-way (a damaged page in the table), the transaction can only be aborted. The
    /// transaction then changes the tree directly (the write buffer is merged first) and
    /// commits as a checkpoint.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("tmp")?.insert("k", "v")?;
    /// assert!(w.delete_table("tmp")?);
    /// assert!(!w.has_table("tmp")?);
    /// assert!(!w.delete_table("tmp")?); // no longer there
    /// w.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn delete_table(&mut self, name: &str) -> Result<bool> {
        // A tree operation (its pages are freed now): the transaction goes direct.
        self.core.go_direct()?;
        self.core.trees_changed();
        self.core.guarded(|core| {
            let Some(state) = core.table_state(name, false)? else {
                return Ok(false);
            };
            if let Some(root) = state.root {
                core.free_tree(root)?;
            }
            core.tables.insert(name.to_string(), None);
            core.log(|redo| redo.drop_table(name));
            Ok(true)
        })
    }

    /// Renames table `from` to `to` (its entries stay where they are: O(1)); returns false if
    /// `from` does not exist, [`Error::TableExists`] if `to` does. The redo log has no record
    /// for a rename, so a transaction that renames commits as a checkpoint (its trees are
    /// written and synced, as a large transaction's are).
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("draft")?.insert("k", "v")?;
    /// w.table("final")?;
    /// let taken = w.rename_table("draft", "final");
    /// assert!(matches!(taken, Err(mmtree::Error::TableExists { .. })));
    /// w.delete_table("final")?;
    /// assert!(w.rename_table("draft", "final")?);
    /// assert_eq!(w.table("final")?.get("k")?, Some(&b"v"[..]));
    /// w.commit()?;
    /// # Ok(()) }
    /// ```
    pub fn rename_table(&mut self, from: &str, to: &str) -> Result<bool> {
        check_table_name(to)?;
        self.core.usable()?;
        self.core.go_direct()?;
        self.core.trees_changed();
        let Some(state) = self.core.table_state(from, false)? else {
            return Ok(false);
        };
        if from == to {
            return Ok(true);
        }
        if self.core.table_state(to, false)?.is_some() {
            return Err(Error::TableExists {
                table: to.to_string(),
            });
        }
        self.core.tables.insert(from.to_string(), None);
        self.core.set_table(
            to,
            TableState {
                changed: true,
                ..state
            },
        );
        self.core.log(|_| false);
        Ok(true)
    }

    /// Names of all tables, in order, including those created in this transaction.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("b")?;
    /// w.table("a")?;
    /// assert_eq!(w.list_tables()?, ["a", "b"]);
    /// # Ok(()) }
    /// ```
    pub fn list_tables(&self) -> Result<Vec<String>> {
        self.core.usable()?;
        let mut names: std::collections::BTreeSet<String> =
            super::catalog_names(&self.core, self.core.catalog_root)?
                .into_iter()
                .collect();
        for (name, state) in &self.core.tables {
            match state {
                Some(_) => names.insert(name.clone()),
                None => names.remove(name),
            };
        }
        let names = names.into_iter().collect();
        Ok(match &self.core.buf {
            Some(buf) => super::buffered_names(names, buf),
            None => names,
        })
    }

    /// A loader that builds a table from keys in strictly increasing order, packing pages bottom-up.
    /// The table must be empty.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut loader = w.bulk_load("events")?;
    /// for i in 0..1000u32 {
    ///     loader.append(&i.to_be_bytes(), b"event")?; // keys in strictly increasing order
    /// }
    /// assert_eq!(loader.finish()?, 1000);
    /// w.commit()?;
    /// assert_eq!(db.begin_read()?.table("events")?.map(|t| t.len()).transpose()?, Some(1000));
    /// # Ok(()) }
    /// ```
    pub fn bulk_load(&mut self, name: &str) -> Result<BulkLoader<'_>> {
        check_table_name(name)?;
        self.core.usable()?;
        self.core.go_direct()?;
        self.core.trees_changed();
        let state = self.core.table_state(name, true)?.expect("created");
        if state.len != 0 || state.root.is_some() {
            return Err(Error::TableNotEmpty {
                table: name.to_string(),
                len: state.len,
            });
        }
        // A bulk load is not logged: its pages are synced at commit, which is a checkpoint, so
        // its data is written once.
        self.core.redo = None;
        Ok(BulkLoader::new(&mut self.core, name.to_string()))
    }

    /// Aborts: nothing this transaction did becomes visible. (Dropping does the same.)
    pub fn abort(self) {}

    /// Commits: writes the dirty pages (into the page cache), then makes them current. The
    /// steps: relocate (compaction only) → flush the tables → flush the catalog → trim the free
    /// tail (checkpoints, when due) → save the freelist → write the pages → publish; each is a
    /// function in `txn/commit.rs`, or of the allocator (`alloc`) or of `Shared`.
    ///
    /// Publishing appends the commit's record to the redo log; with [`Durability::Immediate`]
    /// the log is synced before this returns, so the commit survives any crash from then on. A
    /// commit whose record would be larger than [`Options::log_bytes`](crate::Options), a bulk
    /// load, or a compaction is a checkpoint instead: the data file is synced, then its meta
    /// page is written synchronously. Either way every reader in every process sees the commit
    /// as soon as this returns.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "v")?;
    /// w.commit()?; // durable when it returns (the default Durability::Immediate)
    /// let mut w = db.begin_write()?;
    /// w.table("t")?.insert("k", "changed")?;
    /// drop(w); // aborted: nothing of it is kept
    /// let r = db.begin_read()?;
    /// assert_eq!(r.table("t")?.expect("committed").get("k")?, Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    pub fn commit(mut self) -> Result<()> {
        self.commit_steps()
    }

    /// Commits and keeps the writer role (recovery goes on to the caller's transaction).
    pub(crate) fn commit_keeping_writer(mut self) -> Result<WriterGuard> {
        self.commit_steps()?;
        Ok(self
            .writer
            .take()
            .expect("the writer role is held until commit"))
    }

    fn commit_steps(&mut self) -> Result<()> {
        let core = &mut self.core;
        core.db.check_poisoned()?;
        core.usable()?;
        if self.compact || self.force_trim {
            core.go_direct()?; // both are checkpoints: the file shrinks only when durable
        }
        let record_len = core.redo.as_ref().map_or(0, |r| r.len() as u64);
        if core.buf.is_some() && core.db.merge_due_with(&self.state, record_len) {
            // The merge would follow the append at once: commit as the merge instead.
            core.go_direct()?;
        }
        if let Some(view) = core.buf.take() {
            // Buffered: the record goes to the log, the changes to the buffer; no tree page.
            let redo = core.redo.as_mut().expect("buffered mode keeps its record");
            let next = core.db.publish_logged(&self.state, redo, self.durability)?;
            core.db.buffer_committed(&next, view);
            if core.db.merge_due(&next) {
                // The commit is done (and as durable as asked) whatever happens here: a failed
                // merge leaves its commits in the log, and the next writer merges them.
                let writer = self
                    .writer
                    .take()
                    .expect("the writer role is held until commit");
                if let Ok(writer) = WriteTransaction::merge(&core.db, next, writer) {
                    self.writer = Some(writer);
                }
            } else if let Some(start) = core.db.start_merger {
                // Merged off the commit path once the writer is idle (`db::merger`).
                core.db.merge_signal.buffered_commit(&core.db, start);
            }
            if let Some(after_commit) = core.db.after_commit {
                after_commit(&core.db);
            }
            return Ok(());
        }
        core.trees_changed(); // the trees are flushed, and relocated in a compaction
        let mut pages = Vec::new();
        let relocate_above = match self.compact {
            true => Some(commit::relocate_tables(core)?),
            false => None,
        };
        let catalog = commit::flush_tables(core, &mut pages)?;
        let catalog_root = commit::flush_catalog(core, catalog, relocate_above, &mut pages)?;
        if self.force_trim || core.db.should_trim(&core.base) {
            core.trim_tail()?;
        }
        let (freelist_root, free_pages) = core.save_freelist(&mut pages)?;
        core.write_pages(pages)?;
        let meta = commit::new_meta(core, catalog_root, freelist_root, free_pages);
        core.db.publish_checkpoint(meta, &self.state)?;
        if let (Some(after_commit), false) = (core.db.after_commit, self.unchecked) {
            after_commit(&core.db);
        }
        Ok(())
    }
}

/// What [`WriteTransaction::peek_table`] finds.
pub(super) struct PeekedTable<'w> {
    pub(super) root: Option<NodeRef>,
    pub(super) tree_len: u64,
    pub(super) buf: Option<&'w TableBuf>,
}

/// A table inside a write transaction. It borrows the transaction exclusively, so one is open
/// at a time; for several at once, see [`TableHandle`](crate::TableHandle).
pub struct Table<'w> {
    core: &'w mut WriteCore,
    /// Owned when opened by name ([`WriteTransaction::table`]), borrowed from a
    /// [`TableHandle`](crate::TableHandle) (no allocation per call).
    name: std::borrow::Cow<'w, str>,
    state: TableState,
}

impl Table<'_> {
    /// Refuses what would be refused before anything changes (so the transaction stays usable).
    fn check_entry(&self, key: &[u8], value_len: usize) -> Result<()> {
        self.core.usable()?;
        check_key(self.core.page_size, key)?;
        if value_len as u64 > crate::limits::VALUE_SIZE_MAX {
            return Err(Error::ValueTooLarge {
                len: value_len as u64,
                max: crate::limits::VALUE_SIZE_MAX,
            });
        }
        Ok(())
    }

    /// Runs a change to this table; a failure half-way breaks the transaction (see
    /// `WriteCore::guarded`). Then spills dirty pages if they use too much memory.
    fn change<T>(
        &mut self,
        step: impl FnOnce(&mut WriteCore, &mut TableState, &str) -> Result<T>,
    ) -> Result<T> {
        let state = &mut self.state;
        let name = &*self.name;
        let (result, spilled) = self.core.guarded(|core| {
            let result = step(core, state, name)?;
            core.update_table(name, *state);
            Ok((result, core.maybe_spill()?))
        })?;
        if spilled {
            // The spill wrote the dirty trees to pages: the roots changed.
            self.refresh();
        }
        Ok(result)
    }

    /// In buffered mode: whether `key` is in this table as of this transaction.
    fn buffered_contains(&self, key: &[u8]) -> Result<bool> {
        let (root, buf) = self.sources();
        Ok(super::get(&*self.core, root, buf, key)?.is_some())
    }

    /// The tree root to read (none if the buffer dropped the table) and the buffered changes.
    fn sources(&self) -> (Option<NodeRef>, Option<&TableBuf>) {
        let buf = self.core.buf.as_ref().and_then(|b| b.table(&self.name));
        match buf {
            Some(b) if b.cleared => (None, buf),
            _ => (self.state.root, buf),
        }
    }

    /// After the transaction went direct: this table's state as the tree now has it.
    fn refresh(&mut self) {
        if let Some(Some(state)) = self.core.tables.get(&*self.name) {
            self.state = *state;
        }
    }

    /// Buffered mode: whether inserting `key` (not in the table: `existed` false) keeps every
    /// insert of this transaction past the largest key of one table (`Streak`). The first
    /// insert of the transaction reads the table's largest key (one descent); the rest compare
    /// with the previous key.
    fn still_appending(&mut self, key: &[u8], existed: bool) -> Result<bool> {
        let appending = match &mut self.core.streak {
            Streak::Broken => return Ok(false),
            Streak::Appending { table, last } => {
                if !existed && *table == *self.name && key > last.as_slice() {
                    last.clear();
                    last.extend_from_slice(key);
                    return Ok(true);
                }
                false
            }
            Streak::Unknown => {
                let (root, buf) = self.sources();
                let largest = super::last(&*self.core, root, buf)?;
                !existed && largest.is_none_or(|(largest, _)| key > largest)
            }
        };
        self.core.streak = match appending {
            true => Streak::Appending {
                table: self.name.to_string(),
                last: key.to_vec(),
            },
            false => Streak::Broken,
        };
        Ok(appending)
    }

    /// Buffered mode: logs a change and adds it to the buffer (`buffer`). False: the
    /// transaction is (now) direct; the change was not made. `appending`: every insert so far
    /// went past its table's largest key, and the transaction goes direct sooner
    /// (`APPEND_DIRECT_RECORD`).
    fn buffered(
        &mut self,
        log: impl FnOnce(&mut crate::log::RedoBuf) -> bool,
        buffer: impl FnOnce(&mut crate::wbuf::BufView),
        appending: bool,
    ) -> Result<bool> {
        if self.core.buf.is_none() {
            return Ok(false);
        }
        self.core.log(log);
        // Only for a commit that syncs anyway (`Immediate`: a checkpoint's syncs cost about
        // what the log's does; an `Eventual` commit stays one unsynced append, its keys go to
        // the tree at the next merge), and not under the hook that crashes a log append.
        let early =
            appending && self.core.synced_commit && self.core.db.options.crash_in_append.is_none();
        let room = match early {
            true => self.core.record_room.min(APPEND_DIRECT_RECORD),
            false => self.core.record_room,
        };
        if let Some(redo) = &self.core.redo {
            let small = (redo.len() as u64) < room;
            buffer(self.core.buf.as_mut().expect("buffered"));
            if small {
                return Ok(true);
            }
            // Its commit would merge the buffer anyway: merge now (this change included), and
            // the rest goes to the tree directly.
            self.core.go_direct()?;
            self.refresh();
            return Ok(true);
        }
        // The record outgrew its budget: the buffer and this transaction's changes so far go
        // to the tree, and so does the rest.
        self.core.go_direct()?;
        self.refresh();
        Ok(false)
    }

    /// Inserts or replaces the value under `key`.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// t.insert("k", "v1")?;
    /// t.insert(b"k", b"v2")?; // replaces; keys and values are anything that is bytes
    /// t.insert(vec![0u8, 1], String::from("v3"))?;
    /// assert_eq!(t.len()?, 2);
    /// let too_long = t.insert(vec![0u8; 100_000], "v");
    /// assert!(matches!(too_long, Err(mmtree::Error::KeyTooLarge { .. })));
    /// t.insert("still", "usable")?; // a refused entry changes nothing
    /// # Ok(()) }
    /// ```
    pub fn insert(&mut self, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.as_ref());
        self.check_entry(key, value.len())?;
        if self.core.buf.is_some() {
            // Whether the key is there only if the buffer knows: the tree is asked when a
            // count is (`txn::buffered_len`), not by every put.
            let existed = self
                .core
                .buf
                .as_ref()
                .and_then(|b| b.knows(&self.name, key));
            let appending = self.still_appending(key, existed == Some(true))?;
            let name = self.name.clone(); // no allocation when borrowed
            if self.buffered(
                |redo| redo.put(&name, key, value),
                |buf| buf.put(&name, key, value, existed),
                appending,
            )? {
                return Ok(());
            }
        }
        self.change(|core, state, name| core.insert_entry(name, state, key, value))
    }

    /// Removes `key`; returns true if it was there.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// t.insert("k", "v")?;
    /// assert!(t.remove("k")?);
    /// assert!(!t.remove("k")?); // gone
    /// # Ok(()) }
    /// ```
    pub fn remove(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        if self.core.buf.is_some() {
            self.core.usable()?;
            if !self.buffered_contains(key)? {
                return Ok(false);
            }
            self.core.streak = Streak::Broken;
            let name = self.name.clone(); // no allocation when borrowed
            if self.buffered(
                |redo| redo.remove(&name, key),
                |buf| buf.remove(&name, key, Some(true)),
                false,
            )? {
                return Ok(true);
            }
        }
        self.change(|core, state, name| {
            core.table_changed(name);
            let (root, old) = core.tree_remove(state.root, key)?;
            let Some(old) = old else { return Ok(false) };
            state.root = root;
            state.changed = true;
            state.len = state.len.checked_sub(1).ok_or_else(|| {
                Error::corrupted(0, format!("table {name:?} has a wrong entry count"))
            })?;
            core.free_value(old)?;
            Ok(true)
        })
    }

    /// Removes `key` if it is there, without saying whether it was. With buffered commits it
    /// reads no tree page (a count looks the key up later, once: see
    /// [`ReadTable::len`](crate::ReadTable::len)), so it is cheaper than
    /// [`remove`](Self::remove) where the answer is not needed.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// t.insert("k", "v")?;
    /// t.delete("k")?;
    /// t.delete("never there")?; // nothing to remove: fine
    /// assert_eq!((t.get("k")?, t.len()?), (None, 0));
    /// # Ok(()) }
    /// ```
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<()> {
        let key = key.as_ref();
        if self.core.buf.is_some() {
            self.core.usable()?;
            if check_key(self.core.page_size, key).is_err() {
                return Ok(()); // too long to be there
            }
            let existed = self
                .core
                .buf
                .as_ref()
                .and_then(|b| b.knows(&self.name, key));
            if existed == Some(false) {
                return Ok(());
            }
            self.core.streak = Streak::Broken;
            let name = self.name.clone(); // no allocation when borrowed
            if self.buffered(
                |redo| redo.remove(&name, key),
                |buf| buf.remove(&name, key, existed),
                false,
            )? {
                return Ok(());
            }
        }
        self.remove(key).map(drop)
    }

    /// The value under `key` (this transaction's writes included).
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// t.insert("k", "v")?;
    /// assert_eq!(t.get("k")?, Some(&b"v"[..]));
    /// assert_eq!(t.get("other")?, None);
    /// # Ok(()) }
    /// ```
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<&[u8]>> {
        let (root, buf) = self.sources();
        super::get_noting(&*self.core, root, buf, key.as_ref())
    }

    /// Entries with keys in `range`, in key order, this transaction's changes included; see
    /// [`ReadTable::range`](crate::ReadTable::range) and [`KeyRange`].
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// for key in ["a", "b", "c"] {
    ///     t.insert(key, "")?;
    /// }
    /// t.remove("b")?;
    /// let keys: Vec<&[u8]> = t.range("a"..)?.map(|e| e.map(|(k, _)| k)).collect::<Result<_, _>>()?;
    /// assert_eq!(keys, [b"a", b"c"]);
    /// # Ok(()) }
    /// ```
    pub fn range<R: KeyRange>(&self, range: R) -> Result<Range<'_>> {
        let (root, buf) = self.sources();
        Ok(super::public_range(&*self.core, root, buf, &range))
    }

    /// The entry with the smallest key.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// assert_eq!(t.first()?, None);
    /// t.insert("b", "2")?;
    /// t.insert("a", "1")?;
    /// assert_eq!(t.first()?, Some((&b"a"[..], &b"1"[..])));
    /// # Ok(()) }
    /// ```
    pub fn first(&self) -> Result<Option<(&[u8], &[u8])>> {
        let (root, buf) = self.sources();
        super::first(&*self.core, root, buf)
    }

    /// The entry with the largest key.
    ///
    /// ```
    /// # fn main() -> mmtree::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
    /// let mut w = db.begin_write()?;
    /// let mut t = w.table("t")?;
    /// t.insert("b", "2")?;
    /// t.insert("a", "1")?;
    /// assert_eq!(t.last()?, Some((&b"b"[..], &b"2"[..])));
    /// # Ok(()) }
    /// ```
    pub fn last(&self) -> Result<Option<(&[u8], &[u8])>> {
        let (root, buf) = self.sources();
        super::last(&*self.core, root, buf)
    }

    /// Number of entries (this transaction's changes included). Exact; with buffered commits
    /// it may read the tree (see [`ReadTable::len`](crate::ReadTable::len)).
    pub fn len(&self) -> Result<u64> {
        let (root, buf) = self.sources();
        let tree = match root {
            None if buf.is_some_and(|b| b.cleared) => 0,
            _ => self.state.len,
        };
        super::buffered_len(&*self.core, root, tree, buf)
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.first()?.is_none())
    }
}
