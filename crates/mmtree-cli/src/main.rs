//! `mmtree`: the command-line tool. One module per subcommand.

mod demo;
mod proc_stats;

use clap::{Parser, Subcommand};

/// mmtree: an embedded, memory-mapped, crash-safe ordered key-value store.
#[derive(Parser)]
#[command(name = "mmtree", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads records into a fresh database, reads them back, and reports throughput, file size,
    /// page-cache residency and page faults.
    ///
    /// Example: mmtree demo --records 1000000
    Demo(demo::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
    };
    if let Err(error) = result {
        eprintln!("mmtree: {error:#}");
        std::process::exit(1);
    }
}
