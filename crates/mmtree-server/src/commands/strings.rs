//! String reads: GET, MGET, STRLEN, GETRANGE, GETBIT, LCS.

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use crate::store;

/// LCS's table (u32 cells) is at most this many cells: 128 MiB, a fraction of a second of the
/// event loop (Redis refuses only beyond 4 GiB of table, and blocks its loop as long).
const LCS_CELLS_MAX: u64 = 32 << 20;

/// GET.
pub fn get(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(ks.string(&a[0])?.map_or(Reply::Null, Reply::Bulk)))())
}

/// MGET: a key of another type reads as nil (no error), as in Redis.
pub fn mget(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let mut out = Vec::with_capacity(a.len());
    for key in a {
        out.push(match ks.string(key) {
            Ok(value) => value.map_or(Reply::Null, Reply::Bulk),
            Err(Fault::WrongType) => Reply::Null,
            Err(other) => return reply(Err(other)),
        });
    }
    Ok(Reply::Array(out))
}

/// STRLEN.
pub fn strlen(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Int(ks.string(&a[0])?.map_or(0, |v| v.len() as i64)))
    })())
}

/// GETRANGE key start end.
pub fn getrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (Some(start), Some(end)) = (parse_i64(&a[1]), parse_i64(&a[2])) else {
        return Ok(error(NOT_INTEGER));
    };
    reply((|| {
        let data = ks.string(&a[0])?.unwrap_or_default();
        let len = data.len() as i64;
        let fix = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
        let (s, e) = (fix(start), fix(end).min(len - 1));
        Ok(if len == 0 || s > e {
            Reply::Bulk(Vec::new())
        } else {
            Reply::Bulk(data[s as usize..=e as usize].to_vec())
        })
    })())
}

/// GETBIT.
pub fn getbit(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let Some(offset) = store::bit_offset(&a[1]) else {
        return Ok(error(store::BIT_OFFSET));
    };
    reply((|| {
        let data = ks.string(&a[0])?.unwrap_or_default();
        let byte = data.get((offset / 8) as usize).copied().unwrap_or(0);
        Ok(Reply::Int(i64::from(byte & (0x80 >> (offset % 8)) != 0)))
    })())
}

/// LCS key1 key2 [LEN] [IDX] [MINMATCHLEN n] [WITHMATCHLEN]: the longest common subsequence
/// of two strings, its length, or its matching ranges (from the end, as Redis walks its table
/// back).
pub fn lcs(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (mut len, mut idx, mut with_len, mut min_len) = (false, false, false, 0u64);
    let mut args = super::args::Args::new(&a[2..]);
    while !args.is_empty() {
        if let Some(n) = args.eat_value("MINMATCHLEN") {
            match super::parse_i64(n) {
                Some(n) => min_len = n.max(0) as u64,
                None => return Ok(error(NOT_INTEGER)),
            }
            continue;
        }
        match args.eat_any(&["LEN", "IDX", "WITHMATCHLEN"]) {
            Some("LEN") => len = true,
            Some("IDX") => idx = true,
            Some(_) => with_len = true,
            None => return Ok(error("ERR syntax error")),
        }
    }
    if len && idx {
        return Ok(error(
            "ERR If you want both the length and indexes, please just use IDX.",
        ));
    }
    let mut values = [Vec::new(), Vec::new()];
    for (v, key) in values.iter_mut().zip(&a[..2]) {
        match ks.string(key) {
            Ok(data) => *v = data.unwrap_or_default(),
            Err(Fault::WrongType) => {
                return Ok(error("ERR The specified keys must contain string values"))
            }
            Err(other) => return reply(Err(other)),
        }
    }
    let [x, y] = &values;
    let cells = (x.len() as u64 + 1) * (y.len() as u64 + 1);
    if cells > LCS_CELLS_MAX {
        return Ok(error(
            "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
        ));
    }
    // table[i][j]: the LCS length of x[..i] and y[..j].
    let w = y.len() + 1;
    let mut table = vec![0u32; cells as usize];
    for i in 1..=x.len() {
        for j in 1..=y.len() {
            table[i * w + j] = if x[i - 1] == y[j - 1] {
                table[(i - 1) * w + j - 1] + 1
            } else {
                table[(i - 1) * w + j].max(table[i * w + j - 1])
            };
        }
    }
    let total = table[x.len() * w + y.len()] as usize;
    if len {
        return Ok(Reply::Int(total as i64));
    }
    // Walk back from the end, collecting the subsequence and its contiguous ranges.
    let mut common = vec![0u8; total];
    let mut ranges: Vec<((usize, usize), (usize, usize))> = Vec::new();
    let (mut i, mut j, mut k) = (x.len(), y.len(), total);
    let mut current: Option<((usize, usize), (usize, usize))> = None;
    while i > 0 && j > 0 {
        let emit;
        if x[i - 1] == y[j - 1] {
            common[k - 1] = x[i - 1];
            current = Some(match current {
                None => ((i - 1, i - 1), (j - 1, j - 1)),
                Some(((_, ae), (_, be))) => ((i - 1, ae), (j - 1, be)),
            });
            emit = i == 1 || j == 1;
            k -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table[(i - 1) * w + j] > table[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = current.is_some();
        }
        if emit {
            if let Some(range) = current.take() {
                ranges.push(range);
            }
        }
    }
    if !idx {
        return Ok(Reply::Bulk(common));
    }
    let pair = |s: usize, e: usize| Reply::Array(vec![Reply::Int(s as i64), Reply::Int(e as i64)]);
    let matches = ranges
        .into_iter()
        .filter(|((s, e), _)| (e - s + 1) as u64 >= min_len)
        .map(|((a_start, a_end), (b_start, b_end))| {
            let mut m = vec![pair(a_start, a_end), pair(b_start, b_end)];
            if with_len {
                m.push(Reply::Int((a_end - a_start + 1) as i64));
            }
            Reply::Array(m)
        })
        .collect();
    Ok(Reply::Map(vec![
        (Reply::Bulk(b"matches".to_vec()), Reply::Array(matches)),
        (Reply::Bulk(b"len".to_vec()), Reply::Int(total as i64)),
    ]))
}
