//! One client connection as a state machine the event loop drives (`super::event`): the loop
//! appends what the socket gave to `input`, calls `process`, and sends what `out` holds. Commands
//! run in order; consecutive writes are sent to the group commit as one job, and while a job is
//! out the connection waits (`waiting`): the command after it is held (`stalled`) and runs once
//! the writer's answer has been put in place (`resume`), so replies keep request order and a read
//! after a write sees it. After MULTI commands are queued; EXEC and WATCH are jobs for the writer
//! too (see `exec` and `store::Watches`).

mod client;
mod introspection;
mod pubsub;
mod server;
mod snapshot;
mod transactions;

use crate::commands::table::{
    self, unknown_command, unknown_subcommand, Command, Handler, Resolved, Session,
};
use crate::glob::glob;
use crate::jobs::{BlockClaim, Event, Job, Notifier, Op, Outcome, WatchClaim, WriteBatch};
use crate::pubsub::{encode_message, Handle, State};
use crate::resp::{parse, Out, Parsed, Partial, Reply};
use crate::server::Server;
use crate::store::{self, expires_name, now_ms, table_name, View, WatchedKey, DATABASES};
use snapshot::Snap;
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    pending: Vec<Op>,
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
    multi: Option<Vec<Op>>,
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
    /// Where this connection's jobs go: its event loop's outbox, which the loop applies or
    /// queues for the writer at the end of its round (`event::Loop::run`).
    jobs: Sender<WriteBatch>,
    /// The snapshot the reads of this `process` call share, and its database.
    snap: Option<(u32, Snap)>,
    /// While EXEC's replies are put in place: the snapshot of its own commit.
    exec_snapshot: Option<Arc<mmtree::ReadTransaction>>,
    /// The clock, as of the event loop's round (CLIENT LIST's idle time; expiry, in Unix ms).
    pub now: Instant,
    now_ms: u64,
    /// CLIENT TRACKING's options while it is on (`crate::tracking` holds them too).
    tracking: Option<crate::tracking::Mode>,
    /// When the last command timed for the SLOWLOG ended, while the next one may start from it
    /// (`command`).
    lap: Option<Instant>,
    /// CLIENT CACHING YES (OPTIN) or NO (OPTOUT) was given for the next command.
    caching: bool,
    /// While EXEC's session commands run here (MONITOR refuses to run there).
    in_exec: bool,
    /// The keys this connection's reads accessed since its last turn (`crate::access`): handed
    /// to the access times once per `process` call, not once per command.
    access: crate::access::Batch,
    /// The command being run was refused before it ran (commandstats' `rejected_calls`).
    rejected_now: bool,
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

/// A command's name, its table entry (None: unknown), the container whose subcommand is
/// unknown, and the checks made once, when it was read.
struct Prepared {
    name: Cow<'static, str>,
    cmd: Option<&'static Command>,
    unknown_subcommand: bool,
    admitted: bool,
}

/// What a connection does with the writer's answer.
enum Wait {
    /// Replies to pipelined writes (`pending_count` of them); `silent`: those sent while CLIENT
    /// REPLY said not to answer.
    Writes {
        silent: Vec<bool>,
        /// Each write's command (commandstats' `failed_calls`).
        cmds: Vec<&'static Command>,
    },
    /// WATCH of these keys on `db`.
    Watch { db: u32, keys: Vec<Vec<u8>> },
    /// CLIENT TRACKING ON's round trip through the writer: `+OK`.
    Ok,
    /// A blocking command (BLPOP, …): its one reply, whenever the writer gives it (at once, when
    /// a commit serves the client, at its timeout, or on CLIENT UNBLOCK). Until then the
    /// connection reads no further command, as a blocked Redis client. (Its arguments: a
    /// command answered later is logged to the SLOWLOG then.)
    Block {
        args: Vec<Vec<u8>>,
        cmd: &'static Command,
    },
    /// EXEC of `queue`; `slots` says where each reply comes from.
    Exec {
        queue: Vec<Op>,
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

impl Conn {
    pub fn new(
        server: Arc<Server>,
        id: u64,
        addr: String,
        laddr: String,
        notifier: Notifier,
        jobs: Sender<WriteBatch>,
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
            watch: Arc::new(WatchClaim::default()),
            block: Arc::new(BlockClaim::default()),
            buffers: crate::pubsub::Buffers::default(),
            tracking: Default::default(),
            monitor: AtomicBool::new(false),
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
            jobs,
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
            tracking: None,
            lap: None,
            caching: false,
            in_exec: false,
            access: crate::access::Batch::default(),
            rejected_now: false,
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

    /// True while a blocking command waits for the writer's answer (blocked, or about to be).
    pub fn is_blocked(&self) -> bool {
        matches!(self.waiting, Some(Wait::Block { .. }))
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
        // A new round: the time since the last one is no command's.
        self.lap = None;
        if let Some(until) = self.paused_until {
            if self.now < until {
                return Status::Waiting;
            }
            self.paused_until = None;
        }
        let mut used = 0;
        let status = loop {
            if self.waiting.is_some() || self.paused_until.is_some() {
                // A blocked (RESP3) subscriber still gets its messages, as in Redis: pushes, not
                // replies, so they may come before the blocking command's answer.
                if self.is_blocked() {
                    self.take_mail();
                }
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
                            // CLIENT LIST's qbuf while the command runs: the request bytes
                            // from this command on (as Redis, which trims them after it).
                            self.handle
                                .buffers
                                .qbuf
                                .store((self.input.len() - (used - n)) as u64, Ordering::Relaxed);
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
            let client_reply =
                prepared.cmd.and_then(Command::session) == Some(Session::ClientReply);
            let silent = (skip || self.replies_off)
                && !client_reply
                && !prepared.cmd.is_some_and(|c| c.has(table::PUSHES));
            let mark = self.out.buf.len();
            self.silent_now = silent;
            // CLIENT CACHING's choice lasts for the next command (a whole transaction); a CLIENT
            // subcommand leaves it, as in Redis.
            let keeps_caching = prepared.cmd.is_some_and(|c| c.name.starts_with("CLIENT|"));
            let cmd = prepared.cmd;
            let flow = self.command(args, prepared);
            self.account(cmd);
            if self.caching && !keeps_caching && self.multi.is_none() {
                self.caching = false;
            }
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
        self.server.note_access(&mut self.access, self.now);
        status
    }

    /// Counts the error replies the command just run wrote (INFO errorstats), and the command
    /// as failed if it ran and answered an error, as rejected if it was refused before it ran.
    fn account(&mut self, cmd: Option<&'static Command>) {
        let rejected = std::mem::take(&mut self.rejected_now);
        if self.out.errors.is_empty() {
            return;
        }
        self.server.note_errors(&self.out.errors);
        self.out.errors.clear();
        if let (Some(c), false) = (cmd, rejected) {
            self.server.command_failed[c.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The command is refused before it runs: it counts as rejected, not as called.
    fn count_rejected(&mut self, cmd: Option<&'static Command>) {
        self.rejected_now = true;
        if let Some(c) = cmd {
            let _ = self.server.command_calls[c.index()].fetch_update(
                Ordering::Relaxed,
                Ordering::Relaxed,
                |n| Some(n.saturating_sub(1)),
            );
            self.server.command_rejected[c.index()].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Notes that a read accessed its keys (OBJECT IDLETIME), unless it is one that does not
    /// count (TYPE, TTL, EXISTS, OBJECT, …).
    fn note_keys(&mut self, cmd: &'static Command, args: &[Vec<u8>]) {
        use table::{GEO_STORE_KEY, NO_TOUCH, NUMKEYS, STORE_KEY, STREAMS};
        if cmd.has(NO_TOUCH) || !cmd.has_keys() {
            return;
        }
        // The common case (one key, the first argument) without collecting the keys.
        if cmd.keys == (1, 1, 1) && !cmd.has(NUMKEYS | STREAMS | STORE_KEY | GEO_STORE_KEY) {
            if let Some(key) = args.get(1) {
                self.access.touch(self.db, key);
            }
            return;
        }
        for key in cmd.key_args(args) {
            self.access.touch(self.db, key);
        }
    }

    /// Puts the writer's answer in place and runs what waited for it (call `process` next).
    pub fn resume(&mut self, outcome: Outcome) {
        let mark = self.out.buf.len();
        let silent = std::mem::take(&mut self.waiting_silent);
        match self.waiting.take() {
            Some(Wait::Writes { silent, cmds }) => {
                let replies = match outcome {
                    Outcome::Replies(replies) => replies,
                    Outcome::Failed(e) => vec![Reply::Error(e); self.pending_count],
                    _ => vec![
                        Reply::Error("ERR unexpected writer answer".into());
                        self.pending_count
                    ],
                };
                for ((reply, silent), cmd) in replies.iter().zip(silent).zip(cmds) {
                    if !silent {
                        self.out.reply(reply);
                    }
                    // The writer checks a write's arity: an error then is a refusal.
                    if let Reply::Error(e) = reply {
                        if silent {
                            self.out.note_error(e);
                        }
                        if e.starts_with("ERR wrong number of arguments") {
                            self.count_rejected(Some(cmd));
                            self.rejected_now = false;
                        } else {
                            self.server.command_failed[cmd.index()].fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
            Some(Wait::Watch { db, keys }) => match outcome {
                Outcome::Watched(states) => {
                    // Ours now: `unwatch` drops them.
                    self.handle
                        .watch
                        .in_flight
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
            Some(Wait::Ok) => match outcome {
                Outcome::Failed(e) => self.out.error(&e),
                _ => self.out.simple("OK"),
            },
            Some(Wait::Block { args, cmd }) => {
                let errors = self.out.errors.len();
                match outcome {
                    Outcome::Replies(replies) => {
                        for reply in &replies {
                            self.out.reply(reply);
                        }
                    }
                    Outcome::Unblocked(reply, micros) => {
                        self.out.reply(&reply);
                        if self.server.is_slow(micros) {
                            self.server.log_slow(self.id, &args, micros);
                        }
                    }
                    Outcome::Failed(e) => self.out.error(&e),
                    _ => self.out.error("ERR unexpected writer answer"),
                }
                // Answered an error once it ran (a group destroyed while it waited): failed.
                if self.out.errors.len() > errors {
                    self.server.command_failed[cmd.index()].fetch_add(1, Ordering::Relaxed);
                }
            }
            None => {}
        }
        if silent {
            self.out.buf.truncate(mark);
        }
        self.server.note_errors(&self.out.errors);
        self.out.errors.clear();
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
        let resolved = table::resolve(args);
        let cmd = match resolved {
            Resolved::Found(c) => Some(c),
            Resolved::Unknown | Resolved::UnknownSubcommand => None,
        };
        let unknown_sub = matches!(resolved, Resolved::UnknownSubcommand);
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
            // An unknown subcommand: as given.
            if unknown_sub && args.len() > 1 {
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
        let setup = has(table::SETUP);
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
            unknown_subcommand: unknown_sub,
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
            && p.cmd
                .is_some_and(|c| c.has(table::WRITE) && !c.has(table::BLOCKING))
    }

    fn flush_pending(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let ops = std::mem::take(&mut self.pending);
        self.pending_count = ops.len();
        let silent = std::mem::take(&mut self.pending_silent);
        let cmds = ops.iter().map(|op| op.cmd).collect();
        self.submit(
            Job::Writes {
                db: self.pending_db,
                ops,
                client: self.id,
            },
            Wait::Writes { silent, cmds },
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
        if self.jobs.send(batch).is_err() {
            self.resume(Outcome::Failed("ERR the server is shutting down".into()));
        }
    }

    /// Hands the writer a job nobody waits for (a closing connection's too: the channel
    /// outlives it; at shutdown, when it is closed, there is nothing left to release).
    fn send_unanswered(&self, job: Job) {
        let _ = self.jobs.send(crate::jobs::unanswered(job));
    }

    /// A command refused before it runs (the limiter, a script past its time limit), as Redis'
    /// `rejectCommand`: inside MULTI the transaction is marked failed; a refused EXEC discards
    /// it (a connection left in MULTI would queue the client's next commands for ever).
    fn reject(&mut self, cmd: Option<&'static Command>, error: &str) {
        if cmd.is_some_and(|c| c.session() == Some(Session::Exec)) && self.multi.is_some() {
            self.multi = None;
            self.multi_failed = false;
            self.unwatch();
            self.out.error(&format!(
                "EXECABORT Transaction discarded because of: {error}"
            ));
            return;
        }
        self.multi_failed |= self.multi.is_some();
        self.out.error(error);
    }

    /// Runs one command (the writes before it, unless it joins them, have been answered).
    fn command(&mut self, args: Vec<Vec<u8>>, prepared: Prepared) -> Flow {
        // The previous command's end, if it was timed here and nothing came between (see the
        // SLOWLOG timing below); any path that returns early drops it.
        let lap = self.lap.take();
        let name: &str = &prepared.name;
        let cmd = prepared.cmd;
        let has = |flag: u32| cmd.is_some_and(|c| c.has(flag));
        // Before authentication only AUTH, HELLO and QUIT are served.
        if !self.authed && !has(table::NO_AUTH) {
            self.count_rejected(cmd);
            self.multi_failed |= self.multi.is_some();
            self.out.error("NOAUTH Authentication required.");
            return Flow::Continue;
        }
        if !prepared.admitted {
            self.count_rejected(cmd);
            self.server.stats.rejected.fetch_add(1, Ordering::Relaxed);
            self.reject(cmd, "BUSY rate limit exceeded, retry later");
            return Flow::Continue;
        }
        let Some(cmd) = cmd else {
            self.multi_failed |= self.multi.is_some();
            self.out.error(&if prepared.unknown_subcommand {
                unknown_subcommand(&args)
            } else {
                unknown_command(&args)
            });
            return Flow::Continue;
        };
        // A script runs past its time limit: BUSY, but for what may stop it (as Redis).
        if let Some(busy) = self.server.scripts.busy_error(cmd) {
            self.count_rejected(Some(cmd));
            self.reject(Some(cmd), busy);
            return Flow::Continue;
        }
        // A subscribed RESP2 connection may only (un)subscribe, PING and QUIT (as Redis 7.0).
        if self.subscribed_resp2() && !cmd.has(table::PUBSUB) {
            self.count_rejected(Some(cmd));
            self.out.error(&format!("ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context", name.to_ascii_lowercase()));
            return Flow::Continue;
        }
        if cmd.has(table::TRANSACTION) && !(cmd.has(table::QUEUED) && self.multi.is_some()) {
            // (EXEC shows its queue first: `exec`.)
            if cmd.session() != Some(Session::Exec) && cmd.arity_ok(args.len()) {
                self.feed(self.db, cmd, &args);
            }
            self.transaction(cmd, &args);
            return Flow::Continue;
        }
        if self.multi.is_some() && cmd.session() != Some(Session::Quit) {
            // Queued, or refused (and the transaction marked) if it could never run: its arity
            // first, as Redis checks it.
            let refused = if !cmd.arity_ok(args.len()) {
                Some(cmd.wrong_args())
            } else if cmd.has(table::NO_MULTI) {
                Some("ERR Command not allowed inside a transaction".to_string())
            } else {
                None
            };
            match (refused, self.multi.as_mut()) {
                (Some(e), _) => {
                    self.count_rejected(Some(cmd));
                    self.multi_failed = true;
                    self.out.error(&e);
                }
                (None, Some(queue)) => {
                    queue.push(Op { cmd, args });
                    self.out.simple("QUEUED");
                }
                (None, None) => {}
            }
            return Flow::Continue;
        }
        if cmd.has(table::BLOCKING) {
            // Alone to the writer (the writes before it are answered): it may hold the client.
            if !cmd.arity_ok(args.len()) {
                self.count_rejected(Some(cmd));
                self.wrong_args(name);
            } else {
                self.feed(self.db, cmd, &args);
                let wait = Wait::Block {
                    args: args.clone(),
                    cmd,
                };
                let job = Job::Block {
                    db: self.db,
                    op: Op { cmd, args },
                    id: self.id,
                    notifier: self.notifier.clone(),
                    claim: self.handle.block.clone(),
                };
                self.submit(job, wait);
            }
            return Flow::Continue;
        }
        if cmd.has(table::WRITE) {
            debug_assert!(self.pending.is_empty() || self.pending_db == self.db);
            self.pending_db = self.db;
            if cmd.arity_ok(args.len()) {
                self.feed(self.db, cmd, &args);
            }
            self.pending.push(Op { cmd, args });
            self.pending_silent.push(self.silent_now);
            return Flow::Continue;
        }
        // Every argument a command reads is there (its arity, as Redis checks it first).
        if !cmd.arity_ok(args.len()) {
            self.count_rejected(Some(cmd));
            self.out.error(&cmd.wrong_args());
            return Flow::Continue;
        }
        self.feed(self.db, cmd, &args);
        // Timed for the SLOWLOG: what runs here (a write's time is the writer's). One clock
        // read per command, not two (the clock was 6.8% of a pipelined GET's CPU): in a run of
        // commands timed here one after another, each one's end is the next one's start (which
        // then also counts its own parsing, well under a microsecond).
        let flow = if self.server.slowlog_enabled() {
            let started = lap.unwrap_or_else(Instant::now);
            let flow = self.run(cmd, &args);
            let ended = Instant::now();
            let micros = ended.duration_since(started).as_micros() as u64;
            if self.server.is_slow(micros) {
                self.server.log_slow(self.id, &args, micros);
            }
            self.lap = Some(ended);
            flow
        } else {
            self.run(cmd, &args)
        };
        if self.quit {
            Flow::Close
        } else {
            flow
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
        self.out.error(&table::wrong_args(name));
    }

    /// The reply to a FUNCTION subcommand that may have changed the libraries (LOAD, DELETE,
    /// FLUSH, RESTORE), sent once they are saved: a library change is durable before it is
    /// acknowledged (the writer would save it only with its next group commit).
    fn reply_saved(&mut self, reply: &Reply) {
        match (self.server.scripts).save_now(&self.server.db, self.server.config.durability) {
            Ok(()) => self.out.reply(reply),
            Err(e) => self
                .out
                .error(&format!("ERR saving the function libraries: {e}")),
        }
    }

    /// Runs a command that is not a write (its arity checked): a keyspace read on this
    /// connection's snapshot, or a session command here.
    fn run(&mut self, cmd: &'static Command, args: &[Vec<u8>]) -> Flow {
        let a = cmd.own_args(args);
        let name = cmd.name;
        if let Handler::Read(read) = cmd.handler {
            // A tracked read runs on a snapshot taken after its keys were registered.
            if self.track_read(cmd, args) {
                self.snap = None;
            }
            self.keyspace_read(|ks| read(ks, a));
            self.note_keys(cmd, args);
            return Flow::Continue;
        }
        let Handler::Session(session) = cmd.handler else {
            // A write never comes here; a container alone has failed its arity.
            self.wrong_args(name);
            return Flow::Continue;
        };
        match session {
            Session::Ping if self.subscribed_resp2() => {
                if a.len() > 1 {
                    self.wrong_args(name);
                } else {
                    self.out.array(2);
                    self.out.bulk(b"pong");
                    self.out.bulk(a.first().map_or(&b""[..], |m| m.as_slice()));
                }
            }
            Session::Subscribe | Session::PSubscribe if !a.is_empty() => {
                self.subscribe(session == Session::PSubscribe, a)
            }
            Session::Unsubscribe | Session::PUnsubscribe => {
                self.unsubscribe(session == Session::PUnsubscribe, a)
            }
            Session::Publish if a.len() == 2 => self.publish(&a[0], &a[1]),
            Session::PubsubChannels => self.pubsub_channels(args, a),
            Session::PubsubNumsub => self.pubsub_numsub(a),
            Session::PubsubNumpat => self.pubsub_numpat(),
            Session::Help => self.help(cmd),
            // Scripting's management subcommands run here, over the shared cache and libraries
            // (EVAL and FCALL are writes: they run in the writer).
            Session::ScriptLoad => self.out.reply(&self.server.scripts.script_load(&a[0])),
            Session::ScriptExists => self.out.reply(&self.server.scripts.script_exists(a)),
            Session::ScriptFlush => self.out.reply(&self.server.scripts.script_flush(a)),
            Session::ScriptKill => self.out.reply(&self.server.scripts.script_kill()),
            Session::FunctionList => self.out.reply(&self.server.scripts.function_list(a)),
            Session::FunctionKill => self.out.reply(&self.server.scripts.function_kill()),
            Session::FunctionStats => self.out.reply(&self.server.scripts.function_stats()),
            Session::FunctionDump => self.out.reply(&self.server.scripts.function_dump()),
            Session::FunctionLoad => {
                let reply = self.server.scripts.function_load(a);
                self.reply_saved(&reply);
            }
            Session::FunctionDelete => {
                let reply = self.server.scripts.function_delete(&a[0]);
                self.reply_saved(&reply);
            }
            Session::FunctionFlush => {
                let reply = self.server.scripts.function_flush(a);
                self.reply_saved(&reply);
            }
            Session::FunctionRestore => {
                let reply = self.server.scripts.function_restore(a);
                self.reply_saved(&reply);
            }
            Session::Ping => match a.len() {
                0 => self.out.simple("PONG"),
                1 => self.out.bulk(&a[0]),
                _ => self.wrong_args(name),
            },
            Session::Echo if a.len() == 1 => self.out.bulk(&a[0]),
            Session::Quit => {
                self.out.simple("OK");
                return Flow::Close;
            }
            Session::Auth => return self.auth(a),
            Session::Hello => return self.hello(a),
            Session::Select if a.len() != 1 => self.wrong_args(name),
            Session::Select => match a
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
            Session::ClientId => self.out.int(self.id as i64),
            Session::ClientGetname => match self.name.clone() {
                Some(name) => self.out.bulk(&name),
                None => self.out.null(),
            },
            Session::ClientSetname => self.client_setname(&a[0]),
            // Accepted and not kept (CLIENT LIST shows no lib-name or lib-ver).
            Session::ClientSetinfo => self.out.simple("OK"),
            Session::ClientInfo => {
                let line = self.handle.line();
                self.out.verbatim(line.as_bytes());
            }
            Session::ClientList => self.client_list(a),
            Session::ClientKill => self.client_kill(a),
            Session::ClientReply => self.client_reply(&a[0]),
            Session::ClientUnblock if a.len() <= 2 => self.client_unblock(a),
            Session::ClientUnblock => self.out.error("ERR syntax error"),
            Session::ClientTracking => self.client_tracking(a),
            Session::ClientCaching => self.client_caching(&a[0]),
            Session::ClientGetredir => self.client_getredir(),
            Session::ClientTrackinginfo => self.client_trackinginfo(),
            Session::Monitor => self.monitor(),
            Session::SlowlogGet => self.slowlog_get(a),
            Session::SlowlogLen => {
                let len = self.server.slowlog.lock().expect("slowlog").len();
                self.out.int(len as i64);
            }
            Session::SlowlogReset => {
                self.server.slowlog.lock().expect("slowlog").reset();
                self.out.simple("OK");
            }
            Session::Command => self.command_all(),
            Session::CommandCount => self.out.int(table::COMMANDS.len() as i64),
            Session::CommandInfo => self.command_info_of(a),
            Session::CommandList => self.command_list(a),
            Session::CommandGetkeys => self.command_getkeys(a),
            Session::CommandDocs => self.command_docs(a),
            Session::ConfigGet => self.config_get(a),
            Session::ConfigSet => self.config_set(a),
            // As Redis started without a configuration file: the settings are the command line's.
            Session::ConfigRewrite => self
                .out
                .error("ERR The server is running without a config file"),
            Session::ConfigResetstat => {
                self.server.reset_stats();
                self.out.simple("OK");
            }
            Session::ObjectIdletime => {
                // This connection's own accesses first.
                self.server.note_access(&mut self.access, self.now);
                let access = &self.server.access;
                let idle = access.idle(self.db, &a[0], access.clock(Instant::now()));
                self.keyspace_read(|ks| crate::commands::dump::object_idletime(ks, &a[0], idle));
            }
            Session::Info => {
                let info = self.server.info(a);
                self.out.verbatim(info.as_bytes());
            }
            // Every commit so far written to the tree and synced (Redis' SAVE writes its
            // dataset): a checkpoint, which waits for a commit in progress.
            Session::Save if a.is_empty() => {
                // The changes counted so far are saved by the checkpoint (those committed while
                // it runs may be too: they stay counted, as Redis counts a BGSAVE's).
                let dirty = self.server.stats.dirty.load(Ordering::Relaxed);
                match self.server.db.checkpoint() {
                    Ok(()) => {
                        self.server.stats.dirty.fetch_sub(dirty, Ordering::Relaxed);
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_secs());
                        self.server.last_save.store(now, Ordering::Relaxed);
                        self.out.simple("OK");
                    }
                    Err(e) => self.out.error(&format!("ERR {e}")),
                }
            }
            Session::Shutdown => {
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
            Session::Time => {
                let since = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                self.out.array(2);
                self.out.bulk(since.as_secs().to_string().as_bytes());
                self.out.bulk(since.subsec_micros().to_string().as_bytes());
            }
            _ => self.wrong_args(name),
        }
        Flow::Continue
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.server.note_access(&mut self.access, Instant::now());
        // Gone before the writer hears it: it serves no element to a closed connection.
        self.handle.block.gone.store(true, Ordering::Release);
        if self.is_blocked() {
            self.send_unanswered(Job::Unblock {
                id: self.id,
                error: false,
                gone: true,
            });
        }
        self.unwatch();
        self.drop_watch_in_flight(true);
        self.tracking_off();
        self.monitor_off();
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
