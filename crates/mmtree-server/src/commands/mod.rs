//! Command families: each parses its arguments and formats its replies over the typed
//! keyspace (`crate::keyspace`); none knows connections or sockets.
//!
//! The reads here run in one implementation over a snapshot (on the event loops) and over the
//! write transaction (inside EXEC, in their place in the queue).

pub mod args;
pub mod bits;
pub mod blocking;
pub mod cluster;
pub mod cursor;
pub mod docs;
pub mod dump;
pub mod geo;
pub mod geohash;
mod hashes;
pub mod hll;
mod keys;
mod lists;
pub mod random;
mod scan;
pub mod scripting;
mod sets;
pub mod sort;
mod sorted_sets;
pub mod streams;
mod strings;
pub mod table;
pub mod write;

use crate::resp::Reply;

/// The error of an argument that should be an integer.
pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";

pub fn error(text: &str) -> Reply {
    Reply::Error(text.into())
}

pub fn parse_i64(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}
