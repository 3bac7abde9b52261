//! Named limits, each with its reason.

/// The default page size. 4 KiB is the x86-64 and arm64 base page size: one page of the file is one
/// page of the page cache and one TLB entry.
pub const PAGE_SIZE_DEFAULT: usize = 4096;
/// Smallest page size accepted at creation (keys of 1 KiB must fit four to a page).
pub const PAGE_SIZE_MIN: usize = 4096;
/// Largest page size accepted at creation: slot offsets inside a page are `u16`.
pub const PAGE_SIZE_MAX: usize = 32768;

/// Largest value: overflow runs are addressed by a `u64` length, but one value must also fit in
/// memory when a user reads it; 4 GiB - 1 keeps lengths in a `u32` for 32-bit-safe arithmetic.
pub const VALUE_SIZE_MAX: u64 = u32::MAX as u64;

/// Longest table name, so a catalog entry always fits inline in a leaf.
pub const TABLE_NAME_MAX: usize = 255;

/// Deepest tree accepted when reading. A B+tree whose nodes hold at least two children reaches
/// depth 40 only past 2^40 pages, more than any file we map; a deeper path means a cycle in a corrupt
/// file, and stopping there keeps a hostile file from exhausting the stack or looping forever.
pub const TREE_DEPTH_MAX: usize = 40;

/// Largest key for a given page size: a quarter page (1 KiB at 4 KiB pages), so that a branch page
/// always holds at least three separators and a leaf at least two entries.
pub const fn key_size_max(page_size: usize) -> usize {
    page_size / 4
}

/// Address space reserved for the mapping at open, at the least. The file grows underneath it
/// without a remap; a file that outgrows it gets a new, larger mapping for new snapshots while old
/// snapshots keep theirs (no reader is ever waited for).
pub const MAP_RESERVE_MIN: u64 = 64 << 30;

/// The file grows by at least this much at a time (fewer `fallocate` calls and metadata syncs).
pub const GROW_STEP_MIN: u64 = 1 << 20;
/// ... and by at most this much.
pub const GROW_STEP_MAX: u64 = 1 << 30;

/// Dirty pages a write transaction keeps in memory before spilling them to the file. Keeps
/// transactions of any size possible (no LMDB `MDB_TXN_FULL`).
pub const SPILL_BYTES_DEFAULT: usize = 256 << 20;

/// The redo-log size that triggers a checkpoint, by default (`Options::log_bytes`). Replaying a
/// full log of small puts takes about a second here (see docs/BENCHMARKS.md).
pub const LOG_BYTES_DEFAULT: u64 = 64 << 20;

/// The longest time between checkpoints, by default (`Options::checkpoint_interval`).
pub const CHECKPOINT_INTERVAL_DEFAULT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long an `Eventual` commit may stay unsynced, by default (`Options::sync_interval`).
pub const SYNC_INTERVAL_DEFAULT: std::time::Duration = std::time::Duration::from_millis(1000);

/// How long the writer must be idle before the write buffer is merged in the background, by
/// default (`Options::merge_after_idle`).
pub const MERGE_AFTER_IDLE_DEFAULT: std::time::Duration = std::time::Duration::from_millis(100);
