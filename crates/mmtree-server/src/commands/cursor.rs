//! SCAN-family cursors that carry their position: the last key (or field) a page returned,
//! as a decimal number, so a scan goes on after other clients' scans and after a restart, and
//! the server keeps nothing per scan.
//!
//! The number is the big-endian integer of the bytes `0x01 position…` (the leading 1 keeps the
//! position's leading zero bytes), written in decimal as Redis' cursors are. A position of up to
//! 7 bytes gives a cursor below 2^64; a longer one a longer number (clients that read a cursor
//! as a 64-bit integer, as some typed clients do, cannot carry those; redis-cli, redis-py and
//! Redis' test suite take it as it is). "0" starts and ends a scan.

/// Decimal digits of the longest cursor accepted (a position of 64 KiB: beyond any key or
/// field the engine stores), checked before any arithmetic.
const DIGITS_MAX: usize = 160_000;

/// The cursor that resumes after `position`.
pub fn encode(position: &[u8]) -> String {
    // Base 256 → base 10^9, by repeated division of the big-endian bytes.
    let mut number: Vec<u8> = Vec::with_capacity(position.len() + 1);
    number.push(1);
    number.extend_from_slice(position);
    let mut chunks: Vec<u32> = Vec::new();
    while !number.is_empty() {
        let mut remainder: u64 = 0;
        let mut quotient = Vec::with_capacity(number.len());
        for &byte in &number {
            let value = remainder << 8 | u64::from(byte);
            let digit = value / 1_000_000_000;
            remainder = value % 1_000_000_000;
            if !(quotient.is_empty() && digit == 0) {
                quotient.push(digit as u8);
            }
        }
        chunks.push(remainder as u32);
        number = quotient;
    }
    let mut text = chunks.last().map_or_else(String::new, u32::to_string);
    for chunk in chunks.iter().rev().skip(1) {
        text.push_str(&format!("{chunk:09}"));
    }
    text
}

/// The position a cursor resumes after: `Ok(None)` for "0" (a new scan), `Err(())` for text
/// that is no cursor of ours (not a decimal number, or one `encode` cannot have made).
pub fn decode(cursor: &[u8]) -> Result<Option<Vec<u8>>, ()> {
    if cursor.is_empty() || cursor.len() > DIGITS_MAX || !cursor.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    // Base 10 → base 256 (little-endian bytes), nine digits at a time.
    let mut bytes: Vec<u8> = Vec::new();
    let head = cursor.len() % 9;
    let mut chunks: Vec<&[u8]> = Vec::new();
    if head > 0 {
        chunks.push(&cursor[..head]);
    }
    chunks.extend(cursor[head..].chunks(9));
    for chunk in chunks {
        let mut carry: u64 = chunk.iter().fold(0, |n, &d| n * 10 + u64::from(d - b'0'));
        let scale = 10u64.pow(chunk.len() as u32);
        for byte in bytes.iter_mut() {
            let value = u64::from(*byte) * scale + carry;
            *byte = value as u8;
            carry = value >> 8;
        }
        while carry > 0 {
            bytes.push(carry as u8);
            carry >>= 8;
        }
    }
    while bytes.last() == Some(&0) {
        bytes.pop();
    }
    if bytes.is_empty() {
        return Ok(None);
    }
    bytes.reverse();
    match bytes.split_first() {
        Some((1, position)) => Ok(Some(position.to_vec())),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_decimal_cursors() {
        let long: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
        for position in [
            &b""[..],
            b"\0",
            b"\0\0a",
            b"key:1",
            b"1234567",
            b"12345678",
            b"\xff\xff\xff\xff\xff\xff\xff\xff\xff",
            &long,
        ] {
            let cursor = encode(position);
            assert!(cursor.bytes().all(|b| b.is_ascii_digit()), "{cursor}");
            assert_ne!(cursor, "0");
            assert_eq!(decode(cursor.as_bytes()), Ok(Some(position.to_vec())));
        }
        // Short positions fit a u64, as Redis' cursors do.
        assert!(encode(b"abcdefg").parse::<u64>().is_ok());
        assert_eq!(encode(b""), "1");
        assert_eq!(encode(b"a"), (256 + 97).to_string());
    }

    #[test]
    fn zero_starts_and_other_text_is_refused() {
        assert_eq!(decode(b"0"), Ok(None));
        assert_eq!(decode(b"000"), Ok(None));
        for bad in [&b""[..], b"-1", b"12x", b" 1", b"2", b"767", b"+5"] {
            assert_eq!(decode(bad), Err(()), "{bad:?}");
        }
        assert_eq!(decode(&vec![b'9'; DIGITS_MAX + 1]), Err(()));
    }
}
