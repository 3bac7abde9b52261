//! Transactions: read snapshots and the single writer.

mod bounded;
mod bulk;
pub(crate) mod core;
mod read;
mod write;

pub use bounded::BoundedReadTransaction;
pub use bulk::BulkLoader;
pub use read::{ReadTable, ReadTransaction};
pub use write::{Table, WriteTransaction};

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::node::NodeRef;
use crate::btree::view::Source;
use crate::error::{Error, Result};
use crate::limits::TABLE_NAME_MAX;

/// An iterator over a key range, in key order, from either end (`.rev()` works).
///
/// Items are `Result<(key, value)>`: a page that fails its checksum surfaces as an `Err` item.
pub struct Range<'a> {
    inner: RangeIter<'a, dyn Source + 'a>,
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        self.inner.next()
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.inner.next_back()
    }
}

/// The read operations shared by [`ReadTable`] and [`Table`].
pub(crate) fn range<'a, 'k, R: std::ops::RangeBounds<&'k [u8]>>(
    source: &'a dyn Source,
    root: Option<NodeRef>,
    range: R,
) -> Range<'a> {
    Range {
        inner: RangeIter::new(source, root, Bounds::from_range(&range)),
    }
}

pub(crate) fn first(source: &dyn Source, root: Option<NodeRef>) -> Result<Option<(&[u8], &[u8])>> {
    range(source, root, ..).next().transpose()
}

pub(crate) fn last(source: &dyn Source, root: Option<NodeRef>) -> Result<Option<(&[u8], &[u8])>> {
    range(source, root, ..).next_back().transpose()
}

/// A catalog entry: root page id (0 for an empty table) and entry count, little-endian.
pub(crate) fn encode_table_entry(root: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out
}

pub(crate) fn decode_table_entry(bytes: &[u8]) -> Result<(Option<NodeRef>, u64)> {
    if bytes.len() != 16 {
        return Err(Error::corrupted(0, "malformed catalog entry"));
    }
    let root = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
    Ok((core::root_ref(root), len))
}

pub(crate) fn check_table_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidTableName {
            reason: "a table name cannot be empty",
        });
    }
    if name.len() > TABLE_NAME_MAX {
        return Err(Error::InvalidTableName {
            reason: "a table name is at most 255 bytes",
        });
    }
    Ok(())
}

/// Lists table names from a catalog tree.
pub(crate) fn catalog_names(source: &dyn Source, catalog: Option<NodeRef>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for item in range(source, catalog, ..) {
        let (name, _) = item?;
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(names)
}
