//! RESTORE (the payload DUMP made, `commands/dump.rs`) and SORT (which may STORE; its sorting
//! in `commands/sort.rs`, run here over the transaction).

use super::{err, fault_reply, reading};
use crate::commands::dump::deserialize;
use crate::commands::sort;
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// RESTORE key ttl serialized-value [REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency].
pub fn restore(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
    let mut j = 3;
    while j < a.len() {
        let more = j + 1 < a.len();
        let w = a[j].to_ascii_uppercase();
        match w.as_slice() {
            b"REPLACE" => replace = true,
            b"ABSTTL" => absttl = true,
            b"IDLETIME" if more && !freq => {
                match parse_i64(&a[j + 1]) {
                    Some(n) if n >= 0 => {}
                    Some(_) => return err("ERR Invalid IDLETIME value, must be >= 0"),
                    None => return err(NOT_INT),
                }
                idle = true;
                j += 1;
            }
            b"FREQ" if more && !idle => {
                match parse_i64(&a[j + 1]) {
                    Some(n) if (0..=255).contains(&n) => {}
                    Some(_) => return err("ERR Invalid FREQ value, must be >= 0 and <= 255"),
                    None => return err(NOT_INT),
                }
                freq = true;
                j += 1;
            }
            _ => return err("ERR syntax error"),
        }
        j += 1;
    }
    let key = &a[0];
    if !replace && tx.get(key)?.is_some() {
        return err("BUSYKEY Target key name already exists.");
    }
    let ttl = match parse_i64(&a[1]) {
        Some(t) if t >= 0 => t,
        Some(_) => return err("ERR Invalid TTL value, must be >= 0"),
        None => return err(NOT_INT),
    };
    let value = match deserialize(&a[2]) {
        Ok(v) => v,
        Err(e) => return err(e),
    };
    if let Value::Collection(_, rows) = &value {
        if rows
            .iter()
            .any(|(f, _)| 4 + key.len() + f.len() > tx.max_key)
        {
            return err("ERR key and field too large");
        }
    }
    let expiry = match ttl {
        0 => None,
        t if absttl => Some(t as u64),
        t => Some(tx.now.saturating_add(t as u64)),
    };
    if expiry.is_some_and(|at| at <= tx.now) {
        // Already expired: the key is only deleted (REPLACE), as Redis does.
        if replace && tx.remove(key)? {
            tx.notify(notify::GENERIC, "del", key);
        }
        return Ok(Reply::Ok);
    }
    tx.remove(key)?;
    tx.restore(key, &value, expiry)?;
    tx.notify(notify::GENERIC, "restore", key);
    Ok(Reply::Ok)
}

/// SORT key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA]
/// [STORE destination]: with STORE, the output replaces the destination as a list (GET's
/// missing values as empty strings; an empty output deletes it) and the reply is its length.
pub fn sort(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let spec = match sort::parse(&a[1..], false) {
        Ok(s) => s,
        Err(e) => return Ok(e),
    };
    if let Some(dest) = &spec.store {
        if 12 + dest.len() > tx.max_key {
            return err("ERR list key too large");
        }
    }
    let items = match reading(tx, |ks| sort::run(ks, &a[0], &spec)) {
        Ok(Ok(items)) => items,
        Ok(Err(e)) => return Ok(e),
        Err(f) => return fault_reply(f),
    };
    let Some(dest) = &spec.store else {
        return Ok(Reply::Array(
            items
                .into_iter()
                .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                .collect(),
        ));
    };
    let n = items.len();
    if n == 0 {
        if tx.remove(dest)? {
            tx.notify(notify::GENERIC, "del", dest);
        }
        return Ok(Reply::Int(0));
    }
    let rows = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            (
                (LIST_MIDDLE + i as u64).to_be_bytes().to_vec(),
                v.unwrap_or_default(),
            )
        })
        .collect();
    tx.remove(dest)?;
    tx.restore(dest, &Value::Collection(b"list".to_vec(), rows), None)?;
    tx.notify(notify::LIST, "sortstore", dest);
    Ok(Reply::Int(n as i64))
}
