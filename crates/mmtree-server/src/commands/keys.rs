//! Key reads: TYPE, TTL, PTTL, EXPIRETIME, PEXPIRETIME, EXISTS, KEYS, DBSIZE.

use crate::glob::glob;
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::ops::Bound;

/// EXISTS, KEYS, DBSIZE.
pub fn many(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(match name {
            "EXISTS" => {
                let mut n = 0;
                for key in a {
                    n += i64::from(ks.live(key)?.is_some());
                }
                Reply::Int(n)
            }
            // Expired keys not yet swept included, as Redis' DBSIZE.
            "DBSIZE" => Reply::Int(ks.len()? as i64),
            _ => {
                let mut keys = Vec::new();
                for key in ks.keys(Bound::Unbounded, usize::MAX)? {
                    if glob(&a[0], &key) && ks.live(&key)?.is_some() {
                        keys.push(Reply::Bulk(key));
                    }
                }
                Reply::Array(keys)
            }
        })
    })())
}

pub fn read(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let now = ks.now;
        let live = ks.live(&a[0])?;
        Ok(match name {
            "TYPE" => Reply::Status(match live {
                None => "none".into(),
                Some(_) => match ks.type_of(&a[0])? {
                    Some(kind) => String::from_utf8_lossy(&kind).into_owned(),
                    None => "string".into(),
                },
            }),
            _ => Reply::Int(match live.map(|l| l.expiry) {
                None => -2,
                Some(None) => -1,
                Some(Some(at)) => match name {
                    "EXPIRETIME" => (at / 1000) as i64,
                    "PEXPIRETIME" => at as i64,
                    "TTL" => ((at - now) as i64 + 500) / 1000,
                    _ => (at - now) as i64,
                },
            }),
        })
    })())
}
