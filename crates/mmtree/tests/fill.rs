//! How full the pages of a tree end up, against the same entries bulk-loaded (what `compact
//! --to` writes): page counts from `check`, so the figures are exact, not timings.
//!
//! Inserting at the right edge of any page (one or several interleaved sequential streams)
//! leaves the left page full; a random insert into a full leaf shares with a sibling before it
//! splits.

use mmtree::Db;

fn value(i: u64) -> Vec<u8> {
    vec![(i % 251) as u8; 100]
}

/// Pages of table `t` in `db` ÷ pages of the same entries bulk-loaded into a fresh file.
fn fill_ratio(db: &Db, dir: &std::path::Path) -> f64 {
    let pages = |db: &Db| {
        let report = db.check().unwrap();
        assert!(report.is_ok(), "{report:?}");
        report.tables.iter().find(|t| t.name == "t").unwrap().pages
    };
    let packed = Db::open(dir.join("packed.mmt")).unwrap();
    let r = db.begin_read().unwrap();
    let mut w = packed.begin_write().unwrap();
    {
        let mut loader = w.bulk_load("t").unwrap();
        for item in r.table("t").unwrap().unwrap().range(..).unwrap() {
            let (k, v) = item.unwrap();
            loader.append(k, v).unwrap();
        }
        loader.finish().unwrap();
    }
    w.commit().unwrap();
    let ratio = pages(db) as f64 / pages(&packed) as f64;
    eprintln!(
        "fill: {} pages vs {} packed: {ratio:.2}x",
        pages(db),
        pages(&packed)
    );
    ratio
}

fn load(db: &Db, ids: impl Iterator<Item = (u64, Vec<u8>)>, per_commit: usize) {
    let mut ids = ids.peekable();
    while ids.peek().is_some() {
        let mut w = db.begin_write().unwrap();
        {
            let mut t = w.table("t").unwrap();
            for (i, key) in ids.by_ref().take(per_commit) {
                t.insert(&key, value(i)).unwrap();
            }
        }
        w.commit().unwrap();
    }
}

#[test]
fn one_sequential_stream_packs_pages_full() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("seq.mmt")).unwrap();
    load(
        &db,
        (0..20_000u64).map(|i| (i, format!("key-{i:08}").into_bytes())),
        100,
    );
    assert!(fill_ratio(&db, dir.path()) <= 1.05);
}

/// One transaction of plain inserts in key order: the append path fills every leaf and branch
/// but the last of each level, as the bulk loader does.
#[test]
fn one_transaction_of_in_order_inserts_packs_pages_full() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("append.mmt")).unwrap();
    load(
        &db,
        (0..20_000u64).map(|i| (i, format!("key-{i:08}").into_bytes())),
        20_000,
    );
    assert!(fill_ratio(&db, dir.path()) <= 1.02);
}

#[test]
fn four_interleaved_sequential_streams_pack_their_pages() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("streams.mmt")).unwrap();
    // Four writers, each appending to its own key range, one record at a time in turn.
    let keys = (0..20_000u64).map(|i| (i, format!("s{}-{:08}", i % 4, i / 4).into_bytes()));
    load(&db, keys, 1);
    assert!(fill_ratio(&db, dir.path()) <= 1.2);
}

#[test]
fn a_random_order_load_fills_pages_well() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path().join("random.mmt")).unwrap();
    let n = 30_000u64;
    // 7919 is prime and n is not a multiple of it: a permutation.
    let keys = (0..n).map(|i| {
        (
            i,
            ((i * 7919) % n)
                .wrapping_mul(0x9E37_79B9)
                .to_be_bytes()
                .to_vec(),
        )
    });
    load(&db, keys, 1000);
    assert!(fill_ratio(&db, dir.path()) <= 1.3);
}
