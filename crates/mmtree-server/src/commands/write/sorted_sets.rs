//! Sorted-set writes: ZADD (NX/XX/GT/LT/CH/INCR), ZINCRBY, ZREM.

use crate::commands::args::Args;
#[allow(unused_imports)]
use crate::notify;
use crate::resp::Reply;
#[allow(unused_imports)]
use crate::store::*;

pub fn apply(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    Ok(match name {
        "ZADD" | "ZINCRBY" => {
            let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
                (false, false, false, false, false, name == "ZINCRBY");
            let mut args = Args::new(&a[1.min(a.len())..]);
            if name == "ZADD" {
                loop {
                    if args.eat("NX") {
                        nx = true;
                    } else if args.eat("XX") {
                        xx = true;
                    } else if args.eat("GT") {
                        gt = true;
                    } else if args.eat("LT") {
                        lt = true;
                    } else if args.eat("CH") {
                        ch = true;
                    } else if args.eat("INCR") {
                        incr = true;
                    } else {
                        break;
                    }
                }
            }
            let pairs = args.rest();
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return if name == "ZINCRBY" {
                    Ok(wrong_args(name))
                } else {
                    err("ERR syntax error")
                };
            }
            if nx && xx {
                return err("ERR XX and NX options at the same time are not compatible");
            }
            if ((gt || lt) && nx) || (gt && lt) {
                return err("ERR GT, LT, and/or NX options at the same time are not compatible");
            }
            if incr && pairs.len() > 2 {
                return err("ERR INCR option supports a single increment-element pair");
            }
            let mut scores = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks(2) {
                match parse_float(&pair[0]) {
                    Some(f) if !f.is_nan() => scores.push(f),
                    _ => return err("ERR value is not a valid float"),
                }
                if 13 + a[0].len() + pair[1].len() > tx.max_key {
                    return err("ERR sorted set key and member too large");
                }
            }
            let mut count = collection!(tx, &a[0], b"zset");
            let (mut added, mut changed) = (0i64, 0i64);
            let mut last: Option<f64> = None;
            for (pair, &score) in pairs.chunks(2).zip(&scores) {
                let member = &pair[1];
                let mfield = zmember(member);
                let old = match count {
                    Some(_) => tx.field(&a[0], &mfield)?.map(|v| score_of(&v)),
                    None => None,
                };
                let new = match (old, incr) {
                    (Some(o), true) => o + score,
                    _ => score,
                };
                if new.is_nan() {
                    return err("ERR resulting score is not a number (NaN)");
                }
                let skip = match old {
                    None => xx,
                    Some(o) => nx || (gt && new <= o) || (lt && new >= o),
                };
                if skip {
                    last = None;
                    continue;
                }
                if let Some(o) = old {
                    if o == new {
                        last = Some(new);
                        continue;
                    }
                    tx.hdel_order(&a[0], member, o, &mut count)?;
                    changed += 1;
                } else {
                    added += 1;
                }
                tx.hset(b"zset", &a[0], &mfield, &score_bytes(new), &mut count)?;
                tx.hset(b"zset", &a[0], &zorder(member, new), b"", &mut count)?;
                last = Some(new);
            }
            if added + changed > 0 {
                let event = if incr { "zincr" } else { "zadd" };
                tx.notify(notify::ZSET, event, &a[0]);
            }
            if incr {
                last.map_or(Reply::Null, |f| Reply::Double(format_score(f)))
            } else {
                Reply::Int(if ch { added + changed } else { added })
            }
        }
        "ZREM" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let mut count = collection!(tx, &a[0], b"zset");
            let mut removed = 0;
            for member in &a[1..] {
                if count.is_none() {
                    break;
                }
                let mfield = zmember(member);
                let Some(v) = tx.field(&a[0], &mfield)? else {
                    continue;
                };
                tx.hdel_order(&a[0], member, score_of(&v), &mut count)?;
                tx.hdel(&a[0], &mfield, &mut count)?;
                removed += 1;
            }
            if removed > 0 {
                tx.notify_and_gone(notify::ZSET, "zrem", &a[0])?;
            }
            Reply::Int(removed)
        }
        _ => wrong_args(name),
    })
}
