//! GEO reads: GEOPOS, GEODIST, GEOHASH, GEOSEARCH, GEORADIUS_RO, GEORADIUSBYMEMBER_RO, and the
//! search the writes GEORADIUS, GEORADIUSBYMEMBER (with STORE or STOREDIST) and GEOSEARCHSTORE
//! share with them (`write/geo.rs`). A geo set is a sorted set whose scores are 52-bit geohashes
//! (`geohash`), so ZRANGE, ZSCORE, ZREM and TYPE work on it, as in Redis; the search follows
//! Redis 7.0's `georadiusGeneric` (its argument order, its errors, the nine cells it reads and
//! the order it reads them in, which COUNT … ANY shows).

use super::geohash::{self, Extent, Shape};
use super::sorted_sets::{self as zsets, By, Range};
use super::{error, parse_i64, NOT_INTEGER};
use crate::keyspace::{reply, Ks};
use crate::resp::Reply;
use crate::store;
use std::cmp::Ordering;

const SYNTAX: &str = "ERR syntax error";

/// Which search command: where its arguments are and what it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// GEORADIUS key longitude latitude radius unit … [STORE|STOREDIST key]
    Radius,
    /// GEORADIUSBYMEMBER key member radius unit … [STORE|STOREDIST key]
    RadiusByMember,
    /// GEORADIUS_RO (no STORE)
    RadiusRo,
    /// GEORADIUSBYMEMBER_RO (no STORE)
    RadiusByMemberRo,
    /// GEOSEARCH key FROMMEMBER|FROMLONLAT … BYRADIUS|BYBOX …
    Search,
    /// GEOSEARCHSTORE destination source … [STOREDIST]
    SearchStore,
}

impl Form {
    fn by_member(self) -> bool {
        matches!(self, Form::RadiusByMember | Form::RadiusByMemberRo)
    }
    fn by_coordinates(self) -> bool {
        matches!(self, Form::Radius | Form::RadiusRo)
    }
    fn search(self) -> bool {
        matches!(self, Form::Search | Form::SearchStore)
    }
    /// GEORADIUS and GEORADIUSBYMEMBER: STORE and STOREDIST take a key.
    fn store_option(self) -> bool {
        matches!(self, Form::Radius | Form::RadiusByMember)
    }
    fn name(self) -> &'static str {
        match self {
            Form::Radius => "georadius",
            Form::RadiusByMember => "georadiusbymember",
            Form::RadiusRo => "georadius_ro",
            Form::RadiusByMemberRo => "georadiusbymember_ro",
            Form::Search => "geosearch",
            Form::SearchStore => "geosearchstore",
        }
    }
}

/// What a search command does with what it found.
pub enum Outcome {
    /// Answered (the matches, or an error).
    Reply(Reply),
    /// Store these members with these scores at `destination` (replacing it; deleting it if
    /// there are none), announced as `event`, and answer their number.
    Store {
        destination: Vec<u8>,
        members: Vec<(Vec<u8>, f64)>,
        event: &'static str,
    },
}

/// A match: the member, its score, its position and its distance from the centre (metres).
struct Point {
    member: Vec<u8>,
    score: f64,
    position: (f64, f64),
    distance_m: f64,
}

/// A unit's size in metres, or Redis' error.
fn unit(word: &[u8]) -> Result<f64, Reply> {
    match word.to_ascii_lowercase().as_slice() {
        b"m" => Ok(1.0),
        b"km" => Ok(1000.0),
        b"ft" => Ok(0.3048),
        b"mi" => Ok(1609.34),
        _ => Err(error(
            "ERR unsupported unit provided. please use M, KM, FT, MI",
        )),
    }
}

/// A float argument, or `message` (Redis' words for this argument).
fn float(arg: &[u8], message: &str) -> Result<f64, Reply> {
    store::parse_float(arg).ok_or_else(|| error(message))
}

/// A longitude and a latitude (the two arguments), or Redis' error.
pub fn coordinates(a: &[Vec<u8>]) -> Result<(f64, f64), Reply> {
    let longitude = float(&a[0], "ERR value is not a valid float")?;
    let latitude = float(&a[1], "ERR value is not a valid float")?;
    if !geohash::valid(longitude, latitude) {
        return Err(Reply::Error(format!(
            "ERR invalid longitude,latitude pair {longitude:.6},{latitude:.6}"
        )));
    }
    Ok((longitude, latitude))
}

/// `radius unit`: the radius and the unit's size in metres.
fn radius(a: &[Vec<u8>]) -> Result<(f64, f64), Reply> {
    let r = float(&a[0], "ERR need numeric radius")?;
    if r < 0.0 {
        return Err(error("ERR radius cannot be negative"));
    }
    Ok((r, unit(&a[1])?))
}

/// `width height unit`.
fn box_size(a: &[Vec<u8>]) -> Result<(f64, f64, f64), Reply> {
    let width = float(&a[0], "ERR need numeric width")?;
    let height = float(&a[1], "ERR need numeric height")?;
    if height < 0.0 || width < 0.0 {
        return Err(error("ERR height or width cannot be negative"));
    }
    Ok((width, height, unit(&a[2])?))
}

/// The position of `member` in the geo set at `key`, if it is there.
fn member_position(
    ks: &mut Ks<'_>,
    key: &[u8],
    member: &[u8],
) -> crate::keyspace::Result<Option<(f64, f64)>> {
    Ok(ks
        .field(key, &store::zmember(member))?
        .map(|v| geohash::position(store::score_of(&v))))
}

const NO_MEMBER: &str = "ERR could not decode requested zset member";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// Runs a search command (`a`: the arguments after its name) over the keyspace: the reply, or
/// what a STORE form stores. The source's type is checked first, then the arguments in
/// Redis' order (a FROMMEMBER member is looked up where it stands, so its error comes before
/// those of later arguments, as in Redis).
pub fn search(ks: &mut Ks<'_>, form: Form, a: &[Vec<u8>]) -> crate::keyspace::Result<Outcome> {
    let source = if form == Form::SearchStore {
        &a[1]
    } else {
        &a[0]
    };
    let exists = ks.collection(source, b"zset")?.is_some_and(|rows| rows > 0);
    let fail = |reply: Reply| Ok(Outcome::Reply(reply));
    let mut center: Option<(f64, f64)> = None;
    let mut extent: Option<Extent> = None;
    let mut unit_m = 1.0;
    let options = if form.by_coordinates() {
        match coordinates(&a[1..3]) {
            Ok(c) => center = Some(c),
            Err(e) => return fail(e),
        }
        match radius(&a[3..5]) {
            Ok((r, u)) => (extent, unit_m) = (Some(Extent::Radius(r)), u),
            Err(e) => return fail(e),
        }
        &a[5..]
    } else if form.by_member() {
        // Without a source the member and radius are not read (Redis answers the empty reply).
        if exists {
            match member_position(ks, source, &a[1])? {
                Some(c) => center = Some(c),
                None => return fail(error(NO_MEMBER)),
            }
            match radius(&a[2..4]) {
                Ok((r, u)) => (extent, unit_m) = (Some(Extent::Radius(r)), u),
                Err(e) => return fail(e),
            }
        }
        &a[4..]
    } else if form == Form::SearchStore {
        &a[2..]
    } else {
        &a[1..]
    };
    let mut store_to: Option<&[u8]> = (form == Form::SearchStore).then_some(&a[0][..]);
    let mut store_distance = false;
    let (mut with_dist, mut with_hash, mut with_coord) = (false, false, false);
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let mut sort = Sort::None;
    let mut any = false;
    let mut count: usize = 0;
    let mut i = 0;
    while i < options.len() {
        let word = options[i].to_ascii_lowercase();
        let left = options.len() - i - 1;
        match word.as_slice() {
            b"withdist" => with_dist = true,
            b"withhash" => with_hash = true,
            b"withcoord" => with_coord = true,
            b"any" => any = true,
            b"asc" => sort = Sort::Asc,
            b"desc" => sort = Sort::Desc,
            b"count" if left >= 1 => {
                match parse_i64(&options[i + 1]) {
                    Some(n) if n > 0 => count = usize::try_from(n).unwrap_or(usize::MAX),
                    Some(_) => return fail(error("ERR COUNT must be > 0")),
                    None => return fail(error(NOT_INTEGER)),
                }
                i += 1;
            }
            b"store" | b"storedist" if left >= 1 && form.store_option() => {
                store_to = Some(&options[i + 1]);
                store_distance = word == b"storedist";
                i += 1;
            }
            b"storedist" if form == Form::SearchStore => store_distance = true,
            b"frommember" if left >= 1 && form.search() && !from_lonlat => {
                if exists {
                    match member_position(ks, source, &options[i + 1])? {
                        Some(c) => center = Some(c),
                        None => return fail(error(NO_MEMBER)),
                    }
                }
                from_member = true;
                i += 1;
            }
            b"fromlonlat" if left >= 2 && form.search() && !from_member => {
                match coordinates(&options[i + 1..i + 3]) {
                    Ok(c) => center = Some(c),
                    Err(e) => return fail(e),
                }
                from_lonlat = true;
                i += 2;
            }
            b"byradius" if left >= 2 && form.search() && !by_box => {
                match radius(&options[i + 1..i + 3]) {
                    Ok((r, u)) => (extent, unit_m) = (Some(Extent::Radius(r)), u),
                    Err(e) => return fail(e),
                }
                by_radius = true;
                i += 2;
            }
            b"bybox" if left >= 3 && form.search() && !by_radius => {
                match box_size(&options[i + 1..i + 4]) {
                    Ok((width, height, u)) => {
                        (extent, unit_m) = (Some(Extent::Box { width, height }), u)
                    }
                    Err(e) => return fail(e),
                }
                by_box = true;
                i += 3;
            }
            _ => return fail(error(SYNTAX)),
        }
        i += 1;
    }
    if store_to.is_some() && (with_dist || with_hash || with_coord) {
        let what = if form == Form::SearchStore {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return fail(Reply::Error(format!(
            "ERR {what} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )));
    }
    if form.search() && !(from_member || from_lonlat) {
        return fail(Reply::Error(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            form.name()
        )));
    }
    if form.search() && !(by_radius || by_box) {
        return fail(Reply::Error(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            form.name()
        )));
    }
    if any && count == 0 {
        return fail(error("ERR the ANY argument requires COUNT argument"));
    }
    let event = if form.search() {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    let store = |members| {
        Ok(match store_to {
            Some(destination) => Outcome::Store {
                destination: destination.to_vec(),
                members,
                event,
            },
            None => Outcome::Reply(Reply::Array(Vec::new())),
        })
    };
    // No source: nothing found (and no member was looked up).
    let (true, Some(center), Some(extent)) = (exists, center, extent) else {
        return store(Vec::new());
    };
    // COUNT without an order (and without ANY) keeps the nearest.
    if count != 0 && sort == Sort::None && !any {
        sort = Sort::Asc;
    }
    let shape = Shape {
        center,
        extent,
        unit: unit_m,
    };
    let mut points = points_in(ks, source, &shape, if any { count } else { 0 })?;
    let keep = if count == 0 {
        points.len()
    } else {
        count.min(points.len())
    };
    let order = |x: &Point, y: &Point| match sort {
        Sort::Desc => y.distance_m.total_cmp(&x.distance_m),
        _ => x.distance_m.total_cmp(&y.distance_m),
    };
    // As Redis: a stable sort of all (glibc's qsort is a merge sort), or, when COUNT keeps
    // fewer, its partial quicksort, whose order of equal distances is its own.
    if sort != Sort::None && keep == points.len() {
        points.sort_by(order);
    } else if sort != Sort::None && keep > 0 {
        partial_sort(&mut points, &order, keep - 1);
    }
    points.truncate(keep);
    if store_to.is_some() {
        let members = points
            .into_iter()
            .map(|p| {
                let score = if store_distance {
                    p.distance_m / unit_m
                } else {
                    p.score
                };
                (p.member, score)
            })
            .collect();
        return store(members);
    }
    let extras = usize::from(with_dist) + usize::from(with_hash) + usize::from(with_coord);
    let replies = points
        .into_iter()
        .map(|p| {
            if extras == 0 {
                return Reply::Bulk(p.member);
            }
            let mut item = vec![Reply::Bulk(p.member)];
            if with_dist {
                let d = geohash::format_distance(p.distance_m / unit_m);
                item.push(Reply::Bulk(d.into_bytes()));
            }
            if with_hash {
                item.push(Reply::Int(p.score as i64));
            }
            if with_coord {
                item.push(coordinate_pair(p.position));
            }
            Reply::Array(item)
        })
        .collect();
    Ok(Outcome::Reply(Reply::Array(replies)))
}

/// Orders `v` so that `v[..=last]` are its first elements by `cmp`, in order (the rest in no
/// particular order): Bentley and McIlroy's quicksort that leaves alone the partitions wholly
/// outside `0..=last`, the algorithm of Redis' `pqsort`, step for step, so that elements of
/// equal rank end in the same order as there.
fn partial_sort<T>(v: &mut [T], cmp: &impl Fn(&T, &T) -> Ordering, last: usize) {
    partial_sort_range(v, cmp, 0, v.len(), last);
}

/// `partial_sort` of the partition [lo, lo + n).
fn partial_sort_range<T>(
    v: &mut [T],
    cmp: &impl Fn(&T, &T) -> Ordering,
    mut lo: usize,
    mut n: usize,
    last: usize,
) {
    loop {
        if n < 7 {
            for m in lo + 1..lo + n {
                let mut l = m;
                while l > lo && cmp(&v[l - 1], &v[l]) == Ordering::Greater {
                    v.swap(l, l - 1);
                    l -= 1;
                }
            }
            return;
        }
        let mut m = lo + n / 2;
        if n > 7 {
            let mut l = lo;
            let mut h = lo + n - 1;
            if n > 40 {
                let d = n / 8;
                l = median3(v, cmp, l, l + d, l + 2 * d);
                m = median3(v, cmp, m - d, m, m + d);
                h = median3(v, cmp, h - 2 * d, h - d, h);
            }
            m = median3(v, cmp, l, m, h);
        }
        // The pivot at lo; elements equal to it gather at both ends ([lo, a) and (d, end)),
        // smaller ones in [a, b), larger ones in (c, d].
        v.swap(lo, m);
        let (mut a, mut b) = (lo + 1, lo + 1);
        let (mut c, mut d) = (lo + n - 1, lo + n - 1);
        loop {
            while b <= c {
                let order = cmp(&v[b], &v[lo]);
                if order == Ordering::Greater {
                    break;
                }
                if order == Ordering::Equal {
                    v.swap(a, b);
                    a += 1;
                }
                b += 1;
            }
            while b <= c {
                let order = cmp(&v[c], &v[lo]);
                if order == Ordering::Less {
                    break;
                }
                if order == Ordering::Equal {
                    v.swap(c, d);
                    d -= 1;
                }
                c -= 1;
            }
            if b > c {
                break;
            }
            v.swap(b, c);
            b += 1;
            c -= 1;
        }
        // The equal elements to the middle.
        let end = lo + n;
        let r = (a - lo).min(b - a);
        swap_blocks(v, lo, b - r, r);
        let r = (d - c).min(end - d - 1);
        swap_blocks(v, b, end - r, r);
        let smaller = b - a;
        if smaller > 1 && lo <= last {
            partial_sort_range(v, cmp, lo, smaller, last);
        }
        let larger = d - c;
        // (A partition starting past `last` holds none of the wanted ranks.)
        if larger <= 1 || end - larger > last {
            return;
        }
        lo = end - larger;
        n = larger;
    }
}

/// The median of three elements by `cmp` (Bentley and McIlroy's choice among equals).
fn median3<T>(v: &[T], cmp: &impl Fn(&T, &T) -> Ordering, a: usize, b: usize, c: usize) -> usize {
    let less = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Less;
    let greater = |x: usize, y: usize| cmp(&v[x], &v[y]) == Ordering::Greater;
    if less(a, b) {
        if less(b, c) {
            b
        } else if less(a, c) {
            c
        } else {
            a
        }
    } else if greater(b, c) {
        b
    } else if less(a, c) {
        a
    } else {
        c
    }
}

/// Swaps the `n` elements from `a` with the `n` from `b`, one by one from the first.
fn swap_blocks<T>(v: &mut [T], a: usize, b: usize, n: usize) {
    for i in 0..n {
        v.swap(a + i, b + i);
    }
}

/// A position as GEOPOS and WITHCOORD answer it: [longitude, latitude].
fn coordinate_pair((longitude, latitude): (f64, f64)) -> Reply {
    Reply::Array(vec![
        Reply::Double(geohash::format_coordinate(longitude)),
        Reply::Double(geohash::format_coordinate(latitude)),
    ])
}

/// The members of the geo set at `key` inside `shape`, in the order Redis finds them: cell by
/// cell (the centre's, then its neighbours), each in score order; stopping at `limit` matches
/// (COUNT … ANY; 0: no limit). A neighbour equal to the cell read before it is skipped (with a
/// huge radius the neighbours wrap around onto each other).
fn points_in(
    ks: &mut Ks<'_>,
    key: &[u8],
    shape: &Shape,
    limit: usize,
) -> crate::keyspace::Result<Vec<Point>> {
    let len = zsets::zlen(ks, key)?;
    let mut points: Vec<Point> = Vec::new();
    let mut last = None;
    for cell in geohash::search_cells(shape).into_iter().flatten() {
        if last == Some(cell) {
            continue;
        }
        if limit != 0 && points.len() >= limit {
            break;
        }
        let (min, max) = geohash::score_interval(cell);
        let range = Range {
            by: By::Score {
                min: (min, false),
                max: (max, true),
            },
            rev: false,
            limit: None,
            with_scores: true,
        };
        for (member, score) in zsets::select(ks, key, len, &range)? {
            let position = geohash::position(score);
            if let Some(distance_m) = shape.contains(position.0, position.1) {
                points.push(Point {
                    member,
                    score,
                    position,
                    distance_m,
                });
            }
            if limit != 0 && points.len() >= limit {
                break;
            }
        }
        last = Some(cell);
    }
    Ok(points)
}

/// A search's outcome as a read's reply (the read forms never store).
fn answer(ks: &mut Ks<'_>, form: Form, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply(search(ks, form, a).map(|outcome| match outcome {
        Outcome::Reply(r) => r,
        Outcome::Store { .. } => unreachable!("a read form has no STORE"),
    }))
}

/// GEOSEARCH.
pub fn geosearch(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    answer(ks, Form::Search, a)
}

/// GEORADIUS_RO.
pub fn georadius_ro(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    answer(ks, Form::RadiusRo, a)
}

/// GEORADIUSBYMEMBER_RO.
pub fn georadiusbymember_ro(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    answer(ks, Form::RadiusByMemberRo, a)
}

/// The scores of `members` in the geo set at `key` (None: not there; all None: no key).
fn scores(
    ks: &mut Ks<'_>,
    key: &[u8],
    members: &[Vec<u8>],
) -> crate::keyspace::Result<Vec<Option<f64>>> {
    let exists = ks.collection(key, b"zset")?.is_some();
    let mut out = Vec::with_capacity(members.len());
    for m in members {
        out.push(match exists {
            true => ks
                .field(key, &store::zmember(m))?
                .map(|v| store::score_of(&v)),
            false => None,
        });
    }
    Ok(out)
}

/// GEOPOS key member…: each member's [longitude, latitude], or a null.
pub fn geopos(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply(scores(ks, &a[0], &a[1..]).map(|scores| {
        Reply::Array(
            scores
                .into_iter()
                .map(|s| s.map_or(Reply::NullArray, |s| coordinate_pair(geohash::position(s))))
                .collect(),
        )
    }))
}

/// GEOHASH key member…: each member's 11-character geohash, or a null.
pub fn geohash_strings(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    reply(scores(ks, &a[0], &a[1..]).map(|scores| {
        Reply::Array(
            scores
                .into_iter()
                .map(|s| {
                    s.map_or(Reply::Null, |s| {
                        Reply::Bulk(geohash::geohash_string(s).to_vec())
                    })
                })
                .collect(),
        )
    }))
}

/// GEODIST key member1 member2 [unit]: their distance, or a null if either is missing.
pub fn geodist(ks: &mut Ks<'_>, a: &[Vec<u8>]) -> mmtree::Result<Reply> {
    let unit_m = match a.len() {
        3 => 1.0,
        4 => match unit(&a[3]) {
            Ok(u) => u,
            Err(e) => return Ok(e),
        },
        _ => return Ok(error(SYNTAX)),
    };
    reply(scores(ks, &a[0], &a[1..3]).map(|scores| match scores[..] {
        [Some(s1), Some(s2)] => {
            let (lon1, lat1) = geohash::position(s1);
            let (lon2, lat2) = geohash::position(s2);
            let d = geohash::distance(lon1, lat1, lon2, lat2) / unit_m;
            Reply::Bulk(geohash::format_distance(d).into_bytes())
        }
        _ => Reply::Null,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the partial sort puts the smallest `last + 1` elements first, in order, whatever
    /// the length (the insertion sort below 7, the median of 3 and of 9) and however many are
    /// equal. Method: pseudo-random keys from a few values and from many, against a full sort.
    #[test]
    fn partial_sort_orders_the_wanted_prefix() {
        let mut seed = 7u64;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            seed >> 33
        };
        for len in [1usize, 2, 6, 7, 8, 40, 41, 100, 1000] {
            for spread in [3u64, 1 << 20] {
                let v: Vec<(u64, usize)> = (0..len).map(|i| (next() % spread, i)).collect();
                let mut sorted = v.clone();
                sorted.sort_by_key(|x| x.0);
                for last in [0, len / 3, len - 1] {
                    let mut w = v.clone();
                    partial_sort(
                        &mut w,
                        &|x: &(u64, usize), y: &(u64, usize)| x.0.cmp(&y.0),
                        last,
                    );
                    let keys = |s: &[(u64, usize)]| s.iter().map(|x| x.0).collect::<Vec<_>>();
                    assert_eq!(
                        keys(&w[..=last]),
                        keys(&sorted[..=last]),
                        "{len} {spread} {last}"
                    );
                    let mut all = w.clone();
                    all.sort();
                    let mut original = v.clone();
                    original.sort();
                    assert_eq!(all, original, "a permutation");
                }
            }
        }
    }
}
