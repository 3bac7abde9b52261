//! `mmtree serve DB`: the database over the Redis protocol (RESP2/RESP3). The CLI parses the
//! flags into [`Options`] and calls [`run`].
//!
//! Threads: one acceptor, `--threads` event loops that serve the connections dealt to them
//! (reads run there, each on a fresh snapshot; see `event`), and one group-commit writer that
//! applies the write commands of every connection waiting at that moment in one transaction and
//! one durable commit, then hands each its answer.

mod commands;
mod conn;
mod event;
mod expiry;
mod keyspace;
mod limiter;
mod notify;
mod pubsub;
pub mod resp;
mod store;

pub use store::is_internal_table;

use anyhow::{Context, Result};
use resp::{Limits, Reply};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Config {
    pub bind: SocketAddr,
    pub requirepass: Option<String>,
    pub client_rate: Option<f64>,
    pub client_burst: u32,
    pub max_clients: usize,
    pub idle_timeout: Option<Duration>,
    pub slow_timeout: Duration,
    pub limits: Limits,
    pub protected: bool,
}

/// Work for the group-commit writer from one client.
pub enum Job {
    /// Write commands, in order, on database `db`.
    Writes { db: u32, ops: Vec<Vec<Vec<u8>>> },
    /// WATCH: registers the keys; answered with each key's version and liveness. The keys are
    /// noted in `owner.watch_in_flight` until the connection has the answer, so a connection
    /// that closes (or a commit that fails) before then does not leave them registered.
    Watch {
        db: u32,
        keys: Vec<Vec<u8>>,
        owner: Arc<pubsub::Handle>,
    },
    /// EXEC: unless a watched key changed, runs the queued commands (each on its database) one
    /// after the other, inside the group's transaction. With `snapshot`, the transaction is
    /// committed right after them and the answer carries a snapshot of that commit: the queued
    /// commands the connection runs itself (SCAN, hash reads, …) read exactly the state the
    /// transaction left, nothing of the jobs after it.
    Exec {
        watched: Vec<store::WatchedKey>,
        ops: Vec<(u32, Vec<Vec<u8>>)>,
        snapshot: bool,
    },
}

impl Job {
    fn ops(&self) -> usize {
        match self {
            Job::Writes { ops, .. } => ops.len(),
            Job::Exec { ops, .. } => ops.len(),
            Job::Watch { .. } => 0,
        }
    }
}

/// The writer's answer to a job.
pub enum Outcome {
    /// One reply per command (Writes, Exec).
    Replies(Vec<Reply>),
    /// EXEC with `snapshot`: the replies, and a snapshot of the commit that ended with it.
    Exec(Vec<Reply>, Arc<mmtree::ReadTransaction>),
    /// Per watched key: (version, live).
    Watched(Vec<(u64, bool)>),
    /// EXEC found a watched key modified: nothing ran.
    Aborted,
    /// The commit failed: nothing was applied.
    Failed(String),
}

pub struct WriteBatch {
    pub job: Job,
    /// Delivers the answer (to the connection's event loop).
    pub reply: Box<dyn FnOnce(Outcome) + Send>,
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
    pub expired: AtomicU64,
}

pub struct Server {
    pub config: Config,
    pub db: mmtree::Db,
    pub writer: Mutex<Sender<WriteBatch>>,
    pub global_limiter: Option<Mutex<limiter::LeakyBucket>>,
    pub stats: Stats,
    /// Keys under WATCH, with their versions (see `store::Watches`).
    pub watches: Mutex<store::Watches>,
    /// Every live connection (CLIENT LIST, CLIENT KILL, PUBLISH).
    pub registry: pubsub::Registry,
    /// Pub/sub subscriptions.
    pub subs: Mutex<pubsub::Subs>,
    /// Calls per command, in `commands::table::COMMANDS` order (INFO commandstats; no timings).
    pub command_calls: Vec<AtomicU64>,
    pub shutting_down: AtomicBool,
    /// notify-keyspace-events.
    pub notify: notify::Settings,
    /// Set by SHUTDOWN: the acceptor stops as on SIGTERM.
    pub shutdown_requested: AtomicBool,
    pub clients: AtomicUsize,
    started: Instant,
}

impl Server {
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

    /// INFO [section ...]: Redis' sections (server, clients, memory, persistence, stats,
    /// replication, cpu, keyspace; "default", "all", "everything"), only those asked for, in
    /// Redis' order; an unknown section gives nothing.
    pub fn info(&self, asked: &[Vec<u8>]) -> String {
        const ORDER: [&str; 9] = [
            "server",
            "clients",
            "memory",
            "persistence",
            "stats",
            "replication",
            "cpu",
            "commandstats",
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
                    "connected_clients:{}\r\nmaxclients:{}\r\nblocked_clients:0\r\npubsub_clients:{pubsub}\r\n",
                    self.clients.load(Ordering::Relaxed),
                    self.config.max_clients,
                )
            }
            "memory" => {
                // Resident memory from /proc (the mapping's cached pages included).
                let rss = std::fs::read_to_string("/proc/self/statm")
                    .ok()
                    .and_then(|t| t.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .map_or(0, |pages| pages * 4096);
                format!(
                    "used_memory:{rss}\r\nused_memory_human:{:.2}M\r\nused_memory_rss:{rss}\r\nmaxmemory:0\r\nmaxmemory_policy:noeviction\r\nmmtree_file_bytes:{}\r\n",
                    rss as f64 / (1 << 20) as f64,
                    self.db.stats().file_bytes,
                )
            }
            "persistence" => {
                let d = self.db.stats();
                format!(
                    "loading:0\r\nasync_loading:0\r\nrdb_changes_since_last_save:0\r\nrdb_bgsave_in_progress:0\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\nmmtree_last_commit:{}\r\nmmtree_file_bytes:{}\r\nmmtree_commits:{}\r\nmmtree_committed_writes:{}\r\n\
                     mmtree_log_bytes:{}\r\nmmtree_log_syncs:{}\r\nmmtree_checkpoints:{}\r\nmmtree_last_checkpoint_txn:{}\r\n\
                     mmtree_last_checkpoint_age_seconds:{}\r\nmmtree_last_checkpoint_ms:{:.1}\r\nmmtree_pages_pinned:{}\r\n",
                    d.txn_id,
                    d.file_bytes,
                    load(&s.commits),
                    load(&s.committed_writes),
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
                format!(
                    "total_connections_received:{}\r\ntotal_commands_processed:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nevicted_keys:0\r\npubsub_channels:{channels}\r\npubsub_patterns:{patterns}\r\n\
                     limiter_admitted:{admitted}\r\nlimiter_rejected:{}\r\nlimiter_rejected_global:{rejected_global}\r\nlimiter_level:{level:.1}\r\nauth_failures:{}\r\n",
                    load(&s.connections),
                    load(&s.commands),
                    load(&s.rejected_connections),
                    load(&s.expired),
                    load(&s.rejected),
                    load(&s.auth_failures),
                )
            }
            "replication" => "role:master\r\nconnected_slaves:0\r\nmaster_repl_offset:0\r\n".into(),
            "commandstats" => {
                let mut text = String::new();
                for (c, calls) in commands::table::COMMANDS.iter().zip(&self.command_calls) {
                    let calls = calls.load(Ordering::Relaxed);
                    if calls > 0 {
                        text.push_str(&format!(
                            "cmdstat_{}:calls={calls},usec=0,usec_per_call=0.00,rejected_calls=0,failed_calls=0\r\n",
                            c.name.to_ascii_lowercase()
                        ));
                    }
                }
                text
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
                        if t.is_empty() {
                            continue;
                        }
                        let (expires, avg_ttl) = match read.table(store::expires_name(db))? {
                            Some(e) => (e.len(), store::average_ttl(&e, now)?),
                            None => (0, 0),
                        };
                        keyspace.push_str(&format!(
                            "db{db}:keys={},expires={expires},avg_ttl={avg_ttl}\r\n",
                            t.len()
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

/// The group-commit writer: takes every batch waiting, applies them in one transaction, commits
/// once, then answers each client. Sweeps expired keys on `expiry::Sweeper`'s schedule.
fn writer_loop(server: Arc<Server>, batches: Receiver<WriteBatch>, durability: mmtree::Durability) {
    let mut sweeper = expiry::Sweeper::new(Instant::now());
    loop {
        let first = match batches.recv_timeout(sweeper.wait(Duration::from_millis(100))) {
            Ok(batch) => Some(batch),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut group: Vec<WriteBatch> = first.into_iter().collect();
        let mut ops = group.iter().map(|b| b.job.ops()).sum::<usize>();
        while ops < 50_000 {
            match batches.try_recv() {
                Ok(batch) => {
                    ops += batch.job.ops();
                    group.push(batch);
                }
                Err(_) => break,
            }
        }
        let sweep_due = sweeper.due(Instant::now());
        if group.is_empty() && !sweep_due {
            continue;
        }
        let now = store::now_ms();
        // The group is committed in segments: one ends after an EXEC that wants a snapshot of
        // its own commit, the last one with the rest (and the expiry sweep, if due).
        let mut rest = group.into_iter().peekable();
        loop {
            let mut segment = Vec::new();
            for batch in rest.by_ref() {
                let cut = matches!(batch.job, Job::Exec { snapshot: true, .. });
                segment.push(batch);
                if cut {
                    break;
                }
            }
            let last = rest.peek().is_none();
            let sweep = (sweep_due && last).then_some(sweeper.limit());
            let expired = commit_segment(&server, segment, durability, now, sweep);
            if last {
                if sweep_due {
                    // A failed commit removed nothing: the sweep is tried again later.
                    sweeper.swept(expired.unwrap_or(0), Instant::now());
                }
                break;
            }
        }
    }
}

/// Why a segment's commit failed.
enum Failure {
    Db(mmtree::Error),
    /// A job panicked (a bug): its transaction was dropped, so nothing of it was applied.
    Panic,
}

impl From<mmtree::Error> for Failure {
    fn from(e: mmtree::Error) -> Failure {
        Failure::Db(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Db(e) => e.fmt(f),
            Failure::Panic => f.write_str(
                "internal error in a command (a bug; see the panic on stderr); nothing of this commit was applied",
            ),
        }
    }
}

/// Applies `segment`'s jobs in one write transaction, commits once, and answers each; with
/// `sweep`, also removes up to that many expired keys. Returns how many it removed (None if
/// the commit failed).
fn commit_segment(
    server: &Server,
    segment: Vec<WriteBatch>,
    durability: mmtree::Durability,
    now: u64,
    sweep: Option<usize>,
) -> Option<usize> {
    let ops = segment.iter().map(|b| b.job.ops()).sum::<usize>();
    let max_key = server.db.key_size_max().saturating_sub(12);
    let flags = server.notify.get();
    let notifying = flags != 0;
    let mut events: Vec<notify::KeyEvent> = Vec::new();
    // A panic (a bug) in one job drops the transaction unfinished, which aborts it: the segment's
    // jobs all fail and the writer goes on.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(Vec<Outcome>, usize), Failure> {
            let mut w = server.db.begin_write()?;
            w.set_durability(durability);
            let mut outcomes = Vec::with_capacity(segment.len());
            {
                let mut watches = server.watches.lock().expect("watches");
                for batch in &segment {
                    outcomes.push(run_job(
                        &mut w,
                        &mut watches,
                        &batch.job,
                        now,
                        max_key,
                        notifying.then_some(&mut events),
                    )?);
                }
            }
            let expired = match sweep {
                Some(limit) => store::sweep(&mut w, now, limit, notifying.then_some(&mut events))?,
                None => 0,
            };
            if ops == 0 && expired == 0 {
                w.abort();
            } else {
                w.commit()?;
            }
            // An EXEC that asked for it (the segment's last job) gets a snapshot of this commit,
            // taken before any other write can begin (this thread is the server's only writer).
            if let Some(Outcome::Replies(_)) = outcomes.last() {
                if matches!(
                    segment.last().map(|b| &b.job),
                    Some(Job::Exec { snapshot: true, .. })
                ) {
                    // (Without one, the connection reads a fresh snapshot: the commit is done.)
                    if let Ok(snapshot) = server.db.begin_read() {
                        if let Some(Outcome::Replies(replies)) = outcomes.pop() {
                            outcomes.push(Outcome::Exec(replies, Arc::new(snapshot)));
                        }
                    }
                }
            }
            Ok((outcomes, expired))
        },
    ))
    .unwrap_or_else(|_| Err(Failure::Panic));
    match result {
        Ok((outcomes, expired)) => {
            server
                .stats
                .expired
                .fetch_add(expired as u64, Ordering::Relaxed);
            if ops > 0 {
                server.stats.commits.fetch_add(1, Ordering::Relaxed);
                server
                    .stats
                    .committed_writes
                    .fetch_add(ops as u64, Ordering::Relaxed);
            }
            // Events go out once their commit is made, before the writers hear of it.
            for event in &events {
                for (channel, message) in notify::messages(flags, event) {
                    server.publish(&channel, &message);
                }
            }
            for (batch, outcome) in segment.into_iter().zip(outcomes) {
                (batch.reply)(outcome);
            }
            Some(expired)
        }
        Err(error) => {
            eprintln!("mmtree serve: commit failed: {error}");
            for batch in segment {
                (batch.reply)(Outcome::Failed(format!("ERR commit failed: {error}")));
            }
            None
        }
    }
}

fn run_job(
    w: &mut mmtree::WriteTransaction,
    watches: &mut store::Watches,
    job: &Job,
    now: u64,
    max_key: usize,
    mut events: Option<&mut Vec<notify::KeyEvent>>,
) -> mmtree::Result<Outcome> {
    fn tx<'a>(
        w: &'a mut mmtree::WriteTransaction,
        watches: &'a mut store::Watches,
        db: u32,
        now: u64,
        max_key: usize,
        events: Option<&'a mut Vec<notify::KeyEvent>>,
    ) -> store::Tx<'a> {
        store::Tx {
            w,
            db,
            now,
            max_key,
            watches: (!watches.is_empty()).then_some(watches),
            events,
        }
    }
    Ok(match job {
        Job::Writes { db, ops } => {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                out.push(store::apply(
                    &mut tx(w, watches, *db, now, max_key, events.as_deref_mut()),
                    op,
                )?);
            }
            Outcome::Replies(out)
        }
        Job::Watch { db, keys, owner } => {
            // Under the watches lock, as the connection's drop: a closed connection registers
            // nothing.
            if owner.gone.load(Ordering::Relaxed) {
                return Ok(Outcome::Failed("ERR the client is gone".into()));
            }
            *owner.watch_in_flight.lock().expect("watch in flight") = Some((*db, keys.clone()));
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let live = tx(w, watches, *db, now, max_key, events.as_deref_mut())
                    .get(key)?
                    .is_some();
                out.push((watches.add(*db, key), live));
            }
            Outcome::Watched(out)
        }
        Job::Exec { watched, ops, .. } => {
            for k in watched {
                let live = tx(w, watches, k.db, now, max_key, events.as_deref_mut())
                    .get(&k.key)?
                    .is_some();
                if watches.version(k.db, &k.key) != Some(k.version) || (k.live && !live) {
                    return Ok(Outcome::Aborted);
                }
            }
            let mut out = Vec::with_capacity(ops.len());
            for (db, op) in ops {
                let mut tx = tx(w, watches, *db, now, max_key, events.as_deref_mut());
                out.push(match commands::table::lookup(&op[0]).map(|c| c.handler) {
                    Some(commands::table::Handler::Read(read)) => {
                        let name = String::from_utf8_lossy(&op[0]).to_ascii_uppercase();
                        let mut rows = keyspace::Transaction(&mut tx);
                        let mut ks =
                            keyspace::Keyspace::new(&mut rows as &mut dyn keyspace::Rows, now);
                        read(&mut ks, &name, &op[1..])?
                    }
                    _ => store::apply(&mut tx, op)?,
                });
            }
            Outcome::Replies(out)
        }
    })
}

/// The Redis version the server speaks for (INFO's `redis_version`, HELLO's `version`):
/// clients and Redis' test suite choose features by it.
pub const REDIS_VERSION: &str = "7.0.0";

/// What `mmtree serve` was asked for (see its `--help` for each).
#[derive(Clone, Debug)]
pub struct Options {
    /// The database file (created if missing).
    pub db: PathBuf,
    /// HOST:PORT to listen on (the first address it resolves to).
    pub bind: String,
    /// Replaces the port of `bind`.
    pub port: Option<u16>,
    pub requirepass: Option<String>,
    /// Global limit, commands per second, and its burst.
    pub rate: Option<f64>,
    pub burst: u32,
    /// Per-connection limit, commands per second, and its burst.
    pub client_rate: Option<f64>,
    pub client_burst: u32,
    /// Event loops.
    pub threads: usize,
    pub maxclients: usize,
    /// Idle timeout in seconds (0: never).
    pub timeout: u64,
    /// Seconds a request may stay incomplete.
    pub slow_timeout: u64,
    /// Largest bulk string accepted, in bytes.
    pub max_bulk: usize,
    pub durability: mmtree::Durability,
}

/// Serves `args.db` until SIGTERM, SIGINT or SHUTDOWN.
pub fn run(args: Options) -> Result<()> {
    let db =
        mmtree::Db::open(&args.db).with_context(|| format!("opening {}", args.db.display()))?;
    let mut bind: SocketAddr = std::net::ToSocketAddrs::to_socket_addrs(args.bind.as_str())
        .ok()
        .and_then(|mut addrs| addrs.next())
        .with_context(|| format!("--bind {}: not an address HOST:PORT", args.bind))?;
    if let Some(port) = args.port {
        bind.set_port(port);
    }
    let listener = TcpListener::bind(bind).with_context(|| format!("listening on {bind}"))?;
    // std listens with a backlog of 128: a burst of connects (thousands of clients
    // reconnecting) overflowed it, and each overflow costs the client a 1 s SYN retransmit.
    // Listening again raises it (Redis' tcp-backlog is 511; the kernel caps it at somaxconn).
    rustix::net::listen(&listener, 4096).context("setting the listen backlog")?;
    listener.set_nonblocking(true)?;
    // Unbounded: each connection has at most one job out, so the queue is at most --maxclients
    // long, and a loop never blocks on it.
    let (sender, receiver) = std::sync::mpsc::channel::<WriteBatch>();
    let protected = !bind.ip().is_loopback() && args.requirepass.is_none();
    let server = Arc::new(Server {
        config: Config {
            bind: listener.local_addr()?,
            requirepass: args.requirepass,
            client_rate: args.client_rate,
            client_burst: args.client_burst,
            max_clients: args.maxclients,
            idle_timeout: (args.timeout > 0).then(|| Duration::from_secs(args.timeout)),
            slow_timeout: Duration::from_secs(args.slow_timeout),
            limits: Limits {
                max_bulk: args.max_bulk,
                ..Limits::default()
            },
            protected,
        },
        db,
        writer: Mutex::new(sender),
        global_limiter: args
            .rate
            .map(|rate| Mutex::new(limiter::LeakyBucket::new(rate, args.burst))),
        stats: Stats::default(),
        watches: Mutex::new(store::Watches::default()),
        registry: Mutex::new(BTreeMap::new()),
        subs: Mutex::new(pubsub::Subs::default()),
        command_calls: commands::table::COMMANDS
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect(),
        shutting_down: AtomicBool::new(false),
        shutdown_requested: AtomicBool::new(false),
        notify: notify::Settings::default(),
        clients: AtomicUsize::new(0),
        started: Instant::now(),
    });
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    let durability = args.durability;
    let writer = {
        let server = server.clone();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || writer_loop(server, receiver, durability))?
    };
    println!(
        "mmtree serve: {} on {}",
        args.db.display(),
        server.config.bind
    );
    if protected {
        println!("protected mode: no --requirepass on a non-loopback address, so only loopback clients are served");
    }
    let mut loops = Vec::new();
    let mut loop_threads = Vec::new();
    for i in 0..args.threads.max(1) {
        let event_loop = event::Loop::new().context("creating an event loop")?;
        loops.push(event_loop.notifier.clone());
        let server = server.clone();
        loop_threads.push(
            std::thread::Builder::new()
                .name(format!("event-loop-{i}"))
                .spawn(move || event_loop.run(server))?,
        );
    }
    let mut next_id = 1u64;
    while !stop.load(Ordering::Relaxed) && !server.shutdown_requested.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, peer)) => {
                let _ = stream.set_nonblocking(false);
                server.stats.connections.fetch_add(1, Ordering::Relaxed);
                let refuse = |message: &str| {
                    use std::io::Write;
                    server
                        .stats
                        .rejected_connections
                        .fetch_add(1, Ordering::Relaxed);
                    let _ = (&stream).write_all(format!("-{message}\r\n").as_bytes());
                };
                if server.config.protected && !peer.ip().is_loopback() {
                    refuse("DENIED mmtree is running in protected mode: it listens on a non-loopback address without a password. Set --requirepass or bind to 127.0.0.1.");
                    continue;
                }
                if server.clients.load(Ordering::Relaxed) >= server.config.max_clients {
                    refuse("ERR max number of clients reached");
                    continue;
                }
                server.clients.fetch_add(1, Ordering::Relaxed);
                let id = next_id;
                next_id += 1;
                // Dealt out in turn; the loop counts the client out when it closes.
                loops[(id as usize) % loops.len()].send(event::Event::Accept(stream, id));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                // Wait for the next connection, waking at least every 100 ms to see a stop
                // signal. (A fixed sleep here let a burst of connects overflow the listen
                // backlog, and each overflow cost that client a 1 s SYN retransmit.)
                let mut fds = [rustix::event::PollFd::new(
                    &listener,
                    rustix::event::PollFlags::IN,
                )];
                let timeout = rustix::event::Timespec {
                    tv_sec: 0,
                    tv_nsec: 100_000_000,
                };
                let _ = rustix::event::poll(&mut fds, Some(&timeout));
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                // EMFILE, ECONNABORTED, …: keep serving the clients we have.
                eprintln!("mmtree serve: accept failed: {e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // Graceful shutdown: stop accepting, let clients finish what they sent, commit, exit 0.
    println!("mmtree serve: shutting down");
    server.shutting_down.store(true, Ordering::Relaxed);
    drop(loops);
    for handle in loop_threads {
        let _ = handle.join();
    }
    // The writer ends when its channel closes: drop the last sender.
    let (closed, _) = std::sync::mpsc::channel();
    drop(std::mem::replace(
        &mut *server.writer.lock().expect("writer channel"),
        closed,
    ));
    let _ = writer.join();
    server.db.sync()?;
    println!("mmtree serve: stopped");
    Ok(())
}
