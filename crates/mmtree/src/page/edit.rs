//! Editing branch and leaf pages in place: a dirty page is a page-sized buffer in the file's
//! own layout (`page` module docs), copied from the mapping once per write transaction or built
//! fresh. Inserts and removes edit the slot array and the cells; a page that cannot take an
//! entry is rebuilt from its entries (`build`), which is how splits and merges move cells.
//!
//! Invariants of a `PageBuf` (checked by `PageView::validate` when a page is copied in, kept by
//! every edit): slots in key order with correct heads; every cell inside
//! `[cells_from, page_size)`; `used` = slots + live cells; `garbage` = dead bytes in the cell
//! area, so the free space is `cells_from - slots_end + garbage`.

use super::view::{Child, PageView, ValueRef};
use super::*;
use crate::error::Result;

/// What an entry points at: a leaf's value or a branch's child.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Payload<'a> {
    Value(ValueRef<'a>),
    Child(Child),
}

/// One entry to place in a page (keys are whole; a branch's first key is ignored: minus
/// infinity).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Entry<'a> {
    pub key: &'a [u8],
    pub payload: Payload<'a>,
}

impl Entry<'_> {
    /// Bytes the entry costs in a page (slot + cell), its key counted whole; `first_of_branch`:
    /// the key is not stored.
    pub(crate) fn size(&self, first_of_branch: bool) -> usize {
        match self.payload {
            Payload::Value(value) => leaf_entry_size(self.key.len(), value.stored_len()),
            Payload::Child(_) => {
                branch_entry_size(if first_of_branch { 0 } else { self.key.len() })
            }
        }
    }
}

/// A page being edited.
pub(crate) struct PageBuf {
    buf: Vec<u8>,
    /// Bytes used by entries (slots + live cells).
    used: usize,
}

fn child_word(child: Child) -> u64 {
    match child {
        Child::Page(id) => {
            debug_assert!(id & DIRTY_CHILD_BIT == 0);
            id
        }
        Child::Dirty(id) => DIRTY_CHILD_BIT | u64::from(id),
    }
}

impl PageBuf {
    /// An empty leaf or branch in `buf` (a page-sized buffer).
    pub(crate) fn new(mut buf: Vec<u8>, leaf: bool) -> PageBuf {
        let page_size = buf.len();
        assert!((crate::limits::PAGE_SIZE_MIN..=crate::limits::PAGE_SIZE_MAX).contains(&page_size));
        buf[..TREE_HEADER_SIZE].fill(0);
        buf[KIND_AT] = if leaf { KIND_LEAF } else { KIND_BRANCH };
        write_u16(&mut buf, CELLS_AT, page_size as u16);
        PageBuf { buf, used: 0 }
    }

    /// `buf` holds a copy of page `id` from the file: checked whole before any edit.
    pub(crate) fn from_copy(buf: Vec<u8>, id: u64) -> Result<PageBuf> {
        let view = PageView::parse(&buf, id)?;
        let used = view.validate()?;
        let mut page = PageBuf { buf, used };
        // The garbage word is recomputed, not trusted: the free space follows from the cells.
        let cells = used - page.len() * SLOT_SIZE;
        let area = page.page_size() - page.cells_from();
        page.set_garbage(area - cells);
        Ok(page)
    }

    #[inline]
    pub(crate) fn view(&self) -> PageView<'_> {
        PageView::dirty(&self.buf)
    }

    pub(crate) fn page_size(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn is_leaf(&self) -> bool {
        self.buf[KIND_AT] == KIND_LEAF
    }

    pub(crate) fn len(&self) -> usize {
        read_u16(&self.buf, COUNT_AT) as usize
    }

    /// Bytes used by entries (slots + cells), as splits and merges count them.
    pub(crate) fn used(&self) -> usize {
        self.used
    }

    fn prefix_len(&self) -> usize {
        read_u16(&self.buf, PREFIX_LEN_AT) as usize
    }

    fn slots(&self) -> usize {
        slots_at(self.prefix_len())
    }

    fn slots_end(&self) -> usize {
        self.slots() + self.len() * SLOT_SIZE
    }

    fn cells_from(&self) -> usize {
        read_u16(&self.buf, CELLS_AT) as usize
    }

    fn set_cells_from(&mut self, at: usize) {
        write_u16(&mut self.buf, CELLS_AT, at as u16);
    }

    fn garbage(&self) -> usize {
        read_u16(&self.buf, GARBAGE_AT) as usize
    }

    fn set_garbage(&mut self, bytes: usize) {
        write_u16(&mut self.buf, GARBAGE_AT, bytes as u16);
    }

    fn cell_header(&self) -> usize {
        if self.is_leaf() {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        }
    }

    fn write_slot(&mut self, index: usize, head: u32, at: usize, key_len: usize) {
        let slot = self.slots() + index * SLOT_SIZE;
        write_u32(&mut self.buf, slot + SLOT_HEAD_AT, head);
        write_u16(&mut self.buf, slot + SLOT_CELL_AT, at as u16);
        write_u16(&mut self.buf, slot + SLOT_KEY_LEN_AT, key_len as u16);
    }

    /// Slot `index`: (head, cell offset, key length).
    #[inline]
    fn slot(&self, index: usize) -> (u32, usize, usize) {
        let at = self.slots() + index * SLOT_SIZE;
        (
            read_u32(&self.buf, at + SLOT_HEAD_AT),
            read_u16(&self.buf, at + SLOT_CELL_AT) as usize,
            read_u16(&self.buf, at + SLOT_KEY_LEN_AT) as usize,
        )
    }

    /// Size of the cell of slot `index`.
    fn cell_size(&self, index: usize) -> usize {
        let (_, at, key_len) = self.slot(index);
        self.cell_size_in(&self.buf, at, key_len)
    }

    /// Free bytes, counting dead cells (reclaimed by `defragment`).
    fn free(&self) -> usize {
        self.cells_from() - self.slots_end() + self.garbage()
    }

    /// Whether `key` may be stored in slot `index` under the current prefix.
    fn fits_prefix(&self, index: usize, key: &[u8]) -> bool {
        (!self.is_leaf() && index == 0)
            || key.starts_with(&self.buf[TREE_HEADER_SIZE..TREE_HEADER_SIZE + self.prefix_len()])
    }

    /// Inserts `entry` as slot `index` (keys stay in order: the caller searched). Returns false,
    /// changing nothing that matters, when the page has no room: the caller rebuilds (splits).
    pub(crate) fn insert(&mut self, index: usize, entry: Entry<'_>) -> bool {
        debug_assert!(index <= self.len());
        let first_of_branch = !self.is_leaf() && index == 0;
        let key = if first_of_branch { &[][..] } else { entry.key };
        if !self.fits_prefix(index, key) {
            let keep = common_prefix(
                &self.buf[TREE_HEADER_SIZE..TREE_HEADER_SIZE + self.prefix_len()],
                key,
            );
            self.set_prefix(keep);
        }
        let size = entry.size(first_of_branch);
        if self.free() < size {
            return false;
        }
        if self.cells_from() - self.slots_end() < size {
            self.defragment();
        }
        let cell = size - SLOT_SIZE;
        let at = self.cells_from() - cell;
        self.write_cell(at, key, entry.payload);
        let slot = self.slots() + index * SLOT_SIZE;
        let end = self.slots_end();
        self.buf.copy_within(slot..end, slot + SLOT_SIZE);
        let head = if first_of_branch {
            0
        } else {
            head(key, self.prefix_len())
        };
        self.write_slot(index, head, at, key.len());
        let count = self.len() + 1;
        write_u16(&mut self.buf, COUNT_AT, count as u16);
        self.set_cells_from(at);
        self.used += size;
        true
    }

    fn write_cell(&mut self, at: usize, key: &[u8], payload: Payload<'_>) {
        let buf = &mut self.buf;
        match payload {
            Payload::Value(value) => {
                let key_at = at + LEAF_CELL_HEADER;
                buf[key_at..key_at + key.len()].copy_from_slice(key);
                let value_at = key_at + key.len();
                match value {
                    ValueRef::Inline(bytes) => {
                        debug_assert!(bytes.len() < VALUE_OVERFLOW_BIT as usize);
                        write_u16(buf, at, bytes.len() as u16);
                        buf[value_at..value_at + bytes.len()].copy_from_slice(bytes);
                    }
                    ValueRef::Overflow { page, len } => {
                        write_u16(buf, at, VALUE_OVERFLOW_BIT | OVERFLOW_REF_SIZE as u16);
                        write_u64(buf, value_at + OVERFLOW_REF_FIRST_AT, page);
                        write_u64(buf, value_at + OVERFLOW_REF_LEN_AT, len);
                    }
                }
            }
            Payload::Child(child) => {
                write_u64(buf, at, child_word(child));
                buf[at + BRANCH_CELL_HEADER..at + BRANCH_CELL_HEADER + key.len()]
                    .copy_from_slice(key);
            }
        }
    }

    /// Removes slot `index` (its cell becomes garbage).
    pub(crate) fn remove(&mut self, index: usize) {
        debug_assert!(index < self.len());
        let cell = self.cell_size(index);
        let slot = self.slots() + index * SLOT_SIZE;
        let end = self.slots_end();
        self.buf.copy_within(slot + SLOT_SIZE..end, slot);
        let count = self.len() - 1;
        write_u16(&mut self.buf, COUNT_AT, count as u16);
        self.set_garbage(self.garbage() + cell);
        self.used -= cell + SLOT_SIZE;
        if self.len() == 0 {
            self.set_cells_from(self.buf.len());
            self.set_garbage(0);
            self.set_prefix(0);
        }
    }

    /// A branch whose slot 0 was removed: the new slot 0 becomes minus infinity (its key bytes
    /// stay in the cell as garbage).
    pub(crate) fn clear_first_key(&mut self) {
        debug_assert!(!self.is_leaf() && self.len() > 0);
        let (_, at, key_len) = self.slot(0);
        self.write_slot(0, 0, at, 0);
        self.set_garbage(self.garbage() + key_len);
        self.used -= key_len;
    }

    /// Points slot `index` of a branch at `child`.
    pub(crate) fn set_child(&mut self, index: usize, child: Child) {
        debug_assert!(!self.is_leaf());
        let (_, at, _) = self.slot(index);
        write_u64(&mut self.buf, at, child_word(child));
    }

    /// Replaces the overflow reference of leaf slot `index` (same size: in place).
    pub(crate) fn set_overflow(&mut self, index: usize, page: u64, len: u64) {
        let (_, at, key_len) = self.slot(index);
        debug_assert_eq!(
            read_u16(&self.buf, at),
            VALUE_OVERFLOW_BIT | OVERFLOW_REF_SIZE as u16
        );
        let value_at = at + LEAF_CELL_HEADER + key_len;
        write_u64(&mut self.buf, value_at + OVERFLOW_REF_FIRST_AT, page);
        write_u64(&mut self.buf, value_at + OVERFLOW_REF_LEN_AT, len);
    }

    /// Shortens the prefix to `keep` bytes (a prefix of the current one): the slots move down
    /// and every head is recomputed.
    fn set_prefix(&mut self, keep: usize) {
        let old = self.prefix_len();
        debug_assert!(keep <= old);
        if keep == old {
            return;
        }
        let (from, to, end) = (slots_at(old), slots_at(keep), self.slots_end());
        self.buf.copy_within(from..end, to);
        write_u16(&mut self.buf, PREFIX_LEN_AT, keep as u16);
        self.recompute_heads();
    }

    fn recompute_heads(&mut self) {
        let prefix_len = self.prefix_len();
        let skip = usize::from(!self.is_leaf());
        let header = self.cell_header();
        for index in skip..self.len() {
            let (_, at, key_len) = self.slot(index);
            let key = &self.buf[at + header..at + header + key_len];
            let head = head(key, prefix_len);
            let slot = self.slots() + index * SLOT_SIZE;
            write_u32(&mut self.buf, slot + SLOT_HEAD_AT, head);
        }
    }

    /// Packs the live cells against the end of the page (no garbage left).
    fn defragment(&mut self) {
        let copy = self.buf.clone();
        let view = PageView::dirty(&copy);
        let mut end = self.buf.len();
        for index in 0..self.len() {
            let (head, at, key_len) = view.slot(index);
            let size = self.cell_size_in(&copy, at, key_len);
            end -= size;
            self.buf[end..end + size].copy_from_slice(&copy[at..at + size]);
            self.write_slot(index, head, end, key_len);
        }
        self.set_cells_from(end);
        self.set_garbage(0);
    }

    /// Size of the cell at `at` of `bytes` (this page, or a copy of it) with a `key_len`-byte key.
    fn cell_size_in(&self, bytes: &[u8], at: usize, key_len: usize) -> usize {
        if self.is_leaf() {
            let word = read_u16(bytes, at);
            let stored = if word & VALUE_OVERFLOW_BIT != 0 {
                OVERFLOW_REF_SIZE
            } else {
                word as usize
            };
            LEAF_CELL_HEADER + key_len + stored
        } else {
            BRANCH_CELL_HEADER + key_len
        }
    }

    /// Builds a page in `buf` from `entries` (in key order; for a branch the first key is not
    /// stored). The entries must fit (`Σ size <= usable`); the prefix is the longest common one
    /// that also fits.
    pub(crate) fn build(buf: Vec<u8>, leaf: bool, entries: &[Entry<'_>]) -> PageBuf {
        let mut page = PageBuf::new(buf, leaf);
        let keyed = if leaf {
            entries
        } else {
            entries.get(1..).unwrap_or(&[])
        };
        let total: usize = entries
            .iter()
            .enumerate()
            .map(|(i, e)| e.size(!leaf && i == 0))
            .sum();
        assert!(
            total <= usable(page.page_size()),
            "{total} bytes of entries do not fit a page"
        );
        let spare = usable(page.page_size()) - total;
        let prefix_len = match (keyed.first(), keyed.last()) {
            (Some(first), Some(last)) => common_prefix(first.key, last.key)
                .min(PREFIX_MAX)
                .min(spare / 8 * 8),
            _ => 0,
        };
        if prefix_len > 0 {
            let prefix = &keyed[0].key[..prefix_len];
            page.buf[TREE_HEADER_SIZE..TREE_HEADER_SIZE + prefix_len].copy_from_slice(prefix);
            write_u16(&mut page.buf, PREFIX_LEN_AT, prefix_len as u16);
        }
        for (index, entry) in entries.iter().enumerate() {
            let inserted = page.insert(index, *entry);
            assert!(inserted, "a built page holds what was counted");
        }
        page
    }

    /// Makes the prefix the longest the keys share (up to `PREFIX_MAX`) that the free space
    /// allows: for pages built by appending (bulk loading), whose prefix starts empty.
    pub(crate) fn tighten_prefix(&mut self) {
        let skip = usize::from(!self.is_leaf());
        if self.len() <= skip || self.prefix_len() != 0 {
            return;
        }
        let view = self.view();
        let (Ok(first), Ok(last)) = (view.key(skip), view.key(self.len() - 1)) else {
            return;
        };
        let free = self.cells_from() - self.slots_end();
        let prefix_len = common_prefix(first, last).min(PREFIX_MAX).min(free / 8 * 8);
        if prefix_len == 0 {
            return;
        }
        let prefix: Vec<u8> = first[..prefix_len].to_vec();
        let (from, to, end) = (slots_at(0), slots_at(prefix_len), self.slots_end());
        self.buf.copy_within(from..end, to);
        self.buf[TREE_HEADER_SIZE..TREE_HEADER_SIZE + prefix_len].copy_from_slice(&prefix);
        write_u16(&mut self.buf, PREFIX_LEN_AT, prefix_len as u16);
        self.recompute_heads();
    }

    /// The entries of the page, borrowing its bytes (for a rebuild).
    pub(crate) fn entries(&self) -> Vec<Entry<'_>> {
        let view = self.view();
        (0..self.len())
            .map(|index| {
                if view.is_leaf() {
                    let (key, value) = view.entry(index).expect("a checked dirty page");
                    Entry {
                        key,
                        payload: Payload::Value(value),
                    }
                } else {
                    Entry {
                        key: view.key(index).expect("a checked dirty page"),
                        payload: Payload::Child(view.child(index).expect("a checked dirty page")),
                    }
                }
            })
            .collect()
    }

    /// Seals the page as page `page_id` of transaction `txn` and hands out its bytes. Every
    /// child must be a page by now.
    pub(crate) fn seal(mut self, page_id: u64, txn: u64) -> Vec<u8> {
        debug_assert!(
            self.is_leaf()
                || (0..self.len())
                    .all(|i| matches!(self.view().child(i), Ok(Child::Page(id)) if id >= 2)),
            "sealing a branch with a dirty child"
        );
        debug_assert_eq!(self.view().validate().ok(), Some(self.used));
        self.buf[FLAGS_AT] = 0;
        write_u64(&mut self.buf, PAGE_ID_AT, page_id);
        write_u64(&mut self.buf, TXN_AT, txn);
        // Free space is zeroed: no stale bytes of other pages reach the file.
        let (slots_end, cells_from) = (self.slots_end(), self.cells_from());
        self.buf[slots_end..cells_from].fill(0);
        seal(&mut self.buf);
        self.buf
    }

    /// Gives back the buffer (for reuse).
    pub(crate) fn into_buffer(self) -> Vec<u8> {
        self.buf
    }
}
