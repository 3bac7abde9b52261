//! Goal: the public API works end to end on small, hand-checked cases.

use mmtree::{Db, Error};

fn temp_db() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data.mmt");
    (dir, path)
}

#[test]
fn insert_commit_get_range_reopen() {
    let (_dir, path) = temp_db();
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        {
            let mut t = w.table("users").unwrap();
            t.insert(b"alice", b"31").unwrap();
            t.insert(b"bob", b"42").unwrap();
            t.insert(b"carol", b"").unwrap();
            t.insert(b"", b"empty key").unwrap();
            assert_eq!(t.get(b"bob").unwrap(), Some(&b"42"[..]));
            assert!(t.remove(b"bob").unwrap());
            assert!(!t.remove(b"bob").unwrap());
            assert_eq!(t.len().unwrap(), 3);
        }
        w.commit().unwrap();
        let r = db.begin_read().unwrap();
        let t = r.table("users").unwrap().unwrap();
        assert_eq!(t.get(b"alice").unwrap(), Some(&b"31"[..]));
        assert_eq!(t.get(b"").unwrap(), Some(&b"empty key"[..]));
        assert_eq!(t.get(b"bob").unwrap(), None);
        let keys: Vec<Vec<u8>> = t
            .range(..)
            .unwrap()
            .map(|i| i.unwrap().0.to_vec())
            .collect();
        assert_eq!(
            keys,
            vec![b"".to_vec(), b"alice".to_vec(), b"carol".to_vec()]
        );
        let keys: Vec<Vec<u8>> = t
            .range(&b"a"[..]..&b"c"[..])
            .unwrap()
            .rev()
            .map(|i| i.unwrap().0.to_vec())
            .collect();
        assert_eq!(keys, vec![b"alice".to_vec()]);
    }
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    assert_eq!(r.list_tables().unwrap(), vec!["users".to_string()]);
    let t = r.table("users").unwrap().unwrap();
    assert_eq!(t.len().unwrap(), 3);
    assert_eq!(t.first().unwrap().unwrap().0, b"");
    assert_eq!(t.last().unwrap().unwrap().0, b"carol");
    assert!(
        db.check().unwrap().is_ok(),
        "{:?}",
        db.check().unwrap().problems
    );
}

#[test]
fn many_keys_split_merge_and_check() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    for round in 0..4u32 {
        let mut w = db.begin_write().unwrap();
        {
            let mut t = w.table("t").unwrap();
            for i in 0..5000u32 {
                let k = format!("key{:08}", (i * 7919 + round) % 20000);
                t.insert(k.as_bytes(), format!("value-{i}-{round}").as_bytes())
                    .unwrap();
            }
        }
        w.commit().unwrap();
        let report = db.check().unwrap();
        assert!(report.is_ok(), "round {round}: {:?}", report.problems);
    }
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        let keys: Vec<Vec<u8>> = t
            .range(..)
            .unwrap()
            .map(|i| i.unwrap().0.to_vec())
            .collect();
        for k in keys.iter().step_by(2) {
            assert!(t.remove(k).unwrap());
        }
    }
    w.commit().unwrap();
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    let count = t.range(..).unwrap().count() as u64;
    assert_eq!(count, t.len().unwrap());
    let back: Vec<_> = t
        .range(..)
        .unwrap()
        .rev()
        .map(|i| i.unwrap().0.to_vec())
        .collect();
    let mut fwd: Vec<_> = t
        .range(..)
        .unwrap()
        .map(|i| i.unwrap().0.to_vec())
        .collect();
    fwd.reverse();
    assert_eq!(back, fwd);
}

#[test]
fn large_values_use_overflow_pages_and_are_freed() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let mut w = db.begin_write().unwrap();
    w.table("blobs").unwrap().insert(b"big", &big).unwrap();
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    assert_eq!(
        r.table("blobs")
            .unwrap()
            .unwrap()
            .get(b"big")
            .unwrap()
            .unwrap(),
        &big[..]
    );
    drop(r);
    for _ in 0..3 {
        let mut w = db.begin_write().unwrap();
        w.table("blobs")
            .unwrap()
            .insert(b"big", &big[..500_000])
            .unwrap();
        w.commit().unwrap();
    }
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(
        db.stats().page_count < 700,
        "pages were not reused: {}",
        db.stats().page_count
    );
}

#[test]
fn oversized_key_is_a_clear_error() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    let mut t = w.table("t").unwrap();
    let key = vec![7u8; db.key_size_max() + 1];
    assert!(matches!(
        t.insert(&key, b"v"),
        Err(Error::KeyTooLarge { .. })
    ));
    t.insert(&key[..db.key_size_max()], b"v").unwrap();
}

#[test]
fn abort_discards_and_snapshots_are_isolated() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"a", b"1").unwrap();
    w.commit().unwrap();
    let before = db.begin_read().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"a", b"2").unwrap();
    assert!(matches!(db.try_begin_write(), Err(Error::WriteInProgress)));
    drop(w);
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"b", b"3").unwrap();
    w.commit().unwrap();
    assert_eq!(
        before.table("t").unwrap().unwrap().get(b"a").unwrap(),
        Some(&b"1"[..])
    );
    assert_eq!(before.table("t").unwrap().unwrap().get(b"b").unwrap(), None);
    let now = db.begin_read().unwrap();
    assert_eq!(
        now.table("t").unwrap().unwrap().get(b"a").unwrap(),
        Some(&b"1"[..])
    );
    assert_eq!(
        now.table("t").unwrap().unwrap().get(b"b").unwrap(),
        Some(&b"3"[..])
    );
}

#[test]
fn bulk_load_sorted_and_refuses_unsorted() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    {
        let mut loader = w.bulk_load("bulk").unwrap();
        for i in 0..100_000u32 {
            loader
                .append(format!("{i:010}").as_bytes(), &i.to_le_bytes())
                .unwrap();
        }
        assert_eq!(loader.finish().unwrap(), 100_000);
    }
    {
        let mut loader = w.bulk_load("bad").unwrap();
        loader.append(b"b", b"").unwrap();
        assert!(matches!(
            loader.append(b"a", b""),
            Err(Error::Unsorted { .. })
        ));
    }
    w.commit().unwrap();
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let r = db.begin_read().unwrap();
    let t = r.table("bulk").unwrap().unwrap();
    assert_eq!(t.len().unwrap(), 100_000);
    assert_eq!(
        t.get(b"0000054321").unwrap(),
        Some(&54321u32.to_le_bytes()[..])
    );
    assert_eq!(t.range(..).unwrap().count(), 100_000);
}

#[test]
fn delete_table_frees_pages_and_compact_gives_space_back() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("big").unwrap();
        for i in 0..200_000u32 {
            t.insert(format!("{i:08}").as_bytes(), [1u8; 100]).unwrap();
        }
    }
    w.table("small").unwrap().insert(b"k", b"v").unwrap();
    w.commit().unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    let mut w = db.begin_write().unwrap();
    assert!(w.delete_table("big").unwrap());
    w.commit().unwrap();
    db.compact().unwrap();
    let report = db.check().unwrap();
    assert!(report.is_ok(), "{:?}", report.problems);
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < full / 4, "file did not shrink: {full} -> {after}");
    let r = db.begin_read().unwrap();
    assert_eq!(r.list_tables().unwrap(), vec!["small".to_string()]);
}

#[test]
fn an_old_snapshot_holds_pages_back_and_stats_show_it() {
    let (_dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let rewrite = |round: u8| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..2000u32 {
            t.insert(i.to_be_bytes(), [round; 50]).unwrap();
        }
        drop(t);
        w.commit().unwrap();
        // A merge rewrites the tree (a commit alone only fills the write buffer).
        db.checkpoint().unwrap();
    };
    rewrite(0);
    let old = db.begin_read().unwrap();
    for round in 1..6 {
        rewrite(round);
    }
    let stats = db.stats();
    assert_eq!(stats.oldest_reader_txn, Some(old.txn_id()));
    assert_eq!(stats.oldest_reader_lag, 5);
    assert!(stats.pages_held_back > 50, "{stats:?}");
    // The old snapshot still reads its own commit.
    assert_eq!(
        old.table("t")
            .unwrap()
            .unwrap()
            .get(7u32.to_be_bytes())
            .unwrap(),
        Some(&[0u8; 50][..])
    );
    drop(old);
    rewrite(6);
    let stats = db.stats();
    assert_eq!(stats.oldest_reader_txn, None);
    assert_eq!(stats.pages_held_back, 0);
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn hot_backup_is_a_consistent_snapshot_while_a_writer_keeps_going() {
    let (dir, path) = temp_db();
    let db = Db::open(&path).unwrap();
    let commit = |n: u32| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("log").unwrap();
        for i in 0..50u32 {
            t.insert((n * 50 + i).to_be_bytes(), [n as u8; 300])
                .unwrap();
        }
        drop(t);
        w.table("meta")
            .unwrap()
            .insert(b"n", n.to_le_bytes())
            .unwrap();
        w.commit().unwrap();
    };
    for n in 1..=20 {
        commit(n);
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let copies: Vec<std::path::PathBuf> = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut n = 21;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                commit(n);
                n += 1;
            }
        });
        let copies = (0..5)
            .map(|i| {
                let dest = dir.path().join(format!("backup{i}.mmt"));
                db.backup(&dest).unwrap();
                dest
            })
            .collect();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        writer.join().unwrap();
        copies
    });
    assert!(
        db.backup(&copies[0]).is_err(),
        "an existing file is never overwritten"
    );
    // Each copy was written under a temporary name and renamed: none is left over.
    let partial: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".partial-"))
        .collect();
    assert!(partial.is_empty(), "{partial:?}");
    for copy in copies {
        let backup = Db::open(&copy).unwrap();
        let report = backup.check().unwrap();
        assert!(report.is_ok(), "{:?}", report.problems);
        let r = backup.begin_read().unwrap();
        let n = u32::from_le_bytes(
            r.table("meta")
                .unwrap()
                .unwrap()
                .get(b"n")
                .unwrap()
                .unwrap()
                .try_into()
                .unwrap(),
        );
        let log = r.table("log").unwrap().unwrap();
        assert_eq!(
            log.len().unwrap(),
            u64::from(n) * 50,
            "backup at commit {n} is not consistent"
        );
        assert_eq!(log.last().unwrap().unwrap().1, &[n as u8; 300][..]);
    }
}

#[test]
fn compact_shrinks_the_file_even_with_eventual_durability() {
    let (_dir, path) = temp_db();
    let db = Db::open_with(
        &path,
        mmtree::Options::default().durability(mmtree::Durability::Eventual),
    )
    .unwrap();
    let mut w = db.begin_write().unwrap();
    for i in 0..50_000u32 {
        w.table("big")
            .unwrap()
            .insert(i.to_be_bytes(), [3u8; 100])
            .unwrap();
    }
    w.commit().unwrap();
    let mut w = db.begin_write().unwrap();
    w.delete_table("big").unwrap();
    w.commit().unwrap();
    let full = std::fs::metadata(&path).unwrap().len();
    db.compact().unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    assert!(after < full / 2, "{full} -> {after}");
    assert!(db.check().unwrap().is_ok());
}

/// Issue 24: a backup taken while commits wait in the write buffer (not merged into the tree)
/// holds them: its log carries them, a read-only open reads them, a writable one merges them.
#[test]
fn a_backup_holds_the_buffered_commits() {
    let (dir, path) = temp_db();
    let db = Db::open_with(&path, mmtree::Options::default().merge_after_idle(None)).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"merged", b"1").unwrap();
    w.table("gone").unwrap().insert(b"x", b"y").unwrap();
    w.commit().unwrap();
    db.checkpoint().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"buffered", b"2").unwrap();
    assert!(w.table("t").unwrap().remove(b"merged").unwrap());
    w.table("new").unwrap().insert(b"n", b"3").unwrap();
    w.commit().unwrap();
    assert!(db.stats().log_bytes > 0, "the last commit is buffered");
    let txn = db.stats().txn_id;
    let copy = dir.path().join("copy.mmt");
    db.backup(&copy).unwrap();
    let expect = |db: &Db| {
        let r = db.begin_read().unwrap();
        assert_eq!(r.txn_id(), txn);
        let t = r.table("t").unwrap().unwrap();
        assert_eq!(t.len().unwrap(), 1);
        assert_eq!(t.get(b"buffered").unwrap(), Some(&b"2"[..]));
        assert_eq!(t.get(b"merged").unwrap(), None);
        assert_eq!(r.list_tables().unwrap(), vec!["gone", "new", "t"]);
        let report = db.check().unwrap();
        assert!(report.is_ok());
        // check's per-table entries are the tables' lengths as of the commit (buffer included).
        let entries: Vec<(String, u64)> = report
            .tables
            .iter()
            .map(|t| (t.name.clone(), t.entries))
            .collect();
        assert_eq!(
            entries,
            vec![("gone".into(), 1), ("new".into(), 1), ("t".into(), 1)]
        );
    };
    {
        let ro = Db::open_with(&copy, mmtree::Options::default().read_only(true)).unwrap();
        expect(&ro);
    }
    let rw = Db::open(&copy).unwrap();
    expect(&rw);
}

/// Polls `done` every 10 ms; a liveness bound (a minute), not a timing claim.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = std::time::Instant::now();
    while !done() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{what}: not within a minute"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn the_background_merge_cuts_the_log_back_to_its_header() {
    let (_dir, path) = temp_db();
    let options =
        mmtree::Options::default().merge_after_idle(Some(std::time::Duration::from_millis(20)));
    let db = Db::open_with(&path, options).unwrap();
    let mut log = path.clone().into_os_string();
    log.push("-log");
    let log_len = || std::fs::metadata(&log).unwrap().len();
    // About 1 MB of records, under the smallest merge budget (2 MiB): all buffered.
    for c in 0..10u32 {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..100u32 {
            t.insert((c * 100 + i).to_be_bytes(), [c as u8; 1000])
                .unwrap();
        }
        drop(t);
        w.commit().unwrap();
    }
    assert!(log_len() > 1 << 20, "the log grew to hold the records");
    eventually("the background merge", || db.stats().log_bytes == 0);
    // The merge thread cuts the log after publishing its checkpoint: the records are obsolete,
    // the writer idle; a close after it has nothing to cut.
    eventually("the log cut to its header", || log_len() == 4096);
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(t.len().unwrap(), 1000);
    assert_eq!(t.get(999u32.to_be_bytes()).unwrap(), Some(&[9u8; 1000][..]));
    drop(r);
    // The next commit grows the log again and is found after a reopen.
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"after", b"cut").unwrap();
    w.commit().unwrap();
    drop(db);
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    assert_eq!(
        (t.len().unwrap(), t.get(b"after").unwrap()),
        (1001, Some(&b"cut"[..]))
    );
}
