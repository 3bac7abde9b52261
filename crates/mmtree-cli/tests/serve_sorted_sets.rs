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
