//! Bad input: a real database file with random bit flips, truncations, foreign bytes or a newer
//! format version. Open, get, range, check and a write must each return correct data or an
//! error — never panic. Every case runs in-process under `catch_unwind`; a panic fails the test.
//!
//! `MMTREE_CORRUPT_CASES=5000 cargo test -p mmtree --test corrupt` runs more cases (default 300).

mod common;
use common::Rng;
use mmtree::{Db, Error};
use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

type Model = BTreeMap<String, BTreeMap<Vec<u8>, Vec<u8>>>;

/// Builds the pristine file (closed, so its redo log is empty and every commit is in the data
/// file). The last commit only touches the `marker` table and comes after a checkpoint, so
/// falling back to the previous meta page (that checkpoint) changes nothing else.
fn build(path: &Path) -> Model {
    let db = Db::open(path).unwrap();
    let mut model = Model::new();
    for round in 0..4u32 {
        let mut w = db.begin_write().unwrap();
        for table in ["alpha", "beta", "gamma"] {
            let mut t = w.table(table).unwrap();
            let m = model.entry(table.to_string()).or_default();
            for i in 0..400u32 {
                let key = format!("{table}-{:05}", (i * 37 + round * 11) % 1500).into_bytes();
                let len = if i % 97 == 0 { 6000 } else { (i % 60) as usize };
                let value: Vec<u8> = (0..len).map(|j| (j as u32 ^ i ^ round) as u8).collect();
                if i % 5 == 4 {
                    t.remove(&key).unwrap();
                    m.remove(&key);
                } else {
                    t.insert(&key, &value).unwrap();
                    m.insert(key, value);
                }
            }
        }
        w.commit().unwrap();
    }
    db.checkpoint().unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("marker").unwrap().insert(b"done", b"yes").unwrap();
    w.commit().unwrap();
    assert!(db.check().unwrap().is_ok());
    model
}

/// Everything a user might do with the damaged file. Returns Err on the first typed error (fine);
/// asserts that whatever data comes back is correct.
fn exercise(path: &Path, model: &Model) -> Result<(), Error> {
    let db = Db::open(path)?;
    {
        let r = db.begin_read()?;
        let names = r.list_tables()?;
        for name in &names {
            assert!(
                name == "marker" || model.contains_key(name),
                "unknown table {name:?}"
            );
        }
        for (name, entries) in model {
            let Some(t) = r.table(name)? else { continue };
            for (i, (key, value)) in entries.iter().enumerate() {
                if i % 7 == 0 {
                    if let Some(got) = t.get(key)? {
                        assert_eq!(got, &value[..], "wrong value for {key:?}");
                    }
                }
            }
            let mut expected = entries.iter();
            for item in t.range(..)? {
                let (k, v) = item?;
                // Items may only be missing if an error follows; those present must be right.
                let (ek, ev) = expected
                    .find(|(ek, _)| ek.as_slice() == k)
                    .expect("unexpected key");
                assert_eq!((k, v), (&ek[..], &ev[..]));
            }
            for item in t.range(..)?.rev().take(50) {
                item?;
            }
            t.first()?;
            t.last()?;
        }
    }
    let _ = db.check()?;
    let mut w = db.begin_write()?;
    w.table("alpha")?.insert(b"new-key", [7u8; 3000])?;
    w.table("beta")?.remove(b"beta-00011")?;
    w.delete_table("gamma")?;
    w.commit()?;
    let _ = db.check()?;
    Ok(())
}

/// What a caught panic said.
fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[derive(Default)]
struct Tally {
    clean: u64,
    errors: u64,
}

fn run_case(
    tally: &mut Tally,
    name: &str,
    dir: &Path,
    pristine: &[u8],
    model: &Model,
    damage: impl FnOnce(&mut Vec<u8>),
) -> Option<String> {
    let path = dir.join(format!("{name}.mmt"));
    let mut bytes = pristine.to_vec();
    damage(&mut bytes);
    std::fs::write(&path, &bytes).unwrap();
    let outcome = catch_unwind(AssertUnwindSafe(|| exercise(&path, model)));
    let _ = std::fs::remove_file(&path);
    match outcome {
        Ok(Ok(())) => {
            tally.clean += 1;
            None
        }
        Ok(Err(_)) => {
            tally.errors += 1;
            None
        }
        Err(panic) => {
            let message = panic_message(panic.as_ref());
            Some(format!("{name}: {message}"))
        }
    }
}

#[test]
fn bit_flips_and_truncations_never_panic() {
    let cases: u64 = std::env::var("MMTREE_CORRUPT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let seed = std::env::var("MMTREE_CORRUPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed);
    eprintln!("corrupt test: {cases} cases, MMTREE_CORRUPT_SEED={seed}");
    let mut rng = Rng(seed);
    let dir = tempfile::tempdir().unwrap();
    let pristine_path = dir.path().join("pristine.mmt");
    let model = build(&pristine_path);
    let pristine = std::fs::read(&pristine_path).unwrap();
    // The file's used part: trailing growth slack is zeros nobody reads.
    let used = pristine.iter().rposition(|&b| b != 0).unwrap_or(0) as u64 + 1;
    // The pristine file itself must pass.
    assert!(exercise(&pristine_path, &model).is_ok());

    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {})); // panics are collected and reported below
    let mut failures = Vec::new();
    let mut tally = Tally::default();
    for case in 0..cases {
        let kind = rng.next() % 10;
        let a = rng.next();
        let b = rng.next();
        let failure = if kind < 7 {
            // 1..8 bit flips; a third of the cases aim at the meta pages.
            let flips = 1 + a % 8;
            let mut positions = Vec::new();
            let mut r = Rng(b | 1);
            for _ in 0..flips {
                let at = if r.next().is_multiple_of(3) {
                    r.next() % 8192
                } else {
                    r.next() % used
                };
                positions.push((at as usize, 1u8 << (r.next() % 8)));
            }
            run_case(
                &mut tally,
                &format!("flip{case}"),
                dir.path(),
                &pristine,
                &model,
                |bytes| {
                    for (at, bit) in positions {
                        bytes[at] ^= bit;
                    }
                },
            )
        } else if kind < 9 {
            let len = (a % (used + 1)) as usize;
            run_case(
                &mut tally,
                &format!("truncate{case}-{len}"),
                dir.path(),
                &pristine,
                &model,
                |bytes| bytes.truncate(len),
            )
        } else {
            // A whole page overwritten with garbage.
            let page = (a % used.div_ceil(4096)) as usize;
            let mut r = Rng(b | 1);
            run_case(
                &mut tally,
                &format!("garbage-page{case}-{page}"),
                dir.path(),
                &pristine,
                &model,
                |bytes| {
                    for byte in &mut bytes[page * 4096..(page + 1) * 4096] {
                        *byte = r.next() as u8;
                    }
                },
            )
        };
        failures.extend(failure);
    }
    std::panic::set_hook(hook);
    eprintln!(
        "corrupt test: {} cases read back correct data, {} gave a typed error",
        tally.clean, tally.errors
    );
    assert!(
        cases < 50 || tally.errors > 0,
        "no damage was ever detected: the test is not reaching the data"
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} cases panicked (seed {seed}):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn foreign_truncated_and_newer_files_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();

    let foreign = dir.path().join("foreign.mmt");
    std::fs::write(
        &foreign,
        b"SQLite format 3\0 and then some more bytes than a header".repeat(200),
    )
    .unwrap();
    let error = Db::open(&foreign)
        .err()
        .expect("a foreign file must be refused");
    assert!(matches!(error, Error::NotADatabase { .. }), "{error:?}");
    assert_eq!(
        std::fs::read(&foreign).unwrap().len(),
        11_000,
        "a refused file is left alone"
    );

    let path = dir.path().join("real.mmt");
    build(&path);
    let pristine = std::fs::read(&path).unwrap();

    let short = dir.path().join("short.mmt");
    std::fs::write(&short, &pristine[..4096 + 100]).unwrap();
    let error = Db::open(&short)
        .err()
        .expect("a truncated file must be refused");
    assert!(
        matches!(error, Error::Truncated { .. } | Error::Corrupted { .. }),
        "{error:?}"
    );

    // A newer format version in both meta pages (with valid checksums).
    let newer = dir.path().join("newer.mmt");
    let mut bytes = pristine.clone();
    for meta in [0usize, 4096] {
        bytes[meta + 8..meta + 12].copy_from_slice(&(mmtree::FORMAT_VERSION + 1).to_le_bytes());
        let sum = crc32c::crc32c(&bytes[meta..meta + 64]);
        bytes[meta + 64..meta + 68].copy_from_slice(&sum.to_le_bytes());
    }
    std::fs::write(&newer, &bytes).unwrap();
    let error = Db::open(&newer)
        .err()
        .expect("a newer file must be refused");
    assert!(
        matches!(error, Error::UnsupportedVersion { found, .. } if found == mmtree::FORMAT_VERSION + 1),
        "{error:?}"
    );
    assert!(error.to_string().contains("version"), "{error}");

    // One meta page torn: the other one wins. A clean close merged the last commit (the
    // marker, which sat in the write buffer) into a checkpoint, then marked that checkpoint
    // closed cleanly in the other slot: both meta pages name the same commit, so whichever
    // survives holds the marker. The unmarked one says its log may hold commits: without the
    // log it is refused (issue 28, item 3), and accepting the loss opens that same state.
    let torn = dir.path().join("torn.mmt");
    let mut log = torn.clone().into_os_string();
    log.push("-log");
    let mut outcomes = Vec::new();
    for slot in [0usize, 4096] {
        let mut bytes = pristine.clone();
        bytes[slot + 30] ^= 0x40;
        std::fs::write(&torn, &bytes).unwrap();
        let _ = std::fs::remove_file(&log);
        let db = match Db::open(&torn) {
            Ok(db) => {
                outcomes.push("clean");
                db
            }
            Err(error) => {
                assert!(matches!(error, Error::LogMissing { .. }), "{error:?}");
                assert!(error.to_string().contains("mmtree backup"), "{error}");
                outcomes.push("log missing");
                let db =
                    Db::open_with(&torn, mmtree::Options::default().set_aside_log(true)).unwrap();
                assert!(db.set_aside().unwrap().reason.contains("missing"));
                db
            }
        };
        let r = db.begin_read().unwrap();
        let marker = r.table("marker").unwrap().expect("the merged marker");
        assert_eq!(marker.get(b"done").unwrap(), Some(&b"yes"[..]));
        assert_eq!(
            r.list_tables().unwrap(),
            vec!["alpha", "beta", "gamma", "marker"]
        );
        drop(r);
        assert!(db.check().unwrap().is_ok());
        drop(db);
        // With its log beside it: the same.
        std::fs::write(&torn, &bytes).unwrap();
        std::fs::copy(format!("{}-log", path.display()), &log).unwrap();
        let db = Db::open(&torn).unwrap();
        let r = db.begin_read().unwrap();
        let marker = r.table("marker").unwrap().expect("merged or replayed");
        assert_eq!(marker.get(b"done").unwrap(), Some(&b"yes"[..]));
        drop(r);
        assert!(db.check().unwrap().is_ok());
        drop(db);
    }
    outcomes.sort();
    assert_eq!(outcomes, vec!["clean", "log missing"]);

    // Both meta pages damaged: a clear error.
    let both = dir.path().join("both.mmt");
    let mut bytes = pristine.clone();
    bytes[30] ^= 1;
    bytes[4096 + 30] ^= 1;
    std::fs::write(&both, &bytes).unwrap();
    let error = Db::open(&both)
        .err()
        .expect("two damaged meta pages must be refused");
    assert!(matches!(error, Error::Corrupted { .. }), "{error:?}");
}

/// Recomputes a tree page's checksum after a deliberate edit (a crafted, "valid-looking" page).
fn reseal(page: &mut [u8]) {
    let sum = crc32c::crc32c(&page[4..]);
    page[..4].copy_from_slice(&sum.to_le_bytes());
}

#[test]
fn crafted_pages_with_valid_checksums_give_errors_not_panics_or_huge_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crafted.mmt");
    {
        let db = Db::open(&path).unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("t")
            .unwrap()
            .insert(b"big", vec![7u8; 20_000])
            .unwrap();
        w.table("t").unwrap().insert(b"small", b"v").unwrap();
        w.commit().unwrap();
    }
    // Find the leaf holding "big" and make its overflow reference claim 2^60 bytes.
    let mut bytes = std::fs::read(&path).unwrap();
    let page_size = 4096;
    let leaf = (2..bytes.len() / page_size)
        .find(|&p| {
            let page = &bytes[p * page_size..(p + 1) * page_size];
            page[4] == 2 && page.windows(3).any(|w| w == b"big")
        })
        .expect("the leaf");
    let page = &mut bytes[leaf * page_size..(leaf + 1) * page_size];
    let at = page.windows(3).position(|w| w == b"big").unwrap() + 3; // the 16-byte reference
    page[at + 8..at + 16].copy_from_slice(&(1u64 << 60).to_le_bytes());
    reseal(page);
    std::fs::write(&path, &bytes).unwrap();
    let db = Db::open(&path).unwrap();
    let r = db.begin_read().unwrap();
    assert!(r.table("t").unwrap().unwrap().get(b"big").is_err());
    drop(r);
    let mut w = db.begin_write().unwrap();
    let removed = w.table("t").unwrap().remove(b"big");
    assert!(
        matches!(removed, Err(Error::Corrupted { .. })),
        "{removed:?}"
    );
    assert!(!db.check().unwrap().is_ok());
}

#[test]
fn a_publish_cut_half_way_in_the_lock_file_does_not_freeze_other_processes() {
    use std::os::unix::fs::FileExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("seq.mmt");
    let db = Db::open(&path).unwrap();
    let mut w = db.begin_write().unwrap();
    w.table("t").unwrap().insert(b"k", b"1").unwrap();
    w.commit().unwrap();
    // As if a writer died half-way through publishing: the copy it was writing (the one not
    // current) has an odd seq and half-written words. (Layout: `lock.rs`; current copy at 24,
    // copies of 8 + 12 * 8 = 104 bytes from 32.)
    let lock = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.path().join("seq.mmt-lock"))
        .unwrap();
    let mut word = [0u8; 8];
    lock.read_exact_at(&mut word, 24).unwrap();
    let spare = 32 + (1 - (u64::from_le_bytes(word) & 1)) * 104;
    lock.write_all_at(&9u64.to_le_bytes(), spare).unwrap();
    lock.write_all_at(&[0xAB; 40], spare + 8).unwrap();
    let r = db.begin_read().unwrap(); // reads the whole copy; never spins on the dead one
    assert_eq!(
        r.table("t").unwrap().unwrap().get(b"k").unwrap(),
        Some(&b"1"[..])
    );
    drop(r);
    let mut w = db.begin_write().unwrap(); // the next writer repairs the lock file
    w.table("t").unwrap().insert(b"k", b"2").unwrap();
    w.commit().unwrap();
    assert_eq!(
        db.begin_read()
            .unwrap()
            .table("t")
            .unwrap()
            .unwrap()
            .get(b"k")
            .unwrap(),
        Some(&b"2"[..])
    );
}

#[test]
fn a_creation_cut_short_is_created_again_but_a_short_real_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let torn = dir.path().join("torn.mmt");
    let mut bytes = b"\x89MMTREE\n".to_vec();
    bytes.resize(3000, 0xAB); // our signature, then garbage: the meta page never landed
    std::fs::write(&torn, &bytes).unwrap();
    let db = Db::open(&torn).unwrap();
    assert_eq!(
        db.begin_read().unwrap().list_tables().unwrap(),
        Vec::<String>::new()
    );
    drop(db);
    // A real database cut to two pages still has a valid meta page: refused, never overwritten.
    let real = dir.path().join("real.mmt");
    {
        let db = Db::open(&real).unwrap();
        let mut w = db.begin_write().unwrap();
        for i in 0..500u32 {
            w.table("t")
                .unwrap()
                .insert(i.to_be_bytes(), [1; 100])
                .unwrap();
        }
        w.commit().unwrap();
    }
    let file = std::fs::OpenOptions::new().write(true).open(&real).unwrap();
    file.set_len(8192).unwrap();
    assert!(matches!(Db::open(&real), Err(Error::Truncated { .. })));
    assert_eq!(std::fs::metadata(&real).unwrap().len(), 8192);
}

/// What a user might do with a file whose pages were crafted (valid checksums, hostile
/// contents): no data is promised, only typed errors or results, never a panic.
fn exercise_untrusted(path: &Path) -> Result<(), Error> {
    let db = Db::open(path)?;
    {
        let r = db.begin_read()?;
        for name in r.list_tables()? {
            let Some(t) = r.table(&name)? else { continue };
            for i in 0..300u32 {
                let key = format!("{name}-{:05}", i * 5);
                let _ = t.get(key.as_bytes())?;
            }
            for item in t.range(..)?.take(5000) {
                item?;
            }
            for item in t.range(&b"beta-007"[..]..)?.rev().take(200) {
                item?;
            }
        }
    }
    let _ = db.check()?;
    let mut w = db.begin_write()?;
    for i in 0..200u32 {
        let key = format!("alpha-{:05}", i * 7);
        if i % 3 == 0 {
            w.table("alpha")?.remove(key.as_bytes())?;
        } else {
            w.table("alpha")?.insert(key.as_bytes(), [i as u8; 90])?;
        }
    }
    w.table("beta")?
        .insert(b"\xff\xff-after-every-prefix", b"v")?;
    w.table("beta")?.insert(b"", b"before every prefix")?;
    w.delete_table("gamma")?;
    w.commit()?;
    let _ = db.check()?;
    Ok(())
}

/// Format 3's tree pages crafted with valid checksums: bytes of the tree header, the slots
/// (heads, offsets, key lengths), the prefix and the cell headers changed, then resealed. The
/// editing code must refuse such a page before it edits it (`PageView::validate`), and reads
/// must stay inside the page.
#[test]
fn crafted_format3_tree_pages_give_errors_not_panics() {
    let cases: u64 = std::env::var("MMTREE_CORRUPT_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let seed = std::env::var("MMTREE_CORRUPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0003);
    let mut rng = Rng(seed | 1);
    let dir = tempfile::tempdir().unwrap();
    let pristine_path = dir.path().join("pristine.mmt");
    build(&pristine_path);
    let pristine = std::fs::read(&pristine_path).unwrap();
    let tree_pages: Vec<usize> = (2..pristine.len() / 4096)
        .filter(|&p| matches!(pristine[p * 4096 + 4], 1 | 2) && pristine[p * 4096 + 8] != 0)
        .collect();
    assert!(tree_pages.len() > 10, "{} tree pages", tree_pages.len());
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let (mut failures, mut errors, mut clean) = (Vec::new(), 0u64, 0u64);
    for case in 0..cases {
        let page = tree_pages[(rng.next() % tree_pages.len() as u64) as usize];
        let mut bytes = pristine.clone();
        let p = &mut bytes[page * 4096..(page + 1) * 4096];
        let count = u16::from_le_bytes([p[6], p[7]]) as u64;
        let prefix = u16::from_le_bytes([p[24], p[25]]) as u64;
        let slots_end = 32 + prefix.next_multiple_of(8) + count * 8;
        for _ in 0..1 + rng.next() % 3 {
            let at = match rng.next() % 4 {
                0 => 24 + rng.next() % 8, // prefix length, cells from, garbage
                1 | 2 => 32 + rng.next() % (slots_end - 32).max(1), // prefix and slots
                _ => {
                    // a cell's first bytes (value word or child id, then the key)
                    let slot = 32 + prefix.next_multiple_of(8) + (rng.next() % count.max(1)) * 8;
                    let cell = u16::from_le_bytes([p[slot as usize + 4], p[slot as usize + 5]]);
                    (u64::from(cell) + rng.next() % 12).min(4095)
                }
            } as usize;
            p[at] ^= (1 + rng.next() % 255) as u8;
        }
        reseal(p);
        let path = dir.path().join(format!("crafted{case}.mmt"));
        std::fs::write(&path, &bytes).unwrap();
        if std::env::var("MMTREE_CORRUPT_TRACE").is_ok() {
            eprintln!("case {case}: page {page}");
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| exercise_untrusted(&path)));
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(dir.path().join(format!("crafted{case}.mmt-log")));
        let _ = std::fs::remove_file(dir.path().join(format!("crafted{case}.mmt-lock")));
        match outcome {
            Ok(Ok(())) => clean += 1,
            Ok(Err(_)) => errors += 1,
            Err(panic) => {
                let message = panic_message(panic.as_ref());
                failures.push(format!("case {case} (page {page}): {message}"));
            }
        }
    }
    std::panic::set_hook(hook);
    eprintln!("crafted format-3 pages: {cases} cases, {errors} typed errors, {clean} ran through");
    assert!(
        failures.is_empty(),
        "{} panics:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(errors > 0, "no crafted page was noticed");
}
