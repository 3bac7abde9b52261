//! `mmtree put DB TABLE KEY VALUE`: stores one entry in its own durable commit.

use crate::common::{open_or_create, EncodingFlags};
use anyhow::Result;
use std::path::PathBuf;

/// Stores VALUE under KEY (creating the database and the table if needed).
///
/// Example: mmtree put data.mmt users alice '{"age":31}'
#[derive(clap::Args)]
pub struct Args {
    /// The database file (created if missing).
    db: PathBuf,
    /// The table (created if missing).
    table: String,
    /// The key.
    key: String,
    /// The value.
    value: String,
    #[command(flatten)]
    encoding: EncodingFlags,
}

pub fn run(args: Args) -> Result<()> {
    let encoding = args.encoding.encoding();
    let key = encoding.decode(&args.key)?;
    let value = encoding.decode(&args.value)?;
    let db = open_or_create(&args.db)?;
    let mut w = db.begin_write()?;
    w.table(&args.table)?.insert(&key, &value)?;
    w.commit()?;
    Ok(())
}
