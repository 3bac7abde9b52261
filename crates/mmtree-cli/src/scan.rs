//! `mmtree scan DB TABLE`: entries in key order, with bounds, a prefix, a limit, either direction.

use crate::common::{no_table, open_existing, EncodingFlags};
use anyhow::{bail, Result};
use std::io::Write;
use std::ops::Bound;
use std::path::PathBuf;

/// Lists entries in key order: one `key<TAB>value` line each (or JSON Lines).
///
/// Example: mmtree scan data.mmt users --prefix user: --limit 10 --reverse
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The table.
    table: String,
    /// First key (inclusive).
    #[arg(long)]
    from: Option<String>,
    /// Last key (exclusive).
    #[arg(long)]
    to: Option<String>,
    /// Only keys starting with this.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    prefix: Option<String>,
    /// At most this many entries.
    #[arg(long)]
    limit: Option<usize>,
    /// Largest keys first.
    #[arg(long)]
    reverse: bool,
    /// Print keys only.
    #[arg(long)]
    keys_only: bool,
    /// One JSON object per line: {"key":…,"value":…}.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
}

/// The smallest key greater than every key starting with `prefix` (None: no such key).
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let (start, end) = match &args.prefix {
        Some(prefix) => {
            let prefix = encoding.decode(prefix)?;
            (Some(prefix.clone()), prefix_end(&prefix))
        }
        None => (
            args.from
                .as_deref()
                .map(|k| encoding.decode(k))
                .transpose()?,
            args.to.as_deref().map(|k| encoding.decode(k)).transpose()?,
        ),
    };
    if let (Some(s), Some(e)) = (&start, &end) {
        if s > e {
            bail!("--from is after --to");
        }
    }
    let db = open_existing(&args.db)?;
    let read = db.begin_read()?;
    let Some(table) = read.table(&args.table)? else {
        return Err(no_table(&args.table));
    };
    let bounds = (
        start.as_deref().map_or(Bound::Unbounded, Bound::Included),
        end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
    );
    let range = table.range(bounds)?;
    let items: Box<dyn Iterator<Item = _>> = if args.reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for item in items.take(args.limit.unwrap_or(usize::MAX)) {
        let (key, value) = item?;
        let result = if args.json {
            let line = if args.keys_only {
                serde_json::json!({"key": encoding.encode(key)})
            } else {
                serde_json::json!({"key": encoding.encode(key), "value": encoding.encode(value)})
            };
            writeln!(out, "{line}")
        } else if args.keys_only {
            writeln!(out, "{}", encoding.encode(key))
        } else {
            writeln!(out, "{}\t{}", encoding.encode(key), encoding.encode(value))
        };
        if let Err(error) = result {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(()); // `mmtree scan … | head` is fine
            }
            return Err(error.into());
        }
    }
    match out.flush() {
        Err(error) if error.kind() != std::io::ErrorKind::BrokenPipe => Err(error.into()),
        _ => Ok(()),
    }
}
