//! The keyspace: Redis types over the ordered tables of one database (their layout is written
//! in `store`), read the same way over a snapshot (an event loop's reads) and over the group's
//! write transaction (the reads EXEC runs in their place in its queue). It knows neither RESP
//! nor connections: it returns plain values, and a type mismatch as `Fault::WrongType`. Engine
//! errors propagate (`Fault::Db`): a damaged page is an error, never a missing key.

use crate::resp::Reply;
use crate::store::{self, View};
use std::ops::Bound;

/// The tables of one database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// Key → value (a string) or row count (a hash, set, list or sorted set).
    Data,
    /// Key → expiry time.
    Expires,
    /// Key → type name, for keys that are not strings.
    Types,
    /// (key, field) → value: the rows of hashes, sets, lists and sorted sets.
    Fields,
}

/// Row access to one database, over a snapshot or a write transaction.
pub trait Rows {
    fn get(&mut self, table: Table, key: &[u8]) -> mmtree::Result<Option<Vec<u8>>>;
    /// Rows from `start` on whose keys begin with `prefix`, at most `limit`, keys whole.
    fn run(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>>;
    /// Rows in `table`.
    fn len(&mut self, table: Table) -> mmtree::Result<u64>;
    /// The number of rows between `start` and `end` (read one by one, none copied).
    fn count(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> mmtree::Result<u64>;
    /// Rows between `start` and `end`, from the end backwards if `rev`, at most `limit`.
    fn range(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>>;
}

/// At most `limit` rows of `range`, from the end if `rev`, owned.
fn collect(
    range: mmtree::Range<'_>,
    rev: bool,
    limit: usize,
) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    fn take<'r>(
        rows: impl Iterator<Item = mmtree::Result<(&'r [u8], &'r [u8])>>,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        rows.take(limit)
            .map(|row| row.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect()
    }
    if rev {
        take(range.rev(), limit)
    } else {
        take(range, limit)
    }
}

/// The rows of `range`, counted (an engine error propagates).
fn count_rows(range: mmtree::Range<'_>) -> mmtree::Result<u64> {
    let mut n = 0;
    for row in range {
        row?;
        n += 1;
    }
    Ok(n)
}

impl<R: Rows + ?Sized> Rows for &mut R {
    fn get(&mut self, table: Table, key: &[u8]) -> mmtree::Result<Option<Vec<u8>>> {
        (**self).get(table, key)
    }

    fn run(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        (**self).run(table, start, prefix, limit)
    }

    fn len(&mut self, table: Table) -> mmtree::Result<u64> {
        (**self).len(table)
    }

    fn count(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> mmtree::Result<u64> {
        (**self).count(table, start, end)
    }

    fn range(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        (**self).range(table, start, end, rev, limit)
    }
}

/// A database in a snapshot.
pub struct Snapshot<'a, 't>(pub &'a View<'t>);

impl Snapshot<'_, '_> {
    fn table(&self, table: Table) -> Option<&mmtree::ReadTable<'_>> {
        let v = self.0;
        match table {
            Table::Data => v.data.as_ref(),
            Table::Expires => v.expires.as_ref(),
            Table::Types => v.types.as_ref(),
            Table::Fields => v.hashes.as_ref(),
        }
    }
}

impl Rows for Snapshot<'_, '_> {
    fn get(&mut self, table: Table, key: &[u8]) -> mmtree::Result<Option<Vec<u8>>> {
        match self.table(table) {
            Some(t) => Ok(t.get(key)?.map(<[u8]>::to_vec)),
            None => Ok(None),
        }
    }

    fn run(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let Some(t) = self.table(table) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for item in t.range((start, Bound::Unbounded))? {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() == limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn len(&mut self, table: Table) -> mmtree::Result<u64> {
        self.table(table).map_or(Ok(0), |t| t.len())
    }

    fn count(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> mmtree::Result<u64> {
        match self.table(table) {
            Some(t) => count_rows(t.range((start, end))?),
            None => Ok(0),
        }
    }

    fn range(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        match self.table(table) {
            Some(t) => collect(t.range((start, end))?, rev, limit),
            None => Ok(Vec::new()),
        }
    }
}

/// A database in the group's write transaction.
pub struct Transaction<'a, 'w>(pub &'a mut store::Tx<'w>);

impl Transaction<'_, '_> {
    /// The table's handle: reads through it open nothing (no table switch in the commit's
    /// log record), and a missing table reads as empty.
    fn handle(&self, table: Table) -> &'static mmtree::TableHandle {
        let h = store::handles(self.0.db);
        match table {
            Table::Data => &h.data,
            Table::Expires => &h.expires,
            Table::Types => &h.types,
            Table::Fields => &h.hashes,
        }
    }
}

impl Rows for Transaction<'_, '_> {
    fn get(&mut self, table: Table, key: &[u8]) -> mmtree::Result<Option<Vec<u8>>> {
        let t = self.handle(table);
        Ok(t.get(&*self.0.w, key)?.map(<[u8]>::to_vec))
    }

    fn run(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        prefix: &[u8],
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.handle(table);
        let mut out = Vec::new();
        for item in t.range(&*self.0.w, (start, Bound::Unbounded))? {
            let (k, v) = item?;
            if !k.starts_with(prefix) || out.len() == limit {
                break;
            }
            out.push((k.to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    fn len(&mut self, table: Table) -> mmtree::Result<u64> {
        let t = self.handle(table);
        t.len(&*self.0.w)
    }

    fn count(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> mmtree::Result<u64> {
        let t = self.handle(table);
        count_rows(t.range(&*self.0.w, (start, end))?)
    }

    fn range(
        &mut self,
        table: Table,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let t = self.handle(table);
        collect(t.range(&*self.0.w, (start, end))?, rev, limit)
    }
}

/// The least byte string above every string that starts with `prefix` (None: there is none).
pub fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut out = prefix.to_vec();
    while let Some(last) = out.pop() {
        if last < 0xff {
            out.push(last + 1);
            return Some(out);
        }
    }
    None
}

/// True if no byte string lies between `lo` and `hi`.
pub fn interval_is_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Included(b) | Bound::Excluded(b)) => {
            a >= b
        }
        _ => false,
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Why a typed read gave no value.
#[derive(Debug)]
pub enum Fault {
    /// The key holds another type.
    WrongType,
    /// The engine failed (I/O, a damaged page).
    Db(mmtree::Error),
    /// A row of the server's own layout does not decode (written by something else).
    Malformed(String),
}

impl From<mmtree::Error> for Fault {
    fn from(e: mmtree::Error) -> Fault {
        Fault::Db(e)
    }
}

pub type Result<T> = std::result::Result<T, Fault>;

/// A typed read's outcome as a command's reply: `WrongType` is Redis' WRONGTYPE error and a
/// malformed row an error reply (and a log line); an engine error propagates (the snapshot's
/// reader answers it as an error, the writer fails the group's commit).
pub fn reply(result: Result<Reply>) -> mmtree::Result<Reply> {
    match result {
        Ok(reply) => Ok(reply),
        Err(Fault::WrongType) => Ok(Reply::Error(store::WRONGTYPE.into())),
        Err(Fault::Malformed(what)) => {
            eprintln!("mmtree serve: a damaged row: {what}");
            Ok(Reply::Error(format!("ERR damaged data: {what}")))
        }
        Err(Fault::Db(e)) => Err(e),
    }
}

/// One database as Redis types, at one time (`now`, Unix ms: a key whose expiry is at or
/// before it is absent).
pub struct Keyspace<R> {
    rows: R,
    pub now: u64,
    /// Keys `live` found expired (not swept yet): removed while some client tracks keys (Redis'
    /// lazy expiry; see `crate::tracking`), by the writer after the read (a `Job::Expire` from an
    /// event loop; at once for a read the writer runs).
    pub expired: Vec<Vec<u8>>,
}

/// The keyspace as the command families see it: over either kind of rows.
pub type Ks<'r> = Keyspace<&'r mut dyn Rows>;

/// A live key: its expiry, if any, and its data row (a string's value, or a collection's row
/// count).
pub struct Live {
    pub expiry: Option<u64>,
    pub data: Vec<u8>,
}

impl<R: Rows> Keyspace<R> {
    pub fn new(rows: R, now: u64) -> Keyspace<R> {
        Keyspace {
            rows,
            now,
            expired: Vec::new(),
        }
    }

    /// The key's data row and expiry, unless it is absent or expired.
    pub fn live(&mut self, key: &[u8]) -> Result<Option<Live>> {
        let Some(data) = self.rows.get(Table::Data, key)? else {
            return Ok(None);
        };
        let expiry = match self.rows.get(Table::Expires, key)? {
            Some(bytes) => Some(store::decode_expiry(&bytes).ok_or_else(|| {
                Fault::Malformed(format!(
                    "an expiry row of {} bytes (8 expected)",
                    bytes.len()
                ))
            })?),
            None => None,
        };
        Ok(match expiry {
            Some(at) if at <= self.now => {
                if !self.expired.iter().any(|k| k == key) {
                    self.expired.push(key.to_vec());
                }
                None
            }
            expiry => Some(Live { expiry, data }),
        })
    }

    /// The key's type name if it is not a string (live or not).
    pub fn type_of(&mut self, key: &[u8]) -> mmtree::Result<Option<Vec<u8>>> {
        self.rows.get(Table::Types, key)
    }

    /// A live string's value; `WrongType` for a live key of another type.
    pub fn string(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.live(key)? {
            Some(_) if self.type_of(key)?.is_some() => Err(Fault::WrongType),
            Some(live) => Ok(Some(live.data)),
            None => Ok(None),
        }
    }

    /// A live collection of type `kind` (`hash`, `set`, `list`, `zset`), as its row count;
    /// `WrongType` for a live key of another type.
    pub fn collection(&mut self, key: &[u8], kind: &[u8]) -> Result<Option<u64>> {
        let Some(live) = self.live(key)? else {
            return Ok(None);
        };
        if self.type_of(key)?.as_deref() != Some(kind) {
            return Err(Fault::WrongType);
        }
        let count: [u8; 8] = live.data.as_slice().try_into().map_err(|_| {
            Fault::Malformed(format!(
                "the row count of a {} is {} bytes (8 expected)",
                String::from_utf8_lossy(kind),
                live.data.len()
            ))
        })?;
        Ok(Some(u64::from_be_bytes(count)))
    }

    /// Keys in the database, expired ones not yet swept included.
    pub fn len(&mut self) -> mmtree::Result<u64> {
        self.rows.len(Table::Data)
    }

    /// Key/value rows of the database (live or expired) between `start` and `end`, backwards if
    /// `rev`, at most `limit`.
    pub fn rows(
        &mut self,
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.rows.range(Table::Data, start, end, rev, limit)
    }

    /// Keys of the database (live or expired) from `start` on, at most `limit`.
    pub fn keys(&mut self, start: Bound<&[u8]>, limit: usize) -> mmtree::Result<Vec<Vec<u8>>> {
        let rows = self.rows.run(Table::Data, start, &[], limit)?;
        Ok(rows.into_iter().map(|(k, _)| k).collect())
    }

    /// One field of a collection's run (the caller checked the key's type).
    pub fn field(&mut self, key: &[u8], field: &[u8]) -> mmtree::Result<Option<Vec<u8>>> {
        self.rows.get(Table::Fields, &store::field_key(key, field))
    }

    /// Fields of a collection's run from `start` on, at most `limit`, as (field, value).
    pub fn fields(
        &mut self,
        key: &[u8],
        start: Bound<&[u8]>,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = store::field_prefix(key);
        let at = |f: &[u8]| store::field_key(key, f);
        let owned = match start {
            Bound::Included(f) => Bound::Included(at(f)),
            Bound::Excluded(f) => Bound::Excluded(at(f)),
            Bound::Unbounded => Bound::Included(prefix.clone()),
        };
        let start = match &owned {
            Bound::Included(k) => Bound::Included(k.as_slice()),
            Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut rows = self.rows.run(Table::Fields, start, &prefix, limit)?;
        for (k, _) in &mut rows {
            k.drain(..prefix.len());
        }
        Ok(rows)
    }

    /// The number of fields of a collection's run between `start` and `end` (as `field_range`),
    /// counted without copying any.
    pub fn count_fields(
        &mut self,
        key: &[u8],
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
    ) -> mmtree::Result<u64> {
        let prefix = store::field_prefix(key);
        let whole = |b: Bound<&[u8]>, low: bool| -> Bound<Vec<u8>> {
            match b {
                Bound::Included(f) => Bound::Included(store::field_key(key, f)),
                Bound::Excluded(f) => Bound::Excluded(store::field_key(key, f)),
                Bound::Unbounded if low => Bound::Included(prefix.clone()),
                Bound::Unbounded => match successor(&prefix) {
                    Some(after) => Bound::Excluded(after),
                    None => Bound::Unbounded,
                },
            }
        };
        let (lo, hi) = (whole(start, true), whole(end, false));
        if interval_is_empty(&lo, &hi) {
            return Ok(0);
        }
        self.rows.count(Table::Fields, as_ref(&lo), as_ref(&hi))
    }

    /// Fields of a collection's run between `start` and `end` (field bounds; `Unbounded`: the
    /// run's first or last field), backwards if `rev`, at most `limit`, as (field, value). An
    /// empty or inverted interval reads nothing.
    pub fn field_range(
        &mut self,
        key: &[u8],
        start: Bound<&[u8]>,
        end: Bound<&[u8]>,
        rev: bool,
        limit: usize,
    ) -> mmtree::Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let prefix = store::field_prefix(key);
        let whole = |b: Bound<&[u8]>, low: bool| -> Bound<Vec<u8>> {
            match b {
                Bound::Included(f) => Bound::Included(store::field_key(key, f)),
                Bound::Excluded(f) => Bound::Excluded(store::field_key(key, f)),
                Bound::Unbounded if low => Bound::Included(prefix.clone()),
                Bound::Unbounded => match successor(&prefix) {
                    Some(after) => Bound::Excluded(after),
                    None => Bound::Unbounded,
                },
            }
        };
        let (lo, hi) = (whole(start, true), whole(end, false));
        if limit == 0 || interval_is_empty(&lo, &hi) {
            return Ok(Vec::new());
        }
        let mut rows = self
            .rows
            .range(Table::Fields, as_ref(&lo), as_ref(&hi), rev, limit)?;
        for (k, _) in &mut rows {
            k.drain(..prefix.len());
        }
        Ok(rows)
    }
}

#[cfg(test)]
mod tests;
