//! One client connection as a state machine the event loop drives (`super::event`): the loop
//! appends what the socket gave to `input`, calls `process`, and sends what `out` holds. Commands
//! run in order; consecutive writes are sent to the group commit as one job, and while a job is
//! out the connection waits (`waiting`): the command after it is held (`stalled`) and runs once
//! the writer's answer has been put in place (`resume`), so replies keep request order and a read
//! after a write sees it. After MULTI commands are queued; EXEC and WATCH are jobs for the writer
//! too (see `exec` and `store::Watches`).

use crate::commands::table::{self, Command, Handler, COMMANDS};
use crate::event::{Event, Notifier};
use crate::keyspace::{Keyspace, Rows, Snapshot};
use crate::pubsub::{encode_message, Handle, State};
use crate::resp::{parse, Out, Parsed, Partial, Reply};
use crate::store::{self, expires_name, glob, now_ms, table_name, View, WatchedKey, DATABASES};
use crate::{Job, Outcome, Server, WriteBatch};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// HRANDFIELD and SRANDMEMBER pick at most this many at a time.
const RANDOM_PICKS_MAX: u64 = 10_000_000;
/// RANDOMKEY picks uniformly among at most this many keys (by walking to a random index);
/// beyond, from a random point of the key range.
const RANDOMKEY_EXACT: u64 = 10_000;
/// The most unparsed request bytes a client may have buffered (Redis' query buffer limit).
pub const QUERY_BUFFER_MAX: usize = 1 << 30;
/// Request and reply buffers larger than this are freed once empty (not kept per connection).
pub const KEEP_BUFFER: usize = 1 << 20;

pub struct Conn {
    server: Arc<Server>,
    pub out: Out,
    pub id: u64,
    name: Option<Vec<u8>>,
    db: u32,
    authed: bool,
    auth_failures: u32,
    limiter: Option<crate::limiter::LeakyBucket>,
    /// Write commands waiting to be sent to the group commit, in order.
    pending: Vec<Vec<Vec<u8>>>,
    pending_db: u32,
    /// How many writes the job with the writer holds (for a failed commit's errors).
    pending_count: usize,
    /// Per pending write: sent while CLIENT REPLY said not to answer.
    pending_silent: Vec<bool>,
    /// CLIENT REPLY OFF is in force; SKIP drops the next command's reply.
    replies_off: bool,
    skip_next: bool,
    /// The command being run is not to be answered; so is the job it waits for.
    silent_now: bool,
    waiting_silent: bool,
    quit: bool,
    /// After MULTI: the queued commands.
    multi: Option<Vec<Vec<Vec<u8>>>>,
    /// A command failed to queue: EXEC answers EXECABORT.
    multi_failed: bool,
    /// Keys under WATCH, as the writer saw them then.
    watched: Vec<WatchedKey>,
    /// This connection as the others see it (CLIENT LIST, PUBLISH, CLIENT KILL).
    handle: Arc<Handle>,
    /// SUBSCRIBEd channels and PSUBSCRIBEd patterns, in subscription order.
    channels: Vec<Vec<u8>>,
    patterns: Vec<Vec<u8>>,
    /// Request bytes received and not yet run.
    pub input: Vec<u8>,
    partial: Partial,
    /// A command read (and admitted) but not run yet: the writes before it are out.
    stalled: Option<(Vec<Vec<u8>>, Prepared)>,
    /// A protocol error found after writes still to be answered: replied once they are.
    protocol_error: Option<String>,
    /// The writer's answer this connection waits for, and what to do with it.
    waiting: Option<Wait>,
    /// Failed AUTH: nothing more is run or sent before this (the rate limit on guessing).
    pub paused_until: Option<Instant>,
    /// When the oldest incomplete request began (reset whenever a command completes).
    pub partial_since: Option<Instant>,
    pub last_activity: Instant,
    notifier: Notifier,
    /// The snapshot the reads of this `process` call share, and its database.
    snap: Option<(u32, Snap)>,
    /// While EXEC's replies are put in place: the snapshot of its own commit.
    exec_snapshot: Option<Arc<mmtree::ReadTransaction>>,
    /// The clock, as of the event loop's round (CLIENT LIST's idle time; expiry, in Unix ms).
    pub now: Instant,
    now_ms: u64,
}

/// What `process` stopped at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every complete command has run; more input is welcome.
    Idle,
    /// A job is with the writer (`resume` continues), or a failed AUTH holds the connection.
    Waiting,
    /// Send what `out` holds, then close.
    Close,
}

enum Flow {
    Continue,
    Close,
}

/// A command's name, its table entry (None: unknown) and the checks made once, when it was
/// read.
struct Prepared {
    name: Cow<'static, str>,
    cmd: Option<&'static Command>,
    admitted: bool,
}

/// What a connection does with the writer's answer.
enum Wait {
    /// Replies to pipelined writes (`pending_count` of them); `silent`: those sent while CLIENT
    /// REPLY said not to answer.
    Writes { silent: Vec<bool> },
    /// WATCH of these keys on `db`.
    Watch { db: u32, keys: Vec<Vec<u8>> },
    /// EXEC of `queue`; `slots` says where each reply comes from.
    Exec {
        queue: Vec<Vec<Vec<u8>>>,
        slots: Vec<Slot>,
        /// The database selected once the queue has run (it may SELECT).
        db_after: u32,
    },
}

/// Where one reply of EXEC comes from.
enum Slot {
    Writer,
    Done(Reply),
    Local(u32, &'static Command),
}

self_cell::self_cell!(
    /// A snapshot and one database's tables in it, kept while a connection runs the commands
    /// it has read: every one of them was received before the snapshot was taken, so each sees
    /// every write answered before it arrived (the connection's own writes included: the
    /// snapshot is dropped when a job goes to the writer, and when `process` returns).
    struct Snap {
        owner: Arc<mmtree::ReadTransaction>,
        #[covariant]
        dependent: View,
    }
);

impl Conn {
    pub fn new(
        server: Arc<Server>,
        id: u64,
        addr: String,
        laddr: String,
        notifier: Notifier,
    ) -> Conn {
        let authed = server.config.requirepass.is_none();
        let limiter = server
            .config
            .client_rate
            .map(|rate| crate::limiter::LeakyBucket::new(rate, server.config.client_burst));
        let handle = Arc::new(Handle {
            id,
            addr,
            laddr,
            created: Instant::now(),
            state: Mutex::new(State {
                multi: -1,
                ..State::default()
            }),
            killed: AtomicBool::new(false),
            mail: Mutex::new(Vec::new()),
            has_mail: AtomicBool::new(false),
            notifier: notifier.clone(),
            gone: AtomicBool::new(false),
            watch_in_flight: Mutex::new(None),
            buffers: crate::pubsub::Buffers::default(),
        });
        server
            .registry
            .lock()
            .expect("registry")
            .insert(id, handle.clone());
        Conn {
            handle,
            channels: Vec::new(),
            patterns: Vec::new(),
            server,
            out: Out::new(),
            id,
            name: None,
            db: 0,
            authed,
            auth_failures: 0,
            limiter,
            pending: Vec::new(),
            pending_db: 0,
            pending_count: 0,
            pending_silent: Vec::new(),
            replies_off: false,
            skip_next: false,
            silent_now: false,
            waiting_silent: false,
            quit: false,
            multi: None,
            multi_failed: false,
            watched: Vec::new(),
            input: Vec::new(),
            partial: Partial::default(),
            stalled: None,
            protocol_error: None,
            waiting: None,
            paused_until: None,
            partial_since: None,
            last_activity: Instant::now(),
            notifier,
            snap: None,
            exec_snapshot: None,
            now: Instant::now(),
            now_ms: now_ms(),
        }
    }

    /// What CLIENT LIST shows of this connection's buffers and socket: `fd`, the request bytes
    /// not yet run (`qbuf`) and the reply bytes not yet sent (`omem`).
    pub fn show_buffers(&self, fd: i32, unsent: usize) {
        let b = &self.handle.buffers;
        b.fd.store(fd, Ordering::Relaxed);
        b.qbuf.store(self.input.len() as u64, Ordering::Relaxed);
        b.omem.store(unsent as u64, Ordering::Relaxed);
    }

    /// Set by CLIENT KILL from another connection.
    pub fn killed(&self) -> bool {
        self.handle.killed.load(Ordering::Relaxed)
    }

    /// True if nothing is held: no job out, no command stalled or queued for the writer.
    pub fn is_quiet(&self) -> bool {
        self.waiting.is_none() && self.stalled.is_none() && self.pending.is_empty()
    }

    /// Runs every complete command in `input`, in order, until one needs the writer's answer.
    /// Sets the clock this connection's next commands read (the event loop reads it once per
    /// round for every connection it serves).
    pub fn tick(&mut self, now: Instant, now_ms: u64) {
        self.now = now;
        self.now_ms = now_ms;
    }

    pub fn process(&mut self) -> Status {
        if let Some(until) = self.paused_until {
            if self.now < until {
                return Status::Waiting;
            }
            self.paused_until = None;
        }
        let mut used = 0;
        let status = loop {
            if self.waiting.is_some() || self.paused_until.is_some() {
                break Status::Waiting;
            }
            if self.quit {
                break Status::Close;
            }
            self.take_mail();
            let (args, prepared) = match self.stalled.take() {
                Some(stalled) => stalled,
                None => {
                    if let Some(e) = self.protocol_error.take() {
                        self.out.error(&e);
                        break Status::Close;
                    }
                    let limits = if self.authed {
                        self.server.config.limits
                    } else {
                        self.server.config.limits.unauthenticated()
                    };
                    match parse(&self.input[used..], &limits, &mut self.partial) {
                        Parsed::Incomplete if self.pending.is_empty() => break Status::Idle,
                        Parsed::Incomplete => {
                            self.flush_pending();
                            continue;
                        }
                        Parsed::Error(e) => {
                            // Answered after the writes before it.
                            self.protocol_error = Some(e);
                            self.flush_pending();
                            continue;
                        }
                        Parsed::Command(args, n) => {
                            used += n;
                            if args.is_empty() {
                                continue;
                            }
                            let prepared = self.prepare(&args);
                            (args, prepared)
                        }
                    }
                }
            };
            if !self.pending.is_empty() && !self.joins_batch(&prepared) {
                self.stalled = Some((args, prepared));
                self.flush_pending();
                continue;
            }
            // CLIENT REPLY OFF or SKIP: the reply is dropped (pub/sub confirmations and
            // messages are pushes, which Redis sends anyway).
            let skip = std::mem::take(&mut self.skip_next);
            let client_reply = &*prepared.name == "CLIENT"
                && args
                    .get(1)
                    .is_some_and(|s| s.eq_ignore_ascii_case(b"REPLY"));
            let silent = (skip || self.replies_off)
                && !client_reply
                && !prepared.cmd.is_some_and(|c| c.has(table::PUSHES));
            let mark = self.out.buf.len();
            self.silent_now = silent;
            let flow = self.command(args, prepared);
            self.silent_now = false;
            if silent {
                self.out.buf.truncate(mark);
            }
            if let Flow::Close = flow {
                break Status::Close;
            }
        };
        self.input.drain(..used);
        if self.input.is_empty() && self.input.capacity() > KEEP_BUFFER {
            self.input = Vec::new();
        }
        // A request is incomplete only if the parse said so: complete commands held behind a
        // job with the writer are not a slow sender's (a slow commit must not cut them off).
        self.partial_since = match (status, self.input.is_empty(), used > 0) {
            (Status::Idle, false, true) => Some(self.now),
            (Status::Idle, false, false) => self.partial_since.or(Some(self.now)),
            _ => None,
        };
        self.snap = None;
        status
    }

    /// Puts the writer's answer in place and runs what waited for it (call `process` next).
    pub fn resume(&mut self, outcome: Outcome) {
        let mark = self.out.buf.len();
        let silent = std::mem::take(&mut self.waiting_silent);
        match self.waiting.take() {
            Some(Wait::Writes { silent }) => {
                let replies = match outcome {
                    Outcome::Replies(replies) => replies,
                    Outcome::Failed(e) => vec![Reply::Error(e); self.pending_count],
                    _ => vec![
                        Reply::Error("ERR unexpected writer answer".into());
                        self.pending_count
                    ],
                };
                for (reply, silent) in replies.iter().zip(silent) {
                    if !silent {
                        self.out.reply(reply);
                    }
                }
            }
            Some(Wait::Watch { db, keys }) => match outcome {
                Outcome::Watched(states) => {
                    // Ours now: `unwatch` drops them.
                    self.handle
                        .watch_in_flight
                        .lock()
                        .expect("watch in flight")
                        .take();
                    for (key, (version, live)) in keys.into_iter().zip(states) {
                        self.watched.push(WatchedKey {
                            db,
                            key,
                            version,
                            live,
                        });
                    }
                    self.out.simple("OK");
                }
                Outcome::Failed(e) => {
                    self.drop_watch_in_flight(false);
                    self.out.error(&e)
                }
                _ => {
                    self.drop_watch_in_flight(false);
                    self.out.error("ERR unexpected writer answer")
                }
            },
            Some(Wait::Exec {
                queue,
                slots,
                db_after,
            }) => self.exec_done(queue, slots, db_after, outcome),
            None => {}
        }
        if silent {
            self.out.buf.truncate(mark);
        }
        self.pending_count = 0;
        self.snap = None;
    }

    /// Messages PUBLISHed to this connection since it last looked go out before its next reply.
    fn take_mail(&mut self) {
        if self.handle.has_mail.load(Ordering::Acquire) {
            let mut mail = self.handle.mail.lock().expect("client mail");
            self.handle.has_mail.store(false, Ordering::Release);
            self.out.buf.extend_from_slice(&mail);
            mail.clear();
            if mail.capacity() > KEEP_BUFFER {
                *mail = Vec::new();
            }
        }
    }

    /// The checks a command gets once, as it is read: counted, shown in CLIENT LIST, and
    /// admitted (or not) by the rate limiters.
    fn prepare(&mut self, args: &[Vec<u8>]) -> Prepared {
        let cmd = table::lookup(&args[0]);
        let name = match cmd {
            Some(c) => Cow::Borrowed(c.name),
            None => Cow::Owned(String::from_utf8_lossy(&args[0]).to_ascii_uppercase()),
        };
        let stats = &self.server.stats;
        stats.commands.fetch_add(1, Ordering::Relaxed);
        if let Some(c) = cmd {
            self.server.command_calls[c.index()].fetch_add(1, Ordering::Relaxed);
        }
        let has = |flag: u32| cmd.is_some_and(|c| c.has(flag));
        {
            let mut state = self.handle.state.lock().expect("client state");
            state.cmd.clear();
            state
                .cmd
                .extend(name.chars().map(|c| c.to_ascii_lowercase()));
            if has(table::CONTAINER) && args.len() > 1 {
                state.cmd.push('|');
                state
                    .cmd
                    .push_str(&String::from_utf8_lossy(&args[1]).to_ascii_lowercase());
            }
            state.last = Some(self.now);
            state.db = self.db;
            state.multi = self.multi.as_ref().map_or(-1, |q| q.len() as i64);
            state.resp3 = self.out.resp3;
        }
        // Surge protection: per connection, then global (a command refused for want of AUTH
        // is not counted: it does no work). Connection setup (HELLO, AUTH, CLIENT SETNAME and
        // SETINFO: what a client library sends at connect) is not charged to the connection's
        // own bucket, so a small per-connection burst is the application's; the global bucket,
        // which protects the server, still counts it.
        let setup = has(table::SETUP)
            || table::SETUP_SUBCOMMANDS.iter().any(|&(command, sub)| {
                *name == *command
                    && args
                        .get(1)
                        .is_some_and(|s| s.eq_ignore_ascii_case(sub.as_bytes()))
            });
        let unauthenticated = !self.authed && !has(table::NO_AUTH);
        let own = if setup { None } else { self.limiter.as_mut() };
        let limited = own.is_some() || self.server.global_limiter.is_some();
        let admitted = unauthenticated
            || own.is_none_or(|l| l.admit())
                && self
                    .server
                    .global_limiter
                    .as_ref()
                    .is_none_or(|l| l.lock().expect("limiter").admit());
        if limited && admitted && !unauthenticated {
            stats.limiter_admitted.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(l) = &self.limiter {
            self.handle
                .buffers
                .limiter_level
                .store(l.level().to_bits(), Ordering::Relaxed);
        }
        Prepared {
            name,
            cmd,
            admitted,
        }
    }

    /// True if the command is a write that joins the writes waiting to go to the writer.
    fn joins_batch(&self, p: &Prepared) -> bool {
        self.authed
            && p.admitted
            && self.multi.is_none()
            && !self.subscribed_resp2()
            && self.pending_db == self.db
            && p.cmd.is_some_and(|c| c.has(table::WRITE))
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pending);
        self.pending_count = ops.len();
        let silent = std::mem::take(&mut self.pending_silent);
        self.submit(
            Job::Writes {
                db: self.pending_db,
                ops,
            },
            Wait::Writes { silent },
        );
    }

    /// Hands a job to the group-commit writer; its answer comes back through the event loop
    /// (`resume`). Until then the connection runs nothing more.
    fn submit(&mut self, job: Job, wait: Wait) {
        let notifier = self.notifier.clone();
        let id = self.id;
        let batch = WriteBatch {
            job,
            reply: Box::new(move |outcome| notifier.send(Event::Outcome(id, outcome))),
        };
        // WATCH and EXEC answer in `resume`: silenced there if CLIENT REPLY said so now.
        self.waiting_silent = self.silent_now && !matches!(wait, Wait::Writes { .. });
        self.waiting = Some(wait);
        self.snap = None;
        // Sent under the lock; many connections' jobs queue up while the writer commits, and it
        // takes them all as the next group.
        let sent = self
            .server
            .writer
            .lock()
            .expect("writer channel")
            .send(batch);
        if sent.is_err() {
            self.resume(Outcome::Failed("ERR the server is shutting down".into()));
        }
    }

    /// Unregisters the keys of a WATCH the writer registered but whose answer this connection
    /// will not take (it closes, or the commit failed); `closing` also stops later WATCH jobs.
    fn drop_watch_in_flight(&mut self, closing: bool) {
        let mut watches = self.server.watches.lock().expect("watches");
        if closing {
            self.handle.gone.store(true, Ordering::Relaxed);
        }
        let in_flight = self
            .handle
            .watch_in_flight
            .lock()
            .expect("watch in flight")
            .take();
        if let Some((db, keys)) = in_flight {
            for key in keys {
                watches.remove(db, &key);
            }
        }
    }

    /// Drops every WATCH of this connection.
    fn unwatch(&mut self) {
        if self.watched.is_empty() {
            return;
        }
        let mut watches = self.server.watches.lock().expect("watches");
        for k in self.watched.drain(..) {
            watches.remove(k.db, &k.key);
        }
    }

    /// MULTI, EXEC, DISCARD, WATCH and UNWATCH (outside MULTI), as Redis 7.
    fn transaction(&mut self, cmd: &Command, args: &[Vec<u8>]) {
        let name = cmd.name;
        if !cmd.arity_ok(args.len()) {
            if self.multi.is_some() {
                self.multi_failed = true;
            }
            self.wrong_args(name);
            return;
        }
        match name {
            "MULTI" if self.multi.is_some() => self.out.error("ERR MULTI calls can not be nested"),
            "MULTI" => {
                self.multi = Some(Vec::new());
                self.multi_failed = false;
                self.out.simple("OK");
            }
            "DISCARD" if self.multi.is_none() => self.out.error("ERR DISCARD without MULTI"),
            "DISCARD" => {
                self.multi = None;
                self.multi_failed = false;
                self.unwatch();
                self.out.simple("OK");
            }
            "WATCH" if self.multi.is_some() => {
                self.out.error("ERR WATCH inside MULTI is not allowed")
            }
            "WATCH" => {
                let db = self.db;
                let mut keys: Vec<Vec<u8>> = Vec::new();
                for key in &args[1..] {
                    let known = keys.contains(key)
                        || self.watched.iter().any(|w| w.db == db && &w.key == key);
                    if !known {
                        keys.push(key.clone());
                    }
                }
                if keys.is_empty() {
                    self.out.simple("OK");
                    return;
                }
                self.submit(
                    Job::Watch {
                        db,
                        keys: keys.clone(),
                        owner: self.handle.clone(),
                    },
                    Wait::Watch { db, keys },
                );
            }
            "UNWATCH" => {
                self.unwatch();
                self.out.simple("OK");
            }
            _ => self.exec(),
        }
    }

    /// EXEC: the queued commands run in the writer as one transaction (writes, and the keyspace
    /// reads, which see the transaction's earlier writes); SELECT is resolved here, and the rest
    /// (PING, ECHO, INFO, CONFIG, CLIENT, COMMAND, RANDOMKEY, MMTREE.RANGE, …) run here after
    /// the commit, each reply in its place.
    fn exec(&mut self) {
        let Some(queue) = self.multi.take() else {
            self.out.error("ERR EXEC without MULTI");
            return;
        };
        if std::mem::take(&mut self.multi_failed) {
            self.unwatch();
            self.out
                .error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        let mut db = self.db;
        let mut ops = Vec::new();
        let mut slots = Vec::with_capacity(queue.len());
        for args in &queue {
            // Every queued command is in the table (checked as it was queued).
            let Some(cmd) = table::lookup(&args[0]) else {
                slots.push(Slot::Done(Reply::Error(unknown_command(args))));
                continue;
            };
            if cmd.name == "SELECT" {
                slots.push(Slot::Done(
                    match std::str::from_utf8(&args[1])
                        .ok()
                        .and_then(|d| d.parse::<u32>().ok())
                    {
                        Some(d) if d < DATABASES => {
                            db = d;
                            Reply::Ok
                        }
                        Some(_) => Reply::Error("ERR DB index is out of range".into()),
                        None => Reply::Error("ERR value is not an integer or out of range".into()),
                    },
                ));
            } else if matches!(cmd.handler, Handler::Write(_) | Handler::Read(_)) {
                ops.push((db, args.clone()));
                slots.push(Slot::Writer);
            } else {
                slots.push(Slot::Local(db, cmd));
            }
        }
        let watched = self.watched.clone();
        let snapshot = slots.iter().any(|s| matches!(s, Slot::Local(..)));
        self.submit(
            Job::Exec {
                watched,
                ops,
                snapshot,
            },
            Wait::Exec {
                queue,
                slots,
                db_after: db,
            },
        );
    }

    /// EXEC's replies, once the writer has run the queue (or found a watched key changed).
    fn exec_done(
        &mut self,
        queue: Vec<Vec<Vec<u8>>>,
        slots: Vec<Slot>,
        db_after: u32,
        outcome: Outcome,
    ) {
        self.unwatch();
        let replies = match outcome {
            Outcome::Replies(replies) => replies,
            Outcome::Exec(replies, snapshot) => {
                // The queued commands run here read the state the transaction left.
                self.exec_snapshot = Some(snapshot);
                replies
            }
            Outcome::Aborted => {
                self.out.null_array();
                return;
            }
            Outcome::Failed(e) => {
                self.out.error(&e);
                return;
            }
            Outcome::Watched(_) => {
                self.out.error("ERR unexpected writer answer");
                return;
            }
        };
        let mut replies = replies.into_iter();
        self.out.array(queue.len());
        for (slot, args) in slots.into_iter().zip(&queue) {
            match slot {
                Slot::Writer => {
                    let reply = replies.next().unwrap_or(Reply::Null);
                    self.out.reply(&reply);
                }
                Slot::Done(reply) => self.out.reply(&reply),
                Slot::Local(at, cmd) => {
                    self.db = at;
                    if cmd.name == "UNWATCH" {
                        self.out.simple("OK");
                    } else {
                        let _ = self.run(cmd, args);
                    }
                }
            }
        }
        self.db = db_after;
        self.exec_snapshot = None;
        self.snap = None;
    }

    /// Runs one command (the writes before it, unless it joins them, have been answered).
    fn command(&mut self, args: Vec<Vec<u8>>, prepared: Prepared) -> Flow {
        let name: &str = &prepared.name;
        let cmd = prepared.cmd;
        let has = |flag: u32| cmd.is_some_and(|c| c.has(flag));
        // Before authentication only AUTH, HELLO and QUIT are served.
        if !self.authed && !has(table::NO_AUTH) {
            self.multi_failed |= self.multi.is_some();
            self.out.error("NOAUTH Authentication required.");
            return Flow::Continue;
        }
        if !prepared.admitted {
            self.server.stats.rejected.fetch_add(1, Ordering::Relaxed);
            if name == "EXEC" && self.multi.is_some() {
                // As Redis' EXEC refused before it runs: the transaction is discarded (a
                // connection left in MULTI would queue the client's next commands).
                self.multi = None;
                self.multi_failed = false;
                self.unwatch();
                self.out.error(
                    "EXECABORT Transaction discarded because of: BUSY rate limit exceeded, retry later",
                );
                return Flow::Continue;
            }
            self.multi_failed |= self.multi.is_some();
            self.out.error("BUSY rate limit exceeded, retry later");
            return Flow::Continue;
        }
        let Some(cmd) = cmd else {
            self.multi_failed |= self.multi.is_some();
            self.out.error(&unknown_command(&args));
            return Flow::Continue;
        };
        // A subscribed RESP2 connection may only (un)subscribe, PING and QUIT (as Redis 7.0).
        if self.subscribed_resp2() && !cmd.has(table::PUBSUB) {
            self.out.error(&format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", name.to_ascii_lowercase()));
            return Flow::Continue;
        }
        if cmd.has(table::TRANSACTION) && !(cmd.has(table::QUEUED) && self.multi.is_some()) {
            self.transaction(cmd, &args);
            return Flow::Continue;
        }
        if self.multi.is_some() && name != "QUIT" {
            // Queued, or refused (and the transaction marked) if it could never run.
            if cmd.has(table::NO_MULTI) {
                self.multi_failed = true;
                self.out
                    .error("ERR Command not allowed inside a transaction");
            } else if !cmd.arity_ok(args.len()) {
                self.multi_failed = true;
                self.wrong_args(name);
            } else {
                self.multi.as_mut().expect("in MULTI").push(args);
                self.out.simple("QUEUED");
            }
            return Flow::Continue;
        }
        if cmd.has(table::WRITE) {
            debug_assert!(self.pending.is_empty() || self.pending_db == self.db);
            self.pending_db = self.db;
            self.pending.push(args);
            self.pending_silent.push(self.silent_now);
            return Flow::Continue;
        }
        // Every argument a command reads is there (its arity, as Redis checks it first).
        if !cmd.arity_ok(args.len()) {
            self.wrong_args(name);
            return Flow::Continue;
        }
        let flow = self.run(cmd, &args);
        if self.quit {
            Flow::Close
        } else {
            flow
        }
    }

    /// One command's entry in COMMAND / COMMAND INFO, in Redis 7's shape: name, arity, flags,
    /// first key, last key, key step, ACL categories, tips, key specs, subcommands (the last
    /// four empty).
    fn command_info(&mut self, c: &Command) {
        let flags: &[&str] = if c.has(table::WRITE) {
            &["write"]
        } else if c.has(table::READONLY) {
            &["readonly"]
        } else {
            &[]
        };
        let (first, last, step) = c.keys;
        self.out.array(10);
        self.out.bulk(c.name.to_ascii_lowercase().as_bytes());
        self.out.int(i64::from(c.arity));
        self.out.array(flags.len());
        for f in flags {
            self.out.simple(f);
        }
        self.out.int(i64::from(first));
        self.out.int(i64::from(last));
        self.out.int(i64::from(step));
        for _ in 0..4 {
            self.out.array(0);
        }
    }

    /// True while the connection has a channel or pattern subscription.
    pub fn is_subscriber(&self) -> bool {
        !(self.channels.is_empty() && self.patterns.is_empty())
    }

    /// A RESP2 connection with a subscription: only pub/sub commands, PING and QUIT.
    fn subscribed_resp2(&self) -> bool {
        let subscribed = !(self.channels.is_empty() && self.patterns.is_empty());
        subscribed && !self.out.resp3
    }

    fn wrong_args(&mut self, name: &str) {
        self.out.error(&format!(
            "ERR wrong number of arguments for '{}' command",
            name.to_ascii_lowercase()
        ));
    }

    /// Runs a command that is not a write (its arity checked): a keyspace read on this
    /// connection's snapshot, or a session command here.
    fn run(&mut self, cmd: &'static Command, args: &[Vec<u8>]) -> Flow {
        let a = &args[1..];
        let now = self.now_ms;
        let name = cmd.name;
        if let Handler::Read(read) = cmd.handler {
            self.with_table(|conn, t| {
                let mut rows = Snapshot(t);
                let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, now);
                match read(&mut ks, name, a) {
                    Ok(reply) => conn.out.reply(&reply),
                    Err(e) => {
                        eprintln!("mmtree serve: {name}: {e}");
                        conn.out.error(&format!("ERR {e}"));
                    }
                }
            });
            return Flow::Continue;
        }
        match name {
            "PING" if self.subscribed_resp2() => {
                if a.len() > 1 {
                    self.wrong_args(name);
                } else {
                    self.out.array(2);
                    self.out.bulk(b"pong");
                    self.out.bulk(a.first().map_or(&b""[..], |m| m.as_slice()));
                }
            }
            "SUBSCRIBE" | "PSUBSCRIBE" if !a.is_empty() => self.subscribe(name == "PSUBSCRIBE", a),
            "UNSUBSCRIBE" | "PUNSUBSCRIBE" => self.unsubscribe(name == "PUNSUBSCRIBE", a),
            "PUBLISH" if a.len() == 2 => self.publish(&a[0], &a[1]),
            "PUBSUB" => self.pubsub(args),
            // No functions can be loaded: FLUSH has nothing to do (Redis' test harness calls it
            // before every test file) and LIST is empty.
            "FUNCTION" => match String::from_utf8_lossy(&a[0]).to_ascii_uppercase().as_str() {
                "FLUSH"
                    if a.len() == 1
                        || a.len() == 2
                            && (a[1].eq_ignore_ascii_case(b"ASYNC")
                                || a[1].eq_ignore_ascii_case(b"SYNC")) =>
                {
                    self.out.simple("OK")
                }
                "FLUSH" => self.out.error("ERR syntax error"),
                "LIST" => self.out.array(0),
                _ => self.out.error(&unknown_subcommand(args)),
            },
            "PING" => match a.len() {
                0 => self.out.simple("PONG"),
                1 => self.out.bulk(&a[0]),
                _ => self.wrong_args(name),
            },
            "ECHO" if a.len() == 1 => self.out.bulk(&a[0]),
            "QUIT" => {
                self.out.simple("OK");
                return Flow::Close;
            }
            "AUTH" => return self.auth(a),
            "HELLO" => return self.hello(a),
            "SELECT" if a.len() != 1 => self.wrong_args(name),
            "SELECT" => match a
                .first()
                .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u32>().ok())
            {
                Some(db) if a.len() == 1 && db < DATABASES => {
                    self.db = db;
                    self.handle.state.lock().expect("client state").db = db;
                    self.out.simple("OK");
                }
                Some(_) => self.out.error("ERR DB index is out of range"),
                None if a.len() != 1 => self.wrong_args(name),
                None => self
                    .out
                    .error("ERR value is not an integer or out of range"),
            },
            "CLIENT" => self.client(args),
            "COMMAND" => match a
                .first()
                .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase())
            {
                None => {
                    self.out.array(COMMANDS.len());
                    for c in COMMANDS {
                        self.command_info(c);
                    }
                }
                Some(sub) if sub == "COUNT" && a.len() == 1 => self.out.int(COMMANDS.len() as i64),
                Some(sub) if sub == "INFO" => {
                    let asked: Vec<Option<&Command>> = if a.len() == 1 {
                        COMMANDS.iter().map(Some).collect()
                    } else {
                        a[1..].iter().map(|n| table::lookup(n)).collect()
                    };
                    self.out.array(asked.len());
                    for c in asked {
                        match c {
                            Some(c) => self.command_info(c),
                            None => self.out.null(),
                        }
                    }
                }
                Some(sub) if sub == "LIST" && a.len() == 1 => {
                    self.out.array(COMMANDS.len());
                    for c in COMMANDS {
                        self.out.bulk(c.name.to_ascii_lowercase().as_bytes());
                    }
                }
                Some(sub) if sub == "DOCS" => self.out.map(0),
                Some(_) => self.out.error(&unknown_subcommand(args)),
            },
            "CONFIG" => self.config(a),
            "INFO" => {
                let info = self.server.info(a);
                self.out.verbatim(info.as_bytes());
            }
            // Every commit so far written to the tree and synced (Redis' SAVE writes its
            // dataset): a checkpoint, which waits for a commit in progress.
            "SAVE" if a.is_empty() => match self.server.db.checkpoint() {
                Ok(()) => self.out.simple("OK"),
                Err(e) => self.out.error(&format!("ERR {e}")),
            },
            "SHUTDOWN" => {
                let mode = a
                    .first()
                    .map(|m| String::from_utf8_lossy(m).to_ascii_uppercase());
                let ok = a.len() <= 1
                    && mode
                        .as_deref()
                        .is_none_or(|m| matches!(m, "SAVE" | "NOSAVE" | "NOW" | "FORCE"));
                if !ok {
                    self.out.error("ERR syntax error");
                } else {
                    // As Redis: no reply; the connection closes as the server stops
                    // gracefully (every commit made is kept whatever the mode).
                    eprintln!("mmtree serve: SHUTDOWN from client {}", self.id);
                    self.server
                        .shutdown_requested
                        .store(true, Ordering::Relaxed);
                    return Flow::Close;
                }
            }
            "TIME" => {
                let since = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                self.out.array(2);
                self.out.bulk(since.as_secs().to_string().as_bytes());
                self.out.bulk(since.subsec_micros().to_string().as_bytes());
            }
            "HRANDFIELD" if (1..=3).contains(&a.len()) => self.hrandfield(a, now, false),
            "SRANDMEMBER" if (1..=2).contains(&a.len()) => self.hrandfield(a, now, true),
            "MEMORY" if a[0].eq_ignore_ascii_case(b"USAGE") && a.len() >= 2 => {
                self.memory_usage(&a[1..], now)
            }
            "MEMORY" => self.out.error(&unknown_subcommand(args)),
            // Every value is its own rows: nothing is shared, so a live key's count is 1.
            "OBJECT" if a[0].eq_ignore_ascii_case(b"REFCOUNT") && a.len() == 2 => {
                self.with_table(|conn, t| match t.live(&a[1], now) {
                    Some(_) => conn.out.int(1),
                    None => conn.out.null(),
                })
            }
            "OBJECT" => self.out.error(&unknown_subcommand(args)),
            "RANDOMKEY" => self.randomkey(now),
            "MMTREE.RANGE" if a.len() >= 2 => return self.range(a, now),
            _ => self.wrong_args(name),
        }
        Flow::Continue
    }

    /// Runs `f` with this connection's database (its data, expiry, type and hash tables) in a
    /// snapshot taken after the commands being run were received: the one kept since the last
    /// read of this `process` call, or a fresh one (see `Snap`).
    fn with_table(&mut self, f: impl FnOnce(&mut Conn, &View<'_>)) {
        let db = self.db;
        let snap = match self.snap.take() {
            Some((at, snap)) if at == db => snap,
            _ => {
                let snapshot = match &self.exec_snapshot {
                    Some(s) => Ok(s.clone()),
                    None => self.server.db.begin_read().map(Arc::new),
                };
                let opened = snapshot.and_then(|snapshot| {
                    Snap::try_new(snapshot, |snapshot| {
                        Ok::<_, mmtree::Error>(View {
                            data: snapshot.table(table_name(db))?,
                            expires: snapshot.table(expires_name(db))?,
                            types: snapshot.table(store::types_name(db))?,
                            hashes: snapshot.table(store::hash_name(db))?,
                        })
                    })
                });
                match opened {
                    Ok(snap) => snap,
                    Err(e) => {
                        self.out.error(&format!("ERR {e}"));
                        return;
                    }
                }
            }
        };
        f(self, snap.borrow_dependent());
        if self.waiting.is_none() {
            self.snap = Some((db, snap));
        }
    }

    fn auth(&mut self, a: &[Vec<u8>]) -> Flow {
        let password = match a.len() {
            1 => &a[0],
            2 => &a[1],
            _ => {
                self.out.error("ERR syntax error");
                return Flow::Continue;
            }
        };
        if self.server.config.requirepass.is_none() {
            self.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return Flow::Continue;
        }
        match self.check_password(password) {
            Ok(()) => {
                self.out.simple("OK");
                Flow::Continue
            }
            Err(flow) => flow,
        }
    }

    /// Authenticates, or replies with the failure. Failed attempts are rate-limited: each one
    /// waits longer (50 ms, 100 ms, ...) and the 5th closes the connection.
    fn check_password(&mut self, password: &[u8]) -> Result<(), Flow> {
        if self
            .server
            .config
            .requirepass
            .as_deref()
            .is_some_and(|p| p.as_bytes() == password)
        {
            self.authed = true;
            return Ok(());
        }
        self.auth_failures += 1;
        self.server
            .stats
            .auth_failures
            .fetch_add(1, Ordering::Relaxed);
        // Nothing more is run or sent on this connection for a while (the event loop serves
        // the others meanwhile).
        self.paused_until =
            Some(self.now + Duration::from_millis(50 * u64::from(self.auth_failures)));
        self.out
            .error("WRONGPASS invalid username-password pair or user is disabled.");
        if self.auth_failures >= 5 {
            self.out
                .error("ERR too many failed AUTH attempts; closing the connection");
            return Err(Flow::Close);
        }
        Err(Flow::Continue)
    }

    fn hello(&mut self, a: &[Vec<u8>]) -> Flow {
        let mut i = 0;
        let mut resp3 = self.out.resp3;
        if let Some(version) = a.first() {
            match std::str::from_utf8(version)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            {
                Some(2) => resp3 = false,
                Some(3) => resp3 = true,
                _ => {
                    self.out.error("NOPROTO unsupported protocol version");
                    return Flow::Continue;
                }
            }
            i = 1;
        }
        while i < a.len() {
            match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                "AUTH" if i + 2 < a.len() => {
                    // Without a password configured, the default user accepts any (as Redis').
                    if self.server.config.requirepass.is_some() {
                        if let Err(flow) = self.check_password(&a[i + 2]) {
                            return flow;
                        }
                    }
                    i += 3;
                }
                "SETNAME" if i + 1 < a.len() => {
                    self.name = Some(a[i + 1].clone());
                    self.handle.state.lock().expect("client state").name = a[i + 1].clone();
                    i += 2;
                }
                _ => {
                    self.out.error("ERR syntax error in HELLO");
                    return Flow::Continue;
                }
            }
        }
        if !self.authed {
            self.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return Flow::Continue;
        }
        self.out.resp3 = resp3;
        self.out.map(7);
        self.out.bulk(b"server");
        self.out.bulk(b"mmtree");
        self.out.bulk(b"version");
        self.out.bulk(crate::REDIS_VERSION.as_bytes());
        self.out.bulk(b"proto");
        self.out.int(if self.out.resp3 { 3 } else { 2 });
        self.out.bulk(b"id");
        self.out.int(self.id as i64);
        self.out.bulk(b"mode");
        self.out.bulk(b"standalone");
        self.out.bulk(b"role");
        self.out.bulk(b"master");
        self.out.bulk(b"modules");
        self.out.array(0);
        Flow::Continue
    }

    fn client(&mut self, args: &[Vec<u8>]) {
        let a = &args[1..];
        let sub = String::from_utf8_lossy(&a[0]).to_ascii_uppercase();
        // The subcommand's arity, checked before it runs: one reply, the arity error, when
        // it is wrong (a check inside the match below fell through to "unknown subcommand"
        // and answered twice).
        let arity_ok = match sub.as_str() {
            "REPLY" | "SETNAME" => a.len() == 2,
            "GETNAME" | "ID" | "INFO" => a.len() == 1,
            "SETINFO" => a.len() == 3,
            "KILL" => a.len() >= 2,
            _ => true,
        };
        if !arity_ok {
            self.out.error(&format!(
                "ERR wrong number of arguments for 'client|{}' command",
                sub.to_ascii_lowercase()
            ));
            return;
        }
        match sub.as_str() {
            "REPLY" => match String::from_utf8_lossy(&a[1]).to_ascii_uppercase().as_str() {
                "ON" => {
                    self.replies_off = false;
                    self.skip_next = false;
                    self.out.simple("OK");
                }
                "OFF" => self.replies_off = true,
                "SKIP" => self.skip_next = !self.replies_off,
                _ => self.out.error("ERR syntax error"),
            },
            "SETNAME" => {
                if a[1].iter().any(|&b| b <= b' ' || b > b'~') {
                    self.out.error(
                        "ERR Client names cannot contain spaces, newlines or special characters.",
                    );
                    return;
                }
                self.name = (!a[1].is_empty()).then(|| a[1].clone());
                self.handle.state.lock().expect("client state").name = a[1].clone();
                self.out.simple("OK");
            }
            "GETNAME" => match self.name.clone() {
                Some(name) => self.out.bulk(&name),
                None => self.out.null(),
            },
            "ID" => self.out.int(self.id as i64),
            "SETINFO" => self.out.simple("OK"),
            "INFO" => {
                let line = self.handle.line();
                self.out.verbatim(line.as_bytes());
            }
            "LIST" => {
                let (mut ids, mut kind) = (None::<Vec<u64>>, None::<String>);
                let mut i = 1;
                while i < a.len() {
                    match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                        "TYPE" if i + 1 < a.len() => {
                            let t = String::from_utf8_lossy(&a[i + 1]).to_ascii_lowercase();
                            if !matches!(
                                t.as_str(),
                                "normal" | "master" | "replica" | "slave" | "pubsub"
                            ) {
                                self.out.error(&format!("ERR Unknown client type '{t}'"));
                                return;
                            }
                            kind = Some(t);
                            i += 2;
                        }
                        "ID" if i + 1 < a.len() => {
                            let mut list = Vec::new();
                            for id in &a[i + 1..] {
                                match std::str::from_utf8(id)
                                    .ok()
                                    .and_then(|n| n.parse::<u64>().ok())
                                {
                                    Some(n) if n > 0 => list.push(n),
                                    _ => {
                                        self.out.error("ERR Invalid client ID");
                                        return;
                                    }
                                }
                            }
                            ids = Some(list);
                            i = a.len();
                        }
                        _ => {
                            self.out.error("ERR syntax error");
                            return;
                        }
                    }
                }
                let handles: Vec<Arc<Handle>> = self
                    .server
                    .registry
                    .lock()
                    .expect("registry")
                    .values()
                    .cloned()
                    .collect();
                let mut text = String::new();
                for h in handles {
                    if ids.as_ref().is_some_and(|ids| !ids.contains(&h.id)) {
                        continue;
                    }
                    match kind.as_deref() {
                        Some("normal") if h.is_pubsub() => continue,
                        Some("pubsub") if !h.is_pubsub() => continue,
                        Some("master" | "replica" | "slave") => continue,
                        _ => {}
                    }
                    text.push_str(&h.line());
                }
                self.out.verbatim(text.as_bytes());
            }
            "KILL" => self.client_kill(&a[1..]),
            _ => self.out.error(&unknown_subcommand(args)),
        }
    }

    /// CLIENT KILL addr (the old form: OK or an error) or CLIENT KILL filter value ... (the new
    /// form: how many were closed; SKIPME yes by default).
    fn client_kill(&mut self, a: &[Vec<u8>]) {
        let handles: Vec<Arc<Handle>> = self
            .server
            .registry
            .lock()
            .expect("registry")
            .values()
            .cloned()
            .collect();
        if a.len() == 1 {
            match handles
                .iter()
                .find(|h| h.addr.as_bytes() == a[0].as_slice())
            {
                Some(h) => {
                    self.out.simple("OK");
                    if h.id == self.id {
                        self.quit = true;
                    } else {
                        h.kill();
                    }
                }
                None => self.out.error("ERR No such client"),
            }
            return;
        }
        if !a.len().is_multiple_of(2) {
            self.out.error("ERR syntax error");
            return;
        }
        let (mut id, mut addr, mut laddr, mut kind, mut user, mut skipme) = (
            None::<u64>,
            None::<Vec<u8>>,
            None::<Vec<u8>>,
            None::<String>,
            None::<Vec<u8>>,
            true,
        );
        for pair in a.chunks(2) {
            let v = &pair[1];
            match String::from_utf8_lossy(&pair[0])
                .to_ascii_uppercase()
                .as_str()
            {
                "ID" => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    Some(n) if n > 0 => id = Some(n),
                    _ => {
                        self.out.error("ERR client-id should be greater than 0");
                        return;
                    }
                },
                "ADDR" => addr = Some(v.clone()),
                "LADDR" => laddr = Some(v.clone()),
                "USER" => user = Some(v.clone()),
                "TYPE" => {
                    let t = String::from_utf8_lossy(v).to_ascii_lowercase();
                    if !matches!(
                        t.as_str(),
                        "normal" | "master" | "replica" | "slave" | "pubsub"
                    ) {
                        self.out.error(&format!("ERR Unknown client type '{t}'"));
                        return;
                    }
                    kind = Some(t);
                }
                "SKIPME" => match String::from_utf8_lossy(v).to_ascii_lowercase().as_str() {
                    "yes" => skipme = true,
                    "no" => skipme = false,
                    _ => {
                        self.out.error("ERR syntax error");
                        return;
                    }
                },
                _ => {
                    self.out.error("ERR syntax error");
                    return;
                }
            }
        }
        let mut killed = 0;
        for h in handles {
            let matches = id.is_none_or(|id| id == h.id)
                && addr
                    .as_ref()
                    .is_none_or(|x| x.as_slice() == h.addr.as_bytes())
                && laddr
                    .as_ref()
                    .is_none_or(|x| x.as_slice() == h.laddr.as_bytes())
                && user.as_ref().is_none_or(|u| u.as_slice() == b"default")
                && match kind.as_deref() {
                    Some("normal") => !h.is_pubsub(),
                    Some("pubsub") => h.is_pubsub(),
                    Some(_) => false,
                    None => true,
                };
            if !matches || (skipme && h.id == self.id) {
                continue;
            }
            killed += 1;
            if h.id == self.id {
                self.quit = true;
            } else {
                h.kill();
            }
        }
        self.out.int(killed);
    }

    /// SUBSCRIBE / PSUBSCRIBE: a message published once a subscription is registered goes to
    /// this connection's mail, which is sent after the confirmation (see `pubsub`).
    fn subscribe(&mut self, pattern: bool, names: &[Vec<u8>]) {
        {
            let mut subs = self.server.subs.lock().expect("subs");
            for name in names {
                let list = if pattern {
                    &mut self.patterns
                } else {
                    &mut self.channels
                };
                if !list.contains(name) {
                    list.push(name.clone());
                    subs.add(pattern, name, self.id);
                }
                let count = self.channels.len() + self.patterns.len();
                self.out.push(3);
                self.out
                    .bulk(if pattern { b"psubscribe" } else { b"subscribe" });
                self.out.bulk(name);
                self.out.int(count as i64);
            }
        }
        let mut state = self.handle.state.lock().expect("client state");
        state.sub = self.channels.len();
        state.psub = self.patterns.len();
    }

    /// UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or all (one reply each; one with a null
    /// name if there were none).
    fn unsubscribe(&mut self, pattern: bool, names: &[Vec<u8>]) {
        let kind: &[u8] = if pattern {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let names: Vec<Vec<u8>> = if names.is_empty() {
            if pattern {
                self.patterns.clone()
            } else {
                self.channels.clone()
            }
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            self.out.push(3);
            self.out.bulk(kind);
            self.out.null();
            self.out
                .int((self.channels.len() + self.patterns.len()) as i64);
            return;
        }
        let mut subs = self.server.subs.lock().expect("subs");
        for name in names {
            let list = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            if let Some(at) = list.iter().position(|n| *n == name) {
                list.remove(at);
                subs.remove(pattern, &name, self.id);
            }
            self.out.push(3);
            self.out.bulk(kind);
            self.out.bulk(&name);
            self.out
                .int((self.channels.len() + self.patterns.len()) as i64);
        }
        drop(subs);
        let mut state = self.handle.state.lock().expect("client state");
        state.sub = self.channels.len();
        state.psub = self.patterns.len();
    }

    /// PUBLISH: the message goes to every subscriber's mail now (its own replies first when
    /// this connection subscribes, as Redis); replies how many received it.
    fn publish(&mut self, channel: &[u8], payload: &[u8]) {
        let subscribers = self.server.subscribers(channel);
        for (h, p) in &subscribers {
            if h.id == self.id {
                let message = encode_message(self.out.resp3, p.as_deref(), channel, payload);
                self.take_mail();
                self.out.buf.extend_from_slice(&message);
                continue;
            }
            h.publish(p.as_deref(), channel, payload);
        }
        self.out.int(subscribers.len() as i64);
    }

    /// PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | HELP.
    fn pubsub(&mut self, args: &[Vec<u8>]) {
        let sub = args
            .get(1)
            .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase())
            .unwrap_or_default();
        let a = &args[args.len().min(2)..];
        let subs = self.server.subs.lock().expect("subs");
        match sub.as_str() {
            "CHANNELS" if a.len() <= 1 => {
                let mut names: Vec<Vec<u8>> = subs
                    .channels
                    .keys()
                    .filter(|c| a.first().is_none_or(|p| glob(p, c)))
                    .cloned()
                    .collect();
                names.sort();
                drop(subs);
                self.out.array(names.len());
                for n in names {
                    self.out.bulk(&n);
                }
            }
            "NUMSUB" => {
                let counts: Vec<usize> = a
                    .iter()
                    .map(|c| subs.channels.get(c).map_or(0, |s| s.len()))
                    .collect();
                drop(subs);
                self.out.array(a.len() * 2);
                for (c, n) in a.iter().zip(counts) {
                    self.out.bulk(c);
                    self.out.int(n as i64);
                }
            }
            "NUMPAT" if a.is_empty() => {
                let n = subs.patterns.len();
                drop(subs);
                self.out.int(n as i64);
            }
            "CHANNELS" | "NUMPAT" => {
                drop(subs);
                self.out.error(&format!(
                    "ERR wrong number of arguments for 'pubsub|{}' command",
                    sub.to_ascii_lowercase()
                ));
            }
            "HELP" => {
                drop(subs);
                let lines = [
                    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "CHANNELS [<pattern>]",
                    "    Return the currently active channels matching a <pattern> (default: '*').",
                    "NUMPAT",
                    "    Return number of subscriptions to patterns.",
                    "NUMSUB [<channel> ...]",
                    "    Return the number of subscribers for the specified channels, excluding",
                    "    pattern subscriptions(default: no channels).",
                    "HELP",
                    "    Print this help.",
                ];
                self.out.array(lines.len());
                for l in lines {
                    self.out.simple(l);
                }
            }
            _ => {
                drop(subs);
                self.out.error(&unknown_subcommand(args));
            }
        }
    }

    fn config(&mut self, a: &[Vec<u8>]) {
        let sub = a
            .first()
            .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase())
            .unwrap_or_default();
        if sub == "GET" && a.len() < 2 {
            self.out
                .error("ERR wrong number of arguments for 'config|get' command");
            return;
        }
        if sub == "SET" {
            self.config_set(&a[1..]);
            return;
        }
        if sub != "GET" {
            let mut args = vec![b"CONFIG".to_vec()];
            args.extend(a.iter().cloned());
            self.out.error(&unknown_subcommand(&args));
            return;
        }
        let config = &self.server.config;
        let params: Vec<(&str, String)> = vec![
            ("save", String::new()),
            ("appendonly", "no".into()),
            ("databases", DATABASES.to_string()),
            ("maxclients", config.max_clients.to_string()),
            (
                "timeout",
                config.idle_timeout.map_or(0, |t| t.as_secs()).to_string(),
            ),
            ("proto-max-bulk-len", config.limits.max_bulk.to_string()),
            (
                "requirepass",
                config.requirepass.clone().unwrap_or_default(),
            ),
            ("maxmemory", "0".into()),
            (
                "notify-keyspace-events",
                crate::notify::format(self.server.notify.get()),
            ),
            ("hash-max-ziplist-entries", "128".into()),
            ("hash-max-ziplist-value", "64".into()),
            ("hash-max-listpack-entries", "128".into()),
            ("hash-max-listpack-value", "64".into()),
            ("maxmemory-policy", "noeviction".into()),
            ("bind", config.bind.ip().to_string()),
            ("port", config.bind.port().to_string()),
        ];
        let matched: Vec<&(&str, String)> = params
            .iter()
            .filter(|(k, _)| {
                a[1..]
                    .iter()
                    .any(|p| glob(&p.to_ascii_lowercase(), k.as_bytes()))
            })
            .collect();
        self.out.map(matched.len());
        for (k, v) in matched {
            self.out.bulk(k.as_bytes());
            self.out.bulk(v.as_bytes());
        }
    }

    /// CONFIG SET: the memory-encoding thresholds (`*-max-ziplist-*`, `*-max-listpack-*`,
    /// `*-max-intset-entries`) are accepted and ignored, since mmtree stores no encodings; any
    /// other setting is refused in Redis' words (the server's settings are its command line).
    fn config_set(&mut self, a: &[Vec<u8>]) {
        if a.is_empty() || !a.len().is_multiple_of(2) {
            self.out
                .error("ERR wrong number of arguments for 'config|set' command");
            return;
        }
        // Checked whole before any is applied, as Redis.
        let mut notify = None;
        for pair in a.chunks(2) {
            let p = String::from_utf8_lossy(&pair[0]).to_ascii_lowercase();
            if p == "notify-keyspace-events" {
                match crate::notify::parse(&pair[1]) {
                    Some(flags) => notify = Some(flags),
                    None => {
                        self.out.error("ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. Use 'Ag$lshzxeKEtmdn'.");
                        return;
                    }
                }
                continue;
            }
            let encoding = p.contains("-max-ziplist-")
                || p.contains("-max-listpack-")
                || p.ends_with("-max-intset-entries");
            if !encoding {
                self.out.error(&format!(
                    "ERR CONFIG SET failed (possibly related to argument '{p}') - mmtree serve takes its settings from its command line only"
                ));
                return;
            }
        }
        if let Some(flags) = notify {
            self.server.notify.set(flags);
        }
        self.out.simple("OK");
    }

    /// MEMORY USAGE key [SAMPLES n]: the bytes the key's rows take in tree pages (each row's key
    /// and value plus its 10-byte slot and cell header; the internal rows of a hash, set or list
    /// too: every row for up to 1,000 of them, else `n` (default 5, 0: all) extrapolated).
    fn memory_usage(&mut self, a: &[Vec<u8>], now: u64) {
        let samples = match a.get(1..) {
            Some([]) | None => 5,
            Some([word, n]) if word.eq_ignore_ascii_case(b"SAMPLES") => {
                match std::str::from_utf8(n)
                    .ok()
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    Some(n) => n,
                    None => {
                        self.out
                            .error("ERR value is not an integer or out of range");
                        return;
                    }
                }
            }
            _ => {
                self.out.error("ERR syntax error");
                return;
            }
        };
        const ROW: usize = 10;
        self.with_table(|conn, t| {
            let key = &a[0];
            let Some((_, data)) = t.live(key, now) else {
                conn.out.null();
                return;
            };
            let mut bytes = key.len() + data.len() + ROW;
            if t.not_string(key) {
                let rows = data.try_into().map_or(0, u64::from_be_bytes) as usize;
                let take = if rows <= 1000 || samples == 0 {
                    usize::MAX
                } else {
                    samples
                };
                let seen = t.fields(key, None, take).unwrap_or_default();
                let sum: usize = seen
                    .iter()
                    .map(|(f, v)| 4 + key.len() + f.len() + v.len() + ROW)
                    .sum();
                bytes += if seen.is_empty() {
                    0
                } else {
                    sum * rows / seen.len()
                };
                bytes += key.len() + 4 + ROW; // the type row
            }
            conn.out.int(bytes as i64);
        })
    }

    /// HRANDFIELD key [count [WITHVALUES]]: without count one field (or nil); a positive count
    /// that many distinct fields (at most all), a negative one exactly -count, repeats allowed.
    fn hrandfield(&mut self, a: &[Vec<u8>], now: u64, set: bool) {
        let kind: &[u8] = if set { b"set" } else { b"hash" };
        let count = match a.get(1) {
            None => None,
            Some(n) => match std::str::from_utf8(n)
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
            {
                Some(n) => Some(n),
                None => {
                    self.out
                        .error("ERR value is not an integer or out of range");
                    return;
                }
            },
        };
        let values = match a.get(2) {
            None => false,
            Some(w) if !set && w.eq_ignore_ascii_case(b"WITHVALUES") => true,
            Some(_) => {
                self.out.error("ERR syntax error");
                return;
            }
        };
        // As Redis: -2^63 has no magnitude, and with values the reply would hold 2 × |count|.
        if count.is_some_and(|n| n == i64::MIN || values && n < -(i64::MAX / 2)) {
            self.out.error("ERR value is out of range");
            return;
        }
        // A reply is built whole before it is sent: one of 2^62 picks would never end.
        if count.is_some_and(|n| n.unsigned_abs() > RANDOM_PICKS_MAX) {
            self.out.error(&format!(
                "ERR value is out of range (mmtree picks at most {RANDOM_PICKS_MAX} at a time)"
            ));
            return;
        }
        let mut x = store::random_seed(now);
        let mut next = move |bound: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % bound as u64) as usize
        };
        self.with_table(|conn, t| {
            let key = &a[0];
            let live = t.live(key, now).is_some();
            if live && !t.is_kind(key, kind) {
                conn.out.error(store::WRONGTYPE);
                return;
            }
            let fields = if live {
                t.fields(key, None, usize::MAX).unwrap_or_default()
            } else {
                Vec::new()
            };
            let Some(count) = count else {
                match fields.is_empty() {
                    // Redis 7.0 answers SRANDMEMBER of no set with a null array.
                    true if set => conn.out.null_array(),
                    true => conn.out.null(),
                    false => conn.out.bulk(fields[next(fields.len())].0),
                }
                return;
            };
            let picked: Vec<usize> = if fields.is_empty() {
                Vec::new()
            } else if count < 0 {
                (0..count.unsigned_abs())
                    .map(|_| next(fields.len()))
                    .collect()
            } else {
                // A random selection of min(count, len) distinct fields.
                let mut all: Vec<usize> = (0..fields.len()).collect();
                let take = (count as usize).min(all.len());
                for i in 0..take {
                    let j = i + next(all.len() - i);
                    all.swap(i, j);
                }
                all.truncate(take);
                all
            };
            if values {
                if conn.out.resp3 {
                    conn.out.array(picked.len());
                    for i in picked {
                        conn.out.array(2);
                        conn.out.bulk(fields[i].0);
                        conn.out.bulk(fields[i].1);
                    }
                } else {
                    conn.out.array(picked.len() * 2);
                    for i in picked {
                        conn.out.bulk(fields[i].0);
                        conn.out.bulk(fields[i].1);
                    }
                }
            } else {
                conn.out.array(picked.len());
                for i in picked {
                    conn.out.bulk(fields[i].0);
                }
            }
        })
    }

    /// RANDOMKEY: a live key of the database, or nil (uniform up to RANDOMKEY_EXACT keys).
    fn randomkey(&mut self, now: u64) {
        let seed = now
            ^ self.id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ u64::from(std::process::id()).rotate_left(32)
            ^ self
                .server
                .stats
                .commands
                .load(Ordering::Relaxed)
                .wrapping_mul(0x2545_f491_4f6c_dd1d);
        self.with_table(|conn, t| {
            let Some(data) = &t.data else {
                conn.out.null();
                return;
            };
            let (Ok(Some((first, _))), Ok(Some((last, _)))) = (data.first(), data.last()) else {
                conn.out.null();
                return;
            };
            let mut x = seed | 1;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if data.len() <= RANDOMKEY_EXACT {
                // Small: every key equally likely (an expired one not yet swept gives the
                // next live one).
                let at = (x % data.len()) as usize;
                let live = |k: &&[u8]| t.unexpired(k, now);
                let keys = || {
                    data.range(..)
                        .into_iter()
                        .flatten()
                        .flatten()
                        .map(|(k, _)| k)
                };
                match keys().skip(at).find(live).or_else(|| keys().find(live)) {
                    Some(k) => conn.out.bulk(k),
                    None => conn.out.null(),
                }
                return;
            }
            // Large (mmtree keeps no per-subtree counts to find the n-th key): the first key at
            // or after a random point between the first and the last, byte by byte.
            let mut probe = Vec::new();
            for i in 0..first.len().max(last.len()).min(16) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let lo = *first.get(i).unwrap_or(&0);
                let hi = *last.get(i).unwrap_or(&255);
                let (lo, hi) = if probe.as_slice() == &first[..i.min(first.len())]
                    && probe.as_slice() == &last[..i.min(last.len())]
                {
                    (lo, hi.max(lo))
                } else {
                    (0, 255)
                };
                probe.push(lo + (x % (u64::from(hi - lo) + 1)) as u8);
            }
            let pick = |from: &[u8]| -> Option<Vec<u8>> {
                let range = data.range(from..).ok()?;
                for (k, _) in range.flatten() {
                    if t.unexpired(k, now) {
                        return Some(k.to_vec());
                    }
                }
                None
            };
            match pick(&probe).or_else(|| pick(b"")) {
                Some(k) => conn.out.bulk(&k),
                None => conn.out.null(),
            }
        })
    }

    /// MMTREE.RANGE start end [LIMIT n] [REV]: key/value pairs in key order, start inclusive, end
    /// exclusive; `-` and `+` mean unbounded. Redis has no ordered range over plain keys.
    fn range(&mut self, a: &[Vec<u8>], now: u64) -> Flow {
        let (mut limit, mut rev) = (usize::MAX, false);
        let mut i = 2;
        while i < a.len() {
            match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                "LIMIT" => match a
                    .get(i + 1)
                    .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok())
                {
                    Some(n) => {
                        limit = n;
                        i += 1;
                    }
                    None => {
                        self.out
                            .error("ERR value is not an integer or out of range");
                        return Flow::Continue;
                    }
                },
                "REV" => rev = true,
                _ => {
                    self.out.error("ERR syntax error");
                    return Flow::Continue;
                }
            }
            i += 1;
        }
        let bound = |b: &[u8], unbounded: &[u8], inclusive: bool| -> std::ops::Bound<Vec<u8>> {
            if b == unbounded {
                std::ops::Bound::Unbounded
            } else if inclusive {
                std::ops::Bound::Included(b.to_vec())
            } else {
                std::ops::Bound::Excluded(b.to_vec())
            }
        };
        let (start, end) = (bound(&a[0], b"-", true), bound(&a[1], b"+", false));
        self.with_table(|conn, t| {
            let mut items: Vec<(&[u8], &[u8])> = Vec::new();
            if let Some(data) = &t.data {
                fn as_ref(b: &std::ops::Bound<Vec<u8>>) -> std::ops::Bound<&[u8]> {
                    match b {
                        std::ops::Bound::Included(k) => std::ops::Bound::Included(k.as_slice()),
                        std::ops::Bound::Excluded(k) => std::ops::Bound::Excluded(k.as_slice()),
                        std::ops::Bound::Unbounded => std::ops::Bound::Unbounded,
                    }
                }
                let valid = match (&start, &end) {
                    (std::ops::Bound::Included(s), std::ops::Bound::Excluded(e)) => s < e,
                    _ => true,
                };
                if valid {
                    if let Ok(range) = data.range((as_ref(&start), as_ref(&end))) {
                        let iter: Box<dyn Iterator<Item = _>> = if rev {
                            Box::new(range.rev())
                        } else {
                            Box::new(range)
                        };
                        for (k, v) in iter.flatten() {
                            if items.len() == limit {
                                break;
                            }
                            if t.unexpired(k, now) {
                                items.push((k, v));
                            }
                        }
                    }
                }
            }
            conn.out.array(items.len() * 2);
            for (k, v) in items {
                conn.out.bulk(k);
                conn.out.bulk(v);
            }
        });
        Flow::Continue
    }
}

/// The "unknown command" error, worded as Redis 7.0 words it: the name cut at 128 bytes, then
/// the arguments quoted while the list is shorter than 128 bytes (the last one cut to fit).
fn unknown_command(args: &[Vec<u8>]) -> String {
    let name = &args[0][..args[0].len().min(128)];
    let mut list: Vec<u8> = Vec::new();
    for arg in &args[1..] {
        if list.len() >= 128 {
            break;
        }
        let room = 128 - list.len();
        list.push(b'\'');
        list.extend_from_slice(&arg[..arg.len().min(room)]);
        list.extend_from_slice(b"' ");
    }
    format!(
        "ERR unknown command '{}', with args beginning with: {}",
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(&list)
    )
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.unwatch();
        self.drop_watch_in_flight(true);
        {
            let mut subs = self.server.subs.lock().expect("subs");
            for c in &self.channels {
                subs.remove(false, c, self.id);
            }
            for p in &self.patterns {
                subs.remove(true, p, self.id);
            }
        }
        self.server
            .registry
            .lock()
            .expect("registry")
            .remove(&self.id);
        // Counted in by the acceptor.
        self.server.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Redis 7's reply to an unknown subcommand of a container command (CLIENT, CONFIG, PUBSUB).
fn unknown_subcommand(args: &[Vec<u8>]) -> String {
    format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(args.get(1).map_or(&b""[..], |a| a.as_slice())),
        String::from_utf8_lossy(&args[0]).to_ascii_uppercase()
    )
}
