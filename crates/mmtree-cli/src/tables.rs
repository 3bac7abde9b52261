//! `mmtree tables DB [list|create|drop]`.

use crate::common::outln;
use crate::common::{no_table, open_existing, open_existing_writable, open_or_create};
use anyhow::Result;
use std::path::PathBuf;

/// Lists, creates or drops tables.
///
/// Example: mmtree tables data.mmt
///
/// Example: mmtree tables data.mmt create users
///
/// Example: mmtree tables data.mmt drop users
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    #[command(subcommand)]
    action: Option<Action>,
    /// With `list`: one JSON object per table with its entry count.
    #[arg(long, global = true)]
    json: bool,
    /// With `list`: also the internal tables of `mmtree serve` (names starting with `__serve:`,
    /// holding expiry times), which are hidden by default.
    #[arg(long, global = true)]
    all: bool,
    #[command(flatten)]
    wait: crate::writer::WaitArgs,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Lists tables with their entry counts (the default).
    List,
    /// Creates an empty table.
    Create { name: String },
    /// Drops a table and everything in it.
    Drop { name: String },
}

pub fn run(args: Args) -> Result<()> {
    match args.action.unwrap_or(Action::List) {
        Action::List => {
            let db = open_existing(&args.db)?;
            let read = db.begin_read()?;
            for name in read.list_tables()? {
                if !args.all && mmtree_server::is_internal_table(&name) {
                    continue;
                }
                let len = read.table(&name)?.map_or(Ok(0), |t| t.len())?;
                if args.json {
                    outln!("{}", serde_json::json!({"table": name, "entries": len}))?;
                } else {
                    outln!("{name}\t{len}")?;
                }
            }
        }
        Action::Create { name } => {
            let db = open_or_create(&args.db)?;
            let mut w = crate::writer::begin_write(&db, args.wait)?;
            w.table(&name)?;
            w.commit()?;
        }
        Action::Drop { name } => {
            let db = open_existing_writable(&args.db)?;
            let mut w = crate::writer::begin_write(&db, args.wait)?;
            if !w.delete_table(&name)? {
                return Err(no_table(&name));
            }
            w.commit()?;
        }
    }
    Ok(())
}
