//! `mmtree recover DB`: opens a database whose redo log cannot be used (missing although the
//! database was not closed cleanly, another database's, or holding a record that cannot be
//! applied) at its last checkpoint, keeping what can be replayed, and says what it set aside.

use crate::common::outln;
use anyhow::{bail, Context, Result};
use std::path::PathBuf;

/// Opens DB, replaying what its log allows and setting the rest aside: an unusable log is kept
/// whole as DB-log.set-aside-SECONDS (a log of another database is moved there), and the
/// database is opened at its last checkpoint plus every record before the first that cannot be
/// applied. Use it only when an open refuses with "redo log is missing", "belongs to another
/// database" or a log record that cannot be applied, and the log cannot be put back: the
/// commits set aside are not in the database afterwards. With nothing to set aside it changes
/// nothing and says so.
///
/// Example: mmtree recover data.mmt
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if !args.db.exists() {
        bail!("{}: no such file", args.db.display());
    }
    let options = mmtree::Options::default().set_aside_log(true);
    let db = mmtree::Db::open_with(&args.db, options)
        .with_context(|| format!("opening {}", args.db.display()))?;
    match db.set_aside() {
        None => outln!(
            "{}: its log was usable; nothing set aside",
            args.db.display()
        )?,
        Some(set_aside) => {
            outln!("{}: {}", args.db.display(), set_aside.reason)?;
            if let Some(copy) = &set_aside.log_copy {
                outln!("the log as it was: {}", copy.display())?;
            }
        }
    }
    let report = db.check()?;
    outln!(
        "{}: commit {}, {} tables, {} problems",
        args.db.display(),
        report.txn_id,
        report.tables.len(),
        report.problems.len()
    )?;
    Ok(())
}
