//! The connection family of `mmtree serve`: one reply per request whatever the arity, timeouts,
//! the rate limiters, HELLO and CLIENT LIST.

mod common;

use common::*;
use std::time::Duration;

/// Goal: every request gets exactly one reply, whatever its number of arguments (a second reply
/// would answer the next request with the previous one's). Method: every command the server
/// lists, and every subcommand of the container commands, with 0 to 4 arguments, each followed
/// by an ECHO whose reply must come right after exactly one reply.
#[test]
fn every_command_with_any_number_of_arguments_gets_exactly_one_reply() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("arity.mmt"), &[]);
    // The reported case first: CLIENT GETNAME with an extra argument, then PING.
    let mut stream = server.raw();
    let mut replies = Replies::new(&stream);
    send(&mut stream, &["CLIENT", "GETNAME", "extra"]);
    send(&mut stream, &["PING"]);
    assert_eq!(
        replies.next(),
        Value::Error("ERR wrong number of arguments for 'client|getname' command".into())
    );
    assert_eq!(replies.next(), Value::Simple("PONG".into()));

    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let Value::Array(names) = call(&mut c, &mut r, &["COMMAND", "LIST"]) else {
        panic!("COMMAND LIST is an array");
    };
    let mut requests: Vec<Vec<String>> = Vec::new();
    // Commands that end the connection, change its mode (pub/sub, MULTI, CLIENT REPLY) or
    // legitimately answer once per argument are left out.
    let skip = [
        "shutdown",
        "quit",
        "subscribe",
        "psubscribe",
        "unsubscribe",
        "punsubscribe",
        "ssubscribe",
        "sunsubscribe",
        "multi",
        "reset",
    ];
    for name in names.iter().map(text) {
        if skip.contains(&name.as_str()) {
            continue;
        }
        for extra in 0..=4 {
            let mut req = vec![name.clone()];
            req.extend((0..extra).map(|i| format!("x{i}")));
            requests.push(req);
        }
    }
    let containers: &[(&str, &[&str])] = &[
        (
            "CLIENT",
            &[
                "KILL", "SETNAME", "GETNAME", "ID", "INFO", "REPLY", "SETINFO", "LIST", "NOPE",
            ],
        ),
        ("CONFIG", &["GET", "SET", "RESETSTAT", "REWRITE", "NOPE"]),
        ("COMMAND", &["COUNT", "INFO", "LIST", "DOCS", "NOPE"]),
        ("PUBSUB", &["CHANNELS", "NUMSUB", "NUMPAT", "NOPE"]),
        ("OBJECT", &["REFCOUNT", "ENCODING", "NOPE"]),
        ("MEMORY", &["USAGE", "NOPE"]),
        ("FUNCTION", &["FLUSH", "LIST", "NOPE"]),
    ];
    for (name, subs) in containers {
        for sub in *subs {
            for extra in 0..=4 {
                let mut req = vec![name.to_string(), sub.to_string()];
                req.extend((0..extra).map(|i| format!("x{i}")));
                requests.push(req);
            }
        }
    }
    for (n, req) in requests.iter().enumerate() {
        let args: Vec<&str> = req.iter().map(String::as_str).collect();
        let marker = format!("marker-{n}");
        send(&mut c, &args);
        send(&mut c, &["ECHO", &marker]);
        let first = r.next();
        assert_ne!(
            first,
            Value::Bulk(marker.clone().into_bytes()),
            "{req:?} got no reply"
        );
        let second = r.next();
        assert_eq!(
            second,
            Value::Bulk(marker.into_bytes()),
            "{req:?} answered {first:?} and then {second:?}"
        );
    }
}

/// Goal: `--timeout` closes idle clients but not subscribers, as Redis exempts pub/sub clients.
/// Method: a subscriber and a plain client idle past a 1 s timeout; a message then reaches the
/// subscriber, and the plain client finds its connection closed.
#[test]
fn the_idle_timeout_spares_subscribers() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("t.mmt"), &["--timeout", "1"]);
    let mut sub = server.raw();
    let mut sub_replies = Replies::new(&sub);
    let mut idle = server.raw();
    let mut idle_replies = Replies::new(&idle);
    assert_eq!(
        call(&mut idle, &mut idle_replies, &["PING"]),
        Value::Simple("PONG".into())
    );
    assert_eq!(
        call(&mut sub, &mut sub_replies, &["SUBSCRIBE", "news"]),
        Value::Array(vec![
            Value::Bulk(b"subscribe".to_vec()),
            Value::Bulk(b"news".to_vec()),
            Value::Int(1)
        ])
    );
    // Past the timeout (1 s) and the server's sweep (every 100 ms).
    std::thread::sleep(Duration::from_millis(2500));
    let mut publisher = server.raw();
    let mut publisher_replies = Replies::new(&publisher);
    assert_eq!(
        call(
            &mut publisher,
            &mut publisher_replies,
            &["PUBLISH", "news", "hi"]
        ),
        Value::Int(1),
        "the subscriber is still there"
    );
    assert_eq!(
        sub_replies.next(),
        Value::Array(vec![
            Value::Bulk(b"message".to_vec()),
            Value::Bulk(b"news".to_vec()),
            Value::Bulk(b"hi".to_vec())
        ])
    );
    // The plain client was closed.
    use std::io::Read;
    let mut buf = [0u8; 16];
    let _ = std::io::Write::write_all(&mut idle, b"PING\r\n");
    assert_eq!(idle.read(&mut buf).unwrap_or(0), 0, "closed by --timeout");
}

fn info_field(info: &str, field: &str) -> String {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in {info}"))
        .to_string()
}

/// Goal: the limiter's counters and edges. Method: with only a per-connection limit, INFO
/// counts admissions; connection setup (HELLO, CLIENT SETINFO, CLIENT SETNAME) does not use
/// up the burst; an EXEC refused by the limiter ends the transaction (as Redis' EXECABORT).
#[test]
fn the_per_connection_limiter_counts_spares_setup_and_ends_a_refused_exec() {
    let dir = tempfile::tempdir().unwrap();
    // A rate so small nothing drains during the test: exactly the burst is admitted.
    let server = Server::start(
        &dir.path().join("l.mmt"),
        &["--client-rate", "0.001", "--client-burst", "3"],
    );
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    // What redis-py sends at connect.
    assert!(matches!(
        call(&mut c, &mut r, &["HELLO", "2"]),
        Value::Array(_)
    ));
    for args in [
        &["CLIENT", "SETINFO", "LIB-NAME", "redis-py"][..],
        &["CLIENT", "SETINFO", "LIB-VER", "5.0.0"],
        &["CLIENT", "SETNAME", "me"],
    ] {
        assert_eq!(call(&mut c, &mut r, args), Value::Simple("OK".into()));
    }
    // The whole burst is left: MULTI, SET, then EXEC is over it.
    assert_eq!(call(&mut c, &mut r, &["MULTI"]), Value::Simple("OK".into()));
    assert_eq!(
        call(&mut c, &mut r, &["SET", "k", "v"]),
        Value::Simple("QUEUED".into())
    );
    assert_eq!(
        call(&mut c, &mut r, &["PING"]),
        Value::Simple("QUEUED".into())
    );
    let refused = call(&mut c, &mut r, &["EXEC"]);
    assert_eq!(
        refused,
        Value::Error(
            "EXECABORT Transaction discarded because of: BUSY rate limit exceeded, retry later"
                .into()
        )
    );
    // Not in MULTI any more (the next command is refused, not queued: no burst is left).
    assert_eq!(
        call(&mut c, &mut r, &["GET", "k"]),
        Value::Error("BUSY rate limit exceeded, retry later".into())
    );
    let mut other = server.raw();
    let mut other_r = Replies::new(&other);
    let list = text(&call(&mut other, &mut other_r, &["CLIENT", "LIST"]));
    let first = list.lines().find(|l| l.contains(" name=me ")).unwrap();
    assert!(first.contains(" multi=-1 "), "{first}");
    assert_eq!(call(&mut other, &mut other_r, &["GET", "k"]), Value::Null);
    // INFO counts the per-connection admissions (MULTI, SET, PING, on the first connection;
    // GET and this INFO on the second).
    // (The second connection's third and last command of its burst.)
    let info = text(&call(&mut other, &mut other_r, &["INFO", "stats"]));
    let admitted: u64 = info_field(&info, "limiter_admitted").parse().unwrap();
    assert!(admitted >= 5, "limiter_admitted:{admitted}");
    let level: f64 = info_field(&info, "limiter_level").parse().unwrap();
    assert!(level > 0.0, "limiter_level:{level}");
}

/// Goal: the small differences with Redis are gone. Method: HELLO's version is INFO's
/// redis_version; CLIENT LIST shows a real fd and a pending query buffer; maxclients is
/// Redis' 10000 by default.
#[test]
fn hello_client_list_and_maxclients_say_what_redis_says() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("h.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let Value::Map(hello) = call(&mut c, &mut r, &["HELLO", "3"]) else {
        panic!("HELLO 3 is a map");
    };
    let version = hello
        .chunks(2)
        .find(|pair| text(&pair[0]) == "version")
        .map(|pair| text(&pair[1]))
        .unwrap();
    let info = text(&call(&mut c, &mut r, &["INFO", "server"]));
    assert!(
        info.contains(&format!("redis_version:{version}\r\n")),
        "HELLO says {version}, INFO says {info}"
    );
    let clients = text(&call(&mut c, &mut r, &["INFO", "clients"]));
    assert!(clients.contains("maxclients:10000\r\n"), "{clients}");
    // A second client with half a command buffered.
    let mut half = server.raw();
    std::io::Write::write_all(&mut half, b"*2\r\n$3\r\nGET\r\n$10\r\nab").unwrap();
    let mut line = String::new();
    for _ in 0..100 {
        line = text(&call(&mut c, &mut r, &["CLIENT", "LIST"]));
        if line.lines().any(|l| !l.contains(" qbuf=0 ")) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let other = line
        .lines()
        .find(|l| !l.contains("cmd=client|list"))
        .unwrap_or_else(|| panic!("{line}"));
    assert!(other.contains(" qbuf=20 "), "{other}");
    let fd: i64 = other
        .split(' ')
        .find_map(|f| f.strip_prefix("fd="))
        .unwrap()
        .parse()
        .unwrap();
    assert!(fd > 2, "{other}");
}
