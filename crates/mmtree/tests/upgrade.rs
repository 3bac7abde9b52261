//! Files of older formats: opening one is refused with a message that names the conversion;
//! `mmtree::upgrade` converts it without losing a commit, the ones still in its redo log too.
//!
//! `fixtures/format2.mmt` (+ `-log`) was written by the format-2 build (commit 256dcb3):
//! tables `greek` (alpha, beta, gamma, and a 26,668-byte value `big` in an overflow run),
//! `empty-soon` (its one entry deleted), `rows` (k0001..k0300 -> value-N, bulk-loaded), then
//! `mmtree serve` answered `SET logged1 after-checkpoint`, `SET logged2 second`, `DEL logged2`,
//! `SET logged3 third` in four commits and was killed (SIGKILL): those four commits are only in
//! the log (with stale records of earlier log generations after them). The file was cut after
//! its last page and the log after its last non-zero byte.

use mmtree::{Db, Error};
use std::path::Path;

fn fixture(dir: &Path) -> std::path::PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let old = dir.join("old.mmt");
    std::fs::copy(source.join("format2.mmt"), &old).unwrap();
    std::fs::copy(source.join("format2.mmt-log"), dir.join("old.mmt-log")).unwrap();
    old
}

#[test]
fn an_old_file_is_refused_with_the_way_to_convert_it() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path());
    let before = std::fs::read(&old).unwrap();
    let error = Db::open(&old).err().expect("format 2 must be refused");
    assert!(
        matches!(
            error,
            Error::OldFormat {
                found: 2,
                supported: 3,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("mmtree upgrade"), "{error}");
    assert_eq!(
        std::fs::read(&old).unwrap(),
        before,
        "a refused open writes nothing"
    );
}

#[test]
fn upgrade_keeps_every_table_entry_and_logged_commit() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path());
    let before = std::fs::read(&old).unwrap();
    let new = dir.path().join("new.mmt");
    let report = mmtree::upgrade(&old, &new).unwrap();
    assert_eq!(report.from_version, 2);
    assert_eq!(report.log_records, 4, "{report:?}");
    assert_eq!(
        std::fs::read(&old).unwrap(),
        before,
        "the old file is only read"
    );
    let db = Db::open(&new).unwrap();
    assert!(db.check().unwrap().is_ok());
    let r = db.begin_read().unwrap();
    let mut names = r.list_tables().unwrap();
    names.retain(|n| !n.starts_with("__"));
    assert_eq!(names, ["db0", "empty-soon", "greek", "rows"]);
    let greek = r.table("greek").unwrap().unwrap();
    assert_eq!(greek.get(b"alpha").unwrap(), Some(&b"one"[..]));
    assert_eq!(greek.get(b"gamma").unwrap(), Some(&b"three"[..]));
    assert_eq!(greek.get(b"big").unwrap().map(<[u8]>::len), Some(26_668));
    assert_eq!(r.table("empty-soon").unwrap().unwrap().len(), 0);
    let rows = r.table("rows").unwrap().unwrap();
    assert_eq!(rows.len(), 300);
    assert_eq!(rows.get(b"k0150").unwrap(), Some(&b"value-150"[..]));
    let db0 = r.table("db0").unwrap().unwrap();
    assert_eq!(db0.get(b"logged1").unwrap(), Some(&b"after-checkpoint"[..]));
    assert_eq!(
        db0.get(b"logged2").unwrap(),
        None,
        "deleted in a logged commit"
    );
    assert_eq!(db0.get(b"logged3").unwrap(), Some(&b"third"[..]));
    drop(r);
    // The new file is an ordinary format-3 database.
    let mut w = db.begin_write().unwrap();
    w.table("greek").unwrap().insert(b"delta", b"four").unwrap();
    w.commit().unwrap();
    assert!(db.check().unwrap().is_ok());
}

#[test]
fn upgrade_refuses_an_existing_target_and_converts_format_1() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path());
    let taken = dir.path().join("taken.mmt");
    std::fs::write(&taken, b"mine").unwrap();
    assert!(mmtree::upgrade(&old, &taken).is_err());
    assert_eq!(std::fs::read(&taken).unwrap(), b"mine");
    // Format 1 had the same tree pages and no log: rewrite the meta pages as format 1
    // (word 56 = 0: a steady meta page) and drop the log.
    let mut bytes = std::fs::read(&old).unwrap();
    for slot in [0usize, 4096] {
        let meta = &mut bytes[slot..slot + 68];
        meta[8..12].copy_from_slice(&1u32.to_le_bytes());
        meta[56..64].fill(0);
        let sum = crc32c::crc32c(&meta[..64]);
        meta[64..68].copy_from_slice(&sum.to_le_bytes());
    }
    let v1 = dir.path().join("v1.mmt");
    std::fs::write(&v1, &bytes).unwrap();
    assert!(matches!(
        Db::open(&v1),
        Err(Error::OldFormat { found: 1, .. })
    ));
    let new = dir.path().join("from-v1.mmt");
    let report = mmtree::upgrade(&v1, &new).unwrap();
    assert_eq!((report.from_version, report.log_records), (1, 0));
    let db = Db::open(&new).unwrap();
    let r = db.begin_read().unwrap();
    assert_eq!(r.table("rows").unwrap().unwrap().len(), 300);
    assert!(
        r.table("db0").unwrap().is_none(),
        "format 1 has no log to replay"
    );
}
