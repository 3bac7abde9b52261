//! `mmtree warm DB`: load the file into the page cache.

use crate::cache::{report, residency, Args};
use anyhow::Result;
use std::num::NonZeroU64;
use std::os::unix::fs::FileExt;
use std::time::Instant;

pub fn run(args: Args) -> Result<()> {
    let before = residency(&args.db)?;
    let started = Instant::now();
    let file = std::fs::File::open(&args.db)?;
    let len = file.metadata()?.len();
    rustix::fs::fadvise(&file, 0, NonZeroU64::new(len), rustix::fs::Advice::WillNeed)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < len {
        let n = file.read_at(&mut buf, offset)?;
        if n == 0 {
            break;
        }
        offset += n as u64;
    }
    report(
        "warm",
        &args.db,
        before,
        residency(&args.db)?,
        args.json,
        started.elapsed(),
    )
}
