//! The engine's layers, checked: every module of `crates/mmtree/src` may import only the modules
//! below it in one order (the one docs/ARCHITECTURE.md draws), so there are no import cycles and
//! nothing reaches up. A new top-level module must be given its place here.
//!
//! Method: read every source file, take the top-level module it belongs to, and every
//! `crate::NAME` path in its code (comments and strings left out); each must name a module of a
//! lower rank. Run with `cargo test -p mmtree --test layers`.

/// Bottom first. Each module may import only those before it.
const LAYERS: &[&str] = &[
    "limits",  // every bound with its reason
    "error",   // the one Error type
    "storage", // the file's bytes: grow, shrink, pwrite, sync, the mapping (no page format)
    "options", // Options, Durability
    "lock",    // the lock file: what processes agree on
    "log",     // the redo log: records of commits, appended, synced, scanned
    "page",    // the page format: bytes <-> fields (no trees, no files)
    "pager",   // page reads checked against the format; the verified-page table
    "btree",   // tree algorithms over `Source` (reads) and `NodeStore` (writes)
    "alloc",   // free space, over `AllocHost`
    "catalog", // table name -> root
    "wbuf",    // the write buffer: commits past the tree, indexed from the log
    "shared",  // what every handle of an open database shares; the end of a commit
    "txn",     // snapshots and the writer
    "check",   // the integrity walk
    "db",      // the `Db` handle
    "upgrade", // converting older formats: reads their pages, writes through `Db`
    "lib",     // the public API (lib.rs)
];

#[path = "common/layers.rs"]
mod layers;

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    layers::check_layers(&src, LAYERS);
}
