//! The Redis ↔ Lua conversions of Redis 7.0 (`script_lua.c`): a command's reply as the Lua
//! value `redis.call` returns, a script's Lua value as the reply, and a Lua number as the
//! argument string `redis.call` passes.

use crate::resp::Reply;
use mlua::{Lua, Table, Value};

/// The deepest table nesting a script's reply may have: a deeper (or self-referencing) table
/// ends in Redis' error at that depth instead of exhausting the writer's stack.
pub const MAX_DEPTH: usize = 400;

/// A Lua error table `{err = text}`.
pub fn error_table(lua: &Lua, text: &str) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    t.raw_set("err", text)?;
    Ok(Value::Table(t))
}

/// The text of an error table made from an error reply (`luaPushErrorBuff`): a leading `-`
/// dropped, the first word is the code (`ERR` if there is only one word), the message trimmed of
/// CR and LF at its ends.
pub fn error_text(reply: &str) -> String {
    let s = reply.strip_prefix('-').unwrap_or(reply);
    let (code, msg) = match s.split_once(' ') {
        Some((code, msg)) => (code, msg),
        None => ("ERR", s),
    };
    format!("{code} {}", msg.trim_matches(['\r', '\n']))
}

/// A command's reply as the Lua value `redis.call` returns, in the script's protocol
/// (`redis.setresp`). Errors are handled by the caller.
pub fn to_lua(lua: &Lua, reply: &Reply, resp3: bool) -> mlua::Result<Value> {
    let single = |field: &str, value: Value| -> mlua::Result<Value> {
        let t = lua.create_table()?;
        t.raw_set(field, value)?;
        Ok(Value::Table(t))
    };
    Ok(match reply {
        Reply::Ok => single("ok", Value::String(lua.create_string("OK")?))?,
        Reply::Status(s) => single("ok", Value::String(lua.create_string(s)?))?,
        Reply::Error(e) => error_table(lua, &error_text(e))?,
        Reply::Int(n) => Value::Number(*n as f64),
        Reply::Bulk(b) => Value::String(lua.create_string(b)?),
        Reply::Double(text) if resp3 => {
            single("double", Value::Number(text.parse::<f64>().unwrap_or(0.0)))?
        }
        Reply::Double(text) => Value::String(lua.create_string(text)?),
        Reply::Bool(b) if resp3 => Value::Boolean(*b),
        Reply::Bool(b) => Value::Number(*b as i64 as f64),
        Reply::Null | Reply::NullArray if resp3 => Value::Nil,
        Reply::Null | Reply::NullArray => Value::Boolean(false),
        Reply::Array(items) => sequence(lua, items.iter(), resp3)?,
        Reply::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(to_lua(lua, item, resp3)?, true)?;
            }
            single("set", Value::Table(set))?
        }
        Reply::Set(items) => sequence(lua, items.iter(), resp3)?,
        Reply::Map(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Pairs(pairs) if resp3 => pair_tables(lua, pairs, resp3)?,
        // XREAD's streams: a map in RESP3, pairs in RESP2 (as the client sees them).
        Reply::Keyed(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(to_lua(lua, k, resp3)?, to_lua(lua, v, resp3)?)?;
            }
            single("map", Value::Table(map))?
        }
        Reply::Keyed(pairs) => pair_tables(lua, pairs, resp3)?,
        Reply::Map(pairs) | Reply::Pairs(pairs) => {
            sequence(lua, pairs.iter().flat_map(|(k, v)| [k, v]), resp3)?
        }
    })
}

/// Pairs as a table of two-element tables.
fn pair_tables(lua: &Lua, pairs: &[(Reply, Reply)], resp3: bool) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, (k, v)) in pairs.iter().enumerate() {
        let pair = lua.create_table()?;
        pair.raw_seti(1, to_lua(lua, k, resp3)?)?;
        pair.raw_seti(2, to_lua(lua, v, resp3)?)?;
        t.raw_seti(i + 1, pair)?;
    }
    Ok(Value::Table(t))
}

fn sequence<'a>(
    lua: &Lua,
    items: impl Iterator<Item = &'a Reply>,
    resp3: bool,
) -> mlua::Result<Value> {
    let t = lua.create_table()?;
    for (i, item) in items.enumerate() {
        let v = to_lua(lua, item, resp3)?;
        // A nil (RESP3 null) leaves a hole, as in Redis.
        t.raw_seti(i + 1, v)?;
    }
    Ok(Value::Table(t))
}

/// A Lua number as the integer Redis replies with (C's `(long long)` cast on x86-64: truncated,
/// and the "integer indefinite" i64::MIN for NaN and whatever is out of range).
pub fn lua_integer(n: f64) -> i64 {
    // 2^63: the first double past i64::MAX; -2^63 is i64::MIN itself.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if (-LIMIT..LIMIT).contains(&n) {
        n as i64
    } else {
        i64::MIN
    }
}

/// A script's returned value as its reply (`luaReplyToRedisReply`), read with raw accesses
/// only (no metamethod runs). `resp3`: the script's `redis.setresp(3)`.
pub fn to_reply(value: &Value, resp3: bool, depth: usize) -> Reply {
    if depth > MAX_DEPTH {
        return Reply::Error("ERR reached lua stack limit".into());
    }
    match value {
        Value::String(s) => Reply::Bulk(s.as_bytes().to_vec()),
        Value::Boolean(b) if resp3 => Reply::Bool(*b),
        Value::Boolean(true) => Reply::Int(1),
        Value::Boolean(false) => Reply::Null,
        Value::Integer(n) => Reply::Int(*n),
        // A C cast, as Redis' `(long long)lua_tonumber`: truncated toward zero (saturating here).
        Value::Number(n) => Reply::Int(lua_integer(*n)),
        Value::Table(t) => table_reply(t, resp3, depth),
        _ => Reply::Null,
    }
}

fn field(t: &Table, name: &str) -> Value {
    t.raw_get::<Value>(name).unwrap_or(Value::Nil)
}

fn table_reply(t: &Table, resp3: bool, depth: usize) -> Reply {
    if let Value::String(e) = field(t, "err") {
        let text = String::from_utf8_lossy(&e.as_bytes()).replace(['\r', '\n'], " ");
        return Reply::Error(text);
    }
    if let Value::String(s) = field(t, "ok") {
        return Reply::Status(String::from_utf8_lossy(&s.as_bytes()).replace(['\r', '\n'], " "));
    }
    match field(t, "double") {
        Value::Number(n) => return Reply::Double(format_g17(n)),
        Value::Integer(n) => return Reply::Double(format_g17(n as f64)),
        _ => {}
    }
    if let Value::String(s) = field(t, "big_number") {
        return Reply::Bulk(s.as_bytes().to_vec());
    }
    if let Value::Table(v) = field(t, "verbatim_string") {
        if let Value::String(s) = field(&v, "string") {
            return Reply::Bulk(s.as_bytes().to_vec());
        }
    }
    if let Value::Table(map) = field(t, "map") {
        let mut pairs = Vec::new();
        let _ = map.for_each(|k: Value, v: Value| {
            pairs.push((
                to_reply(&k, resp3, depth + 1),
                to_reply(&v, resp3, depth + 1),
            ));
            Ok(())
        });
        return Reply::Map(pairs);
    }
    if let Value::Table(set) = field(t, "set") {
        let mut items = Vec::new();
        let _ = set.for_each(|k: Value, _v: Value| {
            items.push(to_reply(&k, resp3, depth + 1));
            Ok(())
        });
        return Reply::Set(items);
    }
    let mut items = Vec::new();
    for i in 1.. {
        match t.raw_get::<Value>(i).unwrap_or(Value::Nil) {
            Value::Nil => break,
            v => {
                let item = to_reply(&v, resp3, depth + 1);
                let stop = depth + 1 > MAX_DEPTH;
                items.push(item);
                if stop {
                    break;
                }
            }
        }
    }
    Reply::Array(items)
}

/// A Lua number as `redis.call` passes it: C's `%.17g` (Redis' `luaArgsToRedisArgv`), so
/// 3 is "3" and 0.1 is "0.10000000000000001".
pub fn format_g17(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if n.is_infinite() {
        return if n < 0.0 { "-inf" } else { "inf" }.into();
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0" } else { "0" }.into();
    }
    format_g(n, 17)
}

/// A finite, non-zero number as C's `%.{digits}g` prints it: `digits` significant digits, the
/// exponent after rounding deciding between fixed and scientific notation, trailing zeros cut.
pub fn format_g(n: f64, digits: i32) -> String {
    let sci = format!("{n:.*e}", (digits - 1) as usize);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let trim = |s: &str| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    if (-4..digits).contains(&exp) {
        trim(&format!("{n:.*}", (digits - 1 - exp) as usize))
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{}e{sign}{:02}", trim(mantissa), exp.abs())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a script's number out of the integer range replies as Redis on x86-64 (the C cast's
    /// i64::MIN), not a saturated value. (Seen with struct.unpack('I9', …) against redis-server.)
    #[test]
    fn numbers_out_of_range_reply_as_the_c_cast() {
        assert_eq!(lua_integer(3.9), 3);
        assert_eq!(lua_integer(-3.9), -3);
        assert_eq!(lua_integer(1e19), i64::MIN);
        assert_eq!(lua_integer(-1e19), i64::MIN);
        assert_eq!(lua_integer(f64::NAN), i64::MIN);
        assert_eq!(lua_integer(-9_223_372_036_854_775_808.0), i64::MIN);
        assert_eq!(lua_integer(9.0e18), 9_000_000_000_000_000_000);
    }

    #[test]
    fn numbers_format_as_c_does_with_17_digits() {
        assert_eq!(format_g17(3.0), "3");
        assert_eq!(format_g17(-12.0), "-12");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(100.5), "100.5");
        assert_eq!(format_g17(9007199254740991.0), "9007199254740991");
        assert_eq!(format_g17(1152921504606846976.0), "1.152921504606847e+18");
        assert_eq!(format_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(format_g17(0.0001), "0.0001");
        assert_eq!(format_g17(f64::INFINITY), "inf");
    }

    #[test]
    fn error_texts_get_a_code() {
        assert_eq!(error_text("ERR wrong"), "ERR wrong");
        assert_eq!(error_text("-My Error"), "My Error");
        assert_eq!(error_text("Oops"), "ERR Oops");
        assert_eq!(error_text("WRONGTYPE x\r\n"), "WRONGTYPE x");
    }
}
