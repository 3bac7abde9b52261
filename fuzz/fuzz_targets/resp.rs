//! The RESP request parser of `mmtree serve`, fed as the server feeds it: the input arrives in
//! chunks, each parse resumes the previous partial state, a consumed command is dropped from the
//! front. Checks: no panic, a command never claims more bytes than the buffer holds, and parsing
//! the same bytes in one piece or in chunks gives the same commands.
#![no_main]
use libfuzzer_sys::fuzz_target;

use mmtree_server::resp::{parse, Limits, Parsed, Partial};

/// Commands parsed from `input` delivered in pieces of `chunk` bytes (0: all at once); stops at
/// the first protocol error (the server closes the connection there).
fn run(input: &[u8], chunk: usize, limits: &Limits) -> (Vec<Vec<Vec<u8>>>, bool) {
    let mut buf: Vec<u8> = Vec::new();
    let mut partial = Partial::default();
    let mut commands = Vec::new();
    let mut fed = 0;
    loop {
        let step = if chunk == 0 { input.len() } else { chunk };
        let more = (input.len() - fed).min(step);
        buf.extend_from_slice(&input[fed..fed + more]);
        fed += more;
        loop {
            match parse(&buf, limits, &mut partial) {
                Parsed::Incomplete => break,
                Parsed::Command(args, used) => {
                    assert!(
                        used > 0 && used <= buf.len(),
                        "used {used} of {}",
                        buf.len()
                    );
                    buf.drain(..used);
                    partial = Partial::default();
                    commands.push(args);
                }
                Parsed::Error(_) => return (commands, true),
            }
        }
        if fed == input.len() {
            return (commands, false);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // The first byte picks the chunk size and small limits (so the limit paths are reachable).
    let chunk = (data[0] % 8) as usize;
    let limits = Limits {
        max_bulk: 64,
        max_args: 16,
        max_inline: 128,
        unauthenticated: data[0] & 0x80 != 0,
    };
    let input = &data[1..];
    let whole = run(input, 0, &limits);
    let pieces = run(input, chunk, &limits);
    if !whole.1 && !pieces.1 {
        assert_eq!(whole.0, pieces.0, "chunked parsing disagrees");
    }
    // And with the server's default limits (huge declared lengths must not allocate).
    let _ = run(input, chunk, &Limits::default());
});
