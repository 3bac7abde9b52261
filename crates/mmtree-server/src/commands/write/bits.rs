//! Bitmap writes: BITOP and BITFIELD (its arithmetic in `commands/bits.rs`).

use super::err;
use crate::commands::bits::{bytes_needed, parse_fields, run_fields};
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// BITOP AND|OR|XOR|NOT destkey key [key ...]: the result has the longest source's length
/// (shorter and missing sources count as zero bytes); an empty result deletes the destination.
pub fn bitop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    #[derive(PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = match a[0].to_ascii_uppercase().as_slice() {
        b"AND" => Op::And,
        b"OR" => Op::Or,
        b"XOR" => Op::Xor,
        b"NOT" => Op::Not,
        _ => return err("ERR syntax error"),
    };
    if op == Op::Not && a.len() != 3 {
        return err("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources = Vec::with_capacity(a.len() - 2);
    for key in &a[2..] {
        sources.push(string!(tx, key).map(|(_, v)| v).unwrap_or_default());
    }
    let len = sources.iter().map(Vec::len).max().unwrap_or(0);
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().enumerate() {
        let at = |s: &Vec<u8>| s.get(i).copied().unwrap_or(0);
        *byte = match op {
            Op::Not => !at(&sources[0]),
            Op::And => sources.iter().fold(0xff, |acc, s| acc & at(s)),
            Op::Or => sources.iter().fold(0, |acc, s| acc | at(s)),
            Op::Xor => sources.iter().fold(0, |acc, s| acc ^ at(s)),
        };
    }
    let dest = &a[1];
    if out.is_empty() {
        if tx.remove(dest)? {
            tx.notify(notify::GENERIC, "del", dest);
        }
    } else {
        tx.set(dest, &out, None)?;
        tx.notify(notify::STRING, "set", dest);
    }
    Ok(Reply::Int(len as i64))
}

/// BITFIELD key [GET type offset] [SET type offset value] [INCRBY type offset increment]
/// [OVERFLOW WRAP|SAT|FAIL]...: with a SET or INCRBY the string is created and grown to cover
/// every write first (as Redis does, even when every write then fails its overflow check).
pub fn bitfield(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let fields = match parse_fields(&a[1..], false) {
        Ok(f) => f,
        Err(e) => return Ok(e),
    };
    let key = &a[0];
    let (expiry, mut data) = string!(tx, key).unwrap_or((None, Vec::new()));
    let need = bytes_needed(&fields);
    if need == 0 {
        return Ok(Reply::Array(run_fields(&mut data, &fields).0));
    }
    let grew = (data.len() as u64) < need;
    if grew {
        data.resize(need as usize, 0);
    }
    let (replies, changed) = run_fields(&mut data, &fields);
    if grew || changed {
        tx.set(key, &data, expiry)?;
    }
    if changed {
        tx.notify(notify::STRING, "setbit", key);
    }
    Ok(Reply::Array(replies))
}
