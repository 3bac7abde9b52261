//! The write transaction and its tables. One at a time per database; dropping it aborts.

use super::commit;
use super::core::{TableState, WriteCore};
use super::{check_table_name, BulkLoader, Range};
use crate::alloc::{Allocate, Floors};
use crate::btree::mutate::Mutate;
use crate::btree::store::NodeStore;
use crate::error::{Error, Result};
use crate::limits::key_size_max;
use crate::options::Durability;
use crate::shared::{PublishedState, Shared, WriterGuard};
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
    core: WriteCore,
    durability: Durability,
    force_trim: bool,
    compact: bool,
    /// The published state this transaction builds on.
    state: PublishedState,
    writer: Option<WriterGuard>,
}

impl WriteTransaction {
    pub(crate) fn new(
        db: Arc<Shared>,
        state: PublishedState,
        floors: Floors,
        writer: WriterGuard,
    ) -> Self {
        let durability = db.options.durability;
        WriteTransaction {
            core: WriteCore::new(db, state.meta, floors),
            state,
            durability,
            force_trim: false,
            compact: false,
            writer: Some(writer),
        }
    }

    /// Recovery: this transaction replays log records up to commit `txn` and takes that id; it
    /// is committed as a checkpoint (its changes are already in the log).
    pub(crate) fn replaying(&mut self, txn: u64) {
        debug_assert!(txn > self.core.base.txn_id);
        self.core.txn_id = txn;
        self.core.redo = None;
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
    pub fn table(&mut self, name: &str) -> Result<Table<'_>> {
        check_table_name(name)?;
        self.core.usable()?;
        let state = self.core.table_state(name, true)?.expect("created");
        self.core.log(|redo| redo.table(name));
        Ok(Table {
            core: &mut self.core,
            name: name.to_string(),
            state,
        })
    }

    /// True if the table exists (in this transaction's view).
    pub fn has_table(&mut self, name: &str) -> Result<bool> {
        self.core.usable()?;
        Ok(self.core.table_state(name, false)?.is_some())
    }

    /// Deletes a table and all its entries; returns false if it did not exist. If it fails
    /// half-way (a damaged page in the table), the transaction can only be aborted.
    pub fn delete_table(&mut self, name: &str) -> Result<bool> {
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
    pub fn rename_table(&mut self, from: &str, to: &str) -> Result<bool> {
        check_table_name(to)?;
        self.core.usable()?;
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
        Ok(names.into_iter().collect())
    }

    /// A loader that builds a table from keys in strictly increasing order, packing pages bottom-up.
    /// The table must be empty.
    pub fn bulk_load(&mut self, name: &str) -> Result<BulkLoader<'_>> {
        check_table_name(name)?;
        self.core.usable()?;
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
            core.redo = None; // both are checkpoints: the file shrinks only when durable
        }
        let mut pages = Vec::new();
        let relocate_above = match self.compact {
            true => Some(commit::relocate_tables(core)?),
            false => None,
        };
        let catalog = commit::flush_tables(core, &mut pages)?;
        let catalog_root = commit::flush_catalog(core, catalog, relocate_above, &mut pages)?;
        let checkpoint = core.redo.is_none();
        if checkpoint && (self.force_trim || core.db.should_trim(&core.base)) {
            core.trim_tail()?;
        }
        let (freelist_root, free_pages) = core.save_freelist(&mut pages)?;
        core.write_pages(pages)?;
        let meta = commit::new_meta(core, catalog_root, freelist_root, free_pages);
        let pinned = core.alloc.pinned;
        core.db.publish(
            meta,
            &self.state,
            core.redo.as_mut(),
            self.durability,
            pinned,
        )?;
        if let Some(after_commit) = core.db.after_commit {
            after_commit(&core.db);
        }
        Ok(())
    }
}

/// A table inside a write transaction.
pub struct Table<'w> {
    core: &'w mut WriteCore,
    name: String,
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
        let name = &self.name;
        let result = self.core.guarded(|core| {
            let result = step(core, state, name)?;
            core.set_table(name, *state);
            core.maybe_spill()?;
            Ok(result)
        })?;
        if let Some(Some(state)) = self.core.tables.get(&self.name) {
            self.state = *state;
        }
        Ok(result)
    }

    /// Inserts or replaces the value under `key`.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.check_entry(key, value.len())?;
        self.change(|core, state, name| {
            core.log(|redo| redo.put(name, key, value));
            let value = core.make_value(key.len(), value)?;
            let (root, old) = core.tree_insert(state.root, key, value)?;
            state.root = Some(root);
            state.changed = true;
            match old {
                Some(old) => core.free_value(old)?,
                None => state.len += 1,
            }
            Ok(())
        })
    }

    /// Removes `key`; returns true if it was there.
    pub fn remove(&mut self, key: &[u8]) -> Result<bool> {
        self.change(|core, state, name| {
            let (root, old) = core.tree_remove(state.root, key)?;
            let Some(old) = old else { return Ok(false) };
            core.log(|redo| redo.remove(name, key));
            state.root = root;
            state.changed = true;
            state.len = state.len.checked_sub(1).ok_or_else(|| {
                Error::corrupted(0, format!("table {name:?} has a wrong entry count"))
            })?;
            core.free_value(old)?;
            Ok(true)
        })
    }

    /// The value under `key` (this transaction's writes included).
    pub fn get(&self, key: &[u8]) -> Result<Option<&[u8]>> {
        crate::btree::get(&*self.core, self.state.root, key)
    }

    /// Entries with keys in `range`, in order; see [`crate::ReadTable::range`].
    pub fn range<'k, R: std::ops::RangeBounds<&'k [u8]>>(&self, range: R) -> Result<Range<'_>> {
        Ok(super::range(&*self.core, self.state.root, range))
    }

    /// The entry with the smallest key.
    pub fn first(&self) -> Result<Option<(&[u8], &[u8])>> {
        super::first(&*self.core, self.state.root)
    }

    /// The entry with the largest key.
    pub fn last(&self) -> Result<Option<(&[u8], &[u8])>> {
        super::last(&*self.core, self.state.root)
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.state.len
    }

    /// True when the table has no entries.
    pub fn is_empty(&self) -> bool {
        self.state.len == 0
    }
}
