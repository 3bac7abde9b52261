//! Double-ended range iteration.
//!
//! Two independent cursors (front and back), each a stack of (node, index) from the root to a
//! leaf. Each end remembers the last key it yielded; the ends stop when they would cross.

use super::node::NodeRef;
use super::view::{NodeView, Source};
use super::{child_index, depth_error, leaf_search};
use crate::error::Result;
use crate::limits::TREE_DEPTH_MAX;
use std::ops::Bound;

struct Cursor<'a> {
    stack: Vec<(NodeView<'a>, usize)>,
    /// Set once two leaves took long to load (they were not in memory): from then on the
    /// forward scan asks for the next leaves ahead of time. (With the mapping's read-around off,
    /// nothing else would read ahead; while everything is in memory this costs one clock read
    /// per node loaded. Two, so a short range that crosses one leaf boundary does not prefetch.)
    cold: bool,
    slow_leaves: u8,
}

/// How far ahead of itself a forward scan asks for cells.
const PREFETCH_CELLS: usize = 4;

/// Leaves a cold forward scan asks for at a time.
const PREFETCH_LEAVES: usize = 64;
/// A leaf load at least this slow came from the disk, not from memory. (Zero in unit tests, so
/// they run every scan as a cold one.)
#[cfg(not(test))]
const SLOW_LOAD: std::time::Duration = std::time::Duration::from_micros(20);
#[cfg(test)]
const SLOW_LOAD: std::time::Duration = std::time::Duration::ZERO;

impl<'a> Cursor<'a> {
    /// Positions at the first entry `>= key` (or `> key`), or the first entry for `None`.
    fn seek_forward<S: Source + ?Sized>(
        source: &'a S,
        root: NodeRef,
        bound: Bound<&[u8]>,
    ) -> Result<Cursor<'a>> {
        let mut stack = Vec::new();
        let mut node = root;
        loop {
            if stack.len() >= TREE_DEPTH_MAX {
                return Err(depth_error(node));
            }
            let view = source.view(node)?;
            if view.is_leaf() {
                let index = match bound {
                    Bound::Unbounded => 0,
                    Bound::Included(key) => leaf_search(&view, key)?.unwrap_or_else(|i| i),
                    Bound::Excluded(key) => match leaf_search(&view, key)? {
                        Ok(i) => i + 1,
                        Err(i) => i,
                    },
                };
                for ahead in index..index + PREFETCH_CELLS {
                    view.prefetch_entry(ahead);
                }
                stack.push((view, index));
                break;
            }
            let index = match bound {
                Bound::Unbounded => 0,
                Bound::Included(key) | Bound::Excluded(key) => child_index(&view, key)?,
            };
            stack.push((view, index));
            node = view.child(index)?;
            // The child's header and first slots asked for at once, as `btree::get` does.
            if let NodeRef::Page(id) = node {
                source.touch_ahead(id);
            }
        }
        let mut cursor = Cursor {
            stack,
            cold: false,
            slow_leaves: 0,
        };
        cursor.settle_forward(source)?;
        Ok(cursor)
    }

    /// Positions at the last entry `<= key` (or `< key`), or the last entry for `None`.
    /// The top index is one past the entry (so 0 means "before this leaf").
    fn seek_backward<S: Source + ?Sized>(
        source: &'a S,
        root: NodeRef,
        bound: Bound<&[u8]>,
    ) -> Result<Cursor<'a>> {
        let mut stack = Vec::new();
        let mut node = root;
        loop {
            if stack.len() >= TREE_DEPTH_MAX {
                return Err(depth_error(node));
            }
            let view = source.view(node)?;
            if view.is_leaf() {
                let end = match bound {
                    Bound::Unbounded => view.len(),
                    Bound::Included(key) => match leaf_search(&view, key)? {
                        Ok(i) => i + 1,
                        Err(i) => i,
                    },
                    Bound::Excluded(key) => leaf_search(&view, key)?.unwrap_or_else(|i| i),
                };
                stack.push((view, end));
                break;
            }
            let index = match bound {
                Bound::Unbounded => view.len() - 1,
                Bound::Included(key) | Bound::Excluded(key) => child_index(&view, key)?,
            };
            stack.push((view, index));
            node = view.child(index)?;
            if let NodeRef::Page(id) = node {
                source.touch_ahead(id);
            }
        }
        let mut cursor = Cursor {
            stack,
            cold: false,
            slow_leaves: 0,
        };
        cursor.settle_backward(source)?;
        Ok(cursor)
    }

    /// If the leaf index is past the end, moves to the first entry of the next non-empty leaf.
    fn settle_forward<S: Source + ?Sized>(&mut self, source: &'a S) -> Result<()> {
        loop {
            let Some(&(leaf, index)) = self.stack.last() else {
                return Ok(());
            };
            if index < leaf.len() {
                return Ok(());
            }
            // Climb to the first ancestor with a next child.
            self.stack.pop();
            loop {
                let Some((view, index)) = self.stack.last_mut() else {
                    return Ok(());
                };
                if *index + 1 < view.len() {
                    *index += 1;
                    break;
                }
                self.stack.pop();
            }
            // Descend to the leftmost leaf of that child.
            let (view, index) = *self.stack.last().expect("non-empty");
            let mut node = view.child(index)?;
            loop {
                if self.stack.len() >= TREE_DEPTH_MAX {
                    return Err(depth_error(node));
                }
                let started = std::time::Instant::now();
                let view = source.view(node)?;
                self.stack.push((view, 0));
                if view.is_leaf() {
                    for ahead in 0..PREFETCH_CELLS {
                        view.prefetch_entry(ahead);
                    }
                    let mut turned_cold = false;
                    if !self.cold && started.elapsed() >= SLOW_LOAD {
                        self.slow_leaves += 1;
                        turned_cold = self.slow_leaves >= 2;
                        self.cold = turned_cold;
                    }
                    self.prefetch_siblings(source, turned_cold);
                    break;
                }
                node = view.child(0)?;
            }
        }
    }

    /// In a cold scan, keeps the reads ahead of the scan: at the first leaf of a parent (or at
    /// once, when the scan has just turned cold) asks for the next two windows of the parent's
    /// children and for the next parent page; at every later window boundary for the window
    /// after the next; and from the parent's middle on, for the next parent's first window, so
    /// the scan does not stall where it crosses to the next parent.
    fn prefetch_siblings<S: Source + ?Sized>(&self, source: &'a S, now: bool) {
        let depth = self.stack.len();
        if !self.cold || depth < 2 || !source.prefetches() {
            return;
        }
        let (parent, index) = self.stack[depth - 2];
        let first = now || index == 0;
        let middle = index == parent.len() / 2;
        let start = if first {
            index + 1
        } else if index.is_multiple_of(PREFETCH_LEAVES) {
            index + PREFETCH_LEAVES
        } else if middle {
            parent.len() // nothing of this parent; only the next parent's first window below
        } else {
            return;
        };
        let end = (index + 2 * PREFETCH_LEAVES).min(parent.len());
        let page_ids = |view: NodeView<'a>, range: std::ops::Range<usize>| {
            range.filter_map(move |i| match view.child(i) {
                Ok(NodeRef::Page(id)) => Some(id),
                _ => None,
            })
        };
        let mut ids: Vec<u64> = page_ids(parent, start..end).collect();
        if depth >= 3 {
            let (grand, grand_index) = self.stack[depth - 3];
            if let Some(Ok(NodeRef::Page(next))) =
                (grand_index + 1 < grand.len()).then(|| grand.child(grand_index + 1))
            {
                if first {
                    ids.push(next);
                }
                if !first && (middle || index + 2 * PREFETCH_LEAVES >= parent.len()) {
                    // The next parent was asked for at this parent's first leaf (so by now it
                    // is in memory, or on its way); errors are left for the scan itself to
                    // meet and report.
                    if let Ok(view) = source.view(NodeRef::Page(next)) {
                        if !view.is_leaf() {
                            ids.extend(page_ids(view, 0..PREFETCH_LEAVES.min(view.len())));
                        }
                    }
                }
            }
        }
        if !ids.is_empty() {
            source.prefetch(&mut ids);
        }
    }

    /// If the leaf end index is 0, moves to the end of the previous non-empty leaf.
    fn settle_backward<S: Source + ?Sized>(&mut self, source: &'a S) -> Result<()> {
        loop {
            let Some(&(_, end)) = self.stack.last() else {
                return Ok(());
            };
            if end > 0 {
                return Ok(());
            }
            self.stack.pop();
            loop {
                let Some((_, index)) = self.stack.last_mut() else {
                    return Ok(());
                };
                if *index > 0 {
                    *index -= 1;
                    break;
                }
                self.stack.pop();
            }
            let (view, index) = *self.stack.last().expect("non-empty");
            let mut node = view.child(index)?;
            loop {
                if self.stack.len() >= TREE_DEPTH_MAX {
                    return Err(depth_error(node));
                }
                let view = source.view(node)?;
                if view.is_leaf() {
                    self.stack.push((view, view.len()));
                    break;
                }
                let last = view.len() - 1;
                self.stack.push((view, last));
                node = view.child(last)?;
            }
        }
    }

    /// Asks for the first bytes of the leaf after this one (if its parent is on the stack).
    fn touch_next_leaf<S: Source + ?Sized>(&self, source: &'a S) {
        let depth = self.stack.len();
        if depth >= 2 {
            let (parent, index) = self.stack[depth - 2];
            if index + 1 < parent.len() {
                if let Ok(NodeRef::Page(next)) = parent.child(index + 1) {
                    source.touch_ahead(next);
                }
            }
        }
    }

    fn current_forward(&self) -> Option<(NodeView<'a>, usize)> {
        self.stack
            .last()
            .copied()
            .filter(|(leaf, index)| *index < leaf.len())
    }

    fn current_backward(&self) -> Option<(NodeView<'a>, usize)> {
        self.stack
            .last()
            .copied()
            .filter(|(_, end)| *end > 0)
            .map(|(leaf, end)| (leaf, end - 1))
    }
}

/// An owned copy of a range's bounds.
#[derive(Clone, Debug)]
pub(crate) struct Bounds {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
}

impl Bounds {
    pub(crate) fn from_range<'k, R: std::ops::RangeBounds<&'k [u8]>>(range: &R) -> Bounds {
        let own = |bound: Bound<&&[u8]>| match bound {
            Bound::Included(key) => Bound::Included(key.to_vec()),
            Bound::Excluded(key) => Bound::Excluded(key.to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        Bounds {
            start: own(range.start_bound()),
            end: own(range.end_bound()),
        }
    }

    fn below_end(&self, key: &[u8]) -> bool {
        match &self.end {
            Bound::Included(end) => key <= end.as_slice(),
            Bound::Excluded(end) => key < end.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn above_start(&self, key: &[u8]) -> bool {
        match &self.start {
            Bound::Included(start) => key >= start.as_slice(),
            Bound::Excluded(start) => key > start.as_slice(),
            Bound::Unbounded => true,
        }
    }

    fn is_empty(&self) -> bool {
        match (&self.start, &self.end) {
            (Bound::Included(s), Bound::Included(e)) => s > e,
            (Bound::Included(s) | Bound::Excluded(s), Bound::Excluded(e))
            | (Bound::Excluded(s), Bound::Included(e)) => s >= e,
            _ => false,
        }
    }
}

fn as_ref(bound: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match bound {
        Bound::Included(key) => Bound::Included(key),
        Bound::Excluded(key) => Bound::Excluded(key),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Iterator over `(key, value)` pairs in key order, from either end.
pub(crate) struct RangeIter<'a, S: Source + ?Sized> {
    source: &'a S,
    root: Option<NodeRef>,
    bounds: Bounds,
    front: Option<Cursor<'a>>,
    back: Option<Cursor<'a>>,
    front_last: Option<&'a [u8]>,
    back_last: Option<&'a [u8]>,
    done: bool,
}

impl<'a, S: Source + ?Sized> RangeIter<'a, S> {
    pub(crate) fn new(source: &'a S, root: Option<NodeRef>, bounds: Bounds) -> Self {
        let done = root.is_none() || bounds.is_empty();
        RangeIter {
            source,
            root,
            bounds,
            front: None,
            back: None,
            front_last: None,
            back_last: None,
            done,
        }
    }

    fn step_front(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.front.is_none() {
            let root = self.root.expect("checked in new");
            self.front = Some(Cursor::seek_forward(
                self.source,
                root,
                as_ref(&self.bounds.start),
            )?);
        }
        let source = self.source;
        let cursor = self.front.as_mut().expect("set above");
        let Some((leaf, index)) = cursor.current_forward() else {
            return Ok(None);
        };
        let (key, value) = leaf.entry(index)?;
        // The cells of consecutive keys need not be adjacent (in-place inserts put a cell where
        // there is room): ask for the next ones now, so their cache misses overlap this one's.
        leaf.prefetch_entry(index + PREFETCH_CELLS);
        if index == leaf.len() / 2 {
            // Half-way through the leaf: the next leaf's header and first slots too.
            cursor.touch_next_leaf(source);
        }
        if !self.bounds.below_end(key) || self.back_last.is_some_and(|back| key >= back) {
            return Ok(None);
        }
        // Order across pages is checked where a new leaf begins (that catches a cyclic or
        // misordered tree, so iteration always ends); order within a page is `check`'s job. The
        // first key must lie within the start bound (a crafted page can misdirect a seek, and
        // callers that resume a scan by seeking past their last key rely on progress).
        if self.front_last.is_none() && !self.bounds.above_start(key) {
            return Err(crate::error::Error::corrupted(
                0,
                "a seek landed before its start (keys out of order)",
            ));
        }
        if index == 0 && self.front_last.is_some_and(|last| key <= last) {
            return Err(crate::error::Error::corrupted(
                0,
                "keys out of order across pages",
            ));
        }
        let value = source.resolve(value)?;
        cursor.stack.last_mut().expect("positioned").1 += 1;
        cursor.settle_forward(source)?;
        self.front_last = Some(key);
        Ok(Some((key, value)))
    }

    fn step_back(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        if self.back.is_none() {
            let root = self.root.expect("checked in new");
            self.back = Some(Cursor::seek_backward(
                self.source,
                root,
                as_ref(&self.bounds.end),
            )?);
        }
        let source = self.source;
        let cursor = self.back.as_mut().expect("set above");
        let Some((leaf, index)) = cursor.current_backward() else {
            return Ok(None);
        };
        let (key, value) = leaf.entry(index)?;
        if !self.bounds.above_start(key) || self.front_last.is_some_and(|front| key <= front) {
            return Ok(None);
        }
        if self.back_last.is_none() && !self.bounds.below_end(key) {
            return Err(crate::error::Error::corrupted(
                0,
                "a seek landed past its end (keys out of order)",
            ));
        }
        if index + 1 == leaf.len() && self.back_last.is_some_and(|last| key >= last) {
            return Err(crate::error::Error::corrupted(
                0,
                "keys out of order across pages",
            ));
        }
        let value = source.resolve(value)?;
        cursor.stack.last_mut().expect("positioned").1 -= 1;
        cursor.settle_backward(source)?;
        self.back_last = Some(key);
        Ok(Some((key, value)))
    }

    fn finish(
        &mut self,
        step: Result<Option<(&'a [u8], &'a [u8])>>,
    ) -> Option<Result<(&'a [u8], &'a [u8])>> {
        match step {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(error) => {
                self.done = true;
                Some(Err(error))
            }
        }
    }
}

impl<'a, S: Source + ?Sized> Iterator for RangeIter<'a, S> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step_front();
        self.finish(step)
    }
}

impl<'a, S: Source + ?Sized> DoubleEndedIterator for RangeIter<'a, S> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let step = self.step_back();
        self.finish(step)
    }
}

#[cfg(test)]
mod tests {
    use crate::Db;

    /// With `SLOW_LOAD` zero every forward scan prefetches: scans over a tree of many parents,
    /// with leaves in file order (a bulk load) and scattered (random inserts), must still
    /// return exactly the entries in order.
    #[test]
    fn cold_scans_that_prefetch_return_every_entry_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path().join("scan.mmt")).unwrap();
        let n: u64 = 40_000;
        let mut w = db.begin_write().unwrap();
        {
            let mut loader = w.bulk_load("sorted").unwrap();
            for i in 0..n {
                loader
                    .append(&(i * 2).to_be_bytes(), &[i as u8; 100])
                    .unwrap();
            }
            loader.finish().unwrap();
            let mut t = w.table("scattered").unwrap();
            for i in 0..n {
                let id = (i * 7919) % n; // a permutation: 7919 is prime, n is not a multiple
                t.insert(id.to_be_bytes(), [id as u8; 100]).unwrap();
            }
        }
        w.commit().unwrap();
        let r = db.begin_read().unwrap();
        for (name, step) in [("sorted", 2u64), ("scattered", 1)] {
            let t = r.table(name).unwrap().unwrap();
            let all: Vec<u64> = t
                .range(..)
                .unwrap()
                .map(|item| u64::from_be_bytes(item.unwrap().0.try_into().unwrap()))
                .collect();
            assert_eq!(all, (0..n).map(|i| i * step).collect::<Vec<_>>(), "{name}");
            let from = (n / 3 * step).to_be_bytes();
            let tail = t.range(&from[..]..).unwrap().count() as u64;
            assert_eq!(tail, n - n / 3, "{name}");
            // Backwards too (no prefetch there, but the same cursor code).
            let last = t.range(..).unwrap().next_back().unwrap().unwrap().0;
            assert_eq!(u64::from_be_bytes(last.try_into().unwrap()), (n - 1) * step);
        }
        assert!(db.check().unwrap().is_ok());
    }
}
