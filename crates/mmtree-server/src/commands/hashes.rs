//! Hash reads: HGET, HMGET, HLEN, HEXISTS, HSTRLEN, HKEYS, HVALS, HGETALL.

use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::ops::Bound;

/// The row count of the hash at `key` (None: none), or WRONGTYPE.
fn count(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<Option<u64>> {
    ks.collection(key, b"hash")
}

/// The value of `field` in the hash at `key` (None: no such field or no hash).
fn field(ks: &mut Ks<'_>, key: &[u8], field: &[u8]) -> crate::keyspace::Result<Option<Vec<u8>>> {
    Ok(match count(ks, key)? {
        Some(_) => ks.field(key, field)?,
        None => None,
    })
}

/// Every field of the hash at `key` with its value, in field order.
fn fields(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    Ok(match count(ks, key)? {
        Some(_) => ks.fields(key, Bound::Unbounded, usize::MAX)?,
        None => Vec::new(),
    })
}

/// HGET.
pub fn hget(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(field(ks, &a[0], &a[1])?.map_or(Reply::Null, Reply::Bulk))
    })())
}

/// HMGET.
pub fn hmget(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let present = count(ks, &a[0])?.is_some();
        let mut out = Vec::with_capacity(a.len() - 1);
        for f in &a[1..] {
            let value = if present { ks.field(&a[0], f)? } else { None };
            out.push(value.map_or(Reply::Null, Reply::Bulk));
        }
        Ok(Reply::Array(out))
    })())
}

/// HEXISTS.
pub fn hexists(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Int(i64::from(field(ks, &a[0], &a[1])?.is_some())))
    })())
}

/// HSTRLEN.
pub fn hstrlen(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Int(
            field(ks, &a[0], &a[1])?.map_or(0, |v| v.len() as i64),
        ))
    })())
}

/// HLEN.
pub fn hlen(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(Reply::Int(count(ks, &a[0])?.unwrap_or(0) as i64)))())
}

/// HGETALL.
pub fn hgetall(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Map(
            fields(ks, &a[0])?
                .into_iter()
                .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                .collect(),
        ))
    })())
}

/// HKEYS.
pub fn hkeys(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Array(
            fields(ks, &a[0])?
                .into_iter()
                .map(|(f, _)| Reply::Bulk(f))
                .collect(),
        ))
    })())
}

/// HVALS.
pub fn hvals(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(Reply::Array(
            fields(ks, &a[0])?
                .into_iter()
                .map(|(_, v)| Reply::Bulk(v))
                .collect(),
        ))
    })())
}
