//! `mmtree dump DB TABLE`: JSON Lines that `mmtree load --format jsonl` reads back exactly.

use crate::common::{no_table, open_existing, stdout_error, Encoding};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

/// Writes every entry of TABLE as one JSON object per line, {"key": …, "value": …}, base64 by
/// default (binary-safe). Load it back with the same encoding:
///
/// Example: mmtree dump data.mmt users > users.jsonl && mmtree load copy.mmt users users.jsonl --format jsonl --base64
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The table.
    table: String,
    /// How keys and values are written.
    #[arg(long, value_enum, default_value_t = Encoding::Base64)]
    encoding: Encoding,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let db = open_existing(&args.db)?;
    let read = db.begin_read()?;
    let Some(table) = read.table(&args.table)? else {
        return Err(no_table(&args.table));
    };
    if args.encoding == Encoding::Text {
        // Text output escapes bytes that are not UTF-8, so it would not load back exactly.
        for item in table.range(..)? {
            let (k, v) = item?;
            if std::str::from_utf8(k).is_err() || std::str::from_utf8(v).is_err() {
                anyhow::bail!(
                    "the table holds binary keys or values; use --encoding base64 or hex"
                );
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
    for item in table.range(..)? {
        let (key, value) = item?;
        writeln!(
            out,
            "{}",
            serde_json::json!({"key": encode(key), "value": encode(value)})
        )
        .map_err(&write_error)?;
        count += 1;
    }
    out.flush().map_err(&write_error)?;
    // Not `eprintln!`, which panics when standard error is full.
    let _ = writeln!(
        std::io::stderr(),
        "dumped {count} records from {:?}",
        args.table
    );
    Ok(())
}
