//! Blocked clients (BLPOP, BLMOVE, BZPOPMIN, …): the group-commit writer's own state, as the
//! WATCH versions are. Nothing here is shared or locked: only the writer registers a blocked
//! client, serves it, times it out or unblocks it, so a pop is atomic with every other write and
//! two clients never take the same element.
//!
//! The life of a blocked client:
//! 1. Its connection sends a `Job::Block` and parks (reads no further command) until answered.
//! 2. The writer tries the pop in the group's transaction (the table's `Block` handler,
//!    `commands::blocking`); with nothing to pop it registers the client here (`block`): in the
//!    FIFO of each key it waits on, by its deadline, and flags it for CLIENT LIST and INFO.
//! 3. After every write command the writer applies (and after a whole EXEC), the keys a client
//!    waits on that the command wrote are ready: every write touches its key (`Tx::touch`), and
//!    `store::Watches` notes a touch of a waited key (registered with `add_waiter`), whatever
//!    wrote it; `touched` marks the command's keys by the table too (its key positions; SWAPDB,
//!    MOVE and COPY … DB name keys of other databases). `serve` serves the ready keys in the
//!    same transaction: for each key, the clients waiting on it in arrival order, each with its
//!    own pop from that key (which may make another key ready: BLMOVE's destination), until the
//!    key is empty. A client served is unregistered at once; its answer waits in `answers` until
//!    the commit is made (`deliver`), so it is acknowledged as durably as any write. A failed
//!    commit (`fail`) answers with its error and forgets the clients the segment blocked (their
//!    jobs are answered with the failure too).
//! 4. A deadline passed (`expire`, called by the writer at least every 100 ms and woken for the
//!    next deadline), CLIENT UNBLOCK or the connection closing (`Job::Unblock`) end it otherwise.
//!
//! As Redis 7.0: a key of another type than the pop's leaves the client blocked; a client whose
//! pop fails (BLMOVE into a key of another type) is answered with the error; an expired key is
//! no key.

use crate::commands::blocking::{Attempt, Blocking, Pop};
use crate::commands::{self, table};
use crate::jobs::{BlockClaim, Event, Notifier, Op, Outcome};
use crate::notify;
use crate::resp::Reply;
use crate::server::Server;
use crate::store::{self, Tx, TxResult, Watches};
use rustc_hash::{FxHashMap, FxHashSet};
use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What a client blocked in XREADGROUP gets when its stream is deleted or replaced (Redis 7.0's
/// words).
fn streams_gone() -> &'static str {
    "UNBLOCKED the stream key no longer exists"
}

/// The reply CLIENT UNBLOCK … ERROR gives the blocked client (Redis' words).
pub const UNBLOCKED: &str = "UNBLOCKED client unblocked via CLIENT UNBLOCK";

/// One blocked client.
struct Waiter {
    db: u32,
    pop: Pop,
    keys: Vec<Vec<u8>>,
    deadline: Option<u64>,
    notifier: Notifier,
    claim: Arc<BlockClaim>,
}

/// The writer's view of one write transaction, enough to build a `store::Tx` on any database.
pub struct Place<'a> {
    pub w: &'a mut mmtree::WriteTransaction,
    pub watches: &'a mut Watches,
    pub now: u64,
    pub max_key: usize,
    pub events: Option<&'a mut Vec<notify::KeyEvent>>,
}

impl Place<'_> {
    fn tx(&mut self, db: u32) -> Tx<'_> {
        Tx {
            changes: 0,
            w: self.w,
            db,
            now: self.now,
            max_key: self.max_key,
            watches: (!self.watches.is_empty()).then_some(&mut *self.watches),
            events: self.events.as_deref_mut(),
        }
    }
}

/// Every blocked client, by id, by key (per database, in arrival order) and by deadline.
pub struct Blocked {
    server: Arc<Server>,
    waiters: FxHashMap<u64, Waiter>,
    queues: Vec<FxHashMap<Vec<u8>, VecDeque<u64>>>,
    deadlines: BTreeSet<(u64, u64)>,
    /// Keys a write touched that a client waits on, in the order they were touched.
    ready: VecDeque<(u32, Vec<u8>)>,
    ready_set: FxHashSet<(u32, Vec<u8>)>,
    /// Clients this segment ended, and what they are answered once its commit is made.
    /// (client, its loop, its answer, how long the pop that served it ran in µs)
    answers: Vec<(u64, Notifier, Reply, u64)>,
    /// Clients this segment blocked.
    new: Vec<u64>,
    /// Pops this segment made for blocked clients (or a blocking command's first try).
    pub wrote: usize,
}

impl Blocked {
    pub fn new(server: Arc<Server>) -> Blocked {
        Blocked {
            server,
            waiters: FxHashMap::default(),
            queues: (0..store::DATABASES)
                .map(|_| FxHashMap::default())
                .collect(),
            deadlines: BTreeSet::new(),
            ready: VecDeque::new(),
            ready_set: FxHashSet::default(),
            answers: Vec::new(),
            new: Vec::new(),
            wrote: 0,
        }
    }

    /// The earliest deadline (Unix ms), if any client has one.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadlines.first().map(|&(at, _)| at)
    }

    /// A blocking command of client `id` on `db`: answered now (a pop, or an error), or the
    /// client registered (`Outcome::Blocked`: answered later, through `notifier`).
    pub fn block(
        &mut self,
        place: &mut Place<'_>,
        db: u32,
        op: &Op,
        id: u64,
        notifier: &Notifier,
        claim: &Arc<BlockClaim>,
    ) -> TxResult<Outcome> {
        // Closed before its command ran: nothing is popped for nobody.
        if claim.gone.load(Ordering::Acquire) {
            return Ok(Outcome::Replies(Vec::new()));
        }
        let (cmd, args) = (op.cmd, &op.args);
        let checked =
            cmd.arity_ok(args.len()) && !cmd.key_args(args).any(|k| k.len() > place.max_key);
        let attempt = match cmd.handler {
            table::Handler::Block(attempt) if checked => attempt(&mut place.tx(db), &args[1..])?,
            // The table's path answers the arity or key-length error.
            _ => Attempt::Done(commands::write::apply(&mut place.tx(db), cmd, args)?),
        };
        match attempt {
            Attempt::Done(reply) => {
                if !matches!(reply, Reply::Error(_)) {
                    self.wrote += 1;
                    // BLMOVE's push may serve another client.
                    self.touched(db, cmd, args);
                }
                Ok(Outcome::Replies(vec![reply]))
            }
            // Closed meanwhile: nobody to hold.
            Attempt::Wait(_) if claim.gone.load(Ordering::Acquire) => {
                Ok(Outcome::Replies(Vec::new()))
            }
            Attempt::Wait(b) => {
                self.register(place.watches, id, db, b, notifier.clone(), claim.clone());
                Ok(Outcome::Blocked)
            }
        }
    }

    fn register(
        &mut self,
        watches: &mut Watches,
        id: u64,
        db: u32,
        b: Blocking,
        notifier: Notifier,
        claim: Arc<BlockClaim>,
    ) {
        // A connection blocks once at a time; a stale entry would be a bug, dropped quietly.
        self.unregister(watches, id);
        for key in &b.keys {
            // Every write that touches the key notes it (`Watches::touch`), whatever its command.
            watches.add_waiter(db, key);
            self.queues[db as usize]
                .entry(key.clone())
                .or_default()
                .push_back(id);
        }
        if let Some(at) = b.deadline {
            self.deadlines.insert((at, id));
        }
        claim.blocked.store(true, Ordering::Release);
        self.waiters.insert(
            id,
            Waiter {
                db,
                pop: b.pop,
                keys: b.keys,
                deadline: b.deadline,
                notifier,
                claim,
            },
        );
        self.new.push(id);
        self.server
            .stats
            .blocked
            .store(self.waiters.len() as u64, Ordering::Relaxed);
    }

    fn unregister(&mut self, watches: &mut Watches, id: u64) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        let queues = &mut self.queues[waiter.db as usize];
        for key in &waiter.keys {
            watches.remove_waiter(waiter.db, key);
            if let Some(queue) = queues.get_mut(key) {
                queue.retain(|&other| other != id);
                if queue.is_empty() {
                    queues.remove(key);
                }
            }
        }
        if let Some(at) = waiter.deadline {
            self.deadlines.remove(&(at, id));
        }
        waiter.claim.blocked.store(false, Ordering::Release);
        self.server
            .stats
            .blocked
            .store(self.waiters.len() as u64, Ordering::Relaxed);
        Some(waiter)
    }

    /// Marks `key` of `db` ready if a client waits on it.
    fn mark(&mut self, db: u32, key: &[u8]) {
        let Some(queues) = self.queues.get(db as usize) else {
            return;
        };
        if queues.contains_key(key) && self.ready_set.insert((db, key.to_vec())) {
            self.ready.push_back((db, key.to_vec()));
        }
    }

    /// After write command `args` ran on `db`: the keys it may have filled that clients wait on
    /// are ready (its keys by the table; SWAPDB every waited key of both databases; MOVE and
    /// COPY … DB the key in the other database). A key marked that got nothing is harmless: its
    /// clients stay blocked.
    pub fn touched(&mut self, db: u32, cmd: &table::Command, args: &[Vec<u8>]) {
        if self.waiters.is_empty() || args.is_empty() {
            return;
        }
        let number = |a: Option<&Vec<u8>>| -> Option<u32> {
            std::str::from_utf8(a?)
                .ok()?
                .parse::<u32>()
                .ok()
                .filter(|&d| d < store::DATABASES)
        };
        // (The commands that name keys of another database than the connection's.)
        match cmd.name {
            "SWAPDB" => {
                for d in [number(args.get(1)), number(args.get(2))]
                    .into_iter()
                    .flatten()
                {
                    let keys: Vec<Vec<u8>> = self.queues[d as usize].keys().cloned().collect();
                    for key in keys {
                        self.mark(d, &key);
                    }
                }
            }
            "MOVE" => {
                if let (Some(key), Some(to)) = (args.get(1), number(args.get(2))) {
                    self.mark(to, key);
                }
            }
            "COPY" => {
                let to = args
                    .iter()
                    .skip(3)
                    .position(|a| a.eq_ignore_ascii_case(b"DB"))
                    .and_then(|i| number(args.get(3 + i + 1)))
                    .unwrap_or(db);
                if let Some(key) = args.get(2) {
                    self.mark(to, key);
                }
            }
            _ => {
                let keys: Vec<&Vec<u8>> = cmd.key_args(args).collect();
                for key in keys {
                    self.mark(db, key);
                }
            }
        }
    }

    /// Serves the clients waiting on the keys marked ready, in this transaction (see the
    /// module's comment).
    pub fn serve(&mut self, place: &mut Place<'_>) -> TxResult<()> {
        loop {
            // The keys writes touched (`Watches::touch`), after those the commands named.
            for (db, key) in place.watches.take_ready() {
                self.mark(db, &key);
            }
            let Some((db, key)) = self.ready.pop_front() else {
                break;
            };
            self.ready_set.remove(&(db, key.clone()));
            let Some(queue) = self.queues[db as usize].get(&key) else {
                continue;
            };
            let ids: Vec<u64> = queue.iter().copied().collect();
            for id in ids {
                let Some(waiter) = self.waiters.get(&id) else {
                    continue;
                };
                if waiter.claim.gone.load(Ordering::Acquire) {
                    self.unregister(place.watches, id);
                    continue;
                }
                let pop = waiter.pop.clone();
                // Its pop's changes are its own (CLIENT TRACKING's NOLOOP, and an invalidation
                // of its own key follows its answer).
                let by = std::mem::replace(&mut place.watches.client, id);
                let started = std::time::Instant::now();
                let mut tx = place.tx(db);
                match tx.collection_for_write(&key, pop.kind())? {
                    Ok(Some(_)) => {}
                    // XREADGROUP's stream is gone: its wait ends with Redis' error.
                    Ok(None) | Err(_) if pop.ends_when_gone() => {
                        if let Some(waiter) = self.unregister(place.watches, id) {
                            let gone = Reply::Error(streams_gone().into());
                            self.answers.push((id, waiter.notifier, gone, 0));
                        }
                        continue;
                    }
                    // Emptied (or expired): the others wait on.
                    Ok(None) => break,
                    // Of another type: only a client popping that type is served.
                    Err(_) => continue,
                }
                let reply = pop.run(&mut tx, &key);
                let micros = started.elapsed().as_micros() as u64;
                place.watches.client = by;
                let reply = reply?;
                if matches!(reply, Reply::Null | Reply::NullArray) {
                    continue;
                }
                if let Some(waiter) = self.unregister(place.watches, id) {
                    self.answers.push((id, waiter.notifier, reply, micros));
                }
                self.wrote += 1;
                // What its pop filled (BLMOVE's destination) may serve others in turn.
                if let Some(dst) = pop.destination() {
                    self.mark(db, dst);
                }
            }
        }
        Ok(())
    }

    /// CLIENT UNBLOCK (`error`: with the UNBLOCKED error, else nil as on a timeout), or the
    /// connection closed (`gone`: removed, not answered).
    pub fn unblock(&mut self, watches: &mut Watches, id: u64, error: bool, gone: bool) {
        let Some(waiter) = self.unregister(watches, id) else {
            return;
        };
        if gone {
            return;
        }
        let reply = if error {
            Reply::Error(UNBLOCKED.into())
        } else {
            waiter.pop.nothing(false)
        };
        self.answers.push((id, waiter.notifier, reply, 0));
    }

    /// Answers the clients whose deadline is `now` (Unix ms) or earlier with nil. Called between
    /// segments (a time-out needs no commit).
    pub fn expire(&mut self, watches: &mut Watches, now: u64) {
        while let Some(&(at, id)) = self.deadlines.first() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            if let Some(waiter) = self.unregister(watches, id) {
                if !waiter.claim.gone.load(Ordering::Acquire) {
                    waiter.notifier.send(Event::Outcome(
                        id,
                        Outcome::Unblocked(waiter.pop.nothing(false), 0),
                    ));
                }
            }
        }
    }

    /// The segment's commit is made: its answers go out.
    pub fn deliver(&mut self, watches: &mut Watches) {
        watches.take_ready();
        for (id, notifier, reply, micros) in self.answers.drain(..) {
            notifier.send(Event::Outcome(id, Outcome::Unblocked(reply, micros)));
        }
        self.new.clear();
        self.ready.clear();
        self.ready_set.clear();
        self.wrote = 0;
    }

    /// The segment's commit failed: nothing it did happened. The clients it served or unblocked
    /// get the error; those it blocked are forgotten (their own jobs are answered with it).
    pub fn fail(&mut self, watches: &mut Watches, error: &str) {
        watches.take_ready();
        let new: FxHashSet<u64> = self.new.drain(..).collect();
        for (id, notifier, _, _) in self.answers.drain(..) {
            if !new.contains(&id) {
                notifier.send(Event::Outcome(id, Outcome::Failed(error.to_string())));
            }
        }
        for id in new {
            self.unregister(watches, id);
        }
        self.ready.clear();
        self.ready_set.clear();
        self.wrote = 0;
    }
}
