//! `mmtree stat DB`: the file, its tables, its snapshots, and how much of it is in memory.

use crate::common::outln;
use crate::common::{human_bytes, open_existing};
use crate::proc_stats::Faults;
use anyhow::Result;
use std::path::PathBuf;

/// Shows format, page size, per-table depth/entries/pages/fill, pages used and free, file size,
/// the oldest live snapshot, page-cache residency (mincore, like fincore) and this command's own
/// page faults. Walks the whole file (it runs the integrity check's walk). Sizes are in binary
/// units (KiB, MiB, GiB); --json gives exact bytes.
///
/// Example: mmtree stat data.mmt --json
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let start = Faults::now();
    let db = open_existing(&args.db)?;
    let stats = db.stats();
    let report = db.check()?;
    let (resident, file_bytes) = db.cache_residency()?;
    let page_size = stats.page_size as u64;
    let read = db.begin_read()?;
    let mut tables = Vec::new();
    for table in &report.tables {
        let mut data = 0u64;
        if let Some(t) = read.table(&table.name)? {
            for item in t.range(..)? {
                let (k, v) = item?;
                data += (k.len() + v.len()) as u64;
            }
        }
        let fill = if table.pages == 0 {
            0.0
        } else {
            data as f64 / (table.pages * page_size) as f64
        };
        tables.push(serde_json::json!({
            "name": table.name, "entries": table.entries, "depth": table.depth,
            "pages": table.pages, "data_bytes": data, "fill": (fill * 1000.0).round() / 1000.0,
        }));
    }
    drop(read);
    let faults = Faults::now().since(start);
    let readers = db.readers();
    let value = serde_json::json!({
        "path": args.db.display().to_string(),
        "format_version": mmtree::FORMAT_VERSION,
        "page_size": page_size,
        "txn_id": stats.txn_id,
        "file_bytes": stats.file_bytes,
        "page_count": stats.page_count,
        "pages_in_use": report.pages_in_use,
        "pages_free": report.pages_free,
        "pages_held_back_by_snapshots": stats.pages_held_back,
        "log": {
            "bytes_since_checkpoint": stats.log_bytes,
            "checkpoint_txn": stats.checkpoint_txn,
            "pages_waiting_for_checkpoint": stats.pages_pinned,
        },
        "tables": tables,
        "readers": readers.iter().map(|r| serde_json::json!({
            "pid": r.pid, "txn": r.txn, "lag": r.lag, "age_seconds": r.age.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "page_cache": {"resident_bytes": resident, "file_bytes": file_bytes},
        "faults": {"minor": faults.minor, "major": faults.major},
        "problems": report.problems.len(),
    });
    if args.json {
        outln!("{value}")?;
        return Ok(());
    }
    outln!("{}", args.db.display())?;
    outln!("  format version   {}", mmtree::FORMAT_VERSION)?;
    outln!("  page size        {page_size} B")?;
    outln!("  last commit      {}", stats.txn_id)?;
    outln!(
        "  file             {}, {} pages ({} in use, {} free, {} held back by snapshots)",
        human_bytes(stats.file_bytes),
        stats.page_count,
        report.pages_in_use,
        report.pages_free,
        stats.pages_held_back
    )?;
    outln!(
        "  redo log         {} since the checkpoint of commit {} ({} freed pages wait for the next)",
        human_bytes(stats.log_bytes),
        stats.checkpoint_txn,
        stats.pages_pinned
    )?;
    for t in &tables {
        outln!(
            "  table {:<16} {} entries, depth {}, {} pages ({}), data {}, fill {:.0}%",
            t["name"].as_str().unwrap_or(""),
            t["entries"],
            t["depth"],
            t["pages"],
            human_bytes(t["pages"].as_u64().unwrap_or(0) * page_size),
            human_bytes(t["data_bytes"].as_u64().unwrap_or(0)),
            t["fill"].as_f64().unwrap_or(0.0) * 100.0
        )?;
    }
    match readers.first() {
        Some(r) => outln!(
            "  oldest snapshot  commit {} in pid {}, {} commits behind, {:.1?} old",
            r.txn,
            r.pid,
            r.lag,
            r.age
        )?,
        None => outln!("  oldest snapshot  none open")?,
    }
    outln!(
        "  page cache       {} of {} resident ({:.0}%)",
        human_bytes(resident),
        human_bytes(file_bytes),
        100.0 * resident as f64 / file_bytes.max(1) as f64
    )?;
    outln!(
        "  page faults      {} minor, {} major (this command)",
        faults.minor,
        faults.major
    )?;
    if !report.is_ok() {
        outln!(
            "  problems         {} (run `mmtree check`)",
            report.problems.len()
        )?;
    }
    Ok(())
}
