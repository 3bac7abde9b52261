//! The blocking pops as commands: BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX and
//! BZMPOP. Each is its non-blocking pop (LMPOP, LMOVE, ZMPOP) over the same keys, plus a timeout:
//! each command's table handler (`Handler::Block`: `blpop`, `blmove`, …) parses the timeout, runs
//! that pop in the writer's transaction and either answers (something was popped, or an error) or
//! says what the client waits for (`Blocking`: the pop, the keys in order, the deadline). Whoever
//! holds blocked clients (`crate::blocking`, the writer's) later serves one from the key that
//! became ready with `Pop::run`. Inside MULTI (and wherever a client cannot be held)
//! `write::apply` answers nil instead of waiting (`without_blocking`; Redis 7.0: `*-1`, or `$-1`
//! for BLMOVE/BRPOPLPUSH).

use super::error;
use super::write::{lists, sorted_sets, streams};
use crate::resp::Reply;
use crate::store::{Tx, TxResult};

/// What a blocked client does once one of its keys holds something.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pop {
    /// BLPOP / BRPOP: one element, answered `[key, element]`.
    One { left: bool },
    /// BLMOVE / BRPOPLPUSH: one element into `dst`, answered with the element.
    Move { dst: Vec<u8>, from: bool, to: bool },
    /// BLMPOP: up to `count` elements, answered `[key, [element, …]]`.
    Many { left: bool, count: usize },
    /// BZPOPMIN / BZPOPMAX: one member, answered `[key, member, score]`.
    ZOne { max: bool },
    /// BZMPOP: up to `count` members, answered `[key, [[member, score], …]]`.
    ZMany { max: bool, count: usize },
    /// XREAD … BLOCK: the entries after each key's ID (`$` resolved when it blocked), at most
    /// `count` (0: all), answered as XREAD answers, with the key that got them.
    Xread {
        from: Vec<(Vec<u8>, crate::store::stream::Id)>,
        count: usize,
    },
    /// XREADGROUP … BLOCK … `>`: the group's new entries, delivered to the consumer.
    XreadGroup {
        group: Vec<u8>,
        consumer: Vec<u8>,
        count: usize,
        noack: bool,
    },
}

/// A client to hold blocked: what it pops, the keys it waits on (in its order, each once), and
/// when it gives up (Unix ms; None: never).
#[derive(Clone, Debug)]
pub struct Blocking {
    pub pop: Pop,
    pub keys: Vec<Vec<u8>>,
    pub deadline: Option<u64>,
}

/// The result of a blocking command's try.
pub enum Attempt {
    /// Answered now: what was popped, or an error.
    Done(Reply),
    /// Nothing to pop: the client waits.
    Wait(Blocking),
}

/// A non-blocking pop's handler (LMPOP, LMOVE, ZMPOP: the arguments after the name).
type Nonblocking = fn(&mut Tx<'_>, &[Vec<u8>]) -> TxResult<Reply>;

/// What a client that found nothing waits for: its pop and its keys.
type Waits = (Pop, Vec<Vec<u8>>);

fn side(left: bool) -> Vec<u8> {
    if left { &b"LEFT"[..] } else { b"RIGHT" }.to_vec()
}

fn end(max: bool) -> Vec<u8> {
    if max { &b"MAX"[..] } else { b"MIN" }.to_vec()
}

/// LEFT or RIGHT (any case): true for LEFT.
fn side_of(s: &[u8]) -> Option<bool> {
    if s.eq_ignore_ascii_case(b"LEFT") {
        Some(true)
    } else if s.eq_ignore_ascii_case(b"RIGHT") {
        Some(false)
    } else {
        None
    }
}

impl Pop {
    /// The type of key it pops from.
    pub fn kind(&self) -> &'static [u8] {
        match self {
            Pop::One { .. } | Pop::Move { .. } | Pop::Many { .. } => b"list",
            Pop::ZOne { .. } | Pop::ZMany { .. } => b"zset",
            Pop::Xread { .. } | Pop::XreadGroup { .. } => b"stream",
        }
    }

    /// Pops for it from `key` with the non-blocking command (LMPOP, LMOVE or ZMPOP of that one
    /// key), in the blocking command's reply shape (nil: nothing there; an error: the pop failed,
    /// nothing changed).
    pub fn run(&self, tx: &mut Tx<'_>, key: &[u8]) -> TxResult<Reply> {
        let one = || b"1".to_vec();
        let key = key.to_vec();
        let count = |n: usize| n.to_string().into_bytes();
        let reply = match self {
            Pop::One { left } => lists::lmpop(tx, &[one(), key, side(*left)])?,
            Pop::Move { dst, from, to } => {
                lists::lmove(tx, &[key, dst.clone(), side(*from), side(*to)])?
            }
            Pop::Many { left, count: n } => {
                lists::lmpop(tx, &[one(), key, side(*left), b"COUNT".to_vec(), count(*n)])?
            }
            Pop::ZOne { max } => sorted_sets::zmpop(tx, &[one(), key, end(*max)])?,
            Pop::ZMany { max, count: n } => {
                sorted_sets::zmpop(tx, &[one(), key, end(*max), b"COUNT".to_vec(), count(*n)])?
            }
            Pop::Xread { from, count } => streams::serve_xread(tx, &key, from, *count)?,
            Pop::XreadGroup {
                group,
                consumer,
                count,
                noack,
            } => streams::serve_xreadgroup(tx, &key, group, consumer, *count, *noack)?,
        };
        Ok(self.answer(reply))
    }

    /// True if the key it waits on being deleted, or replaced by another type, ends the wait
    /// with an error (XREADGROUP's, as Redis 7.0); the others wait on.
    pub fn ends_when_gone(&self) -> bool {
        matches!(self, Pop::XreadGroup { .. })
    }

    /// The key, besides the one it pops from, that its pop writes (BLMOVE's destination).
    pub fn destination(&self) -> Option<&[u8]> {
        match self {
            Pop::Move { dst, .. } => Some(dst),
            _ => None,
        }
    }

    /// The blocking command's reply made of its non-blocking pop's (errors and nil unchanged):
    /// LMPOP's `[key, [element]]` becomes BLPOP's `[key, element]`, ZMPOP's
    /// `[key, [[member, score]]]` BZPOPMIN's `[key, member, score]`.
    pub fn answer(&self, reply: Reply) -> Reply {
        let flat = matches!(self, Pop::One { .. } | Pop::ZOne { .. });
        match reply {
            Reply::Array(mut parts) if flat && parts.len() == 2 => {
                let inner = parts.pop();
                let key = parts.pop().unwrap_or(Reply::Null);
                let mut out = vec![key];
                if let Some(Reply::Array(mut items)) = inner {
                    match items.pop() {
                        Some(Reply::Array(pair)) => out.extend(pair),
                        Some(element) => out.push(element),
                        None => {}
                    }
                }
                Reply::Array(out)
            }
            other => other,
        }
    }

    /// What it answers when it cannot wait (inside MULTI) or gives up: Redis 7.0's null array,
    /// a null bulk string for BLMOVE/BRPOPLPUSH inside MULTI.
    pub fn nothing(&self, in_multi: bool) -> Reply {
        match self {
            Pop::Move { .. } if in_multi => Reply::Null,
            _ => Reply::NullArray,
        }
    }
}

/// A blocking command's timeout (seconds, a float; 0: forever) in milliseconds, as Redis 7.0
/// reads it (rounded up).
pub fn timeout_ms(arg: &[u8]) -> Result<u64, Reply> {
    let seconds = std::str::from_utf8(arg)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|t| !t.is_nan())
        .ok_or_else(|| error("ERR timeout is not a float or out of range"))?;
    let ms = (seconds * 1000.0).ceil();
    if ms < 0.0 {
        return Err(error("ERR timeout is negative"));
    }
    // `as` saturates: an infinite or huge timeout is forever in practice.
    Ok(ms as u64)
}

/// Each key once, in first-seen order (BLPOP a b a waits on a and b).
fn distinct(keys: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !out.contains(k) {
            out.push(k.clone());
        }
    }
    out
}

/// Which blocking command (what tells them apart; the table gives each its own handler).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Form {
    Blpop,
    Brpop,
    Blmove,
    Brpoplpush,
    Blmpop,
    Bzpopmin,
    Bzpopmax,
    Bzmpop,
}

/// BLPOP key [key …] timeout.
pub fn blpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Blpop, a)
}

/// BRPOP key [key …] timeout.
pub fn brpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Brpop, a)
}

/// BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout.
pub fn blmove(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Blmove, a)
}

/// BRPOPLPUSH source destination timeout.
pub fn brpoplpush(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Brpoplpush, a)
}

/// BLMPOP timeout numkeys key [key …] LEFT|RIGHT [COUNT n].
pub fn blmpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Blmpop, a)
}

/// BZPOPMIN key [key …] timeout.
pub fn bzpopmin(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Bzpopmin, a)
}

/// BZPOPMAX key [key …] timeout.
pub fn bzpopmax(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Bzpopmax, a)
}

/// BZMPOP timeout numkeys key [key …] MIN|MAX [COUNT n].
pub fn bzmpop(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    attempt(tx, Form::Bzmpop, a)
}

/// A blocking command (`a`: its arguments after the name, its arity checked) tried once in the
/// writer's transaction: its non-blocking pop over every key, then (when that found nothing)
/// what to wait for.
fn attempt(tx: &mut Tx<'_>, form: Form, a: &[Vec<u8>]) -> TxResult<Attempt> {
    // BLMOVE reads its directions before its timeout (as Redis).
    if form == Form::Blmove && (side_of(&a[2]).is_none() || side_of(&a[3]).is_none()) {
        return Ok(Attempt::Done(error("ERR syntax error")));
    }
    let timeout_at = match form {
        Form::Blmpop | Form::Bzmpop => 0,
        Form::Blmove => 4,
        Form::Brpoplpush => 2,
        _ => a.len() - 1,
    };
    let ms = match timeout_ms(&a[timeout_at]) {
        Ok(ms) => ms,
        Err(e) => return Ok(Attempt::Done(e)),
    };
    let deadline = (ms > 0).then(|| tx.now.saturating_add(ms));
    let (run, op, wait): (Nonblocking, Vec<Vec<u8>>, Option<Waits>) = match form {
        Form::Blpop | Form::Brpop | Form::Bzpopmin | Form::Bzpopmax => {
            let keys = &a[..a.len() - 1];
            let (pop, run, dir): (Pop, Nonblocking, &[u8]) = match form {
                Form::Blpop => (Pop::One { left: true }, lists::lmpop, b"LEFT"),
                Form::Brpop => (Pop::One { left: false }, lists::lmpop, b"RIGHT"),
                Form::Bzpopmin => (Pop::ZOne { max: false }, sorted_sets::zmpop, b"MIN"),
                _ => (Pop::ZOne { max: true }, sorted_sets::zmpop, b"MAX"),
            };
            let mut op = vec![keys.len().to_string().into_bytes()];
            op.extend(keys.iter().cloned());
            op.push(dir.to_vec());
            (run, op, Some((pop, distinct(keys))))
        }
        Form::Blmove | Form::Brpoplpush => {
            let (from, to) = if form == Form::Brpoplpush {
                (false, true)
            } else {
                (side_of(&a[2]) == Some(true), side_of(&a[3]) == Some(true))
            };
            let op = vec![a[0].clone(), a[1].clone(), side(from), side(to)];
            let pop = Pop::Move {
                dst: a[1].clone(),
                from,
                to,
            };
            (lists::lmove, op, Some((pop, vec![a[0].clone()])))
        }
        // BLMPOP / BZMPOP: LMPOP / ZMPOP checks the rest (numkeys, the direction, COUNT).
        Form::Blmpop | Form::Bzmpop => {
            let list = form == Form::Blmpop;
            let run: Nonblocking = if list {
                lists::lmpop
            } else {
                sorted_sets::zmpop
            };
            (run, a[1..].to_vec(), mpop_wait(list, &a[1..]))
        }
    };
    let reply = run(tx, &op)?;
    Ok(match (reply, wait) {
        (Reply::Null | Reply::NullArray, Some((pop, keys))) => Attempt::Wait(Blocking {
            pop,
            keys,
            deadline,
        }),
        (Reply::Null | Reply::NullArray, None) => Attempt::Done(error("ERR syntax error")),
        (reply, Some((pop, _))) => Attempt::Done(pop.answer(reply)),
        (reply, None) => Attempt::Done(reply),
    })
}

/// BLMPOP / BZMPOP's pop and keys from `numkeys key … LEFT|RIGHT|MIN|MAX [COUNT n]` (None if
/// they do not parse: LMPOP / ZMPOP answered the error already).
fn mpop_wait(list: bool, a: &[Vec<u8>]) -> Option<Waits> {
    let n = super::parse_i64(a.first()?)?;
    let n = usize::try_from(n).ok().filter(|&n| n >= 1 && n < a.len())?;
    let keys = distinct(&a[1..=n]);
    let rest = &a[n + 1..];
    let dir = rest.first()?;
    let count = match rest.len() {
        1 => 1,
        3 if rest[1].eq_ignore_ascii_case(b"COUNT") => {
            usize::try_from(super::parse_i64(&rest[2])?).ok()?
        }
        _ => return None,
    };
    let pop = match (list, dir.to_ascii_uppercase().as_slice()) {
        (true, b"LEFT") => Pop::Many { left: true, count },
        (true, b"RIGHT") => Pop::Many { left: false, count },
        (false, b"MIN") => Pop::ZMany { max: false, count },
        (false, b"MAX") => Pop::ZMany { max: true, count },
        _ => return None,
    };
    Some((pop, keys))
}

/// Where a client cannot be held (inside MULTI, in a script), a blocking command is its
/// non-blocking pop, and nil when there is nothing (as Redis 7.0).
pub fn without_blocking(attempt: Attempt) -> Reply {
    match attempt {
        Attempt::Done(reply) => reply,
        Attempt::Wait(b) => b.pop.nothing(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_read_as_redis_reads_them() {
        assert_eq!(timeout_ms(b"0"), Ok(0));
        assert_eq!(timeout_ms(b"1"), Ok(1000));
        assert_eq!(timeout_ms(b"0.001"), Ok(1));
        assert_eq!(timeout_ms(b"0.0001"), Ok(1));
        assert_eq!(timeout_ms(b"1.5"), Ok(1500));
        assert_eq!(timeout_ms(b"-0"), Ok(0));
        assert_eq!(timeout_ms(b"inf"), Ok(u64::MAX));
        assert_eq!(timeout_ms(b"-1"), Err(error("ERR timeout is negative")));
        for bad in [&b"x"[..], b"", b" 1", b"1 ", b"nan"] {
            assert_eq!(
                timeout_ms(bad),
                Err(error("ERR timeout is not a float or out of range"))
            );
        }
    }

    #[test]
    fn served_replies_take_the_blocking_shape() {
        let b = |s: &str| Reply::Bulk(s.as_bytes().to_vec());
        let lmpop = Reply::Array(vec![b("k"), Reply::Array(vec![b("x")])]);
        assert_eq!(
            Pop::One { left: true }.answer(lmpop.clone()),
            Reply::Array(vec![b("k"), b("x")])
        );
        assert_eq!(
            Pop::Many {
                left: true,
                count: 1
            }
            .answer(lmpop.clone()),
            lmpop
        );
        let zmpop = Reply::Array(vec![
            b("z"),
            Reply::Array(vec![Reply::Array(vec![
                b("m"),
                Reply::Double("1.5".into()),
            ])]),
        ]);
        assert_eq!(
            Pop::ZOne { max: false }.answer(zmpop),
            Reply::Array(vec![b("z"), b("m"), Reply::Double("1.5".into())])
        );
        assert_eq!(
            Pop::One { left: true }.answer(Reply::Error("WRONGTYPE x".into())),
            Reply::Error("WRONGTYPE x".into())
        );
    }

    #[test]
    fn mpop_arguments_give_the_keys_once() {
        let args =
            |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|a| a.as_bytes().to_vec()).collect() };
        let (pop, keys) = mpop_wait(true, &args("3 a b a RIGHT COUNT 2")).unwrap();
        assert_eq!(
            pop,
            Pop::Many {
                left: false,
                count: 2
            }
        );
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
        assert!(mpop_wait(false, &args("1 z LEFT")).is_none());
        assert!(mpop_wait(false, &args("2 z MIN")).is_none());
        assert_eq!(
            mpop_wait(false, &args("1 z max")).unwrap().0,
            Pop::ZMany {
                max: true,
                count: 1
            }
        );
    }
}
