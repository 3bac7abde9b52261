//! The expiry sweep: expired keys removed in time order from the expiry queue.

use super::*;

/// Deletes keys whose expiry has passed, at most `limit` of them. Returns how many. (A swept key
/// had already expired, so watches of it are left alone: EXEC checks liveness itself; CLIENT
/// TRACKING hears of it through `Watches::expired`.)
pub fn sweep(
    w: &mut WriteTransaction,
    now: u64,
    limit: usize,
    mut events: Option<&mut Vec<KeyEvent>>,
    watches: &mut Watches,
) -> TxResult<usize> {
    if !w.has_table(EXPIRY_QUEUE)? {
        return Ok(0);
    }
    let due: Vec<(u64, u32, Vec<u8>)> = {
        let queue = w.table(EXPIRY_QUEUE)?;
        let end = (now + 1).to_be_bytes();
        let mut due = Vec::new();
        for item in queue.range(..&end[..])?.take(limit) {
            let (k, _) = item?;
            if k.len() >= 12 {
                let at = u64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
                let db = u32::from_be_bytes(k[8..12].try_into().expect("4 bytes"));
                due.push((at, db, k[12..].to_vec()));
            }
        }
        due
    };
    for (at, db, key) in &due {
        w.table(EXPIRY_QUEUE)?.remove(queue_key(*at, *db, key))?;
        let mut expires = w.table(expires_name(*db))?;
        if expires.get(key)?.and_then(decode_expiry) == Some(*at) {
            expires.remove(key)?;
            drop(expires);
            remove(w, *db, key, now, events.as_deref_mut())?;
            watches.expired(key);
        }
    }
    Ok(due.len())
}

/// Removes `key` of `db` if it has expired by `now`, as a read found it (Redis' lazy expiry:
/// the writer runs it for a read on an event loop while a client tracks keys, so tracking hears
/// of it once, from the reader, as Redis' `trackingInvalidateKey` does). Returns whether it did.
pub fn expire_if_due(
    w: &mut WriteTransaction,
    db: u32,
    key: &[u8],
    now: u64,
    events: Option<&mut Vec<KeyEvent>>,
    watches: &mut Watches,
) -> TxResult<bool> {
    if !w.has_table(expires_name(db))? {
        return Ok(false);
    }
    let mut expires = w.table(expires_name(db))?;
    let Some(at) = expires.get(key)?.and_then(decode_expiry) else {
        return Ok(false);
    };
    if at > now {
        return Ok(false);
    }
    expires.remove(key)?;
    drop(expires);
    w.table(EXPIRY_QUEUE)?.remove(queue_key(at, db, key))?;
    remove(w, db, key, now, events)?;
    watches.lazily_expired(key);
    Ok(true)
}

/// An expired key's rows (its expiry rows already gone), with the `expired` event.
fn remove(
    w: &mut WriteTransaction,
    db: u32,
    key: &[u8],
    now: u64,
    events: Option<&mut Vec<KeyEvent>>,
) -> TxResult<()> {
    let mut tx = Tx {
        changes: 0,
        w,
        db,
        now,
        max_key: usize::MAX,
        watches: None,
        events,
    };
    tx.drop_hash(key)?;
    tx.notify(notify::EXPIRED, "expired", key);
    w.table(table_name(db))?.remove(key)?;
    Ok(())
}
