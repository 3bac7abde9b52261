//! Free space: which pages a write transaction may reuse, and how free pages are recorded.
//!
//! The freelist is a B+tree (the same code as every other tree) whose records are
//! `(txn id: u64 BE, part: u32 BE) -> [page id: u64 LE]*`: the pages that transaction `txn` freed.
//!
//! Invariants:
//! - a page freed by transaction `F` may be reused by a later transaction only once every live
//!   snapshot is at least `F` (the *reuse floor*): no snapshot older than `F` can reach it;
//! - a page allocated and freed inside one transaction is reusable at once (no snapshot saw it);
//! - every page below the page count is reachable from exactly one tree, or listed in exactly one
//!   freelist record (`check` proves it);
//! - the freelist is written at commit by a short fixed-point loop: pages for its own nodes are
//!   reserved first (lowest reusable pages, else at the end of the file), and the reserved and
//!   freed sets only grow, so recording the free pages converges on a consistent set.

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::node::{NodeRef, Value, ValueBuf};
use crate::error::{Error, Result};
use crate::page;
use crate::txn::core::WriteCore;
use std::collections::HashSet;
use std::ops::Bound;

pub(crate) const RECORD_KEY_SIZE: usize = 12;

pub(crate) fn record_key(txn: u64, part: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(RECORD_KEY_SIZE);
    key.extend_from_slice(&txn.to_be_bytes());
    key.extend_from_slice(&part.to_be_bytes());
    key
}

pub(crate) fn decode_record(key: &[u8], value: &[u8], page: u64) -> Result<(u64, Vec<u64>)> {
    if key.len() != RECORD_KEY_SIZE || !value.len().is_multiple_of(8) {
        return Err(Error::corrupted(page, "malformed freelist record"));
    }
    let txn = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let pages = value
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok((txn, pages))
}

/// Page ids per freelist record, so a record always fits inline in a leaf.
pub(crate) fn record_capacity(page_size: usize) -> usize {
    (page::entry_size_max(page_size) - page::leaf_entry_size(RECORD_KEY_SIZE, 0)) / 8
}

fn encode_pages(pages: &[u64]) -> Vec<u8> {
    pages.iter().flat_map(|p| p.to_le_bytes()).collect()
}

pub(crate) struct AllocState {
    /// Records of transactions `<= floor` are reusable.
    floor: u64,
    /// The committed freelist tree; changed only while saving at commit.
    freelist_root: Option<NodeRef>,
    /// Pages this transaction freed that older snapshots may still reach.
    freed: Vec<u64>,
    /// Pages this transaction allocated and freed again: reusable at once.
    own_free: Vec<u64>,
    /// Reusable pages taken from freelist records and not used yet (sorted high to low).
    loaded: Vec<u64>,
    /// Keys of the records `loaded` came from: deleted (or rewritten with leftovers) at commit.
    consumed: Vec<Vec<u8>>,
    consumed_pages: u64,
    resume_after: Option<Vec<u8>>,
    exhausted: bool,
    /// Pages taken from the freelist by this transaction.
    fresh: HashSet<u64>,
    /// Set while the freelist itself is written: allocate from `reserve`, else at the end;
    /// record every free.
    saving: bool,
    /// Pages set aside for the freelist's own nodes while saving it.
    reserve: Vec<u64>,
    /// Compaction: move freelist nodes at or above this page down.
    relocate_limit: Option<u64>,
    /// `loaded` holds no run of this many consecutive pages (it only loses pages until the next
    /// load), so a search for one that long or longer can be skipped.
    no_run_of: usize,
}

impl AllocState {
    pub(crate) fn new(floor: u64, freelist_root: Option<NodeRef>) -> AllocState {
        AllocState {
            floor,
            freelist_root,
            freed: Vec::new(),
            own_free: Vec::new(),
            loaded: Vec::new(),
            consumed: Vec::new(),
            consumed_pages: 0,
            resume_after: None,
            exhausted: freelist_root.is_none(),
            fresh: HashSet::new(),
            saving: false,
            reserve: Vec::new(),
            relocate_limit: None,
            no_run_of: usize::MAX,
        }
    }
}

/// How many reusable pages a search for an overflow run may load before it gives up and takes
/// the run at the end of the file. Every record loaded is rewritten at commit (its leftovers go
/// back), so the bound also bounds that cost when free space is too scattered to hold a run.
const RUN_SEARCH_PAGES_MAX: usize = 4096;

impl WriteCore {
    pub(crate) fn alloc_page(&mut self) -> Result<u64> {
        loop {
            if self.alloc.saving {
                if let Some(page) = self.alloc.reserve.pop() {
                    return Ok(page);
                }
            } else {
                if let Some(page) = self.alloc.own_free.pop() {
                    self.alloc.fresh.insert(page);
                    return Ok(page);
                }
                if let Some(page) = self.alloc.loaded.pop() {
                    self.alloc.fresh.insert(page);
                    return Ok(page);
                }
                if !self.alloc.exhausted {
                    self.load_more()?;
                    continue;
                }
            }
            return self.alloc_at_end(1);
        }
    }

    /// `count` consecutive pages (an overflow run).
    pub(crate) fn alloc_run(&mut self, count: u64) -> Result<u64> {
        if count == 1 {
            return self.alloc_page();
        }
        if self.alloc.saving {
            return self.alloc_at_end(count);
        }
        // Look for a run among the reusable pages loaded so far; load more freelist records
        // while none is found (runs freed together are listed together), up to a bound, so that
        // freed overflow runs are reused rather than leaked to the end of the file.
        loop {
            if let Some(first) = self.take_loaded_run(count as usize) {
                return Ok(first);
            }
            if self.alloc.exhausted || self.alloc.loaded.len() >= RUN_SEARCH_PAGES_MAX {
                return self.alloc_at_end(count);
            }
            self.load_more()?;
        }
    }

    /// The lowest `count` consecutive pages in `loaded`, taken out of it.
    fn take_loaded_run(&mut self, count: usize) -> Option<u64> {
        // `loaded` is sorted high to low: scan from the low end, so the tail of the file stays
        // free for trimming.
        let loaded = &self.alloc.loaded;
        if loaded.len() < count || count >= self.alloc.no_run_of {
            return None;
        }
        let mut run_end = loaded.len();
        for j in (0..loaded.len()).rev() {
            if j + 1 < run_end && loaded[j] != loaded[j + 1] + 1 {
                run_end = j + 1;
            }
            if run_end - j == count {
                let run: Vec<u64> = self.alloc.loaded.drain(j..run_end).collect();
                let first = *run.last().expect("count >= 2");
                self.alloc.fresh.extend(run);
                return Some(first);
            }
        }
        self.alloc.no_run_of = count;
        None
    }

    /// Takes `count` pages at the end of the file, growing it first (the one way the page count
    /// grows).
    pub(crate) fn alloc_at_end(&mut self, count: u64) -> Result<u64> {
        let first = self.page_count;
        let end = first + count;
        self.db.storage.ensure_len(end * self.page_size as u64)?;
        self.page_count = end;
        let map = self.db.storage.mapping();
        if !std::sync::Arc::ptr_eq(&map, &self.map) {
            self.map = map;
        }
        Ok(first)
    }

    pub(crate) fn free_page(&mut self, page: u64) {
        debug_assert!(page >= 2 && page < self.page_count);
        if self.alloc.saving {
            self.alloc.freed.push(page);
        } else if page >= self.base.page_count || self.alloc.fresh.remove(&page) {
            self.alloc.own_free.push(page);
        } else {
            self.alloc.freed.push(page);
        }
    }

    /// Loads the next reusable freelist record, if any.
    fn load_more(&mut self) -> Result<()> {
        let record = {
            let start = match &self.alloc.resume_after {
                Some(key) => Bound::Excluded(key.clone()),
                None => Bound::Unbounded,
            };
            let bounds = Bounds {
                start,
                end: Bound::Unbounded,
            };
            let mut records = RangeIter::new(self, self.alloc.freelist_root, bounds);
            match records.next() {
                Some(item) => {
                    let (key, value) = item?;
                    Some((key.to_vec(), value.to_vec()))
                }
                None => None,
            }
        };
        let Some((key, value)) = record else {
            self.alloc.exhausted = true;
            return Ok(());
        };
        let (txn, pages) = decode_record(&key, &value, self.base.freelist_root)?;
        if txn > self.alloc.floor {
            self.alloc.exhausted = true;
            return Ok(());
        }
        for &page in &pages {
            if page < 2 || page >= self.base.page_count {
                return Err(Error::corrupted(
                    self.base.freelist_root,
                    format!("freelist names page {page} outside the file"),
                ));
            }
        }
        self.alloc.consumed_pages += pages.len() as u64;
        self.alloc.loaded.extend(pages);
        self.alloc.no_run_of = usize::MAX;
        self.alloc.loaded.sort_unstable_by(|a, b| b.cmp(a));
        self.alloc.resume_after = Some(key.clone());
        self.alloc.consumed.push(key);
        Ok(())
    }

    /// Loads every reusable freelist record.
    pub(crate) fn load_all(&mut self) -> Result<()> {
        while !self.alloc.exhausted {
            self.load_more()?;
        }
        Ok(())
    }

    /// For compaction: the page count the file would have if every reusable page were at the
    /// end. Live pages at or above it are worth moving down.
    pub(crate) fn compaction_limit(&mut self) -> Result<u64> {
        self.load_all()?;
        let reusable = (self.alloc.loaded.len() + self.alloc.own_free.len()) as u64;
        Ok(self.page_count.saturating_sub(reusable).max(2))
    }

    /// Set during a compacting commit: the freelist tree is relocated below it too.
    pub(crate) fn set_relocate_limit(&mut self, limit: u64) {
        self.alloc.relocate_limit = Some(limit);
    }

    /// Gives free pages at the end of the file back: loads every reusable record and lowers the
    /// page count past the free tail. The file itself is shortened after the commit is durable.
    pub(crate) fn trim_tail(&mut self) -> Result<u64> {
        self.load_all()?;
        let reusable: HashSet<u64> = self
            .alloc
            .loaded
            .iter()
            .chain(&self.alloc.own_free)
            .copied()
            .collect();
        let mut end = self.page_count;
        while end > 2 && reusable.contains(&(end - 1)) {
            end -= 1;
        }
        let trimmed = self.page_count - end;
        if trimmed > 0 {
            self.alloc.loaded.retain(|&p| p < end);
            self.alloc.own_free.retain(|&p| p < end);
            self.page_count = end;
        }
        Ok(trimmed)
    }

    /// Records this transaction's free pages in the freelist tree and writes it. Returns the new
    /// freelist root and the number of free pages it lists.
    ///
    /// Writing the freelist changes the free set it records: copying a freelist page frees the
    /// old one, and the new pages come from somewhere. So this is a fixed-point loop. Pages for
    /// the new freelist nodes are *reserved* up front (lowest reusable pages first, so the file
    /// tail stays free for trimming, else at the end of the file); both the reserved set and the
    /// freed set only grow, so the loop ends after a few passes.
    pub(crate) fn save_freelist(&mut self, out: &mut Vec<(u64, Vec<u8>)>) -> Result<(u64, u64)> {
        let own = std::mem::take(&mut self.alloc.own_free);
        self.alloc.freed.extend(own);
        self.alloc.saving = true;
        let mut root = self.alloc.freelist_root;
        let consumed = std::mem::take(&mut self.alloc.consumed);
        for key in &consumed {
            root = self.tree_remove(root, key)?.0;
        }
        if let (Some(limit), Some(node)) = (self.alloc.relocate_limit, root) {
            root = Some(self.relocate(node, limit)?);
        }
        let capacity = record_capacity(self.page_size);
        for _ in 0..64 {
            let (loaded_before, freed_before) = (self.alloc.loaded.len(), self.alloc.freed.len());
            // Leftovers of consumed records go back under their own keys.
            let mut leftovers = self.alloc.loaded.clone();
            leftovers.sort_unstable();
            let chunks: Vec<&[u64]> = leftovers.chunks(capacity).collect();
            if chunks.len() > consumed.len() {
                return Err(Error::corrupted(
                    self.base.freelist_root,
                    "freelist record holds more pages than fit",
                ));
            }
            for (i, key) in consumed.iter().enumerate() {
                root = match chunks.get(i) {
                    Some(chunk) => Some(
                        self.tree_insert(
                            root,
                            key,
                            Value::Inline(ValueBuf::from_slice(&encode_pages(chunk))),
                        )?
                        .0,
                    ),
                    None => self.tree_remove(root, key)?.0,
                };
            }
            let mut freed = self.alloc.freed.clone();
            freed.sort_unstable();
            for (part, chunk) in freed.chunks(capacity).enumerate() {
                let key = record_key(self.txn, part as u32);
                root = Some(
                    self.tree_insert(
                        root,
                        &key,
                        Value::Inline(ValueBuf::from_slice(&encode_pages(chunk))),
                    )?
                    .0,
                );
            }
            let needed = match root {
                Some(root) => self.count_dirty(root),
                None => 0,
            };
            let reserved = self.alloc.reserve.len();
            if needed > reserved {
                let take = (needed - reserved).min(self.alloc.loaded.len());
                for _ in 0..take {
                    let page = self.alloc.loaded.pop().expect("counted");
                    self.alloc.reserve.push(page);
                }
            } else if needed < reserved {
                // Merges made nodes go away: the spare reserved pages are freed by this txn.
                let spare = self.alloc.reserve.split_off(needed);
                self.alloc.freed.extend(spare);
            }
            if self.alloc.loaded.len() == loaded_before && self.alloc.freed.len() == freed_before {
                let root_page = match root {
                    Some(root) => self.flush(root, out)?,
                    None => 0,
                };
                debug_assert!(self.alloc.reserve.is_empty(), "every reserved page is used");
                let listed = self.alloc.loaded.len() as u64 + self.alloc.freed.len() as u64;
                let free_pages = self
                    .base
                    .free_pages
                    .checked_sub(self.alloc.consumed_pages)
                    .ok_or_else(|| {
                        Error::corrupted(
                            self.base.freelist_root,
                            "free page count is smaller than the freelist",
                        )
                    })?
                    + listed;
                return Ok((root_page, free_pages));
            }
        }
        Err(Error::TransactionFailed {
            reason: "the freelist did not settle while saving it".into(),
        })
    }

    /// Dirty nodes under `node`: each needs a page when flushed.
    fn count_dirty(&self, node: NodeRef) -> usize {
        let NodeRef::Dirty(id) = node else { return 0 };
        match &self.node(id).entries {
            crate::btree::node::Entries::Branch(children) => {
                1 + children.iter().map(|&c| self.count_dirty(c)).sum::<usize>()
            }
            crate::btree::node::Entries::Leaf(_) => 1,
        }
    }
}
