//! Opening a database: the lock file found and joined (or rebuilt when alone), a new file
//! created (or a creation cut short created again), the meta pages read, the redo log opened and,
//! by a process alone, replayed (recovery), this process's reader slot claimed.

use crate::error::{Error, Result};
use crate::limits::{PAGE_SIZE_MAX, PAGE_SIZE_MIN};
use crate::lock::{lock_data_file, lock_data_file_alone, LockFile};
use crate::log::{Record, RedoLog};
use crate::options::{boot_id, Durability, Options};
use crate::page::meta::{Meta, MetaRead};
use crate::pager::Pager;
use crate::shared::{read_meta, Published, PublishedState, SetAside, Shared, WriterGuard};
use crate::storage::{sync_parent_dir, Storage};
use crate::txn::{ReadTransaction, WriteTransaction};
use crate::wbuf::Buffer;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long an open alone on its lock file waits for another holder of the data file's presence
/// lock to let go before it refuses the open (`OpenUnderAnotherName`).
const GHOST_WAIT: Duration = Duration::from_millis(250);

/// The data file's presence lock for a process alone on the lock file: exclusive (shared and
/// checked to be the only one, read-only). Another holder may be a ghost: a handle of this
/// process that just closed, whose open file description a child forked by another thread
/// shares until its exec (OFD locks go with the description: a fork-to-exec window, under a
/// millisecond unless the machine is loaded). So it is tried again for up to `GHOST_WAIT`; a
/// real other user (a hard link's, a deleted lock file's) holds on and is refused after it.
fn presence_alone(file: &File, read_only: bool) -> Result<bool> {
    let deadline = Instant::now() + GHOST_WAIT;
    loop {
        let got = match read_only {
            true => lock_data_file_alone(file)?,
            false => lock_data_file(file, true)?,
        };
        if got || Instant::now() >= deadline {
            return Ok(got);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Opens (or creates) the database in `file`, found at `path`.
pub(crate) fn open_shared(
    file: File,
    path: PathBuf,
    options: Options,
    identity: (u64, u64),
) -> Result<Arc<Shared>> {
    let boot = options.boot_id.unwrap_or_else(boot_id);
    // The lock file sits next to the file the name leads to (symlinks resolved), so every
    // name that leads to one file through symlinks finds the same lock file.
    let real =
        std::fs::canonicalize(&path).map_err(|e| Error::io("resolving the database path", e))?;
    let mut lock_path = real.clone().into_os_string();
    lock_path.push("-lock");
    let mut log_path = real.into_os_string();
    log_path.push("-log");
    let log_path = PathBuf::from(log_path);
    // A file that is not (yet) a database is refused before anything is created next to it:
    // a failed open leaves nothing behind. (A new or empty file goes on to be created, unless
    // read-only.)
    let (file_len, fresh) = freshness(&file)?;
    if fresh && options.read_only {
        return Err(Error::NotADatabase { path });
    }
    if !fresh {
        read_meta(&file, &path, file_len, boot)?;
    }
    let private = match options.read_only {
        true => LockFile::open_existing(Path::new(&lock_path))?.is_none(),
        false => false,
    };
    let mut lock = match private {
        true => LockFile::private()?,
        false => LockFile::open(Path::new(&lock_path))?,
    };
    let given = path.clone();
    let split = move |reason: &str| Error::OpenUnderAnotherName {
        path: given.clone(),
        reason: reason.to_string(),
    };
    // Alone: (re)build the lock file and, for a new database, write the meta pages, before
    // anyone else can join. Not alone: wait until whoever initialises is done, and join only
    // if a process that finished its open (its recovery) is present; if none is (the lone
    // opener failed, was read-only, or died), try to be alone again and recover ourselves.
    let alone = join_or_alone(&mut lock)?;
    if alone {
        // Alone on this lock file, but is anyone using the data file through another one
        // (a hard link, a deleted lock file)? Their presence lock on the data file says so.
        // (A read-only data file can only hold a shared lock: taken, then checked to be alone.)
        let got = presence_alone(&file, options.read_only)?;
        if !got {
            return Err(split(match private {
                true => {
                    "other processes have it open, and its lock file cannot be opened for \
                     writing here (read-only media?), so a read-only handle could not protect \
                     its snapshots from their writers"
                }
                false => {
                    "the data file is in use through another lock file: a hard link, a renamed \
                     file, a deleted lock file, or a read-only handle without a lock file"
                }
            }));
        }
        lock.initialize(identity)?;
    } else {
        if lock.data_identity() != identity {
            return Err(split(
                "its lock file is in use for another file of that name (the file was \
                 replaced while open)",
            ));
        }
    }
    let (file_len, fresh) = freshness(&file)?;
    if fresh && !alone {
        // Others have it open, yet it has no meta pages: not (or no longer) a database.
        return Err(Error::NotADatabase { path });
    }
    let disk = match fresh {
        true => None,
        false => Some(read_meta(&file, &path, file_len, boot)?),
    };
    let meta = disk.map(|disk| disk.newest);
    let page_size = meta.map_or(options.page_size, |m| m.page_size as usize);
    let storage = Storage::new(
        file,
        path,
        page_size,
        options.read_ahead,
        options.observer.clone(),
        options.read_only,
    )?;
    let pager = Pager::new(page_size, options.verify_checksums);
    let db_id = meta.map_or_else(crate::log::new_salt, |m| m.db_id);
    // A database whose data file says its log may hold commits (not closed cleanly) is not
    // opened without that log: the older state it would show loses them silently. Checked by
    // the process alone (joiners found the state recovered) before a missing log is created.
    let mut set_aside = None;
    let log_needed = alone && meta.is_some_and(|m| !m.closed_cleanly && m.db_id != 0);
    if log_needed && std::fs::symlink_metadata(&log_path).is_err() {
        if !options.set_aside_log {
            return Err(Error::LogMissing {
                path: storage.path.clone(),
                log: log_path,
            });
        }
        set_aside = Some(SetAside {
            log_copy: None,
            records: None,
            first_txn: None,
            reason: "the log was missing; the last checkpoint was opened".to_string(),
        });
    }
    // A new database starts a new log (one left beside it belongs to nothing); only a process
    // alone may (re)create it.
    let log = RedoLog::open(
        &log_path,
        options.read_only,
        fresh && alone,
        db_id,
        options.observer.clone(),
    )?
    .map(Arc::new);
    let foreign = log
        .as_ref()
        .and_then(|log| log.db_id())
        .is_some_and(|id| db_id != 0 && id != db_id);
    if log_needed && foreign {
        if !options.set_aside_log {
            return Err(Error::ForeignLog {
                path: storage.path.clone(),
                log: log_path,
            });
        }
        let copy = set_aside_path(&log_path);
        if !options.read_only {
            std::fs::rename(&log_path, &copy)
                .map_err(|e| Error::io("moving another database's log aside", e))?;
        }
        set_aside = Some(SetAside {
            log_copy: (!options.read_only).then_some(copy),
            records: None,
            first_txn: None,
            reason: "the log beside it belongs to another database; the last checkpoint was \
                     opened"
                .to_string(),
        });
    }
    // A log that was moved aside, or another database's beside a database closed cleanly,
    // starts over as this database's (a read-only handle only ignores it).
    let log = match (&log, foreign || set_aside.is_some(), options.read_only) {
        (Some(_), true, false) if alone => {
            RedoLog::open(&log_path, false, true, db_id, options.observer.clone())?.map(Arc::new)
        }
        (Some(_), true, true) => None,
        _ => log,
    };
    let meta = match meta {
        Some(meta) => meta,
        None => {
            let mut meta = Meta::created(page_size as u32);
            meta.log_salt = crate::log::new_salt();
            meta.db_id = db_id;
            // Nothing is in its log: complete without it, as after a clean close.
            meta.closed_cleanly = true;
            // The meta pages go first, extending the file by exactly two pages, so a crash
            // during creation leaves a file that `is_all_zero`/`is_torn_creation` recognise
            // (growth in steps happens later, through `ensure_len`).
            let mut pages = vec![0u8; 2 * page_size];
            meta.encode(&mut pages[..page_size]);
            meta.encode(&mut pages[page_size..]);
            storage.create_meta_pages(&pages)?;
            // The new file's (and its log's) directory entry must survive a power loss too.
            sync_parent_dir(&storage.path, options.observer.as_ref())?;
            meta
        }
    };
    // Alone: the published state is the durable checkpoint (for a format-1 file whose newest
    // commit is weak, the steady one is what a checkpoint protects), and the log's records
    // after it are replayed below, before anyone may join.
    let pending = match (alone, &log) {
        (true, Some(log)) if meta.log_salt != 0 => log.scan(meta.log_salt, meta.txn_id)?,
        _ => Vec::new(),
    };
    // A log that names no database (an older build's) or another one, with nothing to replay,
    // starts over as this database's, so that from now on a log of another database is told
    // apart.
    if let (true, false, true, Some(log)) = (alone, options.read_only, pending.is_empty(), &log) {
        if meta.db_id != 0 && log.db_id() != Some(meta.db_id) {
            log.recreate(&log_path, meta.db_id)?;
        }
    }
    if alone {
        let mut state = PublishedState::checkpointed(meta);
        state.checkpoint_txn = disk.map_or(meta.txn_id, |d| d.durable_txn());
        if let (true, Some(last)) = (options.read_only, pending.last()) {
            // A read-only handle cannot replay: it publishes the records as the write buffer
            // (every snapshot indexes them), and a claim past their end, so the first writer to
            // join merges them into a new log generation before it appends (a record torn by
            // the crash may be followed by stale ones).
            state.log_end = last.end();
            state.newest = last.txn;
            lock.set_log_claim(last.end() + 1);
        }
        lock.publish_meta(state.words());
    }
    let slot = lock.claim_slot(u64::from(std::process::id()))?;
    let read_only = options.read_only;
    let shared = Arc::new(Shared {
        after_commit: options.strict.then_some(strict_check as fn(&Arc<Shared>)),
        start_merger: super::merger::starter(&options),
        storage,
        pager,
        options,
        state: Mutex::new(Published {
            meta,
            readers: BTreeMap::new(),
            next_reader: 0,
        }),
        writer_busy: Mutex::new(None),
        writer_free: Condvar::new(),
        last_trim_txn: AtomicU64::new(0),
        page_pool: Mutex::new(Vec::new()),
        log,
        syncer: Mutex::new(None),
        merge_signal: Default::default(),
        recovered: AtomicBool::new(false),
        set_aside: std::sync::OnceLock::new(),
        identity,
        boot,
        lock,
        slot,
        buffer: Mutex::new(Buffer::default()),
    });
    if alone {
        if !pending.is_empty() && !read_only {
            // Recovery, while still alone: joiners wait on the presence lock until it is done.
            let guard = shared.acquire_writer(true)?.expect("waited");
            let state = shared.published()?;
            match replay_counted(&shared, guard, &state, &pending) {
                Ok(guard) => drop(guard),
                Err((Some(bad), error)) if shared.options.set_aside_log => {
                    set_aside = Some(set_aside_tail(&shared, &log_path, &pending, bad, &error)?);
                }
                Err((_, error)) => return Err(error),
            }
        }
        if let Some(set_aside) = set_aside {
            let _ = shared.set_aside.set(set_aside);
        }
        // Both presence locks become shared and the open is said complete: others may join
        // now (the data file's lock first, so a joiner that finds a ready process finds it
        // shared already).
        if !read_only {
            lock_data_file(shared.storage.file(), false)?;
        }
        shared.lock.mark_ready()?;
        shared.lock.share_presence()?;
    } else {
        if !lock_data_file(shared.storage.file(), false)? {
            return Err(split(
                "the data file is being initialised through another lock file",
            ));
        }
        shared.lock.mark_ready()?;
    }
    shared.recovered.store(true, Ordering::Release);
    let published = shared.published_meta()?;
    shared.state.lock().expect("state lock").meta = published;
    Ok(shared)
}

/// Becomes the lone opener (true) or joins processes of which one finished its open (false).
/// A joiner that finds nobody ready lets go and tries again; that state passes quickly (a
/// recovering opener holds the presence lock, so joiners wait in `join` instead of spinning),
/// so spinning for a minute means something is wrong.
fn join_or_alone(lock: &mut LockFile) -> Result<bool> {
    let started = std::time::Instant::now();
    let mut rng = u64::from(std::process::id()) | 1;
    loop {
        if lock.try_alone()? {
            return Ok(true);
        }
        if lock.join()? {
            return Ok(false);
        }
        if started.elapsed() > std::time::Duration::from_secs(60) {
            return Err(Error::IncompatibleLockFile {
                path: lock.path().to_path_buf(),
                reason: "for a minute, other processes held it without any of them finishing \
                         its open"
                    .to_string(),
            });
        }
        // A random pause, so joiners that keep meeting each other fall out of step.
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(std::time::Duration::from_micros(200 + rng % 5_000));
    }
}

/// Replays log records on top of the published `state` (their first is its newest txn + 1): one
/// write transaction that applies every change and takes the last record's id, committed as a
/// checkpoint (the changes are in the log already; the checkpoint makes them durable in the
/// data file and starts the log over). Used by a process alone at open and by a writer that
/// finds a record a dead writer appended but never published.
pub(super) fn replay(
    shared: &Arc<Shared>,
    guard: WriterGuard,
    state: &PublishedState,
    records: &[Record],
) -> Result<WriterGuard> {
    replay_counted(shared, guard, state, records).map_err(|(_, error)| error)
}

/// `replay`, saying which record could not be applied when one could not (`None`: the commit
/// failed, not a record).
fn replay_counted(
    shared: &Arc<Shared>,
    guard: WriterGuard,
    state: &PublishedState,
    records: &[Record],
) -> std::result::Result<WriterGuard, (Option<usize>, Error)> {
    let last = records.last().expect("something to replay").txn;
    debug_assert_eq!(records[0].txn, state.newest + 1);
    let floors = shared.floors(state);
    let mut w =
        WriteTransaction::new(shared.clone(), *state, floors, guard).map_err(|e| (None, e))?;
    w.replaying(last).map_err(|e| (None, e))?;
    w.set_durability(Durability::Immediate);
    for (index, record) in records.iter().enumerate() {
        let mut table = None;
        for op in crate::log::ops(record.payload()) {
            op.and_then(|op| w.apply(&mut table, op))
                .map_err(|error| (Some(index), error))?;
        }
    }
    w.commit_keeping_writer().map_err(|error| (None, error))
}

/// `<log>.set-aside-<unix seconds>`, a name not taken yet.
fn set_aside_path(log: &Path) -> PathBuf {
    let seconds = crate::shared::unix_now_ns() / 1_000_000_000;
    let mut n = 0;
    loop {
        let mut name = log.as_os_str().to_owned();
        name.push(format!(".set-aside-{seconds}"));
        if n > 0 {
            name.push(format!("-{n}"));
        }
        let candidate = PathBuf::from(name);
        if std::fs::symlink_metadata(&candidate).is_err() {
            return candidate;
        }
        n += 1;
    }
}

/// Replay found record `bad` unappliable: the log is copied aside (synced, with its directory),
/// the records before it are replayed (a checkpoint: a new log generation), and the log starts
/// over, so the next open does not meet the record again. A crash half-way leaves the log as it
/// was: the next such open does it again.
fn set_aside_tail(
    shared: &Arc<Shared>,
    log_path: &Path,
    records: &[Record],
    bad: usize,
    error: &Error,
) -> Result<SetAside> {
    let copy = set_aside_path(log_path);
    std::fs::copy(log_path, &copy)
        .and_then(|_| File::open(&copy)?.sync_all())
        .map_err(|e| Error::io("copying the log aside", e))?;
    sync_parent_dir(&copy, shared.options.observer.as_ref())?;
    if bad > 0 {
        let guard = shared.acquire_writer(true)?.expect("waited");
        let state = shared.published()?;
        drop(replay(shared, guard, &state, &records[..bad])?);
    }
    let state = shared.published()?;
    shared.log()?.recreate(log_path, state.meta.db_id)?;
    Ok(SetAside {
        log_copy: Some(copy),
        records: Some((records.len() - bad) as u64),
        first_txn: Some(records[bad].txn),
        reason: format!(
            "log record of commit {} cannot be applied ({error}); the {bad} commits before it \
             were replayed, it and the {} after it set aside",
            records[bad].txn,
            records.len() - bad - 1
        ),
    })
}

/// The file's length, and whether it holds no database yet (empty, all zero, or a creation cut
/// short): such a file is (re)created by a writable open.
fn freshness(file: &File) -> Result<(u64, bool)> {
    let len = file
        .metadata()
        .map_err(|e| Error::io("reading the file size", e))?
        .len();
    let fresh = len == 0 || is_all_zero(file, len)? || is_torn_creation(file, len)?;
    Ok((len, fresh))
}

/// Strict mode: the whole database is checked after every commit; a problem stops the program at
/// the commit that caused it. So is the durable checkpoint (the meta page on disk), which proves
/// the checkpoint rule: no page it reaches was overwritten since (a reused page fails its
/// checksum, or names a txn newer than the checkpoint).
fn strict_check(shared: &Arc<Shared>) {
    let read = ReadTransaction::begin(shared)
        .unwrap_or_else(|e| panic!("strict mode: no snapshot after a commit: {e}"));
    let report = crate::check::check(&read);
    assert!(
        report.is_ok(),
        "strict mode: commit {} left problems: {:?}",
        report.txn_id,
        report.problems
    );
    drop(read);
    let disk = shared
        .read_meta()
        .unwrap_or_else(|e| panic!("strict mode: the meta pages cannot be read: {e}"));
    // Not a registered snapshot: nothing else runs while strict mode checks (the writer role
    // is held), and the checkpoint rule is what keeps its pages in place.
    let durable = ReadTransaction::new(
        shared.clone(),
        shared.storage.mapping(),
        disk.newest,
        u64::MAX,
    );
    let report = crate::check::check(&durable);
    assert!(
        report.is_ok(),
        "strict mode: the durable checkpoint {} was damaged (the checkpoint rule broke): {:?}",
        report.txn_id,
        report.problems
    );
}

/// A database whose creation was cut short, so nothing was ever committed to it: our signature
/// at the start, shorter than its two meta pages, and either no valid meta page (the write
/// landed in part) or only the creation meta page (txn 0, no trees: a power cut after the
/// write of the meta pages and before their sync can keep the first page only). A short file
/// with a valid meta page of any later commit is a truncated database (an error), never
/// something to overwrite.
fn is_torn_creation(file: &File, len: u64) -> Result<bool> {
    if len >= 2 * PAGE_SIZE_MAX as u64 {
        return Ok(false);
    }
    let mut magic = [0u8; 8];
    if len < 8 || file.read_exact_at(&mut magic, 0).is_err() || magic != crate::page::meta::MAGIC {
        return Ok(false);
    }
    let mut bytes = vec![0u8; len as usize];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|e| Error::io("reading the file", e))?;
    let mut valid = Vec::new();
    let mut offset = 0;
    while offset <= PAGE_SIZE_MAX {
        if let Some(MetaRead::Valid(meta)) = bytes.get(offset..).map(Meta::decode) {
            valid.push(meta);
        }
        offset = if offset == 0 {
            PAGE_SIZE_MIN
        } else {
            offset * 2
        };
    }
    if valid.is_empty() {
        return Ok(len <= 2 * PAGE_SIZE_MIN as u64);
    }
    Ok(valid.iter().all(|meta| {
        let unsalted = Meta {
            log_salt: 0,
            db_id: 0,
            closed_cleanly: false,
            ..*meta
        };
        unsalted == Meta::created(meta.page_size) && len < 2 * u64::from(meta.page_size)
    }))
}

fn is_all_zero(file: &File, len: u64) -> Result<bool> {
    if len > 2 * PAGE_SIZE_MAX as u64 {
        return Ok(false);
    }
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, 0)
        .map_err(|e| Error::io("reading the file", e))?;
    Ok(buf.iter().all(|&b| b == 0))
}
