//! `mmtree load DB TABLE [FILE]` / `mmtree load DB --all [FILE]`: TSV, CSV or JSON Lines, in
//! durable batches.

use crate::common::outln;
use crate::common::{exit, exit_with, open_or_create, EncodingFlags};
use crate::records::{self, DumpHeader, Records};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufRead, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// Ctrl-C (SIGINT) during a load: a watcher thread waits for a commit in progress to finish,
/// says how many records are committed, and exits with `exit::INTERRUPTED`. (A thread, not a
/// flag: the main thread may be blocked reading a terminal or a pipe.)
struct Interrupt {
    /// Held while a batch commits; then the committed records and commits.
    state: Arc<(Mutex<()>, AtomicU64, AtomicU64)>,
    /// The database, for the watcher's checkpoint; emptied when the load ends, so the handle
    /// closes (and checkpoints) as usual.
    db: Arc<Mutex<Option<mmtree::Db>>>,
}

impl Drop for Interrupt {
    fn drop(&mut self) {
        self.db.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

impl Interrupt {
    fn install(bar: ProgressBar, db: mmtree::Db) -> Result<Interrupt> {
        let state = Arc::new((Mutex::new(()), AtomicU64::new(0), AtomicU64::new(0)));
        let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGINT])
            .context("installing the Ctrl-C handler")?;
        let watched = state.clone();
        let db = Arc::new(Mutex::new(Some(db)));
        let handle = db.clone();
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                let _no_commit_running = watched.0.lock().unwrap_or_else(|e| e.into_inner());
                // What the commits logged goes into the data file, as a close would do (exit
                // skips the close), so read-only commands find nothing to replay.
                if let Some(db) = &*handle.lock().unwrap_or_else(|e| e.into_inner()) {
                    let _ = db.checkpoint();
                }
                bar.finish_and_clear();
                eprintln!(
                    "mmtree load: interrupted: {} records committed in {} commits; records read \
                     after the last commit were not loaded",
                    watched.1.load(Ordering::SeqCst),
                    watched.2.load(Ordering::SeqCst)
                );
                std::process::exit(exit::INTERRUPTED);
            }
        });
        Ok(Interrupt { state, db })
    }

    /// Held across a commit, so an interrupt reports a count that is on disk.
    fn hold(&self) -> MutexGuard<'_, ()> {
        self.state.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn note(&self, stats: &Stats) {
        self.state.1.store(stats.loaded, Ordering::SeqCst);
        self.state.2.store(stats.batches, Ordering::SeqCst);
    }
}

/// Loads records from FILE (or standard input) into TABLE, committing every --batch records.
///
/// A batch of sorted keys into an empty table takes the bulk-load fast path (packed pages);
/// otherwise records are inserted. Each batch is a durable commit, so a load that stops
/// half-way (bad line, full disk, Ctrl-C) keeps every batch committed before it; Ctrl-C says how
/// many records that is and exits 130.
///
/// The output of `mmtree dump` loads back as it is, with no flags: its first line says that it
/// is JSON Lines, in which encoding, and whether it holds one table or all of them (flags that
/// contradict it are refused). Other input is TSV unless --format says otherwise, keys and
/// values as text unless --hex or --base64 says otherwise.
///
/// With --all, the input is what `mmtree dump DB --all` writes: JSON Lines that each name
/// their table ({"table": …, "key": …, "value": …}; {"table": …} alone creates an empty table),
/// and no TABLE is given. Without --all, a line naming another table than TABLE is an error.
///
/// Errors name the input line (for CSV, the line where the record starts), also for a key
/// or value too large for the database.
///
/// Example: mmtree load data.mmt users users.tsv
///
/// A dump: mmtree load copy.mmt users users.jsonl
///
/// Every table: mmtree load copy.mmt --all all.jsonl
#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    db: PathBuf,
    /// The table (created if missing); with --all, leave it out.
    #[arg(value_name = "TABLE", required_unless_present = "all")]
    table: Option<String>,
    /// Input file; standard input if absent or "-".
    file: Option<PathBuf>,
    /// Every table, as written by `mmtree dump --all` (each line names its table).
    #[arg(long)]
    all: bool,
    /// Input format [default: tsv, or jsonl with --all].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Treat the input as sorted: use the bulk loader (the table must be empty, and unsorted
    /// input is an error).
    #[arg(long)]
    sorted: bool,
    /// Records per commit (at least 1).
    #[arg(long, default_value_t = 100_000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    batch: usize,
    /// Count and report malformed lines instead of stopping at the first one.
    #[arg(long)]
    skip_bad: bool,
    /// Leave the file as the inserts left it. By default a load that inserted (rather than
    /// bulk-loaded) compacts the file at the end when more than a tenth of it is free: the
    /// copies of the leaves each commit rewrote (`mmtree compact`, usually a few percent of
    /// the load's time).
    #[arg(long)]
    no_compact: bool,
    /// CSV: the first row is a header.
    #[arg(long)]
    header: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
    #[command(flatten)]
    wait: crate::writer::WaitArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `key<TAB>value` per line.
    Tsv,
    /// Two columns, key and value (RFC 4180 quoting).
    Csv,
    /// One JSON object per line: {"key": "...", "value": "..."}; with no --hex/--base64, a
    /// key or value may also be {"base64": "..."} (as `scan --json` and `get --json` write
    /// bytes that are not UTF-8).
    Jsonl,
}

/// The records of one commit, all for one table, with their input lines.
struct Batch {
    table: String,
    entries: Vec<(u64, Vec<u8>, Vec<u8>)>,
}

struct Stats {
    loaded: u64,
    skipped: u64,
    first_bad: Option<String>,
    batches: u64,
    bulk_batches: u64,
    /// The last key of the previous batch (for --sorted across batches).
    last_key: Option<Vec<u8>>,
    /// Tables written to, in order.
    tables: Vec<String>,
}

pub fn run(mut args: Args) -> Result<()> {
    if args.all {
        // `load DB --all FILE`: the first positional after DB is the input.
        if args.file.is_some() {
            return Err(exit_with(
                exit::USAGE,
                "with --all, give no TABLE: each input line names its table",
            ));
        }
        args.file = args.table.take().map(PathBuf::from);
    }
    if let (None, Some(table), false) = (&args.file, &args.table, args.all) {
        use std::io::IsTerminal;
        if std::path::Path::new(table).is_file() && std::io::stdin().is_terminal() {
            // `mmtree load DB FILE`: the file was taken for TABLE, and the input would be the
            // terminal.
            return Err(exit_with(
                exit::USAGE,
                format!(
                    "{table:?} is a file, taken here for the TABLE: give the table too \
                     (`mmtree load DB TABLE {table}`), or --all for a dump of every table"
                ),
            ));
        }
    }
    let format = match (args.format, args.all) {
        (Some(Format::Jsonl) | None, true) => Format::Jsonl,
        (Some(_), true) => {
            return Err(exit_with(
                exit::USAGE,
                "--all reads JSON Lines (--format jsonl), as `dump --all` writes",
            ))
        }
        (Some(format), false) => format,
        (None, false) => Format::Tsv,
    };
    let (input, total_bytes): (Box<dyn Read>, Option<u64>) = match &args.file {
        Some(path) if path.as_os_str() != "-" => {
            let file =
                std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), len)
        }
        _ => (Box::new(std::io::stdin().lock()), None),
    };
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        match total_bytes {
            Some(len) => ProgressBar::new(len).with_style(
                ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} eta {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"),
            ),
        }
    };
    let mut counted = std::io::BufReader::new(CountingReader {
        inner: input,
        bar: bar.clone(),
    });
    // A dump says on its first line what it is (JSON Lines, in which encoding, of one table or
    // all): it loads back with no flags, and flags that would misread it are refused.
    let mut first = Vec::new();
    counted
        .read_until(b'\n', &mut first)
        .context("reading the input")?;
    let header = match DumpHeader::parse(&first) {
        None => None,
        Some(Ok(header)) => Some(header),
        Some(Err(error)) => bail!("line 1: {error:#}"),
    };
    let (format, encoding) = match header {
        None => (format, args.encoding.encoding()),
        Some(header) => (dump_settings(&args, header)?, header.encoding),
    };
    let lines_skipped = u64::from(header.is_some());
    if header.is_some() {
        first.clear();
    }
    let input = std::io::Cursor::new(first).chain(counted);
    let records: Box<Records> = match format {
        Format::Tsv => records::tsv(input, encoding),
        Format::Csv => records::csv(input, args.header, encoding),
        Format::Jsonl => records::jsonl(input, encoding),
    };
    let mut records = records.map(move |(line, record)| (line + lines_skipped, record));

    let db = open_or_create(&args.db)?;
    let interrupt = Interrupt::install(bar.clone(), db.clone())?;
    let key_max = db.key_size_max();
    let started = Instant::now();
    let mut stats = Stats {
        loaded: 0,
        skipped: 0,
        first_bad: None,
        batches: 0,
        bulk_batches: 0,
        last_key: None,
        tables: Vec::new(),
    };
    let batch_size = args.batch.max(1);
    let mut batch = Batch {
        table: args.table.clone().unwrap_or_default(),
        entries: Vec::with_capacity(batch_size.min(1 << 20)),
    };
    loop {
        let Some((line, parsed)) = records.next() else {
            break;
        };
        // What this line adds, or why it is bad.
        let checked = parsed.and_then(|record| {
            let table = match (record.table, &args.table) {
                (Some(name), None) => name,
                (None, Some(name)) => name.clone(),
                (Some(name), Some(expected)) if name == *expected => name,
                (Some(name), Some(_)) => {
                    bail!("a record for table {name:?} (use --all to load every table as named)")
                }
                (None, None) => bail!("no field \"table\" (with --all every line names its table)"),
            };
            if let Some((key, value)) = &record.entry {
                if key.len() > key_max {
                    bail!(
                        "key of {} bytes is longer than the maximum of {key_max} bytes",
                        key.len()
                    );
                }
                if value.len() as u64 > mmtree::limits::VALUE_SIZE_MAX {
                    bail!(
                        "value of {} bytes is longer than the maximum of {} bytes",
                        value.len(),
                        mmtree::limits::VALUE_SIZE_MAX
                    );
                }
            }
            Ok((table, record.entry))
        });
        match checked {
            Ok((table, entry)) => {
                if table != batch.table || batch.entries.len() >= batch_size {
                    {
                        let _held = interrupt.hold();
                        commit_batch(&db, &args, &mut batch, &mut stats)?;
                        interrupt.note(&stats);
                    }
                    if table != batch.table {
                        stats.last_key = None;
                        batch.table = table;
                    }
                    report_progress(&bar, &stats, started);
                }
                match entry {
                    Some((key, value)) => batch.entries.push((line, key, value)),
                    None => {
                        // An empty table: create it now.
                        let _held = interrupt.hold();
                        let mut w = crate::writer::begin_write(&db, args.wait)?;
                        w.table(&batch.table)?;
                        w.commit()
                            .with_context(|| format!("line {line}: creating the table"))?;
                        note_table(&mut stats, &batch.table);
                    }
                }
            }
            Err(error) => {
                let reason = format!("line {line}: {error:#}");
                if !args.skip_bad {
                    let _held = interrupt.hold();
                    commit_batch(&db, &args, &mut batch, &mut stats)?;
                    bar.finish_and_clear();
                    bail!(
                        "{reason} ({} records loaded before it are committed)",
                        stats.loaded
                    );
                }
                stats.skipped += 1;
                stats.first_bad.get_or_insert(reason);
            }
        }
    }
    let _held = interrupt.hold();
    commit_batch(&db, &args, &mut batch, &mut stats)?;
    if let Some(name) = &args.table {
        if !stats.tables.contains(name) {
            // No records (empty input, or only bad lines skipped): the table still exists
            // afterwards, as "loaded 0 records into TABLE" says.
            let mut w = crate::writer::begin_write(&db, args.wait)?;
            w.table(name)?;
            w.commit().context("creating the table")?;
            note_table(&mut stats, name);
        }
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    let into = match &args.table {
        Some(name) => format!("{name:?}"),
        None => format!("{} tables", stats.tables.len()),
    };
    outln!(
        "loaded {} records into {into} in {:.2?} ({:.0} records/s), {} commits ({} bulk)",
        stats.loaded,
        elapsed,
        stats.loaded as f64 / elapsed.as_secs_f64().max(1e-9),
        stats.batches,
        stats.bulk_batches
    )?;
    if stats.skipped > 0 {
        outln!(
            "skipped {} bad lines (first: {})",
            stats.skipped,
            stats.first_bad.unwrap_or_default()
        )?;
    }
    if stats.batches > stats.bulk_batches && !args.no_compact {
        compact_if_sparse(&db)?;
    }
    Ok(())
}

/// After inserts: every commit copied the leaves it changed, and the pages of the older copies
/// are free; when they are more than a tenth of the file, move the live pages down and give
/// the free end back.
fn compact_if_sparse(db: &mmtree::Db) -> Result<()> {
    let stats = db.stats();
    if stats.free_pages * 10 <= stats.page_count {
        return Ok(());
    }
    let before = stats.file_bytes;
    let given_back = db.compact().context("compacting after the load")?;
    outln!(
        "compacted: {} of {} pages were free; {} -> {} (--no-compact leaves them)",
        stats.free_pages,
        stats.page_count,
        crate::common::human_bytes(before),
        crate::common::human_bytes(before.saturating_sub(given_back))
    )?;
    Ok(())
}

/// The format of a dump's lines, after checking that the command line does not contradict
/// what the dump's first line says.
fn dump_settings(args: &Args, header: DumpHeader) -> Result<Format> {
    if args.format.is_some_and(|f| f != Format::Jsonl) {
        return Err(exit_with(
            exit::USAGE,
            "the input is an `mmtree dump` (JSON Lines, its first line says so): leave out --format",
        ));
    }
    let given = args.encoding.hex || args.encoding.base64;
    if given && args.encoding.encoding() != header.encoding {
        return Err(exit_with(
            exit::USAGE,
            format!(
                "the input is an `mmtree dump` written with encoding {} (its first line says so): leave out --hex/--base64",
                records::encoding_name(header.encoding)
            ),
        ));
    }
    match (header.all, args.all) {
        (true, false) => Err(exit_with(
            exit::USAGE,
            "the input is a dump of every table (`dump --all`): load it with `mmtree load DB --all FILE`",
        )),
        (false, true) => Err(exit_with(
            exit::USAGE,
            "the input is a dump of one table: load it with `mmtree load DB TABLE FILE`",
        )),
        _ => Ok(Format::Jsonl),
    }
}

fn report_progress(bar: &ProgressBar, stats: &Stats, started: Instant) {
    let per_second = stats.loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
    bar.set_message(format!(
        "{} records, {per_second:.0} records/s",
        stats.loaded
    ));
}

fn note_table(stats: &mut Stats, table: &str) {
    if stats.tables.last().map(String::as_str) != Some(table) {
        stats.tables.push(table.to_string());
    }
}

/// Commits one batch (and empties it): the bulk loader if the table is empty and the batch is
/// sorted, else inserts. An error names the input line of the record it is about, and says how
/// many records earlier commits hold.
fn commit_batch(db: &mmtree::Db, args: &Args, batch: &mut Batch, stats: &mut Stats) -> Result<()> {
    if batch.entries.is_empty() {
        return Ok(());
    }
    write_batch(db, args, batch, stats).map_err(|error| {
        let message = format!(
            "{error:#} ({} records loaded before it are committed)",
            stats.loaded
        );
        match error.downcast_ref::<crate::common::Exit>() {
            Some(exit) => exit_with(exit.code, message),
            None => anyhow::anyhow!(message),
        }
    })?;
    stats.loaded += batch.entries.len() as u64;
    stats.last_key = batch.entries.last().map(|(_, k, _)| k.clone());
    stats.batches += 1;
    note_table(stats, &batch.table);
    batch.entries.clear();
    Ok(())
}

fn write_batch(db: &mmtree::Db, args: &Args, batch: &Batch, stats: &mut Stats) -> Result<()> {
    let entries = &batch.entries;
    let at_line = |line: u64| move |error: mmtree::Error| anyhow::anyhow!("line {line}: {error}");
    let mut w = crate::writer::begin_write(db, args.wait)?;
    let empty = w.table(&batch.table)?.is_empty()?;
    let sorted = entries.windows(2).all(|pair| pair[0].1 < pair[1].1);
    if args.sorted && !empty && stats.last_key.is_none() {
        bail!(
            "line {}: --sorted, but table {:?} is not empty (the bulk loader fills empty tables \
             only); leave out --sorted to insert into it",
            entries[0].0,
            batch.table
        );
    }
    if let (true, Some(last)) = (args.sorted, &stats.last_key) {
        if entries[0].1 <= *last {
            bail!(
                "line {}: --sorted, but key {:?} does not come after {:?} (the previous batch's last key)",
                entries[0].0,
                crate::common::escape(&entries[0].1),
                crate::common::escape(last)
            );
        }
    }
    if args.sorted && !sorted {
        let at = entries
            .windows(2)
            .position(|pair| pair[0].1 >= pair[1].1)
            .unwrap_or(0);
        bail!(
            "line {}: --sorted, but key {:?} does not come after {:?} (record {} of this batch)",
            entries[at + 1].0,
            crate::common::escape(&entries[at + 1].1),
            crate::common::escape(&entries[at].1),
            at + 2
        );
    }
    if empty && sorted {
        let mut loader = w.bulk_load(&batch.table)?;
        for (line, key, value) in entries {
            loader.append(key, value).map_err(at_line(*line))?;
        }
        loader.finish()?;
        stats.bulk_batches += 1;
    } else {
        let mut table = w.table(&batch.table)?;
        for (line, key, value) in entries {
            table.insert(key, value).map_err(at_line(*line))?;
        }
    }
    w.commit()?;
    Ok(())
}

/// Advances the progress bar by the bytes read.
struct CountingReader {
    inner: Box<dyn Read>,
    bar: ProgressBar,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
