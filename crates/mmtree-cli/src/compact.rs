//! `mmtree compact DB [--to COPY]`: in place (move live pages down, give the tail back), or a
//! compacted copy holding live data only.

use crate::common::open_existing_writable;
use crate::common::outln;
use anyhow::{bail, Result};
use std::path::PathBuf;

/// Without --to: compacts in place (live pages move into free space lower in the file, then the
/// free tail is given back to the file system). With --to: writes a new database holding only
/// the live data, every table bulk-loaded into packed pages.
///
/// Example: mmtree compact data.mmt --to data-compact.mmt
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// Write a compacted copy here instead (must not exist).
    #[arg(long)]
    to: Option<PathBuf>,
}

pub fn run(args: Args) -> Result<()> {
    let db = open_existing_writable(&args.db)?;
    let before = std::fs::metadata(&args.db)?.len();
    match &args.to {
        None => {
            let saved = db.compact()?;
            outln!(
                "{}: {before} -> {} bytes ({saved} given back)",
                args.db.display(),
                before - saved
            )?;
            // Why it gave back less (or nothing): pages a live snapshot may still read.
            let stats = db.stats();
            if stats.pages_held_back > 0 {
                let held = stats.pages_held_back * stats.page_size as u64;
                let who = match db.readers().first() {
                    Some(r) => format!(
                        "the oldest reads commit {} in pid {}, {} commits behind, {:.1?} old",
                        r.txn, r.pid, r.lag, r.age
                    ),
                    None => match stats.oldest_reader_txn {
                        Some(txn) => format!("the oldest reads commit {txn}"),
                        None => "it has ended since".to_string(),
                    },
                };
                outln!(
                    "  {} pages ({}) held back by a live snapshot ({who}); \
                     run compact again once it ends (`mmtree readers` lists them)",
                    stats.pages_held_back,
                    crate::common::human_bytes(held)
                )?;
            } else if saved == 0 {
                outln!(
                    "  nothing given back: no snapshot holds pages back; the file is as small as compaction makes it"
                )?;
            }
        }
        Some(dest) => {
            if dest.exists() {
                bail!("{} already exists", dest.display());
            }
            // Written under a temporary name and renamed when complete, so an interrupted run
            // never leaves something that looks like a finished copy.
            let mut temp = dest.clone().into_os_string();
            temp.push(format!(".partial-{}", std::process::id()));
            let temp = PathBuf::from(temp);
            let result = copy_live_data(&db, &temp);
            let mut temp_lock = temp.clone().into_os_string();
            temp_lock.push("-lock");
            let _ = std::fs::remove_file(&temp_lock);
            if let Err(error) = result.and_then(|()| Ok(std::fs::rename(&temp, dest)?)) {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
            let after = std::fs::metadata(dest)?.len();
            outln!(
                "{} ({before} bytes) -> {} ({after} bytes)",
                args.db.display(),
                dest.display()
            )?;
        }
    }
    Ok(())
}

/// Bulk-loads every table of `db` into a new database at `dest`.
fn copy_live_data(db: &mmtree::Db, dest: &std::path::Path) -> Result<()> {
    let copy = mmtree::Db::open_with(dest, mmtree::Options::default().page_size(db.page_size()))?;
    let read = db.begin_read()?;
    for name in read.list_tables()? {
        let Some(table) = read.table(&name)? else {
            continue;
        };
        let mut w = copy.begin_write()?;
        let mut loader = w.bulk_load(&name)?;
        for item in table.range(..)? {
            let (k, v) = item?;
            loader.append(k, v)?;
        }
        loader.finish()?;
        w.commit()?;
    }
    Ok(())
}
