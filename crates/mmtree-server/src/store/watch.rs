//! WATCH's versions: which keys connections watch, and a version per key that every write bumps;
//! and, by the same hook, which keys a blocked client waits on that a write touched.

use std::collections::HashMap;

/// The keys some connection WATCHes, each with a version bumped by every write that changes it
/// (SET, DEL of a live key, INCR, EXPIRE, FLUSHDB of a live key, …, from any connection). Only
/// the group-commit writer registers watches and bumps versions, in commit order, so a version a
/// connection read at WATCH differs at EXEC exactly when a write came in between. Expiry without
/// a write is caught at EXEC by comparing liveness (see `WatchedKey::live`).
///
/// The writer's blocked clients (`crate::blocking`) register the keys they wait on here too
/// (`add_waiter`): every write that touches such a key, by whatever command (a script's
/// included), notes it in `ready`, and the writer serves those keys after the command.
///
/// While some client uses CLIENT TRACKING (`tracking`), every touch and flush is also noted as a
/// `Change` with the client whose command made it (`client`, set by the writer before each
/// job): the writer hands them to the tracking table after the commit.
#[derive(Default)]
pub struct Watches {
    dbs: HashMap<u32, HashMap<Vec<u8>, Watched>>,
    ready: Vec<(u32, Vec<u8>)>,
    /// Collect `changes` (some client tracks keys).
    pub tracking: bool,
    /// The client whose command the writer is running (0: none).
    pub client: u64,
    changes: Vec<Change>,
}

/// One change the writer made, for CLIENT TRACKING: a key (of any database: tracking knows key
/// names only, as Redis), or a flush; with the client whose command made it (0: the expiry
/// sweep). `Expired` is a key a read of the client found expired (lazy expiry): as in Redis,
/// NOLOOP spares that client in default mode, but BCAST clients all hear of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Key(Vec<u8>, u64),
    Expired(Vec<u8>, u64),
    Flush(u64),
}

#[derive(Default)]
struct Watched {
    watchers: usize,
    version: u64,
    /// Blocked clients waiting on the key.
    waiters: usize,
}

/// One key a connection watches: as the writer saw it at WATCH.
#[derive(Clone, Debug)]
pub struct WatchedKey {
    pub db: u32,
    pub key: Vec<u8>,
    pub version: u64,
    /// Whether the key was live at WATCH: a key that expires before EXEC counts as modified (as
    /// in Redis), one already expired at WATCH and swept since does not.
    pub live: bool,
}

impl Watches {
    /// True if nothing needs the writes' touches (no watch, no waiter, no tracking).
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty() && !self.tracking
    }

    /// A FLUSHDB or FLUSHALL ran (for CLIENT TRACKING).
    pub fn flushed(&mut self) {
        if self.tracking {
            self.changes.push(Change::Flush(self.client));
        }
    }

    /// A key the expiry sweep removed (for CLIENT TRACKING).
    pub fn expired(&mut self, key: &[u8]) {
        if self.tracking {
            self.changes.push(Change::Key(key.to_vec(), 0));
        }
    }

    /// A key a read of `client` found expired, removed (for CLIENT TRACKING).
    pub fn lazily_expired(&mut self, key: &[u8]) {
        if self.tracking {
            self.changes
                .push(Change::Expired(key.to_vec(), self.client));
        }
    }

    /// The changes noted since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    /// Registers one watcher of the key; returns its current version.
    pub fn add(&mut self, db: u32, key: &[u8]) -> u64 {
        let entry = self
            .dbs
            .entry(db)
            .or_default()
            .entry(key.to_vec())
            .or_default();
        entry.watchers += 1;
        entry.version
    }

    /// Drops one watcher of the key.
    pub fn remove(&mut self, db: u32, key: &[u8]) {
        self.drop_one(db, key, false);
    }

    /// Registers one blocked client waiting on the key.
    pub fn add_waiter(&mut self, db: u32, key: &[u8]) {
        self.dbs
            .entry(db)
            .or_default()
            .entry(key.to_vec())
            .or_default()
            .waiters += 1;
    }

    /// Drops one blocked client waiting on the key.
    pub fn remove_waiter(&mut self, db: u32, key: &[u8]) {
        self.drop_one(db, key, true);
    }

    fn drop_one(&mut self, db: u32, key: &[u8], waiter: bool) {
        let Some(keys) = self.dbs.get_mut(&db) else {
            return;
        };
        if let Some(entry) = keys.get_mut(key) {
            let count = if waiter {
                &mut entry.waiters
            } else {
                &mut entry.watchers
            };
            *count = count.saturating_sub(1);
            if entry.watchers == 0 && entry.waiters == 0 {
                keys.remove(key);
            }
        }
        if keys.is_empty() {
            self.dbs.remove(&db);
        }
    }

    /// The keys with a blocked client that writes touched since the last call, in order.
    pub fn take_ready(&mut self) -> Vec<(u32, Vec<u8>)> {
        std::mem::take(&mut self.ready)
    }

    pub fn version(&self, db: u32, key: &[u8]) -> Option<u64> {
        Some(self.dbs.get(&db)?.get(key)?.version)
    }

    pub fn touch(&mut self, db: u32, key: &[u8]) {
        if self.tracking {
            self.changes.push(Change::Key(key.to_vec(), self.client));
        }
        if let Some(entry) = self.dbs.get_mut(&db).and_then(|keys| keys.get_mut(key)) {
            entry.version += 1;
            if entry.waiters > 0 {
                self.ready.push((db, key.to_vec()));
            }
        }
    }

    pub fn keys(&self, db: u32) -> Vec<Vec<u8>> {
        self.dbs
            .get(&db)
            .map_or_else(Vec::new, |keys| keys.keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key a blocked client waits on is noted by every touch, whatever wrote it, until its
    /// last waiter goes; a watcher's version is not disturbed by the waiters.
    #[test]
    fn touches_of_waited_keys_are_noted_for_the_blocked_clients() {
        let mut w = Watches::default();
        w.touch(0, b"k");
        assert!(w.take_ready().is_empty());
        let v = w.add(0, b"k");
        w.add_waiter(0, b"k");
        w.add_waiter(0, b"k");
        w.touch(0, b"k");
        w.touch(1, b"k");
        assert_eq!(w.take_ready(), [(0, b"k".to_vec())]);
        assert_eq!(w.version(0, b"k"), Some(v + 1));
        w.remove_waiter(0, b"k");
        w.touch(0, b"k");
        assert_eq!(w.take_ready().len(), 1);
        w.remove_waiter(0, b"k");
        w.touch(0, b"k");
        assert!(w.take_ready().is_empty());
        // The watcher is still there; once it goes, nothing is left.
        assert_eq!(w.version(0, b"k"), Some(v + 3));
        w.remove(0, b"k");
        assert!(w.is_empty());
        w.add_waiter(2, b"x");
        assert_eq!(w.keys(2), [b"x".to_vec()]);
        w.remove_waiter(2, b"x");
        assert!(w.is_empty());
    }
}
