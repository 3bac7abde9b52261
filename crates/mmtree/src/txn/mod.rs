//! Transactions: read snapshots and the single writer.

mod bounded;
mod bulk;
mod commit;
pub(crate) mod core;
mod prefix;
mod read;
mod write;

pub use bounded::BoundedReadTransaction;
pub use bulk::BulkLoader;
pub use read::{ReadTable, ReadTransaction};
pub use write::{Table, WriteTransaction};

pub(crate) use crate::catalog::{
    catalog_names, check_table_name, decode_table_entry, encode_table_entry,
};

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::node::NodeRef;
use crate::btree::view::Source;
use crate::error::Result;

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
