//! How Redis data lives in mmtree. Database N is table `dbN`, which holds each key's value bytes
//! exactly as the client sent them (no header), so `mmtree get FILE dbN KEY` and `GET KEY` return
//! the same bytes and any value `mmtree put` stored reads back unchanged. Expiry lives apart, in
//! internal tables whose names start with `__serve:` (no SELECT reaches them; `mmtree tables`
//! lists them only with `--all`):
//!
//! - `__serve:expires:dbN` — key → expiry time (u64 big-endian, milliseconds since the epoch), one
//!   row per key of `dbN` that has a TTL;
//! - `__serve:expiry-queue` — (time BE u64, db BE u32, key) → empty, so the writer sweeps expired
//!   keys in time order without scanning the data.
//!
//! - `__serve:types:dbN` — key → type name, one row per key of `dbN` that is not a string
//!   (`hash`, `set`, `list` or `zset`); a key without a row is a string;
//! - `__serve:hash:dbN` — (key length u32 BE, key, field) → field value: a hash's fields, a set's
//!   members with empty values, a list's elements under their positions (`LIST_MIDDLE`), or a
//!   sorted set's two rows per member (`ZMEMBER`), are one ordered run of keys, so HGETALL, HSCAN, SMEMBERS and
//!   SSCAN are one range read, and DEL, RENAME, COPY, MOVE and expiry handle both the same way. Such
//!   a key also has its row in `dbN` (value: its row count, u64 BE), so DBSIZE, KEYS, SCAN, EXISTS,
//!   EXPIRE, TTL and DEL see it like any key; `mmtree get` of it shows those 8 count bytes.
//!
//! A value and its expiry rows are always written in the same write transaction.

use crate::notify::{self, KeyEvent};
use crate::resp::Reply;
use mmtree::{ReadTable, WriteTransaction};
use std::collections::HashMap;

/// Every internal table name starts with this.
pub const INTERNAL_PREFIX: &str = "__serve:";
pub const EXPIRY_QUEUE: &str = "__serve:expiry-queue";
/// SWAPDB's name for a table while two trade names (never left behind: the same transaction
/// renames it back).
const SWAP_TABLE: &str = "__serve:swapping";
pub const DATABASES: u32 = 16;

/// The tables of one database (names built once: a command does not format them).
struct Names {
    data: String,
    expires: String,
    types: String,
    hashes: String,
}

static NAMES: std::sync::LazyLock<Vec<Names>> = std::sync::LazyLock::new(|| {
    (0..DATABASES)
        .map(|db| Names {
            data: format!("db{db}"),
            expires: format!("{INTERNAL_PREFIX}expires:db{db}"),
            types: format!("{INTERNAL_PREFIX}types:db{db}"),
            hashes: format!("{INTERNAL_PREFIX}hash:db{db}"),
        })
        .collect()
});

/// Every database index is checked (< DATABASES) where a client gives it.
fn names(db: u32) -> &'static Names {
    &NAMES[db as usize]
}

/// The table of database `db`'s keys and values.
pub fn table_name(db: u32) -> &'static str {
    &names(db).data
}

/// The table of database `db`'s expiry times.
pub fn expires_name(db: u32) -> &'static str {
    &names(db).expires
}

/// The table of database `db`'s key types (keys that are not strings).
pub fn types_name(db: u32) -> &'static str {
    &names(db).types
}

/// The table of database `db`'s hash fields.
pub fn hash_name(db: u32) -> &'static str {
    &names(db).hashes
}

/// The prefix of every field row of hash `key`.
pub fn field_prefix(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + key.len());
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k
}

pub fn field_key(key: &[u8], field: &[u8]) -> Vec<u8> {
    let mut k = field_prefix(key);
    k.extend_from_slice(field);
    k
}

/// A sorted set keeps two rows per member in its run of the hash table: `0x00 member` → the
/// score (f64 bits, BE), and `0x01 order(score) member` → empty, so members come in score order
/// (then member order) for ZRANGE; every command that carries or drops a key's rows carries or
/// drops both. Its row count is twice its size.
pub const ZMEMBER: u8 = 0;
pub const ZORDER: u8 = 1;

/// A score as 8 bytes whose byte order is the numeric order (-inf first, +inf last). -0 and 0
/// are one score (equal scores order by member, as in Redis), so -0 is encoded as 0.
pub fn score_order(score: f64) -> [u8; 8] {
    let score = if score == 0.0 { 0.0 } else { score };
    let bits = score.to_bits();
    let ordered = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    ordered.to_be_bytes()
}

/// The score `score_order` made.
pub fn score_from_order(bytes: &[u8]) -> f64 {
    let ordered = u64::from_be_bytes(bytes.try_into().unwrap_or([0; 8]));
    f64::from_bits(if ordered >> 63 == 1 {
        ordered & !(1 << 63)
    } else {
        !ordered
    })
}

/// The field of `member`'s member row (its value: `score_bytes`).
pub fn zmember(member: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(1 + member.len());
    m.push(ZMEMBER);
    m.extend_from_slice(member);
    m
}

/// The field of `member`'s order row at `score`.
pub fn zorder(member: &[u8], score: f64) -> Vec<u8> {
    let mut o = Vec::with_capacity(9 + member.len());
    o.push(ZORDER);
    o.extend_from_slice(&score_order(score));
    o.extend_from_slice(member);
    o
}

/// The order row servers before -0 was encoded as 0 wrote for a member at -0 (removed along
/// with the current one, so a file from them keeps no stray row).
fn zorder_negative_zero(member: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(9 + member.len());
    o.push(ZORDER);
    o.extend_from_slice(&(!(-0.0f64).to_bits()).to_be_bytes());
    o.extend_from_slice(member);
    o
}

/// A member row's value: the score's bits.
pub fn score_bytes(score: f64) -> [u8; 8] {
    score.to_bits().to_be_bytes()
}

/// The score a member row holds (a malformed value reads as 0).
pub fn score_of(value: &[u8]) -> f64 {
    f64::from_bits(u64::from_be_bytes(value.try_into().unwrap_or([0; 8])))
}

/// A score as Redis prints it: the shortest text that reads back the same, with an exponent
/// for very large or small magnitudes; `inf`, `-inf`.
pub fn format_score(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    let magnitude = score.abs();
    if magnitude != 0.0 && !(1e-5..1e17).contains(&magnitude) {
        format!("{score:e}")
    } else {
        format_float(score)
    }
}

/// A list's elements are rows at consecutive positions (u64 BE, so in order): the first push
/// goes at the middle of the range, LPUSH below the head, RPUSH above the tail; pops take the
/// ends, so the positions stay contiguous and element i is at head + i.
pub const LIST_MIDDLE: u64 = 1 << 63;

/// The count of LPOP, RPOP and SPOP: None without one; a negative one is refused as Redis does.
fn pop_count(arg: Option<&Vec<u8>>) -> Result<Option<usize>, Reply> {
    match arg {
        None => Ok(None),
        Some(n) => match parse_i64(n) {
            Some(n) if n >= 0 => Ok(Some(n as usize)),
            _ => Err(Reply::Error(
                "ERR value is out of range, must be positive".into(),
            )),
        },
    }
}

/// A seed for a random choice: the time, the process and a counter (every call differs).
pub fn random_seed(now: u64) -> u64 {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (now ^ u64::from(std::process::id()).rotate_left(32) ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        | 1
}

/// SETBIT's and GETBIT's error for an offset that is not in 0..2^32 (a string is at most
/// 512 MiB).
pub const BIT_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset of SETBIT/GETBIT: 0 ..= 2^32 - 1.
pub fn bit_offset(arg: &[u8]) -> Option<u64> {
    let n = parse_i64(arg)?;
    (0..1i64 << 32).contains(&n).then_some(n as u64)
}

pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

/// True for the server's bookkeeping tables (and `__expires`, the index of servers before the
/// expiry tables, which kept expiry in a value header).
pub fn is_internal_table(name: &str) -> bool {
    name.starts_with(INTERNAL_PREFIX) || name == "__expires"
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Keys of an expiry table INFO's `avg_ttl` looks at (Redis estimates it from samples too).
const AVG_TTL_SAMPLE: usize = 1000;

/// INFO's `avg_ttl`: the average time to live, in milliseconds, of the first `AVG_TTL_SAMPLE`
/// keys (in key order) of an expiry table that have not expired yet; 0 if none.
pub fn average_ttl(expires: &ReadTable<'_>, now: u64) -> mmtree::Result<u64> {
    let (mut sum, mut n) = (0u128, 0u128);
    for item in expires.range(..)?.take(AVG_TTL_SAMPLE) {
        let (_, at) = item?;
        if let Some(at) = decode_expiry(at).filter(|&at| at > now) {
            sum += u128::from(at - now);
            n += 1;
        }
    }
    Ok(sum.checked_div(n).map_or(0, |avg| avg as u64))
}

pub fn decode_expiry(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// One database in a snapshot: its data and its expiry times.
pub struct View<'t> {
    pub data: Option<ReadTable<'t>>,
    pub expires: Option<ReadTable<'t>>,
    pub types: Option<ReadTable<'t>>,
    pub hashes: Option<ReadTable<'t>>,
}

impl<'t> View<'t> {
    /// The key's type if it is not a string (`hash`, `set`), live or not.
    pub fn type_of(&self, key: &[u8]) -> Option<&'t [u8]> {
        let t = self.types.as_ref()?;
        if t.is_empty() {
            return None;
        }
        t.get(key).ok()?
    }

    /// True if the key (live or not) is not a string.
    pub fn not_string(&self, key: &[u8]) -> bool {
        self.type_of(key).is_some()
    }

    /// True if the key (live or not) is of type `kind`.
    pub fn is_kind(&self, key: &[u8], kind: &[u8]) -> bool {
        self.type_of(key) == Some(kind)
    }

    /// A hash's fields from `after` on (exclusive), at most `limit`: (field, value) pairs.
    pub fn fields(
        &self,
        key: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> mmtree::Result<Vec<(&'t [u8], &'t [u8])>> {
        let Some(t) = &self.hashes else {
            return Ok(Vec::new());
        };
        let prefix = field_prefix(key);
        let start = match after {
            Some(f) => std::ops::Bound::Excluded(field_key(key, f)),
            None => std::ops::Bound::Included(prefix.clone()),
        };
        let mut out = Vec::new();
        let start = match &start {
            std::ops::Bound::Excluded(k) => std::ops::Bound::Excluded(k.as_slice()),
            std::ops::Bound::Included(k) => std::ops::Bound::Included(k.as_slice()),
            std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
        };
        for item in t.range((start, std::ops::Bound::Unbounded))? {
            let (k, v) = item?;
            if !k.starts_with(&prefix) || out.len() == limit {
                break;
            }
            out.push((&k[prefix.len()..], v));
        }
        Ok(out)
    }

    /// The key's expiry time, if it has one (whether or not it has passed).
    pub fn expiry(&self, key: &[u8]) -> Option<u64> {
        let expires = self.expires.as_ref()?;
        if expires.is_empty() {
            return None;
        }
        decode_expiry(expires.get(key).ok()??)
    }

    /// False if the key has an expiry at or before `now` (for keys found by iterating the data).
    pub fn unexpired(&self, key: &[u8], now: u64) -> bool {
        self.expiry(key).is_none_or(|at| at > now)
    }

    /// The live value and its expiry.
    pub fn live(&self, key: &[u8], now: u64) -> Option<(Option<u64>, &'t [u8])> {
        let data = self.data.as_ref()?.get(key).ok()??;
        match self.expiry(key) {
            Some(at) if at <= now => None,
            expiry => Some((expiry, data)),
        }
    }
}

fn queue_key(at: u64, db: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + key.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(key);
    k
}

type TxResult<T> = mmtree::Result<T>;

/// A live value: its expiry and its bytes.
pub type Live = (Option<u64>, Vec<u8>);

/// The keys some connection WATCHes, each with a version bumped by every write that changes it
/// (SET, DEL of a live key, INCR, EXPIRE, FLUSHDB of a live key, …, from any connection). Only
/// the group-commit writer registers watches and bumps versions, in commit order, so a version a
/// connection read at WATCH differs at EXEC exactly when a write came in between. Expiry without
/// a write is caught at EXEC by comparing liveness (see `WatchedKey::live`).
#[derive(Default)]
pub struct Watches {
    dbs: HashMap<u32, HashMap<Vec<u8>, Watched>>,
}

#[derive(Default)]
struct Watched {
    watchers: usize,
    version: u64,
}

/// One key a connection watches: as the writer saw it at WATCH.
#[derive(Clone, Debug)]
pub struct WatchedKey {
    pub db: u32,
    pub key: Vec<u8>,
    pub version: u64,
    /// Whether the key was live at WATCH: a key that expires before EXEC counts as modified (as
    /// in Redis), one already expired at WATCH and swept since does not.
    pub live: bool,
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
    }

    /// Registers one watcher of the key; returns its current version.
    pub fn add(&mut self, db: u32, key: &[u8]) -> u64 {
        let entry = self
            .dbs
            .entry(db)
            .or_default()
            .entry(key.to_vec())
            .or_default();
        entry.watchers += 1;
        entry.version
    }

    /// Drops one watcher of the key.
    pub fn remove(&mut self, db: u32, key: &[u8]) {
        let Some(keys) = self.dbs.get_mut(&db) else {
            return;
        };
        if let Some(entry) = keys.get_mut(key) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                keys.remove(key);
            }
        }
        if keys.is_empty() {
            self.dbs.remove(&db);
        }
    }

    pub fn version(&self, db: u32, key: &[u8]) -> Option<u64> {
        Some(self.dbs.get(&db)?.get(key)?.version)
    }

    fn touch(&mut self, db: u32, key: &[u8]) {
        if let Some(entry) = self.dbs.get_mut(&db).and_then(|keys| keys.get_mut(key)) {
            entry.version += 1;
        }
    }

    fn keys(&self, db: u32) -> Vec<Vec<u8>> {
        self.dbs
            .get(&db)
            .map_or_else(Vec::new, |keys| keys.keys().cloned().collect())
    }
}

/// A write transaction seen as Redis databases.
pub struct Tx<'w> {
    pub w: &'w mut WriteTransaction,
    pub db: u32,
    pub now: u64,
    /// Longest key accepted: the engine's limit less the expiry queue's 12-byte prefix.
    pub max_key: usize,
    /// The watched keys, if any connection watches one: every write of a key bumps its version.
    pub watches: Option<&'w mut Watches>,
    /// Keyspace events of this job, when notifications are on (`notify`).
    pub events: Option<&'w mut Vec<KeyEvent>>,
}

impl Tx<'_> {
    /// Records a keyspace event on `key` of this database (published after the commit).
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        if let Some(events) = self.events.as_deref_mut() {
            events.push(KeyEvent {
                db,
                class,
                event,
                key: key.to_vec(),
            });
        }
    }

    /// `event`, then `del` if that change removed the key (its last member or element).
    fn notify_and_gone(&mut self, class: u32, event: &'static str, key: &[u8]) -> TxResult<()> {
        self.notify(class, event, key);
        if self.data(key)?.is_none() {
            self.notify(notify::GENERIC, "del", key);
        }
        Ok(())
    }

    /// The stored value (live or expired), without creating the table.
    fn data(&mut self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let name = table_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(None);
        }
        Ok(self.w.table(name)?.get(key)?.map(<[u8]>::to_vec))
    }

    /// The stored expiry time (passed or not), without creating the table.
    fn expiry(&mut self, key: &[u8]) -> TxResult<Option<u64>> {
        let name = expires_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(None);
        }
        Ok(self.w.table(name)?.get(key)?.and_then(decode_expiry))
    }

    /// The live value (expiry, data).
    pub fn get(&mut self, key: &[u8]) -> TxResult<Option<(Option<u64>, Vec<u8>)>> {
        let Some(data) = self.data(key)? else {
            return Ok(None);
        };
        Ok(match self.expiry(key)? {
            Some(at) if at <= self.now => None,
            expiry => Some((expiry, data)),
        })
    }

    /// The key's type if it is not a string (`hash`, `set`), live or not.
    pub fn type_of(&mut self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let name = types_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(None);
        }
        Ok(self.w.table(name)?.get(key)?.map(<[u8]>::to_vec))
    }

    /// True if the key (live or not) is not a string.
    pub fn not_string(&mut self, key: &[u8]) -> TxResult<bool> {
        Ok(self.type_of(key)?.is_some())
    }

    /// The live value as a string: Err(WRONGTYPE) for a hash.
    pub fn get_string(&mut self, key: &[u8]) -> TxResult<Result<Option<Live>, Reply>> {
        let got = self.get(key)?;
        if got.is_some() && self.not_string(key)? {
            return Ok(Err(Reply::Error(WRONGTYPE.into())));
        }
        Ok(Ok(got))
    }

    /// The whole live value (for RENAME, COPY, MOVE, SWAPDB).
    pub fn dump(&mut self, key: &[u8]) -> TxResult<Option<(Option<u64>, Value)>> {
        let Some((expiry, data)) = self.get(key)? else {
            return Ok(None);
        };
        match self.type_of(key)? {
            None => Ok(Some((expiry, Value::String(data)))),
            Some(kind) => Ok(Some((expiry, Value::Collection(kind, self.fields(key)?)))),
        }
    }

    /// Stores a value made by `dump` (replacing whatever the key held).
    pub fn restore(&mut self, key: &[u8], value: &Value, expiry: Option<u64>) -> TxResult<()> {
        match value {
            Value::String(data) => self.set(key, data, expiry),
            Value::Collection(kind, fields) => {
                self.remove(key)?;
                self.notify(notify::NEW, "new", key);
                for (f, v) in fields {
                    self.w
                        .table(hash_name(self.db))?
                        .insert(&field_key(key, f), v)?;
                }
                self.w.table(types_name(self.db))?.insert(key, kind)?;
                self.w
                    .table(table_name(self.db))?
                    .insert(key, &(fields.len() as u64).to_be_bytes())?;
                self.set_expiry(key, None, expiry)?;
                self.touch(key);
                Ok(())
            }
        }
    }

    /// A list's first and last positions (None: no rows).
    fn list_ends(&mut self, key: &[u8]) -> TxResult<Option<(u64, u64)>> {
        let name = hash_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(None);
        }
        let (lo, hi) = (field_key(key, &[0; 8]), field_key(key, &[0xff; 8]));
        let t = self.w.table(name)?;
        let mut rows = t.range((
            std::ops::Bound::Included(&lo[..]),
            std::ops::Bound::Included(&hi[..]),
        ))?;
        let position =
            |k: &[u8]| -> u64 { u64::from_be_bytes(k[k.len() - 8..].try_into().expect("8 bytes")) };
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let first = position(first?.0);
        let last = match rows.next_back() {
            Some(row) => position(row?.0),
            None => first,
        };
        Ok(Some((first, last)))
    }

    /// Every field of a hash (live or not), in order.
    pub fn fields(&mut self, key: &[u8]) -> TxResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let name = hash_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(Vec::new());
        }
        let prefix = field_prefix(key);
        let t = self.w.table(name)?;
        let mut out = Vec::new();
        for item in t.range(&prefix[..]..)? {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((k[prefix.len()..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// A field of a hash (the caller checked the key is a live hash).
    pub fn field(&mut self, key: &[u8], field: &[u8]) -> TxResult<Option<Vec<u8>>> {
        let name = hash_name(self.db);
        if !self.w.has_table(name)? {
            return Ok(None);
        }
        Ok(self
            .w
            .table(name)?
            .get(&field_key(key, field))?
            .map(<[u8]>::to_vec))
    }

    /// The live hash or set (`kind`) for a write, as its row count: Err(WRONGTYPE) for another
    /// type; an expired key is removed first. Ok(None) if there is none (yet).
    fn collection_for_write(
        &mut self,
        key: &[u8],
        kind: &[u8],
    ) -> TxResult<Result<Option<u64>, Reply>> {
        match self.get(key)? {
            Some((_, data)) => {
                if self.type_of(key)?.as_deref() != Some(kind) {
                    return Ok(Err(Reply::Error(WRONGTYPE.into())));
                }
                Ok(Ok(Some(decode_expiry(&data).unwrap_or(0))))
            }
            None => {
                if self.data(key)?.is_some() {
                    self.remove(key)?;
                }
                Ok(Ok(None))
            }
        }
    }

    /// Sets a field of a hash (or a member of a set, `kind`, with an empty value); true if it
    /// is new. `count` is the row count before (None: no such key yet).
    fn hset(
        &mut self,
        kind: &[u8],
        key: &[u8],
        field: &[u8],
        value: &[u8],
        count: &mut Option<u64>,
    ) -> TxResult<bool> {
        let fk = field_key(key, field);
        let new = self.w.table(hash_name(self.db))?.get(&fk)?.is_none();
        self.w.table(hash_name(self.db))?.insert(&fk, value)?;
        if count.is_none() {
            self.w.table(types_name(self.db))?.insert(key, kind)?;
            self.notify(notify::NEW, "new", key);
        }
        let n = count.unwrap_or(0) + u64::from(new);
        *count = Some(n);
        self.w
            .table(table_name(self.db))?
            .insert(key, &n.to_be_bytes())?;
        self.touch(key);
        Ok(new)
    }

    /// Deletes a field; true if it was there. Deletes the key with its last field.
    fn hdel(&mut self, key: &[u8], field: &[u8], count: &mut Option<u64>) -> TxResult<bool> {
        let Some(n) = *count else {
            return Ok(false);
        };
        let removed = self
            .w
            .table(hash_name(self.db))?
            .remove(&field_key(key, field))?;
        if removed {
            self.touch(key);
            if n <= 1 {
                self.remove(key)?;
                *count = None;
            } else {
                *count = Some(n - 1);
                self.w
                    .table(table_name(self.db))?
                    .insert(key, &(n - 1).to_be_bytes())?;
            }
        }
        Ok(removed)
    }

    /// Removes a sorted-set member's order row (and the one an older server wrote for -0).
    fn hdel_order(
        &mut self,
        key: &[u8],
        member: &[u8],
        score: f64,
        count: &mut Option<u64>,
    ) -> TxResult<()> {
        let removed = self.hdel(key, &zorder(member, score), count)?;
        if !removed && score == 0.0 && score.is_sign_negative() {
            self.hdel(key, &zorder_negative_zero(member), count)?;
        }
        Ok(())
    }

    /// Drops a hash's fields and type row (if it is one).
    fn drop_hash(&mut self, key: &[u8]) -> TxResult<()> {
        if !self.not_string(key)? {
            return Ok(());
        }
        self.w.table(types_name(self.db))?.remove(key)?;
        let fields: Vec<Vec<u8>> = self.fields(key)?.into_iter().map(|(f, _)| f).collect();
        let mut t = self.w.table(hash_name(self.db))?;
        for f in fields {
            t.remove(&field_key(key, &f))?;
        }
        Ok(())
    }

    /// Changes only the key's expiry (the key exists).
    pub fn set_ttl(&mut self, key: &[u8], expiry: Option<u64>) -> TxResult<()> {
        let old = self.expiry(key)?;
        self.set_expiry(key, old, expiry)?;
        self.touch(key);
        Ok(())
    }

    fn touch(&mut self, key: &[u8]) {
        let db = self.db;
        if let Some(watches) = self.watches.as_deref_mut() {
            watches.touch(db, key);
        }
    }

    /// Stores a string (replacing a hash, set or list).
    pub fn set(&mut self, key: &[u8], data: &[u8], expiry: Option<u64>) -> TxResult<()> {
        if self.events.is_some() && self.data(key)?.is_none() {
            self.notify(notify::NEW, "new", key);
        }
        self.drop_hash(key)?;
        let old = self.expiry(key)?;
        self.w.table(table_name(self.db))?.insert(key, data)?;
        self.set_expiry(key, old, expiry)?;
        self.touch(key);
        Ok(())
    }

    /// Removes the key; true if it was live.
    pub fn remove(&mut self, key: &[u8]) -> TxResult<bool> {
        let old = self.expiry(key)?;
        let present = self.data(key)?.is_some();
        if present {
            self.drop_hash(key)?;
            self.w.table(table_name(self.db))?.remove(key)?;
        }
        self.set_expiry(key, old, None)?;
        let was_live = present && old.is_none_or(|at| at > self.now);
        if was_live {
            self.touch(key);
        }
        Ok(was_live)
    }

    /// Moves the key's expiry from `old` to `new` in the expiry table and the queue.
    fn set_expiry(&mut self, key: &[u8], old: Option<u64>, new: Option<u64>) -> TxResult<()> {
        if old == new {
            return Ok(());
        }
        let db = self.db;
        {
            let mut expires = self.w.table(expires_name(db))?;
            match new {
                Some(at) => {
                    expires.insert(key, &at.to_be_bytes())?;
                }
                None => {
                    expires.remove(key)?;
                }
            }
        }
        let mut queue = self.w.table(EXPIRY_QUEUE)?;
        if let Some(at) = old {
            queue.remove(&queue_key(at, db, key))?;
        }
        if let Some(at) = new {
            queue.insert(&queue_key(at, db, key), b"")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> TxResult<()> {
        let db = self.db;
        // A watched key that is live counts as modified; an absent or stale one does not.
        let watched = self
            .watches
            .as_deref()
            .map_or_else(Vec::new, |w| w.keys(db));
        for key in watched {
            if self.get(&key)?.is_some() {
                self.touch(&key);
            }
        }
        self.w.delete_table(table_name(db))?;
        let expires = expires_name(db);
        if self.w.has_table(expires)? {
            let due: Vec<Vec<u8>> = {
                let t = self.w.table(expires)?;
                let mut due = Vec::new();
                for item in t.range(..)? {
                    let (k, v) = item?;
                    if let Some(at) = decode_expiry(v) {
                        due.push(queue_key(at, db, k));
                    }
                }
                due
            };
            let mut queue = self.w.table(EXPIRY_QUEUE)?;
            for k in due {
                queue.remove(&k)?;
            }
            self.w.delete_table(expires)?;
        }
        self.w.delete_table(types_name(db))?;
        self.w.delete_table(hash_name(db))?;
        Ok(())
    }
}

/// A whole value, as RENAME, COPY and MOVE carry it.
#[derive(Clone, Debug)]
pub enum Value {
    String(Vec<u8>),
    /// A hash or a set (its type name) with its rows: (field, value) or (member, empty).
    Collection(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>),
}

/// Deletes keys whose expiry has passed, at most `limit` of them. Returns how many. (A swept key
/// had already expired, so watches of it are left alone: EXEC checks liveness itself.)
pub fn sweep(
    w: &mut WriteTransaction,
    now: u64,
    limit: usize,
    mut events: Option<&mut Vec<KeyEvent>>,
) -> TxResult<usize> {
    if !w.has_table(EXPIRY_QUEUE)? {
        return Ok(0);
    }
    let due: Vec<(u64, u32, Vec<u8>)> = {
        let queue = w.table(EXPIRY_QUEUE)?;
        let end = (now + 1).to_be_bytes();
        let mut due = Vec::new();
        for item in queue.range(..&end[..])?.take(limit) {
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
        w.table(EXPIRY_QUEUE)?.remove(&queue_key(*at, *db, key))?;
        let mut expires = w.table(expires_name(*db))?;
        if expires.get(key)?.and_then(decode_expiry) == Some(*at) {
            expires.remove(key)?;
            drop(expires);
            let mut tx = Tx {
                w,
                db: *db,
                now,
                max_key: usize::MAX,
                watches: None,
                events: events.as_deref_mut(),
            };
            tx.drop_hash(key)?;
            tx.notify(notify::EXPIRED, "expired", key);
            w.table(table_name(*db))?.remove(key)?;
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
    // (The key positions are the command table's.)
    let mut keys = crate::commands::table::lookup(&args[0])
        .into_iter()
        .flat_map(|c| c.key_args(args));
    if let Some(key) = keys.find(|k| k.len() > tx.max_key) {
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
            let old = if get {
                match tx.get_string(&a[0])? {
                    Ok(old) => old,
                    Err(e) => return Ok(e),
                }
            } else {
                tx.get(&a[0])?
            };
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
            tx.notify(notify::STRING, "set", &a[0]);
            if expiry.is_some() && !keep_ttl {
                tx.notify(notify::GENERIC, "expire", &a[0]);
            }
            if get {
                old_reply(&old)
            } else {
                Reply::Ok
            }
        }
        "SETNX" => {
            if a.len() != 2 {
                return Ok(wrong_args(&name));
            }
            if tx.get(&a[0])?.is_some() {
                Reply::Int(0)
            } else {
                tx.set(&a[0], &a[1], None)?;
                tx.notify(notify::STRING, "set", &a[0]);
                Reply::Int(1)
            }
        }
        "SETEX" | "PSETEX" => {
            if a.len() != 3 {
                return Ok(wrong_args(&name));
            }
            let Some(n) = parse_i64(&a[1]) else {
                return Ok(Reply::Error(NOT_INT.into()));
            };
            let scale = if name == "SETEX" { 1000 } else { 1 };
            let at = (n > 0)
                .then(|| n.checked_mul(scale))
                .flatten()
                .and_then(|ms| (tx.now as i64).checked_add(ms));
            let Some(at) = at else {
                return Ok(Reply::Error(format!(
                    "ERR invalid expire time in '{}' command",
                    name.to_ascii_lowercase()
                )));
            };
            tx.set(&a[0], &a[2], Some(at as u64))?;
            tx.notify(notify::STRING, "set", &a[0]);
            tx.notify(notify::GENERIC, "expire", &a[0]);
            Reply::Ok
        }
        "GETSET" => {
            if a.len() != 2 {
                return Ok(wrong_args(&name));
            }
            let old = match tx.get_string(&a[0])? {
                Ok(old) => old,
                Err(e) => return Ok(e),
            };
            tx.set(&a[0], &a[1], None)?;
            tx.notify(notify::STRING, "set", &a[0]);
            old.map_or(Reply::Null, |(_, data)| Reply::Bulk(data))
        }
        "GETDEL" => {
            if a.len() != 1 {
                return Ok(wrong_args(&name));
            }
            match tx.get_string(&a[0])? {
                Err(e) => e,
                Ok(Some((_, data))) => {
                    tx.remove(&a[0])?;
                    tx.notify(notify::GENERIC, "del", &a[0]);
                    Reply::Bulk(data)
                }
                Ok(None) => Reply::Null,
            }
        }
        "DEL" | "UNLINK" => {
            if a.is_empty() {
                return Ok(wrong_args(&name));
            }
            let mut n = 0;
            for key in a {
                if tx.remove(key)? {
                    tx.notify(notify::GENERIC, "del", key);
                    n += 1;
                }
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
                tx.notify(notify::STRING, "set", &pair[0]);
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
            let (expiry, current) = match tx.get_string(&a[0])? {
                Err(e) => return Ok(e),
                Ok(Some((expiry, data))) => match parse_i64(&data) {
                    Some(n) => (expiry, n),
                    None => return Ok(Reply::Error(NOT_INT.into())),
                },
                Ok(None) => (None, 0),
            };
            let Some(next) = current.checked_add(by) else {
                return Ok(Reply::Error(
                    "ERR increment or decrement would overflow".into(),
                ));
            };
            tx.set(&a[0], next.to_string().as_bytes(), expiry)?;
            tx.notify(notify::STRING, "incrby", &a[0]);
            Reply::Int(next)
        }
        "APPEND" => {
            if a.len() != 2 {
                return Ok(wrong_args(&name));
            }
            let (expiry, mut data) = match tx.get_string(&a[0])? {
                Err(e) => return Ok(e),
                Ok(got) => got.unwrap_or((None, Vec::new())),
            };
            if (data.len() + a[1].len()) as u64 > MAX_STRING {
                return Ok(Reply::Error(
                    "ERR string exceeds maximum allowed size (proto-max-bulk-len)".into(),
                ));
            }
            data.extend_from_slice(&a[1]);
            tx.set(&a[0], &data, expiry)?;
            tx.notify(notify::STRING, "append", &a[0]);
            Reply::Int(data.len() as i64)
        }
        "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
            if a.len() < 2 {
                return Ok(wrong_args(&name));
            }
            let Some(n) = parse_i64(&a[1]) else {
                return Ok(Reply::Error(NOT_INT.into()));
            };
            // NX: only without an expiry; XX: only with one; GT/LT: only if the new time is
            // later/earlier (no expiry counts as forever), as Redis 7.
            let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
            for opt in &a[2..] {
                match String::from_utf8_lossy(opt).to_ascii_uppercase().as_str() {
                    "NX" => nx = true,
                    "XX" => xx = true,
                    "GT" => gt = true,
                    "LT" => lt = true,
                    other => return Ok(Reply::Error(format!("ERR Unsupported option {other}"))),
                }
            }
            if nx && (xx || gt || lt) {
                return Ok(Reply::Error(
                    "ERR NX and XX, GT or LT options at the same time are not compatible".into(),
                ));
            }
            if gt && lt {
                return Ok(Reply::Error(
                    "ERR GT and LT options at the same time are not compatible".into(),
                ));
            }
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
            let current = tx.get(&a[0])?;
            let allowed = match &current {
                None => false,
                Some((expiry, _)) => {
                    let now_at = expiry.map_or(i64::MAX, |e| e as i64);
                    !(nx && expiry.is_some()
                        || xx && expiry.is_none()
                        || gt && at <= now_at
                        || lt && at >= now_at)
                }
            };
            match current {
                _ if !allowed => Reply::Int(0),
                None => Reply::Int(0),
                Some(_) if at <= tx.now as i64 => {
                    tx.remove(&a[0])?;
                    tx.notify(notify::GENERIC, "del", &a[0]);
                    Reply::Int(1)
                }
                Some(_) => {
                    tx.set_ttl(&a[0], Some(at as u64))?;
                    tx.notify(notify::GENERIC, "expire", &a[0]);
                    Reply::Int(1)
                }
            }
        }
        "PERSIST" => {
            if a.len() != 1 {
                return Ok(wrong_args(&name));
            }
            match tx.get(&a[0])? {
                Some((Some(_), _)) => {
                    tx.set_ttl(&a[0], None)?;
                    tx.notify(notify::GENERIC, "persist", &a[0]);
                    Reply::Int(1)
                }
                _ => Reply::Int(0),
            }
        }
        "FLUSHDB" => {
            tx.flush()?;
            Reply::Ok
        }
        _ => return apply_more(tx, &name, a),
    })
}

/// Formats a float as Redis' INCRBYFLOAT does (shortest form, no exponent, no trailing zeros).
fn format_float(f: f64) -> String {
    let s = format!("{f}");
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

/// Parses a float as Redis does (no spaces, no NaN).
pub fn parse_float(bytes: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(bytes).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let f: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!f.is_nan()).then_some(f)
}

fn db_index(bytes: &[u8]) -> Result<u32, Reply> {
    match parse_i64(bytes) {
        Some(n) if (0..i64::from(DATABASES)).contains(&n) => Ok(n as u32),
        Some(_) => Err(Reply::Error("ERR DB index is out of range".into())),
        None => Err(Reply::Error(NOT_INT.into())),
    }
}

/// Largest string SETRANGE may build (Redis' proto-max-bulk-len default).
const MAX_STRING: u64 = 512 << 20;

/// The write commands added for issue 12: GETEX, SETRANGE, INCRBYFLOAT, RENAME(NX), COPY, MOVE,
/// SWAPDB, FLUSHALL and the hash writes.
fn apply_more(tx: &mut Tx<'_>, name: &str, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    macro_rules! string {
        ($key:expr) => {
            match tx.get_string($key)? {
                Ok(v) => v,
                Err(e) => return Ok(e),
            }
        };
    }
    // The row count of the hash, set, list or sorted set at `key` (None: none yet), or the
    // command's WRONGTYPE reply.
    macro_rules! collection {
        ($key:expr, $kind:expr) => {
            match tx.collection_for_write($key, $kind)? {
                Ok(v) => v,
                Err(e) => return Ok(e),
            }
        };
    }
    macro_rules! hash {
        ($key:expr) => {
            collection!($key, b"hash")
        };
    }
    Ok(match name {
        "GETEX" => {
            if a.is_empty() {
                return Ok(wrong_args(name));
            }
            // As Redis 7.0: the options' syntax first, then the key (nil if missing, WRONGTYPE),
            // then the time (so a bad time on a missing key is nil, not an error).
            let mut persist = false;
            let mut time: Option<(&str, &[u8])> = None;
            let mut i = 1;
            while i < a.len() {
                let opt = String::from_utf8_lossy(&a[i]).to_ascii_uppercase();
                match opt.as_str() {
                    "PERSIST" if time.is_none() && !persist => persist = true,
                    "EX" | "PX" | "EXAT" | "PXAT"
                        if time.is_none() && !persist && i + 1 < a.len() =>
                    {
                        i += 1;
                        time = Some((
                            match opt.as_str() {
                                "EX" => "EX",
                                "PX" => "PX",
                                "EXAT" => "EXAT",
                                _ => "PXAT",
                            },
                            &a[i],
                        ));
                    }
                    _ => return err("ERR syntax error"),
                }
                i += 1;
            }
            let Some((expiry, data)) = string!(&a[0]) else {
                return Ok(Reply::Null);
            };
            if let Some((unit, n)) = time {
                let Some(n) = parse_i64(n) else {
                    return err(NOT_INT);
                };
                let at = match unit {
                    "EX" => n
                        .checked_mul(1000)
                        .and_then(|ms| ms.checked_add(tx.now as i64)),
                    "PX" => n.checked_add(tx.now as i64),
                    "EXAT" => n.checked_mul(1000),
                    _ => Some(n),
                };
                match at {
                    Some(at) if n > 0 && at <= tx.now as i64 => {
                        tx.remove(&a[0])?;
                        tx.notify(notify::GENERIC, "del", &a[0]);
                    }
                    Some(at) if n > 0 => {
                        tx.set_ttl(&a[0], Some(at as u64))?;
                        tx.notify(notify::GENERIC, "expire", &a[0]);
                    }
                    _ => return err("ERR invalid expire time in 'getex' command"),
                }
            } else if persist && expiry.is_some() {
                tx.set_ttl(&a[0], None)?;
                tx.notify(notify::GENERIC, "persist", &a[0]);
            }
            Reply::Bulk(data)
        }
        "SETRANGE" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            let Some(offset) = parse_i64(&a[1]) else {
                return err(NOT_INT);
            };
            if offset < 0 {
                return err("ERR offset is out of range");
            }
            let current = string!(&a[0]);
            if a[2].is_empty() {
                return Ok(Reply::Int(current.map_or(0, |(_, d)| d.len() as i64)));
            }
            if offset as u64 + a[2].len() as u64 > MAX_STRING {
                return err("ERR string exceeds maximum allowed size (proto-max-bulk-len)");
            }
            let (expiry, mut data) = current.unwrap_or((None, Vec::new()));
            let end = offset as usize + a[2].len();
            if data.len() < end {
                data.resize(end, 0);
            }
            data[offset as usize..end].copy_from_slice(&a[2]);
            tx.set(&a[0], &data, expiry)?;
            tx.notify(notify::STRING, "setrange", &a[0]);
            Reply::Int(data.len() as i64)
        }
        "SETBIT" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            let Some(offset) = bit_offset(&a[1]) else {
                return err(BIT_OFFSET);
            };
            let bit = match a[2].as_slice() {
                b"0" => 0u8,
                b"1" => 1u8,
                _ => return err("ERR bit is not an integer or out of range"),
            };
            let (expiry, mut data) = string!(&a[0]).unwrap_or((None, Vec::new()));
            let byte = (offset / 8) as usize;
            if data.len() <= byte {
                data.resize(byte + 1, 0);
            }
            let mask = 0x80u8 >> (offset % 8);
            let old = i64::from(data[byte] & mask != 0);
            if bit == 1 {
                data[byte] |= mask;
            } else {
                data[byte] &= !mask;
            }
            tx.set(&a[0], &data, expiry)?;
            tx.notify(notify::STRING, "setbit", &a[0]);
            Reply::Int(old)
        }
        "INCRBYFLOAT" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let (expiry, current) = match string!(&a[0]) {
                Some((expiry, data)) => match parse_float(&data) {
                    Some(f) => (expiry, f),
                    None => return err("ERR value is not a valid float"),
                },
                None => (None, 0.0),
            };
            let Some(by) = parse_float(&a[1]) else {
                return err("ERR value is not a valid float");
            };
            let next = current + by;
            if !next.is_finite() {
                return err("ERR increment would produce NaN or Infinity");
            }
            let text = format_float(next);
            tx.set(&a[0], text.as_bytes(), expiry)?;
            tx.notify(notify::STRING, "incrbyfloat", &a[0]);
            Reply::Bulk(text.into_bytes())
        }
        "RENAME" | "RENAMENX" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let Some((expiry, value)) = tx.dump(&a[0])? else {
                return err("ERR no such key");
            };
            let nx = name == "RENAMENX";
            if a[0] == a[1] {
                return Ok(if nx { Reply::Int(0) } else { Reply::Ok });
            }
            if nx && tx.get(&a[1])?.is_some() {
                return Ok(Reply::Int(0));
            }
            tx.remove(&a[0])?;
            tx.restore(&a[1], &value, expiry)?;
            tx.notify(notify::GENERIC, "rename_from", &a[0]);
            tx.notify(notify::GENERIC, "rename_to", &a[1]);
            if nx {
                Reply::Int(1)
            } else {
                Reply::Ok
            }
        }
        "COPY" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let (mut to_db, mut replace) = (tx.db, false);
            let mut i = 2;
            while i < a.len() {
                match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                    "REPLACE" => replace = true,
                    "DB" if i + 1 < a.len() => {
                        i += 1;
                        to_db = match db_index(&a[i]) {
                            Ok(db) => db,
                            Err(e) => return Ok(e),
                        };
                    }
                    _ => return err("ERR syntax error"),
                }
                i += 1;
            }
            if to_db == tx.db && a[0] == a[1] {
                return err("ERR source and destination objects are the same");
            }
            let Some((expiry, value)) = tx.dump(&a[0])? else {
                return Ok(Reply::Int(0));
            };
            let from = tx.db;
            tx.db = to_db;
            let exists = tx.get(&a[1])?.is_some();
            let copied = !exists || replace;
            if copied {
                tx.restore(&a[1], &value, expiry)?;
                tx.notify(notify::GENERIC, "copy_to", &a[1]);
            }
            tx.db = from;
            Reply::Int(i64::from(copied))
        }
        "MOVE" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let to_db = match db_index(&a[1]) {
                Ok(db) => db,
                Err(e) => return Ok(e),
            };
            if to_db == tx.db {
                return err("ERR source and destination objects are the same");
            }
            let Some((expiry, value)) = tx.dump(&a[0])? else {
                return Ok(Reply::Int(0));
            };
            let from = tx.db;
            tx.db = to_db;
            let moved = tx.get(&a[0])?.is_none();
            if moved {
                tx.restore(&a[0], &value, expiry)?;
            }
            tx.db = from;
            if moved {
                tx.remove(&a[0])?;
                tx.notify(notify::GENERIC, "move_from", &a[0]);
                tx.db = to_db;
                tx.notify(notify::GENERIC, "move_to", &a[0]);
                tx.db = from;
            }
            Reply::Int(i64::from(moved))
        }
        "SWAPDB" => {
            if a.len() != 2 {
                return Ok(wrong_args(name));
            }
            let Some(x) = parse_i64(&a[0]) else {
                return err("ERR invalid first DB index");
            };
            let Some(y) = parse_i64(&a[1]) else {
                return err("ERR invalid second DB index");
            };
            let range = 0..i64::from(DATABASES);
            if !range.contains(&x) || !range.contains(&y) {
                return err("ERR DB index is out of range");
            }
            if x != y {
                swap_dbs(tx, x as u32, y as u32)?;
            }
            Reply::Ok
        }
        "FLUSHALL" => {
            match a.first().map(|o| o.to_ascii_uppercase()) {
                None => {}
                Some(o) if a.len() == 1 && (o == b"ASYNC" || o == b"SYNC") => {}
                _ => return err("ERR syntax error"),
            }
            let from = tx.db;
            for db in 0..DATABASES {
                tx.db = db;
                tx.flush()?;
            }
            tx.db = from;
            Reply::Ok
        }
        "HSET" | "HMSET" => {
            if a.len() < 3 || a.len().is_multiple_of(2) {
                return Ok(wrong_args(name));
            }
            if let Some(f) = a[1..]
                .iter()
                .step_by(2)
                .find(|f| 4 + a[0].len() + f.len() > tx.max_key)
            {
                return Ok(Reply::Error(format!(
                    "ERR hash key and field too large ({} bytes; the limit is {})",
                    4 + a[0].len() + f.len(),
                    tx.max_key
                )));
            }
            let mut count = hash!(&a[0]);
            let mut added = 0;
            for pair in a[1..].chunks(2) {
                added += i64::from(tx.hset(b"hash", &a[0], &pair[0], &pair[1], &mut count)?);
            }
            tx.notify(notify::HASH, "hset", &a[0]);
            if name == "HSET" {
                Reply::Int(added)
            } else {
                Reply::Ok
            }
        }
        "HSETNX" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            if 4 + a[0].len() + a[1].len() > tx.max_key {
                return err("ERR hash key and field too large");
            }
            let mut count = hash!(&a[0]);
            if count.is_some() && tx.field(&a[0], &a[1])?.is_some() {
                return Ok(Reply::Int(0));
            }
            tx.hset(b"hash", &a[0], &a[1], &a[2], &mut count)?;
            tx.notify(notify::HASH, "hset", &a[0]);
            Reply::Int(1)
        }
        "SADD" | "SREM" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            if let Some(m) = a[1..]
                .iter()
                .find(|m| 4 + a[0].len() + m.len() > tx.max_key)
            {
                return Ok(Reply::Error(format!(
                    "ERR set key and member too large ({} bytes; the limit is {})",
                    4 + a[0].len() + m.len(),
                    tx.max_key
                )));
            }
            let mut count = collection!(&a[0], b"set");
            let mut changed = 0;
            for m in &a[1..] {
                changed += i64::from(if name == "SADD" {
                    tx.hset(b"set", &a[0], m, b"", &mut count)?
                } else {
                    tx.hdel(&a[0], m, &mut count)?
                });
            }
            if changed > 0 {
                let event = if name == "SADD" { "sadd" } else { "srem" };
                tx.notify_and_gone(notify::SET, event, &a[0])?;
            }
            Reply::Int(changed)
        }
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            if 12 + a[0].len() > tx.max_key {
                return err("ERR list key too large");
            }
            let mut count = collection!(&a[0], b"list");
            if count.is_none() && name.ends_with('X') {
                return Ok(Reply::Int(0));
            }
            let (mut head, mut tail) = match tx.list_ends(&a[0])? {
                Some(ends) if count.is_some() => ends,
                _ => (LIST_MIDDLE + 1, LIST_MIDDLE),
            };
            for e in &a[1..] {
                let at = if name.starts_with('L') {
                    head -= 1;
                    head
                } else {
                    tail += 1;
                    tail
                };
                tx.hset(b"list", &a[0], &at.to_be_bytes(), e, &mut count)?;
            }
            let event = if name.starts_with('L') {
                "lpush"
            } else {
                "rpush"
            };
            tx.notify(notify::LIST, event, &a[0]);
            Reply::Int(count.unwrap_or(0) as i64)
        }
        "LPOP" | "RPOP" => {
            if a.is_empty() || a.len() > 2 {
                return Ok(wrong_args(name));
            }
            let wanted = match pop_count(a.get(1)) {
                Ok(wanted) => wanted,
                Err(e) => return Ok(e),
            };
            let mut count = collection!(&a[0], b"list");
            let Some((head, tail)) = tx.list_ends(&a[0])?.filter(|_| count.is_some()) else {
                return Ok(match wanted {
                    None => Reply::Null,
                    Some(_) => Reply::NullArray,
                });
            };
            let take = wanted.unwrap_or(1).min((tail - head + 1) as usize);
            let mut popped = Vec::with_capacity(take);
            for i in 0..take as u64 {
                let at = if name == "LPOP" { head + i } else { tail - i };
                let at = at.to_be_bytes();
                popped.push(tx.field(&a[0], &at)?.unwrap_or_default());
                tx.hdel(&a[0], &at, &mut count)?;
            }
            if take > 0 {
                let event = if name == "LPOP" { "lpop" } else { "rpop" };
                tx.notify_and_gone(notify::LIST, event, &a[0])?;
            }
            match wanted {
                None => popped.pop().map_or(Reply::Null, Reply::Bulk),
                Some(_) => Reply::Array(popped.into_iter().map(Reply::Bulk).collect()),
            }
        }
        "ZADD" | "ZINCRBY" => {
            let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
                (false, false, false, false, false, name == "ZINCRBY");
            let mut i = 1;
            if name == "ZADD" {
                while let Some(opt) = a.get(i) {
                    match String::from_utf8_lossy(opt).to_ascii_uppercase().as_str() {
                        "NX" => nx = true,
                        "XX" => xx = true,
                        "GT" => gt = true,
                        "LT" => lt = true,
                        "CH" => ch = true,
                        "INCR" => incr = true,
                        _ => break,
                    }
                    i += 1;
                }
            }
            let pairs = &a[i.min(a.len())..];
            if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
                return if name == "ZINCRBY" {
                    Ok(wrong_args(name))
                } else {
                    err("ERR syntax error")
                };
            }
            if nx && xx {
                return err("ERR XX and NX options at the same time are not compatible");
            }
            if ((gt || lt) && nx) || (gt && lt) {
                return err("ERR GT, LT, and/or NX options at the same time are not compatible");
            }
            if incr && pairs.len() > 2 {
                return err("ERR INCR option supports a single increment-element pair");
            }
            let mut scores = Vec::with_capacity(pairs.len() / 2);
            for pair in pairs.chunks(2) {
                match parse_float(&pair[0]) {
                    Some(f) if !f.is_nan() => scores.push(f),
                    _ => return err("ERR value is not a valid float"),
                }
                if 13 + a[0].len() + pair[1].len() > tx.max_key {
                    return err("ERR sorted set key and member too large");
                }
            }
            let mut count = collection!(&a[0], b"zset");
            let (mut added, mut changed) = (0i64, 0i64);
            let mut last: Option<f64> = None;
            for (pair, &score) in pairs.chunks(2).zip(&scores) {
                let member = &pair[1];
                let mfield = zmember(member);
                let old = match count {
                    Some(_) => tx.field(&a[0], &mfield)?.map(|v| score_of(&v)),
                    None => None,
                };
                let new = match (old, incr) {
                    (Some(o), true) => o + score,
                    _ => score,
                };
                if new.is_nan() {
                    return err("ERR resulting score is not a number (NaN)");
                }
                let skip = match old {
                    None => xx,
                    Some(o) => nx || (gt && new <= o) || (lt && new >= o),
                };
                if skip {
                    last = None;
                    continue;
                }
                if let Some(o) = old {
                    if o == new {
                        last = Some(new);
                        continue;
                    }
                    tx.hdel_order(&a[0], member, o, &mut count)?;
                    changed += 1;
                } else {
                    added += 1;
                }
                tx.hset(b"zset", &a[0], &mfield, &score_bytes(new), &mut count)?;
                tx.hset(b"zset", &a[0], &zorder(member, new), b"", &mut count)?;
                last = Some(new);
            }
            if added + changed > 0 {
                let event = if incr { "zincr" } else { "zadd" };
                tx.notify(notify::ZSET, event, &a[0]);
            }
            if incr {
                last.map_or(Reply::Null, |f| Reply::Double(format_score(f)))
            } else {
                Reply::Int(if ch { added + changed } else { added })
            }
        }
        "ZREM" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let mut count = collection!(&a[0], b"zset");
            let mut removed = 0;
            for member in &a[1..] {
                if count.is_none() {
                    break;
                }
                let mfield = zmember(member);
                let Some(v) = tx.field(&a[0], &mfield)? else {
                    continue;
                };
                tx.hdel_order(&a[0], member, score_of(&v), &mut count)?;
                tx.hdel(&a[0], &mfield, &mut count)?;
                removed += 1;
            }
            if removed > 0 {
                tx.notify_and_gone(notify::ZSET, "zrem", &a[0])?;
            }
            Reply::Int(removed)
        }
        "SPOP" => {
            if a.is_empty() || a.len() > 2 {
                return Ok(wrong_args(name));
            }
            let wanted = match pop_count(a.get(1)) {
                Ok(wanted) => wanted,
                Err(e) => return Ok(e),
            };
            let mut count = collection!(&a[0], b"set");
            let mut members: Vec<Vec<u8>> = match count {
                Some(_) => tx.fields(&a[0])?.into_iter().map(|(m, _)| m).collect(),
                None => Vec::new(),
            };
            // A uniform choice of `take` distinct members (a partial Fisher-Yates shuffle).
            let take = wanted.unwrap_or(1).min(members.len());
            let mut x = random_seed(tx.now);
            for i in 0..take {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let j = i + (x % (members.len() - i) as u64) as usize;
                members.swap(i, j);
            }
            members.truncate(take);
            for m in &members {
                tx.hdel(&a[0], m, &mut count)?;
            }
            if take > 0 {
                tx.notify_and_gone(notify::SET, "spop", &a[0])?;
            }
            match wanted {
                None => members.pop().map_or(Reply::Null, Reply::Bulk),
                Some(_) => Reply::Set(members.into_iter().map(Reply::Bulk).collect()),
            }
        }
        "HDEL" => {
            if a.len() < 2 {
                return Ok(wrong_args(name));
            }
            let mut count = hash!(&a[0]);
            let mut removed = 0;
            for f in &a[1..] {
                removed += i64::from(tx.hdel(&a[0], f, &mut count)?);
            }
            if removed > 0 {
                tx.notify_and_gone(notify::HASH, "hdel", &a[0])?;
            }
            Reply::Int(removed)
        }
        "HINCRBY" | "HINCRBYFLOAT" => {
            if a.len() != 3 {
                return Ok(wrong_args(name));
            }
            if 4 + a[0].len() + a[1].len() > tx.max_key {
                return err("ERR hash key and field too large");
            }
            let mut count = hash!(&a[0]);
            let old = match count {
                Some(_) => tx.field(&a[0], &a[1])?,
                None => None,
            };
            let text = if name == "HINCRBY" {
                let Some(by) = parse_i64(&a[2]) else {
                    return err(NOT_INT);
                };
                let current = match &old {
                    Some(v) => match parse_i64(v) {
                        Some(n) => n,
                        None => return err("ERR hash value is not an integer"),
                    },
                    None => 0,
                };
                let Some(next) = current.checked_add(by) else {
                    return err("ERR increment or decrement would overflow");
                };
                next.to_string()
            } else {
                let Some(by) = parse_float(&a[2]) else {
                    return err("ERR value is not a valid float");
                };
                // Redis checks the increment itself first (INCRBYFLOAT checks only the sum).
                if !by.is_finite() {
                    return err("ERR value is NaN or Infinity");
                }
                let current = match &old {
                    Some(v) => match parse_float(v) {
                        Some(f) => f,
                        None => return err("ERR hash value is not a float"),
                    },
                    None => 0.0,
                };
                let next = current + by;
                if !next.is_finite() {
                    return err("ERR increment would produce NaN or Infinity");
                }
                format_float(next)
            };
            tx.hset(b"hash", &a[0], &a[1], text.as_bytes(), &mut count)?;
            let event = if name == "HINCRBY" {
                "hincrby"
            } else {
                "hincrbyfloat"
            };
            tx.notify(notify::HASH, event, &a[0]);
            if name == "HINCRBY" {
                Reply::Int(text.parse().unwrap_or(0))
            } else {
                Reply::Bulk(text.into_bytes())
            }
        }
        _ => Reply::Error(format!(
            "ERR unknown command '{}'",
            name.to_ascii_lowercase()
        )),
    })
}

/// SWAPDB: databases `x` and `y` (data, expiry, types, hash fields) trade table names, O(1)
/// whatever their size (the transaction commits as a checkpoint: see `rename_table`); the
/// entries of the expiry queue, which name their database, are rewritten (a scan of the queue).
fn swap_dbs(tx: &mut Tx<'_>, x: u32, y: u32) -> TxResult<()> {
    // Watched keys of both databases count as modified (Redis touches them all).
    if let Some(watches) = tx.watches.as_deref_mut() {
        for db in [x, y] {
            for key in watches.keys(db) {
                watches.touch(db, &key);
            }
        }
    }
    // The tables trade names (O(1) each: no row moves).
    let names: [fn(u32) -> &'static str; 4] = [table_name, expires_name, types_name, hash_name];
    for name in names {
        let (nx, ny) = (name(x), name(y));
        tx.w.rename_table(nx, SWAP_TABLE)?;
        tx.w.rename_table(ny, nx)?;
        tx.w.rename_table(SWAP_TABLE, ny)?;
    }
    // The queue names the database of each entry.
    if tx.w.has_table(EXPIRY_QUEUE)? {
        let mut moved = Vec::new();
        for item in tx.w.table(EXPIRY_QUEUE)?.range(..)? {
            let (k, _) = item?;
            if k.len() >= 12 {
                let db = u32::from_be_bytes(k[8..12].try_into().expect("4 bytes"));
                if db == x || db == y {
                    moved.push(k.to_vec());
                }
            }
        }
        let mut queue = tx.w.table(EXPIRY_QUEUE)?;
        for k in &moved {
            queue.remove(k)?;
        }
        for k in moved {
            let db = u32::from_be_bytes(k[8..12].try_into().expect("4 bytes"));
            let other = if db == x { y } else { x };
            let mut n = k.clone();
            n[8..12].copy_from_slice(&other.to_be_bytes());
            queue.insert(&n, b"")?;
        }
    }
    Ok(())
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
