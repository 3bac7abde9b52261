//! The copy-on-write B+tree: reading (shared by read and write transactions), cursors, and the
//! write transaction's mutations.

pub(crate) mod append;
pub(crate) mod arena;
pub(crate) mod cursor;
pub(crate) mod mutate;
pub(crate) mod node;
pub(crate) mod store;
pub(crate) mod view;

use crate::error::{Error, Result};
use crate::limits::TREE_DEPTH_MAX;
use node::NodeRef;
use view::{NodeView, Source};

/// Index of the child of branch `view` whose subtree may hold `key`.
#[inline]
pub(crate) fn child_index(view: &NodeView<'_>, key: &[u8]) -> Result<usize> {
    view.child_index(key)
}

/// `Ok(i)` if `key` is at index i of leaf `view`, else `Err(i)` where it would be inserted.
#[inline]
pub(crate) fn leaf_search(
    view: &NodeView<'_>,
    key: &[u8],
) -> Result<std::result::Result<usize, usize>> {
    view.leaf_search(key)
}

/// Point lookup.
#[inline]
pub(crate) fn get<'a, S: Source + ?Sized>(
    source: &'a S,
    root: Option<NodeRef>,
    key: &[u8],
) -> Result<Option<&'a [u8]>> {
    let Some(mut node) = root else {
        return Ok(None);
    };
    for _ in 0..TREE_DEPTH_MAX {
        let view = source.view(node)?;
        if view.is_leaf() {
            return match leaf_search(&view, key)? {
                Ok(index) => Ok(Some(source.resolve(view.value(index)?)?)),
                Err(_) => Ok(None),
            };
        }
        node = view.child(child_index(&view, key)?)?;
        // The child's header and first slots asked for at once: a binary search reads them one
        // after another, each a cache miss of its own (a leaf's slot array, about 30 slots,
        // lies in its first four cache lines).
        if let NodeRef::Page(id) = node {
            source.touch_ahead(id);
        }
    }
    Err(depth_error(node))
}

pub(crate) fn depth_error(node: NodeRef) -> Error {
    let page = match node {
        NodeRef::Page(id) => id,
        NodeRef::Dirty(_) => 0,
    };
    Error::corrupted(
        page,
        format!("tree deeper than {TREE_DEPTH_MAX} levels (a cycle?)"),
    )
}
