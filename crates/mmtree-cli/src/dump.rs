//! `mmtree dump DB TABLE` / `mmtree dump DB --all`: JSON Lines that `mmtree load --format
//! jsonl` reads back exactly.

use crate::common::{exit, exit_with, no_table, open_existing, stdout_error, Encoding};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

/// Writes every entry of TABLE as one JSON object per line, {"key": …, "value": …}, base64 by
/// default (binary-safe). Load it back with the same encoding.
///
/// With --all (as `mdb_dump -a`), every table instead, in name order, each line carrying its
/// table: {"table": …, "key": …, "value": …}; an empty table is one line {"table": …}. Internal
/// tables (those of `mmtree serve`) are included. `mmtree load DB --all FILE` reads it back.
///
/// Example: mmtree dump data.mmt users > users.jsonl && mmtree load copy.mmt users users.jsonl --format jsonl --base64 · mmtree dump data.mmt --all > all.jsonl && mmtree load copy.mmt --all all.jsonl --base64
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The table (omit with --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    table: Option<String>,
    /// Dump every table; each line names its table.
    #[arg(long, short)]
    all: bool,
    /// How keys and values are written.
    #[arg(long, value_enum, default_value_t = Encoding::Base64)]
    encoding: Encoding,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Salvage a damaged file: skip pages that fail their checks (with their subtrees) instead
    /// of stopping at the first, and list on standard error what was skipped (exit 3 if
    /// anything was).
    #[arg(long)]
    salvage: bool,
}

pub fn run(args: Args) -> Result<()> {
    if args.salvage {
        return salvage(&args);
    }
    let db = open_existing(&args.db)?;
    let read = db.begin_read()?;
    let names = match &args.table {
        Some(name) => vec![name.clone()],
        None => read.list_tables()?,
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        match read.table(name)? {
            Some(table) => tables.push((name, table)),
            None => return Err(no_table(name)),
        }
    }
    if args.encoding == Encoding::Text {
        // Text output escapes bytes that are not UTF-8, so it would not load back exactly.
        for (name, table) in &tables {
            for item in table.range(..)? {
                let (k, v) = item?;
                if std::str::from_utf8(k).is_err() || std::str::from_utf8(v).is_err() {
                    anyhow::bail!(
                        "table {name:?} holds binary keys or values; use --encoding base64 or hex"
                    );
                }
            }
        }
    }
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let write_error = |error: std::io::Error| match &args.output {
        Some(path) => anyhow::Error::from(error).context(format!("writing {}", path.display())),
        None => stdout_error(error),
    };
    let mut out = std::io::BufWriter::new(sink);
    let encode = |bytes: &[u8]| match args.encoding {
        Encoding::Text => String::from_utf8_lossy(bytes).into_owned(),
        other => other.json(bytes).as_str().unwrap_or_default().to_string(),
    };
    let mut count = 0u64;
    for (name, table) in &tables {
        let mut entries = 0u64;
        for item in table.range(..)? {
            let (key, value) = item?;
            let line = if args.all {
                serde_json::json!({"table": name, "key": encode(key), "value": encode(value)})
            } else {
                serde_json::json!({"key": encode(key), "value": encode(value)})
            };
            writeln!(out, "{line}").map_err(&write_error)?;
            entries += 1;
        }
        if args.all && entries == 0 {
            writeln!(out, "{}", serde_json::json!({ "table": name })).map_err(&write_error)?;
        }
        count += entries;
    }
    out.flush().map_err(&write_error)?;
    // Not `eprintln!`, which panics when standard error is full.
    let _ = match &args.table {
        Some(name) => writeln!(std::io::stderr(), "dumped {count} records from {name:?}"),
        None => writeln!(
            std::io::stderr(),
            "dumped {count} records from {} tables",
            tables.len()
        ),
    };
    Ok(())
}

/// `dump --salvage`: every entry that can still be read, then what was skipped.
fn salvage(args: &Args) -> Result<()> {
    let db = open_existing(&args.db)?;
    let names = match &args.table {
        Some(name) => vec![name.clone()],
        None => db.begin_read()?.list_tables()?,
    };
    let sink: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        ),
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::new(sink);
    let encode = |bytes: &[u8]| match args.encoding {
        Encoding::Text => String::from_utf8_lossy(bytes).into_owned(),
        other => other.json(bytes).as_str().unwrap_or_default().to_string(),
    };
    let (mut count, mut skipped) = (0u64, Vec::new());
    for name in &names {
        let mut failed = None;
        let report = db.salvage(name, |key, value| {
            if failed.is_some() {
                return;
            }
            let line = if args.all {
                serde_json::json!({"table": name, "key": encode(key), "value": encode(value)})
            } else {
                serde_json::json!({"key": encode(key), "value": encode(value)})
            };
            if let Err(error) = writeln!(out, "{line}") {
                failed = Some(error);
            }
        })?;
        if let Some(error) = failed {
            return Err(stdout_error(error));
        }
        let Some(report) = report else {
            return Err(no_table(name));
        };
        count += report.entries;
        skipped.extend(
            report
                .problems
                .iter()
                .map(|p| format!("table {name:?}: {p}")),
        );
    }
    out.flush().map_err(stdout_error)?;
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "salvaged {count} records from {} table(s); skipped {} damaged part(s)",
        names.len(),
        skipped.len()
    );
    for line in &skipped {
        let _ = writeln!(err, "  skipped: {line}");
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        Err(exit_with(
            exit::PROBLEMS,
            format!("{} damaged part(s) skipped (listed above)", skipped.len()),
        ))
    }
}
