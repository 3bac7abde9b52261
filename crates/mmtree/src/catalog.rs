//! The catalog: the tree that maps each table name to its root page and entry count, and the
//! rules for table names.

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::node::NodeRef;
use crate::btree::view::Source;
use crate::error::{Error, Result};
use crate::limits::TABLE_NAME_MAX;

/// A root page id as a tree reference (0: the empty tree).
pub(crate) fn root_ref(page: u64) -> Option<NodeRef> {
    (page != 0).then_some(NodeRef::Page(page))
}

/// A catalog entry: root page id (0 for an empty table) and entry count, little-endian.
pub(crate) fn encode_table_entry(root: u64, len: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&root.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out
}

pub(crate) fn decode_table_entry(bytes: &[u8]) -> Result<(Option<NodeRef>, u64)> {
    if bytes.len() != 16 {
        return Err(Error::corrupted(0, "malformed catalog entry"));
    }
    let root = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    let len = u64::from_le_bytes(bytes[8..].try_into().expect("8 bytes"));
    Ok((root_ref(root), len))
}

pub(crate) fn check_table_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::InvalidTableName {
            reason: "a table name cannot be empty",
        });
    }
    if name.len() > TABLE_NAME_MAX {
        return Err(Error::InvalidTableName {
            reason: "a table name is at most 255 bytes",
        });
    }
    Ok(())
}

/// Lists table names from a catalog tree.
pub(crate) fn catalog_names(source: &dyn Source, catalog: Option<NodeRef>) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for item in RangeIter::new(source, catalog, Bounds::from_range(&(..))) {
        let (name, _) = item?;
        names.push(String::from_utf8_lossy(name).into_owned());
    }
    Ok(names)
}
