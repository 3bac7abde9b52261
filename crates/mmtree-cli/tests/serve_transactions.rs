//! The transaction family of `mmtree serve`: MULTI/EXEC.

mod common;

use common::*;

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// Goal: a read queued in MULTI answers with the state at its place in the queue, as Redis
/// does, for every type (not the state the whole transaction leaves). Method: each read sits
/// between two writes of the key it reads.
#[test]
fn reads_inside_multi_see_the_state_at_their_place_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("m.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let queue: &[&[&str]] = &[
        &["HSET", "h", "f", "1"],
        &["HGET", "h", "f"],
        &["HGETALL", "h"],
        &["HSET", "h", "f", "2"],
        &["SADD", "s", "a"],
        &["SISMEMBER", "s", "b"],
        &["SCARD", "s"],
        &["SADD", "s", "b"],
        &["RPUSH", "l", "x"],
        &["LRANGE", "l", "0", "-1"],
        &["LLEN", "l"],
        &["RPUSH", "l", "y"],
        &["ZADD", "z", "1", "m"],
        &["ZSCORE", "z", "m"],
        &["ZRANGE", "z", "0", "-1"],
        &["ZADD", "z", "2", "m", "0", "n"],
        &["SETBIT", "b", "3", "1"],
        &["GETBIT", "b", "3"],
        &["SETBIT", "b", "3", "0"],
        &["SET", "p", "ohmytext"],
        &["SET", "q", "mynewtext"],
        &["LCS", "p", "q"],
        &["SET", "q", "nothing"],
        &["SET", "k", "v"],
        &["HSCAN", "h", "0"],
        &["HDEL", "h", "f"],
    ];
    assert_eq!(call(&mut c, &mut r, &["MULTI"]), Value::Simple("OK".into()));
    for args in queue {
        assert_eq!(call(&mut c, &mut r, args), Value::Simple("QUEUED".into()));
    }
    let Value::Array(got) = call(&mut c, &mut r, &["EXEC"]) else {
        panic!("EXEC's replies are an array");
    };
    let by_command = |name: &[&str]| {
        let i = queue.iter().position(|q| q == &name).unwrap();
        got[i].clone()
    };
    assert_eq!(by_command(&["HGET", "h", "f"]), bulk("1"));
    assert_eq!(
        by_command(&["HGETALL", "h"]),
        Value::Array(vec![bulk("f"), bulk("1")])
    );
    assert_eq!(by_command(&["SISMEMBER", "s", "b"]), Value::Int(0));
    assert_eq!(by_command(&["SCARD", "s"]), Value::Int(1));
    assert_eq!(
        by_command(&["LRANGE", "l", "0", "-1"]),
        Value::Array(vec![bulk("x")])
    );
    assert_eq!(by_command(&["LLEN", "l"]), Value::Int(1));
    assert_eq!(by_command(&["ZSCORE", "z", "m"]), bulk("1"));
    assert_eq!(
        by_command(&["ZRANGE", "z", "0", "-1"]),
        Value::Array(vec![bulk("m")])
    );
    assert_eq!(by_command(&["GETBIT", "b", "3"]), Value::Int(1));
    assert_eq!(by_command(&["LCS", "p", "q"]), bulk("mytext"));
    assert_eq!(
        by_command(&["HSCAN", "h", "0"]),
        Value::Array(vec![bulk("0"), Value::Array(vec![bulk("f"), bulk("2")])])
    );
    // And the transaction's end state.
    assert_eq!(call(&mut c, &mut r, &["HGET", "h", "f"]), Value::Null);
    assert_eq!(call(&mut c, &mut r, &["SCARD", "s"]), Value::Int(2));
    assert_eq!(call(&mut c, &mut r, &["ZSCORE", "z", "m"]), bulk("2"));
}
