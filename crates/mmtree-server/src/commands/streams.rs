//! Stream reads: XLEN, XRANGE, XREVRANGE, XREAD, XPENDING, XINFO STREAM/GROUPS/CONSUMERS; and
//! what the stream writes share with them (ID parsing, the typed reads of a stream's rows, the
//! reply shapes), as Redis 7.0's `t_stream.c`. The rows are laid out in `store::stream`.

use super::args::Args;
use crate::keyspace::{reply, Fault, Ks, Result};
use crate::resp::Reply;
use crate::store::stream::{self as layout, Group, Id, Meta, Pending};
use std::ops::Bound;

pub const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";
pub const SYNTAX: &str = "ERR syntax error";
pub const NOT_INT: &str = "ERR value is not an integer or out of range";

/// Redis' `streamGenericParseIDOrReply`: `ms-seq`, `ms` (seq `missing_seq`), `-` and `+` unless
/// `strict`; `ms-*` when `star` (XADD: the second value is false then).
pub fn parse_id_full(arg: &[u8], missing_seq: u64, strict: bool, star: bool) -> Option<(Id, bool)> {
    if arg.len() > 127 {
        return None;
    }
    if arg == b"-" || arg == b"+" {
        if strict {
            return None;
        }
        return Some((if arg == b"-" { Id::MIN } else { Id::MAX }, true));
    }
    let text = std::str::from_utf8(arg).ok()?;
    let number = |s: &str| -> Option<u64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit() || b == b'+') {
            return None;
        }
        s.parse().ok()
    };
    match text.split_once('-') {
        None => Some((Id::new(number(text)?, missing_seq), true)),
        Some((ms, "*")) if star => Some((Id::new(number(ms)?, 0), false)),
        Some((ms, seq)) => Some((Id::new(number(ms)?, number(seq)?), true)),
    }
}

/// A strict ID (no `-`/`+`), a missing sequence read as 0.
pub fn parse_id(arg: &[u8]) -> std::result::Result<Id, Reply> {
    parse_id_full(arg, 0, true, false)
        .map(|(id, _)| id)
        .ok_or_else(|| Reply::Error(INVALID_ID.into()))
}

/// An interval bound of XRANGE/XPENDING/XAUTOCLAIM: `(id` excludes it (Redis'
/// `streamParseIntervalIDOrReply`); the ID and whether it is excluded.
pub fn parse_bound(arg: &[u8], missing_seq: u64) -> std::result::Result<(Id, bool), Reply> {
    let bad = || Reply::Error(INVALID_ID.into());
    if arg.len() > 1 && arg[0] == b'(' {
        let (id, _) = parse_id_full(&arg[1..], missing_seq, true, false).ok_or_else(bad)?;
        Ok((id, true))
    } else {
        let (id, _) = parse_id_full(arg, missing_seq, false, false).ok_or_else(bad)?;
        Ok((id, false))
    }
}

/// The inclusive interval of a `start end` pair, or Redis' error for an exclusive bound that
/// cannot move.
pub fn parse_interval(start: &[u8], end: &[u8]) -> std::result::Result<(Id, Id), Reply> {
    let (mut lo, lo_ex) = parse_bound(start, 0)?;
    let (mut hi, hi_ex) = parse_bound(end, u64::MAX)?;
    if lo_ex {
        lo = lo
            .next()
            .ok_or_else(|| Reply::Error("ERR invalid start ID for the interval".into()))?;
    }
    if hi_ex {
        hi = hi
            .prev()
            .ok_or_else(|| Reply::Error("ERR invalid end ID for the interval".into()))?;
    }
    Ok((lo, hi))
}

fn malformed(what: &str) -> Fault {
    Fault::Malformed(format!("a stream's {what} row does not decode"))
}

/// The stream at `key`: its state (None: no such key); `WrongType` for another type.
pub fn stream(ks: &mut Ks<'_>, key: &[u8]) -> Result<Option<Meta>> {
    if ks.collection(key, b"stream")?.is_none() {
        return Ok(None);
    }
    let row = ks.field(key, &layout::meta_field())?;
    row.as_deref()
        .and_then(Meta::decode)
        .map(Some)
        .ok_or_else(|| malformed("state"))
}

/// An entry: its ID and its fields and values, flat.
pub type Entry = (Id, Vec<Vec<u8>>);

/// Entries from `lo` to `hi` (inclusive), backwards if `rev`, at most `limit`: one range read.
pub fn entries(
    ks: &mut Ks<'_>,
    key: &[u8],
    lo: Id,
    hi: Id,
    rev: bool,
    limit: usize,
) -> Result<Vec<Entry>> {
    if lo > hi {
        return Ok(Vec::new());
    }
    let (a, b) = (layout::entry_field(lo), layout::entry_field(hi));
    let rows = ks.field_range(key, Bound::Included(&a), Bound::Included(&b), rev, limit)?;
    rows.into_iter()
        .map(|(f, v)| {
            let id = layout::id_at_end(&f).ok_or_else(|| malformed("entry"))?;
            let pairs = layout::decode_entry(&v).ok_or_else(|| malformed("entry"))?;
            Ok((id, pairs))
        })
        .collect()
}

/// The first (or last, `rev`) entry.
pub fn edge(ks: &mut Ks<'_>, key: &[u8], rev: bool) -> Result<Option<Entry>> {
    Ok(entries(ks, key, Id::MIN, Id::MAX, rev, 1)?.pop())
}

/// The ID of the first entry, 0-0 for an empty stream (Redis' `first_id`).
pub fn first_id(ks: &mut Ks<'_>, key: &[u8]) -> Result<Id> {
    Ok(edge(ks, key, false)?.map_or(Id::MIN, |(id, _)| id))
}

/// One consumer group's state.
pub fn group(ks: &mut Ks<'_>, key: &[u8], name: &[u8]) -> Result<Option<Group>> {
    match ks.field(key, &layout::group_field(name))? {
        None => Ok(None),
        Some(v) => Group::decode(&v)
            .map(Some)
            .ok_or_else(|| malformed("group")),
    }
}

/// Every group with its state, in name order.
pub fn groups(ks: &mut Ks<'_>, key: &[u8]) -> Result<Vec<(Vec<u8>, Group)>> {
    let (lo, hi) = ([layout::GROUP], [layout::GROUP + 1]);
    let rows = ks.field_range(
        key,
        Bound::Included(&lo),
        Bound::Excluded(&hi),
        false,
        usize::MAX,
    )?;
    rows.into_iter()
        .map(|(f, v)| {
            Ok((
                f[1..].to_vec(),
                Group::decode(&v).ok_or_else(|| malformed("group"))?,
            ))
        })
        .collect()
}

/// Rows whose fields start with `prefix` (the prefix cut off), in order, at most `limit`.
fn prefixed(
    ks: &mut Ks<'_>,
    key: &[u8],
    prefix: &[u8],
    from: Bound<&[u8]>,
    limit: usize,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let end = crate::keyspace::successor(prefix);
    let from_owned: Bound<Vec<u8>> = match from {
        Bound::Included(f) => Bound::Included([prefix, f].concat()),
        Bound::Excluded(f) => Bound::Excluded([prefix, f].concat()),
        Bound::Unbounded => Bound::Included(prefix.to_vec()),
    };
    let lo = match &from_owned {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    };
    let hi = match &end {
        Some(e) => Bound::Excluded(e.as_slice()),
        None => Bound::Unbounded,
    };
    let mut rows = ks.field_range(key, lo, hi, false, limit)?;
    for (f, _) in &mut rows {
        f.drain(..prefix.len());
    }
    Ok(rows)
}

/// The consumers of a group with their seen times, in name order.
pub fn consumers(ks: &mut Ks<'_>, key: &[u8], group: &[u8]) -> Result<Vec<(Vec<u8>, u64)>> {
    let rows = prefixed(
        ks,
        key,
        &layout::consumers_prefix(group),
        Bound::Unbounded,
        usize::MAX,
    )?;
    rows.into_iter()
        .map(|(name, v)| {
            let seen: [u8; 8] = v.as_slice().try_into().map_err(|_| malformed("consumer"))?;
            Ok((name, u64::from_be_bytes(seen)))
        })
        .collect()
}

/// One consumer's seen time (None: no such consumer).
pub fn consumer(ks: &mut Ks<'_>, key: &[u8], group: &[u8], name: &[u8]) -> Result<Option<u64>> {
    match ks.field(key, &layout::consumer_field(group, name))? {
        None => Ok(None),
        Some(v) => {
            let seen: [u8; 8] = v.as_slice().try_into().map_err(|_| malformed("consumer"))?;
            Ok(Some(u64::from_be_bytes(seen)))
        }
    }
}

/// The group's pending entries from `lo` to `hi`, at most `limit`, in ID order.
pub fn pending(
    ks: &mut Ks<'_>,
    key: &[u8],
    group: &[u8],
    lo: Id,
    hi: Id,
    limit: usize,
) -> Result<Vec<(Id, Pending)>> {
    if lo > hi || limit == 0 {
        return Ok(Vec::new());
    }
    let (a, b) = (
        layout::pending_field(group, lo),
        layout::pending_field(group, hi),
    );
    let rows = ks.field_range(key, Bound::Included(&a), Bound::Included(&b), false, limit)?;
    rows.into_iter()
        .map(|(f, v)| {
            let id = layout::id_at_end(&f).ok_or_else(|| malformed("pending"))?;
            Ok((id, Pending::decode(&v).ok_or_else(|| malformed("pending"))?))
        })
        .collect()
}

/// One pending entry of the group.
pub fn pending_one(ks: &mut Ks<'_>, key: &[u8], group: &[u8], id: Id) -> Result<Option<Pending>> {
    match ks.field(key, &layout::pending_field(group, id))? {
        None => Ok(None),
        Some(v) => Pending::decode(&v)
            .map(Some)
            .ok_or_else(|| malformed("pending")),
    }
}

/// The IDs in a consumer's pending list from `lo` to `hi`, at most `limit`.
pub fn owned(
    ks: &mut Ks<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    lo: Id,
    hi: Id,
    limit: usize,
) -> Result<Vec<Id>> {
    if lo > hi || limit == 0 {
        return Ok(Vec::new());
    }
    let (a, b) = (
        layout::owned_field(group, consumer, lo),
        layout::owned_field(group, consumer, hi),
    );
    let rows = ks.field_range(key, Bound::Included(&a), Bound::Included(&b), false, limit)?;
    rows.into_iter()
        .map(|(f, _)| layout::id_at_end(&f).ok_or_else(|| malformed("owned")))
        .collect()
}

/// The number of entries in a consumer's pending list.
pub fn owned_count(ks: &mut Ks<'_>, key: &[u8], group: &[u8], consumer: &[u8]) -> Result<u64> {
    let prefix = layout::owned_prefix(group, consumer);
    count_prefixed(ks, key, &prefix)
}

/// The number of the group's pending entries.
pub fn pending_count(ks: &mut Ks<'_>, key: &[u8], group: &[u8]) -> Result<u64> {
    count_prefixed(ks, key, &layout::pending_prefix(group))
}

fn count_prefixed(ks: &mut Ks<'_>, key: &[u8], prefix: &[u8]) -> Result<u64> {
    let end = crate::keyspace::successor(prefix);
    let hi = match &end {
        Some(e) => Bound::Excluded(e.as_slice()),
        None => Bound::Unbounded,
    };
    Ok(ks.count_fields(key, Bound::Included(prefix), hi)?)
}

/// An entry as Redis replies it: `[id, [field, value, …]]`.
pub fn entry_reply((id, pairs): Entry) -> Reply {
    Reply::Array(vec![
        Reply::Bulk(id.to_string().into_bytes()),
        Reply::Array(pairs.into_iter().map(Reply::Bulk).collect()),
    ])
}

pub fn id_reply(id: Id) -> Reply {
    Reply::Bulk(id.to_string().into_bytes())
}

/// Redis' `streamRangeHasTombstones`: an XDEL may have left a hole between `start` and `end`.
pub fn has_tombstones(meta: &Meta, first: Id, start: Id, end: Id) -> bool {
    if meta.length == 0 || meta.max_deleted.is_zero() || first > meta.max_deleted {
        return false;
    }
    start <= meta.max_deleted && meta.max_deleted <= end
}

/// Redis' `streamEstimateDistanceFromFirstEverEntry`: the entries-read counter of `id` (-1:
/// unknown).
pub fn estimate_read(meta: &Meta, first: Id, id: Id) -> i64 {
    if meta.entries_added == 0 {
        return 0;
    }
    if meta.length == 0 && id <= meta.last_id {
        return meta.entries_added as i64;
    }
    if id == meta.last_id {
        return meta.entries_added as i64;
    } else if id > meta.last_id {
        return -1;
    }
    if meta.max_deleted.is_zero() || meta.max_deleted < first {
        if id < first {
            return (meta.entries_added - meta.length) as i64;
        } else if id == first {
            return (meta.entries_added - meta.length + 1) as i64;
        }
    }
    -1
}

/// A group's lag as XINFO GROUPS gives it (None: unknown).
pub fn lag(meta: &Meta, first: Id, group: &Group) -> Option<i64> {
    if meta.entries_added == 0 {
        return Some(0);
    }
    if group.entries_read != -1 && !has_tombstones(meta, first, group.last_id, Id::MAX) {
        return Some(meta.entries_added as i64 - group.entries_read);
    }
    match estimate_read(meta, first, group.last_id) {
        -1 => None,
        read => Some(meta.entries_added as i64 - read),
    }
}

/// XLEN.
pub fn xlen(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Int(stream(ks, &a[0])?.map_or(0, |m| m.length) as i64))
    })())
}

/// XRANGE and XREVRANGE (`rev`: the bounds come end first).
fn range(ks: &mut Ks<'_>, a: &[Vec<u8>], rev: bool) -> mmtree::Result<Reply> {
    let (start, end) = if rev { (&a[2], &a[1]) } else { (&a[1], &a[2]) };
    let (lo, hi) = match parse_interval(start, end) {
        Ok(b) => b,
        Err(e) => return Ok(e),
    };
    let mut count: Option<i64> = None;
    let mut rest = Args::new(&a[3..]);
    while !rest.is_empty() {
        match rest.eat_value("COUNT").map(super::parse_i64) {
            Some(Some(n)) => count = Some(n.max(0)),
            Some(None) => return Ok(Reply::Error(NOT_INT.into())),
            None => return Ok(Reply::Error(SYNTAX.into())),
        }
    }
    reply((|| {
        if stream(ks, &a[0])?.is_none() {
            return Ok(Reply::Array(Vec::new()));
        }
        if count == Some(0) {
            return Ok(Reply::NullArray);
        }
        let limit = count.map_or(usize::MAX, |n| n as usize);
        let found = entries(ks, &a[0], lo, hi, rev, limit)?;
        Ok(Reply::Array(found.into_iter().map(entry_reply).collect()))
    })())
}

/// XRANGE.
pub fn xrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, a, false)
}

/// XREVRANGE.
pub fn xrevrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, a, true)
}

/// The options XREAD and XREADGROUP share: COUNT, BLOCK, NOACK, STREAMS keys and IDs.
pub struct ReadArgs {
    pub group: Option<(Vec<u8>, Vec<u8>)>,
    pub count: usize,
    pub block: Option<u64>,
    pub noack: bool,
    pub keys: Vec<Vec<u8>>,
    pub ids: Vec<Vec<u8>>,
}

/// Parses XREAD's (`group`: false) or XREADGROUP's arguments as Redis' `xreadCommand`.
pub fn parse_read(a: &[Vec<u8>], with_group: bool) -> std::result::Result<ReadArgs, Reply> {
    let err = |m: &str| Reply::Error(m.into());
    let mut out = ReadArgs {
        group: None,
        count: 0,
        block: None,
        noack: false,
        keys: Vec::new(),
        ids: Vec::new(),
    };
    let mut i = 0;
    let mut streams_at = None;
    while i < a.len() {
        let more = a.len() - i - 1;
        let opt = &a[i];
        if opt.eq_ignore_ascii_case(b"BLOCK") && more >= 1 {
            let ms = super::parse_i64(&a[i + 1])
                .ok_or_else(|| err("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(err("ERR timeout is negative"));
            }
            out.block = Some(ms as u64);
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"COUNT") && more >= 1 {
            let n = super::parse_i64(&a[i + 1]).ok_or_else(|| err(NOT_INT))?;
            out.count = n.max(0) as usize;
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"STREAMS") && more >= 1 {
            streams_at = Some(i + 1);
            break;
        } else if opt.eq_ignore_ascii_case(b"GROUP") && more >= 2 {
            if !with_group {
                return Err(err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            out.group = Some((a[i + 1].clone(), a[i + 2].clone()));
            i += 2;
        } else if opt.eq_ignore_ascii_case(b"NOACK") {
            if !with_group {
                return Err(err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            out.noack = true;
        } else {
            return Err(err(SYNTAX));
        }
        i += 1;
    }
    let Some(at) = streams_at else {
        return Err(err(SYNTAX));
    };
    let rest = &a[at..];
    if !rest.len().is_multiple_of(2) {
        let name = if with_group { "xreadgroup" } else { "xread" };
        let what = if with_group { "'>'" } else { "'$'" };
        return Err(err(&format!(
            "ERR Unbalanced '{name}' list of streams: for each stream key an ID or {what} must be specified."
        )));
    }
    if with_group && out.group.is_none() {
        return Err(err("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = rest.len() / 2;
    out.keys = rest[..n].to_vec();
    out.ids = rest[n..].to_vec();
    Ok(out)
}

/// Each key XREAD reads with the ID it reads after.
pub type Starts = Vec<(Vec<u8>, Id)>;

/// Where XREAD reads each key from (`$` resolved to the stream's last ID), or the error of an
/// ID that does not parse: every ID is parsed before anything is read, as Redis.
pub fn xread_from(ks: &mut Ks<'_>, args: &ReadArgs) -> Result<std::result::Result<Starts, Reply>> {
    let mut from = Vec::with_capacity(args.keys.len());
    for (key, id) in args.keys.iter().zip(&args.ids) {
        if id.as_slice() == b"$" {
            from.push((key.clone(), stream(ks, key)?.map_or(Id::MIN, |m| m.last_id)));
        } else if id.as_slice() == b">" {
            return Ok(Err(Reply::Error("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.".into())));
        } else {
            match parse_id(id) {
                Ok(id) => from.push((key.clone(), id)),
                Err(e) => return Ok(Err(e)),
            }
        }
    }
    Ok(Ok(from))
}

/// The entries after each key's ID (at most `count` a key; 0: all), as XREAD's (key, entries)
/// pairs, keys without any left out.
pub fn read_after(
    ks: &mut Ks<'_>,
    from: &[(Vec<u8>, Id)],
    count: usize,
) -> Result<Vec<(Reply, Reply)>> {
    let mut out = Vec::new();
    for (key, after) in from {
        let Some(meta) = stream(ks, key)? else {
            continue;
        };
        if meta.length == 0 || meta.last_id <= *after {
            continue;
        }
        let Some(lo) = after.next() else { continue };
        let limit = if count == 0 { usize::MAX } else { count };
        let found = entries(ks, key, lo, Id::MAX, false, limit)?;
        if !found.is_empty() {
            out.push((
                Reply::Bulk(key.clone()),
                Reply::Array(found.into_iter().map(entry_reply).collect()),
            ));
        }
    }
    Ok(out)
}

/// XREAD's and XREADGROUP's reply: a map of key → entries in RESP3 (Redis 7 replies a map),
/// an array of pairs in RESP2; nil if nothing.
pub fn streams_reply(found: Vec<(Reply, Reply)>) -> Reply {
    if found.is_empty() {
        return Reply::NullArray;
    }
    Reply::Keyed(found)
}

/// Redis' NOGROUP error of XINFO, XGROUP and XCLAIM.
pub fn nogroup(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

/// XPENDING key group [[IDLE ms] start end count [consumer]].
pub fn xpending(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (key, group_name) = (&a[0], &a[1]);
    let argc = a.len() + 1;
    if argc != 3 && !(6..=9).contains(&argc) {
        return Ok(Reply::Error(SYNTAX.into()));
    }
    let mut extended = None;
    if argc >= 6 {
        let mut at = 2;
        let mut min_idle = 0i64;
        if a[2].eq_ignore_ascii_case(b"IDLE") {
            match super::parse_i64(&a[3]) {
                Some(n) => min_idle = n,
                None => return Ok(Reply::Error(NOT_INT.into())),
            }
            if argc < 8 {
                return Ok(Reply::Error(SYNTAX.into()));
            }
            at += 2;
        }
        let count = match a.get(at + 2).and_then(|c| super::parse_i64(c)) {
            Some(n) => n.max(0) as usize,
            None => return Ok(Reply::Error(NOT_INT.into())),
        };
        let (lo, hi) = match parse_interval(&a[at], &a[at + 1]) {
            Ok(b) => b,
            Err(e) => return Ok(e),
        };
        let consumer = a.get(at + 3).cloned();
        if a.len() > at + 4 {
            return Ok(Reply::Error(SYNTAX.into()));
        }
        extended = Some((min_idle, lo, hi, count, consumer));
    }
    let now = ks.now;
    reply((|| {
        let group = match stream(ks, key)? {
            Some(_) => group(ks, key, group_name)?,
            None => None,
        };
        if group.is_none() {
            return Ok(Reply::Error(format!(
                "NOGROUP No such key '{}' or consumer group '{}'",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(group_name)
            )));
        }
        let Some((min_idle, lo, hi, count, consumer)) = extended else {
            let total = pending_count(ks, key, group_name)?;
            if total == 0 {
                return Ok(Reply::Array(vec![
                    Reply::Int(0),
                    Reply::Null,
                    Reply::Null,
                    Reply::NullArray,
                ]));
            }
            let first = pending(ks, key, group_name, Id::MIN, Id::MAX, 1)?;
            let (a2, b2) = (
                layout::pending_field(group_name, Id::MIN),
                layout::pending_field(group_name, Id::MAX),
            );
            let last = ks.field_range(key, Bound::Included(&a2), Bound::Included(&b2), true, 1)?;
            let last = last
                .first()
                .and_then(|(f, _)| layout::id_at_end(f))
                .ok_or_else(|| malformed("pending"))?;
            let mut per = Vec::new();
            for (name, _) in consumers(ks, key, group_name)? {
                let n = owned_count(ks, key, group_name, &name)?;
                if n > 0 {
                    per.push(Reply::Array(vec![
                        Reply::Bulk(name),
                        Reply::Bulk(n.to_string().into_bytes()),
                    ]));
                }
            }
            return Ok(Reply::Array(vec![
                Reply::Int(total as i64),
                id_reply(first[0].0),
                id_reply(last),
                Reply::Array(per),
            ]));
        };
        let mut out = Vec::new();
        let line = |id: Id, p: &Pending| {
            Reply::Array(vec![
                id_reply(id),
                Reply::Bulk(p.consumer.clone()),
                Reply::Int(now.saturating_sub(p.delivered) as i64),
                Reply::Int(p.count as i64),
            ])
        };
        let idle_ok = |p: &Pending| min_idle <= 0 || now as i64 - p.delivered as i64 >= min_idle;
        match consumer {
            Some(name) => {
                if consumer_of(ks, key, group_name, &name)?.is_none() {
                    return Ok(Reply::Array(Vec::new()));
                }
                let mut from = lo;
                while out.len() < count {
                    let ids = owned(ks, key, group_name, &name, from, hi, 256)?;
                    let Some(&last) = ids.last() else { break };
                    for id in ids {
                        if out.len() == count {
                            break;
                        }
                        if let Some(p) = pending_one(ks, key, group_name, id)? {
                            if idle_ok(&p) {
                                out.push(line(id, &p));
                            }
                        }
                    }
                    match last.next() {
                        Some(n) => from = n,
                        None => break,
                    }
                }
            }
            None => {
                let mut from = lo;
                while out.len() < count {
                    let rows = pending(ks, key, group_name, from, hi, 256)?;
                    let Some(&(last, _)) = rows.last() else { break };
                    for (id, p) in rows {
                        if out.len() < count && idle_ok(&p) {
                            out.push(line(id, &p));
                        }
                    }
                    match last.next() {
                        Some(n) => from = n,
                        None => break,
                    }
                }
            }
        }
        Ok(Reply::Array(out))
    })())
}

fn consumer_of(ks: &mut Ks<'_>, key: &[u8], group: &[u8], name: &[u8]) -> Result<Option<u64>> {
    consumer(ks, key, group, name)
}

/// Redis' rax figures, estimated: one key per node of `stream-node-max-entries` entries that
/// still holds one (an entry's node is its ordinal's, as `store::stream` keeps it), and one
/// node more than keys (Redis' count of inner nodes depends on its keys' bytes: not modelled).
fn rax_figures(ks: &mut Ks<'_>, key: &[u8]) -> Result<(i64, i64)> {
    let (lo, hi) = (layout::entry_field(Id::MIN), layout::entry_field(Id::MAX));
    let mut edge = |rev: bool| -> Result<Option<u64>> {
        let rows = ks.field_range(key, Bound::Included(&lo), Bound::Included(&hi), rev, 1)?;
        Ok(rows.first().and_then(|(_, v)| layout::entry_ordinal(v)))
    };
    let (Some(first), Some(last)) = (edge(false)?, edge(true)?) else {
        return Ok((0, 1));
    };
    let node = |o: u64| o.saturating_sub(1) / layout::node_entries();
    let keys = (node(last) - node(first).min(node(last)) + 1) as i64;
    Ok((keys, keys + 1))
}

fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}

/// XINFO STREAM key [FULL [COUNT n]].
pub fn xinfo_stream(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let key = &a[0];
    let mut full = false;
    let mut count = 10usize;
    let mut rest = Args::new(&a[1..]);
    if rest.eat("FULL") {
        full = true;
        if let Some(n) = rest.eat_value("COUNT") {
            match super::parse_i64(n) {
                Some(n) => count = if n <= 0 { usize::MAX } else { n as usize },
                None => return Ok(Reply::Error(NOT_INT.into())),
            }
        }
    }
    if !rest.is_empty() {
        return Ok(Reply::Error(
            "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP."
                .into(),
        ));
    }
    let now = ks.now;
    reply((|| {
        let Some(meta) = stream(ks, key)? else {
            return Ok(Reply::Error("ERR no such key".into()));
        };
        let first = first_id(ks, key)?;
        let (rkeys, rnodes) = rax_figures(ks, key)?;
        let mut m = vec![
            (bulk("length"), Reply::Int(meta.length as i64)),
            (bulk("radix-tree-keys"), Reply::Int(rkeys)),
            (bulk("radix-tree-nodes"), Reply::Int(rnodes)),
            (bulk("last-generated-id"), id_reply(meta.last_id)),
            (bulk("max-deleted-entry-id"), id_reply(meta.max_deleted)),
            (bulk("entries-added"), Reply::Int(meta.entries_added as i64)),
            (bulk("recorded-first-entry-id"), id_reply(first)),
        ];
        let groups = groups(ks, key)?;
        if !full {
            m.push((bulk("groups"), Reply::Int(groups.len() as i64)));
            let first_entry = edge(ks, key, false)?;
            let last_entry = edge(ks, key, true)?;
            m.push((
                bulk("first-entry"),
                first_entry.map_or(Reply::Null, entry_reply),
            ));
            m.push((
                bulk("last-entry"),
                last_entry.map_or(Reply::Null, entry_reply),
            ));
            return Ok(Reply::Map(m));
        }
        let shown = entries(ks, key, Id::MIN, Id::MAX, false, count)?;
        m.push((
            bulk("entries"),
            Reply::Array(shown.into_iter().map(entry_reply).collect()),
        ));
        let mut gs = Vec::new();
        for (name, g) in groups {
            let pel = pending(ks, key, &name, Id::MIN, Id::MAX, count)?;
            let pel_count = pending_count(ks, key, &name)?;
            let mut cs = Vec::new();
            for (cname, seen) in consumers(ks, key, &name)? {
                let ids = owned(ks, key, &name, &cname, Id::MIN, Id::MAX, count)?;
                let mut lines = Vec::new();
                for id in ids {
                    if let Some(p) = pending_one(ks, key, &name, id)? {
                        lines.push(Reply::Array(vec![
                            id_reply(id),
                            Reply::Int(p.delivered as i64),
                            Reply::Int(p.count as i64),
                        ]));
                    }
                }
                cs.push(Reply::Map(vec![
                    (bulk("name"), Reply::Bulk(cname.clone())),
                    (bulk("seen-time"), Reply::Int(seen as i64)),
                    (
                        bulk("pel-count"),
                        Reply::Int(owned_count(ks, key, &name, &cname)? as i64),
                    ),
                    (bulk("pending"), Reply::Array(lines)),
                ]));
            }
            let _ = now;
            gs.push(Reply::Map(vec![
                (bulk("name"), Reply::Bulk(name.clone())),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), entries_read_reply(g.entries_read)),
                (
                    bulk("lag"),
                    lag(&meta, first, &g).map_or(Reply::Null, Reply::Int),
                ),
                (bulk("pel-count"), Reply::Int(pel_count as i64)),
                (
                    bulk("pending"),
                    Reply::Array(
                        pel.into_iter()
                            .map(|(id, p)| {
                                Reply::Array(vec![
                                    id_reply(id),
                                    Reply::Bulk(p.consumer),
                                    Reply::Int(p.delivered as i64),
                                    Reply::Int(p.count as i64),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (bulk("consumers"), Reply::Array(cs)),
            ]));
        }
        m.push((bulk("groups"), Reply::Array(gs)));
        Ok(Reply::Map(m))
    })())
}

fn entries_read_reply(n: i64) -> Reply {
    if n == -1 {
        Reply::Null
    } else {
        Reply::Int(n)
    }
}

/// XINFO GROUPS key.
pub fn xinfo_groups(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let key = &a[0];
    reply((|| {
        let Some(meta) = stream(ks, key)? else {
            return Ok(Reply::Error("ERR no such key".into()));
        };
        let first = first_id(ks, key)?;
        let mut out = Vec::new();
        for (name, g) in groups(ks, key)? {
            let consumers = consumers(ks, key, &name)?.len();
            let pending = pending_count(ks, key, &name)?;
            out.push(Reply::Map(vec![
                (bulk("name"), Reply::Bulk(name)),
                (bulk("consumers"), Reply::Int(consumers as i64)),
                (bulk("pending"), Reply::Int(pending as i64)),
                (bulk("last-delivered-id"), id_reply(g.last_id)),
                (bulk("entries-read"), entries_read_reply(g.entries_read)),
                (
                    bulk("lag"),
                    lag(&meta, first, &g).map_or(Reply::Null, Reply::Int),
                ),
            ]));
        }
        Ok(Reply::Array(out))
    })())
}

/// XINFO CONSUMERS key group.
pub fn xinfo_consumers(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let (key, group_name) = (&a[0], &a[1]);
    let now = ks.now;
    reply((|| {
        if stream(ks, key)?.is_none() {
            return Ok(Reply::Error("ERR no such key".into()));
        }
        if group(ks, key, group_name)?.is_none() {
            return Ok(nogroup(key, group_name));
        }
        let mut out = Vec::new();
        for (name, seen) in consumers(ks, key, group_name)? {
            let pending = owned_count(ks, key, group_name, &name)?;
            out.push(Reply::Map(vec![
                (bulk("name"), Reply::Bulk(name)),
                (bulk("pending"), Reply::Int(pending as i64)),
                (bulk("idle"), Reply::Int(now.saturating_sub(seen) as i64)),
            ]));
        }
        Ok(Reply::Array(out))
    })())
}
