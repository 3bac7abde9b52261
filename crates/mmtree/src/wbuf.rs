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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

    /// The size for a buffer of `log_bytes` of records: half a bit per record byte (a
    /// 16/100-byte put takes 125 bytes of record: about 60 bits per key), 1 KiB to 16 MiB.
    pub(crate) fn bits_for(log_bytes: u64) -> u64 {
        (log_bytes / 2).clamp(1 << 13, 1 << 27)
    }

    /// The key's three bits, all in one 512-bit block (one cache line: a lookup costs at most
    /// one miss).
    fn probes(&self, key: &[u8]) -> [u64; 3] {
        let h1 = u64::from(crc32c::crc32c(key));
        let h2 = u64::from(crc32c::crc32c_append(0x9E37_79B9, key));
        let block = (h1 << 9) & self.mask;
        [h2 & 511, (h2 >> 9) & 511, (h2 >> 18) & 511].map(|bit| block | bit)
    }

    fn add(&self, key: &[u8]) {
        for bit in self.probes(key) {
            self.words[(bit / 64) as usize].fetch_or(1 << (bit % 64), Ordering::Relaxed);
        }
    }

    /// False: `key` is in no view of this generation that was built before this call.
    pub(crate) fn may_contain(&self, key: &[u8]) -> bool {
        self.probes(key).iter().all(|&bit| {
            self.words[(bit / 64) as usize].load(Ordering::Relaxed) & (1 << (bit % 64)) != 0
        })
    }
}

/// Bytes shared between views (a clone is a reference count).
pub(crate) type Bytes = Arc<[u8]>;

/// A buffered key: up to 24 bytes inline in the map's nodes, so a search compares bytes in the
/// node instead of following a pointer per step (longer keys spill to the heap).
pub(crate) type Key = smallvec::SmallVec<[u8; 24]>;

/// One table's buffered changes.
#[derive(Clone, Debug, Default)]
pub(crate) struct TableBuf {
    /// Key -> its newest value, or `None`: removed.
    pub(crate) entries: OrdMap<Key, Option<Bytes>>,
    /// Entries added minus entries removed, relative to the tree's count (or to zero when
    /// `cleared`).
    pub(crate) len_delta: i64,
    /// The table was dropped in the buffer: the tree's entries are gone.
    pub(crate) cleared: bool,
    /// The table exists (false: dropped and not created again).
    pub(crate) exists: bool,
    /// The generation's key filter (every key of `entries` is in it), if there is one.
    filter: Option<Arc<KeyFilter>>,
}

impl TableBuf {
    /// A buffered value: `Some(Some(v))` a put, `Some(None)` removed, `None`: not buffered (the
    /// tree has the answer, unless `cleared`).
    pub(crate) fn lookup(&self, key: &[u8]) -> Option<Option<&[u8]>> {
        if self.entries.is_empty() || self.filter.as_ref().is_some_and(|f| !f.may_contain(key)) {
            return None;
        }
        self.entries.get(key).map(|v| v.as_deref())
    }

    fn insert(&mut self, key: &[u8], value: Option<Bytes>) {
        if let Some(filter) = &self.filter {
            filter.add(key);
        }
        self.entries.insert(Key::from_slice(key), value);
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
            table.entries = OrdMap::new();
            table.len_delta = 0;
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

    /// `key` gets `value`; `existed`: it was there before.
    pub(crate) fn put(&mut self, table: &str, key: &[u8], value: &[u8], existed: bool) {
        self.ops += 1;
        self.bytes += (key.len() + value.len()) as u64;
        let t = self.table_mut(table);
        t.exists = true;
        t.insert(key, Some(Arc::from(value)));
        if !existed {
            t.len_delta += 1;
        }
    }

    /// `key` is removed; `existed`: it was there before (else nothing changes).
    pub(crate) fn remove(&mut self, table: &str, key: &[u8], existed: bool) {
        if !existed {
            return;
        }
        self.ops += 1;
        self.bytes += key.len() as u64;
        let t = self.table_mut(table);
        t.insert(key, None);
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
                    let existed = self.contains(name, key, in_tree)?;
                    self.put(name, key, value, existed);
                }
                Op::Remove(key) => {
                    let name = current(table)?;
                    let existed = self.contains(name, key, in_tree)?;
                    self.remove(name, key, existed);
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
            view.put("t", &i.to_be_bytes(), b"v", false);
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
            small.put("t", &i.to_be_bytes(), b"v", false);
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
        view.put("t", b"k", b"v", false);
        let filter = view.filter.clone().expect("made by the first put");
        assert!(filter.may_contain(b"k") && reader.filter.is_none());
        view.put("u", b"j", b"w", false);
        assert!(
            Arc::ptr_eq(&filter, view.filter.as_ref().unwrap()),
            "one per generation"
        );
        assert_eq!(view.table("u").unwrap().lookup(b"j"), Some(Some(&b"w"[..])));
    }

    #[test]
    fn counts_follow_puts_removes_and_drops() {
        let mut view = BufView::default();
        let mut tree = |_: &str, key: &[u8]| Ok(key == b"t");
        let mut before = view.clone();
        view.touch_table("a");
        let existed = view.contains("a", b"x", &mut tree).unwrap();
        view.put("a", b"x", b"1", existed);
        let existed = view.contains("a", b"t", &mut tree).unwrap();
        view.put("a", b"t", b"2", existed);
        assert_eq!(view.table("a").unwrap().len_delta, 1);
        let existed = view.contains("a", b"x", &mut tree).unwrap();
        view.remove("a", b"x", existed);
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
