//! `mmtree backup DB DEST`: a consistent hot copy while writers keep going.

use crate::common::open_existing;
use crate::common::outln;
use anyhow::{bail, Result};
use std::path::PathBuf;
use std::time::Instant;

/// Copies the newest commit to DEST from a read snapshot (writers are not blocked), with
/// copy_file_range (zero copy through user space), then syncs it. DEST must not exist.
///
/// The copy is written as DEST.partial-PID and renamed to DEST once complete and synced, so a
/// backup that fails or is interrupted never leaves a partial file under DEST (Ctrl-C removes
/// the partial file). The copy is one file: it holds every commit up to the newest, also those
/// the source still keeps in its -log.
///
/// Example: mmtree backup data.mmt /backups/data-$(date +%F).mmt
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The copy to create.
    dest: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    if args.dest.exists() {
        bail!("{} already exists", args.dest.display());
    }
    let db = open_existing(&args.db)?;
    let temp = mmtree::Db::backup_temp_path(&args.dest);
    crate::cleanup::remove_on_interrupt(vec![crate::cleanup::with_suffix(&temp, "-log"), temp])?;
    let started = Instant::now();
    let bytes = {
        let _progress = watch(
            &mmtree::Db::backup_temp_path(&args.dest),
            db.stats().file_bytes,
        );
        db.backup(&args.dest)?
    };
    let elapsed = started.elapsed();
    outln!(
        "{} -> {}: {} in {elapsed:.2?} ({:.0} MiB/s)",
        args.db.display(),
        args.dest.display(),
        crate::common::human_bytes(bytes),
        bytes as f64 / (1 << 20) as f64 / elapsed.as_secs_f64().max(1e-9)
    )?;
    Ok(())
}

/// A progress bar of the bytes the copy at `temp` holds so far (its allocated blocks: the copy
/// is sized first, then filled), until dropped.
fn watch(temp: &std::path::Path, total: u64) -> impl Drop {
    use std::os::unix::fs::MetadataExt;
    struct Stop(
        std::sync::Arc<std::sync::atomic::AtomicBool>,
        indicatif::ProgressBar,
    );
    impl Drop for Stop {
        fn drop(&mut self) {
            self.0.store(true, std::sync::atomic::Ordering::Relaxed);
            self.1.finish_and_clear();
        }
    }
    let bar = crate::progress::bar("copying", total, "bytes");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if !bar.is_hidden() {
        let (temp, bar, stop) = (temp.to_path_buf(), bar.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(meta) = std::fs::metadata(&temp) {
                    bar.set_position((meta.blocks() * 512).min(total));
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
    }
    Stop(stop, bar)
}
