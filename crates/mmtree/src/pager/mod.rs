//! Pages of the file as the engine reads them: the page format checked on the bytes the storage
//! layer hands out. A branch or leaf page names itself in its header and is checksum-verified the
//! first time this process reads it (a table remembers `page -> txn id`, so a reused page id is
//! verified again); an overflow run is checked against the page count before it is touched;
//! copies for bounded snapshots are read with `pread` and always verified.
//!
//! Below: `storage` (bytes, no format) and `page` (the format, no files).

mod verified;

use crate::error::{Error, Result};
use crate::page::{self, overflow_pages, read_u64, OVERFLOW_HEADER_SIZE, OVERFLOW_LEN_AT};
use crate::storage::{Mapping, Storage};
use verified::Verified;

/// How often a page read through the mapping recomputes its checksum.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// The first time this process reads the page as written by that txn id.
    Once,
    /// Every time (the integrity check).
    Always,
}

/// The verified-page table and the checks every page read goes through.
pub(crate) struct Pager {
    verified: Verified,
    verify_checksums: bool,
    page_size: usize,
}

impl Pager {
    pub(crate) fn new(page_size: usize, verify_checksums: bool) -> Pager {
        Pager {
            verified: Verified::new(),
            verify_checksums,
            page_size,
        }
    }

    /// Records that page `id` as written by `txn` is known good (this process wrote it).
    /// Page `id` of a state with `page_count` pages, checked, verified and parsed: the one way
    /// a branch or leaf page is read through the mapping.
    #[inline]
    pub(crate) fn tree_page<'m>(
        &self,
        storage: &Storage,
        map: &'m Mapping,
        id: u64,
        page_count: u64,
    ) -> Result<crate::page::view::PageView<'m>> {
        check_page_id(id, page_count)?;
        crate::page::view::PageView::parse(self.page(storage, map, id, Verify::Once)?, id)
    }

    pub(crate) fn mark_verified(&self, id: u64, txn: u64) {
        self.verified.mark(id, txn);
    }

    /// A checksum-verified branch or leaf page: verified once per page and txn id
    /// (`Verify::Once`), or every time (`Verify::Always`, for `check`).
    #[inline]
    pub(crate) fn page<'m>(
        &self,
        storage: &Storage,
        map: &'m Mapping,
        id: u64,
        verify: Verify,
    ) -> Result<&'m [u8]> {
        let bytes = storage.bytes(map, id * self.page_size as u64, self.page_size, id)?;
        self.verify(bytes, id, bytes, verify == Verify::Always)?;
        Ok(bytes)
    }

    /// A checksum-verified overflow value of `len` bytes starting at page `first`.
    pub(crate) fn overflow<'m>(
        &self,
        storage: &Storage,
        map: &'m Mapping,
        first: u64,
        len: u64,
        page_count: u64,
        verify: Verify,
    ) -> Result<&'m [u8]> {
        let (offset, used) = self.overflow_run(first, len, page_count)?;
        let run = storage.bytes(map, offset, used, first)?;
        self.check_overflow(run, first, len, verify == Verify::Always)?;
        Ok(&run[OVERFLOW_HEADER_SIZE..])
    }

    /// Where an overflow value's run lies, checked against the page count: (byte offset, bytes
    /// used including the header).
    fn overflow_run(&self, first: u64, len: u64, page_count: u64) -> Result<(u64, usize)> {
        overflow_run_pages(first, len, self.page_size, page_count)?;
        Ok((
            first * self.page_size as u64,
            OVERFLOW_HEADER_SIZE + len as usize,
        ))
    }

    fn check_overflow(&self, run: &[u8], first: u64, len: u64, always: bool) -> Result<()> {
        if run[page::KIND_AT] != page::KIND_OVERFLOW {
            return Err(Error::corrupted(first, "expected an overflow page"));
        }
        if read_u64(run, OVERFLOW_LEN_AT) != len {
            return Err(Error::corrupted(
                first,
                "overflow length differs from the leaf's reference",
            ));
        }
        self.verify(run, first, run, always)
    }

    /// A copy of page `id`, read with `pread` (not through the mapping) and checksum-verified:
    /// for snapshots whose pages may be reused under them (see `txn::bounded`).
    pub(crate) fn page_copy(&self, storage: &Storage, id: u64) -> Result<Vec<u8>> {
        let mut page = vec![0u8; self.page_size];
        storage.read_exact(id * self.page_size as u64, &mut page, id)?;
        self.verify(&page, id, &page, true)?;
        Ok(page)
    }

    /// A copy of an overflow value, read with `pread` and checksum-verified.
    pub(crate) fn overflow_copy(
        &self,
        storage: &Storage,
        first: u64,
        len: u64,
        page_count: u64,
    ) -> Result<Vec<u8>> {
        let (offset, used) = self.overflow_run(first, len, page_count)?;
        let mut run = vec![0u8; used];
        storage.read_exact(offset, &mut run, first)?;
        self.check_overflow(&run, first, len, true)?;
        run.drain(..OVERFLOW_HEADER_SIZE);
        Ok(run)
    }

    #[inline]
    fn verify(&self, header: &[u8], id: u64, covered: &[u8], always: bool) -> Result<()> {
        let txn = read_u64(header, page::TXN_AT);
        if read_u64(header, page::PAGE_ID_AT) != id {
            return Err(Error::corrupted(
                id,
                "page header names another page (misdirected write?)",
            ));
        }
        if !always && (!self.verify_checksums || self.verified.is_verified(id, txn)) {
            return Ok(());
        }
        let stored = page::read_u32(covered, page::CHECKSUM_AT);
        if page::checksum(&covered[page::CHECKSUM_AT + 4..]) != stored {
            return Err(Error::corrupted(id, "checksum mismatch"));
        }
        self.verified.mark(id, txn);
        Ok(())
    }
}

/// A page id a tree may name: past the meta pages, below the page count.
#[inline]
pub(crate) fn check_page_id(id: u64, page_count: u64) -> Result<()> {
    if id < 2 || id >= page_count {
        return Err(Error::corrupted(
            id,
            format!("page id out of range (page count {page_count})"),
        ));
    }
    Ok(())
}

/// The pages an overflow run of `len` bytes starting at `first` covers, checked against the
/// page count and the value size limit: the one check before a run is read or freed.
pub(crate) fn overflow_run_pages(
    first: u64,
    len: u64,
    page_size: usize,
    page_count: u64,
) -> Result<std::ops::Range<u64>> {
    if len > crate::limits::VALUE_SIZE_MAX {
        return Err(Error::corrupted(
            first,
            format!("overflow value length {len} is impossible"),
        ));
    }
    let pages = overflow_pages(len, page_size);
    match first.checked_add(pages) {
        Some(end) if first >= 2 && end <= page_count => Ok(first..end),
        _ => Err(Error::corrupted(
            first,
            "overflow run lies outside the database",
        )),
    }
}
