//! Ctrl-C (or SIGTERM) while a command writes files under temporary names: they are removed
//! before the process exits, so an interrupted `backup` or `compact --to` leaves nothing behind.

use anyhow::{Context, Result};
use std::path::PathBuf;

/// Removes `paths` and exits 130 (128 + SIGINT, as a shell reports it) on SIGINT or SIGTERM,
/// from a watcher thread, for as long as the process runs.
pub fn remove_on_interrupt(paths: Vec<PathBuf>) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing the Ctrl-C handler")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            for path in &paths {
                let _ = std::fs::remove_file(path);
            }
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "mmtree: interrupted; the partial copy was removed"
            );
            std::process::exit(crate::common::exit::INTERRUPTED);
        }
    });
    Ok(())
}

/// `path` with `suffix` appended to its name: "copy.mmt" + "-log".
pub fn with_suffix(path: &std::path::Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}
