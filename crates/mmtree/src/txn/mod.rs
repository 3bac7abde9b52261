//! Transactions: read snapshots and the single writer.

mod bounded;
mod bulk;
mod commit;
pub(crate) mod core;
mod handle;
mod prefix;
mod read;
mod write;

pub use bounded::BoundedReadTransaction;
pub use bulk::BulkLoader;
pub use handle::TableHandle;
pub use read::{ReadTable, ReadTransaction};
pub use write::{Table, WriteTransaction};

pub(crate) use crate::catalog::{
    catalog_names, check_table_name, decode_table_entry, encode_table_entry,
};

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::node::NodeRef;
use crate::btree::view::Source;
use crate::error::Result;
use crate::wbuf::{BufIter, TableBuf};
use std::ops::Bound;

/// An iterator over a key range, in key order, from either end (`.rev()` works).
///
/// Items are `Result<(key, value)>`: a page that fails its checksum surfaces as an `Err` item.
/// The tree's entries and the write buffer's are merged: a buffered value replaces the tree's,
/// a buffered removal hides it.
///
/// A `Range` is `Send` and `Sync`: it borrows its snapshot (or write transaction) shared, and
/// both are `Sync`, so a scan may be handed to another thread (a scoped one, as it borrows).
pub struct Range<'a> {
    merged: Merged<'a, dyn Source + Sync + 'a>,
}

impl<'a> Iterator for Range<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        self.merged.step(false)
    }
}

impl DoubleEndedIterator for Range<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.merged.step(true)
    }
}

/// A range of the tree read through `S` merged with the write buffer's: [`Range`] over a
/// shared snapshot or write transaction, and the bounded snapshot's (which is not `Sync`: it
/// copies pages into an arena of its own) inside its methods.
pub(crate) struct Merged<'a, S: Source + ?Sized + 'a> {
    tree: Ends<RangeIter<'a, S>>,
    buf: Option<Ends<BufIter<'a>>>,
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

impl<'a, S: Source + ?Sized + 'a> Merged<'a, S> {
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

impl<'a, S: Source + ?Sized + 'a> Iterator for Merged<'a, S> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}

/// The keys a range scan covers: `..`, `a..b`, `a..=b`, `a..`, `..b`, `..=b` or a pair of
/// [`Bound`]s, with keys of any type that is bytes (`AsRef<[u8]>`): `"a".."m"`, `b"a"..b"m"`,
/// `&key[..]..`, `(Bound::Excluded(k), Bound::Unbounded)`, `String`s and `Vec<u8>`s.
///
/// (Both ends of a Rust range have one type: `b"a"..b"zz"` mixes a `&[u8; 1]` and a
/// `&[u8; 2]` and does not compile; write `b"a".as_slice()..b"zz"` or use `&str`s.)
///
/// ```
/// # fn main() -> mmtree::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
/// let mut w = db.begin_write()?;
/// let mut t = w.table("t")?;
/// for key in ["a", "b", "c", "d"] {
///     t.insert(key, "")?;
/// }
/// let keys = |range: mmtree::Range<'_>| -> Vec<Vec<u8>> {
///     range.map(|item| item.unwrap().0.to_vec()).collect()
/// };
/// assert_eq!(keys(t.range("b".."d")?), [b"b", b"c"]);
/// assert_eq!(keys(t.range(b"b"..=b"d")?), [b"b", b"c", b"d"]);
/// assert_eq!(keys(t.range(String::from("c")..)?), [b"c", b"d"]);
/// assert_eq!(keys(t.range(..)?).len(), 4);
/// use std::ops::Bound;
/// assert_eq!(keys(t.range((Bound::Excluded("a"), Bound::Included("b")))?), [b"b"]);
/// # Ok(()) }
/// ```
pub trait KeyRange {
    /// The first key of the range (inclusive or exclusive), or none.
    fn start_key(&self) -> Bound<&[u8]>;
    /// The last key of the range (inclusive or exclusive), or none.
    fn end_key(&self) -> Bound<&[u8]>;
}

fn as_bytes<K: AsRef<[u8]>>(bound: Bound<&K>) -> Bound<&[u8]> {
    bound.map(AsRef::as_ref)
}

impl KeyRange for std::ops::RangeFull {
    fn start_key(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
    fn end_key(&self) -> Bound<&[u8]> {
        Bound::Unbounded
    }
}

/// A range passed by reference (a range kept in a variable, scanned more than once).
impl<R: KeyRange + ?Sized> KeyRange for &R {
    fn start_key(&self) -> Bound<&[u8]> {
        (**self).start_key()
    }
    fn end_key(&self) -> Bound<&[u8]> {
        (**self).end_key()
    }
}

/// `KeyRange` for the std range types over any bytes-like key type, through `RangeBounds`.
macro_rules! key_range {
    ($($range:ty),*) => {$(
        impl<K: AsRef<[u8]>> KeyRange for $range {
            fn start_key(&self) -> Bound<&[u8]> {
                as_bytes(std::ops::RangeBounds::<K>::start_bound(self))
            }
            fn end_key(&self) -> Bound<&[u8]> {
                as_bytes(std::ops::RangeBounds::<K>::end_bound(self))
            }
        }
    )*};
}

key_range!(
    std::ops::Range<K>,
    std::ops::RangeInclusive<K>,
    std::ops::RangeFrom<K>,
    std::ops::RangeTo<K>,
    std::ops::RangeToInclusive<K>,
    (Bound<K>, Bound<K>)
);

/// The read operations shared by [`ReadTable`] and [`Table`]: the tree under `root` merged with
/// the buffered changes `buf` of the table (if any).
pub(crate) fn range<'a, S: Source + ?Sized, R: KeyRange + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    range: &R,
) -> Merged<'a, S> {
    let (lo, hi) = (range.start_key(), range.end_key());
    let bounds = Bounds::from_range(&(lo, hi));
    // (An empty or inverted range gives the buffer's iterator no source: `TableBuf::range`.)
    let buf = buf
        .filter(|b| !b.is_empty())
        .map(|b| Ends::new(b.range(lo, hi)));
    Merged {
        tree: Ends::new(RangeIter::new(source, root, bounds)),
        buf,
    }
}

/// [`range`] as the public iterator.
pub(crate) fn public_range<'a>(
    source: &'a (dyn Source + Sync),
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    keys: &impl KeyRange,
) -> Range<'a> {
    Range {
        merged: range(source, root, buf, keys),
    }
}

/// The value under `key`: the buffer's if it has one, else the tree's.
pub(crate) fn get<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    or_tree(source, root, buf.and_then(|b| b.lookup(key)), key)
}

/// `get` for a write transaction: the buffer notes what its runs hold of the key, so a put of
/// the same key next does not search them again (`wbuf::TableBuf::lookup_noting`).
pub(crate) fn get_noting<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    or_tree(source, root, buf.and_then(|b| b.lookup_noting(key)), key)
}

/// The buffer's answer if it has one (`buffered`), else the tree's.
fn or_tree<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buffered: Option<Option<&'a [u8]>>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    match buffered {
        Some(value) => Ok(value),
        None => crate::btree::get(source, root, key),
    }
}

pub(crate) fn first<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
) -> Result<Option<(&'a [u8], &'a [u8])>> {
    range(source, root, buf, &..).next().transpose()
}

pub(crate) fn last<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    buf: Option<&'a TableBuf>,
) -> Result<Option<(&'a [u8], &'a [u8])>> {
    range(source, root, buf, &..).step(true).transpose()
}

/// A table's entry count: the tree's (`tree_len`, under `root`) plus what buffered commits
/// added and removed. A put (or a `Table::delete`) the buffer counted without asking the tree
/// whether its key was there (an unsure one, `wbuf::Mark`) is looked up now, once: a put costs
/// no tree descent, a count costs one per key first buffered since the last count.
pub(crate) fn buffered_len<S: Source + ?Sized>(
    source: &S,
    root: Option<NodeRef>,
    tree_len: u64,
    buf: Option<&TableBuf>,
) -> Result<u64> {
    let Some(buf) = buf else {
        return Ok(tree_len);
    };
    let correction = match buf.cleared {
        true => 0, // (no marks: the buffer knows every key of a dropped table)
        false => buf.unsure_correction(&mut |key| match root {
            Some(root) => Ok(crate::btree::get(source, Some(root), key)?.is_some()),
            None => Ok(false),
        })?,
    };
    i128::from(tree_len)
        .checked_add(i128::from(buf.len_delta) + i128::from(correction))
        .and_then(|len| u64::try_from(len).ok())
        .ok_or_else(|| {
            crate::error::Error::corrupted(
                0,
                "a table's entry count and its buffered changes do not add up",
            )
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
