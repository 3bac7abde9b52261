//! Two of the libraries Redis gives scripts, written here over the Lua state: `cjson` (encode,
//! decode, null: what scripts use of lua-cjson; its settings functions are not there) and `bit`
//! (LuaJIT's BitOp API, which Redis bundles for Lua 5.1). `cmsgpack` and `struct` are not.

use mlua::{Lua, LuaString, MultiValue, Table, Value};

type Unary = fn(i32) -> i32;
type Binary = fn(i32, i32) -> i32;
type Shift = fn(i32, u32) -> i32;

/// lua-cjson's default nesting limit, both ways.
const MAX_DEPTH: usize = 1000;

/// The `cjson` and `bit` tables (the prelude makes them read-only).
pub fn install(lua: &Lua, api: &Table) -> mlua::Result<()> {
    let cjson = lua.create_table()?;
    cjson.raw_set(
        "encode",
        lua.create_function(|_, v: Value| {
            let mut out = Vec::new();
            encode(&v, 0, &mut out).map_err(mlua::Error::RuntimeError)?;
            Ok(mlua::BString::from(out))
        })?,
    )?;
    cjson.raw_set(
        "decode",
        lua.create_function(|lua, s: LuaString| {
            let json: serde_json::Value = serde_json::from_slice(&s.as_bytes()).map_err(|e| {
                mlua::Error::RuntimeError(format!("Expected value but found invalid token: {e}"))
            })?;
            decode(lua, &json)
        })?,
    )?;
    cjson.raw_set("null", Value::NULL)?;
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

/// A number as lua-cjson prints it (`%.14g`).
fn format_number(n: f64, out: &mut Vec<u8>) -> Result<(), String> {
    if !n.is_finite() {
        return Err("Cannot serialise number: must not be NaN or Inf".into());
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
fn encode(v: &Value, depth: usize, out: &mut Vec<u8>) -> Result<(), String> {
    match v {
        Value::Nil => out.extend_from_slice(b"null"),
        Value::LightUserData(p) if p.0.is_null() => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(n) => format_number(*n as f64, out)?,
        Value::Number(n) => format_number(*n, out)?,
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => {
            if depth >= MAX_DEPTH {
                return Err(format!(
                    "Cannot serialise, excessive nesting ({})",
                    depth + 1
                ));
            }
            let mut entries: Vec<(Value, Value)> = Vec::new();
            t.for_each(|k: Value, v: Value| {
                entries.push((k, v));
                Ok(())
            })
            .map_err(|e| e.to_string())?;
            let index = |k: &Value| -> Option<usize> {
                match k {
                    Value::Integer(n) if *n >= 1 => Some(*n as usize),
                    Value::Number(n) if *n >= 1.0 && n.fract() == 0.0 => Some(*n as usize),
                    _ => None,
                }
            };
            let max = entries
                .iter()
                .map(|(k, _)| index(k))
                .try_fold(0usize, |m, i| i.map(|i| m.max(i)));
            match max {
                Some(max) if !entries.is_empty() => {
                    if max > entries.len() * 2 && max > 10 {
                        return Err("Cannot serialise table: excessively sparse array".into());
                    }
                    out.push(b'[');
                    for i in 1..=max {
                        if i > 1 {
                            out.push(b',');
                        }
                        let v = t.raw_get::<Value>(i).map_err(|e| e.to_string())?;
                        encode(&v, depth + 1, out)?;
                    }
                    out.push(b']');
                }
                _ => {
                    out.push(b'{');
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        match k {
                            Value::String(s) => encode_string(&s.as_bytes(), out),
                            Value::Integer(_) | Value::Number(_) => {
                                let mut n = Vec::new();
                                encode(k, depth + 1, &mut n)?;
                                encode_string(&n, out);
                            }
                            _ => {
                                return Err(
                                    "Cannot serialise table: table key must be a number or string"
                                        .into(),
                                )
                            }
                        }
                        out.push(b':');
                        encode(v, depth + 1, out)?;
                    }
                    out.push(b'}');
                }
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

fn decode(lua: &Lua, json: &serde_json::Value) -> mlua::Result<Value> {
    Ok(match json {
        serde_json::Value::Null => Value::NULL,
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(s)?),
        serde_json::Value::Array(items) => {
            let t = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_seti(i + 1, decode(lua, item)?)?;
            }
            Value::Table(t)
        }
        serde_json::Value::Object(map) => {
            let t = lua.create_table_with_capacity(0, map.len())?;
            for (k, v) in map {
                t.raw_set(lua.create_string(k)?, decode(lua, v)?)?;
            }
            Value::Table(t)
        }
    })
}
