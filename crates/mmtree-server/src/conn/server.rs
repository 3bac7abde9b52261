//! Server and introspection commands: COMMAND (alone, INFO, LIST, COUNT), CONFIG GET and SET.

use super::*;
use crate::commands::args::Args;

/// Settings fixed when Redis starts (CONFIG SET answers "can't set immutable config").
const IMMUTABLE: [&str; 12] = [
    "daemonize",
    "databases",
    "io-threads",
    "io-threads-do-reads",
    "pidfile",
    "logfile",
    "supervised",
    "syslog-enabled",
    "unixsocket",
    "tcp-backlog",
    "cluster-enabled",
    "always-show-logo",
];

/// The encoding thresholds and their Redis 7.0 defaults: CONFIG SET keeps them and CONFIG GET
/// shows them, without effect (mmtree stores rows, not encodings). Redis' old `ziplist` names
/// are aliases of the `listpack` ones.
const KEPT: &[(&str, &str)] = &[
    ("hash-max-ziplist-entries", "128"),
    ("hash-max-ziplist-value", "64"),
    ("hash-max-listpack-entries", "128"),
    ("hash-max-listpack-value", "64"),
    ("zset-max-ziplist-entries", "128"),
    ("zset-max-ziplist-value", "64"),
    ("zset-max-listpack-entries", "128"),
    ("zset-max-listpack-value", "64"),
    ("list-max-ziplist-size", "-2"),
    ("list-max-listpack-size", "-2"),
    ("list-compress-depth", "0"),
    ("set-max-intset-entries", "512"),
    ("stream-node-max-bytes", "4096"),
];

/// The name an encoding threshold is kept under (a `ziplist` alias: its `listpack` name).
fn kept_name(name: &str) -> &str {
    match name {
        "hash-max-ziplist-entries" => "hash-max-listpack-entries",
        "hash-max-ziplist-value" => "hash-max-listpack-value",
        "zset-max-ziplist-entries" => "zset-max-listpack-entries",
        "zset-max-ziplist-value" => "zset-max-listpack-value",
        "list-max-ziplist-size" => "list-max-listpack-size",
        other => other,
    }
}

/// One change CONFIG SET makes, once every one was checked.
enum Setting {
    Notify(u32),
    NodeEntries(u64),
    TimeLimit(u64),
    SlowerThan(i64),
    SlowlogMaxLen(u64),
    TrackingMaxKeys(usize),
    Timeout(u64),
    MaxClients(usize),
    Kept(String, String),
}

impl Conn {
    /// One command's entry in COMMAND / COMMAND INFO, in Redis 7's shape: name, arity, flags,
    /// first key, last key, key step, ACL categories, tips, key specs (these three empty), and
    /// the subcommands' entries.
    pub(super) fn command_info(&mut self, c: &Command) {
        let mut flags: Vec<&str> = Vec::new();
        if c.has(table::WRITE) {
            flags.push("write");
        } else if c.has(table::READONLY) {
            flags.push("readonly");
        }
        if c.has(table::ADMIN) {
            flags.push("admin");
        }
        if c.has(table::BLOCKING) {
            flags.push("blocking");
        }
        if c.has(table::NUMKEYS | table::MOVABLE) {
            flags.push("movablekeys");
        }
        if c.has(table::NO_MANDATORY_KEYS) {
            flags.push("no_mandatory_keys");
        }
        let (first, last, step) = c.keys;
        self.out.array(10);
        self.out.bulk(c.name.to_ascii_lowercase().as_bytes());
        self.out.int(i64::from(c.arity));
        self.out.array(flags.len());
        for f in flags {
            self.out.simple(f);
        }
        self.out.int(i64::from(first));
        self.out.int(i64::from(last));
        self.out.int(i64::from(step));
        for _ in 0..3 {
            self.out.array(0);
        }
        self.out.array(c.subcommands.len());
        for s in c.subcommands {
            self.command_info(s);
        }
    }
    /// COMMAND alone: every command's entry (a container's subcommands inside it).
    pub(super) fn command_all(&mut self) {
        self.out.array(table::COMMANDS.len());
        for c in table::COMMANDS {
            self.command_info(c);
        }
    }
    /// COMMAND INFO [name ...]: the entries of the commands named (`client|getname` names a
    /// subcommand), a null for an unknown one; every command's without names.
    pub(super) fn command_info_of(&mut self, names: &[Vec<u8>]) {
        if names.is_empty() {
            return self.command_all();
        }
        self.out.array(names.len());
        for n in names {
            match table::lookup(n) {
                Some(c) => self.command_info(c),
                None => self.out.null(),
            }
        }
    }
    /// One command's documentation in COMMAND DOCS: its summary, the version that introduced
    /// it, its group (`commands::docs`), and a container's subcommands' documentation.
    fn command_doc(&mut self, c: &Command) {
        let doc = crate::commands::docs::doc(c.name);
        let subs = !c.subcommands.is_empty();
        self.out.map(3 + usize::from(subs));
        for (field, value) in [
            ("summary", doc.as_ref().map_or("", |d| d.summary)),
            ("since", doc.as_ref().map_or("", |d| d.since)),
            ("group", doc.as_ref().map_or("", |d| d.group)),
        ] {
            self.out.bulk(field.as_bytes());
            self.out.bulk(value.as_bytes());
        }
        if subs {
            self.out.bulk(b"subcommands");
            self.out.map(c.subcommands.len());
            for s in c.subcommands {
                self.out.bulk(s.name.to_ascii_lowercase().as_bytes());
                self.command_doc(s);
            }
        }
    }
    /// COMMAND DOCS [name ...]: the documentation of the commands named (`config|get` names a
    /// subcommand; an unknown name is left out), of every command without names.
    pub(super) fn command_docs(&mut self, names: &[Vec<u8>]) {
        let found: Vec<&'static Command> = if names.is_empty() {
            table::COMMANDS.iter().collect()
        } else {
            names.iter().filter_map(|n| table::lookup(n)).collect()
        };
        self.out.map(found.len());
        for c in found {
            self.out.bulk(c.name.to_ascii_lowercase().as_bytes());
            self.command_doc(c);
        }
    }
    /// COMMAND LIST [FILTERBY PATTERN pattern | FILTERBY MODULE name]: every command's name and
    /// every subcommand's (`client|getname`), as Redis 7 (no module is loaded: MODULE lists
    /// none); FILTERBY ACLCAT is refused (there are no ACL categories).
    pub(super) fn command_list(&mut self, a: &[Vec<u8>]) {
        let mut args = Args::new(a);
        let (pattern, module) = if args.is_empty() {
            (None, false)
        } else if args.eat("FILTERBY") && args.rest().len() == 2 {
            if let Some(p) = args.eat_value("PATTERN") {
                (Some(p), false)
            } else if args.eat_value("MODULE").is_some() {
                (None, true)
            } else {
                return self.out.error("ERR syntax error");
            }
        } else {
            return self.out.error("ERR syntax error");
        };
        let names: Vec<String> = table::all()
            .iter()
            .map(|c| c.name.to_ascii_lowercase())
            .filter(|n| !module && pattern.is_none_or(|p| glob(p, n.as_bytes())))
            .collect();
        self.out.array(names.len());
        for n in names {
            self.out.bulk(n.as_bytes());
        }
    }
    /// COMMAND GETKEYS command [arg ...]: the keys of a request, by the table's key positions
    /// (Redis 7.0's errors).
    pub(super) fn command_getkeys(&mut self, request: &[Vec<u8>]) {
        let Resolved::Found(cmd) = table::resolve(request) else {
            return self.out.error("ERR Invalid command specified");
        };
        if !cmd.has_keys() {
            return self.out.error("ERR The command has no key arguments");
        }
        if !cmd.arity_ok(request.len()) {
            return self
                .out
                .error("ERR Invalid number of arguments specified for command");
        }
        if !cmd.numkeys_fit(request) {
            if cmd.has(table::NO_MANDATORY_KEYS) && cmd.numkeys(request).1 == Some(0) {
                return self.out.array(0);
            }
            return self
                .out
                .error("ERR Invalid arguments specified for command");
        }
        let keys: Vec<&Vec<u8>> = cmd.key_args(request).collect();
        self.out.array(keys.len());
        for k in keys {
            self.out.bulk(k);
        }
    }
    /// Every setting CONFIG GET lists, with the value in effect, in CONFIG GET's order.
    fn settings(&self) -> Vec<(&'static str, String)> {
        let server = &self.server;
        let config = &server.config;
        let mut list: Vec<(&'static str, String)> = vec![
            ("save", String::new()),
            ("appendonly", "no".into()),
            ("databases", DATABASES.to_string()),
            (
                "maxclients",
                config.max_clients.load(Ordering::Relaxed).to_string(),
            ),
            (
                "timeout",
                config.idle_secs.load(Ordering::Relaxed).to_string(),
            ),
            ("proto-max-bulk-len", config.limits.max_bulk.to_string()),
            ("client-query-buffer-limit", QUERY_BUFFER_MAX.to_string()),
            (
                "requirepass",
                config.requirepass.clone().unwrap_or_default(),
            ),
            ("maxmemory", "0".into()),
            (
                "notify-keyspace-events",
                crate::notify::format(server.notify.get()),
            ),
            ("maxmemory-policy", "noeviction".into()),
            ("maxmemory-samples", "5".into()),
            ("maxmemory-clients", "0".into()),
            // No replication (the old name and the new).
            ("slaveof", String::new()),
            ("replicaof", String::new()),
            (
                "stream-node-max-entries",
                crate::store::stream::node_entries_setting().to_string(),
            ),
            ("bind", config.bind.ip().to_string()),
            ("port", config.bind.port().to_string()),
            ("lua-time-limit", server.scripts.time_limit_ms().to_string()),
            (
                "busy-reply-threshold",
                server.scripts.time_limit_ms().to_string(),
            ),
            (
                "slowlog-log-slower-than",
                server
                    .slowlog_slower_than
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
            (
                "slowlog-max-len",
                server.slowlog_max_len.load(Ordering::Relaxed).to_string(),
            ),
            (
                "tracking-table-max-keys",
                server
                    .tracking
                    .lock()
                    .expect("tracking")
                    .max_keys
                    .to_string(),
            ),
        ];
        // The encoding thresholds: kept and shown, without effect (mmtree has no encodings).
        let kept = server.settings_kept.lock().expect("settings kept");
        for &(name, default) in KEPT {
            let value = kept
                .get(kept_name(name))
                .cloned()
                .unwrap_or_else(|| default.to_string());
            list.push((name, value));
        }
        list
    }

    /// CONFIG GET parameter [parameter ...]: the settings whose names match a pattern, each
    /// once, with the value in effect.
    pub(super) fn config_get(&mut self, patterns: &[Vec<u8>]) {
        let params = self.settings();
        // Redis' hidden settings answer only when named exactly, never to a pattern.
        let hidden: [(&str, String); 1] = [("key-load-delay", "0".into())];
        let matched: Vec<&(&str, String)> = params
            .iter()
            .filter(|(k, _)| {
                patterns
                    .iter()
                    .any(|p| glob(&p.to_ascii_lowercase(), k.as_bytes()))
            })
            .chain(hidden.iter().filter(|(k, _)| {
                patterns
                    .iter()
                    .any(|p| p.eq_ignore_ascii_case(k.as_bytes()))
            }))
            .collect();
        self.out.map(matched.len());
        for (k, v) in matched {
            self.out.bulk(k.as_bytes());
            self.out.bulk(v.as_bytes());
        }
    }

    /// CONFIG SET name value [name value ...], all or nothing as Redis 7: every name is looked
    /// up and every value checked before any is applied, so one unknown name, immutable setting,
    /// repeated name or invalid value answers an error and changes nothing. The settings that
    /// mean something here change the server's behaviour (notify-keyspace-events, timeout,
    /// maxclients, the SLOWLOG's and the script time limit, stream-node-max-entries,
    /// tracking-table-max-keys); the encoding thresholds are kept and shown without effect (no
    /// encodings here); a setting mmtree has no equivalent of (maxmemory, save, appendonly,
    /// replicaof, …) or takes from its command line (port, bind, requirepass, …) accepts only
    /// the value in effect.
    pub(super) fn config_set(&mut self, a: &[Vec<u8>]) {
        match self.config_changes(a) {
            Ok(changes) => {
                for change in changes {
                    self.apply_setting(change);
                }
                self.out.simple("OK");
            }
            Err(e) => self.out.error(&e),
        }
    }

    /// CONFIG SET's check: the changes to make, or the error that refuses them all.
    fn config_changes(&self, a: &[Vec<u8>]) -> Result<Vec<Setting>, String> {
        // Name and value pairs (the table's arity asks for one at least; Redis 7.0 calls an odd
        // count a syntax error).
        if !a.len().is_multiple_of(2) {
            return Err("ERR syntax error".into());
        }
        let current = self.settings();
        let failed = |p: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{p}') - {why}")
        };
        // First the names: unknown, fixed at start, or named twice (as Redis' first pass).
        for (i, pair) in a.chunks(2).enumerate() {
            let p = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let known = IMMUTABLE.contains(&p.as_str()) || current.iter().any(|(k, _)| *k == p);
            if !known {
                return Err(format!(
                    "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                    String::from_utf8_lossy(&pair[0])
                ));
            }
            if IMMUTABLE.contains(&p.as_str()) {
                return Err(failed(&p, "can't set immutable config"));
            }
            if a.chunks(2)
                .take(i)
                .any(|q| q[0].eq_ignore_ascii_case(&pair[0]))
            {
                return Err(failed(&p, "duplicate parameter"));
            }
        }
        // Then the values.
        let mut changes = Vec::with_capacity(a.len() / 2);
        for pair in a.chunks(2) {
            let p = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let value = &pair[1];
            let integer = |min: i64, max: i64| -> Result<i64, String> {
                match crate::store::parse_i64(value) {
                    Some(n) if (min..=max).contains(&n) => Ok(n),
                    Some(_) => Err(failed(
                        &p,
                        &format!("argument must be between {min} and {max} inclusive"),
                    )),
                    None => Err(failed(&p, "argument couldn't be parsed into an integer")),
                }
            };
            let change = match p.as_str() {
                "slowlog-log-slower-than" => Setting::SlowerThan(integer(-1, i64::MAX)?),
                "slowlog-max-len" => Setting::SlowlogMaxLen(integer(0, i64::MAX)? as u64),
                "tracking-table-max-keys" => {
                    Setting::TrackingMaxKeys(integer(0, i64::MAX)? as usize)
                }
                "stream-node-max-entries" => Setting::NodeEntries(integer(0, i64::MAX)? as u64),
                "lua-time-limit" | "busy-reply-threshold" => {
                    Setting::TimeLimit(integer(0, i64::MAX)? as u64)
                }
                "timeout" => Setting::Timeout(integer(0, i64::from(i32::MAX))? as u64),
                "maxclients" => {
                    // As Redis: no more than the open-files limit (raised if it can be) allows.
                    let wanted = integer(1, i64::from(u32::MAX))? as usize;
                    let served = crate::server::client_limit(wanted);
                    if served < wanted {
                        return Err(failed(
                            &p,
                            &format!("The operating system is not able to handle the specified number of clients, try with {served}"),
                        ));
                    }
                    Setting::MaxClients(wanted)
                }
                "notify-keyspace-events" => match crate::notify::parse(value) {
                    Some(flags) => Setting::Notify(flags),
                    None => {
                        return Err(failed(
                            &p,
                            "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
                        ))
                    }
                },
                _ if KEPT.iter().any(|(k, _)| *k == p) => {
                    integer(i64::MIN, i64::MAX)?;
                    Setting::Kept(
                        kept_name(&p).to_string(),
                        String::from_utf8_lossy(value).into_owned(),
                    )
                }
                _ => {
                    // Fixed here: only the value in effect is accepted (a no-op).
                    let now = current
                        .iter()
                        .find(|(k, _)| *k == p)
                        .map(|(_, v)| v.as_str())
                        .unwrap_or_default();
                    if !value.eq_ignore_ascii_case(now.as_bytes()) {
                        return Err(failed(
                            &p,
                            &format!("mmtree serve has no other value for this setting (its value is '{now}'; see docs/REDIS-COMPAT.md)"),
                        ));
                    }
                    continue;
                }
            };
            changes.push(change);
        }
        Ok(changes)
    }

    /// Applies one checked change (`config_changes`).
    fn apply_setting(&mut self, change: Setting) {
        let server = &self.server;
        match change {
            Setting::Notify(flags) => server.notify.set(flags),
            Setting::NodeEntries(n) => crate::store::stream::set_node_entries(n),
            Setting::TimeLimit(ms) => server.scripts.set_time_limit_ms(ms),
            Setting::SlowerThan(n) => server.slowlog_slower_than.store(n, Ordering::Relaxed),
            Setting::SlowlogMaxLen(n) => server.slowlog_max_len.store(n, Ordering::Relaxed),
            Setting::Timeout(secs) => server.config.idle_secs.store(secs, Ordering::Relaxed),
            Setting::MaxClients(n) => server.config.max_clients.store(n, Ordering::Relaxed),
            Setting::TrackingMaxKeys(n) => {
                // Over the new limit: keys are evicted (and invalidated) at once.
                let evicted = {
                    let mut t = server.tracking.lock().expect("tracking");
                    t.max_keys = n;
                    t.limit()
                };
                server.invalidate(&evicted);
            }
            Setting::Kept(name, value) => {
                server
                    .settings_kept
                    .lock()
                    .expect("settings kept")
                    .insert(name, value);
            }
        }
    }

    /// A container's HELP, in Redis 7's shape (`addReplyHelp`): a header, what each subcommand
    /// the table lists for it does, then HELP.
    pub(super) fn help(&mut self, cmd: &Command) {
        let container = cmd.name.split('|').next().unwrap_or_default();
        let lines: &[&str] = match container {
            "CLIENT" => &[
                "GETNAME",
                "    Return the name of the current connection.",
                "ID",
                "    Return the ID of the current connection.",
                "INFO",
                "    Return information about the current client connection.",
                "KILL <ip:port>",
                "    Kill connection made from <ip:port>.",
                "KILL <option> <value> [<option> <value> [...]]",
                "    Kill connections. Options are:",
                "    * ADDR <ip:port>",
                "      Kill connections made from the specified address",
                "    * LADDR <ip:port>",
                "      Kill connections made to specified local address",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Kill connections by type.",
                "    * USER <username>",
                "      Kill connections authenticated by <username>.",
                "    * SKIPME (YES|NO)",
                "      Skip killing current connection (default: yes).",
                "    * ID <client-id>",
                "      Kill connections by client id.",
                "LIST [options ...]",
                "    Return information about client connections. Options:",
                "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
                "      Return clients of specified type.",
                "    * ID <client-id> [<client-id> ...]",
                "      Return clients of specified IDs only.",
                "REPLY (ON|OFF|SKIP)",
                "    Control the replies sent to the current connection.",
                "SETNAME <name>",
                "    Assign the name <name> to the current connection.",
                "SETINFO <LIB-NAME|LIB-VER> <value>",
                "    Accepted and not kept.",
                "UNBLOCK <clientid> [TIMEOUT|ERROR]",
                "    Unblock the specified blocked client.",
                "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]]",
                "         [OPTIN] [OPTOUT] [NOLOOP]",
                "    Control server assisted client side caching.",
                "CACHING (YES|NO)",
                "    Enable/disable tracking of the keys for next command in OPTIN/OPTOUT modes.",
                "GETREDIR",
                "    Return the client ID we are redirecting to when tracking is enabled.",
                "TRACKINGINFO",
                "    Report tracking status for the current connection.",
            ],
            "SLOWLOG" => &[
                "GET [<count>]",
                "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
                "    Entries are made of:",
                "    id, timestamp, time in microseconds, arguments array, client IP and port,",
                "    client name",
                "LEN",
                "    Return the length of the slowlog.",
                "RESET",
                "    Reset the slowlog.",
            ],
            "CONFIG" => &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value> (several pairs: all or none).",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file (there is none: an error).",
            ],
            "COMMAND" => &[
                "(no subcommand)",
                "    Return details about all commands.",
                "COUNT",
                "    Return the total number of commands in this server.",
                "LIST [FILTERBY (MODULE <module-name>|PATTERN <pattern>)]",
                "    Return a list of all commands in this server.",
                "INFO [<command-name> ...]",
                "    Return details about multiple commands.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "DOCS [<command-name> ...]",
                "    Return documentation details about multiple commands: summary, since, group.",
                "    If no command names are given, documentation details for all",
                "    commands are returned.",
                "GETKEYS <full-command>",
                "    Return the keys from a full command.",
            ],
            "PUBSUB" => &[
                "CHANNELS [<pattern>]",
                "    Return the currently active channels matching a <pattern> (default: '*').",
                "NUMPAT",
                "    Return number of subscriptions to patterns.",
                "NUMSUB [<channel> ...]",
                "    Return the number of subscribers for the specified channels, excluding",
                "    pattern subscriptions(default: no channels).",
            ],
            "MEMORY" => &[
                "USAGE <key> [SAMPLES <count>]",
                "    Return memory in bytes used by <key> and its value (its rows in tree pages).",
            ],
            "OBJECT" => &[
                "ENCODING <key>",
                "    Return the kind of internal representation Redis 7.0 would use for the value",
                "    stored at <key> (mmtree stores every value as ordered rows).",
                "FREQ <key>",
                "    Return the access frequency index of the key <key> (no LFU policy: an error).",
                "IDLETIME <key>",
                "    Return the seconds since the key <key> was last read or written.",
                "REFCOUNT <key>",
                "    Return the number of references of the value associated with the specified",
                "    <key> (1: no value is shared).",
            ],
            "XGROUP" => &[
                "CREATE <key> <groupname> <id|$> [option]",
                "    Create a new consumer group. Options are:",
                "    * MKSTREAM",
                "      Create the empty stream if it does not exist.",
                "    * ENTRIESREAD entries_read",
                "      Set the group's entries_read counter (internal use).",
                "CREATECONSUMER <key> <groupname> <consumer>",
                "    Create a new consumer in the specified group.",
                "DELCONSUMER <key> <groupname> <consumer>",
                "    Remove the specified consumer.",
                "DESTROY <key> <groupname>",
                "    Remove the specified group.",
                "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
                "    Set the current group ID and entries_read counter.",
            ],
            "XINFO" => &[
                "CONSUMERS <key> <groupname>",
                "    Show consumers of <groupname>.",
                "GROUPS <key>",
                "    Show the stream consumer groups.",
                "STREAM <key> [FULL [COUNT <count>]",
                "    Show information about the stream.",
            ],
            "SCRIPT" => &[
                "EXISTS <sha1> [<sha1> ...]",
                "    Return information about the existence of the scripts in the script cache.",
                "FLUSH [ASYNC|SYNC]",
                "    Flush the Lua scripts cache.",
                "KILL",
                "    Kill the currently executing Lua script.",
                "LOAD <script>",
                "    Load a script into the scripts cache without executing it.",
            ],
            "FUNCTION" => &[
                "LOAD [REPLACE] <FUNCTION CODE>",
                "    Create a new library with the given library name and code.",
                "DELETE <LIBRARY NAME>",
                "    Delete the given library.",
                "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
                "    Return general information on all the libraries.",
                "DUMP",
                "    Return a serialized payload representing the current libraries.",
                "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
                "    Restore the libraries represented by the given payload (default APPEND).",
                "KILL",
                "    Kill the current running function.",
                "STATS",
                "    Return information about the current function running.",
                "FLUSH [ASYNC|SYNC]",
                "    Delete all the libraries.",
            ],
            _ => &[],
        };
        self.out.array(lines.len() + 3);
        self.out.simple(&format!(
            "{container} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
        ));
        for l in lines {
            self.out.simple(l);
        }
        self.out.simple("HELP");
        self.out.simple("    Prints this help.");
    }
}
