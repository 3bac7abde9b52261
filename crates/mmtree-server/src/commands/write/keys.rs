//! Key writes: DEL, UNLINK, EXPIRE and its variants, PERSIST, RENAME(NX), COPY, MOVE, SWAPDB,
//! FLUSHDB, FLUSHALL.

#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    Ok(match name {
        "DEL" | "UNLINK" => {
            if a.is_empty() {
                return Ok(wrong_args(name));
            }
            let mut n = 0;
            for key in a {
                if tx.remove(key)? {
                    tx.notify(notify::GENERIC, "del", key);
                    n += 1;
                }
            }
            Reply::Int(n)
        }
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let Some(n) = parse_i64(&a[1]) else {
                return Ok(Reply::Error(NOT_INT.into()));
            };
            // NX: only without an expiry; XX: only with one; GT/LT: only if the new time is
            // later/earlier (no expiry counts as forever), as Redis 7.
            let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
            for opt in &a[2..] {
                match String::from_utf8_lossy(opt).to_ascii_uppercase().as_str() {
                    "NX" => nx = true,
                    "XX" => xx = true,
                    "GT" => gt = true,
                    "LT" => lt = true,
                    other => return Ok(Reply::Error(format!("ERR Unsupported option {other}"))),
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
            let at = match name {
                "EXPIRE" => n
                    .checked_mul(1000)
                    .and_then(|ms| (tx.now as i64).checked_add(ms)),
                "PEXPIRE" => (tx.now as i64).checked_add(n),
                "EXPIREAT" => n.checked_mul(1000),
                _ => Some(n),
            };
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
            match current {
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
            }
        }
        "PERSIST" => {
            if a.len() != 1 {
                return Ok(wrong_args(name));
            }
            match tx.get(&a[0])? {
                Some((Some(_), _)) => {
                    tx.set_ttl(&a[0], None)?;
                    tx.notify(notify::GENERIC, "persist", &a[0]);
                    Reply::Int(1)
                }
                _ => Reply::Int(0),
            }
        }
        "FLUSHDB" => {
            tx.flush()?;
            Reply::Ok
        }
        "RENAME" | "RENAMENX" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let Some((expiry, value)) = tx.dump(&a[0])? else {
                return err("ERR no such key");
            };
            let nx = name == "RENAMENX";
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
            if nx {
                Reply::Int(1)
            } else {
                Reply::Ok
            }
        }
        "COPY" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let (mut to_db, mut replace) = (tx.db, false);
            let mut i = 2;
            while i < a.len() {
                match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                    "REPLACE" => replace = true,
                    "DB" if i + 1 < a.len() => {
                        i += 1;
                        to_db = match db_index(&a[i]) {
                            Ok(db) => db,
                            Err(e) => return Ok(e),
                        };
                    }
                    _ => return err("ERR syntax error"),
                }
                i += 1;
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
            Reply::Int(i64::from(copied))
        }
        "MOVE" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
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
            Reply::Int(i64::from(moved))
        }
        "SWAPDB" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
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
            Reply::Ok
        }
        "FLUSHALL" => {
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
            Reply::Ok
        }
        _ => wrong_args(name),
    })
}
