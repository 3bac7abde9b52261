//! Key reads: TYPE, TTL, PTTL, EXPIRETIME, PEXPIRETIME, EXISTS, KEYS, DBSIZE.

use crate::glob::glob;
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::ops::Bound;

/// EXISTS.
pub fn exists(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let mut n = 0;
        for key in a {
            n += i64::from(ks.live(key)?.is_some());
        }
        Ok(Reply::Int(n))
    })())
}

/// DBSIZE: expired keys not yet swept included, as Redis'.
pub fn dbsize(ks: &mut Ks<'_>, _a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(Reply::Int(ks.len()? as i64)))())
}

/// KEYS pattern.
pub fn keys(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let mut keys = Vec::new();
        for key in ks.keys(Bound::Unbounded, usize::MAX)? {
            if glob(&a[0], &key) && ks.live(&key)?.is_some() {
                keys.push(Reply::Bulk(key));
            }
        }
        Ok(Reply::Array(keys))
    })())
}

/// TYPE.
pub fn type_of(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Status(match ks.live(&a[0])? {
            None => "none".into(),
            Some(_) => match ks.type_of(&a[0])? {
                Some(kind) => String::from_utf8_lossy(&kind).into_owned(),
                None => "string".into(),
            },
        }))
    })())
}

/// TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for no key, -1 for no expiry, else `at(deadline,
/// now)` (milliseconds).
fn expiry(ks: &mut Ks<'_>, a: &[Vec<u8>], at: fn(u64, u64) -> i64) -> mmtree::Result<Reply> {
    reply((|| {
        let now = ks.now;
        Ok(Reply::Int(match ks.live(&a[0])?.map(|l| l.expiry) {
            None => -2,
            Some(None) => -1,
            Some(Some(deadline)) => at(deadline, now),
        }))
    })())
}

/// TTL.
pub fn ttl(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    expiry(ks, a, |at, now| ((at - now) as i64 + 500) / 1000)
}

/// PTTL.
pub fn pttl(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    expiry(ks, a, |at, now| (at - now) as i64)
}

/// EXPIRETIME.
pub fn expiretime(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    expiry(ks, a, |at, _| (at / 1000) as i64)
}

/// PEXPIRETIME.
pub fn pexpiretime(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    expiry(ks, a, |at, _| at as i64)
}
