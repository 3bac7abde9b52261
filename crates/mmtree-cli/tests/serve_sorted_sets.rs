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
    // Too few arguments: the arity error first, as Redis.
    assert!(err_of::<i64>(&mut c, &["ZADD", "z", "1"]).contains("wrong number of arguments"));
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

/// Goal: the range commands answer as redis-server 7.0 (checked side by side against it):
/// ranks with negative indexes, BYSCORE with exclusive and infinite bounds, BYLEX with `[`, `(`,
/// `-`, `+`, REV, LIMIT (negative offset: nothing; negative count: all), the older forms, ranks,
/// counts, and their errors. Method: a table of commands and the replies redis-server gave.
#[test]
fn range_commands_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("zr.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("ZADD z 1 a 2 b 3 c 3 d -1 e 5 f", ":6"),
            ("ZRANGE z -2 -1 WITHSCORES", "[d,3,f,5]"),
            ("ZRANGE z 1 0", "[]"),
            ("ZRANGE z 0 -1 REV", "[f,d,c,b,a,e]"),
            ("ZRANGE z (1 3 BYSCORE", "[b,c,d]"),
            ("ZRANGE z -inf +inf BYSCORE", "[e,a,b,c,d,f]"),
            ("ZRANGE z +inf -inf BYSCORE REV LIMIT 1 2", "[d,c]"),
            ("ZRANGE z (3 (3 BYSCORE", "[]"),
            ("ZRANGE z 1 3 BYSCORE LIMIT 1 -1", "[b,c,d]"),
            ("ZRANGE z 1 3 BYSCORE LIMIT -1 2", "[]"),
            ("ZRANGE z 1 3 BYSCORE LIMIT 0 0", "[]"),
            (
                "ZRANGE z 0 -1 LIMIT 1 1",
                "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ),
            (
                "ZRANGE z - + BYLEX WITHSCORES",
                "-ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ),
            ("ZRANGEBYSCORE z a b", "-ERR min or max is not a float"),
            ("ZRANGEBYSCORE z 2 3 WITHSCORES", "[b,2,c,3,d,3]"),
            ("ZREVRANGEBYSCORE z 3 2 WITHSCORES LIMIT 0 1", "[d,3]"),
            ("ZREVRANGE z -100 1", "[f,d]"),
            ("ZRANK z c", ":3"),
            ("ZREVRANK z c", ":2"),
            ("ZRANK z nope", "nil"),
            ("ZRANK missing a", "nil"),
            ("ZCOUNT z (1 3", ":3"),
            ("ZCOUNT z -inf +inf", ":6"),
            ("ZMSCORE z a nope c", "[1,nil,3]"),
            ("ZADD l 0 a 0 b 0 c 0 d 0 e", ":5"),
            ("ZRANGEBYLEX l [b (e", "[b,c,d]"),
            ("ZRANGEBYLEX l (b [e LIMIT 1 2", "[d,e]"),
            ("ZREVRANGEBYLEX l + - LIMIT 0 2", "[e,d]"),
            ("ZRANGE l [e [c BYLEX REV", "[e,d,c]"),
            ("ZRANGEBYLEX l + -", "[]"),
            ("ZRANGEBYLEX l b e", "-ERR min or max not valid string range item"),
            ("ZLEXCOUNT l [c +", ":3"),
            ("SET s x", "+OK"),
            (
                "ZRANGE s 0 -1",
                "-WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            (
                "ZRANK s a",
                "-WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
        ],
    );
}

/// Goal: the writes that pop, remove ranges and store results answer and change the set as
/// Redis, delete a key they empty (and its expiry), send Redis' keyspace events, and run in
/// their place inside MULTI. Method: a table of commands (replies from redis-server 7.0), then
/// the events a PSUBSCRIBE connection received, then a transaction.
#[test]
fn pops_removals_and_stores_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("zw.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let mut sub = server.raw();
    let mut sr = Replies::new(&sub);
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
            ("ZADD z 1 a 2 b 3 c 4 d", ":4"),
            ("ZPOPMIN z", "[a,1]"),
            ("ZPOPMAX z 2", "[d,4,c,3]"),
            ("ZPOPMAX z 0", "[]"),
            (
                "ZPOPMAX z -1",
                "-ERR value is out of range, must be positive",
            ),
            ("ZPOPMIN missing", "[]"),
            ("ZADD u1 1 a 2 b 3 c", ":3"),
            ("ZADD u2 10 b 20 c 30 d", ":3"),
            ("SADD st a d x", ":3"),
            (
                "ZUNION 2 u1 u2 WEIGHTS 2 3 WITHSCORES",
                "[a,2,b,34,c,66,d,90]",
            ),
            ("ZINTER 2 u1 u2 AGGREGATE MIN WITHSCORES", "[b,2,c,3]"),
            ("ZINTER 3 u1 u2 st", "[]"),
            ("ZDIFF 2 u1 u2 WITHSCORES", "[a,1]"),
            ("ZDIFF 2 u1 u2 WEIGHTS 1 1", "-ERR syntax error"),
            (
                "ZUNION 0 u1",
                "-ERR at least 1 input key is needed for 'zunion' command",
            ),
            ("ZUNIONSTORE dst 2 u1 st WEIGHTS 1 5", ":5"),
            ("ZRANGE dst 0 -1 WITHSCORES", "[b,2,c,3,d,5,x,5,a,6]"),
            ("EXPIRE dst 100", ":1"),
            ("ZINTERSTORE dst 2 u1 missing", ":0"),
            ("EXISTS dst", ":0"),
            ("ZINTERCARD 2 u1 u2 LIMIT 1", ":1"),
            ("ZINTERCARD 1 u1 LIMIT -1", "-ERR LIMIT can't be negative"),
            ("ZRANGESTORE dst u2 (10 +inf BYSCORE LIMIT 0 1", ":1"),
            ("ZRANGE dst 0 -1 WITHSCORES", "[c,20]"),
            ("ZMPOP 2 missing u1 MIN COUNT 2", "[u1,[[a,1],[b,2]]]"),
            ("ZMPOP 1 u1 MAX COUNT 5", "[u1,[[c,3]]]"),
            ("EXISTS u1", ":0"),
            ("ZMPOP 1 u1 MAX", "nil"),
            ("ZMPOP 0 u1 MIN", "-ERR numkeys should be greater than 0"),
            ("ZADD r 1 one 2 two 3 three 4 four", ":4"),
            ("ZREMRANGEBYSCORE r (1 3", ":2"),
            ("ZREMRANGEBYRANK r -1 -1", ":1"),
            ("ZADD r 0 a 0 b", ":2"),
            ("ZREMRANGEBYLEX r - (b", ":1"),
            ("ZRANGE r 0 -1", "[b,one]"),
            ("ZREMRANGEBYSCORE r -inf +inf", ":2"),
            ("EXISTS r", ":0"),
        ],
    );
    table(&mut c, &mut r, &[("SET end x", "+OK")]);
    let events = keyevents_until(&mut sr, "end");
    assert_eq!(
        events,
        [
            "zadd:z",
            "zpopmin:z",
            "zpopmax:z",
            "zadd:u1",
            "zadd:u2",
            "sadd:st",
            "zunionstore:dst",
            "expire:dst",
            "del:dst",
            "zrangestore:dst",
            "zpopmin:u1",
            "zpopmax:u1",
            "del:u1",
            "zadd:r",
            "zremrangebyscore:r",
            "zremrangebyrank:r",
            "zadd:r",
            "zremrangebylex:r",
            "zremrangebyscore:r",
            "del:r",
        ]
    );
    // Inside MULTI each command sees the ones queued before it.
    table(
        &mut c,
        &mut r,
        &[
            ("MULTI", "+OK"),
            ("ZADD m 1 a 2 b", "+QUEUED"),
            ("ZPOPMIN m", "+QUEUED"),
            ("ZRANGE m 0 -1 WITHSCORES", "+QUEUED"),
            ("ZRANK m b", "+QUEUED"),
            ("EXEC", "[:2,[a,1],[b,2],:0]"),
        ],
    );
}

/// Goal: ZADD, which writes a member's rows and then the set's count row once, keeps the count
/// (ZCARD, the key's existence) and the score order right through adds, updates, options that
/// skip, INCR and removals. Method: a fixed pseudo-random sequence of ZADD (plain, NX, XX, GT,
/// CH, INCR, several pairs), ZREM and ZINCRBY on one key, checked against a `BTreeMap` model
/// after each command (ZCARD, ZRANGE WITHSCORES, EXISTS).
#[test]
fn zadd_counts_and_orders_as_a_model() {
    use std::collections::BTreeMap;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("zmodel.mmt"), &[]);
    let mut c = server.client();
    let mut model: BTreeMap<String, i64> = BTreeMap::new();
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for step in 0..500 {
        let (m1, m2) = (format!("m{}", next(12)), format!("m{}", next(12)));
        let (s1, s2) = (next(7) as i64 - 3, next(7) as i64 - 3);
        match next(6) {
            0 => {
                let n: i64 = cmd(
                    &mut c,
                    &["ZADD", "z", &s1.to_string(), &m1, &s2.to_string(), &m2],
                )
                .unwrap();
                let mut added = 0;
                for (m, s) in [(&m1, s1), (&m2, s2)] {
                    added += i64::from(model.insert(m.clone(), s).is_none());
                }
                assert_eq!(n, added, "step {step}");
            }
            1 => {
                let n: i64 = cmd(&mut c, &["ZADD", "z", "NX", &s1.to_string(), &m1]).unwrap();
                let new = !model.contains_key(&m1);
                if new {
                    model.insert(m1.clone(), s1);
                }
                assert_eq!(n, i64::from(new), "step {step}");
            }
            2 => {
                let n: i64 = cmd(&mut c, &["ZADD", "z", "XX", "CH", &s1.to_string(), &m1]).unwrap();
                let changed = match model.get_mut(&m1) {
                    Some(s) if *s != s1 => {
                        *s = s1;
                        1
                    }
                    _ => 0,
                };
                assert_eq!(n, changed, "step {step}");
            }
            3 => {
                let n: i64 = cmd(&mut c, &["ZADD", "z", "GT", &s1.to_string(), &m1]).unwrap();
                let added = match model.get_mut(&m1) {
                    Some(s) => {
                        *s = (*s).max(s1);
                        0
                    }
                    None => {
                        model.insert(m1.clone(), s1);
                        1
                    }
                };
                assert_eq!(n, added, "step {step}");
            }
            4 => {
                let got: String =
                    cmd(&mut c, &["ZADD", "z", "INCR", &s1.to_string(), &m1]).unwrap();
                let s = model.entry(m1.clone()).or_insert(0);
                *s += s1;
                assert_eq!(got, s.to_string(), "step {step}");
            }
            _ => {
                let n: i64 = cmd(&mut c, &["ZREM", "z", &m1, &m2]).unwrap();
                let removed = i64::from(model.remove(&m1).is_some())
                    + i64::from(m1 != m2 && model.remove(&m2).is_some());
                assert_eq!(n, removed, "step {step}");
            }
        }
        let card: i64 = cmd(&mut c, &["ZCARD", "z"]).unwrap();
        assert_eq!(card as usize, model.len(), "step {step}");
        let exists: i64 = cmd(&mut c, &["EXISTS", "z"]).unwrap();
        assert_eq!(exists, i64::from(!model.is_empty()), "step {step}");
        let got: Vec<(String, i64)> =
            cmd(&mut c, &["ZRANGE", "z", "0", "-1", "WITHSCORES"]).unwrap();
        let mut want: Vec<(String, i64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
        want.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        assert_eq!(got, want, "step {step}");
    }
}
