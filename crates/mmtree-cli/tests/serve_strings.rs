//! The strings family of `mmtree serve` (and the byte-for-byte agreement with `mmtree get`/`put`).

mod common;

use common::*;
use redis::{Commands, RedisResult};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn every_command_behaves_like_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut c = server.client();
    assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    assert_eq!(cmd::<String>(&mut c, &["PING", "hi"]).unwrap(), "hi");
    assert_eq!(cmd::<String>(&mut c, &["ECHO", "x y"]).unwrap(), "x y");
    // Strings.
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "k", "w", "NX"]).unwrap(),
        None
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "k", "w", "XX", "GET"]).unwrap(),
        Some("v".into())
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "new", "1", "XX"]).unwrap(),
        None
    );
    assert_eq!(c.get::<_, Option<String>>("new").unwrap(), None);
    assert_eq!(cmd::<String>(&mut c, &["GETDEL", "k"]).unwrap(), "w");
    assert_eq!(c.get::<_, Option<String>>("k").unwrap(), None);
    let _: () = cmd(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]).unwrap();
    assert_eq!(
        cmd::<Vec<Option<String>>>(&mut c, &["MGET", "a", "nope", "c"]).unwrap(),
        vec![Some("1".into()), None, Some("3".into())]
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["MSETNX", "a", "9", "z", "9"]).unwrap(),
        0
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["MSETNX", "y", "9", "z", "9"]).unwrap(),
        1
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "a", "b", "nope"]).unwrap(),
        2
    );
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "y", "z", "nope"]).unwrap(), 2);
    assert_eq!(cmd::<i64>(&mut c, &["UNLINK", "c"]).unwrap(), 1);
    // Counters.
    assert_eq!(cmd::<i64>(&mut c, &["INCR", "n"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["INCRBY", "n", "41"]).unwrap(), 42);
    assert_eq!(cmd::<i64>(&mut c, &["DECR", "n"]).unwrap(), 41);
    assert_eq!(cmd::<i64>(&mut c, &["DECRBY", "n", "40"]).unwrap(), 1);
    let not_int = cmd::<i64>(&mut c, &["INCR", "a"]);
    assert!(not_int.is_ok(), "a holds 1");
    let _: () = c.set("word", "hello").unwrap();
    let err = cmd::<i64>(&mut c, &["INCR", "word"]).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(
        cmd::<i64>(&mut c, &["APPEND", "word", " world"]).unwrap(),
        11
    );
    assert_eq!(cmd::<i64>(&mut c, &["STRLEN", "word"]).unwrap(), 11);
    assert_eq!(
        cmd::<String>(&mut c, &["GETRANGE", "word", "0", "4"]).unwrap(),
        "hello"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["GETRANGE", "word", "-5", "-1"]).unwrap(),
        "world"
    );
    // Expiry.
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "word"]).unwrap(), -1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "nope"]).unwrap(), -2);
    assert_eq!(cmd::<i64>(&mut c, &["EXPIRE", "word", "100"]).unwrap(), 1);
    assert!((99..=100).contains(&cmd::<i64>(&mut c, &["TTL", "word"]).unwrap()));
    assert!(cmd::<i64>(&mut c, &["PTTL", "word"]).unwrap() > 98_000);
    assert_eq!(cmd::<i64>(&mut c, &["PERSIST", "word"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "word"]).unwrap(), -1);
    let _: () = cmd(&mut c, &["SET", "short", "x", "PX", "150"]).unwrap();
    let _: () = cmd(
        &mut c,
        &[
            "SET",
            "later",
            "x",
            "EXAT",
            &(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 100)
                .to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        Some("x".into())
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        None,
        "expired"
    );
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "short"]).unwrap(), -2);
    assert!(cmd::<i64>(&mut c, &["TTL", "later"]).unwrap() > 90);
    // Keys in order: KEYS, SCAN (cursor), the ordered range Redis lacks.
    let keys: Vec<String> = cmd(&mut c, &["KEYS", "*"]).unwrap();
    assert_eq!(keys, ["a", "b", "later", "n", "word"]);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["KEYS", "[ab]"]).unwrap(),
        ["a", "b"]
    );
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) =
            cmd(&mut c, &["SCAN", &cursor, "COUNT", "2"]).unwrap();
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen, keys, "SCAN returns every key once, in order");
    let iter: Vec<String> = c
        .scan_match("*o*")
        .unwrap()
        .collect::<RedisResult<_>>()
        .unwrap();
    assert_eq!(iter, ["word"]);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["MMTREE.RANGE", "b", "o"]).unwrap(),
        ["b", "2", "later", "x", "n", "1"]
    );
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["MMTREE.RANGE", "-", "+", "LIMIT", "2", "REV"]).unwrap(),
        ["word", "hello world", "n", "1"]
    );
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 5);
    // Databases.
    let _: () = cmd(&mut c, &["SELECT", "3"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    let _: () = c.set("only-in-3", "x").unwrap();
    let _: () = cmd(&mut c, &["FLUSHDB"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    assert!(cmd::<()>(&mut c, &["SELECT", "99"])
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    let _: () = cmd(&mut c, &["SELECT", "0"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 5);
    // Server and client commands.
    let info: String = cmd(&mut c, &["INFO"]).unwrap();
    assert!(
        info.contains("limiter_admitted") && info.contains("db0:keys=5"),
        "{info}"
    );
    let config: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(config, ["save", ""]);
    let _: () = cmd(&mut c, &["CLIENT", "SETNAME", "tester"]).unwrap();
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "GETNAME"]).unwrap(),
        "tester"
    );
    assert!(cmd::<i64>(&mut c, &["CLIENT", "ID"]).unwrap() > 0);
    assert!(cmd::<i64>(&mut c, &["COMMAND", "COUNT"]).unwrap() > 30);
    let unknown = cmd::<()>(&mut c, &["FROB", "x"]).unwrap_err().to_string();
    assert!(
        unknown.contains("unknown command 'FROB', with args beginning with: 'x'"),
        "{unknown}"
    );
    // A bad write fails alone, not the other writes of its group commit.
    let long_key = "k".repeat(5000);
    let mut raw = server.raw();
    let request = format!(
        "*3\r\n$3\r\nSET\r\n$6\r\nbefore\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$5000\r\n{long_key}\r\n$1\r\nv\r\n*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n2\r\n"
    );
    raw.write_all(request.as_bytes()).unwrap();
    let mut replies = String::new();
    while replies.matches("\r\n").count() < 3 {
        replies.push_str(&read_reply(&mut raw));
    }
    assert!(
        replies.starts_with("+OK\r\n-ERR key too large") && replies.ends_with("+OK\r\n"),
        "{replies}"
    );
    assert_eq!(c.get::<_, String>("after").unwrap(), "2");
    let too_large = cmd::<()>(&mut c, &["SET", &long_key, "v"])
        .unwrap_err()
        .to_string();
    assert!(too_large.contains("key too large"), "{too_large}");
    let overflow = cmd::<i64>(&mut c, &["EXPIRE", "before", "9223372036854775"])
        .unwrap_err()
        .to_string();
    assert!(overflow.contains("invalid expire time"), "{overflow}");
    let overflow = cmd::<()>(&mut c, &["SET", "x", "v", "EX", "18446744073709552"])
        .unwrap_err()
        .to_string();
    assert!(overflow.contains("invalid expire time"), "{overflow}");
    let _: i64 = cmd(&mut c, &["DEL", "before", "after"]).unwrap();
    let arity = cmd::<()>(&mut c, &["GET"]).unwrap_err().to_string();
    assert!(
        arity.contains("wrong number of arguments for 'get' command"),
        "{arity}"
    );
    // RESP3: HELLO 3 switches nulls to `_`.
    let mut raw = server.raw();
    raw.write_all(b"HELLO 3\r\n").unwrap();
    let hello = read_reply(&mut raw);
    assert!(
        hello.starts_with("%7\r\n") && hello.contains("proto\r\n:3"),
        "{hello}"
    );
    raw.write_all(b"*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n").unwrap();
    assert_eq!(read_reply(&mut raw), "_\r\n");
    raw.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(read_reply(&mut raw), "+OK\r\n");
    assert_eq!(server.stop().code(), Some(0));
}

/// Issue 12: SETNX, SETEX, PSETEX, GETSET, TYPE, EXPIRETIME/PEXPIRETIME, TIME, and EXPIRE's
/// NX/XX/GT/LT options with Redis 7's replies and errors (also inside MULTI/EXEC).
#[test]
fn more_string_and_expiry_commands_behave_like_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("more.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    assert_eq!(int(&mut c, &["SETNX", "a", "1"]), 1);
    assert_eq!(int(&mut c, &["SETNX", "a", "2"]), 0);
    assert_eq!(c.get::<_, String>("a").unwrap(), "1");
    assert_eq!(
        cmd::<String>(&mut c, &["SETEX", "t", "100", "v"]).unwrap(),
        "OK"
    );
    let ttl = int(&mut c, &["TTL", "t"]);
    assert!((99..=100).contains(&ttl), "{ttl}");
    let err = cmd::<String>(&mut c, &["SETEX", "t", "0", "v"]).unwrap_err();
    assert!(
        err.to_string()
            .contains("invalid expire time in 'setex' command"),
        "{err}"
    );
    let err = cmd::<String>(&mut c, &["SETEX", "t", "x", "v"]).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(
        cmd::<String>(&mut c, &["PSETEX", "p", "100000", "v"]).unwrap(),
        "OK"
    );
    assert!(int(&mut c, &["PTTL", "p"]) > 90_000);
    // GETSET returns the old value and drops the TTL.
    assert_eq!(cmd::<String>(&mut c, &["GETSET", "t", "w"]).unwrap(), "v");
    assert_eq!(int(&mut c, &["TTL", "t"]), -1);
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GETSET", "none", "x"]).unwrap(),
        None
    );
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "a"]).unwrap(), "string");
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "missing"]).unwrap(), "none");
    // EXPIRETIME: -2 missing, -1 no expiry, else the unix time.
    assert_eq!(int(&mut c, &["EXPIRETIME", "missing"]), -2);
    assert_eq!(int(&mut c, &["EXPIRETIME", "a"]), -1);
    assert_eq!(int(&mut c, &["EXPIREAT", "a", "4000000000"]), 1);
    assert_eq!(int(&mut c, &["EXPIRETIME", "a"]), 4_000_000_000);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "a"]), 4_000_000_000_000);
    // NX: only without an expiry. XX: only with one. GT/LT: only later/earlier; no expiry is
    // forever (so GT never applies to it, LT always does).
    assert_eq!(int(&mut c, &["EXPIRE", "a", "50", "NX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "a", "50", "XX"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "a", "40", "GT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "a", "60", "GT"]), 1);
    assert_eq!(int(&mut c, &["EXPIRE", "a", "70", "LT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "a", "30", "LT"]), 1);
    let ttl = int(&mut c, &["TTL", "a"]);
    assert!((29..=30).contains(&ttl), "{ttl}");
    let _: () = c.set("b", "1").unwrap();
    assert_eq!(int(&mut c, &["EXPIRE", "b", "50", "XX"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "b", "50", "GT"]), 0);
    assert_eq!(int(&mut c, &["EXPIRE", "b", "50", "LT"]), 1);
    assert_eq!(int(&mut c, &["PEXPIRE", "missing", "50", "NX"]), 0);
    for (args, message) in [
        (
            &["EXPIRE", "b", "5", "NX", "XX"][..],
            "NX and XX, GT or LT options at the same time are not compatible",
        ),
        (
            &["EXPIRE", "b", "5", "GT", "LT"][..],
            "GT and LT options at the same time are not compatible",
        ),
        // The option as given, as Redis 7.0 names it.
        (
            &["EXPIRE", "b", "5", "nx", "foo"][..],
            "Unsupported option foo",
        ),
        (
            &["PEXPIREAT", "b", "5", "Gt", "lT"][..],
            "GT and LT options",
        ),
    ] {
        let err = cmd::<i64>(&mut c, args).unwrap_err();
        assert!(err.to_string().contains(message), "{args:?}: {err}");
    }
    let time: Vec<String> = cmd(&mut c, &["TIME"]).unwrap();
    let secs: u64 = time[0].parse().unwrap();
    assert!(secs > 1_700_000_000 && time[1].parse::<u32>().unwrap() < 1_000_000);
    // Inside MULTI/EXEC too.
    let (set, kind): (i64, String) = redis::pipe()
        .atomic()
        .cmd("SETNX")
        .arg("m")
        .arg("1")
        .cmd("TYPE")
        .arg("m")
        .query(&mut c)
        .unwrap();
    assert_eq!((set, kind.as_str()), (1, "string"));
}

#[test]
fn getex_setrange_incrbyfloat_rename_copy_move_swapdb_flushall() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("keys.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    let s = |c: &mut redis::Connection, args: &[&str]| cmd::<Option<String>>(c, args).unwrap();
    // GETEX.
    let _: () = c.set("g", "v").unwrap();
    assert_eq!(
        s(&mut c, &["GETEX", "g", "EX", "100"]).as_deref(),
        Some("v")
    );
    assert!((99..=100).contains(&int(&mut c, &["TTL", "g"])));
    assert_eq!(s(&mut c, &["GETEX", "g", "PERSIST"]).as_deref(), Some("v"));
    assert_eq!(int(&mut c, &["TTL", "g"]), -1);
    assert_eq!(
        s(&mut c, &["GETEX", "g", "PXAT", "4000000000000"]).as_deref(),
        Some("v")
    );
    assert_eq!(int(&mut c, &["PEXPIRETIME", "g"]), 4_000_000_000_000);
    assert_eq!(s(&mut c, &["GETEX", "nope"]), None);
    // As Redis 7.0: a bad time on a missing key is nil (the key is looked up first).
    assert_eq!(s(&mut c, &["GETEX", "nope", "EX", "0"]), None);
    assert!(err_of::<String>(&mut c, &["GETEX", "g", "EX", "x"]).contains("not an integer"));
    assert!(err_of::<String>(&mut c, &["SCAN", "0", "COUNT", "0"]).contains("syntax error"));
    assert!(err_of::<String>(&mut c, &["GETEX", "g", "EX", "0"])
        .contains("invalid expire time in 'getex' command"));
    assert!(
        err_of::<String>(&mut c, &["GETEX", "g", "EX", "1", "PX", "1"]).contains("syntax error")
    );
    // SETRANGE pads with zeros and keeps the TTL.
    assert_eq!(int(&mut c, &["SETRANGE", "r", "3", "ab"]), 5);
    assert_eq!(c.get::<_, Vec<u8>>("r").unwrap(), b"\0\0\0ab");
    assert_eq!(int(&mut c, &["SETRANGE", "r", "1", "X"]), 5);
    assert_eq!(c.get::<_, Vec<u8>>("r").unwrap(), b"\0X\0ab");
    assert_eq!(int(&mut c, &["SETRANGE", "empty", "0", ""]), 0);
    assert_eq!(int(&mut c, &["EXISTS", "empty"]), 0);
    assert!(err_of::<i64>(&mut c, &["SETRANGE", "r", "-1", "x"]).contains("offset is out of range"));
    assert!(err_of::<i64>(&mut c, &["SETRANGE", "r", "536870911", "xx"])
        .contains("string exceeds maximum allowed size"));
    // INCRBYFLOAT.
    let _: () = c.set("f", "10.50").unwrap();
    assert_eq!(
        s(&mut c, &["INCRBYFLOAT", "f", "0.1"]).as_deref(),
        Some("10.6")
    );
    assert_eq!(
        s(&mut c, &["INCRBYFLOAT", "f", "-10.6"]).as_deref(),
        Some("0")
    );
    assert_eq!(
        s(&mut c, &["INCRBYFLOAT", "nf", "5.0e3"]).as_deref(),
        Some("5000")
    );
    assert!(
        err_of::<String>(&mut c, &["INCRBYFLOAT", "g", "1"]).contains("value is not a valid float")
    );
    assert!(err_of::<String>(&mut c, &["INCRBYFLOAT", "f", "abc"])
        .contains("value is not a valid float"));
    // RENAME keeps the TTL; RENAMENX refuses an existing target.
    assert_eq!(cmd::<String>(&mut c, &["RENAME", "g", "g2"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["EXISTS", "g"]), 0);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "g2"]), 4_000_000_000_000);
    assert!(err_of::<String>(&mut c, &["RENAME", "nope", "x"]).contains("no such key"));
    assert_eq!(int(&mut c, &["RENAMENX", "g2", "f"]), 0);
    assert_eq!(int(&mut c, &["RENAMENX", "g2", "g3"]), 1);
    // COPY.
    assert_eq!(int(&mut c, &["COPY", "g3", "c1"]), 1);
    assert_eq!(int(&mut c, &["COPY", "g3", "c1"]), 0);
    assert_eq!(int(&mut c, &["COPY", "f", "c1", "REPLACE"]), 1);
    assert_eq!(s(&mut c, &["GET", "c1"]).as_deref(), Some("0"));
    assert_eq!(int(&mut c, &["COPY", "g3", "c1", "DB", "3"]), 1);
    assert!(err_of::<i64>(&mut c, &["COPY", "g3", "g3"])
        .contains("source and destination objects are the same"));
    assert!(err_of::<i64>(&mut c, &["COPY", "g3", "x", "DB", "99"])
        .contains("DB index is out of range"));
    // MOVE.
    assert_eq!(int(&mut c, &["MOVE", "g3", "3"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "g3"]), 0);
    assert_eq!(int(&mut c, &["MOVE", "c1", "3"]), 0, "exists there");
    assert!(err_of::<i64>(&mut c, &["MOVE", "c1", "0"])
        .contains("source and destination objects are the same"));
    // SWAPDB: db 3 has c1, g3 (with its expiry).
    let before = int(&mut c, &["DBSIZE"]);
    assert_eq!(cmd::<String>(&mut c, &["SWAPDB", "0", "3"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["DBSIZE"]), 2);
    assert_eq!(int(&mut c, &["PEXPIRETIME", "g3"]), 4_000_000_000_000);
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "3"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["DBSIZE"]), before);
    assert!(err_of::<String>(&mut c, &["SWAPDB", "x", "1"]).contains("invalid first DB index"));
    assert!(err_of::<String>(&mut c, &["SWAPDB", "1", "x"]).contains("invalid second DB index"));
    // RANDOMKEY.
    let k: String = cmd(&mut c, &["RANDOMKEY"]).unwrap();
    assert_eq!(int(&mut c, &["EXISTS", &k]), 1);
    // SWAPDB carries hashes too (their fields and type rows are tables of the database).
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "5"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["HSET", "hh", "f", "v"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["SWAPDB", "5", "6"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["EXISTS", "hh"]), 0);
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "6"]).unwrap(), "OK");
    assert_eq!(s(&mut c, &["HGET", "hh", "f"]).as_deref(), Some("v"));
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "hh"]).unwrap(), "hash");
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "3"]).unwrap(), "OK");
    // FLUSHALL empties every database.
    assert_eq!(cmd::<String>(&mut c, &["FLUSHALL"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "0"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["DBSIZE"]), 0);
    assert_eq!(cmd::<Option<String>>(&mut c, &["RANDOMKEY"]).unwrap(), None);
}

/// SETBIT/GETBIT and LCS are string commands (Redis' own examples), SAVE is a checkpoint, and
/// SHUTDOWN stops the server gracefully, keeping every commit; neither is allowed in MULTI.
#[test]
fn bits_lcs_save_and_shutdown() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bits.mmt");
    let server = Server::start(&file, &[]);
    let mut s = server.raw();
    exchange(&mut s, &[&["SETBIT", "b", "1", "1"]], ":0\r\n");
    exchange(&mut s, &[&["GET", "b"]], "$1\r\n@\r\n");
    exchange(&mut s, &[&["SETBIT", "b", "2", "1"]], ":0\r\n");
    exchange(&mut s, &[&["SETBIT", "b", "1", "0"]], ":1\r\n");
    exchange(&mut s, &[&["GET", "b"]], "$1\r\n \r\n");
    exchange(&mut s, &[&["SETBIT", "b", "17", "1"]], ":0\r\n");
    exchange(&mut s, &[&["STRLEN", "b"]], ":3\r\n");
    exchange(&mut s, &[&["GETBIT", "b", "2"]], ":1\r\n");
    exchange(&mut s, &[&["GETBIT", "b", "17"]], ":1\r\n");
    exchange(&mut s, &[&["GETBIT", "b", "100000"]], ":0\r\n");
    exchange(&mut s, &[&["GETBIT", "none", "0"]], ":0\r\n");
    let range = "-ERR bit offset is not an integer or out of range\r\n";
    exchange(&mut s, &[&["SETBIT", "b", "4294967296", "1"]], range);
    exchange(&mut s, &[&["SETBIT", "b", "-1", "1"]], range);
    exchange(
        &mut s,
        &[&["SETBIT", "b", "0", "2"]],
        "-ERR bit is not an integer or out of range\r\n",
    );
    exchange(&mut s, &[&["HSET", "h", "f", "v"]], ":1\r\n");
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n";
    exchange(&mut s, &[&["SETBIT", "h", "0", "1"]], wrongtype);
    exchange(&mut s, &[&["GETBIT", "h", "0"]], wrongtype);
    // LCS, as in Redis' documentation.
    exchange(
        &mut s,
        &[&["MSET", "k1", "ohmytext", "k2", "mynewtext"]],
        "+OK\r\n",
    );
    exchange(&mut s, &[&["LCS", "k1", "k2"]], "$6\r\nmytext\r\n");
    exchange(&mut s, &[&["LCS", "k1", "k2", "LEN"]], ":6\r\n");
    exchange(
        &mut s,
        &[&["LCS", "k1", "k2", "IDX"]],
        "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
    );
    exchange(
        &mut s,
        &[&["LCS", "k1", "k2", "IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]],
        "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
    );
    exchange(
        &mut s,
        &[&["LCS", "k1", "k2", "LEN", "IDX"]],
        "-ERR If you want both the length and indexes, please just use IDX.\r\n",
    );
    exchange(&mut s, &[&["LCS", "k1", "nothing"]], "$0\r\n\r\n");
    exchange(
        &mut s,
        &[&["LCS", "k1", "h"]],
        "-ERR The specified keys must contain string values\r\n",
    );
    // SAVE; SAVE and SHUTDOWN refused inside MULTI (and the transaction with them).
    exchange(&mut s, &[&["SAVE"]], "+OK\r\n");
    exchange(
        &mut s,
        &[&["MULTI"], &["SET", "foo", "bar"], &["SHUTDOWN"], &["SAVE"], &["EXEC"]],
        "+OK\r\n+QUEUED\r\n-ERR Command not allowed inside a transaction\r\n-ERR Command not allowed inside a transaction\r\n-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    exchange(&mut s, &[&["GET", "foo"]], "$-1\r\n");
    // SHUTDOWN: no reply, the connection closes, the server exits 0, the data stays.
    exchange(&mut s, &[&["SET", "kept", "yes"]], "+OK\r\n");
    s.write_all(resp(&["SHUTDOWN", "NOSAVE"]).as_bytes())
        .unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "SHUTDOWN replied {rest:?}");
    let mut server = server;
    let started = Instant::now();
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "still running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let out = mmtree(&["get", file.to_str().unwrap(), "db0", "kept", "--raw"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
}

/// Runs the `mmtree` binary (not the server).
#[test]
fn values_the_server_writes_read_the_same_through_mmtree_get() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.mmt");
    let server = Server::start(&file, &[]);
    let mut c = server.client();
    let _: () = c.set("plain", "hello").unwrap();
    let _: () = cmd(&mut c, &["SET", "timed", "bye", "EX", "1000"]).unwrap();
    let _: () = c.set(b"bin", &b"\x00\x01\xffz"[..]).unwrap();
    assert_eq!(server.stop().code(), Some(0));
    let path = file.to_str().unwrap();
    for (key, value) in [
        ("plain", &b"hello"[..]),
        ("timed", b"bye"),
        ("bin", b"\x00\x01\xffz"),
    ] {
        let out = mmtree(&["get", path, "db0", key, "--raw"]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(out.stdout, value, "mmtree get of {key}");
    }
    // The expiry time lives in an internal table, hidden from a plain listing.
    let listing = tables_listing(&file, false);
    assert_eq!(listing, "db0\t3\n", "{listing}");
    let all = tables_listing(&file, true);
    assert!(all.contains("__serve:expires:db0\t1\n"), "{all}");
    assert!(all.contains("__serve:expiry-queue\t1\n"), "{all}");
    // A restarted server still knows the expiry.
    let server = Server::start(&file, &[]);
    let mut c = server.client();
    assert!(cmd::<i64>(&mut c, &["TTL", "timed"]).unwrap() > 990);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "plain"]).unwrap(), -1);
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 3);
    let mut keys: Vec<String> = cmd(&mut c, &["KEYS", "*"]).unwrap();
    keys.sort();
    assert_eq!(keys, ["bin", "plain", "timed"]);
}

#[test]
fn values_mmtree_put_stores_read_back_unchanged_through_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.mmt");
    let path = file.to_str().unwrap();
    // Values that looked like the old header: 0x00 + data, and 0x01 + 8 bytes (an "expiry").
    let values: [(&str, &[u8]); 3] = [
        ("zero", b"\x00hello"),
        ("one", b"\x01\x00\x00\x00\x00\x00\x00\x00\x00rest"),
        ("nine", b"\x01\x02\x03\x04\x05\x06\x07\x08\x09"),
    ];
    for (key, value) in values {
        let out = mmtree(&[
            "put",
            path,
            "db0",
            &hex(key.as_bytes()),
            &hex(value),
            "--hex",
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    let server = Server::start(&file, &[]);
    let mut c = server.client();
    for (key, value) in values {
        assert_eq!(c.get::<_, Vec<u8>>(key).unwrap(), value, "GET {key}");
        assert_eq!(cmd::<i64>(&mut c, &["TTL", key]).unwrap(), -1, "TTL {key}");
        assert_eq!(
            cmd::<i64>(&mut c, &["STRLEN", key]).unwrap(),
            value.len() as i64
        );
    }
    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "zero", "one", "nine"]).unwrap(),
        3
    );
    // An expiry set through the server leaves the value's bytes alone.
    assert_eq!(cmd::<i64>(&mut c, &["EXPIRE", "one", "500"]).unwrap(), 1);
    assert_eq!(c.get::<_, Vec<u8>>("one").unwrap(), values[1].1);
    assert_eq!(server.stop().code(), Some(0));
    let out = mmtree(&["get", path, "db0", "one", "--raw"]);
    assert_eq!(out.stdout, values[1].1);
}
