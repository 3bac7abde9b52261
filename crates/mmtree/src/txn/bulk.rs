//! Bulk loading sorted input: leaves are packed full and written as they fill, each level of
//! branches is built as the level below emits pages (the `MDB_APPEND` idea, without the half-empty
//! pages a split leaves behind). Memory use is one partial node per level.

use super::core::{TableState, WriteCore};
use crate::alloc::Allocate;
use crate::btree::codec::encode_node;
use crate::btree::node::{KeyBuf, Node, NodeRef, Value};
use crate::btree::store::NodeStore;
use crate::error::{short_hex, Error, Result};
use crate::page::{branch_entry_size, usable};

struct Level {
    node: Node,
    /// The first key under this node (a branch stores it as its empty key 0).
    first_key: KeyBuf,
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
        self.push(0, KeyBuf::from_slice(key), EntryPayload::Leaf(value))
    }

    /// Marks the transaction broken if `result` is a failure (see `WriteCore::guarded`).
    fn broken_on<T>(&mut self, result: Result<T>) -> Result<T> {
        self.core.guarded(|_| result)
    }

    /// Entries appended so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn push(&mut self, level: usize, key: KeyBuf, payload: EntryPayload) -> Result<()> {
        if self.levels.len() == level {
            self.levels.push(Level {
                node: if level == 0 {
                    Node::new_leaf()
                } else {
                    Node::new_branch()
                },
                first_key: KeyBuf::new(),
                emitted: 0,
            });
        }
        let limit = usable(self.core.page_size);
        let size = match &payload {
            EntryPayload::Leaf(value) => {
                crate::page::leaf_entry_size(key.len(), value.stored_len())
            }
            EntryPayload::Child(_) => {
                branch_entry_size(if self.levels[level].node.keys.is_empty() {
                    0
                } else {
                    key.len()
                })
            }
        };
        if !self.levels[level].node.keys.is_empty() && self.levels[level].node.bytes + size > limit
        {
            self.emit(level)?;
        }
        let level_state = &mut self.levels[level];
        let node = &mut level_state.node;
        let first = node.keys.is_empty();
        match payload {
            EntryPayload::Leaf(value) => {
                node.values_mut().push(value);
                if first {
                    level_state.first_key = key.clone();
                }
                node.keys.push(key);
            }
            EntryPayload::Child(child) => {
                node.children_mut().push(NodeRef::Page(child));
                if first {
                    level_state.first_key = key;
                    node.keys.push(KeyBuf::new());
                } else {
                    node.keys.push(key);
                }
            }
        }
        node.bytes += if first { node.entry_size(0) } else { size };
        Ok(())
    }

    /// Writes the node of `level` as a page and adds it to the level above.
    fn emit(&mut self, level: usize) -> Result<()> {
        let node = std::mem::replace(
            &mut self.levels[level].node,
            if level == 0 {
                Node::new_leaf()
            } else {
                Node::new_branch()
            },
        );
        let first_key = std::mem::take(&mut self.levels[level].first_key);
        self.levels[level].emitted += 1;
        let page_id = self.write_node(&node)?;
        self.push(level + 1, first_key, EntryPayload::Child(page_id))
    }

    fn write_node(&mut self, node: &Node) -> Result<u64> {
        let page_id = self.core.take_at_end(1)?;
        self.allocated.push(page_id);
        let mut page = self.core.db.page_buffer();
        encode_node(node, &mut page, page_id, self.core.txn_id);
        self.out.push((page_id, page));
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
                let node = std::mem::replace(&mut self.levels[level].node, Node::new_leaf());
                root = match node.keys.len() {
                    0 => None,
                    1 if !node.is_leaf() => Some(node.children()[0]),
                    _ => Some(NodeRef::Page(self.write_node(&node)?)),
                };
                break;
            }
            if !self.levels[level].node.keys.is_empty() {
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

enum EntryPayload {
    Leaf(Value),
    Child(u64),
}

impl Drop for BulkLoader<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // Unfinished: the pages written so far are unreachable; give them back.
        for page in std::mem::take(&mut self.allocated) {
            self.core.free_page(page);
        }
        for value in std::mem::take(&mut self.overflow_values) {
            // Runs this loader wrote itself: always inside the file.
            let _ = self.core.free_value(value);
        }
    }
}
