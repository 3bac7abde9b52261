//! `mmtree serve DB`: the database over the Redis protocol (RESP2/RESP3). The CLI parses the
//! flags into [`Options`] and calls [`run`].
//!
//! Threads: one acceptor, `--threads` event loops that serve the connections dealt to them
//! (reads run there, each on a fresh snapshot; see `event`), and one group-commit writer that
//! applies the write commands of every connection waiting at that moment in one transaction and
//! one durable commit, then hands each its answer.
//!
//! The modules are in layers (checked by `tests/layers.rs`; docs/ARCHITECTURE.md has the map
//! and a reading tour): the RESP codec; the row layout over the engine's tables (`store`); Redis
//! types over the rows, read over a snapshot or the write transaction (`keyspace`); the command
//! table and the command families (`commands`); then the threads: the writer, the connections'
//! state machine (`conn`) and the event loops.

// In layer order, bottom first (checked by tests/layers.rs).
mod access;
mod blocking;
mod commands;
mod conn;
mod event;
mod expiry;
mod glob;
mod introspection;
mod jobs;
mod keyspace;
mod limiter;
mod notify;
mod pubsub;
pub mod resp;
mod server;
mod store;
mod tracking;
mod writer;

pub use server::REDIS_VERSION;
pub use store::is_internal_table;

/// The decoders of bytes a client chooses, for the fuzz target `server_payloads` (fuzz/):
/// RESTORE's payload, a HyperLogLog's registers, a script's `cmsgpack.unpack`. Not an API.
#[doc(hidden)]
pub mod decoders {
    pub use crate::commands::dump::{deserialize as restore_payload, serialize as dump_payload};
    pub use crate::commands::hll::{count as hll_count, registers as hll_registers};
    pub use crate::commands::scripting::msgpack::unpack_and_repack as msgpack_unpack;
}

use anyhow::{Context, Result};
use resp::Limits;
use server::{Config, Server, Stats};
use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use writer::writer_loop;

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
    let protected = !bind.ip().is_loopback() && args.requirepass.is_none();
    let started = Instant::now();
    let counters = || {
        commands::table::all()
            .iter()
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>()
    };
    let server = Arc::new(Server {
        config: Config {
            bind: listener.local_addr()?,
            requirepass: args.requirepass,
            client_rate: args.client_rate,
            client_burst: args.client_burst,
            max_clients: AtomicUsize::new({
                let served = server::client_limit(args.maxclients);
                if served < args.maxclients {
                    eprintln!(
                        "mmtree serve: the open-files limit allows {served} clients: serving at most {served} clients instead of --maxclients {}",
                        args.maxclients
                    );
                }
                served
            }),
            idle_secs: AtomicU64::new(args.timeout),
            slow_timeout: Duration::from_secs(args.slow_timeout),
            limits: Limits {
                max_bulk: args.max_bulk,
                ..Limits::default()
            },
            protected,
            durability: args.durability,
        },
        db,
        writer: Default::default(),
        global_limiter: args
            .rate
            .map(|rate| Mutex::new(limiter::LeakyBucket::new(rate, args.burst))),
        stats: Stats::default(),
        registry: Mutex::new(BTreeMap::new()),
        subs: Mutex::new(pubsub::Subs::default()),
        command_calls: counters(),
        command_rejected: counters(),
        command_failed: counters(),
        error_codes: Mutex::new(BTreeMap::new()),
        last_save: AtomicU64::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        ),
        access: access::AccessTimes::new(started),
        settings_kept: Mutex::new(BTreeMap::new()),
        shutting_down: AtomicBool::new(false),
        shutdown_requested: AtomicBool::new(false),
        scripts: Default::default(),
        notify: notify::Settings::default(),
        clients: AtomicUsize::new(0),
        started,
        tracking: Default::default(),
        tracking_clients: AtomicUsize::new(0),
        monitors: Default::default(),
        monitoring: AtomicUsize::new(0),
        slowlog: Default::default(),
        slowlog_slower_than: std::sync::atomic::AtomicI64::new(introspection::DEFAULT_SLOWER_THAN),
        slowlog_max_len: AtomicU64::new(introspection::DEFAULT_MAX_LEN),
    });
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone()).context("installing signal handlers")?;
    }
    // The FUNCTION libraries the last run saved (Redis keeps them in its RDB and AOF).
    match server.scripts.load_saved(&server.db) {
        Ok(0) => {}
        Ok(n) => eprintln!("mmtree serve: {n} function libraries loaded"),
        Err(e) => eprintln!("mmtree serve: the saved function libraries could not be read: {e}"),
    }
    let role: writer::Role = Arc::new(Mutex::new(writer::Writer::new(
        server.clone(),
        args.durability,
    )));
    let writer = {
        let role = role.clone();
        std::thread::Builder::new()
            .name("group-commit".into())
            // Lua scripts run here: room for Lua's nested C calls and the conversions of
            // deeply nested values (bounded, but deep), as Redis' main thread has 8 MiB.
            .stack_size(64 << 20)
            .spawn(move || writer_loop(role))?
    };
    println!(
        "mmtree serve: {} on {}",
        args.db.display(),
        server.config.bind
    );
    if protected {
        println!("protected mode: no --requirepass on a non-loopback address, so only loopback clients are served");
    }
    // Where a commit does not wait for a sync, a loop applies its own writes when the role is
    // free (`event::hand_over`): the two thread wakes a group costs otherwise weigh more than a
    // small group's commit (redis-benchmark SET at pipeline 1, 50 clients: 97-99k/s against
    // 72-80k/s, 9.7 against 11.8 µs of server CPU a request). Where it waits (Immediate), the
    // group-commit thread syncs while the loops read on and gather the next group: as fast at
    // pipeline 1, faster at 16.
    let inline = args.durability == mmtree::Durability::Eventual;
    let mut loops = Vec::new();
    let mut loop_threads = Vec::new();
    for i in 0..args.threads.max(1) {
        let event_loop = event::Loop::new().context("creating an event loop")?;
        loops.push(event_loop.notifier.clone());
        let server = server.clone();
        let role = inline.then(|| role.clone());
        loop_threads.push(
            std::thread::Builder::new()
                .name(format!("event-loop-{i}"))
                // Writes run here too (`writer::inline`): Redis' main thread's 8 MiB.
                .stack_size(8 << 20)
                .spawn(move || event_loop.run(server, role))?,
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
                if server.clients.load(Ordering::Relaxed)
                    >= server.config.max_clients.load(Ordering::Relaxed)
                {
                    refuse("ERR max number of clients reached");
                    continue;
                }
                server.clients.fetch_add(1, Ordering::Relaxed);
                let id = next_id;
                next_id += 1;
                // Dealt out in turn; the loop counts the client out when it closes.
                loops[(id as usize) % loops.len()].send(jobs::Event::Accept(stream, id));
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
    // A script still running stops (its writes are not committed): the writer can end.
    server.scripts.abort();
    drop(loops);
    for handle in loop_threads {
        let _ = handle.join();
    }
    // The writer takes what is queued and ends.
    server.writer.close();
    let _ = writer.join();
    server.db.sync()?;
    println!("mmtree serve: stopped");
    Ok(())
}
