//! Hash writes: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT.

#[allow(unused_imports)]
use super::err;
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// HSET and HMSET: the number of fields added.
fn set_fields(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Result<i64, Reply>> {
    if a.len() < 3 || a.len().is_multiple_of(2) {
        return Ok(Err(wrong_args(name)));
    }
    if let Some(f) = a[1..]
        .iter()
        .step_by(2)
        .find(|f| 4 + a[0].len() + f.len() > tx.max_key)
    {
        return Ok(Err(Reply::Error(format!(
            "ERR hash key and field too large ({} bytes; the limit is {})",
            4 + a[0].len() + f.len(),
            tx.max_key
        ))));
    }
    let mut count = match tx.collection_for_write(&a[0], b"hash")? {
        Ok(count) => count,
        Err(e) => return Ok(Err(e)),
    };
    let mut added = 0;
    for pair in a[1..].chunks(2) {
        added += i64::from(tx.hset(b"hash", &a[0], &pair[0], &pair[1], &mut count)?);
    }
    tx.notify(notify::HASH, "hset", &a[0]);
    Ok(Ok(added))
}

/// HSET.
pub fn hset(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    Ok(set_fields(tx, "HSET", a)?.map_or_else(|e| e, Reply::Int))
}

/// HMSET.
pub fn hmset(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    Ok(set_fields(tx, "HMSET", a)?.map_or_else(|e| e, |_| Reply::Ok))
}

/// HSETNX.
pub fn hsetnx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 3 {
        return Ok(wrong_args("HSETNX"));
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
    Ok(Reply::Int(1))
}

/// HDEL.
pub fn hdel(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args("HDEL"));
    }
    let mut count = hash!(tx, &a[0]);
    let mut removed = 0;
    for f in &a[1..] {
        removed += i64::from(tx.hdel(&a[0], f, &mut count)?);
    }
    if removed > 0 {
        tx.notify_and_gone(notify::HASH, "hdel", &a[0])?;
    }
    Ok(Reply::Int(removed))
}

/// A field's new text from its old value and the increment, or the command's error.
type Increment = fn(Option<&[u8]>, &[u8]) -> Result<String, Reply>;

/// HINCRBY and HINCRBYFLOAT: the field's new text from its old value and the increment
/// (`next`, or the command's error), stored and announced as `event`.
fn increment_field(
    tx: &mut Tx<'_>,
    a: &[Vec<u8>],
    event: &'static str,
    next: Increment,
) -> TxResult<Result<String, Reply>> {
    if 4 + a[0].len() + a[1].len() > tx.max_key {
        return Ok(Err(Reply::Error("ERR hash key and field too large".into())));
    }
    let mut count = match tx.collection_for_write(&a[0], b"hash")? {
        Ok(count) => count,
        Err(e) => return Ok(Err(e)),
    };
    let old = match count {
        Some(_) => tx.field(&a[0], &a[1])?,
        None => None,
    };
    let text = match next(old.as_deref(), &a[2]) {
        Ok(text) => text,
        Err(e) => return Ok(Err(e)),
    };
    tx.hset(b"hash", &a[0], &a[1], text.as_bytes(), &mut count)?;
    tx.notify(notify::HASH, event, &a[0]);
    Ok(Ok(text))
}

/// HINCRBY.
pub fn hincrby(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let next = |old: Option<&[u8]>, by: &[u8]| {
        let err = |m: &str| Err(Reply::Error(m.into()));
        let Some(by) = parse_i64(by) else {
            return err(NOT_INT);
        };
        let current = match old {
            Some(v) => match parse_i64(v) {
                Some(n) => n,
                None => return err("ERR hash value is not an integer"),
            },
            None => 0,
        };
        let Some(next) = current.checked_add(by) else {
            return err("ERR increment or decrement would overflow");
        };
        Ok(next.to_string())
    };
    Ok(increment_field(tx, a, "hincrby", next)?
        .map_or_else(|e| e, |text| Reply::Int(text.parse().unwrap_or(0))))
}

/// HINCRBYFLOAT.
pub fn hincrbyfloat(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let next = |old: Option<&[u8]>, by: &[u8]| {
        let err = |m: &str| Err(Reply::Error(m.into()));
        let Some(by) = parse_float(by) else {
            return err("ERR value is not a valid float");
        };
        // Redis checks the increment itself first (INCRBYFLOAT checks only the sum).
        if !by.is_finite() {
            return err("ERR value is NaN or Infinity");
        }
        let current = match old {
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
        Ok(format_float(next))
    };
    Ok(increment_field(tx, a, "hincrbyfloat", next)?
        .map_or_else(|e| e, |text| Reply::Bulk(text.into_bytes())))
}
