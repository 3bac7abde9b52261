//! Client-side caching (CLIENT TRACKING), as Redis 7.0's `tracking.c`: which client may cache
//! which key, and the invalidation messages a change sends.
//!
//! - **Default mode**: a tracking connection registers the keys of each read-only command it
//!   runs (`remember`, by the table's key positions; OPTIN/OPTOUT and CLIENT CACHING choose which
//!   reads count) in `keys`: key → client ids. A key is invalidated once per registration: the
//!   change that invalidates it removes it from the table, and a client must read it again to
//!   hear of the next change.
//! - **BCAST mode**: a client subscribes to prefixes (the empty prefix: every key) and hears of
//!   every key changed under one, whether it read it or not: one message per prefix per commit,
//!   holding every key of that prefix the commit changed.
//! - **What a change is**: every key the group-commit writer touches (`store::Watches::touch`,
//!   the hook that bumps WATCH versions and wakes blocked clients), expired keys the sweep
//!   removes, keys a read found expired (Redis' lazy expiry: on an event loop the connection sends
//!   `Job::Expire` and the writer removes them if they still are; a read the writer runs, queued
//!   in MULTI or a script's, removes them in its transaction; a change of the reader in default
//!   mode, of nobody in BCAST, as Redis' `trackingInvalidateKey` sees it), and FLUSHDB/FLUSHALL (a null invalidation to every tracking client, and the table
//!   emptied). The writer hands them to `modified` after the commit and delivers what it
//!   returns (`deliver`), before it answers the writers, except a message for the client whose
//!   own command made the change (after its reply, as Redis 7.0 sends it), and BCAST messages
//!   (after the replies, as Redis sends them before it sleeps).
//! - **Where a message goes**: a RESP3 client gets `>2 invalidate [keys]` on its own connection;
//!   with REDIRECT it goes to that client: a push if it speaks RESP3, else a pub/sub message on
//!   `__redis__:invalidate` if it is subscribed. A RESP2 client without REDIRECT gets nothing
//!   (RESP2 has no pushes). A redirect target that is gone marks the client's redirect broken
//!   (`flags=R`, TRACKINGINFO's `broken_redirect`) and a RESP3 client gets
//!   `>2 tracking-redir-broken id`.
//!
//! No stale read goes unnoticed: a connection registers the keys before it takes the snapshot
//! the read runs on, so a commit that the snapshot does not see is processed after the
//! registration; and CLIENT TRACKING ON answers only after a round trip through the writer, so
//! no group committed without collecting its keys can begin after tracking is on.

use crate::pubsub::{Handle, Registry};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The channel RESP2 redirect targets subscribe to.
pub const CHANNEL: &[u8] = b"__redis__:invalidate";

/// Redis' default `tracking-table-max-keys`.
pub const DEFAULT_MAX_KEYS: usize = 1_000_000;

/// A tracking client's options (CLIENT TRACKING ON …).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mode {
    /// The client receiving the messages (0: the client itself).
    pub redirect: u64,
    pub bcast: bool,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
    /// BCAST prefixes (the empty prefix when none was given).
    pub prefixes: BTreeSet<Vec<u8>>,
}

pub use crate::store::Change;

/// One message to send to `client` (through its redirect): keys, or None for a flush.
#[derive(Debug, PartialEq, Eq)]
pub struct Invalidation {
    pub client: u64,
    pub keys: Option<Vec<Vec<u8>>>,
    /// Sent after the writers are answered (see the module comment).
    pub after_reply: bool,
}

/// The tracking table and the tracking clients.
pub struct Tracking {
    clients: HashMap<u64, Mode>,
    /// Default mode: key → the clients that may cache it.
    keys: HashMap<Vec<u8>, BTreeSet<u64>>,
    /// Client ids over all keys (INFO `tracking_total_items`).
    items: usize,
    /// BCAST: prefix → its clients.
    prefixes: BTreeMap<Vec<u8>, BTreeSet<u64>>,
    /// `tracking-table-max-keys` (0: no limit).
    pub max_keys: usize,
}

impl Default for Tracking {
    fn default() -> Self {
        Tracking {
            clients: HashMap::new(),
            keys: HashMap::new(),
            items: 0,
            prefixes: BTreeMap::new(),
            max_keys: DEFAULT_MAX_KEYS,
        }
    }
}

/// The first of two overlapping prefixes (one starts with the other), as Redis checks them.
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let n = a.len().min(b.len());
    a[..n] == b[..n]
}

impl Tracking {
    pub fn keys(&self) -> usize {
        self.keys.len()
    }
    pub fn items(&self) -> usize {
        self.items
    }
    pub fn prefixes(&self) -> usize {
        self.prefixes.len()
    }

    pub fn mode(&self, id: u64) -> Option<&Mode> {
        self.clients.get(&id)
    }

    /// The error for BCAST prefixes that overlap one another or one the client has, in Redis'
    /// words (None: they do not).
    pub fn prefix_collision(&self, id: u64, given: &[Vec<u8>]) -> Option<String> {
        let have = self.clients.get(&id).map(|m| &m.prefixes);
        for (i, p) in given.iter().enumerate() {
            if let Some(q) = have.into_iter().flatten().find(|q| overlap(q, p)) {
                return Some(format!(
                    "ERR Prefix '{}' overlaps with an existing prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                ));
            }
            if let Some(q) = given[i + 1..].iter().find(|q| overlap(p, q)) {
                return Some(format!(
                    "ERR Prefix '{}' overlaps with another provided prefix '{}'. Prefixes for a single client must not overlap.",
                    String::from_utf8_lossy(p),
                    String::from_utf8_lossy(q)
                ));
            }
        }
        None
    }

    /// CLIENT TRACKING ON (checked by the caller): the options replace the client's, the
    /// prefixes add to those it has (as Redis' `enableTracking`). Returns the mode in force.
    pub fn enable(&mut self, id: u64, mut mode: Mode) -> Mode {
        let mut prefixes = self
            .clients
            .remove(&id)
            .map(|m| m.prefixes)
            .unwrap_or_default();
        if mode.bcast {
            if mode.prefixes.is_empty() {
                mode.prefixes.insert(Vec::new());
            }
            prefixes.append(&mut mode.prefixes);
            for p in &prefixes {
                self.prefixes.entry(p.clone()).or_default().insert(id);
            }
        }
        mode.prefixes = prefixes;
        self.clients.insert(id, mode.clone());
        mode
    }

    /// CLIENT TRACKING OFF (or the connection closed). The keys it registered stay until they
    /// are invalidated (as in Redis); nothing is sent for them to a client no longer tracking.
    pub fn disable(&mut self, id: u64) {
        let Some(mode) = self.clients.remove(&id) else {
            return;
        };
        for p in mode.prefixes {
            if let Some(ids) = self.prefixes.get_mut(&p) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.prefixes.remove(&p);
                }
            }
        }
    }

    /// Registers `keys` as cached by client `id` (a read in default mode). Returns the
    /// invalidations of the keys evicted to keep the table within `max_keys`.
    pub fn remember<'a>(
        &mut self,
        id: u64,
        keys: impl Iterator<Item = &'a Vec<u8>>,
    ) -> Vec<Invalidation> {
        for key in keys {
            if self.keys.entry(key.clone()).or_default().insert(id) {
                self.items += 1;
            }
        }
        self.limit()
    }

    /// Evicts keys (each invalidated for its clients) until the table holds at most
    /// `max_keys` (Redis' `trackingLimitUsedSlots`, without its effort bound).
    pub fn limit(&mut self) -> Vec<Invalidation> {
        let mut out = Vec::new();
        if self.max_keys == 0 {
            return out;
        }
        let over = self.keys.len().saturating_sub(self.max_keys);
        // Chosen in one pass (taking the first key again and again would rescan the emptied
        // buckets each time).
        let victims: Vec<Vec<u8>> = self.keys.keys().take(over).cloned().collect();
        for key in victims {
            self.invalidate_key(&key, 0, false, &mut out);
        }
        out
    }

    /// The messages `key`'s registrations give (the key leaves the table).
    fn invalidate_key(&mut self, key: &[u8], by: u64, noloop: bool, out: &mut Vec<Invalidation>) {
        let Some(ids) = self.keys.remove(key) else {
            return;
        };
        self.items -= ids.len();
        for id in ids {
            // A client that stopped tracking, or now broadcasts, hears nothing of it.
            let Some(mode) = self.clients.get(&id) else {
                continue;
            };
            if mode.bcast || (noloop && mode.noloop && id == by) {
                continue;
            }
            out.push(Invalidation {
                client: id,
                keys: Some(vec![key.to_vec()]),
                after_reply: id == by && by != 0,
            });
        }
    }

    /// The invalidations a commit's changes give, in order (see the module comment).
    pub fn modified(&mut self, changes: &[Change]) -> Vec<Invalidation> {
        let mut out = Vec::new();
        // BCAST: per prefix, each key changed under it with the last client that changed it.
        let mut broadcast: BTreeMap<Vec<u8>, BTreeMap<&[u8], u64>> = BTreeMap::new();
        for change in changes {
            match change {
                Change::Key(key, by) | Change::Expired(key, by) => {
                    // (Redis broadcasts a lazy expiry as made by no client.)
                    let by_bcast = if matches!(change, Change::Expired(..)) {
                        0
                    } else {
                        *by
                    };
                    for p in self.prefixes.keys() {
                        if key.starts_with(p) {
                            broadcast
                                .entry(p.clone())
                                .or_default()
                                .insert(key, by_bcast);
                        }
                    }
                    self.invalidate_key(key, *by, true, &mut out);
                }
                Change::Flush(by) => {
                    let mut ids: Vec<u64> = self.clients.keys().copied().collect();
                    ids.sort_unstable();
                    for id in ids {
                        out.push(Invalidation {
                            client: id,
                            keys: None,
                            after_reply: id == *by,
                        });
                    }
                    self.keys.clear();
                    self.items = 0;
                }
            }
        }
        for (prefix, keys) in broadcast {
            for &id in self.prefixes.get(&prefix).into_iter().flatten() {
                let noloop = self.clients.get(&id).is_some_and(|m| m.noloop);
                let keys: Vec<Vec<u8>> = keys
                    .iter()
                    .filter(|&(_, &by)| !(noloop && by == id))
                    .map(|(k, _)| k.to_vec())
                    .collect();
                if !keys.is_empty() {
                    out.push(Invalidation {
                        client: id,
                        keys: Some(keys),
                        after_reply: true,
                    });
                }
            }
        }
        out
    }

    /// The redirect of each client of `plan` (0: none), read under the lock.
    pub fn redirects(&self, plan: &[Invalidation]) -> Vec<u64> {
        plan.iter()
            .map(|i| self.clients.get(&i.client).map_or(0, |m| m.redirect))
            .collect()
    }
}

/// The keys part of a message: an array of bulk strings, or null (a flush).
fn keys_value(resp3: bool, keys: &Option<Vec<Vec<u8>>>) -> Vec<u8> {
    let mut out = Vec::new();
    match keys {
        None => out.extend_from_slice(if resp3 { b"_\r\n" } else { b"$-1\r\n" }),
        Some(keys) => {
            out.extend_from_slice(format!("*{}\r\n", keys.len()).as_bytes());
            for k in keys {
                out.extend_from_slice(format!("${}\r\n", k.len()).as_bytes());
                out.extend_from_slice(k);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    out
}

/// Sends each invalidation (with its client's redirect, as `Tracking::redirects` read them)
/// into the mail of the connection that gets it. Takes the registry lock, then each target's
/// state and mail alone (never the tracking lock).
pub fn deliver(registry: &Registry, plan: &[Invalidation], redirects: &[u64]) {
    if plan.is_empty() {
        return;
    }
    // Per invalidation: its client, and its redirect target (None: none, or gone).
    type Pair = (Option<Arc<Handle>>, Option<Arc<Handle>>);
    let handles: Vec<Pair> = {
        let registry = registry.lock().expect("registry");
        plan.iter()
            .zip(redirects)
            .map(|(i, &r)| {
                (
                    registry.get(&i.client).cloned(),
                    (r != 0).then(|| registry.get(&r).cloned()).flatten(),
                )
            })
            .collect()
    };
    for ((inv, &redirect), (client, target)) in plan.iter().zip(redirects).zip(handles) {
        let Some(client) = client else {
            continue;
        };
        let resp3 = |h: &Handle| h.state.lock().expect("client state").resp3;
        let target = match (redirect, target) {
            (0, _) => client,
            (_, Some(target)) => target,
            (_, None) => {
                client.tracking.broken.store(true, Ordering::Relaxed);
                if resp3(&client) {
                    client.deliver(
                        format!(">2\r\n$21\r\ntracking-redir-broken\r\n:{redirect}\r\n").as_bytes(),
                    );
                }
                continue;
            }
        };
        let mut message = Vec::new();
        let resp3 = resp3(&target);
        if resp3 {
            message.extend_from_slice(b">2\r\n$10\r\ninvalidate\r\n");
        } else if redirect != 0 && target.is_pubsub() {
            message.extend_from_slice(b"*3\r\n$7\r\nmessage\r\n");
            message.extend_from_slice(format!("${}\r\n", CHANNEL.len()).as_bytes());
            message.extend_from_slice(CHANNEL);
            message.extend_from_slice(b"\r\n");
        } else {
            continue;
        }
        message.extend_from_slice(&keys_value(resp3, &inv.keys));
        target.deliver(&message);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(inv: &Invalidation) -> Vec<String> {
        inv.keys
            .iter()
            .flatten()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    /// A registration is invalidated once, NOLOOP skips the client's own changes, BCAST gets
    /// every key of its prefixes, and a flush reaches every tracking client and empties the
    /// table.
    #[test]
    fn changes_invalidate_as_redis() {
        let mut t = Tracking::default();
        t.enable(1, Mode::default());
        t.enable(
            2,
            Mode {
                noloop: true,
                ..Mode::default()
            },
        );
        t.enable(
            3,
            Mode {
                bcast: true,
                prefixes: [b"a:".to_vec()].into(),
                ..Mode::default()
            },
        );
        assert!(t.remember(1, [b"k".to_vec()].iter()).is_empty());
        assert!(t.remember(2, [b"k".to_vec()].iter()).is_empty());
        assert_eq!(
            (t.keys(), t.items(), t.prefixes(), t.clients.len()),
            (1, 2, 1, 3)
        );
        let out = t.modified(&[
            Change::Key(b"k".to_vec(), 2),
            Change::Key(b"a:1".to_vec(), 3),
            Change::Key(b"a:2".to_vec(), 1),
            Change::Key(b"k".to_vec(), 1),
        ]);
        // Client 2 changed k itself (NOLOOP); client 1 hears of it once.
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].client, keys(&out[0])), (1, vec!["k".to_string()]));
        assert!(!out[0].after_reply);
        assert_eq!(
            (out[1].client, keys(&out[1])),
            (3, vec!["a:1".to_string(), "a:2".to_string()])
        );
        assert!(out[1].after_reply);
        assert_eq!(t.keys(), 0);
        t.remember(1, [b"x".to_vec()].iter());
        let out = t.modified(&[Change::Flush(1)]);
        assert_eq!(out.iter().map(|i| i.client).collect::<Vec<_>>(), [1, 2, 3]);
        assert!(out.iter().all(|i| i.keys.is_none()));
        assert!(out[0].after_reply && !out[1].after_reply);
        assert_eq!((t.keys(), t.items()), (0, 0));
        // Over the limit: keys are evicted, each invalidated.
        t.remember(1, [b"p".to_vec(), b"q".to_vec(), b"r".to_vec()].iter());
        t.max_keys = 1;
        assert_eq!(t.limit().len(), 2);
        assert_eq!(t.keys(), 1);
        t.disable(3);
        assert_eq!(t.prefixes(), 0);
    }

    /// A key a client's read found expired (`Change::Expired`), as Redis' lazy expiry tells it:
    /// in default mode from that client (NOLOOP spares it; without NOLOOP it hears after its
    /// reply), in BCAST from nobody (a NOLOOP broadcaster hears of its own read's expiry).
    #[test]
    fn a_lazy_expiry_is_the_readers_change_but_broadcast_as_nobodys() {
        let mut t = Tracking::default();
        t.enable(1, Mode::default());
        t.enable(
            2,
            Mode {
                noloop: true,
                ..Mode::default()
            },
        );
        t.enable(
            3,
            Mode {
                bcast: true,
                noloop: true,
                ..Mode::default()
            },
        );
        t.remember(1, [b"k".to_vec()].iter());
        t.remember(2, [b"k".to_vec()].iter());
        let out = t.modified(&[Change::Expired(b"k".to_vec(), 2)]);
        let got: Vec<(u64, bool)> = out.iter().map(|i| (i.client, i.after_reply)).collect();
        assert_eq!(got, [(1, false), (3, true)]);
        t.remember(1, [b"k".to_vec()].iter());
        let out = t.modified(&[Change::Expired(b"k".to_vec(), 1)]);
        let got: Vec<(u64, bool)> = out.iter().map(|i| (i.client, i.after_reply)).collect();
        assert_eq!(got, [(1, true), (3, true)]);
        // A change of its own is kept from a NOLOOP broadcaster, as before.
        let out = t.modified(&[Change::Key(b"k".to_vec(), 3)]);
        assert!(out.is_empty());
    }

    #[test]
    fn prefix_collisions_are_named_as_redis() {
        let mut t = Tracking::default();
        let e = t
            .prefix_collision(1, &[b"FOOBAR".to_vec(), b"FOO".to_vec()])
            .unwrap();
        assert!(e.starts_with("ERR Prefix 'FOOBAR' overlaps with another provided prefix 'FOO'"));
        t.enable(
            1,
            Mode {
                bcast: true,
                prefixes: [b"FOO".to_vec(), b"BAR".to_vec()].into(),
                ..Mode::default()
            },
        );
        let e = t.prefix_collision(1, &[b"FO".to_vec()]).unwrap();
        assert!(e.starts_with("ERR Prefix 'FO' overlaps with an existing prefix 'FOO'"));
        assert!(t.prefix_collision(1, &[b"BAZ".to_vec()]).is_none());
    }
}
