//! `mmtree serve` driven by a real Redis client library (the `redis` crate) and raw sockets.

use redis::{Commands, RedisResult};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(db: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
            .arg("serve")
            .arg(db)
            .args(["--bind", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Server { child, port }
    }

    fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// SIGTERM, then the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        rustix_kill(self.child.id());
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rustix_kill(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

fn read_reply(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn cmd<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> RedisResult<T> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

#[test]
fn every_command_behaves_like_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("s.mmt"), &[]);
    let mut c = server.client();
    assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    assert_eq!(cmd::<String>(&mut c, &["PING", "hi"]).unwrap(), "hi");
    assert_eq!(cmd::<String>(&mut c, &["ECHO", "x y"]).unwrap(), "x y");
    // Strings.
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(c.get::<_, String>("k").unwrap(), "v");
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "k", "w", "NX"]).unwrap(),
        None
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "k", "w", "XX", "GET"]).unwrap(),
        Some("v".into())
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["SET", "new", "1", "XX"]).unwrap(),
        None
    );
    assert_eq!(c.get::<_, Option<String>>("new").unwrap(), None);
    assert_eq!(cmd::<String>(&mut c, &["GETDEL", "k"]).unwrap(), "w");
    assert_eq!(c.get::<_, Option<String>>("k").unwrap(), None);
    let _: () = cmd(&mut c, &["MSET", "a", "1", "b", "2", "c", "3"]).unwrap();
    assert_eq!(
        cmd::<Vec<Option<String>>>(&mut c, &["MGET", "a", "nope", "c"]).unwrap(),
        vec![Some("1".into()), None, Some("3".into())]
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["MSETNX", "a", "9", "z", "9"]).unwrap(),
        0
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["MSETNX", "y", "9", "z", "9"]).unwrap(),
        1
    );
    assert_eq!(
        cmd::<i64>(&mut c, &["EXISTS", "a", "b", "nope"]).unwrap(),
        2
    );
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "y", "z", "nope"]).unwrap(), 2);
    assert_eq!(cmd::<i64>(&mut c, &["UNLINK", "c"]).unwrap(), 1);
    // Counters.
    assert_eq!(cmd::<i64>(&mut c, &["INCR", "n"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["INCRBY", "n", "41"]).unwrap(), 42);
    assert_eq!(cmd::<i64>(&mut c, &["DECR", "n"]).unwrap(), 41);
    assert_eq!(cmd::<i64>(&mut c, &["DECRBY", "n", "40"]).unwrap(), 1);
    let not_int = cmd::<i64>(&mut c, &["INCR", "a"]);
    assert!(not_int.is_ok(), "a holds 1");
    let _: () = c.set("word", "hello").unwrap();
    let err = cmd::<i64>(&mut c, &["INCR", "word"]).unwrap_err();
    assert!(err.to_string().contains("not an integer"), "{err}");
    assert_eq!(
        cmd::<i64>(&mut c, &["APPEND", "word", " world"]).unwrap(),
        11
    );
    assert_eq!(cmd::<i64>(&mut c, &["STRLEN", "word"]).unwrap(), 11);
    assert_eq!(
        cmd::<String>(&mut c, &["GETRANGE", "word", "0", "4"]).unwrap(),
        "hello"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["GETRANGE", "word", "-5", "-1"]).unwrap(),
        "world"
    );
    // Expiry.
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "word"]).unwrap(), -1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "nope"]).unwrap(), -2);
    assert_eq!(cmd::<i64>(&mut c, &["EXPIRE", "word", "100"]).unwrap(), 1);
    assert!((99..=100).contains(&cmd::<i64>(&mut c, &["TTL", "word"]).unwrap()));
    assert!(cmd::<i64>(&mut c, &["PTTL", "word"]).unwrap() > 98_000);
    assert_eq!(cmd::<i64>(&mut c, &["PERSIST", "word"]).unwrap(), 1);
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "word"]).unwrap(), -1);
    let _: () = cmd(&mut c, &["SET", "short", "x", "PX", "150"]).unwrap();
    let _: () = cmd(
        &mut c,
        &[
            "SET",
            "later",
            "x",
            "EXAT",
            &(std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + 100)
                .to_string(),
        ],
    )
    .unwrap();
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        Some("x".into())
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        c.get::<_, Option<String>>("short").unwrap(),
        None,
        "expired"
    );
    assert_eq!(cmd::<i64>(&mut c, &["TTL", "short"]).unwrap(), -2);
    assert!(cmd::<i64>(&mut c, &["TTL", "later"]).unwrap() > 90);
    // Keys in order: KEYS, SCAN (cursor), the ordered range Redis lacks.
    let keys: Vec<String> = cmd(&mut c, &["KEYS", "*"]).unwrap();
    assert_eq!(keys, ["a", "b", "later", "n", "word"]);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["KEYS", "[ab]"]).unwrap(),
        ["a", "b"]
    );
    let mut seen = Vec::new();
    let mut cursor = "0".to_string();
    loop {
        let (next, batch): (String, Vec<String>) =
            cmd(&mut c, &["SCAN", &cursor, "COUNT", "2"]).unwrap();
        seen.extend(batch);
        if next == "0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen, keys, "SCAN returns every key once, in order");
    let iter: Vec<String> = c
        .scan_match("*o*")
        .unwrap()
        .collect::<RedisResult<_>>()
        .unwrap();
    assert_eq!(iter, ["word"]);
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["MMTREE.RANGE", "b", "o"]).unwrap(),
        ["b", "2", "later", "x", "n", "1"]
    );
    assert_eq!(
        cmd::<Vec<String>>(&mut c, &["MMTREE.RANGE", "-", "+", "LIMIT", "2", "REV"]).unwrap(),
        ["word", "hello world", "n", "1"]
    );
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 5);
    // Databases.
    let _: () = cmd(&mut c, &["SELECT", "3"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    let _: () = c.set("only-in-3", "x").unwrap();
    let _: () = cmd(&mut c, &["FLUSHDB"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    assert!(cmd::<()>(&mut c, &["SELECT", "99"])
        .unwrap_err()
        .to_string()
        .contains("out of range"));
    let _: () = cmd(&mut c, &["SELECT", "0"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 5);
    // Server and client commands.
    let info: String = cmd(&mut c, &["INFO"]).unwrap();
    assert!(
        info.contains("limiter_admitted") && info.contains("db0:keys=5"),
        "{info}"
    );
    let config: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "save"]).unwrap();
    assert_eq!(config, ["save", ""]);
    let _: () = cmd(&mut c, &["CLIENT", "SETNAME", "tester"]).unwrap();
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "GETNAME"]).unwrap(),
        "tester"
    );
    assert!(cmd::<i64>(&mut c, &["CLIENT", "ID"]).unwrap() > 0);
    assert!(cmd::<i64>(&mut c, &["COMMAND", "COUNT"]).unwrap() > 30);
    let unknown = cmd::<()>(&mut c, &["FROB", "x"]).unwrap_err().to_string();
    assert!(
        unknown.contains("unknown command 'FROB', with args beginning with: 'x'"),
        "{unknown}"
    );
    // A bad write fails alone, not the other writes of its group commit.
    let long_key = "k".repeat(5000);
    let mut raw = server.raw();
    let request = format!(
        "*3\r\n$3\r\nSET\r\n$6\r\nbefore\r\n$1\r\n1\r\n*3\r\n$3\r\nSET\r\n$5000\r\n{long_key}\r\n$1\r\nv\r\n*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n2\r\n"
    );
    raw.write_all(request.as_bytes()).unwrap();
    let mut replies = String::new();
    while replies.matches("\r\n").count() < 3 {
        replies.push_str(&read_reply(&mut raw));
    }
    assert!(
        replies.starts_with("+OK\r\n-ERR key too large") && replies.ends_with("+OK\r\n"),
        "{replies}"
    );
    assert_eq!(c.get::<_, String>("after").unwrap(), "2");
    let too_large = cmd::<()>(&mut c, &["SET", &long_key, "v"])
        .unwrap_err()
        .to_string();
    assert!(too_large.contains("key too large"), "{too_large}");
    let overflow = cmd::<i64>(&mut c, &["EXPIRE", "before", "9223372036854775"])
        .unwrap_err()
        .to_string();
    assert!(overflow.contains("invalid expire time"), "{overflow}");
    let overflow = cmd::<()>(&mut c, &["SET", "x", "v", "EX", "18446744073709552"])
        .unwrap_err()
        .to_string();
    assert!(overflow.contains("invalid expire time"), "{overflow}");
    let _: i64 = cmd(&mut c, &["DEL", "before", "after"]).unwrap();
    let arity = cmd::<()>(&mut c, &["GET"]).unwrap_err().to_string();
    assert!(
        arity.contains("wrong number of arguments for 'get' command"),
        "{arity}"
    );
    // RESP3: HELLO 3 switches nulls to `_`.
    let mut raw = server.raw();
    raw.write_all(b"HELLO 3\r\n").unwrap();
    let hello = read_reply(&mut raw);
    assert!(
        hello.starts_with("%7\r\n") && hello.contains("proto\r\n:3"),
        "{hello}"
    );
    raw.write_all(b"*2\r\n$3\r\nGET\r\n$4\r\nnope\r\n").unwrap();
    assert_eq!(read_reply(&mut raw), "_\r\n");
    raw.write_all(b"QUIT\r\n").unwrap();
    assert_eq!(read_reply(&mut raw), "+OK\r\n");
    assert_eq!(server.stop().code(), Some(0));
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
    // Several clients writing at once are grouped too.
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let port = server.port;
            std::thread::spawn(move || {
                let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .unwrap()
                    .get_connection()
                    .unwrap();
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
    // maxclients 3: a fourth connection is refused with Redis' message.
    let mut held: Vec<TcpStream> = (0..3).map(|_| server.raw()).collect();
    for s in &mut held {
        s.write_all(b"PING\r\n").unwrap();
        assert_eq!(read_reply(s), "+PONG\r\n");
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
