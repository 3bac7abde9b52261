//! List reads: LLEN, LINDEX, LRANGE. Element i of a list is the row at position head + i
//! (see `store::LIST_MIDDLE`).

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use std::ops::Bound;

pub fn read(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let bounds: Option<Vec<i64>> = a[1..].iter().map(|b| parse_i64(b)).collect();
    let Some(bounds) = bounds else {
        return Ok(error(NOT_INTEGER));
    };
    reply((|| {
        let key = &a[0];
        let len = ks.collection(key, b"list")?.unwrap_or(0) as i64;
        let head = match ks.fields(key, Bound::Unbounded, 1)?.first() {
            Some((f, _)) => Some(u64::from_be_bytes(f.as_slice().try_into().map_err(
                |_| Fault::Malformed(format!("a list position of {} bytes (8 expected)", f.len())),
            )?)),
            None => None,
        };
        let fix = |i: i64| if i < 0 { i + len } else { i };
        Ok(match name {
            "LLEN" => Reply::Int(len),
            "LINDEX" => {
                let i = fix(bounds[0]);
                match head.filter(|_| (0..len).contains(&i)) {
                    Some(h) => ks
                        .field(key, &(h + i as u64).to_be_bytes())?
                        .map_or(Reply::Null, Reply::Bulk),
                    None => Reply::Null,
                }
            }
            _ => {
                let (start, stop) = (fix(bounds[0]).max(0), fix(bounds[1]).min(len - 1));
                let (Some(h), true) = (head, start <= stop) else {
                    return Ok(Reply::Array(Vec::new()));
                };
                let from = (h + start as u64).to_be_bytes();
                let rows = ks.fields(key, Bound::Included(&from), (stop - start + 1) as usize)?;
                Reply::Array(rows.into_iter().map(|(_, v)| Reply::Bulk(v)).collect())
            }
        })
    })())
}
