//! Set writes: SADD, SREM, SPOP, SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE.

use super::{fault_reply, reading};
use crate::commands::sets::{combine, SetOp};

#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// SADD (`add`) and SREM.
fn change_members(tx: &mut Tx<'_>, name: &str, add: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args(name));
    }
    if let Some(m) = a[1..]
        .iter()
        .find(|m| 4 + a[0].len() + m.len() > tx.max_key)
    {
        return Ok(Reply::Error(format!(
            "ERR set key and member too large ({} bytes; the limit is {})",
            4 + a[0].len() + m.len(),
            tx.max_key
        )));
    }
    let mut count = collection!(tx, &a[0], b"set");
    let mut changed = 0;
    for m in &a[1..] {
        changed += i64::from(if add {
            tx.hset(b"set", &a[0], m, b"", &mut count)?
        } else {
            tx.hdel(&a[0], m, &mut count)?
        });
    }
    if changed > 0 {
        let event = if add { "sadd" } else { "srem" };
        tx.notify_and_gone(notify::SET, event, &a[0])?;
    }
    Ok(Reply::Int(changed))
}

/// SADD.
pub fn sadd(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    change_members(tx, "SADD", true, a)
}

/// SREM.
pub fn srem(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    change_members(tx, "SREM", false, a)
}

/// SPOP.
pub fn spop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.is_empty() || a.len() > 2 {
        return Ok(wrong_args("SPOP"));
    }
    let wanted = match pop_count(a.get(1)) {
        Ok(wanted) => wanted,
        Err(e) => return Ok(e),
    };
    let mut count = collection!(tx, &a[0], b"set");
    let mut members: Vec<Vec<u8>> = match count {
        Some(_) => tx.fields(&a[0])?.into_iter().map(|(m, _)| m).collect(),
        None => Vec::new(),
    };
    // A uniform choice of `take` distinct members (a partial Fisher-Yates shuffle).
    let take = wanted.unwrap_or(1).min(members.len());
    let mut x = random_seed(tx.now);
    for i in 0..take {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let j = i + (x % (members.len() - i) as u64) as usize;
        members.swap(i, j);
    }
    members.truncate(take);
    for m in &members {
        tx.hdel(&a[0], m, &mut count)?;
    }
    if take > 0 {
        tx.notify_and_gone(notify::SET, "spop", &a[0])?;
    }
    Ok(match wanted {
        None => members.pop().map_or(Reply::Null, Reply::Bulk),
        Some(_) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
    })
}

/// SMOVE.
pub fn smove(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (src, dst, m) = (&a[0], &a[1], &a[2]);
    if 4 + dst.len() + m.len() > tx.max_key {
        return Ok(Reply::Error(format!(
            "ERR set key and member too large ({} bytes; the limit is {})",
            4 + dst.len() + m.len(),
            tx.max_key
        )));
    }
    // As Redis: no source is 0 before the destination's type is looked at.
    let mut count = collection!(tx, src, b"set");
    if count.is_none() {
        return Ok(Reply::Int(0));
    }
    let mut dst_count = collection!(tx, dst, b"set");
    if src == dst {
        return Ok(Reply::Int(i64::from(tx.field(src, m)?.is_some())));
    }
    if !tx.hdel(src, m, &mut count)? {
        return Ok(Reply::Int(0));
    }
    tx.notify_and_gone(notify::SET, "srem", src)?;
    // A member already in dst leaves dst untouched (no event, no WATCH bump), as Redis.
    let in_dst = dst_count.is_some() && tx.field(dst, m)?.is_some();
    if !in_dst {
        tx.hset(b"set", dst, m, b"", &mut dst_count)?;
        tx.notify(notify::SET, "sadd", dst);
    }
    Ok(Reply::Int(1))
}

/// SINTERSTORE, SUNIONSTORE and SDIFFSTORE: `op` over the sources stored at a[0], announced
/// as `event`.
fn store_combined(
    tx: &mut Tx<'_>,
    op: SetOp,
    event: &'static str,
    a: &[Vec<u8>],
) -> TxResult<Reply> {
    let result = match reading(tx, |ks| combine(ks, op, &a[1..], 0)) {
        Ok(r) => r,
        Err(fault) => return fault_reply(fault),
    };
    let dst = &a[0];
    if let Some(m) = result.iter().find(|m| 4 + dst.len() + m.len() > tx.max_key) {
        return Ok(Reply::Error(format!(
            "ERR set key and member too large ({} bytes; the limit is {})",
            4 + dst.len() + m.len(),
            tx.max_key
        )));
    }
    let existed = tx.remove(dst)?;
    if result.is_empty() {
        if existed {
            tx.notify(notify::GENERIC, "del", dst);
        }
        return Ok(Reply::Int(0));
    }
    let mut count = None;
    for m in &result {
        tx.hset(b"set", dst, m, b"", &mut count)?;
    }
    tx.notify(notify::SET, event, dst);
    Ok(Reply::Int(result.len() as i64))
}

/// SINTERSTORE.
pub fn sinterstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, SetOp::Inter, "sinterstore", a)
}

/// SUNIONSTORE.
pub fn sunionstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, SetOp::Union, "sunionstore", a)
}

/// SDIFFSTORE.
pub fn sdiffstore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    store_combined(tx, SetOp::Diff, "sdiffstore", a)
}
