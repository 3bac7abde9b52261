//! `mmtree evict DB`: drop the file from the page cache.

use crate::cache::{report, residency, Args};
use anyhow::Result;
use std::num::NonZeroU64;
use std::time::Instant;

pub fn run(args: Args) -> Result<()> {
    let before = residency(&args.db)?;
    let started = Instant::now();
    let file = std::fs::File::open(&args.db)?;
    file.sync_data().ok(); // dirty pages cannot be dropped
    let len = file.metadata()?.len();
    rustix::fs::fadvise(&file, 0, NonZeroU64::new(len), rustix::fs::Advice::DontNeed)?;
    report(
        "evict",
        &args.db,
        before,
        residency(&args.db)?,
        args.json,
        started.elapsed(),
    )
}
