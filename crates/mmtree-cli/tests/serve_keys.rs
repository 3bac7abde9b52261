//! The keys family of `mmtree serve`: SCAN and its cursors, expiry.

mod common;

use common::*;
use redis::Commands;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

fn bulk(s: &str) -> Value {
    Value::Bulk(s.as_bytes().to_vec())
}

/// One page of a SCAN-family reply: the next cursor and the items.
fn page(v: Value) -> (String, Vec<String>) {
    let Value::Array(parts) = v else {
        panic!("a scan reply is an array: {v:?}")
    };
    let cursor = text(&parts[0]);
    let Value::Array(items) = &parts[1] else {
        panic!("{parts:?}")
    };
    (cursor, items.iter().map(text).collect())
}

/// Goal: a SCAN-family cursor carries its position itself, so it survives a restart and any
/// number of other scans (server-side cursors were dropped after 100,000 newer ones and on
/// restart). Method: the first page of SCAN, SSCAN, HSCAN and ZSCAN; a restart; the rest of
/// each scan with the cursors from before; every item seen once at least.
#[test]
fn scan_cursors_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cursor.mmt");
    let server = Server::start(&file, &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let mut keys = BTreeSet::new();
    for i in 0..40 {
        let key = format!("key:{i:02}");
        call(&mut c, &mut r, &["SET", &key, "v"]);
        keys.insert(key);
    }
    let mut members = BTreeSet::new();
    for i in 0..40 {
        let m = format!("m{i:02}-a-longer-member-than-eight-bytes");
        call(&mut c, &mut r, &["SADD", "set", &m]);
        call(&mut c, &mut r, &["HSET", "hash", &m, "1"]);
        call(&mut c, &mut r, &["ZADD", "zset", &i.to_string(), &m]);
        members.insert(m);
    }
    keys.extend(["set", "hash", "zset"].map(String::from));
    let scans: [&[&str]; 4] = [
        &["SCAN"],
        &["SSCAN", "set"],
        &["HSCAN", "hash"],
        &["ZSCAN", "zset"],
    ];
    let mut cursors = Vec::new();
    let mut seen: Vec<BTreeSet<String>> = vec![BTreeSet::new(); 4];
    for (i, scan) in scans.iter().enumerate() {
        let mut args = scan.to_vec();
        args.extend(["0", "COUNT", "10"]);
        let (cursor, items) = page(call(&mut c, &mut r, &args));
        assert_ne!(cursor, "0", "{scan:?} has more than one page");
        assert!(cursor.bytes().all(|b| b.is_ascii_digit()), "{cursor}");
        seen[i].extend(items);
        cursors.push(cursor);
    }
    assert!(server.stop().success());
    let server = Server::start(&file, &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    for (i, scan) in scans.iter().enumerate() {
        let mut cursor = cursors[i].clone();
        let mut pages = 0;
        while cursor != "0" {
            let mut args = scan.to_vec();
            args.extend([cursor.as_str(), "COUNT", "7"]);
            let (next, items) = page(call(&mut c, &mut r, &args));
            seen[i].extend(items);
            cursor = next;
            pages += 1;
            assert!(pages < 100, "{scan:?} does not end");
        }
    }
    assert_eq!(seen[0], keys);
    assert_eq!(seen[1], members);
    // HSCAN and ZSCAN give (member, value) pairs.
    for (i, values) in [(2, vec!["1".to_string()]), (3, vec![])] {
        let got: BTreeSet<String> = seen[i]
            .iter()
            .filter(|s| !values.contains(s) && s.parse::<f64>().is_err())
            .cloned()
            .collect();
        assert_eq!(got, members, "{:?}", scans[i]);
    }
    // A cursor that is not a number is refused.
    assert_eq!(
        call(&mut c, &mut r, &["SCAN", "12x"]),
        Value::Error("ERR invalid cursor".into())
    );
    assert_eq!(
        call(&mut c, &mut r, &["SSCAN", "set", "-1"]),
        Value::Error("ERR invalid cursor".into())
    );
}

/// Goal: cursors are 64-bit numbers, as redis-cli and typed clients read them (a cursor that
/// spelled out a whole key overflowed `redis-cli --scan`: "ERR invalid cursor" behind twemproxy
/// in `.ci/scale-out`), and a page never ends inside a run of keys that share the 7 bytes a
/// cursor can hold, so scans over long shared prefixes end and return every key once.
#[test]
fn scan_cursors_fit_64_bits_and_long_shared_prefixes_end() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("prefix.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let mut keys = Vec::new();
    for group in ["user:session:", "user:profile:", "u:", "w"] {
        for i in 0..30 {
            let key = format!("{group}{i:03}");
            call(&mut c, &mut r, &["SET", &key, "v"]);
            call(&mut c, &mut r, &["SADD", "members", &key]);
            keys.push(key);
        }
    }
    keys.sort();
    for scan in [&["SCAN"][..], &["SSCAN", "members"][..]] {
        let mut seen = Vec::new();
        let mut cursor = "0".to_string();
        let mut pages = 0;
        loop {
            let mut args = scan.to_vec();
            args.extend([cursor.as_str(), "COUNT", "4"]);
            let (next, items) = page(call(&mut c, &mut r, &args));
            assert!(next.parse::<u64>().is_ok(), "{next} is not a 64-bit cursor");
            seen.extend(items);
            cursor = next;
            pages += 1;
            assert!(pages < 200, "{scan:?} does not end");
            if cursor == "0" {
                break;
            }
        }
        seen.retain(|k| k != "members");
        seen.sort();
        assert_eq!(seen, keys, "{scan:?}: every key exactly once");
        assert!(pages > 5, "{scan:?}: COUNT still pages ({pages} pages)");
    }
}

/// Goal: a backlog of expired keys is swept and counted, and INFO's avg_ttl is the keys'
/// average TTL. Method: 30,000 keys expire at once (three times the idle sweep's allowance);
/// they are all gone and counted; a key with a 100 s TTL gives an avg_ttl near it. (That the
/// backlog is swept without pauses is `expiry::Sweeper`'s unit test: a test here could only
/// show it with a clock threshold.)
#[test]
fn a_backlog_of_expired_keys_is_swept_and_avg_ttl_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("exp.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    const KEYS: usize = 30_000;
    let mut batch = Vec::new();
    for i in 0..KEYS {
        batch.extend_from_slice(resp(&["SET", &format!("e{i}"), "v", "PX", "300"]).as_bytes());
    }
    std::io::Write::write_all(&mut c, &batch).unwrap();
    for _ in 0..KEYS {
        assert_eq!(r.next(), Value::Simple("OK".into()));
    }
    call(&mut c, &mut r, &["SET", "kept", "v", "EX", "100"]);
    // Liveness only: the keys go (the deadline is far beyond any sweep schedule).
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Value::Int(n) = call(&mut c, &mut r, &["DBSIZE"]) else {
            panic!()
        };
        if n == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "{n} keys left");
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = text(&call(&mut c, &mut r, &["INFO", "stats"]));
    assert!(
        stats.contains(&format!("expired_keys:{KEYS}\r\n")),
        "{stats}"
    );
    let keyspace = text(&call(&mut c, &mut r, &["INFO", "keyspace"]));
    let avg_ttl: u64 = keyspace
        .split("avg_ttl=")
        .nth(1)
        .and_then(|t| t.trim().parse().ok())
        .unwrap();
    assert!((90_000..=100_000).contains(&avg_ttl), "{keyspace}");
    assert_eq!(call(&mut c, &mut r, &["GET", "kept"]), bulk("v"));
}

#[test]
fn expiry_kept_apart_still_works() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("s.mmt");
    let server = Server::start(&file, &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["SET", "k", "v", "EX", "100"]).unwrap();
    assert!((99..=100).contains(&cmd::<i64>(&mut c, &["TTL", "k"]).unwrap()));
    // KEEPTTL keeps it, a plain SET clears it (as Redis).
    let _: () = cmd(&mut c, &["SET", "k", "w", "KEEPTTL"]).unwrap();
    assert!(cmd::<i64>(&mut c, &["PTTL", "k"]).unwrap() > 98_000);
    assert_eq!(c.get::<_, String>("k").unwrap(), "w");
    let _: () = c.set("k", "x").unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "k"]).unwrap(), -1);
    // INCR and APPEND keep the TTL; PERSIST drops it.
    let _: () = cmd(&mut c, &["SET", "n", "1", "PX", "100000"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["INCR", "n"]).unwrap(), 2);
    assert_eq!(cmd::<i64>(&mut c, &["APPEND", "n", "0"]).unwrap(), 2);
    assert!(cmd::<i64>(&mut c, &["PTTL", "n"]).unwrap() > 90_000);
    assert_eq!(cmd::<i64>(&mut c, &["PERSIST", "n"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["PTTL", "n"]).unwrap(), -1);
    // DEL drops the expiry record: a new value of the key has no TTL.
    assert_eq!(cmd::<i64>(&mut c, &["PEXPIRE", "k", "100000"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "k"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "k"]).unwrap(), -2);
    // Lazy expiry on read, then the writer's sweep deletes the key from the file.
    let _: () = cmd(&mut c, &["SET", "short", "s", "PX", "100"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "long", "l", "EX", "1000"]).unwrap();
    std::thread::sleep(Duration::from_millis(150));
    assert_eq!(c.get::<_, Option<String>>("short").unwrap(), None);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "short"]).unwrap(), -2);
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "short"]).unwrap(), 0);
    std::thread::sleep(Duration::from_millis(600));
    // FLUSHDB drops the database's expiry records too.
    let _: () = cmd(&mut c, &["SELECT", "3"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "gone", "g", "EX", "1000"]).unwrap();
    let _: () = cmd(&mut c, &["FLUSHDB"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "gone", "g"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "gone"]).unwrap(), -1);
    assert_eq!(server.stop().code(), Some(0));
    let path = file.to_str().unwrap();
    assert_eq!(
        mmtree(&["get", path, "db0", "short"]).status.code(),
        Some(4)
    );
    let all = tables_listing(&file, true);
    // Left with an expiry: db0 "long" only.
    assert!(all.contains("__serve:expires:db0\t1\n"), "{all}");
    assert!(all.contains("__serve:expiry-queue\t1\n"), "{all}");
    assert!(!all.contains("__serve:expires:db3\t1"), "{all}");
}

/// RANDOMKEY is uniform in a small database, however the keys are spread over the key space
/// (it picked the first key after a random point, so a key after a gap came up far more often).
#[test]
fn randomkey_is_uniform_in_a_small_database() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("rk.mmt"), &[]);
    let mut c = server.client();
    let keys = ["a", "b", "c", "y1", "y2", "y3", "y4", "y5", "y6", "y7"];
    for k in keys {
        let _: () = cmd(&mut c, &["SET", k, "1"]).unwrap();
    }
    let mut seen = std::collections::BTreeMap::<String, u32>::new();
    for _ in 0..2000 {
        let k: String = cmd(&mut c, &["RANDOMKEY"]).unwrap();
        *seen.entry(k).or_default() += 1;
    }
    // 200 each expected; below 100 has a probability under 1e-12.
    for k in keys {
        let n = seen.get(k).copied().unwrap_or(0);
        assert!(n >= 100, "{k} picked {n} times of 2000: {seen:?}");
    }
}

/// OBJECT REFCOUNT (what Redis' COPY tests check of a copy): 1 for a live key, nil otherwise.
#[test]
fn object_refcount_is_one_for_a_live_key() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("obj.mmt"), &[]);
    let mut s = server.raw();
    exchange(
        &mut s,
        &[&["RPUSH", "l", "a"], &["COPY", "l", "l2"]],
        ":1\r\n:1\r\n",
    );
    exchange(&mut s, &[&["OBJECT", "REFCOUNT", "l2"]], ":1\r\n");
    exchange(&mut s, &[&["OBJECT", "REFCOUNT", "none"]], "$-1\r\n");
    exchange(
        &mut s,
        &[&["OBJECT", "ENCODING", "l"]],
        "$9\r\nquicklist\r\n",
    );
    exchange(
        &mut s,
        &[&["OBJECT", "NOPE", "l"]],
        "-ERR unknown subcommand 'NOPE'. Try OBJECT HELP.\r\n",
    );
}

/// Goal: the options of EXPIRE, COPY, LCS and LPOS (parsed on the shared argument cursor) are
/// refused in Redis 7.0's words. Method: each reply as redis-server 7.0.15 gives it.
#[test]
fn option_errors_are_redis_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("opt.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("SET k v", "+OK"),
            ("RPUSH l a b a", ":3"),
            ("EXPIRE k 10 nx foo", "-ERR Unsupported option foo"),
            (
                "EXPIRE k 10 Gt lT",
                "-ERR GT and LT options at the same time are not compatible",
            ),
            (
                "EXPIRE k 10 nx xx",
                "-ERR NX and XX, GT or LT options at the same time are not compatible",
            ),
            ("EXPIRE k 10 xx", ":0"),
            ("COPY k k2 db", "-ERR syntax error"),
            (
                "COPY k k2 db x",
                "-ERR value is not an integer or out of range",
            ),
            ("COPY k k2 replace foo", "-ERR syntax error"),
            ("COPY k k2 Replace db 0", ":1"),
            ("LCS k k2 minmatchlen", "-ERR syntax error"),
            (
                "LCS k k2 minmatchlen x",
                "-ERR value is not an integer or out of range",
            ),
            (
                "LCS k k2 len idx",
                "-ERR If you want both the length and indexes, please just use IDX.",
            ),
            ("LCS k k2 len", ":1"),
            ("LPOS l a rank", "-ERR syntax error"),
            (
                "LPOS l a rank x",
                "-ERR value is not an integer or out of range",
            ),
            ("LPOS l a foo 1", "-ERR syntax error"),
            ("LPOS l a Rank -1 count 0 maxlen 3", "[:2,:0]"),
        ],
    );
}

/// Goal: OBJECT IDLETIME answers the seconds since a key was last read or written, as Redis'
/// introspection-2 unit checks: TTL, TYPE, EXISTS and OBJECT look without touching, TOUCH and a
/// read or a write touch; the access times live in memory and go with their keys (DEL, FLUSHALL).
/// Method: the bounds follow from the clock's whole seconds, not from how fast the server is:
/// after a sleep of 2.1 s an untouched key is idle at least 2 s; a key touched at `t0` is idle at
/// most the whole seconds since `t0` (+1 for the clock's rounding).
#[test]
fn object_idletime_follows_reads_and_writes_not_introspection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("idle.mmt"), &[]);
    let mut c = server.client();
    let idle = |c: &mut redis::Connection, key: &str| -> Option<i64> {
        cmd(c, &["OBJECT", "IDLETIME", key]).unwrap()
    };
    let entries = |c: &mut redis::Connection| -> usize {
        let info: String = cmd(c, &["INFO", "stats"]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("mmtree_access_times:"))
            .unwrap()
            .parse()
            .unwrap()
    };
    for k in ["read", "written", "touched", "looked", "scripted"] {
        let _: () = cmd(&mut c, &["SET", k, "v"]).unwrap();
    }
    assert_eq!(idle(&mut c, "nosuch"), None);
    assert_eq!(entries(&mut c), 5);
    std::thread::sleep(Duration::from_millis(2100));
    // Introspection does not touch.
    let _: i64 = cmd(&mut c, &["TTL", "looked"]).unwrap();
    let _: String = cmd(&mut c, &["TYPE", "looked"]).unwrap();
    let _: i64 = cmd(&mut c, &["EXISTS", "looked"]).unwrap();
    let _: Option<i64> = cmd(&mut c, &["OBJECT", "REFCOUNT", "looked"]).unwrap();
    assert!(idle(&mut c, "looked").unwrap() >= 2);
    assert!(err_of::<i64>(&mut c, &["OBJECT", "FREQ", "looked"])
        .contains("An LFU maxmemory policy is not selected"));
    // A read, a write and TOUCH do.
    let t0 = Instant::now();
    let _: String = cmd(&mut c, &["GET", "read"]).unwrap();
    let _: () = cmd(&mut c, &["APPEND", "written", "w"]).unwrap();
    assert_eq!(
        cmd::<i64>(&mut c, &["TOUCH", "touched", "nosuch"]).unwrap(),
        1
    );
    // A script's own command too, though the key is not among its KEYS.
    let _: String = cmd(
        &mut c,
        &["EVAL", "return redis.call('get', 'scripted')", "0"],
    )
    .unwrap();
    let bound = t0.elapsed().as_secs() as i64 + 1;
    for k in ["read", "written", "touched", "scripted"] {
        let i = idle(&mut c, k).unwrap();
        assert!(i <= bound, "{k}: {i} > {bound}");
    }
    assert!(idle(&mut c, "looked").unwrap() >= 2);
    // Inside a transaction too (EXEC answers from its own snapshot).
    let (x,): (i64,) = redis::pipe()
        .atomic()
        .cmd("OBJECT")
        .arg("IDLETIME")
        .arg("looked")
        .query(&mut c)
        .unwrap();
    assert!(x >= 2);
    // DEL drops a key's entry; FLUSHALL every one.
    let before = entries(&mut c);
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "read"]).unwrap(), 1);
    assert_eq!(entries(&mut c), before - 1);
    let _: () = cmd(&mut c, &["FLUSHALL"]).unwrap();
    assert_eq!(entries(&mut c), 0);
}
