//! `mmtree readers DB`: processes holding snapshots, across processes. Dead ones are cleared.

use crate::common::open_existing;
use crate::common::outln;
use anyhow::Result;
use std::path::PathBuf;

/// Lists each process holding a snapshot: pid, the oldest commit it reads, how many commits
/// behind that is, and for how long. Slots of processes that died are reclaimed while listing.
/// Then the process holding the write lock, if any (text output).
///
/// Example: mmtree readers data.mmt --json
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// One JSON object per reader.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let db = open_existing(&args.db)?;
    let readers = db.readers();
    for r in &readers {
        if args.json {
            outln!(
                "{}",
                serde_json::json!({"pid": r.pid, "txn": r.txn, "lag": r.lag, "age_seconds": r.age.as_secs_f64()})
            )?;
        } else {
            outln!(
                "pid {}\tcommit {}\t{} behind\t{:.1?}",
                r.pid,
                r.txn,
                r.lag,
                r.age
            )?;
        }
    }
    if !args.json {
        if readers.is_empty() {
            outln!("no live snapshots")?;
        }
        match crate::writer::writer_pid(&args.db) {
            Some(pid) => {
                outln!("writer: pid {pid} holds the write lock (a write transaction in progress)")?
            }
            None => outln!("writer: none")?,
        }
    }
    Ok(())
}
