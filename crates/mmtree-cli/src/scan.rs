//! `mmtree scan DB TABLE`: entries in key order, with bounds, a prefix, a limit, either direction.

use crate::common::{escape, no_table, open_existing, stdout_error, Encoding, EncodingFlags};
use anyhow::{bail, Result};
use std::io::Write;
use std::ops::Bound;
use std::path::PathBuf;

/// Lists entries in key order: one `key<TAB>value` line each (or JSON Lines).
///
/// Keys and values are printed as they are, byte for byte, not escaped (for UTF-8 data this is
/// the format `load --format tsv` reads). An entry that line format cannot show unambiguously
/// (a key holding a tab or a newline, a value holding a newline) stops the scan with an error
/// instead of a garbled line: use --escape (a reversible escaped text for reading: `\\`, `\t`,
/// `\n`, `\r`, `\u{N}` for other control characters, `\xNN` for bytes that are not UTF-8),
/// --json, --hex or --base64. --json writes {"key":…,"value":…} with strings if valid UTF-8,
/// else {"base64":"…"} (with --hex/--base64: strings in that encoding); `load --format jsonl`
/// reads it back.
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
    /// One JSON object per line: {"key":…,"value":…} (see above for bytes that are not UTF-8).
    #[arg(long)]
    json: bool,
    /// Escape keys and values for reading (see above) instead of printing them as they are.
    #[arg(long, conflicts_with_all = ["json", "hex", "base64"])]
    escape: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
}

/// A key or value in the line format: as it is, escaped, or hex/base64.
fn text(bytes: &[u8], escaped: bool, encoding: Encoding) -> std::borrow::Cow<'_, [u8]> {
    if escaped {
        escape(bytes).into_bytes().into()
    } else {
        encoding.encode(bytes)
    }
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let prefix = args
        .prefix
        .as_deref()
        .map(|p| encoding.decode(p))
        .transpose()?;
    let start = args
        .from
        .as_deref()
        .map(|k| encoding.decode(k))
        .transpose()?;
    let end = args.to.as_deref().map(|k| encoding.decode(k)).transpose()?;
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
    let range = match &prefix {
        Some(prefix) => table.prefix(prefix)?,
        None => table.range((
            start.as_deref().map_or(Bound::Unbounded, Bound::Included),
            end.as_deref().map_or(Bound::Unbounded, Bound::Excluded),
        ))?,
    };
    let items: Box<dyn Iterator<Item = _>> = if args.reverse {
        Box::new(range.rev())
    } else {
        Box::new(range)
    };
    let mut out = std::io::BufWriter::new(crate::common::stdout());
    for item in items.take(args.limit.unwrap_or(usize::MAX)) {
        let (key, value) = item?;
        if args.json {
            let line = if args.keys_only {
                serde_json::json!({"key": encoding.json(key)})
            } else {
                serde_json::json!({"key": encoding.json(key), "value": encoding.json(value)})
            };
            writeln!(out, "{line}").map_err(stdout_error)?;
            continue;
        }
        if encoding == Encoding::Text && !args.escape {
            let problem = if key.contains(&b'\t') && !args.keys_only {
                Some("key holds a tab")
            } else if key.contains(&b'\n') {
                Some("key holds a newline")
            } else if value.contains(&b'\n') && !args.keys_only {
                Some("value holds a newline")
            } else {
                None
            };
            if let Some(problem) = problem {
                out.flush().map_err(stdout_error)?;
                bail!(
                    "entry \"{}\": the {problem}, which a key<TAB>value line cannot show; \
                     use --escape, --json, --hex or --base64",
                    escape(key)
                );
            }
        }
        out.write_all(&text(key, args.escape, encoding))
            .map_err(stdout_error)?;
        if !args.keys_only {
            out.write_all(b"\t").map_err(stdout_error)?;
            out.write_all(&text(value, args.escape, encoding))
                .map_err(stdout_error)?;
        }
        out.write_all(b"\n").map_err(stdout_error)?;
    }
    out.flush().map_err(stdout_error)
}
