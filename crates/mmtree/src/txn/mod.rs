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
use crate::wbuf::{Bytes, Key, TableBuf};
use std::ops::Bound;

/// An iterator over a key range, in key order, from either end (`.rev()` works).
///
/// Items are `Result<(key, value)>`: a page that fails its checksum surfaces as an `Err` item.
/// The tree's entries and the write buffer's are merged: a buffered value replaces the tree's,
/// a buffered removal hides it.
pub struct Range<'a> {
    tree: Ends<RangeIter<'a, dyn Source + 'a>>,
    buf: Option<Ends<BufIter<'a>>>,
}

/// The buffer's entries of a range: key and value, or `None` for a removal.
struct BufIter<'a> {
    it: imbl::ordmap::RangedIter<'a, Key, Option<Bytes>, imbl::shared_ptr::DefaultSharedPtr>,
}

impl<'a> Iterator for BufIter<'a> {
    type Item = (&'a [u8], Option<&'a [u8]>);

    fn next(&mut self) -> Option<Self::Item> {
        self.it.next().map(|(k, v)| (&k[..], v.as_deref()))
    }
}

impl DoubleEndedIterator for BufIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.it.next_back().map(|(k, v)| (&k[..], v.as_deref()))
    }
}

/// A double-ended iterator with one item looked at from each end. An item taken by one end is
/// never seen by the other: when the iterator runs dry, an end takes what the other end holds.
struct Ends<I: DoubleEndedIterator> {
    it: I,
    front: Option<I::Item>,
    back: Option<I::Item>,
}

impl<I: DoubleEndedIterator> Ends<I> {
    fn new(it: I) -> Self {
        Ends {
            it,
            front: None,
            back: None,
        }
    }

    fn peek_front(&mut self) -> Option<&I::Item> {
        if self.front.is_none() {
            self.front = self.it.next().or_else(|| self.back.take());
        }
        self.front.as_ref()
    }

    fn peek_back(&mut self) -> Option<&I::Item> {
        if self.back.is_none() {
            self.back = self.it.next_back().or_else(|| self.front.take());
        }
        self.back.as_ref()
    }
}

type Item<'a> = Result<(&'a [u8], &'a [u8])>;

impl<'a> Range<'a> {
    /// One step from the front (`back` false) or the back.
    fn step(&mut self, back: bool) -> Option<Item<'a>> {
        let Some(buf) = &mut self.buf else {
            return match back {
                false => self.tree.it.next(),
                true => self.tree.it.next_back(),
            };
        };
        loop {
            let tree_key = match if back {
                self.tree.peek_back()
            } else {
                self.tree.peek_front()
            } {
                Some(Ok((key, _))) => Some(*key),
                Some(Err(_)) => return Self::take(&mut self.tree, back),
                None => None,
            };
            let buf_key = if back {
                buf.peek_back()
            } else {
                buf.peek_front()
            }
            .map(|(key, _)| *key);
            let from_buf = match (tree_key, buf_key) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(t), Some(b)) => {
                    if t == b {
                        Self::take(&mut self.tree, back); // replaced or removed in the buffer
                        true
                    } else {
                        (b < t) != back
                    }
                }
            };
            if !from_buf {
                return Self::take(&mut self.tree, back);
            }
            match Self::take(buf, back) {
                Some((key, Some(value))) => return Some(Ok((key, value))),
                Some((_, None)) => continue, // removed
                None => return None,
            }
        }
    }

    fn take<I: DoubleEndedIterator>(ends: &mut Ends<I>, back: bool) -> Option<I::Item> {
        match back {
            false => {
                ends.peek_front();
                ends.front.take()
            }
            true => {
                ends.peek_back();
                ends.back.take()
            }
        }
    }
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

/// The read operations shared by [`ReadTable`] and [`Table`]: the tree under `root` merged with
/// the buffered changes `buf` of the table (if any).
pub(crate) fn range<'a, 'k, R: std::ops::RangeBounds<&'k [u8]>>(
    source: &'a dyn Source,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    range: R,
) -> Range<'a> {
    let bounds = Bounds::from_range(&range);
    let lo = range.start_bound().map(|k| *k);
    let hi = range.end_bound().map(|k| *k);
    let empty = match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    };
    let buf = buf.filter(|b| !empty && !b.entries.is_empty()).map(|b| {
        Ends::new(BufIter {
            it: b.entries.range::<_, [u8]>((lo, hi)),
        })
    });
    Range {
        tree: Ends::new(RangeIter::new(source, root, bounds)),
        buf,
    }
}

/// The value under `key`: the buffer's if it has one, else the tree's.
pub(crate) fn get<'a>(
    source: &'a dyn Source,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    if let Some(value) = buf.and_then(|b| b.lookup(key)) {
        return Ok(value);
    }
    crate::btree::get(source, root, key)
}

pub(crate) fn first<'a>(
    source: &'a dyn Source,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
) -> Result<Option<(&'a [u8], &'a [u8])>> {
    range(source, root, buf, ..).next().transpose()
}

pub(crate) fn last<'a>(
    source: &'a dyn Source,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
) -> Result<Option<(&'a [u8], &'a [u8])>> {
    range(source, root, buf, ..).next_back().transpose()
}

/// A table's entry count: the tree's plus what buffered commits added and removed.
pub(crate) fn buffered_len(name: &str, tree_len: u64, buf: Option<&TableBuf>) -> Result<u64> {
    let delta = buf.map_or(0, |b| b.len_delta);
    tree_len.checked_add_signed(delta).ok_or_else(|| {
        crate::error::Error::corrupted(0, format!("table {name:?} has a wrong entry count"))
    })
}

/// The tree's table names with the buffer's creations and drops.
pub(crate) fn buffered_names(names: Vec<String>, buf: &crate::wbuf::BufView) -> Vec<String> {
    if buf.is_empty() {
        return names;
    }
    let mut names: std::collections::BTreeSet<String> = names.into_iter().collect();
    for (name, table) in buf.tables.iter() {
        match table.exists {
            true => names.insert(name.to_string()),
            false => names.remove(&**name),
        };
    }
    names.into_iter().collect()
}
