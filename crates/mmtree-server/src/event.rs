//! The event loops: each serves its share of the connections from one thread, with epoll (mio,
//! edge-triggered), as Redis' `ae` loop does; the acceptor deals new connections out in turn.
//!
//! A connection is driven (`drive`) whenever something may let it go on: its socket became
//! readable or writable, the group-commit writer answered its job, a message was published to
//! it, or it was killed. A drive runs the complete commands it has, sends what it can, and reads
//! more, until the socket has nothing more to give (`WouldBlock`, so the next edge wakes it), a
//! job is with the writer (its answer wakes it), unsent replies pile up past `OUT_BACKLOG` (the
//! socket's writable edge wakes it), or its turn is over (`READS_PER_TURN`: it goes again after
//! the others). Reads run on the loop thread against a fresh snapshot each; only writes leave it.
//!
//! Invariant: a connection whose drive returned is woken again by exactly what it stopped at, so
//! none is forgotten (the periodic sweep only enforces timeouts and shutdown).

use crate::conn::{Conn, Status, QUERY_BUFFER_MAX};
use crate::jobs::{Event, Job, Notifier, Outcome, WriteBatch};
use crate::server::Server;
use crate::writer;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use rustc_hash::FxHashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, TryLockError};
use std::time::{Duration, Instant};

/// The token of a loop's waker (connection ids start at 1 and never reach it).
const WAKER: Token = Token(usize::MAX);
/// Bytes read from a socket at a time (one buffer per loop).
const READ_CHUNK: usize = 64 << 10;
/// Reads one connection may do in one turn before the others get theirs.
const READS_PER_TURN: usize = 16;
/// Unsent reply bytes above which a connection's requests wait until its client reads.
const OUT_BACKLOG: usize = 1 << 20;
/// How often timeouts and shutdown are checked.
const SWEEP: Duration = Duration::from_millis(100);
/// After shutdown begins, connections still busy this long are closed anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// One event loop, before its thread starts.
pub struct Loop {
    poll: Poll,
    rx: Receiver<Event>,
    pub notifier: Notifier,
    /// The loop's outbox: its connections' jobs for the writer, handed over at the end of each
    /// round (`hand_over`).
    jobs: (Sender<WriteBatch>, Receiver<WriteBatch>),
}

impl Loop {
    pub fn new() -> std::io::Result<Loop> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (tx, rx) = std::sync::mpsc::channel();
        Ok(Loop {
            poll,
            rx,
            jobs: std::sync::mpsc::channel(),
            notifier: Notifier {
                tx,
                waker,
                woken: Arc::new(AtomicBool::new(false)),
            },
        })
    }

    /// Serves connections until the server shuts down and the last one is closed. With `role`,
    /// the loop applies its connections' writes itself when it can (`hand_over`).
    pub fn run(self, server: Arc<Server>, role: Option<writer::Role>) {
        let Loop {
            mut poll,
            rx,
            notifier,
            jobs: (jobs_tx, jobs_rx),
        } = self;
        // A group was applied here: its answers are in `rx`, so the next poll only looks.
        let mut applied = false;
        let mut clients: FxHashMap<u64, Client> = FxHashMap::default();
        let mut events = Events::with_capacity(1024);
        let mut chunk = vec![0u8; READ_CHUNK];
        // Connections whose turn ended with more to read, or whose AUTH pause ends.
        let mut again: Vec<u64> = Vec::new();
        let mut paused: Vec<(Instant, u64)> = Vec::new();
        let mut ready: Vec<u64> = Vec::new();
        let mut last_sweep = Instant::now();
        let mut shutdown_since: Option<Instant> = None;
        loop {
            let mut timeout = SWEEP;
            if !again.is_empty() || std::mem::take(&mut applied) {
                timeout = Duration::ZERO;
            }
            if let Some(&(until, _)) = paused.iter().min() {
                timeout = timeout.min(until.saturating_duration_since(Instant::now()));
            }
            if let Err(e) = poll.poll(&mut events, Some(timeout)) {
                if e.kind() != ErrorKind::Interrupted {
                    eprintln!("mmtree serve: event loop: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                }
                continue;
            }
            ready.clear();
            ready.append(&mut again);
            for event in events.iter() {
                if event.token() != WAKER {
                    let id = event.token().0 as u64;
                    if event.is_read_closed() || event.is_error() {
                        if let Some(client) = clients.get_mut(&id) {
                            client.read_closed = true;
                        }
                    }
                    ready.push(id);
                }
            }
            // One clock reading serves this round's commands.
            let now = Instant::now();
            let now_ms = crate::store::now_ms();
            paused.retain(|&(until, id)| {
                let due = until <= now;
                if due {
                    ready.push(id);
                }
                !due
            });
            notifier.woken.store(false, Ordering::Release);
            while let Ok(event) = rx.try_recv() {
                match event {
                    Event::Accept(stream, id) => {
                        if let Some(client) =
                            Client::new(&server, &poll, stream, id, &notifier, &jobs_tx)
                        {
                            clients.insert(id, client);
                            ready.push(id);
                        }
                    }
                    Event::Outcome(id, outcome) => {
                        if let Some(client) = clients.get_mut(&id) {
                            client.conn.tick(now, now_ms);
                            let resumed = contained(id, || client.conn.resume(outcome));
                            if resumed.is_some() {
                                ready.push(id);
                            } else if let Some(mut client) = clients.remove(&id) {
                                let _ = poll.registry().deregister(&mut client.stream);
                            }
                        }
                    }
                    Event::Wake(id) => ready.push(id),
                }
            }
            for &id in &ready {
                let Some(client) = clients.get_mut(&id) else {
                    continue;
                };
                client.conn.tick(now, now_ms);
                // A bug in one command closes that connection, not the loop's others.
                let end = contained(id, || client.drive(&mut chunk)).unwrap_or(Drive::Close);
                if role.is_none() {
                    // Jobs for the group-commit thread go at once: it applies them while this
                    // loop serves the next connections.
                    hand_over(&server, None, &notifier, &jobs_rx);
                }
                client
                    .conn
                    .show_buffers(client.stream.as_raw_fd(), client.unsent());
                match end {
                    Drive::Parked => {}
                    Drive::Again => again.push(id),
                    Drive::Paused(until) => paused.push((until, id)),
                    Drive::Close => {
                        if let Some(mut client) = clients.remove(&id) {
                            let _ = poll.registry().deregister(&mut client.stream);
                        }
                    }
                }
            }
            again.sort_unstable();
            again.dedup();
            applied = hand_over(&server, role.as_ref(), &notifier, &jobs_rx);
            if last_sweep.elapsed() >= SWEEP {
                last_sweep = Instant::now();
                if server.shutting_down.load(Ordering::Relaxed) {
                    shutdown_since.get_or_insert_with(Instant::now);
                }
                let grace_over = shutdown_since.is_some_and(|t| t.elapsed() > SHUTDOWN_GRACE);
                let closing: Vec<u64> = clients
                    .iter_mut()
                    .filter_map(|(&id, c)| {
                        c.sweep(&server, shutdown_since.is_some(), grace_over)
                            .then_some(id)
                    })
                    .collect();
                for id in closing {
                    if let Some(mut client) = clients.remove(&id) {
                        let _ = client.flush();
                        let _ = poll.registry().deregister(&mut client.stream);
                    }
                }
                if shutdown_since.is_some() && clients.is_empty() {
                    // (What the closed connections handed over last.)
                    hand_over(&server, None, &notifier, &jobs_rx);
                    return;
                }
            }
        }
    }
}

/// Hands the writer this round's jobs, in the order the connections sent them. With `role`, the
/// loop applies them itself if it can at once: every job may run on a loop (`writer::inline`),
/// the role is free, and no job waits in the writer's queue (which is applied first: jobs run in
/// the order they were queued). This saves the group-commit thread's wake and the loop's, which
/// cost more than a small group's commit. Otherwise they join the writer's queue. True if
/// applied here (the answers are in the loop's channel, which no wake announced).
fn hand_over(
    server: &Server,
    role: Option<&writer::Role>,
    notifier: &Notifier,
    jobs: &Receiver<WriteBatch>,
) -> bool {
    let group: Vec<WriteBatch> = jobs.try_iter().collect();
    if group.is_empty() {
        return false;
    }
    // A commit that would write the tree (a merge of the write buffer at its budget, which
    // takes up to seconds on a large database) goes to the thread, so this loop's readers are
    // served meanwhile. The record is estimated from the arguments, with room to spare.
    let record = || {
        group
            .iter()
            .map(|b| b.job.bytes() as u64 * 2 + 64)
            .sum::<u64>()
            + 4096
    };
    let inline = |_: &&writer::Role| {
        if !group.iter().all(|b| writer::inline(&b.job)) {
            return false;
        }
        // (If the state cannot be read, the thread makes the commit and reports the error.)
        let merging = server.db.merge_pending(record()).unwrap_or(true);
        if merging {
            server.stats.merge_handoffs.fetch_add(1, Ordering::Relaxed);
        }
        !merging
    };
    if let Some(role) = role.filter(inline) {
        let held = match role.try_lock() {
            Ok(writer) => Some(writer),
            Err(TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        if let Some(mut writer) = held.filter(|_| server.writer.is_empty()) {
            // The answers go to this loop's channel; it reads them next without a wake.
            notifier.woken.store(true, Ordering::Release);
            let blocks = group.iter().any(|b| matches!(b.job, Job::Block { .. }));
            writer.apply(group);
            // A client blocked here with a timeout: the thread answers it when it passes.
            if let Some(at) = writer.next_deadline().filter(|_| blocks) {
                server.writer.nudge(at);
            }
            return true;
        }
    }
    if let Err(refused) = server.writer.push(group) {
        for batch in refused {
            (batch.reply)(Outcome::Failed("ERR the server is shutting down".into()));
        }
    }
    false
}

/// Runs `f` for connection `id`; a panic (a bug) is reported and gives None, so the caller
/// closes that connection and the loop serves the others on.
fn contained<T>(id: u64, f: impl FnOnce() -> T) -> Option<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(t) => Some(t),
        Err(_) => {
            eprintln!("mmtree serve: a command of client {id} failed (a bug: see the panic above); that connection is closed");
            None
        }
    }
}

/// How a drive ended.
enum Drive {
    /// Waits for its socket, the writer or its client to read replies.
    Parked,
    /// Its turn ended with more to read.
    Again,
    /// A failed AUTH holds it until then.
    Paused(Instant),
    /// Closed (its replies sent as far as the socket took them).
    Close,
}

struct Client {
    stream: TcpStream,
    conn: Conn,
    /// How much of `conn.out.buf` the socket has taken.
    sent: usize,
    /// Closing: replies are sent, requests no longer read.
    closing: Option<Instant>,
    /// The peer shut down its side (or the socket failed): read to the end, no short cuts.
    read_closed: bool,
}

impl Client {
    fn new(
        server: &Arc<Server>,
        poll: &Poll,
        stream: std::net::TcpStream,
        id: u64,
        notifier: &Notifier,
        jobs: &Sender<WriteBatch>,
    ) -> Option<Client> {
        let addr = stream
            .peer_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let laddr = stream
            .local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string());
        let _ = stream.set_nodelay(true);
        // Counted in by the acceptor; `Conn`'s drop counts it out, so a connection that cannot
        // be registered is built and dropped.
        let conn = Conn::new(
            server.clone(),
            id,
            addr,
            laddr,
            notifier.clone(),
            jobs.clone(),
        );
        if stream.set_nonblocking(true).is_err() {
            return None;
        }
        let mut stream = TcpStream::from_std(stream);
        let token = Token(usize::try_from(id).ok()?);
        if let Err(e) =
            poll.registry()
                .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
        {
            eprintln!("mmtree serve: cannot watch a connection: {e}");
            return None;
        }
        Some(Client {
            stream,
            conn,
            sent: 0,
            closing: None,
            read_closed: false,
        })
    }

    /// Runs the connection as far as it can go now (see the module's comment).
    fn drive(&mut self, chunk: &mut [u8]) -> Drive {
        if self.conn.killed() {
            return Drive::Close;
        }
        // A blocked client reads nothing more, so its peer's close is seen by the event
        // alone: it is closed (as Redis frees a blocked client whose socket ended) and the
        // writer forgets it.
        if self.read_closed && self.conn.is_blocked() {
            return Drive::Close;
        }
        for _ in 0..READS_PER_TURN {
            let ran = self.closing.is_none() && self.unsent() <= OUT_BACKLOG;
            if ran {
                if let Some(end) = self.run_commands() {
                    return end;
                }
            }
            if self.closing.is_some() {
                // Closed once the replies are out; until then the writable edge comes back.
                return self.settle();
            }
            if self.flush().is_err() {
                return Drive::Close;
            }
            if self.unsent() > OUT_BACKLOG {
                // The socket is full (the flush met WouldBlock): its writable edge comes back.
                return Drive::Parked;
            }
            if !ran {
                // Commands (a stalled one, complete ones in `input`, mail) waited for the
                // backlog the flush just sent: run them before reading more.
                continue;
            }
            match self.stream.read(chunk) {
                Ok(0) => return Drive::Close,
                Ok(n) => {
                    self.conn.input.extend_from_slice(&chunk[..n]);
                    self.conn.last_activity = self.conn.now;
                    if self.conn.input.len() > QUERY_BUFFER_MAX {
                        self.conn
                            .out
                            .error("ERR Protocol error: query buffer limit reached");
                        self.closing = Some(self.conn.now);
                    }
                    if n < chunk.len() && !self.read_closed {
                        // A TCP read short of the buffer emptied the receive queue, and data
                        // arriving after it raises a new edge: run what came, reply, and park
                        // without the read that would only say WouldBlock. (A shutdown that
                        // arrived with the data is flagged by the event: then read on to EOF.)
                        if self.closing.is_none() && self.unsent() <= OUT_BACKLOG {
                            if let Some(end) = self.run_commands() {
                                return end;
                            }
                        }
                        return self.settle();
                    }
                }
                // Everything read has run and been answered (the top of this loop).
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Drive::Parked,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Drive::Close,
            }
        }
        Drive::Again
    }

    /// Runs the complete commands; `Some` if the drive ends here (waiting, paused, or closing
    /// with its replies out), `None` if more input is welcome.
    fn run_commands(&mut self) -> Option<Drive> {
        match self.conn.process() {
            Status::Idle => None,
            Status::Waiting => Some(match self.conn.paused_until {
                Some(until) => Drive::Paused(until),
                // Replies before the job go out now.
                None => match self.flush() {
                    Ok(()) => Drive::Parked,
                    Err(()) => Drive::Close,
                },
            }),
            Status::Close => {
                self.closing = Some(self.conn.now);
                Some(self.settle())
            }
        }
    }

    /// Sends what it can and parks (a closing connection closes once its replies are out).
    fn settle(&mut self) -> Drive {
        match self.flush() {
            Err(()) => Drive::Close,
            Ok(()) if self.closing.is_some() && self.unsent() == 0 => Drive::Close,
            Ok(()) => Drive::Parked,
        }
    }

    fn unsent(&self) -> usize {
        self.conn.out.buf.len() - self.sent
    }

    /// Sends what the socket takes now.
    fn flush(&mut self) -> Result<(), ()> {
        while self.sent < self.conn.out.buf.len() {
            match self.stream.write(&self.conn.out.buf[self.sent..]) {
                Ok(0) => return Err(()),
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Err(()),
            }
        }
        self.conn.out.buf.clear();
        self.sent = 0;
        if self.conn.out.buf.capacity() > crate::conn::KEEP_BUFFER {
            self.conn.out.buf = Vec::new();
        }
        Ok(())
    }

    /// Timeouts and shutdown: true if the connection is to be closed now.
    fn sweep(&mut self, server: &Server, shutting_down: bool, grace_over: bool) -> bool {
        let config = &server.config;
        if self.conn.killed() || grace_over {
            return true;
        }
        if let Some(since) = self.closing {
            // A client that does not take its last replies.
            return since.elapsed() > config.slow_timeout.max(Duration::from_secs(1));
        }
        if self
            .conn
            .partial_since
            .is_some_and(|since| since.elapsed() > config.slow_timeout)
        {
            self.conn
                .out
                .error("ERR timeout: request not completed in time (slow sender)");
            let _ = self.flush();
            return true;
        }
        let idle = self.conn.is_quiet() && self.conn.input.is_empty() && self.unsent() == 0;
        // Subscribers only receive, so they are never idle (Redis exempts pub/sub clients).
        if idle
            && !self.conn.is_subscriber()
            && config
                .idle_timeout()
                .is_some_and(|t| self.conn.last_activity.elapsed() > t)
        {
            return true;
        }
        // Shutting down: a connection goes once what it sent has run and been answered (a
        // blocked one at once).
        shutting_down && (idle || self.conn.is_blocked())
    }
}
