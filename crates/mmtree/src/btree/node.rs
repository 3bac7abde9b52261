//! The write transaction's dirty nodes are page buffers edited in place (`page::edit`); this
//! module names them for the tree code and holds the owned value type the mutations take.

use crate::page::view::ValueRef;
use smallvec::SmallVec;

/// A dirty node: a page-sized buffer in the file's layout.
pub(crate) type Node = crate::page::edit::PageBuf;

/// Where a child node lives: a committed (or spilled) page, or a dirty node in the write
/// transaction's arena.
pub(crate) use crate::page::view::Child as NodeRef;

/// An inline value on its way into a leaf: values up to 120 bytes live inline.
pub(crate) type ValueBuf = SmallVec<[u8; 120]>;

/// A leaf value: inline bytes, or a reference to an overflow run already written to the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    Inline(ValueBuf),
    Overflow { page: u64, len: u64 },
}

impl Value {
    pub(crate) fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Inline(bytes) => ValueRef::Inline(bytes),
            Value::Overflow { page, len } => ValueRef::Overflow {
                page: *page,
                len: *len,
            },
        }
    }

    pub(crate) fn from_ref(value: ValueRef<'_>) -> Value {
        match value {
            ValueRef::Inline(bytes) => Value::Inline(ValueBuf::from_slice(bytes)),
            ValueRef::Overflow { page, len } => Value::Overflow { page, len },
        }
    }
}
