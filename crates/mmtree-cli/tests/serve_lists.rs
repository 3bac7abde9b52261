//! The list family of `mmtree serve`.

mod common;

use common::*;

/// Lists: elements are rows at consecutive positions, pushed and popped at both ends; LRANGE and
/// LINDEX with Redis' index rules; the type travels with RENAME and MOVE; a read inside MULTI sees
/// the transaction's pushes.
#[test]
fn lists_push_and_pop_at_both_ends() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("lists.mmt"), &[]);
    let mut c = server.client();
    let int = |c: &mut redis::Connection, args: &[&str]| cmd::<i64>(c, args).unwrap();
    let list = |c: &mut redis::Connection, args: &[&str]| cmd::<Vec<String>>(c, args).unwrap();
    assert_eq!(int(&mut c, &["RPUSH", "l", "c", "d"]), 2);
    assert_eq!(int(&mut c, &["LPUSH", "l", "b", "a"]), 4);
    assert_eq!(
        list(&mut c, &["LRANGE", "l", "0", "-1"]),
        ["a", "b", "c", "d"]
    );
    assert_eq!(list(&mut c, &["LRANGE", "l", "1", "2"]), ["b", "c"]);
    assert_eq!(list(&mut c, &["LRANGE", "l", "-2", "100"]), ["c", "d"]);
    assert!(list(&mut c, &["LRANGE", "l", "3", "1"]).is_empty());
    assert!(list(&mut c, &["LRANGE", "nothing", "0", "-1"]).is_empty());
    assert_eq!(int(&mut c, &["LLEN", "l"]), 4);
    let at =
        |c: &mut redis::Connection, i: &str| cmd::<Option<String>>(c, &["LINDEX", "l", i]).unwrap();
    assert_eq!(at(&mut c, "0").as_deref(), Some("a"));
    assert_eq!(at(&mut c, "-1").as_deref(), Some("d"));
    assert_eq!(at(&mut c, "4"), None);
    assert_eq!(at(&mut c, "-5"), None);
    assert_eq!(cmd::<String>(&mut c, &["LPOP", "l"]).unwrap(), "a");
    assert_eq!(list(&mut c, &["RPOP", "l", "2"]), ["d", "c"]);
    assert_eq!(int(&mut c, &["RPUSH", "l", "e"]), 2);
    assert_eq!(list(&mut c, &["LRANGE", "l", "0", "-1"]), ["b", "e"]);
    assert_eq!(int(&mut c, &["LPUSHX", "none", "x"]), 0);
    assert_eq!(int(&mut c, &["EXISTS", "none"]), 0);
    assert_eq!(int(&mut c, &["RPUSHX", "l", "f"]), 3);
    assert_eq!(cmd::<String>(&mut c, &["TYPE", "l"]).unwrap(), "list");
    // Wrong types, and the write refused leaves the list as it was (Redis' own test).
    let _: () = cmd(&mut c, &["SET", "str", "x"]).unwrap();
    assert!(err_of::<i64>(&mut c, &["LPUSH", "str", "m"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["INCR", "l"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["SADD", "l", "m"]).contains("WRONGTYPE"));
    assert!(err_of::<Option<String>>(&mut c, &["SET", "l", "v", "GET"]).contains("WRONGTYPE"));
    assert_eq!(cmd::<String>(&mut c, &["RPOP", "l"]).unwrap(), "f");
    // Popping the last element removes the key; a pop of nothing.
    assert_eq!(list(&mut c, &["LPOP", "l", "10"]), ["b", "e"]);
    assert_eq!(int(&mut c, &["EXISTS", "l"]), 0);
    assert_eq!(cmd::<Option<String>>(&mut c, &["LPOP", "l"]).unwrap(), None);
    let mut raw = server.raw();
    exchange(&mut raw, &[&["LPOP", "l", "2"]], "*-1\r\n");
    // MULTI: the read sees the pushes before it (Redis' MULTI / EXEC basics).
    let (n, got): (i64, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("RPUSH")
        .arg("m")
        .arg("a")
        .arg("b")
        .cmd("LRANGE")
        .arg("m")
        .arg("0")
        .arg("-1")
        .query(&mut c)
        .unwrap();
    assert_eq!((n, got), (2, vec!["a".to_string(), "b".to_string()]));
    // Expiry stays through a push (Redis' expire test); RENAME and MOVE carry the list.
    assert_eq!(int(&mut c, &["EXPIRE", "m", "1000"]), 1);
    assert_eq!(int(&mut c, &["LPUSH", "m", "z"]), 3);
    assert!(int(&mut c, &["TTL", "m"]) > 990);
    assert_eq!(cmd::<String>(&mut c, &["RENAME", "m", "m2"]).unwrap(), "OK");
    assert_eq!(int(&mut c, &["MOVE", "m2", "2"]), 1);
    assert_eq!(cmd::<String>(&mut c, &["SELECT", "2"]).unwrap(), "OK");
    assert_eq!(list(&mut c, &["LRANGE", "m2", "0", "-1"]), ["z", "a", "b"]);
    assert_eq!(int(&mut c, &["RPUSH", "m2", "c"]), 4);
    assert_eq!(
        list(&mut c, &["LRANGE", "m2", "0", "-1"]),
        ["z", "a", "b", "c"]
    );
}

/// Goal: the list-editing commands answer and change the list as redis-server 7.0 does
/// (replies taken from it side by side): LPOS with RANK/COUNT/MAXLEN, LSET, LINSERT on either
/// side (the shorter side moves), LREM from either end, LTRIM with negative and
/// out-of-range indexes (deleting the key), their errors and WRONGTYPE.
#[test]
fn editing_commands_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("le.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let wrongtype = "-WRONGTYPE Operation against a key holding the wrong kind of value";
    table(
        &mut c,
        &mut r,
        &[
            ("RPUSH l a b c a b a", ":6"),
            ("LPOS l a RANK 2", ":3"),
            ("LPOS l a RANK -1", ":5"),
            ("LPOS l a RANK -2 COUNT 2 MAXLEN 4", "[:3]"),
            ("LPOS l a COUNT 0", "[:0,:3,:5]"),
            ("LPOS l a COUNT 2 MAXLEN 1", "[:0]"),
            ("LPOS l zz", "nil"),
            ("LPOS missing a COUNT 1", "[]"),
            ("LPOS l a RANK 0", "-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"),
            ("LPOS l a COUNT -1", "-ERR COUNT can't be negative"),
            ("LPOS l a foo", "-ERR syntax error"),
            ("LSET l 0 A", "+OK"),
            ("LSET l -1 Z", "+OK"),
            ("LSET l 6 x", "-ERR index out of range"),
            ("LSET missing 0 x", "-ERR no such key"),
            ("LINSERT l BEFORE b X", ":7"),
            ("LINSERT l AFTER Z Y", ":8"),
            ("LINSERT l AFTER A Q", ":9"),
            ("LINSERT l BEFORE zz x", ":-1"),
            ("LINSERT missing BEFORE a x", ":0"),
            ("LINSERT l MIDDLE a x", "-ERR syntax error"),
            ("LRANGE l 0 -1", "[A,Q,X,b,c,a,b,Z,Y]"),
            ("LINDEX l 4", "c"),
            ("RPUSH r 1 2 1 3 1 4 1", ":7"),
            ("LREM r -2 1", ":2"),
            ("LRANGE r 0 -1", "[1,2,1,3,4]"),
            ("LREM r 1 1", ":1"),
            ("LRANGE r 0 -1", "[2,1,3,4]"),
            ("LREM r 0 1", ":1"),
            ("LREM r 0 zz", ":0"),
            ("LRANGE r 0 -1", "[2,3,4]"),
            ("LINDEX r -1", "4"),
            ("RPUSH t 0 1 2 3 4 5 6 7 8 9", ":10"),
            ("LTRIM t 1 -2", "+OK"),
            ("LTRIM t -3 100", "+OK"),
            ("LRANGE t 0 -1", "[6,7,8]"),
            ("LTRIM t 0 -100", "+OK"),
            ("EXISTS t", ":0"),
            ("LTRIM missing 0 1", "+OK"),
            ("LTRIM l a b", "-ERR value is not an integer or out of range"),
            ("SET s x", "+OK"),
            ("LSET s 0 x", wrongtype),
            ("LTRIM s 0 1", wrongtype),
            ("LREM s 0 x", wrongtype),
            ("LINSERT s BEFORE a b", wrongtype),
            ("LPOS s a", wrongtype),
        ],
    );
}

/// Goal: LMOVE, RPOPLPUSH and LMPOP move and pop as Redis (a list rotated onto itself keeps
/// its expiry; an emptied source is deleted with its expiry), send Redis' events in Redis'
/// order (the push's, then the pop's), and run in their place inside MULTI. Method: replies
/// and events from redis-server 7.0 side by side.
#[test]
fn moves_and_multi_key_pops_answer_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("lm.mmt"), &[]);
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
            ("RPUSH src a b c", ":3"),
            ("EXPIRE src 1000", ":1"),
            ("LMOVE src dst LEFT RIGHT", "a"),
            ("RPOPLPUSH src dst", "c"),
            ("LRANGE dst 0 -1", "[c,a]"),
            ("LMOVE src src LEFT RIGHT", "b"),
            ("TTL src", ":1000"),
            ("LMOVE src dst LEFT LEFT", "b"),
            ("EXISTS src", ":0"),
            ("RPUSH src x", ":1"),
            ("TTL src", ":-1"),
            ("LMOVE missing dst LEFT LEFT", "nil"),
            ("LMOVE dst dst UP LEFT", "-ERR syntax error"),
            ("RPOPLPUSH dst dst", "a"),
            ("LRANGE dst 0 -1", "[a,b,c]"),
            ("SET s x", "+OK"),
            (
                "LMOVE dst s LEFT LEFT",
                "-WRONGTYPE Operation against a key holding the wrong kind of value",
            ),
            ("LMPOP 2 missing dst LEFT COUNT 2", "[dst,[a,b]]"),
            ("LMPOP 1 dst RIGHT COUNT 5", "[dst,[c]]"),
            ("EXISTS dst", ":0"),
            ("LMPOP 1 dst RIGHT", "nil"),
            ("LMPOP 0 dst LEFT", "-ERR numkeys should be greater than 0"),
            (
                "LMPOP 1 dst LEFT COUNT 0",
                "-ERR count should be greater than 0",
            ),
            ("SET end x", "+OK"),
        ],
    );
    let events = keyevents_until(&mut sr, "end");
    assert_eq!(
        events,
        [
            "rpush:src",
            "expire:src",
            "rpush:dst",
            "lpop:src",
            "lpush:dst",
            "rpop:src",
            "rpush:src",
            "lpop:src",
            "lpush:dst",
            "lpop:src",
            "del:src",
            "rpush:src",
            "lpush:dst",
            "rpop:dst",
            "set:s",
            "lpop:dst",
            "rpop:dst",
            "del:dst",
        ]
    );
    table(
        &mut c,
        &mut r,
        &[
            ("MULTI", "+OK"),
            ("RPUSH q a b c", "+QUEUED"),
            ("LSET q 1 B", "+QUEUED"),
            ("LRANGE q 0 -1", "+QUEUED"),
            ("LMOVE q q RIGHT LEFT", "+QUEUED"),
            ("LPOS q c", "+QUEUED"),
            ("EXEC", "[:3,+OK,[a,B,c],c,:0]"),
        ],
    );
}

/// Goal: the list writes that find a list's ends through the writer's remembered head
/// (`store::Tx::list_ends`) and write the count row once a command give the answers a plain
/// model gives, whatever left that memory stale: DEL, RENAME, LINSERT and LREM (which move the
/// head without noting it), a list emptied and made again elsewhere, SWAPDB. Method: a fixed
/// pseudo-random sequence of list commands on two keys, each checked against a `VecDeque` model
/// (the reply, then LRANGE and LLEN of both keys).
#[test]
fn list_ends_stay_right_after_every_kind_of_change() {
    use std::collections::VecDeque;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ends.mmt"), &[]);
    let mut c = server.client();
    let mut model: [VecDeque<String>; 2] = [VecDeque::new(), VecDeque::new()];
    let keys = ["a", "b"];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    for step in 0..600 {
        let k = next(2) as usize;
        let key = keys[k];
        let v = format!("v{step}");
        match next(11) {
            0 | 1 => {
                let n: i64 = cmd(&mut c, &["LPUSH", key, &v, &format!("{v}x")]).unwrap();
                model[k].push_front(v.clone());
                model[k].push_front(format!("{v}x"));
                assert_eq!(n as usize, model[k].len());
            }
            2 | 3 => {
                let n: i64 = cmd(&mut c, &["RPUSH", key, &v]).unwrap();
                model[k].push_back(v);
                assert_eq!(n as usize, model[k].len());
            }
            4 => {
                let got: Option<String> = cmd(&mut c, &["LPOP", key]).unwrap();
                assert_eq!(got, model[k].pop_front());
            }
            5 => {
                let got: Vec<String> = cmd(&mut c, &["RPOP", key, "2"]).unwrap_or_default();
                let want: Vec<String> = (0..2).filter_map(|_| model[k].pop_back()).collect();
                assert_eq!(got, want);
            }
            6 => {
                // The capped list, and a trim from the head.
                let (start, stop) = if next(2) == 0 { (0, 4) } else { (2, -1) };
                let _: () = cmd(
                    &mut c,
                    &["LTRIM", key, &start.to_string(), &stop.to_string()],
                )
                .unwrap();
                let len = model[k].len() as i64;
                let fix = |i: i64| if i < 0 { (i + len).max(0) } else { i };
                let (s, e) = (fix(start), fix(stop).min(len - 1));
                model[k] = if s > e {
                    VecDeque::new()
                } else {
                    model[k].range(s as usize..=e as usize).cloned().collect()
                };
            }
            7 => {
                // LINSERT before the last element and LREM of the first: both move elements
                // (the shorter side), which may move the head.
                if let Some(last) = model[k].back().cloned() {
                    let n: i64 = cmd(&mut c, &["LINSERT", key, "BEFORE", &last, &v]).unwrap();
                    let at = model[k].len() - 1;
                    model[k].insert(at, v);
                    assert_eq!(n as usize, model[k].len());
                }
                if let Some(first) = model[k].front().cloned() {
                    let n: i64 = cmd(&mut c, &["LREM", key, "1", &first]).unwrap();
                    assert_eq!(n, 1);
                    model[k].pop_front();
                }
            }
            8 => {
                let _: i64 = cmd(&mut c, &["DEL", key]).unwrap();
                model[k].clear();
            }
            9 => {
                // RENAME one onto the other (a missing source is an error and changes nothing).
                let other = 1 - k;
                let r: redis::RedisResult<()> = cmd(&mut c, &["RENAME", key, keys[other]]);
                if model[k].is_empty() {
                    assert!(r.is_err());
                } else {
                    r.unwrap();
                    model[other] = std::mem::take(&mut model[k]);
                }
            }
            _ => {
                // SWAPDB twice: the same keys in the same database, through the other one.
                let _: () = cmd(&mut c, &["SWAPDB", "0", "1"]).unwrap();
                let _: () = cmd(&mut c, &["SWAPDB", "0", "1"]).unwrap();
                let got: Option<String> =
                    cmd(&mut c, &["LMOVE", key, key, "RIGHT", "LEFT"]).unwrap();
                if let Some(last) = model[k].pop_back() {
                    model[k].push_front(last);
                }
                assert_eq!(got.as_ref(), model[k].front());
            }
        }
        for (i, key) in keys.iter().enumerate() {
            let got: Vec<String> = cmd(&mut c, &["LRANGE", key, "0", "-1"]).unwrap();
            assert_eq!(got, Vec::from(model[i].clone()), "step {step}, key {key}");
            let len: i64 = cmd(&mut c, &["LLEN", key]).unwrap();
            assert_eq!(len as usize, model[i].len(), "step {step}, key {key}");
        }
    }
}
