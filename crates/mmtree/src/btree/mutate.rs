//! Tree mutations inside a write transaction: copy-on-write descent, eager splits on the way up
//! after an insert, merges of underfull nodes on the way up after a remove, and the bottom-up
//! flush that turns dirty nodes into pages.

use super::codec::{decode_node, encode_node};
use super::node::{Entries, KeyBuf, Node, NodeRef, Value};
use super::view::NodeView;
use super::{child_index, depth_error};
use crate::error::Result;
use crate::limits::TREE_DEPTH_MAX;
use crate::page::{overflow_pages, usable};
use crate::txn::core::WriteCore;

impl WriteCore {
    /// Inserts or replaces; returns the new root and the replaced value.
    pub(crate) fn tree_insert(
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
            return Ok((NodeRef::Dirty(self.push_node(leaf)), None));
        };
        let root_id = self.dirty(root)?;
        let mut path: Vec<(u32, usize)> = Vec::new();
        let mut id = root_id;
        let mut rightmost = true;
        loop {
            if path.len() >= TREE_DEPTH_MAX {
                return Err(depth_error(root));
            }
            let node = self.node(id);
            if node.is_leaf() {
                break;
            }
            let index = child_index(&NodeView::Dirty(node), key)?;
            rightmost &= index + 1 == node.len();
            let child = node.children()[index];
            let child_id = self.dirty(child)?;
            self.node_mut(id).children_mut()[index] = NodeRef::Dirty(child_id);
            path.push((id, index));
            id = child_id;
        }
        let leaf = self.node_mut(id);
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
        let root = self.split_upward(root_id, path, id, append)?;
        Ok((NodeRef::Dirty(root), old))
    }

    /// Splits `id` and its ancestors while they are larger than a page. Returns the root.
    ///
    /// Every split must leave pieces that fit a page; one that does not (an entry larger than a
    /// page, which only a crafted file can hold) is `Corrupted`, never another round of splits.
    fn split_upward(
        &mut self,
        mut root: u32,
        mut path: Vec<(u32, usize)>,
        mut id: u32,
        append: bool,
    ) -> Result<u32> {
        let limit = usable(self.page_size);
        loop {
            if self.node(id).bytes <= limit {
                return Ok(root);
            }
            let pieces = split_node(self.node_mut(id), limit, append);
            if pieces.is_empty()
                || self.node(id).bytes > limit
                || pieces.iter().any(|piece| piece.bytes > limit)
            {
                return Err(crate::error::Error::corrupted(
                    0,
                    "an entry is larger than a page (a crafted or damaged page)",
                ));
            }
            match path.pop() {
                Some((parent, index)) => {
                    self.insert_pieces(parent, index + 1, pieces);
                    id = parent;
                }
                None => {
                    let mut new_root = Node::new_branch();
                    new_root.keys.push(KeyBuf::new());
                    new_root.children_mut().push(NodeRef::Dirty(id));
                    new_root.recompute_bytes();
                    let new_root = self.push_node(new_root);
                    self.insert_pieces(new_root, 1, pieces);
                    root = new_root;
                    id = new_root;
                }
            }
        }
    }

    /// Inserts nodes into branch `parent` at `at`, `at + 1`, ... with their separators.
    fn insert_pieces(&mut self, parent: u32, at: usize, pieces: Vec<Node>) {
        for (offset, mut piece) in pieces.into_iter().enumerate() {
            let separator = separator_of(&mut piece);
            let piece_id = self.push_node(piece);
            let parent = self.node_mut(parent);
            parent.keys.insert(at + offset, separator);
            parent
                .children_mut()
                .insert(at + offset, NodeRef::Dirty(piece_id));
            parent.recompute_bytes();
        }
    }

    /// Removes `key`; returns the new root and the removed value.
    pub(crate) fn tree_remove(
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
        let mut path: Vec<(u32, usize)> = Vec::new();
        let mut id = root_id;
        loop {
            if path.len() >= TREE_DEPTH_MAX {
                return Err(depth_error(root));
            }
            let node = self.node(id);
            if node.is_leaf() {
                break;
            }
            let index = child_index(&NodeView::Dirty(node), key)?;
            let child = node.children()[index];
            let child_id = self.dirty(child)?;
            self.node_mut(id).children_mut()[index] = NodeRef::Dirty(child_id);
            path.push((id, index));
            id = child_id;
        }
        let leaf = self.node_mut(id);
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
        let root_id = self.rebalance_upward(root_id, path, id)?;
        Ok((self.collapse_root(root_id), Some(old)))
    }

    /// Merges (or evens out) underfull nodes with a sibling, from `id` up. Returns the root.
    fn rebalance_upward(
        &mut self,
        root: u32,
        mut path: Vec<(u32, usize)>,
        mut id: u32,
    ) -> Result<u32> {
        let limit = usable(self.page_size);
        while let Some((parent, index)) = path.pop() {
            let node = self.node(id);
            if !node.keys.is_empty() && node.bytes >= limit / 4 {
                return Ok(root);
            }
            if node.keys.is_empty() {
                self.release_node(id);
                let parent_node = self.node_mut(parent);
                parent_node.keys.remove(index);
                parent_node.children_mut().remove(index);
                if index == 0 && !parent_node.keys.is_empty() {
                    parent_node.keys[0].clear();
                }
                parent_node.recompute_bytes();
                id = parent;
                continue;
            }
            if self.node(parent).len() < 2 {
                id = parent;
                continue;
            }
            let (left_index, right_index) = if index > 0 {
                (index - 1, index)
            } else {
                (index, index + 1)
            };
            let left_ref = self.node(parent).children()[left_index];
            let right_ref = self.node(parent).children()[right_index];
            let left = self.dirty(left_ref)?;
            let right = self.dirty(right_ref)?;
            let parent_node = self.node_mut(parent);
            let separator = std::mem::take(&mut parent_node.keys[right_index]);
            parent_node.keys.remove(right_index);
            parent_node.children_mut().remove(right_index);
            parent_node.children_mut()[left_index] = NodeRef::Dirty(left);
            parent_node.recompute_bytes();
            let mut right_node = self.take_node(right);
            if !right_node.is_leaf() {
                right_node.keys[0] = separator;
                right_node.recompute_bytes();
            }
            let left_node = self.node_mut(left);
            left_node.append(right_node);
            if left_node.bytes > limit {
                let pieces = split_node(left_node, limit, false);
                self.insert_pieces(parent, left_index + 1, pieces);
                if self.node(parent).bytes > limit {
                    // A longer separator moved up: the parent may now need a split itself.
                    return self.split_upward(root, path, parent, false);
                }
            }
            id = parent;
        }
        Ok(root)
    }

    /// Drops branch roots with a single child and empty leaf roots.
    fn collapse_root(&mut self, mut root: u32) -> Option<NodeRef> {
        loop {
            let node = self.node(root);
            if node.keys.is_empty() {
                self.release_node(root);
                return None;
            }
            if node.is_leaf() || node.len() > 1 {
                return Some(NodeRef::Dirty(root));
            }
            let child = node.children()[0];
            self.release_node(root);
            match child {
                NodeRef::Dirty(child) => root = child,
                page => return Some(page),
            }
        }
    }

    /// Writes the dirty nodes under `node` (children first) and returns its page id.
    pub(crate) fn flush(&mut self, node: NodeRef, out: &mut Vec<(u64, Vec<u8>)>) -> Result<u64> {
        let NodeRef::Dirty(id) = node else {
            let NodeRef::Page(page) = node else {
                unreachable!()
            };
            return Ok(page);
        };
        let mut node = self.take_node(id);
        if let Entries::Branch(children) = &mut node.entries {
            for child in children.iter_mut() {
                if let NodeRef::Dirty(_) = child {
                    *child = NodeRef::Page(self.flush(*child, out)?);
                }
            }
        }
        let page_id = self.alloc_page()?;
        let mut page = self.db.page_buffer();
        encode_node(&node, &mut page, page_id, self.txn);
        out.push((page_id, page));
        Ok(page_id)
    }

    /// Compaction: copies every node and overflow run of the tree that lies at or above page
    /// `limit` (and the path to it) into the transaction, so the flush gives it a page lower in
    /// the file. Returns the root, changed if anything under it moved.
    pub(crate) fn relocate(&mut self, node: NodeRef, limit: u64) -> Result<NodeRef> {
        self.relocate_in(node, limit, 0, &mut Visited::default())
    }

    fn relocate_in(
        &mut self,
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
                decode_node(self.page_view(page)?)?
            }
            NodeRef::Dirty(id) => self.node(id).clone(),
        };
        let mut changed = matches!(node, NodeRef::Page(page) if page >= limit);
        match &mut owned.entries {
            Entries::Branch(children) => {
                for child in children.iter_mut() {
                    let moved = self.relocate_in(*child, limit, depth + 1, visited)?;
                    if moved != *child {
                        *child = moved;
                        changed = true;
                    }
                }
            }
            Entries::Leaf(values) => {
                for value in values.iter_mut() {
                    if let Value::Overflow { page, len } = *value {
                        if page.saturating_add(overflow_pages(len, self.page_size)) > limit {
                            let bytes =
                                crate::btree::view::Source::overflow(self, page, len)?.to_vec();
                            let moved = self.write_overflow(&bytes)?;
                            self.free_value(std::mem::replace(value, moved))?;
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
                *self.node_mut(id) = owned;
                Ok(node)
            }
            NodeRef::Page(page) => {
                self.free_page(page);
                Ok(NodeRef::Dirty(self.push_node(owned)))
            }
        }
    }

    /// Frees every page of a tree (used to drop a table).
    pub(crate) fn free_tree(&mut self, node: NodeRef) -> Result<()> {
        self.free_tree_in(node, 0, &mut Visited::default())
    }

    fn free_tree_in(&mut self, node: NodeRef, depth: usize, visited: &mut Visited) -> Result<()> {
        if depth >= TREE_DEPTH_MAX {
            return Err(depth_error(node));
        }
        let owned = match node {
            NodeRef::Dirty(id) => self.take_node(id),
            NodeRef::Page(page) => {
                visited.enter(page)?;
                let owned = decode_node(self.page_view(page)?)?;
                self.free_page(page);
                owned
            }
        };
        match owned.entries {
            Entries::Leaf(values) => {
                for value in values {
                    self.free_value(value)?;
                }
            }
            Entries::Branch(children) => {
                for child in children {
                    self.free_tree_in(child, depth + 1, visited)?;
                }
            }
        }
        Ok(())
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
