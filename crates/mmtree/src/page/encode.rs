//! Writing branch and leaf pages, cell by cell.
//!
//! A branch or leaf page: header, then `count` u16 slots (cell offsets, in key order), free space,
//! then the cells packed from the end of the page towards the slots. The tree layer decides what
//! goes in a page (`btree::codec`); this module only lays the bytes out.

use super::view::ValueRef;
use super::*;

/// Writes the slot-page builder: header first, then cells from the end, then `finish`.
pub(crate) struct PageWriter<'a> {
    page: &'a mut [u8],
    count: usize,
    written: usize,
    end: usize,
}

impl<'a> PageWriter<'a> {
    /// Starts a page of `count` cells (zero-fills it and writes the header).
    pub(crate) fn new(
        page: &'a mut [u8],
        leaf: bool,
        count: usize,
        page_id: u64,
        txn: u64,
    ) -> Self {
        assert!(
            count <= u16::MAX as usize,
            "{count} cells do not fit a slot count"
        );
        let kind = if leaf { KIND_LEAF } else { KIND_BRANCH };
        page.fill(0);
        write_header(page, kind, count as u16, page_id, txn);
        let end = page.len();
        PageWriter {
            page,
            count,
            written: 0,
            end,
        }
    }

    fn cell(&mut self, size: usize) -> usize {
        assert!(self.written < self.count, "more cells than the header says");
        let slots_end = HEADER_SIZE + self.count * SLOT_SIZE;
        assert!(
            self.end >= slots_end + size,
            "cells overflow the page: {size} bytes do not fit"
        );
        self.end -= size;
        write_u16(
            self.page,
            HEADER_SIZE + self.written * SLOT_SIZE,
            self.end as u16,
        );
        self.written += 1;
        self.end
    }

    /// The next leaf cell, in key order.
    pub(crate) fn leaf(&mut self, key: &[u8], value: ValueRef<'_>) {
        let stored = match value {
            ValueRef::Inline(bytes) => bytes.len(),
            ValueRef::Overflow { .. } => OVERFLOW_REF_SIZE,
        };
        let at = self.cell(LEAF_CELL_HEADER + key.len() + stored);
        let page = &mut *self.page;
        page[at + LEAF_FLAGS_AT] = match value {
            ValueRef::Inline(_) => 0,
            ValueRef::Overflow { .. } => CELL_FLAG_OVERFLOW,
        };
        write_u16(page, at + LEAF_KEY_LEN_AT, key.len() as u16);
        write_u32(page, at + LEAF_STORED_LEN_AT, stored as u32);
        let key_at = at + LEAF_CELL_HEADER;
        page[key_at..key_at + key.len()].copy_from_slice(key);
        let value_at = key_at + key.len();
        match value {
            ValueRef::Inline(bytes) => {
                page[value_at..value_at + bytes.len()].copy_from_slice(bytes)
            }
            ValueRef::Overflow { page: first, len } => {
                write_u64(page, value_at + OVERFLOW_REF_FIRST_AT, first);
                write_u64(page, value_at + OVERFLOW_REF_LEN_AT, len);
            }
        }
    }

    /// The next branch cell, in key order (cell 0's key is empty: minus infinity).
    pub(crate) fn branch(&mut self, key: &[u8], child: u64) {
        assert!(child >= 2, "a branch cannot point at meta page {child}");
        let at = self.cell(BRANCH_CELL_HEADER + key.len());
        let page = &mut *self.page;
        write_u16(page, at + BRANCH_KEY_LEN_AT, key.len() as u16);
        write_u64(page, at + BRANCH_CHILD_AT, child);
        page[at + BRANCH_CELL_HEADER..at + BRANCH_CELL_HEADER + key.len()].copy_from_slice(key);
    }

    /// Seals the page (checksum) once every cell is written.
    pub(crate) fn finish(self) {
        assert_eq!(self.written, self.count, "fewer cells than the header says");
        seal(self.page);
    }
}
