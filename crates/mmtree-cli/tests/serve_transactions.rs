//! The transaction family of `mmtree serve`: MULTI/EXEC.

mod common;

use common::*;
use redis::{Commands, RedisResult};
use std::io::{Read, Write};
use std::time::Duration;

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
        &["HRANDFIELD", "h"],
        &["HDEL", "h", "f"],
        &["SET", "r", "1"],
        &["MMTREE.RANGE", "r", "s"],
        // Subcommands that read the keyspace are reads too.
        &["OBJECT", "REFCOUNT", "r"],
        &["MEMORY", "USAGE", "r"],
        &["DEL", "r"],
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
    assert_eq!(by_command(&["HRANDFIELD", "h"]), bulk("f"));
    assert_eq!(
        by_command(&["MMTREE.RANGE", "r", "s"]),
        Value::Array(vec![bulk("r"), bulk("1")])
    );
    assert_eq!(by_command(&["OBJECT", "REFCOUNT", "r"]), Value::Int(1));
    assert!(matches!(by_command(&["MEMORY", "USAGE", "r"]), Value::Int(n) if n > 0));
    // And the transaction's end state.
    assert_eq!(call(&mut c, &mut r, &["HGET", "h", "f"]), Value::Null);
    assert_eq!(call(&mut c, &mut r, &["SCARD", "s"]), Value::Int(2));
    assert_eq!(call(&mut c, &mut r, &["ZSCORE", "z", "m"]), bulk("2"));
}

#[test]
fn multi_exec_runs_the_queue_as_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut c = server.client();
    // The redis crate's atomic pipeline is MULTI … EXEC.
    let (set, n, got): (String, i64, String) = redis::pipe()
        .atomic()
        .set("a", 1)
        .incr("a", 41)
        .get("a")
        .query(&mut c)
        .unwrap();
    assert_eq!((set.as_str(), n, got.as_str()), ("OK", 42, "42"));
    let mut s = server.raw();
    exchange(&mut s, &[&["EXEC"]], "-ERR EXEC without MULTI\r\n");
    exchange(&mut s, &[&["DISCARD"]], "-ERR DISCARD without MULTI\r\n");
    // A runtime error stays inside the reply array; the other commands still apply.
    exchange(
        &mut s,
        &[
            &["SET", "word", "abc"],
            &["MULTI"],
            &["MULTI"],
            &["WATCH", "a"],
            &["SET", "x", "1"],
            &["INCR", "word"],
            &["SELECT", "2"],
            &["SET", "y", "2"],
            &["PING"],
            &["EXEC"],
        ],
        "+OK\r\n+OK\r\n-ERR MULTI calls can not be nested\r\n\
         -ERR WATCH inside MULTI is not allowed\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n\
         *5\r\n+OK\r\n-ERR value is not an integer or out of range\r\n+OK\r\n+OK\r\n+PONG\r\n",
    );
    // SELECT inside the transaction stays in effect after it.
    exchange(&mut s, &[&["GET", "y"]], "$1\r\n2\r\n");
    exchange(
        &mut s,
        &[&["SELECT", "0"], &["GET", "x"]],
        "+OK\r\n$1\r\n1\r\n",
    );
    // Reads inside see the transaction's own writes; an empty transaction is an empty array.
    exchange(
        &mut s,
        &[
            &["MULTI"],
            &["DEL", "x"],
            &["GET", "x"],
            &["EXISTS", "a"],
            &["EXEC"],
            &["MULTI"],
            &["EXEC"],
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:1\r\n$-1\r\n:1\r\n+OK\r\n*0\r\n",
    );
}

#[test]
fn a_queuing_error_aborts_exec_and_discard_applies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut s = server.raw();
    exchange(
        &mut s,
        &[
            &["MULTI"],
            &["SET", "x", "1"],
            &["NOSUCH", "arg"],
            &["GET"],
            &["SET", "z", "1"],
            &["EXEC"],
            &["EXISTS", "x", "z"],
        ],
        "+OK\r\n+QUEUED\r\n-ERR unknown command 'NOSUCH', with args beginning with: 'arg' \r\n\
         -ERR wrong number of arguments for 'get' command\r\n+QUEUED\r\n\
         -EXECABORT Transaction discarded because of previous errors.\r\n:0\r\n",
    );
    exchange(
        &mut s,
        &[
            &["MULTI"],
            &["SET", "x", "1"],
            &["INCR", "n"],
            &["DISCARD"],
            &["EXISTS", "x", "n"],
            &["EXEC"],
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+OK\r\n:0\r\n-ERR EXEC without MULTI\r\n",
    );
    // Through the redis crate: the aborted transaction is an error and nothing is applied.
    let mut c = server.client();
    let result: RedisResult<()> = redis::pipe()
        .atomic()
        .set("p", 1)
        .cmd("NOSUCH")
        .query(&mut c);
    let error = result.unwrap_err();
    assert!(error.to_string().contains("Transaction aborted"), "{error}");
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "p"]).unwrap(), 0);
}

#[test]
fn watch_aborts_exec_when_a_watched_key_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut other = server.client();
    let _: () = other.set("k", "v").unwrap();
    let mut s = server.raw();
    // Another client sets the key back to the same value: still a modification.
    exchange(&mut s, &[&["WATCH", "k", "absent"]], "+OK\r\n");
    let _: () = other.set("k", "v").unwrap();
    exchange(
        &mut s,
        &[
            &["MULTI"],
            &["SET", "k", "mine"],
            &["SET", "side", "1"],
            &["EXEC"],
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*-1\r\n",
    );
    assert_eq!(other.get::<_, String>("k").unwrap(), "v");
    assert_eq!(cmd::<i64>(&mut other, &["EXISTS", "side"]).unwrap(), 0);
    // EXEC cleared the watch: the next transaction applies.
    exchange(
        &mut s,
        &[&["MULTI"], &["SET", "k", "mine"], &["EXEC"]],
        "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n",
    );
    // A watched key that was absent and gets created; one deleted; one that expires.
    for modify in [
        &["SET", "absent", "now"][..],
        &["DEL", "k"],
        &["PEXPIRE", "k2", "1"],
    ] {
        let _: () = other.set("k", "v").unwrap();
        let _: () = other.set("k2", "v").unwrap();
        let _: () = cmd(&mut other, &["DEL", "absent"]).unwrap();
        exchange(&mut s, &[&["WATCH", "k", "k2", "absent"]], "+OK\r\n");
        let _: () = cmd(&mut other, modify).unwrap();
        exchange(
            &mut s,
            &[&["MULTI"], &["INCR", "count"], &["EXEC"]],
            "+OK\r\n+QUEUED\r\n*-1\r\n",
        );
    }
    // A key that expires by itself between WATCH and EXEC (no write) aborts too.
    let _: () = cmd(&mut other, &["SET", "ttl", "v", "PX", "150"]).unwrap();
    exchange(&mut s, &[&["WATCH", "ttl"]], "+OK\r\n");
    std::thread::sleep(Duration::from_millis(300));
    exchange(
        &mut s,
        &[&["MULTI"], &["INCR", "count"], &["EXEC"]],
        "+OK\r\n+QUEUED\r\n*-1\r\n",
    );
    assert_eq!(cmd::<i64>(&mut other, &["EXISTS", "count"]).unwrap(), 0);
    // RESP3: the aborted EXEC is a null.
    let mut s3 = server.raw();
    s3.write_all(resp(&["HELLO", "3"]).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = read_reply(&mut s3);
    exchange(&mut s3, &[&["WATCH", "k"]], "+OK\r\n");
    let _: () = other.set("k", "changed").unwrap();
    exchange(
        &mut s3,
        &[&["MULTI"], &["INCR", "count"], &["EXEC"]],
        "+OK\r\n+QUEUED\r\n_\r\n",
    );
    // With the redis crate: a WATCHed key changed by another connection makes the atomic
    // pipeline return nil, and nothing is applied.
    let mut c = server.client();
    let _: () = cmd(&mut c, &["WATCH", "k"]).unwrap();
    let _: () = other.set("k", "again").unwrap();
    let result: Option<(String,)> = redis::pipe()
        .atomic()
        .set("k", "lost")
        .query(&mut c)
        .unwrap();
    assert_eq!(result, None);
    assert_eq!(other.get::<_, String>("k").unwrap(), "again");
}

#[test]
fn watch_without_a_change_lets_exec_apply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut other = server.client();
    let _: () = other.set("k", "1").unwrap();
    let mut c = server.client();
    let _: () = cmd(&mut c, &["WATCH", "k"]).unwrap();
    // Writes to other keys, and to the same key in another database, do not count.
    let _: () = other.set("unrelated", "x").unwrap();
    let _: () = cmd(&mut other, &["SELECT", "1"]).unwrap();
    let _: () = other.set("k", "other db").unwrap();
    let current: i64 = c.get("k").unwrap();
    let result: Option<(String,)> = redis::pipe()
        .atomic()
        .set("k", current + 1)
        .query(&mut c)
        .unwrap();
    assert_eq!(result, Some(("OK".into(),)));
    assert_eq!(c.get::<_, i64>("k").unwrap(), 2);
    // UNWATCH forgets the watch: a later change does not abort.
    let _: () = cmd(&mut c, &["WATCH", "k"]).unwrap();
    let _: () = cmd(&mut c, &["UNWATCH"]).unwrap();
    let _: () = cmd(&mut other, &["SELECT", "0"]).unwrap();
    let _: () = other.set("k", "5").unwrap();
    let result: Option<(i64,)> = redis::pipe().atomic().incr("k", 1).query(&mut c).unwrap();
    assert_eq!(result, Some((6,)));
    // A key already expired at WATCH and swept since does not abort.
    let _: () = cmd(&mut other, &["SET", "stale", "v", "PX", "1"]).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let _: () = cmd(&mut c, &["WATCH", "stale"]).unwrap();
    let _: () = cmd(&mut other, &["DEL", "stale"]).unwrap();
    let result: Option<(i64,)> = redis::pipe().atomic().incr("k", 1).query(&mut c).unwrap();
    assert_eq!(result, Some((7,)));
}

#[test]
fn other_clients_never_see_half_a_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut writer = server.client();
    let _: () = cmd(&mut writer, &["MSET", "a", "0", "b", "0"]).unwrap();
    let mut reader = server.client();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reading = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (a, b): (i64, i64) =
                    cmd::<(i64, i64)>(&mut reader, &["MGET", "a", "b"]).unwrap();
                assert_eq!(a, b, "saw half a transaction");
                reads += 1;
            }
            reads
        })
    };
    for i in 1..=200 {
        let _: (i64, i64) = redis::pipe()
            .atomic()
            .incr("a", 1)
            .incr("b", 1)
            .query(&mut writer)
            .unwrap();
        assert_eq!(writer.get::<_, i64>("b").unwrap(), i);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reading.join().unwrap() > 0);
}

/// The commands of a transaction the connection runs itself (hash reads, SCAN, …) read the
/// state the transaction left, not writes committed after it: here another client's HSET that
/// the group-commit writer takes in the same group as the EXEC, right behind it.
#[test]
fn reads_queued_in_multi_see_the_transaction_and_nothing_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("mx.mmt"), &[]);
    let (mut busy, mut tx, mut other) = (server.raw(), server.raw(), server.raw());
    let mut big = String::new();
    for i in 0..20_000 {
        big.push_str(&resp(&["SET", &format!("filler:{i}"), "x"]));
    }
    let mut later_seen = 0;
    for round in 0..30 {
        let mine = format!("mine{round}");
        let theirs = format!("theirs{round}");
        // A big pipelined write keeps the writer busy while the EXEC and the other client's
        // HSET queue up behind it: the writer then takes both in one group, EXEC first.
        busy.write_all(big.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(2));
        tx.write_all(
            (resp(&["MULTI"])
                + &resp(&["HSET", "h", "f", &mine])
                + &resp(&["HGET", "h", "f"])
                + &resp(&["HGETALL", "h"])
                + &resp(&["EXEC"]))
                .as_bytes(),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(1));
        other
            .write_all(resp(&["HSET", "h", "f", &theirs]).as_bytes())
            .unwrap();
        let expect = format!(
            "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n:0\r\n${}\r\n{mine}\r\n*2\r\n$1\r\nf\r\n${}\r\n{mine}\r\n",
            mine.len(),
            mine.len()
        );
        // The first round creates the field (HSET answers 1); afterwards it exists.
        let expect = if round == 0 {
            expect.replacen(":0", ":1", 1)
        } else {
            expect
        };
        let mut got = vec![0u8; expect.len()];
        tx.read_exact(&mut got).unwrap();
        let got = String::from_utf8_lossy(&got).into_owned();
        later_seen += usize::from(got.contains(&theirs));
        assert_eq!(got, expect, "round {round}");
        expect_bytes(&mut other, ":0\r\n");
        let mut ok = vec![0u8; 5 * 20_000];
        busy.read_exact(&mut ok).unwrap();
    }
    assert_eq!(later_seen, 0);
}
