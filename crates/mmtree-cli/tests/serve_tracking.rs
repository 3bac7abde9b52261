//! Client-side caching (CLIENT TRACKING), MONITOR and SLOWLOG of `mmtree serve`, end to end over
//! sockets, with the replies Redis 7.0 gives.

mod common;

use common::*;
use std::net::TcpStream;

/// A raw connection and its reply reader.
fn open(server: &Server) -> (TcpStream, Replies) {
    let s = server.raw();
    let r = Replies::new(&s);
    (s, r)
}

fn id_of(s: &mut TcpStream, r: &mut Replies) -> String {
    match call(s, r, &["CLIENT", "ID"]) {
        Value::Int(n) => n.to_string(),
        other => panic!("{other:?}"),
    }
}

/// Default mode: RESP3 pushes on the client's own connection, after the reply of the command
/// that made the change; one invalidation per read; NOLOOP; a FLUSHALL's null invalidation; and
/// a RESP2 client redirecting to a subscriber of `__redis__:invalidate`.
#[test]
fn default_mode_invalidates_what_a_client_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    let (mut w, mut wr) = open(&server);
    call(&mut c, &mut cr, &["HELLO", "3"]);
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT GETREDIR", ":-1"),
            ("CLIENT TRACKING on", "+OK"),
            ("CLIENT GETREDIR", ":0"),
            ("SET k 1", "+OK"),
            ("GET k", "1"),
            ("MGET a b", "[nil,nil]"),
        ],
    );
    // A write by another client: the push is there before that client's reply.
    table(&mut w, &mut wr, &[("SET k 2", "+OK"), ("SET a 1", "+OK")]);
    assert_eq!(show(&cr.next()), ">[invalidate,[k]]");
    assert_eq!(show(&cr.next()), ">[invalidate,[a]]");
    // Not read again: no second invalidation.
    table(&mut w, &mut wr, &[("SET k 3", "+OK")]);
    // The client's own change: after its reply.
    table(&mut c, &mut cr, &[("GET b", "nil"), ("SET b 1", "+OK")]);
    assert_eq!(show(&cr.next()), ">[invalidate,[b]]");
    table(&mut c, &mut cr, &[("PING", "+PONG")]);
    // NOLOOP: the client's own changes are not sent.
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT TRACKING on NOLOOP", "+OK"),
            ("GET k", "3"),
            ("SET k 4", "+OK"),
            ("GET k", "4"),
        ],
    );
    table(&mut w, &mut wr, &[("FLUSHALL", "+OK")]);
    assert_eq!(show(&cr.next()), ">[invalidate,nil]");
    // Tracking state as CLIENT LIST and INFO show it.
    let info = text(&call(&mut w, &mut wr, &["INFO", "clients"]));
    assert!(info.contains("tracking_clients:1\r\n"), "{info}");
    let list = text(&call(&mut w, &mut wr, &["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| l.contains(" flags=t ")), "{list}");

    // RESP2 with REDIRECT to a subscriber: pub/sub messages with the keys as an array.
    let (mut sub, mut subr) = open(&server);
    let sub_id = id_of(&mut sub, &mut subr);
    call(&mut sub, &mut subr, &["SUBSCRIBE", "__redis__:invalidate"]);
    let (mut c2, mut c2r) = open(&server);
    table(
        &mut c2,
        &mut c2r,
        &[
            (
                "CLIENT TRACKING on REDIRECT 999999",
                "-ERR The client ID you want redirect to does not exist",
            ),
            (&format!("CLIENT TRACKING on REDIRECT {sub_id}"), "+OK"),
            ("GET x", "nil"),
        ],
    );
    table(&mut w, &mut wr, &[("SET x 1", "+OK")]);
    assert_eq!(show(&subr.next()), "[message,__redis__:invalidate,[x]]");
    let info = call(&mut c2, &mut c2r, &["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        show(&info),
        format!("[flags,[on],redirect,:{sub_id},prefixes,[]]")
    );
    // The redirect target goes: the client's redirect is broken.
    drop(subr);
    drop(sub);
    table(&mut c2, &mut c2r, &[("GET x", "1")]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    table(&mut w, &mut wr, &[("SET x 2", "+OK")]);
    let info = call(&mut c2, &mut c2r, &["CLIENT", "TRACKINGINFO"]);
    assert_eq!(
        show(&info),
        format!("[flags,[on,broken_redirect],redirect,:{sub_id},prefixes,[]]")
    );
}

/// BCAST: every change under a prefix, one message per prefix per commit; OPTIN and CLIENT
/// CACHING; Redis' errors for incompatible options.
#[test]
fn bcast_optin_and_option_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    let (mut w, mut wr) = open(&server);
    call(&mut c, &mut cr, &["HELLO", "3"]);
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT TRACKING on PREFIX a", "-ERR PREFIX option requires BCAST mode to be enabled"),
            ("CLIENT TRACKING on BCAST OPTIN", "-ERR OPTIN and OPTOUT are not compatible with BCAST"),
            ("CLIENT TRACKING on OPTIN OPTOUT", "-ERR You can't use both OPTIN and OPTOUT"),
            ("CLIENT TRACKING on BCAST PREFIX ab PREFIX a", "-ERR Prefix 'ab' overlaps with another provided prefix 'a'. Prefixes for a single client must not overlap."),
            ("CLIENT CACHING yes", "-ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"),
            ("CLIENT TRACKING on BCAST PREFIX a: PREFIX b:", "+OK"),
            ("CLIENT TRACKING on", "-ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."),
            ("CLIENT TRACKINGINFO", "%[flags,~[on,bcast],redirect,:0,prefixes,[a:,b:]]"),
        ],
    );
    table(
        &mut w,
        &mut wr,
        &[
            ("MULTI", "+OK"),
            ("SET a:1 x", "+QUEUED"),
            ("SET a:2 x", "+QUEUED"),
            ("SET c:1 x", "+QUEUED"),
            ("SET b:1 x", "+QUEUED"),
            ("EXEC", "[+OK,+OK,+OK,+OK]"),
        ],
    );
    assert_eq!(show(&cr.next()), ">[invalidate,[a:1,a:2]]");
    assert_eq!(show(&cr.next()), ">[invalidate,[b:1]]");
    let info = text(&call(&mut w, &mut wr, &["INFO", "stats"]));
    assert!(info.contains("tracking_total_prefixes:2\r\n"), "{info}");
    // OPTIN: only reads after CLIENT CACHING yes are tracked.
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT TRACKING off", "+OK"),
            ("CLIENT TRACKING on OPTIN", "+OK"),
            (
                "CLIENT CACHING no",
                "-ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
            ),
            ("GET u", "nil"),
            ("CLIENT CACHING yes", "+OK"),
            (
                "CLIENT TRACKINGINFO",
                "%[flags,~[on,optin,caching-yes],redirect,:0,prefixes,[]]",
            ),
            ("GET v", "nil"),
            (
                "CLIENT TRACKINGINFO",
                "%[flags,~[on,optin],redirect,:0,prefixes,[]]",
            ),
        ],
    );
    table(&mut w, &mut wr, &[("SET u 1", "+OK"), ("SET v 1", "+OK")]);
    assert_eq!(show(&cr.next()), ">[invalidate,[v]]");
    table(&mut c, &mut cr, &[("PING", "+PONG")]);
}

/// A key whose registration was made before a write that the reader's snapshot could not see
/// is still invalidated: many rounds of read-then-write by another client, each followed by its
/// push (a lost invalidation would leave a round without one and the next read would fail).
#[test]
fn every_write_after_a_read_is_invalidated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    let (mut w, mut wr) = open(&server);
    call(&mut c, &mut cr, &["HELLO", "3"]);
    call(&mut c, &mut cr, &["CLIENT", "TRACKING", "on"]);
    for i in 0..200 {
        send(&mut w, &["SET", "hot", &i.to_string()]);
        let mut got = call(&mut c, &mut cr, &["GET", "hot"]);
        // An invalidation may come before the reply (as in Redis, where the write that sends it
        // may run just before the read): of a registration made before this GET, by an earlier
        // read, so it says nothing about this one.
        while show(&got) == ">[invalidate,[hot]]" {
            got = cr.next();
        }
        assert_eq!(show(&wr.next()), "+OK");
        // Either the read saw the write (then its invalidation may come or not, as the write
        // may have been processed before the registration) or it did not (then it must come).
        let seen = show(&got) == i.to_string();
        let ping = call(&mut c, &mut cr, &["PING"]);
        if !seen {
            assert_eq!(show(&ping), ">[invalidate,[hot]]", "round {i}");
            assert_eq!(show(&cr.next()), "+PONG");
        } else if show(&ping) != "+PONG" {
            assert_eq!(show(&ping), ">[invalidate,[hot]]");
            assert_eq!(show(&cr.next()), "+PONG");
        }
    }
}

/// MONITOR: each command of other clients as Redis prints it, MULTI/EXEC in order, a script's
/// commands as `lua` after the EVAL; refused inside MULTI at EXEC.
#[test]
fn monitor_shows_commands_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut m, mut mr) = open(&server);
    let (mut c, mut cr) = open(&server);
    table(&mut m, &mut mr, &[("MONITOR", "+OK")]);
    table(
        &mut c,
        &mut cr,
        &[
            ("SET foo bar", "+OK"),
            ("GET foo", "bar"),
            ("CONFIG GET maxmemory", "[maxmemory,0]"),
            ("MULTI", "+OK"),
            ("SET foo baz", "+QUEUED"),
            ("EXEC", "[+OK]"),
        ],
    );
    call(
        &mut c,
        &mut cr,
        &[
            "EVAL",
            "return redis.call('set', KEYS[1], 'x\\n')",
            "1",
            "k",
        ],
    );
    let lines: Vec<String> = (0..7).map(|_| text(&mr.next())).collect();
    let tail = |l: &str| l.split_once(' ').unwrap().1.to_string();
    let addr = lines[0].split(['[', ']']).nth(1).unwrap().to_string();
    assert!(
        lines[0].split(' ').next().unwrap().contains('.'),
        "{}",
        lines[0]
    );
    assert_eq!(tail(&lines[0]), format!("[{addr}] \"SET\" \"foo\" \"bar\""));
    assert_eq!(tail(&lines[1]), format!("[{addr}] \"GET\" \"foo\""));
    // (CONFIG is administrative: not shown.)
    assert_eq!(tail(&lines[2]), format!("[{addr}] \"MULTI\""));
    assert_eq!(tail(&lines[3]), format!("[{addr}] \"SET\" \"foo\" \"baz\""));
    assert_eq!(tail(&lines[4]), format!("[{addr}] \"EXEC\""));
    assert!(tail(&lines[5]).starts_with(&format!("[{addr}] \"EVAL\"")));
    assert_eq!(tail(&lines[6]), "[0 lua] \"set\" \"k\" \"x\\n\"");
    let list = text(&call(&mut c, &mut cr, &["CLIENT", "LIST"]));
    assert!(list.lines().any(|l| l.contains(" flags=O ")), "{list}");
    table(
        &mut c,
        &mut cr,
        &[
            ("MULTI", "+OK"),
            ("MONITOR", "+QUEUED"),
            (
                "EXEC",
                "[-ERR MONITOR isn't allowed for DENY BLOCKING client]",
            ),
        ],
    );
}

/// SLOWLOG: the threshold and length from CONFIG SET, Redis' entry (id, time, duration,
/// arguments trimmed to 32 and 128 bytes, address, name), GET's count, LEN, RESET.
#[test]
fn slowlog_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    table(
        &mut c,
        &mut cr,
        &[
            (
                "CONFIG GET slowlog-*",
                "[slowlog-log-slower-than,10000,slowlog-max-len,128]",
            ),
            ("SLOWLOG LEN", ":0"),
            ("CONFIG SET slowlog-log-slower-than 0", "+OK"),
            ("CONFIG SET slowlog-max-len 3", "+OK"),
            ("SLOWLOG RESET", "+OK"),
            ("CLIENT SETNAME me", "+OK"),
            ("SET key test", "+OK"),
            ("INCR num", ":1"),
        ],
    );
    let Value::Array(entries) = call(&mut c, &mut cr, &["SLOWLOG", "GET", "-1"]) else {
        panic!()
    };
    assert_eq!(entries.len(), 3);
    let Value::Array(e) = &entries[0] else {
        panic!()
    };
    assert_eq!(e.len(), 6);
    assert_eq!(show(&e[3]), "[INCR,num]", "a write, logged by the writer");
    assert_eq!(text(&e[5]), "me");
    assert!(text(&e[4]).starts_with("127.0.0.1:"));
    let Value::Array(e2) = &entries[2] else {
        panic!()
    };
    assert_eq!(show(&e2[3]), "[CLIENT,SETNAME,me]");
    let (Value::Int(id0), Value::Int(id2)) = (&e[0], &e2[0]) else {
        panic!()
    };
    assert_eq!(id0 - 2, *id2);
    table(
        &mut c,
        &mut cr,
        &[
            ("SLOWLOG LEN", ":3"),
            (
                "SLOWLOG GET -2",
                "-ERR count should be greater than or equal to -1",
            ),
            (
                "SLOWLOG GET x",
                "-ERR value is not an integer or out of range",
            ),
        ],
    );
    let Value::Array(one) = call(&mut c, &mut cr, &["SLOWLOG", "GET", "1"]) else {
        panic!()
    };
    assert_eq!(one.len(), 1);
    // Trimmed as Redis trims.
    let mut args = vec!["SADD".to_string(), "set".to_string()];
    args.extend((3..=33).map(|n| n.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    call(&mut c, &mut cr, &args);
    let long = "A".repeat(129);
    call(&mut c, &mut cr, &["SADD", "set", "foo", &long]);
    let Value::Array(entries) = call(&mut c, &mut cr, &["SLOWLOG", "GET", "2"]) else {
        panic!()
    };
    let Value::Array(e) = &entries[0] else {
        panic!()
    };
    let Value::Array(argv) = &e[3] else { panic!() };
    assert_eq!(
        text(&argv[3]),
        format!("{}... (1 more bytes)", "A".repeat(128))
    );
    let Value::Array(e) = &entries[1] else {
        panic!()
    };
    let Value::Array(argv) = &e[3] else { panic!() };
    assert_eq!(argv.len(), 32);
    assert_eq!(text(&argv[31]), "... (2 more arguments)");
    // A blocked command is logged when it is answered (as Redis), not when it blocked.
    let (mut b, mut br) = open(&server);
    table(&mut b, &mut br, &[("CLIENT SETNAME blocker", "+OK")]);
    send(&mut b, &["BLPOP", "l", "0"]);
    while show(&call(&mut c, &mut cr, &["INFO", "clients"])).contains("blocked_clients:0") {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    table(
        &mut c,
        &mut cr,
        &[
            ("MULTI", "+OK"),
            ("LPUSH l foo", "+QUEUED"),
            ("SLOWLOG RESET", "+QUEUED"),
            ("EXEC", "[:1,+OK]"),
        ],
    );
    assert_eq!(show(&br.next()), "[l,foo]");
    let Value::Array(entries) = call(&mut c, &mut cr, &["SLOWLOG", "GET"]) else {
        panic!()
    };
    let blpop = entries.iter().find_map(|e| match e {
        Value::Array(e) if show(&e[3]) == "[BLPOP,l,0]" => Some(text(&e[5])),
        _ => None,
    });
    assert_eq!(blpop.as_deref(), Some("blocker"), "{entries:?}");
    table(
        &mut c,
        &mut cr,
        &[
            ("CONFIG SET slowlog-log-slower-than -1", "+OK"),
            ("SLOWLOG RESET", "+OK"),
            ("PING", "+PONG"),
            ("SLOWLOG LEN", ":0"),
        ],
    );
}

/// Keys left in the table by a client that stopped tracking are dropped by a flush (and by a
/// change), as Redis' table is, even with no tracking client left: they would otherwise be
/// invalidated long after, to whoever tracks then.
#[test]
fn a_flush_empties_the_table_when_nobody_tracks() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    let (mut w, mut wr) = open(&server);
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT TRACKING on", "+OK"),
            ("MGET k1 k2", "[nil,nil]"),
            ("CLIENT TRACKING off", "+OK"),
        ],
    );
    let stats = |w: &mut TcpStream, wr: &mut Replies| {
        let info = text(&call(w, wr, &["INFO", "stats"]));
        info.lines()
            .filter(|l| l.starts_with("tracking_total_"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        stats(&mut w, &mut wr),
        "tracking_total_keys:2 tracking_total_items:2 tracking_total_prefixes:0"
    );
    table(&mut w, &mut wr, &[("SET k1 x", "+OK")]);
    assert_eq!(
        stats(&mut w, &mut wr),
        "tracking_total_keys:1 tracking_total_items:1 tracking_total_prefixes:0"
    );
    table(&mut w, &mut wr, &[("FLUSHALL", "+OK")]);
    assert_eq!(
        stats(&mut w, &mut wr),
        "tracking_total_keys:0 tracking_total_items:0 tracking_total_prefixes:0"
    );
}

/// Reads inside MULTI are tracked in their place in the transaction, as Redis: a key written
/// before its read in the same transaction is not invalidated by that write, one read before
/// its write is (after EXEC's reply), and a read key hears of a later write by another client.
#[test]
fn reads_inside_multi_are_tracked_in_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &[]);
    let (mut c, mut cr) = open(&server);
    let (mut w, mut wr) = open(&server);
    call(&mut c, &mut cr, &["HELLO", "3"]);
    table(
        &mut c,
        &mut cr,
        &[
            ("CLIENT TRACKING on", "+OK"),
            ("MULTI", "+OK"),
            ("SET a 1", "+QUEUED"),
            ("GET a", "+QUEUED"),
            ("GET b", "+QUEUED"),
            ("SET b 1", "+QUEUED"),
            ("EXEC", "[+OK,1,nil,+OK]"),
        ],
    );
    // b was read before its write: invalidated, after the reply. a was written, then read.
    assert_eq!(show(&cr.next()), ">[invalidate,[b]]");
    table(&mut c, &mut cr, &[("PING", "+PONG")]);
    table(&mut w, &mut wr, &[("SET a 2", "+OK")]);
    assert_eq!(show(&cr.next()), ">[invalidate,[a]]");
    table(&mut c, &mut cr, &[("PING", "+PONG")]);
}

/// A key that expires is invalidated when a read finds it expired (Redis' lazy expiry), not only
/// when the sweep removes it: the writer removes it for the reader's connection, so the push
/// (RESP3) and the redirected message (RESP2) are in their targets' mail before that reader's
/// next write is answered. Each round reads the key the moment it expires (a 250 ms sweep would
/// have to fall into a few milliseconds of each of the five rounds for the test to pass without
/// lazy expiry). The reader's own cached copy is invalidated too (after its reply), and with
/// BCAST NOLOOP the reader hears of the key its own read expired, as in Redis.
#[test]
fn a_read_that_finds_a_key_expired_invalidates_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("lazy.mmt"), &[]);
    let (mut a, mut ar) = open(&server);
    let (mut b, mut br) = open(&server);
    let (mut sub, mut subr) = open(&server);
    let (mut a2, mut a2r) = open(&server);
    call(&mut a, &mut ar, &["HELLO", "3"]);
    table(&mut a, &mut ar, &[("CLIENT TRACKING on", "+OK")]);
    let sub_id = id_of(&mut sub, &mut subr);
    call(&mut sub, &mut subr, &["SUBSCRIBE", "__redis__:invalidate"]);
    table(
        &mut a2,
        &mut a2r,
        &[(&format!("CLIENT TRACKING on REDIRECT {sub_id}"), "+OK")],
    );
    for round in 0..5 {
        let key = format!("lazy:{round}");
        table(&mut b, &mut br, &[(&format!("SET {key} v PX 40"), "+OK")]);
        table(&mut a, &mut ar, &[(&format!("GET {key}"), "v")]);
        table(&mut a2, &mut a2r, &[(&format!("GET {key}"), "v")]);
        // The reader polls until the key reads as gone: its first nil found it expired.
        while show(&call(&mut b, &mut br, &["GET", &key])) != "nil" {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        table(&mut b, &mut br, &[("SET after 1", "+OK")]);
        send(&mut a, &["PING"]);
        assert_eq!(show(&ar.next()), format!(">[invalidate,[{key}]]"));
        assert_eq!(show(&ar.next()), "+PONG");
        send(&mut sub, &["PING"]);
        assert_eq!(
            show(&subr.next()),
            format!("[message,__redis__:invalidate,[{key}]]")
        );
        assert_eq!(show(&subr.next()), "[pong,]");
    }
    // The reader's own copy: invalidated after the reply of the read that expired it.
    table(
        &mut a,
        &mut ar,
        &[("SET own v PX 30", "+OK"), ("GET own", "v")],
    );
    assert_eq!(
        poll_until_gone(&mut a, &mut ar, "own"),
        ">[invalidate,[own]]"
    );
    // BCAST NOLOOP: the reader hears of the key its own read expired (Redis passes no client
    // for a lazy expiry's broadcast), not of its own SET.
    table(
        &mut a,
        &mut ar,
        &[
            ("CLIENT TRACKING off", "+OK"),
            ("CLIENT TRACKING on BCAST PREFIX bc: NOLOOP", "+OK"),
            ("SET bc:k v PX 30", "+OK"),
        ],
    );
    assert_eq!(
        poll_until_gone(&mut a, &mut ar, "bc:k"),
        ">[invalidate,[bc:k]]"
    );
    table(&mut a, &mut ar, &[("PING", "+PONG")]);
}

/// GETs `key` on a RESP3 tracking connection until it reads nil; returns the one push that
/// came, during the polls or after them.
fn poll_until_gone(s: &mut TcpStream, r: &mut Replies, key: &str) -> String {
    let mut pushes = Vec::new();
    loop {
        send(s, &["GET", key]);
        let reply = loop {
            match r.next() {
                push @ Value::Push(_) => pushes.push(show(&push)),
                reply => break show(&reply),
            }
        };
        if reply == "nil" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    if pushes.is_empty() {
        pushes.push(show(&r.next()));
    }
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    pushes.remove(0)
}

/// The same for reads the writer runs: a GET queued in MULTI and a script's `redis.call('GET')`
/// that find the key expired remove it in their transaction, and the tracking client has the push
/// before EXEC's (or EVAL's) reply reaches the reader. Five rounds each (the reads come about
/// 30 ms after the key's expiry: the 250 ms sweep would have to fall into that window every time
/// for the test to pass without lazy expiry in the writer).
#[test]
fn reads_in_multi_and_scripts_find_keys_expired_too() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("lazy-writer.mmt"), &[]);
    let (mut a, mut ar) = open(&server);
    let (mut b, mut br) = open(&server);
    call(&mut a, &mut ar, &["HELLO", "3"]);
    table(&mut a, &mut ar, &[("CLIENT TRACKING on", "+OK")]);
    for round in 0..10 {
        let key = format!("lazy-w:{round}");
        table(&mut b, &mut br, &[(&format!("SET {key} v PX 20"), "+OK")]);
        table(&mut a, &mut ar, &[(&format!("GET {key}"), "v")]);
        std::thread::sleep(std::time::Duration::from_millis(50));
        if round % 2 == 0 {
            table(
                &mut b,
                &mut br,
                &[
                    ("MULTI", "+OK"),
                    (&format!("GET {key}"), "+QUEUED"),
                    ("EXEC", "[nil]"),
                ],
            );
        } else {
            let got = call(
                &mut b,
                &mut br,
                &["EVAL", "return redis.call('GET', KEYS[1])", "1", &key],
            );
            assert_eq!(show(&got), "nil");
        }
        send(&mut a, &["PING"]);
        assert_eq!(
            show(&ar.next()),
            format!(">[invalidate,[{key}]]"),
            "round {round}"
        );
        assert_eq!(show(&ar.next()), "+PONG");
    }
}
