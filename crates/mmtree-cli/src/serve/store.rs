//! How Redis data lives in mmtree: database N is table `dbN`; a stored value is a one-byte header
//! (0: no expiry; 1: followed by the expiry time, u64 LE milliseconds since the epoch) and the
//! bytes. Table `__expires` indexes keys with an expiry by (time BE, db BE, key), so expired keys
//! are swept in time order without scanning the data.

use super::resp::Reply;
use mmtree::{Table, WriteTransaction};

pub const EXPIRES: &str = "__expires";
pub const DATABASES: u32 = 16;

pub fn table_name(db: u32) -> String {
    format!("db{db}")
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// (expiry, data) of a stored value; a malformed header reads as plain data.
pub fn decode(stored: &[u8]) -> (Option<u64>, &[u8]) {
    match stored.first() {
        Some(0) => (None, &stored[1..]),
        Some(1) if stored.len() >= 9 => (
            Some(u64::from_le_bytes(
                stored[1..9].try_into().expect("8 bytes"),
            )),
            &stored[9..],
        ),
        _ => (None, stored),
    }
}

/// The data if the value is present and not expired at `now`.
pub fn live(stored: Option<&[u8]>, now: u64) -> Option<(Option<u64>, &[u8])> {
    let (expiry, data) = decode(stored?);
    match expiry {
        Some(at) if at <= now => None,
        _ => Some((expiry, data)),
    }
}

pub fn encode(expiry: Option<u64>, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 9);
    match expiry {
        None => out.push(0),
        Some(at) => {
            out.push(1);
            out.extend_from_slice(&at.to_le_bytes());
        }
    }
    out.extend_from_slice(data);
    out
}

fn expires_key(at: u64, db: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + key.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(key);
    k
}

type TxResult<T> = mmtree::Result<T>;

/// A write transaction seen as Redis databases.
pub struct Tx<'w> {
    pub w: &'w mut WriteTransaction,
    pub db: u32,
    pub now: u64,
    /// Longest key accepted: the engine's limit less the expiry index's 12-byte prefix.
    pub max_key: usize,
}

impl Tx<'_> {
    fn table(&mut self) -> TxResult<Table<'_>> {
        let name = table_name(self.db);
        self.w.table(&name)
    }

    /// The live value (expiry, data).
    pub fn get(&mut self, key: &[u8]) -> TxResult<Option<(Option<u64>, Vec<u8>)>> {
        let now = self.now;
        let t = self.table()?;
        Ok(live(t.get(key)?, now).map(|(e, d)| (e, d.to_vec())))
    }

    /// The stored expiry of a present (possibly expired) value, for index upkeep.
    fn stored_expiry(&mut self, key: &[u8]) -> TxResult<Option<u64>> {
        let t = self.table()?;
        Ok(t.get(key)?.and_then(|v| decode(v).0))
    }

    pub fn set(&mut self, key: &[u8], data: &[u8], expiry: Option<u64>) -> TxResult<()> {
        let old = self.stored_expiry(key)?;
        self.table()?.insert(key, &encode(expiry, data))?;
        self.reindex(key, old, expiry)
    }

    /// Removes the key; true if it was live.
    pub fn remove(&mut self, key: &[u8]) -> TxResult<bool> {
        let now = self.now;
        let was_live = {
            let t = self.table()?;
            live(t.get(key)?, now).is_some()
        };
        let old = self.stored_expiry(key)?;
        self.table()?.remove(key)?;
        self.reindex(key, old, None)?;
        Ok(was_live)
    }

    fn reindex(&mut self, key: &[u8], old: Option<u64>, new: Option<u64>) -> TxResult<()> {
        if old == new {
            return Ok(());
        }
        let db = self.db;
        let mut index = self.w.table(EXPIRES)?;
        if let Some(at) = old {
            index.remove(&expires_key(at, db, key))?;
        }
        if let Some(at) = new {
            index.insert(&expires_key(at, db, key), b"")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> TxResult<()> {
        let db = self.db;
        self.w.delete_table(&table_name(db))?;
        // Drop this database's expiry entries.
        let doomed: Vec<Vec<u8>> = {
            let index = self.w.table(EXPIRES)?;
            let mut doomed = Vec::new();
            for item in index.range(..)? {
                let (k, _) = item?;
                if k.len() >= 12 && k[8..12] == db.to_be_bytes() {
                    doomed.push(k.to_vec());
                }
            }
            doomed
        };
        let mut index = self.w.table(EXPIRES)?;
        for k in doomed {
            index.remove(&k)?;
        }
        Ok(())
    }
}

/// Deletes keys whose expiry has passed, at most `limit` of them. Returns how many.
pub fn sweep(w: &mut WriteTransaction, now: u64, limit: usize) -> TxResult<usize> {
    let due: Vec<(u64, u32, Vec<u8>)> = {
        let index = w.table(EXPIRES)?;
        let end = (now + 1).to_be_bytes();
        let mut due = Vec::new();
        for item in index.range(..&end[..])?.take(limit) {
            let (k, _) = item?;
            if k.len() >= 12 {
                let at = u64::from_be_bytes(k[..8].try_into().expect("8 bytes"));
                let db = u32::from_be_bytes(k[8..12].try_into().expect("4 bytes"));
                due.push((at, db, k[12..].to_vec()));
            }
        }
        due
    };
    for (at, db, key) in &due {
        w.table(EXPIRES)?.remove(&expires_key(*at, *db, key))?;
        let mut t = w.table(&table_name(*db))?;
        let current = t.get(key)?.and_then(|v| decode(v).0);
        if current == Some(*at) {
            t.remove(key)?;
        }
    }
    Ok(due.len())
}

fn wrong_args(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

const NOT_INT: &str = "ERR value is not an integer or out of range";

/// Applies one write command inside the group commit. Logical errors leave the transaction
/// untouched; an I/O error propagates (and fails the whole commit).
pub fn apply(tx: &mut Tx<'_>, args: &[Vec<u8>]) -> TxResult<Reply> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let a = &args[1..];
    // Check every key first, so one bad command fails alone instead of the group's commit.
    let keys: Vec<&Vec<u8>> = match name.as_str() {
        "DEL" | "UNLINK" => a.iter().collect(),
        "MSET" | "MSETNX" => a.iter().step_by(2).collect(),
        "FLUSHDB" => Vec::new(),
        _ => a.first().into_iter().collect(),
    };
    if let Some(key) = keys.iter().find(|k| k.len() > tx.max_key) {
        return Ok(Reply::Error(format!(
            "ERR key too large ({} bytes; the limit is {})",
            key.len(),
            tx.max_key
        )));
    }
    Ok(match name.as_str() {
        "SET" => {
            if a.len() < 2 {
                return Ok(wrong_args(&name));
            }
            let (mut nx, mut xx, mut get, mut keep_ttl) = (false, false, false, false);
            let mut expiry: Option<u64> = None;
            let mut i = 2;
            while i < a.len() {
                let opt = String::from_utf8_lossy(&a[i]).to_ascii_uppercase();
                let mut time = |scale: u64, absolute: bool| -> Option<u64> {
                    i += 1;
                    let n = parse_i64(a.get(i)?)?;
                    if n <= 0 {
                        return None;
                    }
                    let span = (n as u64).checked_mul(scale)?;
                    let at = if absolute {
                        span
                    } else {
                        tx.now.checked_add(span)?
                    };
                    (at <= i64::MAX as u64).then_some(at)
                };
                match opt.as_str() {
                    "NX" => nx = true,
                    "XX" => xx = true,
                    "GET" => get = true,
                    "KEEPTTL" => keep_ttl = true,
                    "EX" | "PX" | "EXAT" | "PXAT" if expiry.is_none() => {
                        let (scale, absolute) = match opt.as_str() {
                            "EX" => (1000, false),
                            "PX" => (1, false),
                            "EXAT" => (1000, true),
                            _ => (1, true),
                        };
                        match time(scale, absolute) {
                            Some(at) => expiry = Some(at),
                            None => {
                                return Ok(Reply::Error(
                                    "ERR invalid expire time in 'set' command".into(),
                                ))
                            }
                        }
                    }
                    _ => return Ok(Reply::Error("ERR syntax error".into())),
                }
                i += 1;
            }
            if (nx && xx) || (keep_ttl && expiry.is_some()) {
                return Ok(Reply::Error("ERR syntax error".into()));
            }
            let old = tx.get(&a[0])?;
            let old_reply = |old: &Option<(Option<u64>, Vec<u8>)>| match old {
                Some((_, data)) => Reply::Bulk(data.clone()),
                None => Reply::Null,
            };
            if (nx && old.is_some()) || (xx && old.is_none()) {
                return Ok(if get { old_reply(&old) } else { Reply::Null });
            }
            let expiry = if keep_ttl {
                old.as_ref().and_then(|(e, _)| *e)
            } else {
                expiry
            };
            tx.set(&a[0], &a[1], expiry)?;
            if get {
                old_reply(&old)
            } else {
                Reply::Ok
            }
        }
        "GETDEL" => {
            if a.len() != 1 {
                return Ok(wrong_args(&name));
            }
            match tx.get(&a[0])? {
                Some((_, data)) => {
                    tx.remove(&a[0])?;
                    Reply::Bulk(data)
                }
                None => Reply::Null,
            }
        }
        "DEL" | "UNLINK" => {
            if a.is_empty() {
                return Ok(wrong_args(&name));
            }
            let mut n = 0;
            for key in a {
                n += i64::from(tx.remove(key)?);
            }
            Reply::Int(n)
        }
        "MSET" | "MSETNX" => {
            if a.is_empty() || !a.len().is_multiple_of(2) {
                return Ok(wrong_args(&name));
            }
            if name == "MSETNX" {
                for pair in a.chunks(2) {
                    if tx.get(&pair[0])?.is_some() {
                        return Ok(Reply::Int(0));
                    }
                }
            }
            for pair in a.chunks(2) {
                tx.set(&pair[0], &pair[1], None)?;
            }
            if name == "MSET" {
                Reply::Ok
            } else {
                Reply::Int(1)
            }
        }
        "INCR" | "DECR" | "INCRBY" | "DECRBY" => {
            let by = match (name.as_str(), a.len()) {
                ("INCR", 1) => 1,
                ("DECR", 1) => -1,
                ("INCRBY", 2) | ("DECRBY", 2) => match parse_i64(&a[1]) {
                    Some(n) if name == "INCRBY" => n,
                    Some(n) if n != i64::MIN => -n,
                    _ => return Ok(Reply::Error(NOT_INT.into())),
                },
                _ => return Ok(wrong_args(&name)),
            };
            let (expiry, current) = match tx.get(&a[0])? {
                Some((expiry, data)) => match parse_i64(&data) {
                    Some(n) => (expiry, n),
                    None => return Ok(Reply::Error(NOT_INT.into())),
                },
                None => (None, 0),
            };
            let Some(next) = current.checked_add(by) else {
                return Ok(Reply::Error(
                    "ERR increment or decrement would overflow".into(),
                ));
            };
            tx.set(&a[0], next.to_string().as_bytes(), expiry)?;
            Reply::Int(next)
        }
        "APPEND" => {
            if a.len() != 2 {
                return Ok(wrong_args(&name));
            }
            let (expiry, mut data) = tx.get(&a[0])?.unwrap_or((None, Vec::new()));
            data.extend_from_slice(&a[1]);
            tx.set(&a[0], &data, expiry)?;
            Reply::Int(data.len() as i64)
        }
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
            if a.len() != 2 {
                return Ok(wrong_args(&name));
            }
            let Some(n) = parse_i64(&a[1]) else {
                return Ok(Reply::Error(NOT_INT.into()));
            };
            let at = match name.as_str() {
                "EXPIRE" => n
                    .checked_mul(1000)
                    .and_then(|ms| (tx.now as i64).checked_add(ms)),
                "PEXPIRE" => (tx.now as i64).checked_add(n),
                "EXPIREAT" => n.checked_mul(1000),
                _ => Some(n),
            };
            let Some(at) = at else {
                return Ok(Reply::Error(format!(
                    "ERR invalid expire time in '{}' command",
                    name.to_ascii_lowercase()
                )));
            };
            match tx.get(&a[0])? {
                None => Reply::Int(0),
                Some(_) if at <= tx.now as i64 => {
                    tx.remove(&a[0])?;
                    Reply::Int(1)
                }
                Some((_, data)) => {
                    tx.set(&a[0], &data, Some(at as u64))?;
                    Reply::Int(1)
                }
            }
        }
        "PERSIST" => {
            if a.len() != 1 {
                return Ok(wrong_args(&name));
            }
            match tx.get(&a[0])? {
                Some((Some(_), data)) => {
                    tx.set(&a[0], &data, None)?;
                    Reply::Int(1)
                }
                _ => Reply::Int(0),
            }
        }
        "FLUSHDB" => {
            tx.flush()?;
            Reply::Ok
        }
        _ => Reply::Error(format!(
            "ERR unknown command '{}'",
            name.to_ascii_lowercase()
        )),
    })
}

/// Commands executed by the group-commit writer.
pub fn is_write(name: &str) -> bool {
    matches!(
        name,
        "SET"
            | "GETDEL"
            | "DEL"
            | "UNLINK"
            | "MSET"
            | "MSETNX"
            | "INCR"
            | "DECR"
            | "INCRBY"
            | "DECRBY"
            | "APPEND"
            | "EXPIRE"
            | "PEXPIRE"
            | "EXPIREAT"
            | "PEXPIREAT"
            | "PERSIST"
            | "FLUSHDB"
    )
}

/// Redis glob matching (`*`, `?`, `[abc]`, `[^a-z]`, `\x`).
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while t < text.len() {
        if p < pattern.len() {
            match pattern[p] {
                b'*' => {
                    star = Some(p);
                    mark = t;
                    p += 1;
                    continue;
                }
                b'?' => {
                    p += 1;
                    t += 1;
                    continue;
                }
                b'[' => {
                    if let Some((matched, next)) = class(pattern, p, text[t]) {
                        if matched {
                            p = next;
                            t += 1;
                            continue;
                        }
                    }
                }
                b'\\' if p + 1 < pattern.len() && pattern[p + 1] == text[t] => {
                    p += 2;
                    t += 1;
                    continue;
                }
                // (A backslash that escapes a non-matching character matches nothing.)
                c if c == text[t] && (c != b'\\' || p + 1 == pattern.len()) => {
                    p += 1;
                    t += 1;
                    continue;
                }
                _ => {}
            }
        }
        match star {
            Some(s) => {
                p = s + 1;
                mark += 1;
                t = mark;
            }
            None => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Matches `c` against the class starting at `pattern[at] == '['`: (matched, index after `]`).
fn class(pattern: &[u8], at: usize, c: u8) -> Option<(bool, usize)> {
    let mut i = at + 1;
    let negate = pattern.get(i) == Some(&b'^');
    if negate {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() && pattern[i] != b']' {
        if pattern[i] == b'\\' && i + 1 < pattern.len() {
            matched |= pattern[i + 1] == c;
            i += 2;
        } else if i + 2 < pattern.len() && pattern[i + 1] == b'-' && pattern[i + 2] != b']' {
            let (lo, hi) = (
                pattern[i].min(pattern[i + 2]),
                pattern[i].max(pattern[i + 2]),
            );
            matched |= (lo..=hi).contains(&c);
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    (i < pattern.len()).then_some((matched != negate, i + 1))
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn glob_matches_like_redis() {
        assert!(glob(b"*", b"anything"));
        assert!(glob(b"user:*", b"user:42"));
        assert!(!glob(b"user:*", b"admin:1"));
        assert!(glob(b"h?llo", b"hello"));
        assert!(glob(b"h[ae]llo", b"hallo"));
        assert!(!glob(b"h[^e]llo", b"hello"));
        assert!(glob(b"h[a-f]llo", b"hcllo"));
        assert!(glob(b"a\\*b", b"a*b"));
        assert!(!glob(b"a\\*b", b"axb"));
        assert!(glob(b"*llo*", b"hello world"));
        assert!(
            !glob(b"a\\*b", b"a\\xb"),
            "an escaped star is not a wildcard"
        );
    }
}
