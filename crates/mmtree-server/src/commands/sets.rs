//! Set reads: SMEMBERS, SISMEMBER, SMISMEMBER, SCARD, SINTER, SUNION, SDIFF, SINTERCARD (a
//! set's members are the rows of its run with empty values; see `store`). The algebra here is
//! shared with the STORE forms (`write/sets.rs`).

use super::sorted_sets::{card_limit, numkeys, Numkeys};
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

/// A set operation: SINTER, SUNION, SDIFF and their STORE and CARD forms, ZUNION, ZINTER,
/// ZDIFF and theirs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetOp {
    Inter,
    Union,
    Diff,
}

/// SINTER, SUNION or SDIFF (`op`) of `keys`, in member
/// order. Every key's type is checked, as Redis, before any is combined; an intersection
/// stops early once `limit` members are found (0: no limit).
pub fn combine(
    ks: &mut Ks<'_>,
    op: SetOp,
    keys: &[Vec<u8>],
    limit: usize,
) -> crate::keyspace::Result<BTreeSet<Vec<u8>>> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        sets.push(members(ks, key)?);
    }
    Ok(match op {
        SetOp::Inter => {
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
        SetOp::Union => sets.into_iter().flatten().collect(),
        SetOp::Diff => {
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

/// SINTER, SUNION and SDIFF key…: the members of `op` over the keys.
fn combined(ks: &mut Ks<'_>, op: SetOp, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let out = combine(ks, op, a, 0)?;
        Ok(Reply::Set(out.into_iter().map(Reply::Bulk).collect()))
    })())
}

/// SINTER.
pub fn sinter(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, SetOp::Inter, a)
}

/// SUNION.
pub fn sunion(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, SetOp::Union, a)
}

/// SDIFF.
pub fn sdiff(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, SetOp::Diff, a)
}

/// SINTERCARD numkeys key… [LIMIT n].
pub fn sintercard(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let n = match numkeys(Numkeys::Sintercard, a) {
        Ok(n) => n,
        Err(e) => return Ok(e),
    };
    let limit = match card_limit(&a[n + 1..]) {
        Ok(l) => l,
        Err(e) => return Ok(e),
    };
    reply((|| {
        Ok(Reply::Int(
            combine(ks, SetOp::Inter, &a[1..=n], limit)?.len() as i64,
        ))
    })())
}

/// The set at `a[0]`'s row count, or WRONGTYPE.
fn count(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<Option<u64>> {
    ks.collection(key, b"set")
}

/// Whether `member` is in the set at `key` (of `count` rows).
fn contains(
    ks: &mut Ks<'_>,
    key: &[u8],
    count: Option<u64>,
    member: &[u8],
) -> crate::keyspace::Result<bool> {
    Ok(count.is_some() && ks.field(key, member)?.is_some())
}

/// SISMEMBER.
pub fn sismember(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let count = count(ks, &a[0])?;
        Ok(Reply::Int(i64::from(contains(ks, &a[0], count, &a[1])?)))
    })())
}

/// SMISMEMBER.
pub fn smismember(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let count = count(ks, &a[0])?;
        let mut out = Vec::with_capacity(a.len() - 1);
        for m in &a[1..] {
            out.push(Reply::Int(i64::from(contains(ks, &a[0], count, m)?)));
        }
        Ok(Reply::Array(out))
    })())
}

/// SCARD.
pub fn scard(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(Reply::Int(count(ks, &a[0])?.unwrap_or(0) as i64)))())
}

/// SMEMBERS.
pub fn smembers(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let members = members(ks, &a[0])?;
        Ok(Reply::Set(members.into_iter().map(Reply::Bulk).collect()))
    })())
}
