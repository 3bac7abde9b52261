//! Reads only a snapshot serves (they run after the commit inside EXEC): RANDOMKEY,
//! HRANDFIELD, SRANDMEMBER, MMTREE.RANGE.

use super::*;

impl Conn {
    /// HRANDFIELD key [count [WITHVALUES]]: without count one field (or nil); a positive count
    /// that many distinct fields (at most all), a negative one exactly -count, repeats allowed.
    pub(super) fn hrandfield(&mut self, a: &[Vec<u8>], now: u64, set: bool) {
        let kind: &[u8] = if set { b"set" } else { b"hash" };
        let count = match a.get(1) {
            None => None,
            Some(n) => match std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
            {
                Some(n) => Some(n),
                None => {
                    self.out
                        .error("ERR value is not an integer or out of range");
                    return;
                }
            },
        };
        let values = match a.get(2) {
            None => false,
            Some(w) if !set && w.eq_ignore_ascii_case(b"WITHVALUES") => true,
            Some(_) => {
                self.out.error("ERR syntax error");
                return;
            }
        };
        // As Redis: -2^63 has no magnitude, and with values the reply would hold 2 × |count|.
        if count.is_some_and(|n| n == i64::MIN || values && n < -(i64::MAX / 2)) {
            self.out.error("ERR value is out of range");
            return;
        }
        // A reply is built whole before it is sent: one of 2^62 picks would never end.
        if count.is_some_and(|n| n.unsigned_abs() > RANDOM_PICKS_MAX) {
            self.out.error(&format!(
                "ERR value is out of range (mmtree picks at most {RANDOM_PICKS_MAX} at a time)"
            ));
            return;
        }
        let mut x = store::random_seed(now);
        let mut next = move |bound: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % bound as u64) as usize
        };
        self.with_table(|conn, t| {
            let key = &a[0];
            let live = t.live(key, now).is_some();
            if live && !t.is_kind(key, kind) {
                conn.out.error(store::WRONGTYPE);
                return;
            }
            let fields = if live {
                t.fields(key, None, usize::MAX).unwrap_or_default()
            } else {
                Vec::new()
            };
            let Some(count) = count else {
                match fields.is_empty() {
                    // Redis 7.0 answers SRANDMEMBER of no set with a null array.
                    true if set => conn.out.null_array(),
                    true => conn.out.null(),
                    false => conn.out.bulk(fields[next(fields.len())].0),
                }
                return;
            };
            let picked: Vec<usize> = if fields.is_empty() {
                Vec::new()
            } else if count < 0 {
                (0..count.unsigned_abs())
                    .map(|_| next(fields.len()))
                    .collect()
            } else {
                // A random selection of min(count, len) distinct fields.
                let mut all: Vec<usize> = (0..fields.len()).collect();
                let take = (count as usize).min(all.len());
                for i in 0..take {
                    let j = i + next(all.len() - i);
                    all.swap(i, j);
                }
                all.truncate(take);
                all
            };
            if values {
                if conn.out.resp3 {
                    conn.out.array(picked.len());
                    for i in picked {
                        conn.out.array(2);
                        conn.out.bulk(fields[i].0);
                        conn.out.bulk(fields[i].1);
                    }
                } else {
                    conn.out.array(picked.len() * 2);
                    for i in picked {
                        conn.out.bulk(fields[i].0);
                        conn.out.bulk(fields[i].1);
                    }
                }
            } else {
                conn.out.array(picked.len());
                for i in picked {
                    conn.out.bulk(fields[i].0);
                }
            }
        })
    }
    /// RANDOMKEY: a live key of the database, or nil (uniform up to RANDOMKEY_EXACT keys).
    pub(super) fn randomkey(&mut self, now: u64) {
        let seed = now
            ^ self.id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ u64::from(std::process::id()).rotate_left(32)
            ^ self
                .server
                .stats
                .commands
                .load(Ordering::Relaxed)
                .wrapping_mul(0x2545_f491_4f6c_dd1d);
        self.with_table(|conn, t| {
            let Some(data) = &t.data else {
                conn.out.null();
                return;
            };
            let (Ok(Some((first, _))), Ok(Some((last, _)))) = (data.first(), data.last()) else {
                conn.out.null();
                return;
            };
            let mut x = seed | 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if data.len() <= RANDOMKEY_EXACT {
                // Small: every key equally likely (an expired one not yet swept gives the
                // next live one).
                let at = (x % data.len()) as usize;
                let live = |k: &&[u8]| t.unexpired(k, now);
                let keys = || {
                    data.range(..)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|(k, _)| k)
                };
                match keys().skip(at).find(live).or_else(|| keys().find(live)) {
                    Some(k) => conn.out.bulk(k),
                    None => conn.out.null(),
                }
                return;
            }
            // Large (mmtree keeps no per-subtree counts to find the n-th key): the first key at
            // or after a random point between the first and the last, byte by byte.
            let mut probe = Vec::new();
            for i in 0..first.len().max(last.len()).min(16) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let lo = *first.get(i).unwrap_or(&0);
                let hi = *last.get(i).unwrap_or(&255);
                let (lo, hi) = if probe.as_slice() == &first[..i.min(first.len())]
                    && probe.as_slice() == &last[..i.min(last.len())]
                {
                    (lo, hi.max(lo))
                } else {
                    (0, 255)
                };
                probe.push(lo + (x % (u64::from(hi - lo) + 1)) as u8);
            }
            let pick = |from: &[u8]| -> Option<Vec<u8>> {
                let range = data.range(from..).ok()?;
                for (k, _) in range.flatten() {
                    if t.unexpired(k, now) {
                        return Some(k.to_vec());
                    }
                }
                None
            };
            match pick(&probe).or_else(|| pick(b"")) {
                Some(k) => conn.out.bulk(&k),
                None => conn.out.null(),
            }
        })
    }
    /// MMTREE.RANGE start end [LIMIT n] [REV]: key/value pairs in key order, start inclusive, end
    /// exclusive; `-` and `+` mean unbounded. Redis has no ordered range over plain keys.
    pub(super) fn range(&mut self, a: &[Vec<u8>], now: u64) -> Flow {
        let (mut limit, mut rev) = (usize::MAX, false);
        let mut i = 2;
        while i < a.len() {
            match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                "LIMIT" => match a
                    .get(i + 1)
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                {
                    Some(n) => {
                        limit = n;
                        i += 1;
                    }
                    None => {
                        self.out
                            .error("ERR value is not an integer or out of range");
                        return Flow::Continue;
                    }
                },
                "REV" => rev = true,
                _ => {
                    self.out.error("ERR syntax error");
                    return Flow::Continue;
                }
            }
            i += 1;
        }
        let bound = |b: &[u8], unbounded: &[u8], inclusive: bool| -> std::ops::Bound<Vec<u8>> {
            if b == unbounded {
                std::ops::Bound::Unbounded
            } else if inclusive {
                std::ops::Bound::Included(b.to_vec())
            } else {
                std::ops::Bound::Excluded(b.to_vec())
            }
        };
        let (start, end) = (bound(&a[0], b"-", true), bound(&a[1], b"+", false));
        self.with_table(|conn, t| {
            let mut items: Vec<(&[u8], &[u8])> = Vec::new();
            if let Some(data) = &t.data {
                fn as_ref(b: &std::ops::Bound<Vec<u8>>) -> std::ops::Bound<&[u8]> {
                    match b {
                        std::ops::Bound::Included(k) => std::ops::Bound::Included(k.as_slice()),
                        std::ops::Bound::Excluded(k) => std::ops::Bound::Excluded(k.as_slice()),
                        std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
                    }
                }
                let valid = match (&start, &end) {
                    (std::ops::Bound::Included(s), std::ops::Bound::Excluded(e)) => s < e,
                    _ => true,
                };
                if valid {
                    if let Ok(range) = data.range((as_ref(&start), as_ref(&end))) {
                        let iter: Box<dyn Iterator<Item = _>> = if rev {
                            Box::new(range.rev())
                        } else {
                            Box::new(range)
                        };
                        for (k, v) in iter.flatten() {
                            if items.len() == limit {
                                break;
                            }
                            if t.unexpired(k, now) {
                                items.push((k, v));
                            }
                        }
                    }
                }
            }
            conn.out.array(items.len() * 2);
            for (k, v) in items {
                conn.out.bulk(k);
                conn.out.bulk(v);
            }
        });
        Flow::Continue
    }
}
