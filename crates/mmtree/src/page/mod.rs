//! On-disk page formats: explicit little-endian encode/decode, no struct casting.
//!
//! Every page other than the two meta pages starts with the same 24-byte header:
//!
//! ```text
//! 0        4     5      6        8                16               24
//! +--------+-----+------+--------+----------------+----------------+
//! | crc32c | kind| flags| count  | page id (u64)  | txn id (u64)   |
//! +--------+-----+------+--------+----------------+----------------+
//! ```
//!
//! The checksum covers every byte of the page after the checksum field (for an overflow run: the
//! header and the value bytes). The page id catches misdirected writes; the txn id is the
//! transaction that wrote the page.

pub(crate) mod encode;
pub(crate) mod meta;
pub(crate) mod view;

pub(crate) const CHECKSUM_AT: usize = 0;
pub(crate) const KIND_AT: usize = CHECKSUM_AT + 4;
pub(crate) const FLAGS_AT: usize = KIND_AT + 1;
pub(crate) const COUNT_AT: usize = FLAGS_AT + 1;
pub(crate) const PAGE_ID_AT: usize = COUNT_AT + 2;
pub(crate) const TXN_AT: usize = PAGE_ID_AT + 8;
/// Size of the common page header.
pub(crate) const HEADER_SIZE: usize = TXN_AT + 8;
const _: () = assert!(HEADER_SIZE == 24);

/// An overflow run's header is the common header plus the value length.
pub(crate) const OVERFLOW_LEN_AT: usize = HEADER_SIZE;
pub(crate) const OVERFLOW_HEADER_SIZE: usize = OVERFLOW_LEN_AT + 8;

/// Size of one slot (the `u16` offset of a cell) in the slot array after the header.
pub(crate) const SLOT_SIZE: usize = 2;
/// Leaf cell: flags u8, key length u16, stored value length u32, then key and value bytes
/// (offsets from the cell's start).
pub(crate) const LEAF_FLAGS_AT: usize = 0;
pub(crate) const LEAF_KEY_LEN_AT: usize = LEAF_FLAGS_AT + 1;
pub(crate) const LEAF_STORED_LEN_AT: usize = LEAF_KEY_LEN_AT + 2;
pub(crate) const LEAF_CELL_HEADER: usize = LEAF_STORED_LEN_AT + 4;
const _: () = assert!(LEAF_CELL_HEADER == 7);
/// Branch cell: key length u16, child page id u64, then key bytes.
pub(crate) const BRANCH_KEY_LEN_AT: usize = 0;
pub(crate) const BRANCH_CHILD_AT: usize = BRANCH_KEY_LEN_AT + 2;
pub(crate) const BRANCH_CELL_HEADER: usize = BRANCH_CHILD_AT + 8;
const _: () = assert!(BRANCH_CELL_HEADER == 10);
/// An overflow reference stored in a leaf cell: first page id u64, value length u64.
pub(crate) const OVERFLOW_REF_FIRST_AT: usize = 0;
pub(crate) const OVERFLOW_REF_LEN_AT: usize = OVERFLOW_REF_FIRST_AT + 8;
pub(crate) const OVERFLOW_REF_SIZE: usize = OVERFLOW_REF_LEN_AT + 8;
const _: () = assert!(OVERFLOW_REF_SIZE == 16);
/// Leaf cell flag: the value lives in an overflow run.
pub(crate) const CELL_FLAG_OVERFLOW: u8 = 1;

/// Page kinds (the `kind` byte).
pub(crate) const KIND_BRANCH: u8 = 1;
pub(crate) const KIND_LEAF: u8 = 2;
pub(crate) const KIND_OVERFLOW: u8 = 3;

/// The checksum of a page's bytes after the checksum field.
pub(crate) fn checksum(bytes_after_checksum: &[u8]) -> u32 {
    crc32c::crc32c(bytes_after_checksum)
}

pub(crate) fn read_u16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([bytes[at], bytes[at + 1]])
}

pub(crate) fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

pub(crate) fn read_u64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

pub(crate) fn write_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

pub(crate) fn write_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// Writes the common header (checksum left zero; see [`seal`]).
pub(crate) fn write_header(page: &mut [u8], kind: u8, count: u16, page_id: u64, txn: u64) {
    page[KIND_AT] = kind;
    page[FLAGS_AT] = 0;
    write_u16(page, COUNT_AT, count);
    write_u64(page, PAGE_ID_AT, page_id);
    write_u64(page, TXN_AT, txn);
}

/// Computes and stores the checksum of `bytes` (a page, or an overflow run's used bytes).
pub(crate) fn seal(bytes: &mut [u8]) {
    let sum = checksum(&bytes[CHECKSUM_AT + 4..]);
    write_u32(bytes, CHECKSUM_AT, sum);
}

/// Number of pages an overflow run of a `len`-byte value occupies.
pub(crate) fn overflow_pages(len: u64, page_size: usize) -> u64 {
    (OVERFLOW_HEADER_SIZE as u64 + len).div_ceil(page_size as u64)
}

/// Bytes a leaf entry costs in a page (slot + cell), given the stored value length.
pub(crate) fn leaf_entry_size(key_len: usize, stored_value_len: usize) -> usize {
    SLOT_SIZE + LEAF_CELL_HEADER + key_len + stored_value_len
}

/// Bytes a branch entry costs in a page (slot + cell).
pub(crate) fn branch_entry_size(key_len: usize) -> usize {
    SLOT_SIZE + BRANCH_CELL_HEADER + key_len
}

/// Bytes available for entries in a page.
pub(crate) fn usable(page_size: usize) -> usize {
    page_size - HEADER_SIZE
}

/// Largest entry kept inline: half the usable space, so any two entries fit in one page and a
/// split always produces pages that fit. Larger values go to an overflow run.
pub(crate) fn entry_size_max(page_size: usize) -> usize {
    usable(page_size) / 2
}
