//! Key reads: TYPE, TTL, PTTL, EXPIRETIME, PEXPIRETIME.

use crate::keyspace::{reply, Keyspace, Rows};
use crate::resp::Reply;

pub fn read<R: Rows>(ks: &mut Keyspace<R>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
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
