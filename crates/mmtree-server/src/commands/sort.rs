//! SORT and SORT_RO (Redis' `sort.c`): the elements of a list, set or sorted set, sorted as
//! numbers (ties by the element's bytes) or ALPHA (bytes; the C locale's `strcoll`), by the
//! element or by `BY pattern` (a key, or a hash field with `->`; a pattern without `*` does not
//! sort), ASC/DESC, LIMIT offset count, each output element or `GET pattern` values (`#`: the
//! element). SORT_RO runs here; SORT (its STORE) in `commands/write/dump.rs`.

use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Fault, Ks};
use crate::resp::Reply;
use std::cmp::Ordering;
use std::ops::Bound;

/// A parsed SORT.
pub struct Spec {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    by: Option<Vec<u8>>,
    dont_sort: bool,
    gets: Vec<Vec<u8>>,
    pub store: Option<Vec<u8>>,
}

/// Parses SORT's options (`a` after the key); `read_only` (SORT_RO) has no STORE.
pub fn parse(a: &[Vec<u8>], read_only: bool) -> Result<Spec, Reply> {
    let mut s = Spec {
        desc: false,
        alpha: false,
        limit: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
        store: None,
    };
    let mut j = 0;
    while j < a.len() {
        let left = a.len() - j - 1;
        let w = a[j].to_ascii_uppercase();
        match w.as_slice() {
            b"ASC" => s.desc = false,
            b"DESC" => s.desc = true,
            b"ALPHA" => s.alpha = true,
            b"LIMIT" if left >= 2 => {
                let (Some(start), Some(count)) = (parse_i64(&a[j + 1]), parse_i64(&a[j + 2]))
                else {
                    return Err(error(NOT_INTEGER));
                };
                s.limit = Some((start, count));
                j += 2;
            }
            b"STORE" if !read_only && left >= 1 => {
                s.store = Some(a[j + 1].clone());
                j += 1;
            }
            b"BY" if left >= 1 => {
                s.dont_sort = !a[j + 1].contains(&b'*');
                s.by = Some(a[j + 1].clone());
                j += 1;
            }
            b"GET" if left >= 1 => {
                s.gets.push(a[j + 1].clone());
                j += 1;
            }
            _ => return Err(error("ERR syntax error")),
        }
        j += 1;
    }
    Ok(s)
}

/// The value `pattern` names for `element` (Redis' `lookupKeyByPattern`): `#` is the element;
/// the first `*` is replaced by it; `key->field` reads a hash field; None if there is no such
/// string or field (or the pattern has no `*`).
fn by_pattern(
    ks: &mut Ks<'_>,
    pattern: &[u8],
    element: &[u8],
) -> crate::keyspace::Result<Option<Vec<u8>>> {
    if pattern == b"#" {
        return Ok(Some(element.to_vec()));
    }
    let Some(star) = pattern.iter().position(|&b| b == b'*') else {
        return Ok(None);
    };
    let after = &pattern[star + 1..];
    let arrow = after.windows(2).position(|w| w == b"->");
    let (tail, field) = match arrow {
        Some(i) if i + 2 < after.len() => (&after[..i], Some(&after[i + 2..])),
        _ => (after, None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(element);
    key.extend_from_slice(tail);
    if ks.live(&key)?.is_none() {
        return Ok(None);
    }
    let kind = ks.type_of(&key)?;
    match (field, kind.as_deref()) {
        (Some(f), Some(b"hash")) => Ok(ks.field(&key, f)?),
        (None, None) => ks.string(&key),
        _ => Ok(None),
    }
}

/// Redis' check of a sort score: C's `strtod` over the whole string (leading white space, a
/// sign, decimal or hexadecimal digits, `inf`/`infinity`; empty reads as 0), refused when
/// something follows, when it is NaN, or when it is out of range (`ERANGE`: overflow, or a
/// result below the smallest normal double).
fn score(v: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(v).ok()?;
    let t = t.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    if t.is_empty() {
        return Some(0.0);
    }
    let (negative, body) = match t.as_bytes()[0] {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let f = if body.len() > 2 && body[..2].eq_ignore_ascii_case("0x") {
        hex_float(&body[2..])?
    } else {
        let f: f64 = body.parse().ok()?;
        let named = body
            .bytes()
            .any(|b| b.is_ascii_alphabetic() && !matches!(b, b'e' | b'E'));
        if f.is_infinite() && !named {
            return None;
        }
        f
    };
    if f.is_nan() || (f != 0.0 && f.abs() < f64::MIN_POSITIVE) {
        return None;
    }
    if f == 0.0
        && body
            .bytes()
            .take_while(|b| !matches!(b, b'e' | b'E'))
            .any(|b| matches!(b, b'1'..=b'9'))
    {
        return None;
    }
    Some(if negative { -f } else { f })
}

/// The digits of a hexadecimal float after `0x`: `h[.h][p[+-]d]`, at least one digit.
fn hex_float(t: &str) -> Option<f64> {
    let (mantissa, exp) = match t.find(['p', 'P']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut value = 0.0f64;
    for c in int.chars() {
        value = value * 16.0 + f64::from(c.to_digit(16)?);
    }
    let mut scale = 1.0 / 16.0;
    for c in frac.chars() {
        value += f64::from(c.to_digit(16)?) * scale;
        scale /= 16.0;
    }
    if let Some(e) = exp {
        let e: i32 = e.parse().ok()?;
        value *= 2f64.powi(e);
    }
    value.is_finite().then_some(value)
}

/// Runs a parsed SORT on `key`: the output (each element, or each GET's value; None: missing),
/// or the error reply.
pub fn run(
    ks: &mut Ks<'_>,
    key: &[u8],
    spec: &Spec,
) -> crate::keyspace::Result<Result<Vec<Option<Vec<u8>>>, Reply>> {
    let kind = match ks.live(key)? {
        None => None,
        Some(_) => match ks.type_of(key)? {
            Some(k) if matches!(k.as_slice(), b"list" | b"set" | b"zset") => Some(k),
            _ => return Err(Fault::WrongType),
        },
    };
    let rows = match &kind {
        Some(_) => ks.fields(key, Bound::Unbounded, usize::MAX)?,
        None => Vec::new(),
    };
    let mut elements: Vec<Vec<u8>> = match kind.as_deref() {
        Some(b"list") => rows.into_iter().map(|(_, v)| v).collect(),
        Some(b"set") => rows.into_iter().map(|(m, _)| m).collect(),
        // The order rows (score order), members after the 9-byte prefix.
        Some(b"zset") => rows
            .into_iter()
            .filter(|(f, _)| f.first() == Some(&1) && f.len() >= 9)
            .map(|(f, _)| f[9..].to_vec())
            .collect(),
        _ => Vec::new(),
    };
    let mut dont_sort = spec.dont_sort;
    let mut alpha = spec.alpha;
    let mut by = spec.by.as_deref();
    // A set is put in a definite order when stored (as Redis forces ALPHA).
    if dont_sort && kind.as_deref() == Some(b"set") && spec.store.is_some() {
        dont_sort = false;
        alpha = true;
        by = None;
    }
    let len = elements.len() as i64;
    let (limit_start, limit_count) = spec.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    if dont_sort {
        // Lists and sorted sets keep their order, reversed by DESC (a set's order is its own).
        if spec.desc && kind.as_deref() != Some(b"set") {
            elements.reverse();
        }
    } else {
        let mut keyed: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = Vec::with_capacity(elements.len());
        for e in elements {
            let by_value = match by {
                Some(p) => by_pattern(ks, p, &e)?,
                None => Some(e.clone()),
            };
            let mut num = 0.0;
            if !alpha {
                if let Some(v) = &by_value {
                    match score(v) {
                        Some(f) => num = f,
                        None => {
                            return Ok(Err(error(
                                "ERR One or more scores can't be converted into double",
                            )))
                        }
                    }
                }
            }
            keyed.push((e, by_value, num));
        }
        let by_given = by.is_some();
        keyed.sort_by(|x, y| {
            let cmp = if !alpha {
                x.2.partial_cmp(&y.2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            } else if by_given {
                match (&x.1, &y.1) {
                    (None, None) => Ordering::Equal,
                    (None, _) => Ordering::Less,
                    (_, None) => Ordering::Greater,
                    (Some(a), Some(b)) => a.cmp(b),
                }
            } else {
                x.0.cmp(&y.0)
            };
            if spec.desc {
                cmp.reverse()
            } else {
                cmp
            }
        });
        elements = keyed.into_iter().map(|(e, _, _)| e).collect();
    }
    let mut out = Vec::new();
    if start <= end && start >= 0 {
        for e in &elements[start as usize..=end as usize] {
            if spec.gets.is_empty() {
                out.push(Some(e.clone()));
            }
            for g in &spec.gets {
                out.push(by_pattern(ks, g, e)?);
            }
        }
    }
    Ok(Ok(out))
}

/// SORT_RO key [BY pattern] [LIMIT offset count] [GET pattern ...] [ASC|DESC] [ALPHA].
pub fn sort_ro(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let spec = match parse(&a[1..], true) {
        Ok(s) => s,
        Err(e) => return Ok(e),
    };
    reply(run(ks, &a[0], &spec).map(|r| {
        match r {
            Ok(items) => Reply::Array(
                items
                    .into_iter()
                    .map(|v| v.map_or(Reply::Null, Reply::Bulk))
                    .collect(),
            ),
            Err(e) => e,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::score;

    #[test]
    fn scores_read_as_strtod_reads_them() {
        assert_eq!(score(b""), Some(0.0));
        assert_eq!(score(b" 7"), Some(7.0));
        assert_eq!(score(b"0x10"), Some(16.0));
        assert_eq!(score(b"-0x1p3"), Some(-8.0));
        assert_eq!(score(b"0x.8"), Some(0.5));
        assert_eq!(score(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(score(b"1e2"), Some(100.0));
        assert_eq!(score(b"0e5"), Some(0.0));
        for bad in [
            &b"3 "[..],
            b"abc",
            b"nan",
            b"1e500",
            b"1e-400",
            b"0x",
            b"1e",
        ] {
            assert_eq!(score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }
}
