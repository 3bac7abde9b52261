//! Set reads: SMEMBERS, SISMEMBER, SMISMEMBER, SCARD (a set's members are the rows of its run
//! with empty values; see `store`).

use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::ops::Bound;

pub fn read(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let key = &a[0];
        let count = ks.collection(key, b"set")?;
        let mut member = |m: &[u8]| -> mmtree::Result<bool> {
            Ok(count.is_some() && ks.field(key, m)?.is_some())
        };
        Ok(match name {
            "SISMEMBER" => Reply::Int(i64::from(member(&a[1])?)),
            "SMISMEMBER" => {
                let mut out = Vec::with_capacity(a.len() - 1);
                for m in &a[1..] {
                    out.push(Reply::Int(i64::from(member(m)?)));
                }
                Reply::Array(out)
            }
            "SCARD" => Reply::Int(count.unwrap_or(0) as i64),
            _ => {
                let members = match count {
                    Some(_) => ks.fields(key, Bound::Unbounded, usize::MAX)?,
                    None => Vec::new(),
                };
                Reply::Set(members.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
            }
        })
    })())
}
