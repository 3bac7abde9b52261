//! `mmtree load DB TABLE [FILE]`: TSV, CSV or JSON Lines, in durable batches.

use crate::common::outln;
use crate::common::{open_or_create, EncodingFlags};
use crate::records::{self, Records};
use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

/// Loads records from FILE (or standard input) into TABLE, committing every --batch records.
///
/// A batch of sorted keys into an empty table takes the bulk-load fast path (packed pages);
/// otherwise records are inserted. Each batch is a durable commit, so a load that stops
/// half-way (bad line, full disk, Ctrl-C) keeps every batch committed before it.
///
/// Example: mmtree load data.mmt users users.tsv --format tsv
#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    db: PathBuf,
    /// The table (created if missing).
    table: String,
    /// Input file; standard input if absent or "-".
    file: Option<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = Format::Tsv)]
    format: Format,
    /// Treat the input as sorted: use the bulk loader (the table must be empty; unsorted input
    /// is an error).
    #[arg(long)]
    sorted: bool,
    /// Records per commit.
    #[arg(long, default_value_t = 100_000)]
    batch: usize,
    /// Count and report malformed lines instead of stopping at the first one.
    #[arg(long)]
    skip_bad: bool,
    /// CSV: the first row is a header.
    #[arg(long)]
    header: bool,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
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

struct Stats {
    loaded: u64,
    skipped: u64,
    first_bad: Option<String>,
    batches: u64,
    bulk_batches: u64,
    /// The last key of the previous batch (for --sorted across batches).
    last_key: Option<Vec<u8>>,
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
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
    let counted = CountingReader {
        inner: input,
        bar: bar.clone(),
    };
    let mut records: Box<Records> = match args.format {
        Format::Tsv => records::tsv(counted, encoding),
        Format::Csv => records::csv(counted, args.header, encoding),
        Format::Jsonl => records::jsonl(counted, encoding),
    };

    let db = open_or_create(&args.db)?;
    let started = Instant::now();
    let mut stats = Stats {
        loaded: 0,
        skipped: 0,
        first_bad: None,
        batches: 0,
        bulk_batches: 0,
        last_key: None,
    };
    let batch_size = args.batch.max(1);
    let mut batch: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(batch_size.min(1 << 20));
    let mut done = false;
    while !done {
        batch.clear();
        while batch.len() < batch_size {
            match records.next() {
                None => {
                    done = true;
                    break;
                }
                Some((_, Ok(record))) => batch.push(record),
                Some((line, Err(error))) => {
                    let reason = format!("line {line}: {error:#}");
                    if !args.skip_bad {
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
        commit_batch(&db, &args, &mut batch, &mut stats)?;
        let per_second = stats.loaded as f64 / started.elapsed().as_secs_f64().max(1e-9);
        bar.set_message(format!(
            "{} records, {per_second:.0} records/s",
            stats.loaded
        ));
    }
    bar.finish_and_clear();
    let elapsed = started.elapsed();
    outln!(
        "loaded {} records into {:?} in {:.2?} ({:.0} records/s), {} commits ({} bulk)",
        stats.loaded,
        args.table,
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
    Ok(())
}

/// Commits one batch: the bulk loader if the table is empty and the batch is sorted, else inserts.
fn commit_batch(
    db: &mmtree::Db,
    args: &Args,
    batch: &mut Vec<(Vec<u8>, Vec<u8>)>,
    stats: &mut Stats,
) -> Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut w = db.begin_write()?;
    let empty = w.table(&args.table)?.is_empty();
    let sorted = batch.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if let (true, Some(last)) = (args.sorted, &stats.last_key) {
        if batch[0].0 <= *last {
            bail!(
                "--sorted, but key {:?} does not come after {:?} (the previous batch's last key)",
                crate::common::escape(&batch[0].0),
                crate::common::escape(last)
            );
        }
    }
    if args.sorted && !sorted {
        let at = batch
            .windows(2)
            .position(|pair| pair[0].0 >= pair[1].0)
            .unwrap_or(0);
        bail!(
            "--sorted, but key {:?} does not come after {:?} (record {} of this batch)",
            crate::common::escape(&batch[at + 1].0),
            crate::common::escape(&batch[at].0),
            at + 2
        );
    }
    if empty && sorted {
        let mut loader = w.bulk_load(&args.table)?;
        for (key, value) in batch.iter() {
            loader.append(key, value)?;
        }
        loader.finish()?;
        stats.bulk_batches += 1;
    } else {
        let mut table = w.table(&args.table)?;
        for (key, value) in batch.iter() {
            table.insert(key, value)?;
        }
    }
    w.commit()?;
    stats.loaded += batch.len() as u64;
    stats.last_key = batch.last().map(|(k, _)| k.clone());
    stats.batches += 1;
    batch.clear();
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
