//! The command table: every command the server knows, once, with what the rest of the server
//! asks of it (as Redis' `redisCommandTable` and kvrocks' `MakeCmdAttr`): its name, its arity
//! (Redis' convention: n exactly, -n at least n, the name counted), its flags, where its keys
//! are, and its handler. A command is resolved once per call (`resolve`); authentication, pub/sub
//! mode, MULTI, CLIENT REPLY, the rate limiter, COMMAND INFO, INFO commandstats, the writer's
//! key checks and EXEC's routing read these columns instead of matching names.
//!
//! Subcommands are entries too, as in Redis 7: a container (CLIENT, CONFIG, COMMAND, PUBSUB,
//! MEMORY, OBJECT, FUNCTION, SCRIPT) lists its own in `subcommands`, each a `Command` named
//! `CONTAINER|SUB` with its arity (the container and the subcommand counted), flags, keys and
//! handler. `resolve` turns `CLIENT GETNAME` into the `CLIENT|GETNAME` entry, so the arity check,
//! the "unknown subcommand" reply, the flags (SETUP for CLIENT SETNAME, ALLOW_BUSY for SCRIPT
//! KILL) and the handler come from the table, once per request: no handler dispatches on a
//! subcommand's name.

use super::{
    bits, blocking, dump, geo, hashes, keys, lists, random, scan, scripting, sets, sort,
    sorted_sets, streams, strings, write,
};
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
/// Has subcommands, listed in `subcommands`.
pub const CONTAINER: u32 = 1 << 8;
/// Connection setup: not charged to the connection's own rate limiter.
pub const SETUP: u32 = 1 << 9;

/// Its keys are counted by an argument (`numkeys key…`, as ZUNION, ZMPOP, SINTERCARD): the
/// key specification names the fixed keys before it (a destination), or none; the count is the
/// argument after them (Redis' `movablekeys`).
pub const NUMKEYS: u32 = 1 << 10;

/// Its keys follow a `STREAMS` argument, the first half of what comes after it (XREAD,
/// XREADGROUP: Redis' keyword key specification; COMMAND INFO's `movablekeys`).
pub const STREAMS: u32 = 1 << 22;
/// Its keys are found by a rule of its own beyond the key specification (COMMAND INFO's
/// `movablekeys`; `NUMKEYS` and `STORE_KEY` commands are too): SORT, SORT_RO.
pub const MOVABLE: u32 = 1 << 20;
/// The argument after its last `STORE` is a key too (SORT; as Redis' `sortGetKeys`, which steps
/// over the arguments of LIMIT, GET and BY).
pub const STORE_KEY: u32 = 1 << 21;
/// The argument after its last `STORE` or `STOREDIST` (from argument 5 on) is a key too
/// (GEORADIUS, GEORADIUSBYMEMBER; as Redis' `georadiusGetKeys`).
pub const GEO_STORE_KEY: u32 = 1 << 14;
/// Refused inside a Lua script (`redis.call`): the scripting commands themselves.
pub const NOSCRIPT: u32 = 1 << 11;
/// Served while a script runs past its time limit (as Redis' `allow-busy`: SCRIPT KILL,
/// FUNCTION KILL and STATS among the scripting commands): every other command gets BUSY.
pub const ALLOW_BUSY: u32 = 1 << 12;
/// Administrative (Redis' `admin`): not shown to MONITOR (CONFIG, SLOWLOG, MONITOR, SAVE,
/// SHUTDOWN, CLIENT KILL).
pub const ADMIN: u32 = 1 << 15;
/// A blocking command (BLPOP, BLMOVE, BZPOPMIN, …; its handler is `Block`): outside MULTI the
/// connection hands it to the writer as a `Job::Block` (it may wait there); inside MULTI it never
/// blocks. With `NUMKEYS` (BLMPOP, BZMPOP) the count follows the timeout (argument 2).
pub const BLOCKING: u32 = 1 << 13;
/// With `NUMKEYS`: a count of 0 is allowed (Redis' `no-mandatory-keys`: EVAL and FCALL and their
/// kin), so COMMAND GETKEYS answers an empty list instead of an error.
pub const NO_MANDATORY_KEYS: u32 = 1 << 23;

/// Looks at its keys without counting as an access to them (Redis' `LOOKUP_NOTOUCH`: TYPE, TTL,
/// EXISTS, OBJECT, …): OBJECT IDLETIME does not restart (`access`).
pub const NO_TOUCH: u32 = 1 << 16;
/// Deletes its keys (DEL, UNLINK, GETDEL): their access times go (`access`).
pub const FORGETS: u32 = 1 << 17;

/// A keyspace read: one implementation over a snapshot and over the write transaction. Each
/// command has its own (the arguments after the name; the table has checked the arity), so
/// none looks at the name again.
pub type ReadFn = fn(&mut Ks<'_>, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// A write: applied in the group-commit writer's transaction.
pub type WriteFn = fn(&mut Tx<'_>, &[Vec<u8>]) -> mmtree::Result<Reply>;

/// A blocking command's try in the group-commit writer's transaction: answered, or what the
/// client would wait for (`commands::blocking`).
pub type BlockFn = fn(&mut Tx<'_>, &[Vec<u8>]) -> mmtree::Result<blocking::Attempt>;

/// The session commands and subcommands: each runs on the connection (`conn`), which dispatches
/// on this.
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
    ConfigGet,
    ConfigSet,
    ConfigResetstat,
    /// CONFIG REWRITE: there is no configuration file (Redis' answer without one).
    ConfigRewrite,
    /// OBJECT IDLETIME: the connection reads the access times (`access`).
    ObjectIdletime,
    ClientId,
    ClientGetname,
    ClientSetname,
    ClientSetinfo,
    ClientInfo,
    ClientList,
    ClientKill,
    ClientReply,
    ClientUnblock,
    ClientTracking,
    ClientCaching,
    ClientGetredir,
    ClientTrackinginfo,
    Monitor,
    SlowlogGet,
    SlowlogLen,
    SlowlogReset,
    /// COMMAND alone: every command's entry.
    Command,
    CommandCount,
    CommandInfo,
    CommandList,
    CommandDocs,
    CommandGetkeys,
    Quit,
    Multi,
    Exec,
    Discard,
    Watch,
    Publish,
    PubsubChannels,
    PubsubNumsub,
    PubsubNumpat,
    /// A container's HELP: its subcommands (`conn` holds the text).
    Help,
    Unwatch,
    // Scripting's management subcommands (`Scripts`' methods of the same names).
    ScriptLoad,
    ScriptExists,
    ScriptFlush,
    ScriptKill,
    /// FUNCTION LOAD, DELETE, FLUSH and RESTORE change the libraries: `conn` saves them before
    /// it replies.
    FunctionLoad,
    FunctionList,
    FunctionDelete,
    FunctionFlush,
    FunctionKill,
    FunctionStats,
    FunctionDump,
    FunctionRestore,
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
    /// A container that is no command by itself: its arity (-2) lets no request run it without
    /// a subcommand, which `resolve` finds in its list.
    Container,
}

/// One command or subcommand.
pub struct Command {
    /// Upper case; a subcommand's is its full name, `CONTAINER|SUB` (Redis' `fullname`).
    pub name: &'static str,
    pub arity: i32,
    pub flags: u32,
    /// First key, last key (negative: from the end), step; (0, 0, 0) without keys.
    pub keys: (i32, i32, i32),
    pub handler: Handler,
    /// A container's subcommands (empty for any other command).
    pub subcommands: &'static [Command],
    /// True for a subcommand (its arguments start after the subcommand's name).
    pub is_subcommand: bool,
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

    /// The arguments the handler takes: those after the name (and the subcommand's name).
    pub fn own_args<'a>(&self, args: &'a [Vec<u8>]) -> &'a [Vec<u8>] {
        let from = if self.is_subcommand { 2 } else { 1 };
        args.get(from..).unwrap_or_default()
    }

    /// The reply to a request whose number of arguments does not fit the arity, in Redis' words
    /// (`'client|setname'` for a subcommand).
    pub fn wrong_args(&self) -> String {
        wrong_args(self.name)
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
            let (at, n) = self.numkeys(args);
            keys.extend(args.iter().skip(at + 1).take(n.unwrap_or(0)));
        }
        if let Some(streams) = self.streams(args) {
            keys.extend(streams);
        }
        if self.has(STORE_KEY) {
            let mut store = None;
            let mut i = 2;
            while i < args.len() {
                let a = &args[i];
                if a.eq_ignore_ascii_case(b"LIMIT") {
                    i += 2;
                } else if a.eq_ignore_ascii_case(b"GET") || a.eq_ignore_ascii_case(b"BY") {
                    i += 1;
                } else if a.eq_ignore_ascii_case(b"STORE") && i + 1 < args.len() {
                    store = Some(&args[i + 1]);
                }
                i += 1;
            }
            keys.extend(store);
        }
        if self.has(GEO_STORE_KEY) {
            let mut store = None;
            let mut i = 5;
            while i + 1 < args.len() {
                let a = &args[i];
                if a.eq_ignore_ascii_case(b"STORE") || a.eq_ignore_ascii_case(b"STOREDIST") {
                    store = Some(&args[i + 1]);
                    i += 1;
                }
                i += 1;
            }
            keys.extend(store);
        }
        keys.into_iter()
    }

    /// A `NUMKEYS` command's count: where it is in `args`, and its value if it is a number.
    /// Where the key count is and its value (`None`: not a number).
    pub fn numkeys(&self, args: &[Vec<u8>]) -> (usize, Option<usize>) {
        let (first, last, _) = self.keys;
        // (BLMPOP and BZMPOP: after the timeout.)
        let at = match first {
            0 if self.has(BLOCKING) => 2,
            0 => 1,
            _ => last as usize + 1,
        };
        let n = args
            .get(at)
            .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
        (at, n)
    }

    /// A `STREAMS` command's keys: the first half of the arguments after the first `STREAMS`
    /// (None: not such a command, or no such argument).
    fn streams<'a>(&self, args: &'a [Vec<u8>]) -> Option<&'a [Vec<u8>]> {
        if !self.has(STREAMS) {
            return None;
        }
        let at = args
            .iter()
            .skip(1)
            .position(|a| a.eq_ignore_ascii_case(b"STREAMS"))?
            + 2;
        let rest = args.get(at..)?;
        Some(&rest[..rest.len() / 2])
    }

    /// True if a `NUMKEYS` command's count names at least one key and no more than follow it
    /// (what COMMAND GETKEYS asks, as Redis' key extraction); true for any other command.
    pub fn numkeys_fit(&self, args: &[Vec<u8>]) -> bool {
        if self.has(STREAMS) {
            let at = args
                .iter()
                .skip(1)
                .position(|a| a.eq_ignore_ascii_case(b"STREAMS"));
            return at.is_some_and(|at| {
                let rest = args.len() - (at + 2);
                rest >= 2
            });
        }
        if !self.has(NUMKEYS) {
            return true;
        }
        let (at, n) = self.numkeys(args);
        n.is_some_and(|n| n >= 1 && n <= args.len().saturating_sub(at + 1))
    }

    /// True if the command has keys (COMMAND GETKEYS refuses one without).
    pub fn has_keys(&self) -> bool {
        self.keys != (0, 0, 0) || self.has(NUMKEYS) || self.has(STREAMS)
    }

    /// The index in `all()` (INFO commandstats counts by it).
    pub fn index(&self) -> usize {
        POSITION[&(self as *const Command as usize)]
    }
}

/// "Wrong number of arguments" for the command or subcommand named `name`, as Redis 7.0 words
/// it (the full name in lower case; `store::wrong_args` holds the words).
pub fn wrong_args(name: &str) -> String {
    match crate::store::wrong_args(name) {
        Reply::Error(e) => e,
        _ => unreachable!("an error reply"),
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
        subcommands: &[],
        is_subcommand: false,
    }
}

/// A container with its subcommands (`handler` runs it alone, if its arity allows that).
const fn container(
    name: &'static str,
    arity: i32,
    handler: Handler,
    subcommands: &'static [Command],
) -> Command {
    Command {
        name,
        arity,
        flags: CONTAINER,
        keys: (0, 0, 0),
        handler,
        subcommands,
        is_subcommand: false,
    }
}

/// A subcommand: `name` is `CONTAINER|SUB`; the arity counts the container and the subcommand.
const fn sub(
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
        subcommands: &[],
        is_subcommand: true,
    }
}

use Handler::Session as S;
const NO_KEYS: (i32, i32, i32) = (0, 0, 0);

/// CLIENT's subcommands (SETNAME and SETINFO are what client libraries send at connect).
#[rustfmt::skip]
static CLIENT_SUBCOMMANDS: &[Command] = &[
    sub("CLIENT|ID",       2,  0,     NO_KEYS, S(Session::ClientId)),
    sub("CLIENT|GETNAME",  2,  0,     NO_KEYS, S(Session::ClientGetname)),
    sub("CLIENT|SETNAME",  3,  SETUP, NO_KEYS, S(Session::ClientSetname)),
    sub("CLIENT|SETINFO",  4,  SETUP, NO_KEYS, S(Session::ClientSetinfo)),
    sub("CLIENT|INFO",     2,  0,     NO_KEYS, S(Session::ClientInfo)),
    sub("CLIENT|LIST",     -2, 0,     NO_KEYS, S(Session::ClientList)),
    sub("CLIENT|KILL",     -3, ADMIN, NO_KEYS, S(Session::ClientKill)),
    sub("CLIENT|REPLY",    3,  0,     NO_KEYS, S(Session::ClientReply)),
    sub("CLIENT|UNBLOCK",  -3, 0,     NO_KEYS, S(Session::ClientUnblock)),
    sub("CLIENT|TRACKING", -3, 0,     NO_KEYS, S(Session::ClientTracking)),
    sub("CLIENT|CACHING",  3,  0,     NO_KEYS, S(Session::ClientCaching)),
    sub("CLIENT|GETREDIR", 2,  0,     NO_KEYS, S(Session::ClientGetredir)),
    sub("CLIENT|TRACKINGINFO", 2, 0,  NO_KEYS, S(Session::ClientTrackinginfo)),
    sub("CLIENT|HELP",     2,  0,     NO_KEYS, S(Session::Help)),
];

/// SLOWLOG's subcommands (Redis 7.0's arities).
#[rustfmt::skip]
static SLOWLOG_SUBCOMMANDS: &[Command] = &[
    sub("SLOWLOG|GET",     -2, ADMIN, NO_KEYS, S(Session::SlowlogGet)),
    sub("SLOWLOG|LEN",     2,  ADMIN, NO_KEYS, S(Session::SlowlogLen)),
    sub("SLOWLOG|RESET",   2,  ADMIN, NO_KEYS, S(Session::SlowlogReset)),
    sub("SLOWLOG|HELP",    2,  0,     NO_KEYS, S(Session::Help)),
];

#[rustfmt::skip]
static CONFIG_SUBCOMMANDS: &[Command] = &[
    sub("CONFIG|GET",      -3, ADMIN, NO_KEYS, S(Session::ConfigGet)),
    sub("CONFIG|SET",      -4, ADMIN, NO_KEYS, S(Session::ConfigSet)),
    sub("CONFIG|RESETSTAT", 2, ADMIN, NO_KEYS, S(Session::ConfigResetstat)),
    sub("CONFIG|REWRITE",  2,  ADMIN, NO_KEYS, S(Session::ConfigRewrite)),
    sub("CONFIG|HELP",     2,  0,     NO_KEYS, S(Session::Help)),
];

#[rustfmt::skip]
static COMMAND_SUBCOMMANDS: &[Command] = &[
    sub("COMMAND|COUNT",   2,  0,     NO_KEYS, S(Session::CommandCount)),
    sub("COMMAND|INFO",    -2, 0,     NO_KEYS, S(Session::CommandInfo)),
    sub("COMMAND|LIST",    -2, 0,     NO_KEYS, S(Session::CommandList)),
    sub("COMMAND|DOCS",    -2, 0,     NO_KEYS, S(Session::CommandDocs)),
    sub("COMMAND|GETKEYS", -4, 0,     NO_KEYS, S(Session::CommandGetkeys)),
    sub("COMMAND|HELP",    2,  0,     NO_KEYS, S(Session::Help)),
];

#[rustfmt::skip]
static PUBSUB_SUBCOMMANDS: &[Command] = &[
    sub("PUBSUB|CHANNELS", -2, 0,     NO_KEYS, S(Session::PubsubChannels)),
    sub("PUBSUB|NUMSUB",   -2, 0,     NO_KEYS, S(Session::PubsubNumsub)),
    sub("PUBSUB|NUMPAT",   2,  0,     NO_KEYS, S(Session::PubsubNumpat)),
    sub("PUBSUB|HELP",     2,  0,     NO_KEYS, S(Session::Help)),
];

#[rustfmt::skip]
static MEMORY_SUBCOMMANDS: &[Command] = &[
    sub("MEMORY|USAGE",    -3, READONLY | NO_TOUCH, (2, 2, 1), Read(random::memory_usage)),
    sub("MEMORY|HELP",     2,  0,        NO_KEYS,   S(Session::Help)),
];

#[rustfmt::skip]
static OBJECT_SUBCOMMANDS: &[Command] = &[
    sub("OBJECT|REFCOUNT", 3,  READONLY | NO_TOUCH, (2, 2, 1), Read(random::refcount)),
    sub("OBJECT|ENCODING", 3,  READONLY | NO_TOUCH, (2, 2, 1), Read(dump::object_encoding)),
    sub("OBJECT|IDLETIME", 3,  READONLY | NO_TOUCH, (2, 2, 1), S(Session::ObjectIdletime)),
    sub("OBJECT|FREQ",     3,  READONLY | NO_TOUCH, (2, 2, 1), Read(dump::object_freq)),
    sub("OBJECT|HELP",     2,  0,        NO_KEYS,   S(Session::Help)),
];

/// XGROUP's subcommands (Redis 7.0's arities; the key is argument 2).
#[rustfmt::skip]
static XGROUP_SUBCOMMANDS: &[Command] = &[
    sub("XGROUP|CREATE",         -5, WRITE,    (2, 2, 1), Write(write::streams::xgroup_create)),
    sub("XGROUP|SETID",          -5, WRITE,    (2, 2, 1), Write(write::streams::xgroup_setid)),
    sub("XGROUP|DESTROY",        4,  WRITE,    (2, 2, 1), Write(write::streams::xgroup_destroy)),
    sub("XGROUP|CREATECONSUMER", 5,  WRITE,    (2, 2, 1), Write(write::streams::xgroup_createconsumer)),
    sub("XGROUP|DELCONSUMER",    5,  WRITE,    (2, 2, 1), Write(write::streams::xgroup_delconsumer)),
    sub("XGROUP|HELP",           2,  0,        NO_KEYS,   S(Session::Help)),
];

#[rustfmt::skip]
static XINFO_SUBCOMMANDS: &[Command] = &[
    sub("XINFO|STREAM",          -3, READONLY, (2, 2, 1), Read(streams::xinfo_stream)),
    sub("XINFO|GROUPS",          3,  READONLY, (2, 2, 1), Read(streams::xinfo_groups)),
    sub("XINFO|CONSUMERS",       4,  READONLY, (2, 2, 1), Read(streams::xinfo_consumers)),
    sub("XINFO|HELP",            2,  0,        NO_KEYS,   S(Session::Help)),
];

// The scripting containers, with Redis 7.0's arities and flags (none refused inside MULTI; its
// `write` and `denyoom` do not apply: these change no key, and run on the event loop).
#[rustfmt::skip]
static SCRIPT_SUBCOMMANDS: &[Command] = &[
    sub("SCRIPT|LOAD",      3,  NOSCRIPT,              NO_KEYS, S(Session::ScriptLoad)),
    sub("SCRIPT|EXISTS",    -3, NOSCRIPT,              NO_KEYS, S(Session::ScriptExists)),
    sub("SCRIPT|FLUSH",     -2, NOSCRIPT,              NO_KEYS, S(Session::ScriptFlush)),
    sub("SCRIPT|KILL",      2,  NOSCRIPT | ALLOW_BUSY, NO_KEYS, S(Session::ScriptKill)),
    sub("SCRIPT|HELP",      2,  NOSCRIPT,              NO_KEYS, S(Session::Help)),
];

#[rustfmt::skip]
static FUNCTION_SUBCOMMANDS: &[Command] = &[
    sub("FUNCTION|LOAD",    -3, NOSCRIPT,              NO_KEYS, S(Session::FunctionLoad)),
    sub("FUNCTION|LIST",    -2, NOSCRIPT,              NO_KEYS, S(Session::FunctionList)),
    sub("FUNCTION|DELETE",  3,  NOSCRIPT,              NO_KEYS, S(Session::FunctionDelete)),
    sub("FUNCTION|FLUSH",   -2, NOSCRIPT,              NO_KEYS, S(Session::FunctionFlush)),
    sub("FUNCTION|KILL",    2,  NOSCRIPT | ALLOW_BUSY, NO_KEYS, S(Session::FunctionKill)),
    sub("FUNCTION|STATS",   2,  NOSCRIPT | ALLOW_BUSY, NO_KEYS, S(Session::FunctionStats)),
    sub("FUNCTION|DUMP",    2,  NOSCRIPT,              NO_KEYS, S(Session::FunctionDump)),
    sub("FUNCTION|RESTORE", -3, NOSCRIPT,              NO_KEYS, S(Session::FunctionRestore)),
    sub("FUNCTION|HELP",    2,  NOSCRIPT,              NO_KEYS, S(Session::Help)),
];

/// Every command, in COMMAND's order.
#[rustfmt::skip]
pub static COMMANDS: &[Command] = &[
    //      name                ar  flags                 keys        handler (ar: arity)
    command("PING",             -1, PUBSUB,               (0, 0, 0),  Handler::Session(Session::Ping)),
    command("ECHO",             2,  0,                    (0, 0, 0),  Handler::Session(Session::Echo)),
    command("AUTH",             -2, NO_AUTH | SETUP | ALLOW_BUSY, (0, 0, 0), Handler::Session(Session::Auth)),
    command("HELLO",            -1, NO_AUTH | SETUP | ALLOW_BUSY, (0, 0, 0), Handler::Session(Session::Hello)),
    command("SELECT",           2,  0,                    (0, 0, 0),  Handler::Session(Session::Select)),
    command("GET",              2,  READONLY,             (1, 1, 1),  Read(strings::get)),
    command("SET",              -3, WRITE,                (1, 1, 1),  Write(write::strings::set)),
    command("GETDEL",           2,  WRITE | FORGETS,      (1, 1, 1),  Write(write::strings::getdel)),
    command("SETNX",            3,  WRITE,                (1, 1, 1),  Write(write::strings::setnx)),
    command("SETEX",            4,  WRITE,                (1, 1, 1),  Write(write::strings::setex)),
    command("PSETEX",           4,  WRITE,                (1, 1, 1),  Write(write::strings::psetex)),
    command("GETSET",           3,  WRITE,                (1, 1, 1),  Write(write::strings::getset)),
    command("TYPE",             2,  READONLY | NO_TOUCH,  (1, 1, 1),  Read(keys::type_of)),
    command("EXPIRETIME",       2,  READONLY | NO_TOUCH,  (1, 1, 1),  Read(keys::expiretime)),
    command("PEXPIRETIME",      2,  READONLY | NO_TOUCH,  (1, 1, 1),  Read(keys::pexpiretime)),
    command("TIME",             1,  0,                    (0, 0, 0),  Handler::Session(Session::Time)),
    command("DEL",              -2, WRITE | FORGETS,      (1, -1, 1), Write(write::keys::del)),
    command("UNLINK",           -2, WRITE | FORGETS,      (1, -1, 1), Write(write::keys::del)   ),
    command("EXISTS",           -2, READONLY | NO_TOUCH,  (1, -1, 1), Read(keys::exists)),
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
    command("SAVE",             1,  NO_MULTI | ADMIN,     (0, 0, 0),  Handler::Session(Session::Save)),
    command("SHUTDOWN",         -1, NO_MULTI | ALLOW_BUSY | ADMIN, (0, 0, 0), Handler::Session(Session::Shutdown)),
    command("MONITOR",          1,  ADMIN,                (0, 0, 0),  Handler::Session(Session::Monitor)),
    container("SLOWLOG",        -2,                                   Handler::Container, SLOWLOG_SUBCOMMANDS),
    command("TTL",              2,  READONLY | NO_TOUCH,  (1, 1, 1),  Read(keys::ttl)),
    command("PTTL",             2,  READONLY | NO_TOUCH,  (1, 1, 1),  Read(keys::pttl)),
    command("EXPIRE",           -3, WRITE,                (1, 1, 1),  Write(write::keys::expire)),
    command("PEXPIRE",          -3, WRITE,                (1, 1, 1),  Write(write::keys::pexpire)),
    command("EXPIREAT",         -3, WRITE,                (1, 1, 1),  Write(write::keys::expireat)),
    command("PEXPIREAT",        -3, WRITE,                (1, 1, 1),  Write(write::keys::pexpireat)),
    command("PERSIST",          2,  WRITE,                (1, 1, 1),  Write(write::keys::persist)),
    command("SCAN",             -2, READONLY,             (0, 0, 0),  Read(scan::scan)),
    command("KEYS",             2,  READONLY,             (0, 0, 0),  Read(keys::keys)),
    command("DBSIZE",           1,  READONLY,             (0, 0, 0),  Read(keys::dbsize)),
    command("CLUSTER",          -2, READONLY | NOSCRIPT,  (0, 0, 0),  Read(super::cluster::cluster)),
    command("FLUSHDB",          -1, WRITE,                (0, 0, 0),  Write(write::keys::flushdb)),
    command("INFO",             -1, 0,                    (0, 0, 0),  Handler::Session(Session::Info)),
    container("CONFIG",         -2,                                   Handler::Container, CONFIG_SUBCOMMANDS),
    container("CLIENT",         -2,                                   Handler::Container, CLIENT_SUBCOMMANDS),
    container("COMMAND",        -1,                                   S(Session::Command), COMMAND_SUBCOMMANDS),
    command("QUIT",             -1, NO_AUTH | PUBSUB | ALLOW_BUSY, (0, 0, 0), Handler::Session(Session::Quit)),
    command("MULTI",            1,  TRANSACTION | ALLOW_BUSY, (0, 0, 0), Handler::Session(Session::Multi)),
    command("EXEC",             1,  TRANSACTION,          (0, 0, 0),  Handler::Session(Session::Exec)),
    command("DISCARD",          1,  TRANSACTION | ALLOW_BUSY, (0, 0, 0), Handler::Session(Session::Discard)),
    command("WATCH",            -2, TRANSACTION,          (1, -1, 1), Handler::Session(Session::Watch)),
    command("UNWATCH",          1,  TRANSACTION | QUEUED, (0, 0, 0),  Handler::Session(Session::Unwatch)),
    command("MMTREE.RANGE",     -3, READONLY,             (0, 0, 0),  Read(random::range)),
    command("SUBSCRIBE",        -2, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::Subscribe)),
    command("UNSUBSCRIBE",      -1, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::Unsubscribe)),
    command("PSUBSCRIBE",       -2, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::PSubscribe)),
    command("PUNSUBSCRIBE",     -1, PUBSUB | PUSHES,      (0, 0, 0),  Handler::Session(Session::PUnsubscribe)),
    command("PUBLISH",          3,  0,                    (0, 0, 0),  Handler::Session(Session::Publish)),
    container("PUBSUB",         -2,                                   Handler::Container, PUBSUB_SUBCOMMANDS),
    container("FUNCTION",       -2,                                   Handler::Container, FUNCTION_SUBCOMMANDS),
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
    container("MEMORY",         -2,                                   Handler::Container, MEMORY_SUBCOMMANDS),
    container("OBJECT",         -2,                                   Handler::Container, OBJECT_SUBCOMMANDS),
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
    command("BLPOP",            -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), Block(blocking::blpop)),
    command("BRPOP",            -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), Block(blocking::brpop)),
    command("BLMOVE",           6,  WRITE | BLOCKING | NOSCRIPT, (1, 2, 1),  Block(blocking::blmove)),
    command("BRPOPLPUSH",       4,  WRITE | BLOCKING | NOSCRIPT, (1, 2, 1),  Block(blocking::brpoplpush)),
    command("BLMPOP",           -5, WRITE | BLOCKING | NOSCRIPT | NUMKEYS, (0, 0, 0), Block(blocking::blmpop)),
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
    command("BZPOPMIN",         -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), Block(blocking::bzpopmin)),
    command("BZPOPMAX",         -3, WRITE | BLOCKING | NOSCRIPT, (1, -2, 1), Block(blocking::bzpopmax)),
    command("BZMPOP",           -5, WRITE | BLOCKING | NOSCRIPT | NUMKEYS, (0, 0, 0), Block(blocking::bzmpop)),
    command("ZREMRANGEBYSCORE", 4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebyscore)),
    command("ZREMRANGEBYRANK",  4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebyrank)),
    command("ZREMRANGEBYLEX",   4,  WRITE,                (1, 1, 1),  Write(write::sorted_sets::zremrangebylex)),
    command("ZRANGESTORE",      -5, WRITE,                (1, 2, 1),  Write(write::sorted_sets::zrangestore)),
    command("ZUNIONSTORE",      -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zunionstore)),
    command("ZINTERSTORE",      -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zinterstore)),
    command("ZDIFFSTORE",       -4, WRITE | NUMKEYS,      (1, 1, 1),  Write(write::sorted_sets::zdiffstore)),
    // GEO (`geo`, `write::geo`): a geo set is a sorted set of geohash scores. GEORADIUS and
    // GEORADIUSBYMEMBER are writes, as in Redis (they may STORE); their _RO forms are reads.
    command("GEOADD",           -5, WRITE,                (1, 1, 1),  Write(write::geo::geoadd)),
    command("GEODIST",          -4, READONLY,             (1, 1, 1),  Read(geo::geodist)),
    command("GEOHASH",          -2, READONLY,             (1, 1, 1),  Read(geo::geohash_strings)),
    command("GEOPOS",           -2, READONLY,             (1, 1, 1),  Read(geo::geopos)),
    command("GEORADIUS",        -6, WRITE | MOVABLE | GEO_STORE_KEY, (1, 1, 1), Write(write::geo::georadius)),
    command("GEORADIUSBYMEMBER", -5, WRITE | MOVABLE | GEO_STORE_KEY, (1, 1, 1), Write(write::geo::georadiusbymember)),
    command("GEORADIUS_RO",     -6, READONLY,             (1, 1, 1),  Read(geo::georadius_ro)),
    command("GEORADIUSBYMEMBER_RO", -5, READONLY,         (1, 1, 1),  Read(geo::georadiusbymember_ro)),
    command("GEOSEARCH",        -7, READONLY,             (1, 1, 1),  Read(geo::geosearch)),
    command("GEOSEARCHSTORE",   -8, WRITE,                (1, 2, 1),  Write(write::geo::geosearchstore)),
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
    command("XADD",             -5, WRITE,                (1, 1, 1),  Write(write::streams::xadd)),
    command("XLEN",             2,  READONLY,             (1, 1, 1),  Read(streams::xlen)),
    command("XRANGE",           -4, READONLY,             (1, 1, 1),  Read(streams::xrange)),
    command("XREVRANGE",        -4, READONLY,             (1, 1, 1),  Read(streams::xrevrange)),
    command("XDEL",             -3, WRITE,                (1, 1, 1),  Write(write::streams::xdel)),
    command("XTRIM",            -4, WRITE,                (1, 1, 1),  Write(write::streams::xtrim)),
    command("XSETID",           -3, WRITE,                (1, 1, 1),  Write(write::streams::xsetid)),
    // XREAD's and XREADGROUP's keys follow STREAMS (Redis' keyword key specification). Both
    // run in the writer, where a BLOCK with nothing to read holds the client (`blocking`).
    command("XREAD",            -4, WRITE | BLOCKING | STREAMS | MOVABLE, (0, 0, 0), Block(write::streams::xread_block)),
    command("XREADGROUP",       -7, WRITE | BLOCKING | STREAMS | MOVABLE, (0, 0, 0), Block(write::streams::xreadgroup_block)),
    command("XACK",             -4, WRITE,                (1, 1, 1),  Write(write::streams::xack)),
    command("XPENDING",         -3, READONLY,             (1, 1, 1),  Read(streams::xpending)),
    command("XCLAIM",           -6, WRITE,                (1, 1, 1),  Write(write::streams::xclaim)),
    command("XAUTOCLAIM",       -6, WRITE,                (1, 1, 1),  Write(write::streams::xautoclaim)),
    container("XGROUP",         -2,                                   Handler::Container, XGROUP_SUBCOMMANDS),
    container("XINFO",          -2,                                   Handler::Container, XINFO_SUBCOMMANDS),
    command("BITCOUNT",         -2, READONLY,             (1, 1, 1),  Read(bits::bitcount)),
    command("BITPOS",           -3, READONLY,             (1, 1, 1),  Read(bits::bitpos)),
    command("BITOP",            -4, WRITE,                (2, -1, 1), Write(write::bits::bitop)),
    command("BITFIELD",         -2, WRITE,                (1, 1, 1),  Write(write::bits::bitfield)),
    command("BITFIELD_RO",      -2, READONLY,             (1, 1, 1),  Read(bits::bitfield_ro)),
    command("PFADD",            -2, WRITE,                (1, 1, 1),  Write(write::hll::pfadd)),
    command("PFCOUNT",          -2, WRITE,                (1, -1, 1), Write(write::hll::pfcount)),
    command("PFMERGE",          -2, WRITE,                (1, -1, 1), Write(write::hll::pfmerge)),
    command("TOUCH",            -2, READONLY,             (1, -1, 1), Read(dump::touch)),
    command("DUMP",             2,  READONLY,             (1, 1, 1),  Read(dump::dump)),
    command("RESTORE",          -4, WRITE,                (1, 1, 1),  Write(write::dump::restore)),
    command("SORT",             -2, WRITE | MOVABLE | STORE_KEY, (1, 1, 1), Write(write::dump::sort)),
    command("SORT_RO",          -2, READONLY | MOVABLE,   (1, 1, 1),  Read(sort::sort_ro)),
    // Scripting (`scripting`): EVAL and FCALL run in the writer's transaction, so they are
    // writes here whatever the script does; their keys follow `numkeys`, the third argument
    // (a key specification naming no fixed key, whose end is at the `numkeys` argument).
    command("EVAL",             -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::eval)),
    command("EVALSHA",          -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::evalsha)),
    command("EVAL_RO",          -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::eval_ro)),
    command("EVALSHA_RO",       -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::evalsha_ro)),
    command("FCALL",            -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::fcall)),
    command("FCALL_RO",         -3, WRITE | NUMKEYS | NOSCRIPT | NO_MANDATORY_KEYS, (2, 1, 1), Write(scripting::fcall_ro)),
    container("SCRIPT",         -2,                                   Handler::Container, SCRIPT_SUBCOMMANDS),
];

/// Every command, each container followed by its subcommands (COMMAND LIST's order; INFO
/// commandstats counts by the position here).
static ALL: LazyLock<Vec<&'static Command>> = LazyLock::new(|| {
    COMMANDS
        .iter()
        .flat_map(|c| std::iter::once(c).chain(c.subcommands))
        .collect()
});

/// An entry's address → its position in `ALL`.
static POSITION: LazyLock<FxHashMap<usize, usize>> = LazyLock::new(|| {
    ALL.iter()
        .enumerate()
        .map(|(i, c)| (*c as *const Command as usize, i))
        .collect()
});

/// Full name (upper case) → entry, subcommands included.
static INDEX: LazyLock<FxHashMap<&'static str, &'static Command>> =
    LazyLock::new(|| ALL.iter().map(|c| (c.name, *c)).collect());

/// Every command and subcommand (see `ALL`).
pub fn all() -> &'static [&'static Command] {
    &ALL
}

/// The command or subcommand whose full name is `raw` (any case: `get`, `client|getname`), as
/// COMMAND INFO names them; without allocating.
pub fn lookup(raw: &[u8]) -> Option<&'static Command> {
    let mut upper = [0u8; 64];
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

/// What a request names.
#[derive(Clone, Copy)]
pub enum Resolved {
    /// A command, or a container's subcommand.
    Found(&'static Command),
    /// No command of that name.
    Unknown,
    /// A container whose list has no such subcommand.
    UnknownSubcommand,
}

/// The entry a request (`args`, the name first) runs, as Redis 7's `lookupCommand`: a
/// container's subcommand when it has a list and a subcommand is given; the container itself
/// when it comes alone (its arity then decides).
pub fn resolve(args: &[Vec<u8>]) -> Resolved {
    let Some(cmd) = args.first().and_then(|name| lookup(name)) else {
        return Resolved::Unknown;
    };
    if cmd.is_subcommand {
        // `client|getname` names a subcommand only for COMMAND INFO, never as a request.
        return Resolved::Unknown;
    }
    let Some(sub) = args.get(1).filter(|_| !cmd.subcommands.is_empty()) else {
        return Resolved::Found(cmd);
    };
    let mut full = Vec::with_capacity(cmd.name.len() + 1 + sub.len());
    full.extend_from_slice(cmd.name.as_bytes());
    full.push(b'|');
    full.extend_from_slice(sub);
    match lookup(&full) {
        Some(found) if !sub.contains(&b'|') => Resolved::Found(found),
        _ => Resolved::UnknownSubcommand,
    }
}

/// Redis 7's reply to an unknown subcommand of a container (`args`: the name first, then the
/// subcommand as given).
pub fn unknown_subcommand(args: &[Vec<u8>]) -> String {
    let sub = args.get(1).map_or(&b""[..], |a| a.as_slice());
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    )
}

/// Redis 7.0's reply to a subcommand whose arguments its handler refuses though the table's
/// arity allows them (`addReplySubcommandSyntaxError`: PUBSUB CHANNELS with two patterns).
pub fn subcommand_syntax_error(args: &[Vec<u8>]) -> String {
    let sub = args.get(1).map_or(&b""[..], |a| a.as_slice());
    format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {} HELP.",
        String::from_utf8_lossy(&sub[..sub.len().min(128)]),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    )
}

/// The "unknown command" error, worded as Redis 7.0 words it: the name cut at 128 bytes, then
/// the arguments quoted while the list is shorter than 128 bytes (the last one cut to fit).
pub fn unknown_command(args: &[Vec<u8>]) -> String {
    let name = &args[0][..args[0].len().min(128)];
    let mut list: Vec<u8> = Vec::new();
    for arg in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&arg[..arg.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(&list)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each flag is a bit of its own (two branches once gave two flags the same bit).
    #[test]
    fn flags_are_distinct_bits() {
        let flags = [
            WRITE,
            READONLY,
            NO_AUTH,
            PUBSUB,
            NO_MULTI,
            TRANSACTION,
            QUEUED,
            PUSHES,
            CONTAINER,
            SETUP,
            NUMKEYS,
            STREAMS,
            MOVABLE,
            STORE_KEY,
            GEO_STORE_KEY,
            NOSCRIPT,
            ALLOW_BUSY,
            ADMIN,
            BLOCKING,
            NO_MANDATORY_KEYS,
            NO_TOUCH,
            FORGETS,
        ];
        let mut seen = 0u32;
        for f in flags {
            assert_eq!(f.count_ones(), 1, "{f:#x}");
            assert_eq!(seen & f, 0, "{f:#x} twice");
            seen |= f;
        }
    }

    #[test]
    fn every_name_is_once_in_upper_case_and_found_in_any_case() {
        let mut seen = std::collections::BTreeSet::new();
        for &c in all() {
            assert_eq!(c.name, c.name.to_ascii_uppercase());
            assert!(seen.insert(c.name), "{} twice", c.name);
            assert!(std::ptr::eq(
                lookup(c.name.to_ascii_lowercase().as_bytes()).unwrap(),
                c
            ));
            assert!(std::ptr::eq(all()[c.index()], c));
            // A write or a keyspace read runs where its flags say.
            match c.handler {
                Handler::Write(_) => assert!(c.has(WRITE) && !c.has(BLOCKING)),
                Handler::Block(_) => assert!(c.has(WRITE) && c.has(BLOCKING)),
                Handler::Read(_) => assert!(c.has(READONLY) && !c.has(WRITE)),
                Handler::Session(_) => assert!(!c.has(WRITE)),
                // Never run alone: its arity asks for a subcommand, and it has a list.
                Handler::Container => assert!(c.arity <= -2 && !c.subcommands.is_empty()),
            }
        }
        assert!(lookup(b"NOPE").is_none());
    }

    /// COMMAND DOCS has a summary, a version and one of Redis' groups for every entry, and
    /// documents no command the table lacks.
    #[test]
    fn every_entry_is_documented() {
        const GROUPS: [&str; 16] = [
            "generic",
            "string",
            "list",
            "set",
            "sorted_set",
            "hash",
            "pubsub",
            "transactions",
            "connection",
            "server",
            "scripting",
            "hyperloglog",
            "cluster",
            "geo",
            "stream",
            "bitmap",
        ];
        for &c in all() {
            let doc = super::super::docs::doc(c.name)
                .unwrap_or_else(|| panic!("{} undocumented", c.name));
            assert!(GROUPS.contains(&doc.group), "{}: {}", c.name, doc.group);
            assert!(
                doc.summary.ends_with('.') && doc.summary.len() > 10,
                "{}",
                c.name
            );
            assert!(doc.since.split('.').count() == 3, "{}", c.name);
        }
        for line in super::super::docs::DOCS {
            let name = line.split(';').next().unwrap();
            assert!(
                lookup(name.as_bytes()).is_some(),
                "{name} documented, not in the table"
            );
        }
    }

    #[test]
    fn subcommands_are_entries_of_their_container() {
        for c in COMMANDS {
            assert!(!c.is_subcommand);
            assert_eq!(c.has(CONTAINER), !c.subcommands.is_empty());
            // "Try CLIENT HELP." names a subcommand that exists.
            if !c.subcommands.is_empty() {
                let help = format!("{}|HELP", c.name);
                assert!(c.subcommands.iter().any(|s| s.name == help), "{help}");
            }
            for s in c.subcommands {
                let (container, name) = s.name.split_once('|').unwrap();
                assert_eq!(container, c.name);
                assert!(!name.is_empty() && !name.contains('|'));
                assert!(s.is_subcommand && s.subcommands.is_empty());
                // The container and the subcommand are counted.
                assert!(s.arity >= 2 || s.arity <= -2, "{}", s.name);
                let request: Vec<Vec<u8>> = vec![
                    c.name.to_ascii_lowercase().into_bytes(),
                    name.to_ascii_lowercase().into_bytes(),
                ];
                assert!(matches!(resolve(&request), Resolved::Found(f) if std::ptr::eq(f, s)));
                assert_eq!(s.own_args(&request).len(), 0);
            }
        }
        let args =
            |s: &str| -> Vec<Vec<u8>> { s.split(' ').map(|a| a.as_bytes().to_vec()).collect() };
        let found = |line: &str| match resolve(&args(line)) {
            Resolved::Found(c) => c.name,
            Resolved::Unknown => "unknown",
            Resolved::UnknownSubcommand => "unknown subcommand",
        };
        assert_eq!(found("client"), "CLIENT");
        assert_eq!(found("Client SetName x"), "CLIENT|SETNAME");
        assert_eq!(found("CLIENT NOPE"), "unknown subcommand");
        assert_eq!(found("CLIENT GETNAME|X"), "unknown subcommand");
        assert_eq!(found("client|getname"), "unknown");
        assert_eq!(found("COMMAND"), "COMMAND");
        // The scripting containers too.
        assert_eq!(found("function flush async"), "FUNCTION|FLUSH");
        assert_eq!(found("SCRIPT kill"), "SCRIPT|KILL");
        assert_eq!(found("FUNCTION NOPE"), "unknown subcommand");
        assert_eq!(found("FUNCTION"), "FUNCTION");
        // Only the subcommands that may stop a script are served while one runs too long.
        let allow_busy: Vec<&str> = all()
            .iter()
            .filter(|c| c.is_subcommand && c.has(ALLOW_BUSY))
            .map(|c| c.name)
            .collect();
        assert_eq!(
            allow_busy,
            ["FUNCTION|KILL", "FUNCTION|STATS", "SCRIPT|KILL"]
        );
        assert_eq!(
            lookup(b"client|getname").unwrap().wrong_args(),
            "ERR wrong number of arguments for 'client|getname' command"
        );
        assert_eq!(
            unknown_subcommand(&args("client nope")),
            "ERR unknown subcommand 'nope'. Try CLIENT HELP."
        );
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
        // After STREAMS: the first half.
        assert_eq!(keys("XREAD", "XREAD COUNT 2 STREAMS a b 0 $"), ["a", "b"]);
        assert_eq!(
            keys("XREADGROUP", "XREADGROUP GROUP g c STREAMS s >"),
            ["s"]
        );
        // SORT's last STORE, the arguments of LIMIT, GET and BY stepped over.
        assert_eq!(
            keys("SORT", "SORT a STORE x BY store GET store STORE d"),
            ["a", "d"]
        );
        assert_eq!(keys("SORT", "SORT a LIMIT 0 STORE"), ["a"]);
        assert_eq!(keys("SORT_RO", "SORT_RO a"), ["a"]);
        // GEORADIUS: the key after the last STORE or STOREDIST.
        assert_eq!(keys("GEORADIUS", "GEORADIUS k 1 2 3 km"), ["k"]);
        assert_eq!(
            keys("GEORADIUS", "GEORADIUS k 1 2 3 km STORE a STOREDIST b"),
            ["k", "b"]
        );
        assert_eq!(
            keys("GEORADIUSBYMEMBER", "GEORADIUSBYMEMBER k m 3 km STORE d"),
            ["k", "d"]
        );
        assert_eq!(keys("GEORADIUS", "GEORADIUS k 1 2 3 km STORE"), ["k"]);
        assert_eq!(
            keys("GEOSEARCHSTORE", "GEOSEARCHSTORE d s FROMMEMBER m"),
            ["d", "s"]
        );
        // A count that is no number, or too large, names only what is there.
        assert!(keys("ZINTERCARD", "ZINTERCARD x a").is_empty());
        assert_eq!(keys("ZINTERCARD", "ZINTERCARD 9 a"), ["a"]);
        // EVAL and FCALL: the keys after numkeys, never the script or the function's name.
        assert_eq!(keys("EVAL", "EVAL return 2 a b c"), ["a", "b"]);
        assert!(keys("EVALSHA", "EVALSHA abc 0 x").is_empty());
        assert_eq!(keys("FCALL", "FCALL f 1 k v"), ["k"]);
        let fit =
            |name: &str, line: &str| lookup(name.as_bytes()).unwrap().numkeys_fit(&args(line));
        assert!(fit("ZUNIONSTORE", "ZUNIONSTORE d 2 a b"));
        assert!(!fit("ZUNIONSTORE", "ZUNIONSTORE d 3 a b"));
        assert!(!fit("ZINTERCARD", "ZINTERCARD 0 a"));
        assert!(!fit("ZINTERCARD", "ZINTERCARD x a"));
        assert!(fit("GET", "GET"));
    }
}
