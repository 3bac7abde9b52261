//! `mmtree get DB TABLE KEY`: prints the value (exit 4 if there is none).

use crate::common::{
    exit, exit_with, no_table, open_existing, out_bytes, outln, Encoding, EncodingFlags,
};
use anyhow::Result;
use std::io::IsTerminal;
use std::path::PathBuf;

/// Prints the value stored under KEY, byte for byte.
///
/// Nothing is escaped or converted, and a newline follows only when standard output is a terminal (so `mmtree get … > file` or `| jq`
/// sees exactly the stored bytes). --hex and --base64 print the value encoded, one line;
/// --json prints {"key":…,"value":…}: strings if valid UTF-8, else {"base64":"…"} (with --hex
/// or --base64: strings in that encoding).
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
    /// Print the value bytes as they are, even with --hex/--base64 (which then apply to KEY
    /// only). Without those flags this is the default.
    #[arg(long, conflicts_with = "json")]
    raw: bool,
    /// Print one JSON object, {"key":…,"value":…} (see above for bytes that are not UTF-8).
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
    if args.json {
        let line = serde_json::json!({"key": encoding.json(&key), "value": encoding.json(value)});
        outln!("{line}")
    } else if !args.raw && encoding != Encoding::Text {
        out_bytes(&encoding.encode(value))?;
        outln!()
    } else {
        out_bytes(value)?;
        if std::io::stdout().is_terminal() {
            outln!()?;
        }
        Ok(())
    }
}
