//! Set writes: SADD, SREM, SPOP, SMOVE, SINTERSTORE, SUNIONSTORE, SDIFFSTORE.

use super::{fault_reply, reading};
use crate::commands::sets::combine;

#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    Ok(match name {
        "SADD" | "SREM" => {
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
                changed += i64::from(if name == "SADD" {
                    tx.hset(b"set", &a[0], m, b"", &mut count)?
                } else {
                    tx.hdel(&a[0], m, &mut count)?
                });
            }
            if changed > 0 {
                let event = if name == "SADD" { "sadd" } else { "srem" };
                tx.notify_and_gone(notify::SET, event, &a[0])?;
            }
            Reply::Int(changed)
        }
        "SPOP" => {
            if a.is_empty() || a.len() > 2 {
                return Ok(wrong_args(name));
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
            match wanted {
                None => members.pop().map_or(Reply::Null, Reply::Bulk),
                Some(_) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
            }
        }
        "SMOVE" => {
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
            Reply::Int(1)
        }
        "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => {
            let op = &name[1..name.len() - 5];
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
            let event = match name {
                "SINTERSTORE" => "sinterstore",
                "SUNIONSTORE" => "sunionstore",
                _ => "sdiffstore",
            };
            tx.notify(notify::SET, event, dst);
            Reply::Int(result.len() as i64)
        }
        _ => wrong_args(name),
    })
}
