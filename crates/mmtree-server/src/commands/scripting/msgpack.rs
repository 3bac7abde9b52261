//! `cmsgpack`, the MessagePack library Redis gives scripts (lua-cmsgpack 0.4's API and byte
//! choices, written here over the Lua state): `pack(...)`, `unpack(s)`, `unpack_one(s [,
//! offset])`, `unpack_limit(s, limit [, offset])`.
//!
//! Encoding follows lua-cmsgpack so packed bytes match Redis': a number equal to a 64-bit
//! integer is packed as the smallest integer form, any other as a float32 when that is exact,
//! else a float64; strings as fixstr/str8/str16/str32; a table whose keys are exactly 1..n is an
//! array, any other a map in `next` order; a table nested 16 deep is packed as nil (so a cycle
//! packs as 16 copies); functions and userdata as nil. Decoding checks every length against the
//! bytes left before it allocates, and bounds nesting: a hostile string is an error, never a
//! crash.

use mlua::{Lua, LuaString, MultiValue, Table, Value};

/// lua-cmsgpack's LUACMSGPACK_MAX_NESTING: a table this deep packs as nil.
const MAX_NESTING: usize = 16;

/// Nesting bound of the decoder (lua-cmsgpack's is the Lua C stack); beyond it the input is
/// refused as badly formatted.
const MAX_DECODE_DEPTH: usize = 1000;

/// The `cmsgpack` table (the prelude makes it read-only).
pub fn install(lua: &Lua, api: &Table) -> mlua::Result<()> {
    let t = lua.create_table()?;
    t.raw_set(
        "pack",
        lua.create_function(|_, args: MultiValue| {
            if args.is_empty() {
                return Err(mlua::Error::RuntimeError(
                    "MessagePack pack needs input.".into(),
                ));
            }
            let mut out = Vec::new();
            for v in args.iter() {
                encode(v, 0, &mut out)?;
            }
            Ok(mlua::BString::from(out))
        })?,
    )?;
    t.raw_set(
        "unpack",
        lua.create_function(|lua, s: LuaString| unpack(lua, &s.as_bytes(), 0, 0))?,
    )?;
    t.raw_set(
        "unpack_one",
        lua.create_function(|lua, (s, offset): (LuaString, Option<i64>)| {
            unpack(lua, &s.as_bytes(), 1, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set(
        "unpack_limit",
        lua.create_function(|lua, (s, limit, offset): (LuaString, i64, Option<i64>)| {
            unpack(lua, &s.as_bytes(), limit, offset.unwrap_or(0))
        })?,
    )?;
    t.raw_set("_NAME", "lua-cmsgpack")?;
    t.raw_set("_VERSION", "lua-cmsgpack 0.4.0")?;
    api.raw_set("cmsgpack", t)?;
    Ok(())
}

/// Unpacks `data` as `cmsgpack.unpack` does in a fresh Lua state and packs what it gave back:
/// the values' count, or the error a script would get (the fuzz target `server_payloads`).
pub fn unpack_and_repack(data: &[u8]) -> mlua::Result<usize> {
    let lua = Lua::new();
    let api = lua.create_table()?;
    install(&lua, &api)?;
    let values = unpack(&lua, data, 0, 0)?;
    let mut out = Vec::new();
    for v in values.iter() {
        encode(v, 0, &mut out)?;
    }
    Ok(values.len())
}

fn encode(v: &Value, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    match v {
        Value::Boolean(b) => out.push(if *b { 0xc3 } else { 0xc2 }),
        Value::Integer(n) => encode_int(*n, out),
        Value::Number(n) => encode_number(*n, out),
        Value::String(s) => encode_bytes(&s.as_bytes(), out),
        Value::Table(t) if level < MAX_NESTING => encode_table(t, level, out)?,
        // nil, a table at the nesting limit, functions, userdata, threads.
        _ => out.push(0xc0),
    }
    Ok(())
}

fn encode_number(n: f64, out: &mut Vec<u8>) {
    // lua-cmsgpack's IS_INT64_EQUIVALENT: finite and equal to its conversion to int64.
    if n.is_finite() && n.fract() == 0.0 && n >= -(2f64.powi(63)) && n < 2f64.powi(63) {
        encode_int(n as i64, out);
    } else if (n as f32) as f64 == n || n.is_infinite() {
        out.push(0xca);
        out.extend_from_slice(&(n as f32).to_be_bytes());
    } else {
        out.push(0xcb);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        let u = n as u64;
        match u {
            0..=0x7f => out.push(u as u8),
            0x80..=0xff => out.extend_from_slice(&[0xcc, u as u8]),
            0x100..=0xffff => {
                out.push(0xcd);
                out.extend_from_slice(&(u as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                out.push(0xce);
                out.extend_from_slice(&(u as u32).to_be_bytes());
            }
            _ => {
                out.push(0xcf);
                out.extend_from_slice(&u.to_be_bytes());
            }
        }
    } else if n >= -32 {
        out.push(n as i8 as u8);
    } else if n >= -128 {
        out.extend_from_slice(&[0xd0, n as i8 as u8]);
    } else if n >= -32768 {
        out.push(0xd1);
        out.extend_from_slice(&(n as i16).to_be_bytes());
    } else if n >= -2_147_483_648 {
        out.push(0xd2);
        out.extend_from_slice(&(n as i32).to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn encode_bytes(s: &[u8], out: &mut Vec<u8>) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s);
}

/// A header of one of the three sizes (fix, 16-bit, 32-bit), as arrays and maps have.
fn encode_len(len: usize, fix: u8, wide: u8, out: &mut Vec<u8>) {
    if len <= 15 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(wide);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(wide + 1);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

fn encode_table(t: &Table, level: usize, out: &mut Vec<u8>) -> mlua::Result<()> {
    // Two passes over the table, never holding its entries: a Lua value held from Rust takes a
    // slot of mlua's reference stack, which a 100,000-entry table would overflow.
    // lua-cmsgpack's table_is_an_array: every key a positive integer, and as many keys as the
    // largest one (no holes).
    let (mut count, mut max, mut is_array) = (0usize, 0f64, true);
    t.for_each(|k: Value, _: Value| {
        count += 1;
        let n = match k {
            Value::Integer(n) => n as f64,
            Value::Number(n) => n,
            _ => f64::NAN,
        };
        if n > 0.0 && n.fract() == 0.0 {
            max = max.max(n);
        } else {
            is_array = false;
        }
        Ok(())
    })?;
    if is_array && max == count as f64 {
        encode_len(count, 0x90, 0xdc, out);
        for i in 1..=count {
            encode(&t.raw_get::<Value>(i)?, level + 1, out)?;
        }
    } else {
        encode_len(count, 0x80, 0xde, out);
        t.for_each(|k: Value, v: Value| {
            encode(&k, level + 1, out)?;
            encode(&v, level + 1, out)
        })?;
    }
    Ok(())
}

fn unpack(lua: &Lua, s: &[u8], limit: i64, offset: i64) -> mlua::Result<MultiValue> {
    let decode_all = limit == 0 && offset == 0;
    if offset < 0 || limit < 0 {
        return Err(mlua::Error::RuntimeError(format!(
            "Invalid request to unpack with offset of {offset} and limit of {limit}."
        )));
    }
    if offset as u64 > s.len() as u64 {
        return Err(mlua::Error::RuntimeError(format!(
            "Start offset {offset} greater than input length {}.",
            s.len()
        )));
    }
    let limit = if decode_all { i64::MAX } else { limit };
    let mut cur = Cursor {
        s,
        at: offset as usize,
    };
    let mut values = Vec::new();
    while cur.at < s.len() && (values.len() as i64) < limit {
        values.push(decode(lua, &mut cur, 0).map_err(mlua::Error::RuntimeError)?);
    }
    if !decode_all {
        let next = if cur.at == s.len() { -1 } else { cur.at as i64 };
        values.insert(0, Value::Number(next as f64));
    }
    Ok(MultiValue::from_iter(values))
}

struct Cursor<'a> {
    s: &'a [u8],
    at: usize,
}

const EOF: &str = "Missing bytes in input.";
const BAD: &str = "Bad data format in input.";

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.s.len() - self.at < n {
            return Err(EOF.into());
        }
        let bytes = &self.s[self.at..self.at + n];
        self.at += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        Ok(self.take(N)?.try_into().expect("take returned N bytes"))
    }

    /// A length of 1, 2 or 4 big-endian bytes.
    fn len(&mut self, width: usize) -> Result<usize, String> {
        Ok(match width {
            1 => self.array::<1>()?[0] as usize,
            2 => u16::from_be_bytes(self.array()?) as usize,
            _ => u32::from_be_bytes(self.array()?) as usize,
        })
    }

    /// Every element takes at least one byte: a count beyond what is left cannot be whole.
    fn check_count(&self, count: usize) -> Result<(), String> {
        if count > self.s.len() - self.at {
            return Err(EOF.into());
        }
        Ok(())
    }
}

fn decode(lua: &Lua, c: &mut Cursor<'_>, depth: usize) -> Result<Value, String> {
    if depth > MAX_DECODE_DEPTH {
        return Err(BAD.into());
    }
    let lua_err = |e: mlua::Error| e.to_string();
    let marker = c.array::<1>()?[0];
    let number = |n: f64| Ok(Value::Number(n));
    match marker {
        0x00..=0x7f => number(marker as f64),
        0xe0..=0xff => number(marker as i8 as f64),
        0xcc => number(c.array::<1>()?[0] as f64),
        0xcd => number(u16::from_be_bytes(c.array()?) as f64),
        0xce => number(u32::from_be_bytes(c.array()?) as f64),
        0xcf => number(u64::from_be_bytes(c.array()?) as f64),
        0xd0 => number(c.array::<1>()?[0] as i8 as f64),
        0xd1 => number(i16::from_be_bytes(c.array()?) as f64),
        0xd2 => number(i32::from_be_bytes(c.array()?) as f64),
        0xd3 => number(i64::from_be_bytes(c.array()?) as f64),
        0xca => number(f32::from_be_bytes(c.array()?) as f64),
        0xcb => number(f64::from_be_bytes(c.array()?)),
        0xc0 => Ok(Value::Nil),
        0xc2 => Ok(Value::Boolean(false)),
        0xc3 => Ok(Value::Boolean(true)),
        0xa0..=0xbf | 0xd9 | 0xda | 0xdb | 0xc4 | 0xc5 | 0xc6 => {
            let len = match marker {
                0xa0..=0xbf => (marker & 0x1f) as usize,
                0xd9 | 0xc4 => c.len(1)?,
                0xda | 0xc5 => c.len(2)?,
                _ => c.len(4)?,
            };
            let bytes = c.take(len)?;
            Ok(Value::String(lua.create_string(bytes).map_err(lua_err)?))
        }
        0x90..=0x9f | 0xdc | 0xdd => {
            let count = match marker {
                0x90..=0x9f => (marker & 0x0f) as usize,
                0xdc => c.len(2)?,
                _ => c.len(4)?,
            };
            c.check_count(count)?;
            let t = lua.create_table_with_capacity(count, 0).map_err(lua_err)?;
            for i in 1..=count {
                let v = decode(lua, c, depth + 1)?;
                t.raw_set(i, v).map_err(lua_err)?;
            }
            Ok(Value::Table(t))
        }
        0x80..=0x8f | 0xde | 0xdf => {
            let count = match marker {
                0x80..=0x8f => (marker & 0x0f) as usize,
                0xde => c.len(2)?,
                _ => c.len(4)?,
            };
            c.check_count(count.saturating_mul(2))?;
            let t = lua.create_table_with_capacity(0, count).map_err(lua_err)?;
            for _ in 0..count {
                let k = decode(lua, c, depth + 1)?;
                let v = decode(lua, c, depth + 1)?;
                // A nil or NaN key cannot index a Lua table.
                match k {
                    Value::Nil => return Err(BAD.into()),
                    Value::Number(n) if n.is_nan() => return Err(BAD.into()),
                    _ => t.raw_set(k, v).map_err(lua_err)?,
                }
            }
            Ok(Value::Table(t))
        }
        // 0xc1 (never used), ext types and anything else.
        _ => Err(BAD.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lua() -> Lua {
        let lua = Lua::new();
        let api = lua.create_table().unwrap();
        install(&lua, &api).unwrap();
        lua.globals()
            .set("cmsgpack", api.get::<Table>("cmsgpack").unwrap())
            .unwrap();
        lua
    }

    fn hex(lua: &Lua, expr: &str) -> String {
        let s: LuaString = lua
            .load(format!("return cmsgpack.pack({expr})"))
            .eval()
            .unwrap();
        s.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Bytes lua-cmsgpack 0.4 gives (the suite's values and the format's boundaries).
    #[test]
    fn packs_as_lua_cmsgpack() {
        let lua = lua();
        assert_eq!(hex(&lua, "0.1"), "cb3fb999999999999a");
        assert_eq!(hex(&lua, "0.5"), "ca3f000000");
        assert_eq!(hex(&lua, "-1099511627776"), "d3ffffff0000000000");
        assert_eq!(
            hex(&lua, "127, 128, 256, 65536, 2^32"),
            "7fcc80cd0100ce00010000cf0000000100000000"
        );
        assert_eq!(hex(&lua, "-1, -33, -129, -32769"), "ffd0dfd1ff7fd2ffff7fff");
        assert_eq!(hex(&lua, "nil, true, false"), "c0c3c2");
        assert_eq!(hex(&lua, "'abc'"), "a3616263");
        assert_eq!(hex(&lua, "string.rep('x', 32)").get(..4), Some("d920"));
        assert_eq!(hex(&lua, "{1, 2}, {}"), "92010290");
        assert_eq!(hex(&lua, "{[1]=1, [3]=3}").get(..2), Some("82"));
        assert_eq!(hex(&lua, "print or function() end"), "c0");
        // A map far larger than mlua's reference stack.
        let len: usize = lua
            .load("local t = {} for i = 1, 100000 do t['k' .. i] = i end return #cmsgpack.pack(t)")
            .eval()
            .unwrap();
        assert!(len > 100_000 * 4, "{len}");
    }

    #[test]
    fn round_trips_and_offsets() {
        let lua = lua();
        let ok: bool = lua
            .load(
                r#"
                local s = cmsgpack.pack({a = {1, 2, {b = "c"}}, n = -3.25}, "x", 7)
                local t, x, n = cmsgpack.unpack(s)
                assert(t.a[3].b == "c" and t.n == -3.25 and x == "x" and n == 7)
                local off, one = cmsgpack.unpack_one(s)
                assert(one.a[2] == 2 and off > 0)
                local off2, two = cmsgpack.unpack_limit(s, 1, off)
                assert(two == "x")
                local off3, three = cmsgpack.unpack_one(s, off2)
                assert(three == 7 and off3 == -1)
                return true
            "#,
            )
            .eval()
            .unwrap();
        assert!(ok);
    }

    /// Truncated, lying and hostile inputs are Lua errors, never a panic or a huge allocation.
    #[test]
    fn hostile_input_is_an_error() {
        let lua = lua();
        for (input, want) in [
            (&b"\xdd\xff\xff\xff\xff"[..], EOF),
            (b"\xdf\xff\xff\xff\xff", EOF),
            (b"\xdb\xff\xff\xff\xff", EOF),
            (b"\xcb\x00", EOF),
            (b"\xc1", BAD),
            (b"\xd4\x01\x02", BAD),
            (b"\x81\xc0\x01", BAD),
        ] {
            let unpack: mlua::Function = lua.load("cmsgpack.unpack").eval().unwrap();
            let err = unpack
                .call::<MultiValue>(lua.create_string(input).unwrap())
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{input:?}: {err}");
        }
        let deep = [vec![0x91u8; 100_000], vec![0x01]].concat();
        let unpack: mlua::Function = lua.load("cmsgpack.unpack").eval().unwrap();
        let err = unpack
            .call::<MultiValue>(lua.create_string(&deep).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains(BAD), "{err}");
        let err = lua
            .load("return cmsgpack.unpack_one('\\1', 5)")
            .exec()
            .unwrap_err()
            .to_string();
        assert!(err.contains("greater than input length"), "{err}");
    }

    /// Random and mutated inputs: unpack returns values or an error, never panics, and what it
    /// returns packs again.
    #[test]
    fn random_input_never_panics() {
        let lua = lua();
        let unpack: mlua::Function = lua.load("cmsgpack.unpack").eval().unwrap();
        let pack: mlua::Function = lua.load("cmsgpack.pack").eval().unwrap();
        let valid: LuaString = lua
            .load("return cmsgpack.pack({a = {1, -2, 3.5, 'x'}, [7] = true}, 'str', -70000, 2^40)")
            .eval()
            .unwrap();
        let valid = valid.as_bytes().to_vec();
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..20_000 {
            let input: Vec<u8> = if round % 2 == 0 {
                let len = (next() % 24) as usize;
                (0..len).map(|_| next() as u8).collect()
            } else {
                let mut v = valid.clone();
                for _ in 0..1 + next() % 3 {
                    let at = (next() as usize) % v.len();
                    v[at] = next() as u8;
                }
                v.truncate(1 + (next() as usize) % v.len());
                v
            };
            if let Ok(values) = unpack.call::<MultiValue>(lua.create_string(&input).unwrap()) {
                if !values.is_empty() {
                    pack.call::<LuaString>(values).unwrap();
                }
            }
        }
    }
}
