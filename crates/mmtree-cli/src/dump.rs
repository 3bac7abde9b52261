//! `mmtree dump DB TABLE` / `mmtree dump DB --all`: JSON Lines that `mmtree load` reads back
//! exactly, with no flags: the first line says what the rest is.

use crate::common::{
    exit, exit_with, no_table, open_existing, stdout_error, Encoding, EncodingFlags,
};
use crate::records::DumpHeader;
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;

/// Writes every entry of TABLE as one JSON object per line, {"key": …, "value": …}, after a
/// first line that says how they are written ({"mmtree_dump":1,"encoding":"text","all":false}),
/// so `mmtree load DB TABLE FILE` reads it back exactly with no flags.
///
/// Keys and values are written as `scan --json` and `get --json` write them: a string when the
/// bytes are valid UTF-8, else {"base64": "…"}; with --hex or --base64, strings in that
/// encoding (the same flags as every other command).
///
/// With --all (as `mdb_dump -a`), every table instead, in name order, each line carrying its
/// table: {"table": …, "key": …, "value": …}; an empty table is one line {"table": …}. Internal
/// tables (those of `mmtree serve`) are included. `mmtree load DB --all FILE` reads it back.
///
/// Example: mmtree dump data.mmt users -o users.jsonl
///
/// Then: mmtree load copy.mmt users users.jsonl
///
/// Every table: mmtree dump data.mmt --all -o all.jsonl && mmtree load copy.mmt --all all.jsonl
#[derive(clap::Args)]
pub struct Args {
    /// The database file.
    db: PathBuf,
    /// The table (omit with --all).
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    table: Option<String>,
    /// Dump every table; each line names its table.
    #[arg(long, short)]
    all: bool,
    #[command(flatten)]
    flags: EncodingFlags,
    /// (Older spelling of --hex/--base64; `text` is the default.)
    #[arg(long, value_enum, hide = true, conflicts_with_all = ["hex", "base64"])]
    encoding: Option<Encoding>,
    /// Write to this file instead of standard output ("-": standard output).
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Salvage a damaged file: skip pages that fail their checks (with their subtrees) instead
    /// of stopping at the first, and list on standard error what was skipped (exit 3 if
    /// anything was). A truncated file is salvaged too: what its surviving pages hold.
    #[arg(long)]
    salvage: bool,
}

impl Args {
    fn encoding(&self) -> Encoding {
        self.encoding.unwrap_or(self.flags.encoding())
    }

    /// The output file, or `None` for standard output.
    fn output(&self) -> Option<&PathBuf> {
        self.output.as_ref().filter(|p| p.as_os_str() != "-")
    }

    /// Where the lines go, buffered, with the dump's first line already written.
    fn sink(&self) -> Result<std::io::BufWriter<Box<dyn Write>>> {
        let sink: Box<dyn Write> = match self.output() {
            Some(path) => Box::new(
                std::fs::File::create(path)
                    .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => Box::new(crate::common::stdout()),
        };
        let mut out = std::io::BufWriter::new(sink);
        let header = DumpHeader {
            encoding: self.encoding(),
            all: self.all,
        };
        writeln!(out, "{}", header.line()).map_err(|e| self.write_error(e))?;
        Ok(out)
    }

    fn write_error(&self, error: std::io::Error) -> anyhow::Error {
        match self.output() {
            Some(path) => anyhow::Error::from(error).context(format!("writing {}", path.display())),
            None => stdout_error(error),
        }
    }

    /// One entry's line.
    fn line(&self, table: &str, key: &[u8], value: &[u8]) -> serde_json::Value {
        let encoding = self.encoding();
        if self.all {
            serde_json::json!({"table": table, "key": encoding.json(key), "value": encoding.json(value)})
        } else {
            serde_json::json!({"key": encoding.json(key), "value": encoding.json(value)})
        }
    }
}

pub fn run(args: Args) -> Result<()> {
    if args.salvage {
        return salvage(&args);
    }
    let db = open_existing(&args.db)?;
    let read = db.begin_read()?;
    let names = match &args.table {
        Some(name) => vec![name.clone()],
        None => read.list_tables()?,
    };
    let mut tables = Vec::with_capacity(names.len());
    for name in &names {
        match read.table(name)? {
            Some(table) => tables.push((name, table)),
            None => return Err(no_table(name)),
        }
    }
    let mut out = args.sink()?;
    let total = tables
        .iter()
        .map(|(_, t)| t.len())
        .sum::<mmtree::Result<u64>>()?;
    let progress = crate::progress::bar("dumping", total, "records");
    let mut count = 0u64;
    for (name, table) in &tables {
        let mut entries = 0u64;
        for item in table.range(..)? {
            let (key, value) = item?;
            writeln!(out, "{}", args.line(name, key, value)).map_err(|e| args.write_error(e))?;
            entries += 1;
            if entries.is_multiple_of(4096) {
                progress.inc(4096);
            }
        }
        progress.inc(entries % 4096);
        if args.all && entries == 0 {
            writeln!(out, "{}", serde_json::json!({ "table": name }))
                .map_err(|e| args.write_error(e))?;
        }
        count += entries;
    }
    out.flush().map_err(|e| args.write_error(e))?;
    progress.finish_and_clear();
    // Not `eprintln!`, which panics when standard error is full.
    let _ = match &args.table {
        Some(name) => writeln!(std::io::stderr(), "dumped {count} records from {name:?}"),
        None => writeln!(
            std::io::stderr(),
            "dumped {count} records from {} tables",
            tables.len()
        ),
    };
    Ok(())
}

/// Opens `path` for salvage. A truncated file (the most common damage: an unfinished copy, a
/// full disk) cannot be opened as it is; it is copied with its -log into a temporary directory
/// and the copy extended with zeros to the size its commit needs, so every surviving page can
/// be read and the missing ones fail their checks (and are skipped and listed) like any
/// damaged page. The temporary directory goes when the returned guard does.
fn open_for_salvage(path: &std::path::Path) -> Result<(mmtree::Db, Option<tempfile::TempDir>)> {
    if !path.exists() {
        anyhow::bail!("{}: no such file", path.display());
    }
    let options = || mmtree::Options::default().read_only(true);
    let (needed, had) = match mmtree::Db::open_with(path, options()) {
        Ok(db) => return Ok((db, None)),
        Err(mmtree::Error::Truncated {
            needed_bytes,
            file_bytes,
            ..
        }) => (needed_bytes, file_bytes),
        Err(error) => {
            return Err(anyhow::Error::from(error).context(format!("opening {}", path.display())))
        }
    };
    let _ = writeln!(
        std::io::stderr(),
        "mmtree: {} is truncated ({had} of the {needed} bytes its last commit needs): salvaging \
         from a copy whose missing {} bytes are zeros (the pages there are skipped)",
        path.display(),
        needed - had
    );
    let name = path.file_name().unwrap_or_else(|| "db".as_ref());
    // Next to the output if there is one (same file system, so the copy may share blocks),
    // else in the temporary directory.
    let dir = tempfile::tempdir().context("creating a temporary directory for the copy")?;
    let copy = dir.path().join(name);
    std::fs::copy(path, &copy).with_context(|| format!("copying {}", path.display()))?;
    let mut log = path.as_os_str().to_owned();
    log.push("-log");
    if std::path::Path::new(&log).exists() {
        let mut copy_log = copy.as_os_str().to_owned();
        copy_log.push("-log");
        std::fs::copy(&log, &copy_log).context("copying the -log")?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .open(&copy)
        .and_then(|file| file.set_len(needed))
        .context("extending the copy")?;
    let db = mmtree::Db::open_with(&copy, options())
        .with_context(|| format!("opening {} (extended)", path.display()))?;
    Ok((db, Some(dir)))
}

/// `dump --salvage`: every entry that can still be read, then what was skipped.
fn salvage(args: &Args) -> Result<()> {
    let (db, _copy) = open_for_salvage(&args.db)?;
    let (mut count, mut skipped) = (0u64, Vec::new());
    // With --all and the catalog (the list of tables) damaged: the tables still listed, then
    // the leaves nothing reaches, as tables "lost+found-N".
    let mut catalog_lost = false;
    let names = match &args.table {
        Some(name) => vec![name.clone()],
        None => match db.begin_read()?.list_tables() {
            Ok(names) => names,
            Err(error) => {
                skipped.push(format!("the list of tables: {error}"));
                catalog_lost = true;
                Vec::new()
            }
        },
    };
    let mut out = args.sink()?;
    let progress = crate::progress::spinner("salvaging");
    for name in &names {
        let mut failed = None;
        let report = db.salvage(name, |key, value| {
            if failed.is_some() {
                return;
            }
            if let Err(error) = writeln!(out, "{}", args.line(name, key, value)) {
                failed = Some(error);
            }
        })?;
        if let Some(error) = failed {
            return Err(args.write_error(error));
        }
        let Some(report) = report else {
            return Err(no_table(name));
        };
        count += report.entries;
        skipped.extend(
            report
                .problems
                .iter()
                .map(|p| format!("table {name:?}: {p}")),
        );
    }
    if catalog_lost {
        let mut failed = None;
        let report = db.salvage_lost(|group, key, value| {
            if failed.is_none() {
                let table = format!("lost+found-{group}");
                if let Err(error) = writeln!(out, "{}", args.line(&table, key, value)) {
                    failed = Some(error);
                }
            }
        })?;
        if let Some(error) = failed {
            return Err(args.write_error(error));
        }
        count += report.entries;
        skipped.extend(report.problems.iter().map(|p| p.to_string()));
    } else if args.table.is_some() && skipped.iter().any(|s| s.contains("of the catalog")) {
        skipped.push(
            "`mmtree dump DB --all --salvage` reads the leaves the lost catalog pointed to \
             (as tables lost+found-N)"
                .to_string(),
        );
    }
    out.flush().map_err(|e| args.write_error(e))?;
    progress.finish_and_clear();
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "salvaged {count} records from {} table(s); skipped {} damaged part(s)",
        names.len(),
        skipped.len()
    );
    for line in &skipped {
        let _ = writeln!(err, "  skipped: {line}");
    }
    if skipped.is_empty() {
        Ok(())
    } else {
        Err(exit_with(
            exit::PROBLEMS,
            format!("{} damaged part(s) skipped (listed above)", skipped.len()),
        ))
    }
}
