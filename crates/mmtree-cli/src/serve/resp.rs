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

/// Parses one command from the start of `buf`.
pub fn parse(buf: &[u8], limits: &Limits) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] != b'*' {
        return parse_inline(buf, limits);
    }
    let Some((header, mut at)) = line(buf, 1) else {
        return if buf.len() > 32 {
            Parsed::Error("Protocol error: invalid multibulk length".into())
        } else {
            Parsed::Incomplete
        };
    };
    let count = match number(header) {
        Some(n) if n <= 0 => return Parsed::Command(Vec::new(), at),
        Some(n) if (n as u64) <= limits.max_args as u64 => n as usize,
        _ => return Parsed::Error("Protocol error: invalid multibulk length".into()),
    };
    let mut args = Vec::with_capacity(count.min(1024));
    for _ in 0..count {
        match buf.get(at) {
            None => return Parsed::Incomplete,
            Some(b'$') => {}
            Some(&other) => {
                return Parsed::Error(format!(
                    "Protocol error: expected '$', got '{}'",
                    other as char
                ))
            }
        }
        let Some((header, start)) = line(buf, at + 1) else {
            return if buf.len() - at > 32 {
                Parsed::Error("Protocol error: invalid bulk length".into())
            } else {
                Parsed::Incomplete
            };
        };
        let len = match number(header) {
            Some(n) if n >= 0 && (n as u64) <= limits.max_bulk as u64 => n as usize,
            _ => return Parsed::Error("Protocol error: invalid bulk length".into()),
        };
        if buf.len() < start + len + 2 {
            return Parsed::Incomplete;
        }
        if &buf[start + len..start + len + 2] != b"\r\n" {
            return Parsed::Error("Protocol error: bulk string not terminated by CRLF".into());
        }
        args.push(buf[start..start + len].to_vec());
        at = start + len + 2;
    }
    Parsed::Command(args, at)
}

fn parse_inline(buf: &[u8], limits: &Limits) -> Parsed {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > limits.max_inline {
            Parsed::Error("Protocol error: too big inline request".into())
        } else {
            Parsed::Incomplete
        };
    };
    let text = &buf[..end];
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    let args = text
        .split(|b| b.is_ascii_whitespace())
        .filter(|a| !a.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Parsed::Command(args, end + 1)
}

/// Bytes needed before more of the current command can be parsed (for the declared-size check
/// done by `parse`, nothing is allocated for a declared bulk until its bytes arrive).
/// A reply under construction, in RESP2 or RESP3.
pub struct Out {
    pub buf: Vec<u8>,
    pub resp3: bool,
}

impl Out {
    pub fn new() -> Out {
        Out {
            buf: Vec::with_capacity(16 << 10),
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
            Reply::Error(e) => self.error(e),
            Reply::Int(n) => self.int(*n),
            Reply::Bulk(b) => self.bulk(b),
            Reply::Null => self.null(),
        }
    }
}

/// An owned reply (what write commands return from the group-commit thread).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Ok,
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Null,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_arrays_inline_and_partial_input() {
        let limits = Limits::default();
        let full = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n";
        assert_eq!(
            parse(full, &limits),
            Parsed::Command(vec![b"GET".to_vec(), b"k".to_vec()], 20)
        );
        assert_eq!(
            parse(&full[20..], &limits),
            Parsed::Command(vec![b"PING".to_vec()], 6)
        );
        for cut in 1..20 {
            assert_eq!(
                parse(&full[..cut], &limits),
                Parsed::Incomplete,
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn refuses_huge_declared_sizes_before_allocating() {
        let limits = Limits::default();
        assert!(
            matches!(parse(b"*1\r\n$2147483648\r\n", &limits), Parsed::Error(e) if e.contains("invalid bulk length"))
        );
        assert!(
            matches!(parse(b"*99999999999\r\n", &limits), Parsed::Error(e) if e.contains("multibulk"))
        );
        assert!(matches!(parse(b"*1\r\n$-5\r\n", &limits), Parsed::Error(_)));
        assert!(matches!(
            parse(b"*1\r\n$1\r\nab\r\n", &limits),
            Parsed::Error(_)
        ));
    }
}
