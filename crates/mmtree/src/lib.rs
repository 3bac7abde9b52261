//! # mmtree
//!
//! An embedded, memory-mapped, crash-safe, **ordered** key-value store: a data file, a
//! copy-on-write B+tree, snapshot reads that point straight into the mapping, and one writer at
//! a time whose commits are durable when they return. Beside the data file live its redo log
//! (`<file>-log`, which holds commits not yet merged into the data file) and its lock file
//! (`<file>-lock`): copy a live or crashed database with [`Db::backup`], not by copying the
//! data file alone.
//!
//! ```
//! # fn main() -> mmtree::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let path = dir.path().join("data.mmt");
//! let db = mmtree::Db::open(&path)?;                  // creates it if missing; no size to guess
//! let mut w = db.begin_write()?;                      // one writer at a time
//! {
//!     let mut users = w.table("users")?;              // named tables, created on first use
//!     users.insert(b"alice", b"{\"age\":31}")?;
//!     users.remove(b"bob")?;
//! }
//! w.commit()?;                                        // durable when it returns (default)
//! let r = db.begin_read()?;                           // a snapshot; many at once, from many threads
//! if let Some(users) = r.table("users")? {
//!     let v: Option<&[u8]> = users.get(b"alice")?;    // zero-copy: points into the mapping
//!     assert_eq!(v, Some(&b"{\"age\":31}"[..]));
//!     for item in users.range("a".."m")? {
//!         let (key, value) = item?;
//!         assert_eq!(key, b"alice");
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Keys, values and range bounds are anything that is bytes (`&str`, `&[u8]`, `b"..."`,
//! `String`, `Vec<u8>`; see [`KeyRange`]). A [`Table`] borrows its write transaction
//! exclusively; to work with several tables at once, open them as [`TableHandle`]s:
//!
//! ```
//! # fn main() -> mmtree::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
//! let mut w = db.begin_write()?;
//! let (orders, by_day) = (w.table_handle("orders")?, w.table_handle("orders_by_day")?);
//! orders.insert(&mut w, "o-17", "3 apples")?;
//! by_day.insert(&mut w, "2026-12-07/o-17", "")?;
//! for item in by_day.prefix(&w, "2026-12-07/")? {
//!     let (key, _) = item?;
//!     let id = &key[b"2026-12-07/".len()..];
//!     assert_eq!(orders.get(&w, id)?, Some(&b"3 apples"[..]));
//! }
//! w.commit()?;
//! # Ok(()) }
//! ```
//!
//! More in the `examples/` folder: `cargo run -p mmtree --example basic`.
//!
//! A report or export that may run for long can use a *bounded* snapshot: it copies what it
//! reads, and once it is older than its cap a writer may reuse its pages, so it cannot make the
//! file grow without bound; its next read then fails with [`Error::SnapshotExpired`], never
//! with wrong data.
//!
//! ```
//! # fn main() -> mmtree::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! # let db = mmtree::Db::open(dir.path().join("data.mmt"))?;
//! use std::ops::Bound;
//! let mut s = db.begin_read_bounded(std::time::Duration::from_secs(60))?;
//! let v: Option<Vec<u8>> = s.get("users", b"alice")?;         // owned bytes
//! let first = s.range("users", Bound::Unbounded, Bound::Unbounded, 1000)?; // up to 1000 entries
//! assert!(v.is_none() && first.is_empty());
//! # Ok(()) }
//! ```
//!
//! ## Limits
//!
//! - Keys: up to a quarter page (1 KiB with the default 4 KiB pages); values up to 4 GiB - 1.
//!   Values too large to share a page are stored in their own run of overflow pages.
//! - Any number of processes and threads may open one database: one writer at a time across
//!   all of them, readers never blocked. Processes coordinate through a small lock file next to
//!   the database (`<file>-lock`). Opening the same file twice in one process shares one handle.
//!
//! ## It is not
//!
//! - a server (see the `mmtree serve` command), nor a SQL or document store;
//! - safe against other programs writing or truncating the file behind its back.
//!
//! See `docs/ARCHITECTURE.md` for the file format, the commit protocol and why the mmap use is
//! sound.

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod alloc;
mod btree;
mod catalog;
mod check;
mod db;
mod error;
pub mod limits;
#[allow(unsafe_code)]
mod lock;
mod log;
mod options;
mod page;
mod pager;
mod shared;
#[allow(unsafe_code)]
mod storage;
mod txn;
mod upgrade;
mod wbuf;

pub use check::{CheckReport, Problem, SalvageReport, TableReport};
pub use db::{Db, ReaderInfo, SetAside, Stats};
pub use options::{Durability, Options};
pub use upgrade::{upgrade, upgrade_with, UpgradeReport};

pub use storage::file_residency;

/// Hooks for the crate's own power-loss tests and fuzz targets; not part of the supported API,
/// and only built with the `testing` cargo feature (which the crate's tests turn on).
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    pub use crate::storage::observe::{IoFile, IoObserver};

    /// For fuzzing: parses `bytes` as a branch or leaf page (as if its checksum had passed),
    /// reads every cell, searches for its keys, validates the whole page and, if it passes,
    /// edits a copy in place (an insert, removes) as a write would. Must return an error or
    /// `Ok`, never panic, loop or allocate more than the page holds.
    pub fn decode_tree_page(bytes: &[u8]) -> crate::error::Result<()> {
        use crate::page::view::PageView;
        if !(crate::limits::PAGE_SIZE_MIN..=crate::limits::PAGE_SIZE_MAX).contains(&bytes.len())
            || !bytes.len().is_power_of_two()
        {
            return Err(crate::error::Error::corrupted(0, "not a page size"));
        }
        let view = PageView::parse(bytes, 2)?;
        for i in 0..view.len() {
            view.key(i)?;
            if view.is_leaf() {
                view.entry(i)?;
            } else {
                view.child(i)?;
            }
        }
        // Searches for keys taken from the page and around them.
        for i in 0..view.len().min(64) {
            let mut key = view.key(i)?.to_vec();
            if view.is_leaf() {
                let _ = view.leaf_search(&key)?;
            } else {
                view.child_index(&key)?;
            }
            key.push(0);
            view.leaf_search(&key).ok();
        }
        view.validate()?;
        // A page that validates can be edited: copy it in, insert and remove entries, rebuild.
        let mut page = crate::page::edit::PageBuf::from_copy(bytes.to_vec(), 2)?;
        if page.is_leaf() {
            let entry = crate::page::edit::Entry {
                key: b"\xff\xff\xff\xff-fuzz",
                payload: crate::page::edit::Payload::Value(crate::page::view::ValueRef::Inline(
                    b"v",
                )),
            };
            let at = page.view().leaf_search(entry.key)?.unwrap_or_else(|i| i);
            if page.insert(at, entry) {
                page.remove(at);
            }
        }
        while page.len() > 1 {
            page.remove(page.len() / 2);
        }
        Ok(())
    }

    /// For fuzzing: parses `bytes` as a redo-log record of generation `salt` (header, checksum)
    /// and decodes every op of its payload, checksum or not. Returns the number of ops read
    /// before the end or the first error; never panics or reads out of bounds.
    pub fn decode_log_record(bytes: &[u8], salt: u64) -> usize {
        if let Some(header) = crate::log::parse_header(bytes, salt) {
            let len = usize::try_from(header.len()).unwrap_or(usize::MAX);
            let _ = bytes
                .get(..len)
                .map(|r| crate::log::record_intact(&header, r));
        }
        let payload = bytes.get(crate::log::RECORD_HEADER..).unwrap_or(&[]);
        crate::log::ops(payload).take_while(|op| op.is_ok()).count()
    }

    /// For fuzzing: decodes `bytes` as a meta page; true if it is a valid one.
    pub fn decode_meta_page(bytes: &[u8]) -> bool {
        matches!(
            crate::page::meta::Meta::decode(bytes),
            crate::page::meta::MetaRead::Valid(_)
        )
    }
}

/// The file format version this build reads and writes.
pub const FORMAT_VERSION: u32 = page::meta::FORMAT_VERSION;
pub use error::{Error, Result};
pub use txn::{
    BoundedReadTransaction, BulkLoader, KeyRange, Range, ReadTable, ReadTransaction, Table,
    TableHandle, WriteTransaction,
};
