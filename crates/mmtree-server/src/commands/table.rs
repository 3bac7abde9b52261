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
use Handler::{Block, Read, Write};

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

/// A blocking command (BLPOP, BLMOVE, BZPOPMIN, …; its handler is `Block`): outside MULTI the
/// connection hands it to the writer as a `Job::Block` (it may wait there); inside MULTI it never
/// blocks. With `NUMKEYS` (BLMPOP, BZMPOP) the count follows the timeout (argument 2).
pub const BLOCKING: u32 = 1 << 11;

/// Subcommands that are connection setup too (what client libraries send at connect).
pub const SETUP_SUBCOMMANDS: &[(Session, &str)] =
    &[(Session::Client, "SETINFO"), (Session::Client, "SETNAME")];

/// A keyspace read: one implementation over a snapshot and over the write transaction. Each
/// command has its own (the arguments after the name; the table has checked the arity), so
/// none looks at the name again.
pub type ReadFn = fn(&mut Ks<'_>, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// A write: applied in the group-commit writer's transaction.
pub type WriteFn = fn(&mut Tx<'_>, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// A blocking command's try in the group-commit writer's transaction: answered, or what the
/// client would wait for (`commands::blocking`).
pub type BlockFn = fn(&mut Tx<'_>, &[Vec<u8>]) -> mmtree::Result<blocking::Attempt>;

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
    /// A blocking pop: in the writer's transaction, which holds the client blocked while there
    /// is nothing to pop (`crate::blocking`); inside MULTI, nil at once instead.
    Block(BlockFn),
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
#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    //      name                ar  flags                 keys        handler (ar: arity)
    command("PING",             -1, PUBSUB,               (0, 0, 0),  Handler::Session(Session::Ping)),
    command("ECHO",             2,  0,                    (0, 0, 0),  Handler::Session(Session::Echo)),
    command("AUTH",             -2, NO_AUTH | SETUP,      (0, 0, 0),  Handler::Session(Session::Auth)),
    command("HELLO",            -1, NO_AUTH | SETUP,      (0, 0, 0),  Handler::Session(Session::Hello)),
    command("SELECT",           2,  0,                    (0, 0, 0),  Handler::Session(Session::Select)),
    command("GET",              2,  READONLY,             (1, 1, 1),  Read(strings::get)),
    command("SET",              -3, WRITE,                (1, 1, 1),  Write(write::strings::set)),
    command("GETDEL",           2,  WRITE,                (1, 1, 1),  Write(write::strings::getdel)),
    command("SETNX",            3,  WRITE,                (1, 1, 1),  Write(write::strings::setnx)),
    command("SETEX",            4,  WRITE,                (1, 1, 1),  Write(write::strings::setex)),
    command("PSETEX",           4,  WRITE,                (1, 1, 1),  Write(write::strings::psetex)),
    command("GETSET",           3,  WRITE,                (1, 1, 1),  Write(write::strings::getset)),
    command("TYPE",             2,  READONLY,             (1, 1, 1),  Read(keys::type_of)),
    command("EXPIRETIME",       2,  READONLY,             (1, 1, 1),  Read(keys::expiretime)),
    command("PEXPIRETIME",      2,  READONLY,             (1, 1, 1),  Read(keys::pexpiretime)),
    command("TIME",             1,  0,                    (0, 0, 0),  Handler::Session(Session::Time)),
    command("DEL",              -2, WRITE,                (1, -1, 1), Write(write::keys::del)),
    command("UNLINK",           -2, WRITE,                (1, -1, 1), Write(write::keys::del)   ),
    command("EXISTS",           -2, READONLY,             (1, -1, 1), Read(keys::exists)),
    command("MGET",             -2, READONLY,             (1, -1, 1), Read(strings::mget)),
    command("MSET",             -3, WRITE,                (1, -1, 2), Write(write::strings::mset)),
    command("MSETNX",           -3, WRITE,                (1, -1, 2), Write(write::strings::msetnx)),
    command("INCR",             2,  WRITE,                (1, 1, 1),  Write(write::strings::incr)),
    command("INCRBY",           3,  WRITE,                (1, 1, 1),  Write(write::strings::incrby)),
    command("DECR",             2,  WRITE,                (1, 1, 1),  Write(write::strings::decr)),
    command("DECRBY",           3,  WRITE,                (1, 1, 1),  Write(write::strings::decrby)),
    command("APPEND",           3,  WRITE,                (1, 1, 1),  Write(write::strings::append)),
    command("STRLEN",           2,  READONLY,             (1, 1, 1),  Read(strings::strlen)),
    command("GETRANGE",         4,  READONLY,             (1, 1, 1),  Read(strings::getrange)),
    command("GETBIT",           3,  READONLY,             (1, 1, 1),  Read(strings::getbit)),
    command("LCS",              -3, READONLY,             (1, 2, 1),  Read(strings::lcs)),
    command("SAVE",             1,  NO_MULTI,             (0, 0, 0),  Handler::Session(Session::Save)),
    command("SHUTDOWN",         -1, NO_MULTI,             (0, 0, 0),  Handler::Session(Session::Shutdown)),
    command("TTL",              2,  READONLY,             (1, 1, 1),  Read(keys::ttl)),
    command("PTTL",             2,  READONLY,             (1, 1, 1),  Read(keys::pttl)),
    command("EXPIRE",           -3, WRITE,                (1, 1, 1),  Write(write::keys::expire)),
    command("PEXPIRE",          -3, WRITE,                (1, 1, 1),  Write(write::keys::pexpire)),
    command("EXPIREAT",         -3, WRITE,                (1, 1, 1),  Write(write::keys::expireat)),
    command("PEXPIREAT",        -3, WRITE,                (1, 1, 1),  Write(write::keys::pexpireat)),
    command("PERSIST",          2,  WRITE,                (1, 1, 1),  Write(write::keys::persist)),
    command("SCAN",             -2, READONLY,             (0, 0, 0),  Read(scan::scan)),
    command("KEYS",             2,  READONLY,             (0, 0, 0),  Read(keys::keys)),
    command("DBSIZE",           1,  READONLY,             (0, 0, 0),  Read(keys::dbsize)),
    command("FLUSHDB",          -1, WRITE,                (0, 0, 0),  Write(write::keys::flushdb)),
    command("INFO",             -1, 0,                    (0, 0, 0),  Handler::Session(Session::Info)),
    command("CONFIG",           -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Config)),
    command("CLIENT",           -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Client)),
    command("COMMAND",          -1, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Command)),
    command("QUIT",             -1, NO_AUTH | PUBSUB,     (0, 0, 0),  Handler::Session(Session::Quit)),
    command("MULTI",            1,  TRANSACTION,          (0, 0, 0),  Handler::Session(Session::Multi)),
    command("EXEC",             1,  TRANSACTION,          (0, 0, 0),  Handler::Session(Session::Exec)),
    command("DISCARD",          1,  TRANSACTION,          (0, 0, 0),  Handler::Session(Session::Discard)),
    command("WATCH",            -2, TRANSACTION,          (1, -1, 1), Handler::Session(Session::Watch)),
    command("UNWATCH",          1,  TRANSACTION | QUEUED, (0, 0, 0),  Handler::Session(Session::Unwatch)),
    command("MMTREE.RANGE",     -3, READONLY,             (0, 0, 0),  Read(random::range)),
    command("SUBSCRIBE",        -2, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::Subscribe)),
    command("UNSUBSCRIBE",      -1, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::Unsubscribe)),
    command("PSUBSCRIBE",       -2, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::PSubscribe)),
    command("PUNSUBSCRIBE",     -1, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::PUnsubscribe)),
    command("PUBLISH",          3,  0,                    (0, 0, 0),  Handler::Session(Session::Publish)),
    command("PUBSUB",           -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Pubsub)),
    command("FUNCTION",         -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Function)),
    command("GETEX",            -2, WRITE,                (1, 1, 1),  Write(write::strings::getex)),
    command("SETRANGE",         4,  WRITE,                (1, 1, 1),  Write(write::strings::setrange)),
    command("SETBIT",           4,  WRITE,                (1, 1, 1),  Write(write::strings::setbit)),
    command("INCRBYFLOAT",      3,  WRITE,                (1, 1, 1),  Write(write::strings::incrbyfloat)),
    command("RENAME",           3,  WRITE,                (1, 2, 1),  Write(write::keys::rename)),
    command("RENAMENX",         3,  WRITE,                (1, 2, 1),  Write(write::keys::renamenx)),
    command("COPY",             -3, WRITE,                (1, 2, 1),  Write(write::keys::copy)),
    command("MOVE",             3,  WRITE,                (1, 1, 1),  Write(write::keys::move_key)),
    command("SWAPDB",           3,  WRITE,                (0, 0, 0),  Write(write::keys::swapdb)),
    command("FLUSHALL",         -1, WRITE,                (0, 0, 0),  Write(write::keys::flushall)),
    command("RANDOMKEY",        1,  READONLY,             (0, 0, 0),  Read(random::random_key)),
    command("HSET",             -4, WRITE,                (1, 1, 1),  Write(write::hashes::hset)),
    command("HMSET",            -4, WRITE,                (1, 1, 1),  Write(write::hashes::hmset)),
    command("HSETNX",           4,  WRITE,                (1, 1, 1),  Write(write::hashes::hsetnx)),
    command("HDEL",             -3, WRITE,                (1, 1, 1),  Write(write::hashes::hdel)),
    command("HINCRBY",          4,  WRITE,                (1, 1, 1),  Write(write::hashes::hincrby)),
    command("HINCRBYFLOAT",     4,  WRITE,                (1, 1, 1),  Write(write::hashes::hincrbyfloat)),
    command("HGET",             3,  READONLY,             (1, 1, 1),  Read(hashes::hget)),
    command("HMGET",            -3, READONLY,             (1, 1, 1),  Read(hashes::hmget)),
    command("HLEN",             2,  READONLY,             (1, 1, 1),  Read(hashes::hlen)),
    command("HEXISTS",          3,  READONLY,             (1, 1, 1),  Read(hashes::hexists)),
    command("HKEYS",            2,  READONLY,             (1, 1, 1),  Read(hashes::hkeys)),
    command("HVALS",            2,  READONLY,             (1, 1, 1),  Read(hashes::hvals)),
    command("HGETALL",          2,  READONLY,             (1, 1, 1),  Read(hashes::hgetall)),
    command("HSTRLEN",          3,  READONLY,             (1, 1, 1),  Read(hashes::hstrlen)),
    command("HSCAN",            -3, READONLY,             (1, 1, 1),  Read(scan::hscan)),
    command("HRANDFIELD",       -2, READONLY,             (1, 1, 1),  Read(random::hrandfield)),
    command("MEMORY",           -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Memory)),
    command("OBJECT",           -2, CONTAINER,            (0, 0, 0),  Handler::Session(Session::Object)),
    command("LPUSH",            -3, WRITE,                (1, 1, 1),  Write(write::lists::lpush)),
    command("RPUSH",            -3, WRITE,                (1, 1, 1),  Write(write::lists::rpush)),
    command("LPUSHX",           -3, WRITE,                (1, 1, 1),  Write(write::lists::lpushx)),
    command("RPUSHX",           -3, WRITE,                (1, 1, 1),  Write(write::lists::rpushx)),
    command("LPOP",             -2, WRITE,                (1, 1, 1),  Write(write::lists::lpop)),
    command("RPOP",             -2, WRITE,                (1, 1, 1),  Write(write::lists::rpop)),
    command("LLEN",             2,  READONLY,             (1, 1, 1),  Read(lists::llen)),
    command("LINDEX",           3,  READONLY,             (1, 1, 1),  Read(lists::lindex)),
    command("LRANGE",           4,  READONLY,             (1, 1, 1),  Read(lists::lrange)),
    command("LPOS",             -3, READONLY,             (1, 1, 1),  Read(lists::lpos)),
    command("LSET",             4,  WRITE,                (1, 1, 1),  Write(write::lists::lset)),
    command("LTRIM",            4,  WRITE,                (1, 1, 1),  Write(write::lists::ltrim)),
    command("LREM",             4,  WRITE,                (1, 1, 1),  Write(write::lists::lrem)),
    command("LINSERT",          5,  WRITE,                (1, 1, 1),  Write(write::lists::linsert)),
    command("LMOVE",            5,  WRITE,                (1, 2, 1),  Write(write::lists::lmove)),
    command("RPOPLPUSH",        3,  WRITE,                (1, 2, 1),  Write(write::lists::rpoplpush)),
    command("LMPOP",            -4, WRITE | NUMKEYS,      (0, 0, 0),  Write(write::lists::lmpop)),
    command("BLPOP",            -3, WRITE | BLOCKING,     (1, -2, 1), Block(blocking::blpop)),
    command("BRPOP",            -3, WRITE | BLOCKING,     (1, -2, 1), Block(blocking::brpop)),
    command("BLMOVE",           6,  WRITE | BLOCKING,     (1, 2, 1),  Block(blocking::blmove)),
    command("BRPOPLPUSH",       4,  WRITE | BLOCKING,     (1, 2, 1),  Block(blocking::brpoplpush)),
    command("BLMPOP",           -5, WRITE | BLOCKING | NUMKEYS, (0, 0, 0), Block(blocking::blmpop)),
    command("ZADD",             -4, WRITE,                (1, 1, 1),  Write(write::sorted_sets::zadd)),
    command("ZINCRBY",          4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zincrby)),
    command("ZREM",             -3, WRITE,                (1, 1, 1),  Write(write::sorted_sets::zrem)),
    command("ZSCORE",           3,  READONLY,             (1, 1, 1),  Read(sorted_sets::zscore)),
    command("ZCARD",            2,  READONLY,             (1, 1, 1),  Read(sorted_sets::zcard)),
    command("ZRANGE",           -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrange)),
    command("ZSCAN",            -3, READONLY,             (1, 1, 1),  Read(scan::zscan)),
    command("ZRANGEBYSCORE",    -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrangebyscore)),
    command("ZREVRANGEBYSCORE", -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrevrangebyscore)),
    command("ZRANGEBYLEX",      -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrangebylex)),
    command("ZREVRANGEBYLEX",   -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrevrangebylex)),
    command("ZREVRANGE",        -4, READONLY,             (1, 1, 1),  Read(sorted_sets::zrevrange)),
    command("ZRANK",            3,  READONLY,             (1, 1, 1),  Read(sorted_sets::zrank)),
    command("ZREVRANK",         3,  READONLY,             (1, 1, 1),  Read(sorted_sets::zrevrank)),
    command("ZCOUNT",           4,  READONLY,             (1, 1, 1),  Read(sorted_sets::zcount)),
    command("ZLEXCOUNT",        4,  READONLY,             (1, 1, 1),  Read(sorted_sets::zlexcount)),
    command("ZMSCORE",          -3, READONLY,             (1, 1, 1),  Read(sorted_sets::zmscore)),
    command("ZRANDMEMBER",      -2, READONLY,             (1, 1, 1),  Read(sorted_sets::zrandmember)),
    command("ZUNION",           -3, READONLY | NUMKEYS,   (0, 0, 0),  Read(sorted_sets::zunion)),
    command("ZINTER",           -3, READONLY | NUMKEYS,   (0, 0, 0),  Read(sorted_sets::zinter)),
    command("ZDIFF",            -3, READONLY | NUMKEYS,   (0, 0, 0),  Read(sorted_sets::zdiff)),
    command("ZINTERCARD",       -3, READONLY | NUMKEYS,   (0, 0, 0),  Read(sorted_sets::zintercard)),
    command("ZPOPMIN",          -2, WRITE,                (1, 1, 1),  Write(write::sorted_sets::zpopmin)),
    command("ZPOPMAX",          -2, WRITE,                (1, 1, 1),  Write(write::sorted_sets::zpopmax)),
    command("ZMPOP",            -4, WRITE | NUMKEYS,      (0, 0, 0),  Write(write::sorted_sets::zmpop)),
    command("BZPOPMIN",         -3, WRITE | BLOCKING,     (1, -2, 1), Block(blocking::bzpopmin)),
    command("BZPOPMAX",         -3, WRITE | BLOCKING,     (1, -2, 1), Block(blocking::bzpopmax)),
    command("BZMPOP",           -5, WRITE | BLOCKING | NUMKEYS, (0, 0, 0), Block(blocking::bzmpop)),
    command("ZREMRANGEBYSCORE", 4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebyscore)),
    command("ZREMRANGEBYRANK",  4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebyrank)),
    command("ZREMRANGEBYLEX",   4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebylex)),
    command("ZRANGESTORE",      -5, WRITE,                (1, 2, 1),  Write(write::sorted_sets::zrangestore)),
    command("ZUNIONSTORE",      -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zunionstore)),
    command("ZINTERSTORE",      -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zinterstore)),
    command("ZDIFFSTORE",       -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zdiffstore)),
    command("SADD",             -3, WRITE,                (1, 1, 1),  Write(write::sets::sadd)),
    command("SREM",             -3, WRITE,                (1, 1, 1),  Write(write::sets::srem)),
    command("SPOP",             -2, WRITE,                (1, 1, 1),  Write(write::sets::spop)),
    command("SMEMBERS",         2,  READONLY,             (1, 1, 1),  Read(sets::smembers)),
    command("SISMEMBER",        3,  READONLY,             (1, 1, 1),  Read(sets::sismember)),
    command("SMISMEMBER",       -3, READONLY,             (1, 1, 1),  Read(sets::smismember)),
    command("SINTER",           -2, READONLY,             (1, -1, 1), Read(sets::sinter)),
    command("SUNION",           -2, READONLY,             (1, -1, 1), Read(sets::sunion)),
    command("SDIFF",            -2, READONLY,             (1, -1, 1), Read(sets::sdiff)),
    command("SINTERCARD",       -3, READONLY | NUMKEYS,   (0, 0, 0),  Read(sets::sintercard)),
    command("SINTERSTORE",      -3, WRITE,                (1, -1, 1), Write(write::sets::sinterstore)),
    command("SUNIONSTORE",      -3, WRITE,                (1, -1, 1), Write(write::sets::sunionstore)),
    command("SDIFFSTORE",       -3, WRITE,                (1, -1, 1), Write(write::sets::sdiffstore)),
    command("SMOVE",            4,  WRITE,                (1, 2, 1),  Write(write::sets::smove)),
    command("SCARD",            2,  READONLY,             (1, 1, 1),  Read(sets::scard)),
    command("SSCAN",            -3, READONLY,             (1, 1, 1),  Read(scan::sscan)),
    command("SRANDMEMBER",      -2, READONLY,             (1, 1, 1),  Read(random::srandmember)),
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
                Handler::Write(_) => assert!(c.has(WRITE) && !c.has(BLOCKING)),
                Handler::Block(_) => assert!(c.has(WRITE) && c.has(BLOCKING)),
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
