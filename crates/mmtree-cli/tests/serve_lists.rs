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
