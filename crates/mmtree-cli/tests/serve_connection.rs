//! The connection family of `mmtree serve`: one reply per request whatever the arity, timeouts,
//! the rate limiters, HELLO and CLIENT LIST.

mod common;

use common::*;
use redis::Commands;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

/// Goal: every request gets exactly one reply, whatever its number of arguments (a second reply
/// would answer the next request with the previous one's), and a number the arity refuses gets
/// the table's one error. Method: the server's own table, as COMMAND lists it (each container
/// with its subcommands' entries): every command and every subcommand with 0 to 4 arguments,
/// and with one argument fewer and one more than its arity allows, each followed by an ECHO
/// whose reply must come right after exactly one reply; a refused arity must answer Redis'
/// "wrong number of arguments for 'container|sub'", an unknown subcommand of every container
/// "unknown subcommand"; inside MULTI either discards the transaction.
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
    let Value::Array(table) = call(&mut c, &mut r, &["COMMAND"]) else {
        panic!("COMMAND is an array");
    };
    // (name as sent, arity, full name); a container's subcommands after it.
    let mut entries: Vec<(Vec<String>, i64, String)> = Vec::new();
    let mut containers = Vec::new();
    for entry in &table {
        let Value::Array(fields) = entry else {
            panic!("an entry is an array: {entry:?}");
        };
        let (name, Value::Int(arity), Value::Array(subs)) =
            (text(&fields[0]), &fields[1], &fields[9])
        else {
            panic!("name, arity, …, subcommands: {fields:?}");
        };
        entries.push((vec![name.clone()], *arity, name.clone()));
        if !subs.is_empty() {
            containers.push(name.clone());
        }
        for s in subs {
            let Value::Array(sub) = s else {
                panic!("a subcommand's entry is an array: {s:?}");
            };
            let (full, Value::Int(arity)) = (text(&sub[0]), &sub[1]) else {
                panic!("name, arity: {sub:?}");
            };
            let (container, subname) = full.split_once('|').expect("container|sub");
            assert_eq!(container, name);
            entries.push((
                vec![container.to_string(), subname.to_string()],
                *arity,
                full.clone(),
            ));
        }
    }
    for container in [
        "client", "config", "command", "pubsub", "memory", "object", "function", "script",
    ] {
        assert!(containers.iter().any(|c| c == container), "{container}");
    }
    // Commands that end the connection, change its mode (pub/sub, MULTI, CLIENT REPLY, MONITOR) or
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
        "monitor",
    ];
    // (request, the error it must get if refused, and whether MULTI refuses it too).
    let mut requests: Vec<(Vec<String>, Option<String>, bool)> = Vec::new();
    for (words, arity, full) in &entries {
        if skip.contains(&full.as_str()) {
            continue;
        }
        let fits = |argc: i64| {
            if *arity < 0 {
                argc >= -arity
            } else {
                argc == *arity
            }
        };
        let wrong = format!("ERR wrong number of arguments for '{full}' command");
        let fixed = words.len() as i64;
        let mut counts: Vec<i64> = (0..=4).collect();
        counts.extend([arity.abs() - 1 - fixed, arity.abs() + 1 - fixed]);
        counts.sort();
        counts.dedup();
        for extra in counts.into_iter().filter(|&n| n >= 0) {
            let mut req = words.clone();
            req.extend((0..extra).map(|i| format!("x{i}")));
            let refused = !fits(fixed + extra);
            requests.push((req, refused.then(|| wrong.clone()), true));
        }
    }
    for container in &containers {
        for extra in 0..=2 {
            let mut req = vec![container.clone(), "NOPE".to_string()];
            req.extend((0..extra).map(|i| format!("x{i}")));
            let upper = container.to_ascii_uppercase();
            requests.push((
                req,
                Some(format!("ERR unknown subcommand 'NOPE'. Try {upper} HELP.")),
                true,
            ));
        }
    }
    let mut refused = 0;
    for (n, (req, error, in_multi)) in requests.iter().enumerate() {
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
        if let Some(error) = error {
            refused += 1;
            assert_eq!(first, Value::Error(error.clone()), "{req:?}");
            if !in_multi {
                continue;
            }
            // Inside MULTI: refused when queued, and the transaction is discarded.
            assert_eq!(call(&mut c, &mut r, &["MULTI"]), Value::Simple("OK".into()));
            assert_eq!(
                call(&mut c, &mut r, &args),
                Value::Error(error.clone()),
                "{req:?}"
            );
            assert_eq!(
                call(&mut c, &mut r, &["EXEC"]),
                Value::Error("EXECABORT Transaction discarded because of previous errors.".into()),
                "{req:?} in MULTI"
            );
        }
    }
    // The table's subcommands were all tried, and refused arities met.
    let subcommands = entries.iter().filter(|(w, ..)| w.len() == 2).count();
    assert!(subcommands >= 20, "{subcommands} subcommands");
    assert!(refused > subcommands, "{refused} refused requests");
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
        if line
            .lines()
            .any(|l| !l.contains("cmd=client|list") && !l.contains(" qbuf=0 "))
        {
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

#[test]
fn auth_and_its_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("a.mmt"), &["--requirepass", "s3cret"]);
    let mut raw = server.raw();
    raw.write_all(b"GET k\r\n").unwrap();
    assert!(read_reply(&mut raw).starts_with("-NOAUTH"));
    for attempt in 1..=5 {
        raw.write_all(b"AUTH wrong\r\n").unwrap();
        let reply = read_reply(&mut raw);
        assert!(
            reply.starts_with("-WRONGPASS"),
            "attempt {attempt}: {reply}"
        );
        if attempt == 5 {
            let rest = if reply.contains("too many") {
                reply
            } else {
                read_reply(&mut raw)
            };
            assert!(rest.contains("too many failed AUTH"), "{rest}");
        }
    }
    assert_eq!(read_reply(&mut raw), "", "closed after 5 failures");
    let mut c = redis::Client::open(format!("redis://:s3cret@127.0.0.1:{}/", server.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    let info: String = cmd(&mut c, &["INFO"]).unwrap();
    assert!(info.contains("auth_failures:5"), "{info}");
}

#[test]
fn oversized_requests_slow_senders_and_too_many_clients_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("l.mmt"),
        &["--slow-timeout", "1", "--maxclients", "3"],
    );
    // A declared 2 GB bulk string is refused before anything is allocated.
    let mut raw = server.raw();
    raw.write_all(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2147483648\r\n")
        .unwrap();
    assert_eq!(
        read_reply(&mut raw),
        "-ERR Protocol error: invalid bulk length\r\n"
    );
    assert_eq!(read_reply(&mut raw), "", "and the connection is closed");
    // A request that never completes is cut off.
    let mut slow = server.raw();
    slow.write_all(b"*2\r\n$3\r\nGET\r\n$5\r\nab").unwrap();
    let started = Instant::now();
    let reply = read_reply(&mut slow);
    assert!(reply.contains("slow sender"), "{reply}");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // maxclients 3: a fourth connection is refused with Redis' message. (The two connections
    // above were closed; the server may take a moment to count them out, so each of the three
    // retries for a bounded while.)
    drop(raw);
    drop(slow);
    let mut held: Vec<TcpStream> = Vec::new();
    for _ in 0..3 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut s = server.raw();
            s.write_all(b"PING\r\n").unwrap();
            let reply = read_reply(&mut s);
            if reply == "+PONG\r\n" {
                held.push(s);
                break;
            }
            assert!(
                reply.contains("max number of clients") && Instant::now() < deadline,
                "{reply}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let mut extra = server.raw();
    assert_eq!(
        read_reply(&mut extra),
        "-ERR max number of clients reached\r\n"
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));
    let mut c = server.client();
    assert_eq!(
        cmd::<String>(&mut c, &["PING"]).unwrap(),
        "PONG",
        "the server still serves"
    );
}

#[test]
fn the_leaky_bucket_rejects_a_surge_and_admits_again_once_drained() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("r.mmt"),
        &["--rate", "20", "--burst", "10"],
    );
    let mut raw = server.raw();
    // 60 pipelined PINGs at once: the burst passes, the rest is refused at once (not queued).
    raw.write_all(&b"PING\r\n".repeat(60)).unwrap();
    let mut replies = String::new();
    while replies.matches("\r\n").count() < 60 {
        replies.push_str(&read_reply(&mut raw));
    }
    let admitted = replies.matches("+PONG").count();
    let rejected = replies.matches("-BUSY rate limit exceeded").count();
    assert_eq!(admitted + rejected, 60);
    assert!((10..=13).contains(&admitted), "admitted {admitted}");
    // After it drains (10 requests at 20/s = 0.5 s), requests are admitted again.
    std::thread::sleep(Duration::from_millis(700));
    raw.write_all(b"PING\r\n").unwrap();
    assert_eq!(read_reply(&mut raw), "+PONG\r\n");
    raw.write_all(b"INFO\r\n").unwrap();
    let info = read_reply(&mut raw);
    assert!(
        info.contains(&format!("limiter_rejected:{rejected}")),
        "{info}"
    );
}

#[test]
fn bind_takes_a_host_name_and_port_overrides_its_port() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--bind", "localhost:0"],
        vec!["--bind", "127.0.0.1:1", "--port", "0"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
            .arg("serve")
            .arg(dir.path().join("bind.mmt"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("{args:?}: no port in {line:?}"));
        assert_ne!(port, 1, "{args:?}: --port did not replace the port");
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"PING\r\n").unwrap();
        let mut reply = [0u8; 7];
        s.read_exact(&mut reply).unwrap();
        assert_eq!(&reply, b"+PONG\r\n", "{args:?}");
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .arg("serve")
        .arg(dir.path().join("bind.mmt"))
        .args(["--bind", "no port here"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--bind no port here"));
}

#[test]
fn inline_quotes_auth_syntax_and_unauthenticated_limits() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("inl.mmt"), &[]);
    let mut s = server.raw();
    s.write_all(b"set \"a b\" \"\\x41\\x42\"\r\nget \"a b\"\r\n")
        .unwrap();
    let mut got = String::new();
    while got.len() < "+OK\r\n$2\r\nAB\r\n".len() {
        got.push_str(&read_reply(&mut s));
    }
    assert_eq!(got, "+OK\r\n$2\r\nAB\r\n");
    s.write_all(b"set \"a b\r\n").unwrap();
    assert_eq!(
        read_reply(&mut s),
        "-ERR Protocol error: unbalanced quotes in request\r\n"
    );
    assert_eq!(read_reply(&mut s), "", "closed");
    drop(server);

    let server = Server::start(&dir.path().join("auth.mmt"), &["--requirepass", "pw"]);
    let mut s = server.raw();
    exchange(&mut s, &[&["AUTH", "a", "b", "c"]], "-ERR syntax error\r\n");
    s.write_all(b"*20\r\n").unwrap();
    assert_eq!(
        read_reply(&mut s),
        "-ERR Protocol error: unauthenticated multibulk length\r\n"
    );
    assert_eq!(read_reply(&mut s), "", "closed");
    let mut s = server.raw();
    s.write_all(b"*1\r\n$100000\r\n").unwrap();
    assert_eq!(
        read_reply(&mut s),
        "-ERR Protocol error: unauthenticated bulk length\r\n"
    );
    assert_eq!(read_reply(&mut s), "", "closed");
    // Once authenticated, the usual limits.
    let mut s = server.raw();
    exchange(&mut s, &[&["AUTH", "pw"]], "+OK\r\n");
    let big = "x".repeat(20000);
    exchange(&mut s, &[&["SET", "k", &big]], "+OK\r\n");
}

#[test]
fn unknown_commands_are_refused_in_redis_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("unk.mmt"), &[]);
    let mut s = server.raw();
    exchange(
        &mut s,
        &[&["MIGRATE", "x", "*", "a", "1"]],
        "-ERR unknown command 'MIGRATE', with args beginning with: 'x' '*' 'a' '1' \r\n",
    );
    exchange(
        &mut s,
        &[&["BGSAVE"]],
        "-ERR unknown command 'BGSAVE', with args beginning with: \r\n",
    );
    // Redis lists arguments while the list is under 128 bytes, cutting the last to fit.
    let arg = "abcdefghijklmnopqrst";
    let args: Vec<&str> = std::iter::once("NOSUCH").chain([arg; 10]).collect();
    let mut expect = "-ERR unknown command 'NOSUCH', with args beginning with: ".to_string();
    for _ in 0..5 {
        expect.push_str(&format!("'{arg}' "));
    }
    expect.push_str("'abcdefghijklm' \r\n");
    exchange(&mut s, &[&args], &expect);
}

/// Review finding: commands held while 1 MiB of replies waited were skipped by a drive whose
/// flush then sent everything, and nothing woke the connection again (a 4 MiB GET, then a SET
/// and a GET behind it: the last GET could go unanswered). The race needs one flush to send all
/// that was held; this test drives that path but did not hit the race on the old code here.
#[test]
fn commands_behind_a_big_reply_are_answered_when_the_client_reads_slowly() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("big.mmt"), &[]);
    let mut c = server.client();
    let big = "x".repeat(4 << 20);
    let _: () = cmd(&mut c, &["SET", "big", &big]).unwrap();
    for round in 0..5 {
        let mut s = server.raw();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let value = format!("v{round}");
        s.write_all(
            (resp(&["GET", "big"]) + &resp(&["SET", "k", &value]) + &resp(&["GET", "k"]))
                .as_bytes(),
        )
        .unwrap();
        let expect = format!(
            "${}\r\n{big}\r\n+OK\r\n${}\r\n{value}\r\n",
            big.len(),
            value.len()
        );
        // Not reading at first (the socket buffers fill and the server holds the rest), then
        // reading as fast as it can: one flush can then send all that was held.
        std::thread::sleep(Duration::from_millis(300));
        let mut got = Vec::with_capacity(expect.len());
        let mut buf = vec![0u8; 1 << 20];
        while got.len() < expect.len() {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => panic!(
                    "round {round}: after {} of {} bytes: {e}",
                    got.len(),
                    expect.len()
                ),
            }
        }
        assert!(
            got == expect.as_bytes(),
            "round {round}: {} of {} bytes",
            got.len(),
            expect.len()
        );
    }
}

/// Review finding: commands that read their first arguments without the arity check (LCS with
/// one key, MEMORY, OBJECT, CLIENT, FUNCTION with none) panicked, closing the connection.
#[test]
fn missing_arguments_get_the_arity_error_not_a_closed_connection() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("arity.mmt"), &[]);
    let mut s = server.raw();
    for (args, name) in [
        (&["LCS", "k"][..], "lcs"),
        (&["MEMORY"][..], "memory"),
        (&["OBJECT"][..], "object"),
        (&["CLIENT"][..], "client"),
        (&["FUNCTION"][..], "function"),
    ] {
        exchange(
            &mut s,
            &[args],
            &format!("-ERR wrong number of arguments for '{name}' command\r\n"),
        );
    }
    exchange(&mut s, &[&["PING"]], "+PONG\r\n");
}

#[test]
fn pipelined_writes_share_commits_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.mmt");
    let server = Server::start(&db, &[]);
    let mut c = server.client();
    let mut pipe = redis::pipe();
    for i in 0..2000 {
        pipe.set(format!("key{i:05}"), i).ignore();
    }
    pipe.get("key00042").incr("counter", 5).get("key01999");
    let (v42, counter, last): (String, i64, String) = pipe.query(&mut c).unwrap();
    assert_eq!((v42.as_str(), counter, last.as_str()), ("42", 5, "1999"));
    let info: String = cmd(&mut c, &["INFO"]).unwrap();
    let commits: u64 = info
        .lines()
        .find_map(|l| l.strip_prefix("mmtree_commits:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        commits < 100,
        "2000 pipelined writes took {commits} commits"
    );
    // Group commit through the redo log: one log sync per commit, none per write; the log holds
    // the records since the last checkpoint.
    let field = |name: &str| -> u64 {
        info.lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("INFO has no {name}"))
            .trim()
            .parse()
            .unwrap()
    };
    let syncs = field("mmtree_log_syncs:");
    assert!(
        syncs >= 1 && syncs <= commits + 2,
        "{syncs} log syncs for {commits} commits"
    );
    assert!(field("mmtree_log_bytes:") > 0);
    field("mmtree_checkpoints:");
    field("mmtree_last_checkpoint_age_seconds:");
    // Several clients writing at once are grouped too.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = connect(port);
                for i in 0..100 {
                    let _: i64 = c.incr("shared", 1).unwrap();
                    let _: () = c.set(format!("t{t}-{i}"), i).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(c.get::<_, i64>("shared").unwrap(), 800);
    drop(c);
    assert_eq!(server.stop().code(), Some(0), "SIGTERM is a clean exit");
    // Restart: the data is served at once, no load step.
    let server = Server::start(&db, &[]);
    let mut c = server.client();
    assert_eq!(c.get::<_, i64>("shared").unwrap(), 800);
    assert_eq!(c.get::<_, String>("key01234").unwrap(), "1234");
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 2000 + 2 + 800);
}

/// One event loop serves every connection: a client whose writes wait for a durable commit does
/// not hold up another one's reads, and a read pipelined after writes sees them.
#[test]
fn reads_go_on_while_a_write_waits_and_see_the_writes_before_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("loop.mmt"), &[]);
    let mut reader = server.raw();
    exchange(&mut reader, &[&["SET", "k", "0"]], "+OK\r\n");
    let port = server.port;
    let writer = std::thread::spawn(move || {
        let mut w = TcpStream::connect(("127.0.0.1", port)).unwrap();
        w.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // 200 rounds of: 50 pipelined INCRs (one durable commit), then a GET behind them.
        for round in 1..=200 {
            let mut request = String::new();
            for _ in 0..50 {
                request.push_str(&resp(&["INCR", "k"]));
            }
            request.push_str(&resp(&["GET", "k"]));
            w.write_all(request.as_bytes()).unwrap();
            let mut expect = String::new();
            for i in 1..=50 {
                expect.push_str(&format!(":{}\r\n", (round - 1) * 50 + i));
            }
            let value = (round * 50).to_string();
            expect.push_str(&format!("${}\r\n{value}\r\n", value.len()));
            expect_bytes(&mut w, &expect);
        }
    });
    let mut reads = 0u64;
    let mut last = 0u64;
    while !writer.is_finished() {
        reader.write_all(resp(&["GET", "k"]).as_bytes()).unwrap();
        let reply = read_reply(&mut reader);
        let value: u64 = reply
            .lines()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("GET replied {reply:?}"));
        assert!(
            value >= last,
            "a read went back in time: {value} after {last}"
        );
        last = value;
        reads += 1;
    }
    writer.join().unwrap();
    println!("{reads} reads answered while 10,000 INCRs were committed in 200 durable commits");
    assert!(reads > 0);
    exchange(&mut reader, &[&["GET", "k"]], "$5\r\n10000\r\n");
}
