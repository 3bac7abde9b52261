//! The group's write transaction as Redis databases: reads and writes of one database's rows,
//! with expiry, types, collection runs, WATCH versions and keyspace events kept together.

use super::*;

/// A write transaction seen as Redis databases.
pub struct Tx<'w> {
    pub w: &'w mut WriteTransaction,
    pub db: u32,
    pub now: u64,
    /// Longest key accepted: the engine's limit less the expiry queue's 12-byte prefix.
    pub max_key: usize,
    /// The watched keys, if any connection watches one: every write of a key bumps its version.
    pub watches: Option<&'w mut Watches>,
    /// Keyspace events of this job, when notifications are on (`notify`).
    pub events: Option<&'w mut Vec<KeyEvent>>,
    /// The changes made through this `Tx` (each `touch`): INFO's `rdb_changes_since_last_save`
    /// adds them up, as Redis' `dirty` counter.
    pub changes: u64,
}

impl Tx<'_> {
    /// Records a keyspace event on `key` of this database (published after the commit).
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        let db = self.db;
        if let Some(events) = self.events.as_deref_mut() {
            events.push(KeyEvent {
                db,
                class,
                event,
                key: key.to_vec(),
            });
        }
    }

    /// `event`, then `del` if that change removed the key (its last member or element).
    pub fn notify_and_gone(&mut self, class: u32, event: &'static str, key: &[u8]) -> TxResult<()> {
        self.notify(class, event, key);
        if self.data(key)?.is_none() {
            self.notify(notify::GENERIC, "del", key);
        }
        Ok(())
    }

    /// The stored value (live or expired), without creating the table.
    pub fn data(&mut self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(handles(self.db)
            .data
            .get(&*self.w, key)?
            .map(<[u8]>::to_vec))
    }

    /// The stored expiry time (passed or not), without creating the table.
    pub fn expiry(&mut self, key: &[u8]) -> TxResult<Option<u64>> {
        Ok(handles(self.db)
            .expires
            .get(&*self.w, key)?
            .and_then(decode_expiry))
    }

    /// The live value (expiry, data).
    pub fn get(&mut self, key: &[u8]) -> TxResult<Option<(Option<u64>, Vec<u8>)>> {
        let Some(data) = self.data(key)? else {
            return Ok(None);
        };
        Ok(match self.expiry(key)? {
            Some(at) if at <= self.now => None,
            expiry => Some((expiry, data)),
        })
    }

    /// The key's type if it is not a string (`hash`, `set`), live or not.
    pub fn type_of(&mut self, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(handles(self.db)
            .types
            .get(&*self.w, key)?
            .map(<[u8]>::to_vec))
    }

    /// True if the key (live or not) is not a string.
    pub fn not_string(&mut self, key: &[u8]) -> TxResult<bool> {
        Ok(self.type_of(key)?.is_some())
    }

    /// The live value as a string: Err(WRONGTYPE) for a hash.
    pub fn get_string(&mut self, key: &[u8]) -> TxResult<Result<Option<Live>, Reply>> {
        let got = self.get(key)?;
        if got.is_some() && self.not_string(key)? {
            return Ok(Err(Reply::Error(WRONGTYPE.into())));
        }
        Ok(Ok(got))
    }

    /// The whole live value (for RENAME, COPY, MOVE, SWAPDB).
    pub fn dump(&mut self, key: &[u8]) -> TxResult<Option<(Option<u64>, Value)>> {
        let Some((expiry, data)) = self.get(key)? else {
            return Ok(None);
        };
        match self.type_of(key)? {
            None => Ok(Some((expiry, Value::String(data)))),
            Some(kind) => Ok(Some((expiry, Value::Collection(kind, self.fields(key)?)))),
        }
    }

    /// Stores a value made by `dump` (replacing whatever the key held).
    pub fn restore(&mut self, key: &[u8], value: &Value, expiry: Option<u64>) -> TxResult<()> {
        match value {
            Value::String(data) => self.set(key, data, expiry),
            Value::Collection(kind, fields) => {
                self.remove(key)?;
                self.notify(notify::NEW, "new", key);
                for (f, v) in fields {
                    handles(self.db)
                        .hashes
                        .insert(&mut *self.w, field_key(key, f), v)?;
                }
                handles(self.db).types.insert(&mut *self.w, key, kind)?;
                handles(self.db).data.insert(
                    &mut *self.w,
                    key,
                    (fields.len() as u64).to_be_bytes(),
                )?;
                self.set_expiry(key, None, expiry)?;
                self.touch(key);
                Ok(())
            }
        }
    }

    /// A list's first and last positions (None: no rows). With `len` (the list's row count,
    /// when the caller has it), the head this writer last saw for the key is tried first: two
    /// point reads confirm it (a row there, none just below: the rows are contiguous, so it is
    /// the head and the tail is `len - 1` above it). Otherwise the ends are found by a range
    /// read, whose steps from the end pass over every row removed since the engine's last merge
    /// (what made LPUSH+LTRIM slow).
    pub fn list_ends(&mut self, key: &[u8], len: Option<u64>) -> TxResult<Option<(u64, u64)>> {
        let t = &handles(self.db).hashes;
        let w = &*self.w;
        if let Some(len) = len.filter(|&n| n > 0) {
            if let Some(head) = list_head_hint(self.db, key) {
                if let Some(tail) = head.checked_add(len - 1) {
                    if t.get(w, field_key(key, &head.to_be_bytes()))?.is_some()
                        && (head == 0
                            || t.get(w, field_key(key, &(head - 1).to_be_bytes()))?
                                .is_none())
                    {
                        return Ok(Some((head, tail)));
                    }
                }
            }
        }
        let (lo, hi) = (field_key(key, &[0; 8]), field_key(key, &[0xff; 8]));
        let mut rows = t.range(
            w,
            (
                std::ops::Bound::Included(&lo[..]),
                std::ops::Bound::Included(&hi[..]),
            ),
        )?;
        let position =
            |k: &[u8]| -> u64 { u64::from_be_bytes(k[k.len() - 8..].try_into().expect("8 bytes")) };
        let Some(first) = rows.next() else {
            return Ok(None);
        };
        let first = position(first?.0);
        let last = match rows.next_back() {
            Some(row) => position(row?.0),
            None => first,
        };
        note_list_head(self.db, key, first);
        Ok(Some((first, last)))
    }

    /// Inserts a row of the collection at `key` (its count row is the caller's: `store_count`).
    pub fn insert_row(&mut self, key: &[u8], field: &[u8], value: &[u8]) -> TxResult<()> {
        handles(self.db)
            .hashes
            .insert(&mut *self.w, field_key(key, field), value)?;
        self.touch(key);
        Ok(())
    }

    /// Removes a row of the collection at `key`; true if it was there (its count row is the
    /// caller's: `store_count`).
    pub fn remove_row(&mut self, key: &[u8], field: &[u8]) -> TxResult<bool> {
        let removed = handles(self.db)
            .hashes
            .remove(&mut *self.w, field_key(key, field))?;
        if removed {
            self.touch(key);
        }
        Ok(removed)
    }

    /// Removes a row of the collection at `key` that the caller knows is there (it read it, or
    /// the collection's layout says so): no lookup (`mmtree::Table::delete`), so the caller
    /// counts it as removed.
    pub fn delete_row(&mut self, key: &[u8], field: &[u8]) -> TxResult<()> {
        handles(self.db)
            .hashes
            .delete(&mut *self.w, field_key(key, field))?;
        self.touch(key);
        Ok(())
    }

    /// Writes the row count of the collection (`kind`) at `key` once a command's rows are in
    /// place (`insert_row`, `remove_row`): `before` as the command found it (None: no such
    /// key), `after` as it leaves it. A new key gets its type row (and the `new` event); a key
    /// left with no rows is deleted. What `hset` and `hdel` do row by row, once a command.
    pub fn store_count(
        &mut self,
        kind: &[u8],
        key: &[u8],
        before: Option<u64>,
        after: Option<u64>,
    ) -> TxResult<()> {
        match (before, after.filter(|&n| n > 0)) {
            (None, None) => {}
            (Some(_), None) => {
                self.remove(key)?;
            }
            (b, Some(n)) => {
                if b.is_none() {
                    handles(self.db).types.insert(&mut *self.w, key, kind)?;
                    self.notify(notify::NEW, "new", key);
                }
                if b != Some(n) {
                    handles(self.db)
                        .data
                        .insert(&mut *self.w, key, n.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }

    /// Every field of a hash (live or not), in order.
    pub fn fields(&mut self, key: &[u8]) -> TxResult<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = field_prefix(key);
        let mut out = Vec::new();
        for item in handles(self.db).hashes.range(&*self.w, &prefix[..]..)? {
            let (k, v) = item?;
            if !k.starts_with(&prefix) {
                break;
            }
            out.push((k[prefix.len()..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// A field of a hash (the caller checked the key is a live hash).
    pub fn field(&mut self, key: &[u8], field: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(handles(self.db)
            .hashes
            .get(&*self.w, field_key(key, field))?
            .map(<[u8]>::to_vec))
    }

    /// The live hash or set (`kind`) for a write, as its row count: Err(WRONGTYPE) for another
    /// type; an expired key is removed first. Ok(None) if there is none (yet).
    pub fn collection_for_write(
        &mut self,
        key: &[u8],
        kind: &[u8],
    ) -> TxResult<Result<Option<u64>, Reply>> {
        match self.get(key)? {
            Some((_, data)) => {
                if self.type_of(key)?.as_deref() != Some(kind) {
                    return Ok(Err(Reply::Error(WRONGTYPE.into())));
                }
                Ok(Ok(Some(decode_expiry(&data).unwrap_or(0))))
            }
            None => {
                if self.data(key)?.is_some() {
                    self.remove(key)?;
                }
                Ok(Ok(None))
            }
        }
    }

    /// Sets a field of a hash (or a member of a set, `kind`, with an empty value); true if it
    /// is new. `count` is the row count before (None: no such key yet).
    pub fn hset(
        &mut self,
        kind: &[u8],
        key: &[u8],
        field: &[u8],
        value: &[u8],
        count: &mut Option<u64>,
    ) -> TxResult<bool> {
        let fk = field_key(key, field);
        let new = handles(self.db).hashes.get(&*self.w, &fk)?.is_none();
        handles(self.db).hashes.insert(&mut *self.w, &fk, value)?;
        if count.is_none() {
            handles(self.db).types.insert(&mut *self.w, key, kind)?;
            self.notify(notify::NEW, "new", key);
        }
        let n = count.unwrap_or(0) + u64::from(new);
        *count = Some(n);
        handles(self.db)
            .data
            .insert(&mut *self.w, key, n.to_be_bytes())?;
        self.touch(key);
        Ok(new)
    }

    /// Deletes a field; true if it was there. Deletes the key with its last field.
    pub fn hdel(&mut self, key: &[u8], field: &[u8], count: &mut Option<u64>) -> TxResult<bool> {
        let Some(n) = *count else {
            return Ok(false);
        };
        let removed = handles(self.db)
            .hashes
            .remove(&mut *self.w, field_key(key, field))?;
        if removed {
            self.touch(key);
            if n <= 1 {
                self.remove(key)?;
                *count = None;
            } else {
                *count = Some(n - 1);
                handles(self.db)
                    .data
                    .insert(&mut *self.w, key, (n - 1).to_be_bytes())?;
            }
        }
        Ok(removed)
    }

    /// Removes a sorted-set member's order row (and the one an older server wrote for -0).
    pub fn hdel_order(
        &mut self,
        key: &[u8],
        member: &[u8],
        score: f64,
        count: &mut Option<u64>,
    ) -> TxResult<()> {
        let removed = self.hdel(key, &zorder(member, score), count)?;
        if !removed && score == 0.0 && score.is_sign_negative() {
            self.hdel(key, &zorder_negative_zero(member), count)?;
        }
        Ok(())
    }

    /// Drops a hash's fields and type row (if it is one).
    pub fn drop_hash(&mut self, key: &[u8]) -> TxResult<()> {
        if !self.not_string(key)? {
            return Ok(());
        }
        handles(self.db).types.remove(&mut *self.w, key)?;
        let fields: Vec<Vec<u8>> = self.fields(key)?.into_iter().map(|(f, _)| f).collect();
        let mut t = self.w.table(hash_name(self.db))?;
        for f in fields {
            t.remove(field_key(key, &f))?;
        }
        Ok(())
    }

    /// Changes only the key's expiry (the key exists).
    pub fn set_ttl(&mut self, key: &[u8], expiry: Option<u64>) -> TxResult<()> {
        let old = self.expiry(key)?;
        self.set_expiry(key, old, expiry)?;
        self.touch(key);
        Ok(())
    }

    pub fn touch(&mut self, key: &[u8]) {
        self.changes += 1;
        let db = self.db;
        if let Some(watches) = self.watches.as_deref_mut() {
            watches.touch(db, key);
        }
    }

    /// Stores a string (replacing a hash, set or list).
    pub fn set(&mut self, key: &[u8], data: &[u8], expiry: Option<u64>) -> TxResult<()> {
        if self.events.is_some() && self.data(key)?.is_none() {
            self.notify(notify::NEW, "new", key);
        }
        self.drop_hash(key)?;
        let old = self.expiry(key)?;
        handles(self.db).data.insert(&mut *self.w, key, data)?;
        self.set_expiry(key, old, expiry)?;
        self.touch(key);
        Ok(())
    }

    /// Removes the key; true if it was live.
    pub fn remove(&mut self, key: &[u8]) -> TxResult<bool> {
        let old = self.expiry(key)?;
        let present = self.data(key)?.is_some();
        if present {
            self.drop_hash(key)?;
            handles(self.db).data.remove(&mut *self.w, key)?;
        }
        self.set_expiry(key, old, None)?;
        let was_live = present && old.is_none_or(|at| at > self.now);
        if was_live {
            self.touch(key);
        }
        Ok(was_live)
    }

    /// Moves the key's expiry from `old` to `new` in the expiry table and the queue.
    pub fn set_expiry(&mut self, key: &[u8], old: Option<u64>, new: Option<u64>) -> TxResult<()> {
        if old == new {
            return Ok(());
        }
        let db = self.db;
        {
            let mut expires = self.w.table(expires_name(db))?;
            match new {
                Some(at) => {
                    expires.insert(key, at.to_be_bytes())?;
                }
                None => {
                    expires.remove(key)?;
                }
            }
        }
        let mut queue = self.w.table(EXPIRY_QUEUE)?;
        if let Some(at) = old {
            queue.remove(queue_key(at, db, key))?;
        }
        if let Some(at) = new {
            queue.insert(queue_key(at, db, key), b"")?;
        }
        Ok(())
    }

    pub fn flush(&mut self) -> TxResult<()> {
        let db = self.db;
        if let Some(watches) = self.watches.as_deref_mut() {
            watches.flushed();
        }
        // A watched key that is live counts as modified; an absent or stale one does not.
        let watched = self
            .watches
            .as_deref()
            .map_or_else(Vec::new, |w| w.keys(db));
        for key in watched {
            if self.get(&key)?.is_some() {
                self.touch(&key);
            }
        }
        self.w.delete_table(table_name(db))?;
        let expires = expires_name(db);
        if self.w.has_table(expires)? {
            let due: Vec<Vec<u8>> = {
                let t = self.w.table(expires)?;
                let mut due = Vec::new();
                for item in t.range(..)? {
                    let (k, v) = item?;
                    if let Some(at) = decode_expiry(v) {
                        due.push(queue_key(at, db, k));
                    }
                }
                due
            };
            let mut queue = self.w.table(EXPIRY_QUEUE)?;
            for k in due {
                queue.remove(&k)?;
            }
            self.w.delete_table(expires)?;
        }
        self.w.delete_table(types_name(db))?;
        self.w.delete_table(hash_name(db))?;
        Ok(())
    }
}

/// Most key bytes the list heads `note_list_head` keeps take (all are forgotten when a new one
/// would pass it): 4 MiB, some 100,000 keys of 20 bytes, a few hundred of the longest.
const LIST_HINT_BYTES_MAX: usize = 4 << 20;

/// See `LIST_HEADS`.
#[derive(Default)]
struct ListHeads {
    heads: rustc_hash::FxHashMap<(u32, Vec<u8>), u64>,
    /// The key bytes in `heads`.
    bytes: usize,
}

thread_local! {
    /// (db, key) → the position of the list's head as this thread (the group-commit writer)
    /// last saw or made it. A hint only: `Tx::list_ends` uses one after two point reads confirm
    /// it, so one left stale by any command (DEL, RENAME, a failed commit, …) costs a range
    /// read, never a wrong answer.
    static LIST_HEADS: std::cell::RefCell<ListHeads> = std::cell::RefCell::default();
}

fn list_head_hint(db: u32, key: &[u8]) -> Option<u64> {
    LIST_HEADS.with(|h| h.borrow().heads.get(&(db, key.to_vec())).copied())
}

/// Notes where the list at `key` begins now (see `LIST_HEADS`).
pub fn note_list_head(db: u32, key: &[u8], head: u64) {
    LIST_HEADS.with(|h| {
        let mut h = h.borrow_mut();
        let entry = (db, key.to_vec());
        if let Some(at) = h.heads.get_mut(&entry) {
            *at = head;
            return;
        }
        if h.bytes + key.len() > LIST_HINT_BYTES_MAX {
            h.heads.clear();
            h.bytes = 0;
        }
        h.bytes += key.len();
        h.heads.insert(entry, head);
    });
}

/// A whole value, as RENAME, COPY and MOVE carry it.
#[derive(Clone, Debug)]
pub enum Value {
    String(Vec<u8>),
    /// A hash or a set (its type name) with its rows: (field, value) or (member, empty).
    Collection(Vec<u8>, Vec<(Vec<u8>, Vec<u8>)>),
}
