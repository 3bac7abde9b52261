//! Command families: each parses its arguments and formats its replies over the typed
//! keyspace (`crate::keyspace`); none knows connections or sockets.
//!
//! The reads here run in one implementation over a snapshot (on the event loops) and over the
//! write transaction (inside EXEC, in their place in the queue).

mod args;
pub mod cursor;
mod hashes;
mod keys;
mod lists;
mod scan;
mod sets;
mod sorted_sets;
mod strings;

use crate::keyspace::{Keyspace, Rows};
use crate::resp::Reply;

/// The reads `read` runs.
pub const READS: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "EXISTS",
    "KEYS",
    "DBSIZE",
    "HGET",
    "HMGET",
    "HLEN",
    "HEXISTS",
    "HKEYS",
    "HVALS",
    "HGETALL",
    "HSTRLEN",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "LLEN",
    "LINDEX",
    "LRANGE",
    "ZSCORE",
    "ZCARD",
    "ZRANGE",
    "GETBIT",
    "LCS",
    "TYPE",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "SCAN",
    "HSCAN",
    "SSCAN",
    "ZSCAN",
];

/// Runs the read `name` (upper case; its arity checked) over `ks`; None if it is not one of
/// `READS`.
pub fn read<R: Rows>(
    ks: &mut Keyspace<R>,
    name: &str,
    a: &[Vec<u8>],
) -> Option<mmtree::Result<Reply>> {
    Some(match name {
        "HGET" | "HMGET" | "HLEN" | "HEXISTS" | "HKEYS" | "HVALS" | "HGETALL" | "HSTRLEN" => {
            hashes::read(ks, name, a)
        }
        "SMEMBERS" | "SISMEMBER" | "SMISMEMBER" | "SCARD" => sets::read(ks, name, a),
        "LLEN" | "LINDEX" | "LRANGE" => lists::read(ks, name, a),
        "ZSCORE" | "ZCARD" | "ZRANGE" => sorted_sets::read(ks, name, a),
        "GET" | "MGET" | "STRLEN" | "GETRANGE" => strings::read(ks, name, a),
        "EXISTS" | "KEYS" | "DBSIZE" => keys::many(ks, name, a),
        "GETBIT" => strings::getbit(ks, a),
        "LCS" => strings::lcs(ks, a),
        "TYPE" | "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" => keys::read(ks, name, a),
        "SCAN" => scan::scan(ks, a),
        "HSCAN" | "SSCAN" | "ZSCAN" => scan::scan_collection(ks, name, a),
        _ => return None,
    })
}

/// The error of an argument that should be an integer.
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

pub fn error(text: &str) -> Reply {
    Reply::Error(text.into())
}

pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
