//! `import mmtree`: the Python binding of the mmtree engine (PyO3).
//!
//! Ownership, which is what keeps this sound:
//!
//! - A Python object cannot hold a borrowed Rust reference, so nothing here does. A read
//!   transaction is an owned `mmtree::ReadTransaction` in an `Arc`; its tables are
//!   `self_cell`s that own a clone of that `Arc` and borrow from it (`OwnedTable`), so a lookup
//!   does not resolve the table again. The write transaction is an owned
//!   `mmtree::WriteTransaction`; its tables hold the engine's `TableHandle` (a name, borrowing
//!   nothing), which each call hands the transaction. A table deleted in the transaction is
//!   noticed through a count of `delete_table` calls, so a stale table object raises
//!   `NoSuchTable` rather than recreate it, and the common call does not look.
//! - The Python transaction object holds those in an `Option`; ending the block (commit, abort,
//!   `close`) takes them out and clears a shared liveness flag, and every later call finds
//!   `None` (or the flag cleared, for iterators) and raises `mmtree.TransactionClosed`. Table
//!   objects and iterators hold the transaction object, never the engine's transaction, so
//!   they cannot keep a snapshot alive past its block.
//! - `buffers=True` values are memoryviews over `MappedValue`, an exporter that owns a clone of
//!   the snapshot's `Arc`: the bytes it points at stay mapped and unchanged for as long as any
//!   buffer export of it exists (a live snapshot's pages are never reused). At the end of the
//!   block the transaction calls `release()` on every memoryview it handed out that is still
//!   referenced, so using one raises `ValueError`; a view derived from one (a slice, a NumPy
//!   array) cannot be revoked and instead keeps the snapshot alive until it is gone.
//! - Range scans read a batch of entries with the GIL released (page faults included), then
//!   turn the batch into `bytes` objects; `__next__` pairs them into tuples one at a time (a
//!   batch of tuples, which the garbage collector tracks, would set off collections). The next
//!   batch starts after the last key returned, so no Rust iterator outlives a call.
//! - Every object holding engine state records the pid that created it: a forked child may not
//!   use it and leaks it rather than drop it (see `same_process`). The pid is remembered, not
//!   asked for per call (a system call); a `pthread_atfork` handler makes a child ask again.

use pyo3::buffer::PyBuffer;
use pyo3::create_exception;
use pyo3::exceptions::{PyBufferError, PyException, PyKeyError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyMemoryView, PyString, PyTuple};
use std::borrow::Cow;
use std::ffi::{c_int, c_void};
use std::ops::Bound as Edge;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

create_exception!(
    mmtree,
    Error,
    PyException,
    "Base class of every error mmtree raises; the message is the engine's."
);
create_exception!(
    mmtree,
    KeyTooLarge,
    Error,
    "A key longer than the database allows (a quarter page)."
);
create_exception!(
    mmtree,
    ValueTooLarge,
    Error,
    "A value longer than 4 GiB - 1."
);
create_exception!(
    mmtree,
    Corrupted,
    Error,
    "Data read from the file failed a check (checksum, bounds, order), or the file is truncated."
);
create_exception!(
    mmtree,
    NotADatabase,
    Error,
    "The file is not an mmtree database, or of a format version this build does not read."
);
create_exception!(
    mmtree,
    ReadOnly,
    Error,
    "The database was opened with read_only=True."
);
create_exception!(
    mmtree,
    WriteInProgress,
    Error,
    "Another write transaction is in progress (try_begin_write, or a second one in this thread)."
);
create_exception!(
    mmtree,
    SnapshotExpired,
    Error,
    "A bounded snapshot outlived its maximum age; start a new one."
);
create_exception!(
    mmtree,
    InvalidTableName,
    Error,
    "A table name that is empty or too long."
);
create_exception!(
    mmtree,
    InvalidOption,
    Error,
    "An invalid option to mmtree.open."
);
create_exception!(
    mmtree,
    StorageFull,
    Error,
    "The file could not grow: the disk is full."
);
create_exception!(
    mmtree,
    Poisoned,
    Error,
    "An earlier I/O failure made this handle refuse writes; reopen the database."
);
create_exception!(
    mmtree,
    TransactionFailed,
    Error,
    "An operation of this write transaction failed half-way; it can only be aborted."
);
create_exception!(mmtree, IoError, Error, "An operating-system call failed.");
create_exception!(
    mmtree,
    TransactionClosed,
    Error,
    "The transaction (or database handle) was used after it ended."
);
create_exception!(
    mmtree,
    NoSuchTable,
    Error,
    "The table does not exist (in this snapshot)."
);

/// An engine error as the matching Python exception, with the engine's message.
fn engine_error(error: mmtree::Error) -> PyErr {
    use mmtree::Error as E;
    let message = error.to_string();
    match error {
        E::KeyTooLarge { .. } => KeyTooLarge::new_err(message),
        E::ValueTooLarge { .. } => ValueTooLarge::new_err(message),
        E::Corrupted { .. } | E::Truncated { .. } | E::BadLog { .. } => Corrupted::new_err(message),
        E::NotADatabase { .. } | E::UnsupportedVersion { .. } | E::OldFormat { .. } => {
            NotADatabase::new_err(message)
        }
        E::ReadOnly { .. } => ReadOnly::new_err(message),
        E::WriteInProgress => WriteInProgress::new_err(message),
        E::SnapshotExpired { .. } => SnapshotExpired::new_err(message),
        E::InvalidTableName { .. } => InvalidTableName::new_err(message),
        E::InvalidOption(_) => InvalidOption::new_err(message),
        E::StorageFull { .. } => StorageFull::new_err(message),
        E::Poisoned { .. } => Poisoned::new_err(message),
        E::TransactionFailed { .. } => TransactionFailed::new_err(message),
        E::Io { .. } => IoError::new_err(message),
        _ => Error::new_err(message),
    }
}

trait OrRaise<T> {
    fn or_raise(self) -> PyResult<T>;
}

impl<T> OrRaise<T> for mmtree::Result<T> {
    fn or_raise(self) -> PyResult<T> {
        self.map_err(engine_error)
    }
}

/// The bytes of a bytes-like key or value: borrowed from a `bytes` object, copied from any
/// other object with a byte buffer (bytearray, memoryview, ...). Anything else is a TypeError.
fn bytes_like<'a>(obj: &'a Bound<'_, PyAny>, what: &str) -> PyResult<Cow<'a, [u8]>> {
    if let Ok(bytes) = obj.cast::<PyBytes>() {
        return Ok(Cow::Borrowed(bytes.as_bytes()));
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be bytes-like (bytes, bytearray, memoryview), not str; encode it first"
        )));
    }
    match PyBuffer::<u8>::get(obj) {
        Ok(buffer) => Ok(Cow::Owned(buffer.to_vec(obj.py())?)),
        Err(_) => Err(PyTypeError::new_err(format!(
            "{what} must be bytes-like (bytes, bytearray, memoryview), not {}",
            obj.get_type().name()?
        ))),
    }
}

fn optional_bytes<'a>(
    obj: &'a Option<Bound<'_, PyAny>>,
    what: &str,
) -> PyResult<Option<Cow<'a, [u8]>>> {
    match obj {
        None => Ok(None),
        Some(obj) if obj.is_none() => Ok(None),
        Some(obj) => bytes_like(obj, what).map(Some),
    }
}

/// Raises if this process is not `pid`, the one that created an object holding engine state.
///
/// A child forked from that process has copies of the engine's per-process state (its reader
/// slot, its writer lock, the open-files table) that the parent goes on using: using them from
/// the child, or even dropping them (which releases the slot and the lock, and may checkpoint),
/// would act on the parent's behalf. So the child refuses to use them and leaks them instead of
/// dropping them (`leak_if_forked`).
fn same_process(pid: u32) -> PyResult<()> {
    if current_pid() == pid {
        return Ok(());
    }
    Err(Error::new_err(format!(
        "this mmtree object was created by process {pid}, before a fork; open the database \
         again in this process (with multiprocessing, use the 'spawn' or 'forkserver' start \
         method, or open databases only after forking)"
    )))
}

/// Drops `value` in the process that created it (`pid`); in a forked child, leaks it (see
/// `same_process`).
fn leak_if_forked<T>(pid: u32, value: T) {
    if current_pid() != pid {
        std::mem::forget(value);
    }
}

/// This process's id, remembered: `getpid` is a system call, and every call into a transaction
/// checks the pid (`same_process`). 0 until first asked, and again in a child right after a
/// `fork` (`forget_pid`, run by the C library in every child of `fork()`, Python's `os.fork`
/// and `multiprocessing`'s included), so a child never goes on with its parent's pid.
static PID: AtomicU32 = AtomicU32::new(0);

fn current_pid() -> u32 {
    match PID.load(Ordering::Relaxed) {
        0 => {
            let pid = std::process::id();
            PID.store(pid, Ordering::Relaxed);
            pid
        }
        pid => pid,
    }
}

/// The `fork` child handler (`pthread_atfork`): the child asks for its pid again. Only an
/// atomic store, which is async-signal-safe, as a child handler must be.
extern "C" fn forget_pid() {
    PID.store(0, Ordering::Relaxed);
}

/// Registers `forget_pid` once per process image (module initialisation).
fn register_fork_handler() -> PyResult<()> {
    // SAFETY: `pthread_atfork` only records the three function pointers; `forget_pid` is a
    // plain `extern "C" fn()` that lives as long as the process image (this module is never
    // unloaded by CPython), does an atomic store and nothing else, so it is safe to run in the
    // child of a fork (where only async-signal-safe work is allowed).
    let failed = unsafe { libc::pthread_atfork(None, None, Some(forget_pid)) };
    match failed {
        0 => Ok(()),
        code => Err(Error::new_err(format!(
            "pthread_atfork failed ({}): cannot tell a forked child from its parent",
            std::io::Error::from_raw_os_error(code)
        ))),
    }
}

fn closed_txn() -> PyErr {
    TransactionClosed::new_err("this transaction has ended (its `with` block is over, or it was committed, aborted or closed)")
}

// ------------------------------------------------------------------------------------------
// The database
// ------------------------------------------------------------------------------------------

/// Handles opened in this process image, and the pid that opened them: a process forked while
/// handles were open must not use them (the engine's per-process state, such as its reader slot
/// and writer lock, belongs to the parent).
static OPENED: Mutex<(u32, usize)> = Mutex::new((0, 0));

/// An open database. Returned by `mmtree.open`.
#[pyclass(module = "mmtree", name = "Db", frozen)]
struct PyDb {
    db: Mutex<Option<mmtree::Db>>,
    path: PathBuf,
    pid: u32,
}

impl PyDb {
    fn handle(&self) -> PyResult<mmtree::Db> {
        same_process(self.pid)?;
        self.db
            .lock()
            .expect("db lock")
            .clone()
            .ok_or_else(|| TransactionClosed::new_err("the database is closed"))
    }

    fn release(&self) {
        let Some(db) = self.db.lock().expect("db lock").take() else {
            return;
        };
        if current_pid() == self.pid {
            let mut opened = OPENED.lock().expect("opened lock");
            opened.1 = opened.1.saturating_sub(1);
        }
        leak_if_forked(self.pid, db);
    }
}

impl Drop for PyDb {
    fn drop(&mut self) {
        self.release();
    }
}

fn parse_durability(name: &str) -> PyResult<mmtree::Durability> {
    match name {
        "immediate" => Ok(mmtree::Durability::Immediate),
        "eventual" => Ok(mmtree::Durability::Eventual),
        other => Err(InvalidOption::new_err(format!(
            "durability must be \"immediate\" or \"eventual\", not {other:?}"
        ))),
    }
}

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value).map_err(|_| {
        InvalidOption::new_err(format!(
            "{what} must be a non-negative number of seconds, not {value}"
        ))
    })
}

/// Opens the database at `path`, creating it if missing (unless `read_only`). Returns a `Db`,
/// also usable as a context manager that closes it.
#[pyfunction]
#[pyo3(signature = (path, *, read_only=false, durability="immediate", page_size=None,
    sync_interval=None, checkpoint_interval=None, log_bytes=None, spill_bytes=None,
    verify_checksums=true, read_ahead=false))]
#[allow(clippy::too_many_arguments)]
fn open(
    py: Python<'_>,
    path: PathBuf,
    read_only: bool,
    durability: &str,
    page_size: Option<usize>,
    sync_interval: Option<f64>,
    checkpoint_interval: Option<f64>,
    log_bytes: Option<u64>,
    spill_bytes: Option<usize>,
    verify_checksums: bool,
    read_ahead: bool,
) -> PyResult<PyDb> {
    let pid = current_pid();
    {
        let opened = OPENED.lock().expect("opened lock");
        if opened.1 > 0 && opened.0 != pid {
            return Err(Error::new_err(format!(
                "this process was forked from process {} while it had mmtree databases open; \
                 they cannot be opened again here (use the 'spawn' or 'forkserver' start \
                 method of multiprocessing, or open databases only after forking)",
                opened.0
            )));
        }
    }
    let mut options = mmtree::Options::default()
        .read_only(read_only)
        .durability(parse_durability(durability)?)
        .read_ahead(read_ahead);
    options.verify_checksums = verify_checksums;
    if let Some(page_size) = page_size {
        options = options.page_size(page_size);
    }
    if let Some(interval) = sync_interval {
        options = options.sync_interval(seconds(interval, "sync_interval")?);
    }
    if let Some(interval) = checkpoint_interval {
        options = options.checkpoint_interval(seconds(interval, "checkpoint_interval")?);
    }
    if let Some(bytes) = log_bytes {
        options = options.log_bytes(bytes);
    }
    if let Some(bytes) = spill_bytes {
        options = options.spill_bytes(bytes);
    }
    let open_path = path.clone();
    // Opening may replay a redo log or wait for a lock: without the GIL.
    let db = py
        .detach(move || mmtree::Db::open_with(open_path, options))
        .or_raise()?;
    let mut opened = OPENED.lock().expect("opened lock");
    *opened = (pid, opened.1 + 1);
    Ok(PyDb {
        db: Mutex::new(Some(db)),
        path,
        pid,
    })
}

fn stats_dict<'py>(py: Python<'py>, s: &mmtree::Stats) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("txn_id", s.txn_id)?;
    d.set_item("page_size", s.page_size)?;
    d.set_item("page_count", s.page_count)?;
    d.set_item("free_pages", s.free_pages)?;
    d.set_item("file_bytes", s.file_bytes)?;
    d.set_item("readers", s.readers)?;
    d.set_item("oldest_reader_txn", s.oldest_reader_txn)?;
    d.set_item("oldest_reader_lag", s.oldest_reader_lag)?;
    d.set_item(
        "oldest_reader_age",
        s.oldest_reader_age.map(|a| a.as_secs_f64()),
    )?;
    d.set_item("pages_held_back", s.pages_held_back)?;
    d.set_item("log_bytes", s.log_bytes)?;
    d.set_item("checkpoint_txn", s.checkpoint_txn)?;
    d.set_item("checkpoint_age", s.checkpoint_age.as_secs_f64())?;
    d.set_item("checkpoints", s.checkpoints)?;
    d.set_item(
        "last_checkpoint_duration",
        s.last_checkpoint_duration.as_secs_f64(),
    )?;
    d.set_item("log_syncs", s.log_syncs)?;
    d.set_item("pages_pinned", s.pages_pinned)?;
    Ok(d)
}

fn check_dict<'py>(py: Python<'py>, r: &mmtree::CheckReport) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("ok", r.is_ok())?;
    d.set_item("txn_id", r.txn_id)?;
    d.set_item("page_count", r.page_count)?;
    d.set_item("pages_in_use", r.pages_in_use)?;
    d.set_item("pages_free", r.pages_free)?;
    let tables = PyList::empty(py);
    for t in &r.tables {
        let td = PyDict::new(py);
        td.set_item("name", &t.name)?;
        td.set_item("entries", t.entries)?;
        td.set_item("depth", t.depth)?;
        td.set_item("pages", t.pages)?;
        tables.append(td)?;
    }
    d.set_item("tables", tables)?;
    let problems: Vec<String> = r.problems.iter().map(|p| p.to_string()).collect();
    d.set_item("problems", problems)?;
    Ok(d)
}

#[pymethods]
impl PyDb {
    /// Starts the write transaction, waiting (without the GIL) while another one, in this or
    /// another process, is in progress. Use it as `with db.begin_write() as w:` — it commits on
    /// a normal exit and aborts on an exception. `durability` ("immediate" or "eventual")
    /// overrides the database's default for this commit.
    #[pyo3(signature = (durability=None))]
    fn begin_write(&self, py: Python<'_>, durability: Option<&str>) -> PyResult<PyWriteTxn> {
        let db = self.handle()?;
        let durability = durability.map(parse_durability).transpose()?;
        let mut txn = py.detach(move || db.begin_write()).or_raise()?;
        if let Some(durability) = durability {
            txn.set_durability(durability);
        }
        Ok(PyWriteTxn::new(txn))
    }

    /// Like `begin_write`, but raises `WriteInProgress` at once instead of waiting.
    #[pyo3(signature = (durability=None))]
    fn try_begin_write(&self, durability: Option<&str>) -> PyResult<PyWriteTxn> {
        let db = self.handle()?;
        let durability = durability.map(parse_durability).transpose()?;
        let mut txn = db.try_begin_write().or_raise()?;
        if let Some(durability) = durability {
            txn.set_durability(durability);
        }
        Ok(PyWriteTxn::new(txn))
    }

    /// Starts a read transaction: a snapshot of the newest commit of any process, which later
    /// commits do not change. Use it as `with db.begin_read() as r:`. With `buffers=True`,
    /// values (and keys) are read-only memoryviews into the file's mapping (no copy), valid
    /// only until the block ends.
    #[pyo3(signature = (buffers=false))]
    fn begin_read(&self, buffers: bool) -> PyResult<PyReadTxn> {
        let db = self.handle()?;
        let snapshot = db.begin_read().or_raise()?;
        Ok(PyReadTxn {
            live: Arc::new(AtomicBool::new(true)),
            state: Some(ReadState {
                snapshot: Arc::new(snapshot),
                tables: Vec::new(),
                views: Mutex::new(Views::default()),
            }),
            buffers,
            pid: current_pid(),
        })
    }

    /// A bounded snapshot of the newest commit: one no writer waits for longer than
    /// `max_age` seconds. Until then it protects its pages like any snapshot; after that a
    /// writer may reuse them and its next read raises SnapshotExpired (never wrong data). Reads
    /// copy (bytes); for long reports and exports that must not make the file grow.
    fn begin_read_bounded(&self, max_age: f64) -> PyResult<PyBoundedTxn> {
        let db = self.handle()?;
        let max_age = seconds(max_age, "max_age")?;
        let txn = db.begin_read_bounded(max_age).or_raise()?;
        Ok(PyBoundedTxn {
            txn: Mutex::new(Some(txn)),
            pid: current_pid(),
        })
    }

    /// Names of all tables in the newest commit, in order.
    fn list_tables(&self) -> PyResult<Vec<String>> {
        let db = self.handle()?;
        db.begin_read().or_raise()?.list_tables().or_raise()
    }

    /// Figures about the database (a dict: txn_id, page_size, page_count, free_pages,
    /// file_bytes, readers, oldest_reader_lag, log_bytes, checkpoint_txn, log_syncs, ...).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.handle()?;
        let stats = py.detach(move || db.stats());
        stats_dict(py, &stats)
    }

    /// Walks the whole file (every checksum, key order, every page accounted for), without
    /// the GIL. Returns a dict: ok, txn_id, page_count, pages_in_use, pages_free, tables (name,
    /// entries, depth, pages) and problems (a list of strings; empty when ok).
    fn check<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let db = self.handle()?;
        let report = py.detach(move || db.check()).or_raise()?;
        check_dict(py, &report)
    }

    /// A consistent hot copy of the newest commit into `dest` (which must not exist), complete
    /// on its own; writers go on meanwhile. Runs without the GIL. Returns the bytes copied.
    fn backup(&self, py: Python<'_>, dest: PathBuf) -> PyResult<u64> {
        let db = self.handle()?;
        py.detach(move || db.backup(dest)).or_raise()
    }

    /// Moves live pages down and gives the free end of the file back to the file system.
    /// Waits for the writer; runs without the GIL. Returns the bytes the file shrank by.
    fn compact(&self, py: Python<'_>) -> PyResult<u64> {
        let db = self.handle()?;
        py.detach(move || db.compact()).or_raise()
    }

    /// Makes every commit so far durable (for durability="eventual"). Without the GIL.
    fn sync(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.handle()?;
        py.detach(move || db.sync()).or_raise()
    }

    /// Writes the newest commit's pages and meta page durably and starts the redo log over.
    /// Without the GIL.
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        let db = self.handle()?;
        py.detach(move || db.checkpoint()).or_raise()
    }

    /// Processes holding snapshots: a list of dicts (pid, txn, lag, age in seconds).
    fn readers<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let db = self.handle()?;
        let list = PyList::empty(py);
        for r in db.readers() {
            let d = PyDict::new(py);
            d.set_item("pid", r.pid)?;
            d.set_item("txn", r.txn)?;
            d.set_item("lag", r.lag)?;
            d.set_item("age", r.age.as_secs_f64())?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// Closes this handle. Transactions still open keep the database open until they end; the
    /// file is closed (with a checkpoint) when the last of them and of the handles to it in
    /// this process is gone. Closing twice does nothing.
    fn close(&self, py: Python<'_>) {
        // The last handle's drop checkpoints: without the GIL.
        if same_process(self.pid).is_err() {
            self.release(); // leaks it
            return;
        }
        let db = self.db.lock().expect("db lock").clone();
        self.release();
        py.detach(move || drop(db));
    }

    /// True once `close` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.db.lock().expect("db lock").is_none()
    }

    /// The database file's path, as given to `open`.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// The page size chosen when the database was created.
    #[getter]
    fn page_size(&self) -> PyResult<usize> {
        Ok(self.handle()?.page_size())
    }

    /// The longest key this database accepts (a quarter page).
    #[getter]
    fn key_size_max(&self) -> PyResult<usize> {
        Ok(self.handle()?.key_size_max())
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.close(py);
        false
    }

    fn __repr__(&self) -> String {
        let state = if self.closed() { "closed" } else { "open" };
        format!(
            "<mmtree.Db {:?} ({state})>",
            self.path.display().to_string()
        )
    }
}

// ------------------------------------------------------------------------------------------
// Write transactions
// ------------------------------------------------------------------------------------------

/// The write transaction (one at a time per database, across processes). Commits on a normal
/// exit of its `with` block, aborts on an exception.
#[pyclass(module = "mmtree", name = "WriteTransaction")]
struct PyWriteTxn {
    txn: Option<mmtree::WriteTransaction>,
    /// False once it ended (what its iterators check).
    live: Arc<AtomicBool>,
    /// The process that began it (see `same_process`).
    pid: u32,
    /// Counts `delete_table` calls: a `WriteTable` made before the last one checks that its
    /// table still exists before each use (see `PyWriteTable::with`).
    deletions: u64,
}

impl Drop for PyWriteTxn {
    fn drop(&mut self) {
        if let Some(txn) = self.txn.take() {
            leak_if_forked(self.pid, txn); // else dropped: aborted
        }
    }
}

impl PyWriteTxn {
    fn new(txn: mmtree::WriteTransaction) -> Self {
        PyWriteTxn {
            txn: Some(txn),
            live: Arc::new(AtomicBool::new(true)),
            pid: current_pid(),
            deletions: 0,
        }
    }

    /// Ends it: takes the engine's transaction out (in a forked child: leaks it, and fails).
    fn finish(&mut self) -> PyResult<Option<mmtree::WriteTransaction>> {
        self.live.store(false, Ordering::Relaxed);
        if let Err(error) = same_process(self.pid) {
            if let Some(txn) = self.txn.take() {
                leak_if_forked(self.pid, txn);
            }
            return Err(error);
        }
        Ok(self.txn.take())
    }

    fn live(&mut self) -> PyResult<&mut mmtree::WriteTransaction> {
        same_process(self.pid)?;
        self.txn.as_mut().ok_or_else(closed_txn)
    }

    fn commit_now(&mut self, py: Python<'_>) -> PyResult<()> {
        let txn = self.finish()?.ok_or_else(closed_txn)?;
        // The log's fdatasync (or a checkpoint's) happens here: without the GIL.
        py.detach(move || txn.commit()).or_raise()
    }
}

/// Fails if table `name` no longer exists in `txn` (deleted in this transaction: a stale
/// `WriteTable` does not recreate it; only `WriteTransaction.table` creates tables).
fn table_exists(txn: &mut mmtree::WriteTransaction, name: &str) -> PyResult<()> {
    if !txn.has_table(name).or_raise()? {
        return Err(NoSuchTable::new_err(format!(
            "table {name:?} was deleted in this transaction; call table({name:?}) again to \
             recreate it"
        )));
    }
    Ok(())
}

#[pymethods]
impl PyWriteTxn {
    /// The table `name`, created if it does not exist.
    fn table(slf: Bound<'_, Self>, name: &str) -> PyResult<PyWriteTable> {
        let (handle, deletions) = {
            let mut this = slf.try_borrow_mut()?;
            let handle = this.live()?.table_handle(name).or_raise()?;
            (handle, this.deletions)
        };
        Ok(PyWriteTable {
            txn: slf.unbind(),
            handle,
            deletions,
        })
    }

    /// Deletes table `name` and all its entries; returns False if it did not exist.
    fn delete_table(&mut self, name: &str) -> PyResult<bool> {
        self.deletions += 1;
        self.live()?.delete_table(name).or_raise()
    }

    /// Names of all tables, as this transaction sees them.
    fn list_tables(&mut self) -> PyResult<Vec<String>> {
        self.live()?.list_tables().or_raise()
    }

    /// Commits: the changes become visible to every reader and, with durability="immediate",
    /// durable before this returns. The fsync runs without the GIL. The transaction ends
    /// either way.
    fn commit(&mut self, py: Python<'_>) -> PyResult<()> {
        self.commit_now(py)
    }

    /// Discards every change of this transaction and ends it. Does nothing if it ended.
    fn abort(&mut self) -> PyResult<()> {
        self.finish().map(drop)
    }

    /// The id this transaction's commit will have.
    #[getter]
    fn txn_id(&mut self) -> PyResult<u64> {
        Ok(self.live()?.txn_id())
    }

    /// False once the transaction committed or aborted.
    #[getter]
    fn active(&self) -> bool {
        self.txn.is_some()
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        exc_type: Option<Bound<'_, PyAny>>,
        _exc: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        if self.txn.is_none() {
            return Ok(false); // committed or aborted inside the block
        }
        match exc_type {
            Some(t) if !t.is_none() => self.abort()?,
            _ => self.commit_now(py)?,
        }
        Ok(false)
    }
}

/// A table inside a write transaction; it sees the transaction's own writes.
#[pyclass(module = "mmtree", name = "WriteTable", frozen)]
struct PyWriteTable {
    txn: Py<PyWriteTxn>,
    /// The engine's handle: the table's name, nothing borrowed; each call passes it the
    /// transaction.
    handle: mmtree::TableHandle,
    /// The transaction's `deletions` when this object was made: while they are the same, no
    /// table was deleted since, so the table exists and a call need not look.
    deletions: u64,
}

impl PyWriteTable {
    /// Runs `f` on the live transaction, once the table is known to exist.
    fn with<T>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut mmtree::WriteTransaction, &mmtree::TableHandle) -> PyResult<T>,
    ) -> PyResult<T> {
        let mut this = self.txn.bind(py).try_borrow_mut()?;
        let unchanged = this.deletions == self.deletions;
        let txn = this.live()?;
        if !unchanged {
            table_exists(txn, self.handle.name())?;
        }
        f(txn, &self.handle)
    }

    fn iter(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
        mode: Mode,
    ) -> PyResult<RangeIter> {
        let start = optional_bytes(&start, "start")?;
        let end = optional_bytes(&end, "end")?;
        Ok(RangeIter::new(
            Source::Write(self.txn.clone_ref(py)),
            self.txn.bind(py).try_borrow()?.live.clone(),
            self.handle.name().to_string(),
            start.map(|s| s.into_owned()),
            end.map(|e| e.into_owned()),
            reverse,
            mode,
        ))
    }
}

#[pymethods]
impl PyWriteTable {
    /// Stores `value` under `key` (both bytes-like), replacing any value there.
    fn put(&self, py: Python<'_>, key: Bound<'_, PyAny>, value: Bound<'_, PyAny>) -> PyResult<()> {
        let key = bytes_like(&key, "key")?;
        let value = bytes_like(&value, "value")?;
        self.with(py, |w, t| t.insert(w, &key, &value).or_raise())
    }

    fn __setitem__(
        &self,
        py: Python<'_>,
        key: Bound<'_, PyAny>,
        value: Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, key, value)
    }

    /// Removes `key`; returns True if it was there.
    fn remove(&self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<bool> {
        let key = bytes_like(&key, "key")?;
        self.with(py, |w, t| t.remove(w, &key).or_raise())
    }

    fn __delitem__(&self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<()> {
        let k = bytes_like(&key, "key")?;
        if self.with(py, |w, t| t.remove(w, &k).or_raise())? {
            Ok(())
        } else {
            Err(PyKeyError::new_err(key.unbind()))
        }
    }

    /// The value under `key` as bytes, or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = bytes_like(&key, "key")?;
        let value = self.with(py, |w, t| {
            Ok(t.get(w, &k)
                .or_raise()?
                .map(|v| PyBytes::new(py, v).into_any()))
        })?;
        Ok(value.unwrap_or_else(|| default.unwrap_or_else(|| py.None().into_bound(py))))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = bytes_like(&key, "key")?;
        let value = self.with(py, |w, t| {
            Ok(t.get(w, &k)
                .or_raise()?
                .map(|v| PyBytes::new(py, v).into_any()))
        })?;
        value.ok_or_else(|| PyKeyError::new_err(key.unbind()))
    }

    fn __contains__(&self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<bool> {
        let k = bytes_like(&key, "key")?;
        self.with(py, |w, t| Ok(t.get(w, &k).or_raise()?.is_some()))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |w, t| Ok(t.len(w).or_raise()? as usize))
    }

    /// Iterates over (key, value) pairs with start <= key < end (either None: open), in key
    /// order or, with reverse=True, from the end.
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn range(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Items)
    }

    /// items(start=None, end=None, reverse=False): the same as range.
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn items(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Items)
    }

    /// keys(start=None, end=None, reverse=False): the keys of range(...).
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn keys(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Keys)
    }

    /// values(start=None, end=None, reverse=False): the values of range(...).
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn values(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Values)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<RangeIter> {
        self.iter(py, None, None, false, Mode::Keys)
    }

    /// The (key, value) pair with the smallest key, or None.
    fn first<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.with(py, |w, t| {
            t.first(w)
                .or_raise()?
                .map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v)).into_pyobject(py))
                .transpose()
        })
    }

    /// The (key, value) pair with the largest key, or None.
    fn last<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.with(py, |w, t| {
            t.last(w)
                .or_raise()?
                .map(|(k, v)| (PyBytes::new(py, k), PyBytes::new(py, v)).into_pyobject(py))
                .transpose()
        })
    }

    /// The table's name.
    #[getter]
    fn name(&self) -> &str {
        self.handle.name()
    }

    fn __repr__(&self) -> String {
        format!("<mmtree.WriteTable {:?}>", self.handle.name())
    }
}

// ------------------------------------------------------------------------------------------
// Read transactions
// ------------------------------------------------------------------------------------------

type ReadTableOf<'a> = mmtree::ReadTable<'a>;

self_cell::self_cell!(
    /// A table of a snapshot, resolved once: owns a clone of the snapshot's `Arc` and borrows
    /// the `ReadTable` from it.
    struct OwnedTable {
        owner: Arc<mmtree::ReadTransaction>,
        #[covariant]
        dependent: ReadTableOf,
    }
);

/// Memoryviews handed out by a `buffers=True` transaction, released when it ends.
#[derive(Default)]
struct Views {
    list: Vec<Py<PyAny>>,
    prune_at: usize,
}

struct ReadState {
    snapshot: Arc<mmtree::ReadTransaction>,
    tables: Vec<(String, OwnedTable)>,
    views: Mutex<Views>,
}

/// A read transaction: a snapshot of one commit. Any number may be open, in any threads and
/// processes; each keeps the pages it can see from being reused until it ends.
#[pyclass(module = "mmtree", name = "ReadTransaction")]
struct PyReadTxn {
    state: Option<ReadState>,
    /// False once it ended (what its iterators check).
    live: Arc<AtomicBool>,
    buffers: bool,
    /// The process that began it (see `same_process`).
    pid: u32,
}

impl Drop for PyReadTxn {
    fn drop(&mut self) {
        if let Some(state) = self.state.take() {
            leak_if_forked(self.pid, state);
        }
    }
}

impl PyReadTxn {
    fn live(&self) -> PyResult<&ReadState> {
        same_process(self.pid)?;
        self.state.as_ref().ok_or_else(closed_txn)
    }

    /// Ends the snapshot: releases the memoryviews still referenced, then drops the engine's
    /// transaction (unless a view derived from one still holds it: see the module comment).
    fn end(&mut self, py: Python<'_>) {
        self.live.store(false, Ordering::Relaxed);
        let Some(state) = self.state.take() else {
            return;
        };
        if same_process(self.pid).is_err() {
            return leak_if_forked(self.pid, state);
        }
        let views = std::mem::take(&mut state.views.lock().expect("views lock").list);
        for view in &views {
            if refcount(py, view) > 1 {
                // Fails with BufferError if the view is exported (e.g. to NumPy): that export
                // keeps the snapshot alive instead.
                let _ = view.bind(py).call_method0("release");
            }
        }
        drop(views);
        drop(state);
    }
}

/// The reference count of `obj`.
fn refcount(_py: Python<'_>, obj: &Py<PyAny>) -> isize {
    // SAFETY: `obj` is a live object (the caller holds a strong reference to it) and the
    // interpreter is attached (`_py`), which is all reading its reference count needs.
    unsafe { ffi::Py_REFCNT(obj.as_ptr()) }
}

/// A value (or key) as a Python object: bytes, or with buffers=True a memoryview into the
/// mapping.
fn value_object<'py>(
    py: Python<'py>,
    state: &ReadState,
    buffers: bool,
    bytes: &[u8],
) -> PyResult<Bound<'py, PyAny>> {
    if !buffers {
        return Ok(PyBytes::new(py, bytes).into_any());
    }
    let exporter = Bound::new(
        py,
        MappedValue {
            _snapshot: state.snapshot.clone(),
            ptr: bytes.as_ptr() as usize,
            len: bytes.len(),
            pid: current_pid(),
        },
    )?;
    let view = PyMemoryView::from(exporter.as_any())?.into_any();
    let pruned = {
        let mut views = state.views.lock().expect("views lock");
        views.list.push(view.clone().unbind());
        if views.list.len() >= views.prune_at {
            // Forget the views nobody else references any more (they cannot be used after the
            // block: nothing refers to them), so a long scan does not keep them all.
            let (keep, drop): (Vec<_>, Vec<_>) = std::mem::take(&mut views.list)
                .into_iter()
                .partition(|v| refcount(py, v) > 1);
            views.list = keep;
            views.prune_at = (views.list.len() * 2).max(1024);
            drop
        } else {
            Vec::new()
        }
    };
    drop(pruned); // outside the lock: freeing a view releases its buffer
    Ok(view)
}

fn pair<'py>(
    py: Python<'py>,
    state: &ReadState,
    buffers: bool,
    (k, v): (&[u8], &[u8]),
) -> PyResult<Bound<'py, PyTuple>> {
    (
        value_object(py, state, buffers, k)?,
        value_object(py, state, buffers, v)?,
    )
        .into_pyobject(py)
}

#[pymethods]
impl PyReadTxn {
    /// The table `name` in this snapshot; raises NoSuchTable if it does not exist.
    fn table(slf: Bound<'_, Self>, name: &str) -> PyResult<PyReadTable> {
        let index = {
            let mut this = slf.try_borrow_mut()?;
            same_process(this.pid)?;
            let state = this.state.as_mut().ok_or_else(closed_txn)?;
            match state.tables.iter().position(|(n, _)| n == name) {
                Some(index) => index,
                None => {
                    let table = OwnedTable::try_new(state.snapshot.clone(), |snapshot| {
                        snapshot.table(name).map_err(engine_error)?.ok_or_else(|| {
                            NoSuchTable::new_err(format!(
                                "no table {name:?} in this snapshot (commit {})",
                                snapshot.txn_id()
                            ))
                        })
                    })?;
                    state.tables.push((name.to_string(), table));
                    state.tables.len() - 1
                }
            }
        };
        Ok(PyReadTable {
            txn: slf.unbind(),
            index,
            name: name.to_string(),
        })
    }

    /// Names of all tables in this snapshot, in order.
    fn list_tables(&self) -> PyResult<Vec<String>> {
        self.live()?.snapshot.list_tables().or_raise()
    }

    /// The id of the commit this snapshot shows.
    #[getter]
    fn txn_id(&self) -> PyResult<u64> {
        Ok(self.live()?.snapshot.txn_id())
    }

    /// True if values are memoryviews into the mapping (begin_read(buffers=True)).
    #[getter]
    fn buffers(&self) -> bool {
        self.buffers
    }

    /// False once the snapshot ended.
    #[getter]
    fn active(&self) -> bool {
        self.state.is_some()
    }

    /// Ends the snapshot (as leaving its `with` block does): its memoryviews are released and
    /// any further use raises TransactionClosed.
    fn close(&mut self, py: Python<'_>) {
        self.end(py);
    }

    /// The same as close (py-lmdb's name for ending a read transaction).
    fn abort(&mut self, py: Python<'_>) {
        self.end(py);
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> bool {
        self.end(py);
        false
    }
}

/// A table of a read snapshot.
#[pyclass(module = "mmtree", name = "ReadTable", frozen)]
struct PyReadTable {
    txn: Py<PyReadTxn>,
    index: usize,
    name: String,
}

impl PyReadTable {
    fn with<'py, T>(
        &self,
        py: Python<'py>,
        f: impl FnOnce(&ReadState, &mmtree::ReadTable<'_>, bool) -> PyResult<T>,
    ) -> PyResult<T> {
        let txn = self.txn.bind(py).try_borrow()?;
        let state = txn.live()?;
        let (_, table) = &state.tables[self.index];
        f(state, table.borrow_dependent(), txn.buffers)
    }

    fn iter(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
        mode: Mode,
    ) -> PyResult<RangeIter> {
        let live = {
            let txn = self.txn.bind(py).try_borrow()?;
            txn.live()?;
            txn.live.clone()
        };
        let start = optional_bytes(&start, "start")?;
        let end = optional_bytes(&end, "end")?;
        Ok(RangeIter::new(
            Source::Read(self.txn.clone_ref(py)),
            live,
            self.name.clone(),
            start.map(|s| s.into_owned()),
            end.map(|e| e.into_owned()),
            reverse,
            mode,
        ))
    }
}

#[pymethods]
impl PyReadTable {
    /// The value under `key` (bytes, or a memoryview with buffers=True), or `default`.
    #[pyo3(signature = (key, default=None))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        key: Bound<'py, PyAny>,
        default: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = bytes_like(&key, "key")?;
        let value = self.with(py, |state, t, buffers| {
            t.get(&k)
                .or_raise()?
                .map(|v| value_object(py, state, buffers, v))
                .transpose()
        })?;
        Ok(value.unwrap_or_else(|| default.unwrap_or_else(|| py.None().into_bound(py))))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let k = bytes_like(&key, "key")?;
        let value = self.with(py, |state, t, buffers| {
            t.get(&k)
                .or_raise()?
                .map(|v| value_object(py, state, buffers, v))
                .transpose()
        })?;
        value.ok_or_else(|| PyKeyError::new_err(key.unbind()))
    }

    fn __contains__(&self, py: Python<'_>, key: Bound<'_, PyAny>) -> PyResult<bool> {
        let k = bytes_like(&key, "key")?;
        self.with(py, |_, t, _| Ok(t.get(&k).or_raise()?.is_some()))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.with(py, |_, t, _| Ok(t.len().or_raise()? as usize))
    }

    /// Iterates over (key, value) pairs with start <= key < end (either None: open), in key
    /// order or, with reverse=True, from the end. Pages are read without the GIL.
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn range(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Items)
    }

    /// items(start=None, end=None, reverse=False): the same as range.
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn items(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Items)
    }

    /// keys(start=None, end=None, reverse=False): the keys of range(...).
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn keys(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Keys)
    }

    /// values(start=None, end=None, reverse=False): the values of range(...).
    #[pyo3(signature = (start=None, end=None, reverse=false))]
    fn values(
        &self,
        py: Python<'_>,
        start: Option<Bound<'_, PyAny>>,
        end: Option<Bound<'_, PyAny>>,
        reverse: bool,
    ) -> PyResult<RangeIter> {
        self.iter(py, start, end, reverse, Mode::Values)
    }

    fn __iter__(&self, py: Python<'_>) -> PyResult<RangeIter> {
        self.iter(py, None, None, false, Mode::Keys)
    }

    /// The (key, value) pair with the smallest key, or None.
    fn first<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.with(py, |state, t, buffers| {
            t.first()
                .or_raise()?
                .map(|entry| pair(py, state, buffers, entry))
                .transpose()
        })
    }

    /// The (key, value) pair with the largest key, or None.
    fn last<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyTuple>>> {
        self.with(py, |state, t, buffers| {
            t.last()
                .or_raise()?
                .map(|entry| pair(py, state, buffers, entry))
                .transpose()
        })
    }

    /// The table's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn __repr__(&self) -> String {
        format!("<mmtree.ReadTable {:?}>", self.name)
    }
}

// ------------------------------------------------------------------------------------------
// Bounded snapshots
// ------------------------------------------------------------------------------------------

/// A bounded snapshot (Db.begin_read_bounded): reads copy, and once it is older than its
/// max_age a writer may reuse its pages, after which every read raises SnapshotExpired.
#[pyclass(module = "mmtree", name = "BoundedReadTransaction")]
struct PyBoundedTxn {
    /// In a `Mutex` only to be `Sync` (the engine's type is `Send`, not `Sync`); reached
    /// through `get_mut` under pyo3's own borrow, so never locked.
    txn: Mutex<Option<mmtree::BoundedReadTransaction>>,
    /// The process that began it (see `same_process`).
    pid: u32,
}

impl Drop for PyBoundedTxn {
    fn drop(&mut self) {
        self.close();
    }
}

impl PyBoundedTxn {
    fn slot(&mut self) -> &mut Option<mmtree::BoundedReadTransaction> {
        self.txn
            .get_mut()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn live(&mut self) -> PyResult<&mut mmtree::BoundedReadTransaction> {
        same_process(self.pid)?;
        self.slot().as_mut().ok_or_else(closed_txn)
    }
}

#[pymethods]
impl PyBoundedTxn {
    /// A copy of the value under `key` in `table`, or None (no such key or table).
    fn get<'py>(
        &mut self,
        py: Python<'py>,
        table: &str,
        key: Bound<'py, PyAny>,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let key = bytes_like(&key, "key")?;
        let value = self.live()?.get(table, &key).or_raise()?;
        Ok(value.map(|v| PyBytes::new(py, &v)))
    }

    /// Up to `limit` (key, value) pairs of `table` with start <= key < end (either None: open),
    /// in key order, as a list; read on with start=last_key + b"\x00" (or from the last key,
    /// skipping it). Pages are read without the GIL.
    #[pyo3(signature = (table, start=None, end=None, limit=1000))]
    fn range<'py>(
        &mut self,
        py: Python<'py>,
        table: &str,
        start: Option<Bound<'py, PyAny>>,
        end: Option<Bound<'py, PyAny>>,
        limit: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let start = optional_bytes(&start, "start")?;
        let end = optional_bytes(&end, "end")?;
        let txn = self.live()?;
        let bounds = (
            start.as_deref().map_or(Edge::Unbounded, Edge::Included),
            end.as_deref().map_or(Edge::Unbounded, Edge::Excluded),
        );
        let entries = py
            .detach(|| txn.range(table, bounds.0, bounds.1, limit))
            .or_raise()?;
        let list = PyList::empty(py);
        for (k, v) in entries {
            list.append((PyBytes::new(py, &k), PyBytes::new(py, &v)))?;
        }
        Ok(list)
    }

    /// The number of entries in `table`, or None if there is no such table.
    fn table_len(&mut self, table: &str) -> PyResult<Option<u64>> {
        self.live()?.table_len(table).or_raise()
    }

    /// Names of all tables in this snapshot, in order.
    fn list_tables(&mut self) -> PyResult<Vec<String>> {
        self.live()?.list_tables().or_raise()
    }

    /// The id of the commit this snapshot shows.
    #[getter]
    fn txn_id(&mut self) -> PyResult<u64> {
        Ok(self.live()?.txn_id())
    }

    /// True once a writer expired it (every read then raises SnapshotExpired).
    #[getter]
    fn expired(&mut self) -> PyResult<bool> {
        Ok(self.live()?.is_expired())
    }

    /// Ends the snapshot (as leaving its `with` block does).
    fn close(&mut self) {
        let pid = self.pid;
        if let Some(txn) = self.slot().take() {
            leak_if_forked(pid, txn);
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&mut self, _args: &Bound<'_, PyTuple>) -> bool {
        self.close();
        false
    }
}

// ------------------------------------------------------------------------------------------
// Zero-copy values
// ------------------------------------------------------------------------------------------

/// The exporter behind a `buffers=True` memoryview: bytes in the mapping of a snapshot, which
/// it keeps alive.
#[pyclass(module = "mmtree", name = "_MappedValue", frozen)]
struct MappedValue {
    /// Keeps the mapping mapped and the snapshot's pages from being reused.
    _snapshot: Arc<mmtree::ReadTransaction>,
    /// Address and length of bytes that the engine handed out borrowed from `_snapshot`.
    ptr: usize,
    len: usize,
    /// The process that created it (see `same_process`).
    pid: u32,
}

impl Drop for MappedValue {
    fn drop(&mut self) {
        leak_if_forked(self.pid, self._snapshot.clone()); // in a forked child, never the last
    }
}

#[pymethods]
impl MappedValue {
    /// # Safety
    ///
    /// Called by Python with a `view` to fill, as the buffer protocol specifies.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        if view.is_null() {
            return Err(PyBufferError::new_err("no view to fill"));
        }
        if flags & ffi::PyBUF_WRITABLE == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("mmtree values are read-only"));
        }
        let this = slf.get();
        same_process(this.pid)?;
        let len = isize::try_from(this.len)
            .map_err(|_| PyValueError::new_err("value too large for a buffer"))?;
        // SAFETY: `ptr..ptr+len` is a slice the engine returned from `_snapshot` (a
        // `ReadTable::get`/range item of that transaction, whose lifetime is the
        // transaction's). It stays valid while the transaction lives: it points into the
        // `Arc<Mapping>` the transaction owns (never unmapped before it), and pages a live
        // snapshot can reach are never reused by writers. The transaction lives as long as this
        // object; `PyBuffer_FillInfo` stores a new reference to this object in `view.obj`, so
        // every export (every memoryview and anything derived from one) keeps it alive. The
        // buffer is marked read-only (`readonly = 1`), so Python never writes through it.
        let filled = unsafe {
            ffi::PyBuffer_FillInfo(view, slf.as_ptr(), this.ptr as *mut c_void, len, 1, flags)
        };
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    /// # Safety
    ///
    /// Called by Python when an export ends; nothing to free (the format string is static).
    unsafe fn __releasebuffer__(&self, _view: *mut ffi::Py_buffer) {}
}

// ------------------------------------------------------------------------------------------
// Range iteration
// ------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Mode {
    Items,
    Keys,
    Values,
}

enum Source {
    Read(Py<PyReadTxn>),
    Write(Py<PyWriteTxn>),
}

/// Entries read per batch: small at first (a short range reads little), then larger.
const BATCH_FIRST: usize = 32;
const BATCH_MAX: usize = 1024;

/// An iterator over a key range of a table. It reads a batch of entries at a time (a read
/// snapshot's without the GIL); the next batch starts after the last key it returned. It ends
/// with its transaction: a call after that raises TransactionClosed.
#[pyclass(module = "mmtree", name = "RangeIterator")]
struct RangeIter {
    source: Source,
    /// The transaction's: false once it ended.
    live: Arc<AtomicBool>,
    table: String,
    /// The remaining range: `start` inclusive until the first batch, then exclusive.
    start: Edge<Vec<u8>>,
    end: Edge<Vec<u8>>,
    reverse: bool,
    mode: Mode,
    /// The batch read last, as `bytes` (or memoryviews): one object per entry, or for items
    /// the key then the value; `__next__` builds each (key, value) tuple as it returns it.
    /// Tuples are built one at a time, not a batch ahead, because they are objects the garbage
    /// collector tracks: a batch of them would start a collection every few hundred entries,
    /// while `bytes` are not tracked.
    ready: std::vec::IntoIter<Py<PyAny>>,
    batch: usize,
    exhausted: bool,
}

impl RangeIter {
    fn new(
        source: Source,
        live: Arc<AtomicBool>,
        table: String,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
        reverse: bool,
        mode: Mode,
    ) -> Self {
        RangeIter {
            source,
            live,
            table,
            start: start.map_or(Edge::Unbounded, Edge::Included),
            end: end.map_or(Edge::Unbounded, Edge::Excluded),
            reverse,
            mode,
            ready: Vec::new().into_iter(),
            batch: BATCH_FIRST,
            exhausted: false,
        }
    }

    fn bounds(&self) -> (Edge<&[u8]>, Edge<&[u8]>) {
        (as_ref(&self.start), as_ref(&self.end))
    }

    /// Moves the range past `last`, the last key of a batch.
    fn advance(&mut self, last: &[u8]) {
        match self.reverse {
            false => self.start = Edge::Excluded(last.to_vec()),
            true => self.end = Edge::Excluded(last.to_vec()),
        }
    }

    /// Adds the objects of entry `(k, v)` to `out` (see `ready`).
    fn push<'py>(
        &self,
        out: &mut Vec<Py<PyAny>>,
        make: &mut impl FnMut(&[u8]) -> PyResult<Bound<'py, PyAny>>,
        (k, v): (&[u8], &[u8]),
    ) -> PyResult<()> {
        match self.mode {
            Mode::Keys => out.push(make(k)?.unbind()),
            Mode::Values => out.push(make(v)?.unbind()),
            Mode::Items => {
                out.push(make(k)?.unbind());
                out.push(make(v)?.unbind());
            }
        }
        Ok(())
    }

    fn fill(&mut self, py: Python<'_>) -> PyResult<()> {
        let want = self.batch;
        self.batch = (self.batch * 4).min(BATCH_MAX);
        let source = match &self.source {
            Source::Read(txn) => Source::Read(txn.clone_ref(py)),
            Source::Write(txn) => Source::Write(txn.clone_ref(py)),
        };
        let per_entry = match self.mode {
            Mode::Items => 2,
            Mode::Keys | Mode::Values => 1,
        };
        let mut out = Vec::with_capacity(want * per_entry);
        let last = match source {
            Source::Read(txn) => {
                let snapshot = txn.bind(py).try_borrow()?.live()?.snapshot.clone();
                let (start, end) = self.bounds();
                let table = &self.table;
                let reverse = self.reverse;
                // Page faults of the scan happen here, without the GIL (and without borrowing
                // the transaction object, which another thread may end meanwhile); the slices
                // stay valid while `snapshot`, this function's own reference, lives.
                let entries = py
                    .detach(|| collect(&snapshot, table, (start, end), reverse, want))
                    .or_raise()?;
                let txn = txn.bind(py).try_borrow()?;
                let state = txn.live()?;
                let buffers = txn.buffers;
                let mut make = |bytes: &[u8]| value_object(py, state, buffers, bytes);
                for &entry in &entries {
                    self.push(&mut out, &mut make, entry)?;
                }
                entries.last().map(|(k, _)| k.to_vec())
            }
            Source::Write(txn) => {
                let mut txn = txn.bind(py).try_borrow_mut()?;
                let txn = txn.live()?;
                table_exists(txn, &self.table)?;
                let handle = txn.table_handle(&self.table).or_raise()?;
                let mut range = handle.range(&*txn, self.bounds()).or_raise()?;
                let mut last = None;
                let mut make = |bytes: &[u8]| Ok(PyBytes::new(py, bytes).into_any());
                for _ in 0..want {
                    let item = match self.reverse {
                        false => range.next(),
                        true => range.next_back(),
                    };
                    let Some(item) = item else { break };
                    let entry = item.or_raise()?;
                    self.push(&mut out, &mut make, entry)?;
                    last = Some(entry.0);
                }
                last.map(<[u8]>::to_vec)
            }
        };
        if out.len() < want * per_entry {
            self.exhausted = true;
        }
        if let Some(last) = last {
            self.advance(&last);
        }
        self.ready = out.into_iter();
        Ok(())
    }

    fn check_live(&self) -> PyResult<()> {
        match self.live.load(Ordering::Relaxed) {
            true => Ok(()),
            false => Err(closed_txn()),
        }
    }
}

fn as_ref(bound: &Edge<Vec<u8>>) -> Edge<&[u8]> {
    match bound {
        Edge::Included(b) => Edge::Included(b.as_slice()),
        Edge::Excluded(b) => Edge::Excluded(b.as_slice()),
        Edge::Unbounded => Edge::Unbounded,
    }
}

/// Up to `want` entries of `table` in `bounds`, from the front or the back.
fn collect<'s>(
    snapshot: &'s mmtree::ReadTransaction,
    table: &str,
    bounds: (Edge<&[u8]>, Edge<&[u8]>),
    reverse: bool,
    want: usize,
) -> mmtree::Result<Vec<(&'s [u8], &'s [u8])>> {
    let Some(table) = snapshot.table(table)? else {
        return Ok(Vec::new()); // resolved when the table object was made: cannot happen
    };
    let mut range = table.range(bounds)?;
    let mut out = Vec::with_capacity(want);
    while out.len() < want {
        let item = match reverse {
            false => range.next(),
            true => range.next_back(),
        };
        match item {
            Some(item) => out.push(item?),
            None => break,
        }
    }
    Ok(out)
}

#[pymethods]
impl RangeIter {
    fn __iter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        self.check_live()?;
        if self.ready.len() == 0 {
            if self.exhausted {
                return Ok(None);
            }
            self.fill(py)?;
        }
        let Some(first) = self.ready.next() else {
            return Ok(None);
        };
        Ok(Some(match self.mode {
            Mode::Keys | Mode::Values => first,
            Mode::Items => {
                let second = self.ready.next().expect("items come in pairs");
                (first, second).into_pyobject(py)?.into_any().unbind()
            }
        }))
    }
}

/// mmtree: an embedded, memory-mapped, crash-safe, ordered key-value store.
#[pymodule]
fn _mmtree(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    register_fork_handler()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    m.add_class::<PyDb>()?;
    m.add_class::<PyWriteTxn>()?;
    m.add_class::<PyWriteTable>()?;
    m.add_class::<PyReadTxn>()?;
    m.add_class::<PyReadTable>()?;
    m.add_class::<RangeIter>()?;
    m.add_class::<PyBoundedTxn>()?;
    m.add("Error", py.get_type::<Error>())?;
    m.add("KeyTooLarge", py.get_type::<KeyTooLarge>())?;
    m.add("ValueTooLarge", py.get_type::<ValueTooLarge>())?;
    m.add("Corrupted", py.get_type::<Corrupted>())?;
    m.add("NotADatabase", py.get_type::<NotADatabase>())?;
    m.add("ReadOnly", py.get_type::<ReadOnly>())?;
    m.add("WriteInProgress", py.get_type::<WriteInProgress>())?;
    m.add("SnapshotExpired", py.get_type::<SnapshotExpired>())?;
    m.add("InvalidTableName", py.get_type::<InvalidTableName>())?;
    m.add("InvalidOption", py.get_type::<InvalidOption>())?;
    m.add("StorageFull", py.get_type::<StorageFull>())?;
    m.add("Poisoned", py.get_type::<Poisoned>())?;
    m.add("TransactionFailed", py.get_type::<TransactionFailed>())?;
    m.add("IoError", py.get_type::<IoError>())?;
    m.add("TransactionClosed", py.get_type::<TransactionClosed>())?;
    m.add("NoSuchTable", py.get_type::<NoSuchTable>())?;
    m.add("FORMAT_VERSION", mmtree::FORMAT_VERSION)?;
    Ok(())
}
