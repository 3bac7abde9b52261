//! `mmtree check DB`: the full integrity walk. Exit 0 when clean, 3 with a problem report.

use crate::common::outln;
use crate::common::{exit, exit_with, open_existing};
use anyhow::Result;
use std::path::PathBuf;

/// Verifies every checksum, key order within and across pages, every page used once or free,
/// entry counts, the freelist, and that no page leaked. Exit code 0: clean; 3: problems found
/// (listed one per line); 1: the file could not be opened at all.
///
/// Example: mmtree check data.mmt && echo clean
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let db = open_existing(&args.db)?;
    let progress = crate::progress::spinner("checking every page");
    let report = db.check()?;
    progress.finish_and_clear();
    if args.json {
        outln!(
            "{}",
            serde_json::json!({
                "ok": report.is_ok(), "txn_id": report.txn_id, "page_count": report.page_count,
                "pages_in_use": report.pages_in_use, "pages_free": report.pages_free,
                "tables": report.tables.iter().map(|t| serde_json::json!({
                    "name": t.name, "entries": t.entries, "depth": t.depth, "pages": t.pages,
                })).collect::<Vec<_>>(),
                "problems": report.problems.iter().map(|p| serde_json::json!({
                    "page": p.page, "message": p.message,
                })).collect::<Vec<_>>(),
            })
        )?;
    } else {
        for problem in &report.problems {
            outln!("problem: {problem}")?;
        }
        outln!(
            "{}: commit {}, {} pages ({} in use, {} free), {} tables, {} problems",
            args.db.display(),
            report.txn_id,
            report.page_count,
            report.pages_in_use,
            report.pages_free,
            report.tables.len(),
            report.problems.len()
        )?;
    }
    if report.is_ok() {
        Ok(())
    } else {
        Err(exit_with(
            exit::PROBLEMS,
            format!("{} problems found", report.problems.len()),
        ))
    }
}
