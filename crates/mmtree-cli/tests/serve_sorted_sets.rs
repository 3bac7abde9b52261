//! The sorted-set family of `mmtree serve`.

mod common;

use common::*;

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// Goal: after HELLO 3, scores are RESP3 doubles (`,1.5`) and SPOP with a count is a set, as
/// Redis sends them; in RESP2 they stay bulk strings and an array. Method: each reply's type on
/// one connection in each protocol.
#[test]
fn resp3_scores_are_doubles_and_spop_with_a_count_is_a_set() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("z3.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "z", "1.5", "a"]),
        Value::Int(1)
    );
    assert_eq!(call(&mut c, &mut r, &["ZSCORE", "z", "a"]), bulk("1.5"));
    assert!(matches!(
        call(&mut c, &mut r, &["HELLO", "3"]),
        Value::Map(_)
    ));
    assert_eq!(
        call(&mut c, &mut r, &["ZSCORE", "z", "a"]),
        Value::Double("1.5".into())
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZINCRBY", "z", "1", "a"]),
        Value::Double("2.5".into())
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "z", "INCR", "2", "a"]),
        Value::Double("4.5".into())
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "z", "inf", "b"]),
        Value::Int(1)
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]),
        Value::Array(vec![
            Value::Array(vec![bulk("a"), Value::Double("4.5".into())]),
            Value::Array(vec![bulk("b"), Value::Double("inf".into())]),
        ])
    );
    // Inside MULTI too.
    assert_eq!(call(&mut c, &mut r, &["MULTI"]), Value::Simple("OK".into()));
    call(&mut c, &mut r, &["ZINCRBY", "z", "1", "a"]);
    call(&mut c, &mut r, &["ZSCORE", "z", "a"]);
    assert_eq!(
        call(&mut c, &mut r, &["EXEC"]),
        Value::Array(vec![
            Value::Double("5.5".into()),
            Value::Double("5.5".into())
        ])
    );
    assert_eq!(
        call(&mut c, &mut r, &["SADD", "s", "x", "y", "w"]),
        Value::Int(3)
    );
    let Value::Set(popped) = call(&mut c, &mut r, &["SPOP", "s", "2"]) else {
        panic!("SPOP with a count is a set in RESP3");
    };
    assert_eq!(popped.len(), 2);
}

/// Goal: -0 and 0 are the same score, so equal scores order by member as in Redis. Method:
/// ZADD of 0 and -0, then ZRANGE; and a member moved to -0.
#[test]
fn minus_zero_and_zero_are_one_score() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("z0.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "z", "0", "a", "-0", "b"]),
        Value::Int(2)
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZRANGE", "z", "0", "-1"]),
        Value::Array(vec![bulk("a"), bulk("b")])
    );
    // The order row of an existing member moved to -0 sorts with 0 too.
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "y", "5", "b", "0", "a"]),
        Value::Int(2)
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZADD", "y", "XX", "-0", "b"]),
        Value::Int(0)
    );
    assert_eq!(
        call(&mut c, &mut r, &["ZRANGE", "y", "0", "-1"]),
        Value::Array(vec![bulk("a"), bulk("b")])
    );
}

/// Sorted sets: two rows per member (by member, by score) in the key's run, so ZRANGE is in
/// score order (negative and infinite scores too), ZADD's flags follow Redis 7, and RENAME/DEL
/// carry or drop both rows.
#[test]
fn sorted_sets_keep_members_in_score_order() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("z.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    let list = |c: &mut redis::Connection, args: &[&str]| cmd::<Vec<String>>(c, args).unwrap();
    assert_eq!(
        int(
            &mut c,
            &["ZADD", "z", "3", "c", "-1.5", "a", "+inf", "top", "0", "b", "-inf", "low"]
        ),
        5
    );
    assert_eq!(
        list(&mut c, &["ZRANGE", "z", "0", "-1"]),
        ["low", "a", "b", "c", "top"]
    );
    assert_eq!(
        list(&mut c, &["ZRANGE", "z", "1", "2", "WITHSCORES"]),
        ["a", "-1.5", "b", "0"]
    );
    assert_eq!(
        list(&mut c, &["ZRANGE", "z", "-1", "-1", "WITHSCORES"]),
        ["top", "inf"]
    );
    assert_eq!(int(&mut c, &["ZCARD", "z"]), 5);
    // Flags: NX adds only, XX updates only, GT/LT only move up/down, CH counts changes.
    assert_eq!(int(&mut c, &["ZADD", "z", "NX", "100", "a", "7", "n"]), 1);
    assert_eq!(
        cmd::<String>(&mut c, &["ZSCORE", "z", "a"]).unwrap(),
        "-1.5"
    );
    assert_eq!(
        int(&mut c, &["ZADD", "z", "XX", "CH", "5", "a", "9", "nothere"]),
        1
    );
    assert_eq!(int(&mut c, &["ZADD", "z", "GT", "CH", "1", "a"]), 0);
    assert_eq!(int(&mut c, &["ZADD", "z", "LT", "CH", "1", "a"]), 1);
    assert_eq!(
        cmd::<String>(&mut c, &["ZINCRBY", "z", "2.5", "a"]).unwrap(),
        "3.5"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["ZADD", "z", "INCR", "1", "a"]).unwrap(),
        "4.5"
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["ZADD", "z", "NX", "INCR", "1", "a"]).unwrap(),
        None
    );
    assert!(err_of::<i64>(&mut c, &["ZADD", "z", "NX", "XX", "1", "a"]).contains("not compatible"));
    assert!(err_of::<i64>(&mut c, &["ZADD", "z", "GT", "LT", "1", "a"]).contains("not compatible"));
    assert!(err_of::<i64>(&mut c, &["ZADD", "z", "x", "a"]).contains("not a valid float"));
    assert!(err_of::<i64>(&mut c, &["ZADD", "z", "1"]).contains("syntax error"));
    assert_eq!(
        list(&mut c, &["ZRANGE", "z", "0", "-1"]),
        ["low", "b", "c", "a", "n", "top"]
    );
    // A tiny score prints as a number, not 0 (Redis' issue #2175).
    assert_eq!(
        int(&mut c, &["ZADD", "tiny", "9.8813129168249309e-323", "m"]),
        1
    );
    let (_, page): (String, Vec<String>) = cmd(&mut c, &["ZSCAN", "tiny", "0"]).unwrap();
    assert_eq!(page[0], "m");
    assert_ne!(page[1].parse::<f64>().unwrap(), 0.0, "{page:?}");
    // ZSCAN in pages, MATCH on members.
    for i in 0..30 {
        int(
            &mut c,
            &["ZADD", "many", &i.to_string(), &format!("key:{i:02}")],
        );
    }
    let (mut cursor, mut seen) = ("0".to_string(), 0);
    loop {
        let (next, page): (String, Vec<String>) =
            cmd(&mut c, &["ZSCAN", "many", &cursor, "COUNT", "7"]).unwrap();
        seen += page.len() / 2;
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen, 30);
    let (_, matched): (String, Vec<String>) = cmd(
        &mut c,
        &["ZSCAN", "many", "0", "MATCH", "key:1*", "COUNT", "100"],
    )
    .unwrap();
    assert_eq!(matched.len(), 20);
    // ZREM, types, and the rows going with the key.
    assert_eq!(int(&mut c, &["ZREM", "z", "a", "zz", "low"]), 2);
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "z"]).unwrap(), "zset");
    assert!(err_of::<i64>(&mut c, &["SADD", "z", "m"]).contains("WRONGTYPE"));
    let _: () = cmd(&mut c, &["SET", "s", "v"]).unwrap();
    assert!(err_of::<i64>(&mut c, &["ZADD", "s", "1", "m"]).contains("WRONGTYPE"));
    assert_eq!(cmd::<String>(&mut c, &["RENAME", "z", "z2"]).unwrap(), "OK");
    assert_eq!(
        list(&mut c, &["ZRANGE", "z2", "0", "-1"]),
        ["b", "c", "n", "top"]
    );
    assert_eq!(int(&mut c, &["DEL", "z2"]), 1);
    assert_eq!(int(&mut c, &["ZADD", "z2", "1", "fresh"]), 1);
    assert_eq!(list(&mut c, &["ZRANGE", "z2", "0", "-1"]), ["fresh"]);
    assert_eq!(int(&mut c, &["ZREM", "z2", "fresh"]), 1);
    assert_eq!(int(&mut c, &["EXISTS", "z2"]), 0);
}
