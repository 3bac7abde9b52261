//! What `mmtree warm` and `mmtree evict` share: arguments, residency, the report.

use crate::common::outln;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

/// `warm`: asks the kernel to read the whole file ahead (POSIX_FADV_WILLNEED) and reads it
/// through, so later accesses are page-cache hits; reports residency before and after.
/// `evict`: writes back and drops the file's cached pages (POSIX_FADV_DONTNEED).
///
/// Example: mmtree warm data.mmt
///
/// Example: mmtree evict data.mmt
#[derive(clap::Args)]
pub struct Args {
    /// The database file (any file works).
    pub db: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

/// (resident bytes, file bytes), via mincore on a read-only mapping of the file.
pub fn residency(path: &Path) -> Result<(u64, u64)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok((0, 0));
    }
    // Residency is read with `mmtree::Db::cache_residency` for databases; for any file we use
    // fincore's method through the library's helper.
    let resident = mmtree::file_residency(&file, len).context("mincore")?;
    Ok((resident, len))
}

pub fn report(
    what: &str,
    path: &Path,
    before: (u64, u64),
    after: (u64, u64),
    json: bool,
    elapsed: std::time::Duration,
) -> Result<()> {
    if json {
        outln!(
            "{}",
            serde_json::json!({"action": what, "file_bytes": after.1, "resident_before": before.0, "resident_after": after.0, "seconds": elapsed.as_secs_f64()})
        )?;
    } else {
        let pct = |(r, t): (u64, u64)| 100.0 * r as f64 / t.max(1) as f64;
        outln!(
            "{what} {}: resident {:.0}% -> {:.0}% of {} bytes ({elapsed:.2?})",
            path.display(),
            pct(before),
            pct(after),
            after.1
        )?;
    }
    Ok(())
}
