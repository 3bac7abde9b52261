//! The write transaction's in-memory node: a decoded page being modified (copy-on-write).

use crate::page::{branch_entry_size, leaf_entry_size, OVERFLOW_REF_SIZE};
use smallvec::SmallVec;

/// A key in a dirty node: short keys live inline (no heap allocation per key when a page is
/// decoded for copy-on-write).
pub(crate) type KeyBuf = SmallVec<[u8; 32]>;
/// An inline value in a dirty node: values up to 120 bytes live inline.
pub(crate) type ValueBuf = SmallVec<[u8; 120]>;

/// Where a child node lives: a committed (or spilled) page, or a dirty node in the write
/// transaction's arena.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeRef {
    Page(u64),
    Dirty(u32),
}

/// A leaf value: inline bytes, or a reference to an overflow run already written to the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Inline(ValueBuf),
    Overflow { page: u64, len: u64 },
}

impl Value {
    /// Bytes the value takes inside a leaf cell.
    pub(crate) fn stored_len(&self) -> usize {
        match self {
            Value::Inline(bytes) => bytes.len(),
            Value::Overflow { .. } => OVERFLOW_REF_SIZE,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) enum Entries {
    Leaf(Vec<Value>),
    /// `children[i]` holds keys `>= keys[i]` and `< keys[i + 1]`; `keys[0]` is always empty and
    /// stands for "minus infinity".
    Branch(Vec<NodeRef>),
}

/// A decoded, modifiable node.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub keys: Vec<KeyBuf>,
    pub entries: Entries,
    /// Encoded size of all entries (slots + cells), without the page header.
    pub bytes: usize,
}

impl Node {
    pub(crate) fn new_leaf() -> Node {
        Node {
            keys: Vec::new(),
            entries: Entries::Leaf(Vec::new()),
            bytes: 0,
        }
    }

    pub(crate) fn new_branch() -> Node {
        Node {
            keys: Vec::new(),
            entries: Entries::Branch(Vec::new()),
            bytes: 0,
        }
    }

    pub(crate) fn is_leaf(&self) -> bool {
        matches!(self.entries, Entries::Leaf(_))
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    pub(crate) fn entry_size(&self, index: usize) -> usize {
        match &self.entries {
            Entries::Leaf(values) => {
                leaf_entry_size(self.keys[index].len(), values[index].stored_len())
            }
            Entries::Branch(_) => branch_entry_size(self.keys[index].len()),
        }
    }

    pub(crate) fn recompute_bytes(&mut self) {
        self.bytes = (0..self.len()).map(|i| self.entry_size(i)).sum();
    }

    pub(crate) fn values(&self) -> &Vec<Value> {
        match &self.entries {
            Entries::Leaf(values) => values,
            Entries::Branch(_) => unreachable!("values() on a branch node"),
        }
    }

    pub(crate) fn values_mut(&mut self) -> &mut Vec<Value> {
        match &mut self.entries {
            Entries::Leaf(values) => values,
            Entries::Branch(_) => unreachable!("values_mut() on a branch node"),
        }
    }

    pub(crate) fn children(&self) -> &Vec<NodeRef> {
        match &self.entries {
            Entries::Branch(children) => children,
            Entries::Leaf(_) => unreachable!("children() on a leaf node"),
        }
    }

    pub(crate) fn children_mut(&mut self) -> &mut Vec<NodeRef> {
        match &mut self.entries {
            Entries::Branch(children) => children,
            Entries::Leaf(_) => unreachable!("children_mut() on a leaf node"),
        }
    }

    /// Splits off the entries from `at` on into a new node of the same kind.
    pub(crate) fn split_off(&mut self, at: usize) -> Node {
        let keys = self.keys.split_off(at);
        let entries = match &mut self.entries {
            Entries::Leaf(values) => Entries::Leaf(values.split_off(at)),
            Entries::Branch(children) => Entries::Branch(children.split_off(at)),
        };
        let mut right = Node {
            keys,
            entries,
            bytes: 0,
        };
        right.recompute_bytes();
        self.recompute_bytes();
        right
    }

    /// Appends all entries of `right` (same kind) to this node.
    pub(crate) fn append(&mut self, mut right: Node) {
        self.keys.append(&mut right.keys);
        match (&mut self.entries, right.entries) {
            (Entries::Leaf(a), Entries::Leaf(mut b)) => a.append(&mut b),
            (Entries::Branch(a), Entries::Branch(mut b)) => a.append(&mut b),
            _ => unreachable!("append() of nodes of different kinds"),
        }
        self.bytes += right.bytes;
    }
}
