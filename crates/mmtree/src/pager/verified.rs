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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_verified_for_the_txn_that_wrote_it_only() {
        let verified = Verified::new();
        assert!(!verified.is_verified(5, 1));
        verified.mark(5, 1);
        assert!(verified.is_verified(5, 1));
        assert!(
            !verified.is_verified(5, 2),
            "a reused page id is checked again"
        );
        let far = CHUNK_PAGES as u64 * 3 + 7; // another chunk
        verified.mark(far, 9);
        assert!(verified.is_verified(far, 9) && !verified.is_verified(far - 1, 9));
        let beyond = (CHUNK_PAGES * CHUNKS) as u64 + 1; // past the table: never remembered
        verified.mark(beyond, 1);
        assert!(!verified.is_verified(beyond, 1));
    }
}
