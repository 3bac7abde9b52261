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
    /// Set once a leaf took long to load (it was not in memory): from then on the forward scan
    /// asks for the next leaves ahead of time. (With the mapping's read-around off, nothing else
    /// would read ahead; while everything is in memory this costs one clock read per leaf.)
    cold: bool,
}

/// Leaves a cold forward scan asks for at a time.
const PREFETCH_LEAVES: usize = 64;
/// A leaf load at least this slow came from the disk, not from memory.
const SLOW_LOAD: std::time::Duration = std::time::Duration::from_micros(20);

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
                stack.push((view, index));
                break;
            }
            let index = match bound {
                Bound::Unbounded => 0,
                Bound::Included(key) | Bound::Excluded(key) => child_index(&view, key)?,
            };
            stack.push((view, index));
            node = view.child(index)?;
        }
        let mut cursor = Cursor { stack, cold: false };
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
        }
        let mut cursor = Cursor { stack, cold: false };
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
                    let turned_cold = !self.cold && started.elapsed() >= SLOW_LOAD;
                    self.cold |= turned_cold;
                    self.prefetch_siblings(source, turned_cold);
                    break;
                }
                node = view.child(0)?;
            }
        }
    }

    /// In a cold scan, keeps the reads one window ahead: at the first leaf of a parent (or at
    /// once, when the scan has just turned cold) asks for the next two windows of the parent's
    /// children, and at every later window boundary for the window after the next.
    fn prefetch_siblings<S: Source + ?Sized>(&self, source: &'a S, now: bool) {
        if !self.cold || self.stack.len() < 2 {
            return;
        }
        let (parent, index) = self.stack[self.stack.len() - 2];
        let start = if now || index == 0 {
            index + 1
        } else if index.is_multiple_of(PREFETCH_LEAVES) {
            index + PREFETCH_LEAVES
        } else {
            return;
        };
        let end = (index + 2 * PREFETCH_LEAVES).min(parent.len());
        let mut ids: Vec<u64> = (start..end)
            .filter_map(|i| match parent.child(i) {
                Ok(NodeRef::Page(id)) => Some(id),
                _ => None,
            })
            .collect();
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
        if !self.bounds.below_end(key) || self.back_last.is_some_and(|back| key >= back) {
            return Ok(None);
        }
        // Order across pages is checked where a new leaf begins (that catches a cyclic or
        // misordered tree, so iteration always ends); order within a page is `check`'s job.
        if index == 0 && self.front_last.is_some_and(|last| key <= last) {
            return Err(crate::Error::corrupted(0, "keys out of order across pages"));
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
        if index + 1 == leaf.len() && self.back_last.is_some_and(|last| key >= last) {
            return Err(crate::Error::corrupted(0, "keys out of order across pages"));
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
