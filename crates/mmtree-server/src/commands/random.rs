//! Random picks and ordered ranges over the keyspace: RANDOMKEY, HRANDFIELD, SRANDMEMBER,
//! MMTREE.RANGE; and what a key costs (MEMORY USAGE) or shares (OBJECT REFCOUNT).

use super::args::Args;
use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use crate::store;
use std::ops::Bound;

/// HRANDFIELD and SRANDMEMBER pick at most this many at a time.
pub(crate) const RANDOM_PICKS_MAX: u64 = 10_000_000;
/// RANDOMKEY picks uniformly among at most this many keys (by walking to a random index);
/// beyond, from a random point of the key range.
const RANDOMKEY_EXACT: u64 = 10_000;
/// MMTREE.RANGE reads the rows in batches of this many (expired keys are passed over).
const RANGE_BATCH: usize = 256;

/// A xorshift generator seeded by `store::random_seed`.
pub(crate) fn generator(now: u64) -> impl FnMut(usize) -> usize {
    let mut x = store::random_seed(now);
    move |bound: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % bound.max(1) as u64) as usize
    }
}

/// HRANDFIELD key [count [WITHVALUES]].
pub fn hrandfield(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    pick_fields(ks, false, a)
}

/// SRANDMEMBER key [count].
pub fn srandmember(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    pick_fields(ks, true, a)
}

/// HRANDFIELD and SRANDMEMBER (`set`): without count one field (or nil); a positive count that
/// many distinct fields (at most all), a negative one exactly -count, repeats allowed.
fn pick_fields(ks: &mut Ks<'_>, set: bool, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    if a.len() > if set { 2 } else { 3 } {
        return Ok(error("ERR syntax error"));
    }
    let count = match a.get(1) {
        None => None,
        Some(n) => match parse_i64(n) {
            Some(n) => Some(n),
            None => return Ok(error(NOT_INTEGER)),
        },
    };
    let values = match a.get(2) {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"WITHVALUES") => true,
        Some(_) => return Ok(error("ERR syntax error")),
    };
    // As Redis: -2^63 has no magnitude, and with values the reply would hold 2 × |count|.
    if count.is_some_and(|n| n == i64::MIN || values && n < -(i64::MAX / 2)) {
        return Ok(error("ERR value is out of range"));
    }
    // A reply is built whole before it is sent: one of 2^62 picks would never end.
    if count.is_some_and(|n| n.unsigned_abs() > RANDOM_PICKS_MAX) {
        return Ok(Reply::Error(format!(
            "ERR value is out of range (mmtree picks at most {RANDOM_PICKS_MAX} at a time)"
        )));
    }
    let mut next = generator(ks.now);
    reply((|| {
        let key = &a[0];
        let fields = match ks.collection(key, if set { b"set" } else { b"hash" })? {
            Some(_) => ks.fields(key, Bound::Unbounded, usize::MAX)?,
            None => Vec::new(),
        };
        let Some(count) = count else {
            return Ok(match fields.is_empty() {
                // Redis 7.0 answers SRANDMEMBER of no set with a null array.
                true if set => Reply::NullArray,
                true => Reply::Null,
                false => Reply::Bulk(fields[next(fields.len())].0.clone()),
            });
        };
        let picked = pick(fields.len(), count, &mut next);
        let field = |i: usize| Reply::Bulk(fields[i].0.clone());
        Ok(if values {
            Reply::Pairs(
                picked
                    .into_iter()
                    .map(|i| (field(i), Reply::Bulk(fields[i].1.clone())))
                    .collect(),
            )
        } else {
            Reply::Array(picked.into_iter().map(field).collect())
        })
    })())
}

/// RANDOMKEY: a live key of the database, or nil (uniform up to `RANDOMKEY_EXACT` keys).
pub fn random_key(ks: &mut Ks<'_>, _a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let mut next = generator(ks.now);
    reply((|| {
        let len = ks.len()?;
        let first = ks.rows(Bound::Unbounded, Bound::Unbounded, false, 1)?;
        let last = ks.rows(Bound::Unbounded, Bound::Unbounded, true, 1)?;
        let (Some((first, _)), Some((last, _))) = (first.first(), last.first()) else {
            return Ok(Reply::Null);
        };
        // The first live key from `from` on, or from the start.
        let mut live_from = |from: Bound<&[u8]>, skip: usize| -> crate::keyspace::Result<_> {
            let mut start: Option<Vec<u8>> = None;
            let mut skip = skip;
            loop {
                let at = match &start {
                    Some(k) => Bound::Excluded(k.as_slice()),
                    None => from,
                };
                let batch = ks.keys(at, RANGE_BATCH)?;
                let Some(end) = batch.last().cloned() else {
                    return Ok(None);
                };
                for key in batch {
                    if skip > 0 {
                        skip -= 1;
                        continue;
                    }
                    if ks.live(&key)?.is_some() {
                        return Ok(Some(key));
                    }
                }
                start = Some(end);
            }
        };
        if len <= RANDOMKEY_EXACT {
            // Small: every key equally likely (an expired one not yet swept gives the next
            // live one).
            let at = next(len as usize);
            let key = match live_from(Bound::Unbounded, at)? {
                Some(key) => Some(key),
                None => live_from(Bound::Unbounded, 0)?,
            };
            return Ok(key.map_or(Reply::Null, Reply::Bulk));
        }
        // Large (mmtree keeps no per-subtree counts to find the n-th key): the first key at or
        // after a random point between the first and the last, byte by byte.
        let mut probe = Vec::new();
        for i in 0..first.len().max(last.len()).min(16) {
            let lo = *first.get(i).unwrap_or(&0);
            let hi = *last.get(i).unwrap_or(&255);
            let (lo, hi) = if probe.as_slice() == &first[..i.min(first.len())]
                && probe.as_slice() == &last[..i.min(last.len())]
            {
                (lo, hi.max(lo))
            } else {
                (0, 255)
            };
            probe.push(lo + next(usize::from(hi - lo) + 1) as u8);
        }
        let key = match live_from(Bound::Included(&probe), 0)? {
            Some(key) => Some(key),
            None => live_from(Bound::Unbounded, 0)?,
        };
        Ok(key.map_or(Reply::Null, Reply::Bulk))
    })())
}

/// MMTREE.RANGE start end [LIMIT n] [REV]: key/value pairs in key order, start inclusive, end
/// exclusive; `-` and `+` mean unbounded. Redis has no ordered range over plain keys.
pub fn range(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (mut limit, mut rev) = (usize::MAX, false);
    let mut args = Args::new(&a[2..]);
    while !args.is_empty() {
        if args.eat("LIMIT") {
            match args.take_i64().flatten() {
                Some(n) if n >= 0 => limit = usize::try_from(n).unwrap_or(usize::MAX),
                _ => return Ok(error(NOT_INTEGER)),
            }
        } else if args.eat("REV") {
            rev = true;
        } else {
            return Ok(error("ERR syntax error"));
        }
    }
    let start = if a[0] == b"-" {
        Bound::Unbounded
    } else {
        Bound::Included(a[0].as_slice())
    };
    let end = if a[1] == b"+" {
        Bound::Unbounded
    } else {
        Bound::Excluded(a[1].as_slice())
    };
    if let (Bound::Included(s), Bound::Excluded(e)) = (start, end) {
        if s >= e {
            return Ok(Reply::Array(Vec::new()));
        }
    }
    reply((|| {
        // Key/value pairs, flattened.
        let mut items = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        while items.len() / 2 < limit {
            // The next batch continues after the last row read, in the scan's direction.
            let (from, to) = match (&after, rev) {
                (None, _) => (start, end),
                (Some(k), false) => (Bound::Excluded(k.as_slice()), end),
                (Some(k), true) => (start, Bound::Excluded(k.as_slice())),
            };
            let batch = ks.rows(from, to, rev, RANGE_BATCH)?;
            let Some((last, _)) = batch.last() else {
                break;
            };
            let last = last.clone();
            for (k, v) in batch {
                if items.len() / 2 == limit {
                    break;
                }
                if ks.live(&k)?.is_some() {
                    items.extend([Reply::Bulk(k), Reply::Bulk(v)]);
                }
            }
            after = Some(last);
        }
        Ok(Reply::Array(items))
    })())
}

/// MEMORY USAGE key [SAMPLES n]: the bytes the key's rows take in tree pages (each row's key
/// and value plus its 10-byte slot and cell header; the internal rows of a hash, set, list or
/// sorted set too: every row for up to 1,000 of them, else `n` (default 5, 0: all)
/// extrapolated).
pub fn memory_usage(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let samples = match a.get(1..) {
        Some([]) | None => 5,
        Some([word, n]) if word.eq_ignore_ascii_case(b"SAMPLES") => match parse_i64(n) {
            Some(n) if n >= 0 => n as usize,
            _ => return Ok(error(NOT_INTEGER)),
        },
        _ => return Ok(error("ERR syntax error")),
    };
    const ROW: usize = 10;
    reply((|| {
        let key = &a[0];
        let Some(live) = ks.live(key)? else {
            return Ok(Reply::Null);
        };
        let mut bytes = key.len() + live.data.len() + ROW;
        if let Some(kind) = ks.type_of(key)? {
            let rows = ks.collection(key, &kind)?.unwrap_or(0) as usize;
            let take = if rows <= 1000 || samples == 0 {
                usize::MAX
            } else {
                samples
            };
            let seen = ks.fields(key, Bound::Unbounded, take)?;
            let sum: usize = seen
                .iter()
                .map(|(f, v)| 4 + key.len() + f.len() + v.len() + ROW)
                .sum();
            bytes += (sum * rows).checked_div(seen.len()).unwrap_or(0);
            bytes += key.len() + 4 + ROW; // the type row
        }
        Ok(Reply::Int(bytes as i64))
    })())
}

/// OBJECT REFCOUNT key: every value is its own rows, nothing is shared, so a live key's count
/// is 1.
pub fn refcount(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(ks.live(&a[0])?.map_or(Reply::Null, |_| Reply::Int(1)))
    })())
}

/// The picks of a counted random read (HRANDFIELD, SRANDMEMBER, ZRANDMEMBER) among `len` items,
/// as Redis makes them: a negative `count` picks |count| times with repetition, a positive one
/// a random selection of min(count, len) distinct items (a partial Fisher-Yates shuffle).
/// `next(n)` is a random number below `n`.
pub fn pick(len: usize, count: i64, next: &mut impl FnMut(usize) -> usize) -> Vec<usize> {
    if len == 0 {
        return Vec::new();
    }
    if count < 0 {
        return (0..count.unsigned_abs()).map(|_| next(len)).collect();
    }
    let mut all: Vec<usize> = (0..len).collect();
    let take = usize::try_from(count).unwrap_or(usize::MAX).min(len);
    for i in 0..take {
        let j = i + next(len - i);
        all.swap(i, j);
    }
    all.truncate(take);
    all
}
