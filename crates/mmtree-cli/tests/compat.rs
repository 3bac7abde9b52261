//! The Redis compatibility table, docs/REDIS-COMPAT.md, is generated here: one probe per row
//! runs against `mmtree serve`, and the test fails if a probe does not answer as its row says or
//! if the file differs from what the rows generate. `MMTREE_BLESS=1 cargo test -p mmtree-cli
//! --test compat` rewrites the file.
//!
//! A probe is a list of commands sent on a fresh connection after FLUSHALL; the reply of the last
//! one is compared with the row's expectation, written compactly: `+OK`, `:1`, `"bulk"`, `nil`,
//! `[a, b]` (an array), `-ERR …` (an error); a trailing `...` compares only the beginning.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

#[derive(Clone, Copy, PartialEq)]
enum Status {
    Yes,
    Differs,
    No,
}

struct Row {
    command: &'static str,
    status: Status,
    /// How it differs from Redis 7.0 (or a remark).
    note: &'static str,
    probe: &'static [&'static [&'static str]],
    expect: &'static str,
}

const fn row(
    command: &'static str,
    status: Status,
    note: &'static str,
    probe: &'static [&'static [&'static str]],
    expect: &'static str,
) -> Row {
    Row {
        command,
        status,
        note,
        probe,
        expect,
    }
}

use Status::{Differs, No, Yes};

const ROWS: &[Row] = &[
    // Connection and server.
    row("PING", Yes, "", &[&["PING"]], "+PONG"),
    row("ECHO", Yes, "", &[&["ECHO", "hi"]], "\"hi\""),
    row("AUTH", Differs, "only the default user (--requirepass); no ACL users", &[&["AUTH", "a", "b", "c"]], "-ERR syntax error"),
    row("HELLO", Differs, "`server` is `mmtree`; no `AUTH` of ACL users", &[&["HELLO", "2"]], "[\"server\", \"mmtree\", ..."),
    row("SELECT", Yes, "16 databases, each a table `dbN`", &[&["SELECT", "16"]], "-ERR DB index is out of range"),
    row("QUIT", Yes, "", &[&["QUIT"]], "+OK"),
    row("TIME", Yes, "", &[&["TIME"]], "[\"1..."),
    row("DBSIZE", Yes, "counts expired keys not yet swept, as Redis", &[&["SET", "a", "1"], &["DBSIZE"]], ":1"),
    row("INFO", Differs, "sections server, clients, memory, persistence, stats, replication, cpu, commandstats, errorstats, keyspace with a subset of Redis' fields, plus mmtree_* fields; `rdb_changes_since_last_save` counts each key change a command makes (Redis counts some multi-element commands by element), SAVE sets it to 0; errorstats, `total_error_replies` and commandstats' `rejected_calls`/`failed_calls` as Redis (an error a script catches with `redis.pcall` is not counted, Redis counts it; the errors of commands inside EXEC count in errorstats and `total_error_replies` but not as those commands' failed calls; a script's `redis.call`s are not counted in commandstats); commandstats' `usec` is 0", &[&["INFO", "replication"]], "\"# Replication\r\nrole:master..."),
    row("CONFIG", Differs, "GET answers the value in effect of each setting listed (save, appendonly, databases, maxclients, timeout, proto-max-bulk-len, client-query-buffer-limit, requirepass, maxmemory and its policy, notify-keyspace-events, bind, port, lua-time-limit, busy-reply-threshold, slowlog-*, tracking-table-max-keys, stream-node-max-entries, the encoding thresholds); SET of several pairs is all or nothing (an unknown name, an immutable setting, a name given twice or an invalid value: an error and nothing changed); notify-keyspace-events, timeout, maxclients, lua-time-limit/busy-reply-threshold, slowlog-log-slower-than/max-len, tracking-table-max-keys and stream-node-max-entries take effect at once; the encoding thresholds are kept and shown without effect (no encodings); a setting with no equivalent here (maxmemory, save, appendonly, replicaof, …) or fixed by the command line (port, bind, requirepass, …) accepts only its value in effect; RESETSTAT resets INFO's counters, commandstats and errorstats; REWRITE answers Redis' error for a server without a configuration file", &[&["CONFIG", "SET", "maxmemory", "1"]], "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - mmtree serve has no other value for this setting (its value is '0'; see docs/REDIS-COMPAT.md)"),
    row("CLIENT", Differs, "ID, GETNAME, SETNAME, SETINFO, INFO, LIST (TYPE, ID), KILL (addr, ID, ADDR, LADDR, TYPE, USER, SKIPME); REPLY (ON, OFF, SKIP); UNBLOCK (TIMEOUT, ERROR); TRACKING (REDIRECT, BCAST, PREFIX, OPTIN, OPTOUT, NOLOOP), CACHING, GETREDIR, TRACKINGINFO as Redis 7.0 (a read that finds a key expired, inside MULTI and scripts too, invalidates it, as Redis' lazy expiry; so do KEYS and SCAN passing over one); LIST shows fd, qbuf and omem, its other memory fields are 0; no PAUSE, NO-EVICT", &[&["CLIENT", "KILL", "ID", "999999"]], ":0"),
    row("COMMAND", Differs, "COMMAND, COUNT, INFO, LIST (FILTERBY PATTERN or MODULE, not ACLCAT), GETKEYS: name, arity, flags (write/readonly/admin/blocking/movablekeys only), key positions and subcommands (`client|getname`, each an entry of its own, as Redis 7) of every command; ACL categories, tips and key specs are empty; DOCS answers each command's summary (our own words), `since` and `group`, and its subcommands' (no arguments, complexity or history); no GETKEYSANDFLAGS", &[&["COMMAND", "INFO", "get", "object|refcount", "nosuch"]], "[[\"get\", :2, [+readonly], :1, :1, :1, [], [], [], []], [\"object|refcount\", :3, [+readonly], :2, :2, :1, [], [], [], []], nil]"),
    // Strings.
    row("GET", Yes, "", &[&["SET", "k", "v"], &["GET", "k"]], "\"v\""),
    row("SET", Yes, "NX, XX, GET, EX, PX, EXAT, PXAT, KEEPTTL", &[&["SET", "k", "v"], &["SET", "k", "w", "NX", "GET"]], "\"v\""),
    row("SETNX", Yes, "", &[&["SETNX", "k", "v"]], ":1"),
    row("SETEX", Yes, "", &[&["SETEX", "k", "0", "v"]], "-ERR invalid expire time in 'setex' command"),
    row("PSETEX", Yes, "", &[&["PSETEX", "k", "1000", "v"]], "+OK"),
    row("GETSET", Yes, "", &[&["GETSET", "k", "v"]], "nil"),
    row("GETDEL", Yes, "", &[&["SET", "k", "v"], &["GETDEL", "k"]], "\"v\""),
    row("GETEX", Yes, "EX, PX, EXAT, PXAT, PERSIST", &[&["SET", "k", "v"], &["GETEX", "k", "EX", "100"], &["TTL", "k"]], ":100"),
    row("MGET", Yes, "", &[&["SET", "a", "1"], &["MGET", "a", "b"]], "[\"1\", nil]"),
    row("MSET", Yes, "", &[&["MSET", "a", "1", "b"]], "-ERR wrong number of arguments for 'mset' command"),
    row("MSETNX", Yes, "", &[&["MSETNX", "a", "1", "b", "2"]], ":1"),
    row("APPEND", Yes, "", &[&["APPEND", "k", "ab"], &["APPEND", "k", "c"]], ":3"),
    row("STRLEN", Yes, "", &[&["SET", "k", "abc"], &["STRLEN", "k"]], ":3"),
    row("GETRANGE", Yes, "", &[&["SET", "k", "hello"], &["GETRANGE", "k", "1", "-2"]], "\"ell\""),
    row("SETRANGE", Yes, "", &[&["SETRANGE", "k", "2", "x"], &["STRLEN", "k"]], ":3"),
    row("INCR", Yes, "", &[&["SET", "k", "x"], &["INCR", "k"]], "-ERR value is not an integer or out of range"),
    row("DECR", Yes, "", &[&["DECR", "k"]], ":-1"),
    row("INCRBY", Yes, "", &[&["INCRBY", "k", "5"]], ":5"),
    row("DECRBY", Yes, "", &[&["DECRBY", "k", "5"]], ":-5"),
    row("INCRBYFLOAT", Differs, "computed in f64 and printed in its shortest form (Redis: long double, 17 digits), so rare results differ in the last digits", &[&["SET", "k", "10.50"], &["INCRBYFLOAT", "k", "0.1"]], "\"10.6\""),
    // Keys.
    row("DEL", Yes, "", &[&["SET", "a", "1"], &["DEL", "a", "b"]], ":1"),
    row("UNLINK", Yes, "the same as DEL", &[&["SET", "a", "1"], &["UNLINK", "a"]], ":1"),
    row("EXISTS", Yes, "", &[&["SET", "a", "1"], &["EXISTS", "a", "a", "b"]], ":2"),
    row("TYPE", Yes, "string, hash or none", &[&["HSET", "h", "f", "v"], &["TYPE", "h"]], "+hash"),
    row("KEYS", Yes, "", &[&["MSET", "a1", "1", "b1", "2"], &["KEYS", "a*"]], "[\"a1\"]"),
    row("SCAN", Differs, "keys in order; the cursor carries where the next page starts (a 64-bit number: survives restarts); COUNT is exceeded to finish a run of keys sharing their first 7 bytes; MATCH, COUNT, TYPE", &[&["SET", "a", "1"], &["HSET", "h", "f", "v"], &["SCAN", "0", "TYPE", "hash"]], "[\"0\", [\"h\"]]"),
    row("RENAME", Yes, "", &[&["RENAME", "nope", "x"]], "-ERR no such key"),
    row("RENAMENX", Yes, "", &[&["MSET", "a", "1", "b", "2"], &["RENAMENX", "a", "b"]], ":0"),
    row("COPY", Yes, "DB, REPLACE", &[&["SET", "a", "1"], &["COPY", "a", "b", "DB", "1"]], ":1"),
    row("MOVE", Yes, "", &[&["SET", "a", "1"], &["MOVE", "a", "0"]], "-ERR source and destination objects are the same"),
    row("SWAPDB", Yes, "the two databases' tables trade names (O(1)); such a commit is a checkpoint", &[&["SWAPDB", "0", "x"]], "-ERR invalid second DB index"),
    row("RANDOMKEY", Differs, "uniform up to 10,000 keys; in a larger database, the first key at or after a random point of the key range (no per-subtree counts to pick the n-th key)", &[&["SET", "a", "1"], &["RANDOMKEY"]], "\"a\""),
    row("FLUSHDB", Yes, "ASYNC/SYNC accepted", &[&["SET", "a", "1"], &["FLUSHDB"], &["DBSIZE"]], ":0"),
    row("FLUSHALL", Yes, "ASYNC/SYNC accepted", &[&["FLUSHALL", "LATER"]], "-ERR syntax error"),
    row("EXPIRE", Yes, "NX, XX, GT, LT", &[&["SET", "a", "1"], &["EXPIRE", "a", "10", "NX", "XX"]], "-ERR NX and XX, GT or LT options at the same time are not compatible"),
    row("PEXPIRE", Yes, "", &[&["SET", "a", "1"], &["PEXPIRE", "a", "100000"]], ":1"),
    row("EXPIREAT", Yes, "", &[&["SET", "a", "1"], &["EXPIREAT", "a", "4000000000"], &["EXPIRETIME", "a"]], ":4000000000"),
    row("PEXPIREAT", Yes, "", &[&["SET", "a", "1"], &["PEXPIREAT", "a", "4000000000000"], &["PEXPIRETIME", "a"]], ":4000000000000"),
    row("TTL", Yes, "", &[&["SET", "a", "1"], &["TTL", "a"]], ":-1"),
    row("PTTL", Yes, "", &[&["PTTL", "a"]], ":-2"),
    row("EXPIRETIME", Yes, "", &[&["EXPIRETIME", "a"]], ":-2"),
    row("PEXPIRETIME", Yes, "", &[&["SET", "a", "1"], &["PEXPIRETIME", "a"]], ":-1"),
    row("PERSIST", Yes, "", &[&["SETEX", "a", "100", "1"], &["PERSIST", "a"]], ":1"),
    // Transactions.
    row("MULTI", Yes, "", &[&["MULTI"], &["MULTI"]], "-ERR MULTI calls can not be nested"),
    row("EXEC", Yes, "writes and string/key reads run in one write transaction; the other queued commands (SCAN, hash reads, INFO, PUBLISH, …) run right after it, reads on a snapshot of exactly that commit", &[&["MULTI"], &["SET", "a", "1"], &["INCR", "a"], &["EXEC"]], "[+OK, :2]"),
    row("DISCARD", Yes, "", &[&["DISCARD"]], "-ERR DISCARD without MULTI"),
    row("WATCH", Yes, "", &[&["MULTI"], &["WATCH", "a"]], "-ERR WATCH inside MULTI is not allowed"),
    row("UNWATCH", Yes, "", &[&["UNWATCH"]], "+OK"),
    // Hashes.
    row("HSET", Yes, "", &[&["HSET", "h", "a", "1", "b", "2"]], ":2"),
    row("HSETNX", Yes, "", &[&["HSET", "h", "a", "1"], &["HSETNX", "h", "a", "2"]], ":0"),
    row("HMSET", Yes, "", &[&["HMSET", "h", "a", "1"]], "+OK"),
    row("HGET", Yes, "", &[&["SET", "s", "v"], &["HGET", "s", "a"]], "-WRONGTYPE Operation against a key holding the wrong kind of value"),
    row("HMGET", Yes, "", &[&["HSET", "h", "a", "1"], &["HMGET", "h", "a", "b"]], "[\"1\", nil]"),
    row("HDEL", Yes, "the last field deletes the key", &[&["HSET", "h", "a", "1"], &["HDEL", "h", "a", "b"], &["EXISTS", "h"]], ":0"),
    row("HLEN", Yes, "", &[&["HSET", "h", "a", "1", "b", "2"], &["HLEN", "h"]], ":2"),
    row("HEXISTS", Yes, "", &[&["HSET", "h", "a", "1"], &["HEXISTS", "h", "a"]], ":1"),
    row("HKEYS", Differs, "fields in byte order (Redis: insertion order for small hashes, else unordered)", &[&["HSET", "h", "b", "1", "a", "2"], &["HKEYS", "h"]], "[\"a\", \"b\"]"),
    row("HVALS", Differs, "in field order", &[&["HSET", "h", "b", "1", "a", "2"], &["HVALS", "h"]], "[\"2\", \"1\"]"),
    row("HGETALL", Differs, "in field order", &[&["HSET", "h", "b", "1", "a", "2"], &["HGETALL", "h"]], "[\"a\", \"2\", \"b\", \"1\"]"),
    row("HINCRBY", Yes, "", &[&["HSET", "h", "a", "x"], &["HINCRBY", "h", "a", "1"]], "-ERR hash value is not an integer"),
    row("HINCRBYFLOAT", Differs, "f64, as INCRBYFLOAT", &[&["HINCRBYFLOAT", "h", "a", "1.5"]], "\"1.5\""),
    row("HSTRLEN", Yes, "", &[&["HSET", "h", "a", "abc"], &["HSTRLEN", "h", "a"]], ":3"),
    row("HSCAN", Differs, "fields in order, COUNT fields per call (more to finish a run sharing 7 bytes); the cursor carries the position; no NOVALUES (7.4)", &[&["HSET", "h", "a", "1"], &["HSCAN", "h", "0"]], "[\"0\", [\"a\", \"1\"]]"),
    row("HRANDFIELD", Differs, "count and WITHVALUES; reads all the fields to pick (O(hash size))", &[&["HSET", "h", "a", "1"], &["HRANDFIELD", "h", "-2", "WITHVALUES"]], "[\"a\", \"1\", \"a\", \"1\"]"),
    // Pub/sub.
    row("SUBSCRIBE", Yes, "RESP2 arrays and RESP3 pushes; a subscribed RESP2 client may only (un)subscribe, PING and QUIT", &[&["SUBSCRIBE", "c"], &["GET", "k"]], "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"),
    row("UNSUBSCRIBE", Yes, "", &[&["UNSUBSCRIBE"]], "[\"unsubscribe\", nil, :0]"),
    row("PSUBSCRIBE", Yes, "", &[&["PSUBSCRIBE", "a*"]], "[\"psubscribe\", \"a*\", :1]"),
    row("PUNSUBSCRIBE", Yes, "", &[&["PUNSUBSCRIBE", "a*"]], "[\"punsubscribe\", \"a*\", :0]"),
    row("PUBLISH", Differs, "buffered per subscriber; one with 32 MiB unread is disconnected (Redis' hard pub/sub limit; no soft limit of 8 MiB for 60 s)", &[&["PUBLISH", "c", "m"]], ":0"),
    row("PUBSUB", Differs, "CHANNELS, NUMSUB, NUMPAT, HELP; no SHARDCHANNELS/SHARDNUMSUB", &[&["PUBSUB", "NUMPAT"]], ":0"),
    row("SSUBSCRIBE", No, "", &[&["SSUBSCRIBE", "c"]], "-ERR unknown command 'SSUBSCRIBE', with args beginning with: 'c' "),
    // mmtree's own.
    row("MMTREE.RANGE", Yes, "mmtree only: key/value pairs in key order, start inclusive, end exclusive (`-`/`+` unbounded), LIMIT n, REV", &[&["MSET", "a", "1", "b", "2"], &["MMTREE.RANGE", "-", "+"]], "[\"a\", \"1\", \"b\", \"2\"]"),
    // Not supported: the other data types and server machinery.
    row("MEMORY", Differs, "USAGE only: the bytes of the key's rows in tree pages", &[&["SET", "k", "v"], &["MEMORY", "USAGE", "k"]], ":12"),
    row("LPUSH", Yes, "elements are rows at consecutive positions", &[&["LPUSH", "l", "a", "b"]], ":2"),
    row("RPUSH", Yes, "", &[&["RPUSH", "l", "a"]], ":1"),
    row("LPUSHX", Yes, "", &[&["LPUSHX", "nothing", "a"]], ":0"),
    row("RPUSHX", Yes, "", &[&["RPUSH", "l", "a"], &["RPUSHX", "l", "b"]], ":2"),
    row("LPOP", Yes, "", &[&["RPUSH", "l", "a", "b"], &["LPOP", "l"]], "\"a\""),
    row("RPOP", Yes, "", &[&["RPUSH", "l", "a", "b"], &["RPOP", "l", "5"]], "[\"b\", \"a\"]"),
    row("LLEN", Yes, "", &[&["RPUSH", "l", "a", "b"], &["LLEN", "l"]], ":2"),
    row("LINDEX", Yes, "", &[&["RPUSH", "l", "a", "b"], &["LINDEX", "l", "-1"]], "\"b\""),
    row("LRANGE", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["LRANGE", "l", "1", "-1"]], "[\"b\", \"c\"]"),
    row("SADD", Yes, "members are ordered keys, as hash fields are", &[&["SADD", "s", "a", "b", "a"]], ":2"),
    row("SREM", Yes, "", &[&["SADD", "s", "a"], &["SREM", "s", "a", "z"]], ":1"),
    row("SMEMBERS", Differs, "in member order (Redis: no order)", &[&["SADD", "s", "b", "a"], &["SMEMBERS", "s"]], "[\"a\", \"b\"]"),
    row("SISMEMBER", Yes, "", &[&["SADD", "s", "a"], &["SISMEMBER", "s", "a"]], ":1"),
    row("SMISMEMBER", Yes, "", &[&["SADD", "s", "a"], &["SMISMEMBER", "s", "a", "b"]], "[:1, :0]"),
    row("SCARD", Yes, "", &[&["SADD", "s", "a", "b"], &["SCARD", "s"]], ":2"),
    row("SPOP", Yes, "", &[&["SADD", "s", "a"], &["SPOP", "s"]], "\"a\""),
    row("SRANDMEMBER", Yes, "", &[&["SRANDMEMBER", "nothing"]], "nil"),
    row("SSCAN", Differs, "in member order; the cursor carries where the next page starts", &[&["SADD", "s", "a"], &["SSCAN", "s", "0"]], "[\"0\", [\"a\"]]"),
    row("ZADD", Yes, "NX, XX, GT, LT, CH, INCR; two rows per member (by member, by score)", &[&["ZADD", "z", "1", "a", "2", "b"]], ":2"),
    row("ZINCRBY", Yes, "", &[&["ZINCRBY", "z", "1.5", "a"]], "\"1.5\""),
    row("ZREM", Yes, "", &[&["ZADD", "z", "1", "a"], &["ZREM", "z", "a", "x"]], ":1"),
    row("ZSCORE", Yes, "", &[&["ZADD", "z", "1e-400", "a", "2.5", "b"], &["ZSCORE", "z", "b"]], "\"2.5\""),
    row("ZCARD", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b"], &["ZCARD", "z"]], ":2"),
    row("ZRANGE", Yes, "BYSCORE, BYLEX, REV, LIMIT, WITHSCORES; BYLEX reads members in member order (Redis: in score order, the same when all scores are equal, as BYLEX requires)", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "LIMIT", "0", "1", "WITHSCORES"]], "[\"c\", \"3\"]"),
    row("ZSCAN", Differs, "in member order; the cursor carries where the next page starts", &[&["ZADD", "z", "1", "a"], &["ZSCAN", "z", "0"]], "[\"0\", [\"a\", \"1\"]]"),
    row("XADD", Yes, "auto, `ms-*` and explicit IDs, NOMKSTREAM, MAXLEN/MINID with `=`/`~` and LIMIT (`~` removes whole nodes of 100 entries, as Redis with its default stream-node-max-entries; stream-node-max-bytes is not modelled); entries are rows in ID order", &[&["XADD", "x", "1-1", "f", "v"], &["XADD", "x", "1-1", "f", "v"]], "-ERR The ID specified in XADD is equal or smaller than the target stream top item"),
    row("PFADD", Yes, "Redis' own string representation (`HYLL` header, sparse then dense 6-bit registers, MurmurHash64A) and estimator, so GET/SET move a value between the servers; the sparse form is re-encoded from the registers", &[&["PFADD", "p", "a", "b", "c"], &["PFCOUNT", "p"]], ":3"),
    row("SETBIT", Yes, "", &[&["SETBIT", "b", "1", "1"], &["GET", "b"]], "\"@\""),
    row("GETBIT", Yes, "", &[&["SET", "b", "@"], &["GETBIT", "b", "1"]], ":1"),
    row("BITCOUNT", Yes, "BYTE and BIT ranges", &[&["SET", "b", "foobar"], &["BITCOUNT", "b", "5", "30", "BIT"]], ":17"),
    row("LCS", Yes, "", &[&["SET", "a", "ohmytext"], &["SET", "b", "mynewtext"], &["LCS", "a", "b"]], "\"mytext\""),
    row("SUBSTR", No, "", &[&["SUBSTR", "a", "0", "1"]], "-ERR unknown command 'SUBSTR', with args beginning with: 'a' '0' '1' "),
    row("OBJECT", Differs, "REFCOUNT is 1 (no value is shared); ENCODING names what Redis 7.0 would use for the type and size with its default thresholds (Redis' sorted set stays `skiplist` after a SORT, ours goes by size); IDLETIME the seconds since the key was last read or written (kept in memory: after a restart a key's idle time counts from the restart; a script's commands note their keys as a client's); FREQ answers as Redis without an LFU policy", &[&["SET", "a", "12"], &["OBJECT", "ENCODING", "a"]], "\"int\""),
    row("DUMP", Differs, "a payload of mmtree's own (the type, the rows, a version and a CRC32C), not Redis' RDB encoding", &[&["DUMP", "a"]], "nil"),
    row("RESTORE", Differs, "accepts what mmtree's DUMP gave, not RDB payloads; TTL, ABSTTL, REPLACE; IDLETIME and FREQ are checked and ignored", &[&["RESTORE", "a", "0", "x"]], "-ERR DUMP payload version or checksum are wrong"),
    row("SORT", Yes, "BY (a key, a hash field with `->`, `nosort`), GET (`#`), LIMIT, ASC/DESC, ALPHA, STORE; a set with BY nosort comes in member order (Redis: its hash order)", &[&["RPUSH", "l", "3", "1", "2"], &["SORT", "l", "DESC"]], "[\"3\", \"2\", \"1\"]"),
    row("TOUCH", Yes, "counts the existing keys and makes them accessed now (OBJECT IDLETIME)", &[&["SET", "a", "1"], &["TOUCH", "a", "b"]], ":1"),
    row("EVAL", Differs, "Lua 5.1 as Redis; a script runs in the group commit's transaction: its writes are one commit, other clients' reads go on from snapshots (they get BUSY only past lua-time-limit); libraries: cjson (encode/decode/null and the depth and invalid-number settings), cmsgpack (lua-cmsgpack 0.4: pack, unpack, unpack_one, unpack_limit; the same bytes), bit and struct (pack, unpack, size: struct.c's formats, bytes and error messages); the sandbox's read-only tables are emulated with proxies (Redis patches its Lua); no SCRIPT DEBUG, no redis.acl_check_cmd; inside a script, of the connection commands only PING, ECHO, TIME and SELECT", &[&["EVAL", "return redis.call('incr', KEYS[1])", "1", "k"]], ":1"),
    row("EVAL_RO", Yes, "", &[&["EVAL_RO", "return redis.call('set', 'a', '1')", "0"]], "-ERR Write commands are not allowed from read-only scripts...."),
    row("EVALSHA", Yes, "", &[&["SCRIPT", "LOAD", "return 'x'"], &["EVALSHA", "573cd020e2fc941d149285df8b681959190edd09", "0"]], "\"x\""),
    row("EVALSHA_RO", Yes, "", &[&["SCRIPT", "LOAD", "return 'x'"], &["EVALSHA_RO", "573cd020e2fc941d149285df8b681959190edd09", "0"]], "\"x\""),
    row("SCRIPT", Differs, "LOAD, EXISTS, FLUSH, KILL, HELP; no DEBUG", &[&["SCRIPT", "LOAD", "return 1"], &["SCRIPT", "EXISTS", "e0e1f9fabfc9d4800c877a703b823ac0578ff8db", "0"]], "[:1, :0]"),
    row("FUNCTION", Differs, "LOAD, LIST, DELETE, FLUSH, KILL, STATS, DUMP, RESTORE, HELP; DUMP's payload is mmtree's own (RESTORE takes what DUMP gave); a library change is committed (in the data file, table `__serve:functions`) before it is acknowledged", &[&["FUNCTION", "LOAD", "REPLACE", "#!lua name=compat\nredis.register_function('compat_f', function(keys, args) return args[1] end)"]], "\"compat\""),
    row("FCALL", Yes, "", &[&["FUNCTION", "LOAD", "REPLACE", "#!lua name=compat_call\nredis.register_function('compat_call', function(keys, args) return args[1] end)"], &["FCALL", "compat_call", "0", "hi"]], "\"hi\""),
    row("FCALL_RO", Yes, "", &[&["FUNCTION", "LOAD", "REPLACE", "#!lua name=compat_ro\nredis.register_function{function_name='compat_ro', callback=function(keys, args) return redis.call('set', 'a', '1') end, flags={'no-writes'}}"], &["FCALL_RO", "compat_ro", "0"]], "-ERR Write commands are not allowed from read-only scripts...."),
    row("DEBUG", No, "", &[&["DEBUG", "SLEEP", "0"]], "-ERR unknown command 'DEBUG', with args beginning with: 'SLEEP' '0' "),
    row("SAVE", Differs, "a checkpoint: every commit written into the tree and synced (each commit is already in the file or its log)", &[&["SAVE"]], "+OK"),
    row("BGSAVE", No, "", &[&["BGSAVE"]], "-ERR unknown command 'BGSAVE', with args beginning with: "),
    row("LASTSAVE", No, "", &[&["LASTSAVE"]], "-ERR unknown command 'LASTSAVE', with args beginning with: "),
    row("SHUTDOWN", Differs, "a graceful stop (as SIGTERM); every commit is kept whatever the option (SAVE, NOSAVE, NOW, FORCE); no ABORT", &[&["MULTI"], &["SHUTDOWN"]], "-ERR Command not allowed inside a transaction"),
    row("MONITOR", Differs, "Redis' lines (scripts' commands as `lua`, passwords redacted, administrative commands hidden); a write is shown when its connection hands it to the group commit, not after it ran", &[&["MULTI"], &["MONITOR"], &["EXEC"]], "[-ERR MONITOR isn't allowed for DENY BLOCKING client]"),
    row("SLOWLOG", Differs, "GET, LEN, RESET, HELP; Redis' entries and trimming; a write's time is its execution in the group commit's transaction, without the commit (fsync) it shares with its group", &[&["SLOWLOG", "GET", "-2"]], "-ERR count should be greater than or equal to -1"),
    row("ACL", No, "", &[&["ACL", "WHOAMI"]], "-ERR unknown command 'ACL', with args beginning with: 'WHOAMI' "),
    row("RESET", No, "", &[&["RESET"]], "-ERR unknown command 'RESET', with args beginning with: "),
    row("WAIT", No, "no replication", &[&["WAIT", "0", "0"]], "-ERR unknown command 'WAIT', with args beginning with: '0' '0' "),
    row("REPLICAOF", No, "", &[&["REPLICAOF", "NO", "ONE"]], "-ERR unknown command 'REPLICAOF', with args beginning with: 'NO' 'ONE' "),
    // The rest of Redis 7.0's 240 commands, offered or not (every one is a row).
    row("BLMOVE", Yes, "blocking: see BLPOP", &[&["RPUSH", "l", "a"], &["BLMOVE", "l", "m", "RIGHT", "LEFT", "0"]], "\"a\""),
    row("BLMPOP", Yes, "blocking: see BLPOP", &[&["RPUSH", "l", "a", "b", "c"], &["BLMPOP", "0", "2", "none", "l", "LEFT", "COUNT", "2"]], "[\"l\", [\"a\", \"b\"]]"),
    row("BLPOP", Yes, "a blocked client is held by the writer (the group commit's state) and served, in arrival order per key, in the transaction of the write that fills its key (answered once that commit is made); the connection reads nothing more meanwhile; CLIENT UNBLOCK, timeouts, non-blocking inside MULTI", &[&["RPUSH", "l", "a", "b"], &["BLPOP", "none", "l", "0"]], "[\"l\", \"a\"]"),
    row("BRPOP", Yes, "blocking: see BLPOP", &[&["BRPOP", "none", "0.01"]], "nil"),
    row("BRPOPLPUSH", Yes, "blocking: see BLPOP", &[&["MULTI"], &["BRPOPLPUSH", "none", "m", "0"], &["EXEC"]], "[nil]"),
    row("BZMPOP", Yes, "blocking: see BLPOP", &[&["ZADD", "z", "1", "a", "2", "b"], &["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"]], "[\"z\", [[\"b\", \"2\"], [\"a\", \"1\"]]]"),
    row("BZPOPMAX", Yes, "blocking: see BLPOP", &[&["ZADD", "z", "1", "a", "2", "b"], &["BZPOPMAX", "z", "0"]], "[\"z\", \"b\", \"2\"]"),
    row("BZPOPMIN", Yes, "blocking: see BLPOP", &[&["SET", "s", "v"], &["BZPOPMIN", "none", "s", "0"]], "-WRONGTYPE Operation against a key holding the wrong kind of value"),
    row("LINSERT", Yes, "moves the elements on the shorter side of the new one (positions stay contiguous)", &[&["RPUSH", "l", "a", "b", "c"], &["LINSERT", "l", "BEFORE", "b", "x"], &["LRANGE", "l", "0", "-1"]], "[\"a\", \"x\", \"b\", \"c\"]"),
    row("LMOVE", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["LMOVE", "l", "m", "RIGHT", "LEFT"]], "\"c\""),
    row("LMPOP", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["LMPOP", "2", "none", "l", "LEFT", "COUNT", "2"]], "[\"l\", [\"a\", \"b\"]]"),
    row("LPOS", Yes, "RANK, COUNT, MAXLEN", &[&["RPUSH", "l", "a", "b", "a"], &["LPOS", "l", "a", "RANK", "-1", "COUNT", "0"]], "[:2, :0]"),
    row("LREM", Yes, "rewrites the elements after the first removed one", &[&["RPUSH", "l", "a", "b", "a"], &["LREM", "l", "-1", "a"]], ":1"),
    row("LSET", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["LSET", "l", "-1", "z"], &["LRANGE", "l", "0", "-1"]], "[\"a\", \"b\", \"z\"]"),
    row("LTRIM", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["LTRIM", "l", "1", "-1"], &["LRANGE", "l", "0", "-1"]], "[\"b\", \"c\"]"),
    row("RPOPLPUSH", Yes, "", &[&["RPUSH", "l", "a", "b", "c"], &["RPOPLPUSH", "l", "l"], &["LRANGE", "l", "0", "-1"]], "[\"c\", \"a\", \"b\"]"),
    row("SDIFF", Differs, "in member order (Redis: no order)", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SDIFF", "a", "b"]], "[\"1\"]"),
    row("SDIFFSTORE", Yes, "", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SDIFFSTORE", "d", "a", "b"]], ":1"),
    row("SINTER", Differs, "in member order (Redis: no order)", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SINTER", "a", "b"]], "[\"2\", \"3\"]"),
    row("SINTERCARD", Yes, "", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SINTERCARD", "2", "a", "b", "LIMIT", "1"]], ":1"),
    row("SINTERSTORE", Yes, "", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SINTERSTORE", "d", "a", "b"]], ":2"),
    row("SMOVE", Yes, "", &[&["SADD", "a", "1", "2", "3"], &["SMOVE", "a", "b", "1"]], ":1"),
    row("SUNION", Differs, "in member order (Redis: no order)", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SUNION", "a", "b"]], "[\"1\", \"2\", \"3\", \"4\"]"),
    row("SUNIONSTORE", Yes, "", &[&["SADD", "a", "1", "2", "3"], &["SADD", "b", "2", "3", "4"], &["SUNIONSTORE", "d", "a", "b"]], ":4"),
    row("ZCOUNT", Yes, "counts the rows in the interval: O(count)", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZCOUNT", "z", "(1", "3"]], ":2"),
    row("ZDIFF", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "2", "b"], &["ZDIFF", "2", "z", "y"]], "[\"a\", \"c\"]"),
    row("ZDIFFSTORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "2", "b"], &["ZDIFFSTORE", "d", "2", "z", "y"]], ":2"),
    row("ZINTER", Yes, "WEIGHTS, AGGREGATE, WITHSCORES; sets count as score 1", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "5", "b"], &["ZINTER", "2", "z", "y", "AGGREGATE", "MAX", "WITHSCORES"]], "[\"b\", \"5\"]"),
    row("ZINTERCARD", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "5", "b", "6", "c"], &["ZINTERCARD", "2", "z", "y", "LIMIT", "1"]], ":1"),
    row("ZINTERSTORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "5", "b"], &["ZINTERSTORE", "d", "2", "z", "y", "WEIGHTS", "2", "1"]], ":1"),
    row("ZLEXCOUNT", Yes, "", &[&["ZADD", "z", "0", "a", "0", "b", "0", "c"], &["ZLEXCOUNT", "z", "(a", "+"]], ":2"),
    row("ZMPOP", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZMPOP", "2", "none", "z", "MAX", "COUNT", "2"]], "[\"z\", [[\"c\", \"3\"], [\"b\", \"2\"]]]"),
    row("ZMSCORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZMSCORE", "z", "a", "x"]], "[\"1\", nil]"),
    row("ZPOPMAX", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZPOPMAX", "z"]], "[\"c\", \"3\"]"),
    row("ZPOPMIN", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZPOPMIN", "z", "2"]], "[\"a\", \"1\", \"b\", \"2\"]"),
    row("ZRANDMEMBER", Yes, "", &[&["ZADD", "z", "1", "a"], &["ZRANDMEMBER", "z", "-2"]], "[\"a\", \"a\"]"),
    row("ZRANGEBYLEX", Yes, "as ZRANGE BYLEX", &[&["ZADD", "z", "0", "a", "0", "b", "0", "c"], &["ZRANGEBYLEX", "z", "[b", "+", "LIMIT", "0", "1"]], "[\"b\"]"),
    row("ZRANGEBYSCORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZRANGEBYSCORE", "z", "-inf", "(3", "WITHSCORES"]], "[\"a\", \"1\", \"b\", \"2\"]"),
    row("ZRANGESTORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZRANGESTORE", "d", "z", "0", "1"]], ":2"),
    row("ZRANK", Yes, "O(rank): the order rows before the member are counted (the engine keeps no counts in its inner pages)", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZRANK", "z", "c"]], ":2"),
    row("ZREMRANGEBYLEX", Yes, "", &[&["ZADD", "z", "0", "a", "0", "b", "0", "c"], &["ZREMRANGEBYLEX", "z", "-", "[b"]], ":2"),
    row("ZREMRANGEBYRANK", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZREMRANGEBYRANK", "z", "-2", "-1"]], ":2"),
    row("ZREMRANGEBYSCORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZREMRANGEBYSCORE", "z", "(1", "+inf"]], ":2"),
    row("ZREVRANGE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZREVRANGE", "z", "0", "1"]], "[\"c\", \"b\"]"),
    row("ZREVRANGEBYLEX", Yes, "as ZRANGE BYLEX REV", &[&["ZADD", "z", "0", "a", "0", "b", "0", "c"], &["ZREVRANGEBYLEX", "z", "+", "(a"]], "[\"c\", \"b\"]"),
    row("ZREVRANGEBYSCORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZREVRANGEBYSCORE", "z", "+inf", "2", "LIMIT", "1", "5"]], "[\"b\"]"),
    row("ZREVRANK", Yes, "O(size - rank), as ZRANK", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZREVRANK", "z", "c"]], ":0"),
    row("ZUNION", Yes, "WEIGHTS, AGGREGATE, WITHSCORES; sets count as score 1", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["SADD", "s", "x"], &["ZUNION", "2", "z", "s", "WITHSCORES"]], "[\"a\", \"1\", \"x\", \"1\", \"b\", \"2\", \"c\", \"3\"]"),
    row("ZUNIONSTORE", Yes, "", &[&["ZADD", "z", "1", "a", "2", "b", "3", "c"], &["ZADD", "y", "5", "b"], &["ZUNIONSTORE", "d", "2", "z", "y", "AGGREGATE", "MIN"]], ":3"),
    row("GEOADD", Yes, "NX, XX, CH; a sorted set whose scores are Redis' 52-bit geohashes", &[&["GEOADD", "g", "CH", "13.361389", "38.115556", "Palermo"]], ":1"),
    row("GEODIST", Yes, "M, KM, FT, MI", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEODIST", "g", "Palermo", "Catania", "km"]], "\"166.2742\""),
    row("GEOHASH", Yes, "", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEOHASH", "g", "Palermo", "nope"]], "[\"sqc8b49rny0\", nil]"),
    row("GEOPOS", Yes, "", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEOPOS", "g", "Catania"]], "[[\"15.08726745843887329\", \"37.50266842333162032\"]]"),
    row("GEORADIUS", Yes, "WITHCOORD, WITHDIST, WITHHASH, ASC/DESC, COUNT [ANY], STORE, STOREDIST; Redis' cells, order and distances", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEORADIUS", "g", "15", "37", "200", "km", "ASC"]], "[\"Catania\", \"Palermo\"]"),
    row("GEORADIUSBYMEMBER", Yes, "as GEORADIUS", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEORADIUSBYMEMBER", "g", "Palermo", "200", "km", "STOREDIST", "d"]], ":2"),
    row("GEORADIUSBYMEMBER_RO", Yes, "", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEORADIUSBYMEMBER_RO", "g", "Palermo", "100", "km"]], "[\"Palermo\"]"),
    row("GEORADIUS_RO", Yes, "", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEORADIUS_RO", "g", "15", "37", "200", "km", "STORE", "d"]], "-ERR syntax error"),
    row("GEOSEARCH", Yes, "FROMMEMBER/FROMLONLAT, BYRADIUS/BYBOX, and GEORADIUS' options; the error for a missing FROM… or BY… names the command in lower case (Redis: as the client spelled it)", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEOSEARCH", "g", "FROMLONLAT", "15", "37", "BYBOX", "400", "400", "km", "ASC", "WITHDIST"]], "[[\"Catania\", \"56.4413\"], [\"Palermo\", \"190.4424\"]]"),
    row("GEOSEARCHSTORE", Yes, "STOREDIST; as GEOSEARCH", &[&["GEOADD", "g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania"], &["GEOSEARCHSTORE", "d", "g", "FROMMEMBER", "Palermo", "BYRADIUS", "100", "km"]], ":1"),
    row("BITFIELD", Yes, "GET/SET/INCRBY, i1..i64 and u1..u63, `#` offsets, OVERFLOW WRAP/SAT/FAIL", &[&["BITFIELD", "k", "SET", "u8", "0", "255", "GET", "i8", "0"]], "[:0, :-1]"),
    row("BITFIELD_RO", Yes, "", &[&["BITFIELD_RO", "k", "SET", "u8", "0", "1"]], "-ERR BITFIELD_RO only supports the GET subcommand"),
    row("BITOP", Yes, "", &[&["SET", "a", "abc"], &["BITOP", "NOT", "d", "a"]], ":3"),
    row("BITPOS", Yes, "BYTE and BIT ranges", &[&["SETBIT", "b", "0", "1"], &["BITPOS", "b", "0"]], ":1"),
    row("PFCOUNT", Yes, "the union of several keys; counting one key caches its estimate in the value, so PFCOUNT goes through the group commit", &[&["PFADD", "a", "x"], &["PFADD", "b", "y"], &["PFCOUNT", "a", "b"]], ":2"),
    row("PFDEBUG", No, "HyperLogLog", &[&["PFDEBUG", "k"]], "-ERR unknown command 'PFDEBUG', with args beginning with: 'k' "),
    row("PFMERGE", Yes, "", &[&["PFADD", "a", "x"], &["PFMERGE", "d", "a"]], "+OK"),
    row("PFSELFTEST", No, "HyperLogLog", &[&["PFSELFTEST", "k"]], "-ERR unknown command 'PFSELFTEST', with args beginning with: 'k' "),
    row("XACK", Yes, "", &[&["XADD", "k", "1-0", "f", "v"], &["XGROUP", "CREATE", "k", "g", "0"], &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"], &["XACK", "k", "g", "1-0", "2-0"]], ":1"),
    row("XAUTOCLAIM", Yes, "COUNT, JUSTID; the cursor and the deleted IDs as Redis 7.0", &[&["XADD", "k", "1-0", "f", "v"], &["XGROUP", "CREATE", "k", "g", "0"], &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"], &["XAUTOCLAIM", "k", "g", "d", "0", "0", "JUSTID"]], "[\"0-0\", [\"1-0\"], []]"),
    row("XCLAIM", Yes, "IDLE, TIME, RETRYCOUNT, FORCE, JUSTID, LASTID", &[&["XADD", "k", "1-0", "f", "v"], &["XGROUP", "CREATE", "k", "g", "0"], &["XCLAIM", "k", "g", "c", "0", "1-0", "FORCE", "JUSTID"]], "[\"1-0\"]"),
    row("XDEL", Yes, "", &[&["XADD", "k", "1-0", "f", "v"], &["XDEL", "k", "1-0", "2-0"]], ":1"),
    row("XGROUP", Yes, "CREATE (MKSTREAM, ENTRIESREAD), SETID, DESTROY, CREATECONSUMER, DELCONSUMER, HELP: subcommands in the table", &[&["XGROUP", "CREATE", "k", "g", "$"]], "-ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."),
    row("XINFO", Differs, "STREAM (FULL), GROUPS, CONSUMERS with Redis 7.0's fields; radix-tree-keys counts the nodes of stream-node-max-entries entries as Redis fills them; radix-tree-nodes is an estimate (keys + 1)", &[&["XADD", "k", "1-0", "f", "v"], &["XINFO", "GROUPS", "k"]], "[]"),
    row("XLEN", Yes, "", &[&["XADD", "k", "1-0", "f", "v"], &["XLEN", "k"]], ":1"),
    row("XPENDING", Yes, "summary and extended forms, IDLE, consumer", &[&["XADD", "k", "1-0", "f", "v"], &["XGROUP", "CREATE", "k", "g", "0"], &["XPENDING", "k", "g"]], "[:0, nil, nil, nil]"),
    row("XRANGE", Yes, "`-`, `+`, `(` bounds, COUNT: one range read of the key's rows", &[&["XADD", "k", "1-0", "f", "v"], &["XADD", "k", "2-0", "g", "w"], &["XRANGE", "k", "(1-0", "+"]], "[[\"2-0\", [\"g\", \"w\"]]]"),
    row("XREAD", Yes, "COUNT, BLOCK (served by the write that adds entries, in arrival order, as the blocking pops), STREAMS with IDs and `$`; it runs in the writer (COMMAND INFO flags it `write`)", &[&["XADD", "k", "1-0", "f", "v"], &["XREAD", "STREAMS", "k", "0"]], "[[\"k\", [[\"1-0\", [\"f\", \"v\"]]]]]"),
    row("XREADGROUP", Yes, "`>` and history IDs, NOACK, COUNT, BLOCK (ended by the stream's deletion or the group's, as Redis 7.0)", &[&["XADD", "k", "1-0", "f", "v"], &["XGROUP", "CREATE", "k", "g", "0"], &["XREADGROUP", "GROUP", "g", "c", "STREAMS", "k", ">"]], "[[\"k\", [[\"1-0\", [\"f\", \"v\"]]]]]"),
    row("XREVRANGE", Yes, "", &[&["XADD", "k", "1-0", "f", "v"], &["XADD", "k", "2-0", "g", "w"], &["XREVRANGE", "k", "+", "-", "COUNT", "1"]], "[[\"2-0\", [\"g\", \"w\"]]]"),
    row("XSETID", Yes, "ENTRIESADDED, MAXDELETEDID", &[&["XADD", "k", "5-0", "f", "v"], &["XSETID", "k", "4-0"]], "-ERR The ID specified in XSETID is smaller than the target stream top item"),
    row("XTRIM", Yes, "MAXLEN/MINID, `=`/`~`, LIMIT (as XADD)", &[&["XADD", "k", "1-0", "f", "v"], &["XADD", "k", "2-0", "f", "v"], &["XTRIM", "k", "MAXLEN", "1"]], ":1"),
    row("SPUBLISH", No, "sharded pub/sub", &[&["SPUBLISH", "k"]], "-ERR unknown command 'SPUBLISH', with args beginning with: 'k' "),
    row("SUNSUBSCRIBE", No, "sharded pub/sub", &[&["SUNSUBSCRIBE", "k"]], "-ERR unknown command 'SUNSUBSCRIBE', with args beginning with: 'k' "),
    row("ASKING", No, "cluster", &[&["ASKING", "k"]], "-ERR unknown command 'ASKING', with args beginning with: 'k' "),
    row("CLUSTER", Differs, "not a cluster node (shards go behind a proxy: docs/SCALE-OUT.md): every subcommand answers as a Redis without cluster-enabled does, so clients probing with CLUSTER INFO see a plain server; refused in scripts", &[&["CLUSTER", "INFO"]], "-ERR This instance has cluster support disabled"),
    row("READONLY", No, "cluster", &[&["READONLY", "k"]], "-ERR unknown command 'READONLY', with args beginning with: 'k' "),
    row("READWRITE", No, "cluster", &[&["READWRITE", "k"]], "-ERR unknown command 'READWRITE', with args beginning with: 'k' "),
    row("MIGRATE", No, "cluster", &[&["MIGRATE", "k"]], "-ERR unknown command 'MIGRATE', with args beginning with: 'k' "),
    row("FAILOVER", No, "replication and failover (one server, no replicas)", &[&["FAILOVER", "k"]], "-ERR unknown command 'FAILOVER', with args beginning with: 'k' "),
    row("PSYNC", No, "replication and failover (one server, no replicas)", &[&["PSYNC", "k"]], "-ERR unknown command 'PSYNC', with args beginning with: 'k' "),
    row("REPLCONF", No, "replication and failover (one server, no replicas)", &[&["REPLCONF", "k"]], "-ERR unknown command 'REPLCONF', with args beginning with: 'k' "),
    row("ROLE", No, "replication and failover (one server, no replicas)", &[&["ROLE", "k"]], "-ERR unknown command 'ROLE', with args beginning with: 'k' "),
    row("SLAVEOF", No, "replication and failover (one server, no replicas)", &[&["SLAVEOF", "k"]], "-ERR unknown command 'SLAVEOF', with args beginning with: 'k' "),
    row("SYNC", No, "replication and failover (one server, no replicas)", &[&["SYNC", "k"]], "-ERR unknown command 'SYNC', with args beginning with: 'k' "),
    row("SENTINEL", No, "replication and failover (one server, no replicas)", &[&["SENTINEL", "k"]], "-ERR unknown command 'SENTINEL', with args beginning with: 'k' "),
    row("BGREWRITEAOF", No, "no AOF (the redo log is always on)", &[&["BGREWRITEAOF", "k"]], "-ERR unknown command 'BGREWRITEAOF', with args beginning with: 'k' "),
    row("SORT_RO", Yes, "", &[&["RPUSH", "l", "b", "a"], &["SORT_RO", "l", "ALPHA"]], "[\"a\", \"b\"]"),
    row("LATENCY", No, "no latency monitor, modules or LOLWUT", &[&["LATENCY", "k"]], "-ERR unknown command 'LATENCY', with args beginning with: 'k' "),
    row("MODULE", No, "no latency monitor, modules or LOLWUT", &[&["MODULE", "k"]], "-ERR unknown command 'MODULE', with args beginning with: 'k' "),
    row("LOLWUT", No, "no latency monitor, modules or LOLWUT", &[&["LOLWUT", "k"]], "-ERR unknown command 'LOLWUT', with args beginning with: 'k' "),
];

/// Reads one reply, written compactly.
fn read_reply(r: &mut BufReader<TcpStream>) -> String {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let line = line.trim_end_matches("\r\n");
    let (kind, rest) = line.split_at(1);
    let items = |r: &mut BufReader<TcpStream>, n: usize| -> Vec<String> {
        (0..n).map(|_| read_reply(r)).collect()
    };
    match kind {
        "+" | "-" | ":" => line.to_string(),
        "_" => "nil".into(),
        "$" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return "nil".into();
            }
            let mut buf = vec![0u8; n as usize + 2];
            r.read_exact(&mut buf).unwrap();
            format!("\"{}\"", String::from_utf8_lossy(&buf[..n as usize]))
        }
        "*" | ">" => {
            let n: i64 = rest.parse().unwrap();
            if n < 0 {
                return "nil".into();
            }
            format!("[{}]", items(r, n as usize).join(", "))
        }
        other => panic!("unexpected reply type {other:?}: {line}"),
    }
}

fn request(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn status_word(s: Status) -> &'static str {
    match s {
        Yes => "yes",
        Differs => "differs",
        No => "no",
    }
}

fn render(rows: &[Row]) -> String {
    let mut out = String::from(
        "# `mmtree serve` and Redis 7.0: command by command\n\n\
         Generated by `crates/mmtree-cli/tests/compat.rs`, which runs the probe of each row against \
         `mmtree serve` and fails if a reply or this file is out of date (`MMTREE_BLESS=1 cargo \
         test -p mmtree-cli --test compat` rewrites it). **yes**: Redis 7.0's semantics and error \
         messages; **differs**: supported, with the difference given; **no**: answered with Redis' \
         own `ERR unknown command` error.\n\n",
    );
    let count = |s: Status| rows.iter().filter(|r| r.status == s).count();
    out.push_str(&format!(
        "{} commands (every one of Redis 7.0's 240, and MMTREE.RANGE): {} yes, {} differ, {} no. \
         The command table of the server (`crates/mmtree-server/src/commands/table.rs`) is the list \
         of what is offered. Data types: strings (bitmaps included), HyperLogLog (Redis' own \
         string representation), hashes, sets, lists (blocking pops included), \
         sorted sets (ranks, score and lex ranges, pops, set algebra), geo sets (sorted sets of \
         geohash scores, as Redis) and streams (consumer \
         groups, blocking XREAD and XREADGROUP), with Lua scripts and functions over them.\n\n",
        rows.len(),
        count(Yes),
        count(Differs),
        count(No)
    ));
    out.push_str("| command | supported | how it differs / notes | probe |\n|---|---|---|---|\n");
    for r in rows {
        // (A newline in an argument, as in FUNCTION LOAD's code, is shown as \n.)
        let probe: Vec<String> = r
            .probe
            .iter()
            .map(|c| c.join(" ").replace('\n', "\\n"))
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | `{}` → `{}` |\n",
            r.command,
            status_word(r.status),
            r.note.replace('|', "\\|"),
            probe.join("; ").replace('|', "\\|"),
            r.expect.replace('|', "\\|").replace("\r\n", "\\r\\n"),
        ));
    }
    out
}

#[test]
fn the_compatibility_table_is_true_and_up_to_date() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, port) = common::start_server(&dir.path().join("compat.mmt"), &[] as &[&str]);
    let mut failures = Vec::new();
    for r in ROWS {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut w = stream;
        w.write_all(&request(&["FLUSHALL"])).unwrap();
        assert_eq!(read_reply(&mut reader), "+OK");
        let mut last = String::new();
        for c in r.probe {
            w.write_all(&request(c)).unwrap();
            // SUBSCRIBE-like commands answer once per name.
            last = read_reply(&mut reader);
        }
        let ok = match r.expect.strip_suffix("...") {
            Some(prefix) => last.starts_with(prefix),
            None => last == r.expect,
        };
        if !ok {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                r.command, r.expect, last
            ));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        failures.is_empty(),
        "probes that failed:\n{}",
        failures.join("\n")
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/REDIS-COMPAT.md");
    let text = render(ROWS);
    if std::env::var_os("MMTREE_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        current == text,
        "docs/REDIS-COMPAT.md is stale: run MMTREE_BLESS=1 cargo test -p mmtree-cli --test compat"
    );
}
