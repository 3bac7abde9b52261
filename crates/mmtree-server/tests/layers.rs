//! The server's layers, checked as the engine's are (`crates/mmtree/tests/layers.rs`): every
//! module of `crates/mmtree-server/src` may import only the modules below it in one order (the
//! one docs/ARCHITECTURE.md draws for the server), so there are no import cycles and nothing
//! reaches up: the RESP codec knows nothing of the keyspace, the keyspace nothing of commands,
//! the command families nothing of connections or sockets. A new top-level module must be given
//! its place here.
//!
//! Method: read every source file, take the top-level module it belongs to, and every
//! `crate::NAME` path in its code (comments and strings left out); each must name a module of a
//! lower rank. Run with `cargo test -p mmtree-server --test layers`.

/// Bottom first. Each module may import only those before it.
const LAYERS: &[&str] = &[
    "resp",          // the RESP2/RESP3 codec: requests in, replies out (the fuzz target's)
    "glob",          // Redis glob patterns
    "limiter",       // the leaky bucket
    "notify",        // keyspace-event settings and messages
    "expiry",        // when the writer sweeps expired keys
    "store", // the row layout over the engine's tables; the write transaction's Tx; WATCH versions
    "access", // the keys' last access times (OBJECT IDLETIME), in memory
    "keyspace", // Redis types over the rows, read over a snapshot or the write transaction
    "commands", // the command table and the command families (no connections, no sockets)
    "jobs",  // what connections hand the writer, what it answers, how a loop is woken
    "pubsub", // the client registry, subscriptions, a connection's mail
    "tracking", // CLIENT TRACKING: the tracking table, invalidations and their delivery
    "introspection", // MONITOR's lines and the SLOWLOG
    "server", // the shared state (its lock order) and INFO
    "blocking", // the blocked clients (BLPOP, …): the writer's own registry
    "writer", // the group-commit writer thread
    "conn",  // one connection's state machine and its session commands
    "event", // the event loops: sockets, turns, timeouts
    "lib",   // Options and run: the acceptor and the threads
];

// The same check as the engine's: one copy of it, in the engine's tests.
#[path = "../../mmtree/tests/common/layers.rs"]
mod layers;

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    layers::check_layers(&src, LAYERS);
}
