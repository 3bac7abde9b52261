//! The library's API as a Rust developer meets it (issue 28): prefix scans, errors that name
//! their file.

use mmtree::Db;

/// Issue 28 item 12: `prefix` gives the entries whose keys start with a prefix, from either
/// end, in a snapshot and in the write transaction (its own changes included), with prefixes
/// as `&str`, byte strings or vectors; the edges (empty prefix, 0xff bytes) included.
#[test]
fn prefix_scans_from_either_end() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let keys: [&[u8]; 7] = [
        b"a",
        b"user:",
        b"user:1",
        b"user:2",
        b"user;",
        b"\xff\xff",
        b"\xff\xff\x00",
    ];
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        for key in keys {
            t.insert(key, b"v").unwrap();
        }
        // The write transaction's own view.
        let got: Vec<&[u8]> = t.prefix("user:").unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(got, [&b"user:"[..], b"user:1", b"user:2"]);
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    fn keys_of<'a>(
        range: impl Iterator<Item = mmtree::Result<(&'a [u8], &'a [u8])>>,
    ) -> Vec<Vec<u8>> {
        range.map(|e| e.unwrap().0.to_vec()).collect()
    }
    assert_eq!(
        keys_of(t.prefix(b"user:").unwrap()),
        [b"user:".to_vec(), b"user:1".to_vec(), b"user:2".to_vec()]
    );
    assert_eq!(
        keys_of(t.prefix(String::from("user:")).unwrap().rev()),
        [b"user:2".to_vec(), b"user:1".to_vec(), b"user:".to_vec()]
    );
    assert_eq!(keys_of(t.prefix("").unwrap()).len(), keys.len());
    assert_eq!(
        keys_of(t.prefix(vec![0xffu8, 0xff]).unwrap()),
        [b"\xff\xff".to_vec(), b"\xff\xff\x00".to_vec()]
    );
    assert!(keys_of(t.prefix("zzz").unwrap()).is_empty());
}

/// Issue 28 item 8: an I/O error names the file it is about, and says the OS error once.
#[test]
fn an_io_error_names_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing-dir").join("data.mmt");
    let error = Db::open(&path).err().expect("no such directory");
    let text = error.to_string();
    assert!(
        text.contains(&path.display().to_string()) && text.contains("No such file or directory"),
        "{text}"
    );
    assert!(
        matches!(&error, mmtree::Error::Io { path: Some(p), .. } if *p == path),
        "{error:?}"
    );
    assert_eq!(text.matches("No such file").count(), 1, "{text}");
}

/// Issue 28 item 12 (part): keys and values are anything that is bytes (`AsRef<[u8]>`): string
/// literals, `String`, `Vec<u8>`, arrays, slices; `get("k")` compiles.
#[test]
fn keys_and_values_are_anything_that_is_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("asref.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        t.insert("alice", "31").unwrap();
        t.insert(String::from("bob"), vec![4u8, 2]).unwrap();
        t.insert([1u8, 2, 3], b"bytes").unwrap();
        t.insert(&b"carol"[..], String::from("x")).unwrap();
        assert_eq!(t.get("alice").unwrap(), Some(&b"31"[..]));
        assert!(t.remove(String::from("carol")).unwrap());
        assert!(!t.remove("carol").unwrap());
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(t.get("bob").unwrap(), Some(&[4u8, 2][..]));
    assert_eq!(t.get(vec![1u8, 2, 3]).unwrap(), Some(&b"bytes"[..]));
    assert_eq!(t.get(String::from("carol")).unwrap(), None);
    drop(r);
    let mut bounded = db
        .begin_read_bounded(std::time::Duration::from_secs(60))
        .unwrap();
    assert_eq!(bounded.get("t", "alice").unwrap(), Some(b"31".to_vec()));
}

/// Issue 28 item 12: several tables open at once in one write transaction (`TableHandle`s
/// borrow nothing), written interleaved, read from both while values of the other are held,
/// committed, read back. Run three ways: buffered (the default: the commit is a log record),
/// with a log budget so small the transaction goes direct half-way (the write buffer merged
/// into the trees while handles are held), and with spills (dirty pages written mid-transaction).
#[test]
fn several_tables_open_at_once_in_one_write_transaction() {
    let modes = [
        ("buffered", mmtree::Options::default()),
        ("direct", mmtree::Options::default().log_bytes(4096)),
        (
            "spilling",
            mmtree::Options::default()
                .log_bytes(4096)
                .spill_bytes(64 << 10),
        ),
    ];
    for (mode, options) in modes {
        // No background merge: the buffered commit must still be in the log when counted.
        let options = options.merge_after_idle(None);
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_with(dir.path().join("data.mmt"), options).unwrap();
        // A new file's first commit checkpoints (it was closed cleanly): one before the test's.
        let mut w = db.begin_write().unwrap();
        w.table("other").unwrap().insert("k", "v").unwrap();
        w.commit().unwrap();
        let n = 2000u32;
        let mut w = db.begin_write().unwrap();
        let users = w.table_handle("users").unwrap();
        let by_email = w.table_handle("by_email").unwrap();
        let again = w.table_handle("users").unwrap(); // the same table, twice
        for i in 0..n {
            let (id, email) = (format!("u{i:05}"), format!("e{i:05}@x"));
            users.insert(&mut w, &id, &email).unwrap();
            by_email.insert(&mut w, &email, &id).unwrap();
            if i % 7 == 0 {
                assert!(again.remove(&mut w, &id).unwrap(), "{mode}");
            }
            // Reads borrow the transaction shared: values of both tables at once.
            let back = by_email.get(&w, &email).unwrap().unwrap();
            let seen = users.get(&w, back).unwrap();
            assert_eq!(seen, (i % 7 != 0).then_some(email.as_bytes()), "{mode}");
        }
        let removed = n.div_ceil(7) as u64;
        assert_eq!(users.len(&w).unwrap(), u64::from(n) - removed, "{mode}");
        assert_eq!(again.len(&w).unwrap(), users.len(&w).unwrap());
        assert_eq!(by_email.len(&w).unwrap(), u64::from(n));
        assert_eq!(users.first(&w).unwrap().unwrap().0, b"u00001");
        assert_eq!(by_email.last(&w).unwrap().unwrap().0, b"e01999@x");
        assert_eq!(by_email.prefix(&w, "e0001").unwrap().count(), 10);
        assert_eq!(users.range(&w, "u00010".."u00020").unwrap().count(), 9); // not u00014
                                                                             // The exclusive `Table` still works beside the handles.
        w.table("users").unwrap().insert("extra", "1").unwrap();
        assert_eq!(users.get(&w, "extra").unwrap(), Some(&b"1"[..]));
        let checkpoints = db.stats().checkpoints;
        w.commit().unwrap();
        // The modes are what they say: only the buffered commit is a log record alone.
        let checkpointed = db.stats().checkpoints > checkpoints;
        assert_eq!(checkpointed, mode != "buffered", "{mode}");

        let r = db.begin_read().unwrap();
        let t_users = r.table("users").unwrap().unwrap();
        let t_email = r.table("by_email").unwrap().unwrap();
        assert_eq!(t_users.len().unwrap(), u64::from(n) - removed + 1, "{mode}");
        assert_eq!(t_email.len().unwrap(), u64::from(n), "{mode}");
        for i in 0..n {
            let (id, email) = (format!("u{i:05}"), format!("e{i:05}@x"));
            assert_eq!(t_email.get(&email).unwrap(), Some(id.as_bytes()), "{mode}");
            let want = (i % 7 != 0).then_some(email.as_bytes());
            assert_eq!(t_users.get(&id).unwrap(), want, "{mode}");
        }
        assert_eq!(db.check().unwrap().problems.len(), 0, "{mode}");
    }
}

/// A handle names its table: after `delete_table` its reads find nothing and a write creates
/// the table again; a handle works in a later transaction too; a bad name is refused at open.
#[test]
fn a_table_handle_names_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    let t = w.table_handle("t").unwrap();
    t.insert(&mut w, "a", "1").unwrap();
    assert!(w.delete_table("t").unwrap());
    assert_eq!(t.get(&w, "a").unwrap(), None);
    assert_eq!(t.range(&w, ..).unwrap().count(), 0);
    assert!(t.is_empty(&w).unwrap());
    t.insert(&mut w, "b", "2").unwrap();
    assert!(w.has_table("t").unwrap());
    w.commit().unwrap();
    let mut w = db.begin_write().unwrap();
    assert_eq!(
        t.get(&w, "b").unwrap(),
        Some(&b"2"[..]),
        "a later transaction"
    );
    assert_eq!(t.get(&w, "a").unwrap(), None);
    assert!(w.rename_table("t", "u").unwrap());
    assert_eq!(t.len(&w).unwrap(), 0, "renamed away");
    assert!(matches!(
        w.table_handle(""),
        Err(mmtree::Error::InvalidTableName { .. })
    ));
}

/// Issue 28 item 12: range bounds of any bytes type: `"a".."m"`, `b"a"..=b"c"`, `String`s,
/// `Vec<u8>`s, pairs of `Bound`s and `..`, on a snapshot and in a write transaction.
#[test]
fn range_bounds_are_anything_that_is_bytes() {
    use std::ops::Bound;
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        for key in ["a", "b", "c", "d", "e"] {
            t.insert(key, key).unwrap();
        }
        let got: Vec<_> = t.range("b".."d").unwrap().map(|e| e.unwrap().0).collect();
        assert_eq!(got, [b"b", b"c"]);
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    fn keys<'a>(range: impl Iterator<Item = mmtree::Result<(&'a [u8], &'a [u8])>>) -> String {
        range
            .map(|e| String::from_utf8(e.unwrap().0.to_vec()).unwrap())
            .collect()
    }
    assert_eq!(keys(t.range("b".."d").unwrap()), "bc");
    assert_eq!(keys(t.range(b"b"..b"d").unwrap()), "bc");
    assert_eq!(keys(t.range(b"b".as_slice()..b"dd").unwrap()), "bcd");
    assert_eq!(keys(t.range(b"b"..=b"d").unwrap()), "bcd");
    assert_eq!(keys(t.range("c"..).unwrap()), "cde");
    assert_eq!(keys(t.range(.."c").unwrap()), "ab");
    assert_eq!(keys(t.range(..="c").unwrap()), "abc");
    assert_eq!(keys(t.range(..).unwrap()), "abcde");
    assert_eq!(keys(t.range(&b"a"[..]..&b"c"[..]).unwrap()), "ab");
    assert_eq!(
        keys(t.range(String::from("b")..String::from("e")).unwrap().rev()),
        "dcb"
    );
    assert_eq!(keys(t.range(vec![b'd']..).unwrap()), "de");
    assert_eq!(
        keys(
            t.range((Bound::Excluded("b"), Bound::Included("d")))
                .unwrap()
        ),
        "cd"
    );
    let (lo, hi): (Bound<&[u8]>, _) = (Bound::Unbounded, Bound::Excluded(&b"b"[..]));
    assert_eq!(keys(t.range((lo, hi)).unwrap()), "a");
    assert_eq!(
        keys(t.range("d".."b").unwrap()),
        "",
        "an inverted range is empty"
    );
    let kept = String::from("b")..=String::from("c"); // by reference, scanned twice
    assert_eq!(keys(t.range(&kept).unwrap()), "bc");
    assert_eq!(keys(t.range(&kept).unwrap().rev()), "cb");
}

/// Issue 28 item 12: what can cross threads, checked when the test compiles: a `Range` (a scan
/// handed to a scoped thread), the snapshot and its tables, the database handle, table handles.
#[test]
fn ranges_and_snapshots_are_send() {
    fn assert_send<T: Send>() {}
    fn assert_sync<T: Sync>() {}
    assert_send::<mmtree::Range<'static>>();
    assert_sync::<mmtree::Range<'static>>();
    assert_send::<mmtree::ReadTable<'static>>();
    assert_send::<mmtree::ReadTransaction>();
    assert_sync::<mmtree::ReadTransaction>();
    assert_send::<Db>();
    assert_sync::<Db>();
    assert_send::<mmtree::TableHandle>();
    assert_send::<mmtree::BoundedReadTransaction>();

    // And at run time: a scan started on one thread, finished on another.
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..1000u32 {
        w.table("t").unwrap().insert(i.to_be_bytes(), b"v").unwrap();
    }
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let mut range = r.table("t").unwrap().unwrap().range(..).unwrap();
    assert_eq!(range.next().unwrap().unwrap().0, 0u32.to_be_bytes());
    let rest = std::thread::scope(|s| s.spawn(move || range.count()).join().unwrap());
    assert_eq!(rest, 999);
}

/// `begin_write`'s doc: a write transaction sent to another thread still counts as the thread's
/// that began it: there `begin_write` fails with `WriteInProgress` (it does not wait for ever).
#[test]
fn a_write_transaction_sent_away_still_counts_as_its_beginners() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("data.mmt")).unwrap();
    let w = db.begin_write().unwrap();
    let (checked_tx, checked_rx) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|s| {
        let worker = s.spawn(move || {
            let mut w = w;
            w.table("t").unwrap().insert("k", "v").unwrap();
            checked_rx.recv().unwrap(); // the beginning thread has tried
            w.commit().unwrap();
        });
        assert!(matches!(
            db.begin_write(),
            Err(mmtree::Error::WriteInProgress)
        ));
        checked_tx.send(()).unwrap();
        worker.join().unwrap();
    });
    let r = db.begin_read().unwrap();
    assert_eq!(
        r.table("t").unwrap().unwrap().get("k").unwrap(),
        Some(&b"v"[..])
    );
    drop(r);
    drop(db.begin_write().unwrap()); // free again, from either thread
}

/// `Db::merge_pending` says whether a commit of a given record size would write the tree (a
/// server's event loop hands such a commit to its writer thread): after a clean open (the first
/// commit checkpoints), when the record would reach the buffer's budget, and not otherwise.
#[test]
fn merge_pending_foretells_the_commit_that_writes_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pending.mmt");
    let options = || {
        mmtree::Options::default()
            .log_bytes(64 << 10)
            .merge_after_idle(None)
    };
    let commit = |db: &Db, i: u32| {
        let mut w = db.begin_write().unwrap();
        w.table("t")
            .unwrap()
            .insert(i.to_be_bytes(), [7u8; 1000])
            .unwrap();
        w.commit().unwrap();
    };
    let pending = |db: &Db, record_bytes: u64| db.merge_pending(record_bytes).unwrap();
    let db = Db::open_with(&path, options()).unwrap();
    commit(&db, 0); // a new database's first commit
    commit(&db, 1);
    assert!(db.stats().log_bytes > 0, "buffered");
    assert!(!pending(&db, 2000));
    assert!(pending(&db, 1 << 20), "a record past the budget");
    let mut i = 2;
    while !pending(&db, 2000) {
        let checkpoints = db.stats().checkpoints;
        commit(&db, i);
        assert_eq!(
            db.stats().checkpoints,
            checkpoints,
            "commit {i} was buffered"
        );
        i += 1;
        assert!(i < 100, "the budget is 64 KiB");
    }
    // Foretold: 2,000 more bytes of records reach the budget, so of the next two commits
    // (about 1,000 bytes of record each) one merges (a checkpoint).
    let checkpoints = db.stats().checkpoints;
    commit(&db, i);
    commit(&db, i + 1);
    assert_eq!(db.stats().checkpoints, checkpoints + 1, "a commit merged");
    assert!(!pending(&db, 2000));
    drop(db);
    let db = Db::open_with(&path, options()).unwrap();
    assert!(
        pending(&db, 100),
        "closed cleanly: the first commit checkpoints"
    );
    commit(&db, 1000);
    commit(&db, 1001);
    assert!(!pending(&db, 100));
}
