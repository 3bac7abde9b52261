//! Writes small real database files as seeds for the `open_file` corpus, and their pages as
//! seeds for `tree_page` and `meta_page`: `make_seeds fuzz/corpus` (scripts/fuzz.sh runs it
//! once, from the fuzz build: `target/x86_64-unknown-linux-gnu/release/make_seeds`).
use std::path::Path;

fn make(dir: &Path, name: &str, page_size: usize, fill: impl FnOnce(&mmtree::Db)) {
    let scratch = tempfile_dir();
    let path = scratch.join(name);
    let used = {
        let db =
            mmtree::Db::open_with(&path, mmtree::Options::default().page_size(page_size)).unwrap();
        fill(&db);
        db.trim().unwrap();
        let stats = db.stats();
        stats.page_count * stats.page_size as u64
    };
    // The engine grows the file ahead of use; the seed is only the pages the meta page counts.
    std::fs::copy(&path, dir.join(name)).unwrap();
    let seed = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(name))
        .unwrap();
    seed.set_len(used).unwrap();
    let _ = std::fs::remove_dir_all(&scratch);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "mmtree-seeds-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn main() {
    let corpus = std::path::PathBuf::from(std::env::args().nth(1).expect("corpus directory"));
    let out = corpus.join("open_file");
    std::fs::create_dir_all(&out).unwrap();
    make(&out, "empty", 4096, |_| {});
    make(&out, "tables", 4096, |db| {
        let mut w = db.begin_write().unwrap();
        for t in ["a", "b", "users"] {
            let mut table = w.table(t).unwrap();
            for i in 0..20u32 {
                table
                    .insert(format!("key{i:03}").as_bytes(), format!("v{i}").as_bytes())
                    .unwrap();
            }
        }
        w.commit().unwrap();
        let mut w = db.begin_write().unwrap();
        w.table("a").unwrap().remove(b"key005").unwrap();
        w.commit().unwrap();
    });
    make(&out, "overflow", 4096, |db| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("big").unwrap();
        t.insert(b"small", b"x").unwrap();
        t.insert(b"large", &vec![0xabu8; 10_000]).unwrap();
        drop(t);
        w.commit().unwrap();
    });
    make(&out, "two_levels", 4096, |db| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..300u32 {
            t.insert(format!("k{i:05}").as_bytes(), &[b'v'; 20])
                .unwrap();
        }
        drop(t);
        w.commit().unwrap();
    });
    make(&out, "page8k", 8192, |db| {
        let mut w = db.begin_write().unwrap();
        let mut t = w.table("t").unwrap();
        for i in 0..50u32 {
            t.insert(format!("k{i}").as_bytes(), b"value").unwrap();
        }
        t.insert(b"over", &vec![7u8; 20_000]).unwrap();
        drop(t);
        w.commit().unwrap();
    });
    // Their pages: meta pages (0 and 1) for meta_page, branch and leaf pages of the 4 KiB
    // files for tree_page (which decodes 4 KiB pages).
    let (metas, trees) = (corpus.join("meta_page"), corpus.join("tree_page"));
    std::fs::create_dir_all(&metas).unwrap();
    std::fs::create_dir_all(&trees).unwrap();
    for entry in std::fs::read_dir(&out).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if !["empty", "tables", "overflow", "two_levels", "page8k"].contains(&name.as_str()) {
            continue;
        }
        let bytes = std::fs::read(entry.path()).unwrap();
        println!("{} {}", entry.path().display(), bytes.len());
        let page_size = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
        for (i, page) in bytes.chunks_exact(page_size).enumerate() {
            if i < 2 {
                std::fs::write(metas.join(format!("seed-{name}-{i}")), page).unwrap();
            } else if page_size == 4096 && (page[4] == 1 || page[4] == 2) {
                std::fs::write(trees.join(format!("seed-{name}-{i}")), page).unwrap();
            }
        }
    }
}
