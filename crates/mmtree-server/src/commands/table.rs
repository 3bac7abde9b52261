//! The command table: every command the server knows, once, with what the rest of the server
//! asks of it (as Redis' `redisCommandTable` and kvrocks' `MakeCmdAttr`): its name, its arity
//! (Redis' convention: n exactly, -n at least n, the name counted), its flags, where its keys
//! are, and its handler. A command is resolved once per call (`lookup`); authentication, pub/sub
//! mode, MULTI, CLIENT REPLY, the rate limiter, COMMAND INFO, INFO commandstats, the writer's
//! key checks and EXEC's routing read these columns instead of matching names.

use super::{blocking, hashes, keys, lists, random, scan, sets, sorted_sets, strings, write};
use crate::keyspace::Ks;
use crate::resp::Reply;
use crate::store::Tx;
use rustc_hash::FxHashMap;
use std::sync::LazyLock;

/// Runs in the group-commit writer's transaction (`store::apply`).
pub const WRITE: u32 = 1 << 0;
/// Reads only (COMMAND INFO's `readonly`).
pub const READONLY: u32 = 1 << 1;
/// Served before AUTH.
pub const NO_AUTH: u32 = 1 << 2;
/// Served to a subscribed RESP2 connection.
pub const PUBSUB: u32 = 1 << 3;
/// Refused inside MULTI (the transaction is then discarded at EXEC).
pub const NO_MULTI: u32 = 1 << 4;
/// Part of the transaction state machine (MULTI, EXEC, DISCARD, WATCH, UNWATCH).
pub const TRANSACTION: u32 = 1 << 5;
/// Queued like any command inside MULTI, though `TRANSACTION` (UNWATCH).
pub const QUEUED: u32 = 1 << 6;
/// Its replies are pushes, sent even under CLIENT REPLY OFF.
pub const PUSHES: u32 = 1 << 7;
/// Has subcommands (CLIENT LIST shows `cmd=name|sub`).
pub const CONTAINER: u32 = 1 << 8;
/// Connection setup: not charged to the connection's own rate limiter.
pub const SETUP: u32 = 1 << 9;

/// Its keys are counted by an argument (`numkeys key…`, as ZUNION, ZMPOP, SINTERCARD): the
/// key specification names the fixed keys before it (a destination), or none; the count is the
/// argument after them (Redis' `movablekeys`).
pub const NUMKEYS: u32 = 1 << 10;

/// A blocking command (BLPOP, BLMOVE, BZPOPMIN, …): outside MULTI the connection hands it to the
/// writer as a `Job::Block` (it may wait there); inside MULTI its `Write` handler runs, which
/// never blocks. With `NUMKEYS` (BLMPOP, BZMPOP) the count follows the timeout (argument 2).
pub const BLOCKING: u32 = 1 << 11;

/// Subcommands that are connection setup too (what client libraries send at connect).
pub const SETUP_SUBCOMMANDS: &[(&str, &str)] = &[("CLIENT", "SETINFO"), ("CLIENT", "SETNAME")];

/// A keyspace read: one implementation over a snapshot and over the write transaction.
pub type ReadFn = fn(&mut Ks<'_>, &str, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// A write: applied in the group-commit writer's transaction.
pub type WriteFn = fn(&mut Tx<'_>, &str, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// The session commands: each runs on the connection (`conn`), which dispatches on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Session {
    Ping,
    Echo,
    Auth,
    Hello,
    Select,
    Time,
    Save,
    Shutdown,
    Info,
    Config,
    Client,
    Command,
    Quit,
    Multi,
    Exec,
    Discard,
    Watch,
    Publish,
    Pubsub,
    Function,
    Memory,
    Object,
    Unwatch,
    Subscribe,
    Unsubscribe,
    PSubscribe,
    PUnsubscribe,
}

/// Where a command runs.
#[derive(Clone, Copy)]
pub enum Handler {
    /// In the group-commit writer's transaction (`store::apply`, which checks the keys).
    Write(WriteFn),
    /// On a snapshot on the event loop; inside EXEC, in the writer's transaction, in its place.
    Read(ReadFn),
    /// On the connection (its state, or the server's): `conn`'s session commands.
    Session(Session),
}

/// One command.
pub struct Command {
    /// Upper case.
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    /// First key, last key (negative: from the end), step; (0, 0, 0) without keys.
    pub keys: (i32, i32, i32),
    pub handler: Handler,
}

impl Command {
    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// The session command this is, if it is one.
    pub fn session(&self) -> Option<Session> {
        match self.handler {
            Handler::Session(s) => Some(s),
            _ => None,
        }
    }

    /// True if `argc` arguments (the name included) fit the arity.
    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity < 0 {
            argc >= arity
        } else {
            argc == arity
        }
    }

    /// The key arguments of `args` (the name included), by the key specification (and the
    /// `numkeys` argument for `NUMKEYS` commands).
    pub fn key_args<'a>(&self, args: &'a [Vec<u8>]) -> std::vec::IntoIter<&'a Vec<u8>> {
        let (first, last, step) = self.keys;
        let len = args.len() as i32;
        let last = if last < 0 {
            len + last
        } else {
            last.min(len - 1)
        };
        let (first_at, step) = (first.max(1) as usize, step.max(1) as usize);
        let end = if first == 0 {
            0
        } else {
            (last + 1).max(0) as usize
        };
        let mut keys: Vec<&'a Vec<u8>> = args
            .get(first_at.min(end)..end)
            .unwrap_or_default()
            .iter()
            .step_by(step)
            .collect();
        if self.has(NUMKEYS) {
            let at = match first {
                0 if self.has(BLOCKING) => 2,
                0 => 1,
                _ => end,
            };
            let n = args
                .get(at)
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            keys.extend(args.iter().skip(at + 1).take(n));
        }
        keys.into_iter()
    }

    /// The index in `COMMANDS` (INFO commandstats counts by it).
    pub fn index(&self) -> usize {
        (self as *const Command as usize - COMMANDS.as_ptr() as usize)
            / std::mem::size_of::<Command>()
    }
}

const fn command(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    handler: Handler,
) -> Command {
    Command {
        name,
        arity,
        flags,
        keys,
        handler,
    }
}

/// Every command, in COMMAND's order.
pub static COMMANDS: &[Command] = &[
    command(
        "PING",
        -1,
        PUBSUB,
        (0, 0, 0),
        Handler::Session(Session::Ping),
    ),
    command("ECHO", 2, 0, (0, 0, 0), Handler::Session(Session::Echo)),
    command(
        "AUTH",
        -2,
        NO_AUTH | SETUP,
        (0, 0, 0),
        Handler::Session(Session::Auth),
    ),
    command(
        "HELLO",
        -1,
        NO_AUTH | SETUP,
        (0, 0, 0),
        Handler::Session(Session::Hello),
    ),
    command("SELECT", 2, 0, (0, 0, 0), Handler::Session(Session::Select)),
    command("GET", 2, READONLY, (1, 1, 1), Handler::Read(strings::read)),
    command("SET", -3, WRITE, (1, 1, 1), Handler::Write(write::strings)),
    command(
        "GETDEL",
        2,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command("SETNX", 3, WRITE, (1, 1, 1), Handler::Write(write::strings)),
    command("SETEX", 4, WRITE, (1, 1, 1), Handler::Write(write::strings)),
    command(
        "PSETEX",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "GETSET",
        3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command("TYPE", 2, READONLY, (1, 1, 1), Handler::Read(keys::read)),
    command(
        "EXPIRETIME",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(keys::read),
    ),
    command(
        "PEXPIRETIME",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(keys::read),
    ),
    command("TIME", 1, 0, (0, 0, 0), Handler::Session(Session::Time)),
    command("DEL", -2, WRITE, (1, -1, 1), Handler::Write(write::keys)),
    command("UNLINK", -2, WRITE, (1, -1, 1), Handler::Write(write::keys)),
    command(
        "EXISTS",
        -2,
        READONLY,
        (1, -1, 1),
        Handler::Read(keys::many),
    ),
    command(
        "MGET",
        -2,
        READONLY,
        (1, -1, 1),
        Handler::Read(strings::read),
    ),
    command(
        "MSET",
        -3,
        WRITE,
        (1, -1, 2),
        Handler::Write(write::strings),
    ),
    command(
        "MSETNX",
        -3,
        WRITE,
        (1, -1, 2),
        Handler::Write(write::strings),
    ),
    command("INCR", 2, WRITE, (1, 1, 1), Handler::Write(write::strings)),
    command(
        "INCRBY",
        3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command("DECR", 2, WRITE, (1, 1, 1), Handler::Write(write::strings)),
    command(
        "DECRBY",
        3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "APPEND",
        3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "STRLEN",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(strings::read),
    ),
    command(
        "GETRANGE",
        4,
        READONLY,
        (1, 1, 1),
        Handler::Read(strings::read),
    ),
    command(
        "GETBIT",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(strings::getbit),
    ),
    command("LCS", -3, READONLY, (1, 2, 1), Handler::Read(strings::lcs)),
    command(
        "SAVE",
        1,
        NO_MULTI,
        (0, 0, 0),
        Handler::Session(Session::Save),
    ),
    command(
        "SHUTDOWN",
        -1,
        NO_MULTI,
        (0, 0, 0),
        Handler::Session(Session::Shutdown),
    ),
    command("TTL", 2, READONLY, (1, 1, 1), Handler::Read(keys::read)),
    command("PTTL", 2, READONLY, (1, 1, 1), Handler::Read(keys::read)),
    command("EXPIRE", -3, WRITE, (1, 1, 1), Handler::Write(write::keys)),
    command("PEXPIRE", -3, WRITE, (1, 1, 1), Handler::Write(write::keys)),
    command(
        "EXPIREAT",
        -3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::keys),
    ),
    command(
        "PEXPIREAT",
        -3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::keys),
    ),
    command("PERSIST", 2, WRITE, (1, 1, 1), Handler::Write(write::keys)),
    command("SCAN", -2, READONLY, (0, 0, 0), Handler::Read(scan::scan)),
    command("KEYS", 2, READONLY, (0, 0, 0), Handler::Read(keys::many)),
    command("DBSIZE", 1, READONLY, (0, 0, 0), Handler::Read(keys::many)),
    command("FLUSHDB", -1, WRITE, (0, 0, 0), Handler::Write(write::keys)),
    command("INFO", -1, 0, (0, 0, 0), Handler::Session(Session::Info)),
    command(
        "CONFIG",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Config),
    ),
    command(
        "CLIENT",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Client),
    ),
    command(
        "COMMAND",
        -1,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Command),
    ),
    command(
        "QUIT",
        -1,
        NO_AUTH | PUBSUB,
        (0, 0, 0),
        Handler::Session(Session::Quit),
    ),
    command(
        "MULTI",
        1,
        TRANSACTION,
        (0, 0, 0),
        Handler::Session(Session::Multi),
    ),
    command(
        "EXEC",
        1,
        TRANSACTION,
        (0, 0, 0),
        Handler::Session(Session::Exec),
    ),
    command(
        "DISCARD",
        1,
        TRANSACTION,
        (0, 0, 0),
        Handler::Session(Session::Discard),
    ),
    command(
        "WATCH",
        -2,
        TRANSACTION,
        (1, -1, 1),
        Handler::Session(Session::Watch),
    ),
    command(
        "UNWATCH",
        1,
        TRANSACTION | QUEUED,
        (0, 0, 0),
        Handler::Session(Session::Unwatch),
    ),
    command(
        "MMTREE.RANGE",
        -3,
        READONLY,
        (0, 0, 0),
        Handler::Read(random::range),
    ),
    command(
        "SUBSCRIBE",
        -2,
        PUBSUB | PUSHES,
        (0, 0, 0),
        Handler::Session(Session::Subscribe),
    ),
    command(
        "UNSUBSCRIBE",
        -1,
        PUBSUB | PUSHES,
        (0, 0, 0),
        Handler::Session(Session::Unsubscribe),
    ),
    command(
        "PSUBSCRIBE",
        -2,
        PUBSUB | PUSHES,
        (0, 0, 0),
        Handler::Session(Session::PSubscribe),
    ),
    command(
        "PUNSUBSCRIBE",
        -1,
        PUBSUB | PUSHES,
        (0, 0, 0),
        Handler::Session(Session::PUnsubscribe),
    ),
    command(
        "PUBLISH",
        3,
        0,
        (0, 0, 0),
        Handler::Session(Session::Publish),
    ),
    command(
        "PUBSUB",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Pubsub),
    ),
    command(
        "FUNCTION",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Function),
    ),
    command(
        "GETEX",
        -2,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "SETRANGE",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "SETBIT",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command(
        "INCRBYFLOAT",
        3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::strings),
    ),
    command("RENAME", 3, WRITE, (1, 2, 1), Handler::Write(write::keys)),
    command("RENAMENX", 3, WRITE, (1, 2, 1), Handler::Write(write::keys)),
    command("COPY", -3, WRITE, (1, 2, 1), Handler::Write(write::keys)),
    command("MOVE", 3, WRITE, (1, 1, 1), Handler::Write(write::keys)),
    command("SWAPDB", 3, WRITE, (0, 0, 0), Handler::Write(write::keys)),
    command(
        "FLUSHALL",
        -1,
        WRITE,
        (0, 0, 0),
        Handler::Write(write::keys),
    ),
    command(
        "RANDOMKEY",
        1,
        READONLY,
        (0, 0, 0),
        Handler::Read(random::random_key),
    ),
    command("HSET", -4, WRITE, (1, 1, 1), Handler::Write(write::hashes)),
    command("HMSET", -4, WRITE, (1, 1, 1), Handler::Write(write::hashes)),
    command("HSETNX", 4, WRITE, (1, 1, 1), Handler::Write(write::hashes)),
    command("HDEL", -3, WRITE, (1, 1, 1), Handler::Write(write::hashes)),
    command(
        "HINCRBY",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::hashes),
    ),
    command(
        "HINCRBYFLOAT",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::hashes),
    ),
    command("HGET", 3, READONLY, (1, 1, 1), Handler::Read(hashes::read)),
    command(
        "HMGET",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(hashes::read),
    ),
    command("HLEN", 2, READONLY, (1, 1, 1), Handler::Read(hashes::read)),
    command(
        "HEXISTS",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(hashes::read),
    ),
    command("HKEYS", 2, READONLY, (1, 1, 1), Handler::Read(hashes::read)),
    command("HVALS", 2, READONLY, (1, 1, 1), Handler::Read(hashes::read)),
    command(
        "HGETALL",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(hashes::read),
    ),
    command(
        "HSTRLEN",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(hashes::read),
    ),
    command(
        "HSCAN",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(scan::scan_collection),
    ),
    command(
        "HRANDFIELD",
        -2,
        READONLY,
        (1, 1, 1),
        Handler::Read(random::pick_fields),
    ),
    command(
        "MEMORY",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Memory),
    ),
    command(
        "OBJECT",
        -2,
        CONTAINER,
        (0, 0, 0),
        Handler::Session(Session::Object),
    ),
    command("LPUSH", -3, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("RPUSH", -3, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LPUSHX", -3, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("RPUSHX", -3, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LPOP", -2, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("RPOP", -2, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LLEN", 2, READONLY, (1, 1, 1), Handler::Read(lists::read)),
    command("LINDEX", 3, READONLY, (1, 1, 1), Handler::Read(lists::read)),
    command("LRANGE", 4, READONLY, (1, 1, 1), Handler::Read(lists::read)),
    command("LPOS", -3, READONLY, (1, 1, 1), Handler::Read(lists::lpos)),
    command("LSET", 4, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LTRIM", 4, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LREM", 4, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LINSERT", 5, WRITE, (1, 1, 1), Handler::Write(write::lists)),
    command("LMOVE", 5, WRITE, (1, 2, 1), Handler::Write(write::lists)),
    command(
        "RPOPLPUSH",
        3,
        WRITE,
        (1, 2, 1),
        Handler::Write(write::lists),
    ),
    command(
        "LMPOP",
        -4,
        WRITE | NUMKEYS,
        (0, 0, 0),
        Handler::Write(write::lists),
    ),
    // The blocking pops (`commands/blocking.rs`; the writer holds a blocked client,
    // `crate::blocking`).
    command(
        "BLPOP",
        -3,
        WRITE | BLOCKING,
        (1, -2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BRPOP",
        -3,
        WRITE | BLOCKING,
        (1, -2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BLMOVE",
        6,
        WRITE | BLOCKING,
        (1, 2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BRPOPLPUSH",
        4,
        WRITE | BLOCKING,
        (1, 2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BLMPOP",
        -5,
        WRITE | BLOCKING | NUMKEYS,
        (0, 0, 0),
        Handler::Write(blocking::apply),
    ),
    command(
        "BZPOPMIN",
        -3,
        WRITE | BLOCKING,
        (1, -2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BZPOPMAX",
        -3,
        WRITE | BLOCKING,
        (1, -2, 1),
        Handler::Write(blocking::apply),
    ),
    command(
        "BZMPOP",
        -5,
        WRITE | BLOCKING | NUMKEYS,
        (0, 0, 0),
        Handler::Write(blocking::apply),
    ),
    command(
        "ZADD",
        -4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZINCRBY",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZREM",
        -3,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZSCORE",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZCARD",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZRANGE",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZSCAN",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(scan::scan_collection),
    ),
    command(
        "ZRANGEBYSCORE",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZREVRANGEBYSCORE",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZRANGEBYLEX",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZREVRANGEBYLEX",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZREVRANGE",
        -4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZRANK",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZREVRANK",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZCOUNT",
        4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZLEXCOUNT",
        4,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZMSCORE",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZRANDMEMBER",
        -2,
        READONLY,
        (1, 1, 1),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZUNION",
        -3,
        READONLY | NUMKEYS,
        (0, 0, 0),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZINTER",
        -3,
        READONLY | NUMKEYS,
        (0, 0, 0),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZDIFF",
        -3,
        READONLY | NUMKEYS,
        (0, 0, 0),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZINTERCARD",
        -3,
        READONLY | NUMKEYS,
        (0, 0, 0),
        Handler::Read(sorted_sets::read),
    ),
    command(
        "ZPOPMIN",
        -2,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZPOPMAX",
        -2,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZMPOP",
        -4,
        WRITE | NUMKEYS,
        (0, 0, 0),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZREMRANGEBYSCORE",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZREMRANGEBYRANK",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZREMRANGEBYLEX",
        4,
        WRITE,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZRANGESTORE",
        -5,
        WRITE,
        (1, 2, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZUNIONSTORE",
        -4,
        WRITE | NUMKEYS,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZINTERSTORE",
        -4,
        WRITE | NUMKEYS,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command(
        "ZDIFFSTORE",
        -4,
        WRITE | NUMKEYS,
        (1, 1, 1),
        Handler::Write(write::sorted_sets),
    ),
    command("SADD", -3, WRITE, (1, 1, 1), Handler::Write(write::sets)),
    command("SREM", -3, WRITE, (1, 1, 1), Handler::Write(write::sets)),
    command("SPOP", -2, WRITE, (1, 1, 1), Handler::Write(write::sets)),
    command(
        "SMEMBERS",
        2,
        READONLY,
        (1, 1, 1),
        Handler::Read(sets::read),
    ),
    command(
        "SISMEMBER",
        3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sets::read),
    ),
    command(
        "SMISMEMBER",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(sets::read),
    ),
    command(
        "SINTER",
        -2,
        READONLY,
        (1, -1, 1),
        Handler::Read(sets::algebra),
    ),
    command(
        "SUNION",
        -2,
        READONLY,
        (1, -1, 1),
        Handler::Read(sets::algebra),
    ),
    command(
        "SDIFF",
        -2,
        READONLY,
        (1, -1, 1),
        Handler::Read(sets::algebra),
    ),
    command(
        "SINTERCARD",
        -3,
        READONLY | NUMKEYS,
        (0, 0, 0),
        Handler::Read(sets::algebra),
    ),
    command(
        "SINTERSTORE",
        -3,
        WRITE,
        (1, -1, 1),
        Handler::Write(write::sets),
    ),
    command(
        "SUNIONSTORE",
        -3,
        WRITE,
        (1, -1, 1),
        Handler::Write(write::sets),
    ),
    command(
        "SDIFFSTORE",
        -3,
        WRITE,
        (1, -1, 1),
        Handler::Write(write::sets),
    ),
    command("SMOVE", 4, WRITE, (1, 2, 1), Handler::Write(write::sets)),
    command("SCARD", 2, READONLY, (1, 1, 1), Handler::Read(sets::read)),
    command(
        "SSCAN",
        -3,
        READONLY,
        (1, 1, 1),
        Handler::Read(scan::scan_collection),
    ),
    command(
        "SRANDMEMBER",
        -2,
        READONLY,
        (1, 1, 1),
        Handler::Read(random::pick_fields),
    ),
];

/// Name (upper case) → entry.
static INDEX: LazyLock<FxHashMap<&'static str, &'static Command>> =
    LazyLock::new(|| COMMANDS.iter().map(|c| (c.name, c)).collect());

/// The command named `raw` (any case), without allocating.
pub fn lookup(raw: &[u8]) -> Option<&'static Command> {
    let mut upper = [0u8; 32];
    if raw.len() > upper.len() {
        return None;
    }
    for (u, b) in upper.iter_mut().zip(raw) {
        *u = b.to_ascii_uppercase();
    }
    INDEX
        .get(std::str::from_utf8(&upper[..raw.len()]).ok()?)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_once_in_upper_case_and_found_in_any_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in COMMANDS {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(std::ptr::eq(
                lookup(c.name.to_ascii_lowercase().as_bytes()).unwrap(),
                c
            ));
            assert_eq!(COMMANDS[c.index()].name, c.name);
            // A write or a keyspace read runs where its flags say.
            match c.handler {
                Handler::Write(_) => assert!(c.has(WRITE)),
                Handler::Read(_) => assert!(c.has(READONLY) && !c.has(WRITE)),
                Handler::Session(_) => assert!(!c.has(WRITE)),
            }
        }
        assert!(lookup(b"NOPE").is_none());
    }

    #[test]
    fn key_specifications_pick_the_keys() {
        let args =
            |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|a| a.as_bytes().to_vec()).collect() };
        let keys = |name: &str, line: &str| -> Vec<String> {
            let a = args(line);
            lookup(name.as_bytes())
                .unwrap()
                .key_args(&a)
                .map(|k| String::from_utf8_lossy(k).into_owned())
                .collect()
        };
        assert_eq!(keys("GET", "GET k"), ["k"]);
        assert_eq!(keys("DEL", "DEL a b c"), ["a", "b", "c"]);
        assert_eq!(keys("MSET", "MSET a 1 b 2"), ["a", "b"]);
        assert_eq!(keys("RENAME", "RENAME a b"), ["a", "b"]);
        assert_eq!(keys("COPY", "COPY a b DB 1"), ["a", "b"]);
        assert!(keys("FLUSHALL", "FLUSHALL ASYNC").is_empty());
        assert!(keys("SWAPDB", "SWAPDB 0 1").is_empty());
        assert!(keys("GET", "GET").is_empty());
        // numkeys: after the destination, or first.
        assert_eq!(
            keys("ZUNIONSTORE", "ZUNIONSTORE d 2 a b WEIGHTS 1 2"),
            ["d", "a", "b"]
        );
        assert_eq!(keys("ZUNION", "ZUNION 2 a b WITHSCORES"), ["a", "b"]);
        assert_eq!(keys("ZMPOP", "ZMPOP 1 a MIN"), ["a"]);
        // Blocking: the keys before the timeout, or after it and its numkeys.
        assert_eq!(keys("BLPOP", "BLPOP a b 0"), ["a", "b"]);
        assert_eq!(keys("BLMOVE", "BLMOVE a b LEFT RIGHT 0"), ["a", "b"]);
        assert_eq!(keys("BLMPOP", "BLMPOP 0 2 a b LEFT COUNT 2"), ["a", "b"]);
        assert_eq!(keys("BZMPOP", "BZMPOP 1.5 1 z MIN"), ["z"]);
        assert_eq!(keys("ZRANGESTORE", "ZRANGESTORE d s 0 -1"), ["d", "s"]);
        // A count that is no number, or too large, names only what is there.
        assert!(keys("ZINTERCARD", "ZINTERCARD x a").is_empty());
        assert_eq!(keys("ZINTERCARD", "ZINTERCARD 9 a"), ["a"]);
    }
}
