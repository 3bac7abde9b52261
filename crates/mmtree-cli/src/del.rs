//! `mmtree del DB TABLE KEY`: removes one entry (exit 4 if it was not there).

use crate::common::{exit, exit_with, no_table, open_existing_writable, EncodingFlags};
use anyhow::Result;
use std::path::PathBuf;

/// Removes KEY from TABLE.
///
/// Example: mmtree del data.mmt users bob
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
    #[command(flatten)]
    wait: crate::writer::WaitArgs,
}

pub fn run(args: Args) -> Result<()> {
    let key = args.encoding.encoding().decode(&args.key)?;
    let db = open_existing_writable(&args.db)?;
    let mut w = crate::writer::begin_write(&db, args.wait)?;
    if !w.has_table(&args.table)? {
        return Err(no_table(&args.table));
    }
    let removed = w.table(&args.table)?.remove(&key)?;
    if !removed {
        return Err(exit_with(
            exit::NOT_FOUND,
            format!("no key {:?} in table {:?}", args.key, args.table),
        ));
    }
    w.commit()?;
    Ok(())
}
