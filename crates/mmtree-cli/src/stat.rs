//! `mmtree stat DB`: the file, its tables, its snapshots, and how much of it is in memory.

use crate::common::outln;
use crate::common::{human_bytes, open_existing};
use anyhow::Result;
use std::path::PathBuf;

/// Shows format, page size, the size of each of the database's files (the data file, its
/// -log and -lock), per-table depth/entries/pages/fill, pages used and free (and how much
/// `mmtree compact` could give back), the process writing and the oldest live snapshot, and
/// page-cache residency (mincore, like fincore). Walks the whole file (it runs the integrity
/// check's walk). Sizes are in binary units (KiB, MiB, GiB); --json gives exact bytes.
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

/// The size of `db` + `suffix` ("-log", "-lock"), if it exists.
fn side_file(db: &std::path::Path, suffix: &str) -> Option<u64> {
    let mut path = db.as_os_str().to_owned();
    path.push(suffix);
    std::fs::metadata(path).ok().map(|m| m.len())
}

pub fn run(args: Args) -> Result<()> {
    let db = open_existing(&args.db)?;
    let progress = crate::progress::spinner("walking the file");
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
    progress.finish_and_clear();
    let readers = db.readers();
    let writer = crate::writer::writer_pid(&args.db);
    let log_file = side_file(&args.db, "-log");
    let lock_file = side_file(&args.db, "-lock");
    let free_bytes = report.pages_free * page_size;
    let reclaimable = compact_gives_back(&stats, report.pages_free, page_size);
    let value = serde_json::json!({
        "path": args.db.display().to_string(),
        "format_version": mmtree::FORMAT_VERSION,
        "page_size": page_size,
        "txn_id": stats.txn_id,
        "file_bytes": stats.file_bytes,
        "files": {"data": stats.file_bytes, "log": log_file, "lock": lock_file},
        "page_count": stats.page_count,
        "pages_in_use": report.pages_in_use,
        "pages_free": report.pages_free,
        "free_bytes": free_bytes,
        "compact_gives_back_bytes": reclaimable,
        "pages_held_back_by_snapshots": stats.pages_held_back,
        "log": {
            "bytes_since_checkpoint": stats.log_bytes,
            "checkpoint_txn": stats.checkpoint_txn,
            "pages_waiting_for_checkpoint": stats.pages_pinned,
        },
        "tables": tables,
        "writer_pid": writer,
        "readers": readers.iter().map(|r| serde_json::json!({
            "pid": r.pid, "txn": r.txn, "lag": r.lag, "age_seconds": r.age.as_secs_f64(),
        })).collect::<Vec<_>>(),
        "page_cache": {"resident_bytes": resident, "file_bytes": file_bytes},
        "problems": report.problems.len(),
    });
    if args.json {
        outln!("{value}")?;
        return Ok(());
    }
    let size = |bytes: Option<u64>| bytes.map_or("absent".to_string(), human_bytes);
    outln!("{}", args.db.display())?;
    outln!("  format version   {}", mmtree::FORMAT_VERSION)?;
    outln!("  page size        {}", human_bytes(page_size))?;
    outln!("  last commit      {}", stats.txn_id)?;
    outln!(
        "  files            data {}, -log {}, -lock {}",
        human_bytes(stats.file_bytes),
        size(log_file),
        size(lock_file)
    )?;
    outln!(
        "  pages            {} ({} in use, {} free, {} held back by snapshots)",
        stats.page_count,
        report.pages_in_use,
        report.pages_free,
        stats.pages_held_back
    )?;
    if reclaimable > 0 {
        outln!(
            "  free space       {} (`mmtree compact` gives back up to {})",
            human_bytes(free_bytes),
            human_bytes(reclaimable)
        )?;
    } else if free_bytes > 0 {
        outln!(
            "  free space       {} (reused by later writes; `mmtree compact` gives nothing back: \
             a file keeps a margin to grow, at least {})",
            human_bytes(free_bytes),
            human_bytes(mmtree::limits::GROW_STEP_MIN)
        )?;
    } else {
        outln!("  free space       {}", human_bytes(free_bytes))?;
    }
    outln!(
        "  redo log         {} written since the checkpoint of commit {}; {} freed pages become \
         reusable at the next checkpoint",
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
    match writer {
        Some(pid) => outln!("  writer           pid {pid} (a write transaction in progress)")?,
        None => outln!("  writer           none")?,
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
    if !report.is_ok() {
        outln!(
            "  problems         {} (run `mmtree check`)",
            report.problems.len()
        )?;
    }
    Ok(())
}

/// An upper bound of what compaction can give back now: the free pages no live snapshot may still
/// read can move out of the way, and the file is then cut to the pages in use plus the margin
/// the engine keeps for growth (an eighth of them, 1 MiB to 1 GiB: `limits::GROW_STEP_MIN` and
/// `GROW_STEP_MAX`), only when it is longer than twice that margin past them.
fn compact_gives_back(stats: &mmtree::Stats, pages_free: u64, page_size: u64) -> u64 {
    use mmtree::limits::{GROW_STEP_MAX, GROW_STEP_MIN};
    let movable = pages_free.saturating_sub(stats.pages_held_back);
    let live = stats.page_count.saturating_sub(movable) * page_size;
    let margin = (live / 8).clamp(GROW_STEP_MIN, GROW_STEP_MAX);
    match stats.file_bytes > live + 2 * margin {
        true => stats.file_bytes - (live + margin),
        false => 0,
    }
}
