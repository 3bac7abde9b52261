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
    assert_eq!(r.table("empty-soon").unwrap().unwrap().len().unwrap(), 0);
    let rows = r.table("rows").unwrap().unwrap();
    assert_eq!(rows.len().unwrap(), 300);
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
    assert_eq!(r.table("rows").unwrap().unwrap().len().unwrap(), 300);
    assert!(
        r.table("db0").unwrap().is_none(),
        "format 1 has no log to replay"
    );
}

/// Issue 23, item 3: the format-2 build kept its log beside the file the name leads to. An
/// upgrade through a symlink read `LINK-log`, found none, and replayed nothing (0 of 4 logged
/// commits) while reporting success.
#[test]
fn upgrade_through_a_symlink_replays_the_log_beside_the_real_file() {
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path());
    let elsewhere = dir.path().join("links");
    std::fs::create_dir(&elsewhere).unwrap();
    let link = elsewhere.join("link.mmt");
    std::os::unix::fs::symlink(&old, &link).unwrap();
    let new = dir.path().join("new.mmt");
    let report = mmtree::upgrade(&link, &new).unwrap();
    assert_eq!(report.log_records, 4, "{report:?}");
    let db = Db::open(&new).unwrap();
    let r = db.begin_read().unwrap();
    let db0 = r.table("db0").unwrap().unwrap();
    assert_eq!(db0.get(b"logged3").unwrap(), Some(&b"third"[..]));
}

/// A format-2 file built by hand (layout: `upgrade.rs` and `page/meta.rs`): meta pages, a
/// catalog leaf naming table `wide`, and its leaf with one `key_len`-byte key.
fn format2_file(page_size: usize, key_len: usize) -> Vec<u8> {
    let mut file = vec![0u8; 4 * page_size];
    for slot in 0..2 {
        let meta = &mut file[slot * page_size..];
        meta[..8].copy_from_slice(b"\x89MMTREE\n");
        meta[8..12].copy_from_slice(&2u32.to_le_bytes());
        meta[12..16].copy_from_slice(&(page_size as u32).to_le_bytes());
        meta[16..24].copy_from_slice(&(5 + slot as u64).to_le_bytes()); // txn
        meta[24..32].copy_from_slice(&2u64.to_le_bytes()); // catalog root
        meta[40..48].copy_from_slice(&4u64.to_le_bytes()); // page count
        let sum = crc32c::crc32c(&meta[..64]);
        meta[64..68].copy_from_slice(&sum.to_le_bytes());
    }
    let leaf = |file: &mut Vec<u8>, id: usize, key: &[u8], value: &[u8]| {
        let page = &mut file[id * page_size..(id + 1) * page_size];
        page[4] = 2; // a leaf
        page[6..8].copy_from_slice(&1u16.to_le_bytes());
        page[8..16].copy_from_slice(&(id as u64).to_le_bytes());
        let at = page_size - 7 - key.len() - value.len();
        page[24..26].copy_from_slice(&(at as u16).to_le_bytes());
        page[at + 1..at + 3].copy_from_slice(&(key.len() as u16).to_le_bytes());
        page[at + 3..at + 7].copy_from_slice(&(value.len() as u32).to_le_bytes());
        page[at + 7..at + 7 + key.len()].copy_from_slice(key);
        page[at + 7 + key.len()..at + 7 + key.len() + value.len()].copy_from_slice(value);
        let sum = crc32c::crc32c(&page[4..]);
        page[..4].copy_from_slice(&sum.to_le_bytes());
    };
    let entry = [3u64.to_le_bytes(), 1u64.to_le_bytes()].concat();
    leaf(&mut file, 2, b"wide", &entry);
    leaf(&mut file, 3, &vec![b'k'; key_len], b"v");
    file
}

/// Issue 23, item 4: upgrade created the new file with 4 KiB pages whatever the old one had, so
/// a valid format-2 file with 16 KiB pages and a 2,000-byte key (legal there) failed half-way
/// with KeyTooLarge.
#[test]
fn upgrade_keeps_the_old_page_size() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("wide.mmt");
    std::fs::write(&old, format2_file(16384, 2000)).unwrap();
    let new = dir.path().join("wide-new.mmt");
    let report = mmtree::upgrade(&old, &new).unwrap();
    assert_eq!((report.tables, report.entries), (1, 1));
    let db = Db::open(&new).unwrap();
    assert_eq!(db.page_size(), 16384);
    let r = db.begin_read().unwrap();
    let wide = r.table("wide").unwrap().unwrap();
    assert_eq!(wide.get(vec![b'k'; 2000]).unwrap(), Some(&b"v"[..]));
}

/// Issue 23, item 5: an upgrade that fails (here: a damaged page half-way) or is cut short left
/// a partial new file that opened as a database, and a rerun refused because it existed. Now
/// nothing is left under the new name or beside it.
#[test]
fn a_failed_upgrade_leaves_nothing_behind_and_can_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("damaged.mmt");
    let mut bytes = format2_file(4096, 10);
    bytes[3 * 4096 + 100] ^= 1; // the table's leaf fails its checksum
    std::fs::write(&old, &bytes).unwrap();
    let new = dir.path().join("damaged-new.mmt");
    let error = mmtree::upgrade(&old, &new).expect_err("a damaged page");
    assert!(matches!(error, Error::Corrupted { .. }), "{error:?}");
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("damaged-new"))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    // Repaired, the same command runs again.
    std::fs::write(&old, format2_file(4096, 10)).unwrap();
    mmtree::upgrade(&old, &new).unwrap();
    assert!(Db::open(&new).unwrap().check().unwrap().is_ok());
}

/// Issue 23, item 5 (power cuts): every write of the upgrade goes to a temporary name, and the
/// new name appears only after the last sync. An I/O observer checks at each durability point
/// (each sync and synchronous write: where a power cut could land) that nothing exists under the
/// new name yet.
#[test]
fn no_power_cut_during_an_upgrade_leaves_a_file_under_the_new_name() {
    use mmtree::testing::{IoFile, IoObserver};
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    struct Watch {
        new: std::path::PathBuf,
        points: AtomicU64,
        early: AtomicU64,
    }
    impl Watch {
        fn point(&self) {
            self.points.fetch_add(1, Ordering::SeqCst);
            if self.new.exists() {
                self.early.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    impl IoObserver for Watch {
        fn write(&self, _: IoFile, _: u64, _: &[u8]) {}
        fn write_durable(&self, _: IoFile, _: u64, _: &[u8]) {
            self.point();
        }
        fn set_len(&self, _: IoFile, _: u64) {}
        fn sync(&self, _: IoFile) {
            self.point();
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let old = fixture(dir.path());
    let new = dir.path().join("watched.mmt");
    let watch = Arc::new(Watch {
        new: new.clone(),
        points: AtomicU64::new(0),
        early: AtomicU64::new(0),
    });
    let options = mmtree::Options::default().observe_io(watch.clone());
    let report = mmtree::upgrade_with(&old, &new, options).unwrap();
    assert_eq!(report.log_records, 4);
    let points = watch.points.load(Ordering::SeqCst);
    assert!(points >= 4, "{points} durability points");
    assert_eq!(watch.early.load(Ordering::SeqCst), 0, "of {points} points");
    assert!(Db::open(&new).unwrap().check().unwrap().is_ok());
}

/// Issue 28, item 8: upgrading a file that is not of an old format says what it is.
#[test]
fn upgrade_of_a_current_or_newer_file_says_which_format_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current.mmt");
    drop(Db::open(&current).unwrap());
    let error = mmtree::upgrade(&current, dir.path().join("x.mmt"))
        .err()
        .unwrap();
    assert!(error.to_string().contains("already format 3"), "{error}");
    let mut bytes = std::fs::read(&current).unwrap();
    for meta in [0usize, 4096] {
        bytes[meta + 8..meta + 12].copy_from_slice(&4u32.to_le_bytes());
        let sum = crc32c::crc32c(&bytes[meta..meta + 64]);
        bytes[meta + 64..meta + 68].copy_from_slice(&sum.to_le_bytes());
    }
    std::fs::write(&current, &bytes).unwrap();
    let error = mmtree::upgrade(&current, dir.path().join("y.mmt"))
        .err()
        .unwrap();
    assert!(
        matches!(error, Error::UnsupportedVersion { found: 4, .. }),
        "{error:?}"
    );
}
