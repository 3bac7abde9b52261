//! Meta page decoding: valid or not, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mmtree::testing::decode_meta_page(data);
    // Also as a whole 4 KiB page (the length the engine reads), zero-padded.
    let mut page = vec![0u8; 4096];
    let n = data.len().min(page.len());
    page[..n].copy_from_slice(&data[..n]);
    let _ = mmtree::testing::decode_meta_page(&page);
});
