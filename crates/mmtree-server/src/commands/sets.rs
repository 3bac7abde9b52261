//! Set reads: SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SINTER, SUNION, SDIFF, SINTERCARD (a
//! set's members are the rows of its run with empty values; see `store`). The algebra here is
//! shared with the STORE forms (`write/sets.rs`).

use super::sorted_sets::{card_limit, numkeys};
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use std::collections::BTreeSet;
use std::ops::Bound;

/// The members of the set at `key` (empty for none); WRONGTYPE for another type.
pub fn members(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<BTreeSet<Vec<u8>>> {
    Ok(match ks.collection(key, b"set")? {
        Some(_) => ks
            .fields(key, Bound::Unbounded, usize::MAX)?
            .into_iter()
            .map(|(m, _)| m)
            .collect(),
        None => BTreeSet::new(),
    })
}

/// SINTER, SUNION or SDIFF (`op`: the name without its S and STORE) of `keys`, in member
/// order. Every key's type is checked, as Redis, before any is combined; an intersection
/// stops early once `limit` members are found (0: no limit).
pub fn combine(
    ks: &mut Ks<'_>,
    op: &str,
    keys: &[Vec<u8>],
    limit: usize,
) -> crate::keyspace::Result<BTreeSet<Vec<u8>>> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(members(ks, key)?);
    }
    Ok(match op {
        "INTER" => {
            let smallest = (0..sets.len()).min_by_key(|&i| sets[i].len()).unwrap_or(0);
            let mut out = BTreeSet::new();
            for m in &sets[smallest] {
                if sets.iter().all(|s| s.contains(m)) {
                    out.insert(m.clone());
                    if out.len() == limit {
                        break;
                    }
                }
            }
            out
        }
        "UNION" => sets.into_iter().flatten().collect(),
        _ => {
            let mut sets = sets.into_iter();
            let mut out = sets.next().unwrap_or_default();
            for s in sets {
                if out.is_empty() {
                    break;
                }
                out.retain(|m| !s.contains(m));
            }
            out
        }
    })
}

/// SINTER, SUNION, SDIFF key…; SINTERCARD numkeys key… [LIMIT n].
pub fn algebra(ks: &mut Ks<'_>, name: &str, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    if name == "SINTERCARD" {
        let n = match numkeys(name, a) {
            Ok(n) => n,
            Err(e) => return Ok(e),
        };
        let limit = match card_limit(&a[n + 1..]) {
            Ok(l) => l,
            Err(e) => return Ok(e),
        };
        return reply((|| {
            Ok(Reply::Int(
                combine(ks, "INTER", &a[1..=n], limit)?.len() as i64
            ))
        })());
    }
    reply((|| {
        let out = combine(ks, &name[1..], a, 0)?;
        Ok(Reply::Set(out.into_iter().map(Reply::Bulk).collect()))
    })())
}

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
