//! Unit tests of the keyspace layer against a temporary `Db` (no sockets): reads over a
//! snapshot and over the write transaction, and engine errors that propagate.

use super::*;
use crate::store::Tx;

fn apply(w: &mut mmtree::WriteTransaction, now: u64, args: &[&str]) -> crate::resp::Reply {
    let args: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let mut tx = Tx {
        changes: 0,
        w,
        db: 0,
        now,
        max_key: 1000,
        watches: None,
        events: None,
    };
    let cmd = crate::commands::table::lookup(&args[0]).unwrap();
    crate::commands::write::apply(&mut tx, cmd, &args).unwrap()
}

/// Goal: the typed layer reads the same over a snapshot and over the write transaction,
/// types are checked, and expired keys are absent. Method: a temporary database written
/// through `commands::write::apply`, read both ways.
#[test]
fn snapshot_and_transaction_read_the_same_typed_values() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmtree::Db::open(dir.path().join("k.mmt")).unwrap();
    let now = 1_000_000;
    let mut w = db.begin_write().unwrap();
    apply(&mut w, now, &["SET", "s", "text"]);
    apply(&mut w, now, &["HSET", "h", "a", "1", "b", "2"]);
    apply(&mut w, now, &["SET", "gone", "x", "PXAT", "1000000"]);
    apply(&mut w, now, &["SET", "later", "x", "PXAT", "2000000"]);
    let check = |ks: &mut Keyspace<&mut dyn Rows>| {
        assert_eq!(ks.string(b"s").unwrap(), Some(b"text".to_vec()));
        assert!(matches!(ks.string(b"h"), Err(Fault::WrongType)));
        assert!(matches!(
            ks.collection(b"s", b"hash"),
            Err(Fault::WrongType)
        ));
        assert_eq!(ks.collection(b"h", b"hash").unwrap(), Some(2));
        assert_eq!(ks.collection(b"none", b"hash").unwrap(), None);
        assert_eq!(ks.field(b"h", b"b").unwrap(), Some(b"2".to_vec()));
        assert_eq!(
            ks.fields(b"h", Bound::Unbounded, 10).unwrap(),
            vec![
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        assert_eq!(
            ks.fields(b"h", Bound::Excluded(b"a"), 10).unwrap(),
            vec![(b"b".to_vec(), b"2".to_vec())]
        );
        assert!(ks.live(b"gone").unwrap().is_none(), "expired at now");
        assert_eq!(ks.live(b"later").unwrap().unwrap().expiry, Some(2_000_000));
    };
    {
        let mut tx = Tx {
            changes: 0,
            w: &mut w,
            db: 0,
            now,
            max_key: 1000,
            watches: None,
            events: None,
        };
        let mut rows = Transaction(&mut tx);
        check(&mut Keyspace::new(&mut rows as &mut dyn Rows, now));
    }
    w.commit().unwrap();
    let read = db.begin_read().unwrap();
    let view = View {
        data: read.table(store::table_name(0)).unwrap(),
        expires: read.table(store::expires_name(0)).unwrap(),
        types: read.table(store::types_name(0)).unwrap(),
        hashes: read.table(store::hash_name(0)).unwrap(),
    };
    let mut rows = Snapshot(&view);
    check(&mut Keyspace::new(&mut rows as &mut dyn Rows, now));
}

/// Goal: `field_range` reads a collection's run between field bounds, both ways, never
/// past the run, and an empty or inverted interval reads nothing (rather than asking the
/// engine for an inverted range). Method: two hashes side by side, the bounds at each edge.
#[test]
fn field_ranges_stay_in_the_run_and_empty_intervals_read_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmtree::Db::open(dir.path().join("r.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    apply(&mut w, 1, &["HSET", "a", "x", "1", "y", "2", "z", "3"]);
    apply(&mut w, 1, &["HSET", "b", "w", "0"]);
    let mut tx = Tx {
        changes: 0,
        w: &mut w,
        db: 0,
        now: 1,
        max_key: 1000,
        watches: None,
        events: None,
    };
    let mut rows = Transaction(&mut tx);
    let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, 1);
    let fields = |v: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<String> {
        v.into_iter()
            .map(|(f, _)| String::from_utf8(f).unwrap())
            .collect()
    };
    let all = ks
        .field_range(b"a", Bound::Unbounded, Bound::Unbounded, false, 10)
        .unwrap();
    assert_eq!(fields(all), ["x", "y", "z"]);
    let back = ks
        .field_range(b"a", Bound::Excluded(b"x"), Bound::Unbounded, true, 10)
        .unwrap();
    assert_eq!(fields(back), ["z", "y"]);
    let one = ks
        .field_range(
            b"a",
            Bound::Included(b"y"),
            Bound::Included(b"y"),
            false,
            10,
        )
        .unwrap();
    assert_eq!(fields(one), ["y"]);
    for (lo, hi) in [
        (Bound::Excluded(&b"y"[..]), Bound::Included(&b"y"[..])),
        (Bound::Included(b"z"), Bound::Included(b"x")),
        (Bound::Included(b"y"), Bound::Excluded(b"y")),
    ] {
        assert!(ks.field_range(b"a", lo, hi, false, 10).unwrap().is_empty());
    }
    assert!(ks
        .field_range(b"a", Bound::Unbounded, Bound::Unbounded, false, 0)
        .unwrap()
        .is_empty());
    assert_eq!(
        ks.count_fields(b"a", Bound::Excluded(b"x"), Bound::Unbounded)
            .unwrap(),
        2
    );
    assert_eq!(
        ks.count_fields(b"a", Bound::Included(b"z"), Bound::Excluded(b"x"))
            .unwrap(),
        0
    );
    assert_eq!(
        ks.count_fields(b"b", Bound::Unbounded, Bound::Unbounded)
            .unwrap(),
        1
    );
    assert_eq!(successor(b"ab\xff\xff"), Some(b"ac".to_vec()));
    assert_eq!(successor(b"\xff"), None);
}

/// Goal: no command panics on short or odd argument lists: a write answers Redis' arity
/// error before its handler reads an argument that is not there (the writer's path does not
/// pass the connection's check), and every handler copes with what the arity admits.
/// Method: every command of the table with 0 to 6 arguments of a few shapes, writes through
/// `commands::write::apply`, reads over the transaction.
#[test]
fn every_command_answers_any_argument_count_without_panicking() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmtree::Db::open(dir.path().join("a.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    apply(&mut w, 1, &["ZADD", "z", "1", "a"]);
    apply(&mut w, 1, &["RPUSH", "l", "a"]);
    apply(&mut w, 1, &["SADD", "s", "a"]);
    let shapes: [&[&str]; 4] = [
        &["z", "l", "s", "1", "a", "b"],
        &["1", "z", "1", "1", "1", "1"],
        &["2", "l", "s", "LEFT", "COUNT", "1"],
        &["-1", "s", "(1", "[a", "LIMIT", "-1"],
    ];
    for c in crate::commands::table::COMMANDS {
        for shape in shapes {
            for n in 0..=shape.len() {
                let mut args: Vec<Vec<u8>> = vec![c.name.as_bytes().to_vec()];
                args.extend(shape[..n].iter().map(|a| a.as_bytes().to_vec()));
                let mut tx = Tx {
                    changes: 0,
                    w: &mut w,
                    db: 0,
                    now: 1,
                    max_key: 1000,
                    watches: None,
                    events: None,
                };
                match c.handler {
                    crate::commands::table::Handler::Write(_)
                    | crate::commands::table::Handler::Block(_) => {
                        let reply = crate::commands::write::apply(&mut tx, c, &args).unwrap();
                        if !c.arity_ok(args.len()) {
                            assert!(
                                matches!(&reply, Reply::Error(e) if e.contains("wrong number")),
                                "{args:?}: {reply:?}"
                            );
                        }
                    }
                    crate::commands::table::Handler::Read(read_fn) if c.arity_ok(args.len()) => {
                        let mut rows = Transaction(&mut tx);
                        let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, 1);
                        read_fn(&mut ks, &args[1..]).unwrap();
                    }
                    _ => {}
                }
            }
        }
    }
}

/// Reads a command family's reply over the snapshot of `db`'s last commit.
fn read_committed(db: &mmtree::Db, now: u64, args: &[&str]) -> mmtree::Result<Reply> {
    let read = db.begin_read().unwrap();
    let view = View {
        data: read.table(store::table_name(0)).unwrap(),
        expires: read.table(store::expires_name(0)).unwrap(),
        types: read.table(store::types_name(0)).unwrap(),
        hashes: read.table(store::hash_name(0)).unwrap(),
    };
    let mut rows = Snapshot(&view);
    let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, now);
    let cmd = crate::commands::table::lookup(args[0].as_bytes()).unwrap();
    let crate::commands::table::Handler::Read(read_fn) = cmd.handler else {
        panic!("{} is not a keyspace read", args[0]);
    };
    let args: Vec<Vec<u8>> = args[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
    read_fn(&mut ks, &args)
}

/// Goal: a row of the server's layout that does not decode is an error, never an absent
/// key or an empty collection. Method: a hash whose count row and a key whose expiry row
/// are the wrong length, written straight into the tables; the reads answer an error reply.
#[test]
fn damaged_rows_are_errors_not_absent_keys() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmtree::Db::open(dir.path().join("d.mmt")).unwrap();
    let now = 1_000_000;
    let mut w = db.begin_write().unwrap();
    apply(&mut w, now, &["HSET", "h", "f", "v"]);
    apply(&mut w, now, &["SET", "s", "v", "PXAT", "2000000"]);
    w.table(store::table_name(0))
        .unwrap()
        .insert(b"h", b"abc")
        .unwrap();
    w.table(store::expires_name(0))
        .unwrap()
        .insert(b"s", b"12")
        .unwrap();
    w.commit().unwrap();
    for args in [
        &["HLEN", "h"][..],
        &["HGET", "h", "f"],
        &["GET", "s"],
        &["TTL", "s"],
        &["EXISTS", "s"],
    ] {
        match read_committed(&db, now, args).unwrap() {
            Reply::Error(e) => assert!(e.starts_with("ERR damaged data"), "{args:?}: {e}"),
            other => panic!("{args:?} answered {other:?}"),
        }
    }
    // The undamaged reads still work.
    let mut w = db.begin_write().unwrap();
    apply(&mut w, now, &["HSET", "ok", "f", "v"]);
    w.commit().unwrap();
    assert_eq!(
        read_committed(&db, now, &["HGET", "ok", "f"]).unwrap(),
        Reply::Bulk(b"v".to_vec())
    );
}

/// Goal: the family reads give the same replies over the write transaction (as inside EXEC)
/// as over a snapshot of its commit. Method: one database with each type, every read run
/// both ways.
#[test]
fn family_reads_agree_over_a_transaction_and_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let db = mmtree::Db::open(dir.path().join("f.mmt")).unwrap();
    let now = 1_000_000;
    let mut w = db.begin_write().unwrap();
    for args in [
        &["SET", "s", "hello world"][..],
        &["HSET", "h", "a", "1", "b", "22"],
        &["SADD", "set", "x", "y"],
        &["RPUSH", "l", "p", "q", "r"],
        &["ZADD", "z", "2", "m", "1", "n"],
        &["SET", "t", "v", "PXAT", "1500000"],
    ] {
        apply(&mut w, now, args);
    }
    let reads: &[&[&str]] = &[
        &["GET", "s"],
        &["STRLEN", "s"],
        &["GETRANGE", "s", "0", "4"],
        &["GETBIT", "s", "1"],
        &["BITCOUNT", "s", "1", "-2"],
        &["BITPOS", "s", "0", "2", "30", "BIT"],
        &["BITFIELD_RO", "s", "GET", "i5", "#3"],
        &["SORT_RO", "l", "ALPHA", "DESC", "GET", "#"],
        &["SORT_RO", "set", "BY", "nosort"],
        &["DUMP", "h"],
        &["DUMP", "z"],
        &["TOUCH", "s", "h", "none"],
        &["LCS", "s", "s"],
        &["MGET", "s", "h", "none"],
        &["EXISTS", "s", "h", "none"],
        &["TYPE", "h"],
        &["PTTL", "t"],
        &["KEYS", "*"],
        &["DBSIZE"],
        &["HGETALL", "h"],
        &["HMGET", "h", "a", "c"],
        &["SMEMBERS", "set"],
        &["SISMEMBER", "set", "y"],
        &["SUNION", "set", "none"],
        &["SINTERCARD", "1", "set"],
        &["LRANGE", "l", "0", "-1"],
        &["LINDEX", "l", "-1"],
        &["LPOS", "l", "q", "RANK", "-1", "COUNT", "0"],
        &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
        &["ZSCORE", "z", "m"],
        &["ZRANGE", "z", "(1", "+inf", "BYSCORE", "WITHSCORES"],
        &["ZREVRANGEBYSCORE", "z", "+inf", "-inf", "LIMIT", "1", "1"],
        &["ZRANGEBYLEX", "z", "[m", "+"],
        &["ZRANK", "z", "m"],
        &["ZREVRANK", "z", "m"],
        &["ZCOUNT", "z", "1", "2"],
        &["ZMSCORE", "z", "m", "x"],
        &["ZUNION", "2", "z", "set", "WITHSCORES"],
        &["ZINTERCARD", "2", "z", "z"],
        &["SCAN", "0", "COUNT", "2"],
        &["HSCAN", "h", "0"],
        &["ZSCAN", "z", "0"],
        &["GET", "h"],
    ];
    let mut in_transaction = Vec::new();
    {
        let mut tx = Tx {
            changes: 0,
            w: &mut w,
            db: 0,
            now,
            max_key: 1000,
            watches: None,
            events: None,
        };
        let mut rows = Transaction(&mut tx);
        let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, now);
        for args in reads {
            let cmd = crate::commands::table::lookup(args[0].as_bytes()).unwrap();
            let crate::commands::table::Handler::Read(read_fn) = cmd.handler else {
                panic!("{} is not a keyspace read", args[0]);
            };
            let a: Vec<Vec<u8>> = args[1..].iter().map(|a| a.as_bytes().to_vec()).collect();
            in_transaction.push(read_fn(&mut ks, &a).unwrap());
        }
    }
    w.commit().unwrap();
    for (args, expected) in reads.iter().zip(in_transaction) {
        assert_eq!(
            read_committed(&db, now, args).unwrap(),
            expected,
            "{args:?}"
        );
    }
    assert_eq!(
        read_committed(&db, now, &["GET", "h"]).unwrap(),
        Reply::Error(store::WRONGTYPE.into())
    );
}
