//! Hash reads: HGET, HMGET, HLEN, HEXISTS, HSTRLEN, HKEYS, HVALS, HGETALL.

use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::ops::Bound;

pub fn read(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let key = &a[0];
        let count = ks.collection(key, b"hash")?;
        let mut field = |f: &[u8]| -> mmtree::Result<Option<Vec<u8>>> {
            match count {
                Some(_) => ks.field(key, f),
                None => Ok(None),
            }
        };
        Ok(match name {
            "HGET" => field(&a[1])?.map_or(Reply::Null, Reply::Bulk),
            "HMGET" => {
                let mut out = Vec::with_capacity(a.len() - 1);
                for f in &a[1..] {
                    out.push(field(f)?.map_or(Reply::Null, Reply::Bulk));
                }
                Reply::Array(out)
            }
            "HEXISTS" => Reply::Int(i64::from(field(&a[1])?.is_some())),
            "HSTRLEN" => Reply::Int(field(&a[1])?.map_or(0, |v| v.len() as i64)),
            "HLEN" => Reply::Int(count.unwrap_or(0) as i64),
            _ => {
                let fields = match count {
                    Some(_) => ks.fields(key, Bound::Unbounded, usize::MAX)?,
                    None => Vec::new(),
                };
                match name {
                    "HGETALL" => Reply::Map(
                        fields
                            .into_iter()
                            .map(|(f, v)| (Reply::Bulk(f), Reply::Bulk(v)))
                            .collect(),
                    ),
                    "HKEYS" => {
                        Reply::Array(fields.into_iter().map(|(f, _)| Reply::Bulk(f)).collect())
                    }
                    _ => Reply::Array(fields.into_iter().map(|(_, v)| Reply::Bulk(v)).collect()),
                }
            }
        })
    })())
}
