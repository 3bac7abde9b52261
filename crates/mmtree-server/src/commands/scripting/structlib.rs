//! The `struct` library of Redis' scripts (Roberto Ierusalimschy's struct library for Lua 5.1,
//! as Redis 7.0 ships it): `struct.pack(fmt, ...)`, `struct.unpack(fmt, data [, pos])` and
//! `struct.size(fmt)`, written here in Rust with the same bytes, the same results and the same
//! error messages, on a 64-bit little-endian build as Redis' (`l`, `L` and `T` are 8 bytes, `i`
//! 4, the largest alignment 8).
//!
//! Formats: `>` big endian, `<` little endian (the default: the machine's), `![n]` the largest
//! alignment (`!` alone: 8), `x` a zero byte, `b`/`B` signed/unsigned char, `h`/`H` short,
//! `l`/`L` long, `T` size_t, `i[n]`/`I[n]` an integer of n bytes (at most 32; 4 by default),
//! `f` float, `d` double, `c[n]` n bytes of a string (`c0` packs the whole string, and unpacks as
//! many bytes as the previous result said), `s` a zero-terminated string, ` ` ignored. Anything
//! else is an error ("invalid format option"), as in Redis: struct.c has no `j`/`J` (those are
//! Lua 5.3's `string.pack`). Kept as struct.c has them: integers wider than 8 bytes carry the low
//! 64 bits (packed without sign extension), a `c` or `s` string too short is reported against
//! the argument after it, and `struct.size` passes over unknown letters.

use mlua::{Lua, MultiValue, Table, Value};

/// Widest integer (`i32`, `I32`).
const MAX_INT_SIZE: usize = 32;
/// `!` without a number: the largest alignment a type has (a double's, on x86-64).
const MAX_ALIGN: usize = 8;
/// Lua 5.1's C stack limit (`LUAI_MAXCSTACK`): `unpack` stops with Lua's error past it.
const MAX_STACK: usize = 8000;

/// An error in struct.c's words: `Arg` is `luaL_argerror`'s "bad argument #n to 'f' (…)".
#[derive(Debug, PartialEq)]
pub enum Error {
    Arg(usize, String),
    Msg(String),
}

impl Error {
    /// The message as Lua shows it, for the function `name`.
    pub fn text(&self, name: &str) -> String {
        match self {
            Error::Arg(n, msg) => format!("bad argument #{n} to '{name}' ({msg})"),
            Error::Msg(msg) => msg.clone(),
        }
    }
}

type Result<T> = std::result::Result<T, Error>;

/// The arguments of `pack`, by their Lua position (the format is #1), coerced as
/// `luaL_checknumber` and `luaL_checklstring` coerce them.
pub trait Args {
    fn number(&mut self, arg: usize) -> Result<f64>;
    fn string(&mut self, arg: usize) -> Result<Vec<u8>>;
}

/// One result of `unpack`.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Number(f64),
    Bytes(Vec<u8>),
}

struct Header {
    little: bool,
    align: usize,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            little: cfg!(target_endian = "little"),
            align: 1,
        }
    }
}

/// The format string, read one option at a time.
struct Format<'a> {
    s: &'a [u8],
    at: usize,
}

impl Format<'_> {
    fn next(&mut self) -> Option<u8> {
        let c = *self.s.get(self.at)?;
        self.at += 1;
        Some(c)
    }

    /// The number after an option, or `default` if none (`getnum`: at most `i32::MAX`).
    fn number(&mut self, default: usize) -> Result<usize> {
        if !self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
            return Ok(default);
        }
        let mut n: i32 = 0;
        while let Some(&c) = self.s.get(self.at).filter(|c| c.is_ascii_digit()) {
            let digit = (c - b'0') as i32;
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(digit))
                .ok_or_else(|| Error::Msg("integral size overflow".into()))?;
            self.at += 1;
        }
        Ok(n as usize)
    }
}

/// The size of option `opt` (0 for the options that take no room or align nothing).
fn option_size(opt: u8, fmt: &mut Format) -> Result<usize> {
    Ok(match opt {
        b'b' | b'B' => 1,
        b'h' | b'H' => 2,
        b'l' | b'L' | b'T' | b'd' => 8,
        b'f' => 4,
        b'x' => 1,
        b'c' => fmt.number(1)?,
        b'i' | b'I' => {
            let size = fmt.number(4)?;
            if size > MAX_INT_SIZE {
                return Err(Error::Msg(format!(
                    "integral size {size} is larger than limit of {MAX_INT_SIZE}"
                )));
            }
            size
        }
        _ => 0,
    })
}

/// Padding before an item of `size` bytes at offset `len` (`gettoalign`, including its
/// arithmetic for sizes that are not powers of two).
fn padding(len: usize, h: &Header, opt: u8, size: usize) -> usize {
    if size == 0 || opt == b'c' {
        return 0;
    }
    let size = size.min(h.align);
    (size - (len & (size - 1))) & (size - 1)
}

/// The options that are not items: endianness, alignment, spaces; else the format error.
fn control(opt: u8, fmt: &mut Format, h: &mut Header) -> Result<()> {
    match opt {
        b' ' => {}
        b'>' => h.little = false,
        b'<' => h.little = true,
        b'!' => {
            let a = fmt.number(MAX_ALIGN)?;
            if !a.is_power_of_two() {
                return Err(Error::Msg(format!("alignment {a} is not a power of 2")));
            }
            h.align = a;
        }
        _ => {
            return Err(Error::Arg(
                1,
                format!(
                    "invalid format option '{}'",
                    String::from_utf8_lossy(&[opt])
                ),
            ))
        }
    }
    Ok(())
}

/// `size` bytes of an integer, as struct.c's `putinteger`: a negative number through a signed
/// 64-bit integer, bytes past the eighth zero.
fn put_integer(n: f64, little: bool, size: usize, out: &mut Vec<u8>) {
    let mut value = if n < 0.0 { n as i64 as u64 } else { n as u64 };
    let start = out.len();
    out.resize(start + size, 0);
    let bytes = &mut out[start..];
    for i in 0..size {
        let b = (value & 0xff) as u8;
        value = value.checked_shr(8).unwrap_or(0);
        if little {
            bytes[i] = b;
        } else {
            bytes[size - 1 - i] = b;
        }
    }
}

/// `struct.pack(fmt, ...)`.
pub fn pack(fmt: &[u8], args: &mut dyn Args) -> Result<Vec<u8>> {
    let mut fmt = Format { s: fmt, at: 0 };
    let mut h = Header::default();
    let mut arg = 2;
    let mut out = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = option_size(opt, &mut fmt)?;
        let pad = padding(out.len(), &h, opt, size);
        out.resize(out.len() + pad, 0);
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let n = args.number(arg)?;
                arg += 1;
                put_integer(n, h.little, size, &mut out);
            }
            b'x' => out.push(0),
            b'f' => {
                let f = args.number(arg)? as f32;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    f.to_le_bytes()
                } else {
                    f.to_be_bytes()
                });
            }
            b'd' => {
                let d = args.number(arg)?;
                arg += 1;
                out.extend_from_slice(&if h.little {
                    d.to_le_bytes()
                } else {
                    d.to_be_bytes()
                });
            }
            b'c' | b's' => {
                let s = args.string(arg)?;
                arg += 1;
                if size == 0 {
                    size = s.len();
                }
                if s.len() < size {
                    // (struct.c names the argument after the string.)
                    return Err(Error::Arg(arg, "string too short".into()));
                }
                out.extend_from_slice(&s[..size]);
                if opt == b's' {
                    out.push(0);
                }
            }
            _ => control(opt, &mut fmt, &mut h)?,
        }
    }
    Ok(out)
}

/// An integer of `bytes` (`getinteger`): the low 64 bits, sign-extended for a signed format.
fn get_integer(bytes: &[u8], little: bool, signed: bool) -> f64 {
    let mut l: u64 = 0;
    let mut add = |b: u8| l = (l << 8) | b as u64;
    if little {
        bytes.iter().rev().for_each(|&b| add(b));
    } else {
        bytes.iter().for_each(|&b| add(b));
    }
    if !signed {
        return l as f64;
    }
    if bytes.is_empty() {
        return 0.0;
    }
    // struct.c shifts by size*8-1, past 63 for sizes over 8: x86-64 takes the count modulo 64.
    let mask = u64::MAX << ((bytes.len() * 8 - 1) & 63);
    if l & mask != 0 {
        l |= mask;
    }
    l as i64 as f64
}

/// A string result as a number, as `lua_isnumber` reads it (`c0` takes its length from the
/// previous result): decimal (strtod's forms) or `0x` hexadecimal, spaces around allowed.
fn lua_number(s: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(s)
        .ok()?
        .trim_matches(|c: char| c.is_ascii_whitespace());
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        let n = u64::from_str_radix(hex, 16).ok()? as f64;
        return Some(if negative { -n } else { n });
    }
    text.parse::<f64>().ok()
}

/// `struct.unpack(fmt, data [, pos])`: the items and, last, the position after them (1-based).
/// `pos` is the third argument as a number (None: absent); `nargs` how many arguments were
/// given (they share Lua's stack with the results).
pub fn unpack(fmt: &[u8], data: &[u8], pos: Option<f64>, nargs: usize) -> Result<Vec<Item>> {
    let mut fmt = Format { s: fmt, at: 0 };
    let mut h = Header::default();
    // (A negative offset wraps as struct.c's size_t does, and fails as "too short".)
    let start = pos.map_or(1, |p| p as i64) as u64 as usize;
    if start == 0 {
        return Err(Error::Arg(3, "offset must be 1 or greater".into()));
    }
    let mut pos = start - 1;
    let ld = data.len();
    let short = || Error::Arg(2, "data string too short".into());
    let mut items = Vec::new();
    while let Some(opt) = fmt.next() {
        let mut size = option_size(opt, &mut fmt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if size > ld || pos > ld - size {
            return Err(short());
        }
        if nargs + items.len() + 2 > MAX_STACK {
            return Err(Error::Msg("stack overflow (too many results)".into()));
        }
        match opt {
            b'b' | b'B' | b'h' | b'H' | b'l' | b'L' | b'T' | b'i' | b'I' => {
                let signed = opt.is_ascii_lowercase();
                items.push(Item::Number(get_integer(
                    &data[pos..pos + size],
                    h.little,
                    signed,
                )));
            }
            b'x' => {}
            b'f' => {
                let bytes: [u8; 4] = data[pos..pos + 4].try_into().expect("4 bytes");
                let f = if h.little {
                    f32::from_le_bytes(bytes)
                } else {
                    f32::from_be_bytes(bytes)
                };
                items.push(Item::Number(f as f64));
            }
            b'd' => {
                let bytes: [u8; 8] = data[pos..pos + 8].try_into().expect("8 bytes");
                items.push(Item::Number(if h.little {
                    f64::from_le_bytes(bytes)
                } else {
                    f64::from_be_bytes(bytes)
                }));
            }
            b'c' => {
                if size == 0 {
                    let n = match items.last() {
                        Some(Item::Number(n)) => Some(*n),
                        Some(Item::Bytes(b)) => lua_number(b),
                        None => None,
                    }
                    .ok_or_else(|| Error::Msg("format 'c0' needs a previous size".into()))?;
                    items.pop();
                    size = n as i64 as u64 as usize;
                    if size > ld || pos > ld - size {
                        return Err(short());
                    }
                }
                items.push(Item::Bytes(data[pos..pos + size].to_vec()));
            }
            b's' => {
                let Some(end) = data[pos..].iter().position(|&b| b == 0) else {
                    return Err(Error::Msg("unfinished string in data".into()));
                };
                items.push(Item::Bytes(data[pos..pos + end].to_vec()));
                size = end + 1;
            }
            _ => control(opt, &mut fmt, &mut h)?,
        }
        pos = pos.wrapping_add(size);
    }
    items.push(Item::Number(pos.wrapping_add(1) as i64 as f64));
    Ok(items)
}

/// `struct.size(fmt)`: the bytes `pack` gives for `fmt` (no `s`, no `c0`).
pub fn size(fmt: &[u8]) -> Result<usize> {
    let mut fmt = Format { s: fmt, at: 0 };
    let mut h = Header::default();
    let mut pos: usize = 0;
    while let Some(opt) = fmt.next() {
        let size = option_size(opt, &mut fmt)?;
        pos = pos.wrapping_add(padding(pos, &h, opt, size));
        if opt == b's' {
            return Err(Error::Arg(1, "option 's' has no fixed size".into()));
        }
        if opt == b'c' && size == 0 {
            return Err(Error::Arg(1, "option 'c0' has no fixed size".into()));
        }
        // (Letters and digits that are no option pass silently, as in struct.c.)
        if !opt.is_ascii_alphanumeric() {
            control(opt, &mut fmt, &mut h)?;
        }
        pos = pos.wrapping_add(size);
    }
    Ok(pos)
}

/// Lua's name of a value's type, as `luaL_typerror` says it.
fn type_name(v: Option<&Value>) -> &'static str {
    match v {
        None => "no value",
        Some(Value::Nil) => "nil",
        Some(Value::Boolean(_)) => "boolean",
        Some(Value::Integer(_) | Value::Number(_)) => "number",
        Some(Value::String(_)) => "string",
        Some(Value::Table(_)) => "table",
        Some(Value::Function(_)) => "function",
        Some(Value::Thread(_)) => "thread",
        Some(_) => "userdata",
    }
}

/// A script's arguments, coerced by Lua's rules (a numeric string is a number, a number a
/// string).
struct LuaArgs<'a> {
    lua: &'a Lua,
    args: &'a [Value],
    /// struct.c's `pack` pushes a nil after its arguments: the first one missing is "nil",
    /// not "no value".
    marked: bool,
}

impl LuaArgs<'_> {
    fn expected(&self, arg: usize, what: &str) -> Error {
        let got = match self.args.get(arg - 1) {
            None if self.marked && arg == self.args.len() + 1 => "nil",
            v => type_name(v),
        };
        Error::Arg(arg, format!("{what} expected, got {got}"))
    }
}

impl Args for LuaArgs<'_> {
    fn number(&mut self, arg: usize) -> Result<f64> {
        let v = self.args.get(arg - 1).cloned().unwrap_or(Value::Nil);
        match self.lua.coerce_number(v) {
            Ok(Some(n)) => Ok(n),
            _ => Err(self.expected(arg, "number")),
        }
    }

    fn string(&mut self, arg: usize) -> Result<Vec<u8>> {
        let v = self.args.get(arg - 1).cloned().unwrap_or(Value::Nil);
        match self.lua.coerce_string(v) {
            Ok(Some(s)) => Ok(s.as_bytes().to_vec()),
            _ => Err(self.expected(arg, "string")),
        }
    }
}

/// The error as a C library raises it (`luaL_error`, `luaL_argerror`): prefixed with the
/// calling line (`user_script:1: `, nothing when a C function such as pcall called), the
/// function named as it was called ('?' when Lua cannot tell), a method's arguments counted
/// without self.
fn raise(lua: &Lua, e: Error) -> mlua::Error {
    // The caller's chunk and line; the prelude's frames (its pcall and xpcall, which Redis
    // has in C) count as C: no place, no name.
    let caller = lua
        .inspect_stack(1, |d| {
            let source = d.source();
            let ours = source.source.as_deref() == Some("@redis_api");
            let place = match (d.current_line(), source.short_src) {
                (Some(line), Some(src)) if !ours => format!("{src}:{line}: "),
                _ => String::new(),
            };
            (place, ours)
        })
        .unwrap_or_default();
    let (name, method) = lua
        .inspect_stack(0, |d| {
            let names = d.names();
            (
                names.name.filter(|_| !caller.1).map(|n| n.into_owned()),
                names.name_what == Some("method"),
            )
        })
        .unwrap_or((None, false));
    let place = caller.0;
    let name = name.unwrap_or_else(|| "?".into());
    let text = match e {
        Error::Arg(1, msg) if method => format!("calling '{name}' on bad self ({msg})"),
        Error::Arg(n, msg) if method => Error::Arg(n - 1, msg).text(&name),
        e => e.text(&name),
    };
    mlua::Error::RuntimeError(format!("{place}{text}"))
}

/// Adds `struct` to `api` (the prelude makes it a read-only global).
pub fn install(lua: &Lua, api: &Table) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let mut a = LuaArgs {
                lua,
                args: &args,
                marked: false,
            };
            let fmt = a.string(1).map_err(|e| raise(lua, e))?;
            a.marked = true;
            let out = pack(&fmt, &mut a).map_err(|e| raise(lua, e))?;
            lua.create_string(out)
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let mut a = LuaArgs {
                lua,
                args: &args,
                marked: false,
            };
            let fmt = a.string(1).map_err(|e| raise(lua, e))?;
            let data = a.string(2).map_err(|e| raise(lua, e))?;
            let pos = match args.get(2) {
                None | Some(Value::Nil) => None,
                Some(_) => Some(a.number(3).map_err(|e| raise(lua, e))?),
            };
            let items = unpack(&fmt, &data, pos, args.len()).map_err(|e| raise(lua, e))?;
            items
                .into_iter()
                .map(|item| {
                    Ok(match item {
                        Item::Number(n) => Value::Number(n),
                        Item::Bytes(b) => Value::String(lua.create_string(b)?),
                    })
                })
                .collect::<mlua::Result<MultiValue>>()
        })?,
    )?;
    t.raw_set(
        "size",
        lua.create_function(|lua, args: MultiValue| {
            let args: Vec<Value> = args.into_iter().collect();
            let mut a = LuaArgs {
                lua,
                args: &args,
                marked: false,
            };
            let fmt = a.string(1).map_err(|e| raise(lua, e))?;
            Ok(size(&fmt).map_err(|e| raise(lua, e))? as f64)
        })?,
    )?;
    api.raw_set("struct", t)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `pack`'s arguments for the tests: numbers and strings coerced one way as Lua does
    /// (a string is a number only if it reads as one).
    struct Given(Vec<Item>);

    impl Args for Given {
        fn number(&mut self, arg: usize) -> Result<f64> {
            match self.0.get(arg - 2) {
                Some(Item::Number(n)) => Ok(*n),
                Some(Item::Bytes(b)) => lua_number(b)
                    .ok_or_else(|| Error::Arg(arg, "number expected, got string".into())),
                None => Err(Error::Arg(arg, "number expected, got no value".into())),
            }
        }
        fn string(&mut self, arg: usize) -> Result<Vec<u8>> {
            match self.0.get(arg - 2) {
                Some(Item::Bytes(b)) => Ok(b.clone()),
                Some(Item::Number(n)) => Ok(n.to_string().into_bytes()),
                None => Err(Error::Arg(arg, "string expected, got no value".into())),
            }
        }
    }

    fn n(x: impl Into<f64>) -> Item {
        Item::Number(x.into())
    }
    fn s(x: &[u8]) -> Item {
        Item::Bytes(x.to_vec())
    }
    fn p(fmt: &str, args: Vec<Item>) -> Result<Vec<u8>> {
        pack(fmt.as_bytes(), &mut Given(args))
    }
    fn u(fmt: &str, data: &[u8]) -> Result<Vec<Item>> {
        unpack(fmt.as_bytes(), data, None, 2)
    }

    #[test]
    fn integers_pack_to_struct_c_bytes() {
        assert_eq!(p(">h", vec![n(1)]).unwrap(), [0, 1]);
        assert_eq!(p("<h", vec![n(1)]).unwrap(), [1, 0]);
        assert_eq!(
            p("h", vec![n(-2)]).unwrap(),
            [0xfe, 0xff],
            "native = little"
        );
        assert_eq!(p(">i", vec![n(0x01020304 as f64)]).unwrap(), [1, 2, 3, 4]);
        assert_eq!(p(">i3", vec![n(-1)]).unwrap(), [0xff; 3]);
        assert_eq!(p(">l", vec![n(-1)]).unwrap(), [0xff; 8], "long is 8 bytes");
        assert_eq!(p("<T", vec![n(258)]).unwrap(), [2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(p("bB", vec![n(-1), n(255)]).unwrap(), [0xff, 0xff]);
        // Wider than 8 bytes: the low 64 bits, no sign extension (struct.c).
        let mut wide = vec![0u8; 8];
        wide.extend_from_slice(&[0xff; 8]);
        assert_eq!(p(">i16", vec![n(-1)]).unwrap(), wide);
        // Numbers in strings are numbers (luaL_checknumber).
        assert_eq!(p(">H", vec![s(b"0x10")]).unwrap(), [0, 16]);
        assert_eq!(p("i0", vec![n(5)]).unwrap(), Vec::<u8>::new());
    }

    #[test]
    fn floats_strings_and_padding_pack_as_struct_c() {
        assert_eq!(p(">d", vec![n(1.5)]).unwrap(), 1.5f64.to_be_bytes());
        assert_eq!(p("<f", vec![n(0.25)]).unwrap(), 0.25f32.to_le_bytes());
        assert_eq!(p("c3", vec![s(b"abcdef")]).unwrap(), b"abc");
        assert_eq!(p("c0", vec![s(b"abcdef")]).unwrap(), b"abcdef");
        assert_eq!(p("s", vec![s(b"hi")]).unwrap(), b"hi\0");
        assert_eq!(p("c", vec![s(b"xy")]).unwrap(), b"x");
        assert_eq!(p("bxb", vec![n(1), n(2)]).unwrap(), [1, 0, 2]);
        // Alignment: off by default (1), `!` is 8, `!4` caps at 4.
        assert_eq!(p("bi", vec![n(1), n(2)]).unwrap().len(), 5);
        assert_eq!(
            p("!bi", vec![n(1), n(2)]).unwrap(),
            [1, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(p("!bd", vec![n(1), n(0)]).unwrap().len(), 16);
        assert_eq!(p("!4bd", vec![n(1), n(0)]).unwrap().len(), 12);
        // A string is never aligned.
        assert_eq!(p("!bc2", vec![n(1), s(b"ab")]).unwrap(), [1, b'a', b'b']);
        // Spaces are ignored; a number is a string where a string is wanted.
        assert_eq!(p(" > h c0", vec![n(1), n(12)]).unwrap(), [0, 1, b'1', b'2']);
    }

    #[test]
    fn unpack_reads_what_pack_wrote() {
        let cases: Vec<(&str, Vec<Item>)> = vec![
            (
                ">bBhHlLiI",
                vec![
                    n(-5),
                    n(200),
                    n(-300),
                    n(60000),
                    n(-1e12),
                    n(1e15),
                    n(-7),
                    n(7),
                ],
            ),
            ("<i3I5i7", vec![n(-70000), n(1099511627775.0), n(-1)]),
            ("!<bdbf", vec![n(1), n(3.25), n(-1), n(0.5)]),
            (">c2s", vec![s(b"ab"), s(b"hello")]),
            ("!8 b x T", vec![n(9), n(123456789)]),
        ];
        for (fmt, args) in cases {
            let bytes = p(fmt, args.clone()).unwrap();
            let mut back = u(fmt, &bytes).unwrap();
            let next = back.pop().unwrap();
            assert_eq!(back, args, "{fmt}");
            assert_eq!(next, n(bytes.len() as f64 + 1.0), "{fmt}: next position");
            if !fmt.contains('s') && !fmt.contains("c0") {
                assert_eq!(size(fmt.as_bytes()), Ok(bytes.len()), "{fmt}: size");
            }
        }
        // Sizes where they are fixed.
        assert_eq!(size(b">bBhHlLiI"), Ok(1 + 1 + 2 + 2 + 8 + 8 + 4 + 4));
        assert_eq!(size(b"!bd"), Ok(16));
        assert_eq!(size(b"c5i2"), Ok(7));
    }

    #[test]
    fn unpack_offsets_c0_and_strings() {
        let data = p(">hhh", vec![n(1), n(2), n(3)]).unwrap();
        assert_eq!(
            unpack(b">h", &data, Some(3.0), 3).unwrap(),
            [n(2), n(5)],
            "from byte 3"
        );
        // c0 takes its length from the previous result, which it replaces.
        assert_eq!(u("bc0", b"\x03abcz").unwrap(), [s(b"abc"), n(5)]);
        assert_eq!(u("c1c0", b"2xyz").unwrap(), [s(b"xy"), n(4)]);
        assert_eq!(u("s", b"ab\0cd").unwrap(), [s(b"ab"), n(4)]);
        assert_eq!(u(">i16", &[0xff; 16]).unwrap(), [n(-1.0), n(17.0)]);
        assert_eq!(u(">I2", &[0xff, 0xfe]).unwrap(), [n(65534.0), n(3.0)]);
    }

    #[test]
    fn bad_formats_and_short_data_are_struct_c_errors() {
        let text = |r: Result<Vec<u8>>, f: &str| r.unwrap_err().text(f);
        assert_eq!(
            text(p("j", vec![n(1)]), "pack"),
            "bad argument #1 to 'pack' (invalid format option 'j')"
        );
        assert_eq!(
            text(p("b2", vec![n(1)]), "pack"),
            "bad argument #1 to 'pack' (invalid format option '2')"
        );
        assert_eq!(
            text(p("i33", vec![n(1)]), "pack"),
            "integral size 33 is larger than limit of 32"
        );
        assert_eq!(
            text(p("i99999999999", vec![n(1)]), "pack"),
            "integral size overflow"
        );
        assert_eq!(
            text(p("!3b", vec![n(1)]), "pack"),
            "alignment 3 is not a power of 2"
        );
        assert_eq!(
            text(p("c5", vec![s(b"abc")]), "pack"),
            "bad argument #3 to 'pack' (string too short)"
        );
        assert_eq!(
            text(p("bb", vec![n(1)]), "pack"),
            "bad argument #3 to 'pack' (number expected, got no value)"
        );
        assert_eq!(
            u("i", b"abc").unwrap_err().text("unpack"),
            "bad argument #2 to 'unpack' (data string too short)"
        );
        assert_eq!(
            u("c0", b"abc").unwrap_err(),
            Error::Msg("format 'c0' needs a previous size".into())
        );
        assert_eq!(
            u("bc0", b"\x09ab").unwrap_err(),
            Error::Arg(2, "data string too short".into())
        );
        assert_eq!(
            u("s", b"abc").unwrap_err(),
            Error::Msg("unfinished string in data".into())
        );
        assert_eq!(
            unpack(b"b", b"a", Some(0.0), 3).unwrap_err(),
            Error::Arg(3, "offset must be 1 or greater".into())
        );
        assert_eq!(
            unpack(b"b", b"a", Some(-4.0), 3).unwrap_err(),
            Error::Arg(2, "data string too short".into())
        );
        assert_eq!(
            unpack(b"b", b"a", Some(3.0), 3).unwrap_err(),
            Error::Arg(2, "data string too short".into())
        );
        assert_eq!(
            size(b"s").unwrap_err(),
            Error::Arg(1, "option 's' has no fixed size".into())
        );
        assert_eq!(
            size(b"c0").unwrap_err(),
            Error::Arg(1, "option 'c0' has no fixed size".into())
        );
        assert_eq!(
            size(b"?").unwrap_err().text("size"),
            "bad argument #1 to 'size' (invalid format option '?')"
        );
        // struct.c's size passes over letters that are no option.
        assert_eq!(size(b"zj"), Ok(0));
        // Too many results for Lua's stack.
        let many = "b".repeat(9000);
        assert_eq!(
            unpack(many.as_bytes(), &[0; 9000], None, 2).unwrap_err(),
            Error::Msg("stack overflow (too many results)".into())
        );
    }
}
