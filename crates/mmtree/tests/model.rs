//! Model test: random operation sequences run against mmtree and against
//! `BTreeMap<table, BTreeMap<key, value>>`; every read must agree with the model.
//!
//! `PROPTEST_CASES=1000 cargo test -p mmtree --test model` runs more cases.

use mmtree::{Db, Options, ReadTransaction, TableHandle, WriteTransaction};
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::ops::Bound;

type Tables = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

#[derive(Debug, Clone)]
enum Op {
    Insert {
        table: u8,
        key: Vec<u8>,
        value: ValueSpec,
    },
    Remove {
        table: u8,
        key: Vec<u8>,
    },
    Get {
        table: u8,
        key: Vec<u8>,
    },
    Range {
        table: u8,
        lo: Bound<Vec<u8>>,
        hi: Bound<Vec<u8>>,
        reverse: bool,
        take: usize,
    },
    FirstLast {
        table: u8,
    },
    DeleteTable {
        table: u8,
    },
    RenameTable {
        from: u8,
        to: u8,
    },
    Commit,
    Abort,
    Reopen,
    /// `Db::checkpoint`: a merge of the write buffer into the tree (refused while this thread's
    /// writer is open).
    Checkpoint,
    /// As after a process crash: the data file and the log are copied as they are now and the
    /// copy is opened (which replays the log); it must hold exactly the committed state.
    CrashCopy,
    Snapshot,
    /// Reads every held snapshot again (after merges and commits made since it began).
    VerifySnapshots,
    Check,
}

/// Values are described, not stored, so shrinking stays cheap: `len` bytes derived from `seed`.
#[derive(Debug, Clone, Copy)]
struct ValueSpec {
    len: usize,
    seed: u8,
}

impl ValueSpec {
    fn bytes(self) -> Vec<u8> {
        (0..self.len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(self.seed))
            .collect()
    }
}

fn table_name(table: u8) -> String {
    format!("t{table}")
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // A small key space, so removes and overwrites hit.
        4 => proptest::collection::vec(0u8..4, 0..4),
        2 => proptest::collection::vec(any::<u8>(), 0..24),
        1 => (any::<u8>(), 200usize..1000).prop_map(|(b, n)| vec![b; n]),
    ]
}

fn value() -> impl Strategy<Value = ValueSpec> {
    prop_oneof![
        8 => (0usize..64, any::<u8>()).prop_map(|(len, seed)| ValueSpec { len, seed }),
        2 => (500usize..2500, any::<u8>()).prop_map(|(len, seed)| ValueSpec { len, seed }),
        1 => (3000usize..70_000, any::<u8>()).prop_map(|(len, seed)| ValueSpec { len, seed }),
    ]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        Just(Bound::Unbounded),
        key().prop_map(Bound::Included),
        key().prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let table = 0u8..5;
    prop_oneof![
        30 => (table.clone(), key(), value()).prop_map(|(table, key, value)| Op::Insert { table, key, value }),
        10 => (table.clone(), key()).prop_map(|(table, key)| Op::Remove { table, key }),
        5 => (table.clone(), key()).prop_map(|(table, key)| Op::Get { table, key }),
        5 => (table.clone(), bound(), bound(), any::<bool>(), 0usize..50)
            .prop_map(|(table, lo, hi, reverse, take)| Op::Range { table, lo, hi, reverse, take }),
        2 => table.clone().prop_map(|table| Op::FirstLast { table }),
        1 => (table.clone(), table.clone()).prop_map(|(from, to)| Op::RenameTable { from, to }),
        1 => table.prop_map(|table| Op::DeleteTable { table }),
        6 => Just(Op::Commit),
        2 => Just(Op::Abort),
        1 => Just(Op::Reopen),
        1 => Just(Op::Checkpoint),
        1 => Just(Op::CrashCopy),
        1 => Just(Op::Snapshot),
        1 => Just(Op::VerifySnapshots),
        1 => Just(Op::Check),
    ]
}

/// Bulk ops: many sequential inserts so trees get deep enough to split and merge.
fn bulk() -> impl Strategy<Value = Vec<Op>> {
    (0u8..5, 100u16..2000, any::<bool>(), any::<u8>()).prop_map(|(table, n, remove, seed)| {
        (0..n)
            .map(|i| {
                let key = format!("{:05}", (i as u32 * 7919) % 4000).into_bytes();
                if remove && i % 2 == 1 {
                    Op::Remove { table, key }
                } else {
                    Op::Insert {
                        table,
                        key,
                        value: ValueSpec {
                            len: 40 + (i as usize % 90),
                            seed,
                        },
                    }
                }
            })
            .collect()
    })
}

/// What comes between two keys of an in-order run (`append_run`).
#[derive(Debug, Clone)]
enum Aside {
    /// Nothing: the next key follows.
    None,
    /// Any other operation (an out-of-order insert, a remove, a read, a commit, a reopen, …).
    Op(Op),
    /// Removes a key the run inserted before (the largest one, or an earlier one).
    RemoveRunKey { back: usize },
    /// Inserts a run key again (a replace: not past the largest key).
    ReplaceRunKey { back: usize },
    /// Reads a run key back.
    GetRunKey { back: usize },
}

/// A run of inserts in increasing key order (the append path, `btree::append`): keys
/// `[0xf0 + high] ++ (start + i * step) as u32 BE`, so a run usually lies past every key the
/// other strategies make (and past earlier runs with a lower `high`), with other operations
/// now and then between its keys: out-of-order inserts, removes and replaces of run keys, reads,
/// commits, aborts, reopens.
fn append_run() -> impl Strategy<Value = Vec<Op>> {
    let aside = prop_oneof![
        40 => Just(Aside::None),
        2 => op().prop_map(Aside::Op),
        1 => (0usize..3).prop_map(|back| Aside::RemoveRunKey { back }),
        1 => (0usize..3).prop_map(|back| Aside::ReplaceRunKey { back }),
        1 => (0usize..40).prop_map(|back| Aside::GetRunKey { back }),
    ];
    (
        0u8..5,
        0u8..16,
        0u32..1_000_000,
        1u32..4,
        0usize..3,
        proptest::collection::vec((aside, 0usize..400, any::<u8>()), 50..3000),
    )
        .prop_map(|(table, high, start, step, quiet, steps)| {
            let run_key = |i: usize| {
                let mut key = vec![0xf0 + high];
                key.extend_from_slice(&(start + i as u32 * step).to_be_bytes());
                key
            };
            let mut ops = Vec::new();
            // A quiet run has fewer interruptions: long enough stretches of pure appends that
            // full leaves are written as the run goes (`btree::append::EMIT_NODES`).
            let every = [1, 10, 100][quiet];
            for (i, (aside, len, dice)) in steps.into_iter().enumerate() {
                let aside = match dice as usize % every {
                    0 => aside,
                    _ => Aside::None,
                };
                // Mostly small values; now and then one that needs an overflow run.
                let len = if len == 399 { 5000 } else { len };
                let value = ValueSpec { len, seed: i as u8 };
                let earlier = |back: usize| run_key(i.saturating_sub(back + 1));
                match aside {
                    Aside::None => {}
                    Aside::Op(op) => ops.push(op),
                    Aside::RemoveRunKey { back } => ops.push(Op::Remove {
                        table,
                        key: earlier(back),
                    }),
                    Aside::ReplaceRunKey { back } => ops.push(Op::Insert {
                        table,
                        key: earlier(back),
                        value,
                    }),
                    Aside::GetRunKey { back } => ops.push(Op::Get {
                        table,
                        key: earlier(back),
                    }),
                }
                ops.push(Op::Insert {
                    table,
                    key: run_key(i),
                    value,
                });
            }
            ops
        })
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![16 => op().prop_map(|o| vec![o]), 2 => bulk(), 1 => append_run()],
        1..60,
    )
    .prop_map(|v| v.into_iter().flatten().collect())
}

fn in_range(key: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Unbounded => true,
        Bound::Included(l) => key >= l.as_slice(),
        Bound::Excluded(l) => key > l.as_slice(),
    };
    let below = match hi {
        Bound::Unbounded => true,
        Bound::Included(h) => key <= h.as_slice(),
        Bound::Excluded(h) => key < h.as_slice(),
    };
    above && below
}

fn as_slices(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Unbounded => Bound::Unbounded,
        Bound::Included(k) => Bound::Included(k.as_slice()),
        Bound::Excluded(k) => Bound::Excluded(k.as_slice()),
    }
}

/// Compares a whole snapshot with the model.
/// The end of the append-path tests: `db` holds `committed`, passes `check`, and holds it again
/// after a reopen.
fn verify_check_reopen(db: Db, path: &std::path::Path, options: Options, committed: &Tables) {
    verify_read(&db.begin_read().unwrap(), committed).unwrap();
    let report = db.check().unwrap();
    assert!(report.is_ok(), "check: {:?}", report.problems);
    drop(db);
    let db = Db::open_with(path, options).unwrap();
    verify_read(&db.begin_read().unwrap(), committed).unwrap();
}

fn verify_read(r: &ReadTransaction, model: &Tables) -> Result<(), TestCaseError> {
    let names: Vec<String> = model
        .iter()
        .filter(|(_, t)| !t.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    let listed: Vec<String> = r
        .list_tables()
        .unwrap()
        .into_iter()
        .filter(|n| r.table(n).unwrap().is_some_and(|t| !t.is_empty().unwrap()))
        .collect();
    prop_assert_eq!(listed, names);
    for (name, entries) in model {
        let Some(table) = r.table(name).unwrap() else {
            prop_assert!(entries.is_empty(), "table {} missing", name);
            continue;
        };
        prop_assert_eq!(table.len().unwrap(), entries.len() as u64);
        let got: Vec<(Vec<u8>, Vec<u8>)> = table
            .range(..)
            .unwrap()
            .map(|item| item.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        let want: Vec<(Vec<u8>, Vec<u8>)> = entries
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        prop_assert!(got == want, "table {} differs from the model", name);
        let back: Vec<Vec<u8>> = table
            .range(..)
            .unwrap()
            .rev()
            .map(|item| item.unwrap().0.to_vec())
            .collect();
        let want_back: Vec<Vec<u8>> = entries.keys().rev().cloned().collect();
        prop_assert_eq!(back, want_back);
    }
    Ok(())
}

struct Harness {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    options: Options,
    db: Option<Db>,
    writer: Option<WriteTransaction>,
    /// Table handles opened by inserts (issue 28 item 12): half the writes and the writer's
    /// reads go through them, the rest through `WriteTransaction::table`. A handle is a name:
    /// it outlives its transaction, and the table it names may since have been deleted or
    /// renamed.
    handles: BTreeMap<String, TableHandle>,
    committed: Tables,
    pending: Tables,
    snapshots: Vec<(ReadTransaction, Tables)>,
}

impl Harness {
    fn new(options: Options) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.mmt");
        let db = Db::open_with(&path, options.clone()).unwrap();
        Harness {
            _dir: dir,
            path,
            options,
            db: Some(db),
            writer: None,
            handles: BTreeMap::new(),
            committed: Tables::new(),
            pending: Tables::new(),
            snapshots: Vec::new(),
        }
    }

    fn db(&self) -> &Db {
        self.db.as_ref().unwrap()
    }

    fn writer(&mut self) -> &mut WriteTransaction {
        if self.writer.is_none() {
            self.writer = Some(self.db().begin_write().unwrap());
            self.pending = self.committed.clone();
        }
        self.writer.as_mut().unwrap()
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Insert { table, key, value } => {
                let name = table_name(*table);
                let bytes = value.bytes();
                self.writer();
                let w = self.writer.as_mut().unwrap();
                if key.len() % 2 == 0 {
                    let handle = match self.handles.get(&name) {
                        Some(handle) => handle.clone(),
                        None => w.table_handle(&name).unwrap(),
                    };
                    handle.insert(w, key, &bytes).unwrap();
                    self.handles.insert(name.clone(), handle);
                } else {
                    w.table(&name).unwrap().insert(key, &bytes).unwrap();
                }
                self.pending
                    .entry(name)
                    .or_default()
                    .insert(key.clone(), bytes);
            }
            Op::Remove { table, key } => {
                let name = table_name(*table);
                self.writer();
                let w = self.writer.as_mut().unwrap();
                // A third of the removals are deletes, which do not say whether the key was
                // there (nor, with buffered commits, ask the tree: the counts must still agree).
                let removed = match self.handles.get(&name) {
                    Some(handle) if key.len() % 3 == 0 => handle.delete(w, key).map(|()| None),
                    Some(handle) if key.len() % 2 == 0 => handle.remove(w, key).map(Some),
                    _ if key.len() % 3 == 1 => w.table(&name).unwrap().delete(key).map(|()| None),
                    _ => w.table(&name).unwrap().remove(key).map(Some),
                }
                .unwrap();
                let expected = self.pending.entry(name).or_default().remove(key).is_some();
                if let Some(removed) = removed {
                    prop_assert_eq!(removed, expected);
                }
            }
            Op::Get { table, key } => {
                let name = table_name(*table);
                let want = self
                    .pending_or_committed()
                    .get(&name)
                    .and_then(|t| t.get(key))
                    .cloned();
                let got = match &mut self.writer {
                    Some(w) => match self.handles.get(&name) {
                        Some(handle) if key.len() % 2 == 0 => {
                            handle.get(w, key).unwrap().map(<[u8]>::to_vec)
                        }
                        _ => w
                            .table(&name)
                            .unwrap()
                            .get(key)
                            .unwrap()
                            .map(<[u8]>::to_vec),
                    },
                    None => {
                        let r = self.db().begin_read().unwrap();
                        r.table(&name)
                            .unwrap()
                            .and_then(|t| t.get(key).unwrap().map(<[u8]>::to_vec))
                    }
                };
                prop_assert_eq!(got, want);
            }
            Op::Range {
                table,
                lo,
                hi,
                reverse,
                take,
            } => {
                let name = table_name(*table);
                let want: Vec<Vec<u8>> = {
                    let model = self
                        .pending_or_committed()
                        .get(&name)
                        .cloned()
                        .unwrap_or_default();
                    let keys = model.keys().filter(|k| in_range(k, lo, hi)).cloned();
                    if *reverse {
                        keys.rev().take(*take).collect()
                    } else {
                        keys.take(*take).collect()
                    }
                };
                let bounds = (as_slices(lo), as_slices(hi));
                let collect = |range: mmtree::Range<'_>| -> Vec<Vec<u8>> {
                    if *reverse {
                        range
                            .rev()
                            .take(*take)
                            .map(|i| i.unwrap().0.to_vec())
                            .collect()
                    } else {
                        range.take(*take).map(|i| i.unwrap().0.to_vec()).collect()
                    }
                };
                let got = match &mut self.writer {
                    Some(w) => match self.handles.get(&name) {
                        Some(handle) if take % 2 == 0 => collect(handle.range(w, bounds).unwrap()),
                        _ => collect(w.table(&name).unwrap().range(bounds).unwrap()),
                    },
                    None => {
                        let r = self.db().begin_read().unwrap();
                        match r.table(&name).unwrap() {
                            Some(t) => collect(t.range(bounds).unwrap()),
                            None => Vec::new(),
                        }
                    }
                };
                prop_assert_eq!(got, want);
            }
            Op::FirstLast { table } => {
                let name = table_name(*table);
                self.writer();
                let model = self.pending.get(&name).cloned().unwrap_or_default();
                let w = self.writer.as_mut().unwrap();
                let owned = |e: Option<(&[u8], &[u8])>| e.map(|(k, v)| (k.to_vec(), v.to_vec()));
                let (first, last) = match self.handles.get(&name) {
                    Some(handle) if table % 2 == 0 => {
                        prop_assert_eq!(handle.len(w).unwrap(), model.len() as u64);
                        (
                            owned(handle.first(w).unwrap()),
                            owned(handle.last(w).unwrap()),
                        )
                    }
                    _ => {
                        let t = w.table(&name).unwrap();
                        (owned(t.first().unwrap()), owned(t.last().unwrap()))
                    }
                };
                prop_assert_eq!(
                    first,
                    model.first_key_value().map(|(k, v)| (k.clone(), v.clone()))
                );
                prop_assert_eq!(
                    last,
                    model.last_key_value().map(|(k, v)| (k.clone(), v.clone()))
                );
            }
            Op::DeleteTable { table } => {
                let name = table_name(*table);
                self.writer();
                let existed = self.writer().delete_table(&name).unwrap();
                let expected = self.pending.remove(&name).is_some();
                if !existed {
                    prop_assert!(!expected);
                }
            }
            Op::RenameTable { from, to } => {
                let (f, t) = (table_name(*from), table_name(*to));
                let w = self.writer();
                let had_from = w.has_table(&f).unwrap();
                let had_to = w.has_table(&t).unwrap();
                match w.rename_table(&f, &t) {
                    Ok(renamed) => {
                        prop_assert_eq!(renamed, had_from);
                        prop_assert!(!had_from || !had_to || f == t);
                        if !had_from {
                            prop_assert!(self.pending.get(&f).is_none_or(|m| m.is_empty()));
                        } else if f != t {
                            let moved = self.pending.remove(&f).unwrap_or_default();
                            self.pending.insert(t, moved);
                        }
                    }
                    Err(mmtree::Error::TableExists { .. }) => {
                        prop_assert!(had_from && had_to && f != t)
                    }
                    Err(e) => panic!("rename_table: {e}"),
                }
            }
            Op::Commit => {
                if let Some(w) = self.writer.take() {
                    w.commit().unwrap();
                    self.committed = std::mem::take(&mut self.pending);
                    let r = self.db().begin_read().unwrap();
                    verify_read(&r, &self.committed)?;
                }
            }
            Op::Abort => {
                if let Some(w) = self.writer.take() {
                    w.abort();
                    let r = self.db().begin_read().unwrap();
                    verify_read(&r, &self.committed)?;
                }
            }
            Op::Reopen => {
                self.writer = None;
                self.verify_snapshots()?;
                self.db = None;
                self.db = Some(Db::open_with(&self.path, self.options.clone()).unwrap());
                let r = self.db().begin_read().unwrap();
                verify_read(&r, &self.committed)?;
            }
            Op::Checkpoint => match self.writer.is_some() {
                true => prop_assert!(matches!(
                    self.db().checkpoint(),
                    Err(mmtree::Error::WriteInProgress)
                )),
                false => {
                    self.db().checkpoint().unwrap();
                    let r = self.db().begin_read().unwrap();
                    verify_read(&r, &self.committed)?;
                }
            },
            Op::CrashCopy => {
                let dir = tempfile::tempdir().unwrap();
                let copy = dir.path().join("crash.mmt");
                std::fs::copy(&self.path, &copy).unwrap();
                let mut log = self.path.clone().into_os_string();
                log.push("-log");
                let mut copy_log = copy.clone().into_os_string();
                copy_log.push("-log");
                std::fs::copy(&log, &copy_log).unwrap();
                let db = Db::open_with(&copy, Options::default().strict(true)).unwrap();
                let r = db.begin_read().unwrap();
                verify_read(&r, &self.committed)?;
                drop(r);
                let report = db.check().unwrap();
                prop_assert!(report.is_ok(), "check after replay: {:?}", report.problems);
            }
            Op::Snapshot => {
                if self.snapshots.len() < 3 {
                    let r = self.db().begin_read().unwrap();
                    self.snapshots.push((r, self.committed.clone()));
                }
            }
            Op::VerifySnapshots => {
                for (r, model) in &self.snapshots {
                    verify_read(r, model)?;
                }
            }
            Op::Check => {
                let report = self.db().check().unwrap();
                prop_assert!(report.is_ok(), "check: {:?}", report.problems);
            }
        }
        Ok(())
    }

    fn pending_or_committed(&self) -> &Tables {
        if self.writer.is_some() {
            &self.pending
        } else {
            &self.committed
        }
    }

    fn verify_snapshots(&mut self) -> Result<(), TestCaseError> {
        for (r, model) in self.snapshots.drain(..) {
            verify_read(&r, &model)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), TestCaseError> {
        if let Some(w) = self.writer.take() {
            w.commit().unwrap();
            self.committed = std::mem::take(&mut self.pending);
        }
        self.verify_snapshots()?;
        let report = self.db().check().unwrap();
        prop_assert!(report.is_ok(), "check: {:?}", report.problems);
        self.db = None;
        let db = Db::open_with(&self.path, self.options.clone()).unwrap();
        verify_read(&db.begin_read().unwrap(), &self.committed)?;
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn matches_btreemap_model(ops in ops()) {
        let mut h = Harness::new(Options::default().strict(true));
        for op in &ops {
            h.run(op)?;
        }
        h.finish()?;
    }

    /// A tiny spill threshold: dirty pages are written out mid-transaction, and aborts must
    /// still discard them.
    #[test]
    fn matches_model_with_spilling(ops in ops()) {
        let mut h = Harness::new(Options::default().spill_bytes(64 * 1024).strict(true));
        for op in &ops {
            h.run(op)?;
        }
        h.finish()?;
    }

    /// A tiny log: commits checkpoint on their own, and larger ones commit as checkpoints.
    #[test]
    fn matches_model_with_a_small_log(ops in ops()) {
        let mut h = Harness::new(Options::default().log_bytes(8 * 1024).strict(true));
        for op in &ops {
            h.run(op)?;
        }
        h.finish()?;
    }

    /// A merge thread that folds the buffer into the tree as soon as each commit is done,
    /// racing the next transaction and the reads (issue 24: merges at random points).
    #[test]
    fn matches_model_with_background_merges(ops in ops()) {
        let options = Options::default()
            .merge_after_idle(Some(std::time::Duration::ZERO))
            .strict(true);
        let mut h = Harness::new(options);
        for op in &ops {
            h.run(op)?;
        }
        h.finish()?;
    }

    #[test]
    fn matches_model_with_larger_pages(ops in ops()) {
        let mut h = Harness::new(Options::default().page_size(16384).strict(true));
        for op in &ops {
            h.run(op)?;
        }
        h.finish()?;
    }
}

/// The append path over many pages in one transaction (`btree::append`): two tables filled in
/// key order, taking turns, with reads of pages the path already wrote, out-of-order inserts,
/// removes, replaces and reverse scans between the keys; first in a transaction that is aborted
/// (its written pages must go back: `check` finds no leak), then in one that commits. Once in
/// direct mode from the start (the first transaction on a state closed cleanly), once buffered
/// at first (a commit before it): its buffer goes to the tree when the record outgrows its
/// budget, in key order, through the same path. The result must equal the model, pass `check`
/// and read the same after a reopen.
#[test]
fn long_in_order_runs_match_the_model() {
    let key = |i: u32| format!("k{i:08}").into_bytes();
    let value = |i: u32| -> Vec<u8> {
        let len = if i % 5000 == 4999 {
            5000
        } else {
            40 + (i as usize * 7) % 120
        };
        (0..len).map(|j| (i as usize + j) as u8).collect()
    };
    for buffered_first in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("append.mmt");
        let options = Options::default().strict(true);
        let db = Db::open_with(&path, options.clone()).unwrap();
        let mut model: BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
        if buffered_first {
            let mut w = db.begin_write().unwrap();
            w.table("t").unwrap().insert("a", "first").unwrap();
            w.commit().unwrap();
            model
                .entry("t".into())
                .or_default()
                .insert(b"a".to_vec(), b"first".to_vec());
        }
        let mut committed = model.clone();
        for commit in [false, true] {
            let mut w = db.begin_write().unwrap();
            let t = w.table_handle("t").unwrap();
            let u = w.table_handle("u").unwrap();
            for i in 0..40_000u32 {
                let (handle, name) = if i % 3 == 0 { (&u, "u") } else { (&t, "t") };
                handle.insert(&mut w, key(i), value(i)).unwrap();
                let m = model.entry(name.into()).or_default();
                m.insert(key(i), value(i));
                // Stretches of 4,000 appends: long enough that full pages are written as the
                // run goes (`btree::append::EMIT_NODES`), branches included.
                match i % 4000 {
                    2000 => {
                        // A key whose leaf was written long ago.
                        let old = key(i / 2);
                        assert_eq!(handle.get(&w, &old).unwrap(), m.get(&old).map(|v| &v[..]));
                    }
                    2400 => {
                        let mut between = key(i - 300);
                        between.push(b'x');
                        handle.insert(&mut w, &between, b"between").unwrap();
                        m.insert(between, b"between".to_vec());
                    }
                    2800 => {
                        let gone = key(i - 6);
                        assert_eq!(
                            handle.remove(&mut w, &gone).unwrap(),
                            m.remove(&gone).is_some()
                        );
                    }
                    3200 => {
                        handle.insert(&mut w, key(i), b"replaced").unwrap();
                        m.insert(key(i), b"replaced".to_vec());
                    }
                    3600 => {
                        let got: Vec<Vec<u8>> = handle
                            .range(&w, ..)
                            .unwrap()
                            .rev()
                            .take(200)
                            .map(|e| e.unwrap().0.to_vec())
                            .collect();
                        let want: Vec<Vec<u8>> = m.keys().rev().take(200).cloned().collect();
                        assert_eq!(got, want);
                    }
                    _ => {}
                }
            }
            for (handle, name) in [(&t, "t"), (&u, "u")] {
                assert_eq!(handle.len(&w).unwrap(), model[name].len() as u64);
            }
            if commit {
                w.commit().unwrap();
                committed = model.clone();
            } else {
                w.abort();
                model = committed.clone();
            }
            let r = db.begin_read().unwrap();
            verify_read(&r, &committed).unwrap();
            drop(r);
            let report = db.check().unwrap();
            assert!(report.is_ok(), "check: {:?}", report.problems);
        }
        verify_check_reopen(db, &path, options, &committed);
    }
}

/// The append path with the longest keys (1 KiB at 4 KiB pages, sharing all but their last
/// bytes): three entries a leaf, separators nearly as long as the keys, so branches hold few
/// children and full branches cascade up to new roots many times.
#[test]
fn in_order_runs_of_the_longest_keys_match_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.mmt");
    let options = Options::default().strict(true);
    let db = Db::open_with(&path, options.clone()).unwrap();
    let key = |i: u32| {
        let mut key = vec![b'p'; 1020];
        key.extend_from_slice(&i.to_be_bytes());
        key
    };
    let mut model = BTreeMap::new();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        for i in 0..3_000u32 {
            let value = vec![i as u8; (i as usize * 13) % 300];
            t.insert(key(i), &value).unwrap();
            model.insert(key(i), value);
            if i % 700 == 350 {
                assert!(t.remove(key(i - 100)).unwrap());
                model.remove(&key(i - 100));
            }
        }
        assert_eq!(t.len().unwrap(), model.len() as u64);
    }
    w.commit().unwrap();
    let committed: Tables = [("t".to_string(), model)].into_iter().collect();
    verify_check_reopen(db, &path, options, &committed);
}

/// A buffered transaction whose inserts all go past its table's largest key goes direct once
/// its record passes 1 MiB (`APPEND_DIRECT_RECORD`) if its commit syncs (`Immediate`): it
/// commits as a checkpoint, its keys written once as full pages by the append path. The same
/// inserts after one key that is not past the largest, or in an `Eventual` transaction, stay
/// buffered (logged; no checkpoint) while the log has room.
#[test]
fn an_append_only_transaction_goes_direct_past_a_mebibyte_of_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("streak.mmt");
    let options = Options::default().merge_after_idle(None).strict(true);
    let db = Db::open_with(&path, options.clone()).unwrap();
    let mut model = BTreeMap::new();
    let mut insert = |w: &mut WriteTransaction, key: Vec<u8>, value: Vec<u8>| {
        w.table("t").unwrap().insert(&key, &value).unwrap();
        model.insert(key, value);
    };
    // The first commit on a state closed cleanly is a checkpoint; the next ones are buffered.
    let mut w = db.begin_write().unwrap();
    insert(&mut w, b"h".to_vec(), b"first".to_vec());
    w.commit().unwrap();
    let value = |i: u32| vec![i as u8; 140];
    // 8,000 puts of 9 + 140 bytes: a record of about 1.26 MB, within the 2 MiB log budget.
    let mut w = db.begin_write().unwrap();
    insert(&mut w, b"a".to_vec(), b"below the largest key".to_vec());
    for i in 0..8_000u32 {
        insert(&mut w, format!("k{i:08}").into_bytes(), value(i));
    }
    w.commit().unwrap();
    let stats = db.stats();
    assert!(
        stats.checkpoint_txn < stats.txn_id,
        "a transaction that is not append-only stays buffered"
    );
    db.checkpoint().unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..8_000u32 {
        insert(&mut w, format!("m{i:08}").into_bytes(), value(i));
    }
    w.commit().unwrap();
    let stats = db.stats();
    assert_eq!(
        stats.checkpoint_txn, stats.txn_id,
        "an append-only transaction past 1 MiB of record commits as a checkpoint"
    );
    // An `Eventual` commit stays one unsynced log append, appends or not.
    let mut w = db.begin_write().unwrap();
    w.set_durability(mmtree::Durability::Eventual);
    for i in 0..8_000u32 {
        insert(&mut w, format!("n{i:08}").into_bytes(), value(i));
    }
    w.commit().unwrap();
    let stats = db.stats();
    assert!(
        stats.checkpoint_txn < stats.txn_id,
        "an Eventual append-only transaction stays buffered"
    );
    let committed: Tables = [("t".to_string(), model)].into_iter().collect();
    verify_check_reopen(db, &path, options, &committed);
}

/// Reads during merges: reader threads take snapshots and scan them (both ways, and `len`)
/// while the writer commits transfers between accounts (buffered) and merges every few commits;
/// every snapshot must show a whole commit (the total never changes) and its own commit's
/// counter, however many merges run while it reads.
#[test]
fn reads_during_merges_see_whole_commits() {
    const ACCOUNTS: u32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path().join("m.mmt"), Options::default().strict(false)).unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..ACCOUNTS {
        w.table("a")
            .unwrap()
            .insert(i.to_be_bytes(), 100u64.to_le_bytes())
            .unwrap();
    }
    w.commit().unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        let readers: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let mut reads = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let r = db.begin_read().unwrap();
                        let t = r.table("a").unwrap().unwrap();
                        let sum = |items: Vec<(&[u8], &[u8])>| -> u64 {
                            items
                                .iter()
                                .map(|(_, v)| u64::from_le_bytes((*v).try_into().unwrap()))
                                .sum()
                        };
                        let forward: Vec<_> = t.range(..).unwrap().map(Result::unwrap).collect();
                        // A merge may run here: the snapshot keeps its tree and buffer.
                        std::thread::yield_now();
                        let backward: Vec<_> =
                            t.range(..).unwrap().rev().map(Result::unwrap).collect();
                        assert_eq!(forward.len() as u64, t.len().unwrap());
                        assert_eq!(backward.len() as u64, t.len().unwrap());
                        assert_eq!(sum(forward), u64::from(ACCOUNTS) * 100);
                        assert_eq!(sum(backward), u64::from(ACCOUNTS) * 100);
                        let counter = r.table("c").unwrap().map_or(0, |c| {
                            c.get(b"n")
                                .unwrap()
                                .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()))
                        });
                        // Commit 1 made the accounts, commit 1 + k the k-th transfer; a merge
                        // takes the id of the newest commit it merges (no id of its own).
                        assert_eq!(counter, r.txn_id() - 1);
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();
        let mut n = 0u64;
        for round in 0..400u32 {
            let mut w = db.begin_write().unwrap();
            let (from, to) = (round * 7 % ACCOUNTS, round * 13 % ACCOUNTS);
            let mut t = w.table("a").unwrap();
            let get = |t: &mmtree::Table<'_>, k: u32| {
                u64::from_le_bytes(t.get(k.to_be_bytes()).unwrap().unwrap().try_into().unwrap())
            };
            if from != to {
                let (a, b) = (get(&t, from), get(&t, to));
                let moved = a.min(1 + u64::from(round % 5));
                t.insert(from.to_be_bytes(), (a - moved).to_le_bytes())
                    .unwrap();
                t.insert(to.to_be_bytes(), (b + moved).to_le_bytes())
                    .unwrap();
            }
            drop(t);
            n += 1;
            w.table("c").unwrap().insert(b"n", n.to_le_bytes()).unwrap();
            w.commit().unwrap();
            if round % 9 == 0 {
                db.checkpoint().unwrap();
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
    });
    assert!(db.check().unwrap().is_ok());
}
