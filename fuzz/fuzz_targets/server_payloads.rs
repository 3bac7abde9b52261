//! The decoders of `mmtree serve` that read bytes a client chose: RESTORE's payload, a
//! HyperLogLog's registers (PFCOUNT and PFMERGE read any string a client SET), and a script's
//! `cmsgpack.unpack`. The first byte picks the decoder. Checks: no panic, no unbounded
//! allocation (libFuzzer's -rss_limit_mb), and a payload that decodes serializes back to bytes
//! that decode and serialize the same.
#![no_main]
use libfuzzer_sys::fuzz_target;

use mmtree_server::decoders;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    match pick % 3 {
        0 => {
            if let Ok(value) = decoders::restore_payload(input) {
                let again = decoders::dump_payload(&value);
                let back = decoders::restore_payload(&again).expect("a serialized value decodes");
                assert_eq!(decoders::dump_payload(&back), again, "serialize is stable");
            }
        }
        1 => {
            if let Ok(regs) = decoders::hll_registers(input) {
                let _ = decoders::hll_count(&regs);
            }
        }
        _ => {
            let _ = decoders::msgpack_unpack(input);
        }
    }
});
