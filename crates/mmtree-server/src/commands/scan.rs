//! The SCAN family: SCAN over a database's keys, HSCAN and SSCAN over a hash's or set's fields,
//! ZSCAN over a sorted set's members. Each page ends at a position the next cursor carries
//! (`cursor`), so pages are independent reads: a key present for the whole scan is returned at
//! least once, whatever happens between pages.

use super::args::Args;
use super::{cursor, error, NOT_INTEGER};
use crate::glob::glob;
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use crate::store;
use std::ops::Bound;

/// What a scan was asked: resume after this key or field (none: from the start), keep those
/// matching the glob pattern, examine at most `count`, keep keys of this type (SCAN).
struct Options {
    after: Option<Vec<u8>>,
    pattern: Option<Vec<u8>>,
    count: usize,
    kind: Option<Vec<u8>>,
}

fn options(cursor: &[u8], rest: &[Vec<u8>], with_type: bool) -> Result<Options, Reply> {
    let after = cursor::decode(cursor).map_err(|()| error("ERR invalid cursor"))?;
    let mut o = Options {
        after,
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

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type].
pub fn scan(ks: &mut Ks<'_>, _name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let o = match options(&a[0], &a[1..], true) {
        Ok(o) => o,
        Err(reply) => return Ok(reply),
    };
    reply((|| {
        let start = o.after.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let rows = ks.keys(start, o.count.saturating_add(1))?;
        let more = rows.len() > o.count;
        let examined = &rows[..rows.len().min(o.count)];
        let mut keys = Vec::new();
        for key in examined {
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
        let next = examined.last().filter(|_| more);
        Ok(page(next.map(Vec::as_slice), keys))
    })())
}

/// HSCAN, SSCAN, ZSCAN key cursor [MATCH pattern] [COUNT n].
pub fn scan_collection(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let o = match options(&a[1], &a[2..], false) {
        Ok(o) => o,
        Err(reply) => return Ok(reply),
    };
    let kind: &[u8] = match name {
        "HSCAN" => b"hash",
        "SSCAN" => b"set",
        _ => b"zset",
    };
    reply((|| {
        let key = &a[0];
        if ks.collection(key, kind)?.is_none() {
            return Ok(page(None, Vec::new()));
        }
        let start = match (&o.after, kind) {
            (Some(after), _) => Bound::Excluded(after.as_slice()),
            (None, b"zset") => Bound::Included(&[store::ZMEMBER][..]),
            (None, _) => Bound::Unbounded,
        };
        let mut rows = ks.fields(key, start, o.count.saturating_add(1))?;
        if kind == b"zset" {
            // Member rows only (the order rows follow them).
            rows.retain(|(f, _)| f.first() == Some(&store::ZMEMBER));
        }
        let more = rows.len() > o.count;
        rows.truncate(o.count);
        let next = rows.last().filter(|_| more).map(|(f, _)| f.clone());
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
