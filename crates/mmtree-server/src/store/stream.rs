//! A stream's rows (`XADD` and the consumer groups), in its key's run of `__serve:hash:dbN` like
//! the other collections (so DEL, RENAME, COPY, MOVE, SWAPDB and expiry carry or drop them with
//! the rest). The field of each row starts with a tag byte:
//!
//! - `0x00` → the stream's state (`Meta`: last ID, entries added, max deleted ID, length);
//! - `0x01 id` → an entry (id: ms u64 BE, seq u64 BE, so entries are in ID order and XRANGE is
//!   one range read): its ordinal (u64 BE: the stream's entries added when it was added; which
//!   of Redis' 100-entry nodes it is in, for approximate trimming), `u32 BE pairs`, then each
//!   field and value as `u32 BE len, bytes`;
//! - `0x02 group` → a consumer group: last delivered ID, entries read (i64 BE, -1: unknown);
//! - `0x03 u32 BE len, group, consumer` → a consumer: seen time (u64 BE ms);
//! - `0x04 u32 BE len, group, id` → a pending entry of the group: delivery time (u64 BE ms),
//!   delivery count (u64 BE), its consumer's name;
//! - `0x05 u32 BE len, group, u32 BE len, consumer, id` → empty: the same entry in its
//!   consumer's pending list (XPENDING … consumer, XINFO CONSUMERS, XREADGROUP's history).
//!
//! The key's data row holds the number of rows in the run (as for the other collections), so
//! a stream with no entries still exists (its state row remains), as in Redis.

/// Entries a node of Redis' radix tree holds (`CONFIG SET stream-node-max-entries`, default
/// 100; 0: no limit): approximate trimming removes whole nodes, and an entry's node is its
/// ordinal divided by this, as the setting was when its stream filled that node (taken as
/// constant over a stream's life). A setting of the process, as Redis' is of the server.
static NODE_ENTRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(100);

/// The entries of a node (`u64::MAX` for no limit).
pub fn node_entries() -> u64 {
    match NODE_ENTRIES.load(std::sync::atomic::Ordering::Relaxed) {
        0 => u64::MAX,
        n => n,
    }
}

/// The setting as CONFIG GET shows it.
pub fn node_entries_setting() -> u64 {
    NODE_ENTRIES.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_node_entries(n: u64) {
    NODE_ENTRIES.store(n, std::sync::atomic::Ordering::Relaxed);
}

pub const META: u8 = 0;
pub const ENTRY: u8 = 1;
pub const GROUP: u8 = 2;
pub const CONSUMER: u8 = 3;
pub const PENDING: u8 = 4;
pub const OWNED: u8 = 5;

/// A stream entry ID: milliseconds and a sequence number.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id {
    pub ms: u64,
    pub seq: u64,
}

impl Id {
    pub const MIN: Id = Id { ms: 0, seq: 0 };
    pub const MAX: Id = Id {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> Id {
        Id { ms, seq }
    }

    pub fn bytes(&self) -> [u8; 16] {
        let mut b = [0; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }

    /// The ID 16 bytes hold (None: not 16 bytes).
    pub fn from_bytes(b: &[u8]) -> Option<Id> {
        let b: &[u8; 16] = b.try_into().ok()?;
        Some(Id {
            ms: u64::from_be_bytes(b[..8].try_into().ok()?),
            seq: u64::from_be_bytes(b[8..].try_into().ok()?),
        })
    }

    /// The next ID (None after the last possible one).
    pub fn next(self) -> Option<Id> {
        if self.seq < u64::MAX {
            Some(Id::new(self.ms, self.seq + 1))
        } else if self.ms < u64::MAX {
            Some(Id::new(self.ms + 1, 0))
        } else {
            None
        }
    }

    /// The ID before (None before 0-0).
    pub fn prev(self) -> Option<Id> {
        if self.seq > 0 {
            Some(Id::new(self.ms, self.seq - 1))
        } else if self.ms > 0 {
            Some(Id::new(self.ms - 1, u64::MAX))
        } else {
            None
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Id::MIN
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A stream's state (its `0x00` row).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    pub last_id: Id,
    pub entries_added: u64,
    pub max_deleted: Id,
    pub length: u64,
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(48);
        v.extend_from_slice(&self.last_id.bytes());
        v.extend_from_slice(&self.entries_added.to_be_bytes());
        v.extend_from_slice(&self.max_deleted.bytes());
        v.extend_from_slice(&self.length.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<Meta> {
        if v.len() != 48 {
            return None;
        }
        Some(Meta {
            last_id: Id::from_bytes(&v[..16])?,
            entries_added: u64::from_be_bytes(v[16..24].try_into().ok()?),
            max_deleted: Id::from_bytes(&v[24..40])?,
            length: u64::from_be_bytes(v[40..48].try_into().ok()?),
        })
    }
}

/// A consumer group's state (its `0x02` row).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: Id,
    /// -1: unknown (Redis' `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: i64,
}

impl Group {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = self.last_id.bytes().to_vec();
        v.extend_from_slice(&self.entries_read.to_be_bytes());
        v
    }

    pub fn decode(v: &[u8]) -> Option<Group> {
        if v.len() != 24 {
            return None;
        }
        Some(Group {
            last_id: Id::from_bytes(&v[..16])?,
            entries_read: i64::from_be_bytes(v[16..24].try_into().ok()?),
        })
    }
}

/// A pending entry (its `0x04` row's value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    pub delivered: u64,
    pub count: u64,
    pub consumer: Vec<u8>,
}

impl Pending {
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16 + self.consumer.len());
        v.extend_from_slice(&self.delivered.to_be_bytes());
        v.extend_from_slice(&self.count.to_be_bytes());
        v.extend_from_slice(&self.consumer);
        v
    }

    pub fn decode(v: &[u8]) -> Option<Pending> {
        if v.len() < 16 {
            return None;
        }
        Some(Pending {
            delivered: u64::from_be_bytes(v[..8].try_into().ok()?),
            count: u64::from_be_bytes(v[8..16].try_into().ok()?),
            consumer: v[16..].to_vec(),
        })
    }
}

/// The state row's field.
pub fn meta_field() -> Vec<u8> {
    vec![META]
}

pub fn entry_field(id: Id) -> Vec<u8> {
    let mut f = Vec::with_capacity(17);
    f.push(ENTRY);
    f.extend_from_slice(&id.bytes());
    f
}

pub fn group_field(group: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(1 + group.len());
    f.push(GROUP);
    f.extend_from_slice(group);
    f
}

fn tagged_group(tag: u8, group: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(5 + group.len() + 16);
    f.push(tag);
    f.extend_from_slice(&(group.len() as u32).to_be_bytes());
    f.extend_from_slice(group);
    f
}

/// The prefix of every consumer row of `group`.
pub fn consumers_prefix(group: &[u8]) -> Vec<u8> {
    tagged_group(CONSUMER, group)
}

pub fn consumer_field(group: &[u8], consumer: &[u8]) -> Vec<u8> {
    let mut f = consumers_prefix(group);
    f.extend_from_slice(consumer);
    f
}

/// The prefix of every pending row of `group`.
pub fn pending_prefix(group: &[u8]) -> Vec<u8> {
    tagged_group(PENDING, group)
}

pub fn pending_field(group: &[u8], id: Id) -> Vec<u8> {
    let mut f = pending_prefix(group);
    f.extend_from_slice(&id.bytes());
    f
}

/// The prefix of every row of `consumer`'s pending list in `group`.
pub fn owned_prefix(group: &[u8], consumer: &[u8]) -> Vec<u8> {
    let mut f = tagged_group(OWNED, group);
    f.extend_from_slice(&(consumer.len() as u32).to_be_bytes());
    f.extend_from_slice(consumer);
    f
}

pub fn owned_field(group: &[u8], consumer: &[u8], id: Id) -> Vec<u8> {
    let mut f = owned_prefix(group, consumer);
    f.extend_from_slice(&id.bytes());
    f
}

/// The ID at the end of a field (an entry, pending or owned row).
pub fn id_at_end(field: &[u8]) -> Option<Id> {
    field
        .len()
        .checked_sub(16)
        .and_then(|at| Id::from_bytes(&field[at..]))
}

/// An entry's row value: its ordinal, then its fields and values.
pub fn encode_entry(ordinal: u64, pairs: &[Vec<u8>]) -> Vec<u8> {
    let size: usize = pairs.iter().map(|p| 4 + p.len()).sum();
    let mut v = Vec::with_capacity(12 + size);
    v.extend_from_slice(&ordinal.to_be_bytes());
    v.extend_from_slice(&((pairs.len() / 2) as u32).to_be_bytes());
    for p in pairs {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

/// An entry row's ordinal (None: too short).
pub fn entry_ordinal(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
}

/// An entry row's fields and values, flat (None: it does not decode).
pub fn decode_entry(v: &[u8]) -> Option<Vec<Vec<u8>>> {
    let pairs = u32::from_be_bytes(v.get(8..12)?.try_into().ok()?) as usize;
    let mut at = 12;
    let mut out = Vec::with_capacity(pairs.min(v.len() / 8) * 2);
    for _ in 0..pairs.checked_mul(2)? {
        let len = u32::from_be_bytes(v.get(at..at + 4)?.try_into().ok()?) as usize;
        at += 4;
        out.push(v.get(at..at.checked_add(len)?)?.to_vec());
        at += len;
    }
    (at == v.len()).then_some(out)
}

/// True if `rows` (a stream's run: fields without the key's prefix, in order) keep the layout's
/// invariants the commands rely on (RESTORE checks a payload with it): one state row whose
/// length is the number of entries and whose last ID is at least the last entry's, entries that
/// decode, groups and consumers that decode, and each pending entry in its group's list and its
/// consumer's, once each.
pub fn consistent(rows: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let mut meta = None;
    let (mut entries, mut last) = (0u64, Id::MIN);
    let mut pending = std::collections::BTreeSet::new();
    let mut owned = std::collections::BTreeSet::new();
    for (f, v) in rows {
        let ok = match f.first() {
            Some(&META) if f.len() == 1 => {
                meta = Meta::decode(v);
                meta.is_some()
            }
            Some(&ENTRY) => match id_at_end(f) {
                Some(id) if f.len() == 17 && decode_entry(v).is_some() => {
                    entries += 1;
                    last = id;
                    true
                }
                _ => false,
            },
            Some(&GROUP) => Group::decode(v).is_some(),
            Some(&CONSUMER) => v.len() == 8 && group_of(f).is_some(),
            Some(&PENDING) => match (group_of(f), Pending::decode(v)) {
                (Some((group, rest)), Some(p)) if rest.len() == 16 => {
                    pending.insert((group.to_vec(), p.consumer, rest.to_vec()))
                }
                _ => false,
            },
            Some(&OWNED) => match group_of(f).and_then(|(g, rest)| Some((g, group_of_rest(rest)?)))
            {
                Some((group, (consumer, id))) if id.len() == 16 && v.is_empty() => {
                    owned.insert((group.to_vec(), consumer.to_vec(), id.to_vec()))
                }
                _ => false,
            },
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    meta.is_some_and(|m| m.length == entries && m.last_id >= last) && pending == owned
}

/// A `u32 BE len, name` prefix after the tag: (name, what follows).
fn group_of(f: &[u8]) -> Option<(&[u8], &[u8])> {
    group_of_rest(f.get(1..)?)
}

fn group_of_rest(f: &[u8]) -> Option<(&[u8], &[u8])> {
    let len = u32::from_be_bytes(f.get(..4)?.try_into().ok()?) as usize;
    let name = f.get(4..4usize.checked_add(len)?)?;
    Some((name, &f[4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_order_by_id() {
        let m = Meta {
            last_id: Id::new(5, 7),
            entries_added: 9,
            max_deleted: Id::new(3, 1),
            length: 4,
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m));
        let pairs = vec![b"f".to_vec(), b"".to_vec(), b"g".to_vec(), b"v".to_vec()];
        assert_eq!(decode_entry(&encode_entry(7, &pairs)), Some(pairs.clone()));
        assert_eq!(entry_ordinal(&encode_entry(7, &pairs)), Some(7));
        assert_eq!(
            decode_entry(b"\0\0\0\0\0\0\0\x01\0\0\0\x01\0\0\0\x09x"),
            None
        );
        assert!(entry_field(Id::new(1, u64::MAX)) < entry_field(Id::new(2, 0)));
        assert_eq!(Id::new(1, u64::MAX).next(), Some(Id::new(2, 0)));
        assert_eq!(Id::MAX.next(), None);
        assert_eq!(Id::MIN.prev(), None);
        let p = Pending {
            delivered: 1,
            count: 2,
            consumer: b"c".to_vec(),
        };
        assert_eq!(Pending::decode(&p.encode()), Some(p));
        assert_eq!(
            id_at_end(&owned_field(b"g", b"c", Id::new(3, 4))),
            Some(Id::new(3, 4))
        );
    }
}
