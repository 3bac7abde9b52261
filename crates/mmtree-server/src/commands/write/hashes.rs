//! Hash writes: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT.

#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    Ok(match name {
        "HSET" | "HMSET" => {
            if a.len() < 3 || a.len().is_multiple_of(2) {
                return Ok(wrong_args(name));
            }
            if let Some(f) = a[1..]
                .iter()
                .step_by(2)
                .find(|f| 4 + a[0].len() + f.len() > tx.max_key)
            {
                return Ok(Reply::Error(format!(
                    "ERR hash key and field too large ({} bytes; the limit is {})",
                    4 + a[0].len() + f.len(),
                    tx.max_key
                )));
            }
            let mut count = hash!(tx, &a[0]);
            let mut added = 0;
            for pair in a[1..].chunks(2) {
                added += i64::from(tx.hset(b"hash", &a[0], &pair[0], &pair[1], &mut count)?);
            }
            tx.notify(notify::HASH, "hset", &a[0]);
            if name == "HSET" {
                Reply::Int(added)
            } else {
                Reply::Ok
            }
        }
        "HSETNX" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            if 4 + a[0].len() + a[1].len() > tx.max_key {
                return err("ERR hash key and field too large");
            }
            let mut count = hash!(tx, &a[0]);
            if count.is_some() && tx.field(&a[0], &a[1])?.is_some() {
                return Ok(Reply::Int(0));
            }
            tx.hset(b"hash", &a[0], &a[1], &a[2], &mut count)?;
            tx.notify(notify::HASH, "hset", &a[0]);
            Reply::Int(1)
        }
        "HDEL" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let mut count = hash!(tx, &a[0]);
            let mut removed = 0;
            for f in &a[1..] {
                removed += i64::from(tx.hdel(&a[0], f, &mut count)?);
            }
            if removed > 0 {
                tx.notify_and_gone(notify::HASH, "hdel", &a[0])?;
            }
            Reply::Int(removed)
        }
        "HINCRBY" | "HINCRBYFLOAT" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            if 4 + a[0].len() + a[1].len() > tx.max_key {
                return err("ERR hash key and field too large");
            }
            let mut count = hash!(tx, &a[0]);
            let old = match count {
                Some(_) => tx.field(&a[0], &a[1])?,
                None => None,
            };
            let text = if name == "HINCRBY" {
                let Some(by) = parse_i64(&a[2]) else {
                    return err(NOT_INT);
                };
                let current = match &old {
                    Some(v) => match parse_i64(v) {
                        Some(n) => n,
                        None => return err("ERR hash value is not an integer"),
                    },
                    None => 0,
                };
                let Some(next) = current.checked_add(by) else {
                    return err("ERR increment or decrement would overflow");
                };
                next.to_string()
            } else {
                let Some(by) = parse_float(&a[2]) else {
                    return err("ERR value is not a valid float");
                };
                // Redis checks the increment itself first (INCRBYFLOAT checks only the sum).
                if !by.is_finite() {
                    return err("ERR value is NaN or Infinity");
                }
                let current = match &old {
                    Some(v) => match parse_float(v) {
                        Some(f) => f,
                        None => return err("ERR hash value is not a float"),
                    },
                    None => 0.0,
                };
                let next = current + by;
                if !next.is_finite() {
                    return err("ERR increment would produce NaN or Infinity");
                }
                format_float(next)
            };
            tx.hset(b"hash", &a[0], &a[1], text.as_bytes(), &mut count)?;
            let event = if name == "HINCRBY" {
                "hincrby"
            } else {
                "hincrbyfloat"
            };
            tx.notify(notify::HASH, event, &a[0]);
            if name == "HINCRBY" {
                Reply::Int(text.parse().unwrap_or(0))
            } else {
                Reply::Bulk(text.into_bytes())
            }
        }
        _ => wrong_args(name),
    })
}
