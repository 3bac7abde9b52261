//! Encoding nodes into pages.
//!
//! A branch or leaf page: header, then `count` u16 slots (cell offsets, in key order), free space,
//! then the cells packed from the end of the page towards the slots.

use super::*;
use crate::btree::node::{Entries, Node, NodeRef, Value};

/// Encodes `node` into `page` (exactly one page, zero-filled by the caller or not) and seals it.
/// Every child reference must already be a page id.
pub(crate) fn encode_node(node: &Node, page: &mut [u8], page_id: u64, txn: u64) {
    let page_size = page.len();
    assert!(
        node.bytes <= usable(page_size),
        "node of {} bytes does not fit a page",
        node.bytes
    );
    assert!(node.len() <= u16::MAX as usize);
    let kind = if node.is_leaf() {
        KIND_LEAF
    } else {
        KIND_BRANCH
    };
    page.fill(0);
    write_header(page, kind, node.len() as u16, page_id, txn);
    let mut end = page_size;
    for (i, key) in node.keys.iter().enumerate() {
        match &node.entries {
            Entries::Leaf(values) => {
                let value = &values[i];
                let cell = LEAF_CELL_HEADER + key.len() + value.stored_len();
                end -= cell;
                let at = end;
                let (flags, stored) = match value {
                    Value::Inline(bytes) => (0u8, bytes.len()),
                    Value::Overflow { .. } => (CELL_FLAG_OVERFLOW, OVERFLOW_REF_SIZE),
                };
                page[at] = flags;
                write_u16(page, at + 1, key.len() as u16);
                write_u32(page, at + 3, stored as u32);
                let key_at = at + LEAF_CELL_HEADER;
                page[key_at..key_at + key.len()].copy_from_slice(key);
                let value_at = key_at + key.len();
                match value {
                    Value::Inline(bytes) => {
                        page[value_at..value_at + bytes.len()].copy_from_slice(bytes)
                    }
                    Value::Overflow { page: first, len } => {
                        write_u64(page, value_at, *first);
                        write_u64(page, value_at + 8, *len);
                    }
                }
            }
            Entries::Branch(children) => {
                let child = match children[i] {
                    NodeRef::Page(id) => id,
                    NodeRef::Dirty(_) => unreachable!("encoding a branch with a dirty child"),
                };
                end -= BRANCH_CELL_HEADER + key.len();
                let at = end;
                write_u16(page, at, key.len() as u16);
                write_u64(page, at + 2, child);
                page[at + BRANCH_CELL_HEADER..at + BRANCH_CELL_HEADER + key.len()]
                    .copy_from_slice(key);
            }
        }
        write_u16(page, HEADER_SIZE + i * SLOT_SIZE, end as u16);
    }
    debug_assert!(HEADER_SIZE + node.len() * SLOT_SIZE <= end);
    seal(page);
}
