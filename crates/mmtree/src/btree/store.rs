//! The narrow interface between the tree algorithms and the write transaction.
//!
//! The mutation code (`mutate`) needs dirty nodes, page ids and overflow runs, and nothing else
//! of the transaction: it sees them through [`NodeStore`], which the write transaction
//! implements (with the allocator behind `alloc_page`/`free_page`). Reads go through
//! [`Source`](super::view::Source), shared with read snapshots.

use super::arena::Arena;
use super::node::{Node, Value};
use super::view::Source;
use crate::error::Result;

pub(crate) trait NodeStore: Source {
    fn arena(&self) -> &Arena;
    fn arena_mut(&mut self) -> &mut Arena;
    fn page_size(&self) -> usize;
    /// A modifiable copy of page `page` (checked whole).
    fn load_node(&self, page: u64) -> Result<Node>;
    /// An empty leaf or branch in a fresh page buffer.
    fn new_node(&self, leaf: bool) -> Node;
    /// A fresh page-sized buffer (for rebuilding nodes).
    fn buffer(&self) -> Vec<u8>;
    /// Gives a node's buffer back for reuse.
    fn recycle(&self, node: Node);
    /// A page id for a node being written (the file already covers it).
    fn alloc_page(&mut self) -> Result<u64>;
    /// Page `page` is no longer reachable from this transaction's trees.
    fn free_page(&mut self, page: u64) -> Result<()>;
    /// A replaced or removed value: frees its overflow run, if it has one.
    fn free_value(&mut self, value: Value) -> Result<()>;
    /// Writes `value` to a new overflow run now.
    fn write_overflow(&mut self, value: &[u8]) -> Result<Value>;
    /// `node` sealed as page `page_id` of this transaction.
    fn seal_page(&self, node: Node, page_id: u64) -> Vec<u8>;
}
