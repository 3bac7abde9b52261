//! Server and introspection commands: COMMAND (alone, INFO, LIST, COUNT), CONFIG GET and SET.

use super::*;
use crate::commands::args::Args;

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
    /// CONFIG GET parameter [parameter ...]: the settings whose names match a pattern.
    pub(super) fn config_get(&mut self, patterns: &[Vec<u8>]) {
        let config = &self.server.config;
        let params: Vec<(&str, String)> = vec![
            ("save", String::new()),
            ("appendonly", "no".into()),
            ("databases", DATABASES.to_string()),
            ("maxclients", config.max_clients.to_string()),
            (
                "timeout",
                config.idle_timeout.map_or(0, |t| t.as_secs()).to_string(),
            ),
            ("proto-max-bulk-len", config.limits.max_bulk.to_string()),
            (
                "requirepass",
                config.requirepass.clone().unwrap_or_default(),
            ),
            ("maxmemory", "0".into()),
            (
                "notify-keyspace-events",
                crate::notify::format(self.server.notify.get()),
            ),
            ("hash-max-ziplist-entries", "128".into()),
            ("hash-max-ziplist-value", "64".into()),
            ("hash-max-listpack-entries", "128".into()),
            ("hash-max-listpack-value", "64".into()),
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
            ("stream-node-max-bytes", "4096".into()),
            ("bind", config.bind.ip().to_string()),
            ("port", config.bind.port().to_string()),
            (
                "lua-time-limit",
                self.server.scripts.time_limit_ms().to_string(),
            ),
            (
                "busy-reply-threshold",
                self.server.scripts.time_limit_ms().to_string(),
            ),
            (
                "slowlog-log-slower-than",
                self.server
                    .slowlog_slower_than
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
            (
                "slowlog-max-len",
                self.server
                    .slowlog_max_len
                    .load(Ordering::Relaxed)
                    .to_string(),
            ),
            (
                "tracking-table-max-keys",
                self.server
                    .tracking
                    .lock()
                    .expect("tracking")
                    .max_keys
                    .to_string(),
            ),
        ];
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
    /// CONFIG SET: the memory-encoding thresholds (`*-max-ziplist-*`, `*-max-listpack-*`,
    /// `*-max-intset-entries`) are accepted and ignored, since mmtree stores no encodings; any
    /// other setting is refused in Redis' words (the server's settings are its command line).
    pub(super) fn config_set(&mut self, a: &[Vec<u8>]) {
        // Name and value pairs (the table's arity asks for one at least; Redis 7.0 calls an odd
        // count a syntax error).
        if !a.len().is_multiple_of(2) {
            self.out.error("ERR syntax error");
            return;
        }
        // Checked whole before any is applied, as Redis: first what no value can make right (a
        // setting fixed at start, one named twice).
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
        for (i, pair) in a.chunks(2).enumerate() {
            let p = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            let why = if IMMUTABLE.contains(&p.as_str()) {
                "can't set immutable config"
            } else if a
                .chunks(2)
                .take(i)
                .any(|q| q[0].eq_ignore_ascii_case(&pair[0]))
            {
                "duplicate parameter"
            } else {
                continue;
            };
            self.out.error(&format!(
                "ERR CONFIG SET failed (possibly related to argument '{p}') - {why}"
            ));
            return;
        }
        let mut notify = None;
        let mut node_entries = None;
        let mut time_limit = None;
        let mut slower_than = None;
        let mut max_len = None;
        let mut max_keys = None;
        for pair in a.chunks(2) {
            let p = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            // The SLOWLOG's settings, and the tracking table's size (Redis' ranges).
            let integer = match p.as_str() {
                "slowlog-log-slower-than" => Some((&mut slower_than, i64::MIN)),
                "slowlog-max-len" => Some((&mut max_len, 0)),
                "tracking-table-max-keys" => Some((&mut max_keys, 0)),
                _ => None,
            };
            if let Some((slot, min)) = integer {
                match crate::store::parse_i64(&pair[1]) {
                    Some(n) if n >= min => *slot = Some(n),
                    Some(_) => {
                        self.out.error(&format!("ERR CONFIG SET failed (possibly related to argument '{p}') - argument must be between {min} and 9223372036854775807 inclusive"));
                        return;
                    }
                    None => {
                        self.out.error(&format!("ERR CONFIG SET failed (possibly related to argument '{p}') - argument couldn't be parsed into an integer"));
                        return;
                    }
                }
                continue;
            }
            // How many entries a stream node holds: what approximate trimming removes at once.
            if p == "stream-node-max-entries" {
                match crate::store::parse_i64(&pair[1]) {
                    Some(n) if n >= 0 => node_entries = Some(n as u64),
                    Some(_) => {
                        self.out.error("ERR CONFIG SET failed (possibly related to argument 'stream-node-max-entries') - argument must be between 0 and 9223372036854775807 inclusive");
                        return;
                    }
                    None => {
                        self.out.error("ERR CONFIG SET failed (possibly related to argument 'stream-node-max-entries') - argument couldn't be parsed into an integer");
                        return;
                    }
                }
                continue;
            }
            // How long a script runs before other clients get BUSY (milliseconds).
            if p == "lua-time-limit" || p == "busy-reply-threshold" {
                match std::str::from_utf8(&pair[1])
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    Some(ms) => time_limit = Some(ms),
                    None => {
                        self.out.error(&format!("ERR CONFIG SET failed (possibly related to argument '{p}') - argument couldn't be parsed into an integer"));
                        return;
                    }
                }
                continue;
            }
            if p == "notify-keyspace-events" {
                match crate::notify::parse(&pair[1]) {
                    Some(flags) => notify = Some(flags),
                    None => {
                        self.out.error("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
                        return;
                    }
                }
                continue;
            }
            // Accepted and without effect: the encoding knobs (mmtree has no encodings), and
            // `save ""` (no RDB snapshots: what CONFIG GET save already answers; every commit is
            // in the redo log). Redis' test suite sets these before a unit runs.
            let without_effect = p.contains("-max-ziplist-")
                || p.contains("-max-listpack-")
                || p.ends_with("-max-intset-entries")
                || p == "list-compress-depth"
                || p == "stream-node-max-bytes"
                || p == "save" && pair[1].is_empty();
            if !without_effect {
                self.out.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{p}') - mmtree serve takes its settings from its command line only"
                ));
                return;
            }
        }
        if let Some(flags) = notify {
            self.server.notify.set(flags);
        }
        if let Some(n) = node_entries {
            crate::store::stream::set_node_entries(n);
        }
        if let Some(ms) = time_limit {
            self.server.scripts.set_time_limit_ms(ms);
        }
        if let Some(n) = slower_than {
            self.server.slowlog_slower_than.store(n, Ordering::Relaxed);
        }
        if let Some(n) = max_len {
            self.server
                .slowlog_max_len
                .store(n as u64, Ordering::Relaxed);
        }
        if let Some(n) = max_keys {
            // Over the new limit: keys are evicted (and invalidated) at once.
            let evicted = {
                let mut t = self.server.tracking.lock().expect("tracking");
                t.max_keys = n as usize;
                t.limit()
            };
            self.server.invalidate(&evicted);
        }
        self.out.simple("OK");
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
                "    Set the configuration <directive> to <value> (only the settings without",
                "    effect: mmtree serve takes its settings from its command line).",
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
                "    An empty map: no documentation is kept.",
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
                "    Return the access frequency index of the key <key> (not tracked).",
                "IDLETIME <key>",
                "    Return the idle time of the key <key> (not tracked: 0).",
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
