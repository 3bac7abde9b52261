//! Free space: which pages a write transaction may reuse, and how free pages are recorded.
//!
//! The freelist is a B+tree (the same code as every other tree) whose records are
//! `(txn id: u64 BE, part: u32 BE) -> [page id: u64 LE]*`: the pages that transaction `txn` freed.
//! The txn id's top bit (`YOUNG`) marks pages *born after the durable checkpoint* of the time
//! they were freed (their header's txn is newer than it): no checkpoint can reach them, so only
//! snapshots hold them back. Young records sort after all others.
//!
//! Invariants:
//! - a page freed by transaction `F` may be reused by a later transaction only once every live
//!   snapshot is at least `F` (the *reuse floor*): no snapshot older than `F` can reach it;
//! - *the checkpoint rule*: a page reachable from the last durable checkpoint `C` is never
//!   overwritten before a newer checkpoint is durable. So a page that was born at or before `C`
//!   and freed by `F > C` is reused only once the durable checkpoint is at least `F` (its record
//!   is not young; the old floor is capped at `C`); a young page is not reachable from `C`;
//! - a page allocated and freed inside one transaction is reusable at once (no snapshot saw it);
//! - every page below the page count is reachable from exactly one tree, or listed in exactly one
//!   freelist record (`check` proves it);
//! - the freelist is written at commit by a short fixed-point loop: pages for its own nodes are
//!   reserved first (lowest reusable pages, else at the end of the file), and the reserved and
//!   freed sets only grow, so recording the free pages converges on a consistent set.

use crate::btree::cursor::{Bounds, RangeIter};
use crate::btree::mutate::Mutate;
use crate::btree::node::{NodeRef, Value, ValueBuf};
use crate::btree::store::NodeStore;
use crate::error::{Error, Result};
use crate::page;
use crate::page::meta::Meta;
use std::collections::HashSet;
use std::ops::Bound;

pub(crate) const RECORD_KEY_SIZE: usize = 12;
/// The top bit of a freelist record's txn: its pages were born after the durable checkpoint.
pub(crate) const YOUNG: u64 = 1 << 63;

pub(crate) fn record_key(txn: u64, part: u32) -> Vec<u8> {
    let mut key = Vec::with_capacity(RECORD_KEY_SIZE);
    key.extend_from_slice(&txn.to_be_bytes());
    key.extend_from_slice(&part.to_be_bytes());
    key
}

/// A record: (the txn that freed its pages, young or not, the pages).
pub(crate) fn decode_record(key: &[u8], value: &[u8], page: u64) -> Result<(u64, bool, Vec<u64>)> {
    if key.len() != RECORD_KEY_SIZE || !value.len().is_multiple_of(8) {
        return Err(Error::corrupted(page, "malformed freelist record"));
    }
    let word = u64::from_be_bytes(key[..8].try_into().expect("8 bytes"));
    let (txn, young) = (word & !YOUNG, word & YOUNG != 0);
    let pages = value
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
        .collect();
    Ok((txn, young, pages))
}

/// Page ids per freelist record, so a record always fits inline in a leaf.
pub(crate) fn record_capacity(page_size: usize) -> usize {
    (page::entry_size_max(page_size) - page::leaf_entry_size(RECORD_KEY_SIZE, 0)) / 8
}

fn encode_pages(pages: &[u64]) -> Vec<u8> {
    pages.iter().flat_map(|p| p.to_le_bytes()).collect()
}

/// Which freed pages a transaction may reuse (see the module's invariants).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Floors {
    /// Records of transactions `<= old` are reusable (capped at the durable checkpoint).
    pub old: u64,
    /// Young records of transactions `<= young` are reusable (live snapshots only).
    pub young: u64,
    /// The durable checkpoint: a page whose header txn is newer was born after it.
    pub checkpoint: u64,
}

pub(crate) struct AllocState {
    floors: Floors,
    /// Loading young records (the old ones are done).
    in_young: bool,
    /// The committed freelist tree; changed only while saving at commit.
    freelist_root: Option<NodeRef>,
    /// Pages this transaction freed that older snapshots (or the checkpoint) may still reach.
    freed: Vec<u64>,
    /// Of those, pages born after the durable checkpoint.
    freed_young: Vec<u64>,
    /// Pages freed since the checkpoint that only a newer checkpoint makes reusable (this
    /// transaction's count).
    pub(crate) pinned: u64,
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
    /// Pages freed in this transaction and not taken again: a second free of one of them means
    /// a corrupt file whose trees share a page (refused, never put on the freelist twice).
    released: HashSet<u64>,
}

impl AllocState {
    pub(crate) fn new(floors: Floors, freelist_root: Option<NodeRef>) -> AllocState {
        debug_assert!(floors.old <= floors.young && floors.old <= floors.checkpoint);
        AllocState {
            floors,
            in_young: false,
            freelist_root,
            freed: Vec::new(),
            freed_young: Vec::new(),
            pinned: 0,
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
            released: HashSet::new(),
        }
    }

    /// The lowest `count` consecutive pages in `loaded`, taken out of it.
    pub(crate) fn take_loaded_run(&mut self, count: usize) -> Option<u64> {
        // `loaded` is sorted high to low: scan from the low end, so the tail of the file stays
        // free for trimming.
        let loaded = &self.loaded;
        if loaded.len() < count || count >= self.no_run_of {
            return None;
        }
        let mut run_end = loaded.len();
        for j in (0..loaded.len()).rev() {
            if j + 1 < run_end && loaded[j] != loaded[j + 1] + 1 {
                run_end = j + 1;
            }
            if run_end - j == count {
                let run: Vec<u64> = self.loaded.drain(j..run_end).collect();
                let first = *run.last().expect("count >= 2");
                self.fresh.extend(run);
                return Some(first);
            }
        }
        self.no_run_of = count;
        None
    }
}

/// How many reusable pages a search for an overflow run may load before it gives up and takes
/// the run at the end of the file. Every record loaded is rewritten at commit (its leftovers go
/// back), so the bound also bounds that cost when free space is too scattered to hold a run.
const RUN_SEARCH_PAGES_MAX: usize = 4096;

/// What the allocator needs of the write transaction (which implements it): its allocation
/// state, the commit it started from, and a way to make the file cover more pages.
pub(crate) trait AllocHost: NodeStore {
    fn alloc_state(&self) -> &AllocState;
    fn alloc_state_mut(&mut self) -> &mut AllocState;
    /// The committed state this transaction started from.
    fn base(&self) -> &Meta;
    fn txn_id(&self) -> u64;
    /// Pages in use, including pages this transaction took at the end of the file.
    fn page_count(&self) -> u64;
    /// Lowers the page count (a trim of the free tail).
    fn set_page_count(&mut self, page_count: u64);
    /// Grows the file (if needed) to cover `page_count` pages, and makes that the page count:
    /// the one way the page count grows.
    fn cover(&mut self, page_count: u64) -> Result<()>;
}

/// The free-space policy, for every [`AllocHost`].
pub(crate) trait Allocate: AllocHost {
    fn take_page(&mut self) -> Result<u64> {
        loop {
            if self.alloc_state_mut().saving {
                if let Some(page) = self.alloc_state_mut().reserve.pop() {
                    return Ok(page);
                }
            } else {
                if let Some(page) = self.alloc_state_mut().own_free.pop() {
                    self.alloc_state_mut().released.remove(&page);
                    self.alloc_state_mut().fresh.insert(page);
                    return Ok(page);
                }
                if let Some(page) = self.alloc_state_mut().loaded.pop() {
                    self.alloc_state_mut().fresh.insert(page);
                    return Ok(page);
                }
                if !self.alloc_state_mut().exhausted {
                    self.load_more()?;
                    continue;
                }
            }
            return self.take_at_end(1);
        }
    }

    /// `count` consecutive pages (an overflow run).
    fn take_run(&mut self, count: u64) -> Result<u64> {
        if count == 1 {
            return self.take_page();
        }
        if self.alloc_state_mut().saving {
            return self.take_at_end(count);
        }
        // Look for a run among the reusable pages loaded so far; load more freelist records
        // while none is found (runs freed together are listed together), up to a bound, so that
        // freed overflow runs are reused rather than leaked to the end of the file.
        loop {
            if let Some(first) = self.alloc_state_mut().take_loaded_run(count as usize) {
                return Ok(first);
            }
            if self.alloc_state_mut().exhausted
                || self.alloc_state_mut().loaded.len() >= RUN_SEARCH_PAGES_MAX
            {
                return self.take_at_end(count);
            }
            self.load_more()?;
        }
    }

    /// Takes `count` pages at the end of the file, growing it first (the one way the page count
    /// grows).
    fn take_at_end(&mut self, count: u64) -> Result<u64> {
        let first = self.page_count();
        self.cover(first + count)?;
        Ok(first)
    }

    /// Frees `page`, whose content was written by transaction `born` (its header's txn; for an
    /// overflow run, the first page's). A page already freed in this transaction is refused
    /// (`Corrupted`: two references to one page, which only a damaged or crafted file holds).
    fn release_page(&mut self, page: u64, born: u64) -> Result<()> {
        // Callers check what they read from the file before freeing it (page ids against the
        // page count, overflow runs against the file), so these hold even for a corrupt file.
        assert!(
            page >= 2 && page < self.page_count(),
            "freeing page {page} outside the database (page count {})",
            self.page_count()
        );
        if !self.alloc_state_mut().released.insert(page) {
            return Err(Error::corrupted(
                page,
                "page is referenced twice (freed twice in one transaction)",
            ));
        }
        debug_assert!(
            !self.alloc_state().reserve.contains(&page),
            "page {page} freed while reserved for the freelist"
        );
        let checkpoint = self.alloc_state().floors.checkpoint;
        let own = !self.alloc_state().saving
            && (page >= self.base().page_count || self.alloc_state_mut().fresh.remove(&page));
        if own {
            self.alloc_state_mut().own_free.push(page);
        } else if born > checkpoint {
            self.alloc_state_mut().freed_young.push(page);
        } else {
            self.alloc_state_mut().freed.push(page);
        }
        Ok(())
    }

    /// Loads the next reusable freelist record, if any.
    fn load_more(&mut self) -> Result<()> {
        loop {
            let record = {
                let alloc = self.alloc_state();
                let start = match (&alloc.resume_after, alloc.in_young) {
                    (Some(key), _) => Bound::Excluded(key.clone()),
                    (None, false) => Bound::Unbounded,
                    (None, true) => Bound::Included(record_key(YOUNG, 0)),
                };
                let bounds = Bounds {
                    start,
                    end: Bound::Unbounded,
                };
                let root = alloc.freelist_root;
                let mut records = RangeIter::new(self, root, bounds);
                match records.next() {
                    Some(item) => {
                        let (key, value) = item?;
                        Some((key.to_vec(), value.to_vec()))
                    }
                    None => None,
                }
            };
            let Some((key, value)) = record else {
                self.alloc_state_mut().exhausted = true;
                return Ok(());
            };
            let (txn, young, pages) = decode_record(&key, &value, self.base().freelist_root)?;
            let floors = self.alloc_state().floors;
            if !young && txn > floors.old {
                // The old records from here on wait for a newer checkpoint: go on with the young.
                let alloc = self.alloc_state_mut();
                alloc.in_young = true;
                alloc.resume_after = None;
                continue;
            }
            if young {
                self.alloc_state_mut().in_young = true;
                if txn > floors.young {
                    self.alloc_state_mut().exhausted = true;
                    return Ok(());
                }
            }
            for &page in &pages {
                if page < 2 || page >= self.base().page_count {
                    return Err(Error::corrupted(
                        self.base().freelist_root,
                        format!("freelist names page {page} outside the file"),
                    ));
                }
            }
            let alloc = self.alloc_state_mut();
            alloc.consumed_pages += pages.len() as u64;
            alloc.loaded.extend(pages);
            alloc.no_run_of = usize::MAX;
            alloc.loaded.sort_unstable_by(|a, b| b.cmp(a));
            alloc.resume_after = Some(key.clone());
            alloc.consumed.push(key);
            return Ok(());
        }
    }

    /// Loads every reusable freelist record.
    fn load_all(&mut self) -> Result<()> {
        while !self.alloc_state_mut().exhausted {
            self.load_more()?;
        }
        Ok(())
    }

    /// For compaction: the page count the file would have if every reusable page were at the
    /// end. Live pages at or above it are worth moving down.
    fn compaction_limit(&mut self) -> Result<u64> {
        self.load_all()?;
        let reusable =
            (self.alloc_state_mut().loaded.len() + self.alloc_state_mut().own_free.len()) as u64;
        Ok(self.page_count().saturating_sub(reusable).max(2))
    }

    /// Set during a compacting commit: the freelist tree is relocated below it too.
    fn set_relocate_limit(&mut self, limit: u64) {
        self.alloc_state_mut().relocate_limit = Some(limit);
    }

    /// Gives free pages at the end of the file back: loads every reusable record and lowers the
    /// page count past the free tail. The file itself is shortened after the commit is durable.
    fn trim_tail(&mut self) -> Result<u64> {
        self.load_all()?;
        let alloc = self.alloc_state();
        let reusable: HashSet<u64> = alloc
            .loaded
            .iter()
            .chain(&alloc.own_free)
            .copied()
            .collect();
        let mut end = self.page_count();
        while end > 2 && reusable.contains(&(end - 1)) {
            end -= 1;
        }
        let trimmed = self.page_count() - end;
        if trimmed > 0 {
            self.alloc_state_mut().loaded.retain(|&p| p < end);
            self.alloc_state_mut().own_free.retain(|&p| p < end);
            self.set_page_count(end);
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
    fn save_freelist(&mut self, out: &mut Vec<(u64, Vec<u8>)>) -> Result<(u64, u64)> {
        // Pages this transaction took and freed again were never reachable from the checkpoint.
        let own = std::mem::take(&mut self.alloc_state_mut().own_free);
        self.alloc_state_mut().freed_young.extend(own);
        self.alloc_state_mut().saving = true;
        let mut root = self.alloc_state_mut().freelist_root;
        let consumed = std::mem::take(&mut self.alloc_state_mut().consumed);
        for key in &consumed {
            root = self.tree_remove(root, key)?.0;
        }
        if let (Some(limit), Some(node)) = (self.alloc_state_mut().relocate_limit, root) {
            root = Some(self.relocate(node, limit)?);
        }
        let capacity = record_capacity(self.page_size());
        for _ in 0..64 {
            let (loaded_before, freed_before) = (
                self.alloc_state_mut().loaded.len(),
                self.alloc_state_mut().freed.len() + self.alloc_state_mut().freed_young.len(),
            );
            // Leftovers of consumed records go back under their own keys.
            let mut leftovers = self.alloc_state_mut().loaded.clone();
            leftovers.sort_unstable();
            let chunks: Vec<&[u64]> = leftovers.chunks(capacity).collect();
            if chunks.len() > consumed.len() {
                return Err(Error::corrupted(
                    self.base().freelist_root,
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
            for young in [false, true] {
                let mut freed = match young {
                    false => self.alloc_state_mut().freed.clone(),
                    true => self.alloc_state_mut().freed_young.clone(),
                };
                freed.sort_unstable();
                let txn = self.txn_id() | if young { YOUNG } else { 0 };
                for (part, chunk) in freed.chunks(capacity).enumerate() {
                    let key = record_key(txn, part as u32);
                    root = Some(
                        self.tree_insert(
                            root,
                            &key,
                            Value::Inline(ValueBuf::from_slice(&encode_pages(chunk))),
                        )?
                        .0,
                    );
                }
            }
            let needed = match root {
                Some(root) => self.count_dirty(root),
                None => 0,
            };
            let reserved = self.alloc_state_mut().reserve.len();
            if needed > reserved {
                let take = (needed - reserved).min(self.alloc_state_mut().loaded.len());
                for _ in 0..take {
                    let page = self.alloc_state_mut().loaded.pop().expect("counted");
                    self.alloc_state_mut().reserve.push(page);
                }
            } else if needed < reserved {
                // Merges made nodes go away: the spare reserved pages are freed by this txn
                // (they were reusable already, so no checkpoint reaches them).
                let spare = self.alloc_state_mut().reserve.split_off(needed);
                self.alloc_state_mut().freed_young.extend(spare);
            }
            if self.alloc_state_mut().loaded.len() == loaded_before
                && self.alloc_state_mut().freed.len() + self.alloc_state_mut().freed_young.len()
                    == freed_before
            {
                let root_page = match root {
                    Some(root) => self.flush(root, out)?,
                    None => 0,
                };
                debug_assert!(
                    self.alloc_state_mut().reserve.is_empty(),
                    "every reserved page is used"
                );
                self.alloc_state_mut().pinned = self.alloc_state().freed.len() as u64;
                let listed = self.alloc_state_mut().loaded.len() as u64
                    + self.alloc_state_mut().freed.len() as u64
                    + self.alloc_state_mut().freed_young.len() as u64;
                let free_pages = self
                    .base()
                    .free_pages
                    .checked_sub(self.alloc_state_mut().consumed_pages)
                    .ok_or_else(|| {
                        Error::corrupted(
                            self.base().freelist_root,
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
        let view = self.arena().node(id).view();
        if view.is_leaf() {
            return 1;
        }
        1 + (0..view.len())
            .filter_map(|index| view.child(index).ok())
            .map(|child| self.count_dirty(child))
            .sum::<usize>()
    }
}

impl<T: AllocHost + ?Sized> Allocate for T {}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(loaded_high_to_low: &[u64]) -> AllocState {
        let floors = Floors {
            old: 0,
            young: 0,
            checkpoint: 0,
        };
        let mut state = AllocState::new(floors, None);
        state.loaded = loaded_high_to_low.to_vec();
        state
    }

    #[test]
    fn run_search_takes_the_lowest_run_and_remembers_a_miss() {
        let mut alloc = state(&[20, 12, 11, 10, 5, 4, 3, 2]);
        assert_eq!(alloc.take_loaded_run(3), Some(2), "the lowest run of three");
        assert_eq!(alloc.loaded, vec![20, 12, 11, 10, 5]);
        assert!(alloc.fresh.contains(&2) && alloc.fresh.contains(&4));
        assert_eq!(alloc.take_loaded_run(3), Some(10));
        assert_eq!(alloc.take_loaded_run(2), None);
        assert_eq!(alloc.no_run_of, 2, "the miss is remembered");
        assert_eq!(
            alloc.take_loaded_run(5),
            None,
            "longer runs are skipped at once"
        );
        assert_eq!(alloc.loaded, vec![20, 5]);
    }

    #[test]
    fn records_round_trip_and_fit_a_leaf() {
        let key = record_key(0x0102_0304, 7);
        assert_eq!(key.len(), RECORD_KEY_SIZE);
        let pages = [2u64, 99, u64::MAX >> 1];
        let (txn, young, decoded) = decode_record(&key, &encode_pages(&pages), 0).unwrap();
        assert_eq!((txn, young, decoded), (0x0102_0304, false, pages.to_vec()));
        let key = record_key(YOUNG | 9, 0);
        assert_eq!(decode_record(&key, &[], 0).unwrap(), (9, true, vec![]));
        assert!(decode_record(&key[..11], &[], 0).is_err());
        for page_size in [4096, 8192, 32768] {
            let value = encode_pages(&vec![5u64; record_capacity(page_size)]);
            assert!(
                page::leaf_entry_size(RECORD_KEY_SIZE, value.len())
                    <= page::entry_size_max(page_size)
            );
        }
    }

    #[test]
    fn saving_the_freelist_converges_when_a_commit_frees_and_reuses_thousands_of_pages() {
        // Through the public API: each commit rewrites half the tree, so the freelist records
        // grow and shrink while the freelist's own pages come from the pages it lists.
        let dir = tempfile::tempdir().unwrap();
        let db = crate::Db::open_with(
            dir.path().join("freelist.mmt"),
            crate::Options::default().strict(true),
        )
        .unwrap();
        for round in 0..6u32 {
            let mut w = db.begin_write().unwrap();
            let mut t = w.table("t").unwrap();
            for i in (round % 2..20_000).step_by(2) {
                t.insert(i.to_be_bytes(), [round as u8; 40]).unwrap();
            }
            drop(t);
            w.commit().unwrap(); // strict: check() after each commit
            db.checkpoint().unwrap(); // the merge writes the tree
        }
        let stats = db.stats();
        assert!(stats.free_pages > 0 && stats.free_pages < stats.page_count);
    }
}
