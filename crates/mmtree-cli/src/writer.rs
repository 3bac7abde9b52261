//! Waiting for the writer: a command that writes says whom it waits for (after a moment), and
//! `--timeout SECS` / `--no-wait` bound the wait (as sqlite3's `.timeout` and bbolt's
//! `Timeout`).

use crate::common::{exit, exit_with};
use anyhow::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a command waits silently before it says whom it waits for.
const QUIET_WAIT: Duration = Duration::from_secs(1);

/// The flags of every command that writes.
#[derive(clap::Args, Clone, Copy, Debug, Default)]
pub struct WaitArgs {
    /// Wait at most this many seconds for another process's write transaction to end, then
    /// fail (exit 5). Default: wait as long as it takes, saying after a second whom for.
    #[arg(long, value_name = "SECS", global = true,
          value_parser = parse_seconds, conflicts_with = "no_wait")]
    pub timeout: Option<Duration>,
    /// Fail at once (exit 5) if another process is writing.
    #[arg(long, global = true)]
    pub no_wait: bool,
}

fn parse_seconds(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| format!("{text:?} is not a number of seconds"))
}

/// Starts the write transaction, waiting for another process's to end as `wait` says: at
/// first silently, then (unbounded waits, after [`QUIET_WAIT`]) saying on standard error
/// "waiting for the writer (pid N)".
pub fn begin_write(db: &mmtree::Db, wait: WaitArgs) -> Result<mmtree::WriteTransaction> {
    let started = Instant::now();
    let deadline = match (wait.no_wait, wait.timeout) {
        (true, _) => Some(Duration::ZERO),
        (false, timeout) => timeout,
    };
    loop {
        match db.try_begin_write() {
            Ok(w) => return Ok(w),
            Err(mmtree::Error::WriteInProgress) => {}
            Err(error) => return Err(error.into()),
        }
        let waited = started.elapsed();
        match deadline {
            Some(limit) if waited >= limit => {
                let holder = holder(db.path());
                return Err(exit_with(
                    exit::BUSY,
                    if wait.no_wait {
                        format!("another write transaction is in progress ({holder}); --no-wait")
                    } else {
                        format!(
                            "timed out after {:.1?} waiting for the writer ({holder})",
                            waited
                        )
                    },
                ));
            }
            Some(_) => {}
            None if waited >= QUIET_WAIT => {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "mmtree: waiting for the writer ({}) to finish its write transaction \
                     (--timeout SECS or --no-wait to bound the wait)",
                    holder(db.path())
                );
                // From here the kernel queues this process for the lock.
                return Ok(db.begin_write()?);
            }
            None => {}
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// "pid N" for the process holding the write lock, or why it is not known.
fn holder(db: &Path) -> String {
    match writer_pid(db) {
        Some(pid) => format!("pid {pid}"),
        None => "a process this user cannot see".to_string(),
    }
}

/// The process holding `db`'s write lock (byte 1 of its `-lock` file), found through the lock
/// lines of /proc/PID/fdinfo (an open-file-description lock carries no pid of its own). `None`
/// if no process of this user holds it.
pub fn writer_pid(db: &Path) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let mut lock = db.as_os_str().to_owned();
    lock.push("-lock");
    let meta = std::fs::metadata(lock).ok()?;
    let dev = meta.dev();
    // As /proc/locks writes it: MAJOR:MINOR:INODE, the device numbers in hex.
    let major = ((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff);
    let minor = ((dev >> 12) & 0xffff_ff00) | (dev & 0xff);
    let wanted = format!("WRITE -1 {major:02x}:{minor:02x}:{} 1 1", meta.ino());
    for process in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = process.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(process.path().join("fdinfo")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(info) = std::fs::read_to_string(fd.path()) else {
                continue;
            };
            if info
                .lines()
                .any(|line| line.starts_with("lock:") && line.contains(&wanted))
            {
                return Some(pid);
            }
        }
    }
    None
}
