//! One read interface over mapped pages and the write transaction's dirty nodes.

use super::node::{Node, NodeRef, Value};
use crate::error::Result;
use crate::page::view::{PageView, ValueRef};

/// Where tree nodes are read from: a read snapshot, or a write transaction.
pub(crate) trait Source {
    fn view(&self, node: NodeRef) -> Result<NodeView<'_>>;
    /// The bytes of an overflow value.
    fn overflow(&self, page: u64, len: u64) -> Result<&[u8]>;
    /// A hint that these pages will be read soon (a scan ahead of itself); may reorder `ids`.
    fn prefetch(&self, _ids: &mut [u64]) {}
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

#[derive(Clone, Copy)]
pub(crate) enum NodeView<'a> {
    Page(PageView<'a>),
    Dirty(&'a Node),
}

impl<'a> NodeView<'a> {
    pub(crate) fn is_leaf(&self) -> bool {
        match self {
            NodeView::Page(page) => page.is_leaf(),
            NodeView::Dirty(node) => node.is_leaf(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        match self {
            NodeView::Page(page) => page.len(),
            NodeView::Dirty(node) => node.len(),
        }
    }

    pub(crate) fn key(&self, index: usize) -> Result<&'a [u8]> {
        match self {
            NodeView::Page(page) => page.key(index),
            NodeView::Dirty(node) => Ok(&node.keys[index]),
        }
    }

    /// Key and value of leaf entry `index`.
    pub(crate) fn entry(&self, index: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        match self {
            NodeView::Page(page) => page.entry(index),
            NodeView::Dirty(_) => Ok((self.key(index)?, self.value(index)?)),
        }
    }

    pub(crate) fn value(&self, index: usize) -> Result<ValueRef<'a>> {
        match self {
            NodeView::Page(page) => page.value(index),
            NodeView::Dirty(node) => Ok(match &node.values()[index] {
                Value::Inline(bytes) => ValueRef::Inline(bytes),
                Value::Overflow { page, len } => ValueRef::Overflow {
                    page: *page,
                    len: *len,
                },
            }),
        }
    }

    pub(crate) fn child(&self, index: usize) -> Result<NodeRef> {
        match self {
            NodeView::Page(page) => page.child(index).map(NodeRef::Page),
            NodeView::Dirty(node) => Ok(node.children()[index]),
        }
    }
}
