//! What connections hand the group-commit writer (`Job` in a `WriteBatch`), what it answers
//! (`Outcome`), and how an answer or a message reaches a connection's event loop (`Event`
//! through its `Notifier`).

use crate::commands::table::Command;
use crate::resp::Reply;
use crate::store;
use mio::Waker;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// A connection's side of its WATCH jobs: the keys of one the writer registered and whose answer
/// the connection has not taken yet, and whether the connection is gone (set under the watches
/// lock when it closes, so a WATCH job after that registers nothing).
#[derive(Default)]
pub struct WatchClaim {
    pub gone: AtomicBool,
    pub in_flight: Mutex<Option<(u32, Vec<Vec<u8>>)>>,
}

/// A connection's side of its blocking commands (BLPOP, …): whether the writer holds it blocked
/// now (CLIENT LIST's `flags=b`, CLIENT UNBLOCK), and whether the connection is gone (set when
/// it closes, before it sends its `Unblock`: a writer that serves a key before that job arrives
/// skips a gone client, so no element is popped for nobody).
#[derive(Default)]
pub struct BlockClaim {
    pub blocked: AtomicBool,
    pub gone: AtomicBool,
}

/// A command as the connection resolved it, once, from the command table, with its arguments
/// (the name first): what MULTI queues and the writer runs, never looked up again.
pub struct Op {
    pub cmd: &'static Command,
    pub args: Vec<Vec<u8>>,
}

/// Work for the group-commit writer from one client.
pub enum Job {
    /// Write commands of connection `client`, in order, on database `db`.
    Writes { db: u32, ops: Vec<Op>, client: u64 },
    /// WATCH: registers the keys; answered with each key's version and liveness. The keys are
    /// noted in `owner.in_flight` until the connection has the answer, so a connection that
    /// closes (or a commit that fails) before then does not leave them registered.
    Watch {
        db: u32,
        keys: Vec<Vec<u8>>,
        owner: Arc<WatchClaim>,
    },
    /// EXEC: unless a watched key changed, runs the queued commands (each on its database) one
    /// after the other, inside the group's transaction. With `snapshot`, the transaction is
    /// committed right after them and the answer carries a snapshot of that commit: the queued
    /// commands the connection runs itself (session commands: INFO, CLIENT, …) read exactly the state the
    /// transaction left, nothing of the jobs after it.
    Exec {
        watched: Vec<store::WatchedKey>,
        ops: Vec<(u32, Op)>,
        snapshot: bool,
        client: u64,
        /// The client tracks its reads (CLIENT TRACKING, default mode, as CLIENT CACHING says):
        /// each queued read registers its keys in its place, after the writes before it.
        track: bool,
    },
    /// UNWATCH (and DISCARD, and a closing connection's watches): unregisters the keys. Not
    /// answered. Watches are bookkeeping of the writer alone: an event loop never waits on the
    /// lock the writer holds while it applies a group.
    Unwatch { keys: Vec<(u32, Vec<u8>)> },
    /// A closed connection's WATCH in flight (`claim.gone` is set): unregisters its keys, if the
    /// writer registered them. Not answered.
    Release { claim: Arc<WatchClaim> },
    /// A blocking command (BLPOP, BLMOVE, BZPOPMIN, …) of connection `id` on `db`: answered at
    /// once if one of its keys has something; otherwise the writer holds the client blocked
    /// (`blocking::Blocked`) and answers it through `notifier` when a commit serves it, when its
    /// timeout passes or when CLIENT UNBLOCK (or its closing) ends it.
    Block {
        db: u32,
        op: Op,
        id: u64,
        notifier: Notifier,
        claim: Arc<BlockClaim>,
    },
    /// CLIENT UNBLOCK of client `id` (answered with nil, or with the UNBLOCKED error if
    /// `error`), or a closed connection's (`gone`: removed, not answered). Not answered itself.
    Unblock { id: u64, error: bool, gone: bool },
    /// Keys of `db` a read of connection `client` found expired, while some client tracks keys:
    /// removed if they still are (`store::expire_if_due`), so tracking clients hear of them as
    /// Redis' lazy expiry tells them. Not answered.
    Expire {
        db: u32,
        keys: Vec<Vec<u8>>,
        client: u64,
    },
}

impl Job {
    pub fn ops(&self) -> usize {
        match self {
            Job::Writes { ops, .. } => ops.len(),
            // (Counted as writes: the commit must be made even if nothing else wrote.)
            Job::Expire { keys, .. } => keys.len(),
            Job::Exec { ops, .. } => ops.len(),
            // A blocking command's pop is counted by the writer when it serves it.
            Job::Watch { .. }
            | Job::Unwatch { .. }
            | Job::Release { .. }
            | Job::Block { .. }
            | Job::Unblock { .. } => 0,
        }
    }
}

impl Job {
    /// The bytes of its commands' arguments: what its commit's log record holds, about (a
    /// command such as SUNIONSTORE may write more than it was sent).
    pub fn bytes(&self) -> usize {
        let op = |op: &Op| op.args.iter().map(Vec::len).sum::<usize>();
        match self {
            Job::Writes { ops, .. } => ops.iter().map(op).sum(),
            Job::Exec { ops, .. } => ops.iter().map(|(_, o)| op(o)).sum(),
            Job::Block { op: o, .. } => op(o),
            Job::Expire { keys, .. } => keys.iter().map(Vec::len).sum(),
            Job::Watch { .. } | Job::Unwatch { .. } | Job::Release { .. } | Job::Unblock { .. } => {
                0
            }
        }
    }
}

/// A job whose answer nobody waits for (UNWATCH, a closed connection's release).
pub fn unanswered(job: Job) -> WriteBatch {
    WriteBatch {
        job,
        reply: Box::new(|_| {}),
    }
}

/// The writer's answer to a job.
pub enum Outcome {
    /// One reply per command (Writes, Exec).
    Replies(Vec<Reply>),
    /// EXEC with `snapshot`: the replies, and a snapshot of the commit that ended with it.
    Exec(Vec<Reply>, Arc<mmtree::ReadTransaction>),
    /// Per watched key: (version, live).
    Watched(Vec<(u64, bool)>),
    /// EXEC found a watched key modified: nothing ran.
    Aborted,
    /// The commit failed: nothing was applied.
    Failed(String),
    /// A blocking command found nothing: the writer holds the client blocked and answers it
    /// later itself (this outcome is not sent).
    Blocked,
    /// The later answer to a blocked client (served, timed out, unblocked), with how long the
    /// pop that served it ran (µs; 0 otherwise): the connection logs the command to the
    /// SLOWLOG then, as Redis logs a blocked command when it is unblocked.
    Unblocked(Reply, u64),
}

pub struct WriteBatch {
    pub job: Job,
    /// Delivers the answer (to the connection's event loop).
    pub reply: Box<dyn FnOnce(Outcome) + Send>,
}

/// What other threads tell a loop.
pub enum Event {
    /// A new connection (already counted in `Server::clients`) with its id.
    Accept(std::net::TcpStream, u64),
    /// The writer's answer to connection `id`'s job.
    Outcome(u64, Outcome),
    /// Connection `id` has mail or was killed.
    Wake(u64),
}

/// The way to one loop: a channel and the waker that interrupts its poll.
#[derive(Clone)]
pub struct Notifier {
    pub tx: Sender<Event>,
    pub waker: Arc<Waker>,
    /// Set once a wake is on its way; the loop clears it before it reads the channel, so a
    /// burst of events costs one wake.
    pub woken: Arc<AtomicBool>,
}

impl Notifier {
    pub fn send(&self, event: Event) {
        if self.tx.send(event).is_ok() && !self.woken.swap(true, Ordering::AcqRel) {
            let _ = self.waker.wake();
        }
    }
}

/// The writer's queue: the jobs sent to the group-commit thread, in the order sent. A push wakes
/// the thread only if it sleeps (a flag kept under the queue's lock, so no wake is lost), and
/// the lock is held only to push or take: no loop waits on a group being applied.
#[derive(Default)]
pub struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    jobs: Vec<WriteBatch>,
    /// The thread waits on `ready`, until `wake_at` (ms since the epoch) at the latest.
    sleeping: bool,
    wake_at: u64,
    /// A deadline nearer than the thread knew of was set while it was awake: its next wait
    /// returns at once, so it computes its wait again (`nudge`).
    nudged: bool,
    /// Shutdown: no job is taken any more.
    closed: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `jobs` in order; gives them back if the queue is closed (the server shuts down).
    pub fn push(&self, jobs: impl IntoIterator<Item = WriteBatch>) -> Result<(), Vec<WriteBatch>> {
        let mut s = self.state();
        if s.closed {
            return Err(jobs.into_iter().collect());
        }
        let before = s.jobs.len();
        s.jobs.extend(jobs);
        if s.sleeping && s.jobs.len() > before {
            s.sleeping = false;
            self.ready.notify_one();
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.state().jobs.is_empty()
    }

    /// Takes the jobs queued, the first ones up to `max_ops` operations (at least one job).
    pub fn take(&self, max_ops: usize) -> Vec<WriteBatch> {
        let mut s = self.state();
        let mut ops = 0;
        let n = s
            .jobs
            .iter()
            .position(|b| {
                ops += b.job.ops();
                ops > max_ops
            })
            .map_or(s.jobs.len(), |i| i.max(1));
        if n == s.jobs.len() {
            std::mem::take(&mut s.jobs)
        } else {
            s.jobs.drain(..n).collect()
        }
    }

    /// Waits up to `wait` for a job (or a `nudge`). False once the queue is closed and empty.
    pub fn wait(&self, wait: Duration) -> bool {
        let mut s = self.state();
        if s.jobs.is_empty() && !s.closed && !std::mem::take(&mut s.nudged) {
            s.sleeping = true;
            s.wake_at = store::now_ms().saturating_add(wait.as_millis() as u64);
            s = self
                .ready
                .wait_timeout(s, wait)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            s.sleeping = false;
        }
        !(s.closed && s.jobs.is_empty())
    }

    /// A blocked client's deadline `at` (ms since the epoch) was registered by an event loop
    /// holding the writer role: the thread, which answers timeouts, wakes in time for it.
    pub fn nudge(&self, at: u64) {
        let mut s = self.state();
        if !s.sleeping {
            s.nudged = true;
        } else if at < s.wake_at {
            s.sleeping = false;
            self.ready.notify_one();
        }
    }

    /// Closes the queue: jobs pushed after this are refused; the thread takes what is left.
    pub fn close(&self) {
        let mut s = self.state();
        s.closed = true;
        self.ready.notify_one();
    }
}
