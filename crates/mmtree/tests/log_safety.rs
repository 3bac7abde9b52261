//! The data file and its redo log belong together (issue 28, item 3; issue 23, item 9).
//!
//! Goal: a database whose log holds acknowledged commits is never opened at an older state
//! without a word — not when the log is missing, not when a log of another database sits beside
//! it — while a database closed cleanly opens from its data file alone; and a log that cannot be
//! used has a way out that opens the last checkpoint and says what it set aside. Method: "crash
//! copies" (the data file, and the log or not, copied while the database is open, as a kill or
//! a careless `cp` leaves them), and a log record crafted to pass its checksum but not apply.

mod common;

use common::unappliable_record;
use mmtree::{Db, Error, Options};
use std::path::{Path, PathBuf};

fn log_of(path: &Path) -> PathBuf {
    let mut log = path.as_os_str().to_owned();
    log.push("-log");
    PathBuf::from(log)
}

fn get(db: &Db, key: &[u8]) -> Option<Vec<u8>> {
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap()?;
    t.get(key).unwrap().map(<[u8]>::to_vec)
}

/// A database with a checkpoint holding `old` and logged commits after it holding `new`, copied
/// to `copy` (data file only) while open: a crash image whose commits are in the log.
fn crash_image(dir: &Path, name: &str) -> (Db, PathBuf, PathBuf) {
    let path = dir.join(format!("{name}.mmt"));
    let db = Db::open_with(&path, Options::default().merge_after_idle(None)).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"old", b"1").unwrap();
    w.commit().unwrap();
    db.checkpoint().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"new", b"2").unwrap();
    w.commit().unwrap();
    assert!(db.stats().log_bytes > 0, "the second commit is in the log");
    let copy = dir.join(format!("{name}-copy.mmt"));
    std::fs::copy(&path, &copy).unwrap();
    (db, path, copy)
}

#[test]
fn a_crashed_database_without_its_log_is_refused_not_opened_older() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, path, copy) = crash_image(dir.path(), "missing");
    let error = Db::open(&copy).err().expect("refused");
    assert!(matches!(error, Error::LogMissing { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("not closed cleanly") && message.contains("mmtree backup"));
    // Read-only too: it would show the older state just the same.
    let error = Db::open_with(&copy, Options::default().read_only(true))
        .err()
        .expect("refused read-only");
    assert!(matches!(error, Error::LogMissing { .. }), "{error:?}");
    assert!(!log_of(&copy).exists(), "a refused open created no log");
    // With the log beside it, nothing is lost.
    std::fs::copy(log_of(&path), log_of(&copy)).unwrap();
    let db = Db::open(&copy).unwrap();
    assert_eq!(get(&db, b"new").as_deref(), Some(&b"2"[..]));
    assert!(db.set_aside().is_none());
}

#[test]
fn set_aside_opens_the_last_checkpoint_without_a_missing_log_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, _path, copy) = crash_image(dir.path(), "accept");
    let db = Db::open_with(&copy, Options::default().set_aside_log(true)).unwrap();
    let set_aside = db.set_aside().expect("reported");
    assert!(set_aside.reason.contains("missing"), "{set_aside:?}");
    assert_eq!(get(&db, b"old").as_deref(), Some(&b"1"[..]));
    assert_eq!(
        get(&db, b"new"),
        None,
        "the last checkpoint, without the log"
    );
    // It is a database again: it writes, closes cleanly and opens without the option.
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"after", b"3").unwrap();
    w.commit().unwrap();
    drop(db);
    let db = Db::open(&copy).unwrap();
    assert_eq!(get(&db, b"after").as_deref(), Some(&b"3"[..]));
}

#[test]
fn a_log_of_another_database_beside_a_crashed_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_db, _path, copy) = crash_image(dir.path(), "foreign");
    // Another database's log (one with commits of its own) under this one's log name.
    let (_other, other_path, _) = crash_image(dir.path(), "other");
    std::fs::copy(log_of(&other_path), log_of(&copy)).unwrap();
    let error = Db::open(&copy).err().expect("refused");
    assert!(matches!(error, Error::ForeignLog { .. }), "{error:?}");
    assert!(error.to_string().contains("another database"), "{error}");
    let foreign = std::fs::read(log_of(&copy)).unwrap();
    // Set aside: the foreign log is moved away whole, the last checkpoint opened.
    let db = Db::open_with(&copy, Options::default().set_aside_log(true)).unwrap();
    let set_aside = db.set_aside().expect("reported").clone();
    let moved = set_aside.log_copy.expect("moved aside");
    assert_eq!(std::fs::read(&moved).unwrap(), foreign, "kept whole");
    assert_eq!(get(&db, b"old").as_deref(), Some(&b"1"[..]));
    drop(db);
    assert!(Db::open(&copy).is_ok(), "its own log now");
}

#[test]
fn a_database_closed_cleanly_opens_from_its_data_file_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clean.mmt");
    {
        let db = Db::open_with(&path, Options::default().merge_after_idle(None)).unwrap();
        for i in 0..5u8 {
            let mut w = db.begin_write().unwrap();
            w.table("t").unwrap().insert([b'k', i], [i]).unwrap();
            w.commit().unwrap();
        }
        assert!(
            db.stats().log_bytes > 0,
            "commits in the log before the close"
        );
    }
    let copy = dir.path().join("clean-copy.mmt");
    std::fs::copy(&path, &copy).unwrap();
    let db = Db::open(&copy).unwrap();
    for i in 0..5u8 {
        assert_eq!(get(&db, &[b'k', i]), Some(vec![i]));
    }
    assert!(db.set_aside().is_none());
    drop(db);
    // Another database's log beside a clean one holds nothing of it: it starts over.
    let (_other, other_path, _) = crash_image(dir.path(), "other");
    std::fs::copy(log_of(&other_path), log_of(&copy)).unwrap();
    let db = Db::open(&copy).unwrap();
    assert_eq!(get(&db, b"other"), None);
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"mine", b"1").unwrap();
    w.commit().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"mine2", b"2").unwrap();
    w.commit().unwrap();
    // A crash copy of it now has its own log, which replays.
    let again = dir.path().join("clean-again.mmt");
    std::fs::copy(&copy, &again).unwrap();
    std::fs::copy(log_of(&copy), log_of(&again)).unwrap();
    let reopened = Db::open(&again).unwrap();
    assert_eq!(get(&reopened, b"mine2").as_deref(), Some(&b"2"[..]));
}

/// Issue 23, item 9: a log record with a valid checksum that cannot be applied made every open
/// fail, with no way to the checkpoint. With `set_aside_log`, the commits before it are
/// replayed, it and the rest are set aside (the log copied whole), and the open says which.
#[test]
fn an_unappliable_log_record_can_be_set_aside_keeping_the_commits_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let (db, path, copy) = crash_image(dir.path(), "bad");
    let log = std::fs::read(log_of(&path)).unwrap();
    drop(db);
    // The log: commit 3 ("new") at 4096, then a crafted commit 4 after it.
    let first = 4096usize;
    let len = 32 + u32::from_le_bytes(log[first + 24..first + 28].try_into().unwrap()) as usize;
    let salt = u64::from_le_bytes(log[first + 8..first + 16].try_into().unwrap());
    let txn = u64::from_le_bytes(log[first + 16..first + 24].try_into().unwrap());
    let mut bad = log[..first + len].to_vec();
    bad.extend_from_slice(&unappliable_record(salt, txn + 1));
    std::fs::write(log_of(&copy), &bad).unwrap();
    for _ in 0..2 {
        let error = Db::open(&copy).err().expect("the record cannot be applied");
        assert!(
            matches!(&error, Error::Corrupted { reason, .. } if reason.contains("names no table")),
            "{error:?}"
        );
    }
    let db = Db::open_with(&copy, Options::default().set_aside_log(true)).unwrap();
    let set_aside = db.set_aside().expect("reported").clone();
    assert_eq!(set_aside.first_txn, Some(txn + 1));
    assert_eq!(set_aside.records, Some(1));
    assert!(
        set_aside.reason.contains("cannot be applied"),
        "{set_aside:?}"
    );
    assert_eq!(
        std::fs::read(set_aside.log_copy.unwrap()).unwrap(),
        bad,
        "the log is kept whole beside it"
    );
    assert_eq!(get(&db, b"new").as_deref(), Some(&b"2"[..]), "replayed");
    assert!(db.check().unwrap().is_ok());
    drop(db);
    let db = Db::open(&copy).unwrap();
    assert_eq!(get(&db, b"new").as_deref(), Some(&b"2"[..]));
}
