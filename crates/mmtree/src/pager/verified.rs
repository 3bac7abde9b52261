//! Which pages this process has already checksum-verified.
//!
//! A page is verified the first time a snapshot reads it; the page's txn id is remembered, so the
//! check is not repeated on every read (zero-copy reads stay cheap) but is repeated when the page
//! id is reused by a later transaction (a new txn id in its header).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const CHUNK_PAGES: usize = 1 << 16;
const CHUNKS: usize = 1 << 12;

pub(crate) struct Verified {
    chunks: Box<[OnceLock<Box<[AtomicU64]>>]>,
}

impl Verified {
    pub(crate) fn new() -> Self {
        Verified {
            chunks: (0..CHUNKS).map(|_| OnceLock::new()).collect(),
        }
    }

    pub(crate) fn is_verified(&self, page: u64, txn: u64) -> bool {
        let (chunk, slot) = Self::position(page);
        match self.chunks.get(chunk).and_then(|c| c.get()) {
            Some(chunk) => chunk[slot].load(Ordering::Relaxed) == txn,
            None => false,
        }
    }

    pub(crate) fn mark(&self, page: u64, txn: u64) {
        let (chunk, slot) = Self::position(page);
        if let Some(cell) = self.chunks.get(chunk) {
            let chunk = cell.get_or_init(|| (0..CHUNK_PAGES).map(|_| AtomicU64::new(0)).collect());
            chunk[slot].store(txn, Ordering::Relaxed);
        }
    }

    fn position(page: u64) -> (usize, usize) {
        (
            (page / CHUNK_PAGES as u64) as usize,
            (page % CHUNK_PAGES as u64) as usize,
        )
    }
}
