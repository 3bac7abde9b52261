//! Set writes: SADD, SREM, SPOP.

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
        _ => wrong_args(name),
    })
}
