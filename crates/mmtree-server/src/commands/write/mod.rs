//! The write commands, by family, applied by the group-commit writer inside its transaction
//! (`store::Tx`). Logical errors leave the transaction untouched; an engine error propagates (and
//! fails the group's commit).

// Shared by the families (defined before them, so in scope in each).
macro_rules! string {
    ($tx:ident, $key:expr) => {
        match $tx.get_string($key)? {
            Ok(v) => v,
            Err(e) => return Ok(e),
        }
    };
}
// The row count of the hash, set, list or sorted set at `key` (None: none yet), or the
// command's WRONGTYPE reply.
macro_rules! collection {
    ($tx:ident, $key:expr, $kind:expr) => {
        match $tx.collection_for_write($key, $kind)? {
            Ok(v) => v,
            Err(e) => return Ok(e),
        }
    };
}
macro_rules! hash {
    ($tx:ident, $key:expr) => {
        collection!($tx, $key, b"hash")
    };
}
mod hashes;
mod keys;
mod lists;
mod sets;
mod sorted_sets;
mod strings;

use crate::resp::Reply;
use crate::store::{wrong_args, Tx, TxResult};

/// Applies one write command inside the group commit. Logical errors leave the transaction
/// untouched; an I/O error propagates (and fails the whole commit).
pub fn apply(tx: &mut Tx<'_>, args: &[Vec<u8>]) -> TxResult<Reply> {
    let name = String::from_utf8_lossy(&args[0]).to_ascii_uppercase();
    let a = &args[1..];
    // Check every key first, so one bad command fails alone instead of the group's commit.
    // (The key positions are the command table's.)
    let mut keys = super::table::lookup(&args[0])
        .into_iter()
        .flat_map(|c| c.key_args(args));
    if let Some(key) = keys.find(|k| k.len() > tx.max_key) {
        return Ok(Reply::Error(format!(
            "ERR key too large ({} bytes; the limit is {})",
            key.len(),
            tx.max_key
        )));
    }
    match super::table::lookup(&args[0]).map(|c| c.handler) {
        Some(super::table::Handler::Write(apply)) => apply(tx, &name, a),
        _ => Ok(wrong_args(&name)),
    }
}

pub use hashes::apply as hashes;
pub use keys::apply as keys;
pub use lists::apply as lists;
pub use sets::apply as sets;
pub use sorted_sets::apply as sorted_sets;
pub use strings::apply as strings;
