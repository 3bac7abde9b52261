//! The write buffer's memory per process (issue 24): what indexing buffered commits costs a
//! process that opens the database afterwards, in anonymous memory (the mapping's file pages are
//! not counted), per entry, with 16-byte keys and 100-byte values. The indexing runs in a child
//! process, so its heap holds nothing freed earlier that the buffer could reuse.

use mmtree::{Db, Durability, Options};
use std::process::Command;

const CHILD_ENV: &str = "MMTREE_BUFFER_MEMORY_CHILD";
const ENTRIES: u64 = 100_000;

fn rss_anon_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("RssAnon:"))
        .expect("RssAnon in /proc/self/status");
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

#[test]
#[ignore = "run by the buffer-memory test as a child process"]
fn buffer_memory_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = Db::open_with(&path, Options::default().read_only(true)).unwrap();
    let buffered = db.stats().txn_id - db.stats().checkpoint_txn;
    let before = rss_anon_bytes();
    let r = db.begin_read().unwrap();
    assert_eq!(
        r.table("t").unwrap().unwrap().len().unwrap(),
        1_000_000 + ENTRIES
    );
    let grown = rss_anon_bytes().saturating_sub(before);
    println!("buffered-commits {buffered}");
    println!("grown-bytes {grown}");
}

#[test]
fn a_process_indexes_the_buffer_within_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mem.mmt");
    let copy = dir.path().join("copy.mmt");
    {
        let db = Db::open_with(
            &path,
            Options::default()
                .durability(Durability::Eventual)
                .merge_after_idle(None), // the buffer stays full
        )
        .unwrap();
        // A tree large enough that the merge budget (half its pages) holds every commit below.
        let mut w = db.begin_write().unwrap();
        let mut load = w.bulk_load("t").unwrap();
        for i in 0..1_000_000u64 {
            load.append(&[&[0u8][..], &i.to_be_bytes()].concat(), &[1u8; 40])
                .unwrap();
        }
        load.finish().unwrap();
        w.commit().unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..ENTRIES / 1000 {
            let mut w = db.begin_write().unwrap();
            let mut t = w.table("t").unwrap();
            for _ in 0..1000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                t.insert(
                    [&[1u8][..], &x.to_be_bytes(), &[2u8; 7]].concat(),
                    [7u8; 100],
                )
                .unwrap();
            }
            drop(t);
            w.commit().unwrap();
        }
        assert_eq!(
            db.stats().txn_id - db.stats().checkpoint_txn,
            ENTRIES / 1000
        );
        // The files as they are (a crash): the child's handle indexes the whole log itself.
        std::fs::copy(&path, &copy).unwrap();
        std::fs::copy(
            format!("{}-log", path.display()),
            format!("{}-log", copy.display()),
        )
        .unwrap();
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "buffer_memory_child", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &copy)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let value = |key: &str| -> u64 {
        let line = stdout.lines().find(|l| l.starts_with(key)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    assert_eq!(
        value("buffered-commits"),
        ENTRIES / 1000,
        "no merge happened"
    );
    let grown = value("grown-bytes");
    let per_entry = grown / ENTRIES;
    println!(
        "write buffer: {ENTRIES} entries of 16/100 bytes indexed by a fresh process: anonymous \
         memory +{} KiB, {per_entry} bytes per entry (key filter included)",
        grown / 1024
    );
    // Key and value bytes are 116; docs/ARCHITECTURE.md states the bound.
    assert!(per_entry < 400, "{per_entry} bytes per buffered entry");
}
