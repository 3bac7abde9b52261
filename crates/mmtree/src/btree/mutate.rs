//! Tree mutations inside a write transaction: copy-on-write descent, inserts and removes that
//! edit the leaf's page buffer in place, splits when a page cannot take an entry (propagated up
//! the path), merges or redistribution of underfull nodes on the way up after a remove, and the
//! bottom-up flush that seals dirty nodes as pages.
//!
//! Splits pack: an entry added at a page's right edge (any page: several interleaved
//! sequential streams each append at the right edge of their own pages) leaves the left page
//! full and starts a new one; at the left edge the mirror image; elsewhere the split is even.

use super::append::Spine;
use super::depth_error;
use super::node::{Node, NodeRef, Value};
use super::store::NodeStore;
use crate::error::{Error, Result};
use crate::limits::TREE_DEPTH_MAX;
use crate::page::edit::{Entry, Payload};
use crate::page::view::ValueRef;
use crate::page::{common_prefix, overflow_pages, usable};

/// A node to add to a parent: its separator key and the node.
type Piece = (Vec<u8>, NodeRef);
/// The path of a descent: (branch id, child index) from the root down (no allocation for any
/// tree a file can hold in practice).
type Path = smallvec::SmallVec<[(u32, usize); 12]>;

/// Where a split of an overfull page cuts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Policy {
    /// The entry went in at the right edge: keep the left page full.
    Append,
    /// The entry went in at the left edge: keep the right page full.
    Prepend,
    /// The most even split into two that fits.
    Even,
    /// The entry continues a run of keys its left neighbour belongs to and the right one does
    /// not (a sequential stream appending in front of another stream's keys): cut right after
    /// it, so the left page stays full and the stream's next keys start a page of their own.
    AfterInsert(usize),
}

/// Whether `key`, going between `left` and `right`, continues `left`'s run: it shares at least
/// two more bytes with its left neighbour than with its right one (sequential keys share all
/// but their last bytes with their predecessor; random keys share about as much either way).
fn continues_a_run(left: &[u8], key: &[u8], right: &[u8]) -> bool {
    common_prefix(left, key) >= common_prefix(key, right) + 2
}

/// The tree operations of a write transaction, for every [`NodeStore`].
pub(crate) trait Mutate: NodeStore {
    /// Copy-on-write: the arena id of a modifiable copy of `node` (the page it came from is
    /// freed).
    fn dirty(&mut self, node: NodeRef) -> Result<u32> {
        match node {
            NodeRef::Dirty(id) => Ok(id),
            NodeRef::Page(page) => {
                let copy = self.load_node(page)?;
                self.free_page(page)?;
                Ok(self.arena_mut().push(copy))
            }
        }
    }

    /// Inserts or replaces; returns the new root and the replaced value.
    fn tree_insert(
        &mut self,
        root: Option<NodeRef>,
        key: &[u8],
        value: Value,
    ) -> Result<(NodeRef, Option<Value>)> {
        let (root, old, _) = self.tree_insert_edge(root, key, &value)?;
        Ok((root, old))
    }

    /// `tree_insert`, which also returns the tree's rightmost path (the append path's spine:
    /// `btree::append`) when `key` went in after every key of the tree and fit its leaf.
    fn tree_insert_edge(
        &mut self,
        root: Option<NodeRef>,
        key: &[u8],
        value: &Value,
    ) -> Result<(NodeRef, Option<Value>, Option<Spine>)> {
        let entry = Entry {
            key,
            payload: Payload::Value(value.as_ref()),
        };
        let Some(root) = root else {
            let mut leaf = self.new_node(true);
            let inserted = leaf.insert(0, entry);
            assert!(inserted, "one entry fits an empty page");
            let leaf = self.arena_mut().push(leaf);
            return Ok((NodeRef::Dirty(leaf), None, Some(Spine::from_slice(&[leaf]))));
        };
        let root_id = self.dirty(root)?;
        let (path, id) = descend_dirty(self, root, root_id, key)?;
        let leaf = self.arena().node(id);
        let (old, index) = match leaf.view().leaf_search(key)? {
            Ok(index) => {
                let old = Value::from_ref(leaf.view().value(index)?);
                self.arena_mut().node_mut(id).remove(index);
                (Some(old), index)
            }
            Err(index) => (None, index),
        };
        if self.arena_mut().node_mut(id).insert(index, entry) {
            // It fit: no node above changes. At the tree's right edge (the last entry of the
            // last leaf), the path is the spine an append cursor starts from.
            let arena = self.arena();
            let edge = old.is_none()
                && index + 1 == arena.node(id).len()
                && path
                    .iter()
                    .all(|&(branch, child)| child + 1 == arena.node(branch).len());
            let spine = edge.then(|| path.iter().map(|&(branch, _)| branch).chain([id]).collect());
            return Ok((NodeRef::Dirty(root_id), old, spine));
        }
        // The leaf is full (and unchanged by the refused insert): where to cut. Only now are
        // the neighbours' keys read (the search compared slot heads; reading the cells costs
        // cache misses that most inserts, which fit, need not pay).
        let policy = match old {
            Some(_) => Policy::Even,
            None => {
                let leaf = self.arena().node(id);
                let view = leaf.view();
                if index == leaf.len() {
                    Policy::Append
                } else if index == 0 {
                    Policy::Prepend
                } else if continues_a_run(view.key(index - 1)?, key, view.key(index)?) {
                    Policy::AfterInsert(index + 1)
                } else {
                    Policy::Even
                }
            }
        };
        let mut path = path;
        let pieces = if policy == Policy::Even && !path.is_empty() {
            spread(self, &mut path, id, index, entry)?
        } else {
            rebuild(self, id, index, &[entry], policy)?
        };
        let root = insert_upward(self, root_id, path, pieces)?;
        Ok((NodeRef::Dirty(root), old, None))
    }

    /// Removes `key`; returns the new root and the removed value.
    fn tree_remove(
        &mut self,
        root: Option<NodeRef>,
        key: &[u8],
    ) -> Result<(Option<NodeRef>, Option<Value>)> {
        let Some(root) = root else {
            return Ok((None, None));
        };
        if super::get(self, Some(root), key)?.is_none() {
            return Ok((Some(root), None)); // a miss dirties nothing
        }
        let root_id = self.dirty(root)?;
        let (path, id) = descend_dirty(self, root, root_id, key)?;
        let leaf = self.arena().node(id);
        let Ok(index) = leaf.view().leaf_search(key)? else {
            // get() found it; a second search can only miss in a leaf whose keys are unsorted.
            return Err(Error::corrupted(0, "keys out of order in a leaf"));
        };
        let old = Value::from_ref(leaf.view().value(index)?);
        self.arena_mut().node_mut(id).remove(index);
        let root_id = rebalance_upward(self, root_id, path, id)?;
        Ok((collapse_root(self, root_id)?, Some(old)))
    }

    /// Writes the dirty nodes under `node` (children first) and returns its page id.
    fn flush(&mut self, node: NodeRef, out: &mut Vec<(u64, Vec<u8>)>) -> Result<u64> {
        let id = match node {
            NodeRef::Page(page) => return Ok(page),
            NodeRef::Dirty(id) => id,
        };
        let mut node = self.arena_mut().take(id);
        if !node.is_leaf() {
            for index in 0..node.len() {
                if let NodeRef::Dirty(child) = node.view().child(index)? {
                    let page = self.flush(NodeRef::Dirty(child), out)?;
                    node.set_child(index, NodeRef::Page(page));
                }
            }
        }
        let page_id = self.alloc_page()?;
        let page = self.seal_page(node, page_id);
        out.push((page_id, page));
        Ok(page_id)
    }

    /// Compaction: copies every node and overflow run of the tree that lies at or above page
    /// `limit` (and the path to it) into the transaction, so the flush gives it a page lower in
    /// the file. Returns the root, changed if anything under it moved.
    fn relocate(&mut self, node: NodeRef, limit: u64) -> Result<NodeRef> {
        relocate_in(self, node, limit, 0, &mut Visited::default())
    }

    /// Frees every page of a tree (used to drop a table).
    fn free_tree(&mut self, node: NodeRef) -> Result<()> {
        free_tree_in(self, node, 0, &mut Visited::default())
    }
}

impl<T: NodeStore + ?Sized> Mutate for T {}

/// Copy-on-write descent: from the dirty root `root_id` to the leaf that holds (or would hold)
/// `key`, making every node on the way dirty. Returns the path (branch id, child index) and the
/// leaf's id.
fn descend_dirty<S: NodeStore + ?Sized>(
    s: &mut S,
    root: NodeRef,
    root_id: u32,
    key: &[u8],
) -> Result<(Path, u32)> {
    let mut path: Path = Path::new();
    let mut id = root_id;
    loop {
        if path.len() >= TREE_DEPTH_MAX {
            return Err(depth_error(root));
        }
        let view = s.arena().node(id).view();
        if view.is_leaf() {
            return Ok((path, id));
        }
        let index = view.child_index(key)?;
        let child = view.child(index)?;
        let child_id = s.dirty(child)?;
        if child != NodeRef::Dirty(child_id) {
            s.arena_mut()
                .node_mut(id)
                .set_child(index, NodeRef::Dirty(child_id));
        }
        path.push((id, index));
        id = child_id;
    }
}

/// Inserts `new` (consecutive entries, in key order) into node `id` at `at`, in place while
/// they fit; otherwise rebuilds the node from its entries and the rest of `new`, cut as
/// `policy` says. Returns the nodes the parent must add after `id` (none if it all fit).
fn insert_entries<S: NodeStore + ?Sized>(
    s: &mut S,
    id: u32,
    at: usize,
    new: &[Entry<'_>],
    policy: Policy,
) -> Result<Vec<Piece>> {
    for (offset, entry) in new.iter().enumerate() {
        if !s.arena_mut().node_mut(id).insert(at + offset, *entry) {
            return rebuild(s, id, at + offset, &new[offset..], policy);
        }
    }
    Ok(Vec::new())
}

/// Rebuilds node `id` from its entries with `new` inserted at `at`: node `id` keeps the first
/// piece, the others are returned with their separators.
fn rebuild<S: NodeStore + ?Sized>(
    s: &mut S,
    id: u32,
    at: usize,
    new: &[Entry<'_>],
    policy: Policy,
) -> Result<Vec<Piece>> {
    let node = s.arena().node(id);
    let leaf = node.is_leaf();
    let mut entries = node.entries();
    entries.splice(at..at, new.iter().copied());
    let policy = if new.len() == 1 { policy } else { Policy::Even };
    let (mut nodes, separators) = build_pieces(s, leaf, &entries, policy)?;
    let first = nodes.remove(0);
    let old = s.arena_mut().replace(id, first);
    s.recycle(old);
    Ok(separators
        .into_iter()
        .zip(nodes)
        .map(|(separator, node)| (separator, NodeRef::Dirty(s.arena_mut().push(node))))
        .collect())
}

/// A leaf that cannot take `entry` (a random insert, not at an edge) shares the load with a
/// sibling before it splits (B*-tree style): with room in the sibling the two are evened out;
/// else the two become three, each about two thirds full. Pages end fuller than after a split
/// into halves. The parent's separators are replaced; returns the nodes the grandparent must
/// add (the parent is popped from `path` when it is the one that split).
fn spread<S: NodeStore + ?Sized>(
    s: &mut S,
    path: &mut Path,
    id: u32,
    at: usize,
    entry: Entry<'_>,
) -> Result<Vec<Piece>> {
    let &(parent, index) = path.last().expect("a leaf with a parent");
    let siblings = s.arena().node(parent).len();
    // A leaf can refuse an entry its page would hold: its stored prefix (up to 64 bytes) takes
    // room that entry sizes do not count. Rebuilt alone, with the prefix recomputed to what
    // fits, it holds it; spreading instead could find everything fits one page and make no cut.
    let limit = usable(s.page_size());
    if siblings < 2 || s.arena().node(id).used() + entry.size(false) <= limit {
        return rebuild(s, id, at, &[entry], Policy::Even);
    }
    let (left_index, right_index) = if index + 1 < siblings {
        (index, index + 1)
    } else {
        (index - 1, index)
    };
    let other_index = if left_index == index {
        right_index
    } else {
        left_index
    };
    let other_ref = s.arena().node(parent).view().child(other_index)?;
    let other = s.dirty(other_ref)?;
    s.arena_mut()
        .node_mut(parent)
        .set_child(other_index, NodeRef::Dirty(other));
    let (left, right) = if left_index == index {
        (id, other)
    } else {
        (other, id)
    };
    let (mut nodes, separators) = {
        let (left_node, right_node) = (s.arena().node(left), s.arena().node(right));
        let mut entries = left_node.entries();
        let at = if left == id { at } else { entries.len() + at };
        entries.extend(right_node.entries());
        entries.insert(at, entry);
        let total: usize = entries.iter().map(|e| e.size(false)).sum();
        let cuts = if total <= limit * 7 / 4 {
            choose_cuts(&entries, true, limit, Policy::Even)?
        } else {
            thirds(&entries, limit)
                .map_or_else(|| choose_cuts(&entries, true, limit, Policy::Even), Ok)?
        };
        // More than a page: the node alone did not fit it (checked above).
        assert!(!cuts.is_empty(), "a spread over two leaves makes a cut");
        build_cut(s, true, &entries, &cuts)
    };
    let first = nodes.remove(0);
    let old = s.arena_mut().replace(left, first);
    s.recycle(old);
    let second = nodes.remove(0);
    let old = s.arena_mut().replace(right, second);
    s.recycle(old);
    let mut pieces: Vec<Piece> = vec![(separators[0].clone(), NodeRef::Dirty(right))];
    for (separator, node) in separators[1..].iter().zip(nodes) {
        pieces.push((separator.clone(), NodeRef::Dirty(s.arena_mut().push(node))));
    }
    // The parent's entry for the right node gets its new separator (and the new nodes follow).
    s.arena_mut().node_mut(parent).remove(right_index);
    let entries = child_entries(&pieces);
    let pending = insert_entries(s, parent, right_index, &entries, Policy::Even)?;
    path.pop();
    Ok(pending)
}

/// The entries that add `pieces` to a branch.
fn child_entries(pieces: &[Piece]) -> Vec<Entry<'_>> {
    pieces
        .iter()
        .map(|(key, child)| Entry {
            key,
            payload: Payload::Child(*child),
        })
        .collect()
}

/// Cuts into three pieces of about a third each, if they fit.
fn thirds(entries: &[Entry<'_>], limit: usize) -> Option<Vec<usize>> {
    let total: usize = entries.iter().map(|e| e.size(false)).sum();
    let mut cuts = Vec::new();
    let mut fill = 0usize;
    for (i, entry) in entries.iter().enumerate() {
        if cuts.len() < 2 && fill >= total * (cuts.len() + 1) / 3 && i > 0 {
            cuts.push(i);
        }
        fill += entry.size(false);
    }
    let sizes_fit = {
        let mut start = 0;
        cuts.iter().copied().chain([entries.len()]).all(|end| {
            let size: usize = entries[start..end].iter().map(|e| e.size(false)).sum();
            start = end;
            size <= limit && size > 0
        })
    };
    (cuts.len() == 2 && sizes_fit).then_some(cuts)
}

/// Cuts `entries` into pages (as `policy` says) and builds them; returns the pages and the
/// separator of every page after the first.
fn build_pieces<S: NodeStore + ?Sized>(
    s: &S,
    leaf: bool,
    entries: &[Entry<'_>],
    policy: Policy,
) -> Result<(Vec<Node>, Vec<Vec<u8>>)> {
    let cuts = choose_cuts(entries, leaf, usable(s.page_size()), policy)?;
    Ok(build_cut(s, leaf, entries, &cuts))
}

/// Builds the pages `entries` cut at `cuts`; returns them and the separator of every page after
/// the first.
fn build_cut<S: NodeStore + ?Sized>(
    s: &S,
    leaf: bool,
    entries: &[Entry<'_>],
    cuts: &[usize],
) -> (Vec<Node>, Vec<Vec<u8>>) {
    let mut nodes = Vec::with_capacity(cuts.len() + 1);
    let mut separators = Vec::with_capacity(cuts.len());
    let mut start = 0;
    for end in cuts.iter().copied().chain([entries.len()]) {
        nodes.push(Node::build(s.buffer(), leaf, &entries[start..end]));
        if end < entries.len() {
            separators.push(if leaf {
                shortest_separator(entries[end - 1].key, entries[end].key).to_vec()
            } else {
                entries[end].key.to_vec()
            });
        }
        start = end;
    }
    (nodes, separators)
}

/// The shortest key `s` with `left < s <= right` (suffix truncation): a branch needs no more to
/// tell the two leaves apart.
pub(crate) fn shortest_separator<'k>(left: &[u8], right: &'k [u8]) -> &'k [u8] {
    debug_assert!(left < right);
    let shared = common_prefix(left, right);
    &right[..(shared + 1).min(right.len())]
}

/// Where to cut `entries` into pages of at most `limit` bytes: no cut if they fit one page;
/// else by `policy` into two; else greedily into as many as needed. A branch page's first
/// entry does not store its key.
pub(crate) fn choose_cuts(
    entries: &[Entry<'_>],
    leaf: bool,
    limit: usize,
    policy: Policy,
) -> Result<Vec<usize>> {
    let n = entries.len();
    let full: Vec<usize> = entries.iter().map(|e| e.size(false)).collect();
    let first = |i: usize| entries[i].size(!leaf);
    if (0..n).any(|i| full[i].max(first(i)) > limit) {
        return Err(Error::corrupted(
            0,
            "an entry is larger than a page (a crafted or damaged page)",
        ));
    }
    let mut sums = vec![0usize; n + 1];
    for i in 0..n {
        sums[i + 1] = sums[i] + full[i];
    }
    let piece = |a: usize, b: usize| sums[b] - sums[a] - full[a] + first(a);
    if n == 0 || piece(0, n) <= limit {
        return Ok(Vec::new());
    }
    match policy {
        Policy::Append if n >= 2 && piece(0, n - 1) <= limit => return Ok(vec![n - 1]),
        Policy::Prepend if n >= 2 && piece(1, n) <= limit => return Ok(vec![1]),
        Policy::AfterInsert(cut)
            if cut > 0 && cut < n && piece(0, cut) <= limit && piece(cut, n) <= limit =>
        {
            return Ok(vec![cut])
        }
        _ => {}
    }
    let mut best: Option<(usize, usize)> = None;
    for cut in 1..n {
        let (left, right) = (piece(0, cut), piece(cut, n));
        if left <= limit && right <= limit {
            let imbalance = left.abs_diff(right);
            if best.is_none_or(|(_, b)| imbalance < b) {
                best = Some((cut, imbalance));
            }
        }
    }
    if let Some((cut, _)) = best {
        return Ok(vec![cut]);
    }
    let mut cuts = Vec::new();
    let mut fill = first(0);
    for (i, &size) in full.iter().enumerate().skip(1) {
        if fill + size > limit {
            cuts.push(i);
            fill = first(i);
        } else {
            fill += size;
        }
    }
    Ok(cuts)
}

/// Adds `pending` nodes to the parents along `path`, splitting parents that overflow, up to a
/// new root if the old one splits. Returns the root.
fn insert_upward<S: NodeStore + ?Sized>(
    s: &mut S,
    mut root: u32,
    mut path: Path,
    mut pending: Vec<Piece>,
) -> Result<u32> {
    while !pending.is_empty() {
        let entries = child_entries(&pending);
        let next = match path.pop() {
            Some((parent, index)) => {
                let policy = if index + 1 == s.arena().node(parent).len() {
                    Policy::Append
                } else {
                    Policy::Even
                };
                insert_entries(s, parent, index + 1, &entries, policy)?
            }
            None => {
                let mut new_root = s.new_node(false);
                let inserted = new_root.insert(
                    0,
                    Entry {
                        key: &[],
                        payload: Payload::Child(NodeRef::Dirty(root)),
                    },
                );
                assert!(inserted, "one child fits an empty branch");
                root = s.arena_mut().push(new_root);
                insert_entries(s, root, 1, &entries, Policy::Append)?
            }
        };
        pending = next;
    }
    Ok(root)
}

/// Merges (or evens out) underfull nodes with a sibling, from `id` up. Returns the root.
fn rebalance_upward<S: NodeStore + ?Sized>(
    s: &mut S,
    root: u32,
    mut path: Path,
    mut id: u32,
) -> Result<u32> {
    let limit = usable(s.page_size());
    while let Some((parent, index)) = path.pop() {
        let node = s.arena().node(id);
        if node.len() > 0 && node.used() >= limit / 4 {
            return Ok(root);
        }
        if node.len() == 0 {
            let empty = s.arena_mut().take(id);
            s.recycle(empty);
            let parent_node = s.arena_mut().node_mut(parent);
            parent_node.remove(index);
            if index == 0 && parent_node.len() > 0 {
                parent_node.clear_first_key();
            }
            id = parent;
            continue;
        }
        if s.arena().node(parent).len() < 2 {
            id = parent;
            continue;
        }
        let (left_index, right_index) = if index > 0 {
            (index - 1, index)
        } else {
            (index, index + 1)
        };
        let parent_view = s.arena().node(parent).view();
        let (left_ref, right_ref) = (
            parent_view.child(left_index)?,
            parent_view.child(right_index)?,
        );
        let separator = parent_view.key(right_index)?.to_vec();
        let left = s.dirty(left_ref)?;
        let right = s.dirty(right_ref)?;
        let parent_node = s.arena_mut().node_mut(parent);
        parent_node.set_child(left_index, NodeRef::Dirty(left));
        parent_node.remove(right_index);
        let (left_node, right_node) = (s.arena().node(left), s.arena().node(right));
        let leaf = left_node.is_leaf();
        let mut entries = left_node.entries();
        let mut right_entries = right_node.entries();
        if !leaf {
            right_entries[0].key = &separator; // the separator comes down
        }
        entries.extend(right_entries);
        let (mut nodes, separators) = build_pieces(s, leaf, &entries, Policy::Even)?;
        let first = nodes.remove(0);
        let old_left = s.arena_mut().replace(left, first);
        s.recycle(old_left);
        let old_right = s.arena_mut().take(right);
        s.recycle(old_right);
        let pieces: Vec<Piece> = separators
            .into_iter()
            .zip(nodes)
            .map(|(separator, node)| (separator, NodeRef::Dirty(s.arena_mut().push(node))))
            .collect();
        if !pieces.is_empty() {
            let entries = child_entries(&pieces);
            let pending = insert_entries(s, parent, right_index, &entries, Policy::Even)?;
            if !pending.is_empty() {
                // A longer separator moved up: the parent split.
                return insert_upward(s, root, path, pending);
            }
        }
        id = parent;
    }
    Ok(root)
}

/// Drops branch roots with a single child and empty leaf roots.
fn collapse_root<S: NodeStore + ?Sized>(s: &mut S, mut root: u32) -> Result<Option<NodeRef>> {
    loop {
        let node = s.arena().node(root);
        if node.len() == 0 {
            let node = s.arena_mut().take(root);
            s.recycle(node);
            return Ok(None);
        }
        if node.is_leaf() || node.len() > 1 {
            return Ok(Some(NodeRef::Dirty(root)));
        }
        let child = node.view().child(0)?;
        let node = s.arena_mut().take(root);
        s.recycle(node);
        match child {
            NodeRef::Dirty(child) => root = child,
            page => return Ok(Some(page)),
        }
    }
}

/// Pages a whole-tree walk has entered. A tree is a tree: a page met twice means a corrupt file
/// whose "tree" shares subtrees (a DAG), which would make a walk exponential and free pages twice.
#[derive(Default)]
struct Visited(std::collections::HashSet<u64>);

impl Visited {
    fn enter(&mut self, page: u64) -> Result<()> {
        if !self.0.insert(page) {
            return Err(crate::error::Error::corrupted(
                page,
                "page is reachable twice: the tree shares a subtree",
            ));
        }
        Ok(())
    }
}

fn relocate_in<S: NodeStore + ?Sized>(
    s: &mut S,
    node: NodeRef,
    limit: u64,
    depth: usize,
    visited: &mut Visited,
) -> Result<NodeRef> {
    if depth >= TREE_DEPTH_MAX {
        return Err(depth_error(node));
    }
    // A page is copied here (and kept only if something under it moved); a dirty node is
    // edited where it is.
    let (mut copy, dirty) = match node {
        NodeRef::Page(page) => {
            visited.enter(page)?;
            (Some(s.load_node(page)?), None)
        }
        NodeRef::Dirty(id) => (None, Some(id)),
    };
    let view_of = |s: &S, copy: &Option<Node>| -> (bool, usize) {
        let node = match (copy, dirty) {
            (Some(node), _) => node,
            (None, Some(id)) => s.arena().node(id),
            (None, None) => unreachable!(),
        };
        (node.is_leaf(), node.len())
    };
    let (leaf, len) = view_of(s, &copy);
    let mut changed = matches!(node, NodeRef::Page(page) if page >= limit);
    for index in 0..len {
        let view = match (&copy, dirty) {
            (Some(node), _) => node.view(),
            (None, Some(id)) => s.arena().node(id).view(),
            (None, None) => unreachable!(),
        };
        if !leaf {
            let child = view.child(index)?;
            let moved = relocate_in(s, child, limit, depth + 1, visited)?;
            if moved != child {
                match (&mut copy, dirty) {
                    (Some(node), _) => node.set_child(index, moved),
                    (None, Some(id)) => s.arena_mut().node_mut(id).set_child(index, moved),
                    (None, None) => unreachable!(),
                }
                changed = true;
            }
            continue;
        }
        let ValueRef::Overflow { page, len } = view.value(index)? else {
            continue;
        };
        if page.saturating_add(overflow_pages(len, s.page_size())) > limit {
            let bytes = s.overflow(page, len)?.to_vec();
            let Value::Overflow { page: moved, .. } = s.write_overflow(&bytes)? else {
                unreachable!("write_overflow makes an overflow value")
            };
            s.free_value(Value::Overflow { page, len })?;
            match (&mut copy, dirty) {
                (Some(node), _) => node.set_overflow(index, moved, len),
                (None, Some(id)) => s.arena_mut().node_mut(id).set_overflow(index, moved, len),
                (None, None) => unreachable!(),
            }
            changed = true;
        }
    }
    match (node, copy) {
        (NodeRef::Page(page), Some(copy)) if changed => {
            s.free_page(page)?;
            Ok(NodeRef::Dirty(s.arena_mut().push(copy)))
        }
        (_, Some(copy)) => {
            s.recycle(copy);
            Ok(node)
        }
        (_, None) => Ok(node),
    }
}

fn free_tree_in<S: NodeStore + ?Sized>(
    s: &mut S,
    node: NodeRef,
    depth: usize,
    visited: &mut Visited,
) -> Result<()> {
    if depth >= TREE_DEPTH_MAX {
        return Err(depth_error(node));
    }
    let owned = match node {
        NodeRef::Dirty(id) => s.arena_mut().take(id),
        NodeRef::Page(page) => {
            visited.enter(page)?;
            let owned = s.load_node(page)?;
            s.free_page(page)?;
            owned
        }
    };
    let view = owned.view();
    let mut values = Vec::new();
    let mut children = Vec::new();
    for index in 0..view.len() {
        if view.is_leaf() {
            if let ValueRef::Overflow { page, len } = view.value(index)? {
                values.push(Value::Overflow { page, len });
            }
        } else {
            children.push(view.child(index)?);
        }
    }
    s.recycle(owned);
    for value in values {
        s.free_value(value)?;
    }
    for child in children {
        free_tree_in(s, child, depth + 1, visited)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::view::ValueRef;

    fn entries<'a>(keys: &'a [Vec<u8>], value: &'a [u8]) -> Vec<Entry<'a>> {
        keys.iter()
            .map(|key| Entry {
                key,
                payload: Payload::Value(ValueRef::Inline(value)),
            })
            .collect()
    }

    fn keys(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("key{i:05}").into_bytes()).collect()
    }

    fn pieces(cuts: &[usize], n: usize, entries: &[Entry<'_>]) -> Vec<usize> {
        let mut sizes = Vec::new();
        let mut start = 0;
        for end in cuts.iter().copied().chain([n]) {
            sizes.push(entries[start..end].iter().map(|e| e.size(false)).sum());
            start = end;
        }
        sizes
    }

    #[test]
    fn an_even_split_gives_two_pieces_that_fit() {
        let limit = usable(4096);
        let (keys, value) = (keys(60), vec![7u8; 100]); // about 1.7 pages
        let entries = entries(&keys, &value);
        let cuts = choose_cuts(&entries, true, limit, Policy::Even).unwrap();
        assert_eq!(cuts.len(), 1);
        let sizes = pieces(&cuts, 60, &entries);
        assert!(sizes.iter().all(|&s| s <= limit));
        assert!(sizes[0].abs_diff(sizes[1]) <= 2 * entries[0].size(false));
    }

    #[test]
    fn an_append_split_keeps_the_left_page_full_and_a_prepend_the_right() {
        let limit = usable(4096);
        let (keys, value) = (keys(35), vec![7u8; 100]); // 35 entries of 118 bytes: over a page
        let entries = entries(&keys, &value);
        assert_eq!(
            choose_cuts(&entries, true, limit, Policy::Append).unwrap(),
            vec![34]
        );
        assert_eq!(
            choose_cuts(&entries, true, limit, Policy::Prepend).unwrap(),
            vec![1]
        );
    }

    #[test]
    fn an_oversized_run_is_packed_into_as_many_pieces_as_needed() {
        let limit = usable(4096);
        let (keys, value) = (keys(120), vec![7u8; 100]); // about 3.5 pages
        let entries = entries(&keys, &value);
        let cuts = choose_cuts(&entries, true, limit, Policy::Even).unwrap();
        assert!(cuts.len() >= 3);
        assert!(pieces(&cuts, 120, &entries)
            .iter()
            .all(|&s| s <= limit && s > 0));
    }

    #[test]
    fn separators_are_the_shortest_that_split() {
        assert_eq!(shortest_separator(b"apple", b"apricot"), b"apr");
        assert_eq!(shortest_separator(b"a", b"b"), b"b");
        assert_eq!(shortest_separator(b"ab", b"abc"), b"abc");
        assert_eq!(shortest_separator(b"", b"x"), b"x");
    }
}
