//! `mmtree upgrade OLD NEW`: converts a database of an older file format into a new file.

use crate::common::outln;
use anyhow::Result;
use std::path::PathBuf;

/// Converts a database written by an older mmtree (file format 1 or 2) into a new file of the
/// current format: every table is copied, then the old redo log's commits after its last
/// checkpoint are replayed on top. The old file is only read; close every process using it
/// first. Replace the old file with the new one yourself once you are satisfied.
///
/// Example: mmtree upgrade data.mmt data-v3.mmt
#[derive(clap::Args)]
pub struct Args {
    /// The database of the older format.
    old: PathBuf,
    /// The new database (must not exist).
    new: PathBuf,
}

pub fn run(args: Args) -> Result<()> {
    let report = match mmtree::upgrade(&args.old, &args.new) {
        Ok(report) => report,
        Err(error) => {
            // `upgrade` reads formats 1 and 2 only: of any other file (a newer format, the
            // current one, not a database at all), what opening it says is the clearer message.
            let options = mmtree::Options::default().read_only(true);
            return match mmtree::Db::open_with(&args.old, options) {
                Ok(_) => Err(anyhow::anyhow!(
                    "{} is already of format {}: nothing to upgrade",
                    args.old.display(),
                    mmtree::FORMAT_VERSION
                )),
                Err(mmtree::Error::OldFormat { .. }) => Err(error.into()),
                Err(open_error @ mmtree::Error::UnsupportedVersion { .. })
                | Err(open_error @ mmtree::Error::NotADatabase { .. })
                | Err(open_error @ mmtree::Error::Truncated { .. }) => Err(open_error.into()),
                Err(_) => Err(error.into()),
            };
        }
    };
    outln!(
        "{} (format {}) -> {} (format {}): {} tables, {} entries, {} logged commits replayed",
        args.old.display(),
        report.from_version,
        args.new.display(),
        mmtree::FORMAT_VERSION,
        report.tables,
        report.entries,
        report.log_records
    )?;
    Ok(())
}
