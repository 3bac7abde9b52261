//! `mmtree get DB TABLE KEY`: prints the value (exit 4 if there is none).

use crate::common::{exit, exit_with, no_table, open_existing, EncodingFlags};
use anyhow::Result;
use std::io::Write;
use std::path::PathBuf;

/// Prints the value stored under KEY.
///
/// Example: mmtree get data.mmt users alice
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The table.
    table: String,
    /// The key.
    key: String,
    #[command(flatten)]
    encoding: EncodingFlags,
    /// Print the raw value bytes, unencoded.
    #[arg(long)]
    raw: bool,
    /// Print {"key":…,"value":…} (encoded as chosen).
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let key = encoding.decode(&args.key)?;
    let db = open_existing(&args.db)?;
    let read = db.begin_read()?;
    let Some(table) = read.table(&args.table)? else {
        return Err(no_table(&args.table));
    };
    let Some(value) = table.get(&key)? else {
        return Err(exit_with(
            exit::NOT_FOUND,
            format!("no key {:?} in table {:?}", args.key, args.table),
        ));
    };
    let mut out = std::io::stdout().lock();
    if args.raw {
        out.write_all(value)?;
    } else if args.json {
        let line =
            serde_json::json!({"key": encoding.encode(&key), "value": encoding.encode(value)});
        writeln!(out, "{line}")?;
    } else {
        writeln!(out, "{}", encoding.encode(value))?;
    }
    Ok(())
}
