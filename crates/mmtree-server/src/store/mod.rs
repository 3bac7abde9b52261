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

pub mod stream;
mod sweep;
mod tx;
mod watch;

pub use sweep::{expire_if_due, sweep};
pub use tx::{note_list_head, Tx, Value};
pub use watch::{Change, WatchedKey, Watches};

use crate::notify::{self, KeyEvent};
use crate::resp::Reply;
use mmtree::{ReadTable, TableHandle, WriteTransaction};

/// Every internal table name starts with this.
pub const INTERNAL_PREFIX: &str = "__serve:";
pub const EXPIRY_QUEUE: &str = "__serve:expiry-queue";
/// SWAPDB's name for a table while two trade names (never left behind: the same transaction
/// renames it back).
pub const SWAP_TABLE: &str = "__serve:swapping";
/// The FUNCTION libraries (`commands::scripting`): library name → its FUNCTION LOAD payload.
pub const FUNCTIONS_TABLE: &str = "__serve:functions";
pub const DATABASES: u32 = 16;

/// The tables of one database (names built once: a command does not format them), with
/// handles the group's transaction reads them through (`Tx`): a read through a handle opens
/// nothing, so it adds no table switch to the commit's log record (opening a table by name
/// does, even to read it).
struct Names {
    data: String,
    expires: String,
    types: String,
    hashes: String,
    handles: Handles,
}

/// One database's tables as handles (see `Names`).
pub struct Handles {
    pub data: TableHandle,
    pub expires: TableHandle,
    pub types: TableHandle,
    pub hashes: TableHandle,
}

static NAMES: std::sync::LazyLock<Vec<Names>> = std::sync::LazyLock::new(|| {
    (0..DATABASES)
        .map(|db| {
            let data = format!("db{db}");
            let expires = format!("{INTERNAL_PREFIX}expires:db{db}");
            let types = format!("{INTERNAL_PREFIX}types:db{db}");
            let hashes = format!("{INTERNAL_PREFIX}hash:db{db}");
            let handle = |name: &str| TableHandle::named(name).expect("a valid table name");
            Names {
                handles: Handles {
                    data: handle(&data),
                    expires: handle(&expires),
                    types: handle(&types),
                    hashes: handle(&hashes),
                },
                data,
                expires,
                types,
                hashes,
            }
        })
        .collect()
});

/// Database `db`'s tables as handles.
pub fn handles(db: u32) -> &'static Handles {
    &names(db).handles
}

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
pub fn zorder_negative_zero(member: &[u8]) -> Vec<u8> {
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

/// A score as Redis 7.0 prints it: C's `%.17g` (17 significant digits, trailing zeros dropped,
/// an exponent of at least two digits below 1e-4 and from 1e17 on: `0.10000000000000001`,
/// `1.0000000000000001e+300`); `inf`, `-inf`; 0 for either zero.
pub fn format_score(score: f64) -> String {
    if score.is_infinite() {
        return if score > 0.0 {
            "inf".into()
        } else {
            "-inf".into()
        };
    }
    if score == 0.0 {
        return "0".into();
    }
    // 17 significant digits, correctly rounded, as `d.dddddddddddddddde<exp>`.
    let sci = format!("{score:.16e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |t: &str| -> String {
        if t.contains('.') {
            t.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            t.to_string()
        }
    };
    if !(-4..17).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    } else {
        trim(&format!("{score:.*}", (16 - exp) as usize))
    }
}

/// A list's elements are rows at consecutive positions (u64 BE, so in order): the first push
/// goes at the middle of the range, LPUSH below the head, RPUSH above the tail; pops take the
/// ends, so the positions stay contiguous and element i is at head + i.
pub const LIST_MIDDLE: u64 = 1 << 63;

/// The count of LPOP, RPOP and SPOP: None without one; a negative one is refused as Redis does.
pub fn pop_count(arg: Option<&Vec<u8>>) -> Result<Option<usize>, Reply> {
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

/// Keys with a TTL INFO's `avg_ttl` averages (Redis estimates it from samples too), and the
/// most expiry rows it reads to find them (expired keys not swept yet are passed over).
const AVG_TTL_SAMPLE: usize = 1000;
const AVG_TTL_ROWS_MAX: usize = 10_000;

/// INFO's `avg_ttl`: the average time to live, in milliseconds, of the first `AVG_TTL_SAMPLE`
/// unexpired keys (in key order, among the first `AVG_TTL_ROWS_MAX` rows) of an expiry table;
/// 0 if none.
pub fn average_ttl(expires: &ReadTable<'_>, now: u64) -> mmtree::Result<u64> {
    let (mut sum, mut n) = (0u128, 0u128);
    for item in expires.range(..)?.take(AVG_TTL_ROWS_MAX) {
        let (_, at) = item?;
        if let Some(at) = decode_expiry(at).filter(|&at| at > now) {
            sum += u128::from(at - now);
            n += 1;
            if n == AVG_TTL_SAMPLE as u128 {
                break;
            }
        }
    }
    Ok(sum.checked_div(n).map_or(0, |avg| avg as u64))
}

pub fn decode_expiry(bytes: &[u8]) -> Option<u64> {
    bytes.try_into().ok().map(u64::from_be_bytes)
}

/// One database's tables in a snapshot (read through `keyspace::Snapshot`).
pub struct View<'t> {
    pub data: Option<ReadTable<'t>>,
    pub expires: Option<ReadTable<'t>>,
    pub types: Option<ReadTable<'t>>,
    pub hashes: Option<ReadTable<'t>>,
}

pub fn queue_key(at: u64, db: u32, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + key.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(&db.to_be_bytes());
    k.extend_from_slice(key);
    k
}

pub type TxResult<T> = mmtree::Result<T>;

/// A live value: its expiry and its bytes.
pub type Live = (Option<u64>, Vec<u8>);

pub fn wrong_args(name: &str) -> Reply {
    Reply::Error(format!(
        "ERR wrong number of arguments for '{}' command",
        name.to_ascii_lowercase()
    ))
}

pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

pub const NOT_INT: &str = "ERR value is not an integer or out of range";

/// Formats a float as Redis' INCRBYFLOAT does (shortest form, no exponent, no trailing zeros).
pub fn format_float(f: f64) -> String {
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

pub fn db_index(bytes: &[u8]) -> Result<u32, Reply> {
    match parse_i64(bytes) {
        Some(n) if (0..i64::from(DATABASES)).contains(&n) => Ok(n as u32),
        Some(_) => Err(Reply::Error("ERR DB index is out of range".into())),
        None => Err(Reply::Error(NOT_INT.into())),
    }
}

/// Largest string SETRANGE may build (Redis' proto-max-bulk-len default).
pub const MAX_STRING: u64 = 512 << 20;

/// SWAPDB: databases `x` and `y` (data, expiry, types, hash fields) trade table names, O(1)
/// whatever their size (the transaction commits as a checkpoint: see `rename_table`); the
/// entries of the expiry queue, which name their database, are rewritten (a scan of the queue).
pub fn swap_dbs(tx: &mut Tx<'_>, x: u32, y: u32) -> TxResult<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: scores print as redis-server 7.0 prints them (`%.17g`). Method: values whose text
    /// redis-server 7.0.15 gave for ZRANGE WITHSCORES, at each edge of the fixed and exponent
    /// forms.
    #[test]
    fn scores_print_as_redis_percent_17g() {
        for (score, text) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (-0.0, "0"),
            (100.0, "100"),
            (100.0 + 0.1, "100.09999999999999"),
            (123456789.123, "123456789.123"),
            (0.0001, "0.0001"),
            (1e-5, "1.0000000000000001e-05"),
            (1e17, "1e+17"),
            (12345678901234567.0, "12345678901234568"),
            (1e300, "1.0000000000000001e+300"),
            (-1e300, "-1.0000000000000001e+300"),
            (5e-324, "4.9406564584124654e-324"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(format_score(score), text, "{score:e}");
        }
    }
}
