//! Server and introspection commands of `mmtree serve`: CLIENT LIST/INFO/KILL, CONFIG GET, INFO.

mod common;

use common::*;
use redis::Commands;

#[test]
fn client_list_info_kill_config_get_and_info_sections() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("cl.mmt"), &[]);
    let mut c = server.client();
    let mut other = server.client();
    let _: () = cmd(&mut other, &["CLIENT", "SETNAME", "victim"]).unwrap();
    let other_id: i64 = cmd(&mut other, &["CLIENT", "ID"]).unwrap();
    let _: () = cmd(&mut c, &["SELECT", "2"]).unwrap();
    let info: String = cmd(&mut c, &["CLIENT", "INFO"]).unwrap();
    assert!(info.starts_with("id="), "{info}");
    assert!(
        info.contains(" db=2 ") && info.contains(" cmd=client|info "),
        "{info}"
    );
    assert!(info.ends_with('\n'));
    let list: String = cmd(&mut c, &["CLIENT", "LIST"]).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(
        list.contains(&format!("id={other_id} ")) && list.contains("name=victim"),
        "{list}"
    );
    let only: String = cmd(&mut c, &["CLIENT", "LIST", "ID", &other_id.to_string()]).unwrap();
    assert_eq!(only.lines().count(), 1);
    let addr = only
        .split(' ')
        .find_map(|f| f.strip_prefix("addr="))
        .unwrap()
        .to_string();
    assert!(err_of::<String>(&mut c, &["CLIENT", "KILL", "1.2.3.4:5"]).contains("No such client"));
    assert!(err_of::<String>(&mut c, &["CLIENT", "FOO"])
        .contains("unknown subcommand 'FOO'. Try CLIENT HELP."));
    // The old form by address, then the new one by id.
    assert_eq!(
        cmd::<String>(&mut c, &["CLIENT", "KILL", &addr]).unwrap(),
        "OK"
    );
    assert!(cmd::<String>(&mut other, &["PING"]).is_err(), "killed");
    let mut third = server.client();
    let third_id: i64 = cmd(&mut third, &["CLIENT", "ID"]).unwrap();
    assert_eq!(
        cmd::<i64>(&mut c, &["CLIENT", "KILL", "ID", &third_id.to_string()]).unwrap(),
        1
    );
    assert!(cmd::<String>(&mut third, &["PING"]).is_err(), "killed");
    assert_eq!(
        cmd::<i64>(&mut c, &["CLIENT", "KILL", "ID", "999999"]).unwrap(),
        0
    );
    // SKIPME yes by default: a client does not kill itself.
    let my_id: i64 = cmd(&mut c, &["CLIENT", "ID"]).unwrap();
    assert_eq!(
        cmd::<i64>(&mut c, &["CLIENT", "KILL", "ID", &my_id.to_string()]).unwrap(),
        0
    );
    // CONFIG GET with globs.
    let got: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "max*"]).unwrap();
    assert!(
        got.contains(&"maxclients".to_string()) && got.contains(&"maxmemory".to_string()),
        "{got:?}"
    );
    let got: Vec<String> = cmd(&mut c, &["CONFIG", "GET", "databases", "port"]).unwrap();
    assert_eq!(got, ["databases", "16", "port", &server.port.to_string()]);
    assert!(
        err_of::<String>(&mut c, &["CONFIG", "SET", "maxmemory", "5"])
            .contains("CONFIG SET failed (possibly related to argument 'maxmemory')")
    );
    assert_eq!(
        cmd::<String>(&mut c, &["CONFIG", "SET", "hash-max-listpack-value", "8"]).unwrap(),
        "OK"
    );
    assert!(err_of::<String>(&mut c, &["CONFIG", "REWRITE"])
        .contains("The server is running without a config file"));
    // INFO: only the sections asked for.
    let keyspace: String = cmd(&mut c, &["INFO", "keyspace"]).unwrap();
    assert!(
        keyspace.starts_with("# Keyspace\r\n") && !keyspace.contains("# Server"),
        "{keyspace}"
    );
    let two: String = cmd(&mut c, &["INFO", "SERVER", "clients"]).unwrap();
    assert!(
        two.contains("# Server\r\n") && two.contains("# Clients\r\n") && !two.contains("# Stats"),
        "{two}"
    );
    let all: String = cmd(&mut c, &["INFO"]).unwrap();
    for s in [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Keyspace",
    ] {
        assert!(all.contains(s), "{s}");
    }
    assert_eq!(
        cmd::<String>(&mut c, &["INFO", "nosuchsection"]).unwrap(),
        ""
    );
    // commandstats: in "all" and "everything", not in "default" (as Redis).
    assert!(!all.contains("rejected_calls"));
    let everything: String = cmd(&mut c, &["INFO", "everything"]).unwrap();
    assert!(everything.contains("cmdstat_info:calls="), "{everything}");
    let stats: String = cmd(&mut c, &["INFO", "commandSTATS"]).unwrap();
    assert!(stats.starts_with("# Commandstats\r\n") && stats.contains("rejected_calls=0"));
    // DBSIZE counts the selected database.
    let _: () = c.set("k", "v").unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 1);
    let _: () = cmd(&mut c, &["SELECT", "0"]).unwrap();
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 0);
    let keyspace: String = cmd(&mut c, &["INFO", "keyspace"]).unwrap();
    assert!(keyspace.contains("db2:keys=1,expires=0"), "{keyspace}");
}

/// Goal: the default `--maxclients` (10000, as Redis) never promises more clients than the
/// open-files limit allows. Method: the server started under a hard limit of 200 descriptors
/// serves at most 200 - 32 clients and says so in INFO, as Redis lowers maxclients.
#[test]
fn maxclients_is_lowered_to_what_the_open_files_limit_allows() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("fd.mmt");
    let mut child = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "ulimit -Sn 200 && ulimit -Hn 200 && exec {} serve {} --bind 127.0.0.1:0",
            env!("CARGO_BIN_EXE_mmtree"),
            db.display()
        ))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().rsplit(':').next().unwrap().parse().unwrap();
    let mut c = connect(port);
    let info: String = redis::cmd("INFO").arg("clients").query(&mut c).unwrap();
    // CONFIG SET maxclients refuses more than the limit allows, as Redis, and changes nothing.
    let refused = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("1000")
        .query::<()>(&mut c)
        .unwrap_err()
        .to_string();
    let after: String = redis::cmd("CONFIG")
        .arg("GET")
        .arg("maxclients")
        .query::<Vec<String>>(&mut c)
        .unwrap()
        .join(" ");
    let _ = child.kill();
    let _ = child.wait();
    assert!(info.contains("maxclients:168\r\n"), "{info}");
    assert!(
        refused.contains("The operating system is not able to handle the specified number of clients, try with 168"),
        "{refused}"
    );
    assert_eq!(after, "maxclients 168");
}

/// Goal: the settings Redis' test suite sets before a unit (`save ""`, list-compress-depth,
/// the encoding thresholds) are accepted without effect; a real snapshot schedule is refused.
#[test]
fn config_set_accepts_the_settings_without_effect_and_refuses_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("cfg.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    for args in [
        &["CONFIG", "SET", "save", ""][..],
        &["CONFIG", "SET", "list-compress-depth", "2"],
        &["CONFIG", "SET", "list-max-ziplist-size", "1"],
    ] {
        assert_eq!(
            call(&mut c, &mut r, args),
            Value::Simple("OK".into()),
            "{args:?}"
        );
    }
    assert!(matches!(
        call(&mut c, &mut r, &["CONFIG", "SET", "save", "900 1"]),
        Value::Error(e) if e.contains("'save'")
    ));
}

/// Goal: CLIENT LIST and CLIENT INFO show the running command's request in `qbuf`, as Redis
/// (whose own introspection test expects `qbuf=26` for `CLIENT LIST` sent alone). Method: each
/// sent alone on a fresh connection.
#[test]
fn client_list_counts_the_running_command_in_qbuf() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("qbuf.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    let list = text(&call(&mut c, &mut r, &["CLIENT", "LIST"]));
    assert!(list.contains(" qbuf=26 "), "{list}");
    let info = text(&call(&mut c, &mut r, &["CLIENT", "INFO"]));
    assert!(info.contains(" qbuf=26 "), "{info}");
}

/// Goal: subcommands are entries of the command table as in Redis 7: COMMAND shows them inside
/// their container, COMMAND INFO and LIST name them `container|sub`, COMMAND COUNT counts the
/// top-level commands only, COMMAND GETKEYS finds a subcommand's keys, INFO commandstats counts
/// each, and the errors a subcommand's arguments get are Redis 7.0's. Method: each reply compared with what redis-server 7.0.15
/// answers (its ACL categories and flags aside).
#[test]
fn subcommands_are_table_entries_as_in_redis_7() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("sub.mmt"), &[]);
    let mut c = server.raw();
    let mut r = Replies::new(&c);
    table(
        &mut c,
        &mut r,
        &[
            ("COMMAND INFO object|refcount", "[[object|refcount,:3,[+readonly],:2,:2,:1,[],[],[],[]]]"),
            (
                "COMMAND INFO object",
                "[[object,:-2,[],:0,:0,:0,[],[],[],[[object|refcount,:3,[+readonly],:2,:2,:1,[],[],[],[]],[object|encoding,:3,[+readonly],:2,:2,:1,[],[],[],[]],[object|idletime,:3,[+readonly],:2,:2,:1,[],[],[],[]],[object|freq,:3,[+readonly],:2,:2,:1,[],[],[],[]],[object|help,:2,[],:0,:0,:0,[],[],[],[]]]]]",
            ),
            (
                "COMMAND LIST FILTERBY PATTERN pubsub*",
                "[pubsub,pubsub|channels,pubsub|numsub,pubsub|numpat,pubsub|help]",
            ),
            ("COMMAND LIST FILTERBY ACLCAT x", "-ERR syntax error"),
            ("COMMAND LIST FILTERBY MODULE x", "[]"),
            ("COMMAND LIST FILTERBY PATTERN get x", "-ERR syntax error"),
            // Keys by the table's positions (a subcommand's too), counted ones checked.
            ("COMMAND GETKEYS memory usage key", "[key]"),
            ("COMMAND GETKEYS zunionstore t 2 a b weights 1 2", "[t,a,b]"),
            (
                "COMMAND GETKEYS zunionstore t 3 a b",
                "-ERR Invalid arguments specified for command",
            ),
            ("COMMAND GETKEYS nope a", "-ERR Invalid command specified"),
            (
                "COMMAND GETKEYS client getname",
                "-ERR The command has no key arguments",
            ),
            (
                "COMMAND GETKEYS get a b",
                "-ERR Invalid number of arguments specified for command",
            ),
            (
                "COMMAND GETKEYS get",
                "-ERR wrong number of arguments for 'command|getkeys' command",
            ),
            (
                "COMMAND INFO zunionstore",
                "[[zunionstore,:-4,[+write,+movablekeys],:1,:1,:1,[],[],[],[]]]",
            ),
            ("client|id", "-ERR unknown command 'client|id', with args beginning with: "),
            ("CONFIG SET a b c", "-ERR syntax error"),
            ("CONFIG SET a", "-ERR wrong number of arguments for 'config|set' command"),
            (
                "PUBSUB CHANNELS a b",
                "-ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.",
            ),
        ],
    );
    assert!(matches!(
        call(&mut c, &mut r, &["CLIENT", "ID"]),
        Value::Int(_)
    ));
    // "Try CLIENT HELP.": every container with subcommands has a HELP, in Redis' shape.
    for container in ["CLIENT", "CONFIG", "COMMAND", "PUBSUB", "MEMORY", "OBJECT"] {
        let Value::Array(lines) = call(&mut c, &mut r, &[container, "help"]) else {
            panic!("{container} HELP is an array");
        };
        let lines: Vec<String> = lines.iter().map(text).collect();
        assert_eq!(
            lines[0],
            format!("{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:")
        );
        assert!(lines.len() > 4, "{lines:?}");
        assert_eq!(lines[lines.len() - 2..], ["HELP", "    Prints this help."]);
    }
    // Every entry of COMMAND LIST is found by COMMAND INFO; COUNT counts the containers, not
    // their subcommands.
    let Value::Array(names) = call(&mut c, &mut r, &["COMMAND", "LIST"]) else {
        panic!("COMMAND LIST is an array");
    };
    let names: Vec<String> = names.iter().map(text).collect();
    let subcommands = names.iter().filter(|n| n.contains('|')).count();
    assert!(names.contains(&"client|setname".to_string()) && subcommands >= 20);
    let Value::Int(count) = call(&mut c, &mut r, &["COMMAND", "COUNT"]) else {
        panic!("COMMAND COUNT is an integer");
    };
    assert_eq!(count as usize, names.len() - subcommands);
    let mut info = vec!["COMMAND", "INFO"];
    info.extend(names.iter().map(String::as_str));
    let Value::Array(entries) = call(&mut c, &mut r, &info) else {
        panic!("COMMAND INFO is an array");
    };
    assert!(entries.iter().all(|e| matches!(e, Value::Array(_))));
    let Value::Bulk(stats) = call(&mut c, &mut r, &["INFO", "commandstats"]) else {
        panic!("INFO is a bulk string");
    };
    let stats = String::from_utf8(stats).unwrap();
    assert!(stats.contains("cmdstat_client|id:calls=1,"), "{stats}");
    assert!(stats.contains("cmdstat_command|list:calls=5,"), "{stats}");
}

/// CONFIG as Redis 7.0 answers what its own suite asks: a setting fixed at start and one named
/// twice are refused before anything is applied, a hidden setting answers only when named, and
/// a pattern finds aliases and the maxmemory family.
#[test]
fn config_refusals_and_lookups_as_redis() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("cfg.mmt"), &[]);
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    table(
        &mut s,
        &mut r,
        &[
            ("CONFIG SET daemonize yes", "-ERR CONFIG SET failed (possibly related to argument 'daemonize') - can't set immutable config"),
            ("CONFIG SET slowlog-max-len 5 slowlog-max-len 6", "-ERR CONFIG SET failed (possibly related to argument 'slowlog-max-len') - duplicate parameter"),
            ("CONFIG GET slowlog-max-len", "[slowlog-max-len,128]"),
            ("CONFIG GET key-load-delay", "[key-load-delay,0]"),
            ("CONFIG GET key-load-*", "[]"),
            ("CONFIG GET *of", "[slaveof,,replicaof,]"),
            ("CONFIG GET maxmemory-*", "[maxmemory-policy,noeviction,maxmemory-samples,5,maxmemory-clients,0]"),
            // Only the default user exists.
            ("CLIENT KILL USER wrong_user", "-ERR No such user 'wrong_user'"),
            ("CLIENT KILL USER default SKIPME yes", ":0"),
        ],
    );
}

/// Goal: CONFIG SET is all or nothing, as Redis 7 (one unknown name or invalid value refuses
/// every pair), a setting with a meaning here changes the server's behaviour at once, CONFIG GET
/// answers the value in effect, and a setting mmtree has no other value for accepts only its own
/// (so Redis' "CONFIG sanity", which sets each to what CONFIG GET gave, passes). Method: the
/// settings read back after each; `maxclients 1` refuses the next connection.
#[test]
fn config_set_is_atomic_and_changes_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("cfgset.mmt"), &[]);
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    table(
        &mut s,
        &mut r,
        &[
            // One invalid value: an error, and neither pair applied.
            ("CONFIG SET slowlog-max-len 7 timeout x", "-ERR CONFIG SET failed (possibly related to argument 'timeout') - argument couldn't be parsed into an integer"),
            ("CONFIG SET slowlog-max-len 7 nosuchsetting 1", "-ERR Unknown option or number of arguments for CONFIG SET - 'nosuchsetting'"),
            ("CONFIG SET slowlog-max-len 7 maxmemory 100", "-ERR CONFIG SET failed (possibly related to argument 'maxmemory') - mmtree serve has no other value for this setting (its value is '0'; see docs/REDIS-COMPAT.md)"),
            ("CONFIG SET slowlog-max-len 7 slowlog-log-slower-than -2", "-ERR CONFIG SET failed (possibly related to argument 'slowlog-log-slower-than') - argument must be between -1 and 9223372036854775807 inclusive"),
            ("CONFIG GET slowlog-max-len", "[slowlog-max-len,128]"),
            // All valid: all applied, the fixed one at its own value a no-op.
            ("CONFIG SET slowlog-max-len 7 timeout 300 maxmemory 0 hash-max-ziplist-entries 10", "+OK"),
            ("CONFIG GET slowlog-max-len", "[slowlog-max-len,7]"),
            ("CONFIG GET timeout", "[timeout,300]"),
            // A ziplist name is the listpack setting's alias.
            ("CONFIG GET hash-max-*-entries", "[hash-max-ziplist-entries,10,hash-max-listpack-entries,10]"),
            ("CONFIG SET timeout 0", "+OK"),
        ],
    );
    // Every setting CONFIG GET lists can be set to the value it has (Redis' "CONFIG sanity").
    let all = match call(&mut s, &mut r, &["CONFIG", "GET", "*"]) {
        Value::Array(items) => items,
        other => panic!("{other:?}"),
    };
    for pair in all.chunks(2) {
        let (k, v) = (text(&pair[0]), text(&pair[1]));
        if k == "databases" {
            continue;
        }
        assert_eq!(
            call(&mut s, &mut r, &["CONFIG", "SET", &k, &v]),
            Value::Simple("OK".into()),
            "{k} {v}"
        );
    }
    // maxclients takes effect for the next connection.
    table(&mut s, &mut r, &[("CONFIG SET maxclients 1", "+OK")]);
    let mut refused = server.raw();
    let mut rr = Replies::new(&refused);
    assert_eq!(
        call(&mut refused, &mut rr, &["PING"]),
        Value::Error("ERR max number of clients reached".into())
    );
    table(&mut s, &mut r, &[("CONFIG SET maxclients 10000", "+OK")]);
    let mut again = server.client();
    assert_eq!(cmd::<String>(&mut again, &["PING"]).unwrap(), "PONG");
    // timeout takes effect for the connections there: an idle one is closed.
    let mut idle = server.raw();
    let mut ri = Replies::new(&idle);
    assert_eq!(
        call(&mut idle, &mut ri, &["PING"]),
        Value::Simple("PONG".into())
    );
    table(&mut s, &mut r, &[("CONFIG SET timeout 1", "+OK")]);
    let mut buf = [0u8; 16];
    assert!(matches!(std::io::Read::read(&mut idle, &mut buf), Ok(0)));
}

/// The value of `field` in an INFO text (None if absent).
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::to_string)
}

/// Goal: INFO counts error replies as Redis 7.0: `total_error_replies`, errorstats by error
/// code (a script's own code too), commandstats' `failed_calls` (ran, answered an error) and
/// `rejected_calls` (refused before it ran: not a call); CONFIG RESETSTAT sets them back to 0.
#[test]
fn errorstats_failed_and_rejected_calls_and_resetstat() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("errs.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["SET", "str", "v"]).unwrap();
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    let info: String = cmd(&mut c, &["INFO", "everything"]).unwrap();
    assert_eq!(
        info_field(&info, "total_error_replies").as_deref(),
        Some("0")
    );
    assert!(!info.contains("errorstat_"), "{info}");
    assert!(info.contains("# Errorstats\r\n"), "{info}");
    // A write that fails (WRONGTYPE, from the writer), a read that fails, one refused for its
    // arity, and a script's error of its own.
    assert!(err_of::<i64>(&mut c, &["LPUSH", "str", "a"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["LLEN", "str"]).contains("WRONGTYPE"));
    assert!(err_of::<String>(&mut c, &["GET"]).contains("wrong number of arguments"));
    assert!(err_of::<String>(
        &mut c,
        &["EVAL", "return redis.error_reply('MY_CODE custom')", "0"]
    )
    .contains("MY_CODE"));
    let info: String = cmd(&mut c, &["INFO", "everything"]).unwrap();
    assert_eq!(
        info_field(&info, "total_error_replies").as_deref(),
        Some("4")
    );
    assert_eq!(
        info_field(&info, "errorstat_WRONGTYPE").as_deref(),
        Some("count=2")
    );
    assert_eq!(
        info_field(&info, "errorstat_ERR").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        info_field(&info, "errorstat_MY_CODE").as_deref(),
        Some("count=1")
    );
    let stat = |name: &str| info_field(&info, &format!("cmdstat_{name}")).unwrap_or_default();
    assert!(
        stat("lpush").ends_with("rejected_calls=0,failed_calls=1"),
        "{info}"
    );
    assert!(
        stat("llen").ends_with("rejected_calls=0,failed_calls=1"),
        "{info}"
    );
    assert!(
        stat("get").starts_with("calls=0,")
            && stat("get").ends_with("rejected_calls=1,failed_calls=0"),
        "{info}"
    );
    assert!(stat("eval").ends_with("failed_calls=1"), "{info}");
    // A script's own calls count as the client's would (Redis' "command stats for scripts").
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    let _: Option<String> = cmd(
        &mut c,
        &["EVAL", "redis.call('set', KEYS[1], 0); redis.call('set', KEYS[1], 1); redis.pcall('select', 99); return redis.pcall('get')", "1", "k"],
    )
    .unwrap_or(None);
    let info: String = cmd(&mut c, &["INFO", "commandstats"]).unwrap();
    let stat = |name: &str| info_field(&info, &format!("cmdstat_{name}")).unwrap_or_default();
    assert!(stat("set").starts_with("calls=2,"), "{info}");
    assert!(
        stat("select").starts_with("calls=1,") && stat("select").ends_with("failed_calls=1"),
        "{info}"
    );
    assert!(
        stat("get").starts_with("calls=0,")
            && stat("get").ends_with("rejected_calls=1,failed_calls=0"),
        "{info}"
    );
    assert!(stat("eval").starts_with("calls=1,"), "{info}");
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    assert!(err_of::<i64>(&mut c, &["LPUSH", "str", "a"]).contains("WRONGTYPE"));
    assert!(err_of::<i64>(&mut c, &["LLEN", "str"]).contains("WRONGTYPE"));
    // Not in INFO's default sections; errorstats is.
    let default: String = cmd(&mut c, &["INFO"]).unwrap();
    assert!(default.contains("errorstat_WRONGTYPE:count=2") && !default.contains("cmdstat_"));
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    let info: String = cmd(&mut c, &["INFO", "everything"]).unwrap();
    assert_eq!(
        info_field(&info, "total_error_replies").as_deref(),
        Some("0")
    );
    assert!(
        !info.contains("errorstat_") && !info.contains("cmdstat_lpush"),
        "{info}"
    );
    // What CONFIG RESETSTAT left: the keyspace.
    assert_eq!(cmd::<String>(&mut c, &["GET", "str"]).unwrap(), "v");
    // An error CLIENT REPLY OFF drops still counts (as Redis).
    let mut raw = server.raw();
    let mut r = Replies::new(&raw);
    send(&mut raw, &["CLIENT", "REPLY", "OFF"]);
    send(&mut raw, &["LPUSH", "str", "a"]);
    assert_eq!(
        call(&mut raw, &mut r, &["CLIENT", "REPLY", "ON"]),
        Value::Simple("OK".into())
    );
    let info: String = cmd(&mut c, &["INFO", "errorstats"]).unwrap();
    assert_eq!(
        info_field(&info, "errorstat_WRONGTYPE").as_deref(),
        Some("count=1")
    );
}

/// Goal: INFO's `rdb_changes_since_last_save` counts changes as Redis' dirty counter does for
/// what its bitops unit checks: a command that changes nothing (SETBIT of the bit already there,
/// BITFIELD SET of the same value) adds none, DEL adds one per key deleted, SAVE sets it to 0.
#[test]
fn changes_since_last_save_count_real_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("dirty.mmt"), &[]);
    let mut c = server.client();
    let dirty = |c: &mut redis::Connection| -> i64 {
        let info: String = cmd(c, &["INFO", "persistence"]).unwrap();
        info_field(&info, "rdb_changes_since_last_save")
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(dirty(&mut c), 0);
    let _: () = cmd(&mut c, &["SET", "a", "1"]).unwrap();
    let _: i64 = cmd(&mut c, &["SETBIT", "b", "0", "0"]).unwrap();
    assert_eq!(dirty(&mut c), 2);
    // No change: nothing counted.
    let _: i64 = cmd(&mut c, &["SETBIT", "b", "0", "0"]).unwrap();
    let _: Vec<i64> = cmd(&mut c, &["BITFIELD", "b", "SET", "i5", "0", "0"]).unwrap();
    let _: Option<String> = cmd(&mut c, &["GET", "a"]).unwrap();
    assert_eq!(dirty(&mut c), 2);
    // A change, then growth alone.
    let _: i64 = cmd(&mut c, &["SETBIT", "b", "0", "1"]).unwrap();
    let _: i64 = cmd(&mut c, &["SETBIT", "b", "90", "0"]).unwrap();
    assert_eq!(dirty(&mut c), 4);
    assert_eq!(cmd::<i64>(&mut c, &["DEL", "a", "b", "nosuch"]).unwrap(), 2);
    assert_eq!(dirty(&mut c), 6);
    let _: () = cmd(&mut c, &["SAVE"]).unwrap();
    assert_eq!(dirty(&mut c), 0);
}

/// Goal: COMMAND DOCS answers each command's summary, version and group, a container's
/// subcommands inside it, nothing for an unknown name, in RESP2 and RESP3.
#[test]
fn command_docs_describe_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("docs.mmt"), &[]);
    let mut s = server.raw();
    let mut r = Replies::new(&s);
    table(
        &mut s,
        &mut r,
        &[
            ("COMMAND DOCS get nosuch", "[get,[summary,Answers the string at a key.,since,1.0.0,group,string]]"),
            ("COMMAND DOCS nosuch", "[]"),
            ("COMMAND DOCS object|freq", "[object|freq,[summary,Access frequencies are kept only under an LFU policy, which this server has not: an error.,since,4.0.0,group,generic]]"),
        ],
    );
    let _ = call(&mut s, &mut r, &["HELLO", "3"]);
    let config = show(&call(&mut s, &mut r, &["COMMAND", "DOCS", "CONFIG"]));
    assert!(
        config.starts_with("%[config,%[summary,")
            && config.contains(",subcommands,%[config|get,%[summary,"),
        "{config}"
    );
    // Every command, once each.
    let all = match call(&mut s, &mut r, &["COMMAND", "DOCS"]) {
        Value::Map(items) => items,
        other => panic!("{other:?}"),
    };
    let count = match call(&mut s, &mut r, &["COMMAND", "COUNT"]) {
        Value::Int(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(all.len() as i64, 2 * count);
}

/// Goal: a blocked command answered with an error once it ran counts as a failed call, and its
/// error in errorstats (Redis' "XGROUP DESTROY should unblock XREADGROUP with -NOGROUP").
#[test]
fn a_blocked_command_answered_an_error_is_a_failed_call() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("blockerr.mmt"), &[]);
    let mut c = server.client();
    let _: () = cmd(&mut c, &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]).unwrap();
    let _: () = cmd(&mut c, &["CONFIG", "RESETSTAT"]).unwrap();
    let mut b = server.raw();
    let mut br = Replies::new(&b);
    send(
        &mut b,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ],
    );
    // Until the server holds it blocked.
    loop {
        let info: String = cmd(&mut c, &["INFO", "clients"]).unwrap();
        if info_field(&info, "blocked_clients").as_deref() == Some("1") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _: i64 = cmd(&mut c, &["XGROUP", "DESTROY", "s", "g"]).unwrap();
    assert!(matches!(br.next(), Value::Error(e) if e.starts_with("NOGROUP")));
    let info: String = cmd(&mut c, &["INFO", "everything"]).unwrap();
    assert_eq!(
        info_field(&info, "errorstat_NOGROUP").as_deref(),
        Some("count=1")
    );
    assert_eq!(
        info_field(&info, "total_error_replies").as_deref(),
        Some("1")
    );
    assert_eq!(
        info_field(&info, "cmdstat_xreadgroup").as_deref(),
        Some("calls=1,usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=1")
    );
}

/// With `--durability eventual` the event loop applies its clients' writes itself, but a commit
/// that would merge the write buffer into the tree goes to the group-commit thread, so the loop
/// keeps serving meanwhile: 4,000 SETs of 1 KiB (past the smallest buffer budget, 2 MiB) make
/// merges, each handed over (INFO `mmtree_merge_handoffs`), and every value reads back.
#[test]
fn a_commit_that_merges_the_buffer_goes_to_the_writer_thread() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        &dir.path().join("handoff.mmt"),
        &["--durability", "eventual"],
    );
    let mut c = server.client();
    let field = |c: &mut redis::Connection, name: &str| -> u64 {
        let info: String = cmd(c, &["INFO", "persistence"]).unwrap();
        info_field(&info, name).unwrap().parse().unwrap()
    };
    // (The first commit on a new or cleanly closed database goes to the tree: handed over too.)
    let _: () = cmd(&mut c, &["SET", "first", "1"]).unwrap();
    let _: () = cmd(&mut c, &["SET", "second", "1"]).unwrap();
    let (handoffs, checkpoints) = (
        field(&mut c, "mmtree_merge_handoffs"),
        field(&mut c, "mmtree_checkpoints"),
    );
    eprintln!("after two SETs: {handoffs} handoffs, {checkpoints} checkpoints");
    let value = |i: u32| format!("{i:04}").repeat(256);
    for chunk in 0..40u32 {
        let mut pipe = redis::pipe();
        for i in chunk * 100..(chunk + 1) * 100 {
            pipe.cmd("SET").arg(format!("k{i}")).arg(value(i)).ignore();
        }
        let _: () = pipe.query(&mut c).unwrap();
    }
    let merged = field(&mut c, "mmtree_checkpoints") - checkpoints;
    let handed = field(&mut c, "mmtree_merge_handoffs") - handoffs;
    eprintln!("4,000 SETs: {merged} merges, {handed} handoffs");
    assert!(merged >= 1, "the buffer was merged");
    assert!(handed >= 1, "a merging commit was handed to the thread");
    assert_eq!(cmd::<i64>(&mut c, &["DBSIZE"]).unwrap(), 4002);
    for i in [0u32, 1234, 3999] {
        let got: String = cmd(&mut c, &["GET", &format!("k{i}")]).unwrap();
        assert_eq!(got, value(i));
    }
}
