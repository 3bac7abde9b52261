//! The background merge: a thread per writable handle that folds the write buffer into the
//! tree once the writer has been idle for `Options::merge_after_idle`, so reads, scans and the
//! next open meet an empty buffer without a commit paying for the merge.
//!
//! The thread holds only a weak reference to the database; it upgrades it (under the
//! signal's lock, marking itself `busy`) just for a merge, so the handle count a closing
//! `Db` sees is exact once the busy thread is discounted. It takes the writer role without
//! waiting: a writer of this or another process at work means the merge is tried again
//! after the next idle period, and it gives the role up to a writer of this process that asks
//! for it (`WriteTransaction::merge_yielding`). The merge is the one every other path uses (a
//! checkpoint), so a crash during it leaves what a crash during any checkpoint leaves.

use super::Db;
use crate::error::{Error, Result};
use crate::shared::{MergeSignal, Shared};
use crate::txn::WriteTransaction;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// What a new handle's `Shared::start_merger` is: this module's thread, if the handle
/// writes and the option is on.
pub(super) fn starter(options: &crate::options::Options) -> Option<fn(&Arc<Shared>)> {
    (options.merge_after_idle.is_some() && !options.read_only).then_some(start as fn(&Arc<Shared>))
}

/// Starts the merge thread (at the handle's first buffered commit).
fn start(inner: &Arc<Shared>) {
    let Some(idle) = inner.options.merge_after_idle else {
        return;
    };
    let weak = Arc::downgrade(inner);
    let signal = inner.merge_signal.clone();
    let spawned = std::thread::Builder::new()
        .name("mmtree-merge".into())
        .spawn(move || run(&weak, &signal, idle));
    // Without the thread the buffer is merged at its budget and at close, as with the option
    // off.
    if let Ok(thread) = spawned {
        let _ = inner.merge_signal.thread_id.set(thread.thread().id());
        let mut state = inner.merge_signal.lock();
        if state.stop {
            // Closed meanwhile: nobody will join it, so wake it to end now.
            drop(state);
            inner.merge_signal.stop_and_join_thread(thread);
        } else {
            state.thread = Some(thread);
        }
    }
}

fn run(weak: &Weak<Shared>, signal: &MergeSignal, idle: Duration) {
    let mut state = signal.lock();
    loop {
        if state.stop {
            return;
        }
        let Some(last_commit) = state.last_commit else {
            state = signal.wait(state, None);
            continue;
        };
        let since = last_commit.elapsed();
        if since < idle {
            state = signal.wait(state, Some(idle - since));
            continue;
        }
        state.last_commit = None;
        let Some(inner) = weak.upgrade() else {
            return;
        };
        state.busy = true;
        drop(state);
        let db = Db { inner };
        // A failed merge leaves the commits in the log (the next writer or open merges them).
        let outcome = merge_now(&db);
        let retry = matches!(outcome, Ok(false));
        if !retry {
            // The writer is idle: the pooled page buffers and the memory the merge freed go
            // back now, from this thread, rather than at close (see `release_memory`).
            let pool = std::mem::take(&mut *db.inner.page_pool.lock().expect("page pool"));
            drop(pool);
            release_memory();
        }
        // Possibly the last handle: its drop closes the database from this thread (and does
        // not wait for this thread).
        drop(db);
        state = signal.lock();
        state.busy = false;
        if retry && state.last_commit.is_none() {
            state.last_commit = Some(Instant::now());
        }
    }
}

/// Returns the allocator's free memory to the system. glibc gives a thread arena's memory back
/// only from the top of its heap, so the page buffers a merge freed (about 190 MiB after a
/// 200,000-entry merge into a million-entry tree) stay behind anything allocated after them
/// that lives on (the pooled pages, a chunk of the verified-page table); the free of that last
/// block, at close, then gives it all back at once: about 12 ms of `munmap` and `madvise` in
/// `Db`'s drop. Released here, by the idle merge thread, that close frees nothing large.
fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` takes no pointer and touches no memory the program uses: it only
    // returns free pages of glibc's arenas to the kernel, under each arena's own lock.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Merges the buffer if there is one. `Ok(false)`: a writer is at work; try later.
fn merge_now(db: &Db) -> Result<bool> {
    let inner = &db.inner;
    inner.check_poisoned()?;
    if !inner.published()?.buffered() {
        return Ok(true);
    }
    inner
        .merge_signal
        .yield_requested
        .store(false, std::sync::atomic::Ordering::Release);
    let Some(guard) = inner.acquire_writer(false)? else {
        return Ok(false);
    };
    let (guard, state) = db.caught_up(guard)?;
    if state.buffered() {
        match WriteTransaction::merge_yielding(inner, state, guard) {
            Ok(guard) => drop(guard),
            Err(Error::MergeYielded) => return Ok(false), // a writer came: later
            Err(error) => return Err(error),
        }
    }
    Ok(true)
}

/// Whether `db` is the last handle of its database in this process (the merge thread's
/// reference discounted): called by a closing `Db`, which then stops the thread (not from the
/// thread itself) so the files close with the handle.
pub(super) fn stop_if_last(db: &Db) {
    let signal = &db.inner.merge_signal;
    if signal.thread_id.get() == Some(&std::thread::current().id()) {
        return;
    }
    let state = signal.lock();
    let last = Arc::strong_count(&db.inner) - usize::from(state.busy) <= 1;
    drop(state);
    if last {
        signal.stop_and_join();
    }
}
