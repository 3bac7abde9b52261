//! The set family of `mmtree serve`.

mod common;

use common::*;

/// Sets: members are rows of the same kind as hash fields (an ordered run per key) with their own
/// type, so DEL, EXPIRE, RENAME, COPY, MOVE, SWAPDB, SCAN TYPE and WRONGTYPE treat them as Redis
/// does; SPOP inside MULTI runs in the transaction.
#[test]
fn sets_are_ordered_members_with_their_own_type() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("sets.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    let list = |c: &mut redis::Connection, args: &[&str]| cmd::<Vec<String>>(c, args).unwrap();
    assert_eq!(int(&mut c, &["SADD", "s", "b", "a", "c", "a"]), 3);
    assert_eq!(int(&mut c, &["SADD", "s", "a", "d"]), 1);
    assert_eq!(int(&mut c, &["SCARD", "s"]), 4);
    assert_eq!(list(&mut c, &["SMEMBERS", "s"]), ["a", "b", "c", "d"]);
    assert_eq!(int(&mut c, &["SISMEMBER", "s", "c"]), 1);
    assert_eq!(int(&mut c, &["SISMEMBER", "s", "z"]), 0);
    assert_eq!(
        cmd::<Vec<i64>>(&mut c, &["SMISMEMBER", "s", "a", "z", "d"]).unwrap(),
        [1, 0, 1]
    );
    assert_eq!(int(&mut c, &["SREM", "s", "a", "z"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "s"]).unwrap(), "set");
    // Wrong types both ways.
    let _: () = cmd(&mut c, &["SET", "str", "x"]).unwrap();
    assert!(err_of::<i64>(&mut c, &["SADD", "str", "m"]).contains("WRONGTYPE"));
    assert!(err_of::<Option<String>>(&mut c, &["GET", "s"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["HSET", "s", "f", "v"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["SCARD", "str"]).contains("WRONGTYPE"));
    assert_eq!(
        cmd::<Vec<Option<String>>>(&mut c, &["MGET", "str", "s"]).unwrap(),
        [Some("x".to_string()), None]
    );
    // SRANDMEMBER: distinct members with a positive count, repeats with a negative one.
    let mut picked = list(&mut c, &["SRANDMEMBER", "s", "10"]);
    picked.sort();
    assert_eq!(picked, ["b", "c", "d"]);
    assert_eq!(list(&mut c, &["SRANDMEMBER", "s", "-7"]).len(), 7);
    let one: String = cmd(&mut c, &["SRANDMEMBER", "s"]).unwrap();
    assert!(["b", "c", "d"].contains(&one.as_str()));
    // SSCAN in pages.
    for i in 0..25 {
        int(&mut c, &["SADD", "big", &format!("m{i:02}")]);
    }
    let mut cursor = "0".to_string();
    let mut seen = Vec::new();
    loop {
        let (next, page): (String, Vec<String>) =
            cmd(&mut c, &["SSCAN", "big", &cursor, "COUNT", "10"]).unwrap();
        seen.extend(page);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 25);
    assert_eq!(
        cmd::<(String, Vec<String>)>(&mut c, &["SCAN", "0", "TYPE", "set"])
            .unwrap()
            .1
            .len(),
        2
    );
    // SPOP, and the key goes with its last member; inside MULTI as the Redis suite does.
    let popped: Vec<String> = cmd(&mut c, &["SPOP", "s", "2"]).unwrap();
    assert_eq!(popped.len(), 2);
    assert_eq!(int(&mut c, &["SCARD", "s"]), 1);
    let (last,): (String,) = redis::pipe()
        .atomic()
        .cmd("SPOP")
        .arg("s")
        .query(&mut c)
        .unwrap();
    assert!(["b", "c", "d"].contains(&last.as_str()));
    assert_eq!(int(&mut c, &["EXISTS", "s"]), 0);
    assert_eq!(cmd::<Option<String>>(&mut c, &["SPOP", "s"]).unwrap(), None);
    // RENAME, COPY, MOVE carry the members and the type; EXPIRE and DEL drop them.
    assert_eq!(
        cmd::<String>(&mut c, &["RENAME", "big", "b2"]).unwrap(),
        "OK"
    );
    assert_eq!(int(&mut c, &["COPY", "b2", "b3"]), 1);
    assert_eq!(int(&mut c, &["SCARD", "b3"]), 25);
    assert_eq!(int(&mut c, &["MOVE", "b3", "4"]), 1);
    assert_eq!(int(&mut c, &["DEL", "b2"]), 1);
    assert_eq!(int(&mut c, &["SCARD", "b2"]), 0);
    assert_eq!(
        int(&mut c, &["SADD", "b2", "fresh"]),
        1,
        "no member of the old set is left"
    );
    assert_eq!(list(&mut c, &["SMEMBERS", "b2"]), ["fresh"]);
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "4"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["SCARD", "b3"]), 25);
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "b3"]).unwrap(), "set");
    // Raw protocol: SRANDMEMBER of no set is a null array in Redis 7.0.
    let mut raw = server.raw();
    exchange(&mut raw, &[&["SRANDMEMBER", "nothing"]], "*-1\r\n");
}

/// Goal: set algebra, its STORE forms, SINTERCARD and SMOVE answer as redis-server 7.0 (replies
/// and events from it side by side): missing keys as empty sets, WRONGTYPE for any key of
/// another type, an empty result deleting the destination (and its expiry), SMOVE's order of
/// checks; the algebra runs in its place inside MULTI and its reply is a RESP3 set.
#[test]
fn algebra_and_moves_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("sa.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let mut sub = server.raw();
    let mut sr = Replies::new(&sub);
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    table(
        &mut c,
        &mut r,
        &[("CONFIG SET notify-keyspace-events KEA", "+OK")],
    );
    call(&mut sub, &mut sr, &["PSUBSCRIBE", "__keyevent@0__:*"]);
    table(
        &mut c,
        &mut r,
        &[
            ("SADD a 1 2 3 4", ":4"),
            ("SADD b 3 4 5", ":3"),
            ("SADD c 4 5 6", ":3"),
            ("SINTER a b c", "[4]"),
            ("SINTER a missing", "[]"),
            ("SUNION a b c", "[1,2,3,4,5,6]"),
            ("SDIFF a b c", "[1,2]"),
            ("SDIFF missing a", "[]"),
            ("SINTERCARD 2 a b", ":2"),
            ("SINTERCARD 2 a b LIMIT 1", ":1"),
            ("SINTERCARD 0 a", "-ERR numkeys should be greater than 0"),
            (
                "SINTERCARD 5 a",
                "-ERR Number of keys can't be greater than number of args",
            ),
            ("SINTERCARD 1 a LIMIT x", "-ERR LIMIT can't be negative"),
            ("SINTERSTORE d a b", ":2"),
            ("SUNIONSTORE d a c", ":6"),
            ("SDIFFSTORE d a b", ":2"),
            ("SMEMBERS d", "[1,2]"),
            ("EXPIRE d 100", ":1"),
            ("SINTERSTORE d a missing", ":0"),
            ("EXISTS d", ":0"),
            ("SET s x", "+OK"),
            ("SINTER missing s", wrongtype),
            ("SUNION s a", wrongtype),
            ("SINTERSTORE d a s", wrongtype),
            ("SMOVE a b 1", ":1"),
            ("SMOVE a b 3", ":1"),
            ("SMOVE a b zz", ":0"),
            ("SMOVE missing s 1", ":0"),
            ("SMOVE a s 2", wrongtype),
            ("SMOVE a a 2", ":1"),
            ("SADD one x", ":1"),
            ("SMOVE one two x", ":1"),
            ("EXISTS one", ":0"),
            ("SMEMBERS two", "[x]"),
            ("SET end x", "+OK"),
        ],
    );
    let events = keyevents_until(&mut sr, "end");
    assert_eq!(
        events,
        [
            "sadd:a",
            "sadd:b",
            "sadd:c",
            "sinterstore:d",
            "sunionstore:d",
            "sdiffstore:d",
            "expire:d",
            "del:d",
            "set:s",
            "srem:a",
            "sadd:b",
            "srem:a",
            "sadd:one",
            "srem:one",
            "del:one",
            "sadd:two",
        ]
    );
    assert!(matches!(
        call(&mut c, &mut r, &["HELLO", "3"]),
        Value::Map(_)
    ));
    table(
        &mut c,
        &mut r,
        &[
            ("MULTI", "+OK"),
            ("SADD m x y", "+QUEUED"),
            ("SMOVE m n x", "+QUEUED"),
            ("SUNION m n", "+QUEUED"),
            ("SINTERCARD 2 m n", "+QUEUED"),
            ("EXEC", "[:2,:1,~[x,y],:0]"),
        ],
    );
}

/// Goal: SMOVE of a member the destination already holds leaves the destination unchanged, so a
/// transaction watching it still runs (Redis' "SMOVE only notify dstset when the addition is
/// successful"). Method: WATCH dst, SMOVE from another connection, EXEC.
#[test]
fn smove_of_a_member_already_there_does_not_touch_the_destination() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("sm.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let mut other = server.raw();
    let mut or = Replies::new(&other);
    table(
        &mut c,
        &mut r,
        &[
            ("SADD src a b", ":2"),
            ("SADD dst a", ":1"),
            ("WATCH dst", "+OK"),
            ("MULTI", "+OK"),
            ("SADD dst c", "+QUEUED"),
        ],
    );
    table(
        &mut other,
        &mut or,
        &[("SMOVE src dst a", ":1"), ("SMEMBERS src", "[b]")],
    );
    table(&mut c, &mut r, &[("EXEC", "[:1]"), ("SCARD dst", ":2")]);
}
