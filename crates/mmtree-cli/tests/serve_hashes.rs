//! The hash family of `mmtree serve`.

mod common;

use common::*;
use redis::Commands;
use std::time::Duration;

#[test]
fn hashes_are_ordered_keys_with_their_own_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("hash.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    assert_eq!(int(&mut c, &["HSET", "h", "a", "1", "b", "2"]), 2);
    assert_eq!(int(&mut c, &["HSET", "h", "a", "9", "c", "3"]), 1);
    assert_eq!(
        cmd::<String>(&mut c, &["HMSET", "h", "d", "4"]).unwrap(),
        "OK"
    );
    assert_eq!(int(&mut c, &["HSETNX", "h", "a", "x"]), 0);
    assert_eq!(int(&mut c, &["HSETNX", "h", "e", "5"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["HGET", "h", "a"]).unwrap(), "9");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["HGET", "h", "zz"]).unwrap(),
        None
    );
    assert_eq!(
        cmd::<Vec<Option<String>>>(&mut c, &["HMGET", "h", "b", "zz"]).unwrap(),
        vec![Some("2".into()), None]
    );
    assert_eq!(int(&mut c, &["HLEN", "h"]), 5);
    assert_eq!(int(&mut c, &["HEXISTS", "h", "c"]), 1);
    assert_eq!(int(&mut c, &["HSTRLEN", "h", "a"]), 1);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["HKEYS", "h"]).unwrap(),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["HVALS", "h"]).unwrap(),
        ["9", "2", "3", "4", "5"]
    );
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["HGETALL", "h"]).unwrap(),
        ["a", "9", "b", "2", "c", "3", "d", "4", "e", "5"]
    );
    assert_eq!(int(&mut c, &["HINCRBY", "h", "a", "-10"]), -1);
    assert_eq!(
        cmd::<String>(&mut c, &["HINCRBYFLOAT", "h", "n", "1.5"]).unwrap(),
        "1.5"
    );
    let _: () = cmd(&mut c, &["HSET", "h", "s", "x"]).unwrap();
    assert!(
        err_of::<i64>(&mut c, &["HINCRBY", "h", "s", "1"]).contains("hash value is not an integer")
    );
    assert!(err_of::<String>(&mut c, &["HINCRBYFLOAT", "h", "s", "1"])
        .contains("hash value is not a float"));
    assert!(
        err_of::<String>(&mut c, &["HINCRBYFLOAT", "hfoo", "f", "+inf"])
            .contains("value is NaN or Infinity")
    );
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "hfoo"]).unwrap(), 0);
    // The type shows everywhere; string commands refuse a hash and hash commands a string.
    let _: () = c.set("str", "v").unwrap();
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "h"]).unwrap(), "hash");
    for args in [
        &["GET", "h"][..],
        &["APPEND", "h", "x"],
        &["INCR", "h"],
        &["STRLEN", "h"],
        &["GETRANGE", "h", "0", "1"],
        &["HGET", "str", "a"],
        &["HSET", "str", "a", "1"],
        &["HGETALL", "str"],
        &["HSCAN", "str", "0"],
    ] {
        let e = err_of::<redis::Value>(&mut c, args);
        assert!(e.contains("WRONGTYPE"), "{args:?}: {e}");
    }
    assert_eq!(
        cmd::<Vec<Option<String>>>(&mut c, &["MGET", "h", "str"]).unwrap(),
        vec![None, Some("v".into())]
    );
    assert_eq!(int(&mut c, &["EXISTS", "h"]), 1);
    assert_eq!(int(&mut c, &["DBSIZE"]), 2);
    // HSCAN walks the fields in order, a page at a time.
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let (next, page): (String, Vec<String>) =
            cmd(&mut c, &["HSCAN", "h", &cursor, "COUNT", "3"]).unwrap();
        seen.extend(page.chunks(2).map(|p| p[0].clone()));
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen, ["a", "b", "c", "d", "e", "n", "s"]);
    let (_, page): (String, Vec<String>) = cmd(
        &mut c,
        &["HSCAN", "h", "0", "MATCH", "[bc]", "COUNT", "100"],
    )
    .unwrap();
    assert_eq!(page, ["b", "2", "c", "3"]);
    // HRANDFIELD.
    let one: String = cmd(&mut c, &["HRANDFIELD", "h"]).unwrap();
    assert!(seen.contains(&one));
    let three: Vec<String> = cmd(&mut c, &["HRANDFIELD", "h", "3"]).unwrap();
    let mut distinct = three.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!((three.len(), distinct.len()), (3, 3));
    let all: Vec<String> = cmd(&mut c, &["HRANDFIELD", "h", "100"]).unwrap();
    assert_eq!(all.len(), 7);
    let repeated: Vec<String> = cmd(&mut c, &["HRANDFIELD", "h", "-20", "WITHVALUES"]).unwrap();
    assert_eq!(repeated.len(), 40);
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["HRANDFIELD", "nohash"]).unwrap(),
        None
    );
    // HDEL of the last field deletes the key.
    assert_eq!(int(&mut c, &["HDEL", "h", "a", "b", "zz"]), 2);
    // RENAME and COPY carry the fields and the expiry.
    assert_eq!(int(&mut c, &["EXPIRE", "h", "1000"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["RENAME", "h", "h2"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["HLEN", "h"]), 0);
    assert_eq!(int(&mut c, &["HLEN", "h2"]), 5);
    assert!(int(&mut c, &["TTL", "h2"]) > 990);
    assert_eq!(int(&mut c, &["COPY", "h2", "h3", "DB", "1"]), 1);
    assert_eq!(int(&mut c, &["PERSIST", "h2"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["HGET", "h2", "c"]).unwrap(), "3");
    // SET replaces a hash with a string; DEL removes the fields.
    let _: () = c.set("h2", "plain").unwrap();
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "h2"]).unwrap(), "string");
    assert!(err_of::<i64>(&mut c, &["HLEN", "h2"]).contains("WRONGTYPE"));
    let _: () = cmd(&mut c, &["SELECT", "1"]).unwrap();
    assert_eq!(int(&mut c, &["HDEL", "h3", "c", "d", "e", "n", "s"]), 5);
    assert_eq!(int(&mut c, &["EXISTS", "h3"]), 0);
    // An expired hash is gone, and a new HSET does not bring back its fields.
    assert_eq!(int(&mut c, &["HSET", "t", "old", "1"]), 1);
    assert_eq!(int(&mut c, &["PEXPIRE", "t", "50"]), 1);
    std::thread::sleep(Duration::from_millis(120));
    assert_eq!(int(&mut c, &["HLEN", "t"]), 0);
    assert_eq!(int(&mut c, &["HSET", "t", "new", "1"]), 1);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["HKEYS", "t"]).unwrap(),
        ["new"]
    );
    // Inside MULTI.
    let (n, kind): (i64, String) = redis::pipe()
        .atomic()
        .cmd("HSET")
        .arg("m")
        .arg("f")
        .arg("v")
        .cmd("TYPE")
        .arg("m")
        .query(&mut c)
        .unwrap();
    assert_eq!((n, kind.as_str()), (1, "hash"));
}

/// Redis' "HRANDFIELD count overflow": -2^63 (and a count whose reply could never be built) is
/// refused; it used to panic the event loop, which closed every connection of the server.
#[test]
fn a_random_pick_of_minus_two_to_the_63_is_refused_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("rf.mmt"), &[]);
    let mut s = server.raw();
    let mut other = server.raw();
    exchange(&mut s, &[&["HSET", "h", "a", "1"]], ":1\r\n");
    exchange(&mut s, &[&["SADD", "s", "a"]], ":1\r\n");
    let range = "-ERR value is out of range\r\n";
    exchange(
        &mut s,
        &[&["HRANDFIELD", "h", "-9223372036854775808"]],
        range,
    );
    exchange(
        &mut s,
        &[&["HRANDFIELD", "h", "-9223372036854770000", "WITHVALUES"]],
        range,
    );
    exchange(
        &mut s,
        &[&["SRANDMEMBER", "s", "-9223372036854775808"]],
        range,
    );
    exchange(
        &mut s,
        &[&["HRANDFIELD", "h", "-1000000000000"]],
        "-ERR value is out of range (mmtree picks at most 10000000 at a time)\r\n",
    );
    exchange(
        &mut s,
        &[&["HRANDFIELD", "h", "-3"]],
        "*3\r\n$1\r\na\r\n$1\r\na\r\n$1\r\na\r\n",
    );
    exchange(&mut other, &[&["PING"]], "+PONG\r\n");
}
