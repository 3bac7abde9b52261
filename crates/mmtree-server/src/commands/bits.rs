//! Bitmap reads: BITCOUNT, BITPOS, BITFIELD_RO, and the bit arithmetic BITFIELD and BITOP share
//! (`commands/write/bits.rs`). Strings are the client's bytes; bit 0 is the most significant bit
//! of byte 0, as in Redis.

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;

const SYNTAX: &str = "ERR syntax error";

/// A range's unit: BYTE (the default) or BIT.
fn unit(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"BIT") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"BYTE") {
        Some(false)
    } else {
        None
    }
}

/// The bit interval [first, last] of `start`/`end` (Redis' negative indexes, clamped) over a
/// string of `len` bytes, in bits or bytes (`bits`); None when it is empty.
fn bit_interval(len: u64, start: i64, end: i64, bits: bool) -> Option<(u64, u64)> {
    let total = if bits { len as i128 * 8 } else { len as i128 };
    let fix = |i: i64| {
        let i = i as i128;
        if i < 0 {
            (total + i).max(0)
        } else {
            i
        }
    };
    let (s, e) = (fix(start), fix(end).min(total - 1));
    if total == 0 || s > e {
        return None;
    }
    Some(if bits {
        (s as u64, e as u64)
    } else {
        (s as u64 * 8, e as u64 * 8 + 7)
    })
}

/// The number of set bits between bit `first` and bit `last` (inclusive) of `data`.
fn count_bits(data: &[u8], first: u64, last: u64) -> u64 {
    let (fb, lb) = ((first / 8) as usize, (last / 8) as usize);
    let mut n: u64 = data[fb..=lb]
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum();
    // Bits of the first byte before `first` and of the last byte after `last`.
    let head = data[fb] & !(0xffu8 >> (first % 8));
    let tail = data[lb] & 0xffu8.checked_shr((last % 8 + 1) as u32).unwrap_or(0);
    n -= u64::from(head.count_ones()) + u64::from(tail.count_ones());
    n
}

/// BITCOUNT key [start end [BYTE|BIT]].
pub fn bitcount(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let data = match ks.string(&a[0]) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(Reply::Int(0)),
        Err(f) => return reply(Err(f)),
    };
    let (first, last) = match a.len() {
        1 if data.is_empty() => return Ok(Reply::Int(0)),
        1 => (0, data.len() as u64 * 8 - 1),
        3 | 4 => {
            let (Some(start), Some(end)) = (parse_i64(&a[1]), parse_i64(&a[2])) else {
                return Ok(error(NOT_INTEGER));
            };
            // Redis 7.0.15 answers an inverted pair of negative indexes before the unit.
            if start < 0 && end < 0 && start > end {
                return Ok(Reply::Int(0));
            }
            let bits = match a.get(3) {
                None => false,
                Some(u) => match unit(u) {
                    Some(b) => b,
                    None => return Ok(error(SYNTAX)),
                },
            };
            match bit_interval(data.len() as u64, start, end, bits) {
                Some(range) => range,
                None => return Ok(Reply::Int(0)),
            }
        }
        _ => return Ok(error(SYNTAX)),
    };
    Ok(Reply::Int(count_bits(&data, first, last) as i64))
}

/// BITPOS key bit [start [end [BYTE|BIT]]].
pub fn bitpos(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let bit = match parse_i64(&a[1]) {
        Some(b @ (0 | 1)) => b == 1,
        Some(_) => return Ok(error("ERR The bit argument must be 1 or 0.")),
        None => return Ok(error(NOT_INTEGER)),
    };
    let data = match ks.string(&a[0]) {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(Reply::Int(if bit { -1 } else { 0 })),
        Err(f) => return reply(Err(f)),
    };
    let len = data.len() as u64;
    if a.len() > 5 {
        return Ok(error(SYNTAX));
    }
    let mut end_given = false;
    let interval = if a.len() == 2 {
        bit_interval(len, 0, -1, false)
    } else {
        let Some(start) = parse_i64(&a[2]) else {
            return Ok(error(NOT_INTEGER));
        };
        let bits = match a.get(4) {
            None => false,
            Some(u) => match unit(u) {
                Some(b) => b,
                None => return Ok(error(SYNTAX)),
            },
        };
        let end = match a.get(3) {
            Some(e) => match parse_i64(e) {
                Some(e) => {
                    end_given = true;
                    e
                }
                None => return Ok(error(NOT_INTEGER)),
            },
            None => -1,
        };
        bit_interval(len, start, end, bits)
    };
    let Some((first, last)) = interval else {
        return Ok(Reply::Int(-1));
    };
    // Whole bytes without the bit sought are stepped over at once.
    let skip = if bit { 0x00 } else { 0xff };
    let mut found = None;
    let mut i = first;
    while i <= last {
        let byte = data[(i / 8) as usize];
        if i % 8 == 0 && i + 7 <= last && byte == skip {
            i += 8;
            continue;
        }
        if (byte & (0x80 >> (i % 8)) != 0) == bit {
            found = Some(i);
            break;
        }
        i += 1;
    }
    Ok(Reply::Int(match found {
        Some(i) => i as i64,
        // Looking for a 0 past the whole string: the zero padding after it.
        None if !bit && !end_given => len as i64 * 8,
        None => -1,
    }))
}

/// BITFIELD's OVERFLOW behaviour.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One BITFIELD operation.
#[derive(Clone, Copy, Debug)]
pub enum FieldOp {
    Get,
    Set(i64),
    Incr(i64),
}

/// A parsed BITFIELD operation: what, at which bit, how wide, signed or not, on overflow.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    pub op: FieldOp,
    pub offset: u64,
    pub bits: u32,
    pub signed: bool,
    pub overflow: Overflow,
}

/// Parses BITFIELD's operations (`a` after the key); `read_only` refuses SET and INCRBY as
/// BITFIELD_RO does. The error is the command's reply.
pub fn parse_fields(a: &[Vec<u8>], read_only: bool) -> Result<Vec<Field>, Reply> {
    let mut out = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut i = 0;
    while i < a.len() {
        let word = a[i].to_ascii_uppercase();
        let need = match word.as_slice() {
            b"GET" => 2,
            b"SET" | b"INCRBY" => 3,
            b"OVERFLOW" => 1,
            _ => return Err(error(SYNTAX)),
        };
        if i + need >= a.len() {
            return Err(error(SYNTAX));
        }
        if word == b"OVERFLOW" {
            overflow = match a[i + 1].to_ascii_uppercase().as_slice() {
                b"WRAP" => Overflow::Wrap,
                b"SAT" => Overflow::Sat,
                b"FAIL" => Overflow::Fail,
                _ => return Err(error("ERR Invalid OVERFLOW type specified")),
            };
            i += 2;
            continue;
        }
        let (signed, bits) = field_type(&a[i + 1]).ok_or_else(|| {
            error("ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.")
        })?;
        let offset = field_offset(&a[i + 2], bits)
            .ok_or_else(|| error("ERR bit offset is not an integer or out of range"))?;
        let op = match word.as_slice() {
            b"GET" => FieldOp::Get,
            _ => {
                if read_only {
                    return Err(error("ERR BITFIELD_RO only supports the GET subcommand"));
                }
                let v = parse_i64(&a[i + 3]).ok_or_else(|| error(NOT_INTEGER))?;
                if word == b"SET" {
                    FieldOp::Set(v)
                } else {
                    FieldOp::Incr(v)
                }
            }
        };
        out.push(Field {
            op,
            offset,
            bits,
            signed,
            overflow,
        });
        i += need + 1;
    }
    Ok(out)
}

/// `i1`..`i64`, `u1`..`u63`.
fn field_type(arg: &[u8]) -> Option<(bool, u32)> {
    let (signed, rest) = match arg.first()? {
        b'i' | b'I' => (true, &arg[1..]),
        b'u' | b'U' => (false, &arg[1..]),
        _ => return None,
    };
    let bits: u32 = std::str::from_utf8(rest).ok()?.parse().ok()?;
    let max = if signed { 64 } else { 63 };
    (1..=max).contains(&bits).then_some((signed, bits))
}

/// An offset: a bit number, or `#n` (the n-th field of this width); at most 512 MiB of string.
fn field_offset(arg: &[u8], bits: u32) -> Option<u64> {
    let (by_field, digits) = match arg {
        [b'#', rest @ ..] if !rest.is_empty() => (true, rest),
        _ => (false, arg),
    };
    let n = parse_i64(digits)?;
    let n = if by_field {
        n.checked_mul(i64::from(bits))?
    } else {
        n
    };
    (n >= 0 && (n >> 3) < crate::store::MAX_STRING as i64).then_some(n as u64)
}

/// The unsigned value of `bits` bits at bit `offset` (bits past the string read as 0).
pub fn get_unsigned(data: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for i in 0..u64::from(bits) {
        let at = offset + i;
        let byte = data.get((at / 8) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from(byte >> (7 - at % 8) & 1);
    }
    v
}

/// The signed (two's complement) value of `bits` bits at bit `offset`.
pub fn get_signed(data: &[u8], offset: u64, bits: u32) -> i64 {
    let u = get_unsigned(data, offset, bits);
    if bits == 64 {
        return u as i64;
    }
    if u & (1 << (bits - 1)) != 0 {
        (u | (u64::MAX << bits)) as i64
    } else {
        u as i64
    }
}

/// Writes the low `bits` bits of `value` at bit `offset` (the string long enough).
pub fn set_bits(data: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = value >> (u64::from(bits) - 1 - i) & 1;
        let at = offset + i;
        let (byte, mask) = ((at / 8) as usize, 0x80u8 >> (at % 8));
        if bit == 1 {
            data[byte] |= mask;
        } else {
            data[byte] &= !mask;
        }
    }
}

/// Redis' `checkUnsignedBitfieldOverflow`: 0 if `value + incr` fits, else ±1 and the value
/// the overflow behaviour makes of it (WRAP: modulo 2^bits; SAT: the bound).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (i32, u64) {
    let max = if bits == 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    };
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & !(u64::MAX.checked_shl(bits).unwrap_or(0));
    if value > max || (incr > 0 && incr > max_incr) {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if incr < 0 && incr < min_incr {
        (-1, if ow == Overflow::Wrap { wrap() } else { 0 })
    } else {
        (0, 0)
    }
}

/// Redis' `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (i32, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = max.wrapping_sub(value);
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            let msb = 1u64 << (bits - 1);
            (if c & msb != 0 { c | mask } else { c & !mask }) as i64
        } else {
            c as i64
        }
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        (1, if ow == Overflow::Wrap { wrap() } else { max })
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        (-1, if ow == Overflow::Wrap { wrap() } else { min })
    } else {
        (0, 0)
    }
}

/// Runs BITFIELD's operations over `data` (grown by the caller to cover every write), as Redis
/// does: a reply per operation (nil for a FAIL overflow); true if a bit changed.
pub fn run_fields(data: &mut [u8], fields: &[Field]) -> (Vec<Reply>, bool) {
    let mut replies = Vec::with_capacity(fields.len());
    let mut changed = false;
    for f in fields {
        let (offset, bits) = (f.offset, f.bits);
        let (new, ret, overflow): (u64, i64, bool) = match (f.op, f.signed) {
            (FieldOp::Get, true) => {
                replies.push(Reply::Int(get_signed(data, offset, bits)));
                continue;
            }
            (FieldOp::Get, false) => {
                replies.push(Reply::Int(get_unsigned(data, offset, bits) as i64));
                continue;
            }
            (FieldOp::Set(v), true) => {
                let old = get_signed(data, offset, bits);
                let (o, wrapped) = signed_overflow(v, 0, bits, f.overflow);
                let new = if o != 0 { wrapped } else { v };
                (new as u64, old, o != 0)
            }
            (FieldOp::Incr(by), true) => {
                let old = get_signed(data, offset, bits);
                let (o, wrapped) = signed_overflow(old, by, bits, f.overflow);
                let new = if o != 0 {
                    wrapped
                } else {
                    old.wrapping_add(by)
                };
                (new as u64, new, o != 0)
            }
            (FieldOp::Set(v), false) => {
                let old = get_unsigned(data, offset, bits);
                let (o, wrapped) = unsigned_overflow(v as u64, 0, bits, f.overflow);
                let new = if o != 0 { wrapped } else { v as u64 };
                (new, old as i64, o != 0)
            }
            (FieldOp::Incr(by), false) => {
                let old = get_unsigned(data, offset, bits);
                let (o, wrapped) = unsigned_overflow(old, by, bits, f.overflow);
                let new = if o != 0 {
                    wrapped
                } else {
                    old.wrapping_add(by as u64)
                };
                (new, new as i64, o != 0)
            }
        };
        if overflow && f.overflow == Overflow::Fail {
            replies.push(Reply::Null);
            continue;
        }
        let before = get_unsigned(data, offset, bits);
        set_bits(data, offset, bits, new);
        changed |= before != get_unsigned(data, offset, bits);
        replies.push(Reply::Int(ret));
    }
    (replies, changed)
}

/// The bytes a string needs for BITFIELD's writes (0: none writes).
pub fn bytes_needed(fields: &[Field]) -> u64 {
    fields
        .iter()
        .filter(|f| !matches!(f.op, FieldOp::Get))
        .map(|f| (f.offset + u64::from(f.bits) - 1) / 8 + 1)
        .max()
        .unwrap_or(0)
}

/// BITFIELD_RO key [GET type offset]...
pub fn bitfield_ro(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let fields = match parse_fields(&a[1..], true) {
        Ok(f) => f,
        Err(e) => return Ok(e),
    };
    let mut data = match ks.string(&a[0]) {
        Ok(d) => d.unwrap_or_default(),
        Err(f) => return reply(Err(f)),
    };
    Ok(Reply::Array(run_fields(&mut data, &fields).0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_fields_match_redis_arithmetic() {
        let d = b"foobar";
        assert_eq!(count_bits(d, 0, 47), 26);
        let (f, l) = bit_interval(6, 1, 1, false).unwrap();
        assert_eq!(count_bits(d, f, l), 6);
        let (f, l) = bit_interval(6, 5, 30, true).unwrap();
        assert_eq!(count_bits(d, f, l), 17);
        assert!(bit_interval(6, 3, 2, false).is_none());
        // i8 at 0 of 0xff is -1; u8 is 255.
        assert_eq!(get_signed(&[0xff], 0, 8), -1);
        assert_eq!(get_unsigned(&[0xff], 0, 8), 255);
        assert_eq!(get_signed(&[0xff; 8], 0, 64), -1);
        // u2 INCRBY 1 from 3 wraps to 0; SAT stays 3; FAIL refuses.
        assert_eq!(unsigned_overflow(3, 1, 2, Overflow::Wrap), (1, 0));
        assert_eq!(unsigned_overflow(3, 1, 2, Overflow::Sat), (1, 3));
        assert_eq!(signed_overflow(127, 1, 8, Overflow::Wrap), (1, -128));
        assert_eq!(signed_overflow(-128, -1, 8, Overflow::Sat), (-1, -128));
        assert_eq!(
            signed_overflow(i64::MAX, 1, 64, Overflow::Wrap),
            (1, i64::MIN)
        );
        let mut buf = vec![0u8; 2];
        set_bits(&mut buf, 3, 5, 0b10101);
        assert_eq!(buf, [0b0001_0101, 0]);
        assert_eq!(field_offset(b"#2", 8), Some(16));
        assert_eq!(field_offset(b"-1", 8), None);
        assert_eq!(field_type(b"u64"), None);
        assert_eq!(field_type(b"i64"), Some((true, 64)));
    }
}
