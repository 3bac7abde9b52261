//! Bounded snapshots (`Db::begin_read_bounded`): copies, paging, expiry and bounded bloat.

use mmtree::{Db, Error};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::time::Duration;

fn rewrite(db: &Db, version: u8, keys: u32) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut model = BTreeMap::new();
    let mut w = db.begin_write().unwrap();
    {
        let mut t = w.table("t").unwrap();
        for i in 0..keys {
            let key = format!("k{i:05}").into_bytes();
            // Some values are long enough to live on overflow pages.
            let value = vec![
                version;
                if i % 50 == 0 {
                    9000
                } else {
                    100 + i as usize % 7
                }
            ];
            t.insert(&key, &value).unwrap();
            model.insert(key, value);
        }
    }
    w.commit().unwrap();
    // Merged at once: each version rewrites the tree's pages (a commit alone only fills the
    // write buffer, which snapshots own copies of).
    db.checkpoint().unwrap();
    model
}

#[test]
fn a_bounded_snapshot_reads_its_commit_while_writers_move_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("b.mmt")).unwrap();
    let old = rewrite(&db, 1, 3000);
    let mut snapshot = db.begin_read_bounded(Duration::from_secs(3600)).unwrap();
    let txn = snapshot.txn_id();
    for version in 2..20 {
        rewrite(&db, version, 3000);
    }
    assert!(!snapshot.is_expired());
    assert_eq!(snapshot.txn_id(), txn);
    assert_eq!(snapshot.list_tables().unwrap(), vec!["t".to_string()]);
    assert_eq!(snapshot.table_len("t").unwrap(), Some(3000));
    assert_eq!(snapshot.table_len("missing").unwrap(), None);
    assert_eq!(snapshot.get("missing", b"k00001").unwrap(), None);
    for (key, value) in old.iter().step_by(37) {
        assert_eq!(snapshot.get("t", key).unwrap().as_ref(), Some(value));
    }
    assert_eq!(snapshot.get("t", b"nope").unwrap(), None);
    // Page through the whole table, 128 entries at a time.
    let mut seen = Vec::new();
    let mut start: Option<Vec<u8>> = None;
    loop {
        let from = start.as_deref().map_or(Bound::Unbounded, Bound::Excluded);
        let page = snapshot.range("t", from, Bound::Unbounded, 128).unwrap();
        if page.is_empty() {
            break;
        }
        start = Some(page.last().unwrap().0.clone());
        seen.extend(page);
    }
    assert_eq!(seen, old.into_iter().collect::<Vec<_>>());
    let middle = snapshot
        .range(
            "t",
            Bound::Included(&b"k00100"[..]),
            Bound::Excluded(&b"k00103"[..]),
            10,
        )
        .unwrap();
    assert_eq!(middle.len(), 3);
    // The snapshot protected its pages: the newest data is intact too.
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn an_expired_snapshot_says_so_and_holds_nothing_back() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("e.mmt")).unwrap();
    rewrite(&db, 1, 2000);
    // An ordinary snapshot holds pages back for as long as it lives.
    let pinned = db.begin_read().unwrap();
    let start = db.stats().page_count;
    for version in 2..60 {
        rewrite(&db, version, 2000);
    }
    let grown_pinned = db.stats().page_count - start;
    assert!(db.stats().pages_held_back > 0);
    drop(pinned);
    rewrite(&db, 60, 2000);

    // A bounded one, once past its age, does not.
    let mut bounded = db.begin_read_bounded(Duration::from_millis(1)).unwrap();
    assert_eq!(bounded.get("t", b"k00001").unwrap().unwrap()[0], 60);
    std::thread::sleep(Duration::from_millis(20));
    let start = db.stats().page_count;
    for version in 61..119 {
        rewrite(&db, version, 2000);
    }
    let grown_bounded = db.stats().page_count.saturating_sub(start);
    assert_eq!(db.stats().pages_held_back, 0);
    assert!(
        grown_bounded * 4 < grown_pinned,
        "pinned: +{grown_pinned} pages, bounded: +{grown_bounded}"
    );
    assert!(bounded.is_expired());
    match bounded.get("t", b"k00001") {
        Err(Error::SnapshotExpired { txn, max_age }) => {
            assert_eq!(txn, bounded.txn_id());
            assert_eq!(max_age, Duration::from_millis(1));
        }
        other => panic!("expected SnapshotExpired, got {other:?}"),
    }
    let message = bounded.table_len("t").unwrap_err().to_string();
    assert!(message.contains("expired"), "{message}");
    assert!(matches!(
        bounded.range("t", Bound::Unbounded, Bound::Unbounded, 10),
        Err(Error::SnapshotExpired { .. })
    ));
    drop(bounded);
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn a_snapshot_is_only_expired_by_a_writer() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("w.mmt")).unwrap();
    rewrite(&db, 1, 10);
    let mut bounded = db.begin_read_bounded(Duration::ZERO).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    // Past its age, but no writer has needed its pages: it still reads.
    assert_eq!(bounded.get("t", b"k00001").unwrap().unwrap()[0], 1);
    rewrite(&db, 2, 10);
    assert!(bounded.get("t", b"k00001").is_err());
}

#[test]
fn bounded_snapshots_release_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("s.mmt")).unwrap();
    rewrite(&db, 1, 10);
    let held: Vec<_> = (0..300)
        .map(|_| db.begin_read_bounded(Duration::from_secs(60)).unwrap())
        .collect();
    assert_eq!(db.readers().len(), 300);
    drop(held);
    assert!(db.readers().is_empty());
    // Far more than there are slots, one after another.
    for _ in 0..5000 {
        let mut s = db.begin_read_bounded(Duration::from_secs(60)).unwrap();
        assert!(s.get("t", b"k00001").unwrap().is_some());
    }
    assert!(db.readers().is_empty());
}

/// Freed overflow runs (values over a page) must be reused, not leaked: rewriting the same
/// large values again and again keeps the file the same size.
#[test]
fn rewriting_large_values_reuses_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("g.mmt")).unwrap();
    for version in 1..30 {
        rewrite(&db, version, 2000);
    }
    let settled = db.stats().page_count;
    for version in 30..90 {
        rewrite(&db, version, 2000);
    }
    let end = db.stats().page_count;
    assert!(end <= settled + settled / 10, "{settled} -> {end} pages");
}

/// A bounded snapshot's slot lock must be taken on the lock file the database uses, even when
/// the path it was opened with (relative here) now names something else.
#[test]
fn a_bounded_snapshot_works_after_the_working_directory_changes() {
    let dir = tempfile::tempdir().unwrap();
    let other = tempfile::tempdir().unwrap();
    std::env::set_current_dir(dir.path()).unwrap();
    let db = Db::open("relative.mmt").unwrap();
    rewrite(&db, 1, 10);
    std::env::set_current_dir(other.path()).unwrap();
    let mut s = db.begin_read_bounded(Duration::from_secs(60)).unwrap();
    assert_eq!(
        db.readers().len(),
        1,
        "the writer must see the slot as live"
    );
    rewrite(&db, 2, 10);
    assert!(db.stats().pages_held_back > 0);
    assert_eq!(s.get("t", b"k00001").unwrap().unwrap()[0], 1);
    std::env::set_current_dir("/").unwrap();
}
