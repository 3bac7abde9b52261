//! `mmtree`: the command-line tool. One module per subcommand.

mod backup;
mod bench_io;
mod cache;
mod check;
mod cleanup;
mod common;
mod compact;
mod completions;
mod del;
mod demo;
mod dump;
mod evict;
mod get;
mod load;
mod proc_stats;
mod progress;
mod put;
mod readers;
mod records;
mod recover;
mod scan;
mod serve;
mod stat;
mod tables;
mod upgrade;
mod warm;
mod writer;

use clap::{CommandFactory, Parser, Subcommand};

/// The engine allocates many small buffers per write (decoded pages, keys, values); mimalloc's
/// thread-local free lists make that much cheaper than glibc malloc (measured: `mmtree serve`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The command-line tool of mmtree, an embedded, memory-mapped, crash-safe, ordered key-value
/// store.
///
/// Exit codes: 0 success; 1 error (one line on stderr); 2 bad arguments; 3 `check` found
/// problems; 4 `get`/`del`/`scan`/`dump`: no such key or table; 5 a command that writes did not
/// get the write lock (`--no-wait`, `--timeout`); 130 interrupted (Ctrl-C).
///
/// Output: values are printed as they are, byte for byte (`get`), unless an encoding is asked
/// for (`--hex`, `--base64`, `--json`). When the reader of standard output goes away (`| head`),
/// mmtree ends quietly as if killed by SIGPIPE, as `cat` does; any other write error (a full
/// disk) is one line "mmtree: writing output: REASON" and exit 1.
#[derive(Parser)]
#[command(name = "mmtree", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Loads records into a fresh database, reads them back, and reports throughput, file size,
    /// page-cache residency and page faults, also for a second process reading the same file.
    ///
    /// Example: mmtree demo --records 1000000
    Demo(demo::Args),
    Get(get::Args),
    Put(put::Args),
    Del(del::Args),
    Scan(scan::Args),
    Tables(tables::Args),
    Load(load::Args),
    Dump(dump::Args),
    Stat(stat::Args),
    Check(check::Args),
    Compact(compact::Args),
    Backup(backup::Args),
    Upgrade(upgrade::Args),
    Recover(recover::Args),
    Readers(readers::Args),
    Serve(serve::Args),
    #[command(name = "bench-io")]
    BenchIo(bench_io::Args),
    /// Loads the file into the page cache (POSIX_FADV_WILLNEED and a read-through).
    ///
    /// Example: mmtree warm data.mmt
    Warm(cache::Args),
    /// Drops the file from the page cache (POSIX_FADV_DONTNEED).
    ///
    /// Example: mmtree evict data.mmt
    Evict(cache::Args),
    Completions(completions::Args),
    Man(completions::ManArgs),
    /// (internal) the demo's second process.
    #[command(hide = true, name = "demo-reader")]
    DemoReader(demo::ReaderArgs),
}

fn main() {
    if STDOUT_WAS_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        common::mark_stdout_closed();
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::DemoReader(args) => demo::reader(args),
        Command::Get(args) => get::run(args),
        Command::Put(args) => put::run(args),
        Command::Del(args) => del::run(args),
        Command::Scan(args) => scan::run(args),
        Command::Tables(args) => tables::run(args),
        Command::Load(args) => load::run(args),
        Command::Dump(args) => dump::run(args),
        Command::Stat(args) => stat::run(args),
        Command::Check(args) => check::run(args),
        Command::Compact(args) => compact::run(args),
        Command::Backup(args) => backup::run(args),
        Command::Upgrade(args) => upgrade::run(args),
        Command::Recover(args) => recover::run(args),
        Command::Readers(args) => readers::run(args),
        Command::Serve(args) => serve::run(args),
        Command::BenchIo(args) => bench_io::run(args),
        Command::Warm(args) => warm::run(args),
        Command::Evict(args) => evict::run(args),
        Command::Completions(args) => completions::completions(args, Cli::command()),
        Command::Man(args) => completions::man(args, Cli::command()),
    };
    // What `println!` would lose at exit: a last line without a newline (`get`'s raw value).
    let result = result.and_then(|()| {
        use std::io::Write;
        common::stdout().flush().map_err(common::stdout_error)
    });
    if let Err(error) = result {
        if let Some(common::OutputError(io)) = error.downcast_ref::<common::OutputError>() {
            if io.kind() == std::io::ErrorKind::BrokenPipe {
                // The reader went away (`mmtree dump … | head -1`): end as `cat` and the other
                // coreutils do, killed by SIGPIPE (status 141 in a shell), without a message.
                let _ =
                    signal_hook::low_level::emulate_default_handler(signal_hook::consts::SIGPIPE);
                std::process::exit(141);
            }
        }
        let code = error
            .downcast_ref::<common::Exit>()
            .map_or(common::exit::ERROR, |e| e.code);
        // Not `eprintln!`: it panics when standard error is full too.
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "mmtree: {}", one_message(&error));
        std::process::exit(code);
    }
}

/// Set before `main` when the process was started with standard output closed
/// (`mmtree … >&-`): Rust's runtime opens /dev/null on a closed descriptor 0, 1 or 2 before
/// `main` runs (so no file this process opens lands there), after which output written to it
/// would vanish and the command exit 0. Seen first, the closed descriptor makes every write to
/// standard output an error instead.
static STDOUT_WAS_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_closed_stdout() {
    // SAFETY: descriptor 1 is only borrowed for this one `fcntl(F_GETFD)`, which neither closes
    // nor changes it; if it is not open the call fails with EBADF and nothing else happens.
    let stdout = unsafe { std::os::fd::BorrowedFd::borrow_raw(1) };
    if let Err(rustix::io::Errno::BADF) = rustix::io::fcntl_getfd(stdout) {
        STDOUT_WAS_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Runs `note_closed_stdout` before the Rust runtime starts (the C runtime calls the functions
/// of `.init_array` before `main`, and Rust's runtime reopens closed descriptors inside `main`).
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDOUT: extern "C" fn() = note_closed_stdout;

/// The error and its causes as one line, each said once: a cause whose text the line already
/// holds (mmtree's I/O errors name their OS error in their own message) is not repeated.
fn one_message(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
