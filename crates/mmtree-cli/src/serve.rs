//! `mmtree serve`: its flags; the server itself is the `mmtree-server` crate.

use anyhow::Result;
use std::path::PathBuf;

/// Serves DB over the Redis protocol, so redis-cli, redis-benchmark and any Redis client library
/// can use it. Writes from all clients are grouped into one durable commit; a write is answered
/// once its commit is on disk (--durability eventual answers once it is committed in memory).
///
/// Example: mmtree serve data.mmt --bind 127.0.0.1:6380 --rate 50000 --burst 5000
#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    db: PathBuf,
    /// Address to listen on, HOST:PORT (an IP address or a name such as localhost; the first
    /// address it resolves to). Loopback by default; on any other address without
    /// --requirepass, only loopback clients are served (like Redis' protected mode).
    #[arg(long, default_value = "127.0.0.1:6380")]
    bind: String,
    /// Port to listen on: replaces the port of --bind.
    #[arg(long)]
    port: Option<u16>,
    /// Password clients must give with AUTH (or HELLO … AUTH).
    #[arg(long)]
    requirepass: Option<String>,
    /// Global limit: commands per second (leaky bucket); unlimited if absent.
    #[arg(long)]
    rate: Option<f64>,
    /// Global burst: commands admitted at once above the rate.
    #[arg(long, default_value_t = 1000)]
    burst: u32,
    /// Per-connection limit: commands per second.
    #[arg(long)]
    client_rate: Option<f64>,
    /// Per-connection burst.
    #[arg(long, default_value_t = 100)]
    client_burst: u32,
    /// Event loops (threads) serving the connections; reads run in parallel across loops.
    /// One loop, like Redis, serves commands from different connections in arrival order.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Most simultaneous clients (Redis' default; each takes a file descriptor).
    #[arg(long, default_value_t = 10000)]
    maxclients: usize,
    /// Close connections idle this many seconds (0: never).
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Close a connection whose request stays incomplete this many seconds (slow sender).
    #[arg(long, default_value_t = 10)]
    slow_timeout: u64,
    /// Largest bulk string accepted, in bytes (checked before allocating).
    #[arg(long, default_value_t = 512 << 20)]
    max_bulk: usize,
    /// When a write is answered: after its commit is durable (immediate) or once committed
    /// (eventual; a power loss may lose the last commits, a process crash loses nothing).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Immediate)]
    durability: DurabilityArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DurabilityArg {
    Immediate,
    Eventual,
}

pub fn run(args: Args) -> Result<()> {
    mmtree_server::run(mmtree_server::Options {
        db: args.db,
        bind: args.bind,
        port: args.port,
        requirepass: args.requirepass,
        rate: args.rate,
        burst: args.burst,
        client_rate: args.client_rate,
        client_burst: args.client_burst,
        threads: args.threads,
        maxclients: args.maxclients,
        timeout: args.timeout,
        slow_timeout: args.slow_timeout,
        max_bulk: args.max_bulk,
        durability: match args.durability {
            DurabilityArg::Immediate => mmtree::Durability::Immediate,
            DurabilityArg::Eventual => mmtree::Durability::Eventual,
        },
    })
}
