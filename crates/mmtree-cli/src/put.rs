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
/// --hex and --base64 apply to KEY and VALUE both (as they apply to keys and values in every
/// other command); with --raw, to KEY only and VALUE is stored as it is written.
///
/// Example: mmtree put data.mmt users alice '{"age":31}'
///
/// A file: mmtree put data.mmt blobs logo @logo.png
///
/// Standard input: gzip -c log | mmtree put data.mmt logs today -
///
/// Hex key, text value: mmtree put data.mmt users 00ff 'binary key' --hex --raw
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
    /// VALUE is stored as it is written: --hex/--base64 apply to KEY only (as `get --raw`).
    #[arg(long)]
    raw: bool,
    #[command(flatten)]
    encoding: EncodingFlags,
    #[command(flatten)]
    wait: crate::writer::WaitArgs,
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let key = encoding.decode(&args.key)?;
    let value_encoding = if args.raw {
        crate::common::Encoding::Text
    } else {
        encoding
    };
    let value = if args.value_literal {
        value_encoding.decode(&args.value)?
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
        value_encoding.decode(&args.value)?
    };
    let db = open_or_create(&args.db)?;
    let mut w = crate::writer::begin_write(&db, args.wait)?;
    w.table(&args.table)?.insert(&key, &value)?;
    w.commit()?;
    Ok(())
}
