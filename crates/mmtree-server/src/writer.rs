//! The group-commit writer: one thread that applies every job waiting in one write transaction
//! and one commit, then answers each connection; it sweeps expired keys on `expiry`'s schedule,
//! and holds the blocked clients (`blocking`): it serves them from the keys its commits fill and
//! answers them when their timeouts pass.

use crate::access;
use crate::blocking;
use crate::commands;
use crate::expiry;
use crate::jobs::{self, Job, Outcome, WriteBatch};
use crate::keyspace;
use crate::notify;
use crate::server::Server;
use crate::store;
use crate::tracking;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The writer's state: whoever holds it (`Role`) is the server's one writer and applies groups.
pub struct Writer {
    server: Arc<Server>,
    durability: mmtree::Durability,
    sweeper: expiry::Sweeper,
    /// Keys under WATCH, with their versions: the writer's alone (WATCH, EXEC, UNWATCH and a
    /// closing connection's release are jobs), so no event loop ever waits for a group to apply.
    watches: store::Watches,
    /// Blocked clients (BLPOP, …): the writer's alone too.
    blocked: blocking::Blocked,
    /// The keys the segment's commands read or wrote (OBJECT IDLETIME), handed over per commit.
    access: access::Batch,
}

/// The writer role. The group-commit thread takes it (waiting) for every group it gathers; an
/// event loop takes it only when it is free (`try_lock`) and its group may run there
/// (`inline`), and otherwise hands its jobs to the thread. Either way one holder at a time
/// applies a group, so the writer's state needs no other lock.
pub type Role = Arc<Mutex<Writer>>;

/// Takes the role, waiting (a holder's panic is caught inside `commit_segment`, so a poisoned
/// lock still guards a consistent state).
fn hold(role: &Role) -> MutexGuard<'_, Writer> {
    role.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Writer {
    pub fn new(server: Arc<Server>, durability: mmtree::Durability) -> Writer {
        Writer {
            blocked: blocking::Blocked::new(server.clone()),
            server,
            durability,
            sweeper: expiry::Sweeper::new(Instant::now()),
            watches: store::Watches::default(),
            access: access::Batch::default(),
        }
    }

    /// The next blocked client's deadline (ms since the epoch), if one is blocked with a timeout.
    pub fn next_deadline(&self) -> Option<u64> {
        self.blocked.next_deadline()
    }

    /// How long the group-commit thread may wait for a job: until the expiry sweep or the next
    /// blocked client's deadline (at most 100 ms).
    fn wait(&self) -> Duration {
        let mut wait = self.sweeper.wait(Duration::from_millis(100));
        if let Some(at) = self.blocked.next_deadline() {
            wait = wait.min(Duration::from_millis(at.saturating_sub(store::now_ms())));
        }
        wait
    }

    /// Applies `group` (the jobs in the order they were sent), committing once per segment;
    /// answers the blocked clients whose timeouts passed and runs the expiry sweep if it is due.
    pub fn apply(&mut self, group: Vec<WriteBatch>) {
        let Writer {
            server,
            durability,
            sweeper,
            watches,
            blocked,
            access,
        } = self;
        blocked.expire(watches, store::now_ms());
        let sweep_due = sweeper.due(Instant::now());
        // (FUNCTION LOAD, DELETE, FLUSH and RESTORE run on the loops: their libraries are
        // saved by the next commit, one of their own if no job comes.)
        if group.is_empty() && !sweep_due && !server.scripts.unsaved() {
            return;
        }
        let now = store::now_ms();
        // The group is committed in segments: one ends after an EXEC that wants a snapshot of
        // its own commit, the last one with the rest (and the expiry sweep, if due).
        let mut rest = group.into_iter().peekable();
        loop {
            let mut segment = Vec::new();
            for batch in rest.by_ref() {
                let cut = matches!(batch.job, Job::Exec { snapshot: true, .. });
                segment.push(batch);
                if cut {
                    break;
                }
            }
            let last = rest.peek().is_none();
            let sweep = (sweep_due && last).then_some(sweeper.limit());
            let expired = commit_segment(
                server,
                watches,
                blocked,
                access,
                segment,
                *durability,
                now,
                sweep,
            );
            if last {
                if sweep_due {
                    // A failed commit removed nothing: the sweep is tried again later.
                    sweeper.swept(expired.unwrap_or(0), Instant::now());
                }
                break;
            }
        }
    }

    /// At shutdown: the last FUNCTION change, if no commit saved it yet.
    fn finish(&mut self) {
        if self.server.scripts.unsaved() {
            commit_segment(
                &self.server,
                &mut self.watches,
                &mut self.blocked,
                &mut self.access,
                Vec::new(),
                self.durability,
                store::now_ms(),
                None,
            );
        }
    }
}

/// True if an event loop holding the role may apply `job` itself. Scripts run on the
/// group-commit thread, on its Lua state, where a runaway one is stopped by SCRIPT KILL while the
/// loops serve on. (A blocking command may run on a loop: the loop then tells the thread the
/// next deadline, `Writer::next_deadline`, as the thread answers timeouts.)
pub fn inline(job: &Job) -> bool {
    match job {
        Job::Writes { ops, .. } => !ops.iter().any(is_script),
        Job::Exec { ops, .. } => !ops.iter().any(|(_, op)| is_script(op)),
        Job::Block { .. }
        | Job::Watch { .. }
        | Job::Unwatch { .. }
        | Job::Release { .. }
        | Job::Unblock { .. }
        | Job::Expire { .. } => true,
    }
}

/// The group-commit thread: waits for jobs in the server's queue (`Server::writer`), takes the
/// role, and applies every job queued (up to 50,000 operations) as one group; wakes for the
/// expiry sweep and blocked clients' deadlines too. Ends when the queue is closed and empty.
pub fn writer_loop(role: Role) {
    let server = hold(&role).server.clone();
    // Scripts run here, in the group's transaction, on this thread's Lua state.
    commands::scripting::install(server.scripts.clone());
    loop {
        // Woken for the next blocked client's deadline too, so a timeout is answered on time.
        let wait = hold(&role).wait();
        if !server.writer.wait(wait) {
            hold(&role).finish();
            return;
        }
        // The queue is taken only by the role's holder, so jobs run in the order they were
        // queued (an event loop holding the role applies its own group only if the queue is
        // empty).
        let mut writer = hold(&role);
        let group = server.writer.take(50_000);
        writer.apply(group);
    }
}

/// Why a segment's commit failed.
enum Failure {
    Db(mmtree::Error),
    /// A job panicked (a bug): its transaction was dropped, so nothing of it was applied.
    Panic,
}

impl From<mmtree::Error> for Failure {
    fn from(e: mmtree::Error) -> Failure {
        Failure::Db(e)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Db(e) => e.fmt(f),
            Failure::Panic => f.write_str(
                "internal error in a command (a bug; see the panic on stderr); nothing of this commit was applied",
            ),
        }
    }
}

/// Applies `segment`'s jobs in one write transaction, commits once, and answers each; with
/// `sweep`, also removes up to that many expired keys. Returns how many it removed (None if
/// the commit failed).
#[allow(clippy::too_many_arguments)]
fn commit_segment(
    server: &Arc<Server>,
    watches: &mut store::Watches,
    blocked: &mut blocking::Blocked,
    access: &mut access::Batch,
    segment: Vec<WriteBatch>,
    durability: mmtree::Durability,
    now: u64,
    sweep: Option<usize>,
) -> Option<usize> {
    let ops = segment.iter().map(|b| b.job.ops()).sum::<usize>();
    let max_key = server.db.key_size_max().saturating_sub(12);
    let flags = server.notify.get();
    let notifying = flags != 0;
    let mut events: Vec<notify::KeyEvent> = Vec::new();
    // While a client tracks keys, every change is noted (`Watches::tracking`). The flag is read
    // here, after the group was taken: CLIENT TRACKING ON sets the count and then waits for a
    // job of its own, so every group that began after it collects. Keys left in the table by
    // clients that stopped tracking are still collected for: a flush must empty the table, and
    // a change must drop them (as Redis, whose table lives on when the last client stops).
    watches.tracking = server.tracking_clients.load(Ordering::Acquire) > 0
        || server.tracking.lock().expect("tracking").keys() > 0;
    let mut invalidations: Vec<tracking::Invalidation> = Vec::new();
    // The changes the segment's commands made (INFO's `rdb_changes_since_last_save`).
    let mut dirty = 0u64;
    // A panic (a bug) in one job drops the transaction unfinished, which aborts it: the segment's
    // jobs all fail and the writer goes on.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(
        || -> Result<(Vec<Outcome>, usize, Option<u64>), Failure> {
            let mut w = server.db.begin_write()?;
            w.set_durability(durability);
            let mut outcomes = Vec::with_capacity(segment.len());
            {
                for batch in &segment {
                    outcomes.push(run_job(
                        server,
                        &mut w,
                        watches,
                        blocked,
                        &batch.job,
                        now,
                        max_key,
                        notifying.then_some(&mut events),
                        &mut invalidations,
                        &mut Noted {
                            dirty: &mut dirty,
                            access: &mut *access,
                        },
                    )?);
                }
            }
            watches.client = 0;
            let expired = match sweep {
                Some(limit) => store::sweep(
                    &mut w,
                    now,
                    limit,
                    notifying.then_some(&mut events),
                    watches,
                )?,
                None => 0,
            };
            let functions = server.scripts.save_libraries(&mut w)?;
            // (A blocked client's pop is a write too.)
            if ops == 0 && expired == 0 && functions.is_none() && blocked.wrote == 0 {
                w.abort();
            } else {
                w.commit()?;
            }
            // An EXEC that asked for it (the segment's last job) gets a snapshot of this commit,
            // taken before any other write can begin (this thread is the server's only writer).
            if let Some(Outcome::Replies(_)) = outcomes.last() {
                if matches!(
                    segment.last().map(|b| &b.job),
                    Some(Job::Exec { snapshot: true, .. })
                ) {
                    // (Without one, the connection reads a fresh snapshot: the commit is done.)
                    if let Ok(snapshot) = server.db.begin_read() {
                        if let Some(Outcome::Replies(replies)) = outcomes.pop() {
                            outcomes.push(Outcome::Exec(replies, Arc::new(snapshot)));
                        }
                    }
                }
            }
            Ok((outcomes, expired, functions))
        },
    ))
    .unwrap_or_else(|_| Err(Failure::Panic));
    release_watches(watches, &segment);
    let changes = watches.take_changes();
    match result {
        Ok((outcomes, expired, functions)) => {
            if let Some(generation) = functions {
                server.scripts.mark_saved(generation);
            }
            let ops = ops + blocked.wrote;
            server
                .stats
                .expired
                .fetch_add(expired as u64, Ordering::Relaxed);
            server
                .stats
                .dirty
                .fetch_add(dirty + blocked.wrote as u64, Ordering::Relaxed);
            server.note_access(access, Instant::now());
            if ops > 0 {
                server.stats.commits.fetch_add(1, Ordering::Relaxed);
                server
                    .stats
                    .committed_writes
                    .fetch_add(ops as u64, Ordering::Relaxed);
            }
            // Events go out once their commit is made, before the writers hear of it.
            for event in &events {
                for (channel, message) in notify::messages(flags, event) {
                    server.publish(&channel, &message);
                }
            }
            // Tracking invalidations too, but those for the client that made the change and
            // the broadcasts, which follow the replies (as Redis 7.0 sends them).
            if !changes.is_empty() {
                invalidations.extend(server.tracking.lock().expect("tracking").modified(&changes));
            }
            let (after, before): (Vec<_>, Vec<_>) =
                invalidations.into_iter().partition(|i| i.after_reply);
            server.invalidate(&before);
            for (batch, outcome) in segment.into_iter().zip(outcomes) {
                // A client held blocked is answered by `blocked` when it is served.
                if !matches!(outcome, Outcome::Blocked) {
                    (batch.reply)(outcome);
                }
            }
            // The blocked clients this commit served.
            blocked.deliver(watches);
            server.invalidate(&after);
            Some(expired)
        }
        Err(error) => {
            eprintln!("mmtree serve: commit failed: {error}");
            access.discard();
            // Registrations this segment already processed are gone from the table: their
            // clients are told (an invalidation of a key that did not change is harmless; one
            // missing would leave a stale cache).
            server.invalidate(&invalidations);
            blocked.fail(watches, &format!("ERR commit failed: {error}"));
            for batch in segment {
                (batch.reply)(Outcome::Failed(format!("ERR commit failed: {error}")));
            }
            None
        }
    }
}

/// One command of a job in the group's transaction, as the writer runs it: timed for the
/// SLOWLOG, a script's `redis.call`s fed to MONITOR, and a script that read something tracked
/// for its client (its declared keys, as Redis 7.0).
struct Run<'s> {
    server: &'s Server,
    client: u64,
    started: Instant,
    /// A keyspace read of a transaction whose client tracks its reads.
    track_reads: bool,
}

impl<'s> Run<'s> {
    fn begin(server: &'s Server, client: u64) -> Run<'s> {
        server.scripts.read_called.store(false, Ordering::Relaxed);
        Run {
            server,
            client,
            started: Instant::now(),
            track_reads: false,
        }
    }

    fn end(
        self,
        op: &jobs::Op,
        watches: &mut store::Watches,
        invalidations: &mut Vec<tracking::Invalidation>,
        log: bool,
    ) {
        let server = self.server;
        let micros = self.started.elapsed().as_micros() as u64;
        if log && server.is_slow(micros) {
            server.log_slow(self.client, &op.args, micros);
        }
        // The commands a script called count in commandstats as the client's would (EVAL and
        // FCALL, the only commands that run scripts, are NUMKEYS and NOSCRIPT).
        if is_script(op) {
            use commands::scripting::Call;
            let calls = std::mem::take(&mut *server.scripts.calls.lock().expect("script calls"));
            for (i, call) in calls {
                let counter = match call {
                    Call::Ok => &server.command_calls[i],
                    Call::Failed => {
                        server.command_calls[i].fetch_add(1, Ordering::Relaxed);
                        &server.command_failed[i]
                    }
                    Call::Rejected => &server.command_rejected[i],
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        if server.scripts.monitoring.load(Ordering::Relaxed) {
            let fed = std::mem::take(&mut *server.scripts.monitored.lock().expect("monitored"));
            for (db, args) in fed {
                server.feed_monitors(db, "lua", &args);
            }
        }
        // Tracked keys read in the writer: a transaction's reads, in their place, and a
        // script's declared keys if it read something.
        let read = self.track_reads
            && matches!(op.cmd.handler, commands::table::Handler::Read(_))
            && op.cmd.has_keys();
        let script = op.cmd.has(commands::table::NUMKEYS)
            && server.scripts.read_called.load(Ordering::Relaxed);
        if watches.tracking && (read || script) {
            let mut t = server.tracking.lock().expect("tracking");
            if read || t.mode(self.client).is_some_and(|m| !m.bcast && !m.optin) {
                // The changes so far are processed first: only later ones invalidate these.
                let changes = watches.take_changes();
                invalidations.extend(t.modified(&changes));
                invalidations.extend(t.remember(self.client, op.cmd.key_args(&op.args)));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_job(
    server: &Server,
    w: &mut mmtree::WriteTransaction,
    watches: &mut store::Watches,
    blocked: &mut blocking::Blocked,
    job: &Job,
    now: u64,
    max_key: usize,
    mut events: Option<&mut Vec<notify::KeyEvent>>,
    invalidations: &mut Vec<tracking::Invalidation>,
    noted: &mut Noted<'_>,
) -> mmtree::Result<Outcome> {
    fn tx<'a>(
        w: &'a mut mmtree::WriteTransaction,
        watches: &'a mut store::Watches,
        db: u32,
        now: u64,
        max_key: usize,
        events: Option<&'a mut Vec<notify::KeyEvent>>,
    ) -> store::Tx<'a> {
        store::Tx {
            changes: 0,
            w,
            db,
            now,
            max_key,
            watches: (!watches.is_empty()).then_some(watches),
            events,
        }
    }
    Ok(match job {
        Job::Writes { db, ops, client } => {
            let mut out = Vec::with_capacity(ops.len());
            for op in ops {
                watches.client = *client;
                let run = Run::begin(server, *client);
                let mut t = tx(w, watches, *db, now, max_key, events.as_deref_mut());
                let reply = commands::write::apply(&mut t, op.cmd, &op.args)?;
                *noted.dirty += t.changes;
                noted.op(*db, op, &reply);
                noted.script(server, op);
                out.push(reply);
                run.end(op, watches, invalidations, true);
                // Clients blocked on a key this command filled are served before the next
                // command (as Redis serves them after each command).
                blocked.touched(*db, op.cmd, &op.args);
                blocked.serve(&mut blocking::Place {
                    w,
                    watches,
                    now,
                    max_key,
                    events: events.as_deref_mut(),
                })?;
            }
            Outcome::Replies(out)
        }
        Job::Watch { db, keys, owner } => {
            // A closed connection registers nothing. (It sets `gone` before it sends its
            // `Release`, which reaches the writer after this job: whatever this job registers
            // is released then.)
            if owner.gone.load(Ordering::Relaxed) {
                return Ok(Outcome::Failed("ERR the client is gone".into()));
            }
            *owner.in_flight.lock().expect("watch in flight") = Some((*db, keys.clone()));
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let live = tx(w, watches, *db, now, max_key, events.as_deref_mut())
                    .get(key)?
                    .is_some();
                out.push((watches.add(*db, key), live));
            }
            Outcome::Watched(out)
        }
        // Watch bookkeeping after the commit (`release_watches`).
        Job::Unwatch { .. } | Job::Release { .. } => Outcome::Replies(Vec::new()),
        Job::Block {
            db,
            op,
            id,
            notifier,
            claim,
        } => {
            watches.client = *id;
            let run = Run::begin(server, *id);
            let mut place = blocking::Place {
                w,
                watches,
                now,
                max_key,
                events: events.as_deref_mut(),
            };
            let outcome = blocked.block(&mut place, *db, op, *id, notifier, claim)?;
            noted.op(*db, op, &crate::resp::Reply::Ok);
            // A client held blocked is logged to the SLOWLOG when it is answered (Redis).
            let held = matches!(outcome, Outcome::Blocked);
            run.end(op, place.watches, invalidations, !held);
            blocked.serve(&mut place)?;
            outcome
        }
        Job::Expire { db, keys, client } => {
            watches.client = *client;
            let mut removed = 0;
            for key in keys {
                if store::expire_if_due(w, *db, key, now, events.as_deref_mut(), watches)? {
                    removed += 1;
                }
            }
            server.stats.expired.fetch_add(removed, Ordering::Relaxed);
            Outcome::Replies(Vec::new())
        }
        Job::Unblock { id, error, gone } => {
            blocked.unblock(watches, *id, *error, *gone);
            Outcome::Replies(Vec::new())
        }
        Job::Exec {
            watched,
            ops,
            client,
            track,
            ..
        } => {
            watches.client = *client;
            for k in watched {
                let live = tx(w, watches, k.db, now, max_key, events.as_deref_mut())
                    .get(&k.key)?
                    .is_some();
                if watches.version(k.db, &k.key) != Some(k.version) || (k.live && !live) {
                    return Ok(Outcome::Aborted);
                }
            }
            let mut out = Vec::with_capacity(ops.len());
            for (db, op) in ops {
                let mut run = Run::begin(server, *client);
                run.track_reads = *track;
                let mut tx = tx(w, watches, *db, now, max_key, events.as_deref_mut());
                let (reply, expired) = match op.cmd.handler {
                    commands::table::Handler::Read(read) => {
                        let mut rows = keyspace::Transaction(&mut tx);
                        let mut ks =
                            keyspace::Keyspace::new(&mut rows as &mut dyn keyspace::Rows, now);
                        let reply = read(&mut ks, op.cmd.own_args(&op.args))?;
                        (reply, std::mem::take(&mut ks.expired))
                    }
                    _ => (
                        commands::write::apply(&mut tx, op.cmd, &op.args)?,
                        Vec::new(),
                    ),
                };
                *noted.dirty += tx.changes;
                noted.op(*db, op, &reply);
                noted.script(server, op);
                out.push(reply);
                // Keys the read found expired: removed now while a client tracks (lazy expiry,
                // as a read on an event loop has them removed; see `crate::tracking`), before the
                // read's own keys are registered (`Run::end`), as Redis orders them.
                if watches.tracking {
                    for key in &expired {
                        store::expire_if_due(w, *db, key, now, events.as_deref_mut(), watches)?;
                    }
                }
                run.end(op, watches, invalidations, true);
                blocked.touched(*db, op.cmd, &op.args);
            }
            // Served after the whole transaction (as Redis: nothing sees its middle).
            blocked.serve(&mut blocking::Place {
                w,
                watches,
                now,
                max_key,
                events,
            })?;
            Outcome::Replies(out)
        }
    })
}

/// What the writer notes of each command it runs, besides its reply: the changes it made, and
/// the keys it accessed (OBJECT IDLETIME).
struct Noted<'a> {
    dirty: &'a mut u64,
    access: &'a mut access::Batch,
}

/// True for the commands that run a script (EVAL, FCALL and their kin: NUMKEYS and NOSCRIPT).
fn is_script(op: &jobs::Op) -> bool {
    op.cmd.has(commands::table::NUMKEYS) && op.cmd.has(commands::table::NOSCRIPT)
}

impl Noted<'_> {
    /// After a script: the keys its commands accessed (`Scripts::accessed`).
    fn script(&mut self, server: &Server, op: &jobs::Op) {
        if !is_script(op) {
            return;
        }
        let keys = std::mem::take(&mut *server.scripts.accessed.lock().expect("script keys"));
        for (db, key, forget) in keys {
            if forget {
                self.access.forget(db, &key);
            } else {
                self.access.touch(db, &key);
            }
        }
    }

    /// `op` ran on database `db` and answered `reply`: its keys were accessed (or deleted, or
    /// flushed), unless it is one of the commands that look at a key without touching it
    /// (TYPE, TTL, EXISTS, OBJECT, …: the table's `NO_TOUCH`, Redis' `LOOKUP_NOTOUCH`).
    fn op(&mut self, db: u32, op: &jobs::Op, reply: &crate::resp::Reply) {
        use commands::table::{FORGETS, NO_TOUCH};
        let cmd = op.cmd;
        if cmd.has(NO_TOUCH) {
            return;
        }
        if !cmd.has_keys() {
            if matches!(reply, crate::resp::Reply::Error(_)) {
                return;
            }
            // The keyless writes that drop keys by the database.
            match cmd.name {
                "FLUSHDB" => self.access.flush(Some(db)),
                "FLUSHALL" => self.access.flush(None),
                "SWAPDB" => {
                    let n = |i: usize| {
                        op.args
                            .get(i)
                            .and_then(|a| std::str::from_utf8(a).ok()?.parse::<u32>().ok())
                    };
                    if let (Some(a), Some(b)) = (n(1), n(2)) {
                        self.access.swap(a, b);
                    }
                }
                _ => {}
            }
            return;
        }
        let forget = cmd.has(FORGETS);
        // The common case (one key, the first argument) without collecting the keys.
        use commands::table::{GEO_STORE_KEY, NUMKEYS, STORE_KEY, STREAMS};
        if cmd.keys == (1, 1, 1) && !cmd.has(NUMKEYS | STREAMS | STORE_KEY | GEO_STORE_KEY) {
            if let Some(key) = op.args.get(1) {
                if forget {
                    self.access.forget(db, key);
                } else {
                    self.access.touch(db, key);
                }
            }
            return;
        }
        for key in cmd.key_args(&op.args) {
            if forget {
                self.access.forget(db, key);
            } else {
                self.access.touch(db, key);
            }
        }
    }
}

/// The watches a segment's jobs give up, whether its commit was made or not: an EXEC's (it
/// answered them), UNWATCH's, and a closed connection's WATCH in flight. Done here, by the
/// writer, after the segment's WATCH jobs registered theirs (jobs reach the writer in the order
/// they were sent), so each registration is undone exactly once.
fn release_watches(watches: &mut store::Watches, segment: &[WriteBatch]) {
    let releases = |job: &Job| {
        matches!(job, Job::Unwatch { .. } | Job::Release { .. })
            || matches!(job, Job::Exec { watched, .. } if !watched.is_empty())
    };
    if !segment.iter().any(|b| releases(&b.job)) {
        return;
    }
    for batch in segment {
        match &batch.job {
            Job::Exec { watched, .. } => {
                for k in watched {
                    watches.remove(k.db, &k.key);
                }
            }
            Job::Unwatch { keys } => {
                for (db, key) in keys {
                    watches.remove(*db, key);
                }
            }
            Job::Release { claim } => {
                let in_flight = claim.in_flight.lock().expect("watch in flight").take();
                if let Some((db, keys)) = in_flight {
                    for key in keys {
                        watches.remove(db, &key);
                    }
                }
            }
            Job::Writes { .. }
            | Job::Watch { .. }
            | Job::Block { .. }
            | Job::Unblock { .. }
            | Job::Expire { .. } => {}
        }
    }
}
