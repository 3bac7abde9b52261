//! The read-only shared mapping: the one module with `unsafe` (three blocks: two for the
//! mapping, one for a cache prefetch hint).
//!
//! # Why our use of `mmap` is sound
//!
//! A `&[u8]` into a file mapping is sound only while nobody else writes those bytes and while the
//! file covers them (touching a page past end-of-file raises SIGBUS). mmtree keeps both promises:
//!
//! 1. The mapping is `PROT_READ` + `MAP_SHARED`. mmtree never writes through it: writes go through
//!    `pwrite` from private buffers, so a stray pointer cannot corrupt the file.
//! 2. Pages are copy-on-write: a page reachable from a live snapshot is never rewritten. Pages are
//!    reused only once no live snapshot can reach them (see `alloc`). So bytes a snapshot borrows
//!    do not change while the borrow lives.
//! 3. All changes of the file's size go through `Storage::ensure_len` and `Storage::truncate_to`.
//!    The file is grown (and its blocks reserved with `fallocate`) before any page beyond the old
//!    end is handed out, and it is shrunk only below pages that no meta page and no live snapshot
//!    references. Every slice is bounds-checked against the current file length before it is made.
//! 4. What we cannot prevent is another program truncating or writing the file behind our back;
//!    like every mmap-based store we document that assumption (docs/ARCHITECTURE.md).

use memmap2::{MmapOptions, MmapRaw};
use std::fs::File;

/// One reserved address range over the data file. Its length may exceed the file's: the file
/// grows underneath it without a remap.
pub(crate) struct Mapping {
    raw: MmapRaw,
}

impl Mapping {
    /// Maps `reserve` bytes of `file` read-only; if the address space is short, asks for less, but
    /// never less than `min_len`.
    ///
    /// `read_ahead` false advises random access (`MADV_RANDOM`): a page fault then reads just
    /// that page instead of the ~128 KiB around it, which under memory pressure would evict hot
    /// pages for neighbours nobody asked for. Range scans prefetch explicitly (`will_need`).
    pub(crate) fn reserve(
        file: &File,
        reserve: u64,
        min_len: u64,
        read_ahead: bool,
    ) -> std::io::Result<Mapping> {
        let mut len = reserve.max(min_len).max(1);
        loop {
            match MmapOptions::new().len(len as usize).map_raw_read_only(file) {
                Ok(raw) => {
                    if !read_ahead {
                        // Advice only: if the kernel refuses, reads are still correct.
                        let _ = raw.advise(memmap2::Advice::Random);
                    }
                    return Ok(Mapping { raw });
                }
                Err(error) if len / 2 >= min_len.max(1 << 20) => {
                    let _ = error;
                    len /= 2;
                }
                Err(error) => return Err(error),
            }
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.raw.len() as u64
    }

    /// Borrows `len` bytes at `offset`.
    ///
    /// The caller (`Storage::bytes`) has checked that the range lies inside the mapping and inside
    /// the file as it is now, and borrows it for no longer than a snapshot that can reach it lives.
    pub(crate) fn slice(&self, offset: u64, len: usize) -> &[u8] {
        assert!(offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.len()));
        // SAFETY: the range is inside the mapping (asserted above) and inside the file (checked by
        // the caller), so every byte is readable without SIGBUS. The mapping is read-only and the
        // pages are never rewritten while a snapshot that can reach them is alive (copy-on-write
        // and the reuse rule in `alloc`), and the returned borrow is tied to `&self`, which the
        // snapshot keeps alive through an `Arc<Mapping>`.
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(offset as usize), len) }
    }

    /// Asks the kernel to start reading `len` bytes at `offset` into the page cache
    /// (`MADV_WILLNEED`, asynchronous). Advice only: errors are ignored.
    pub(crate) fn will_need(&self, offset: u64, len: u64) {
        if offset.checked_add(len).is_some_and(|end| end <= self.len()) {
            let _ = self
                .raw
                .advise_range(memmap2::Advice::WillNeed, offset as usize, len as usize);
        }
    }

    /// Page-cache residency of the first `len` bytes, via `mincore`: (resident bytes, bytes).
    pub(crate) fn residency(&self, len: u64) -> std::io::Result<(u64, u64)> {
        let len = len.min(self.len()) as usize;
        let os_page = rustix::param::page_size();
        let mut vec = vec![0u8; len.div_ceil(os_page)];
        if len == 0 {
            return Ok((0, 0));
        }
        // SAFETY: the range [ptr, ptr + len) lies inside our own mapping (clamped above) and `vec`
        // has one byte per OS page of it, as mincore requires. mincore only writes `vec`.
        let rc = unsafe { libc::mincore(self.raw.as_mut_ptr().cast(), len, vec.as_mut_ptr()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let resident = vec.iter().filter(|&&b| b & 1 == 1).count() as u64 * os_page as u64;
        Ok((resident.min(len as u64), len as u64))
    }
}

/// Page-cache residency of the first `len` bytes of any file (like `fincore`): resident bytes.
pub fn file_residency(file: &File, len: u64) -> std::io::Result<u64> {
    if len == 0 {
        return Ok(0);
    }
    let map = Mapping::reserve(file, len, len, true)?;
    Ok(map.residency(len)?.0)
}

/// A hint that the cache line holding `bytes[0]` will be read soon (a scan reads the next cells
/// ahead of itself so their cache misses overlap). Reads nothing; a no-op off x86-64.
#[inline(always)]
pub(crate) fn prefetch_line(bytes: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is only a hint to the cache: it does not dereference the pointer in
    // the language's sense (it cannot fault and its result is never observed), and the pointer
    // comes from a live slice anyway. SSE, the only target feature it needs, is part of the
    // x86-64 baseline.
    #[allow(unsafe_code)]
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            bytes.as_ptr().cast::<i8>(),
        )
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = bytes;
}
