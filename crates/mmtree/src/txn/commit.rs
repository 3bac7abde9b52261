//! The steps of a commit (`WriteTransaction::commit` reads as their script): relocate for a
//! compaction, flush the table trees and their catalog entries, flush the catalog, and build the
//! new meta. The free tail, the freelist and publishing are the allocator's and `Shared`'s.

use super::core::WriteCore;
use super::encode_table_entry;
use crate::alloc::Allocate;
use crate::btree::mutate::Mutate;
use crate::btree::node::{NodeRef, Value, ValueBuf};
use crate::error::Result;
use crate::page::meta::Meta;

/// Compaction: every tree's pages at or above the limit move down (their copies are flushed like
/// any dirty node, into the lowest free pages). Returns the limit.
pub(super) fn relocate_tables(core: &mut WriteCore) -> Result<u64> {
    let limit = core.compaction_limit()?;
    for name in super::catalog_names(core, core.catalog_root)? {
        if let Some(mut state) = core.table_state(&name, false)? {
            if let Some(root) = state.root {
                let moved = core.relocate(root, limit)?;
                if moved != root {
                    state.root = Some(moved);
                    state.changed = true;
                    core.set_table(&name, state);
                }
            }
        }
    }
    core.set_relocate_limit(limit);
    Ok(limit)
}

/// Writes each changed table tree bottom-up and updates (or removes) its catalog entry.
/// Returns the catalog tree, still dirty.
pub(super) fn flush_tables(
    core: &mut WriteCore,
    pages: &mut Vec<(u64, Vec<u8>)>,
) -> Result<Option<NodeRef>> {
    let tables = std::mem::take(&mut core.tables);
    let mut catalog = core.catalog_root;
    for (name, state) in tables {
        match state {
            Some(state) if state.changed => {
                let root = match state.root {
                    Some(root) => core.flush(root, pages)?,
                    None => 0,
                };
                let entry =
                    Value::Inline(ValueBuf::from_slice(&encode_table_entry(root, state.len)));
                catalog = Some(core.tree_insert(catalog, name.as_bytes(), entry)?.0);
            }
            Some(_) => {}
            None => catalog = core.tree_remove(catalog, name.as_bytes())?.0,
        }
    }
    Ok(catalog)
}

/// Writes the catalog tree (moved below `relocate_above` in a compaction). Returns its root page
/// id (0: no tables).
pub(super) fn flush_catalog(
    core: &mut WriteCore,
    mut catalog: Option<NodeRef>,
    relocate_above: Option<u64>,
    pages: &mut Vec<(u64, Vec<u8>)>,
) -> Result<u64> {
    if let (Some(limit), Some(root)) = (relocate_above, catalog) {
        catalog = Some(core.relocate(root, limit)?);
    }
    match catalog {
        Some(root) => core.flush(root, pages),
        None => Ok(0),
    }
}

/// The meta of this commit (steady or weak is decided when it is published).
pub(super) fn new_meta(
    core: &WriteCore,
    catalog_root: u64,
    freelist_root: u64,
    free_pages: u64,
) -> Meta {
    Meta {
        page_size: core.page_size as u32,
        txn_id: core.txn_id,
        catalog_root,
        freelist_root,
        page_count: core.page_count,
        free_pages,
        weak_boot: 0,
        log_salt: 0, // the log generation's, set when it is published
        db_id: 0,    // the database's, set when it is published
        closed_cleanly: false,
    }
}
