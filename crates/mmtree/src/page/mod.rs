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
//!
//! A branch or leaf page (format 3) continues with its tree header, the page's key prefix, the
//! slot array and, packed from the end of the page towards the slots, the cells:
//!
//! ```text
//! 24          26          28        30     32                 32+P8
//! +-----------+-----------+---------+------+------------------+-----------------------+-- free --+-- cells --+
//! | prefix len| cells from| garbage | 0    | prefix (P bytes, | count slots of 8 bytes|          |           |
//! | P (u16)   | (u16)     | (u16)   |      | padded to P8)    | in key order          |          |           |
//! +-----------+-----------+---------+------+------------------+-----------------------+----------+-----------+
//! slot: head u32 | cell offset u16 | key length u16
//! leaf cell:   value word u16 (bit 15: the value is a 16-byte overflow reference; else its length) | key | value
//! branch cell: child page id u64 | key            (slot 0's key is empty: minus infinity)
//! ```
//!
//! Keys are stored whole (reads hand out slices of the mapping). Every key of the page (a
//! branch: every key but slot 0's) starts with the page's P-byte prefix, and a slot's *head* is
//! the next four key bytes after it, big-endian, zero-padded: heads order like keys, so a search
//! compares integers in the dense slot array and reads a cell only to break a tie (see
//! [`view::PageView::leaf_search`]).

pub(crate) mod edit;
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

/// The tree header after the common header: prefix length, where the cells begin, bytes of
/// dead cells, and a reserved word.
pub(crate) const PREFIX_LEN_AT: usize = HEADER_SIZE;
pub(crate) const CELLS_AT: usize = PREFIX_LEN_AT + 2;
pub(crate) const GARBAGE_AT: usize = CELLS_AT + 2;
pub(crate) const TREE_HEADER_SIZE: usize = GARBAGE_AT + 4;
const _: () = assert!(TREE_HEADER_SIZE == 32);
/// Longest key prefix a page stores (a longer common prefix is only partly used for heads).
pub(crate) const PREFIX_MAX: usize = 64;

/// Size of one slot: head u32, cell offset u16, key length u16.
pub(crate) const SLOT_SIZE: usize = 8;
pub(crate) const SLOT_HEAD_AT: usize = 0;
pub(crate) const SLOT_CELL_AT: usize = 4;
pub(crate) const SLOT_KEY_LEN_AT: usize = 6;
/// Bytes of a key a head holds.
pub(crate) const HEAD_BYTES: usize = 4;

/// Leaf cell: the value word, then the key and the stored value.
pub(crate) const LEAF_CELL_HEADER: usize = 2;
/// Bit of the value word saying the value lives in an overflow run (the cell then holds an
/// overflow reference).
pub(crate) const VALUE_OVERFLOW_BIT: u16 = 0x8000;
/// Branch cell: the child page id, then the key.
pub(crate) const BRANCH_CELL_HEADER: usize = 8;
/// A dirty (in-memory) branch marks a child that is a dirty node, not a page, with this bit
/// (the child word then holds the node's arena id). Never written to the file.
pub(crate) const DIRTY_CHILD_BIT: u64 = 1 << 63;
/// An overflow reference stored in a leaf cell: first page id u64, value length u64.
pub(crate) const OVERFLOW_REF_FIRST_AT: usize = 0;
pub(crate) const OVERFLOW_REF_LEN_AT: usize = OVERFLOW_REF_FIRST_AT + 8;
pub(crate) const OVERFLOW_REF_SIZE: usize = OVERFLOW_REF_LEN_AT + 8;
const _: () = assert!(OVERFLOW_REF_SIZE == 16);

/// Where the slot array of a page with a `prefix_len`-byte prefix begins.
#[inline]
pub(crate) const fn slots_at(prefix_len: usize) -> usize {
    TREE_HEADER_SIZE + prefix_len.next_multiple_of(8)
}

/// The head of `key` after a `prefix_len`-byte prefix: the next four bytes, big-endian,
/// zero-padded. Keys that differ in their heads compare as their heads do.
#[inline]
pub(crate) fn head(key: &[u8], prefix_len: usize) -> u32 {
    let rest = key.get(prefix_len..).unwrap_or(&[]);
    if rest.len() >= HEAD_BYTES {
        u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]])
    } else {
        let mut bytes = [0u8; HEAD_BYTES];
        bytes[..rest.len()].copy_from_slice(rest);
        u32::from_be_bytes(bytes)
    }
}

/// Length of the common prefix of `a` and `b`.
#[inline]
pub(crate) fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

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

/// Bytes available for entries in a page without a prefix (what splits and merges count with:
/// a page's prefix only ever takes space its entries leave free).
pub(crate) fn usable(page_size: usize) -> usize {
    page_size - TREE_HEADER_SIZE
}

/// Largest entry kept inline: half the usable space, so any two entries fit in one page and a
/// split always produces pages that fit. Larger values go to an overflow run.
pub(crate) fn entry_size_max(page_size: usize) -> usize {
    usable(page_size) / 2
}
