//! List writes: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LMPOP, LMOVE, RPOPLPUSH, LSET,
//! LTRIM, LREM, LINSERT. Element i is the row at position head + i (`store::LIST_MIDDLE`):
//! LSET overwrites one row, LTRIM removes rows at the ends, and LREM and LINSERT, which open
//! or close a gap, rewrite the elements on the shorter side of it so the positions stay
//! contiguous.

use super::err;
use crate::commands::args::Args;
use crate::commands::sorted_sets::{numkeys, Numkeys};
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

/// The list's elements with their positions, in order.
fn elements(tx: &mut Tx<'_>, key: &[u8]) -> TxResult<Vec<(u64, Vec<u8>)>> {
    Ok(tx
        .fields(key)?
        .into_iter()
        .filter_map(|(f, v)| Some((u64::from_be_bytes(f.as_slice().try_into().ok()?), v)))
        .collect())
}

/// Pushes `items` at the head (`left`) or tail of the list at `key` (`count`: its length, None
/// for none yet), one by one as LPUSH does.
fn push(
    tx: &mut Tx<'_>,
    key: &[u8],
    left: bool,
    items: &[Vec<u8>],
    count: &mut Option<u64>,
) -> TxResult<()> {
    let before = *count;
    let (mut head, mut tail) = match before {
        Some(len) => tx
            .list_ends(key, Some(len))?
            .unwrap_or((LIST_MIDDLE + 1, LIST_MIDDLE)),
        None => (LIST_MIDDLE + 1, LIST_MIDDLE),
    };
    // Positions past the ends hold no row: each push adds one (the count row is written once).
    for e in items {
        let at = if left {
            head -= 1;
            head
        } else {
            tail += 1;
            tail
        };
        tx.insert_row(key, &at.to_be_bytes(), e)?;
        *count = Some(count.unwrap_or(0) + 1);
    }
    tx.store_count(b"list", key, before, *count)?;
    if head <= tail {
        note_list_head(tx.db, key, head);
    }
    Ok(())
}

/// Pops up to `n` elements from the head (`left`) or tail, in pop order (deleting the key with
/// its last element).
fn pop(
    tx: &mut Tx<'_>,
    key: &[u8],
    left: bool,
    n: usize,
    count: &mut Option<u64>,
) -> TxResult<Vec<Vec<u8>>> {
    let before = *count;
    let Some(len) = before else {
        return Ok(Vec::new());
    };
    let Some((head, tail)) = tx.list_ends(key, Some(len))? else {
        return Ok(Vec::new());
    };
    let take = n.min((tail - head + 1) as usize);
    let mut popped = Vec::with_capacity(take);
    for i in 0..take as u64 {
        let at = if left { head + i } else { tail - i };
        let at = at.to_be_bytes();
        let value = tx.field(key, &at)?;
        if value.is_some() {
            tx.delete_row(key, &at)?; // (read just now: no second lookup)
            *count = count.map(|n| n.saturating_sub(1));
        }
        popped.push(value.unwrap_or_default());
    }
    // The count row once (the key goes with its last element).
    tx.store_count(b"list", key, before, *count)?;
    if count.is_some_and(|n| n == 0) {
        *count = None;
    } else if left {
        note_list_head(tx.db, key, head + take as u64);
    }
    Ok(popped)
}

/// LEFT or RIGHT (true for LEFT), or None.
fn side(arg: &[u8]) -> Option<bool> {
    if arg.eq_ignore_ascii_case(b"LEFT") {
        Some(true)
    } else if arg.eq_ignore_ascii_case(b"RIGHT") {
        Some(false)
    } else {
        None
    }
}

fn pop_event(left: bool) -> &'static str {
    if left {
        "lpop"
    } else {
        "rpop"
    }
}

fn push_event(left: bool) -> &'static str {
    if left {
        "lpush"
    } else {
        "rpush"
    }
}

/// LPUSH, RPUSH, LPUSHX and RPUSHX: at the head if `left`; `only_existing` (the X forms): not
/// to a missing list.
fn push_elements(
    tx: &mut Tx<'_>,
    name: &str,
    left: bool,
    only_existing: bool,
    a: &[Vec<u8>],
) -> TxResult<Reply> {
    if a.len() < 2 {
        return Ok(wrong_args(name));
    }
    if 12 + a[0].len() > tx.max_key {
        return err("ERR list key too large");
    }
    let mut count = collection!(tx, &a[0], b"list");
    if count.is_none() && only_existing {
        return Ok(Reply::Int(0));
    }
    push(tx, &a[0], left, &a[1..], &mut count)?;
    tx.notify(notify::LIST, push_event(left), &a[0]);
    Ok(Reply::Int(count.unwrap_or(0) as i64))
}

/// LPUSH.
pub fn lpush(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    push_elements(tx, "LPUSH", true, false, a)
}

/// RPUSH.
pub fn rpush(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    push_elements(tx, "RPUSH", false, false, a)
}

/// LPUSHX.
pub fn lpushx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    push_elements(tx, "LPUSHX", true, true, a)
}

/// RPUSHX.
pub fn rpushx(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    push_elements(tx, "RPUSHX", false, true, a)
}

/// LPOP and RPOP: from the head if `left`.
fn pop_elements(tx: &mut Tx<'_>, name: &str, left: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.is_empty() || a.len() > 2 {
        return Ok(wrong_args(name));
    }
    let wanted = match pop_count(a.get(1)) {
        Ok(wanted) => wanted,
        Err(e) => return Ok(e),
    };
    let mut count = collection!(tx, &a[0], b"list");
    if count.is_none() {
        return Ok(match wanted {
            None => Reply::Null,
            Some(_) => Reply::NullArray,
        });
    }
    let mut popped = pop(tx, &a[0], left, wanted.unwrap_or(1), &mut count)?;
    if !popped.is_empty() {
        tx.notify_and_gone(notify::LIST, pop_event(left), &a[0])?;
    }
    Ok(match wanted {
        None => popped.pop().map_or(Reply::Null, Reply::Bulk),
        Some(_) => Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
    })
}

/// LPOP.
pub fn lpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    pop_elements(tx, "LPOP", true, a)
}

/// RPOP.
pub fn rpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    pop_elements(tx, "RPOP", false, a)
}

/// LMPOP.
pub fn lmpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let n = match numkeys(Numkeys::Pop, a) {
        Ok(n) => n,
        Err(e) => return Ok(e),
    };
    let mut args = Args::new(&a[n + 1..]);
    let Some(left) = args.take().and_then(side) else {
        return err("ERR syntax error");
    };
    let mut wanted = 1;
    if args.rest().len() >= 2 && args.eat("COUNT") {
        match args.take_i64() {
            Some(Some(c)) if c > 0 => wanted = c as usize,
            _ => return err("ERR count should be greater than 0"),
        }
    }
    if !args.is_empty() {
        return err("ERR syntax error");
    }
    for key in &a[1..=n] {
        let mut count = collection!(tx, key, b"list");
        let popped = pop(tx, key, left, wanted, &mut count)?;
        if !popped.is_empty() {
            tx.notify_and_gone(notify::LIST, pop_event(left), key)?;
            return Ok(Reply::Array(vec![
                Reply::Bulk(key.clone()),
                Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
            ]));
        }
    }
    Ok(Reply::NullArray)
}

/// LMOVE.
pub fn lmove(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    match (side(&a[2]), side(&a[3])) {
        (Some(from_left), Some(to_left)) => move_element(tx, from_left, to_left, a),
        _ => Ok(Reply::Error("ERR syntax error".into())),
    }
}

/// RPOPLPUSH.
pub fn rpoplpush(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    move_element(tx, false, true, a)
}

/// LMOVE and RPOPLPUSH: from the head of the first list if `from_left`, to the head of the
/// second if `to_left`.
fn move_element(tx: &mut Tx<'_>, from_left: bool, to_left: bool, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (src, dst) = (&a[0], &a[1]);
    if 12 + dst.len() > tx.max_key {
        return err("ERR list key too large");
    }
    let mut count = collection!(tx, src, b"list");
    if count.is_none() {
        return Ok(Reply::Null);
    }
    let mut dst_count = collection!(tx, dst, b"list");
    let value = if src == dst && count == Some(1) {
        // The one element goes back where it was: the key (and its expiry) stays.
        let value = elements(tx, src)?.pop().map(|(_, v)| v);
        tx.touch(src);
        value.unwrap_or_default()
    } else {
        let mut popped = pop(tx, src, from_left, 1, &mut count)?;
        let value = popped.pop().unwrap_or_default();
        if src == dst {
            dst_count = count;
        }
        push(
            tx,
            dst,
            to_left,
            std::slice::from_ref(&value),
            &mut dst_count,
        )?;
        value
    };
    // As Redis: the push's event, then the pop's.
    tx.notify(notify::LIST, push_event(to_left), dst);
    tx.notify(notify::LIST, pop_event(from_left), src);
    if tx.data(src)?.is_none() {
        tx.notify(notify::GENERIC, "del", src);
    }
    Ok(Reply::Bulk(value))
}

/// LSET.
pub fn lset(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let Some(index) = parse_i64(&a[1]) else {
        return err(NOT_INT);
    };
    if 12 + a[0].len() > tx.max_key {
        return err("ERR list key too large");
    }
    let mut count = collection!(tx, &a[0], b"list");
    let Some(len) = count else {
        return err("ERR no such key");
    };
    let i = if index < 0 { index + len as i64 } else { index };
    let head = tx.list_ends(&a[0], count)?.map(|(h, _)| h);
    Ok(match head.filter(|_| (0..len as i64).contains(&i)) {
        Some(h) => {
            tx.hset(
                b"list",
                &a[0],
                &(h + i as u64).to_be_bytes(),
                &a[2],
                &mut count,
            )?;
            tx.notify(notify::LIST, "lset", &a[0]);
            Reply::Ok
        }
        None => return err("ERR index out of range"),
    })
}

/// LTRIM.
pub fn ltrim(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (Some(start), Some(stop)) = (parse_i64(&a[1]), parse_i64(&a[2])) else {
        return err(NOT_INT);
    };
    let mut count = collection!(tx, &a[0], b"list");
    let Some(len) = count else {
        return Ok(Reply::Ok);
    };
    let Some((head, tail)) = tx.list_ends(&a[0], Some(len))? else {
        return Ok(Reply::Ok);
    };
    let before = count;
    let len = len as i64;
    let fix = |i: i64| if i < 0 { i.saturating_add(len) } else { i };
    let (start, stop) = (fix(start).max(0), fix(stop).min(len - 1));
    // Keep head + start ..= head + stop (nothing if that is empty).
    let (keep_from, keep_to) = if start > stop || start >= len {
        (tail + 1, tail)
    } else {
        (head + start as u64, head + stop as u64)
    };
    // Every index from head to tail has its row (a list's rows are contiguous): deleted
    // without a lookup each.
    for at in (head..keep_from).chain(keep_to + 1..=tail) {
        tx.delete_row(&a[0], &at.to_be_bytes())?;
        count = count.map(|n| n.saturating_sub(1));
    }
    // The count row once (the key goes with its last element).
    tx.store_count(b"list", &a[0], before, count)?;
    if keep_from <= keep_to {
        note_list_head(tx.db, &a[0], keep_from);
    }
    tx.notify_and_gone(notify::LIST, "ltrim", &a[0])?;
    Ok(Reply::Ok)
}

/// LREM.
pub fn lrem(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let Some(n) = parse_i64(&a[1]) else {
        return err(NOT_INT);
    };
    let mut count = collection!(tx, &a[0], b"list");
    if count.is_none() {
        return Ok(Reply::Int(0));
    }
    let items = elements(tx, &a[0])?;
    // The indexes to remove: the first |n| matches from the head (n > 0) or the tail
    // (n < 0), or all (n = 0).
    let matching = items.iter().enumerate().filter(|(_, (_, v))| *v == a[2]);
    let limit = if n == 0 {
        usize::MAX
    } else {
        n.unsigned_abs().min(usize::MAX as u64) as usize
    };
    let mut gone: Vec<usize> = if n < 0 {
        let mut g: Vec<usize> = matching.rev().take(limit).map(|(i, _)| i).collect();
        g.reverse();
        g
    } else {
        matching.take(limit).map(|(i, _)| i).collect()
    };
    if gone.is_empty() {
        return Ok(Reply::Int(0));
    }
    let removed = gone.len();
    let kept: Vec<&Vec<u8>> = {
        let mut drop = gone.iter().peekable();
        items
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                if drop.peek() == Some(&i) {
                    drop.next();
                    false
                } else {
                    true
                }
            })
            .map(|(_, (_, v))| v)
            .collect()
    };
    // Rewrite from the first removed index to the end (the head stays), then drop the
    // positions left over at the tail.
    let first = gone.remove(0);
    let head = items[0].0;
    for (j, v) in kept.iter().enumerate().skip(first) {
        tx.hset(
            b"list",
            &a[0],
            &(head + j as u64).to_be_bytes(),
            v,
            &mut count,
        )?;
    }
    for j in kept.len()..items.len() {
        tx.hdel(&a[0], &(head + j as u64).to_be_bytes(), &mut count)?;
    }
    tx.notify_and_gone(notify::LIST, "lrem", &a[0])?;
    Ok(Reply::Int(removed as i64))
}

/// LINSERT.
pub fn linsert(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let before = if a[1].eq_ignore_ascii_case(b"BEFORE") {
        true
    } else if a[1].eq_ignore_ascii_case(b"AFTER") {
        false
    } else {
        return err("ERR syntax error");
    };
    let mut count = collection!(tx, &a[0], b"list");
    if count.is_none() {
        return Ok(Reply::Int(0));
    }
    let items = elements(tx, &a[0])?;
    let Some(pivot) = items.iter().position(|(_, v)| *v == a[2]) else {
        return Ok(Reply::Int(-1));
    };
    let (head, len) = (items[0].0, items.len());
    // The new element's index; the elements on the shorter side of it move by one.
    let i = if before { pivot } else { pivot + 1 };
    if i < len - i {
        for (j, (_, v)) in items[..i].iter().enumerate() {
            tx.hset(
                b"list",
                &a[0],
                &(head + j as u64 - 1).to_be_bytes(),
                v,
                &mut count,
            )?;
        }
        let at = head + i as u64 - 1;
        tx.hset(b"list", &a[0], &at.to_be_bytes(), &a[3], &mut count)?;
    } else {
        for (j, (_, v)) in items.iter().enumerate().skip(i) {
            tx.hset(
                b"list",
                &a[0],
                &(head + j as u64 + 1).to_be_bytes(),
                v,
                &mut count,
            )?;
        }
        let at = head + i as u64;
        tx.hset(b"list", &a[0], &at.to_be_bytes(), &a[3], &mut count)?;
    }
    tx.notify(notify::LIST, "linsert", &a[0]);
    Ok(Reply::Int(count.unwrap_or(0) as i64))
}
