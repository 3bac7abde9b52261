//! String writes: SET (and its NX/XX/GET/expiry options), SETNX, SETEX, PSETEX, GETSET, GETDEL,
//! MSET, MSETNX, INCR/DECR/INCRBY/DECRBY, INCRBYFLOAT, APPEND, GETEX, SETRANGE, SETBIT.

use crate::commands::args::{Args, ExpiryUnit};
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    Ok(match name {
        "SET" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
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
            let old = if get {
                match tx.get_string(&a[0])? {
                    Ok(old) => old,
                    Err(e) => return Ok(e),
                }
            } else {
                tx.get(&a[0])?
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
            if get {
                old_reply(&old)
            } else {
                Reply::Ok
            }
        }
        "SETNX" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            if tx.get(&a[0])?.is_some() {
                Reply::Int(0)
            } else {
                tx.set(&a[0], &a[1], None)?;
                tx.notify(notify::STRING, "set", &a[0]);
                Reply::Int(1)
            }
        }
        "SETEX" | "PSETEX" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            let Some(n) = parse_i64(&a[1]) else {
                return Ok(Reply::Error(NOT_INT.into()));
            };
            let scale = if name == "SETEX" { 1000 } else { 1 };
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
            Reply::Ok
        }
        "GETSET" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let old = match tx.get_string(&a[0])? {
                Ok(old) => old,
                Err(e) => return Ok(e),
            };
            tx.set(&a[0], &a[1], None)?;
            tx.notify(notify::STRING, "set", &a[0]);
            old.map_or(Reply::Null, |(_, data)| Reply::Bulk(data))
        }
        "GETDEL" => {
            if a.len() != 1 {
                return Ok(wrong_args(name));
            }
            match tx.get_string(&a[0])? {
                Err(e) => e,
                Ok(Some((_, data))) => {
                    tx.remove(&a[0])?;
                    tx.notify(notify::GENERIC, "del", &a[0]);
                    Reply::Bulk(data)
                }
                Ok(None) => Reply::Null,
            }
        }
        "MSET" | "MSETNX" => {
            if a.is_empty() || !a.len().is_multiple_of(2) {
                return Ok(wrong_args(name));
            }
            if name == "MSETNX" {
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
            if name == "MSET" {
                Reply::Ok
            } else {
                Reply::Int(1)
            }
        }
        "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
            let by = match (name, a.len()) {
                ("INCR", 1) => 1,
                ("DECR", 1) => -1,
                ("INCRBY", 2) | ("DECRBY", 2) => match parse_i64(&a[1]) {
                    Some(n) if name == "INCRBY" => n,
                    Some(n) if n != i64::MIN => -n,
                    _ => return Ok(Reply::Error(NOT_INT.into())),
                },
                _ => return Ok(wrong_args(name)),
            };
            let (expiry, current) = match tx.get_string(&a[0])? {
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
            tx.set(&a[0], next.to_string().as_bytes(), expiry)?;
            tx.notify(notify::STRING, "incrby", &a[0]);
            Reply::Int(next)
        }
        "APPEND" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
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
            Reply::Int(data.len() as i64)
        }
        "GETEX" => {
            if a.is_empty() {
                return Ok(wrong_args(name));
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
            Reply::Bulk(data)
        }
        "SETRANGE" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
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
            Reply::Int(data.len() as i64)
        }
        "SETBIT" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            let Some(offset) = bit_offset(&a[1]) else {
                return err(BIT_OFFSET);
            };
            let bit = match a[2].as_slice() {
                b"0" => 0u8,
                b"1" => 1u8,
                _ => return err("ERR bit is not an integer or out of range"),
            };
            let (expiry, mut data) = string!(tx, &a[0]).unwrap_or((None, Vec::new()));
            let byte = (offset / 8) as usize;
            if data.len() <= byte {
                data.resize(byte + 1, 0);
            }
            let mask = 0x80u8 >> (offset % 8);
            let old = i64::from(data[byte] & mask != 0);
            if bit == 1 {
                data[byte] |= mask;
            } else {
                data[byte] &= !mask;
            }
            tx.set(&a[0], &data, expiry)?;
            tx.notify(notify::STRING, "setbit", &a[0]);
            Reply::Int(old)
        }
        "INCRBYFLOAT" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
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
            Reply::Bulk(text.into_bytes())
        }
        _ => wrong_args(name),
    })
}
