//! What the server tests share: starting `mmtree serve`, and one client helper (a `redis`
//! crate connection, raw RESP over a socket).
#![allow(dead_code)]

use redis::RedisResult;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Starts `mmtree serve DB` on a free loopback port (with `extra` arguments) and returns the
/// process and the port it printed. `MMTREE_TEST_DURABILITY=eventual` runs every server whose
/// test does not choose its durability with that one: there the event loop applies its own
/// writes (`event::hand_over`), while with the default (Immediate) the group-commit thread does,
/// so `.ci/run` runs the server tests both ways.
pub fn start_server<S: AsRef<OsStr>>(db: &Path, extra: &[S]) -> (Child, u16) {
    let chosen = extra.iter().any(|a| a.as_ref() == "--durability");
    let durability = std::env::var("MMTREE_TEST_DURABILITY")
        .ok()
        .filter(|d| !chosen && !d.is_empty())
        .map(|d| ["--durability".to_string(), d]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .arg("serve")
        .arg(db)
        .args(["--bind", "127.0.0.1:0"])
        .args(extra)
        .args(durability.iter().flatten())
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
    (child, port)
}

/// A client connection to a server on `port` (for a thread of its own).
pub fn connect(port: u16) -> redis::Connection {
    redis::Client::open(format!("redis://127.0.0.1:{port}/"))
        .unwrap()
        .get_connection()
        .unwrap()
}

pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(db: &Path, extra: &[&str]) -> Server {
        let (child, port) = start_server(db, extra);
        Server { child, port }
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn raw(&self) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    /// SIGTERM, then the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
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

pub fn rustix_kill(pid: u32) {
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
}

pub fn read_reply(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

pub fn cmd<T: redis::FromRedisValue>(con: &mut redis::Connection, args: &[&str]) -> RedisResult<T> {
    let mut c = redis::cmd(args[0]);
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

pub fn mmtree(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_mmtree"))
        .args(args)
        .output()
        .unwrap()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A request in RESP.
pub fn resp(args: &[&str]) -> String {
    let mut out = format!("*{}\r\n", args.len());
    for a in args {
        out.push_str(&format!("${}\r\n{a}\r\n", a.len()));
    }
    out
}

/// Sends the requests, reads until exactly `expect` arrived (or 10 s passed) and compares.
pub fn exchange(stream: &mut TcpStream, requests: &[&[&str]], expect: &str) {
    for r in requests {
        stream.write_all(resp(r).as_bytes()).unwrap();
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while got.len() < expect.len() && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), expect, "after {requests:?}");
}

pub fn tables_listing(file: &Path, all: bool) -> String {
    let file = file.to_str().unwrap();
    let mut args = vec!["tables", file, "list"];
    if all {
        args.push("--all");
    }
    let out = mmtree(&args);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

pub fn err_of<T: redis::FromRedisValue + std::fmt::Debug>(
    c: &mut redis::Connection,
    args: &[&str],
) -> String {
    cmd::<T>(c, args).unwrap_err().to_string()
}

pub fn expect_bytes(stream: &mut TcpStream, expect: &str) {
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 4096];
    while got.len() < expect.len() && Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), expect);
}

/// One RESP2/RESP3 reply, as a test reads it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    /// `,` (RESP3).
    Double(String),
    Array(Vec<Value>),
    /// `~` (RESP3).
    Set(Vec<Value>),
    /// `%` (RESP3): the pairs flattened.
    Map(Vec<Value>),
    /// `>` (RESP3).
    Push(Vec<Value>),
}

/// Reads whole replies from a socket (a raw client for what the `redis` crate hides: reply
/// counts, RESP3 types).
pub struct Replies {
    reader: std::io::BufReader<TcpStream>,
}

impl Replies {
    pub fn new(stream: &TcpStream) -> Replies {
        Replies {
            reader: std::io::BufReader::new(stream.try_clone().unwrap()),
        }
    }

    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "a reply line cut short: {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    fn items(&mut self, n: &str) -> Vec<Value> {
        let n: i64 = n.parse().unwrap();
        (0..n.max(0)).map(|_| self.next()).collect()
    }

    /// The next reply (blocks up to the socket's read timeout).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Value {
        let line = self.line();
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Value::Simple(rest.into()),
            "-" => Value::Error(rest.into()),
            ":" => Value::Int(rest.parse().unwrap()),
            "_" => Value::Null,
            "," => Value::Double(rest.into()),
            "$" | "=" => {
                let n: i64 = rest.parse().unwrap();
                if n < 0 {
                    return Value::Null;
                }
                let mut data = vec![0u8; n as usize + 2];
                self.reader.read_exact(&mut data).unwrap();
                data.truncate(n as usize);
                Value::Bulk(data)
            }
            "*" if rest == "-1" => Value::Null,
            "*" => Value::Array(self.items(rest)),
            "~" => Value::Set(self.items(rest)),
            ">" => Value::Push(self.items(rest)),
            "%" => {
                let n: i64 = rest.parse().unwrap();
                Value::Map((0..2 * n).map(|_| self.next()).collect())
            }
            _ => panic!("not a RESP reply: {line:?}"),
        }
    }
}

/// Sends one request (RESP) on `stream`.
pub fn send(stream: &mut TcpStream, args: &[&str]) {
    stream.write_all(resp(args).as_bytes()).unwrap();
}

/// Sends `args` and reads its reply.
pub fn call(stream: &mut TcpStream, replies: &mut Replies, args: &[&str]) -> Value {
    send(stream, args);
    replies.next()
}

/// A bulk string's text.
pub fn text(v: &Value) -> String {
    match v {
        Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Simple(s) | Value::Double(s) => s.clone(),
        other => panic!("not text: {other:?}"),
    }
}

/// A reply as one short line, for tables of expected replies: `a`, `:3`, `nil`, `[a,b]`,
/// `~[…]` (a set), `,1.5` (a double), `-ERR …`.
#[allow(dead_code)]
pub fn show(v: &Value) -> String {
    let list = |items: &[Value]| items.iter().map(show).collect::<Vec<_>>().join(",");
    match v {
        Value::Simple(s) => format!("+{s}"),
        Value::Error(e) => format!("-{e}"),
        Value::Int(n) => format!(":{n}"),
        Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Null => "nil".into(),
        Value::Double(d) => format!(",{d}"),
        Value::Array(items) => format!("[{}]", list(items)),
        Value::Set(items) => format!("~[{}]", list(items)),
        Value::Map(items) => format!("%[{}]", list(items)),
        Value::Push(items) => format!(">[{}]", list(items)),
    }
}

/// Runs each `(command, expected reply as `show` writes it)` on `stream`, in order.
#[allow(dead_code)]
pub fn table(stream: &mut TcpStream, replies: &mut Replies, rows: &[(&str, &str)]) {
    for (command, expected) in rows {
        let args: Vec<&str> = command.split(' ').collect();
        let got = show(&call(stream, replies, &args));
        assert_eq!(&got, expected, "{command}");
    }
}

/// The `__keyevent@0__:*` messages a pattern subscriber gets, as `event:key`, up to the first
/// one about `last` (a key the test writes last, so the list is complete).
pub fn keyevents_until(replies: &mut Replies, last: &str) -> Vec<String> {
    let mut events = Vec::new();
    loop {
        let (Value::Push(m) | Value::Array(m)) = replies.next() else {
            panic!("not a message")
        };
        let (event, key) = (text(&m[2]), text(&m[3]));
        if key == last {
            return events;
        }
        events.push(format!(
            "{}:{key}",
            event.trim_start_matches("__keyevent@0__:")
        ));
    }
}
