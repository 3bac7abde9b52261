//! Sorted-set reads: ZSCORE, ZCARD, ZRANGE by rank (two rows per member; see `store::ZMEMBER`).

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use crate::store;
use std::ops::Bound;

pub fn read(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let mut with_scores = false;
    let mut bounds = (0i64, -1i64);
    if name == "ZRANGE" {
        match a.get(3) {
            None => {}
            Some(w) if a.len() == 4 && w.eq_ignore_ascii_case(b"WITHSCORES") => with_scores = true,
            // BYSCORE, BYLEX, REV, LIMIT: not offered.
            Some(_) => return Ok(error("ERR syntax error")),
        }
        match (parse_i64(&a[1]), parse_i64(&a[2])) {
            (Some(s), Some(e)) => bounds = (s, e),
            _ => return Ok(error(NOT_INTEGER)),
        }
    }
    reply((|| {
        let key = &a[0];
        let len = ks.collection(key, b"zset")?.unwrap_or(0) as i64 / 2;
        Ok(match name {
            "ZCARD" => Reply::Int(len),
            "ZSCORE" => match len {
                0 => Reply::Null,
                _ => ks
                    .field(key, &store::zmember(&a[1]))?
                    .map_or(Reply::Null, |v| {
                        Reply::Double(store::format_score(store::score_of(&v)))
                    }),
            },
            _ => {
                let fix = |i: i64| if i < 0 { i + len } else { i };
                let (start, stop) = (fix(bounds.0).max(0), fix(bounds.1).min(len - 1));
                if len == 0 || start > stop {
                    return Ok(Reply::Array(Vec::new()));
                }
                // The order rows, from the first; the first `start` are stepped over.
                let rows =
                    ks.fields(key, Bound::Included(&[store::ZORDER]), (stop + 1) as usize)?;
                let picked = rows.into_iter().skip(start as usize);
                let members = picked.map(|(f, _)| {
                    let (order, member) = f[1..].split_at(8.min(f.len() - 1));
                    (member.to_vec(), store::score_from_order(order))
                });
                if with_scores {
                    Reply::Pairs(
                        members
                            .map(|(m, score)| {
                                (Reply::Bulk(m), Reply::Double(store::format_score(score)))
                            })
                            .collect(),
                    )
                } else {
                    Reply::Array(members.map(|(m, _)| Reply::Bulk(m)).collect())
                }
            }
        })
    })())
}
