//! Reading branch and leaf pages straight from the mapping. Every offset and length read from the
//! page is checked before use: the file is untrusted input.

use super::*;
use crate::error::{Error, Result};

/// A value as stored in a leaf.
#[derive(Clone, Copy, Debug)]
pub(crate) enum ValueRef<'a> {
    Inline(&'a [u8]),
    Overflow { page: u64, len: u64 },
}

/// A checksum-verified branch or leaf page.
#[derive(Clone, Copy)]
pub(crate) struct PageView<'a> {
    bytes: &'a [u8],
    id: u64,
    leaf: bool,
    count: usize,
}

impl<'a> PageView<'a> {
    /// Checks the header of an already checksum-verified page.
    #[inline]
    pub(crate) fn parse(bytes: &'a [u8], id: u64) -> Result<Self> {
        let kind = bytes[KIND_AT];
        let leaf = match kind {
            KIND_LEAF => true,
            KIND_BRANCH => false,
            other => {
                return Err(Error::corrupted(
                    id,
                    format!("expected a tree page, found page kind {other}"),
                ))
            }
        };
        let count = read_u16(bytes, COUNT_AT) as usize;
        if HEADER_SIZE + count * SLOT_SIZE > bytes.len() {
            return Err(Error::corrupted(
                id,
                format!("{count} slots do not fit in the page"),
            ));
        }
        if !leaf && count == 0 {
            return Err(Error::corrupted(id, "branch page without children"));
        }
        Ok(PageView {
            bytes,
            id,
            leaf,
            count,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn page_size(&self) -> usize {
        self.bytes.len()
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
    fn cell(&self, index: usize, header: usize) -> Result<usize> {
        debug_assert!(index < self.count);
        let at = read_u16(self.bytes, HEADER_SIZE + index * SLOT_SIZE) as usize;
        if at < HEADER_SIZE + self.count * SLOT_SIZE || at + header > self.bytes.len() {
            return Err(Error::corrupted(
                self.id,
                format!("cell {index} offset {at} is out of bounds"),
            ));
        }
        Ok(at)
    }

    #[inline]
    fn slice(&self, at: usize, len: usize, what: &str) -> Result<&'a [u8]> {
        let bytes: &'a [u8] = self.bytes;
        bytes.get(at..at.saturating_add(len)).ok_or_else(|| {
            Error::corrupted(self.id, format!("{what} runs past the end of the page"))
        })
    }

    #[inline]
    pub(crate) fn key(&self, index: usize) -> Result<&'a [u8]> {
        if self.leaf {
            let at = self.cell(index, LEAF_CELL_HEADER)?;
            let key_len = self.key_len(index, at + LEAF_KEY_LEN_AT)?;
            self.slice(at + LEAF_CELL_HEADER, key_len, "key")
        } else {
            let at = self.cell(index, BRANCH_CELL_HEADER)?;
            let key_len = self.key_len(index, at + BRANCH_KEY_LEN_AT)?;
            self.slice(at + BRANCH_CELL_HEADER, key_len, "separator")
        }
    }

    /// A cell's key length, checked against the longest key a writer accepts: a longer one
    /// cannot come from mmtree, and an entry larger than half a page would make splits loop.
    #[inline]
    fn key_len(&self, index: usize, at: usize) -> Result<usize> {
        let key_len = read_u16(self.bytes, at) as usize;
        if key_len > crate::limits::key_size_max(self.bytes.len()) {
            return Err(Error::corrupted(
                self.id,
                format!("cell {index} has a {key_len}-byte key, longer than any key allowed"),
            ));
        }
        Ok(key_len)
    }

    /// Key and value of leaf entry `index`, decoding the cell once.
    #[inline]
    pub(crate) fn entry(&self, index: usize) -> Result<(&'a [u8], ValueRef<'a>)> {
        debug_assert!(self.leaf);
        let at = self.cell(index, LEAF_CELL_HEADER)?;
        let flags = self.bytes[at + LEAF_FLAGS_AT];
        let key_len = self.key_len(index, at + LEAF_KEY_LEN_AT)?;
        let stored = read_u32(self.bytes, at + LEAF_STORED_LEN_AT) as usize;
        let key = self.slice(at + LEAF_CELL_HEADER, key_len, "key")?;
        let value = self.slice(at + LEAF_CELL_HEADER + key_len, stored, "value")?;
        match flags {
            0 => Ok((key, ValueRef::Inline(value))),
            CELL_FLAG_OVERFLOW if stored == OVERFLOW_REF_SIZE => {
                Ok((key, self.overflow_ref(index, value)?))
            }
            _ => Err(Error::corrupted(
                self.id,
                format!("cell {index} has invalid flags {flags}"),
            )),
        }
    }

    /// Value of leaf entry `index` (the same decoding as [`entry`](Self::entry)).
    #[inline]
    pub(crate) fn value(&self, index: usize) -> Result<ValueRef<'a>> {
        self.entry(index).map(|(_, value)| value)
    }

    /// An overflow reference, checked: first page past the meta pages, length within limits
    /// (the run's end is checked against the page count by whoever follows or frees it).
    #[inline]
    fn overflow_ref(&self, index: usize, cell: &[u8]) -> Result<ValueRef<'a>> {
        let (page, len) = (
            read_u64(cell, OVERFLOW_REF_FIRST_AT),
            read_u64(cell, OVERFLOW_REF_LEN_AT),
        );
        if page < 2 || len > crate::limits::VALUE_SIZE_MAX {
            return Err(Error::corrupted(
                self.id,
                format!("cell {index} has an invalid overflow reference"),
            ));
        }
        Ok(ValueRef::Overflow { page, len })
    }

    #[inline]
    pub(crate) fn child(&self, index: usize) -> Result<u64> {
        debug_assert!(!self.leaf);
        let at = self.cell(index, BRANCH_CELL_HEADER)?;
        Ok(read_u64(self.bytes, at + BRANCH_CHILD_AT))
    }
}
