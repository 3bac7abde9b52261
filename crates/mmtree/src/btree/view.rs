//! One read interface over mapped pages and the write transaction's dirty nodes: both are pages
//! in the same layout, read through `PageView`.

use super::node::NodeRef;
use crate::error::Result;
use crate::page::view::ValueRef;

/// A node being read: a mapped page or a dirty buffer.
pub(crate) type NodeView<'a> = crate::page::view::PageView<'a>;

/// Where tree nodes are read from: a read snapshot, or a write transaction.
pub(crate) trait Source {
    fn view(&self, node: NodeRef) -> Result<NodeView<'_>>;
    /// The bytes of an overflow value.
    fn overflow(&self, page: u64, len: u64) -> Result<&[u8]>;
    /// A hint that these pages will be read soon (a scan ahead of itself); may reorder `ids`.
    fn prefetch(&self, _ids: &mut [u64]) {}
    /// A hint that page `id` will be read next (a scan about to leave its leaf): its header
    /// and first slots are asked into the CPU cache. Never faults, never fails.
    fn touch_ahead(&self, _id: u64) {}
    /// Whether `prefetch` does anything (if not, scans do not look ahead at all).
    fn prefetches(&self) -> bool {
        false
    }

    fn resolve<'a>(&'a self, value: ValueRef<'a>) -> Result<&'a [u8]> {
        match value {
            ValueRef::Inline(bytes) => Ok(bytes),
            ValueRef::Overflow { page, len } => self.overflow(page, len),
        }
    }
}
