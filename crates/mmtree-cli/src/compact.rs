//! `mmtree compact DB [--to COPY]`: in place (move live pages down, give the tail back), or a
//! compacted copy holding live data only.

use crate::cleanup::with_suffix;
use crate::common::human_bytes;
use crate::common::open_existing_writable;
use crate::common::outln;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

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
            if let Some(pid) = crate::writer::writer_pid(&args.db) {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "mmtree: waiting for the writer (pid {pid}) to finish its write transaction"
                );
            }
            let progress = crate::progress::spinner("compacting");
            let saved = db.compact()?;
            progress.finish_and_clear();
            outln!(
                "{}: {} -> {} ({} given back)",
                args.db.display(),
                human_bytes(before),
                human_bytes(before - saved),
                human_bytes(saved)
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
                    human_bytes(held)
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
            // never leaves something that looks like a finished copy; the copy's own -lock and
            // -log (which hold nothing once it is closed) are removed, and Ctrl-C removes all
            // three.
            let temp = with_suffix(dest, &format!(".partial-{}", std::process::id()));
            let leftovers = [
                with_suffix(&temp, "-lock"),
                with_suffix(&temp, "-log"),
                temp.clone(),
            ];
            crate::cleanup::remove_on_interrupt(leftovers.to_vec())?;
            let result = copy_live_data(&db, &temp).and_then(|()| rename_new(&temp, dest));
            for path in &leftovers[..2] {
                let _ = std::fs::remove_file(path);
            }
            if let Err(error) = result {
                let _ = std::fs::remove_file(&temp);
                return Err(error);
            }
            let after = std::fs::metadata(dest)?.len();
            outln!(
                "{} ({}) -> {} ({})",
                args.db.display(),
                human_bytes(before),
                dest.display(),
                human_bytes(after)
            )?;
        }
    }
    Ok(())
}

/// Renames the finished copy to `dest` unless something appeared there meanwhile, and syncs
/// the directory.
fn rename_new(temp: &Path, dest: &Path) -> Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    match renameat_with(CWD, temp, CWD, dest, RenameFlags::NOREPLACE) {
        Ok(()) => {}
        // File systems without RENAME_NOREPLACE: a hard link fails if `dest` exists.
        Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => std::fs::hard_link(temp, dest)
            .and_then(|()| std::fs::remove_file(temp))
            .with_context(|| format!("renaming the copy to {}", dest.display()))?,
        Err(e) => Err(std::io::Error::from(e))
            .with_context(|| format!("renaming the copy to {}", dest.display()))?,
    }
    let dir = match dest.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .with_context(|| format!("syncing {}", dir.display()))
}

/// Bulk-loads every table of `db` into a new database at `dest`, and closes it with everything
/// in the data file (its -log then holds nothing the file lacks).
fn copy_live_data(db: &mmtree::Db, dest: &Path) -> Result<()> {
    let copy = mmtree::Db::open_with(dest, mmtree::Options::default().page_size(db.page_size()))?;
    let read = db.begin_read()?;
    let names = read.list_tables()?;
    let mut total = 0;
    for name in &names {
        total += read.table(name)?.map_or(Ok(0), |t| t.len())?;
    }
    let progress = crate::progress::bar("copying", total, "records");
    for name in names {
        let Some(table) = read.table(&name)? else {
            continue;
        };
        let mut w = copy.begin_write()?;
        let mut loader = w.bulk_load(&name)?;
        for (i, item) in table.range(..)?.enumerate() {
            let (k, v) = item?;
            loader.append(k, v)?;
            if i % 4096 == 4095 {
                progress.inc(4096);
            }
        }
        progress.set_position(progress.position() + table.len()? % 4096);
        loader.finish()?;
        w.commit()?;
    }
    copy.checkpoint()?;
    progress.finish_and_clear();
    Ok(())
}
