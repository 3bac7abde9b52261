//! The keys family of `mmtree serve`: SCAN and its cursors, expiry.

mod common;

use common::*;
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
