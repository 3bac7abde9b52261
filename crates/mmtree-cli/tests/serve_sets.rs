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
