//! A window on the writes that reach the data file, for tests that simulate a power loss.
//!
//! The engine reports every change it makes to the file's bytes or length, and every point at
//! which it asks for durability, in the order it makes them. A test records them and, at each
//! durability point, builds the files a real disk could hold if the power failed there: all
//! writes since the last sync dropped, a prefix kept, or a random subset kept with a write torn
//! at a sector boundary (`tests/powerloss.rs`). Without an observer (always, outside tests) this
//! costs one `Option` check per write.

use std::fmt;
use std::sync::Arc;

/// Which file a write goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoFile {
    /// The database file.
    Data,
    /// The redo log (`<database>-log`).
    Log,
}

/// Receives the writes to the data file and the redo log, in order. `#[doc(hidden)]`: for the
/// crate's own tests.
pub trait IoObserver: Send + Sync {
    /// A write into the page cache (`pwrite`): on disk only after the next `sync` of that file,
    /// or never.
    fn write(&self, file: IoFile, offset: u64, bytes: &[u8]);
    /// A synchronous write (`O_DSYNC`): on disk when it returns; a power loss during it may
    /// tear it. Called before the write is made.
    fn write_durable(&self, file: IoFile, offset: u64, bytes: &[u8]);
    /// The file's length changes (growth with `fallocate`, or a trim).
    fn set_len(&self, file: IoFile, len: u64);
    /// `fdatasync` of that file is about to run: everything reported for it so far is on disk
    /// once it returns.
    fn sync(&self, file: IoFile);
    /// The directory holding the database is about to be synced (after a file was created in
    /// it), so the new name survives a power loss.
    fn sync_dir(&self) {}
}

/// An observer in [`crate::Options`].
#[derive(Clone)]
pub struct ObserverHandle(pub Arc<dyn IoObserver>);

impl fmt::Debug for ObserverHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ObserverHandle")
    }
}
