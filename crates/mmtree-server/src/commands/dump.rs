//! Key introspection and serialization reads: DUMP, TOUCH, OBJECT ENCODING/IDLETIME/FREQ; the
//! DUMP payload format (RESTORE, in `commands/write/dump.rs`, reads it back).
//!
//! The payload is mmtree's own (Redis' RDB encoding is not reproduced): a tag byte (0: a string,
//! 1: a collection), then the string's bytes, or the type name (u8 length, name) and the rows of
//! the key's run (`store`'s layout: u32 LE length, field, u32 LE length, value, each); then a
//! format version (u16 LE) and a CRC32C of everything before it (u32 LE). RESTORE refuses a
//! payload whose version or checksum is wrong with Redis' own error, and one that does not
//! decode with `Bad data format`.

use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use crate::store::Value;
use std::ops::Bound;

/// The payload format's version.
pub const DUMP_VERSION: u16 = 1;
pub const BAD_PAYLOAD: &str = "ERR DUMP payload version or checksum are wrong";
pub const BAD_FORMAT: &str = "ERR Bad data format";

/// The live value of `key`: a string or a collection with its rows (None: no key).
pub fn value(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<Option<Value>> {
    if ks.live(key)?.is_none() {
        return Ok(None);
    }
    Ok(Some(match ks.type_of(key)? {
        None => Value::String(ks.string(key)?.unwrap_or_default()),
        Some(kind) => Value::Collection(kind, ks.fields(key, Bound::Unbounded, usize::MAX)?),
    }))
}

/// The payload of `value`.
pub fn serialize(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    match value {
        Value::String(data) => {
            out.push(0);
            out.extend_from_slice(data);
        }
        Value::Collection(kind, rows) => {
            out.push(1);
            out.push(kind.len() as u8);
            out.extend_from_slice(kind);
            for (f, v) in rows {
                out.extend_from_slice(&(f.len() as u32).to_le_bytes());
                out.extend_from_slice(f);
                out.extend_from_slice(&(v.len() as u32).to_le_bytes());
                out.extend_from_slice(v);
            }
        }
    }
    out.extend_from_slice(&DUMP_VERSION.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value of a payload, or the RESTORE error for it.
pub fn deserialize(payload: &[u8]) -> Result<Value, &'static str> {
    if payload.len() < 7 {
        return Err(BAD_PAYLOAD);
    }
    let (body, crc) = payload.split_at(payload.len() - 4);
    if crc32c::crc32c(body).to_le_bytes() != crc {
        return Err(BAD_PAYLOAD);
    }
    let (body, version) = body.split_at(body.len() - 2);
    if u16::from_le_bytes([version[0], version[1]]) != DUMP_VERSION {
        return Err(BAD_PAYLOAD);
    }
    match body.split_first() {
        Some((0, data)) => Ok(Value::String(data.to_vec())),
        Some((1, rest)) => {
            let (&n, rest) = rest.split_first().ok_or(BAD_FORMAT)?;
            let n = usize::from(n);
            if rest.len() < n {
                return Err(BAD_FORMAT);
            }
            let (kind, mut rest) = rest.split_at(n);
            if !matches!(kind, b"hash" | b"set" | b"list" | b"zset" | b"stream") {
                return Err(BAD_FORMAT);
            }
            let take = |rest: &mut &[u8]| -> Result<Vec<u8>, &'static str> {
                if rest.len() < 4 {
                    return Err(BAD_FORMAT);
                }
                let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
                if rest.len() - 4 < len {
                    return Err(BAD_FORMAT);
                }
                let v = rest[4..4 + len].to_vec();
                *rest = &rest[4 + len..];
                Ok(v)
            };
            let mut rows = Vec::new();
            while !rest.is_empty() {
                let f = take(&mut rest)?;
                let v = take(&mut rest)?;
                let ok = match kind {
                    b"list" => f.len() == 8,
                    b"zset" => match f.first() {
                        Some(0) => v.len() == 8,
                        Some(1) => f.len() >= 9 && v.is_empty(),
                        _ => false,
                    },
                    b"set" => v.is_empty(),
                    _ => true,
                };
                if !ok
                    || rows
                        .last()
                        .is_some_and(|(last, _): &(Vec<u8>, _)| *last >= f)
                {
                    return Err(BAD_FORMAT);
                }
                rows.push((f, v));
            }
            if rows.is_empty() || !consistent(kind, &rows) {
                return Err(BAD_FORMAT);
            }
            Ok(Value::Collection(kind.to_vec(), rows))
        }
        _ => Err(BAD_FORMAT),
    }
}

/// True if the rows keep the layout's invariants the commands rely on: a list's positions are
/// consecutive; a sorted set has for each member row (`0 member` → score) exactly the order row
/// of that score (`1 order(score) member`), and no other.
fn consistent(kind: &[u8], rows: &[(Vec<u8>, Vec<u8>)]) -> bool {
    match kind {
        b"list" => rows.windows(2).all(|w| {
            let at = |f: &[u8]| u64::from_be_bytes(f.try_into().unwrap_or([0; 8]));
            at(&w[0].0).checked_add(1) == Some(at(&w[1].0))
        }),
        b"zset" => {
            let members: Vec<&(Vec<u8>, Vec<u8>)> = rows
                .iter()
                .filter(|(f, _)| f[0] == crate::store::ZMEMBER)
                .collect();
            let orders: std::collections::BTreeSet<&[u8]> = rows
                .iter()
                .filter(|(f, _)| f[0] == crate::store::ZORDER)
                .map(|(f, _)| f.as_slice())
                .collect();
            members.len() * 2 == rows.len()
                && members.iter().all(|(m, score)| {
                    let score = crate::store::score_of(score);
                    !score.is_nan()
                        && orders.contains(crate::store::zorder(&m[1..], score).as_slice())
                })
        }
        b"stream" => crate::store::stream::consistent(rows),
        _ => true,
    }
}

/// DUMP key.
pub fn dump(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(value(ks, &a[0])?.map_or(Reply::Null, |v| Reply::Bulk(serialize(&v))))
    })())
}

/// TOUCH key [key ...]: the number of keys that exist (access times are not tracked).
pub fn touch(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let mut n = 0;
        for key in a {
            n += i64::from(ks.live(key)?.is_some());
        }
        Ok(Reply::Int(n))
    })())
}

/// True if Redis would keep `s` as an integer (`string2l`: canonical decimal, in i64).
fn is_redis_int(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 20 {
        return false;
    }
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    if digits.is_empty() || (digits[0] == b'0' && (digits.len() > 1 || s[0] == b'-')) {
        return false;
    }
    digits.iter().all(u8::is_ascii_digit)
        && std::str::from_utf8(s).is_ok_and(|t| t.parse::<i64>().is_ok())
}

/// OBJECT ENCODING key: what Redis 7.0 would use for this value with its default thresholds
/// (strings: `int`, `embstr` up to 44 bytes, else `raw`; lists: `quicklist`; hashes and sorted
/// sets: `listpack` up to 128 entries of at most 64 bytes, else `hashtable`/`skiplist`; sets:
/// `intset` up to 512 integers, else `hashtable`). mmtree stores every type as ordered rows;
/// this answers what clients and tests expect of a value's shape, not how it is stored.
pub fn object_encoding(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let key = &a[0];
    reply((|| {
        let Some(v) = value(ks, key)? else {
            return Ok(Reply::Null);
        };
        let name = match &v {
            Value::String(s) if is_redis_int(s) => "int",
            Value::String(s) if s.len() <= 44 => "embstr",
            Value::String(_) => "raw",
            Value::Collection(kind, rows) => match kind.as_slice() {
                b"list" => "quicklist",
                b"hash" => {
                    let small = rows.len() <= 128
                        && rows.iter().all(|(f, v)| f.len() <= 64 && v.len() <= 64);
                    if small {
                        "listpack"
                    } else {
                        "hashtable"
                    }
                }
                b"set" => {
                    if rows.len() <= 512 && rows.iter().all(|(m, _)| is_redis_int(m)) {
                        "intset"
                    } else {
                        "hashtable"
                    }
                }
                b"zset" => {
                    let members: Vec<&Vec<u8>> = rows
                        .iter()
                        .filter(|(f, _)| f.first() == Some(&0))
                        .map(|(f, _)| f)
                        .collect();
                    if members.len() <= 128 && members.iter().all(|m| m.len() - 1 <= 64) {
                        "listpack"
                    } else {
                        "skiplist"
                    }
                }
                b"stream" => "stream",
                _ => return Err(Fault::Malformed("a key of an unknown type".into())),
            },
        };
        Ok(Reply::Bulk(name.as_bytes().to_vec()))
    })())
}

/// OBJECT IDLETIME key: `idle`, the seconds since the key was last read or written (the
/// connection has it from the access times, `crate::access`); nil for a missing key.
pub fn object_idletime(ks: &mut Ks<'_>, key: &[u8], idle: u64) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(ks.live(key)?.map_or(
            Reply::Null,
            |_| Reply::Int(idle.min(i64::MAX as u64) as i64),
        ))
    })())
}

/// OBJECT FREQ key: no LFU policy here, so Redis' answer under its default policy.
pub fn object_freq(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let key = &a[0];
    reply((|| {
        Ok(match ks.live(key)? {
            None => Reply::Null,
            Some(_) => Reply::Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.".into()),
        })
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_damage_is_refused() {
        let v = Value::Collection(
            b"hash".to_vec(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"".to_vec()),
            ],
        );
        let p = serialize(&v);
        match deserialize(&p).unwrap() {
            Value::Collection(k, rows) => {
                assert_eq!(k, b"hash");
                assert_eq!(rows.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let s = serialize(&Value::String(b"hello".to_vec()));
        assert!(matches!(deserialize(&s), Ok(Value::String(d)) if d == b"hello"));
        for i in 0..p.len() {
            let mut bad = p.clone();
            bad[i] ^= 0x40;
            assert_eq!(deserialize(&bad).err(), Some(BAD_PAYLOAD), "byte {i}");
        }
        assert_eq!(deserialize(b"").err(), Some(BAD_PAYLOAD));
        // A payload with a right checksum whose rows break the layout is refused.
        let gap = Value::Collection(
            b"list".to_vec(),
            vec![
                (1u64.to_be_bytes().to_vec(), b"a".to_vec()),
                (3u64.to_be_bytes().to_vec(), b"b".to_vec()),
            ],
        );
        assert_eq!(deserialize(&serialize(&gap)).err(), Some(BAD_FORMAT));
        let member = crate::store::zmember(b"m");
        let score = crate::store::score_bytes(1.0).to_vec();
        let lone = Value::Collection(b"zset".to_vec(), vec![(member.clone(), score.clone())]);
        assert_eq!(deserialize(&serialize(&lone)).err(), Some(BAD_FORMAT));
        let whole = Value::Collection(
            b"zset".to_vec(),
            vec![
                (member, score),
                (crate::store::zorder(b"m", 1.0), Vec::new()),
            ],
        );
        assert!(deserialize(&serialize(&whole)).is_ok());
        assert!(is_redis_int(b"-12") && !is_redis_int(b"012") && !is_redis_int(b"+1"));
        assert!(!is_redis_int(b"99999999999999999999"));
    }
}
