//! Bulk loading sorted input: leaves are packed full and written as they fill, each level of
//! branches is built as the level below emits pages (the `MDB_APPEND` idea, without the half-empty
//! pages a split leaves behind). Memory use is one partial node per level.

use super::core::{TableState, WriteCore};
use crate::alloc::Allocate;
use crate::btree::mutate::shortest_separator;
use crate::btree::node::{Node, NodeRef, Value};
use crate::btree::store::NodeStore;
use crate::error::{short_hex, Error, Result};
use crate::page::edit::{Entry, Payload};

struct Level {
    /// The page being filled, entries appended in place.
    node: Node,
    /// The separator of this node in the level above (a branch stores it as its empty key 0).
    first_key: Vec<u8>,
    emitted: u64,
}

/// Builds a table from entries given in strictly increasing key order. Unsorted input is an
/// error ([`Error::Unsorted`]), never a silently broken tree. Dropping the loader without
/// [`finish`](BulkLoader::finish) leaves the table empty.
pub struct BulkLoader<'w> {
    core: &'w mut WriteCore,
    table: String,
    levels: Vec<Level>,
    last_key: Option<Vec<u8>>,
    count: u64,
    out: Vec<(u64, Vec<u8>)>,
    allocated: Vec<u64>,
    overflow_values: Vec<Value>,
    finished: bool,
}

impl<'w> BulkLoader<'w> {
    pub(crate) fn new(core: &'w mut WriteCore, table: String) -> Self {
        BulkLoader {
            core,
            table,
            levels: Vec::new(),
            last_key: None,
            count: 0,
            out: Vec::new(),
            allocated: Vec::new(),
            overflow_values: Vec::new(),
            finished: false,
        }
    }

    /// Appends one entry; its key must be greater than the previous one.
    ///
    /// Refused input (a key too long, out of order, a value too large) changes nothing. Any other
    /// failure (a full disk, an I/O error) breaks the write transaction: pages of the loader are
    /// half-written, so later appends, `finish` and `commit` fail with
    /// [`Error::TransactionFailed`]; abort and start again.
    pub fn append(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.core.usable()?;
        super::write::check_key(self.core.page_size, key)?;
        if value.len() as u64 > crate::limits::VALUE_SIZE_MAX {
            return Err(Error::ValueTooLarge {
                len: value.len() as u64,
                max: crate::limits::VALUE_SIZE_MAX,
            });
        }
        if let Some(previous) = &self.last_key {
            if key <= previous.as_slice() {
                return Err(Error::Unsorted {
                    previous: short_hex(previous),
                    key: short_hex(key),
                });
            }
        }
        let result = self.append_checked(key, value);
        self.broken_on(result)?;
        match &mut self.last_key {
            Some(last) => {
                last.clear();
                last.extend_from_slice(key);
            }
            None => self.last_key = Some(key.to_vec()),
        }
        self.count += 1;
        Ok(())
    }

    fn append_checked(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        let value = self.core.make_value(key.len(), value)?;
        if let Value::Overflow { .. } = value {
            self.overflow_values.push(value.clone());
        }
        self.push(0, key, Payload::Value(value.as_ref()))
    }

    /// Marks the transaction broken if `result` is a failure (see `WriteCore::guarded`).
    fn broken_on<T>(&mut self, result: Result<T>) -> Result<T> {
        self.core.guarded(|_| result)
    }

    /// Entries appended so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Appends an entry to the page of `level`; when it is full, writes that page first (its
    /// separator goes to the level above) and starts the next with this entry.
    fn push(&mut self, level: usize, key: &[u8], payload: Payload<'_>) -> Result<()> {
        if self.levels.len() == level {
            self.levels.push(Level {
                node: self.core.new_node(level == 0),
                first_key: Vec::new(),
                emitted: 0,
            });
        }
        let entry = Entry { key, payload };
        let index = self.levels[level].node.len();
        if self.levels[level].node.insert(index, entry) {
            if index == 0 {
                self.levels[level].first_key = key.to_vec();
            }
            return Ok(());
        }
        // The page is full. A leaf's successor is told apart by the shortest separator.
        let separator = match (&self.last_key, level) {
            (Some(last), 0) => shortest_separator(last, key).to_vec(),
            _ => key.to_vec(),
        };
        self.emit(level)?;
        let inserted = self.levels[level].node.insert(0, entry);
        assert!(inserted, "one entry fits an empty page");
        self.levels[level].first_key = separator;
        Ok(())
    }

    /// Writes the node of `level` as a page and adds it to the level above.
    fn emit(&mut self, level: usize) -> Result<()> {
        let fresh = self.core.new_node(level == 0);
        let mut node = std::mem::replace(&mut self.levels[level].node, fresh);
        let first_key = std::mem::take(&mut self.levels[level].first_key);
        self.levels[level].emitted += 1;
        node.tighten_prefix();
        let page_id = self.write_node(node)?;
        self.push(
            level + 1,
            &first_key,
            Payload::Child(NodeRef::Page(page_id)),
        )
    }

    fn write_node(&mut self, node: Node) -> Result<u64> {
        let page_id = self.core.take_at_end(1)?;
        self.allocated.push(page_id);
        self.out
            .push((page_id, node.seal(page_id, self.core.txn_id)));
        if self.out.len() * self.core.page_size >= 8 << 20 {
            let out = std::mem::take(&mut self.out);
            self.core.write_pages(out)?;
        }
        Ok(page_id)
    }

    /// Finishes the tree and makes it the table's content. Returns the number of entries.
    pub fn finish(mut self) -> Result<u64> {
        self.core.usable()?;
        let result = self.finish_checked();
        self.broken_on(result)
    }

    fn finish_checked(&mut self) -> Result<u64> {
        let mut root = None;
        let mut level = 0;
        while level < self.levels.len() {
            let top = level + 1 == self.levels.len();
            if top && self.levels[level].emitted == 0 {
                let fresh = self.core.new_node(true);
                let mut node = std::mem::replace(&mut self.levels[level].node, fresh);
                root = match node.len() {
                    0 => None,
                    1 if !node.is_leaf() => Some(node.view().child(0)?),
                    _ => {
                        node.tighten_prefix();
                        Some(NodeRef::Page(self.write_node(node)?))
                    }
                };
                break;
            }
            if self.levels[level].node.len() > 0 {
                self.emit(level)?;
            }
            level += 1;
        }
        let out = std::mem::take(&mut self.out);
        self.core.write_pages(out)?;
        self.core.set_table(
            &self.table,
            TableState {
                root,
                len: self.count,
                changed: true,
            },
        );
        self.finished = true;
        Ok(self.count)
    }
}

impl Drop for BulkLoader<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Unfinished: the pages written so far are unreachable; give them back.
        for page in std::mem::take(&mut self.allocated) {
            // Pages this loader took: never freed before.
            let _ = self.core.free_page(page);
        }
        for value in std::mem::take(&mut self.overflow_values) {
            // Runs this loader wrote itself: always inside the file.
            let _ = self.core.free_value(value);
        }
    }
}
