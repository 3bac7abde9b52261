//! A branch or leaf page as the engine would parse it after its checksum passed: every cell is
//! read, its keys searched for, the page validated and, if valid, edited in place as a write
//! would. Errors are fine; a panic, a hang or a big allocation is a bug.
#![no_main]
use libfuzzer_sys::fuzz_target;

const PAGE: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut page = [0u8; PAGE];
    let n = data.len().min(PAGE);
    page[..n].copy_from_slice(&data[..n]);
    let _ = mmtree::testing::decode_tree_page(&page);
});
