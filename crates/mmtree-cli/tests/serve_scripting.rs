//! Lua scripting in `mmtree serve` (EVAL family, SCRIPT, FUNCTION/FCALL), through a real client.

mod common;

use common::*;
use redis::Value as V;
use std::io::Write;

fn eval<T: redis::FromRedisValue>(c: &mut redis::Connection, script: &str, args: &[&str]) -> T {
    let mut all = vec!["EVAL", script];
    all.extend_from_slice(args);
    cmd::<T>(c, &all).unwrap_or_else(|e| panic!("{script}: {e}"))
}

fn eval_err(c: &mut redis::Connection, script: &str, args: &[&str]) -> String {
    let mut all = vec!["EVAL", script];
    all.extend_from_slice(args);
    err_of::<V>(c, &all)
}

/// The Redis → Lua and Lua → Redis conversions of Redis 7.0, both ways.
#[test]
fn values_convert_as_redis_converts_them() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("conv.mmt"), &[]);
    let mut c = server.client();
    // Lua → Redis.
    assert_eq!(eval::<String>(&mut c, "return 'hello'", &["0"]), "hello");
    assert_eq!(eval::<i64>(&mut c, "return 100.5", &["0"]), 100);
    assert_eq!(eval::<i64>(&mut c, "return -3.9", &["0"]), -3);
    assert_eq!(eval::<i64>(&mut c, "return true", &["0"]), 1);
    assert_eq!(eval::<V>(&mut c, "return false", &["0"]), V::Nil);
    assert_eq!(eval::<V>(&mut c, "return nil", &["0"]), V::Nil);
    assert_eq!(
        eval::<V>(&mut c, "return {ok='fine'}", &["0"]),
        V::SimpleString("fine".into())
    );
    assert_eq!(
        eval_err(&mut c, "return {err='ERR this is an error'}", &["0"]),
        "ResponseError: this is an error"
    );
    assert_eq!(
        eval::<V>(&mut c, "return {1,2,3,'ciao',{1,2}}", &["0"]),
        V::Array(vec![
            V::Int(1),
            V::Int(2),
            V::Int(3),
            V::BulkString(b"ciao".to_vec()),
            V::Array(vec![V::Int(1), V::Int(2)])
        ])
    );
    // An array ends at its first nil; a table's metatable never runs.
    assert_eq!(eval::<Vec<i64>>(&mut c, "return {1, nil, 3}", &["0"]), [1]);
    assert_eq!(
        eval::<Vec<i64>>(
            &mut c,
            "local a = {}; setmetatable(a,{__index=function() redis.call('set','x','1') end}) return a",
            &["0"]
        ),
        Vec::<i64>::new()
    );
    assert_eq!(cmd::<Option<String>>(&mut c, &["GET", "x"]).unwrap(), None);
    assert_eq!(
        eval::<Vec<String>>(
            &mut c,
            "return {KEYS[1],KEYS[2],ARGV[1],ARGV[2]}",
            &["2", "a", "b", "c", "d"]
        ),
        ["a", "b", "c", "d"]
    );
    // Redis → Lua.
    let _: () = cmd(&mut c, &["SET", "x", "0"]).unwrap();
    let typed = "local v = redis.pcall(ARGV[1], KEYS[1]) return {type(v), v}";
    assert_eq!(
        eval::<V>(&mut c, typed, &["1", "x", "incr"]),
        V::Array(vec![V::BulkString(b"number".to_vec()), V::Int(1)])
    );
    assert_eq!(
        eval::<Vec<String>>(&mut c, typed, &["1", "x", "get"]),
        ["string", "1"]
    );
    assert_eq!(
        eval::<Vec<String>>(
            &mut c,
            "local v = redis.pcall('get', KEYS[1]) return {type(v), tostring(v)}",
            &["1", "nokey"]
        ),
        ["boolean", "false"]
    );
    let _: () = cmd(&mut c, &["RPUSH", "l", "a", "b", "c"]).unwrap();
    assert_eq!(
        eval::<Vec<String>>(
            &mut c,
            "local v = redis.call('lrange', KEYS[1], 0, -1) return {type(v), v[1], v[3], #v}",
            &["1", "l"]
        ),
        ["table", "a", "c", "3"]
    );
    assert_eq!(
        eval::<Vec<String>>(
            &mut c,
            "local v = redis.call('set', KEYS[1], 'y') return {type(v), v.ok}",
            &["1", "s"]
        ),
        ["table", "OK"]
    );
    assert_eq!(
        eval::<Vec<String>>(
            &mut c,
            "local v = redis.pcall('incr', KEYS[1]) return {type(v), v.err}",
            &["1", "s"]
        ),
        ["table", "ERR value is not an integer or out of range"]
    );
    // Numbers as arguments: C's %.17g, as Redis passes them.
    assert_eq!(
        eval::<String>(
            &mut c,
            "redis.call('set', 'n', 9007199254740991) redis.call('set', 'f', 0.1) return redis.call('get', 'n') .. ' ' .. redis.call('get', 'f')",
            &["0"]
        ),
        "9007199254740991 0.10000000000000001"
    );
    assert!(
        eval_err(&mut c, "return redis.call('set', 'k', {})", &["0"])
            .contains("Lua redis lib command arguments must be strings or integers")
    );
    assert_eq!(
        eval::<String>(&mut c, "return redis.sha1hex('Pizza & Mandolino')", &["0"]),
        "74822d82031af7493c20eefa13bd07ec4fada82f"
    );
    assert_eq!(
        eval::<V>(&mut c, "return redis.status_reply('FINE')", &["0"]),
        V::SimpleString("FINE".into())
    );
    assert!(eval_err(&mut c, "return redis.error_reply('MY err')", &["0"]).contains("MY"));
    let _: () = eval(&mut c, "redis.log(redis.LOG_NOTICE, 'from a test')", &["0"]);
    // cjson and bit, as Redis bundles them.
    assert_eq!(
        eval::<String>(
            &mut c,
            "return table.concat(cjson.decode('[0.0, -5e3, -1, 0.3e-3, 1023.2, 0e10]'), ' ')",
            &["0"]
        ),
        "0 -5000 -1 0.0003 1023.2 0"
    );
    assert_eq!(
        eval::<String>(
            &mut c,
            "return cjson.encode({1, 'a/b', {k = 1.5}, true, cjson.null})",
            &["0"]
        ),
        r#"[1,"a\/b",{"k":1.5},true,null]"#
    );
    assert_eq!(
        eval::<String>(
            &mut c,
            "local ok, e = pcall(cjson.encode, {num = 0/0}) return tostring(ok) .. ': ' .. e",
            &["0"]
        ),
        "false: Cannot serialise number: must not be NaN or Inf"
    );
    assert!(eval_err(
        &mut c,
        "local t = {} t[1] = t return cjson.encode(t)",
        &["0"]
    )
    .contains("excessive nesting"));
    assert_eq!(
        eval::<String>(
            &mut c,
            "return bit.band(7, 3) .. bit.bor(1, 2, 4) .. bit.bxor(1, 3) .. ' ' .. bit.tohex(255) .. ' ' .. bit.lshift(1, 31)",
            &["0"]
        ),
        "372 000000ff -2147483648"
    );

    // RESP3: redis.setresp(3) gives maps, doubles, booleans; the reply is in the client's
    // protocol.
    let _: () = cmd(&mut c, &["HSET", "h", "f", "v"]).unwrap();
    let mut raw = server.raw();
    raw.write_all(resp(&["HELLO", "3"]).as_bytes()).unwrap();
    let _ = read_reply(&mut raw);
    exchange(
        &mut raw,
        &[
            &[
                "EVAL",
                "redis.setresp(3) return redis.call('hgetall', KEYS[1])",
                "1",
                "h",
            ],
            &[
                "EVAL",
                "redis.setresp(3) local m = redis.call('hgetall', KEYS[1]).map return m.f",
                "1",
                "h",
            ],
            &["EVAL", "redis.setresp(3) return {double=1.5}", "0"],
            &["EVAL", "redis.setresp(3) return true", "0"],
            &["EVAL", "return redis.call('hgetall', KEYS[1])", "1", "h"],
        ],
        "%1\r\n$1\r\nf\r\n$1\r\nv\r\n$1\r\nv\r\n,1.5\r\n#t\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n",
    );
}

/// A script sees its own writes, its writes are one commit, no other client sees them before
/// it ends, and inside MULTI it runs in its place.
#[test]
fn a_script_is_atomic_and_isolated() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("atomic.mmt"), &[]);
    let mut c = server.client();
    let commits = |c: &mut redis::Connection| -> i64 {
        let info: String = cmd(c, &["INFO", "persistence"]).unwrap();
        info.lines()
            .find_map(|l| l.strip_prefix("mmtree_commits:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let before = commits(&mut c);
    let got: Vec<String> = eval(
        &mut c,
        "redis.call('set', KEYS[1], 'a') redis.call('append', KEYS[1], 'b') redis.call('rpush', KEYS[2], redis.call('get', KEYS[1])) return {redis.call('get', KEYS[1]), redis.call('lindex', KEYS[2], 0)}",
        &["2", "k", "list"],
    );
    assert_eq!(got, ["ab", "ab"]);
    assert_eq!(commits(&mut c), before + 1, "three writes, one commit");

    // A script stopped by an error keeps the writes before it (as Redis), in one commit.
    assert!(eval_err(
        &mut c,
        "redis.call('set', 'half', '1') error('stop here')",
        &["0"]
    )
    .contains("stop here"));
    assert_eq!(cmd::<String>(&mut c, &["GET", "half"]).unwrap(), "1");

    // Isolation: while the script runs (its write made, not committed), another client reads
    // the state before it. FUNCTION STATS answers BUSY exactly while an EVAL runs, so the read is
    // known to have happened during the script when STATS said BUSY before and after it.
    let _: () = cmd(&mut c, &["CONFIG", "SET", "lua-time-limit", "100000"]).unwrap();
    let mut other = server.client();
    let mut iterations = 20_000_000u64;
    loop {
        let port = server.port;
        let n = iterations.to_string();
        let runner = std::thread::spawn(move || {
            let mut c = connect(port);
            let _: () = cmd(&mut c, &["DEL", "iso"]).unwrap();
            cmd::<String>(
                &mut c,
                &[
                    "EVAL",
                    "redis.call('set', KEYS[1], 'mine') for i = 1, tonumber(ARGV[1]) do end return redis.call('get', KEYS[1])",
                    "1",
                    "iso",
                    &n,
                ],
            )
            .unwrap()
        });
        let running = |o: &mut redis::Connection| {
            cmd::<V>(o, &["FUNCTION", "STATS"])
                .is_err_and(|e| e.to_string().to_ascii_uppercase().contains("BUSY"))
        };
        let mut seen = None;
        while !runner.is_finished() {
            if running(&mut other) {
                let during = cmd::<Option<String>>(&mut other, &["GET", "iso"]).unwrap();
                if running(&mut other) {
                    seen = Some(during);
                    break;
                }
            }
        }
        assert_eq!(
            runner.join().unwrap(),
            "mine",
            "the script reads its own write"
        );
        match seen {
            Some(during) => {
                assert_eq!(during, None, "another client saw an uncommitted write");
                break;
            }
            // The script ended before a read fell inside it: a longer one.
            None => iterations *= 4,
        }
        assert!(
            iterations < 10_000_000_000,
            "never caught the script running"
        );
    }
    assert_eq!(cmd::<String>(&mut other, &["GET", "iso"]).unwrap(), "mine");

    // Inside MULTI: queued, then run in its place in EXEC.
    let mut raw = server.raw();
    exchange(
        &mut raw,
        &[
            &["MULTI"],
            &["SET", "m", "1"],
            &["EVAL", "return redis.call('incr', KEYS[1])", "1", "m"],
            &["GET", "m"],
            &["EXEC"],
        ],
        "+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n*3\r\n+OK\r\n:2\r\n$1\r\n2\r\n",
    );
    // SELECT inside a script is the script's own.
    assert_eq!(
        eval::<String>(
            &mut c,
            "redis.call('select', 1) redis.call('set', 'db1key', 'one') return 'ok'",
            &["0"]
        ),
        "ok"
    );
    assert_eq!(
        cmd::<Option<String>>(&mut c, &["GET", "db1key"]).unwrap(),
        None
    );
    let _: () = cmd(&mut c, &["SELECT", "1"]).unwrap();
    assert_eq!(cmd::<String>(&mut c, &["GET", "db1key"]).unwrap(), "one");
}

/// EVAL_RO, `#!lua flags=no-writes` and FCALL_RO refuse writes; the script cache: EVALSHA,
/// SCRIPT LOAD/EXISTS/FLUSH, NOSCRIPT.
#[test]
fn read_only_scripts_and_the_script_cache() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("ro.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["SET", "foo", "bar"]).unwrap();
    assert_eq!(
        cmd::<String>(
            &mut c,
            &["EVAL_RO", "return redis.call('get', KEYS[1])", "1", "foo"]
        )
        .unwrap(),
        "bar"
    );
    let e = err_of::<V>(
        &mut c,
        &["EVAL_RO", "redis.call('del', KEYS[1])", "1", "foo"],
    );
    assert!(
        e.contains("Write commands are not allowed from read-only scripts"),
        "{e}"
    );
    let e = eval_err(
        &mut c,
        "#!lua flags=no-writes\nredis.call('del', 'foo')",
        &["0"],
    );
    assert!(
        e.contains("Write commands are not allowed from read-only scripts"),
        "{e}"
    );
    let e = err_of::<V>(&mut c, &["EVAL_RO", "#!lua\nreturn 1", "0"]);
    assert!(
        e.contains("Can not execute a script with write flag using *_ro command"),
        "{e}"
    );
    assert_eq!(cmd::<String>(&mut c, &["GET", "foo"]).unwrap(), "bar");

    // The cache: EVAL caches; EVALSHA in any case; SCRIPT LOAD/EXISTS/FLUSH.
    let script = "return redis.call('get',KEYS[1])";
    assert_eq!(eval::<String>(&mut c, script, &["1", "foo"]), "bar");
    let sha = "4e6d8fc8bb01276962cce5371fa795a7763657ae";
    assert_eq!(
        cmd::<String>(&mut c, &["EVALSHA", sha, "1", "foo"]).unwrap(),
        "bar"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["EVALSHA", &sha.to_uppercase(), "1", "foo"]).unwrap(),
        "bar"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["EVALSHA_RO", sha, "1", "foo"]).unwrap(),
        "bar"
    );
    for bad in ["NotValidShaSUM", "ffd632c7d33e571e9f24556ebed26c3479a87130"] {
        let e = err_of::<V>(&mut c, &["EVALSHA", bad, "0"]);
        assert!(e.contains("No matching script"), "{e}");
    }
    let loaded: String = cmd(&mut c, &["SCRIPT", "LOAD", "return 'loaded'"]).unwrap();
    assert_eq!(
        cmd::<Vec<i64>>(&mut c, &["SCRIPT", "EXISTS", &loaded, sha, "abc"]).unwrap(),
        [1, 1, 0]
    );
    assert_eq!(
        cmd::<String>(&mut c, &["EVALSHA", &loaded, "0"]).unwrap(),
        "loaded"
    );
    let e = err_of::<V>(&mut c, &["SCRIPT", "LOAD", "return +"]);
    assert!(e.contains("Error compiling script"), "{e}");
    let _: () = cmd(&mut c, &["SCRIPT", "FLUSH"]).unwrap();
    assert_eq!(
        cmd::<Vec<i64>>(&mut c, &["SCRIPT", "EXISTS", &loaded, sha]).unwrap(),
        [0, 0]
    );
    assert!(err_of::<V>(&mut c, &["EVALSHA", &loaded, "0"]).contains("No matching script"));
    // numkeys.
    assert!(eval_err(&mut c, "return 1", &["-1"]).contains("can't be negative"));
    assert!(eval_err(&mut c, "return 1", &["3", "a"]).contains("greater than number of args"));
    assert!(eval_err(&mut c, "return 1", &["x"]).contains("not an integer"));

    // Functions.
    let lib = "#!lua name=mylib\nredis.register_function('setit', function(keys, args) return redis.call('set', keys[1], args[1]) end)\nredis.register_function{function_name='getit', callback=function(keys, args) return redis.call('get', keys[1]) end, flags={'no-writes'}, description='reads'}";
    assert_eq!(
        cmd::<String>(&mut c, &["FUNCTION", "LOAD", lib]).unwrap(),
        "mylib"
    );
    assert!(err_of::<V>(&mut c, &["FUNCTION", "LOAD", lib]).contains("already exists"));
    assert_eq!(
        cmd::<String>(&mut c, &["FUNCTION", "LOAD", "REPLACE", lib]).unwrap(),
        "mylib"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["FCALL", "setit", "1", "fk", "fv"]).unwrap(),
        "OK"
    );
    assert_eq!(
        cmd::<String>(&mut c, &["FCALL_RO", "getit", "1", "fk"]).unwrap(),
        "fv"
    );
    // Function names are found in any case, as Redis'.
    assert_eq!(
        cmd::<String>(&mut c, &["FCALL_RO", "GETIT", "1", "fk"]).unwrap(),
        "fv"
    );
    let e = err_of::<V>(&mut c, &["FCALL_RO", "setit", "1", "fk", "x"]);
    assert!(
        e.contains("Can not execute a script with write flag"),
        "{e}"
    );
    assert!(err_of::<V>(&mut c, &["FCALL", "nope", "0"]).contains("Function not found"));
    let list: V = cmd(&mut c, &["FUNCTION", "LIST"]).unwrap();
    let shown = format!("{list:?}");
    for part in ["mylib", "setit", "getit", "reads", "no-writes", "LUA"] {
        assert!(shown.contains(part), "{part} in {shown}");
    }
    let e = err_of::<V>(
        &mut c,
        &["FUNCTION", "LOAD", "#!lua name=slow\nwhile true do end"],
    );
    assert!(e.contains("FUNCTION LOAD timeout"), "{e}");
    let e = err_of::<V>(
        &mut c,
        &[
            "FUNCTION",
            "LOAD",
            "#!lua name=other\nredis.register_function('setit', function() end)",
        ],
    );
    assert!(e.contains("Function setit already exists"), "{e}");
    // DUMP and RESTORE (a payload of ours): all or nothing, with Redis' policies.
    let dump: Vec<u8> = cmd(&mut c, &["FUNCTION", "DUMP"]).unwrap();
    let mut restore = redis::cmd("FUNCTION");
    restore.arg("RESTORE").arg(&dump);
    let e = restore.query::<V>(&mut c).unwrap_err().to_string();
    assert!(e.contains("already exists"), "{e}");
    let mut restore = redis::cmd("FUNCTION");
    restore.arg("RESTORE").arg(&dump).arg("REPLACE");
    assert_eq!(restore.query::<String>(&mut c).unwrap(), "OK");
    let mut bad = dump.clone();
    bad[6] ^= 1;
    let mut restore = redis::cmd("FUNCTION");
    restore.arg("RESTORE").arg(&bad).arg("FLUSH");
    let e = restore.query::<V>(&mut c).unwrap_err().to_string();
    assert!(e.contains("payload version or checksum are wrong"), "{e}");
    assert_eq!(
        cmd::<String>(&mut c, &["FCALL", "setit", "1", "fk", "again"]).unwrap(),
        "OK"
    );
    let _: () = cmd(&mut c, &["FUNCTION", "DELETE", "mylib"]).unwrap();
    let mut restore = redis::cmd("FUNCTION");
    restore.arg("RESTORE").arg(&dump);
    assert_eq!(restore.query::<String>(&mut c).unwrap(), "OK");
    let _: () = cmd(&mut c, &["FUNCTION", "DELETE", "mylib"]).unwrap();
    // A quoted library name, as Redis splits the shebang.
    assert_eq!(
        cmd::<String>(
            &mut c,
            &[
                "FUNCTION",
                "LOAD",
                "#!lua name=\"quoted\"\nredis.register_function('q', function() return 1 end)"
            ]
        )
        .unwrap(),
        "quoted"
    );
    let _: () = cmd(&mut c, &["FUNCTION", "DELETE", "quoted"]).unwrap();
    assert!(err_of::<V>(&mut c, &["FCALL", "setit", "1", "a", "b"]).contains("Function not found"));
    assert_eq!(
        cmd::<V>(&mut c, &["FUNCTION", "LIST"]).unwrap(),
        V::Array(vec![])
    );
}

/// A runaway script makes other clients get BUSY after lua-time-limit; SCRIPT KILL stops a
/// read-only one (even one catching errors with pcall, or looping in a coroutine), not one that
/// wrote.
#[test]
fn script_kill_stops_a_runaway_read_only_script() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("kill.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["CONFIG", "SET", "lua-time-limit", "50"]).unwrap();
    assert!(err_of::<V>(&mut c, &["SCRIPT", "KILL"]).contains("No scripts in execution"));
    let run = |script: &'static str| {
        let port = server.port;
        std::thread::spawn(move || {
            let mut c = connect(port);
            cmd::<V>(&mut c, &["EVAL", script, "0"])
        })
    };
    let wait_busy = |c: &mut redis::Connection| loop {
        match cmd::<String>(c, &["PING"]) {
            Err(e) if e.to_string().to_ascii_uppercase().contains("BUSY") => break,
            Ok(pong) => assert_eq!(pong, "PONG"),
            Err(e) => panic!("{e}"),
        }
    };
    for script in [
        "while true do end",
        "local i = 0 while true do pcall(function() while true do i = i + 1 end end) end",
        "local co = coroutine.wrap(function() while true do end end) co()",
    ] {
        let runner = run(script);
        wait_busy(&mut c);
        let e = err_of::<V>(&mut c, &["GET", "x"]);
        assert!(e.to_ascii_uppercase().contains("BUSY"), "{e}");
        // Of the scripting subcommands, only KILL (and FUNCTION STATS) are served.
        for other in [&["SCRIPT", "EXISTS", "x"][..], &["FUNCTION", "LIST"]] {
            let e = err_of::<V>(&mut c, other);
            assert!(e.to_ascii_uppercase().contains("BUSY"), "{other:?}: {e}");
        }
        assert!(err_of::<V>(&mut c, &["FUNCTION", "KILL"]).contains("SCRIPT KILL"));
        assert_eq!(cmd::<String>(&mut c, &["SCRIPT", "KILL"]).unwrap(), "OK");
        let e = runner.join().unwrap().unwrap_err().to_string();
        assert!(e.contains("killed by user"), "{script}: {e}");
        assert_eq!(cmd::<String>(&mut c, &["PING"]).unwrap(), "PONG");
    }
    // A script that wrote cannot be killed: it runs to its end (here: two seconds of TIME).
    let runner = run("redis.call('set', 'w', 'x') local t = tonumber(redis.call('time')[1]) while tonumber(redis.call('time')[1]) - t < 2 do end return 'done'");
    wait_busy(&mut c);
    assert!(err_of::<V>(&mut c, &["SCRIPT", "KILL"]).contains("already executed write commands"));
    assert_eq!(
        runner.join().unwrap().unwrap(),
        V::BulkString(b"done".to_vec())
    );
    assert_eq!(cmd::<String>(&mut c, &["GET", "w"]).unwrap(), "x");
}

/// Hostile scripts get error replies and the server goes on: errors of every type, deep
/// recursion, a self-referencing reply, an allocation over the memory limit, oversized keys,
/// the sandbox and the protected globals.
#[test]
fn hostile_scripts_get_errors_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("hostile.mmt"), &[]);
    let mut c = server.client();
    for (script, expect) in [
        ("error('boom')", "boom"),
        ("error({})", "unknown error"),
        ("error(nil)", "nil"),
        ("error(true)", "true"),
        (
            "error(setmetatable({}, {__tostring = function() error('again') end}))",
            "unknown error",
        ),
        (
            "error(setmetatable({}, {__index = function() error('again') end}))",
            "unknown error",
        ),
        (
            "local function f() return f() + 1 end return f()",
            "stack overflow",
        ),
        ("return string.rep('x', 2^30 + 2^29)", "not enough memory"),
        (
            "return redis.call('nosuchcommand')",
            "Unknown Redis command called from script",
        ),
        (
            "return redis.call('get', 'a', 'b')",
            "Wrong number of args calling Redis command from script",
        ),
        (
            "return redis.call()",
            "Please specify at least one argument",
        ),
        (
            "return redis.call('eval', 'return 1', 0)",
            "not allowed from script",
        ),
        ("return redis.call('multi')", "not allowed from script"),
        (
            "return redis.call('script', 'flush')",
            "not allowed from script",
        ),
        (
            "return redis.call('set', string.rep('k', 2000000), 'v')",
            "key too large",
        ),
        (
            "return redis.call('get', string.rep('k', 2000000))",
            "key too large",
        ),
        (
            "return a",
            "Script attempted to access nonexistent global variable 'a'",
        ),
        ("a = 10", "Attempt to modify a readonly table"),
        (
            "redis.call = function() end",
            "Attempt to modify a readonly table",
        ),
        ("_G.x = 1", "Attempt to modify a readonly table"),
        ("setmetatable(_G, {})", "Attempt to modify a readonly table"),
        ("rawset(_G, 'x', 1)", "Attempt to modify a readonly table"),
        (
            "loadstring('y = 1')()",
            "Attempt to modify a readonly table",
        ),
        (
            "return loadstring(string.dump(function() return 1 end))()",
            "attempt to call a nil value",
        ),
        ("getmetatable('').__index.upper = nil", "attempt to index"),
        (
            "getfenv(redis.call).x = 1",
            "Attempt to modify a readonly table",
        ),
        ("getfenv(0).x = 1", "Attempt to modify a readonly table"),
        ("return os.time()", "nonexistent global variable 'os'"),
        (
            "return io.open('/etc/passwd')",
            "nonexistent global variable 'io'",
        ),
        (
            "loadfile('/etc/passwd')",
            "nonexistent global variable 'loadfile'",
        ),
        (
            "dofile('/etc/passwd')",
            "nonexistent global variable 'dofile'",
        ),
        (
            "return debug.getinfo(1)",
            "nonexistent global variable 'debug'",
        ),
        (
            "return require('os')",
            "nonexistent global variable 'require'",
        ),
        ("return +", "Error compiling script"),
    ] {
        let e = eval_err(&mut c, script, &["0"]);
        assert!(e.contains(expect), "{script}: {e}");
        assert_eq!(
            cmd::<String>(&mut c, &["PING"]).unwrap(),
            "PONG",
            "{script}"
        );
    }
    // A self-referencing table: nested arrays down to Redis' error.
    let mut raw = server.raw();
    raw.write_all(
        resp(&[
            "EVAL",
            "local a = {}; local b = {a}; a[1] = b; return a",
            "0",
        ])
        .as_bytes(),
    )
    .unwrap();
    let mut replies = Replies::new(&raw);
    let mut v = replies.next();
    let mut depth = 0;
    while let common::Value::Array(items) = v {
        assert_eq!(items.len(), 1);
        v = items.into_iter().next().unwrap();
        depth += 1;
    }
    assert!(depth > 10);
    assert_eq!(
        v,
        common::Value::Error("ERR reached lua stack limit".into())
    );
    // Recursion through pcall ends in Lua's C-stack error, caught by the script's pcall.
    let _: V = eval(
        &mut c,
        "local function f() return pcall(f) end return f()",
        &["0"],
    );
    // The globals stayed clean for the next script.
    assert_eq!(
        eval::<String>(
            &mut c,
            "return tostring(pcall(function() return x end)) .. tostring(pcall(function() return y end))",
            &["0"]
        ),
        "falsefalse"
    );
    assert_eq!(eval::<String>(&mut c, "return ('x'):upper()", &["0"]), "X");
    // A command with thousands of arguments (Redis' "unpack with massive arguments").
    assert_eq!(
        eval::<i64>(
            &mut c,
            "local a = {} for i = 1, 7999 do a[i] = 1 end return redis.call('lpush', 'massive', unpack(a))",
            &["0"]
        ),
        7999
    );
    // And a script working through a large table is fine.
    assert_eq!(
        eval::<i64>(
            &mut c,
            "local t = {} for i = 1, 100000 do t[i] = i end return #t",
            &["0"]
        ),
        100000
    );
}

/// SCRIPT's and FUNCTION's subcommands are entries of the command table: Redis' words for a
/// wrong arity and an unknown subcommand, their HELP, and MULTI refusing a wrong arity when
/// queued (the hand dispatch queued them and answered only after EXEC).
#[test]
fn scripting_subcommands_come_from_the_command_table() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("table.mmt"), &[]);
    let mut c = server.client();
    for (request, expect) in [
        (
            &["FUNCTION", "DELETE"][..],
            "wrong number of arguments for 'function|delete' command",
        ),
        (
            &["FUNCTION", "stats", "x"],
            "wrong number of arguments for 'function|stats' command",
        ),
        (
            &["SCRIPT", "LOAD"],
            "wrong number of arguments for 'script|load' command",
        ),
        (
            &["SCRIPT", "KILL", "x"],
            "wrong number of arguments for 'script|kill' command",
        ),
        (
            &["FUNCTION", "NOPE"],
            "unknown subcommand 'NOPE'. Try FUNCTION HELP.",
        ),
        (
            &["script", "nope", "x"],
            "unknown subcommand 'nope'. Try SCRIPT HELP.",
        ),
        (
            &["FUNCTION"],
            "wrong number of arguments for 'function' command",
        ),
        (
            &["FUNCTION", "FLUSH", "SYNC", "x"],
            "unknown subcommand or wrong number of arguments for 'flush'. Try FUNCTION HELP.",
        ),
    ] {
        let e = err_of::<V>(&mut c, request);
        assert!(e.contains(expect), "{request:?}: {e}");
    }
    let help: Vec<String> = cmd(&mut c, &["SCRIPT", "HELP"]).unwrap();
    assert_eq!(help.len(), 11);
    assert_eq!(
        help[0],
        "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    );
    let help: Vec<String> = cmd(&mut c, &["FUNCTION", "HELP"]).unwrap();
    assert_eq!(help.len(), 19);
    assert_eq!(help[1], "LOAD [REPLACE] <FUNCTION CODE>");
    assert_eq!(help[18], "    Prints this help.");
    // Inside MULTI a wrong arity is refused as it is queued.
    let mut pipe = redis::pipe();
    pipe.cmd("MULTI")
        .cmd("FUNCTION")
        .arg("DUMP")
        .arg("x")
        .cmd("EXEC");
    let e = pipe.query::<V>(&mut c).unwrap_err().to_string();
    assert!(
        e.contains("'function|dump'") && e.contains("Transaction discarded"),
        "{e}"
    );
    // A valid one is queued and runs at EXEC.
    let mut pipe = redis::pipe();
    pipe.atomic().cmd("SCRIPT").arg("EXISTS").arg("0");
    assert_eq!(pipe.query::<Vec<Vec<i64>>>(&mut c).unwrap(), [[0]]);
}

/// FUNCTION libraries are saved with the data (as Redis keeps them in its RDB and AOF): a
/// restart serves them; FUNCTION DELETE is saved too. The script cache is not (as Redis').
#[test]
fn function_libraries_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("saved.mmt");
    let server = Server::start(&path, &[]);
    let mut c = server.client();
    for lib in ["keep", "gone"] {
        let code = format!(
            "#!lua name={lib}\nredis.register_function('{lib}_f', function(keys, args) return '{lib}' end)"
        );
        assert_eq!(
            cmd::<String>(&mut c, &["FUNCTION", "LOAD", &code]).unwrap(),
            lib
        );
    }
    let _: () = cmd(&mut c, &["FUNCTION", "DELETE", "gone"]).unwrap();
    let sha: String = cmd(&mut c, &["SCRIPT", "LOAD", "return 1"]).unwrap();
    // (The writer saves them in its next commit, one of its own if no job comes, or as it
    // stops.)
    assert!(server.stop().success());
    let server = Server::start(&path, &[]);
    let mut c = server.client();
    assert_eq!(
        cmd::<String>(&mut c, &["FCALL", "keep_f", "0"]).unwrap(),
        "keep"
    );
    assert!(err_of::<V>(&mut c, &["FCALL", "gone_f", "0"]).contains("Function not found"));
    assert_eq!(
        cmd::<Vec<i64>>(&mut c, &["SCRIPT", "EXISTS", &sha]).unwrap(),
        [0]
    );
}

/// A library FUNCTION LOAD acknowledged survives a SIGKILL right after the reply (it was saved
/// only with the writer's next group commit, so an idle server lost it).
#[test]
fn an_acknowledged_function_load_survives_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fn.mmt");
    let mut server = Server::start(&db, &[]);
    let mut c = server.client();
    let code =
        "#!lua name=kept\nredis.register_function('kept_f', function(keys, args) return 7 end)";
    assert_eq!(
        cmd::<String>(&mut c, &["FUNCTION", "LOAD", code]).unwrap(),
        "kept"
    );
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    drop(server);
    let server = Server::start(&db, &[]);
    let mut c = server.client();
    assert_eq!(cmd::<i64>(&mut c, &["FCALL", "kept_f", "0"]).unwrap(), 7);
    assert_eq!(
        cmd::<String>(&mut c, &["FUNCTION", "DELETE", "kept"]).unwrap(),
        "OK"
    );
}

/// EXEC refused because a script runs past its time limit discards the transaction (as Redis:
/// `EXECABORT … because of: BUSY …`) and leaves MULTI; it left the connection in MULTI, so
/// every later command was QUEUED (Redis' multi unit hung on "just EXEC and script timeout").
#[test]
fn exec_refused_by_a_busy_script_leaves_multi() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("busyexec.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["CONFIG", "SET", "lua-time-limit", "10"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "xx", "1"]).unwrap();
    let mut t = server.raw();
    t.write_all(resp(&["MULTI"]).as_bytes()).unwrap();
    assert_eq!(read_reply(&mut t), "+OK\r\n");
    t.write_all(resp(&["INCR", "xx"]).as_bytes()).unwrap();
    assert_eq!(read_reply(&mut t), "+QUEUED\r\n");
    let port = server.port;
    let runner = std::thread::spawn(move || {
        let mut c = connect(port);
        cmd::<V>(&mut c, &["EVAL", "while true do end", "0"])
    });
    loop {
        match cmd::<String>(&mut c, &["PING"]) {
            Err(e) if e.to_string().to_ascii_uppercase().contains("BUSY") => break,
            Ok(pong) => assert_eq!(pong, "PONG"),
            Err(e) => panic!("{e}"),
        }
    }
    // MULTI and DISCARD are served while the script runs (Redis' `allow-busy`): only connection
    // state.
    let mut t2 = server.raw();
    t2.write_all(resp(&["MULTI"]).as_bytes()).unwrap();
    assert_eq!(read_reply(&mut t2), "+OK\r\n");
    t2.write_all(resp(&["DISCARD"]).as_bytes()).unwrap();
    assert_eq!(read_reply(&mut t2), "+OK\r\n");
    t.write_all(resp(&["EXEC"]).as_bytes()).unwrap();
    let reply = read_reply(&mut t);
    assert!(
        reply.starts_with("-EXECABORT Transaction discarded because of: BUSY"),
        "{reply:?}"
    );
    assert_eq!(cmd::<String>(&mut c, &["SCRIPT", "KILL"]).unwrap(), "OK");
    assert!(runner.join().unwrap().is_err());
    assert_eq!(cmd::<String>(&mut c, &["GET", "xx"]).unwrap(), "1");
    t.write_all(resp(&["PING", "asdf"]).as_bytes()).unwrap();
    assert_eq!(
        read_reply(&mut t),
        "$4\r\nasdf\r\n",
        "the connection left MULTI"
    );
}

/// Redis' script libraries beyond `redis`: cmsgpack (bytes as lua-cmsgpack packs them, a large
/// map, unpack offsets), cjson's settings; and the refusals Redis 7.0 gives scripts: XREAD or
/// XREADGROUP with BLOCK, CLUSTER.
#[test]
fn script_libraries_and_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("libs.mmt"), &[]);
    let mut c = server.client();
    let hex = "local s = cmsgpack.pack(0.1, -1099511627776, 'abc', {1, 2}) \
               return (string.gsub(s, '.', function(c) return string.format('%02x', c:byte()) end))";
    assert_eq!(
        eval::<String>(&mut c, hex, &["0"]),
        "cb3fb999999999999ad3ffffff0000000000a3616263920102"
    );
    let big = "local t = {} for i = 1, 100000 do t['k' .. i] = i end \
               local back = cmsgpack.unpack(cmsgpack.pack(t)) return back.k99999";
    assert_eq!(eval::<i64>(&mut c, big, &["0"]), 99999);
    let offsets = "local s = cmsgpack.pack('a', 'b') \
                   local o1, a = cmsgpack.unpack_one(s) local o2, b = cmsgpack.unpack_one(s, o1) \
                   return {o1, a, o2, b}";
    assert_eq!(
        eval::<Vec<String>>(&mut c, offsets, &["0"]),
        ["2", "a", "-1", "b"]
    );
    assert!(eval_err(&mut c, "cmsgpack.pack = nil", &["0"]).contains("readonly table"));
    let depth = "cjson.encode_max_depth(1) local ok = pcall(cjson.encode, {{1}}) \
                 cjson.encode_max_depth(1000) return ok and 1 or 0";
    assert_eq!(eval::<i64>(&mut c, depth, &["0"]), 0);
    let nan = "cjson.encode_invalid_numbers(true) local s = cjson.encode({0/0 > 1 and 1 or 1/0}) \
               cjson.encode_invalid_numbers(false) return s";
    assert_eq!(eval::<String>(&mut c, nan, &["0"]), "[inf]");
    let bad_key = eval_err(&mut c, "return cjson.encode({a = {[true] = 1}})", &["0"]);
    assert!(
        bad_key.contains("Cannot serialise table: table key must be a number or string")
            && !bad_key.contains("runtime error"),
        "{bad_key}"
    );

    cmd::<V>(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]).unwrap();
    let read = "return redis.pcall('xread', 'STREAMS', KEYS[1], '$')";
    assert_eq!(eval::<V>(&mut c, read, &["1", "s"]), V::Nil);
    let blocking = "return redis.pcall('xread', 'BLOCK', 0, 'STREAMS', KEYS[1], '$')";
    assert!(eval_err(&mut c, blocking, &["1", "s"])
        .contains("xread command is not allowed with BLOCK option from scripts"));
    let group =
        "return redis.pcall('xreadgroup', 'GROUP', 'g', 'c', 'BLOCK', 0, 'STREAMS', KEYS[1], '>')";
    assert!(eval_err(&mut c, group, &["1", "s"])
        .contains("xreadgroup command is not allowed with BLOCK option from scripts"));
    assert!(eval_err(
        &mut c,
        "return redis.call('cluster', 'reset', 'hard')",
        &["0"]
    )
    .contains("command is not allowed"));
    assert!(err_of::<V>(&mut c, &["CLUSTER", "INFO"]).contains("cluster support disabled"));
    // EVAL's keys are not mandatory (Redis' no-mandatory-keys): GETKEYS of none is empty.
    let keys: Vec<String> = cmd(&mut c, &["COMMAND", "GETKEYS", "EVAL", "return 1", "0"]).unwrap();
    assert!(keys.is_empty());
    let keys: Vec<String> = cmd(&mut c, &["COMMAND", "GETKEYS", "FCALL", "f", "1", "k"]).unwrap();
    assert_eq!(keys, ["k"]);
    assert!(
        err_of::<V>(&mut c, &["COMMAND", "GETKEYS", "ZUNIONSTORE", "d", "0"]).contains("Invalid")
    );
}

/// Goal: the `struct` library of Redis' scripts, through a real client: its bytes, round trips,
/// and its errors in redis-server 7.0.15's words (each compared against redis-server by hand,
/// quirks included: the argument after a short string is named, the caller's line prefixes the
/// message, pcall's call is nameless). The library is read-only, as every global table.
#[test]
fn struct_library_packs_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("struct.mmt"), &[]);
    let mut c = server.client();
    let bytes = |c: &mut redis::Connection, script: &str| eval::<Vec<u8>>(c, script, &["0"]);
    assert_eq!(bytes(&mut c, "return struct.pack('>h', 1)"), [0, 1]);
    assert_eq!(
        bytes(&mut c, "return struct.pack('!<bi', 1, -2)"),
        [1, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff]
    );
    assert_eq!(
        bytes(&mut c, "return struct.pack('>dc0s', 1.5, 'ab', 'c')"),
        [&1.5f64.to_be_bytes()[..], b"abc\0"].concat()
    );
    assert_eq!(
        eval::<Vec<V>>(
            &mut c,
            "return {struct.unpack('>hIc0', struct.pack('>hI', -3, 2) .. 'xyz')}",
            &["0"]
        ),
        vec![V::Int(-3), V::BulkString(b"xy".to_vec()), V::Int(9)]
    );
    assert_eq!(
        eval::<Vec<V>>(
            &mut c,
            "return {struct.unpack('>h', ARGV[1], 3)}",
            &["0", "\x00\x01\x00\x02"]
        ),
        vec![V::Int(2), V::Int(5)]
    );
    assert_eq!(eval::<i64>(&mut c, "return struct.size('!bd')", &["0"]), 16);
    for (script, expect) in [
        (
            "return struct.pack('j', 1)",
            "user_script:1: bad argument #1 to 'pack' (invalid format option 'j')",
        ),
        (
            "return struct.pack('c5', 'abc')",
            "user_script:1: bad argument #3 to 'pack' (string too short)",
        ),
        (
            "return struct.pack('bb', 1)",
            "user_script:1: bad argument #3 to 'pack' (number expected, got nil)",
        ),
        (
            "return struct.pack('i33', 1)",
            "user_script:1: integral size 33 is larger than limit of 32",
        ),
        (
            "return struct.unpack('i', 'abc')",
            "user_script:1: bad argument #2 to 'unpack' (data string too short)",
        ),
        (
            "return struct.unpack('s', 'abc')",
            "user_script:1: unfinished string in data",
        ),
        (
            "return struct.size('s')",
            "user_script:1: bad argument #1 to 'size' (option 's' has no fixed size)",
        ),
        ("struct.pack = nil", "Attempt to modify a readonly table"),
    ] {
        let e = eval_err(&mut c, script, &["0"]);
        assert!(e.contains(expect), "{script}: {e}");
    }
    assert_eq!(
        eval::<Vec<V>>(&mut c, "return {pcall(struct.pack, 'j')}", &["0"]),
        vec![
            V::Nil,
            V::BulkString(b"bad argument #1 to '?' (invalid format option 'j')".to_vec())
        ]
    );
}
