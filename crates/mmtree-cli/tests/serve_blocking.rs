//! The blocking pops of `mmtree serve` (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN,
//! BZPOPMAX, BZMPOP) through real client connections: served in arrival order by the commit that
//! fills a key, atomic, timed out with nil, unblocked by CLIENT UNBLOCK, forgotten when the client
//! goes, and non-blocking inside MULTI.

mod common;

use common::*;
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// INFO's `blocked_clients`.
fn blocked_clients(c: &mut redis::Connection) -> u64 {
    let info = cmd::<String>(c, &["INFO", "clients"]).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("blocked_clients:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Waits until the server holds exactly `n` clients blocked (as Redis' `wait_for_blocked_clients_count`;
/// the bound only stops a broken server from hanging the test).
fn wait_blocked(c: &mut redis::Connection, n: u64) {
    let give_up = Instant::now() + Duration::from_secs(30);
    while blocked_clients(c) != n {
        assert!(Instant::now() < give_up, "never {n} blocked clients");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A raw client: its socket and its reply reader.
fn raw(server: &Server) -> (TcpStream, Replies) {
    let s = server.raw();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let r = Replies::new(&s);
    (s, r)
}

fn start(name: &str) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join(name), &[]);
    (dir, server)
}

/// Two clients blocked on one key are served in the order they blocked, one push each; a key
/// pushed by another client wakes BLPOP, BRPOP (the key of several that got it), BZPOPMIN,
/// BZPOPMAX, BLMPOP and BZMPOP, each with its reply shape.
#[test]
fn blocked_clients_are_served_in_arrival_order_by_the_push() {
    let (_dir, server) = start("fifo.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    let (mut b, mut rb) = raw(&server);
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    send(&mut b, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 2);
    assert_eq!(cmd::<i64>(&mut c, &["RPUSH", "q", "first"]).unwrap(), 1);
    assert_eq!(show(&ra.next()), "[q,first]");
    // One element: the second client still waits, and nothing is left in the list.
    wait_blocked(&mut c, 1);
    assert_eq!(cmd::<i64>(&mut c, &["LLEN", "q"]).unwrap(), 0);
    assert_eq!(cmd::<i64>(&mut c, &["RPUSH", "q", "second"]).unwrap(), 1);
    assert_eq!(show(&rb.next()), "[q,second]");
    wait_blocked(&mut c, 0);
    // The connections work on after.
    assert_eq!(show(&call(&mut a, &mut ra, &["PING"])), "+PONG");

    // Several keys: served from the one that got an element.
    send(&mut a, &["BRPOP", "x", "y", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["RPUSH", "y", "1", "2"]).unwrap();
    assert_eq!(show(&ra.next()), "[y,2]");
    // Sorted sets: [key, member, score].
    send(&mut a, &["BZPOPMIN", "z", "0"]);
    send(&mut b, &["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut c, 2);
    cmd::<i64>(&mut c, &["ZADD", "z", "1", "one", "2", "two", "3", "three"]).unwrap();
    assert_eq!(show(&ra.next()), "[z,one,1]");
    assert_eq!(show(&rb.next()), "[z,three,3]");
    // BLMPOP and BZMPOP: with COUNT, from the key pushed.
    send(
        &mut a,
        &["BLMPOP", "0", "2", "m1", "m2", "LEFT", "COUNT", "5"],
    );
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["RPUSH", "m2", "a", "b"]).unwrap();
    assert_eq!(show(&ra.next()), "[m2,[a,b]]");
    send(&mut b, &["BZMPOP", "0", "1", "zz", "MAX", "COUNT", "2"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["ZADD", "zz", "1", "a", "2", "b", "3", "c"]).unwrap();
    assert_eq!(show(&rb.next()), "[zz,[[c,3],[b,2]]]");
    // Something there already: answered at once, nobody blocked.
    assert_eq!(
        show(&call(&mut a, &mut ra, &["BLPOP", "none", "y", "0"])),
        "[y,1]"
    );
    assert_eq!(blocked_clients(&mut c), 0);
}

/// A timeout answers nil (`*-1` in RESP2, `_` in RESP3) and the client goes on; a bad timeout
/// is refused as Redis refuses it.
#[test]
fn a_timeout_answers_nil() {
    let (_dir, server) = start("timeout.mmt");
    let (mut a, mut ra) = raw(&server);
    send(&mut a, &["BLPOP", "nothing", "0.05"]);
    assert_eq!(ra.next(), Value::Null);
    send(
        &mut a,
        &["BLMOVE", "nothing", "dst", "LEFT", "RIGHT", "0.01"],
    );
    assert_eq!(ra.next(), Value::Null);
    send(&mut a, &["BZPOPMIN", "nothing", "0.01"]);
    assert_eq!(ra.next(), Value::Null);
    assert_eq!(show(&call(&mut a, &mut ra, &["PING"])), "+PONG");
    // The bytes: a null array in RESP2, a null in RESP3.
    exchange(&mut a, &[&["BRPOP", "nothing", "0.01"]], "*-1\r\n");
    call(&mut a, &mut ra, &["HELLO", "3"]);
    exchange(
        &mut a,
        &[&["BLMPOP", "0.01", "1", "nothing", "LEFT"]],
        "_\r\n",
    );
    let mut c = server.client();
    // RESP3: the score is a double, as Redis 7 sends it.
    send(&mut a, &["BZPOPMAX", "zr", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["ZADD", "zr", "1.5", "m"]).unwrap();
    assert_eq!(show(&ra.next()), "[zr,m,,1.5]");
    assert_eq!(blocked_clients(&mut c), 0);
    for (args, error) in [
        (&["BLPOP", "k", "-1"][..], "ERR timeout is negative"),
        (
            &["BLPOP", "k", "soon"],
            "ERR timeout is not a float or out of range",
        ),
        (
            &["BZMPOP", "x", "1", "k", "MIN"],
            "ERR timeout is not a float or out of range",
        ),
        (&["BLMOVE", "a", "b", "UP", "LEFT", "0"], "ERR syntax error"),
        (
            &["BLMPOP", "0", "0", "k", "LEFT"],
            "ERR numkeys should be greater than 0",
        ),
    ] {
        assert_eq!(
            show(&call(&mut a, &mut ra, args)),
            format!("-{error}"),
            "{args:?}"
        );
    }
}

/// BLMOVE: two clients blocked on one source, one element pushed: exactly one is served, the
/// other stays blocked, the element is in the destination once. Linked moves run in one go.
#[test]
fn blmove_serves_exactly_one_and_chains() {
    let (_dir, server) = start("blmove.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    let (mut b, mut rb) = raw(&server);
    send(&mut a, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 1);
    send(&mut b, &["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut c, 2);
    cmd::<i64>(&mut c, &["RPUSH", "src", "e"]).unwrap();
    assert_eq!(show(&ra.next()), "e");
    wait_blocked(&mut c, 1);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]).unwrap(),
        ["e"]
    );
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "src"]).unwrap(), 0);
    // The second is still blocked, and served by the next push.
    cmd::<i64>(&mut c, &["RPUSH", "src", "f"]).unwrap();
    assert_eq!(show(&rb.next()), "f");
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["LRANGE", "dst", "0", "-1"]).unwrap(),
        ["f", "e"]
    );
    // Linked: a moves l1 → l2, b pops l2; one push into l1 ends in b's reply.
    send(&mut a, &["BLMOVE", "l1", "l2", "LEFT", "LEFT", "0"]);
    send(&mut b, &["BLPOP", "l2", "0"]);
    wait_blocked(&mut c, 2);
    cmd::<i64>(&mut c, &["RPUSH", "l1", "x"]).unwrap();
    assert_eq!(show(&ra.next()), "x");
    assert_eq!(show(&rb.next()), "[l2,x]");
    assert_eq!(cmd::<i64>(&mut c, &["EXISTS", "l1", "l2"]).unwrap(), 0);
    wait_blocked(&mut c, 0);
}

/// WRONGTYPE: at once for a key of another type; for a blocked BRPOPLPUSH whose destination
/// turned out to be a string, when it is served (the element stays in the source).
#[test]
fn wrong_types() {
    let (_dir, server) = start("wrongtype.mmt");
    let mut c = server.client();
    cmd::<()>(&mut c, &["SET", "s", "v"]).unwrap();
    let (mut a, mut ra) = raw(&server);
    for args in [
        &["BLPOP", "empty", "s", "0"][..],
        &["BZPOPMIN", "s", "0"],
        &["BLMPOP", "0", "1", "s", "LEFT"],
        &["BLMOVE", "s", "d", "LEFT", "LEFT", "0"],
    ] {
        let got = show(&call(&mut a, &mut ra, args));
        assert!(got.starts_with("-WRONGTYPE"), "{args:?}: {got}");
    }
    send(&mut a, &["BRPOPLPUSH", "src", "s", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["RPUSH", "src", "a"]).unwrap();
    assert!(show(&ra.next()).starts_with("-WRONGTYPE"));
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["LRANGE", "src", "0", "-1"]).unwrap(),
        ["a"]
    );
    // A list client is not served by a sorted set at its key: it stays blocked.
    send(&mut a, &["BLPOP", "kind", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["ZADD", "kind", "1", "m"]).unwrap();
    cmd::<i64>(&mut c, &["DEL", "kind"]).unwrap();
    assert_eq!(blocked_clients(&mut c), 1);
    cmd::<i64>(&mut c, &["RPUSH", "kind", "l"]).unwrap();
    assert_eq!(show(&ra.next()), "[kind,l]");
}

/// A client that disconnects while blocked is forgotten: the next push stays in the list.
#[test]
fn a_client_gone_while_blocked_takes_nothing() {
    let (_dir, server) = start("gone.mmt");
    let mut c = server.client();
    let (mut a, _ra) = raw(&server);
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    drop(a);
    drop(_ra);
    wait_blocked(&mut c, 0);
    cmd::<i64>(&mut c, &["RPUSH", "q", "kept"]).unwrap();
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["LRANGE", "q", "0", "-1"]).unwrap(),
        ["kept"]
    );
    // CLIENT KILL of a blocked client too.
    let (mut b, mut rb) = raw(&server);
    let id = show(&call(&mut b, &mut rb, &["CLIENT", "ID"]));
    send(&mut b, &["BLPOP", "other", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(
        &mut c,
        &["CLIENT", "KILL", "ID", id.trim_start_matches(':')],
    )
    .unwrap();
    wait_blocked(&mut c, 0);
    cmd::<i64>(&mut c, &["RPUSH", "other", "kept"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["LLEN", "other"]).unwrap(), 1);
}

/// CLIENT UNBLOCK: nil (TIMEOUT, the default) or the UNBLOCKED error; 0 for a client not
/// blocked; CLIENT LIST shows `flags=b` while blocked.
#[test]
fn client_unblock() {
    let (_dir, server) = start("unblock.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    let id = show(&call(&mut a, &mut ra, &["CLIENT", "ID"]));
    let id = id.trim_start_matches(':').to_string();
    send(&mut a, &["BLPOP", "l", "0"]);
    wait_blocked(&mut c, 1);
    let line = cmd::<String>(&mut c, &["CLIENT", "LIST", "ID", &id]).unwrap();
    assert!(line.contains(" flags=b "), "{line}");
    assert_eq!(cmd::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id]).unwrap(), 1);
    assert_eq!(ra.next(), Value::Null);
    send(&mut a, &["BZPOPMAX", "z", "0"]);
    wait_blocked(&mut c, 1);
    assert_eq!(
        cmd::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id, "ERROR"]).unwrap(),
        1
    );
    assert_eq!(
        ra.next(),
        Value::Error("UNBLOCKED client unblocked via CLIENT UNBLOCK".into())
    );
    wait_blocked(&mut c, 0);
    let line = cmd::<String>(&mut c, &["CLIENT", "LIST", "ID", &id]).unwrap();
    assert!(line.contains(" flags=N "), "{line}");
    assert_eq!(cmd::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id]).unwrap(), 0);
    assert!(err_of::<i64>(&mut c, &["CLIENT", "UNBLOCK", "asd"])
        .contains("value is not an integer or out of range"));
    assert!(
        err_of::<i64>(&mut c, &["CLIENT", "UNBLOCK", &id, "LATER"]).contains("TIMEOUT or ERROR")
    );
    // Still a working client.
    send(&mut a, &["BLPOP", "l", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["LPUSH", "l", "foo"]).unwrap();
    assert_eq!(show(&ra.next()), "[l,foo]");
}

/// Inside MULTI a blocking command does not block: nil when there is nothing, the pop when there
/// is. A transaction's pushes wake a blocked client after EXEC, with the state EXEC left (LPUSH
/// then DEL wakes nobody).
#[test]
fn multi_does_not_block_and_wakes_after_exec() {
    let (_dir, server) = start("multi.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    table(
        &mut a,
        &mut ra,
        &[
            ("MULTI", "+OK"),
            ("BLPOP k 0", "+QUEUED"),
            ("BLMOVE k d LEFT LEFT 0", "+QUEUED"),
            ("BZPOPMIN z 0", "+QUEUED"),
            ("RPUSH k x", "+QUEUED"),
            ("BRPOP k 0", "+QUEUED"),
            ("EXEC", "[nil,nil,nil,:1,[k,x]]"),
        ],
    );
    exchange(
        &mut a,
        &[
            &["MULTI"],
            &["BLPOP", "k", "0"],
            &["BRPOPLPUSH", "k", "d", "0"],
            &["EXEC"],
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n*-1\r\n$-1\r\n",
    );
    let (mut b, mut rb) = raw(&server);
    send(&mut b, &["BLPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    table(
        &mut a,
        &mut ra,
        &[
            ("MULTI", "+OK"),
            ("LPUSH k a", "+QUEUED"),
            ("DEL k", "+QUEUED"),
            ("EXEC", "[:1,:1]"),
            ("MULTI", "+OK"),
            ("LPUSH k a", "+QUEUED"),
            ("LPUSH k b", "+QUEUED"),
            ("LPUSH k c", "+QUEUED"),
            ("EXEC", "[:1,:2,:3]"),
        ],
    );
    assert_eq!(show(&rb.next()), "[k,c]");
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["LRANGE", "k", "0", "-1"]).unwrap(),
        ["b", "a"]
    );
}

/// Keys made by RENAME, SWAPDB and LMOVE wake their clients too; a client's pipelined commands
/// after a blocking one run after it is served.
#[test]
fn keys_moved_into_place_wake() {
    let (_dir, server) = start("moved.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    send(&mut a, &["BLPOP", "foo", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["LPUSH", "bob", "abc", "def", "hij"]).unwrap();
    cmd::<()>(&mut c, &["RENAME", "bob", "foo"]).unwrap();
    assert_eq!(show(&ra.next()), "[foo,hij]");
    send(&mut a, &["BLPOP", "dst", "0"]);
    send(&mut a, &["PING"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(&mut c, &["RPUSH", "from", "m"]).unwrap();
    cmd::<String>(&mut c, &["LMOVE", "from", "dst", "LEFT", "LEFT"]).unwrap();
    assert_eq!(show(&ra.next()), "[dst,m]");
    assert_eq!(show(&ra.next()), "+PONG");
    // SWAPDB: a client on database 9 is served by the list SWAPDB brings there.
    table(&mut a, &mut ra, &[("SELECT 9", "+OK")]);
    send(&mut a, &["BRPOP", "k", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<()>(&mut c, &["SELECT", "1"]).unwrap();
    cmd::<i64>(&mut c, &["RPUSH", "k", "hello"]).unwrap();
    cmd::<()>(&mut c, &["SWAPDB", "1", "9"]).unwrap();
    assert_eq!(show(&ra.next()), "[k,hello]");
}

/// `--timeout` does not close a blocked client (Redis exempts them): a client blocked before an
/// idle one connected is still served once the server has closed the idle one.
#[test]
fn the_idle_timeout_spares_blocked_clients() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("idle.mmt"), &["--timeout", "1"]);
    let (mut a, mut ra) = raw(&server);
    send(&mut a, &["BLPOP", "q", "0"]);
    let mut c = server.client();
    wait_blocked(&mut c, 1);
    let (mut idle, mut ri) = raw(&server);
    assert_eq!(show(&call(&mut idle, &mut ri, &["PING"])), "+PONG");
    // Waits for the server to close the idle client (the blocked one has been idle longer).
    let mut buf = [0u8; 16];
    assert!(matches!(std::io::Read::read(&mut idle, &mut buf), Ok(0)));
    let mut c = server.client();
    cmd::<i64>(&mut c, &["RPUSH", "q", "x"]).unwrap();
    assert_eq!(show(&ra.next()), "[q,x]");
}

/// A RESP3 subscriber that blocks still gets its messages (pushes) while blocked, then its
/// answer.
#[test]
fn a_blocked_resp3_subscriber_gets_its_messages() {
    let (_dir, server) = start("pushes.mmt");
    let (mut a, mut ra) = raw(&server);
    call(&mut a, &mut ra, &["HELLO", "3"]);
    assert_eq!(
        show(&call(&mut a, &mut ra, &["SUBSCRIBE", "ch"])),
        ">[subscribe,ch,:1]"
    );
    send(&mut a, &["BLPOP", "q", "0"]);
    let mut c = server.client();
    wait_blocked(&mut c, 1);
    assert_eq!(cmd::<i64>(&mut c, &["PUBLISH", "ch", "hi"]).unwrap(), 1);
    assert_eq!(show(&ra.next()), ">[message,ch,hi]");
    cmd::<i64>(&mut c, &["RPUSH", "q", "x"]).unwrap();
    assert_eq!(show(&ra.next()), "[q,x]");
}

/// A script's push wakes a blocked client (through the WATCH hook every write goes through, even
/// for a key outside KEYS); a script may not call a blocking command (as Redis 7.0).
#[test]
fn a_script_push_wakes_and_a_script_cannot_block() {
    let (_dir, server) = start("script.mmt");
    let mut c = server.client();
    let (mut a, mut ra) = raw(&server);
    send(&mut a, &["BLPOP", "q", "0"]);
    wait_blocked(&mut c, 1);
    cmd::<i64>(
        &mut c,
        &["EVAL", "return redis.call('RPUSH', 'q', 'x')", "0"],
    )
    .unwrap();
    assert_eq!(show(&ra.next()), "[q,x]");
    let e = err_of::<()>(
        &mut c,
        &["EVAL", "return redis.pcall('blpop', 'x', 0)", "0"],
    );
    assert!(e.contains("not allowed"), "{e}");
}
