//! The write buffer: the commits since the last merge, as every process derives them from the
//! redo log.
//!
//! A logged commit changes no tree page: its record is appended to the log and its changes are
//! added to a [`BufView`], a persistent (copy-on-write) ordered map per table from key to the
//! newest value or a removal. A clone costs O(1), so every snapshot owns the view as of its own
//! commit: values it hands out are `Arc`s that snapshot keeps alive, and later commits (which
//! change only the clones they make) never touch it. The log is the buffer's only durable form;
//! each process indexes the records past what it has indexed when a transaction begins
//! (`Shared::buffer_at`), so a crash leaves nothing shared to repair. A merge (`go_direct` in the
//! write transaction) applies a view to the tree in key order and commits it as a checkpoint,
//! which starts the log, and so every process's buffer, over.

use crate::error::{Error, Result};
use crate::log::Op;
use imbl::OrdMap;
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

/// A Bloom filter of the keys buffered in one log generation of one process, shared by every
/// view of it: bits are only ever set, so a view's keys are always in its filter (no false
/// negatives), and keys added later by newer views only add false positives for older ones.
/// A get whose key the filter rules out skips the buffer's map (a search through `Arc`ed keys,
/// a cache miss per step) and goes straight to the tree.
#[derive(Debug)]
pub(crate) struct KeyFilter {
    words: Box<[AtomicU64]>,
    mask: u64,
}

impl KeyFilter {
    /// A filter of `bits` bits (a power of two, at least one 512-bit block).
    pub(crate) fn new(bits: u64) -> KeyFilter {
        let bits = bits.next_power_of_two().max(512);
        KeyFilter {
            words: (0..bits / 64).map(|_| AtomicU64::new(0)).collect(),
            mask: bits - 1,
        }
    }

    /// The size for a buffer of `log_bytes` of records: a bit per 8 record bytes (a
    /// 16/100-byte put takes 125 bytes of record: about 16 bits per key, under 1% false
    /// positives), 1 KiB to 4 MiB. Small on purpose: every get of a key not buffered probes it.
    /// With half a bit per byte (4 MiB for a full buffer) a get on a 1 M tree took 1.26 µs with
    /// the filter and 0.95 µs without; the 1 MiB filter made full-buffer gets about 20% faster
    /// (`mmtree-bench --only mmtree`, builds in turns; it fits this machine's 2 MiB L2 cache).
    pub(crate) fn bits_for(log_bytes: u64) -> u64 {
        (log_bytes / 8).clamp(1 << 13, 1 << 25)
    }

    fn add(&self, hash: KeyHash) {
        for bit in probes(hash, self.mask) {
            self.words[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// False: `key` is in no view of this generation that was built before this call.
    #[cfg(test)]
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.has(key_hash(key))
    }

    fn has(&self, hash: KeyHash) -> bool {
        probes(hash, self.mask).iter().all(|&bit| {
            self.words[(bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }
}

/// A key's two hashes, computed once per lookup for every filter it meets: its CRC-32C, and
/// that mixed (the high half of a multiplication by 2^64 ÷ φ), so one pass over the key gives
/// both; kept in the key's slot (`Slot::hash`), so a seal builds its run's filter without
/// hashing a key again.
#[derive(Clone, Copy)]
struct KeyHash(u64, u64);

fn key_hash(key: &[u8]) -> KeyHash {
    stored_hash(crc32c::crc32c(key))
}

fn stored_hash(crc: u32) -> KeyHash {
    let crc = u64::from(crc);
    KeyHash(crc, crc.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32)
}

/// The key's three bits in a filter of `mask + 1` bits, all in one 512-bit block (one cache
/// line: a lookup costs at most one miss).
fn probes(KeyHash(h1, h2): KeyHash, mask: u64) -> [u64; 3] {
    let block = (h1 << 9) & mask;
    [h2 & 511, (h2 >> 9) & 511, (h2 >> 18) & 511].map(|bit| block | bit)
}

/// A buffered key of the open transaction: up to 24 bytes inline.
type Key = smallvec::SmallVec<[u8; 24]>;

/// A buffered entry as reads see it: key, and value or `None` (removed).
pub(crate) type BufEntry<'a> = (&'a [u8], Option<&'a [u8]>);

/// The newest run is merged with the runs before it while the older one is at most this many
/// times its size: runs shrink geometrically from the oldest, so a table holds about
/// log4(entries ÷ commit size) + 1 runs and an entry is copied a few times before a merge into
/// the tree (see `TableBuf::seal`).
const RUN_RATIO: usize = 4;

/// A sorted, immutable run of buffered changes: one entry per key, keys and values in one
/// allocation. Runs are shared by every view that holds them (an `Arc`) and never change: a
/// commit adds a run, and a seal replaces the newest runs by their merge in the views made after it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Run {
    data: Vec<u8>,
    slots: Vec<Slot>,
    /// How many bytes every key of the run begins with alike (its first and last keys'
    /// common prefix): slot prefixes are the 8 bytes after them, so keys that share a long
    /// beginning (a server's rows of one Redis key) still differ in their slots.
    shared: usize,
    /// Every `FENCE_EVERY`th slot's prefix: a search looks here first (a few kilobytes that
    /// stay in the cache), then in the 16 slots between two fences, instead of a binary search
    /// whose every late step is a cache miss in a megabytes-long slot array.
    fences: Vec<u64>,
    /// A Bloom filter of the run's keys (about 10 bits per key; empty for a short run): a
    /// lookup searches only the runs whose filter may hold its key, so a key buffered long ago
    /// costs a filter probe per newer run, not a search.
    filter: Vec<u64>,
    /// What the run's unsure entries (`Mark`) add to the table's count, given the tree under
    /// the buffer, once a count asked (`TableBuf::unsure_correction`): the run and that tree
    /// never change.
    unsure_hits: OnceLock<i64>,
}

/// Runs shorter than this have no filter (a search of them stays in a few cache lines).
const RUN_FILTER_MIN: usize = 64;

const FENCE_EVERY: usize = 16;

/// Where a run's entry is: its key at `data[off..]`, the value right after it.
#[derive(Clone, Copy, Debug)]
struct Slot {
    /// The key's 8 bytes after the run's shared beginning, big-endian, zero-padded: most
    /// comparisons end here (two prefixes that differ order their keys as the keys order;
    /// equal ones compare the keys).
    prefix: u64,
    /// Where the key begins in the run's data (a run holds less than 4 GiB: at most the merge
    /// budget, 64 MiB of records, and one transaction's).
    off: u32,
    /// The key's length (`KEY_LEN_MASK`); the top bit: a removal (no value); the next two:
    /// the key's mark (`MARK_SHIFT`).
    key_len: u32,
    value_len: u32,
    /// The key's CRC-32C (`stored_hash`).
    hash: u32,
}

const REMOVED_BIT: u32 = 1 << 31;

/// Whether a key's first change in this generation asked the tree if the key was there, and if
/// not, what it assumed. An unsure put (`PUT_UNSURE`) counted the key as added to the table's
/// `len_delta` (right if the tree lacks it); an unsure delete (`DELETE_UNSURE`,
/// `Table::delete`) counted it as removed (right if the tree holds it). A count corrects both
/// once it asks the tree (`TableBuf::unsure_correction`). Set on one entry per key of a
/// generation at most: a change marks its key only when nothing of the buffer holds it, and a
/// merge of entries keeps the mark (`BufIter::step`).
pub(crate) type Mark = u8;
pub(crate) const SURE: Mark = 0;
pub(crate) const PUT_UNSURE: Mark = 1;
pub(crate) const DELETE_UNSURE: Mark = 2;

/// Where a slot keeps its key's mark: bits 29 and 30 of `key_len`.
const MARK_SHIFT: u32 = 29;

/// A slot's key length, without its flags (keys are shorter than a page).
const KEY_LEN_MASK: u32 = (1 << MARK_SHIFT) - 1;

/// What a marked key adds to its table's count, `in_tree` telling whether the tree under the
/// buffer holds it.
fn correction(mark: Mark, in_tree: bool) -> i64 {
    match mark {
        PUT_UNSURE => -i64::from(in_tree),
        DELETE_UNSURE => i64::from(!in_tree),
        _ => 0,
    }
}

fn key_prefix(key: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = key.len().min(8);
    bytes[..n].copy_from_slice(&key[..n]);
    u64::from_be_bytes(bytes)
}

impl Run {
    fn len(&self) -> usize {
        self.slots.len()
    }

    fn key_at(&self, slot: &Slot) -> &[u8] {
        let off = slot.off as usize;
        &self.data[off..off + (slot.key_len & KEY_LEN_MASK) as usize]
    }

    fn entry(&self, i: usize) -> BufEntry<'_> {
        let slot = &self.slots[i];
        let key_len = (slot.key_len & KEY_LEN_MASK) as usize;
        let off = slot.off as usize;
        let key = &self.data[off..off + key_len];
        let value = (slot.key_len & REMOVED_BIT == 0).then(|| {
            let start = off + key_len;
            &self.data[start..start + slot.value_len as usize]
        });
        (key, value)
    }

    /// The index of the first entry whose key is at least `key` (`or_equal` false: greater).
    fn seek(&self, key: &[u8], or_equal: bool) -> usize {
        let Some(first) = self.slots.first() else {
            return 0;
        };
        let shared = &self.key_at(first)[..self.shared];
        if !key.starts_with(shared) {
            // Before or after every key of the run, as it compares with their shared beginning.
            return if key < shared { 0 } else { self.len() };
        }
        let prefix = key_prefix(&key[self.shared..]);
        // The answer lies after the last fence below `prefix` (that slot's key is smaller) and
        // at or before the first fence above it (that slot's key is larger).
        let below = self.fences.partition_point(|&f| f < prefix);
        let above = below + self.fences[below..].partition_point(|&f| f <= prefix);
        let lo = below.saturating_sub(1) * FENCE_EVERY;
        let hi = (above * FENCE_EVERY).min(self.len());
        lo + self.slots[lo..hi].partition_point(|slot| match slot.prefix.cmp(&prefix) {
            std::cmp::Ordering::Less => true,
            std::cmp::Ordering::Greater => false,
            std::cmp::Ordering::Equal => match or_equal {
                true => self.key_at(slot) < key,
                false => self.key_at(slot) <= key,
            },
        })
    }

    fn hashed(&self, i: usize) -> Hashed<'_> {
        let slot = &self.slots[i];
        (self.entry(i), slot.hash, Run::mark(slot))
    }

    fn find(&self, key: &[u8], hash: KeyHash) -> Option<Option<&[u8]>> {
        if !self.filter.is_empty() {
            let mask = self.filter.len() as u64 * 64 - 1;
            if !probes(hash, mask)
                .iter()
                .all(|&bit| self.filter[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
            {
                return None;
            }
        }
        let i = self.seek(key, true);
        (i < self.len() && self.key_at(&self.slots[i]) == key).then(|| self.entry(i).1)
    }

    fn with_capacity(bytes: usize, entries: usize) -> Run {
        Run {
            data: Vec::with_capacity(bytes),
            slots: Vec::with_capacity(entries),
            shared: 0,
            fences: Vec::new(),
            filter: Vec::new(),
            unsure_hits: OnceLock::new(),
        }
    }

    fn mark(slot: &Slot) -> Mark {
        ((slot.key_len & !REMOVED_BIT) >> MARK_SHIFT) as Mark
    }

    /// What the run's marked keys add to the count (`correction`; computed once per run).
    fn unsure_correction(&self, in_tree: &mut dyn FnMut(&[u8]) -> Result<bool>) -> Result<i64> {
        if let Some(&sum) = self.unsure_hits.get() {
            return Ok(sum);
        }
        let mut sum = 0;
        for slot in &self.slots {
            let mark = Run::mark(slot);
            if mark != SURE {
                sum += correction(mark, in_tree(self.key_at(slot))?);
            }
        }
        let _ = self.unsure_hits.set(sum);
        Ok(sum)
    }

    /// After the last `push`: the shared beginning, and the slot prefixes after it.
    fn finish(mut self) -> Run {
        if let (Some(first), Some(last)) = (self.slots.first(), self.slots.last()) {
            self.shared = crate::page::common_prefix(self.key_at(first), self.key_at(last));
            for i in 0..self.slots.len() {
                let prefix = key_prefix(&self.key_at(&self.slots[i])[self.shared..]);
                self.slots[i].prefix = prefix;
            }
            self.fences = self
                .slots
                .iter()
                .step_by(FENCE_EVERY)
                .map(|s| s.prefix)
                .collect();
        }
        if self.len() >= RUN_FILTER_MIN {
            let bits = (self.len() as u64 * 10).next_power_of_two().max(512);
            let mut filter = vec![0u64; (bits / 64) as usize];
            for slot in &self.slots {
                for bit in probes(stored_hash(slot.hash), bits - 1) {
                    filter[(bit / 64) as usize] |= 1 << (bit % 64);
                }
            }
            self.filter = filter;
        }
        self
    }

    /// Appends an entry (keys come in increasing order), with its key's CRC-32C and mark.
    fn push(&mut self, key: &[u8], value: Option<&[u8]>, hash: u32, mark: Mark) {
        debug_assert!(self.slots.last().is_none_or(|s| self.key_at(s) < key));
        let key_len = u32::try_from(key.len())
            .ok()
            .filter(|&n| n <= KEY_LEN_MASK)
            .expect("keys are shorter than a page");
        let value_len = value.map_or(0, |v| {
            u32::try_from(v.len()).expect("values are at most VALUE_SIZE_MAX bytes")
        });
        self.slots.push(Slot {
            prefix: 0, // set by `finish`
            off: u32::try_from(self.data.len()).expect("a run holds less than 4 GiB"),
            hash,
            key_len: key_len
                | if value.is_none() { REMOVED_BIT } else { 0 }
                | u32::from(mark) << MARK_SHIFT,
            value_len,
        });
        self.data.extend_from_slice(key);
        self.data.extend_from_slice(value.unwrap_or_default());
    }
}

/// A head entry: the key's CRC-32C, its value (at `head_data[start..start + len]`) or `None`:
/// removed, and its mark (`Mark`).
type HeadValue = (u32, Option<(usize, usize)>, Mark);

/// What a count found of the head's marked keys: the first `checked` of
/// `TableBuf::head_unsure`, adding `hits` to the count. Atomics only so that views stay `Sync`:
/// the head is the writer's.
#[derive(Debug, Default)]
struct HeadMemo {
    checked: AtomicUsize,
    hits: AtomicI64,
}

/// The writer's last look into a table's runs by a read (`TableBuf::lookup_noting`): the key,
/// and what the runs hold of it (`None`: nothing; `Some(present)`). The put that follows a read
/// of the same key (INCR, HSET, ZADD) then does not search the runs again (`TableBuf::presence`).
/// A table's runs never change (a seal makes new ones and clears the note). A mutex only so
/// that views stay `Sync`: readers never look at it.
#[derive(Debug, Default)]
struct Noted(std::sync::Mutex<Option<(Key, Option<bool>)>>);

impl Noted {
    fn get(&self) -> std::sync::MutexGuard<'_, Option<(Key, Option<bool>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Clone for Noted {
    fn clone(&self) -> Noted {
        // (A clone has the same runs: the writer's first put to a table copies it.)
        Noted(std::sync::Mutex::new(self.get().clone()))
    }
}

impl Clone for HeadMemo {
    fn clone(&self) -> HeadMemo {
        HeadMemo {
            checked: AtomicUsize::new(self.checked.load(Ordering::Relaxed)),
            hits: AtomicI64::new(self.hits.load(Ordering::Relaxed)),
        }
    }
}

/// One table's buffered changes: the open transaction's (`head`, writer only) over sorted runs
/// of committed ones.
#[derive(Clone, Debug, Default)]
pub(crate) struct TableBuf {
    /// The open transaction's changes: key -> value (at `head_data[start..start + len]`) or
    /// `None`: removed. Sealed into a run when the commit is published (`BufView::seal`), so
    /// the views readers clone have an empty head.
    head: std::collections::BTreeMap<Key, HeadValue>,
    head_data: Vec<u8>,
    /// The head's marked keys, in the order they came (each once), with their marks.
    head_unsure: Vec<(Key, Mark)>,
    head_memo: HeadMemo,
    noted: Noted,
    /// Committed changes, oldest first; a key in a newer run shadows the older ones.
    runs: Vec<Arc<Run>>,
    /// Entries added minus entries removed, relative to the tree's count (or to zero when
    /// `cleared`), counting every unsure put as an addition and every unsure delete as a
    /// removal (see `unsure_correction`).
    pub(crate) len_delta: i64,
    /// The table was dropped in the buffer: the tree's entries are gone.
    pub(crate) cleared: bool,
    /// The table exists (false: dropped and not created again).
    pub(crate) exists: bool,
    /// The generation's key filter (every key of `entries` is in it), if there is one.
    filter: Option<Arc<KeyFilter>>,
}

impl TableBuf {
    /// Nothing buffered (the table's flags aside).
    pub(crate) fn is_empty(&self) -> bool {
        self.head.is_empty() && self.runs.is_empty()
    }

    /// A buffered value: `Some(Some(v))` a put, `Some(None)` removed, `None`: not buffered (the
    /// tree has the answer, unless `cleared`).
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        match self.head_lookup(key)? {
            Ok(value) => Some(value),
            Err(hash) => self.runs_lookup(key, hash),
        }
    }

    /// `lookup` for a write transaction's read: notes what the runs hold of `key` (`Noted`).
    pub(crate) fn lookup_noting(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        match self.head_lookup(key)? {
            Ok(value) => Some(value),
            Err(hash) => {
                let found = self.runs_lookup(key, hash);
                *self.noted.get() = Some((Key::from_slice(key), found.map(|v| v.is_some())));
                found
            }
        }
    }

    /// Whether the buffer holds `key` (`Some(false)`: removed), `None`: no change of it; a
    /// read's note (`Noted`) spares the runs' search.
    fn presence(&self, key: &[u8]) -> Option<bool> {
        match self.head_lookup(key)? {
            Ok(value) => Some(value.is_some()),
            Err(hash) => {
                if let Some((noted, present)) = &*self.noted.get() {
                    if noted.as_slice() == key {
                        return *present;
                    }
                }
                self.runs_lookup(key, hash).map(|v| v.is_some())
            }
        }
    }

    /// The head's change of `key` (`Ok`), or the key's hash for a search of the runs (`Err`);
    /// `None`: nothing buffered holds the key (the generation's filter rules it out).
    fn head_lookup(&self, key: &[u8]) -> Option<std::result::Result<Option<&[u8]>, KeyHash>> {
        if self.is_empty() {
            return None;
        }
        let hash = key_hash(key);
        if self.filter.as_ref().is_some_and(|f| !f.has(hash)) {
            return None;
        }
        Some(match self.head.get(key) {
            Some((_, value, _)) => {
                Ok(value.map(|(start, len)| &self.head_data[start..start + len]))
            }
            None => Err(hash),
        })
    }

    /// The runs' newest change of `key`, if any.
    fn runs_lookup(&self, key: &[u8], hash: KeyHash) -> Option<Option<&[u8]>> {
        self.runs.iter().rev().find_map(|run| run.find(key, hash))
    }

    /// What the marked keys (`Mark`) add to `len_delta`, `in_tree` telling whether the tree
    /// under the buffer holds a key: minus the unsure puts of keys it holds, plus the unsure
    /// deletes of keys it lacks. Each run's answer is kept, and so is the head's so far, so a
    /// count after a count looks up only the keys since.
    pub(crate) fn unsure_correction(
        &self,
        in_tree: &mut dyn FnMut(&[u8]) -> Result<bool>,
    ) -> Result<i64> {
        let mut hits = 0;
        for run in &self.runs {
            hits += run.unsure_correction(in_tree)?;
        }
        let memo = &self.head_memo;
        let (mut checked, mut head_hits) = (
            memo.checked.load(Ordering::Relaxed),
            memo.hits.load(Ordering::Relaxed),
        );
        for (key, mark) in &self.head_unsure[checked..] {
            head_hits += correction(*mark, in_tree(key)?);
            checked += 1;
        }
        memo.checked.store(checked, Ordering::Relaxed);
        memo.hits.store(head_hits, Ordering::Relaxed);
        Ok(hits + head_hits)
    }

    /// Drops every entry (the table is dropped or created again).
    fn clear_entries(&mut self) {
        self.head.clear();
        self.head_data.clear();
        self.head_unsure.clear();
        self.head_memo = HeadMemo::default();
        self.runs.clear();
        *self.noted.get() = None;
        self.len_delta = 0;
    }

    /// `mark`: nothing of the buffer held `key` and the tree was not asked (`Mark`; a key's
    /// mark set before is kept).
    fn insert(&mut self, key: &[u8], value: Option<&[u8]>, mark: Mark) {
        let crc = crc32c::crc32c(key);
        if let Some(filter) = &self.filter {
            filter.add(stored_hash(crc));
        }
        let value = value.map(|v| {
            let start = self.head_data.len();
            self.head_data.extend_from_slice(v);
            (start, v.len())
        });
        let key = Key::from_slice(key);
        if mark != SURE {
            self.head_unsure.push((key.clone(), mark));
        }
        match self.head.entry(key) {
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert((crc, value, mark));
            }
            std::collections::btree_map::Entry::Occupied(mut e) => {
                let before = e.get().2;
                e.insert((crc, value, mark | before));
            }
        }
    }

    /// The buffered entries with keys in `(lo, hi)`, in key order (both ends), the newest
    /// change of each key.
    pub(crate) fn range<'a>(&'a self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> BufIter<'a> {
        let mut sources = smallvec::SmallVec::new();
        let empty = match (lo, hi) {
            (Bound::Included(a), Bound::Included(b)) => a > b,
            (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
            | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
            _ => false,
        };
        if !empty {
            if !self.head.is_empty() {
                sources.push(Source::Head {
                    it: self.head.range::<[u8], _>((lo, hi)),
                    data: &self.head_data,
                    front: None,
                    back: None,
                });
            }
            for run in self.runs.iter().rev() {
                let front = match lo {
                    Bound::Included(key) => run.seek(key, true),
                    Bound::Excluded(key) => run.seek(key, false),
                    Bound::Unbounded => 0,
                };
                let back = match hi {
                    Bound::Included(key) => run.seek(key, false),
                    Bound::Excluded(key) => run.seek(key, true),
                    Bound::Unbounded => run.len(),
                };
                if front < back {
                    sources.push(Source::Run { run, front, back });
                }
            }
        }
        BufIter { sources }
    }

    /// Every buffered entry, in key order.
    pub(crate) fn iter(&self) -> BufIter<'_> {
        self.range(Bound::Unbounded, Bound::Unbounded)
    }

    /// The open transaction's changes become a run, merged with the newest runs while they are
    /// not much larger (`RUN_RATIO`): one k-way merge, the newest change of each key kept
    /// (removals too: they hide the tree's entries).
    fn seal(&mut self) {
        if self.head.is_empty() {
            return;
        }
        let mut merged = 1;
        let mut entries = self.head.len();
        while merged <= self.runs.len()
            && self.runs[self.runs.len() - merged].len() <= RUN_RATIO * entries
        {
            entries += self.runs[self.runs.len() - merged].len();
            merged += 1;
        }
        let keep = self.runs.len() + 1 - merged;
        let bytes = self.head_data.len()
            + self.head.keys().map(|k| k.len()).sum::<usize>()
            + self.runs[keep..]
                .iter()
                .map(|r| r.data.len())
                .sum::<usize>();
        let mut run = Run::with_capacity(bytes, entries);
        {
            let mut sources: smallvec::SmallVec<[Source<'_>; 8]> = smallvec::SmallVec::new();
            sources.push(Source::Head {
                it: self.head.range::<[u8], _>(..),
                data: &self.head_data,
                front: None,
                back: None,
            });
            for older in self.runs[keep..].iter().rev() {
                sources.push(Source::Run {
                    run: older,
                    front: 0,
                    back: older.len(),
                });
            }
            let mut merged = BufIter { sources };
            while let Some(((key, value), hash, mark)) = merged.step(false) {
                run.push(key, value, hash, mark);
            }
        }
        let run = run.finish();
        // A count made before keeps its answer if it covered every merged entry.
        let memo = &self.head_memo;
        if memo.checked.load(Ordering::Relaxed) == self.head_unsure.len() {
            let older: Option<i64> = self.runs[keep..]
                .iter()
                .map(|r| r.unsure_hits.get().copied())
                .sum();
            if let Some(older) = older {
                let _ = run
                    .unsure_hits
                    .set(older + memo.hits.load(Ordering::Relaxed));
            }
        }
        self.runs.truncate(keep);
        self.runs.push(Arc::new(run));
        *self.noted.get() = None; // (new runs)
        self.head.clear();
        self.head_data = Vec::new();
        self.head_unsure.clear();
        self.head_memo = HeadMemo::default();
    }
}

/// One source of a [`BufIter`]: the open transaction's map, or a window `[front, back)` of a
/// run.
enum Source<'a> {
    Head {
        it: std::collections::btree_map::Range<'a, Key, HeadValue>,
        data: &'a [u8],
        /// Looked at and not yet taken, from each end (an item taken by one end is never
        /// seen by the other).
        front: Option<Hashed<'a>>,
        back: Option<Hashed<'a>>,
    },
    Run {
        run: &'a Run,
        front: usize,
        back: usize,
    },
}

/// An entry, its key's CRC-32C and its mark, as a merge of runs carries them.
type Hashed<'a> = (BufEntry<'a>, u32, Mark);

impl<'a> Source<'a> {
    fn peek(&mut self, back: bool) -> Option<Hashed<'a>> {
        match self {
            Source::Run {
                run,
                front: f,
                back: b,
            } => match (*f < *b, back) {
                (false, _) => None,
                (true, false) => Some(run.hashed(*f)),
                (true, true) => Some(run.hashed(*b - 1)),
            },
            Source::Head {
                it,
                data,
                front,
                back: held_back,
            } => {
                let data: &'a [u8] = data;
                let resolve = |(k, (crc, v, mark)): (&'a Key, &'a HeadValue)| {
                    (
                        (&k[..], v.map(|(start, len)| &data[start..start + len])),
                        *crc,
                        *mark,
                    )
                };
                match back {
                    false => {
                        if front.is_none() {
                            *front = it.next().map(resolve).or_else(|| held_back.take());
                        }
                        *front
                    }
                    true => {
                        if held_back.is_none() {
                            *held_back = it.next_back().map(resolve).or_else(|| front.take());
                        }
                        *held_back
                    }
                }
            }
        }
    }

    /// Takes the item `peek` returned.
    fn take(&mut self, back: bool) {
        match self {
            Source::Run { front, back: b, .. } => match back {
                false => *front += 1,
                true => *b -= 1,
            },
            Source::Head { front, back: b, .. } => match back {
                false => *front = None,
                true => *b = None,
            },
        }
    }
}

/// The buffered entries of a range, merged from the head and the runs: each key once, with its
/// newest change; double-ended.
pub(crate) struct BufIter<'a> {
    /// Newest first (a tie between sources goes to the earlier one).
    sources: smallvec::SmallVec<[Source<'a>; 8]>,
}

impl<'a> BufIter<'a> {
    fn step(&mut self, back: bool) -> Option<Hashed<'a>> {
        let mut best: Option<(usize, Hashed<'a>)> = None;
        for (i, source) in self.sources.iter_mut().enumerate() {
            if let Some(item) = source.peek(back) {
                let better = best.is_none_or(|(_, ((key, _), _, _))| match back {
                    false => item.0 .0 < key,
                    true => item.0 .0 > key,
                });
                if better {
                    best = Some((i, item));
                }
            }
        }
        let (i, mut item) = best?;
        for source in &mut self.sources[i..] {
            if let Some(((key, _), _, mark)) = source.peek(back) {
                if key == item.0 .0 {
                    item.2 |= mark; // the key's mark, wherever it is (one entry has it)
                    source.take(back);
                }
            }
        }
        Some(item)
    }
}

impl<'a> Iterator for BufIter<'a> {
    type Item = BufEntry<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(false).map(|(entry, _, _)| entry)
    }
}

impl DoubleEndedIterator for BufIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(true).map(|(entry, _, _)| entry)
    }
}

/// The buffered commits as of one commit.
#[derive(Clone, Debug, Default)]
pub(crate) struct BufView {
    pub(crate) tables: OrdMap<Arc<str>, TableBuf>,
    /// Changes applied (an upper bound of the entries held).
    pub(crate) ops: u64,
    /// Bytes of keys and values added (an upper bound of what the entries hold).
    pub(crate) bytes: u64,
    /// The key filter of this view's generation (`None`: lookups search the maps). Made when
    /// the generation's first table is touched, not with the view: a database with nothing
    /// buffered (every open, every read after a merge) allocates no filter.
    filter: Option<Arc<KeyFilter>>,
    /// The filter's size, in bits (0: no filter).
    filter_bits: u64,
}

impl BufView {
    /// An empty view of a new generation, with a key filter of `bits` bits (allocated at the
    /// first change).
    pub(crate) fn with_filter(bits: u64) -> BufView {
        BufView {
            filter_bits: bits,
            ..BufView::default()
        }
    }

    /// The generation's filter, made now if this is its first change. Views cloned before
    /// have no table, so none of them needs it; a table keeps the filter it was made with, and
    /// every key added to it goes into that filter.
    fn filter(&mut self) -> Option<Arc<KeyFilter>> {
        if self.filter.is_none() && self.filter_bits > 0 {
            self.filter = Some(Arc::new(KeyFilter::new(self.filter_bits)));
        }
        self.filter.clone()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tables.is_empty()
    }

    /// Every table's open-transaction changes become a run: done before the view is shared
    /// (published by a commit, or stored as the process's index), so clones copy no entries.
    pub(crate) fn seal(&mut self) {
        let open: Vec<Arc<str>> = self
            .tables
            .iter()
            .filter(|(_, table)| !table.head.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        for name in open {
            if let Some(table) = self.tables.get_mut(&name) {
                table.seal();
            }
        }
    }

    pub(crate) fn table(&self, name: &str) -> Option<&TableBuf> {
        self.tables.get(name)
    }

    fn table_mut(&mut self, name: &str) -> &mut TableBuf {
        if !self.tables.contains_key(name) {
            let filter = self.filter();
            self.tables.insert(
                Arc::from(name),
                TableBuf {
                    exists: true,
                    filter,
                    ..TableBuf::default()
                },
            );
        }
        self.tables.get_mut(name).expect("inserted")
    }

    /// The table is opened or created.
    pub(crate) fn touch_table(&mut self, name: &str) {
        let table = self.table_mut(name);
        if !table.exists {
            // Dropped in the buffer, created again: empty.
            table.exists = true;
            table.clear_entries();
        }
    }

    /// The table is dropped: its tree entries and buffered ones are gone.
    pub(crate) fn drop_table(&mut self, name: &str) {
        let filter = self.filter();
        let table = self.table_mut(name);
        *table = TableBuf {
            cleared: true,
            exists: false,
            filter,
            ..TableBuf::default()
        };
        self.ops += 1;
    }

    /// Whether `key` is in `table` as of this view, `in_tree` answering for keys the buffer
    /// does not hold.
    pub(crate) fn contains(
        &self,
        table: &str,
        key: &[u8],
        in_tree: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<bool> {
        match self.table(table) {
            Some(t) => match t.lookup(key) {
                Some(value) => Ok(value.is_some()),
                None if t.cleared => Ok(false),
                None => in_tree(table, key),
            },
            None => in_tree(table, key),
        }
    }

    /// Whether the buffer knows if `key` is in `table` as of this view: `Some` if it holds a
    /// change of the key or dropped the table, `None` if the tree under it has the answer.
    pub(crate) fn knows(&self, table: &str, key: &[u8]) -> Option<bool> {
        let t = self.table(table)?;
        match t.presence(key) {
            Some(present) => Some(present),
            None => t.cleared.then_some(false),
        }
    }

    /// `key` gets `value`; `existed`: it was there before (`None`: not known, the tree was not
    /// asked; see `Mark`).
    pub(crate) fn put(&mut self, table: &str, key: &[u8], value: &[u8], existed: Option<bool>) {
        self.ops += 1;
        self.bytes += (key.len() + value.len()) as u64;
        let t = self.table_mut(table);
        t.exists = true;
        t.insert(
            key,
            Some(value),
            if existed.is_none() { PUT_UNSURE } else { SURE },
        );
        if existed != Some(true) {
            t.len_delta += 1;
        }
    }

    /// `key` is removed; `existed`: it was there before (`Some(false)`: nothing changes;
    /// `None`: not known, the tree was not asked, see `Mark`).
    pub(crate) fn remove(&mut self, table: &str, key: &[u8], existed: Option<bool>) {
        if existed == Some(false) {
            return;
        }
        self.ops += 1;
        self.bytes += key.len() as u64;
        let t = self.table_mut(table);
        t.insert(
            key,
            None,
            if existed.is_none() {
                DELETE_UNSURE
            } else {
                SURE
            },
        );
        t.len_delta -= 1;
    }

    /// Applies one logged commit's changes (`in_tree`: whether a key is in the tree below the
    /// buffer, for the entry counts).
    pub(crate) fn apply_record(
        &mut self,
        payload: &[u8],
        in_tree: &mut dyn FnMut(&str, &[u8]) -> Result<bool>,
    ) -> Result<()> {
        fn current(table: Option<&str>) -> Result<&str> {
            table.ok_or_else(|| Error::corrupted(0, "redo log record: a change names no table"))
        }
        let mut table: Option<&str> = None;
        for op in crate::log::ops(payload) {
            match op? {
                Op::Table(name) => {
                    self.touch_table(name);
                    table = Some(name);
                }
                Op::Put(key, value) => {
                    let name = current(table)?;
                    let existed = self.knows(name, key);
                    self.put(name, key, value, existed);
                }
                Op::Remove(key) => {
                    let name = current(table)?;
                    let existed = self.contains(name, key, in_tree)?;
                    self.remove(name, key, Some(existed));
                }
                Op::DropTable(name) => {
                    self.drop_table(name);
                    table = None;
                }
            }
        }
        Ok(())
    }
}

/// What one process has indexed of the log: the view as of commit `txn`, whose record ends at
/// `end`, on top of the tree of commit `base` (log generation `salt`).
#[derive(Clone, Debug, Default)]
pub(crate) struct Buffer {
    pub(crate) salt: u64,
    pub(crate) base: u64,
    pub(crate) txn: u64,
    pub(crate) end: u64,
    pub(crate) view: BufView,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_never_hides_a_buffered_key() {
        let mut view = BufView::with_filter(KeyFilter::bits_for(1 << 16));
        let old = view.clone();
        for i in 0..20_000u32 {
            view.put("t", &i.to_be_bytes(), b"v", Some(false));
        }
        let t = view.table("t").unwrap();
        for i in 0..20_000u32 {
            assert_eq!(t.lookup(&i.to_be_bytes()), Some(Some(&b"v"[..])));
        }
        // Saturated (far more keys than the filter was sized for): still no false negative.
        assert!(old.table("t").is_none());
        let misses = (20_000..30_000u32)
            .filter(|i| t.lookup(&i.to_be_bytes()).is_none())
            .count();
        assert_eq!(misses, 10_000);
        let small = BufView::with_filter(KeyFilter::bits_for(64 << 20));
        let mut small = small;
        for i in 0..1000u32 {
            small.put("t", &i.to_be_bytes(), b"v", Some(false));
        }
        let filter = small.filter.as_ref().unwrap();
        let false_positives = (1000..101_000u32)
            .filter(|i| filter.may_contain(&i.to_be_bytes()))
            .count();
        assert!(false_positives < 100, "{false_positives} of 100,000");
    }

    #[test]
    fn the_filter_is_made_at_the_first_change() {
        let mut view = BufView::with_filter(KeyFilter::bits_for(64 << 20));
        let reader = view.clone();
        assert!(view.filter.is_none(), "nothing buffered: no filter");
        view.put("t", b"k", b"v", Some(false));
        let filter = view.filter.clone().expect("made by the first put");
        assert!(filter.may_contain(b"k") && reader.filter.is_none());
        view.put("u", b"j", b"w", Some(false));
        assert!(
            Arc::ptr_eq(&filter, view.filter.as_ref().unwrap()),
            "one per generation"
        );
        assert_eq!(view.table("u").unwrap().lookup(b"j"), Some(Some(&b"w"[..])));
    }

    /// Runs and the open head against a `BTreeMap` model: random puts and removes, seals at
    /// random points (so compactions of every shape), lookups, and ranges with random bounds
    /// read from both ends at once; a clone taken earlier keeps answering as of its time.
    #[test]
    fn runs_answer_as_a_sorted_map_does() {
        use std::collections::BTreeMap;
        type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for round in 0..30 {
            // Odd rounds: every key begins alike (as a server's rows of one Redis key do).
            let shared: &[u8] = if round % 2 == 1 {
                b"rows-of/one:key\x00"
            } else {
                b""
            };
            // Every fifth round: half the keys alike for their first 16 bytes, the run's first
            // and last keys unlike (many equal slot prefixes, across fences).
            let alike = |i: u64| match (round % 5 == 4, i % 2) {
                (true, 0) => &b"a-long-equal-run"[..],
                (true, _) => &b"b"[..],
                (false, _) => &b""[..],
            };
            let key = |i: u64| {
                let digits = format!("{:0w$}", i, w = (i % 5 + 1) as usize);
                [shared, alike(i), digits.as_bytes()].concat()
            };
            let mut view = BufView::with_filter(KeyFilter::bits_for(1 << 14));
            let mut model: Model = BTreeMap::new();
            let mut frozen: Option<(BufView, Model)> = None;
            let space = [20, 300, 3000][round % 3];
            for step in 0..2000u64 {
                let k = key(next(space));
                if next(4) == 0 {
                    view.remove("t", &k, Some(true));
                    model.insert(k, None);
                } else {
                    let v = step.to_be_bytes().repeat(next(3) as usize);
                    view.put("t", &k, &v, Some(false));
                    model.insert(k, Some(v));
                }
                if next([3, 40, 400][round % 3]) == 0 {
                    view.seal();
                    if frozen.is_none() && next(3) == 0 {
                        frozen = Some((view.clone(), model.clone()));
                    }
                }
                if step % 97 == 0 {
                    check(view.table("t").unwrap(), &model, shared, &mut next);
                }
            }
            view.seal();
            let t = view.table("t").unwrap();
            assert!(t.runs.len() <= 12, "{} runs", t.runs.len());
            check(t, &model, shared, &mut next);
            if let Some((old, model)) = frozen {
                check(old.table("t").unwrap(), &model, shared, &mut next);
            }
        }

        fn check(
            t: &TableBuf,
            model: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
            shared: &[u8],
            next: &mut impl FnMut(u64) -> u64,
        ) {
            let all: Vec<_> = t.iter().collect();
            let want: Vec<_> = model.iter().map(|(k, v)| (&k[..], v.as_deref())).collect();
            assert_eq!(all, want);
            for (k, v) in model {
                assert_eq!(t.lookup(k), Some(v.as_deref()));
            }
            assert_eq!(t.lookup(b"absent-key"), None);
            for _ in 0..20 {
                // Bounds inside the shared beginning's keys, or (rarely) a bare one before
                // or after them all.
                let bound_key = |n: u64| match n % 10 {
                    0 => format!("{}", n / 10).into_bytes(),
                    _ => [shared, format!("{}", n / 10).as_bytes()].concat(),
                };
                let a = bound_key(next(40_000));
                let b = bound_key(next(40_000));
                let bound = |k: &[u8], c| match c {
                    0 => Bound::Included(k.to_vec()),
                    1 => Bound::Excluded(k.to_vec()),
                    _ => Bound::Unbounded,
                };
                let (lo, hi) = (bound(&a, next(3)), bound(&b, next(3)));
                fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
                    match b {
                        Bound::Included(k) => Bound::Included(&k[..]),
                        Bound::Excluded(k) => Bound::Excluded(&k[..]),
                        Bound::Unbounded => Bound::Unbounded,
                    }
                }
                let empty = match (&lo, &hi) {
                    (Bound::Included(a), Bound::Included(b)) => a > b,
                    (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
                    | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
                    _ => false,
                };
                let want: Vec<_> = match empty {
                    true => Vec::new(),
                    false => model
                        .range((lo.clone(), hi.clone()))
                        .map(|(k, v)| (&k[..], v.as_deref()))
                        .collect(),
                };
                // Alternate ends at random: the front part then the back part reversed.
                let mut it = t.range(as_ref(&lo), as_ref(&hi));
                let (mut front, mut back) = (Vec::new(), Vec::new());
                loop {
                    let item = match next(2) {
                        0 => it.next().map(|e| front.push(e)),
                        _ => it.next_back().map(|e| back.push(e)),
                    };
                    if item.is_none() {
                        break;
                    }
                }
                front.extend(back.into_iter().rev());
                assert_eq!(front, want);
            }
        }
    }

    /// The count of a table whose tree holds `tree`: its entries plus the buffer's changes,
    /// the unsure ones looked up (as `txn::buffered_len` does), and the keys looked up.
    fn count(t: &TableBuf, tree: &[&[u8]]) -> (i64, Vec<Vec<u8>>) {
        let mut asked = Vec::new();
        let correction = t
            .unsure_correction(&mut |key| {
                asked.push(key.to_vec());
                Ok(tree.contains(&key))
            })
            .unwrap();
        (tree.len() as i64 + t.len_delta + correction, asked)
    }

    #[test]
    fn a_read_notes_what_the_runs_hold_and_a_seal_forgets_it() {
        let mut view = BufView::default();
        view.touch_table("t");
        view.put("t", b"k", b"1", Some(false));
        view.remove("t", b"gone", Some(true));
        view.seal();
        let t = view.table("t").unwrap();
        assert_eq!(t.lookup_noting(b"k"), Some(Some(&b"1"[..])));
        assert_eq!(view.knows("t", b"k"), Some(true)); // from the note
        assert_eq!(view.table("t").unwrap().lookup_noting(b"gone"), Some(None));
        assert_eq!(view.knows("t", b"gone"), Some(false));
        assert_eq!(view.table("t").unwrap().lookup_noting(b"new"), None);
        assert_eq!(view.knows("t", b"new"), None);
        // The head shadows the note; a clone (the writer's copy of a shared table) keeps it.
        view.put("t", b"new", b"2", None);
        assert_eq!(view.knows("t", b"new"), Some(true));
        let copy = view.table("t").unwrap().clone();
        assert_eq!(*copy.noted.get(), Some((Key::from_slice(b"new"), None)));
        // A seal makes new runs: the note goes.
        view.seal();
        assert!(view.table("t").unwrap().noted.get().is_none());
        assert_eq!(view.knows("t", b"new"), Some(true));
    }

    #[test]
    fn a_delete_that_did_not_ask_the_tree_is_counted_once_by_a_later_count() {
        let tree: &[&[u8]] = &[b"a", b"b"];
        let mut view = BufView::default();
        view.touch_table("t");
        // Deletes of a key the tree holds and of one it lacks, neither asked.
        view.remove("t", b"a", view.knows("t", b"a"));
        view.remove("t", b"z", view.knows("t", b"z"));
        assert_eq!(view.knows("t", b"z"), Some(false));
        view.remove("t", b"z", view.knows("t", b"z")); // known now: nothing
        let t = view.table("t").unwrap();
        assert_eq!(t.len_delta, -2);
        assert_eq!(count(t, tree), (1, vec![b"a".to_vec(), b"z".to_vec()])); // b
        view.seal();
        // Put back after an unsure delete: known absent, counted once.
        view.put("t", b"z", b"1", view.knows("t", b"z"));
        view.put("t", b"a", b"1", view.knows("t", b"a"));
        view.seal();
        let t = view.table("t").unwrap();
        assert_eq!(t.runs.len(), 1, "merged");
        assert_eq!(count(t, tree).0, 3); // a, b, z

        // A fresh count (no kept answer) agrees.
        let mut run = Run::clone(&t.runs[0]);
        run.unsure_hits = OnceLock::new();
        let mut fresh = view.clone();
        fresh.tables.get_mut("t").unwrap().runs[0] = Arc::new(run);
        assert_eq!(
            count(fresh.table("t").unwrap(), tree),
            (3, vec![b"a".to_vec(), b"z".to_vec()])
        );
    }

    #[test]
    fn a_put_that_did_not_ask_the_tree_is_counted_once_by_a_later_count() {
        let tree: &[&[u8]] = &[b"a", b"b"];
        let mut view = BufView::default();
        view.touch_table("t");
        // Neither the tree nor the buffer was asked about "a" or "c": both unsure.
        view.put("t", b"a", b"1", view.knows("t", b"a"));
        view.put("t", b"c", b"1", view.knows("t", b"c"));
        assert_eq!(view.knows("t", b"a"), Some(true));
        view.put("t", b"a", b"2", view.knows("t", b"a")); // known now: no second mark
        view.remove("t", b"b", Some(true));
        let t = view.table("t").unwrap();
        assert_eq!(count(t, tree), (2, vec![b"a".to_vec(), b"c".to_vec()])); // a, c
        assert_eq!(
            count(t, tree).1,
            Vec::<Vec<u8>>::new(),
            "the head's answer is kept"
        );
        view.seal();
        // The run took the head's answer: nothing is looked up again.
        assert_eq!(count(view.table("t").unwrap(), tree), (2, vec![]));
        // A removal of an unsure key keeps its mark through merges of runs.
        let existed = view.knows("t", b"a").unwrap();
        view.remove("t", b"a", Some(existed));
        view.put("t", b"d", b"1", view.knows("t", b"d"));
        view.seal();
        let t = view.table("t").unwrap();
        assert_eq!(t.runs.len(), 1, "the new run was merged with the old one");
        let unsure: Vec<&[u8]> = (0..t.runs[0].len())
            .filter(|&i| t.runs[0].hashed(i).2 == PUT_UNSURE)
            .map(|i| t.runs[0].entry(i).0)
            .collect();
        assert_eq!(unsure, [&b"a"[..], b"c", b"d"]);
        assert_eq!(count(t, tree).0, 2); // c, d
                                         // A fresh count of the same run (another process's view) gives the same.
        let mut fresh = view.clone();
        let mut run = Run::clone(&fresh.table("t").unwrap().runs[0]);
        run.unsure_hits = OnceLock::new();
        fresh.tables.get_mut("t").unwrap().runs[0] = Arc::new(run);
        assert_eq!(count(fresh.table("t").unwrap(), tree).0, 2);
        // A dropped table's count starts over and asks the tree nothing.
        view.drop_table("t");
        view.touch_table("t");
        view.put("t", b"a", b"1", view.knows("t", b"a"));
        assert_eq!(view.knows("t", b"zz"), Some(false));
        assert_eq!(count(view.table("t").unwrap(), &[]), (1, vec![]));
    }

    #[test]
    fn counts_follow_puts_removes_and_drops() {
        let mut view = BufView::default();
        let mut tree = |_: &str, key: &[u8]| Ok(key == b"t");
        let mut before = view.clone();
        view.touch_table("a");
        let existed = view.contains("a", b"x", &mut tree).unwrap();
        view.put("a", b"x", b"1", Some(existed));
        let existed = view.contains("a", b"t", &mut tree).unwrap();
        view.put("a", b"t", b"2", Some(existed));
        assert_eq!(view.table("a").unwrap().len_delta, 1);
        let existed = view.contains("a", b"x", &mut tree).unwrap();
        view.remove("a", b"x", Some(existed));
        assert_eq!(view.table("a").unwrap().len_delta, 0);
        assert_eq!(view.table("a").unwrap().lookup(b"x"), Some(None));
        view.drop_table("a");
        assert!(!view.table("a").unwrap().exists);
        assert!(!view.contains("a", b"t", &mut tree).unwrap());
        view.touch_table("a");
        assert!(view.table("a").unwrap().cleared);
        // An old clone is untouched.
        assert!(before.table("a").is_none());
        before.touch_table("b");
        assert!(view.table("b").is_none());
    }
}
