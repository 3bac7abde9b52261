//! The pub/sub family of `mmtree serve`: SUBSCRIBE, PUBLISH, keyspace notifications.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Reads until `expect` arrived (or 10 s passed) and compares.
#[test]
fn pubsub_in_resp2_and_resp3() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ps.mmt"), &[]);
    let mut sub = server.raw();
    let mut publisher = server.raw();
    exchange(
        &mut sub,
        &[&["SUBSCRIBE", "news", "sport"]],
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nnews\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$5\r\nsport\r\n:2\r\n",
    );
    exchange(
        &mut sub,
        &[&["PSUBSCRIBE", "n*"]],
        "*3\r\n$10\r\npsubscribe\r\n$2\r\nn*\r\n:3\r\n",
    );
    exchange(&mut publisher, &[&["PUBLISH", "news", "hi"]], ":2\r\n");
    expect_bytes(
        &mut sub,
        "*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$4\r\nnews\r\n$2\r\nhi\r\n",
    );
    exchange(&mut publisher, &[&["PUBLISH", "nobody", "x"]], ":1\r\n");
    expect_bytes(
        &mut sub,
        "*4\r\n$8\r\npmessage\r\n$2\r\nn*\r\n$6\r\nnobody\r\n$1\r\nx\r\n",
    );
    exchange(&mut publisher, &[&["PUBLISH", "empty", "x"]], ":0\r\n");
    // PUBSUB.
    exchange(
        &mut publisher,
        &[&["PUBSUB", "CHANNELS"]],
        "*2\r\n$4\r\nnews\r\n$5\r\nsport\r\n",
    );
    exchange(
        &mut publisher,
        &[&["PUBSUB", "CHANNELS", "s*"]],
        "*1\r\n$5\r\nsport\r\n",
    );
    exchange(
        &mut publisher,
        &[&["PUBSUB", "NUMSUB", "news", "zz"]],
        "*4\r\n$4\r\nnews\r\n:1\r\n$2\r\nzz\r\n:0\r\n",
    );
    exchange(&mut publisher, &[&["PUBSUB", "NUMPAT"]], ":1\r\n");
    // A subscribed RESP2 client may only (un)subscribe, PING and QUIT.
    exchange(
        &mut sub,
        &[&["GET", "k"]],
        "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n",
    );
    exchange(&mut sub, &[&["PING"]], "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    exchange(
        &mut sub,
        &[&["UNSUBSCRIBE"]],
        "*3\r\n$11\r\nunsubscribe\r\n$4\r\nnews\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$5\r\nsport\r\n:1\r\n",
    );
    exchange(
        &mut sub,
        &[&["PUNSUBSCRIBE", "n*"]],
        "*3\r\n$12\r\npunsubscribe\r\n$2\r\nn*\r\n:0\r\n",
    );
    exchange(
        &mut sub,
        &[&["UNSUBSCRIBE"]],
        "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n",
    );
    exchange(&mut sub, &[&["PING"]], "+PONG\r\n");
    // RESP3: pushes, and any command while subscribed.
    let mut s3 = server.raw();
    s3.write_all(resp(&["HELLO", "3"]).as_bytes()).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let _ = read_reply(&mut s3);
    exchange(
        &mut s3,
        &[&["SUBSCRIBE", "c"]],
        ">3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n",
    );
    exchange(&mut s3, &[&["SET", "k", "v"]], "+OK\r\n");
    exchange(&mut publisher, &[&["PUBLISH", "c", "m"]], ":1\r\n");
    expect_bytes(&mut s3, ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n");
    // A client that goes away is no longer a subscriber.
    drop(s3);
    std::thread::sleep(Duration::from_millis(300));
    exchange(&mut publisher, &[&["PUBLISH", "c", "m"]], ":0\r\n");
}

/// A subscriber that stops reading must not hold up a publisher (PUBLISH once wrote to each
/// subscriber's socket itself, and blocked on a full one up to its write timeout per message):
/// the messages wait in the subscriber's mail, and past 32 MiB unread it is disconnected, as
/// Redis' pub/sub output buffer limit does.
#[test]
fn a_subscriber_that_does_not_read_never_holds_up_a_publisher() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("stall.mmt"), &[]);
    let mut sub = server.raw();
    exchange(
        &mut sub,
        &[&["SUBSCRIBE", "feed"]],
        "*3\r\n$9\r\nsubscribe\r\n$4\r\nfeed\r\n:1\r\n",
    );
    // From here on `sub` reads nothing.
    let mut publisher = server.raw();
    let payload = "x".repeat(1 << 20);
    let request = resp(&["PUBLISH", "feed", &payload]);
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut delivered = 0;
    for _ in 0..48 {
        let sent = Instant::now();
        publisher.write_all(request.as_bytes()).unwrap();
        let mut reply = [0u8; 4];
        publisher.read_exact(&mut reply).unwrap();
        slowest = slowest.max(sent.elapsed());
        match &reply {
            b":1\r\n" => delivered += 1,
            b":0\r\n" => break,
            other => panic!("PUBLISH replied {:?}", String::from_utf8_lossy(other)),
        }
    }
    println!(
        "48 MiB published to a subscriber that does not read: {delivered} delivered before it was cut off, in {:?} (slowest PUBLISH {slowest:?})",
        started.elapsed()
    );
    // The socket buffers and the 32 MiB of mail hold at most ~40 messages of 1 MiB.
    assert!(
        (8..48).contains(&delivered),
        "{delivered} messages delivered"
    );
    // Liveness bound, not a timing target: a blocking PUBLISH took the 10 s write timeout.
    assert!(
        slowest < Duration::from_secs(5),
        "slowest PUBLISH {slowest:?}"
    );
    exchange(
        &mut publisher,
        &[&["PUBSUB", "NUMSUB", "feed"]],
        "*2\r\n$4\r\nfeed\r\n:0\r\n",
    );
}

/// Keyspace notifications as Redis' pubsub unit checks them: the flags read back in Redis'
/// spelling, each class masks its events, keyspace before keyevent, `new` once per key, `del`
/// after the pop that emptied a list, `expired` from the sweep; CLIENT REPLY OFF/SKIP silence
/// replies but not pushes.
#[test]
fn keyspace_notifications_and_client_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ks.mmt"), &[]);
    let mut c = server.raw();
    let flags = |c: &mut TcpStream, set: &str, get: &str| {
        exchange(
            c,
            &[&["CONFIG", "SET", "notify-keyspace-events", set]],
            "+OK\r\n",
        );
        let expect = format!(
            "*2\r\n$22\r\nnotify-keyspace-events\r\n${}\r\n{get}\r\n",
            get.len()
        );
        exchange(c, &[&["CONFIG", "GET", "notify-keyspace-events"]], &expect);
    };
    flags(&mut c, "gKE", "gKE");
    flags(&mut c, "$lshzxeKE", "$lshzxeKE");
    flags(&mut c, "KA", "AK");
    exchange(
        &mut c,
        &[&["CONFIG", "SET", "notify-keyspace-events", "Kq"]],
        "-ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.\r\n",
    );
    // A subscriber with CLIENT REPLY OFF still gets its confirmation and the events.
    let mut sub = server.raw();
    sub.write_all(resp(&["CLIENT", "REPLY", "OFF"]).as_bytes())
        .unwrap();
    exchange(
        &mut sub,
        &[&["PSUBSCRIBE", "*"]],
        "*3\r\n$10\r\npsubscribe\r\n$1\r\n*\r\n:1\r\n",
    );
    let pmessage = |channel: &str, message: &str| {
        format!(
            "*4\r\n$8\r\npmessage\r\n$1\r\n*\r\n${}\r\n{channel}\r\n${}\r\n{message}\r\n",
            channel.len(),
            message.len()
        )
    };
    flags(&mut c, "KEA", "AKE");
    exchange(&mut c, &[&["SET", "foo", "bar"]], "+OK\r\n");
    expect_bytes(
        &mut sub,
        &(pmessage("__keyspace@0__:foo", "set") + &pmessage("__keyevent@0__:set", "foo")),
    );
    // Masks: only list events; a pop that empties the list adds a generic del (with g).
    flags(&mut c, "Kl", "lK");
    exchange(
        &mut c,
        &[&["SET", "foo", "baz"], &["LPUSH", "l", "a"]],
        "+OK\r\n:1\r\n",
    );
    exchange(&mut c, &[&["RPOP", "l"]], "$1\r\na\r\n");
    expect_bytes(
        &mut sub,
        &(pmessage("__keyspace@0__:l", "lpush") + &pmessage("__keyspace@0__:l", "rpop")),
    );
    flags(&mut c, "Egsh", "gshE");
    exchange(
        &mut c,
        &[
            &["SADD", "s", "a", "b"],
            &["SREM", "s", "zz"],
            &["HSET", "h", "f", "1"],
            &["HINCRBY", "h", "f", "2"],
            &["EXPIRE", "h", "100"],
            &["DEL", "s", "nothing"],
        ],
        ":2\r\n:0\r\n:1\r\n:3\r\n:1\r\n:1\r\n",
    );
    expect_bytes(
        &mut sub,
        &[
            pmessage("__keyevent@0__:sadd", "s"),
            pmessage("__keyevent@0__:hset", "h"),
            pmessage("__keyevent@0__:hincrby", "h"),
            pmessage("__keyevent@0__:expire", "h"),
            pmessage("__keyevent@0__:del", "s"),
        ]
        .concat(),
    );
    // New keys, once each; expired keys from the writer's sweep.
    flags(&mut c, "Enx", "xnE");
    exchange(
        &mut c,
        &[
            &["SET", "n1", "a"],
            &["SET", "n1", "b"],
            &["PSETEX", "n2", "100", "v"],
        ],
        "+OK\r\n+OK\r\n+OK\r\n",
    );
    expect_bytes(
        &mut sub,
        &[
            pmessage("__keyevent@0__:new", "n1"),
            pmessage("__keyevent@0__:new", "n2"),
            pmessage("__keyevent@0__:expired", "n2"),
        ]
        .concat(),
    );
    // CLIENT REPLY: OFF silences, SKIP the next command only, ON answers OK.
    let mut quiet = server.raw();
    quiet
        .write_all(
            (resp(&["CLIENT", "REPLY", "OFF"])
                + &resp(&["SET", "q", "1"])
                + &resp(&["GET", "q"])
                + &resp(&["CLIENT", "REPLY", "ON"])
                + &resp(&["CLIENT", "REPLY", "SKIP"])
                + &resp(&["INCR", "q"])
                + &resp(&["GET", "q"]))
                .as_bytes(),
        )
        .unwrap();
    expect_bytes(&mut quiet, "+OK\r\n$1\r\n2\r\n");
}

/// A subscriber that switches protocol with HELLO and then only listens gets its messages in
/// the new protocol: what others write to a connection reads its protocol as HELLO left it (it
/// was updated only when the next command arrived, so a RESP2 client got RESP3 pushes).
#[test]
fn hello_switches_the_protocol_of_messages_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ps.mmt"), &[]);
    let mut sub = server.raw();
    let mut replies = Replies::new(&sub);
    let mut publisher = server.raw();
    call(&mut sub, &mut replies, &["HELLO", "3"]);
    assert_eq!(
        show(&call(&mut sub, &mut replies, &["SUBSCRIBE", "ch"])),
        ">[subscribe,ch,:1]"
    );
    // (Its reply is already in RESP2: an array.)
    let Value::Array(_) = call(&mut sub, &mut replies, &["HELLO", "2"]) else {
        panic!("HELLO 2's reply in RESP2")
    };
    exchange(&mut publisher, &[&["PUBLISH", "ch", "hi"]], ":1\r\n");
    assert_eq!(show(&replies.next()), "[message,ch,hi]");
}
