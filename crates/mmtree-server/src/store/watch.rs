//! WATCH's versions: which keys connections watch, and a version per key that every write bumps.

use std::collections::HashMap;

/// The keys some connection WATCHes, each with a version bumped by every write that changes it
/// (SET, DEL of a live key, INCR, EXPIRE, FLUSHDB of a live key, …, from any connection). Only
/// the group-commit writer registers watches and bumps versions, in commit order, so a version a
/// connection read at WATCH differs at EXEC exactly when a write came in between. Expiry without
/// a write is caught at EXEC by comparing liveness (see `WatchedKey::live`).
#[derive(Default)]
pub struct Watches {
    dbs: HashMap<u32, HashMap<Vec<u8>, Watched>>,
}

#[derive(Default)]
struct Watched {
    watchers: usize,
    version: u64,
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
    pub fn is_empty(&self) -> bool {
        self.dbs.is_empty()
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
        let Some(keys) = self.dbs.get_mut(&db) else {
            return;
        };
        if let Some(entry) = keys.get_mut(key) {
            entry.watchers -= 1;
            if entry.watchers == 0 {
                keys.remove(key);
            }
        }
        if keys.is_empty() {
            self.dbs.remove(&db);
        }
    }

    pub fn version(&self, db: u32, key: &[u8]) -> Option<u64> {
        Some(self.dbs.get(&db)?.get(key)?.version)
    }

    pub fn touch(&mut self, db: u32, key: &[u8]) {
        if let Some(entry) = self.dbs.get_mut(&db).and_then(|keys| keys.get_mut(key)) {
            entry.version += 1;
        }
    }

    pub fn keys(&self, db: u32) -> Vec<Vec<u8>> {
        self.dbs
            .get(&db)
            .map_or_else(Vec::new, |keys| keys.keys().cloned().collect())
    }
}
