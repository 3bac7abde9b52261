//! The SCAN family: SCAN over a database's keys, HSCAN and SSCAN over a hash's or set's fields,
//! ZSCAN over a sorted set's members. Each page ends where the next cursor starts (`cursor`: a
//! key of up to 7 bytes, or the 7 bytes a longer one starts with), so pages are independent
//! reads: a key present for the whole scan is returned exactly once, whatever happens between
//! pages. A page examines `COUNT` keys, and more when they share the 7 bytes the next page would
//! start at (it takes the whole run: a cursor cannot point inside it).

use super::args::Args;
use super::{cursor, error, NOT_INTEGER};
use crate::glob::glob;
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use crate::store;
use std::ops::Bound;

/// What a scan was asked: start at this key or field (empty: from the start), keep those
/// matching the glob pattern, examine about `count`, keep keys of this type (SCAN).
struct Options {
    at: Vec<u8>,
    pattern: Option<Vec<u8>>,
    count: usize,
    kind: Option<Vec<u8>>,
}

fn options(cursor: &[u8], rest: &[Vec<u8>], with_type: bool) -> Result<Options, Reply> {
    let at = cursor::decode(cursor).map_err(|()| error("ERR invalid cursor"))?;
    let mut o = Options {
        at,
        pattern: None,
        count: 10,
        kind: None,
    };
    let mut args = Args::new(rest);
    while !args.is_empty() {
        if args.eat("MATCH") {
            o.pattern = Some(
                args.take()
                    .ok_or_else(|| error("ERR syntax error"))?
                    .to_vec(),
            );
        } else if args.eat("COUNT") {
            o.count = match args.take_i64() {
                None => return Err(error("ERR syntax error")),
                Some(None) => return Err(error(NOT_INTEGER)),
                Some(Some(n)) if n < 1 => return Err(error("ERR syntax error")),
                Some(Some(n)) => usize::try_from(n).unwrap_or(usize::MAX),
            };
        } else if with_type && args.eat("TYPE") {
            let t = args.take().ok_or_else(|| error("ERR syntax error"))?;
            o.kind = Some(t.to_ascii_lowercase());
        } else {
            return Err(error("ERR syntax error"));
        }
    }
    Ok(o)
}

/// The reply: the next cursor ("0": done) and the items.
fn page(next: Option<&[u8]>, items: Vec<Reply>) -> Reply {
    let next = next.map_or_else(|| "0".into(), cursor::encode);
    Reply::Array(vec![Reply::Bulk(next.into_bytes()), Reply::Array(items)])
}

/// One page of rows from `start` on: at least `count` (unless the end comes first), extended
/// through the run of rows that share the 7 bytes the next page would start at; and where the
/// next page starts (`None`: the end). `fetch(from, n)` reads up to `n` rows from `from` on, in
/// order.
fn page_rows<T>(
    start: &[u8],
    count: usize,
    key: impl Fn(&T) -> &[u8],
    mut fetch: impl FnMut(Bound<&[u8]>, usize) -> mmtree::Result<Vec<T>>,
) -> mmtree::Result<(Vec<T>, Option<Vec<u8>>)> {
    let mut taken: Vec<T> = Vec::new();
    let mut from = start.to_vec();
    loop {
        let mut batch = fetch(Bound::Included(&from), count.saturating_add(1))?;
        if batch.len() <= count {
            taken.extend(batch);
            return Ok((taken, None));
        }
        let next = batch.pop().expect("count + 1 rows");
        taken.extend(batch);
        let next_key = key(&next);
        let resume = &next_key[..next_key.len().min(cursor::POSITION_MAX)];
        let inside_run = next_key.len() > cursor::POSITION_MAX
            && taken
                .last()
                .is_some_and(|last| key(last).starts_with(resume));
        if !inside_run {
            return Ok((taken, Some(resume.to_vec())));
        }
        // The next page would start inside the run the last row belongs to: take more.
        from = next_key.to_vec();
    }
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
pub fn scan(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let o = match options(&a[0], &a[1..], true) {
        Ok(o) => o,
        Err(reply) => return Ok(reply),
    };
    reply((|| {
        let (examined, next) =
            page_rows(&o.at, o.count, |k: &Vec<u8>| k, |from, n| ks.keys(from, n))?;
        let mut keys = Vec::new();
        for key in &examined {
            if !o.pattern.as_ref().is_none_or(|p| glob(p, key)) || ks.live(key)?.is_none() {
                continue;
            }
            let type_ok = match o.kind.as_deref() {
                None => true,
                Some(b"string") => ks.type_of(key)?.is_none(),
                Some(kind) => ks.type_of(key)?.as_deref() == Some(kind),
            };
            if type_ok {
                keys.push(Reply::Bulk(key.clone()));
            }
        }
        Ok(page(next.as_deref(), keys))
    })())
}

/// HSCAN.
pub fn hscan(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    scan_collection(ks, b"hash", a)
}

/// SSCAN.
pub fn sscan(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    scan_collection(ks, b"set", a)
}

/// ZSCAN.
pub fn zscan(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    scan_collection(ks, b"zset", a)
}

/// HSCAN, SSCAN, ZSCAN key cursor [MATCH pattern] [COUNT n], over the `kind` at the key.
fn scan_collection(ks: &mut Ks<'_>, kind: &[u8], a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let o = match options(&a[1], &a[2..], false) {
        Ok(o) => o,
        Err(reply) => return Ok(reply),
    };
    reply((|| {
        let key = &a[0];
        if ks.collection(key, kind)?.is_none() {
            return Ok(page(None, Vec::new()));
        }
        // A sorted set's member rows come first (the order rows follow them).
        let start = match kind {
            b"zset" => o.at.clone().max(vec![store::ZMEMBER]),
            _ => o.at.clone(),
        };
        let (rows, next) = page_rows(
            &start,
            o.count,
            |(f, _): &(Vec<u8>, Vec<u8>)| f,
            |from, n| {
                let mut rows = ks.fields(key, from, n)?;
                if kind == b"zset" {
                    rows.retain(|(f, _)| f.first() == Some(&store::ZMEMBER));
                }
                Ok(rows)
            },
        )?;
        let mut items = Vec::new();
        for (f, v) in rows {
            let shown = if kind == b"zset" { &f[1..] } else { &f[..] };
            if !o.pattern.as_ref().is_none_or(|p| glob(p, shown)) {
                continue;
            }
            match kind {
                b"set" => items.push(Reply::Bulk(f)),
                b"hash" => items.extend([Reply::Bulk(f), Reply::Bulk(v)]),
                _ => items.extend([
                    Reply::Bulk(shown.to_vec()),
                    Reply::Bulk(store::format_score(store::score_of(&v)).into_bytes()),
                ]),
            }
        }
        Ok(page(next.as_deref(), items))
    })())
}
