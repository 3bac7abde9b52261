//! When this process's background merge runs: the writer's buffered commits say when they
//! happened, and the merge thread (`db::merger`) waits until the writer has been idle for
//! `Options::merge_after_idle` before it folds the write buffer into the tree. Defined here,
//! below the transactions that signal it; the thread itself lives in the `db` layer.

use super::Shared;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::{JoinHandle, ThreadId};
use std::time::Instant;

/// The merge thread's mailbox (one per open database per process).
#[derive(Debug, Default)]
pub(crate) struct MergeSignal {
    state: Mutex<MergeState>,
    wake: Condvar,
    /// The merge thread, once started: a write begun from another thread of this process
    /// while it holds the writer role waits for it rather than being refused (it is not a
    /// writer of the caller's).
    pub(crate) thread_id: OnceLock<ThreadId>,
}

/// What the merge thread and the handles share, under one mutex.
#[derive(Debug, Default)]
pub(crate) struct MergeState {
    /// The last buffered commit since the merge thread last looked (`None`: nothing new).
    pub(crate) last_commit: Option<Instant>,
    /// The thread should end (the last handle is closing).
    pub(crate) stop: bool,
    /// The thread holds a strong reference to the database (it is merging): the handle count
    /// includes it.
    pub(crate) busy: bool,
    /// The thread, to join when the last handle closes.
    pub(crate) thread: Option<JoinHandle<()>>,
    /// The thread was started (it starts with the first buffered commit, so an open that only
    /// reads never pays for one).
    pub(crate) started: bool,
}

impl MergeSignal {
    pub(crate) fn lock(&self) -> MutexGuard<'_, MergeState> {
        // A panic while holding this lock leaves the fields consistent (plain stores).
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A commit went to the write buffer: the merge thread starts counting the idle time
    /// (`start` starts the thread, the first time).
    pub(crate) fn buffered_commit(&self, db: &Arc<Shared>, start: fn(&Arc<Shared>)) {
        let mut state = self.lock();
        let was_idle = state.last_commit.replace(Instant::now()).is_none();
        let start_now = !state.started && !state.stop;
        state.started = true;
        drop(state);
        if start_now {
            start(db);
        } else if was_idle {
            self.wake.notify_one();
        }
    }

    /// Waits for a signal or for `timeout` (`None`: until signalled).
    pub(crate) fn wait<'a>(
        &self,
        state: MutexGuard<'a, MergeState>,
        timeout: Option<std::time::Duration>,
    ) -> MutexGuard<'a, MergeState> {
        match timeout {
            Some(timeout) => match self.wake.wait_timeout(state, timeout) {
                Ok((state, _)) => state,
                Err(poisoned) => poisoned.into_inner().0,
            },
            None => self
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Tells the thread to end and waits for it (unless called from the thread itself). A
    /// merge under way finishes first: it is bounded by the buffer's budget.
    pub(crate) fn stop_and_join(&self) {
        let mut state = self.lock();
        state.stop = true;
        let thread = state.thread.take();
        drop(state);
        self.wake.notify_all();
        if let Some(thread) = thread {
            self.stop_and_join_thread(thread);
        }
    }

    /// Joins `thread` once stopped (not from itself: it ends on its own then).
    pub(crate) fn stop_and_join_thread(&self, thread: JoinHandle<()>) {
        self.lock().stop = true;
        self.wake.notify_all();
        if thread.thread().id() != std::thread::current().id() {
            let _ = thread.join();
        }
    }
}
