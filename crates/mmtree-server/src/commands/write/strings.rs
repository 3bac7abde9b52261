//! String writes: SET (and its NX/XX/GET/expiry options), SETNX, SETEX, PSETEX, GETSET, GETDEL,
//! MSET, MSETNX, INCR/DECR/INCRBY/DECRBY, INCRBYFLOAT, APPEND, GETEX, SETRANGE, SETBIT.

use super::err;
use crate::commands::args::{Args, ExpiryUnit};
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// SET.
pub fn set(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args("SET"));
    }
    let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
    let mut expiry: Option<u64> = None;
    let mut args = Args::new(&a[2..]);
    while !args.is_empty() {
        if args.eat("NX") {
            nx = true;
        } else if args.eat("XX") {
            xx = true;
        } else if args.eat("GET") {
            get = true;
        } else if args.eat("KEEPTTL") {
            keep_ttl = true;
        } else if let Some(unit) = expiry
            .is_none()
            .then(|| ExpiryUnit::eat(&mut args))
            .flatten()
        {
            let at = args
                .take_i64()
                .flatten()
                .filter(|&n| n > 0)
                .and_then(|n| unit.deadline(n, tx.now));
            match at {
                Some(at) => expiry = Some(at as u64),
                None => {
                    return Ok(Reply::Error(
                        "ERR invalid expire time in 'set' command".into(),
                    ))
                }
            }
        } else {
            return Ok(Reply::Error("ERR syntax error".into()));
        }
    }
    if (nx && xx) || (keep_ttl && expiry.is_some()) {
        return Ok(Reply::Error("ERR syntax error".into()));
    }
    // (A plain SET needs nothing of the old value: `Tx::set` replaces whatever is there.)
    let old = if get {
        match tx.get_string(&a[0])? {
            Ok(old) => old,
            Err(e) => return Ok(e),
        }
    } else if nx || xx || keep_ttl {
        tx.get(&a[0])?
    } else {
        None
    };
    let old_reply = |old: &Option<(Option<u64>, Vec<u8>)>| match old {
        Some((_, data)) => Reply::Bulk(data.clone()),
        None => Reply::Null,
    };
    if (nx && old.is_some()) || (xx && old.is_none()) {
        return Ok(if get { old_reply(&old) } else { Reply::Null });
    }
    let expiry = if keep_ttl {
        old.as_ref().and_then(|(e, _)| *e)
    } else {
        expiry
    };
    tx.set(&a[0], &a[1], expiry)?;
    tx.notify(notify::STRING, "set", &a[0]);
    if expiry.is_some() && !keep_ttl {
        tx.notify(notify::GENERIC, "expire", &a[0]);
    }
    Ok(if get { old_reply(&old) } else { Reply::Ok })
}

/// SETNX.
pub fn setnx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("SETNX"));
    }
    Ok(if tx.get(&a[0])?.is_some() {
        Reply::Int(0)
    } else {
        tx.set(&a[0], &a[1], None)?;
        tx.notify(notify::STRING, "set", &a[0]);
        Reply::Int(1)
    })
}

/// SETEX and PSETEX: `scale` milliseconds a unit.
fn set_with_ttl(tx: &mut Tx<'_>, name: &str, scale: i64, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 3 {
        return Ok(wrong_args(name));
    }
    let Some(n) = parse_i64(&a[1]) else {
        return Ok(Reply::Error(NOT_INT.into()));
    };
    let at = (n > 0)
        .then(|| n.checked_mul(scale))
        .flatten()
        .and_then(|ms| (tx.now as i64).checked_add(ms));
    let Some(at) = at else {
        return Ok(Reply::Error(format!(
            "ERR invalid expire time in '{}' command",
            name.to_ascii_lowercase()
        )));
    };
    tx.set(&a[0], &a[2], Some(at as u64))?;
    tx.notify(notify::STRING, "set", &a[0]);
    tx.notify(notify::GENERIC, "expire", &a[0]);
    Ok(Reply::Ok)
}

/// SETEX.
pub fn setex(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_with_ttl(tx, "SETEX", 1000, a)
}

/// PSETEX.
pub fn psetex(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_with_ttl(tx, "PSETEX", 1, a)
}

/// GETSET.
pub fn getset(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("GETSET"));
    }
    let old = match tx.get_string(&a[0])? {
        Ok(old) => old,
        Err(e) => return Ok(e),
    };
    tx.set(&a[0], &a[1], None)?;
    tx.notify(notify::STRING, "set", &a[0]);
    Ok(old.map_or(Reply::Null, |(_, data)| Reply::Bulk(data)))
}

/// GETDEL.
pub fn getdel(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 1 {
        return Ok(wrong_args("GETDEL"));
    }
    Ok(match tx.get_string(&a[0])? {
        Err(e) => e,
        Ok(Some((_, data))) => {
            tx.remove(&a[0])?;
            tx.notify(notify::GENERIC, "del", &a[0]);
            Reply::Bulk(data)
        }
        Ok(None) => Reply::Null,
    })
}

/// MSET and MSETNX (`nx`: only if no key exists, answering 1 or 0).
fn set_many(tx: &mut Tx<'_>, name: &str, nx: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.is_empty() || !a.len().is_multiple_of(2) {
        return Ok(wrong_args(name));
    }
    if nx {
        for pair in a.chunks(2) {
            if tx.get(&pair[0])?.is_some() {
                return Ok(Reply::Int(0));
            }
        }
    }
    for pair in a.chunks(2) {
        tx.set(&pair[0], &pair[1], None)?;
        tx.notify(notify::STRING, "set", &pair[0]);
    }
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// MSET.
pub fn mset(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_many(tx, "MSET", false, a)
}

/// MSETNX.
pub fn msetnx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_many(tx, "MSETNX", true, a)
}

/// The step of INCRBY (`negate` false) or DECRBY (true), or the command's error.
fn step(arg: &[u8], negate: bool) -> Result<i64, Reply> {
    match parse_i64(arg) {
        Some(n) if !negate => Ok(n),
        Some(n) if n != i64::MIN => Ok(-n),
        _ => Err(Reply::Error(NOT_INT.into())),
    }
}

/// INCR, DECR, INCRBY and DECRBY: adds `by` to the integer at `key`.
fn add(tx: &mut Tx<'_>, key: &[u8], by: i64) -> TxResult<Reply> {
    let (expiry, current) = match tx.get_string(key)? {
        Err(e) => return Ok(e),
        Ok(Some((expiry, data))) => match parse_i64(&data) {
            Some(n) => (expiry, n),
            None => return Ok(Reply::Error(NOT_INT.into())),
        },
        Ok(None) => (None, 0),
    };
    let Some(next) = current.checked_add(by) else {
        return Ok(Reply::Error(
            "ERR increment or decrement would overflow".into(),
        ));
    };
    tx.set(key, next.to_string().as_bytes(), expiry)?;
    tx.notify(notify::STRING, "incrby", key);
    Ok(Reply::Int(next))
}

/// INCR.
pub fn incr(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    add(tx, &a[0], 1)
}

/// DECR.
pub fn decr(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    add(tx, &a[0], -1)
}

/// INCRBY.
pub fn incrby(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    match step(&a[1], false) {
        Ok(by) => add(tx, &a[0], by),
        Err(e) => Ok(e),
    }
}

/// DECRBY.
pub fn decrby(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    match step(&a[1], true) {
        Ok(by) => add(tx, &a[0], by),
        Err(e) => Ok(e),
    }
}

/// APPEND.
pub fn append(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("APPEND"));
    }
    let (expiry, mut data) = match tx.get_string(&a[0])? {
        Err(e) => return Ok(e),
        Ok(got) => got.unwrap_or((None, Vec::new())),
    };
    if (data.len() + a[1].len()) as u64 > MAX_STRING {
        return Ok(Reply::Error(
            "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
        ));
    }
    data.extend_from_slice(&a[1]);
    tx.set(&a[0], &data, expiry)?;
    tx.notify(notify::STRING, "append", &a[0]);
    Ok(Reply::Int(data.len() as i64))
}

/// GETEX.
pub fn getex(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.is_empty() {
        return Ok(wrong_args("GETEX"));
    }
    // As Redis 7.0: the options' syntax first, then the key (nil if missing, WRONGTYPE),
    // then the time (so a bad time on a missing key is nil, not an error).
    let mut persist = false;
    let mut time: Option<(ExpiryUnit, &[u8])> = None;
    let mut args = Args::new(&a[1..]);
    while !args.is_empty() {
        let open = time.is_none() && !persist;
        if open && args.eat("PERSIST") {
            persist = true;
        } else if let Some(unit) = open.then(|| ExpiryUnit::eat(&mut args)).flatten() {
            match args.take() {
                Some(n) => time = Some((unit, n)),
                None => return err("ERR syntax error"),
            }
        } else {
            return err("ERR syntax error");
        }
    }
    let Some((expiry, data)) = string!(tx, &a[0]) else {
        return Ok(Reply::Null);
    };
    if let Some((unit, n)) = time {
        let Some(n) = parse_i64(n) else {
            return err(NOT_INT);
        };
        let at = unit.deadline(n, tx.now);
        match at {
            Some(at) if n > 0 && at <= tx.now as i64 => {
                tx.remove(&a[0])?;
                tx.notify(notify::GENERIC, "del", &a[0]);
            }
            Some(at) if n > 0 => {
                tx.set_ttl(&a[0], Some(at as u64))?;
                tx.notify(notify::GENERIC, "expire", &a[0]);
            }
            _ => return err("ERR invalid expire time in 'getex' command"),
        }
    } else if persist && expiry.is_some() {
        tx.set_ttl(&a[0], None)?;
        tx.notify(notify::GENERIC, "persist", &a[0]);
    }
    Ok(Reply::Bulk(data))
}

/// SETRANGE.
pub fn setrange(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 3 {
        return Ok(wrong_args("SETRANGE"));
    }
    let Some(offset) = parse_i64(&a[1]) else {
        return err(NOT_INT);
    };
    if offset < 0 {
        return err("ERR offset is out of range");
    }
    let current = string!(tx, &a[0]);
    if a[2].is_empty() {
        return Ok(Reply::Int(current.map_or(0, |(_, d)| d.len() as i64)));
    }
    if offset as u64 + a[2].len() as u64 > MAX_STRING {
        return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let (expiry, mut data) = current.unwrap_or((None, Vec::new()));
    let end = offset as usize + a[2].len();
    if data.len() < end {
        data.resize(end, 0);
    }
    data[offset as usize..end].copy_from_slice(&a[2]);
    tx.set(&a[0], &data, expiry)?;
    tx.notify(notify::STRING, "setrange", &a[0]);
    Ok(Reply::Int(data.len() as i64))
}

/// SETBIT.
pub fn setbit(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 3 {
        return Ok(wrong_args("SETBIT"));
    }
    let Some(offset) = bit_offset(&a[1]) else {
        return err(BIT_OFFSET);
    };
    let bit = match a[2].as_slice() {
        b"0" => 0u8,
        b"1" => 1u8,
        _ => return err("ERR bit is not an integer or out of range"),
    };
    let (existed, (expiry, mut data)) = match string!(tx, &a[0]) {
        Some(live) => (true, live),
        None => (false, (None, Vec::new())),
    };
    let byte = (offset / 8) as usize;
    let grew = data.len() <= byte;
    if grew {
        data.resize(byte + 1, 0);
    }
    let mask = 0x80u8 >> (offset % 8);
    let old = i64::from(data[byte] & mask != 0);
    // Nothing changes (the key there, long enough, the bit already so): no write, no event, no
    // change counted (as Redis).
    if existed && !grew && old == i64::from(bit) {
        return Ok(Reply::Int(old));
    }
    if bit == 1 {
        data[byte] |= mask;
    } else {
        data[byte] &= !mask;
    }
    tx.set(&a[0], &data, expiry)?;
    tx.notify(notify::STRING, "setbit", &a[0]);
    Ok(Reply::Int(old))
}

/// INCRBYFLOAT.
pub fn incrbyfloat(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("INCRBYFLOAT"));
    }
    let (expiry, current) = match string!(tx, &a[0]) {
        Some((expiry, data)) => match parse_float(&data) {
            Some(f) => (expiry, f),
            None => return err("ERR value is not a valid float"),
        },
        None => (None, 0.0),
    };
    let Some(by) = parse_float(&a[1]) else {
        return err("ERR value is not a valid float");
    };
    let next = current + by;
    if !next.is_finite() {
        return err("ERR increment would produce NaN or Infinity");
    }
    let text = format_float(next);
    tx.set(&a[0], text.as_bytes(), expiry)?;
    tx.notify(notify::STRING, "incrbyfloat", &a[0]);
    Ok(Reply::Bulk(text.into_bytes()))
}
