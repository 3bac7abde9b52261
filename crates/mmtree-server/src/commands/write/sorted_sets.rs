//! Sorted-set writes: ZADD (NX/XX/GT/LT/CH/INCR), ZINCRBY, ZREM, ZPOPMIN/ZPOPMAX, ZMPOP,
//! ZREMRANGEBYSCORE/RANK/LEX, ZRANGESTORE, ZUNIONSTORE/ZINTERSTORE/ZDIFFSTORE. What they select
//! is read through the keyspace layer over this transaction (`commands::sorted_sets`), as the
//! reads are.

use super::err;
use super::{fault_reply, reading};
use crate::commands::args::Args;
use crate::commands::sorted_sets as zread;
use crate::keyspace::{Fault, Ks};
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// The selection `f` makes from the sorted set at `key` (given its size), read over the
/// transaction, or the command's error reply.
macro_rules! read_zset {
    ($tx:ident, $key:expr, $f:expr) => {
        match reading($tx, |ks| {
            let len = zread::zlen(ks, $key)?;
            ($f)(ks, len)
        }) {
            Ok(v) => v,
            Err(fault) => return fault_reply(fault),
        }
    };
}

/// ZADD's options (GEOADD takes NX, XX and CH of them).
#[derive(Clone, Copy, Debug, Default)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// ZADD and ZINCRBY (`zincrby`: ZADD INCR's reply, without ZADD's options).
fn add_scores(tx: &mut Tx<'_>, zincrby: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    let mut flags = AddFlags {
        incr: zincrby,
        ..AddFlags::default()
    };
    let mut args = Args::new(&a[1.min(a.len())..]);
    if !zincrby {
        loop {
            if args.eat("NX") {
                flags.nx = true;
            } else if args.eat("XX") {
                flags.xx = true;
            } else if args.eat("GT") {
                flags.gt = true;
            } else if args.eat("LT") {
                flags.lt = true;
            } else if args.eat("CH") {
                flags.ch = true;
            } else if args.eat("INCR") {
                flags.incr = true;
            } else {
                break;
            }
        }
    }
    let pairs = args.rest();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return if zincrby {
            Ok(wrong_args("ZINCRBY"))
        } else {
            err("ERR syntax error")
        };
    }
    let AddFlags { nx, xx, gt, lt, .. } = flags;
    if nx && xx {
        return err("ERR XX and NX options at the same time are not compatible");
    }
    if ((gt || lt) && nx) || (gt && lt) {
        return err("ERR GT, LT, and/or NX options at the same time are not compatible");
    }
    if flags.incr && pairs.len() > 2 {
        return err("ERR INCR option supports a single increment-element pair");
    }
    let mut scored = Vec::with_capacity(pairs.len() / 2);
    for pair in pairs.chunks(2) {
        match parse_float(&pair[0]) {
            Some(f) if !f.is_nan() => scored.push((f, &pair[1][..])),
            _ => return err("ERR value is not a valid float"),
        }
    }
    add_members(tx, &a[0], flags, &scored)
}

/// Adds (or updates) the members of the sorted set at `key` with their scores, as ZADD with
/// `flags` (its options already checked for conflicts): ZADD's, ZINCRBY's and GEOADD's reply.
pub fn add_members(
    tx: &mut Tx<'_>,
    key: &[u8],
    flags: AddFlags,
    scored: &[(f64, &[u8])],
) -> TxResult<Reply> {
    let AddFlags {
        nx,
        xx,
        gt,
        lt,
        ch,
        incr,
    } = flags;
    if scored
        .iter()
        .any(|(_, m)| 13 + key.len() + m.len() > tx.max_key)
    {
        return err("ERR sorted set key and member too large");
    }
    let before = collection!(tx, key, b"zset");
    // The rows go in one by one; the count row is written once, after them (`store_count`).
    let mut count = before;
    let (mut added, mut changed) = (0i64, 0i64);
    let mut last: Option<f64> = None;
    let mut nan = false;
    for &(score, member) in scored {
        let mfield = zmember(member);
        let old = match count {
            Some(_) => tx.field(key, &mfield)?.map(|v| score_of(&v)),
            None => None,
        };
        let new = match (old, incr) {
            (Some(o), true) => o + score,
            _ => score,
        };
        if new.is_nan() {
            nan = true;
            break;
        }
        let skip = match old {
            None => xx,
            Some(o) => nx || (gt && new <= o) || (lt && new >= o),
        };
        if skip {
            last = None;
            continue;
        }
        let mut n = count.unwrap_or(0);
        if let Some(o) = old {
            if o == new {
                last = Some(new);
                continue;
            }
            // The old order row (and the one an older server wrote for -0). A member's order
            // row is at the score its member row holds: there, so deleted without a lookup.
            let removed = if o == 0.0 && o.is_sign_negative() {
                tx.remove_row(key, &zorder(member, o))?
                    || tx.remove_row(key, &zorder_negative_zero(member))?
            } else {
                tx.delete_row(key, &zorder(member, o))?;
                true
            };
            n = n.saturating_sub(u64::from(removed));
            changed += 1;
        } else {
            // A new member: its member row is new (absent above), so is its order row.
            n += 1;
            added += 1;
        }
        // The member row (replaced if the member was there) and the order row at the new
        // score (no member has a row at the score it does not hold: a new row).
        tx.insert_row(key, &mfield, &score_bytes(new))?;
        tx.insert_row(key, &zorder(member, new), b"")?;
        count = Some(n + 1);
        last = Some(new);
    }
    tx.store_count(b"zset", key, before, count)?;
    if nan {
        return err("ERR resulting score is not a number (NaN)");
    }
    if added + changed > 0 {
        let event = if incr { "zincr" } else { "zadd" };
        tx.notify(notify::ZSET, event, key);
    }
    Ok(if incr {
        last.map_or(Reply::Null, |f| Reply::Double(format_score(f)))
    } else {
        Reply::Int(if ch { added + changed } else { added })
    })
}

/// ZADD.
pub fn zadd(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    add_scores(tx, false, a)
}

/// ZINCRBY.
pub fn zincrby(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    add_scores(tx, true, a)
}

/// ZREM.
pub fn zrem(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args("ZREM"));
    }
    let mut count = collection!(tx, &a[0], b"zset");
    let mut removed = 0;
    for member in &a[1..] {
        if count.is_none() {
            break;
        }
        let mfield = zmember(member);
        let Some(v) = tx.field(&a[0], &mfield)? else {
            continue;
        };
        tx.hdel_order(&a[0], member, score_of(&v), &mut count)?;
        tx.hdel(&a[0], &mfield, &mut count)?;
        removed += 1;
    }
    if removed > 0 {
        tx.notify_and_gone(notify::ZSET, "zrem", &a[0])?;
    }
    Ok(Reply::Int(removed))
}

/// ZPOPMIN and ZPOPMAX (`max`).
fn pop_members(tx: &mut Tx<'_>, name: &str, max: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.is_empty() || a.len() > 2 {
        return Ok(wrong_args(name));
    }
    let wanted = match pop_count(a.get(1)) {
        Ok(wanted) => wanted,
        Err(e) => return Ok(e),
    };
    let popped = match pop(tx, &a[0], max, wanted.unwrap_or(1))? {
        Ok(popped) => popped,
        Err(e) => return Ok(e),
    };
    Ok(match wanted {
        // One member: a flat [member, score] (empty for none), in both protocols.
        None => Reply::Array(
            popped
                .into_iter()
                .flat_map(|(m, s)| [Reply::Bulk(m), Reply::Double(format_score(s))])
                .collect(),
        ),
        Some(_) => zread::members_reply(popped, true),
    })
}

/// ZPOPMIN.
pub fn zpopmin(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    pop_members(tx, "ZPOPMIN", false, a)
}

/// ZPOPMAX.
pub fn zpopmax(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    pop_members(tx, "ZPOPMAX", true, a)
}

/// ZMPOP.
pub fn zmpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let n = match zread::numkeys(zread::Numkeys::Pop, a) {
        Ok(n) => n,
        Err(e) => return Ok(e),
    };
    let mut args = Args::new(&a[n + 1..]);
    let max = if args.eat("MAX") {
        true
    } else if args.eat("MIN") {
        false
    } else {
        return err("ERR syntax error");
    };
    let mut count = 1;
    if args.rest().len() >= 2 && args.eat("COUNT") {
        match args.take_i64() {
            Some(Some(c)) if c > 0 => count = c as usize,
            _ => return err("ERR count should be greater than 0"),
        }
    }
    if !args.is_empty() {
        return err("ERR syntax error");
    }
    for key in &a[1..=n] {
        let popped = match pop(tx, key, max, count)? {
            Ok(popped) => popped,
            Err(e) => return Ok(e),
        };
        if !popped.is_empty() {
            let pairs = popped
                .into_iter()
                .map(|(m, s)| Reply::Array(vec![Reply::Bulk(m), Reply::Double(format_score(s))]))
                .collect();
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(pairs),
            ]));
        }
    }
    Ok(Reply::NullArray)
}

/// ZREMRANGEBYSCORE, ZREMRANGEBYRANK and ZREMRANGEBYLEX: removes what `form` selects,
/// announced as `event`.
fn remove_range(
    tx: &mut Tx<'_>,
    form: zread::RangeForm,
    event: &'static str,
    a: &[Vec<u8>],
) -> TxResult<Reply> {
    let range = match zread::parse_range(form, &a[..3]) {
        Ok(r) => r,
        Err(e) => return Ok(e),
    };
    let chosen = read_zset!(tx, &a[0], |ks: &mut Ks<'_>, len| zread::select(
        ks, &a[0], len, &range
    ));
    let mut count = collection!(tx, &a[0], b"zset");
    for (m, s) in &chosen {
        remove_member(tx, &a[0], m, *s, &mut count)?;
    }
    if !chosen.is_empty() {
        tx.notify_and_gone(notify::ZSET, event, &a[0])?;
    }
    Ok(Reply::Int(chosen.len() as i64))
}

/// ZREMRANGEBYSCORE.
pub fn zremrangebyscore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    remove_range(tx, zread::RangeForm::ZRANGEBYSCORE, "zremrangebyscore", a)
}

/// ZREMRANGEBYRANK.
pub fn zremrangebyrank(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    remove_range(tx, zread::RangeForm::BY_RANK, "zremrangebyrank", a)
}

/// ZREMRANGEBYLEX.
pub fn zremrangebylex(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    remove_range(tx, zread::RangeForm::ZRANGEBYLEX, "zremrangebylex", a)
}

/// ZRANGESTORE.
pub fn zrangestore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let range = match zread::parse_range(zread::RangeForm::ZRANGESTORE, a) {
        Ok(r) => r,
        Err(e) => return Ok(e),
    };
    let chosen = read_zset!(tx, &a[1], |ks: &mut Ks<'_>, len| zread::select(
        ks, &a[1], len, &range
    ));
    store_zset(tx, &a[0], chosen, "zrangestore")
}

/// ZUNIONSTORE, ZINTERSTORE and ZDIFFSTORE: `op` over the sources stored at a[0]; `event`
/// (the command's name in lower case) is announced and words the errors.
fn store_combined(
    tx: &mut Tx<'_>,
    op: zread::SetOp,
    event: &'static str,
    a: &[Vec<u8>],
) -> TxResult<Reply> {
    let algebra = match zread::parse_algebra(event, op, &a[1..], true) {
        Ok(x) => x,
        Err(e) => return Ok(e),
    };
    let result = match reading(tx, |ks| zread::compute(ks, op, &algebra)) {
        Ok(r) => r,
        Err(fault) => return fault_reply(fault),
    };
    store_zset(tx, &a[0], result, event)
}

/// ZUNIONSTORE.
pub fn zunionstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, zread::SetOp::Union, "zunionstore", a)
}

/// ZINTERSTORE.
pub fn zinterstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, zread::SetOp::Inter, "zinterstore", a)
}

/// ZDIFFSTORE.
pub fn zdiffstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, zread::SetOp::Diff, "zdiffstore", a)
}

/// Removes a member's two rows.
fn remove_member(
    tx: &mut Tx<'_>,
    key: &[u8],
    member: &[u8],
    score: f64,
    count: &mut Option<u64>,
) -> TxResult<()> {
    tx.hdel_order(key, member, score, count)?;
    tx.hdel(key, &zmember(member), count)?;
    Ok(())
}

/// Pops up to `count` members from the low (or high, `max`) end of the sorted set at `key`,
/// with the zpopmin/zpopmax event (and del if it emptied the key).
fn pop(
    tx: &mut Tx<'_>,
    key: &[u8],
    max: bool,
    count: usize,
) -> TxResult<Result<zread::Scored, Reply>> {
    if count == 0 {
        // Still WRONGTYPE for another type, as Redis.
        if let Err(e) = tx.collection_for_write(key, b"zset")? {
            return Ok(Err(e));
        }
        return Ok(Ok(Vec::new()));
    }
    let range = zread::Range {
        by: zread::By::Rank(0, count.min(i64::MAX as usize) as i64 - 1),
        rev: max,
        limit: None,
        with_scores: true,
    };
    let chosen = match reading(tx, |ks| {
        let len = zread::zlen(ks, key)?;
        zread::select(ks, key, len, &range)
    }) {
        Ok(c) => c,
        Err(Fault::WrongType) => return Ok(Err(Reply::Error(WRONGTYPE.into()))),
        Err(Fault::Db(e)) => return Err(e),
        Err(Fault::Malformed(what)) => {
            return Ok(Err(Reply::Error(format!("ERR damaged data: {what}"))))
        }
    };
    let mut rows = match tx.collection_for_write(key, b"zset")? {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(e)),
    };
    for (m, s) in &chosen {
        remove_member(tx, key, m, *s, &mut rows)?;
    }
    if !chosen.is_empty() {
        let event = if max { "zpopmax" } else { "zpopmin" };
        tx.notify_and_gone(notify::ZSET, event, key)?;
    }
    Ok(Ok(chosen))
}

/// Replaces `dst` by a sorted set of `members` (deleting it if there are none), as the STORE
/// commands do: `event` on dst, or `del` if an existing dst was emptied.
pub fn store_zset(
    tx: &mut Tx<'_>,
    dst: &[u8],
    members: Vec<(Vec<u8>, f64)>,
    event: &'static str,
) -> TxResult<Reply> {
    if let Some((m, _)) = members
        .iter()
        .find(|(m, _)| 13 + dst.len() + m.len() > tx.max_key)
    {
        return Ok(Reply::Error(format!(
            "ERR sorted set key and member too large ({} bytes; the limit is {})",
            13 + dst.len() + m.len(),
            tx.max_key
        )));
    }
    let existed = tx.remove(dst)?;
    if members.is_empty() {
        if existed {
            tx.notify(notify::GENERIC, "del", dst);
        }
        return Ok(Reply::Int(0));
    }
    let mut count = None;
    for (m, s) in &members {
        tx.hset(b"zset", dst, &zmember(m), &score_bytes(*s), &mut count)?;
        tx.hset(b"zset", dst, &zorder(m, *s), b"", &mut count)?;
    }
    tx.notify(notify::ZSET, event, dst);
    Ok(Reply::Int(members.len() as i64))
}
