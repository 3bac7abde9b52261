//! List writes: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP.

#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    Ok(match name {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            if 12 + a[0].len() > tx.max_key {
                return err("ERR list key too large");
            }
            let mut count = collection!(tx, &a[0], b"list");
            if count.is_none() && name.ends_with('X') {
                return Ok(Reply::Int(0));
            }
            let (mut head, mut tail) = match tx.list_ends(&a[0])? {
                Some(ends) if count.is_some() => ends,
                _ => (LIST_MIDDLE + 1, LIST_MIDDLE),
            };
            for e in &a[1..] {
                let at = if name.starts_with('L') {
                    head -= 1;
                    head
                } else {
                    tail += 1;
                    tail
                };
                tx.hset(b"list", &a[0], &at.to_be_bytes(), e, &mut count)?;
            }
            let event = if name.starts_with('L') {
                "lpush"
            } else {
                "rpush"
            };
            tx.notify(notify::LIST, event, &a[0]);
            Reply::Int(count.unwrap_or(0) as i64)
        }
        "LPOP" | "RPOP" => {
            if a.is_empty() || a.len() > 2 {
                return Ok(wrong_args(name));
            }
            let wanted = match pop_count(a.get(1)) {
                Ok(wanted) => wanted,
                Err(e) => return Ok(e),
            };
            let mut count = collection!(tx, &a[0], b"list");
            let Some((head, tail)) = tx.list_ends(&a[0])?.filter(|_| count.is_some()) else {
                return Ok(match wanted {
                    None => Reply::Null,
                    Some(_) => Reply::NullArray,
                });
            };
            let take = wanted.unwrap_or(1).min((tail - head + 1) as usize);
            let mut popped = Vec::with_capacity(take);
            for i in 0..take as u64 {
                let at = if name == "LPOP" { head + i } else { tail - i };
                let at = at.to_be_bytes();
                popped.push(tx.field(&a[0], &at)?.unwrap_or_default());
                tx.hdel(&a[0], &at, &mut count)?;
            }
            if take > 0 {
                let event = if name == "LPOP" { "lpop" } else { "rpop" };
                tx.notify_and_gone(notify::LIST, event, &a[0])?;
            }
            match wanted {
                None => popped.pop().map_or(Reply::Null, Reply::Bulk),
                Some(_) => Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
            }
        }
        _ => wrong_args(name),
    })
}
