//! Regression tests for the reliability review (issue 11): an operation that fails half-way must
//! leave the transaction unable to commit, crafted pages must give `Corrupted` instead of a loop
//! or an exponential walk, and a creation cut short by a power loss must be created again.

mod common;

use mmtree::{Db, Error};
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

const PAGE: usize = 4096;

/// Recomputes a tree page's checksum after a deliberate edit (a crafted, "valid-looking" page).
fn reseal(page: &mut [u8]) {
    let sum = crc32c::crc32c(&page[4..]);
    page[..4].copy_from_slice(&sum.to_le_bytes());
}

fn pages(bytes: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    (2..bytes.len() / PAGE).map(move |p| (p, &bytes[p * PAGE..(p + 1) * PAGE]))
}

/// Leaf pages whose cells hold `needle`.
fn leaves_with(bytes: &[u8], needle: &[u8]) -> Vec<usize> {
    pages(bytes)
        .filter(|(_, page)| page[4] == 2 && page.windows(needle.len()).any(|w| w == needle))
        .map(|(p, _)| p)
        .collect()
}

/// Runs `work` on another thread; a hang (the bug these tests guard against loops or walks
/// exponentially, allocating) ends the whole test binary instead of eating the machine.
fn without_hanging<T: Send + 'static>(what: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(work());
    });
    match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(value) => value,
        Err(_) => {
            eprintln!("{what} did not return within a minute: it loops");
            std::process::exit(1);
        }
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:06}").into_bytes()
}

#[test]
fn a_failed_delete_table_cannot_be_committed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("del.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..1990 {
            t.insert(key(i), [i as u8; 60]).unwrap();
        }
        drop(t);
        let mut u = w.table("u").unwrap();
        for i in 0..1990 {
            u.insert(key(i), [(i + 1) as u8; 60]).unwrap();
        }
        drop(u);
        w.commit().unwrap();
    }
    // Damage the leaf holding t's last key (it is freed last, after many other pages).
    let mut bytes = std::fs::read(&path).unwrap();
    let last = leaves_with(&bytes, &key(1989));
    // Both tables hold "key-001989": t's values are 1989 as u8 = 0xC5 repeated.
    let leaf = *last
        .iter()
        .find(|&&p| {
            bytes[p * PAGE..(p + 1) * PAGE]
                .windows(60)
                .any(|w| w.iter().all(|&b| b == 1989u32 as u8))
        })
        .expect("t's last leaf");
    bytes[leaf * PAGE + 100] ^= 0x5A;
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    let deleted = w.delete_table("t");
    assert!(
        matches!(deleted, Err(Error::Corrupted { .. })),
        "{deleted:?}"
    );
    // Half of t's pages were freed: nothing more may happen in this transaction.
    assert!(matches!(
        w.table("u").map(|_| ()),
        Err(Error::TransactionFailed { .. })
    ));
    let committed = w.commit();
    assert!(
        matches!(committed, Err(Error::TransactionFailed { .. })),
        "a transaction whose delete_table failed half-way must not commit: {committed:?}"
    );
    // The database is as before: more writes, then every undamaged key reads right.
    let mut w = db.begin_write().unwrap();
    let mut u = w.table("u").unwrap();
    for i in 0..500 {
        u.insert(key(10_000 + i), [9; 200]).unwrap();
    }
    drop(u);
    w.commit().unwrap();
    let r = db.begin_read().unwrap();
    let u = r.table("u").unwrap().unwrap();
    for i in 0..1990 {
        assert_eq!(u.get(key(i)).unwrap(), Some(&[(i + 1) as u8; 60][..]));
    }
    let t = r.table("t").unwrap().expect("t was not deleted");
    assert_eq!(t.get(key(0)).unwrap(), Some(&[0u8; 60][..]));
    drop(r);
    let report = db.check().unwrap();
    // The one damaged leaf is all that is wrong: no page both in use and free, none leaked.
    // (check also says t holds fewer entries than it claims: the damaged leaf's are unreadable.)
    assert!(report.problems.iter().any(|p| p.page == Some(leaf as u64)));
    assert!(
        report
            .problems
            .iter()
            .all(|p| !p.message.contains("free") && !p.message.contains("leaked")),
        "{report:?}"
    );
}

/// Rewrites `page` as a leaf holding one entry with a key of `key_len` bytes (format 3: the
/// layout is in `page/mod.rs`).
fn craft_long_key_leaf(page: &mut [u8], key_len: usize) {
    let id = page[8..16].to_vec();
    let txn = page[16..24].to_vec();
    page.fill(0);
    page[4] = 2; // leaf
    page[6..8].copy_from_slice(&1u16.to_le_bytes());
    page[8..16].copy_from_slice(&id);
    page[16..24].copy_from_slice(&txn);
    let cell = PAGE - (2 + key_len);
    page[26..28].copy_from_slice(&(cell as u16).to_le_bytes()); // cells from
    page[32..36].copy_from_slice(&u32::from_be_bytes(*b"kkkk").to_le_bytes()); // head
    page[36..38].copy_from_slice(&(cell as u16).to_le_bytes());
    page[38..40].copy_from_slice(&(key_len as u16).to_le_bytes());
    page[cell..cell + 2].copy_from_slice(&0u16.to_le_bytes()); // an empty inline value
    page[cell + 2..].fill(b'k');
    reseal(page);
}

#[test]
fn a_leaf_key_longer_than_allowed_is_corrupted_not_an_endless_split() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("longkey.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"marker", b"v").unwrap();
        w.commit().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let leaf = leaves_with(&bytes, b"marker")[0];
    craft_long_key_leaf(&mut bytes[leaf * PAGE..(leaf + 1) * PAGE], 4049);
    std::fs::write(&path, &bytes).unwrap();
    // A log with no room for a change: the insert goes to the tree at once, as a transaction
    // larger than the write buffer does.
    let db = Db::open_with(&path, mmtree::Options::default().log_bytes(32)).unwrap();
    let inserted = without_hanging("an insert next to a 4049-byte key", move || {
        let mut w = db.begin_write().unwrap();
        let result = w.table("t").unwrap().insert(b"a", b"1");
        drop(w);
        (result, db)
    });
    let (result, db) = inserted;
    assert!(matches!(result, Err(Error::Corrupted { .. })), "{result:?}");
    // A read only checks the bounds it uses (the key lies inside the page): it may miss, not
    // panic; the integrity check names the page.
    let r = db.begin_read().unwrap();
    let got = r.table("t").unwrap().unwrap().get(b"a");
    assert!(
        matches!(got, Ok(None) | Err(Error::Corrupted { .. })),
        "{got:?}"
    );
    drop(r);
    let report = db.check().unwrap();
    assert!(
        report.problems.iter().any(|p| p.page == Some(leaf as u64)),
        "{report:?}"
    );
}

/// Rewrites `page` as a branch whose two children are both `child` (format 3).
fn craft_shared_branch(page: &mut [u8], child: u64) {
    let id = page[8..16].to_vec();
    let txn = page[16..24].to_vec();
    page.fill(0);
    page[4] = 1; // branch
    page[6..8].copy_from_slice(&2u16.to_le_bytes());
    page[8..16].copy_from_slice(&id);
    page[16..24].copy_from_slice(&txn);
    // slot 0: empty key; slot 1: key "m". Both point at `child`.
    let cell0 = PAGE - 8;
    let cell1 = cell0 - 9;
    page[26..28].copy_from_slice(&(cell1 as u16).to_le_bytes()); // cells from
    page[36..38].copy_from_slice(&(cell0 as u16).to_le_bytes());
    page[40..44].copy_from_slice(&u32::from_be_bytes(*b"m\0\0\0").to_le_bytes());
    page[44..46].copy_from_slice(&(cell1 as u16).to_le_bytes());
    page[46..48].copy_from_slice(&1u16.to_le_bytes());
    page[cell0..cell0 + 8].copy_from_slice(&child.to_le_bytes());
    page[cell1..cell1 + 8].copy_from_slice(&child.to_le_bytes());
    page[cell1 + 8] = b'm';
    reseal(page);
}

fn build_dag(path: &Path) {
    {
        let db = Db::open(path).unwrap();
        let mut w = db.begin_write().unwrap();
        let mut big = w.table("big").unwrap();
        for i in 0..3000 {
            big.insert(format!("big-{i:06}").as_bytes(), [3; 100])
                .unwrap();
        }
        drop(big);
        w.table("t").unwrap().insert(b"marker", b"v").unwrap();
        w.commit().unwrap();
    }
    let mut bytes = std::fs::read(path).unwrap();
    let root = leaves_with(&bytes, b"marker")[0];
    let spare = leaves_with(&bytes, b"big-");
    assert!(spare.len() > 31, "{} leaves", spare.len());
    // t's root and 29 of big's leaves become a chain of 30 branches, each with both children
    // pointing at the next; the last points at a real leaf: 2^30 paths through 31 pages.
    let mut chain = vec![root];
    chain.extend(&spare[..29]);
    let bottom = spare[29] as u64;
    for (i, &page) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map_or(bottom, |&p| p as u64);
        craft_shared_branch(&mut bytes[page * PAGE..(page + 1) * PAGE], next);
    }
    std::fs::write(path, &bytes).unwrap();
}

#[test]
fn shared_subtrees_are_corrupted_not_an_exponential_walk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dag.mmt");
    build_dag(&path);
    let db = Db::open(&path).unwrap();
    let (deleted, db) = without_hanging("delete_table over a shared subtree", move || {
        let mut w = db.begin_write().unwrap();
        let result = w.delete_table("t");
        drop(w);
        (result, db)
    });
    assert!(
        matches!(deleted, Err(Error::Corrupted { .. })),
        "{deleted:?}"
    );
    let compacted = without_hanging("compact over a shared subtree", move || db.compact());
    assert!(
        matches!(compacted, Err(Error::Corrupted { .. })),
        "{compacted:?}"
    );
}

#[test]
fn a_creation_cut_after_the_first_meta_page_is_created_again() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = dir.path().join("fresh.mmt");
    drop(Db::open(&fresh).unwrap());
    let created = std::fs::read(&fresh).unwrap();
    assert_eq!(
        created.len(),
        2 * PAGE,
        "a new database is its two meta pages"
    );
    // A power cut between the write of the two meta pages and their sync can keep any prefix.
    for kept in [4096usize, 7168, 5000] {
        let path = dir.path().join(format!("cut-{kept}.mmt"));
        std::fs::write(&path, &created[..kept]).unwrap();
        {
            let db = Db::open(&path).unwrap_or_else(|e| panic!("{kept} bytes kept: {e}"));
            assert!(db.begin_read().unwrap().list_tables().unwrap().is_empty());
            let mut w = db.begin_write().unwrap();
            w.table("t").unwrap().insert(b"k", b"v").unwrap();
            w.commit().unwrap();
        }
        let db = Db::open(&path).unwrap();
        let r = db.begin_read().unwrap();
        assert_eq!(
            r.table("t").unwrap().unwrap().get(b"k").unwrap(),
            Some(&b"v"[..])
        );
        drop(r);
        assert!(db.check().unwrap().is_ok());
    }
}

fn table_contents(db: &Db, name: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    let r = db.begin_read().unwrap();
    let Some(t) = r.table(name).unwrap() else {
        return Vec::new();
    };
    t.range(..)
        .unwrap()
        .map(|item| {
            let (k, v) = item.unwrap();
            (k.to_vec(), v.to_vec())
        })
        .collect()
}

#[test]
fn an_immediate_commit_after_eventual_ones_keeps_the_durable_state_intact() {
    use mmtree::{Durability, Options};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.mmt");
    let db = Db::open(&path).unwrap();
    // Commit N (durable): a table whose pages N+1 will free.
    let mut w = db.begin_write().unwrap();
    for i in 0..3000 {
        w.table("t").unwrap().insert(key(i), [7; 100]).unwrap();
    }
    w.commit().unwrap();
    db.checkpoint().unwrap(); // N is the durable checkpoint
    let durable = table_contents(&db, "t");
    let image_at_n = std::fs::read(&path).unwrap();
    // N+1 (Eventual): rewrites every leaf of t, freeing the pages N reaches.
    let mut w = db.begin_write().unwrap();
    w.set_durability(Durability::Eventual);
    for i in 0..3000 {
        w.table("t").unwrap().insert(key(i), [8; 100]).unwrap();
    }
    w.commit().unwrap();
    // N+2 (Immediate): writes many new pages, then syncs them before its meta page.
    let mut w = db.begin_write().unwrap();
    for i in 0..3000 {
        w.table("u").unwrap().insert(key(i), [9; 100]).unwrap();
    }
    w.commit().unwrap();
    // A power cut now: the pages of N+1 and N+2 reached the disk (written back by the kernel),
    // the log did not, and no meta page was written after N's checkpoint. The disk holds N's
    // meta pages over everything written since.
    let mut cut = std::fs::read(&path).unwrap();
    drop(db);
    cut[..2 * PAGE].copy_from_slice(&image_at_n[..2 * PAGE]);
    let cut_path = dir.path().join("cut.mmt");
    std::fs::write(&cut_path, &cut).unwrap();
    // The log as the disk kept it: its header, none of the records after N.
    let log = std::fs::read(format!("{}-log", path.display())).unwrap();
    std::fs::write(format!("{}-log", cut_path.display()), &log[..4096]).unwrap();
    let db = Db::open_with(&cut_path, Options::default().simulate_reboot()).unwrap();
    let report = db.check().unwrap();
    assert!(
        report.is_ok(),
        "N's pages were overwritten: {:?}",
        report.problems
    );
    assert_eq!(table_contents(&db, "t"), durable);
}

#[test]
fn after_a_restart_unsynced_commits_are_dropped_whole_and_synced_ones_kept() {
    use mmtree::{Durability, Options};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weak.mmt");
    // No background sync within the test (an hour), so what is unsynced stays so.
    let eventual = Options::default()
        .durability(Durability::Eventual)
        .sync_interval(std::time::Duration::from_secs(3600))
        .merge_after_idle(None); // nor a background merge (a checkpoint syncs)
    let db = Db::open_with(&path, eventual.clone()).unwrap();
    let commit = |db: &Db, n: u32| {
        let mut w = db.begin_write().unwrap();
        for i in 0..200 {
            w.table("t")
                .unwrap()
                .insert(key(i), n.to_le_bytes())
                .unwrap();
        }
        w.commit().unwrap();
    };
    for n in 1..=5 {
        commit(&db, n);
    }
    db.sync().unwrap(); // commit 5 is durable now
    let synced_log = 4096 + db.stats().log_bytes;
    for n in 6..=9 {
        commit(&db, n);
    }
    let copy = |name: &str, log_len: Option<u64>| {
        let to = dir.path().join(name);
        std::fs::copy(&path, &to).unwrap();
        let (mut from_log, mut to_log) = (path.as_os_str().to_owned(), to.as_os_str().to_owned());
        from_log.push("-log");
        to_log.push("-log");
        std::fs::copy(&from_log, &to_log).unwrap();
        if let Some(len) = log_len {
            std::fs::OpenOptions::new()
                .write(true)
                .open(&to_log)
                .unwrap()
                .set_len(len)
                .unwrap();
        }
        to
    };
    // The files as the page cache has them (a process crash): every commit is replayed.
    let same_boot = Db::open(copy("same.mmt", None)).unwrap();
    assert_eq!(same_boot.stats().txn_id, 9);
    assert_eq!(table_contents(&same_boot, "t")[0].1, 9u32.to_le_bytes());
    assert!(same_boot.check().unwrap().is_ok());
    // A power loss drops the log's unsynced tail: commits 6..9 are gone, whole; 5 is intact.
    let rebooted = Db::open(copy("rebooted.mmt", Some(synced_log))).unwrap();
    assert_eq!(rebooted.stats().txn_id, 5);
    assert_eq!(table_contents(&rebooted, "t")[0].1, 5u32.to_le_bytes());
    assert!(rebooted.check().unwrap().is_ok());
    // Half of commit 6's record reached the disk: it is cut, not replayed.
    let torn = Db::open(copy("torn.mmt", Some(synced_log + 100))).unwrap();
    assert_eq!(torn.stats().txn_id, 5);
    // Closing the handle checkpoints: the data file alone then holds all of them.
    drop(db);
    let closed = Db::open_with(copy("closed.mmt", Some(0)), Options::default()).unwrap();
    assert_eq!(closed.stats().txn_id, 9);
    assert!(closed.check().unwrap().is_ok());
}

#[test]
fn eventual_commits_are_synced_in_the_background_within_the_interval() {
    use mmtree::{Durability, Options};
    let dir = tempfile::tempdir().unwrap();
    let options = Options::default()
        .durability(Durability::Eventual)
        .sync_interval(std::time::Duration::from_millis(20));
    let db = Db::open_with(dir.path().join("bg.mmt"), options).unwrap();
    // The first commit on a state closed cleanly (a new database) is a checkpoint, not logged.
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"first", b"v").unwrap();
    w.commit().unwrap();
    let before = db.stats().log_syncs;
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"k", b"v").unwrap();
    w.commit().unwrap();
    assert_eq!(
        db.stats().log_syncs,
        before,
        "an Eventual commit does not sync"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while db.stats().log_syncs == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the background thread never synced the log"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn a_second_open_with_other_options_is_refused_not_ignored() {
    use mmtree::{Durability, Options};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("opts.mmt");
    let db = Db::open(&path).unwrap();
    let eventual = Db::open_with(&path, Options::default().durability(Durability::Eventual));
    assert!(
        matches!(&eventual, Err(Error::InvalidOption(reason)) if reason.contains("durability")),
        "{:?}",
        eventual.err()
    );
    // The same options share the handle.
    let again = Db::open(&path).unwrap();
    let mut w = again.begin_write().unwrap();
    w.table("t").unwrap().insert(b"k", b"v").unwrap();
    w.commit().unwrap();
    assert_eq!(db.stats().txn_id, 1);
}

fn lock_word(path: &Path, at: u64) -> u64 {
    use std::os::unix::fs::FileExt;
    let mut lock = path.as_os_str().to_owned();
    lock.push("-lock");
    let mut word = [0u8; 8];
    std::fs::File::open(lock)
        .unwrap()
        .read_exact_at(&mut word, at)
        .unwrap();
    u64::from_le_bytes(word)
}

fn set_lock_word(path: &Path, at: u64, value: u64) {
    use std::os::unix::fs::FileExt;
    let mut lock = path.as_os_str().to_owned();
    lock.push("-lock");
    std::fs::OpenOptions::new()
        .write(true)
        .open(lock)
        .unwrap()
        .write_all_at(&value.to_le_bytes(), at)
        .unwrap();
}

/// The lock file's layout (`lock.rs`): which published copy is current, where the copies are
/// (88 bytes each: a seq word, then txn, page size, catalog root, freelist root, page count…),
/// and the poison word.
const LOCK_CURRENT_AT: u64 = 24;
const LOCK_COPIES_AT: u64 = 32;
/// Lock-file layout (`lock.rs`): copies of seq + 12 words, then slots used, device, inode,
/// poisoned.
const LOCK_COPY_SIZE: u64 = 8 + 12 * 8;
const LOCK_POISONED_AT: u64 = LOCK_COPIES_AT + 2 * LOCK_COPY_SIZE + 24;

#[test]
fn a_lock_file_page_count_beyond_the_file_is_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("count.mmt");
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"k", b"1").unwrap();
    w.commit().unwrap();
    let real = db.stats().page_count;
    // A damaged lock file claims 2^40 pages (4 PiB): nothing may be sized by it. Snapshots
    // refuse with a clear error (the data file's meta pages are only the last checkpoint, so
    // falling back to them would show an older state).
    let current = lock_word(&path, LOCK_CURRENT_AT) & 1;
    set_lock_word(
        &path,
        LOCK_COPIES_AT + current * LOCK_COPY_SIZE + 8 + 4 * 8,
        1 << 40,
    );
    assert_eq!(db.stats().page_count, real);
    let refused = db.check().map(|_| ());
    assert!(
        matches!(&refused, Err(Error::IncompatibleLockFile { reason, .. }) if reason.contains("published state")),
        "{refused:?}"
    );
}

#[test]
fn a_failed_sync_seen_by_one_process_stops_every_writer() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poison.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t").unwrap().insert(b"k", b"1").unwrap();
        w.commit().unwrap();
        // As another process records it when its fdatasync fails (pid 4242).
        set_lock_word(&path, LOCK_POISONED_AT, 4242 + 1);
        let refused = db.begin_write().map(|_| ());
        assert!(
            matches!(&refused, Err(Error::Poisoned { reason }) if reason.contains("4242")),
            "{refused:?}"
        );
        assert!(matches!(db.sync(), Err(Error::Poisoned { .. })));
        // Reads go on.
        let r = db.begin_read().unwrap();
        assert_eq!(
            r.table("t").unwrap().unwrap().get(b"k").unwrap(),
            Some(&b"1"[..])
        );
    }
    // Once every process closed it, the next open starts from the last durable commit.
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"k", b"2").unwrap();
    w.commit().unwrap();
}

#[test]
fn strict_mode_stops_at_the_first_commit_that_leaves_a_problem() {
    use mmtree::Options;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("strict.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        for i in 0..500 {
            w.table("t").unwrap().insert(key(i), [1; 100]).unwrap();
        }
        w.commit().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let leaf = leaves_with(&bytes, &key(0))[0];
    bytes[leaf * PAGE + 200] ^= 1; // a damaged leaf the next commit does not touch
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open_with(&path, Options::default().strict(true)).unwrap();
    let committed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut w = db.begin_write().unwrap();
        w.table("other").unwrap().insert(b"k", b"v").unwrap();
        w.commit()
    }));
    let message = committed.expect_err("strict mode must stop the program");
    let message = message
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("strict mode"), "{message}");
}

/// Issue 15, item 8: a transaction too large for the log (a value bigger than `log_bytes`, and
/// a bulk load) is not written twice: it commits as a checkpoint — its pages are synced, its
/// meta page written, the log left empty — and survives a crash (a copy of the files as they
/// are) like any commit. `MMTREE_BIG_VALUE_MIB=1024` tries a 1 GiB value.
#[test]
fn a_value_larger_than_the_log_commits_as_a_checkpoint() {
    use mmtree::Options;
    let mib: usize = std::env::var("MMTREE_BIG_VALUE_MIB")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.mmt");
    // No background merge: the small commit stays in the log.
    let options = Options::default().log_bytes(1 << 20).merge_after_idle(None);
    let db = Db::open_with(&path, options).unwrap();
    // The first commit on a state closed cleanly (a new database) is a checkpoint, not logged.
    let mut w = db.begin_write().unwrap();
    w.table("small").unwrap().insert(b"first", b"0").unwrap();
    w.commit().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("small").unwrap().insert(b"a", b"1").unwrap();
    w.commit().unwrap();
    let logged = db.stats();
    assert!(logged.log_bytes > 0, "a small commit is logged");
    let big: Vec<u8> = (0..mib << 20).map(|i| (i % 251) as u8).collect();
    let mut w = db.begin_write().unwrap();
    w.table("big").unwrap().insert(b"v", &big).unwrap();
    w.commit().unwrap();
    let stats = db.stats();
    assert_eq!(stats.log_bytes, 0, "the big commit was a checkpoint");
    assert_eq!(stats.checkpoint_txn, stats.txn_id);
    assert!(
        std::fs::metadata(format!("{}-log", path.display()))
            .unwrap()
            .len()
            < (2 << 20),
        "the value was not written to the log"
    );
    // A crash copy (no close, no further checkpoint) opens with both commits.
    let copy = dir.path().join("copy.mmt");
    std::fs::copy(&path, &copy).unwrap();
    std::fs::copy(
        format!("{}-log", path.display()),
        format!("{}-log", copy.display()),
    )
    .unwrap();
    let reopened = Db::open(&copy).unwrap();
    let r = reopened.begin_read().unwrap();
    assert_eq!(
        r.table("big").unwrap().unwrap().get(b"v").unwrap(),
        Some(&big[..])
    );
    assert_eq!(
        r.table("small").unwrap().unwrap().get(b"a").unwrap(),
        Some(&b"1"[..])
    );
    drop(r);
    assert!(reopened.check().unwrap().is_ok());
}

/// Issue 11, item 9 (and issue 15's recovery): an open that fails after its shared state was
/// built — here the log holds a record that passes its checksum but cannot be replayed (a put
/// that names no table) — returns an error instead of hanging (the half-built state is dropped
/// while the open-files mutex is held; its `Drop` must not lock that mutex again), leaves the
/// log as it was (the evidence), and a later open says the same. Record layout: `log/mod.rs`.
#[test]
fn an_open_whose_replay_fails_returns_an_error_not_a_hang() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("replay.mmt");
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"a", b"1").unwrap();
    w.commit().unwrap();
    drop(db); // a checkpoint: meta page = commit 1, the log starts over
    let data = std::fs::read(&path).unwrap();
    let txn = u64::from_le_bytes(data[16..24].try_into().unwrap()).max(u64::from_le_bytes(
        data[PAGE + 16..PAGE + 24].try_into().unwrap(),
    ));
    let newest = if u64::from_le_bytes(data[16..24].try_into().unwrap()) == txn {
        0
    } else {
        PAGE
    };
    let salt = u64::from_le_bytes(data[newest + 56..newest + 64].try_into().unwrap());
    // One record: put "k" = "v" with no table op before it.
    let record = common::unappliable_record(salt, txn + 1);
    let log = format!("{}-log", path.display());
    let mut bytes = std::fs::read(&log).unwrap();
    bytes.resize(4096, 0);
    bytes.extend_from_slice(&record);
    std::fs::write(&log, &bytes).unwrap();
    for attempt in 0..2 {
        let (send, receive) = mpsc::channel();
        let opening = path.clone();
        std::thread::spawn(move || {
            let _ = send.send(Db::open(&opening).map(|_| ()));
        });
        let result = receive
            .recv_timeout(Duration::from_secs(60))
            .expect("the open hung");
        assert!(
            matches!(&result, Err(Error::Corrupted { reason, .. }) if reason.contains("names no table")),
            "attempt {attempt}: {result:?}"
        );
        assert_eq!(
            std::fs::read(&log).unwrap(),
            bytes,
            "the log is left as it was"
        );
    }
}

/// Issue 11, item 10: creating a database (its data file and its log) and finishing a backup
/// sync the directory, so the new names survive a power loss. The hidden I/O observer sees each
/// directory sync, after the files' own syncs.
#[test]
fn creating_a_database_or_a_backup_syncs_the_directory() {
    use mmtree::testing::{IoFile, IoObserver};
    use std::sync::{Arc, Mutex};
    #[derive(Default)]
    struct Events(Mutex<Vec<String>>);
    impl IoObserver for Events {
        fn write(&self, _: IoFile, _: u64, _: &[u8]) {}
        fn write_durable(&self, _: IoFile, _: u64, _: &[u8]) {}
        fn set_len(&self, _: IoFile, _: u64) {}
        fn sync(&self, file: IoFile) {
            self.0.lock().unwrap().push(format!("sync {file:?}"));
        }
        fn sync_dir(&self) {
            self.0.lock().unwrap().push("sync dir".into());
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let events = Arc::new(Events::default());
    let options = mmtree::Options::default().observe_io(events.clone());
    let db = Db::open_with(dir.path().join("new.mmt"), options).unwrap();
    let seen = events.0.lock().unwrap().clone();
    let last = |what: &str| seen.iter().rposition(|e| e == what);
    let dir_sync = last("sync dir").expect("the directory was never synced");
    assert!(last("sync Data").unwrap() < dir_sync, "{seen:?}");
    assert!(last("sync Log").unwrap() < dir_sync, "{seen:?}");
    let before = events.0.lock().unwrap().len();
    db.backup(dir.path().join("copy.mmt")).unwrap();
    let after = events.0.lock().unwrap()[before..].to_vec();
    assert!(after.iter().any(|e| e == "sync dir"), "{after:?}");
}

/// A branch whose two slots name the same leaf (a crafted file): the first write copies the
/// leaf and frees its page; a second write through the other slot must not free it again
/// (that put the page on the freelist twice, to be handed out twice; debug builds stopped on an
/// assertion).
#[test]
fn a_page_reached_twice_is_not_freed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("twice.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..200u32 {
            t.insert(format!("key-{i:04}").as_bytes(), [1; 40]).unwrap();
        }
        drop(t);
        w.table("u").unwrap().insert(b"marker", b"v").unwrap();
        w.commit().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    // u's root leaf becomes a branch whose slots 0 and 1 ("m") both name one of t's leaves.
    let root = leaves_with(&bytes, b"marker")[0];
    let shared = leaves_with(&bytes, b"key-0")[0] as u64;
    craft_shared_branch(&mut bytes[root * PAGE..(root + 1) * PAGE], shared);
    std::fs::write(&path, &bytes).unwrap();
    // Writes go to the tree at once (see above).
    let db = Db::open_with(&path, mmtree::Options::default().log_bytes(32)).unwrap();
    let mut w = db.begin_write().unwrap();
    let mut u = w.table("u").unwrap();
    let first = u.insert(b"a", b"left");
    let second = u.insert(b"z", b"right");
    assert!(
        first.is_ok() && matches!(second, Err(Error::Corrupted { .. })),
        "{first:?} {second:?}"
    );
}

/// A leaf whose heads were crafted (all 0xffffffff, valid checksum) misdirects a seek to its
/// first slot: a range must not hand out keys before its start (the allocator resumes its
/// freelist scan by seeking past the last record it read, and looped, allocating without
/// bound).
#[test]
fn a_misdirected_seek_is_an_error_not_keys_before_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("heads.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for key in [&b"marker-b"[..], b"marker-c", b"marker-d"] {
            t.insert(key, b"v").unwrap();
        }
        drop(t);
        w.commit().unwrap();
    }
    let mut bytes = std::fs::read(&path).unwrap();
    let leaf = leaves_with(&bytes, b"marker-c")[0];
    let page = &mut bytes[leaf * PAGE..(leaf + 1) * PAGE];
    let count = u16::from_le_bytes([page[6], page[7]]) as usize;
    let prefix = u16::from_le_bytes([page[24], page[25]]) as usize;
    let slots = 32 + prefix.next_multiple_of(8);
    for slot in 0..count {
        page[slots + slot * 8..slots + slot * 8 + 4].fill(0xff);
    }
    reseal(page);
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    let t = r.table("t").unwrap().unwrap();
    let got: Vec<_> = t.range(&b"marker-c"[..]..).unwrap().collect();
    assert!(
        got.iter().all(|item| match item {
            Ok((key, _)) => *key >= &b"marker-c"[..],
            Err(Error::Corrupted { .. }) => true,
            Err(_) => false,
        }) && got.iter().any(Result::is_err),
        "{got:?}"
    );
    assert!(!db.check().unwrap().is_ok(), "check names the wrong heads");
}
