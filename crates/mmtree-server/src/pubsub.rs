//! The clients the server has (CLIENT LIST/INFO/KILL) and pub/sub (SUBSCRIBE, PSUBSCRIBE,
//! PUBLISH, PUBSUB).
//!
//! Every connection registers a `Handle`: its addresses, a few fields CLIENT LIST shows, and its
//! mail. PUBLISH appends a message to each subscriber's mail and tells the subscriber's event
//! loop; the subscriber moves its mail into its reply buffer before it runs its next command and
//! whenever its loop is told, so a message is never cut into a reply, and one published after a
//! SUBSCRIBE was registered (and its confirmation put in the reply buffer) follows that
//! confirmation. PUBLISH never waits for a subscriber: one that does not read its socket gets
//! mail up to `MAIL_LIMIT`, and is then disconnected (Redis' pub/sub output buffer limit).

use crate::glob::glob;
use crate::jobs::{BlockClaim, Event, Notifier, WatchClaim};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One connection, as other connections see it.
pub struct Handle {
    pub id: u64,
    pub addr: String,
    pub laddr: String,
    pub created: Instant,
    pub state: Mutex<State>,
    /// Set by CLIENT KILL (and its event loop told).
    pub killed: AtomicBool,
    /// Messages published to this connection and not yet in its reply buffer.
    pub mail: Mutex<Vec<u8>>,
    /// True while `mail` holds something (read without the lock before each command).
    pub has_mail: AtomicBool,
    /// The connection's event loop.
    pub notifier: Notifier,
    /// Its WATCH jobs' claim (see `jobs::WatchClaim`).
    pub watch: Arc<WatchClaim>,
    /// Its blocking commands' claim: blocked now (`flags=b`), gone (see `jobs::BlockClaim`).
    pub block: Arc<BlockClaim>,
    /// The connection's socket and buffers, as its event loop last left them.
    pub buffers: Buffers,
    /// CLIENT TRACKING as CLIENT LIST shows it (`flags=t`, `R`, `B`; `redir=`).
    pub tracking: TrackingFlags,
    /// In MONITOR mode (`flags=O`).
    pub monitor: AtomicBool,
}

/// What CLIENT LIST and TRACKINGINFO show of a connection's tracking: set by the connection,
/// except `broken`, set by whoever finds its redirect target gone (`tracking::deliver`).
#[derive(Default)]
pub struct TrackingFlags {
    pub on: AtomicBool,
    pub bcast: AtomicBool,
    pub broken: AtomicBool,
    pub redirect: std::sync::atomic::AtomicU64,
}

/// CLIENT LIST's `fd`, `qbuf` and `omem`, set by the connection's event loop after each turn.
#[derive(Default)]
pub struct Buffers {
    pub fd: std::sync::atomic::AtomicI32,
    pub qbuf: std::sync::atomic::AtomicU64,
    pub omem: std::sync::atomic::AtomicU64,
    /// The connection's own rate limiter's level (f64 bits; 0 without one), for INFO.
    pub limiter_level: std::sync::atomic::AtomicU64,
}

/// Unsent messages a subscriber may have before it is disconnected (as Redis'
/// `client-output-buffer-limit pubsub 32mb`).
pub const MAIL_LIMIT: usize = 32 << 20;

/// What CLIENT LIST shows of a connection, updated by it at each command.
#[derive(Default, Clone)]
pub struct State {
    pub name: Vec<u8>,
    pub db: u32,
    pub cmd: String,
    pub last: Option<Instant>,
    /// Commands queued after MULTI (-1: not in MULTI).
    pub multi: i64,
    pub sub: usize,
    pub psub: usize,
    pub resp3: bool,
}

impl Handle {
    /// The CLIENT LIST / CLIENT INFO line (with its newline), in Redis 7.0's field order.
    pub fn line(&self) -> String {
        let s = self.state.lock().expect("client state").clone();
        let idle = s.last.map_or(0, |t| t.elapsed().as_secs());
        // Redis' letters, in its order: O (MONITOR), P (subscribed), x (in MULTI), b (blocked),
        // t (tracking), R (its redirect is gone), B (broadcast tracking); N: none.
        let mut flags = String::new();
        if self.monitor.load(Ordering::Relaxed) {
            flags.push('O');
        }
        if s.sub + s.psub > 0 {
            flags.push('P');
        } else if s.multi >= 0 {
            flags.push('x');
        }
        if self.block.blocked.load(Ordering::Acquire) {
            flags.push('b');
        }
        let tracking = self.tracking.on.load(Ordering::Relaxed);
        if tracking {
            flags.push('t');
            if self.tracking.broken.load(Ordering::Relaxed) {
                flags.push('R');
            }
            if self.tracking.bcast.load(Ordering::Relaxed) {
                flags.push('B');
            }
        }
        if flags.is_empty() {
            flags.push('N');
        }
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={idle} flags={flags} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem={} tot-mem=0 events=r cmd={} user=default redir={} resp={}\n",
            self.id,
            self.addr,
            self.laddr,
            self.buffers.fd.load(Ordering::Relaxed),
            String::from_utf8_lossy(&s.name),
            self.created.elapsed().as_secs(),
            s.db,
            s.sub,
            s.psub,
            s.multi,
            self.buffers.qbuf.load(Ordering::Relaxed),
            self.buffers.omem.load(Ordering::Relaxed),
            if s.cmd.is_empty() { "NULL" } else { &s.cmd },
            if tracking {
                self.tracking.redirect.load(Ordering::Relaxed) as i64
            } else {
                -1
            },
            if s.resp3 { 3 } else { 2 },
        )
    }

    pub fn is_pubsub(&self) -> bool {
        let s = self.state.lock().expect("client state");
        s.sub + s.psub > 0
    }

    /// Closes the connection from another one.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.notifier.send(Event::Wake(self.id));
    }

    /// A message on `channel` (matched by `pattern`, if any) into the mail, in this
    /// connection's protocol.
    pub fn publish(&self, pattern: Option<&[u8]>, channel: &[u8], payload: &[u8]) {
        let resp3 = self.state.lock().expect("client state").resp3;
        self.deliver(&encode_message(resp3, pattern, channel, payload));
    }

    /// Adds a message to the mail (a subscriber too far behind is disconnected instead).
    pub fn deliver(&self, message: &[u8]) {
        let had_mail = {
            let mut mail = self.mail.lock().expect("client mail");
            if mail.len() + message.len() > MAIL_LIMIT {
                mail.clear();
                drop(mail);
                eprintln!(
                    "mmtree serve: client {} ({}) closed: more than {} MiB of pub/sub messages unread",
                    self.id,
                    self.addr,
                    MAIL_LIMIT >> 20
                );
                self.kill();
                return;
            }
            mail.extend_from_slice(message);
            self.has_mail.swap(true, Ordering::AcqRel)
        };
        if !had_mail {
            self.notifier.send(Event::Wake(self.id));
        }
    }
}

/// Who subscribes to what.
#[derive(Default)]
pub struct Subs {
    pub channels: HashMap<Vec<u8>, BTreeSet<u64>>,
    pub patterns: BTreeMap<Vec<u8>, BTreeSet<u64>>,
}

impl Subs {
    pub fn add(&mut self, pattern: bool, name: &[u8], id: u64) {
        if pattern {
            self.patterns.entry(name.to_vec()).or_default().insert(id);
        } else {
            self.channels.entry(name.to_vec()).or_default().insert(id);
        }
    }

    pub fn remove(&mut self, pattern: bool, name: &[u8], id: u64) {
        if pattern {
            if let Some(ids) = self.patterns.get_mut(name) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.patterns.remove(name);
                }
            }
        } else if let Some(ids) = self.channels.get_mut(name) {
            ids.remove(&id);
            if ids.is_empty() {
                self.channels.remove(name);
            }
        }
    }

    /// The receivers of a message on `channel`: (client, the pattern it matched, if any).
    pub fn targets(&self, channel: &[u8]) -> Vec<(u64, Option<Vec<u8>>)> {
        let mut out: Vec<(u64, Option<Vec<u8>>)> = self
            .channels
            .get(channel)
            .into_iter()
            .flatten()
            .map(|&id| (id, None))
            .collect();
        for (pattern, ids) in &self.patterns {
            if glob(pattern, channel) {
                out.extend(ids.iter().map(|&id| (id, Some(pattern.clone()))));
            }
        }
        out
    }
}

/// A pushed message: `message channel payload` or `pmessage pattern channel payload`, as an
/// array (RESP2) or a push (RESP3).
pub fn encode_message(
    resp3: bool,
    pattern: Option<&[u8]>,
    channel: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + channel.len() + payload.len());
    let n = if pattern.is_some() { 4 } else { 3 };
    out.extend_from_slice(format!("{}{n}\r\n", if resp3 { '>' } else { '*' }).as_bytes());
    let mut bulk = |b: &[u8]| {
        out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
        out.extend_from_slice(b);
        out.extend_from_slice(b"\r\n");
    };
    match pattern {
        Some(p) => {
            bulk(b"pmessage");
            bulk(p);
        }
        None => bulk(b"message"),
    }
    bulk(channel);
    bulk(payload);
    out
}

/// The registry of live connections.
pub type Registry = Mutex<BTreeMap<u64, Arc<Handle>>>;
