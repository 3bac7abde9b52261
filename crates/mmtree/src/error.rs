//! The one error type of the crate.
//!
//! Every fallible operation returns [`Result<T>`]. The enum is `#[non_exhaustive]`: match the
//! variants you handle and keep a catch-all arm.

use std::io;
use std::path::PathBuf;

/// `std::result::Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in mmtree.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An operating-system call failed.
    #[error("{operation}{} failed: {source}", on_path(path))]
    Io {
        /// What mmtree was doing.
        operation: &'static str,
        /// The file (or directory) concerned, when known.
        path: Option<PathBuf>,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },

    /// The file is not an mmtree database (no mmtree signature in either meta page).
    #[error("{path} is not an mmtree database (no mmtree signature found)")]
    NotADatabase {
        /// The file that was opened.
        path: PathBuf,
    },

    /// The file was written by a newer (or unknown) format version.
    #[error("{path} uses mmtree file format version {found}; this build reads version {supported}; upgrade mmtree to open it")]
    UnsupportedVersion {
        /// The file that was opened.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },

    /// The file was written by an older format version whose pages this build does not read;
    /// [`upgrade`](crate::upgrade) (`mmtree upgrade OLD NEW`) converts it to a new file.
    #[error("{path} uses mmtree file format version {found}, whose pages this build no longer reads (it writes version {supported}); convert it to a new file with `mmtree upgrade {path} NEW_FILE` (the old file is left as it is)")]
    OldFormat {
        /// The file that was opened.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The version this build writes and reads.
        supported: u32,
    },

    /// The file is shorter than its newest valid meta page says: it was truncated (an
    /// unfinished copy or transfer; mmtree itself never shrinks a file below its newest
    /// checkpoint). The older meta page is not used instead: pages its checkpoint reached may
    /// have been reused since, and opening at an older state would lose the newer commits
    /// without a word.
    #[error("{path} is truncated: the database needs {needed_bytes} bytes but the file has {file_bytes} (an unfinished copy?); restore the whole file, e.g. from a backup — the older checkpoint is not opened instead, as its pages may have been reused and newer commits would be lost")]
    Truncated {
        /// The file that was opened.
        path: PathBuf,
        /// Bytes the committed state needs.
        needed_bytes: u64,
        /// Bytes the file has.
        file_bytes: u64,
    },

    /// Data read from the file failed a check (checksum, bounds, ordering, depth).
    #[error("database corrupted at page {page}: {reason}")]
    Corrupted {
        /// The page where the damage was found.
        page: u64,
        /// What was wrong.
        reason: String,
    },

    /// A key longer than the limit for this database's page size.
    #[error("key of {len} bytes is longer than the maximum of {max} bytes")]
    KeyTooLarge {
        /// The key's length.
        len: usize,
        /// The limit ([`crate::Db::key_size_max`]).
        max: usize,
    },

    /// A value longer than [`crate::limits::VALUE_SIZE_MAX`].
    #[error("value of {len} bytes is longer than the maximum of {max} bytes")]
    ValueTooLarge {
        /// The value's length.
        len: u64,
        /// The limit.
        max: u64,
    },

    /// A table name that is empty or too long.
    #[error("invalid table name: {reason}")]
    InvalidTableName {
        /// Why the name was refused.
        reason: &'static str,
    },

    /// Invalid options passed to [`crate::Db::open_with`].
    #[error("invalid option: {0}")]
    InvalidOption(String),

    /// A file could not be grown: the disk (or a size limit) is full. Nothing committed was lost.
    /// (The kernel's words are the error's source, so a chain of messages names them once.)
    #[error(
        "cannot grow the {file} to {wanted_bytes} bytes: the disk or a file-size limit is full"
    )]
    StorageFull {
        /// Which file: "database file" or "redo log".
        file: &'static str,
        /// The file size that was needed.
        wanted_bytes: u64,
        /// What the kernel said (ENOSPC, EFBIG, or the RLIMIT_FSIZE check).
        #[source]
        source: io::Error,
    },

    /// A previous `fdatasync`/write failure made this handle refuse further writes.
    ///
    /// After a failed sync the kernel may have dropped dirty pages; retrying could report success
    /// for data that never reached the disk. Reopen the database to continue.
    #[error(
        "this database handle refuses writes after an earlier I/O failure ({reason}); reopen it"
    )]
    Poisoned {
        /// The failure that poisoned the handle.
        reason: String,
    },

    /// An operation of this write transaction failed half-way; the transaction cannot commit.
    #[error("this write transaction cannot commit because an earlier operation failed ({reason}); abort it")]
    TransactionFailed {
        /// The failure.
        reason: String,
    },

    /// `try_begin_write` found another write transaction in progress.
    #[error("another write transaction is in progress")]
    WriteInProgress,

    /// Internal: a background merge gave the writer role up to a write transaction (it is tried
    /// again later). Never returned by the public API.
    #[doc(hidden)]
    #[error("a background merge gave way to a writer")]
    MergeYielded,

    /// The lock file next to the database belongs to an incompatible mmtree version (or is not a
    /// lock file), while other processes have the database open.
    #[error("the lock file {path} cannot be shared: {reason}; close the other processes using the database (or use the same mmtree version)")]
    IncompatibleLockFile {
        /// The lock file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },

    /// Another process has this database file open through a different lock file: by another
    /// name (a hard link), after the file was renamed or replaced, or after its lock file was
    /// deleted. Sharing it that way would split the writer lock and the reader table, so it is
    /// refused.
    #[error("{path} is open in another process under another name or lock file ({reason}); open it by the same path as the other processes, or close them first")]
    OpenUnderAnotherName {
        /// The database file as given.
        path: PathBuf,
        /// What gave it away.
        reason: String,
    },

    /// The database was opened with [`Options::read_only`](crate::Options::read_only): it can
    /// be read, not written.
    #[error("{path} is open read-only")]
    ReadOnly {
        /// The database file as given.
        path: PathBuf,
    },

    /// A bounded snapshot outlived its maximum age and a writer reused its pages: nothing it
    /// read after that is returned. Start a new snapshot.
    #[error("snapshot of commit {txn} expired: it was older than {max_age:?} and a writer has reused its pages; start a new snapshot")]
    SnapshotExpired {
        /// The commit the snapshot showed.
        txn: u64,
        /// The age it was allowed.
        max_age: std::time::Duration,
    },

    /// Every reader slot of the lock file is owned by a live process.
    #[error("all {slots} reader slots are in use by live processes")]
    ReaderTableFull {
        /// The number of slots.
        slots: usize,
    },

    /// The redo log beside the database (`<database>-log`) is not one: a foreign file, another
    /// version, or a damaged header. Nothing was replayed from it.
    #[error("{path} is not a usable mmtree redo log ({reason}); move it away only if the database was closed cleanly, or commits made since its last checkpoint are lost")]
    BadLog {
        /// The log file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },

    /// The database has commits in its redo log that were never checkpointed (its last writer
    /// did not close it), and this handle is read-only, so it cannot replay them. Not returned
    /// by this build: a read-only handle reads such commits into its write buffer (kept so code
    /// matching on it still compiles).
    #[error("{path} needs recovery: its redo log holds {records} commits not yet in the data file; open it once for writing (or while a writer has it open) to replay them")]
    RecoveryNeeded {
        /// The database file.
        path: PathBuf,
        /// Log records waiting to be replayed.
        records: u64,
    },

    /// The database was not closed cleanly (its data file says the log may hold commits made
    /// since its last checkpoint) and its redo log is missing: opening it would show an older
    /// state and silently lose those commits.
    #[error("{path} was not closed cleanly and its redo log {log} is missing, so commits made since its last checkpoint would be lost; put the log back beside it (copy a live or crashed database with `mmtree backup`, which takes the log along), or open it with Options::set_aside_log (`mmtree recover`) to accept the last checkpoint without them")]
    LogMissing {
        /// The database file.
        path: PathBuf,
        /// Where its log should be.
        log: PathBuf,
    },

    /// The redo log beside the database names another database, and this one was not closed
    /// cleanly: its own log (with commits made since its last checkpoint) is elsewhere.
    #[error("{path} was not closed cleanly and the redo log {log} beside it belongs to another database; put this database's own log there (copy databases with `mmtree backup`), or open it with Options::set_aside_log (`mmtree recover`) to move that log aside and accept the last checkpoint")]
    ForeignLog {
        /// The database file.
        path: PathBuf,
        /// The log found beside it.
        log: PathBuf,
    },

    /// A bulk load received keys that were not strictly increasing.
    #[error("bulk load input is not sorted: key {key} does not come after {previous}")]
    Unsorted {
        /// The previous key (hex, shortened).
        previous: String,
        /// The offending key (hex, shortened).
        key: String,
    },

    /// A table was to be renamed to a name another table has.
    #[error("a table named {table:?} already exists")]
    TableExists {
        /// The name.
        table: String,
    },

    /// A bulk load was started on a table that already has entries.
    #[error("bulk load needs an empty table; table {table:?} has {len} entries")]
    TableNotEmpty {
        /// The table.
        table: String,
        /// Its entry count.
        len: u64,
    },
}

impl Error {
    pub(crate) fn io(operation: &'static str, source: io::Error) -> Self {
        Error::Io {
            operation,
            path: None,
            source,
        }
    }

    /// An I/O error about the file (or directory) at `path`.
    pub(crate) fn io_at(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: io::Error,
    ) -> Self {
        Error::Io {
            operation,
            path: Some(path.into()),
            source,
        }
    }

    pub(crate) fn corrupted(page: u64, reason: impl Into<String>) -> Self {
        Error::Corrupted {
            page,
            reason: reason.into(),
        }
    }
}

/// Shows at most 32 bytes of a key as hex, for error messages.
pub(crate) fn short_hex(bytes: &[u8]) -> String {
    let mut out: String = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 32 {
        out.push_str(&format!("...({} bytes)", bytes.len()));
    }
    if out.is_empty() {
        out.push_str("<empty>");
    }
    out
}

/// " PATH" for an I/O error's message, when the path is known.
fn on_path(path: &Option<PathBuf>) -> String {
    path.as_ref()
        .map_or(String::new(), |path| format!(" {}", path.display()))
}
