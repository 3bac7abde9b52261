//! Sorted-set reads: ZSCORE, ZMSCORE, ZCARD, ZRANGE (by rank, BYSCORE, BYLEX, REV, LIMIT) and
//! its older forms, ZRANK/ZREVRANK, ZCOUNT, ZLEXCOUNT, ZRANDMEMBER, ZUNION/ZINTER/ZDIFF,
//! ZINTERCARD (two rows per member; see `store::ZMEMBER`). The range selection and the set
//! algebra here are shared with the writes that store or remove what they select
//! (`write/sorted_sets.rs`).

use super::args::Args;
pub use super::sets::SetOp;
use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use crate::store;
use std::collections::BTreeMap;
use std::ops::Bound;

/// Members with their scores, in order.
pub type Scored = Vec<(Vec<u8>, f64)>;

/// One end of a BYLEX interval.
#[derive(Clone, Debug, PartialEq)]
pub enum Lex {
    /// `-`
    Min,
    /// `+`
    Max,
    /// `[member`
    Incl(Vec<u8>),
    /// `(member`
    Excl(Vec<u8>),
}

/// What a range selects.
#[derive(Clone, Debug, PartialEq)]
pub enum By {
    /// Ranks `start..=stop` (negative: from the end).
    Rank(i64, i64),
    /// Scores from `min` to `max`, each end exclusive if its flag is set.
    Score { min: (f64, bool), max: (f64, bool) },
    /// Members from `min` to `max` (members of equal scores are in member order).
    Lex { min: Lex, max: Lex },
}

/// A parsed ZRANGE (or ZRANGEBYSCORE, ZREVRANGE, ZRANGESTORE, …): what, which way, how many.
#[derive(Clone, Debug, PartialEq)]
pub struct Range {
    pub by: By,
    pub rev: bool,
    /// LIMIT offset count (a negative count: all).
    pub limit: Option<(i64, i64)>,
    pub with_scores: bool,
}

/// A score bound: `1.5`, `(1.5`, `-inf`, `+inf`.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    let (text, exclusive) = match arg.strip_prefix(b"(") {
        Some(rest) => (rest, true),
        None => (arg, false),
    };
    match store::parse_float(text) {
        Some(f) if !f.is_nan() => Some((f, exclusive)),
        _ => None,
    }
}

/// A lex bound: `-`, `+`, `[member`, `(member`.
fn lex_bound(arg: &[u8]) -> Option<Lex> {
    match arg.first() {
        Some(b'-') if arg.len() == 1 => Some(Lex::Min),
        Some(b'+') if arg.len() == 1 => Some(Lex::Max),
        Some(b'[') => Some(Lex::Incl(arg[1..].to_vec())),
        Some(b'(') => Some(Lex::Excl(arg[1..].to_vec())),
        _ => None,
    }
}

/// How a range command reads its arguments: what its name fixes (BYSCORE, BYLEX, REV), whether
/// it takes them as options instead (ZRANGE, ZRANGESTORE), and the STORE form (the destination
/// first, no WITHSCORES).
#[derive(Clone, Copy, Debug)]
pub struct RangeForm {
    by_score: bool,
    by_lex: bool,
    rev: bool,
    flexible: bool,
    store: bool,
}

impl RangeForm {
    const FIXED: Self = RangeForm {
        by_score: false,
        by_lex: false,
        rev: false,
        flexible: false,
        store: false,
    };
    pub const ZRANGE: Self = RangeForm {
        flexible: true,
        ..Self::FIXED
    };
    pub const ZRANGESTORE: Self = RangeForm {
        flexible: true,
        store: true,
        ..Self::FIXED
    };
    pub const ZREVRANGE: Self = RangeForm {
        rev: true,
        ..Self::FIXED
    };
    pub const ZRANGEBYSCORE: Self = RangeForm {
        by_score: true,
        ..Self::FIXED
    };
    pub const ZREVRANGEBYSCORE: Self = RangeForm {
        by_score: true,
        rev: true,
        ..Self::FIXED
    };
    pub const ZRANGEBYLEX: Self = RangeForm {
        by_lex: true,
        ..Self::FIXED
    };
    pub const ZREVRANGEBYLEX: Self = RangeForm {
        by_lex: true,
        rev: true,
        ..Self::FIXED
    };
    /// ZREMRANGEBYRANK's `key start stop`.
    pub const BY_RANK: Self = Self::FIXED;
}

/// Parses `key min max [options]` (a = the arguments after the name) as Redis'
/// `zrangeGenericCommand`: the fixed form of the older commands, the options of ZRANGE and
/// ZRANGESTORE (`form.store`: the source key is a[1], the bounds a[2] and a[3]).
pub fn parse_range(form: RangeForm, a: &[Vec<u8>]) -> Result<Range, Reply> {
    let base = usize::from(form.store);
    let flexible = form.flexible;
    let (mut by_score, mut by_lex, mut rev) = (form.by_score, form.by_lex, form.rev);
    let syntax = || error("ERR syntax error");
    let mut args = Args::new(&a[base + 3..]);
    let (mut limit, mut with_scores) = (None, false);
    while !args.is_empty() {
        if !form.store && args.eat("WITHSCORES") {
            with_scores = true;
        } else if args.rest().len() >= 3 && args.eat("LIMIT") {
            match (args.take_i64(), args.take_i64()) {
                (Some(Some(offset)), Some(Some(count))) => limit = Some((offset, count)),
                _ => return Err(error(NOT_INTEGER)),
            }
        } else if flexible && !by_score && !by_lex && args.eat("BYSCORE") {
            by_score = true;
        } else if flexible && !by_score && !by_lex && args.eat("BYLEX") {
            by_lex = true;
        } else if flexible && !rev && args.eat("REV") {
            rev = true;
        } else {
            return Err(syntax());
        }
    }
    if by_score && by_lex {
        return Err(syntax());
    }
    if limit.is_some() && !by_score && !by_lex {
        return Err(error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    if with_scores && by_lex {
        return Err(error(
            "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
        ));
    }
    // REV with BYSCORE or BYLEX names the bounds as max, min.
    let (mut lo, mut hi) = (&a[base + 1], &a[base + 2]);
    if rev && (by_score || by_lex) {
        std::mem::swap(&mut lo, &mut hi);
    }
    let by = if by_score {
        match (score_bound(lo), score_bound(hi)) {
            (Some(min), Some(max)) => By::Score { min, max },
            _ => return Err(error("ERR min or max is not a float")),
        }
    } else if by_lex {
        match (lex_bound(lo), lex_bound(hi)) {
            (Some(min), Some(max)) => By::Lex { min, max },
            _ => return Err(error("ERR min or max not valid string range item")),
        }
    } else {
        match (parse_i64(lo), parse_i64(hi)) {
            (Some(s), Some(e)) => By::Rank(s, e),
            _ => return Err(error(NOT_INTEGER)),
        }
    };
    Ok(Range {
        by,
        rev,
        limit,
        with_scores,
    })
}

/// The order-row field where scores from `score` on begin (`after`: past every member at it).
fn order_at(score: f64, after: bool) -> Vec<u8> {
    let mut f = vec![store::ZORDER];
    let order = store::score_order(score);
    if after {
        let next = u64::from_be_bytes(order).wrapping_add(1);
        f.extend_from_slice(&next.to_be_bytes());
    } else {
        f.extend_from_slice(&order);
    }
    f
}

/// An order row's (member, score).
fn from_order(field: &[u8]) -> (Vec<u8>, f64) {
    let (order, member) = field[1..].split_at(8.min(field.len() - 1));
    (member.to_vec(), store::score_from_order(order))
}

/// A member row's (member, score).
fn from_member(field: &[u8], value: &[u8]) -> (Vec<u8>, f64) {
    (field[1..].to_vec(), store::score_of(value))
}

/// The field bounds of a score interval over the order rows.
fn score_fields(min: (f64, bool), max: (f64, bool)) -> (Vec<u8>, Vec<u8>) {
    (order_at(min.0, min.1), order_at(max.0, !max.1))
}

/// The field bounds of a lex interval over the member rows.
fn lex_fields(min: &Lex, max: &Lex) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let member = |m: &[u8]| store::zmember(m);
    let lo = match min {
        Lex::Min => Bound::Included(vec![store::ZMEMBER]),
        Lex::Max => Bound::Included(vec![store::ZORDER]),
        Lex::Incl(m) => Bound::Included(member(m)),
        Lex::Excl(m) => Bound::Excluded(member(m)),
    };
    let hi = match max {
        Lex::Min => Bound::Excluded(vec![store::ZMEMBER]),
        Lex::Max => Bound::Excluded(vec![store::ZORDER]),
        Lex::Incl(m) => Bound::Included(member(m)),
        Lex::Excl(m) => Bound::Excluded(member(m)),
    };
    (lo, hi)
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// The members `range` selects from the sorted set at `key` (of `len` members), in reply order,
/// with their scores. Reads only the rows it returns (plus those LIMIT's offset or a start
/// rank steps over).
pub fn select(
    ks: &mut Ks<'_>,
    key: &[u8],
    len: i64,
    range: &Range,
) -> crate::keyspace::Result<Vec<(Vec<u8>, f64)>> {
    let (offset, count) = match range.limit {
        Some((offset, _)) if offset < 0 => return Ok(Vec::new()),
        Some((offset, count)) => (offset as usize, usize::try_from(count).ok()),
        None => (0, None),
    };
    let want = count.map_or(usize::MAX, |c| c.saturating_add(offset));
    let order = [store::ZORDER];
    let end = [store::ZORDER + 1];
    Ok(match &range.by {
        By::Rank(start, stop) => {
            let fix = |i: i64| if i < 0 { i.saturating_add(len) } else { i };
            let (start, stop) = (fix(*start).max(0), fix(*stop).min(len - 1));
            if len == 0 || start > stop {
                return Ok(Vec::new());
            }
            let rows = ks.field_range(
                key,
                Bound::Included(&order),
                Bound::Excluded(&end),
                range.rev,
                (stop + 1) as usize,
            )?;
            rows.iter()
                .skip(start as usize)
                .map(|(f, _)| from_order(f))
                .collect()
        }
        By::Score { min, max } => {
            let (lo, hi) = score_fields(*min, *max);
            let rows = ks.field_range(
                key,
                Bound::Included(&lo),
                Bound::Excluded(&hi),
                range.rev,
                want,
            )?;
            rows.iter()
                .skip(offset)
                .map(|(f, _)| from_order(f))
                .collect()
        }
        By::Lex { min, max } => {
            let (lo, hi) = lex_fields(min, max);
            let rows = ks.field_range(key, as_ref(&lo), as_ref(&hi), range.rev, want)?;
            rows.iter()
                .skip(offset)
                .map(|(f, v)| from_member(f, v))
                .collect()
        }
    })
}

/// The number of members a score or lex interval holds, counted without copying the rows.
fn count(ks: &mut Ks<'_>, key: &[u8], len: i64, by: &By) -> crate::keyspace::Result<u64> {
    Ok(match by {
        By::Score { min, max } => {
            let (lo, hi) = score_fields(*min, *max);
            ks.count_fields(key, Bound::Included(&lo), Bound::Excluded(&hi))?
        }
        By::Lex { min, max } => {
            let (lo, hi) = lex_fields(min, max);
            ks.count_fields(key, as_ref(&lo), as_ref(&hi))?
        }
        // A rank interval holds what its clamped ends enclose.
        By::Rank(start, stop) => {
            let fix = |i: i64| if i < 0 { i.saturating_add(len) } else { i };
            let (start, stop) = (fix(*start).max(0), fix(*stop).min(len - 1));
            (stop - start + 1).max(0) as u64
        }
    })
}

/// Members with scores as a reply: pairs with WITHSCORES (flat in RESP2), else members.
pub fn members_reply(members: Vec<(Vec<u8>, f64)>, with_scores: bool) -> Reply {
    if with_scores {
        Reply::Pairs(
            members
                .into_iter()
                .map(|(m, s)| (Reply::Bulk(m), Reply::Double(store::format_score(s))))
                .collect(),
        )
    } else {
        Reply::Array(members.into_iter().map(|(m, _)| Reply::Bulk(m)).collect())
    }
}

/// The sorted set's size (0: none), WRONGTYPE for another type.
pub fn zlen(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<i64> {
    Ok(ks.collection(key, b"zset")?.unwrap_or(0) as i64 / 2)
}

/// A member's score, if it is in the set (the caller checked the type).
fn score(ks: &mut Ks<'_>, key: &[u8], member: &[u8]) -> crate::keyspace::Result<Option<f64>> {
    Ok(ks
        .field(key, &store::zmember(member))?
        .map(|v| store::score_of(&v)))
}

/// ZRANK's answer: the number of members before `member` in score order (from the end if
/// `rev`). The order rows before it are counted one by one: O(rank) (O(size - rank) for
/// ZREVRANK), as the engine keeps no counts in its inner pages.
pub fn rank(
    ks: &mut Ks<'_>,
    key: &[u8],
    member: &[u8],
    rev: bool,
) -> crate::keyspace::Result<Option<i64>> {
    if zlen(ks, key)? == 0 {
        return Ok(None);
    }
    let Some(s) = score(ks, key, member)? else {
        return Ok(None);
    };
    let at = store::zorder(member, s);
    let (order, end) = ([store::ZORDER], [store::ZORDER + 1]);
    let before = if rev {
        ks.count_fields(key, Bound::Excluded(&at), Bound::Excluded(&end))?
    } else {
        ks.count_fields(key, Bound::Included(&order), Bound::Excluded(&at))?
    };
    Ok(Some(before as i64))
}

/// A source of ZUNION/ZINTER/ZDIFF: a sorted set, or a set (every member at score 1), as
/// member → score; empty for a missing key.
pub fn load_scored(ks: &mut Ks<'_>, key: &[u8]) -> crate::keyspace::Result<BTreeMap<Vec<u8>, f64>> {
    let Some(live) = ks.live(key)? else {
        return Ok(BTreeMap::new());
    };
    drop(live);
    match ks.type_of(key)?.as_deref() {
        Some(b"zset") => {
            let rows = ks.field_range(
                key,
                Bound::Included(&[store::ZMEMBER]),
                Bound::Excluded(&[store::ZORDER]),
                false,
                usize::MAX,
            )?;
            Ok(rows.iter().map(|(f, v)| from_member(f, v)).collect())
        }
        Some(b"set") => {
            let rows = ks.fields(key, Bound::Unbounded, usize::MAX)?;
            Ok(rows.into_iter().map(|(m, _)| (m, 1.0)).collect())
        }
        _ => Err(Fault::WrongType),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    fn apply(self, a: f64, b: f64) -> f64 {
        match self {
            // inf + -inf is NaN: Redis keeps 0.
            Aggregate::Sum => {
                let s = a + b;
                if s.is_nan() {
                    0.0
                } else {
                    s
                }
            }
            Aggregate::Min => a.min(b),
            Aggregate::Max => a.max(b),
        }
    }
}

/// A parsed ZUNION/ZINTER/ZDIFF (and STORE): its source keys and options.
pub struct Algebra {
    pub keys: Vec<Vec<u8>>,
    pub weights: Vec<f64>,
    pub aggregate: Aggregate,
    pub with_scores: bool,
}

/// Parses `numkeys key… [WEIGHTS w…] [AGGREGATE SUM|MIN|MAX] [WITHSCORES]` (a = from numkeys
/// on) for `op` (a difference takes neither WEIGHTS nor AGGREGATE); `store_form`: the STORE
/// form (no WITHSCORES); `name` words the errors.
pub fn parse_algebra(
    name: &str,
    op: SetOp,
    a: &[Vec<u8>],
    store_form: bool,
) -> Result<Algebra, Reply> {
    let numkeys = match parse_i64(&a[0]) {
        Some(n) => n,
        None => return Err(error(NOT_INTEGER)),
    };
    if numkeys < 1 {
        return Err(Reply::Error(format!(
            "ERR at least 1 input key is needed for '{}' command",
            name.to_ascii_lowercase()
        )));
    }
    if numkeys as u64 > (a.len() - 1) as u64 {
        return Err(error("ERR syntax error"));
    }
    let n = numkeys as usize;
    let keys = a[1..=n].to_vec();
    let diff = op == SetOp::Diff;
    let mut algebra = Algebra {
        keys,
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    let mut args = Args::new(&a[n + 1..]);
    while !args.is_empty() {
        if !diff && args.rest().len() > n && args.eat("WEIGHTS") {
            for w in algebra.weights.iter_mut() {
                match args.take().and_then(store::parse_float) {
                    Some(f) if !f.is_nan() => *w = f,
                    _ => return Err(error("ERR weight value is not a float")),
                }
            }
        } else if !diff && args.rest().len() > 1 && args.eat("AGGREGATE") {
            let word = args.take().unwrap_or_default();
            algebra.aggregate = if word.eq_ignore_ascii_case(b"SUM") {
                Aggregate::Sum
            } else if word.eq_ignore_ascii_case(b"MIN") {
                Aggregate::Min
            } else if word.eq_ignore_ascii_case(b"MAX") {
                Aggregate::Max
            } else {
                return Err(error("ERR syntax error"));
            };
        } else if !store_form && args.eat("WITHSCORES") {
            algebra.with_scores = true;
        } else {
            return Err(error("ERR syntax error"));
        }
    }
    Ok(algebra)
}

/// The weighted score (Redis keeps 0 where the product is NaN: 0 × inf).
fn weighted(score: f64, weight: f64) -> f64 {
    let w = score * weight;
    if w.is_nan() {
        0.0
    } else {
        w
    }
}

/// Runs ZUNION, ZINTER or ZDIFF (`op`): the result in score order.
pub fn compute(
    ks: &mut Ks<'_>,
    op: SetOp,
    algebra: &Algebra,
) -> crate::keyspace::Result<Vec<(Vec<u8>, f64)>> {
    let mut sources = Vec::with_capacity(algebra.keys.len());
    for key in &algebra.keys {
        sources.push(load_scored(ks, key)?);
    }
    let mut out: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
    match op {
        SetOp::Union => {
            for (src, &w) in sources.iter().zip(&algebra.weights) {
                for (m, &s) in src {
                    let s = weighted(s, w);
                    out.entry(m.clone())
                        .and_modify(|acc| *acc = algebra.aggregate.apply(*acc, s))
                        .or_insert(s);
                }
            }
        }
        SetOp::Inter => {
            // From the smallest source, as Redis.
            let smallest = (0..sources.len())
                .min_by_key(|&i| sources[i].len())
                .unwrap_or(0);
            'member: for (m, &s) in &sources[smallest] {
                let mut acc = weighted(s, algebra.weights[smallest]);
                for (i, src) in sources.iter().enumerate() {
                    if i == smallest {
                        continue;
                    }
                    match src.get(m) {
                        Some(&t) => {
                            acc = algebra
                                .aggregate
                                .apply(acc, weighted(t, algebra.weights[i]))
                        }
                        None => continue 'member,
                    }
                }
                out.insert(m.clone(), acc);
            }
        }
        SetOp::Diff => {
            let (first, rest) = sources.split_first().expect("numkeys >= 1");
            for (m, &s) in first {
                if rest.iter().all(|src| !src.contains_key(m)) {
                    out.insert(m.clone(), s);
                }
            }
        }
    }
    let mut result: Vec<(Vec<u8>, f64)> = out.into_iter().collect();
    result.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    Ok(result)
}

/// How a command words its `numkeys` errors (Redis words them differently per command).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numkeys {
    /// LMPOP, ZMPOP.
    Pop,
    Zintercard,
    Sintercard,
}

/// The key count of a `numkeys key…` argument list (a = from numkeys on), or the command's
/// error.
pub fn numkeys(kind: Numkeys, a: &[Vec<u8>]) -> Result<usize, Reply> {
    let n = parse_i64(&a[0]);
    let at_least_one = |n: Option<i64>| match (kind, n) {
        (Numkeys::Zintercard, None) => error(NOT_INTEGER),
        (Numkeys::Zintercard, _) => {
            error("ERR at least 1 input key is needed for 'zintercard' command")
        }
        _ => error("ERR numkeys should be greater than 0"),
    };
    match n {
        Some(n) if n >= 1 && (n as u64) < a.len() as u64 => Ok(n as usize),
        Some(n) if n >= 1 && kind == Numkeys::Sintercard => Err(error(
            "ERR Number of keys can't be greater than number of args",
        )),
        Some(n) if n >= 1 => Err(error("ERR syntax error")),
        n => Err(at_least_one(n)),
    }
}

/// ZINTERCARD / SINTERCARD's `[LIMIT n]` after the keys (0: no limit).
pub fn card_limit(rest: &[Vec<u8>]) -> Result<usize, Reply> {
    let mut args = Args::new(rest);
    let mut limit = 0;
    while !args.is_empty() {
        if args.rest().len() >= 2 && args.eat("LIMIT") {
            match args.take_i64() {
                Some(Some(n)) if n >= 0 => limit = n as usize,
                // As Redis, which reads it as a non-negative integer: any other text too.
                _ => return Err(error("ERR LIMIT can't be negative")),
            }
        } else {
            return Err(error("ERR syntax error"));
        }
    }
    Ok(limit)
}

/// ZRANGE and its older forms: the members `form` selects.
fn range(ks: &mut Ks<'_>, form: RangeForm, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let range = match parse_range(form, a) {
        Ok(r) => r,
        Err(e) => return Ok(e),
    };
    reply((|| {
        let len = zlen(ks, &a[0])?;
        let members = select(ks, &a[0], len, &range)?;
        Ok(members_reply(members, range.with_scores))
    })())
}

/// ZRANGE.
pub fn zrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZRANGE, a)
}

/// ZREVRANGE.
pub fn zrevrange(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZREVRANGE, a)
}

/// ZRANGEBYSCORE.
pub fn zrangebyscore(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZRANGEBYSCORE, a)
}

/// ZREVRANGEBYSCORE.
pub fn zrevrangebyscore(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZREVRANGEBYSCORE, a)
}

/// ZRANGEBYLEX.
pub fn zrangebylex(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZRANGEBYLEX, a)
}

/// ZREVRANGEBYLEX.
pub fn zrevrangebylex(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    range(ks, RangeForm::ZREVRANGEBYLEX, a)
}

/// ZCOUNT and ZLEXCOUNT: the members `by` selects.
fn count_members(ks: &mut Ks<'_>, by: By, key: &[u8]) -> mmtree::Result<Reply> {
    reply((|| {
        let len = zlen(ks, key)?;
        if len == 0 {
            return Ok(Reply::Int(0));
        }
        Ok(Reply::Int(count(ks, key, len, &by)? as i64))
    })())
}

/// ZCOUNT.
pub fn zcount(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    match (score_bound(&a[1]), score_bound(&a[2])) {
        (Some(min), Some(max)) => count_members(ks, By::Score { min, max }, &a[0]),
        _ => Ok(error("ERR min or max is not a float")),
    }
}

/// ZLEXCOUNT.
pub fn zlexcount(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    match (lex_bound(&a[1]), lex_bound(&a[2])) {
        (Some(min), Some(max)) => count_members(ks, By::Lex { min, max }, &a[0]),
        _ => Ok(error("ERR min or max not valid string range item")),
    }
}

/// ZUNION, ZINTER and ZDIFF (`op`; `name` words the errors).
fn combined(ks: &mut Ks<'_>, name: &str, op: SetOp, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let algebra = match parse_algebra(name, op, a, false) {
        Ok(x) => x,
        Err(e) => return Ok(e),
    };
    reply((|| {
        let result = compute(ks, op, &algebra)?;
        Ok(members_reply(result, algebra.with_scores))
    })())
}

/// ZUNION.
pub fn zunion(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, "zunion", SetOp::Union, a)
}

/// ZINTER.
pub fn zinter(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, "zinter", SetOp::Inter, a)
}

/// ZDIFF.
pub fn zdiff(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    combined(ks, "zdiff", SetOp::Diff, a)
}

/// ZINTERCARD numkeys key… [LIMIT n].
pub fn zintercard(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let n = match numkeys(Numkeys::Zintercard, a) {
        Ok(n) => n,
        Err(e) => return Ok(e),
    };
    let limit = match card_limit(&a[n + 1..]) {
        Ok(l) => l,
        Err(e) => return Ok(e),
    };
    let algebra = Algebra {
        keys: a[1..=n].to_vec(),
        weights: vec![1.0; n],
        aggregate: Aggregate::Sum,
        with_scores: false,
    };
    reply((|| {
        let card = compute(ks, SetOp::Inter, &algebra)?.len();
        Ok(Reply::Int(
            if limit > 0 { card.min(limit) } else { card } as i64
        ))
    })())
}

/// ZCARD.
pub fn zcard(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| Ok(Reply::Int(zlen(ks, &a[0])?)))())
}

/// ZSCORE.
pub fn zscore(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        Ok(match zlen(ks, &a[0])? {
            0 => Reply::Null,
            _ => score(ks, &a[0], &a[1])?
                .map_or(Reply::Null, |s| Reply::Double(store::format_score(s))),
        })
    })())
}

/// ZMSCORE.
pub fn zmscore(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        let len = zlen(ks, &a[0])?;
        let mut out = Vec::with_capacity(a.len() - 1);
        for m in &a[1..] {
            let s = if len == 0 { None } else { score(ks, &a[0], m)? };
            out.push(s.map_or(Reply::Null, |s| Reply::Double(store::format_score(s))));
        }
        Ok(Reply::Array(out))
    })())
}

/// ZRANK and ZREVRANK (`rev`).
fn rank_of(ks: &mut Ks<'_>, rev: bool, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply((|| {
        // As before: the type is checked first.
        zlen(ks, &a[0])?;
        Ok(rank(ks, &a[0], &a[1], rev)?.map_or(Reply::Null, Reply::Int))
    })())
}

/// ZRANK.
pub fn zrank(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    rank_of(ks, false, a)
}

/// ZREVRANK.
pub fn zrevrank(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    rank_of(ks, true, a)
}

/// ZRANDMEMBER key [count [WITHSCORES]]: as SRANDMEMBER (a positive count: distinct members,
/// a negative one: exactly -count, repeats allowed).
pub fn zrandmember(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    if a.len() > 3 {
        return Ok(error("ERR syntax error"));
    }
    let count = match a.get(1) {
        None => None,
        Some(n) => match parse_i64(n) {
            Some(n) => Some(n),
            None => return Ok(error(NOT_INTEGER)),
        },
    };
    let with_scores = match a.get(2) {
        None => false,
        Some(w) if w.eq_ignore_ascii_case(b"WITHSCORES") => true,
        Some(_) => return Ok(error("ERR syntax error")),
    };
    if count == Some(i64::MIN) {
        return Ok(error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        ));
    }
    if count.is_some_and(|n| with_scores && n < -(i64::MAX / 2)) {
        return Ok(error("ERR value is out of range"));
    }
    if count.is_some_and(|n| n.unsigned_abs() > super::random::RANDOM_PICKS_MAX) {
        return Ok(Reply::Error(format!(
            "ERR value is out of range (mmtree picks at most {} at a time)",
            super::random::RANDOM_PICKS_MAX
        )));
    }
    let mut next = super::random::generator(ks.now);
    reply((|| {
        let key = &a[0];
        let members: Vec<(Vec<u8>, f64)> = if zlen(ks, key)? > 0 {
            let rows = ks.field_range(
                key,
                Bound::Included(&[store::ZMEMBER]),
                Bound::Excluded(&[store::ZORDER]),
                false,
                usize::MAX,
            )?;
            rows.iter().map(|(f, v)| from_member(f, v)).collect()
        } else {
            Vec::new()
        };
        let Some(count) = count else {
            return Ok(match members.is_empty() {
                true => Reply::Null,
                false => Reply::Bulk(members[next(members.len())].0.clone()),
            });
        };
        let picked = super::random::pick(members.len(), count, &mut next);
        Ok(members_reply(
            picked.into_iter().map(|i| members[i].clone()).collect(),
            with_scores,
        ))
    })())
}
