//! `mmtree load`'s TSV, CSV and JSON Lines record parsers, in every encoding.
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports, unused_macros)]
#[path = "../../crates/mmtree-cli/src/common.rs"]
mod common;
#[allow(dead_code)]
#[path = "../../crates/mmtree-cli/src/records.rs"]
mod records;

use common::Encoding;

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let encoding = match data[0] % 3 {
        0 => Encoding::Text,
        1 => Encoding::Hex,
        _ => Encoding::Base64,
    };
    let header = data[0] & 4 != 0;
    let input = data[1..].to_vec();
    let parsers: [Box<records::Records>; 3] = [
        records::tsv(std::io::Cursor::new(input.clone()), encoding),
        records::csv(std::io::Cursor::new(input.clone()), header, encoding),
        records::jsonl(std::io::Cursor::new(input), encoding),
    ];
    for records in parsers {
        for (line, record) in records {
            assert!(line >= 1);
            if let Ok(records::Record {
                entry: Some((key, value)),
                ..
            }) = record
            {
                // Decoded bytes can never be longer than the input they came from.
                assert!(key.len() + value.len() <= data.len());
            }
        }
    }
});
