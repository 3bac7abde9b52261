//! Nodes to pages and back: the tree's half of the page format (`page::encode` and `page::view`
//! lay out and check the bytes). Checked on both sides: a node is checked before it is encoded
//! (it fits, its keys are in order and within the key size limit, a branch has only page
//! children), and a decoded page is checked again as a whole (its cells do not overlap).

use super::node::{Entries, KeyBuf, Node, NodeRef, Value, ValueBuf};
use crate::error::{Error, Result};
use crate::limits::key_size_max;
use crate::page::encode::PageWriter;
use crate::page::usable;
use crate::page::view::{PageView, ValueRef};

/// Encodes `node` into `page` (exactly one page) and seals it. Every child reference must
/// already be a page id.
pub(crate) fn encode_node(node: &Node, page: &mut [u8], page_id: u64, txn: u64) {
    let page_size = page.len();
    assert!(
        node.bytes <= usable(page_size),
        "node of {} bytes does not fit a page",
        node.bytes
    );
    assert_eq!(node.keys.len(), node.len(), "one key per entry");
    debug_assert!(
        node.keys
            .windows(2)
            .skip(usize::from(!node.is_leaf()))
            .all(|w| w[0] < w[1]),
        "keys out of order in a node being written"
    );
    debug_assert!(node.keys.iter().all(|k| k.len() <= key_size_max(page_size)));
    let mut writer = PageWriter::new(page, node.is_leaf(), node.len(), page_id, txn);
    match &node.entries {
        Entries::Leaf(values) => {
            for (key, value) in node.keys.iter().zip(values) {
                let value = match value {
                    Value::Inline(bytes) => ValueRef::Inline(bytes),
                    Value::Overflow { page, len } => ValueRef::Overflow {
                        page: *page,
                        len: *len,
                    },
                };
                writer.leaf(key, value);
            }
        }
        Entries::Branch(children) => {
            assert!(
                node.keys[0].is_empty(),
                "a branch's first key is minus infinity"
            );
            for (key, child) in node.keys.iter().zip(children) {
                let NodeRef::Page(child) = *child else {
                    unreachable!("encoding a branch with a dirty child")
                };
                writer.branch(key, child);
            }
        }
    }
    writer.finish();
}

/// Decodes a page into a modifiable node (copy-on-write).
pub(crate) fn decode_node(view: PageView<'_>) -> Result<Node> {
    let count = view.len();
    let mut keys = Vec::with_capacity(count);
    let entries = if view.is_leaf() {
        let mut values = Vec::with_capacity(count);
        for i in 0..count {
            let (key, value) = view.entry(i)?;
            keys.push(KeyBuf::from_slice(key));
            values.push(match value {
                ValueRef::Inline(bytes) => Value::Inline(ValueBuf::from_slice(bytes)),
                ValueRef::Overflow { page, len } => Value::Overflow { page, len },
            });
        }
        Entries::Leaf(values)
    } else {
        let mut children = Vec::with_capacity(count);
        for i in 0..count {
            keys.push(if i == 0 {
                KeyBuf::new()
            } else {
                KeyBuf::from_slice(view.key(i)?)
            });
            children.push(NodeRef::Page(view.child(i)?));
        }
        Entries::Branch(children)
    };
    let mut node = Node {
        keys,
        entries,
        bytes: 0,
    };
    node.recompute_bytes();
    if node.bytes > usable(view.page_size()) {
        return Err(Error::corrupted(
            view.id(),
            "cells overlap (entries larger than the page)",
        ));
    }
    Ok(node)
}
