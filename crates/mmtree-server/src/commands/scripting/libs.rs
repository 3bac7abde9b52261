//! Two of the libraries Redis gives scripts, written here over the Lua state: `cjson` (encode,
//! decode, null, and the settings Redis' suite uses: `encode_max_depth`, `decode_max_depth`,
//! `encode_invalid_numbers`, `encode_keep_buffer`) and `bit` (LuaJIT's BitOp API, which Redis
//! bundles for Lua 5.1). `cmsgpack` is in `msgpack`; `struct` is not offered.

use std::cell::Cell;
use std::rc::Rc;

use mlua::{Lua, LuaString, MultiValue, Table, Value};

type Unary = fn(i32) -> i32;
type Binary = fn(i32, i32) -> i32;
type Shift = fn(i32, u32) -> i32;

/// lua-cjson's default nesting limit, both ways.
const MAX_DEPTH: usize = 1000;

/// lua-cjson's settings, one set per Lua state (a script's change lasts until it is changed
/// back, as in Redis).
struct JsonSettings {
    encode_max_depth: Cell<usize>,
    decode_max_depth: Cell<usize>,
    /// NaN and ±Inf: refused (false), printed as `nan`/`inf` (true), or as `null`.
    encode_invalid_numbers: Cell<InvalidNumbers>,
}

#[derive(Clone, Copy, PartialEq)]
enum InvalidNumbers {
    Refuse,
    Allow,
    Null,
}

/// A depth setting: lua-cjson's `encode_max_depth(n)` / `decode_max_depth(n)` (1 to 2^31-1;
/// without an argument it only reports).
fn depth_setting(
    lua: &Lua,
    settings: &Rc<JsonSettings>,
    cell: fn(&JsonSettings) -> &Cell<usize>,
) -> mlua::Result<mlua::Function> {
    let settings = settings.clone();
    lua.create_function(move |_, n: Option<f64>| {
        if let Some(n) = n {
            if !(1.0..=i32::MAX as f64).contains(&n) || n.fract() != 0.0 {
                return Err(mlua::Error::RuntimeError(
                    "bad argument #1 (expected integer between 1 and 2147483647)".into(),
                ));
            }
            cell(&settings).set(n as usize);
        }
        Ok(cell(&settings).get() as f64)
    })
}

/// The `cjson` and `bit` tables (the prelude makes them read-only).
pub fn install(lua: &Lua, api: &Table) -> mlua::Result<()> {
    let settings = Rc::new(JsonSettings {
        encode_max_depth: Cell::new(MAX_DEPTH),
        decode_max_depth: Cell::new(MAX_DEPTH),
        encode_invalid_numbers: Cell::new(InvalidNumbers::Refuse),
    });
    let cjson = lua.create_table()?;
    let s = settings.clone();
    cjson.raw_set(
        "encode",
        lua.create_function(move |_, v: Value| {
            let mut out = Vec::new();
            encode(&v, 0, &s, &mut out).map_err(mlua::Error::RuntimeError)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    let s = settings.clone();
    cjson.raw_set(
        "decode",
        lua.create_function(move |lua, text: LuaString| {
            let json: serde_json::Value =
                serde_json::from_slice(&text.as_bytes()).map_err(|e| {
                    mlua::Error::RuntimeError(format!(
                        "Expected value but found invalid token: {e}"
                    ))
                })?;
            decode(lua, &json, 1, s.decode_max_depth.get())
        })?,
    )?;
    cjson.raw_set("null", Value::NULL)?;
    cjson.raw_set(
        "encode_max_depth",
        depth_setting(lua, &settings, |s| &s.encode_max_depth)?,
    )?;
    cjson.raw_set(
        "decode_max_depth",
        depth_setting(lua, &settings, |s| &s.decode_max_depth)?,
    )?;
    let s = settings.clone();
    cjson.raw_set(
        "encode_invalid_numbers",
        lua.create_function(move |lua, v: Option<Value>| {
            match v {
                None => {}
                Some(Value::Boolean(true)) => s.encode_invalid_numbers.set(InvalidNumbers::Allow),
                Some(Value::Boolean(false)) => s.encode_invalid_numbers.set(InvalidNumbers::Refuse),
                Some(Value::String(m)) if m.as_bytes().as_ref() == b"null" => {
                    s.encode_invalid_numbers.set(InvalidNumbers::Null)
                }
                Some(Value::String(m)) if m.as_bytes().as_ref() == b"on" => {
                    s.encode_invalid_numbers.set(InvalidNumbers::Allow)
                }
                Some(Value::String(m)) if m.as_bytes().as_ref() == b"off" => {
                    s.encode_invalid_numbers.set(InvalidNumbers::Refuse)
                }
                Some(_) => {
                    return Err(mlua::Error::RuntimeError(
                        "bad argument #1 (invalid option)".into(),
                    ))
                }
            }
            Ok(match s.encode_invalid_numbers.get() {
                InvalidNumbers::Refuse => Value::Boolean(false),
                InvalidNumbers::Allow => Value::Boolean(true),
                InvalidNumbers::Null => Value::String(lua.create_string("null")?),
            })
        })?,
    )?;
    // The encoder keeps no buffer between calls here: the setting is accepted and reported.
    cjson.raw_set(
        "encode_keep_buffer",
        lua.create_function(|_, v: Option<bool>| Ok(v.unwrap_or(true)))?,
    )?;
    api.raw_set("cjson", cjson)?;

    let bit = lua.create_table()?;
    let unary: [(&str, Unary); 3] = [
        ("tobit", |x| x),
        ("bnot", |x| !x),
        ("bswap", |x| x.swap_bytes()),
    ];
    for (name, f) in unary {
        bit.raw_set(
            name,
            lua.create_function(move |_, x: f64| Ok(f(tobit(x)) as f64))?,
        )?;
    }
    let fold: [(&str, Binary); 3] = [
        ("band", |a, b| a & b),
        ("bor", |a, b| a | b),
        ("bxor", |a, b| a ^ b),
    ];
    for (name, f) in fold {
        bit.raw_set(
            name,
            lua.create_function(move |_, (x, rest): (f64, MultiValue)| {
                let mut acc = tobit(x);
                for v in rest {
                    acc = f(acc, tobit(number(&v)?));
                }
                Ok(acc as f64)
            })?,
        )?;
    }
    let shifts: [(&str, Shift); 5] = [
        ("lshift", |x, n| ((x as u32) << n) as i32),
        ("rshift", |x, n| ((x as u32) >> n) as i32),
        ("arshift", |x, n| x >> n),
        ("rol", |x, n| (x as u32).rotate_left(n) as i32),
        ("ror", |x, n| (x as u32).rotate_right(n) as i32),
    ];
    for (name, f) in shifts {
        bit.raw_set(
            name,
            lua.create_function(move |_, (x, n): (f64, f64)| {
                Ok(f(tobit(x), (tobit(n) & 31) as u32) as f64)
            })?,
        )?;
    }
    bit.raw_set(
        "tohex",
        lua.create_function(|_, (x, n): (f64, Option<f64>)| {
            let n = n.map_or(8, tobit);
            let (upper, width) = (n < 0, n.unsigned_abs().min(8) as usize);
            let hex = format!("{:08x}", tobit(x) as u32);
            let hex = &hex[8 - width..];
            Ok(if upper {
                hex.to_uppercase()
            } else {
                hex.to_string()
            })
        })?,
    )?;
    api.raw_set("bit", bit)?;
    Ok(())
}

/// BitOp's normalisation: a number to a 32-bit integer, modulo 2^32.
fn tobit(x: f64) -> i32 {
    if !x.is_finite() {
        return 0;
    }
    (x.round() as i64 & 0xffff_ffff) as u32 as i32
}

fn number(v: &Value) -> mlua::Result<f64> {
    match v {
        Value::Integer(n) => Ok(*n as f64),
        Value::Number(n) => Ok(*n),
        _ => Err(mlua::Error::RuntimeError(
            "bad argument (number expected)".into(),
        )),
    }
}

/// A number as lua-cjson prints it (`%.14g`; NaN and ±Inf as its setting says).
fn format_number(n: f64, invalid: InvalidNumbers, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        match invalid {
            InvalidNumbers::Refuse => {
                return Err("Cannot serialise number: must not be NaN or Inf".into())
            }
            InvalidNumbers::Null => out.extend_from_slice(b"null"),
            InvalidNumbers::Allow if n.is_nan() => out.extend_from_slice(b"nan"),
            InvalidNumbers::Allow if n > 0.0 => out.extend_from_slice(b"inf"),
            InvalidNumbers::Allow => out.extend_from_slice(b"-inf"),
        }
        return Ok(());
    }
    if n == 0.0 {
        out.push(b'0');
        return Ok(());
    }
    out.extend_from_slice(super::convert::format_g(n, 14).as_bytes());
    Ok(())
}

fn encode_string(s: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// lua-cjson's encoding: a table whose keys are all positive integers is an array (unless
/// excessively sparse), any other a JSON object with string or number keys.
fn encode(
    v: &Value,
    depth: usize,
    settings: &JsonSettings,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let invalid = settings.encode_invalid_numbers.get();
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => format_number(*n as f64, invalid, out)?,
        Value::Number(n) => format_number(*n, invalid, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= settings.encode_max_depth.get() {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            // Two passes, never holding the entries: a Lua value held from Rust takes a slot of
            // mlua's reference stack, which a 100,000-entry table would overflow.
            let (mut count, mut max, mut is_array) = (0usize, 0usize, true);
            t.for_each(|k: Value, _: Value| {
                count += 1;
                match k {
                    Value::Integer(n) if n >= 1 => max = max.max(n as usize),
                    Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => max = max.max(n as usize),
                    _ => is_array = false,
                }
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            if is_array && count > 0 {
                if max > count * 2 && max > 10 {
                    return Err("Cannot serialise table: excessively sparse array".into());
                }
                out.push(b'[');
                for i in 1..=max {
                    if i > 1 {
                        out.push(b',');
                    }
                    let v = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                    encode(&v, depth + 1, settings, out)?;
                }
                out.push(b']');
            } else {
                out.push(b'{');
                let mut first = true;
                t.for_each(|k: Value, v: Value| {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    let entry =
                        (|| {
                            match &k {
                                Value::String(s) => encode_string(&s.as_bytes(), out),
                                Value::Integer(_) | Value::Number(_) => {
                                    let mut n = Vec::new();
                                    encode(&k, depth + 1, settings, &mut n)?;
                                    encode_string(&n, out);
                                }
                                _ => return Err(
                                    "Cannot serialise table: table key must be a number or string"
                                        .to_string(),
                                ),
                            }
                            out.push(b':');
                            encode(&v, depth + 1, settings, out)
                        })();
                    entry.map_err(mlua::Error::RuntimeError)
                })
                // Our own message back as it was (Display would prefix "runtime error: ").
                .map_err(|e| match e {
                    mlua::Error::RuntimeError(m) => m,
                    e => e.to_string(),
                })?;
                out.push(b'}');
            }
        }
        other => {
            return Err(format!(
                "Cannot serialise {}: type not supported",
                other.type_name()
            ))
        }
    }
    Ok(())
}

/// A parsed document as Lua values; `depth` is this value's nesting (1 at the top), refused past
/// `max` as lua-cjson refuses it.
fn decode(lua: &Lua, json: &serde_json::Value, depth: usize, max: usize) -> mlua::Result<Value> {
    let nests = matches!(
        json,
        serde_json::Value::Array(_) | serde_json::Value::Object(_)
    );
    if nests && depth > max {
        return Err(mlua::Error::RuntimeError(format!(
            "Found too many nested data structures ({depth})"
        )));
    }
    Ok(match json {
        serde_json::Value::Null => Value::NULL,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_seti(i + 1, decode(lua, item, depth + 1, max)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(lua.create_string(k)?, decode(lua, v, depth + 1, max)?)?;
            }
            Value::Table(t)
        }
    })
}
