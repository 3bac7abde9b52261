//! The state every thread shares: the configuration, the database, the way to the writer,
//! the limiter, the clients and their subscriptions, the counters; and INFO.
//!
//! Lock order. Two nestings exist: `registry` → a `Handle`'s `state` (INFO clients reads
//! each client's state while it holds the registry), and the writer role (`writer::Role`) →
//! `writer`, the writer's queue (the role's holder takes the queue). Every other lock is taken
//! alone and released before the next: `subs` (then, separately, `registry`, when PUBLISH finds
//! its subscribers), `writer` (alone, held only to push jobs), `global_limiter`,
//! a `Handle`'s `mail` and its `watch.in_flight`. The WATCH versions are not shared at all:
//! they are the group-commit writer's own state (`writer`), and UNWATCH, DISCARD, EXEC and a
//! closing connection hand it jobs; so no event loop waits on anything the writer holds while
//! it applies a group, and a loop never waits for a commit it does not make itself (an event
//! loop takes the role only when it is free: `event::hand_over`). Blocked clients (BLPOP, …) are the
//! writer's own state too (`blocking::Blocked`): a connection hands it `Job::Block` and
//! `Job::Unblock`, and reads only two atomics it sets (its `BlockClaim`, `stats.blocked`).
//! `tracking`, `monitors` and `slowlog` are taken alone too: what the tracking table returns
//! (invalidations) is delivered after its lock is released (`registry`, then each target's
//! `state` and `mail`); the monitors' list is copied before any mail is written; a SLOWLOG
//! entry reads the client's address and name (`registry` → `state`) before `slowlog` is taken.

/// The Redis version the server speaks for (INFO's `redis_version`, HELLO's `version`):
/// clients and Redis' test suite choose features by it.
pub const REDIS_VERSION: &str = "7.0.0";

use crate::access::{self, AccessTimes};
use crate::commands;
use crate::introspection::{self, SlowLog};
use crate::limiter;
use crate::notify;
use crate::pubsub;
use crate::resp::Limits;
use crate::store;
use crate::tracking::{self, Tracking};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// File descriptors kept for everything but clients (the database, its log and lock files, the
/// listener, epoll and wakers), as Redis keeps 32.
const RESERVED_FDS: u64 = 32;

/// `--maxclients` as the open-files limit allows it: the soft limit is raised toward what that
/// many clients need (up to the hard limit); if it stays short, fewer clients are served and
/// the caller says so (as Redis logs it at start, and CONFIG SET maxclients refuses it), rather
/// than `accept` failing with EMFILE at run time.
pub fn client_limit(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let need = wanted as u64 + RESERVED_FDS;
    let mut limit = getrlimit(Resource::Nofile);
    let current = limit.current.unwrap_or(u64::MAX);
    if current >= need {
        return wanted;
    }
    limit.current = Some(need.min(limit.maximum.unwrap_or(u64::MAX)));
    let _ = setrlimit(Resource::Nofile, limit);
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now >= need {
        return wanted;
    }
    now.saturating_sub(RESERVED_FDS).max(1) as usize
}

impl Config {
    /// How long a client may stay idle (None: for ever).
    pub fn idle_timeout(&self) -> Option<Duration> {
        match self.idle_secs.load(Ordering::Relaxed) {
            0 => None,
            s => Some(Duration::from_secs(s)),
        }
    }
}

pub struct Config {
    pub bind: SocketAddr,
    pub requirepass: Option<String>,
    pub client_rate: Option<f64>,
    pub client_burst: u32,
    /// `--maxclients` (as the open-files limit allows), CONFIG SET maxclients.
    pub max_clients: AtomicUsize,
    /// `--timeout` in seconds, 0: never (CONFIG SET timeout).
    pub idle_secs: AtomicU64,
    pub slow_timeout: Duration,
    pub limits: Limits,
    pub protected: bool,
    /// How every commit of this server is made durable (`--durability`): the writer's group
    /// commits and FUNCTION's saves alike.
    pub durability: mmtree::Durability,
}

#[derive(Default)]
pub struct Stats {
    pub connections: AtomicU64,
    pub rejected_connections: AtomicU64,
    pub commands: AtomicU64,
    pub rejected: AtomicU64,
    /// Commands a rate limiter (global or the connection's own) admitted.
    pub limiter_admitted: AtomicU64,
    pub auth_failures: AtomicU64,
    pub commits: AtomicU64,
    pub committed_writes: AtomicU64,
    /// Groups an event loop handed to the group-commit thread because their commit would merge
    /// the write buffer into the tree (`event::hand_over`; INFO `mmtree_merge_handoffs`).
    pub merge_handoffs: AtomicU64,
    pub expired: AtomicU64,
    /// Clients the writer holds blocked now (`blocking::Blocked`; INFO `blocked_clients`).
    pub blocked: AtomicU64,
    /// Changes committed since the last SAVE (or the start): Redis' `dirty`, INFO's
    /// `rdb_changes_since_last_save`; each key change a command makes counts one (the writer
    /// adds up its `Tx`'s `changes`).
    pub dirty: AtomicU64,
    /// Error replies sent (INFO's `total_error_replies`).
    pub error_replies: AtomicU64,
}

/// Redis' limit on the error codes INFO errorstats lists: past it, new codes are not counted
/// (only `total_error_replies` is).
const ERROR_CODES_MAX: usize = 128;

pub struct Server {
    pub config: Config,
    pub db: mmtree::Db,
    pub writer: crate::jobs::Queue,
    pub global_limiter: Option<Mutex<limiter::LeakyBucket>>,
    pub stats: Stats,
    /// Every live connection (CLIENT LIST, CLIENT KILL, PUBLISH).
    pub registry: pubsub::Registry,
    /// Pub/sub subscriptions.
    pub subs: Mutex<pubsub::Subs>,
    /// Calls per command and subcommand, in `commands::table::all()` order (INFO commandstats,
    /// `cmdstat_client|id` for a subcommand, as Redis 7; no timings).
    pub command_calls: Vec<AtomicU64>,
    /// Per command, calls refused before they ran (arity, NOAUTH, MULTI, BUSY, …) and calls
    /// that ran and answered an error (commandstats' `rejected_calls` and `failed_calls`).
    pub command_rejected: Vec<AtomicU64>,
    pub command_failed: Vec<AtomicU64>,
    /// Error replies by code, the error's first word (INFO errorstats; taken alone).
    pub error_codes: Mutex<BTreeMap<String, u64>>,
    /// When the last SAVE ended, Unix seconds (INFO's `rdb_last_save_time`; the start before).
    pub last_save: AtomicU64,
    /// The encoding thresholds CONFIG SET was given (kept, without effect; taken alone).
    pub settings_kept: Mutex<BTreeMap<String, String>>,
    /// Every key's last access (OBJECT IDLETIME; in memory only; its lock is taken alone).
    pub access: AccessTimes,
    pub shutting_down: AtomicBool,
    /// notify-keyspace-events.
    pub notify: notify::Settings,
    /// Set by SHUTDOWN: the acceptor stops as on SIGTERM.
    pub shutdown_requested: AtomicBool,
    pub clients: AtomicUsize,
    pub started: Instant,
    /// Lua scripting's shared state: the script cache, the function libraries, the running
    /// script (`commands::scripting`; its two locks are each taken alone).
    pub scripts: Arc<commands::scripting::Scripts>,
    /// CLIENT TRACKING's table and clients (`tracking`; taken alone: what it returns is
    /// delivered after it is released).
    pub tracking: Mutex<Tracking>,
    /// Tracking clients now (read by the writer without the lock: it collects the keys its
    /// groups change while there is one).
    pub tracking_clients: AtomicUsize,
    /// MONITOR connections (taken alone; each handle's mail after it is released).
    pub monitors: Mutex<Vec<Arc<pubsub::Handle>>>,
    pub monitoring: AtomicUsize,
    /// The SLOWLOG (taken alone, or after `registry` when an entry is made) and its settings.
    pub slowlog: Mutex<SlowLog>,
    pub slowlog_slower_than: AtomicI64,
    pub slowlog_max_len: AtomicU64,
}

impl Server {
    /// Hands a batch of access records to the table (`access`); starts a sweep of the table on
    /// a thread of its own when it has grown enough.
    pub fn note_access(self: &Arc<Self>, batch: &mut access::Batch, now: Instant) {
        if batch.is_empty() {
            return;
        }
        if self.access.apply(batch, self.access.clock(now)) && !self.access.sweeping() {
            let server = self.clone();
            let _ = std::thread::Builder::new()
                .name("access-sweep".into())
                .spawn(move || server.access.sweep(&server.db));
        }
    }

    /// Counts error replies: `codes` are the errors' texts (their first word is the code).
    pub fn note_errors(&self, errors: &[String]) {
        if errors.is_empty() {
            return;
        }
        self.stats
            .error_replies
            .fetch_add(errors.len() as u64, Ordering::Relaxed);
        let mut codes = self.error_codes.lock().expect("error codes");
        for e in errors {
            let code = e
                .split(' ')
                .next()
                .filter(|c| !c.is_empty())
                .unwrap_or("ERR");
            if let Some(n) = codes.get_mut(code) {
                *n += 1;
            } else if codes.len() < ERROR_CODES_MAX {
                codes.insert(code.to_string(), 1);
            }
        }
    }

    /// CONFIG RESETSTAT: the counters INFO shows go back to 0, as Redis' `resetServerStats`,
    /// `resetCommandTableStats` and `resetErrorTableStats` (not the keyspace, the clients, the
    /// SLOWLOG or the changes since the last save).
    pub fn reset_stats(&self) {
        let s = &self.stats;
        for counter in [
            &s.connections,
            &s.rejected_connections,
            &s.commands,
            &s.rejected,
            &s.limiter_admitted,
            &s.auth_failures,
            &s.expired,
            &s.error_replies,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        for counters in [
            &self.command_calls,
            &self.command_rejected,
            &self.command_failed,
        ] {
            for c in counters {
                c.store(0, Ordering::Relaxed);
            }
        }
        self.error_codes.lock().expect("error codes").clear();
        if let Some(l) = &self.global_limiter {
            l.lock().expect("limiter").rejected = 0;
        }
    }

    /// The subscribers of `channel` (by channel or pattern), each with the pattern it matched.
    pub fn subscribers(&self, channel: &[u8]) -> Vec<(Arc<pubsub::Handle>, Option<Vec<u8>>)> {
        let targets = self.subs.lock().expect("subs").targets(channel);
        let registry = self.registry.lock().expect("registry");
        targets
            .into_iter()
            .filter_map(|(id, p)| Some((registry.get(&id)?.clone(), p)))
            .collect()
    }

    /// Publishes to every subscriber's mail; returns how many there are.
    pub fn publish(&self, channel: &[u8], payload: &[u8]) -> usize {
        let subscribers = self.subscribers(channel);
        for (h, p) in &subscribers {
            h.publish(p.as_deref(), channel, payload);
        }
        subscribers.len()
    }

    /// Sends tracking invalidations (see `tracking::deliver`).
    pub fn invalidate(&self, plan: &[tracking::Invalidation]) {
        if plan.is_empty() {
            return;
        }
        let redirects = self.tracking.lock().expect("tracking").redirects(plan);
        tracking::deliver(&self.registry, plan, &redirects);
    }

    /// Feeds a command to the MONITOR connections (`origin`: the client's address, or `lua`).
    pub fn feed_monitors(&self, db: u32, origin: &str, args: &[Vec<u8>]) {
        if self.monitoring.load(Ordering::Relaxed) == 0 {
            return;
        }
        let line = introspection::monitor_line(db, origin, args);
        let monitors = self.monitors.lock().expect("monitors").clone();
        for m in monitors {
            m.deliver(&line);
        }
    }

    /// True if a command that ran `micros` goes to the SLOWLOG.
    /// Whether commands are timed at all (`slowlog-log-slower-than` is not negative).
    pub fn slowlog_enabled(&self) -> bool {
        self.slowlog_slower_than.load(Ordering::Relaxed) >= 0
    }

    pub fn is_slow(&self, micros: u64) -> bool {
        let limit = self.slowlog_slower_than.load(Ordering::Relaxed);
        limit >= 0 && micros >= limit as u64
    }

    /// Logs a slow command of client `client` (its address and name from the registry).
    pub fn log_slow(&self, client: u64, args: &[Vec<u8>], micros: u64) {
        let (addr, name) = {
            let registry = self.registry.lock().expect("registry");
            match registry.get(&client) {
                Some(h) => (
                    h.addr.clone(),
                    h.state.lock().expect("client state").name.clone(),
                ),
                None => (String::new(), Vec::new()),
            }
        };
        let max_len = self.slowlog_max_len.load(Ordering::Relaxed);
        self.slowlog
            .lock()
            .expect("slowlog")
            .push(args, micros, addr, name, max_len);
    }

    /// INFO [section ...]: Redis' sections (server, clients, memory, persistence, stats,
    /// replication, cpu, keyspace; "default", "all", "everything"), only those asked for, in
    /// Redis' order; an unknown section gives nothing.
    pub fn info(&self, asked: &[Vec<u8>]) -> String {
        const ORDER: [&str; 10] = [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
            "cpu",
            "commandstats",
            "errorstats",
            "keyspace",
        ];
        let asked: Vec<String> = asked
            .iter()
            .map(|a| String::from_utf8_lossy(a).to_ascii_lowercase())
            .collect();
        // "default" (and no argument) is every section but commandstats; "all" and
        // "everything" add it.
        let all = asked
            .iter()
            .any(|a| matches!(a.as_str(), "all" | "everything"));
        let default = asked.is_empty() || asked.iter().any(|a| a == "default");
        let mut text = String::new();
        for section in ORDER {
            let wanted =
                all || (default && section != "commandstats") || asked.iter().any(|a| a == section);
            if !wanted {
                continue;
            }
            if !text.is_empty() {
                text.push_str("\r\n");
            }
            let mut title = section.to_string();
            title[..1].make_ascii_uppercase();
            match section {
                "cpu" => title = "CPU".into(),
                "commandstats" => title = "Commandstats".into(),
                "errorstats" => title = "Errorstats".into(),
                _ => {}
            }
            text.push_str(&format!("# {title}\r\n"));
            text.push_str(&self.info_section(section));
        }
        text
    }

    fn info_section(&self, section: &str) -> String {
        let s = &self.stats;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        match section {
            "server" => format!(
                "redis_version:{REDIS_VERSION}\r\nmmtree_version:{}\r\nredis_mode:standalone\r\nos:{}\r\narch_bits:64\r\nprocess_id:{}\r\ntcp_port:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nexecutable:mmtree\r\n",
                env!("CARGO_PKG_VERSION"),
                std::env::consts::OS,
                std::process::id(),
                self.config.bind.port(),
                self.started.elapsed().as_secs(),
                self.started.elapsed().as_secs() / 86400,
            ),
            "clients" => {
                let pubsub = self
                    .registry
                    .lock()
                    .expect("registry")
                    .values()
                    .filter(|h| h.is_pubsub())
                    .count();
                format!(
                    "connected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:{}\r\ntracking_clients:{}\r\npubsub_clients:{pubsub}\r\n",
                    self.clients.load(Ordering::Relaxed),
                    self.config.max_clients.load(Ordering::Relaxed),
                    load(&s.blocked),
                    self.tracking_clients.load(Ordering::Relaxed),
                )
            }
            "memory" => {
                // Resident memory from /proc (the mapping's cached pages included).
                let rss = std::fs::read_to_string("/proc/self/statm")
                    .ok()
                    .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .map_or(0, |pages| pages * 4096);
                format!(
                    "used_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmmtree_file_bytes:{}\r\nnumber_of_cached_scripts:{}\r\n",
                    rss as f64 / (1 << 20) as f64,
                    self.db.stats().file_bytes,
                    self.scripts.cached(),
                )
            }
            "persistence" => {
                let d = self.db.stats();
                format!(
                    "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\nmmtree_last_commit:{}\r\nmmtree_file_bytes:{}\r\nmmtree_commits:{}\r\nmmtree_committed_writes:{}\r\nmmtree_merge_handoffs:{}\r\n\
                     mmtree_log_bytes:{}\r\nmmtree_log_syncs:{}\r\nmmtree_checkpoints:{}\r\nmmtree_last_checkpoint_txn:{}\r\n\
                     mmtree_last_checkpoint_age_seconds:{}\r\nmmtree_last_checkpoint_ms:{:.1}\r\nmmtree_pages_pinned:{}\r\n",
                    load(&s.dirty),
                    load(&self.last_save),
                    d.txn_id,
                    d.file_bytes,
                    load(&s.commits),
                    load(&s.committed_writes),
                    load(&s.merge_handoffs),
                    d.log_bytes,
                    d.log_syncs,
                    d.checkpoints,
                    d.checkpoint_txn,
                    d.checkpoint_age.as_secs(),
                    d.last_checkpoint_duration.as_secs_f64() * 1e3,
                    d.pages_pinned,
                )
            }
            "stats" => {
                // The level: the global bucket's, or with only per-connection limits, the
                // fullest connection's.
                let (rejected_global, level) = match &self.global_limiter {
                    Some(l) => {
                        let l = l.lock().expect("limiter");
                        (l.rejected, l.level())
                    }
                    None => (
                        0,
                        self.registry
                            .lock()
                            .expect("registry")
                            .values()
                            .map(|h| f64::from_bits(h.buffers.limiter_level.load(Ordering::Relaxed)))
                            .fold(0.0, f64::max),
                    ),
                };
                let admitted = load(&s.limiter_admitted);
                let (channels, patterns) = {
                    let subs = self.subs.lock().expect("subs");
                    (subs.channels.len(), subs.patterns.len())
                };
                let (keys, items, prefixes) = {
                    let t = self.tracking.lock().expect("tracking");
                    (t.keys(), t.items(), t.prefixes())
                };
                format!(
                    "total_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\nmigrate_cached_sockets:0\r\n\
                     tracking_total_keys:{keys}\r\ntracking_total_items:{items}\r\ntracking_total_prefixes:{prefixes}\r\n\
                     limiter_admitted:{admitted}\r\nlimiter_rejected:{}\r\nlimiter_rejected_global:{rejected_global}\r\nlimiter_level:{level:.1}\r\nauth_failures:{}\r\ntotal_error_replies:{}\r\nmmtree_access_times:{}\r\n",
                    load(&s.connections),
                    load(&s.commands),
                    load(&s.rejected_connections),
                    load(&s.expired),
                    load(&s.rejected),
                    load(&s.auth_failures),
                    load(&s.error_replies),
                    self.access.len(),
                )
            }
            "replication" => "role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n".into(),
            "commandstats" => {
                let mut text = String::new();
                for (i, c) in commands::table::all().iter().enumerate() {
                    let calls = load(&self.command_calls[i]);
                    let rejected = load(&self.command_rejected[i]);
                    let failed = load(&self.command_failed[i]);
                    if calls + rejected + failed > 0 {
                        text.push_str(&format!(
                            "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls={rejected},failed_calls={failed}\r\n",
                            c.name.to_ascii_lowercase()
                        ));
                    }
                }
                text
            }
            "errorstats" => {
                let codes = self.error_codes.lock().expect("error codes");
                codes
                    .iter()
                    .map(|(code, n)| format!("errorstat_{code}:count={n}\r\n"))
                    .collect()
            }
            "cpu" => {
                // utime and stime from /proc/self/stat, in clock ticks (100 per second).
                let ticks: Vec<u64> = std::fs::read_to_string("/proc/self/stat")
                    .ok()
                    .and_then(|t| {
                        let rest = t.rsplit_once(')')?.1.to_string();
                        Some(
                            rest.split_whitespace()
                                .skip(11)
                                .take(2)
                                .filter_map(|n| n.parse().ok())
                                .collect(),
                        )
                    })
                    .unwrap_or_default();
                let secs = |i: usize| ticks.get(i).map_or(0.0, |&t| t as f64 / 100.0);
                format!(
                    "used_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
                    secs(1),
                    secs(0)
                )
            }
            _ => {
                let mut keyspace = String::new();
                let now = store::now_ms();
                let listed = self.db.begin_read().and_then(|read| {
                    for db in 0..store::DATABASES {
                        let Some(t) = read.table(store::table_name(db))? else {
                            continue;
                        };
                        let keys = t.len()?;
                        if keys == 0 {
                            continue;
                        }
                        let (expires, avg_ttl) = match read.table(store::expires_name(db))? {
                            Some(e) => (e.len()?, store::average_ttl(&e, now)?),
                            None => (0, 0),
                        };
                        keyspace.push_str(&format!(
                            "db{db}:keys={keys},expires={expires},avg_ttl={avg_ttl}\r\n"
                        ));
                    }
                    Ok(())
                });
                if let Err(e) = listed {
                    eprintln!("mmtree serve: INFO keyspace: {e}");
                    keyspace.push_str(&format!("mmtree_error:{e}\r\n"));
                }
                keyspace
            }
        }
    }
}
