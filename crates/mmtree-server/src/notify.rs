//! Keyspace notifications (`CONFIG SET notify-keyspace-events`), as Redis 7.0: the group-commit
//! writer records an event per change while it applies a command (`store::Tx::notify`) and, once
//! the commit is made, publishes `__keyspace@DB__:KEY` → event and `__keyevent@DB__:EVENT` → key
//! to the subscribers (through their mail, as PUBLISH does), before it answers the writers.

use std::sync::atomic::{AtomicU32, Ordering};

/// Event classes and the two kinds of channel, as Redis' `NOTIFY_*` flags.
pub const KEYSPACE: u32 = 1 << 0;
pub const KEYEVENT: u32 = 1 << 1;
pub const GENERIC: u32 = 1 << 2;
pub const STRING: u32 = 1 << 3;
pub const LIST: u32 = 1 << 4;
pub const SET: u32 = 1 << 5;
pub const HASH: u32 = 1 << 6;
pub const ZSET: u32 = 1 << 7;
pub const EXPIRED: u32 = 1 << 8;
pub const EVICTED: u32 = 1 << 9;
pub const STREAM: u32 = 1 << 10;
pub const KEY_MISS: u32 = 1 << 11;
pub const MODULE: u32 = 1 << 12;
pub const NEW: u32 = 1 << 13;
/// `A`: every class but key misses and new keys.
pub const ALL: u32 =
    GENERIC | STRING | LIST | SET | HASH | ZSET | EXPIRED | EVICTED | STREAM | MODULE;

/// One change, recorded by the writer.
pub struct KeyEvent {
    pub db: u32,
    pub class: u32,
    pub event: &'static str,
    pub key: Vec<u8>,
}

/// The flags in force (0: off, the default).
#[derive(Default)]
pub struct Settings(AtomicU32);

impl Settings {
    pub fn get(&self) -> u32 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, flags: u32) {
        self.0.store(flags, Ordering::Relaxed);
    }
}

/// Parses Redis' flag letters (`KEA`, `Kg$lshzxetdmn`); None for an unknown letter.
pub fn parse(text: &[u8]) -> Option<u32> {
    let mut flags = 0;
    for c in text {
        flags |= match c {
            b'A' => ALL,
            b'g' => GENERIC,
            b'$' => STRING,
            b'l' => LIST,
            b's' => SET,
            b'h' => HASH,
            b'z' => ZSET,
            b'x' => EXPIRED,
            b'e' => EVICTED,
            b'K' => KEYSPACE,
            b'E' => KEYEVENT,
            b't' => STREAM,
            b'm' => KEY_MISS,
            b'd' => MODULE,
            b'n' => NEW,
            _ => return None,
        };
    }
    Some(flags)
}

/// The flags in Redis' canonical spelling (CONFIG GET).
pub fn format(flags: u32) -> String {
    let mut out = String::new();
    if flags & ALL == ALL {
        out.push('A');
    } else {
        for (flag, c) in [
            (GENERIC, 'g'),
            (STRING, '$'),
            (LIST, 'l'),
            (SET, 's'),
            (HASH, 'h'),
            (ZSET, 'z'),
            (EXPIRED, 'x'),
            (EVICTED, 'e'),
            (STREAM, 't'),
            (MODULE, 'd'),
            (NEW, 'n'),
        ] {
            if flags & flag != 0 {
                out.push(c);
            }
        }
    }
    for (flag, c) in [(KEYSPACE, 'K'), (KEYEVENT, 'E'), (KEY_MISS, 'm')] {
        if flags & flag != 0 {
            out.push(c);
        }
    }
    out
}

/// The (channel, message) pairs an event publishes under `flags`, keyspace first.
pub fn messages(flags: u32, e: &KeyEvent) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    if flags & e.class == 0 {
        return out;
    }
    if flags & KEYSPACE != 0 {
        let mut channel = format!("__keyspace@{}__:", e.db).into_bytes();
        channel.extend_from_slice(&e.key);
        out.push((channel, e.event.as_bytes().to_vec()));
    }
    if flags & KEYEVENT != 0 {
        let channel = format!("__keyevent@{}__:{}", e.db, e.event).into_bytes();
        out.push((channel, e.key.clone()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_read_and_print_as_redis() {
        let round = |s: &str| format(parse(s.as_bytes()).unwrap());
        assert_eq!(round("gKE"), "gKE");
        assert_eq!(round("$lshzxeKE"), "$lshzxeKE");
        assert_eq!(round("KA"), "AK");
        assert_eq!(round("EA"), "AE");
        // As Redis prints it: `A` hides the classes outside it too.
        assert_eq!(round("An"), "A");
        assert_eq!(round(""), "");
        assert_eq!(parse(b"Kq"), None);
    }
}
