//! Tree mutations inside a write transaction: copy-on-write descent, eager splits on the way up
//! after an insert, merges of underfull nodes on the way up after a remove, and the bottom-up
//! flush that turns dirty nodes into pages.

use super::node::{Entries, KeyBuf, Node, NodeRef, Value};
use super::store::NodeStore;
use super::view::NodeView;
use super::{child_index, depth_error};
use crate::error::Result;
use crate::limits::TREE_DEPTH_MAX;
use crate::page::{overflow_pages, usable};

/// The tree operations of a write transaction, for every [`NodeStore`].
pub(crate) trait Mutate: NodeStore {
    /// Copy-on-write: the arena id of a modifiable copy of `node` (the page it came from is
    /// freed).
    fn dirty(&mut self, node: NodeRef) -> Result<u32> {
        match node {
            NodeRef::Dirty(id) => Ok(id),
            NodeRef::Page(page) => {
                let copy = self.load_node(page)?;
                self.free_page(page);
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
        let Some(root) = root else {
            let mut leaf = Node::new_leaf();
            leaf.keys.push(KeyBuf::from_slice(key));
            leaf.values_mut().push(value);
            leaf.recompute_bytes();
            return Ok((NodeRef::Dirty(self.arena_mut().push(leaf)), None));
        };
        let root_id = self.dirty(root)?;
        let (path, id, rightmost) = descend_dirty(self, root, root_id, key)?;
        let leaf = self.arena_mut().node_mut(id);
        let (old, index) = match leaf.keys.binary_search_by(|k| k.as_slice().cmp(key)) {
            Ok(index) => {
                let old = std::mem::replace(&mut leaf.values_mut()[index], value);
                (Some(old), index)
            }
            Err(index) => {
                leaf.keys.insert(index, KeyBuf::from_slice(key));
                leaf.values_mut().insert(index, value);
                (None, index)
            }
        };
        leaf.recompute_bytes();
        let append = rightmost && index + 1 == leaf.len();
        let root = split_upward(self, root_id, path, id, append)?;
        Ok((NodeRef::Dirty(root), old))
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
        let (path, id, _) = descend_dirty(self, root, root_id, key)?;
        let leaf = self.arena_mut().node_mut(id);
        let Ok(index) = leaf.keys.binary_search_by(|k| k.as_slice().cmp(key)) else {
            // get() found it; a second search can only miss in a leaf whose keys are unsorted.
            return Err(crate::error::Error::corrupted(
                0,
                "keys out of order in a leaf",
            ));
        };
        leaf.keys.remove(index);
        let old = leaf.values_mut().remove(index);
        leaf.recompute_bytes();
        let root_id = rebalance_upward(self, root_id, path, id)?;
        Ok((collapse_root(self, root_id), Some(old)))
    }

    /// Writes the dirty nodes under `node` (children first) and returns its page id.
    fn flush(&mut self, node: NodeRef, out: &mut Vec<(u64, Vec<u8>)>) -> Result<u64> {
        let NodeRef::Dirty(id) = node else {
            let NodeRef::Page(page) = node else {
                unreachable!()
            };
            return Ok(page);
        };
        let mut node = self.arena_mut().take(id);
        if let Entries::Branch(children) = &mut node.entries {
            for child in children.iter_mut() {
                if let NodeRef::Dirty(_) = child {
                    *child = NodeRef::Page(self.flush(*child, out)?);
                }
            }
        }
        let page_id = self.alloc_page()?;
        let page = self.encode_page(&node, page_id);
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

/// A copy-on-write descent: the path (branch id, child index), the leaf's id, and whether the
/// path kept to the right edge of the tree.
type Descent = (Vec<(u32, usize)>, u32, bool);

/// Copy-on-write descent: from the dirty root `root_id` to the leaf that holds (or would hold)
/// `key`, making every node on the way dirty. Returns the path (branch id, child index), the
/// leaf's id, and whether the path kept to the right edge of the tree (an append).
fn descend_dirty<S: NodeStore + ?Sized>(
    s: &mut S,
    root: NodeRef,
    root_id: u32,
    key: &[u8],
) -> Result<Descent> {
    let mut path: Vec<(u32, usize)> = Vec::new();
    let mut id = root_id;
    let mut rightmost = true;
    loop {
        if path.len() >= TREE_DEPTH_MAX {
            return Err(depth_error(root));
        }
        let node = s.arena().node(id);
        if node.is_leaf() {
            return Ok((path, id, rightmost));
        }
        let index = child_index(&NodeView::Dirty(node), key)?;
        rightmost &= index + 1 == node.len();
        let child = node.children()[index];
        let child_id = s.dirty(child)?;
        s.arena_mut().node_mut(id).children_mut()[index] = NodeRef::Dirty(child_id);
        path.push((id, index));
        id = child_id;
    }
}

/// Splits `id` and its ancestors while they are larger than a page. Returns the root.
///
/// Every split must leave pieces that fit a page; one that does not (an entry larger than a
/// page, which only a crafted file can hold) is `Corrupted`, never another round of splits.
fn split_upward<S: NodeStore + ?Sized>(
    s: &mut S,
    mut root: u32,
    mut path: Vec<(u32, usize)>,
    mut id: u32,
    append: bool,
) -> Result<u32> {
    let limit = usable(s.page_size());
    loop {
        if s.arena().node(id).bytes <= limit {
            return Ok(root);
        }
        let pieces = split_node(s.arena_mut().node_mut(id), limit, append);
        if pieces.is_empty()
            || s.arena().node(id).bytes > limit
            || pieces.iter().any(|piece| piece.bytes > limit)
        {
            return Err(crate::error::Error::corrupted(
                0,
                "an entry is larger than a page (a crafted or damaged page)",
            ));
        }
        match path.pop() {
            Some((parent, index)) => {
                insert_pieces(s, parent, index + 1, pieces);
                id = parent;
            }
            None => {
                let mut new_root = Node::new_branch();
                new_root.keys.push(KeyBuf::new());
                new_root.children_mut().push(NodeRef::Dirty(id));
                new_root.recompute_bytes();
                let new_root = s.arena_mut().push(new_root);
                insert_pieces(s, new_root, 1, pieces);
                root = new_root;
                id = new_root;
            }
        }
    }
}

/// Inserts nodes into branch `parent` at `at`, `at + 1`, ... with their separators.
fn insert_pieces<S: NodeStore + ?Sized>(s: &mut S, parent: u32, at: usize, pieces: Vec<Node>) {
    for (offset, mut piece) in pieces.into_iter().enumerate() {
        let separator = separator_of(&mut piece);
        let piece_id = s.arena_mut().push(piece);
        let parent = s.arena_mut().node_mut(parent);
        parent.keys.insert(at + offset, separator);
        parent
            .children_mut()
            .insert(at + offset, NodeRef::Dirty(piece_id));
        parent.recompute_bytes();
    }
}

/// Merges (or evens out) underfull nodes with a sibling, from `id` up. Returns the root.
fn rebalance_upward<S: NodeStore + ?Sized>(
    s: &mut S,
    root: u32,
    mut path: Vec<(u32, usize)>,
    mut id: u32,
) -> Result<u32> {
    let limit = usable(s.page_size());
    while let Some((parent, index)) = path.pop() {
        let node = s.arena().node(id);
        if !node.keys.is_empty() && node.bytes >= limit / 4 {
            return Ok(root);
        }
        if node.keys.is_empty() {
            s.arena_mut().release(id);
            let parent_node = s.arena_mut().node_mut(parent);
            parent_node.keys.remove(index);
            parent_node.children_mut().remove(index);
            if index == 0 && !parent_node.keys.is_empty() {
                parent_node.keys[0].clear();
            }
            parent_node.recompute_bytes();
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
        let left_ref = s.arena().node(parent).children()[left_index];
        let right_ref = s.arena().node(parent).children()[right_index];
        let left = s.dirty(left_ref)?;
        let right = s.dirty(right_ref)?;
        let parent_node = s.arena_mut().node_mut(parent);
        let separator = std::mem::take(&mut parent_node.keys[right_index]);
        parent_node.keys.remove(right_index);
        parent_node.children_mut().remove(right_index);
        parent_node.children_mut()[left_index] = NodeRef::Dirty(left);
        parent_node.recompute_bytes();
        let mut right_node = s.arena_mut().take(right);
        if !right_node.is_leaf() {
            right_node.keys[0] = separator;
            right_node.recompute_bytes();
        }
        let left_node = s.arena_mut().node_mut(left);
        left_node.append(right_node);
        if left_node.bytes > limit {
            let pieces = split_node(left_node, limit, false);
            insert_pieces(s, parent, left_index + 1, pieces);
            if s.arena().node(parent).bytes > limit {
                // A longer separator moved up: the parent may now need a split its.
                return split_upward(s, root, path, parent, false);
            }
        }
        id = parent;
    }
    Ok(root)
}

/// Drops branch roots with a single child and empty leaf roots.
fn collapse_root<S: NodeStore + ?Sized>(s: &mut S, mut root: u32) -> Option<NodeRef> {
    loop {
        let node = s.arena().node(root);
        if node.keys.is_empty() {
            s.arena_mut().release(root);
            return None;
        }
        if node.is_leaf() || node.len() > 1 {
            return Some(NodeRef::Dirty(root));
        }
        let child = node.children()[0];
        s.arena_mut().release(root);
        match child {
            NodeRef::Dirty(child) => root = child,
            page => return Some(page),
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

/// The key that separates `piece` from its left neighbour in the parent. For a branch, its first
/// key moves up (a branch's key 0 is always empty).
fn separator_of(piece: &mut Node) -> KeyBuf {
    if piece.is_leaf() {
        piece.keys[0].clone()
    } else {
        let separator = std::mem::take(&mut piece.keys[0]);
        piece.recompute_bytes();
        separator
    }
}

/// Splits an oversized node; `node` keeps the first part, the other parts are returned.
fn split_node(node: &mut Node, limit: usize, append: bool) -> Vec<Node> {
    let sizes: Vec<usize> = (0..node.len()).map(|i| node.entry_size(i)).collect();
    let total: usize = sizes.iter().sum();
    // Appending at the right edge of the tree: keep the left node full.
    if append && total - sizes[sizes.len() - 1] <= limit && sizes.len() >= 2 {
        return vec![node.split_off(node.len() - 1)];
    }
    // The most even split into two that fits.
    let mut best: Option<(usize, usize)> = None;
    let mut left = 0usize;
    for (i, size) in sizes.iter().enumerate().take(sizes.len() - 1) {
        left += size;
        let right = total - left;
        if left <= limit && right <= limit {
            let imbalance = left.abs_diff(right);
            if best.is_none_or(|(_, b)| imbalance < b) {
                best = Some((i + 1, imbalance));
            }
        }
    }
    if let Some((at, _)) = best {
        return vec![node.split_off(at)];
    }
    // Otherwise pack greedily into as many nodes as needed.
    let mut cuts = Vec::new();
    let mut fill = 0usize;
    for (i, size) in sizes.iter().enumerate() {
        if fill + size > limit && i > 0 {
            cuts.push(i);
            fill = 0;
        }
        fill += size;
    }
    let mut pieces = Vec::new();
    for &cut in cuts.iter().rev() {
        pieces.push(node.split_off(cut));
    }
    pieces.reverse();
    pieces
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
    let mut owned = match node {
        NodeRef::Page(page) => {
            visited.enter(page)?;
            s.load_node(page)?
        }
        NodeRef::Dirty(id) => s.arena().node(id).clone(),
    };
    let mut changed = matches!(node, NodeRef::Page(page) if page >= limit);
    match &mut owned.entries {
        Entries::Branch(children) => {
            for child in children.iter_mut() {
                let moved = relocate_in(s, *child, limit, depth + 1, visited)?;
                if moved != *child {
                    *child = moved;
                    changed = true;
                }
            }
        }
        Entries::Leaf(values) => {
            for value in values.iter_mut() {
                if let Value::Overflow { page, len } = *value {
                    if page.saturating_add(overflow_pages(len, s.page_size())) > limit {
                        let bytes = s.overflow(page, len)?.to_vec();
                        let moved = s.write_overflow(&bytes)?;
                        s.free_value(std::mem::replace(value, moved))?;
                        changed = true;
                    }
                }
            }
        }
    }
    if !changed {
        return Ok(node);
    }
    match node {
        NodeRef::Dirty(id) => {
            *s.arena_mut().node_mut(id) = owned;
            Ok(node)
        }
        NodeRef::Page(page) => {
            s.free_page(page);
            Ok(NodeRef::Dirty(s.arena_mut().push(owned)))
        }
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
            s.free_page(page);
            owned
        }
    };
    match owned.entries {
        Entries::Leaf(values) => {
            for value in values {
                s.free_value(value)?;
            }
        }
        Entries::Branch(children) => {
            for child in children {
                free_tree_in(s, child, depth + 1, visited)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::btree::node::ValueBuf;

    fn leaf(entries: usize, value_len: usize) -> Node {
        let mut node = Node::new_leaf();
        for i in 0..entries {
            node.keys
                .push(KeyBuf::from_slice(format!("key{i:05}").as_bytes()));
            node.values_mut()
                .push(Value::Inline(ValueBuf::from_slice(&vec![7u8; value_len])));
        }
        node.recompute_bytes();
        node
    }

    fn keys(nodes: &[&Node]) -> Vec<Vec<u8>> {
        nodes
            .iter()
            .flat_map(|n| n.keys.iter().map(|k| k.to_vec()))
            .collect()
    }

    #[test]
    fn an_even_split_gives_two_pieces_that_fit_in_key_order() {
        let limit = usable(4096);
        let mut node = leaf(60, 100); // about 1.7 pages
        let before = keys(&[&node]);
        let pieces = split_node(&mut node, limit, false);
        assert_eq!(pieces.len(), 1);
        assert!(node.bytes <= limit && pieces[0].bytes <= limit);
        assert!(node.bytes.abs_diff(pieces[0].bytes) <= 2 * node.entry_size(0));
        assert_eq!(keys(&[&node, &pieces[0]]), before);
    }

    #[test]
    fn an_append_split_keeps_the_left_page_full() {
        let limit = usable(4096);
        let mut node = leaf(35, 100); // 35 entries of 117 bytes: just over a page
        assert!(node.bytes > limit);
        let pieces = split_node(&mut node, limit, true);
        assert_eq!(pieces.len(), 1);
        assert_eq!(pieces[0].len(), 1, "only the appended entry moves right");
        assert!(node.bytes <= limit);
    }

    #[test]
    fn an_oversized_node_is_packed_into_as_many_pieces_as_needed() {
        let limit = usable(4096);
        let mut node = leaf(120, 100); // about 3.5 pages
        let before = keys(&[&node]);
        let pieces = split_node(&mut node, limit, false);
        assert!(pieces.len() >= 3);
        let mut all = vec![&node];
        all.extend(pieces.iter());
        assert!(all.iter().all(|n| n.bytes <= limit && !n.keys.is_empty()));
        assert_eq!(keys(&all), before);
    }
}
