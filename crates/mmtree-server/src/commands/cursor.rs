//! SCAN-family cursors that carry their position, so a scan goes on after other clients' scans
//! and after a restart, and the server keeps nothing per scan — in a 64-bit number, as Redis'
//! cursors are (redis-cli and typed clients read them as unsigned 64-bit integers).
//!
//! A cursor names where the next page *starts* (inclusive): a key (or field) of up to 7 bytes
//! exactly, or the first 7 bytes of a longer one. Its number is those bytes, big-endian and
//! zero-padded to 7, shifted left by 8, plus their length (0 to 7). "0" is the empty position:
//! the start of a scan, and, as a reply, its end. A page never ends inside a run of keys that
//! share the 7 bytes it would resume at (`scan::page_rows` takes the whole run), so resuming at
//! a prefix returns nothing twice and always moves on.

/// Longest position a cursor holds.
pub const POSITION_MAX: usize = 7;

/// The cursor that starts at `position` (at most `POSITION_MAX` bytes).
pub fn encode(position: &[u8]) -> String {
    assert!(
        position.len() <= POSITION_MAX,
        "a cursor position is at most 7 bytes"
    );
    let mut bytes = [0u8; 8];
    bytes[..position.len()].copy_from_slice(position);
    let number = u64::from_be_bytes(bytes) | position.len() as u64;
    number.to_string()
}

/// The position a cursor starts at (empty: from the start), or `Err(())` for text that is no
/// cursor of ours (not a 64-bit decimal number, or one `encode` cannot have made).
pub fn decode(cursor: &[u8]) -> Result<Vec<u8>, ()> {
    if cursor.is_empty() || cursor.len() > 20 || !cursor.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let text = std::str::from_utf8(cursor).map_err(|_| ())?;
    let number: u64 = text.parse().map_err(|_| ())?;
    let bytes = number.to_be_bytes();
    let len = usize::from(bytes[7]);
    if len > POSITION_MAX || bytes[len..7].iter().any(|&b| b != 0) {
        return Err(());
    }
    Ok(bytes[..len].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_64_bit_cursors() {
        for position in [
            &b""[..],
            b"\0",
            b"\0\0a",
            b"key:1",
            b"1234567",
            b"\xff\xff\xff\xff\xff\xff\xff",
        ] {
            let cursor = encode(position);
            assert!(cursor.parse::<u64>().is_ok(), "{cursor}");
            assert_eq!(decode(cursor.as_bytes()), Ok(position.to_vec()));
        }
        assert_eq!(encode(b""), "0");
        assert_eq!(encode(b"a"), ((97u64 << 56) | 1).to_string());
        // "a" and "a\0" are different positions.
        assert_ne!(encode(b"a"), encode(b"a\0"));
    }

    #[test]
    fn zero_starts_and_other_text_is_refused() {
        assert_eq!(decode(b"0"), Ok(Vec::new()));
        assert_eq!(decode(b"000"), Ok(Vec::new()));
        for bad in [
            &b""[..],
            b"-1",
            b"12x",
            b" 1",
            b"+5",
            b"8",                    // a length of 8
            b"257",                  // length 1, but a byte past it
            b"18446744073709551616", // 2^64
        ] {
            assert_eq!(decode(bad), Err(()), "{bad:?}");
        }
    }
}
