//! Redo-log record decoding (header, checksum, ops): an error or a count, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let salt = data
        .get(8..16)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap()));
    let _ = mmtree::testing::decode_log_record(data, salt);
});
