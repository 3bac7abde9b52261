//! Key writes: DEL, UNLINK, EXPIRE and its variants, PERSIST, RENAME(NX), COPY, MOVE, SWAPDB,
//! FLUSHDB, FLUSHALL.

#[allow(unused_imports)]
use super::err;
use crate::commands::args::Args;
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// DEL and UNLINK (which frees nothing later: a removal is part of the commit).
pub fn del(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let mut n = 0;
    for key in a {
        if tx.remove(key)? {
            tx.notify(notify::GENERIC, "del", key);
            n += 1;
        }
    }
    Ok(Reply::Int(n))
}

/// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: the time is `scale` milliseconds a unit, from now
/// if `relative`, else from the epoch.
fn set_expiry(
    tx: &mut Tx<'_>,
    name: &str,
    scale: i64,
    relative: bool,
    a: &[Vec<u8>],
) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args(name));
    }
    let Some(n) = parse_i64(&a[1]) else {
        return Ok(Reply::Error(NOT_INT.into()));
    };
    // NX: only without an expiry; XX: only with one; GT/LT: only if the new time is
    // later/earlier (no expiry counts as forever), as Redis 7.
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    let mut args = Args::new(&a[2..]);
    while let Some(word) = args.rest().first() {
        match args.eat_any(&["NX", "XX", "GT", "LT"]) {
            Some("NX") => nx = true,
            Some("XX") => xx = true,
            Some("GT") => gt = true,
            Some(_) => lt = true,
            // As given, as Redis 7.0 names it.
            None => {
                return err(&format!(
                    "ERR Unsupported option {}",
                    String::from_utf8_lossy(word)
                ))
            }
        }
    }
    if nx && (xx || gt || lt) {
        return Ok(Reply::Error(
            "ERR NX and XX, GT or LT options at the same time are not compatible".into(),
        ));
    }
    if gt && lt {
        return Ok(Reply::Error(
            "ERR GT and LT options at the same time are not compatible".into(),
        ));
    }
    let at = n.checked_mul(scale).and_then(|ms| {
        if relative {
            (tx.now as i64).checked_add(ms)
        } else {
            Some(ms)
        }
    });
    let Some(at) = at else {
        return Ok(Reply::Error(format!(
            "ERR invalid expire time in '{}' command",
            name.to_ascii_lowercase()
        )));
    };
    let current = tx.get(&a[0])?;
    let allowed = match &current {
        None => false,
        Some((expiry, _)) => {
            let now_at = expiry.map_or(i64::MAX, |e| e as i64);
            !(nx && expiry.is_some()
                || xx && expiry.is_none()
                || gt && at <= now_at
                || lt && at >= now_at)
        }
    };
    Ok(match current {
        _ if !allowed => Reply::Int(0),
        None => Reply::Int(0),
        Some(_) if at <= tx.now as i64 => {
            tx.remove(&a[0])?;
            tx.notify(notify::GENERIC, "del", &a[0]);
            Reply::Int(1)
        }
        Some(_) => {
            tx.set_ttl(&a[0], Some(at as u64))?;
            tx.notify(notify::GENERIC, "expire", &a[0]);
            Reply::Int(1)
        }
    })
}

/// EXPIRE.
pub fn expire(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_expiry(tx, "EXPIRE", 1000, true, a)
}

/// PEXPIRE.
pub fn pexpire(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_expiry(tx, "PEXPIRE", 1, true, a)
}

/// EXPIREAT.
pub fn expireat(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_expiry(tx, "EXPIREAT", 1000, false, a)
}

/// PEXPIREAT.
pub fn pexpireat(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    set_expiry(tx, "PEXPIREAT", 1, false, a)
}

/// PERSIST.
pub fn persist(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 1 {
        return Ok(wrong_args("PERSIST"));
    }
    Ok(match tx.get(&a[0])? {
        Some((Some(_), _)) => {
            tx.set_ttl(&a[0], None)?;
            tx.notify(notify::GENERIC, "persist", &a[0]);
            Reply::Int(1)
        }
        _ => Reply::Int(0),
    })
}

/// FLUSHDB.
pub fn flushdb(tx: &mut Tx<'_>, _a: &[Vec<u8>]) -> TxResult<Reply> {
    tx.flush()?;
    Ok(Reply::Ok)
}

/// RENAME and RENAMENX (`nx`: only if the new name is free, answering 1 or 0).
fn rename_key(tx: &mut Tx<'_>, nx: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    let Some((expiry, value)) = tx.dump(&a[0])? else {
        return err("ERR no such key");
    };
    if a[0] == a[1] {
        return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
    }
    if nx && tx.get(&a[1])?.is_some() {
        return Ok(Reply::Int(0));
    }
    tx.remove(&a[0])?;
    tx.restore(&a[1], &value, expiry)?;
    tx.notify(notify::GENERIC, "rename_from", &a[0]);
    tx.notify(notify::GENERIC, "rename_to", &a[1]);
    Ok(if nx { Reply::Int(1) } else { Reply::Ok })
}

/// RENAME.
pub fn rename(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    rename_key(tx, false, a)
}

/// RENAMENX.
pub fn renamenx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    rename_key(tx, true, a)
}

/// COPY.
pub fn copy(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args("COPY"));
    }
    let (mut to_db, mut replace) = (tx.db, false);
    let mut args = Args::new(&a[2..]);
    while !args.is_empty() {
        if args.eat("REPLACE") {
            replace = true;
        } else if let Some(db) = args.eat_value("DB") {
            to_db = match db_index(db) {
                Ok(db) => db,
                Err(e) => return Ok(e),
            };
        } else {
            return err("ERR syntax error");
        }
    }
    if to_db == tx.db && a[0] == a[1] {
        return err("ERR source and destination objects are the same");
    }
    let Some((expiry, value)) = tx.dump(&a[0])? else {
        return Ok(Reply::Int(0));
    };
    let from = tx.db;
    tx.db = to_db;
    let exists = tx.get(&a[1])?.is_some();
    let copied = !exists || replace;
    if copied {
        tx.restore(&a[1], &value, expiry)?;
        tx.notify(notify::GENERIC, "copy_to", &a[1]);
    }
    tx.db = from;
    Ok(Reply::Int(i64::from(copied)))
}

/// MOVE.
pub fn move_key(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("MOVE"));
    }
    let to_db = match db_index(&a[1]) {
        Ok(db) => db,
        Err(e) => return Ok(e),
    };
    if to_db == tx.db {
        return err("ERR source and destination objects are the same");
    }
    let Some((expiry, value)) = tx.dump(&a[0])? else {
        return Ok(Reply::Int(0));
    };
    let from = tx.db;
    tx.db = to_db;
    let moved = tx.get(&a[0])?.is_none();
    if moved {
        tx.restore(&a[0], &value, expiry)?;
    }
    tx.db = from;
    if moved {
        tx.remove(&a[0])?;
        tx.notify(notify::GENERIC, "move_from", &a[0]);
        tx.db = to_db;
        tx.notify(notify::GENERIC, "move_to", &a[0]);
        tx.db = from;
    }
    Ok(Reply::Int(i64::from(moved)))
}

/// SWAPDB.
pub fn swapdb(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 2 {
        return Ok(wrong_args("SWAPDB"));
    }
    let Some(x) = parse_i64(&a[0]) else {
        return err("ERR invalid first DB index");
    };
    let Some(y) = parse_i64(&a[1]) else {
        return err("ERR invalid second DB index");
    };
    let range = 0..i64::from(DATABASES);
    if !range.contains(&x) || !range.contains(&y) {
        return err("ERR DB index is out of range");
    }
    if x != y {
        swap_dbs(tx, x as u32, y as u32)?;
    }
    Ok(Reply::Ok)
}

/// FLUSHALL.
pub fn flushall(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    match a.first().map(|o| o.to_ascii_uppercase()) {
        None => {}
        Some(o) if a.len() == 1 && (o == b"ASYNC" || o == b"SYNC") => {}
        _ => return err("ERR syntax error"),
    }
    let from = tx.db;
    for db in 0..DATABASES {
        tx.db = db;
        tx.flush()?;
    }
    tx.db = from;
    Ok(Reply::Ok)
}
