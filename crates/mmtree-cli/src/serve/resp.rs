//! RESP2/RESP3: an incremental request parser with size limits checked before allocating, and a
//! reply encoder.

/// Limits on one request, checked against declared lengths before anything is allocated.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest bulk string (Redis' proto-max-bulk-len).
    pub max_bulk: usize,
    /// Most arguments in one command.
    pub max_args: usize,
    /// Longest inline command line.
    pub max_inline: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not a whole command yet.
    Incomplete,
    /// A command and how many bytes it used.
    Command(Vec<Vec<u8>>, usize),
    /// A protocol error; the connection is closed after replying.
    Error(String),
}

fn line(buf: &[u8], from: usize) -> Option<(&[u8], usize)> {
    let end = buf.get(from..)?.windows(2).position(|w| w == b"\r\n")?;
    Some((&buf[from..from + end], from + end + 2))
}

fn number(bytes: &[u8]) -> Option<i64> {
    std::str::from_utf8(bytes).ok()?.parse().ok()
}

/// Where parsing of an incomplete command stopped, so the next call resumes there instead of
/// starting over (a large pipelined command arriving in 64 KiB reads stays linear).
#[derive(Default)]
pub struct Partial {
    args: Vec<Vec<u8>>,
    count: usize,
    at: usize,
    /// An inline command: how many bytes were already searched for its newline (a line
    /// dribbled a byte at a time is searched once, not once per byte).
    inline_scanned: usize,
}

/// Parses one command from the start of `buf` (resuming `partial` if it holds a command begun
/// earlier at the same start).
pub fn parse(buf: &[u8], limits: &Limits, partial: &mut Partial) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if partial.at == 0 {
        if buf[0] != b'*' {
            return parse_inline(buf, limits, partial);
        }
        let Some((header, at)) = line(buf, 1) else {
            return if buf.len() > 32 {
                Parsed::Error("ERR Protocol error: invalid multibulk length".into())
            } else {
                Parsed::Incomplete
            };
        };
        partial.count = match number(header) {
            Some(n) if n <= 0 => return Parsed::Command(Vec::new(), at),
            Some(n) if (n as u64) <= limits.max_args as u64 => n as usize,
            _ => return Parsed::Error("ERR Protocol error: invalid multibulk length".into()),
        };
        partial.args = Vec::with_capacity(partial.count.min(1024));
        partial.at = at;
    }
    while partial.args.len() < partial.count {
        let at = partial.at;
        match buf.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => {
                *partial = Partial::default();
                return Parsed::Error(format!(
                    "ERR Protocol error: expected '$', got '{}'",
                    other as char
                ));
            }
        }
        let Some((header, start)) = line(buf, at + 1) else {
            if buf.len() - at > 32 {
                *partial = Partial::default();
                return Parsed::Error("ERR Protocol error: invalid bulk length".into());
            }
            return Parsed::Incomplete;
        };
        let len = match number(header) {
            Some(n) if n >= 0 && (n as u64) <= limits.max_bulk as u64 => n as usize,
            _ => {
                *partial = Partial::default();
                return Parsed::Error("ERR Protocol error: invalid bulk length".into());
            }
        };
        if buf.len() < start + len + 2 {
            return Parsed::Incomplete;
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            *partial = Partial::default();
            return Parsed::Error("ERR Protocol error: bulk string not terminated by CRLF".into());
        }
        partial.args.push(buf[start..start + len].to_vec());
        partial.at = start + len + 2;
    }
    let done = std::mem::take(partial);
    Parsed::Command(done.args, done.at)
}

fn parse_inline(buf: &[u8], limits: &Limits, partial: &mut Partial) -> Parsed {
    let from = partial.inline_scanned.min(buf.len());
    let Some(end) = buf[from..]
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
    else {
        return if buf.len() > limits.max_inline {
            *partial = Partial::default();
            Parsed::Error("Protocol error: too big inline request".into())
        } else {
            partial.inline_scanned = buf.len();
            Parsed::Incomplete
        };
    };
    *partial = Partial::default();
    let text = &buf[..end];
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let args = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Parsed::Command(args, end + 1)
}

/// A reply under construction, in RESP2 or RESP3.
pub struct Out {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Out {
    pub fn new() -> Out {
        Out {
            // Grown on first use: an idle connection holds no reply buffer.
            buf: Vec::new(),
            resp3: false,
        }
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn error(&mut self, s: &str) {
        self.buf.push(b'-');
        // An error line cannot hold CR or LF.
        self.buf.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.buf.extend_from_slice(format!(":{n}\r\n").as_bytes());
    }

    pub fn bulk(&mut self, bytes: &[u8]) {
        self.buf
            .extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn bulk_header(&mut self, len: usize) {
        self.buf.extend_from_slice(format!("${len}\r\n").as_bytes());
    }

    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null array (an aborted EXEC): `*-1` in RESP2, null in RESP3.
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    pub fn array(&mut self, n: usize) {
        self.buf.extend_from_slice(format!("*{n}\r\n").as_bytes());
    }

    /// A map of `n` pairs (RESP3), or a flat array of 2n items (RESP2).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.buf.extend_from_slice(format!("%{n}\r\n").as_bytes());
        } else {
            self.array(2 * n);
        }
    }

    pub fn reply(&mut self, reply: &Reply) {
        match reply {
            Reply::Ok => self.simple("OK"),
            Reply::Status(text) => self.simple(text),
            Reply::Error(e) => self.error(e),
            Reply::Int(n) => self.int(*n),
            Reply::Bulk(b) => self.bulk(b),
            Reply::Null => self.null(),
            Reply::Array(items) => {
                self.array(items.len());
                for item in items {
                    self.reply(item);
                }
            }
        }
    }
}

/// An owned reply (what write commands return from the group-commit thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    /// A simple string other than OK (`+string` for TYPE).
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
    Array(Vec<Reply>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_inline_and_partial_input() {
        let limits = Limits::default();
        let p = &mut Partial::default();
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
        let get = Parsed::Command(vec![b"GET".to_vec(), b"k".to_vec()], 20);
        assert_eq!(parse(full, &limits, p), get);
        assert_eq!(
            parse(&full[20..], &limits, p),
            Parsed::Command(vec![b"PING".to_vec()], 6)
        );
        for cut in 1..20 {
            let fresh = &mut Partial::default();
            assert_eq!(
                parse(&full[..cut], &limits, fresh),
                Parsed::Incomplete,
                "cut at {cut}"
            );
        }
        // Resuming: the same command fed a byte at a time through one Partial.
        for cut in 1..20 {
            assert_eq!(
                parse(&full[..cut], &limits, p),
                Parsed::Incomplete,
                "resumed cut at {cut}"
            );
        }
        assert_eq!(parse(&full[..20], &limits, p), get);
    }

    #[test]
    fn an_inline_line_dribbled_a_byte_at_a_time_is_searched_once() {
        // Before, each call searched the whole buffer again for the newline: a client sending
        // a 64 KiB inline line a byte per packet cost the server 2^31 byte comparisons.
        let limits = Limits::default();
        let p = &mut Partial::default();
        let mut line = b"SET k ".to_vec();
        line.extend(std::iter::repeat_n(b'v', 60 << 10));
        line.extend_from_slice(b"\r\n");
        for cut in 1..line.len() - 1 {
            assert_eq!(parse(&line[..cut], &limits, p), Parsed::Incomplete);
            assert_eq!(p.inline_scanned, cut, "searched from where it stopped");
        }
        let Parsed::Command(args, used) = parse(&line, &limits, p) else {
            panic!("no command");
        };
        assert_eq!((args.len(), args[2].len(), used), (3, 60 << 10, line.len()));
        assert_eq!(p.inline_scanned, 0, "reset for the next command");
        // Too long without a newline: refused, also when resumed.
        let long = vec![b'x'; limits.max_inline + 1];
        assert_eq!(parse(&long[..100], &limits, p), Parsed::Incomplete);
        assert!(matches!(parse(&long, &limits, p), Parsed::Error(_)));
    }

    #[test]
    fn refuses_huge_declared_sizes_before_allocating() {
        let limits = Limits::default();
        let error = |input: &[u8]| match parse(input, &limits, &mut Partial::default()) {
            Parsed::Error(e) => e,
            other => panic!("{other:?}"),
        };
        assert!(error(b"*1\r\n$2147483648\r\n").contains("ERR Protocol error: invalid bulk length"));
        assert!(error(b"*99999999999\r\n").contains("multibulk"));
        error(b"*1\r\n$-5\r\n");
        error(b"*1\r\n$1\r\nab\r\n");
    }
}
