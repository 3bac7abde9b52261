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

pub use hashes::apply as hashes;
pub use keys::apply as keys;
pub use lists::apply as lists;
pub use sets::apply as sets;
pub use sorted_sets::apply as sorted_sets;
pub use strings::apply as strings;
