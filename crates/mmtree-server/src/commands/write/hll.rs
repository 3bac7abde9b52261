//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE (the representation and the estimator in
//! `commands/hll.rs`). PFCOUNT is a write here as in Redis' effect: counting one key stores the
//! estimate in the value's cache when the cache is stale, so it runs in the group commit.

use super::err;
use crate::commands::hll;
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// The HLL string at `key` (None: no key), or the command's error reply.
fn load(tx: &mut Tx<'_>, key: &[u8]) -> TxResult<Result<Option<Live>, Reply>> {
    let got = match tx.get_string(key)? {
        Ok(v) => v,
        Err(e) => return Ok(Err(e)),
    };
    if let Some((_, s)) = &got {
        if let Err(bad) = hll::registers(s) {
            return Ok(Err(Reply::Error(bad.text().into())));
        }
    }
    Ok(Ok(got))
}

macro_rules! hll_or_reply {
    ($tx:ident, $key:expr) => {
        match load($tx, $key)? {
            Ok(v) => v,
            Err(e) => return Ok(e),
        }
    };
}

/// PFADD key [element ...]: 1 if a register changed (or the key was created).
pub fn pfadd(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let key = &a[0];
    let (expiry, value, mut updated) = match hll_or_reply!(tx, key) {
        Some((expiry, s)) => (expiry, s, false),
        None => (None, hll::empty(), true),
    };
    // `load` checked the registers decode.
    let Ok(mut regs) = hll::registers(&value) else {
        return err(hll::CORRUPT);
    };
    for e in &a[1..] {
        updated |= hll::add(&mut regs, e);
    }
    if !updated {
        return Ok(Reply::Int(0));
    }
    let s = hll::encode(&regs, !hll::is_dense(&value), None);
    tx.set(key, &s, expiry)?;
    tx.notify(notify::STRING, "pfadd", key);
    Ok(Reply::Int(1))
}

/// PFCOUNT key [key ...]: one key's estimate (cached in the value), or the estimate of the
/// union of several.
pub fn pfcount(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() > 1 {
        let mut max = vec![0u8; hll::REGISTERS];
        for key in a {
            if let Some((_, s)) = hll_or_reply!(tx, key) {
                let regs = hll::registers(&s).unwrap_or_default();
                for (m, r) in max.iter_mut().zip(regs) {
                    *m = (*m).max(r);
                }
            }
        }
        return Ok(Reply::Int(hll::count(&max) as i64));
    }
    let key = &a[0];
    let Some((expiry, mut s)) = hll_or_reply!(tx, key) else {
        return Ok(Reply::Int(0));
    };
    if let Some(card) = hll::cached(&s) {
        return Ok(Reply::Int(card as i64));
    }
    let card = hll::count(&hll::registers(&s).unwrap_or_default());
    hll::set_cache(&mut s, card);
    tx.set(key, &s, expiry)?;
    Ok(Reply::Int(card as i64))
}

/// PFMERGE destkey [sourcekey ...]: the destination (one of the inputs) becomes the union;
/// dense if any input is.
pub fn pfmerge(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let mut max = vec![0u8; hll::REGISTERS];
    let mut dense = false;
    for key in a {
        if let Some((_, s)) = hll_or_reply!(tx, key) {
            dense |= hll::is_dense(&s);
            for (m, r) in max.iter_mut().zip(hll::registers(&s).unwrap_or_default()) {
                *m = (*m).max(r);
            }
        }
    }
    let dest = &a[0];
    let expiry = tx.get(dest)?.and_then(|(e, _)| e);
    let s = hll::encode(&max, !dense, None);
    tx.set(dest, &s, expiry)?;
    tx.notify(notify::STRING, "pfadd", dest);
    Ok(Reply::Ok)
}
