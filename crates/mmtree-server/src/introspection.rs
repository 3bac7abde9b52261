//! MONITOR's lines and the SLOWLOG, as Redis 7.0 writes them (`replicationFeedMonitors`,
//! `slowlog.c`).
//!
//! - **MONITOR**: every command another client runs (once it passed the checks that would refuse
//!   it: unknown, wrong arity, inside MULTI only when EXEC runs it) is one line
//!   `+<unix time>.<µs> [<db> <addr>] "arg" …` (each argument as Redis' `sdscatrepr` quotes it),
//!   put in the mail of every MONITOR connection. A script's `redis.call` lines say `lua`
//!   instead of an address and follow the EVAL or FCALL line. AUTH's and HELLO's passwords are
//!   `(redacted)`; the administrative commands (CONFIG, SLOWLOG, MONITOR, SAVE, SHUTDOWN,
//!   CLIENT KILL: the table's `ADMIN` flag) are not shown.
//! - **SLOWLOG**: a command whose execution took at least `slowlog-log-slower-than`
//!   microseconds (-1: none, 0: all) is logged with an id, the Unix time, its duration, its
//!   arguments (at most 32: the 32nd says how many more; each at most 128 bytes, then how many
//!   more), the client's address and name; the newest `slowlog-max-len` entries are kept. A
//!   command's execution is what runs it: on the connection for a read or a session command,
//!   in the group-commit writer's transaction for a write (the commit, shared by the group, is
//!   not part of it); EXEC is not logged, the commands it ran are.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

/// Redis' `SLOWLOG_ENTRY_MAX_ARGC` and `SLOWLOG_ENTRY_MAX_STRING`.
const MAX_ARGC: usize = 32;
const MAX_STRING: usize = 128;

/// Redis' defaults for `slowlog-log-slower-than` (µs) and `slowlog-max-len`.
pub const DEFAULT_SLOWER_THAN: i64 = 10_000;
pub const DEFAULT_MAX_LEN: u64 = 128;

/// The arguments with the secrets of AUTH and HELLO … AUTH replaced by `(redacted)`, as Redis
/// 7.0 shows them to MONITOR and the SLOWLOG.
pub fn redacted(args: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = args.to_vec();
    let name = args.first().map(|n| n.to_ascii_uppercase());
    match name.as_deref() {
        Some(b"AUTH") => {
            for a in out.iter_mut().skip(1) {
                *a = b"(redacted)".to_vec();
            }
        }
        Some(b"HELLO") => {
            let mut i = 2;
            while i < out.len() {
                if out[i].eq_ignore_ascii_case(b"AUTH") && i + 2 < out.len() {
                    out[i + 1] = b"(redacted)".to_vec();
                    out[i + 2] = b"(redacted)".to_vec();
                    i += 3;
                } else {
                    i += 1;
                }
            }
        }
        _ => {}
    }
    out
}

/// `bytes` quoted as Redis' `sdscatrepr`: `"…"` with `\\`, `\"`, `\n`, `\r`, `\t`, `\a`, `\b`
/// escaped and other unprintable bytes as `\xhh`.
pub fn repr(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            7 => out.push_str("\\a"),
            8 => out.push_str("\\b"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
}

/// One MONITOR line (a RESP simple string, with its `\r\n`): `origin` is the client's address,
/// or `lua` for a script's command.
pub fn monitor_line(db: u32, origin: &str, args: &[Vec<u8>]) -> Vec<u8> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut line = format!(
        "+{}.{:06} [{db} {origin}]",
        now.as_secs(),
        now.subsec_micros()
    );
    for a in redacted(args) {
        line.push(' ');
        repr(&mut line, &a);
    }
    line.push_str("\r\n");
    line.into_bytes()
}

/// One SLOWLOG entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub id: u64,
    pub time: u64,
    pub micros: u64,
    pub args: Vec<Vec<u8>>,
    pub addr: String,
    pub name: Vec<u8>,
}

/// The slow log: newest first.
#[derive(Default)]
pub struct SlowLog {
    entries: VecDeque<Entry>,
    next_id: u64,
}

impl SlowLog {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn reset(&mut self) {
        self.entries.clear();
    }

    /// The newest `count` entries.
    pub fn newest(&self, count: usize) -> Vec<Entry> {
        self.entries.iter().take(count).cloned().collect()
    }

    /// Logs a command (its arguments trimmed as Redis trims them); keeps the newest `max_len`.
    pub fn push(
        &mut self,
        args: &[Vec<u8>],
        micros: u64,
        addr: String,
        name: Vec<u8>,
        max_len: u64,
    ) {
        let args = redacted(args);
        let argc = args.len().min(MAX_ARGC);
        let mut kept: Vec<Vec<u8>> = Vec::with_capacity(argc);
        for (i, a) in args.iter().take(argc).enumerate() {
            if i == argc - 1 && argc != args.len() {
                kept.push(format!("... ({} more arguments)", args.len() - argc + 1).into_bytes());
            } else if a.len() > MAX_STRING {
                let mut cut = a[..MAX_STRING].to_vec();
                cut.extend_from_slice(
                    format!("... ({} more bytes)", a.len() - MAX_STRING).as_bytes(),
                );
                kept.push(cut);
            } else {
                kept.push(a.clone());
            }
        }
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        self.entries.push_front(Entry {
            id: self.next_id,
            time,
            micros,
            args: kept,
            addr,
            name,
        });
        self.next_id += 1;
        while self.entries.len() as u64 > max_len {
            self.entries.pop_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn slowlog_trims_as_redis() {
        let mut log = SlowLog::default();
        let mut args = strings(&["sadd", "set"]);
        args.extend((3..=33).map(|n| n.to_string().into_bytes()));
        log.push(&args, 5, "127.0.0.1:1".into(), b"n".to_vec(), 128);
        let e = &log.newest(1)[0];
        assert_eq!(e.args.len(), 32);
        assert_eq!(e.args[30], b"31");
        assert_eq!(e.args[31], b"... (2 more arguments)");
        let long = "A".repeat(129);
        log.push(
            &strings(&["sadd", "set", "foo", &long]),
            5,
            String::new(),
            Vec::new(),
            128,
        );
        let e = &log.newest(1)[0];
        assert_eq!(e.id, 1);
        assert_eq!(
            e.args[3],
            format!("{}... (1 more bytes)", "A".repeat(128)).into_bytes()
        );
        for _ in 0..5 {
            log.push(&strings(&["ping"]), 1, String::new(), Vec::new(), 3);
        }
        assert_eq!(log.len(), 3);
        assert_eq!(log.newest(10)[0].id, 6);
    }

    #[test]
    fn monitor_lines_quote_and_redact_as_redis() {
        let line = monitor_line(0, "127.0.0.1:5000", &strings(&["SET", "k\n\"", "\u{1}v"]));
        let line = String::from_utf8(line).unwrap();
        assert!(line.starts_with('+'), "{line}");
        assert!(
            line.ends_with(" [0 127.0.0.1:5000] \"SET\" \"k\\n\\\"\" \"\\x01v\"\r\n"),
            "{line}"
        );
        let line = monitor_line(2, "lua", &strings(&["hello", "3", "AUTH", "u", "p"]));
        assert!(String::from_utf8(line)
            .unwrap()
            .ends_with("[2 lua] \"hello\" \"3\" \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n"));
    }
}
