//! The write commands, by family, applied by the group-commit writer inside its transaction
//! (`store::Tx`): one handler function a command, registered in the command table
//! (`table::COMMANDS`), which `apply` resolves once; commands that share their logic call one
//! helper with what tells them apart (a side, a unit, an operation). Logical errors leave the transaction untouched; an engine error propagates (and
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
pub mod bits;
pub mod dump;
pub mod geo;
pub mod hashes;
pub mod hll;
pub mod keys;
pub mod lists;
pub mod sets;
pub mod sorted_sets;
pub mod streams;
pub mod strings;

use super::table::{Command, Handler};
use crate::keyspace::{Fault, Keyspace, Ks, Rows, Transaction};
use crate::resp::Reply;
use crate::store::{Tx, TxResult, WRONGTYPE};

/// Runs a keyspace read over this transaction (the reads' own code, as EXEC runs them).
fn reading<T>(tx: &mut Tx<'_>, f: impl FnOnce(&mut Ks<'_>) -> T) -> T {
    let now = tx.now;
    let mut rows = Transaction(tx);
    let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, now);
    f(&mut ks)
}

/// A logical error: the command's reply, the transaction untouched.
fn err(text: &str) -> TxResult<Reply> {
    Ok(Reply::Error(text.into()))
}

/// A keyspace fault as the command's reply (an engine error propagates).
fn fault_reply(fault: Fault) -> TxResult<Reply> {
    match fault {
        Fault::WrongType => Ok(Reply::Error(WRONGTYPE.into())),
        Fault::Db(e) => Err(e),
        Fault::Malformed(what) => Ok(Reply::Error(format!("ERR damaged data: {what}"))),
    }
}

/// Applies one write command (`cmd`, resolved by the connection; `args` with the name first)
/// inside the group commit. Logical errors leave the transaction untouched; an I/O error
/// propagates (and fails the whole commit).
pub fn apply(tx: &mut Tx<'_>, cmd: &Command, args: &[Vec<u8>]) -> TxResult<Reply> {
    // Check every key first, so one bad command fails alone instead of the group's commit.
    // (The key positions are the command table's.)
    let mut keys = cmd.key_args(args);
    if let Some(key) = keys.find(|k| k.len() > tx.max_key) {
        return Ok(Reply::Error(format!(
            "ERR key too large ({} bytes; the limit is {})",
            key.len(),
            tx.max_key
        )));
    }
    match cmd.handler {
        // Every argument a handler reads is there: the arity is checked first, as Redis does
        // (the connection checks it for reads; writes are checked here, in every path).
        Handler::Write(apply) if cmd.arity_ok(args.len()) => apply(tx, cmd.own_args(args)),
        // Inside MULTI (or a script): never blocks.
        Handler::Block(attempt) if cmd.arity_ok(args.len()) => Ok(
            super::blocking::without_blocking(attempt(tx, cmd.own_args(args))?),
        ),
        _ => Ok(Reply::Error(cmd.wrong_args())),
    }
}
