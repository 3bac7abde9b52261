//! `mmtree put DB TABLE KEY VALUE`: stores one entry in its own durable commit.

use crate::common::{open_or_create, EncodingFlags};
use anyhow::{Context, Result};
use std::io::Read;
use std::path::PathBuf;

/// Stores VALUE under KEY (creating the database and the table if needed).
///
/// VALUE "-" reads the value from standard input and "@PATH" from the file PATH, for values
/// too big for the command line or not text; those bytes are stored exactly as read (no
/// newline is stripped, --hex/--base64 do not apply to them). To store a value that is
/// literally "-" or starts with "@", add --value-literal.
///
/// Example: mmtree put data.mmt users alice '{"age":31}' · mmtree put data.mmt blobs logo @logo.png · gzip -c log | mmtree put data.mmt logs today -
#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    db: PathBuf,
    /// The table (created if missing).
    table: String,
    /// The key.
    key: String,
    /// The value; "-" reads standard input, "@PATH" reads a file (see --value-literal).
    value: String,
    /// VALUE is the value itself, even when it is "-" or starts with "@".
    #[arg(long)]
    value_literal: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let key = encoding.decode(&args.key)?;
    let value = if args.value_literal {
        encoding.decode(&args.value)?
    } else if args.value == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("reading the value from standard input")?;
        bytes
    } else if let Some(path) = args.value.strip_prefix('@') {
        std::fs::read(path).with_context(|| format!("reading the value from {path}"))?
    } else {
        encoding.decode(&args.value)?
    };
    let db = open_or_create(&args.db)?;
    let mut w = db.begin_write()?;
    w.table(&args.table)?.insert(&key, &value)?;
    w.commit()?;
    Ok(())
}
