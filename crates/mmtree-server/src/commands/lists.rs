//! List reads: LLEN, LINDEX, LRANGE. Element i of a list is the row at position head + i
//! (see `store::LIST_MIDDLE`).

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use std::ops::Bound;

/// The length of the list at `key` and the position of its head (None: no list), or WRONGTYPE.
fn list(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<(i64, Option<u64>)> {
    let len = ks.collection(key, b"list")?.unwrap_or(0) as i64;
    let head = match ks.fields(key, Bound::Unbounded, 1)?.first() {
        Some((f, _)) => Some(u64::from_be_bytes(f.as_slice().try_into().map_err(
            |_| Fault::Malformed(format!("a list position of {} bytes (8 expected)", f.len())),
        )?)),
        None => None,
    };
    Ok((len, head))
}

/// An index from the end (negative) as one from the head.
fn from_head(i: i64, len: i64) -> i64 {
    if i < 0 {
        i.saturating_add(len)
    } else {
        i
    }
}

/// LLEN.
pub fn llen(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(Reply::Int(list(ks, &a[0])?.0)))())
}

/// LINDEX key index.
pub fn lindex(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let Some(index) = parse_i64(&a[1]) else {
        return Ok(error(NOT_INTEGER));
    };
    reply((|| {
        let (len, head) = list(ks, &a[0])?;
        let i = from_head(index, len);
        Ok(match head.filter(|_| (0..len).contains(&i)) {
            Some(h) => ks
                .field(&a[0], &(h + i as u64).to_be_bytes())?
                .map_or(Reply::Null, Reply::Bulk),
            None => Reply::Null,
        })
    })())
}

/// LRANGE key start stop.
pub fn lrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (Some(start), Some(stop)) = (parse_i64(&a[1]), parse_i64(&a[2])) else {
        return Ok(error(NOT_INTEGER));
    };
    reply((|| {
        let (len, head) = list(ks, &a[0])?;
        let (start, stop) = (
            from_head(start, len).max(0),
            from_head(stop, len).min(len - 1),
        );
        let (Some(h), true) = (head, start <= stop) else {
            return Ok(Reply::Array(Vec::new()));
        };
        let from = (h + start as u64).to_be_bytes();
        let rows = ks.fields(&a[0], Bound::Included(&from), (stop - start + 1) as usize)?;
        Ok(Reply::Array(
            rows.into_iter().map(|(_, v)| Reply::Bulk(v)).collect(),
        ))
    })())
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]: the indexes of matching elements,
/// from the head (or from the tail for a negative rank), reading at most MAXLEN elements.
pub fn lpos(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let mut args = super::args::Args::new(&a[2..]);
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0i64);
    while !args.is_empty() {
        let Some((word, value)) = ["RANK", "COUNT", "MAXLEN"]
            .into_iter()
            .find_map(|w| Some((w, args.eat_value(w)?)))
        else {
            return Ok(error("ERR syntax error"));
        };
        let Some(n) = super::parse_i64(value) else {
            return Ok(error(NOT_INTEGER));
        };
        match word {
            "RANK" if n == 0 => {
                return Ok(error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ))
            }
            "RANK" => rank = n,
            "COUNT" if n < 0 => return Ok(error("ERR COUNT can't be negative")),
            "COUNT" => count = Some(n),
            _ if n < 0 => return Ok(error("ERR MAXLEN can't be negative")),
            _ => maxlen = n,
        }
    }
    reply((|| {
        let key = &a[0];
        let len = ks.collection(key, b"list")?.unwrap_or(0);
        let from_tail = rank < 0;
        // Redis 7.0 negates the rank in a C long: -2^63 stays negative and matches the first.
        let skip = rank.checked_abs().unwrap_or(1) as u64 - 1;
        let wanted = match count {
            Some(0) => u64::MAX,
            Some(n) => n as u64,
            None => 1,
        };
        let scan = if maxlen == 0 {
            len
        } else {
            len.min(maxlen as u64)
        };
        let rows = ks.field_range(
            key,
            Bound::Unbounded,
            Bound::Unbounded,
            from_tail,
            scan as usize,
        )?;
        let mut found = Vec::new();
        let mut seen = 0u64;
        for (i, (_, v)) in rows.iter().enumerate() {
            if *v != a[1] {
                continue;
            }
            seen += 1;
            if seen <= skip {
                continue;
            }
            let index = if from_tail {
                len - 1 - i as u64
            } else {
                i as u64
            };
            found.push(Reply::Int(index as i64));
            if found.len() as u64 >= wanted {
                break;
            }
        }
        Ok(match count {
            Some(_) => Reply::Array(found),
            None => found.pop().unwrap_or(Reply::Null),
        })
    })())
}
