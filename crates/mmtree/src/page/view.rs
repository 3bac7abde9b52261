//! Reading branch and leaf pages, straight from the mapping or from a write transaction's dirty
//! buffer (the same layout). Every offset and length read from a page is checked before use:
//! the file is untrusted input. The checks are branches on values already in registers; the
//! errors are built out of line (`#[cold]`), so a search loop stays small.

use super::*;
use crate::error::{Error, Result};
use std::cmp::Ordering;

/// A value as stored in a leaf.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueRef<'a> {
    Inline(&'a [u8]),
    Overflow { page: u64, len: u64 },
}

impl ValueRef<'_> {
    /// Bytes the value takes inside a leaf cell.
    pub(crate) fn stored_len(&self) -> usize {
        match self {
            ValueRef::Inline(bytes) => bytes.len(),
            ValueRef::Overflow { .. } => OVERFLOW_REF_SIZE,
        }
    }
}

/// A child of a branch: a page, or (in a write transaction's dirty branch only) a dirty node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Child {
    Page(u64),
    Dirty(u32),
}

/// A checksum-verified branch or leaf page, or a dirty page buffer.
#[derive(Clone, Copy)]
pub(crate) struct PageView<'a> {
    bytes: &'a [u8],
    id: u64,
    leaf: bool,
    /// A write transaction's own buffer: children may be dirty nodes.
    dirty: bool,
    count: usize,
    prefix_len: usize,
    slots: usize,
}

/// Where a search key lies relative to a page's prefix.
enum Position {
    /// Before every key of the page.
    Below,
    /// After every key of the page.
    Above,
    /// It starts with the prefix; its head.
    Within(u32),
}

/// `a.cmp(b)`, byte by byte in line for short slices (a prefix, a key's rest after its head:
/// usually under 16 bytes), where a call to `memcmp` costs more than the comparison.
#[inline(always)]
fn short_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    if n > 16 {
        return a.cmp(b);
    }
    for (x, y) in a[..n].iter().zip(&b[..n]) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

#[cold]
#[inline(never)]
fn corrupted(id: u64, message: String) -> Error {
    Error::corrupted(id, message)
}

impl<'a> PageView<'a> {
    /// Checks the header of an already checksum-verified page.
    #[inline]
    pub(crate) fn parse(bytes: &'a [u8], id: u64) -> Result<Self> {
        Self::parse_as(bytes, id, false)
    }

    /// A view of a write transaction's dirty buffer (built by `page::edit`, checked when it was
    /// copied from the file).
    #[inline]
    pub(crate) fn dirty(bytes: &'a [u8]) -> Self {
        let count = read_u16(bytes, COUNT_AT) as usize;
        let prefix_len = read_u16(bytes, PREFIX_LEN_AT) as usize;
        let view = PageView {
            bytes,
            id: 0,
            leaf: bytes[KIND_AT] == KIND_LEAF,
            dirty: true,
            count,
            prefix_len,
            slots: slots_at(prefix_len),
        };
        debug_assert!(Self::parse_as(bytes, 0, true).is_ok());
        view
    }

    #[inline]
    fn parse_as(bytes: &'a [u8], id: u64, dirty: bool) -> Result<Self> {
        let leaf = match bytes[KIND_AT] {
            KIND_LEAF => true,
            KIND_BRANCH => false,
            other => {
                return Err(corrupted(
                    id,
                    format!("expected a tree page, found page kind {other}"),
                ))
            }
        };
        let count = read_u16(bytes, COUNT_AT) as usize;
        let prefix_len = read_u16(bytes, PREFIX_LEN_AT) as usize;
        let slots = slots_at(prefix_len);
        if prefix_len > PREFIX_MAX || slots + count * SLOT_SIZE > bytes.len() {
            return Err(corrupted(
                id,
                format!("{count} slots and a {prefix_len}-byte prefix do not fit in the page"),
            ));
        }
        if !leaf && count == 0 {
            return Err(corrupted(id, "branch page without children".into()));
        }
        Ok(PageView {
            bytes,
            id,
            leaf,
            dirty,
            count,
            prefix_len,
            slots,
        })
    }

    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    #[inline]
    pub(crate) fn is_leaf(&self) -> bool {
        self.leaf
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.count
    }

    pub(crate) fn txn(&self) -> u64 {
        read_u64(self.bytes, TXN_AT)
    }

    #[inline]
    pub(crate) fn prefix(&self) -> &'a [u8] {
        let bytes: &'a [u8] = self.bytes;
        &bytes[TREE_HEADER_SIZE..TREE_HEADER_SIZE + self.prefix_len]
    }

    /// Where the slot array ends.
    pub(crate) fn slots_end(&self) -> usize {
        self.slots + self.count * SLOT_SIZE
    }

    /// Slot `index`: (head, cell offset, key length). `index < len()`.
    #[inline(always)]
    pub(crate) fn slot(&self, index: usize) -> (u32, usize, usize) {
        debug_assert!(index < self.count);
        let at = self.slots + index * SLOT_SIZE;
        let slot: [u8; SLOT_SIZE] = self.bytes[at..at + SLOT_SIZE].try_into().expect("8 bytes");
        (
            u32::from_le_bytes([slot[0], slot[1], slot[2], slot[3]]),
            u16::from_le_bytes([slot[4], slot[5]]) as usize,
            u16::from_le_bytes([slot[6], slot[7]]) as usize,
        )
    }

    fn cell_header(&self) -> usize {
        if self.leaf {
            LEAF_CELL_HEADER
        } else {
            BRANCH_CELL_HEADER
        }
    }

    /// The key of slot `index` whose cell is at `at`, checked against the page's bounds.
    #[inline(always)]
    fn key_at(&self, index: usize, at: usize, key_len: usize) -> Result<&'a [u8]> {
        let bytes: &'a [u8] = self.bytes;
        let start = at + self.cell_header();
        match bytes.get(start..start + key_len) {
            Some(key) if at >= self.slots_end() => Ok(key),
            _ => Err(self.bad_cell(index, at)),
        }
    }

    #[cold]
    #[inline(never)]
    fn bad_cell(&self, index: usize, at: usize) -> Error {
        corrupted(
            self.id,
            format!("cell {index} offset {at} is out of bounds"),
        )
    }

    #[inline]
    pub(crate) fn key(&self, index: usize) -> Result<&'a [u8]> {
        let (_, at, key_len) = self.slot(index);
        self.key_at(index, at, key_len)
    }

    /// Key and value of leaf entry `index`, reading the cell once.
    #[inline]
    pub(crate) fn entry(&self, index: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        debug_assert!(self.leaf);
        let (_, at, key_len) = self.slot(index);
        let key = self.key_at(index, at, key_len)?;
        Ok((key, self.value_at(index, at, key_len)?))
    }

    #[inline]
    fn value_at(&self, index: usize, at: usize, key_len: usize) -> Result<ValueRef<'a>> {
        let bytes: &'a [u8] = self.bytes;
        let word = read_u16(bytes, at);
        let start = at + LEAF_CELL_HEADER + key_len;
        if word & VALUE_OVERFLOW_BIT == 0 {
            let len = word as usize;
            return match bytes.get(start..start + len) {
                Some(value) => Ok(ValueRef::Inline(value)),
                None => Err(corrupted(
                    self.id,
                    format!("the value of cell {index} runs past the end of the page"),
                )),
            };
        }
        match bytes.get(start..start + OVERFLOW_REF_SIZE) {
            Some(reference) if word == VALUE_OVERFLOW_BIT | OVERFLOW_REF_SIZE as u16 => {
                let (page, len) = (
                    read_u64(reference, OVERFLOW_REF_FIRST_AT),
                    read_u64(reference, OVERFLOW_REF_LEN_AT),
                );
                if page < 2 || len > crate::limits::VALUE_SIZE_MAX {
                    return Err(corrupted(
                        self.id,
                        format!("cell {index} has an invalid overflow reference"),
                    ));
                }
                Ok(ValueRef::Overflow { page, len })
            }
            _ => Err(corrupted(
                self.id,
                format!("cell {index} has an invalid value word {word:#x}"),
            )),
        }
    }

    /// A hint that entry `index` will be read soon: its cell's first two cache lines are asked
    /// for (nothing happens for an index past the end or a cell out of bounds).
    #[inline(always)]
    pub(crate) fn prefetch_entry(&self, index: usize) {
        if index < self.count {
            let (_, at, _) = self.slot(index);
            if let Some(cell) = self.bytes.get(at..) {
                crate::storage::prefetch_line(cell);
                if let Some(next) = cell.get(64..) {
                    crate::storage::prefetch_line(next);
                }
            }
        }
    }

    /// Value of leaf entry `index`.
    #[inline]
    pub(crate) fn value(&self, index: usize) -> Result<ValueRef<'a>> {
        self.entry(index).map(|(_, value)| value)
    }

    /// Child `index` of a branch. A page of the file never names a dirty node.
    #[inline]
    pub(crate) fn child(&self, index: usize) -> Result<Child> {
        debug_assert!(!self.leaf);
        let (_, at, _) = self.slot(index);
        let word = match self.bytes.get(at..at + 8) {
            Some(word) if at >= self.slots_end() => {
                u64::from_le_bytes(word.try_into().expect("8 bytes"))
            }
            _ => return Err(self.bad_cell(index, at)),
        };
        if word & DIRTY_CHILD_BIT == 0 {
            Ok(Child::Page(word))
        } else if self.dirty {
            Ok(Child::Dirty((word & !DIRTY_CHILD_BIT) as u32))
        } else {
            Err(corrupted(
                self.id,
                format!("child {index} is not a page id"),
            ))
        }
    }

    /// Where `key` lies relative to the page's prefix.
    #[inline(always)]
    fn position(&self, key: &[u8]) -> Position {
        let prefix = self.prefix();
        match key.get(..prefix.len()) {
            Some(start) if short_cmp(start, prefix).is_eq() => {
                Position::Within(head(key, prefix.len()))
            }
            _ => {
                if short_cmp(key, prefix).is_lt() {
                    Position::Below
                } else {
                    Position::Above
                }
            }
        }
    }

    /// Compares the key of slot `index` with `key` (which starts with the prefix and has head
    /// `key_head`): by heads, then by length when either rest fits in its head, else by the
    /// bytes after the heads (the only case that reads the cell).
    #[inline(always)]
    fn compare(&self, index: usize, key: &[u8], key_head: u32) -> Result<Ordering> {
        let (slot_head, at, key_len) = self.slot(index);
        if slot_head != key_head {
            return Ok(slot_head.cmp(&key_head));
        }
        let after_head = self.prefix_len + HEAD_BYTES;
        if key_len.min(key.len()) <= after_head {
            return Ok(key_len.cmp(&key.len()));
        }
        let stored = self.key_at(index, at, key_len)?;
        Ok(short_cmp(&stored[after_head..], &key[after_head..]))
    }

    /// `Ok(i)` if `key` is at index i of this leaf, else `Err(i)` where it would be inserted.
    #[inline]
    pub(crate) fn leaf_search(&self, key: &[u8]) -> Result<std::result::Result<usize, usize>> {
        let key_head = match self.position(key) {
            Position::Below => return Ok(Err(0)),
            Position::Above => return Ok(Err(self.count)),
            Position::Within(head) => head,
        };
        let (mut low, mut high) = (0usize, self.count);
        while low < high {
            let mid = (low + high) / 2;
            match self.compare(mid, key, key_head)? {
                Ordering::Less => low = mid + 1,
                Ordering::Greater => high = mid,
                Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(low))
    }

    /// Index of the child of this branch whose subtree may hold `key`: the last i >= 1 whose
    /// key is <= `key`, else 0 (slot 0's key is minus infinity).
    #[inline]
    pub(crate) fn child_index(&self, key: &[u8]) -> Result<usize> {
        let key_head = match self.position(key) {
            Position::Below => return Ok(0),
            Position::Above => return Ok(self.count - 1),
            Position::Within(head) => head,
        };
        let (mut low, mut high) = (1usize, self.count);
        while low < high {
            let mid = (low + high) / 2;
            if self.compare(mid, key, key_head)? != Ordering::Greater {
                low = mid + 1;
            } else {
                high = mid;
            }
        }
        Ok(low - 1)
    }

    /// Checks the whole page: every slot's cell inside the page and past the slots, every key
    /// within the key size limit, starting with the prefix, with the right head, in strictly
    /// increasing order, every entry within the size a writer accepts, every value word valid,
    /// and the live cells no larger than the space they claim (no overlap by accounting).
    /// Returns the bytes the entries use (slots + cells). Run on every page a write copies
    /// (the editing code relies on it) and by `check`.
    pub(crate) fn validate(&self) -> Result<usize> {
        let page_size = self.bytes.len();
        let cells_from = read_u16(self.bytes, CELLS_AT) as usize;
        if cells_from < self.slots_end() || cells_from > page_size {
            return Err(corrupted(
                self.id,
                format!("the cell area starts at {cells_from}, inside the slots or past the page"),
            ));
        }
        let key_max = crate::limits::key_size_max(page_size);
        let entry_max = entry_size_max(page_size);
        let mut cells = 0usize;
        let mut previous: Option<&[u8]> = None;
        for index in 0..self.count {
            let (slot_head, at, key_len) = self.slot(index);
            if at < cells_from || key_len > key_max {
                return Err(corrupted(
                    self.id,
                    format!("cell {index} (offset {at}, key of {key_len} bytes) is invalid"),
                ));
            }
            let key = self.key_at(index, at, key_len)?;
            let size = if self.leaf {
                let value = self.value_at(index, at, key_len)?;
                leaf_entry_size(key_len, value.stored_len())
            } else {
                self.child(index)?;
                branch_entry_size(key_len)
            };
            if size > entry_max.max(branch_entry_size(key_max)) {
                return Err(corrupted(
                    self.id,
                    format!("entry {index} is larger than any entry a writer makes"),
                ));
            }
            cells += size - SLOT_SIZE;
            if !self.leaf && index == 0 {
                if key_len != 0 || slot_head != 0 {
                    return Err(corrupted(
                        self.id,
                        "a branch's first key is not empty".into(),
                    ));
                }
                continue;
            }
            if !key.starts_with(self.prefix()) || slot_head != head(key, self.prefix_len) {
                return Err(corrupted(
                    self.id,
                    format!("key {index} does not match the page's prefix or its head"),
                ));
            }
            if previous.is_some_and(|p| key <= p) {
                return Err(corrupted(
                    self.id,
                    format!("keys out of order at index {index}"),
                ));
            }
            previous = Some(key);
        }
        if cells > page_size - cells_from {
            return Err(corrupted(
                self.id,
                "cells overlap (entries larger than the page)".into(),
            ));
        }
        Ok(self.count * SLOT_SIZE + cells)
    }
}

#[cfg(test)]
mod tests {
    use super::short_cmp;

    #[test]
    fn short_cmp_orders_as_slices_do() {
        let samples: Vec<Vec<u8>> = (0..40usize)
            .map(|i| (0..i % 20).map(|j| ((i * 7 + j * 3) % 4) as u8).collect())
            .chain([vec![0u8; 17], vec![0u8; 18], vec![1u8; 17], Vec::new()])
            .collect();
        for a in &samples {
            for b in &samples {
                assert_eq!(short_cmp(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }
}
