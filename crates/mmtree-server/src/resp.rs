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
    /// The client has not authenticated: exceeding a limit gets Redis' "unauthenticated" errors.
    pub unauthenticated: bool,
}

impl Limits {
    /// The limits before AUTH (Redis': 10 arguments, 16 KiB per bulk string).
    pub fn unauthenticated(&self) -> Limits {
        Limits {
            max_bulk: self.max_bulk.min(16384),
            max_args: self.max_args.min(10),
            max_inline: self.max_inline,
            unauthenticated: true,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk: 512 << 20,
            max_args: 1 << 20,
            max_inline: 64 << 10,
            unauthenticated: false,
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

/// A header's decimal number (an optional minus, then 1 to 18 digits: a request's counts and
/// lengths, checked against the limits after).
fn number(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    if digits.is_empty() || digits.len() > 18 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(d - b'0');
    }
    Some(if negative { -n } else { n })
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
            Some(_) if limits.unauthenticated => {
                return Parsed::Error("ERR Protocol error: unauthenticated multibulk length".into())
            }
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
            Some(n) if n >= 0 && limits.unauthenticated => {
                *partial = Partial::default();
                return Parsed::Error("ERR Protocol error: unauthenticated bulk length".into());
            }
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
            Parsed::Error("ERR Protocol error: too big inline request".into())
        } else {
            partial.inline_scanned = buf.len();
            Parsed::Incomplete
        };
    };
    *partial = Partial::default();
    let text = &buf[..end];
    let text = text.strip_suffix(b"\r").unwrap_or(text);
    match split_args(text) {
        Some(args) => Parsed::Command(args, end + 1),
        None => Parsed::Error("ERR Protocol error: unbalanced quotes in request".into()),
    }
}

/// Splits an inline command as Redis does: words separated by spaces; "double quotes" take the
/// escapes \xHH, \n, \r, \t, \b, \a and \<any>; 'single quotes' take \'. A closing quote
/// must end the word. None: unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut args = Vec::new();
    let mut i = 0;
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i == line.len() {
            return Some(args);
        }
        let mut arg = Vec::new();
        let (mut double, mut single) = (false, false);
        loop {
            let c = line.get(i).copied();
            if double {
                match c {
                    None => return None,
                    Some(b'\\')
                        if i + 3 < line.len()
                            && line[i + 1] == b'x'
                            && hex(line[i + 2]).is_some()
                            && hex(line[i + 3]).is_some() =>
                    {
                        arg.push(hex(line[i + 2])? * 16 + hex(line[i + 3])?);
                        i += 3;
                    }
                    Some(b'\\') if i + 1 < line.len() => {
                        i += 1;
                        arg.push(match line[i] {
                            b'n' => b'\n',
                            b'r' => b'\r',
                            b't' => b'\t',
                            b'b' => 8,
                            b'a' => 7,
                            other => other,
                        });
                    }
                    Some(b'"') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => arg.push(c),
                }
            } else if single {
                match c {
                    None => return None,
                    Some(b'\\') if line.get(i + 1) == Some(&b'\'') => {
                        arg.push(b'\'');
                        i += 1;
                    }
                    Some(b'\'') => {
                        if line.get(i + 1).is_some_and(|c| !c.is_ascii_whitespace()) {
                            return None;
                        }
                        i += 1;
                        break;
                    }
                    Some(c) => arg.push(c),
                }
            } else {
                match c {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => double = true,
                    Some(b'\'') => single = true,
                    Some(c) => arg.push(c),
                }
            }
            i += 1;
        }
        args.push(arg);
    }
}

/// A reply under construction, in RESP2 or RESP3 (empty until first use: an idle connection
/// holds no reply buffer).
#[derive(Default)]
pub struct Out {
    pub buf: Vec<u8>,
    pub resp3: bool,
    /// The code (first word) of each error reply written since the owner last took them (INFO
    /// errorstats counts them, nested ones too, as Redis counts every error reply).
    pub errors: Vec<String>,
}

impl Out {
    pub fn new() -> Out {
        Out::default()
    }

    pub fn simple(&mut self, s: &str) {
        self.buf.push(b'+');
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Notes an error reply's code (`errors`) without writing it (a reply CLIENT REPLY OFF
    /// drops still counts, as in Redis).
    pub fn note_error(&mut self, s: &str) {
        let code = s
            .split(' ')
            .next()
            .filter(|c| !c.is_empty())
            .unwrap_or("ERR");
        self.errors.push(code.to_string());
    }

    pub fn error(&mut self, s: &str) {
        self.note_error(s);
        self.buf.push(b'-');
        // An error line cannot hold CR or LF.
        self.buf.extend(
            s.bytes()
                .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `kind`, the number, CRLF (no formatting machinery: this is every reply's header).
    fn header(&mut self, kind: u8, n: i64) {
        self.buf.push(kind);
        self.buf
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, bytes: &[u8]) {
        self.buf.reserve(bytes.len() + 16);
        self.header(b'$', bytes.len() as i64);
        self.buf.extend_from_slice(bytes);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A floating-point number already in Redis' text (`1.5`, `inf`, `-inf`): RESP3's double
    /// (`,1.5`), a bulk string in RESP2.
    pub fn double(&mut self, text: &str) {
        if self.resp3 {
            self.buf.push(b',');
            self.buf.extend_from_slice(text.as_bytes());
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean (a Lua script's `true`/`false` under `redis.setresp(3)`): RESP3's `#t`/`#f`,
    /// the integers 1/0 in RESP2 (as Redis' `addReplyBool`).
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf
                .extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
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
        self.header(b'*', n as i64);
    }

    /// A push of `n` items (RESP3 `>`), or an array in RESP2 (pub/sub messages).
    pub fn push(&mut self, n: usize) {
        self.header(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A verbatim text (RESP3 `=`, format txt), or a bulk string in RESP2 (CLIENT LIST, INFO).
    pub fn verbatim(&mut self, text: &[u8]) {
        if self.resp3 {
            self.buf
                .extend_from_slice(format!("={}\r\ntxt:", text.len() + 4).as_bytes());
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// A set of `n` items (RESP3 `~`), or an array in RESP2.
    pub fn set(&mut self, n: usize) {
        self.header(if self.resp3 { b'~' } else { b'*' }, n as i64);
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
            Reply::NullArray => self.null_array(),
            Reply::Double(text) => self.double(text),
            Reply::Bool(b) => self.boolean(*b),
            Reply::Array(items) => {
                self.array(items.len());
                for item in items {
                    self.reply(item);
                }
            }
            Reply::Set(items) => {
                self.set(items.len());
                for item in items {
                    self.reply(item);
                }
            }
            Reply::Map(pairs) => {
                self.map(pairs.len());
                for (k, v) in pairs {
                    self.reply(k);
                    self.reply(v);
                }
            }
            Reply::Keyed(pairs) => {
                let resp3 = self.resp3;
                if resp3 {
                    self.map(pairs.len());
                } else {
                    self.array(pairs.len());
                }
                for (k, v) in pairs {
                    if !resp3 {
                        self.array(2);
                    }
                    self.reply(k);
                    self.reply(v);
                }
            }
            Reply::Pairs(pairs) => {
                let resp3 = self.resp3;
                self.array(pairs.len() * if resp3 { 1 } else { 2 });
                for (k, v) in pairs {
                    if resp3 {
                        self.array(2);
                    }
                    self.reply(k);
                    self.reply(v);
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
    /// A floating-point number as Redis prints it (`1.5`, `inf`): a RESP3 double, a bulk
    /// string in RESP2.
    Double(String),
    /// A RESP3 boolean (an integer in RESP2).
    Bool(bool),
    Null,
    /// `*-1` in RESP2 (LPOP of no list with a count), null in RESP3.
    NullArray,
    Array(Vec<Reply>),
    /// A RESP3 set (an array in RESP2).
    Set(Vec<Reply>),
    /// A RESP3 map (a flat array of keys and values in RESP2): HGETALL, LCS IDX.
    Map(Vec<(Reply, Reply)>),
    /// Pairs: an array of two-element arrays in RESP3, a flat array in RESP2 (ZRANGE
    /// WITHSCORES, as Redis 7 answers it).
    Pairs(Vec<(Reply, Reply)>),
    /// A RESP3 map, an array of two-element arrays in RESP2 (XREAD's streams, as Redis 7).
    Keyed(Vec<(Reply, Reply)>),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_numbers_are_plain_decimals() {
        assert_eq!(number(b"0"), Some(0));
        assert_eq!(number(b"123"), Some(123));
        assert_eq!(number(b"-1"), Some(-1));
        assert_eq!(number(b"999999999999999999"), Some(999_999_999_999_999_999));
        for bad in [
            &b""[..],
            b"-",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"0x10",
            b"9999999999999999999",
        ] {
            assert_eq!(number(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

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
    fn inline_commands_take_quotes_like_redis() {
        let split = |s: &str| split_args(s.as_bytes());
        let words = |v: &[&str]| Some(v.iter().map(|w| w.as_bytes().to_vec()).collect::<Vec<_>>());
        assert_eq!(split(r#"set "a b" c"#), words(&["set", "a b", "c"]));
        assert_eq!(
            split(r#"set k "\x41\n""#),
            Some(vec![b"set".to_vec(), b"k".to_vec(), b"A\n".to_vec()])
        );
        assert_eq!(split(r#"set 'it\'s' x"#), words(&["set", "it's", "x"]));
        assert_eq!(
            split(r#"a"b c""#),
            words(&["ab c"]),
            "a quote inside a word opens"
        );
        assert_eq!(split(r#"set "a"#), None);
        assert_eq!(split(r#"set 'a"#), None);
        assert_eq!(
            split(r#"set "a"b"#),
            None,
            "a closing quote must end the word"
        );
        assert_eq!(split("  "), words(&[]));
        let limits = Limits::default();
        assert_eq!(
            parse(b"set \"a\r\n", &limits, &mut Partial::default()),
            Parsed::Error("ERR Protocol error: unbalanced quotes in request".into())
        );
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
