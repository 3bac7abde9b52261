//! Stream writes: XADD, XDEL, XTRIM, XSETID, XGROUP CREATE/SETID/DESTROY/CREATECONSUMER/
//! DELCONSUMER, XREADGROUP, XACK, XCLAIM, XAUTOCLAIM (Redis 7.0's `t_stream.c`), over the rows
//! `store::stream` lays out; their reads go through the same functions as the read commands
//! (`commands::streams`), over the group's transaction.

use super::reading;
use crate::commands::blocking::{Attempt, Blocking, Pop};
use crate::commands::parse_i64;
use crate::commands::streams::{
    self as read, entry_reply, estimate_read, has_tombstones, id_reply, nogroup, parse_id,
    parse_id_full, parse_read, Entry, INVALID_ID, NOT_INT, SYNTAX,
};
use crate::keyspace::{Fault, Ks};
use crate::notify;
use crate::resp::Reply;
use crate::store::stream::{self as layout, Group, Id, Meta, Pending};
use crate::store::{field_key, hash_name, table_name, types_name, Tx, TxResult, WRONGTYPE};
use std::ops::Bound;

/// An open stream in the group's transaction: its state and its row count, written back by
/// `save`.
struct Stream<'a, 'w> {
    tx: &'a mut Tx<'w>,
    key: Vec<u8>,
    rows: u64,
    meta: Meta,
    existed: bool,
    /// The keyspace events recorded before this stream was opened (a new stream's `new` event
    /// goes there, before the command's own, as Redis sends it).
    events_before: usize,
}

/// A stream command's outcome before its reply: a logical error is a reply.
type Step<T> = Result<T, Reply>;

fn fault(f: Fault) -> TxResult<Reply> {
    match f {
        Fault::WrongType => Ok(Reply::Error(WRONGTYPE.into())),
        Fault::Db(e) => Err(e),
        Fault::Malformed(what) => Ok(Reply::Error(format!("ERR damaged data: {what}"))),
    }
}

/// Unwraps a keyspace read made inside a write: a fault becomes the command's reply.
macro_rules! got {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(f) => return fault(f),
        }
    };
}

/// Unwraps a step: a logical error is the command's reply.
macro_rules! step {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(reply) => return Ok(reply),
        }
    };
}

impl<'a, 'w> Stream<'a, 'w> {
    /// The stream at `key` (an expired one is removed first); a new empty one if `create`;
    /// None if there is none. Err: WRONGTYPE or a damaged state row.
    fn open(tx: &'a mut Tx<'w>, key: &[u8], create: bool) -> TxResult<Step<Option<Self>>> {
        let rows = match tx.collection_for_write(key, b"stream")? {
            Ok(rows) => rows,
            Err(e) => return Ok(Err(e)),
        };
        let (rows, meta, existed) = match rows {
            Some(rows) => {
                let meta = tx.field(key, &layout::meta_field())?;
                match meta.as_deref().and_then(Meta::decode) {
                    Some(meta) => (rows, meta, true),
                    None => {
                        return Ok(Err(Reply::Error(
                            "ERR damaged data: a stream's state row does not decode".into(),
                        )))
                    }
                }
            }
            None if create => (0, Meta::default(), false),
            None => return Ok(Ok(None)),
        };
        let events_before = tx.events.as_deref().map_or(0, Vec::len);
        Ok(Ok(Some(Stream {
            tx,
            key: key.to_vec(),
            rows,
            meta,
            existed,
            events_before,
        })))
    }

    /// True if a row with a field of `len` bytes fits the engine's key limit.
    fn fits(&self, len: usize) -> bool {
        4 + self.key.len() + len <= self.tx.max_key
    }

    fn read<T>(&mut self, f: impl FnOnce(&mut Ks<'_>, &[u8]) -> T) -> T {
        let key = self.key.clone();
        reading(self.tx, |ks| f(ks, &key))
    }

    fn put(&mut self, field: &[u8], value: &[u8]) -> TxResult<()> {
        let fk = field_key(&self.key, field);
        let mut t = self.tx.w.table(hash_name(self.tx.db))?;
        if t.get(&fk)?.is_none() {
            self.rows += 1;
        }
        t.insert(&fk, value)?;
        Ok(())
    }

    fn del(&mut self, field: &[u8]) -> TxResult<bool> {
        let removed = self
            .tx
            .w
            .table(hash_name(self.tx.db))?
            .remove(field_key(&self.key, field))?;
        if removed {
            self.rows -= 1;
        }
        Ok(removed)
    }

    /// Writes the state, the row count and (for a new stream) the type row.
    fn save(mut self) -> TxResult<()> {
        let meta = self.meta.encode();
        self.put(&layout::meta_field(), &meta)?;
        let db = self.tx.db;
        self.tx
            .w
            .table(table_name(db))?
            .insert(&self.key, self.rows.to_be_bytes())?;
        if !self.existed {
            self.tx
                .w
                .table(types_name(db))?
                .insert(&self.key, b"stream")?;
            self.tx.notify(notify::NEW, "new", &self.key);
            if let Some(events) = self.tx.events.as_deref_mut() {
                if let Some(new) = events.pop() {
                    let at = self.events_before.min(events.len());
                    events.insert(at, new);
                }
            }
        }
        self.tx.touch(&self.key);
        Ok(())
    }

    fn notify(&mut self, event: &'static str) {
        let key = self.key.clone();
        self.tx.notify(notify::STREAM, event, &key);
    }

    fn entry_exists(&mut self, id: Id) -> TxResult<bool> {
        Ok(self
            .tx
            .field(&self.key, &layout::entry_field(id))?
            .is_some())
    }

    /// Removes the entries `trim` asks for; the number removed.
    fn trim(&mut self, trim: &Trim) -> TxResult<Result<u64, Fault>> {
        let Some(strategy) = trim.strategy else {
            return Ok(Ok(0));
        };
        // How many entries from the start go.
        let n = match strategy {
            Strategy::MaxLen(max) => self.meta.length.saturating_sub(max),
            Strategy::MinId(min) => {
                let Some(below) = min.prev() else {
                    return Ok(Ok(0));
                };
                let lo = layout::entry_field(Id::MIN);
                let hi = layout::entry_field(below);
                match self.read(|ks, key| {
                    ks.count_fields(key, Bound::Included(&lo), Bound::Included(&hi))
                }) {
                    Ok(n) => n,
                    Err(e) => return Ok(Err(Fault::Db(e))),
                }
            }
        };
        if trim.approx {
            return self.trim_nodes(strategy, trim.limit, n);
        }
        let mut removed = 0;
        while removed < n {
            let batch = (n - removed).min(512) as usize;
            let found =
                match self.read(|ks, key| read::entries(ks, key, Id::MIN, Id::MAX, false, batch)) {
                    Ok(found) => found,
                    Err(f) => return Ok(Err(f)),
                };
            if found.is_empty() {
                break;
            }
            for (id, _) in found {
                self.del(&layout::entry_field(id))?;
                removed += 1;
            }
        }
        self.meta.length -= removed;
        Ok(Ok(removed))
    }
}

impl Stream<'_, '_> {
    /// Approximate trimming (`~`): whole nodes only, from the first, as Redis' `streamTrim` (a
    /// node: the entries whose ordinals share a multiple of `stream-node-max-entries`, as Redis fills a
    /// node with that many). A node goes if the entries after it are still at least MAXLEN (or
    /// all of it is below MINID: `below` entries are), and LIMIT leaves room for a whole node.
    fn trim_nodes(
        &mut self,
        strategy: Strategy,
        limit: u64,
        below: u64,
    ) -> TxResult<Result<u64, Fault>> {
        let node_entries = layout::node_entries();
        let mut removed = 0u64;
        loop {
            if limit > 0 && removed.saturating_add(node_entries) > limit {
                break;
            }
            let lo = layout::entry_field(Id::MIN);
            let hi = layout::entry_field(Id::MAX);
            let rows = match self.read(|ks, key| {
                ks.field_range(
                    key,
                    Bound::Included(&lo),
                    Bound::Included(&hi),
                    false,
                    node_entries.min(1 << 20) as usize,
                )
            }) {
                Ok(rows) => rows,
                Err(e) => return Ok(Err(Fault::Db(e))),
            };
            let node_of =
                |v: &[u8]| layout::entry_ordinal(v).map(|o| o.saturating_sub(1) / node_entries);
            let Some(node) = rows.first().and_then(|(_, v)| node_of(v)) else {
                break;
            };
            let fields: Vec<Vec<u8>> = rows
                .into_iter()
                .take_while(|(_, v)| node_of(v) == Some(node))
                .map(|(f, _)| f)
                .collect();
            let len = fields.len() as u64;
            let goes = match strategy {
                Strategy::MaxLen(max) => self.meta.length - len >= max,
                Strategy::MinId(_) => removed + len <= below,
            };
            if !goes {
                break;
            }
            for f in fields {
                self.del(&f)?;
            }
            removed += len;
            self.meta.length -= len;
        }
        Ok(Ok(removed))
    }
}

#[derive(Clone, Copy)]
enum Strategy {
    MaxLen(u64),
    MinId(Id),
}

/// XADD's and XTRIM's trimming options.
struct Trim {
    strategy: Option<Strategy>,
    approx: bool,
    /// 0: no limit.
    limit: u64,
}

/// XADD's options.
struct AddArgs {
    trim: Trim,
    nomkstream: bool,
    /// None: `*`; the ID and whether its sequence was given (`ms-*` leaves it out).
    id: Option<(Id, bool)>,
    /// Where the fields start.
    fields_at: usize,
}

/// Redis' `streamParseAddOrTrimArgsOrReply` (`a` without the command name, the key first).
fn parse_add_or_trim(a: &[Vec<u8>], xadd: bool) -> Step<AddArgs> {
    let err = |m: &str| Err(Reply::Error(m.into()));
    let mut out = AddArgs {
        trim: Trim {
            strategy: None,
            approx: false,
            limit: 0,
        },
        nomkstream: false,
        id: None,
        fields_at: a.len(),
    };
    let mut limit_given = false;
    let mut i = 1;
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a[i].as_slice();
        if xadd && opt == b"*" {
            break;
        } else if (opt.eq_ignore_ascii_case(b"MAXLEN") || opt.eq_ignore_ascii_case(b"MINID"))
            && more > 0
        {
            if out.trim.strategy.is_some() {
                return err("ERR syntax error, MAXLEN and MINID options at the same time are not compatible");
            }
            out.trim.approx = false;
            let next = a[i + 1].as_slice();
            if more >= 2 && next == b"~" {
                out.trim.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            let value = &a[i + 1];
            if opt.eq_ignore_ascii_case(b"MAXLEN") {
                let Some(n) = parse_i64(value) else {
                    return err(NOT_INT);
                };
                if n < 0 {
                    return err("ERR The MAXLEN argument must be >= 0.");
                }
                out.trim.strategy = Some(Strategy::MaxLen(n as u64));
            } else {
                out.trim.strategy = Some(Strategy::MinId(parse_id(value)?));
            }
            i += 1;
        } else if opt.eq_ignore_ascii_case(b"LIMIT") && more > 0 {
            let Some(n) = parse_i64(&a[i + 1]) else {
                return err(NOT_INT);
            };
            if n < 0 {
                return err("ERR The LIMIT argument must be >= 0.");
            }
            out.trim.limit = n as u64;
            limit_given = true;
            i += 1;
        } else if xadd && opt.eq_ignore_ascii_case(b"NOMKSTREAM") {
            out.nomkstream = true;
        } else if xadd {
            match parse_id_full(opt, 0, true, true) {
                Some(id) => out.id = Some(id),
                None => return err(INVALID_ID),
            }
            break;
        } else {
            return err(SYNTAX);
        }
        i += 1;
    }
    out.fields_at = i + 1;
    if out.trim.limit > 0 && out.trim.strategy.is_none() {
        return err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        );
    }
    if !xadd && out.trim.strategy.is_none() {
        return err("ERR syntax error, XTRIM must be called with a trimming strategy");
    }
    if limit_given {
        if !out.trim.approx {
            return err("ERR syntax error, LIMIT cannot be used without the special ~ option");
        }
    } else if out.trim.approx {
        out.trim.limit = 100u64.saturating_mul(layout::node_entries()).min(1_000_000);
    } else {
        out.trim.limit = 0;
    }
    Ok(out)
}

/// XADD key [NOMKSTREAM] [MAXLEN|MINID [=|~] threshold [LIMIT count]] *|id field value ….
pub fn xadd(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let args = step!(parse_add_or_trim(a, true));
    let pairs = a.get(args.fields_at..).unwrap_or_default();
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Ok(Reply::Error(crate::commands::table::wrong_args("XADD")));
    }
    if let Some((id, true)) = args.id {
        if id.is_zero() {
            return Ok(Reply::Error(
                "ERR The ID specified in XADD must be greater than 0-0".into(),
            ));
        }
    }
    let now = tx.now;
    let Some(mut s) = step!(Stream::open(tx, &a[0], !args.nomkstream)?) else {
        return Ok(Reply::Null);
    };
    if !s.fits(17) {
        return Ok(Reply::Error("ERR key too large for a stream".into()));
    }
    let last = s.meta.last_id;
    if last == Id::MAX {
        return Ok(Reply::Error(
            "ERR The stream has exhausted the last possible ID, unable to add more items".into(),
        ));
    }
    let id = match args.id {
        None => {
            if now > last.ms {
                Id::new(now, 0)
            } else {
                last.next().expect("below the last possible ID")
            }
        }
        Some((id, true)) => id,
        Some((id, false)) if id.ms == last.ms => {
            if last.seq == u64::MAX {
                return Ok(Reply::Error(TOP.into()));
            }
            Id::new(last.ms, last.seq + 1)
        }
        Some((id, false)) => id,
    };
    if args.id.is_some() && id <= last {
        return Ok(Reply::Error(TOP.into()));
    }
    s.meta.entries_added += 1;
    let ordinal = s.meta.entries_added;
    s.put(
        &layout::entry_field(id),
        &layout::encode_entry(ordinal, pairs),
    )?;
    s.meta.last_id = id;
    s.meta.length += 1;
    s.notify("xadd");
    let trimmed = got!(s.trim(&args.trim)?);
    if trimmed > 0 {
        s.notify("xtrim");
    }
    s.save()?;
    Ok(id_reply(id))
}

const TOP: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

/// XTRIM key MAXLEN|MINID [=|~] threshold [LIMIT count].
pub fn xtrim(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let args = step!(parse_add_or_trim(a, false));
    if args.fields_at <= a.len() {
        // Something after the options that is none.
        return Ok(Reply::Error(SYNTAX.into()));
    }
    let Some(mut s) = step!(Stream::open(tx, &a[0], false)?) else {
        return Ok(Reply::Int(0));
    };
    let removed = got!(s.trim(&args.trim)?);
    if removed > 0 {
        s.notify("xtrim");
        s.save()?;
    }
    Ok(Reply::Int(removed as i64))
}

/// XDEL key id [id …].
pub fn xdel(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let Some(mut s) = step!(Stream::open(tx, &a[0], false)?) else {
        return Ok(Reply::Int(0));
    };
    let mut ids = Vec::with_capacity(a.len() - 1);
    for arg in &a[1..] {
        ids.push(step!(parse_id(arg)));
    }
    let mut deleted = 0;
    for id in ids {
        if s.del(&layout::entry_field(id))? {
            s.meta.length -= 1;
            if id > s.meta.max_deleted {
                s.meta.max_deleted = id;
            }
            deleted += 1;
        }
    }
    if deleted > 0 {
        s.notify("xdel");
        s.save()?;
    }
    Ok(Reply::Int(deleted))
}

/// XSETID key last-id [ENTRIESADDED n] [MAXDELETEDID id].
pub fn xsetid(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    let id = step!(parse_id(&a[1]));
    let mut entries_added: Option<u64> = None;
    let mut max_deleted = Id::MIN;
    let mut i = 2;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if a[i].eq_ignore_ascii_case(b"ENTRIESADDED") && more > 0 {
            match parse_i64(&a[i + 1]) {
                None => return err(NOT_INT),
                Some(n) if n < 0 => return err("ERR entries_added must be positive"),
                Some(n) => entries_added = Some(n as u64),
            }
        } else if a[i].eq_ignore_ascii_case(b"MAXDELETEDID") && more > 0 {
            max_deleted = step!(parse_id(&a[i + 1]));
            if id < max_deleted {
                return err("ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id");
            }
        } else {
            return err(SYNTAX);
        }
        i += 2;
    }
    let Some(mut s) = step!(Stream::open(tx, &a[0], false)?) else {
        return err("ERR no such key");
    };
    if id < s.meta.max_deleted {
        return err("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id");
    }
    if s.meta.length > 0 {
        let top = match got!(s.read(|ks, key| read::edge(ks, key, true))) {
            Some((top, _)) => top,
            None => Id::MIN,
        };
        if id < top {
            return err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            );
        }
        if entries_added.is_some_and(|n| s.meta.length > n) {
            return err("ERR The entries_added specified in XSETID is smaller than the target stream length");
        }
    }
    s.meta.last_id = id;
    if let Some(n) = entries_added {
        s.meta.entries_added = n;
    }
    if !max_deleted.is_zero() {
        s.meta.max_deleted = max_deleted;
    }
    s.notify("xsetid");
    s.save()?;
    Ok(Reply::Ok)
}

/// The ENTRIESREAD option of XGROUP CREATE and SETID (`a`: the options after the ID); -1 if
/// absent.
fn entries_read_option(a: &[Vec<u8>], mkstream_ok: bool) -> Step<(i64, bool)> {
    let mut entries_read = -1;
    let mut mkstream = false;
    let mut i = 0;
    while i < a.len() {
        if mkstream_ok && a[i].eq_ignore_ascii_case(b"MKSTREAM") {
            mkstream = true;
            i += 1;
        } else if a[i].eq_ignore_ascii_case(b"ENTRIESREAD") && i + 1 < a.len() {
            match parse_i64(&a[i + 1]) {
                None => return Err(Reply::Error(NOT_INT.into())),
                Some(n) if n < 0 && n != -1 => {
                    return Err(Reply::Error(
                        "ERR value for ENTRIESREAD must be positive or -1".into(),
                    ))
                }
                Some(n) => entries_read = n,
            }
            i += 2;
        } else {
            return Err(Reply::Error(format!(
                "ERR unknown subcommand or wrong number of arguments for '{}'. Try XGROUP HELP.",
                if mkstream_ok { "CREATE" } else { "SETID" }
            )));
        }
    }
    Ok((entries_read, mkstream))
}

const NEEDS_KEY: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// XGROUP CREATE key group id|$ [MKSTREAM] [ENTRIESREAD n].
pub fn xgroup_create(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (entries_read, mkstream) = step!(entries_read_option(&a[3..], true));
    let Some(mut s) = step!(Stream::open(tx, &a[0], mkstream)?) else {
        return Ok(Reply::Error(NEEDS_KEY.into()));
    };
    let id = if a[2].as_slice() == b"$" {
        s.meta.last_id
    } else {
        step!(parse_id(&a[2]))
    };
    let field = layout::group_field(&a[1]);
    if !s.fits(field.len() + 5 + 16 + 255) {
        return Ok(Reply::Error("ERR group name too long".into()));
    }
    if s.existed && s.tx.field(&a[0], &field)?.is_some() {
        return Ok(Reply::Error(
            "BUSYGROUP Consumer Group name already exists".into(),
        ));
    }
    s.put(
        &field,
        &Group {
            last_id: id,
            entries_read,
        }
        .encode(),
    )?;
    s.notify("xgroup-create");
    s.save()?;
    Ok(Reply::Ok)
}

/// The stream and group of an XGROUP subcommand that needs both (Redis' errors otherwise).
fn with_group<'a, 'w>(
    tx: &'a mut Tx<'w>,
    key: &[u8],
    group: &[u8],
) -> TxResult<Step<(Stream<'a, 'w>, Group)>> {
    let s = match Stream::open(tx, key, false)? {
        Err(e) => return Ok(Err(e)),
        Ok(None) => return Ok(Err(Reply::Error(NEEDS_KEY.into()))),
        Ok(Some(s)) => s,
    };
    let mut s = s;
    match s.read(|ks, key| read::group(ks, key, group)) {
        Err(f) => match fault(f) {
            Ok(reply) => Ok(Err(reply)),
            Err(e) => Err(e),
        },
        Ok(None) => Ok(Err(nogroup(key, group))),
        Ok(Some(g)) => Ok(Ok((s, g))),
    }
}

/// XGROUP SETID key group id|$ [ENTRIESREAD n].
pub fn xgroup_setid(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    if a.len() != 3 && a.len() != 5 {
        return Ok(Reply::Error(
            "ERR unknown subcommand or wrong number of arguments for 'SETID'. Try XGROUP HELP."
                .into(),
        ));
    }
    let (entries_read, _) = step!(entries_read_option(&a[3..], false));
    let (mut s, _) = step!(with_group(tx, &a[0], &a[1])?);
    let id = if a[2].as_slice() == b"$" {
        s.meta.last_id
    } else {
        match parse_id_full(&a[2], 0, false, false) {
            Some((id, _)) => id,
            None => return Ok(Reply::Error(INVALID_ID.into())),
        }
    };
    s.put(
        &layout::group_field(&a[1]),
        &Group {
            last_id: id,
            entries_read,
        }
        .encode(),
    )?;
    s.notify("xgroup-setid");
    s.save()?;
    Ok(Reply::Ok)
}

/// Every row of `prefix` in the stream's run (fields whole).
fn rows_with_prefix(s: &mut Stream<'_, '_>, prefix: &[u8]) -> TxResult<Vec<Vec<u8>>> {
    let end = crate::keyspace::successor(prefix);
    let rows = s.read(|ks, key| {
        let hi = match &end {
            Some(e) => Bound::Excluded(e.as_slice()),
            None => Bound::Unbounded,
        };
        ks.field_range(key, Bound::Included(prefix), hi, false, usize::MAX)
    })?;
    Ok(rows.into_iter().map(|(f, _)| f).collect())
}

/// XGROUP DESTROY key group.
pub fn xgroup_destroy(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let Some(mut s) = step!(Stream::open(tx, &a[0], false)?) else {
        return Ok(Reply::Error(NEEDS_KEY.into()));
    };
    let group = &a[1];
    if !s.del(&layout::group_field(group))? {
        return Ok(Reply::Int(0));
    }
    for prefix in [
        layout::consumers_prefix(group),
        layout::pending_prefix(group),
        {
            let mut p = vec![layout::OWNED];
            p.extend_from_slice(&(group.len() as u32).to_be_bytes());
            p.extend_from_slice(group);
            p
        },
    ] {
        for f in rows_with_prefix(&mut s, &prefix)? {
            s.del(&f)?;
        }
    }
    s.notify("xgroup-destroy");
    s.save()?;
    Ok(Reply::Int(1))
}

/// Creates the consumer if it is new (true), and sets its seen time to now either way.
fn seen(s: &mut Stream<'_, '_>, group: &[u8], consumer: &[u8]) -> TxResult<bool> {
    let field = layout::consumer_field(group, consumer);
    let now = s.tx.now;
    let new = s.tx.field(&s.key, &field)?.is_none();
    s.put(&field, &now.to_be_bytes())?;
    if new {
        s.notify("xgroup-createconsumer");
    }
    Ok(new)
}

/// XGROUP CREATECONSUMER key group consumer.
pub fn xgroup_createconsumer(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (mut s, _) = step!(with_group(tx, &a[0], &a[1])?);
    if !s.fits(layout::owned_field(&a[1], &a[2], Id::MIN).len()) {
        return Ok(Reply::Error("ERR consumer name too long".into()));
    }
    let field = layout::consumer_field(&a[1], &a[2]);
    if s.tx.field(&a[0], &field)?.is_some() {
        return Ok(Reply::Int(0));
    }
    seen(&mut s, &a[1], &a[2])?;
    s.save()?;
    Ok(Reply::Int(1))
}

/// XGROUP DELCONSUMER key group consumer: the number of entries it had pending.
pub fn xgroup_delconsumer(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let (mut s, _) = step!(with_group(tx, &a[0], &a[1])?);
    let (group, consumer) = (&a[1], &a[2]);
    if !s.del(&layout::consumer_field(group, consumer))? {
        return Ok(Reply::Int(0));
    }
    let owned = rows_with_prefix(&mut s, &layout::owned_prefix(group, consumer))?;
    for f in &owned {
        s.del(f)?;
        if let Some(id) = layout::id_at_end(f) {
            s.del(&layout::pending_field(group, id))?;
        }
    }
    s.notify("xgroup-delconsumer");
    s.save()?;
    Ok(Reply::Int(owned.len() as i64))
}

/// Moves (or adds) pending entry `id` to `consumer`, with its new delivery time and count.
fn assign(
    s: &mut Stream<'_, '_>,
    group: &[u8],
    id: Id,
    old: Option<&Pending>,
    consumer: &[u8],
    delivered: u64,
    count: u64,
) -> TxResult<()> {
    if let Some(old) = old {
        if old.consumer != consumer {
            s.del(&layout::owned_field(group, &old.consumer, id))?;
        }
    }
    let p = Pending {
        delivered,
        count,
        consumer: consumer.to_vec(),
    };
    s.put(&layout::pending_field(group, id), &p.encode())?;
    s.put(&layout::owned_field(group, consumer, id), b"")?;
    Ok(())
}

/// Removes pending entry `id` (its group row and its consumer's row).
fn unassign(s: &mut Stream<'_, '_>, group: &[u8], id: Id, p: &Pending) -> TxResult<()> {
    s.del(&layout::pending_field(group, id))?;
    s.del(&layout::owned_field(group, &p.consumer, id))?;
    Ok(())
}

/// XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] [NOACK] STREAMS key … id ….
pub fn xreadgroup(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let args = step!(parse_read(a, true));
    let (group, consumer) = args.group.clone().expect("checked by parse_read");
    // Every key and group must exist, and every ID parse, before anything is read.
    let mut from = Vec::with_capacity(args.keys.len());
    for (key, id) in args.keys.iter().zip(&args.ids) {
        let found = reading(tx, |ks| -> crate::keyspace::Result<Option<Group>> {
            match read::stream(ks, key)? {
                Some(_) => read::group(ks, key, &group),
                None => Ok(None),
            }
        });
        if got!(found).is_none() {
            return Ok(Reply::Error(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&group)
            )));
        }
        if id.as_slice() == b"$" {
            return Ok(Reply::Error("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.".into()));
        }
        from.push(if id.as_slice() == b">" {
            None
        } else {
            Some(step!(parse_id(id)))
        });
    }
    let limit = if args.count == 0 {
        usize::MAX
    } else {
        args.count
    };
    let mut out = Vec::new();
    for (key, after) in args.keys.iter().zip(from) {
        let Some(mut s) = step!(Stream::open(tx, key, false)?) else {
            continue;
        };
        if !s.fits(layout::owned_field(&group, &consumer, Id::MIN).len()) {
            return Ok(Reply::Error("ERR consumer name too long".into()));
        }
        let mut g = match got!(s.read(|ks, key| read::group(ks, key, &group))) {
            Some(g) => g,
            None => continue,
        };
        let now = s.tx.now;
        let mut lines = Vec::new();
        match after {
            // History: the consumer's own pending entries after the ID.
            Some(after) => {
                seen(&mut s, &group, &consumer)?;
                if let Some(lo) = after.next() {
                    let ids = got!(s.read(|ks, key| read::owned(
                        ks,
                        key,
                        &group,
                        &consumer,
                        lo,
                        Id::MAX,
                        limit
                    )));
                    for id in ids {
                        let entry =
                            got!(s.read(|ks, key| read::entries(ks, key, id, id, false, 1)));
                        match entry.into_iter().next() {
                            Some(e) => {
                                let p =
                                    got!(s.read(|ks, key| read::pending_one(ks, key, &group, id)));
                                if let Some(p) = p {
                                    assign(
                                        &mut s,
                                        &group,
                                        id,
                                        Some(&p),
                                        &consumer,
                                        now,
                                        p.count + 1,
                                    )?;
                                }
                                lines.push(entry_reply(e));
                            }
                            None => lines.push(Reply::Array(vec![id_reply(id), Reply::NullArray])),
                        }
                    }
                }
                out.push((Reply::Bulk(key.clone()), Reply::Array(lines)));
            }
            // New entries: those after the group's last delivered ID.
            None => {
                let top = got!(s.read(|ks, key| read::edge(ks, key, true)));
                let Some((top, _)) = top else { continue };
                if top <= g.last_id {
                    continue;
                }
                seen(&mut s, &group, &consumer)?;
                let lo = g.last_id.next().expect("below the top entry");
                let found: Vec<Entry> =
                    got!(s.read(|ks, key| read::entries(ks, key, lo, Id::MAX, false, limit)));
                let first = got!(s.read(|ks, key| read::first_id(ks, key)));
                for e in found {
                    let id = e.0;
                    if g.entries_read != -1 && !has_tombstones(&s.meta, first, id, Id::MAX) {
                        g.entries_read += 1;
                    } else if s.meta.entries_added > 0 {
                        g.entries_read = estimate_read(&s.meta, first, id);
                    }
                    g.last_id = id;
                    if !args.noack {
                        let old = got!(s.read(|ks, key| read::pending_one(ks, key, &group, id)));
                        assign(&mut s, &group, id, old.as_ref(), &consumer, now, 1)?;
                    }
                    lines.push(entry_reply(e));
                }
                s.put(&layout::group_field(&group), &g.encode())?;
                out.push((Reply::Bulk(key.clone()), Reply::Array(lines)));
            }
        }
        s.save()?;
    }
    Ok(read::streams_reply(out))
}

/// XACK key group id [id …].
pub fn xack(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let s = step!(Stream::open(tx, &a[0], false)?);
    let mut ids = Vec::with_capacity(a.len() - 2);
    for arg in &a[2..] {
        ids.push(step!(parse_id(arg)));
    }
    let Some(mut s) = s else {
        return Ok(Reply::Int(0));
    };
    let group = &a[1];
    if got!(s.read(|ks, key| read::group(ks, key, group))).is_none() {
        return Ok(Reply::Int(0));
    }
    let mut acked = 0;
    for id in ids {
        if let Some(p) = got!(s.read(|ks, key| read::pending_one(ks, key, group, id))) {
            unassign(&mut s, group, id, &p)?;
            acked += 1;
        }
    }
    if acked > 0 {
        s.save()?;
    }
    Ok(Reply::Int(acked))
}

fn nogroup_key(key: &[u8], group: &[u8]) -> Reply {
    Reply::Error(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The reply line of a claimed entry: its ID (JUSTID) or the entry (nil if it is gone).
fn claimed_line(s: &mut Stream<'_, '_>, id: Id, justid: bool) -> TxResult<Result<Reply, Fault>> {
    if justid {
        return Ok(Ok(id_reply(id)));
    }
    Ok(s.read(|ks, key| read::entries(ks, key, id, id, false, 1))
        .map(|e| e.into_iter().next().map_or(Reply::Null, entry_reply)))
}

/// XCLAIM key group consumer min-idle-time id … [IDLE ms] [TIME ms] [RETRYCOUNT n] [FORCE]
/// [JUSTID] [LASTID id].
pub fn xclaim(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    let (key, group, consumer) = (&a[0], &a[1], &a[2]);
    let now = tx.now;
    let s = step!(Stream::open(tx, key, false)?);
    let Some(mut s) = s else {
        return Ok(nogroup_key(key, group));
    };
    let Some(mut g) = got!(s.read(|ks, key| read::group(ks, key, group))) else {
        return Ok(nogroup_key(key, group));
    };
    let Some(min_idle) = parse_i64(&a[3]) else {
        return err("ERR Invalid min-idle-time argument for XCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let mut ids = Vec::new();
    let mut j = 4;
    while j < a.len() {
        match parse_id_full(&a[j], 0, true, false) {
            Some((id, _)) => ids.push(id),
            None => break,
        }
        j += 1;
    }
    let (mut force, mut justid) = (false, false);
    let mut retry: Option<u64> = None;
    let mut delivery: Option<i64> = None;
    let mut last_id = Id::MIN;
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = &a[j];
        let number = |v: &[u8], what: &str| {
            parse_i64(v).ok_or_else(|| {
                Reply::Error(format!("ERR Invalid {what} option argument for XCLAIM"))
            })
        };
        if opt.eq_ignore_ascii_case(b"FORCE") {
            force = true;
        } else if opt.eq_ignore_ascii_case(b"JUSTID") {
            justid = true;
        } else if opt.eq_ignore_ascii_case(b"IDLE") && more > 0 {
            j += 1;
            delivery = Some(now as i64 - step!(number(&a[j], "IDLE")));
        } else if opt.eq_ignore_ascii_case(b"TIME") && more > 0 {
            j += 1;
            delivery = Some(step!(number(&a[j], "TIME")));
        } else if opt.eq_ignore_ascii_case(b"RETRYCOUNT") && more > 0 {
            j += 1;
            retry = Some(step!(number(&a[j], "RETRYCOUNT")).max(0) as u64);
        } else if opt.eq_ignore_ascii_case(b"LASTID") && more > 0 {
            j += 1;
            last_id = step!(parse_id(&a[j]));
        } else {
            return Ok(Reply::Error(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        j += 1;
    }
    if !s.fits(layout::owned_field(group, consumer, Id::MIN).len()) {
        return err("ERR consumer name too long");
    }
    let mut changed = false;
    if last_id > g.last_id {
        g.last_id = last_id;
        s.put(&layout::group_field(group), &g.encode())?;
        changed = true;
    }
    let delivered = match delivery {
        Some(t) if t >= 0 && t as u64 <= now => t as u64,
        _ => now,
    };
    let mut out = Vec::new();
    let mut consumer_seen = false;
    for id in ids {
        let nack = got!(s.read(|ks, key| read::pending_one(ks, key, group, id)));
        if !s.entry_exists(id)? {
            if let Some(p) = nack {
                unassign(&mut s, group, id, &p)?;
                changed = true;
            }
            continue;
        }
        let (old, count) = match nack {
            Some(p) => {
                if min_idle > 0 && now.saturating_sub(p.delivered) < min_idle {
                    continue;
                }
                let count = p.count;
                (Some(p), count)
            }
            None if force => (None, 1),
            None => continue,
        };
        if !consumer_seen {
            seen(&mut s, group, consumer)?;
            consumer_seen = true;
        }
        let count = match retry {
            Some(n) => n,
            None if !justid => count + 1,
            None => count,
        };
        assign(&mut s, group, id, old.as_ref(), consumer, delivered, count)?;
        changed = true;
        out.push(got!(claimed_line(&mut s, id, justid)?));
    }
    if changed {
        s.save()?;
    }
    Ok(Reply::Array(out))
}

/// XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID].
pub fn xautoclaim(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Reply> {
    let err = |m: &str| Ok(Reply::Error(m.into()));
    let (key, group, consumer) = (&a[0], &a[1], &a[2]);
    let now = tx.now;
    let s = step!(Stream::open(tx, key, false)?);
    let Some(min_idle) = parse_i64(&a[3]) else {
        return err("ERR Invalid min-idle-time argument for XAUTOCLAIM");
    };
    let min_idle = min_idle.max(0) as u64;
    let (start, excl) = step!(read::parse_bound(&a[4], 0));
    let start = if excl {
        match start.next() {
            Some(s) => s,
            None => return err("ERR invalid start ID for the interval"),
        }
    } else {
        start
    };
    let mut count: u64 = 100;
    let mut justid = false;
    let mut j = 5;
    while j < a.len() {
        let more = a.len() - 1 - j;
        if a[j].eq_ignore_ascii_case(b"COUNT") && more > 0 {
            match parse_i64(&a[j + 1]) {
                Some(n) if (1..=i64::MAX / 16).contains(&n) => count = n as u64,
                _ => return err("ERR COUNT must be > 0"),
            }
            j += 1;
        } else if a[j].eq_ignore_ascii_case(b"JUSTID") {
            justid = true;
        } else {
            return err(SYNTAX);
        }
        j += 1;
    }
    let Some(mut s) = s else {
        return Ok(nogroup_key(key, group));
    };
    if got!(s.read(|ks, key| read::group(ks, key, group))).is_none() {
        return Ok(nogroup_key(key, group));
    }
    if !s.fits(layout::owned_field(group, consumer, Id::MIN).len()) {
        return err("ERR consumer name too long");
    }
    let mut attempts = count * 10;
    let mut out = Vec::new();
    let mut deleted = Vec::new();
    let mut consumer_seen = false;
    let mut changed = false;
    let mut from = start;
    let mut next = Id::MIN;
    'scan: loop {
        let batch = got!(s.read(|ks, key| read::pending(ks, key, group, from, Id::MAX, 128)));
        if batch.is_empty() {
            break;
        }
        for (id, p) in batch {
            if attempts == 0 || count == 0 {
                // The cursor: the first pending entry not examined.
                next = id;
                break 'scan;
            }
            attempts -= 1;
            if !s.entry_exists(id)? {
                unassign(&mut s, group, id, &p)?;
                changed = true;
                deleted.push(id_reply(id));
                count -= 1;
            } else if min_idle == 0 || now.saturating_sub(p.delivered) >= min_idle {
                if !consumer_seen {
                    seen(&mut s, group, consumer)?;
                    consumer_seen = true;
                }
                let n = if justid { p.count } else { p.count + 1 };
                assign(&mut s, group, id, Some(&p), consumer, now, n)?;
                changed = true;
                out.push(got!(claimed_line(&mut s, id, justid)?));
                count -= 1;
            }
            match id.next() {
                Some(after) => from = after,
                None => break 'scan,
            }
        }
    }
    if changed {
        s.save()?;
    }
    Ok(Reply::Array(vec![
        id_reply(next),
        Reply::Array(out),
        Reply::Array(deleted),
    ]))
}

/// XREAD (the table's `Block` handler: with BLOCK and nothing to read the client waits; inside
/// MULTI it answers what XREAD without BLOCK answers).
pub fn xread_block(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    let args = match parse_read(a, false) {
        Ok(args) => args,
        Err(e) => return Ok(Attempt::Done(e)),
    };
    let from = match reading(tx, |ks| read::xread_from(ks, &args)) {
        Ok(Ok(from)) => from,
        Ok(Err(e)) => return Ok(Attempt::Done(e)),
        Err(f) => return fault(f).map(Attempt::Done),
    };
    let found = match reading(tx, |ks| read::read_after(ks, &from, args.count)) {
        Ok(found) => found,
        Err(f) => return fault(f).map(Attempt::Done),
    };
    let Some(ms) = args.block.filter(|_| found.is_empty()) else {
        return Ok(Attempt::Done(read::streams_reply(found)));
    };
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for (k, _) in &from {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    Ok(Attempt::Wait(Blocking {
        pop: Pop::Xread {
            from,
            count: args.count,
        },
        keys,
        deadline: (ms > 0).then(|| tx.now.saturating_add(ms)),
    }))
}

/// A client blocked in XREAD, once `key` was written: the entries after its ID there (nil:
/// none yet, it waits on).
pub fn serve_xread(
    tx: &mut Tx<'_>,
    key: &[u8],
    from: &[(Vec<u8>, Id)],
    count: usize,
) -> TxResult<Reply> {
    let mine: Vec<(Vec<u8>, Id)> = from
        .iter()
        .filter(|(k, _)| k == key)
        .take(1)
        .cloned()
        .collect();
    match reading(tx, |ks| read::read_after(ks, &mine, count)) {
        Ok(found) => Ok(read::streams_reply(found)),
        Err(f) => fault(f),
    }
}

/// XREADGROUP (the table's `Block` handler): with BLOCK, `>` IDs and no new entries the client
/// waits (history IDs always answer at once, as Redis).
pub fn xreadgroup_block(tx: &mut Tx<'_>, a: &[Vec<u8>]) -> TxResult<Attempt> {
    let reply = xreadgroup(tx, a)?;
    let Ok(args) = parse_read(a, true) else {
        return Ok(Attempt::Done(reply));
    };
    let (Some(ms), Reply::NullArray) = (args.block, &reply) else {
        return Ok(Attempt::Done(reply));
    };
    let (group, consumer) = args.group.clone().expect("checked by parse_read");
    let mut keys: Vec<Vec<u8>> = Vec::new();
    for k in &args.keys {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    Ok(Attempt::Wait(Blocking {
        pop: Pop::XreadGroup {
            group,
            consumer,
            count: args.count,
            noack: args.noack,
        },
        keys,
        deadline: (ms > 0).then(|| tx.now.saturating_add(ms)),
    }))
}

/// A client blocked in XREADGROUP, once `key` was written: the group's new entries there, or
/// NOGROUP if the group went (nil: none yet, it waits on).
pub fn serve_xreadgroup(
    tx: &mut Tx<'_>,
    key: &[u8],
    group: &[u8],
    consumer: &[u8],
    count: usize,
    noack: bool,
) -> TxResult<Reply> {
    let mut a = vec![b"GROUP".to_vec(), group.to_vec(), consumer.to_vec()];
    if count > 0 {
        a.push(b"COUNT".to_vec());
        a.push(count.to_string().into_bytes());
    }
    if noack {
        a.push(b"NOACK".to_vec());
    }
    a.extend([b"STREAMS".to_vec(), key.to_vec(), b">".to_vec()]);
    xreadgroup(tx, &a)
}
