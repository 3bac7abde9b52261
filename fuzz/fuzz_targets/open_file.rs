//! A hostile database file: opened, checked, every table read through, a few keys looked up,
//! and a write transaction tried. Errors are fine; a panic, a hang or a huge allocation is a bug.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Per-process scratch directory on tmpfs (the engine syncs on commit and close; tmpfs makes
/// that free). The file-size limit below keeps a hostile header from growing the file in RAM.
fn scratch() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        // Any file may be at most 64 MiB: a file-length change past it fails with EFBIG
        // (SIGXFSZ ignored) instead of filling tmpfs.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let limit = libc::rlimit {
                rlim_cur: 64 << 20,
                rlim_max: 64 << 20,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &limit);
        }
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("mmtree-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    })
}

fn exercise(path: &std::path::Path) {
    let options = mmtree::Options::default().durability(mmtree::Durability::Eventual);
    let Ok(db) = mmtree::Db::open_with(path, options) else {
        return;
    };
    let _ = db.check();
    let mut some_keys: Vec<Vec<u8>> = Vec::new();
    let mut tables = Vec::new();
    if let Ok(r) = db.begin_read() {
        if let Ok(names) = r.list_tables() {
            for name in names {
                if let Ok(Some(t)) = r.table(&name) {
                    let _ = t.len();
                    let _ = t.first();
                    let _ = t.last();
                    if let Ok(range) = t.range::<std::ops::RangeFull>(..) {
                        for (i, item) in range.enumerate() {
                            match item {
                                Ok((k, v)) => {
                                    let _ = v.len();
                                    if i % 7 == 0 && some_keys.len() < 16 {
                                        some_keys.push(k.to_vec());
                                    }
                                }
                                Err(_) => break,
                            }
                        }
                    }
                    for k in &some_keys {
                        let _ = t.get(k);
                    }
                    let _ = t.get(b"");
                    let _ = t.get(b"missing-key");
                }
                tables.push(name);
            }
        }
    }
    if let Ok(mut w) = db.begin_write() {
        let mut ok = true;
        for name in tables.iter().take(4) {
            match w.table(name) {
                Ok(mut t) => {
                    ok &= t.insert(b"fuzz-key", b"fuzz-value").is_ok();
                    if let Some(k) = some_keys.first() {
                        ok &= t.remove(k).is_ok();
                    }
                    ok &= t.insert(&[b'x'; 300], &[b'y'; 5000]).is_ok();
                }
                Err(_) => ok = false,
            }
        }
        if let Ok(mut t) = w.table("fuzz-new") {
            ok &= t.insert(b"a", b"b").is_ok();
        }
        if ok {
            let _ = w.commit();
        }
    }
    let _ = db.check();
}

/// A mutated page almost never keeps a valid crc32c, so most inputs would stop at the checksum
/// check. For even-length inputs (all seeds) the checksums are recomputed first: both meta
/// pages and every branch or leaf page, so the parsing behind the checksum is reached. Odd-length
/// inputs are written as they are (the checksum-failure paths).
fn fix_checksums(data: &mut [u8]) {
    const META_CHECKSUM_AT: usize = 64;
    if data.len() < 16 || data.len() % 2 == 1 {
        return;
    }
    let page_size = u32::from_le_bytes(data[12..16].try_into().unwrap()) as usize;
    if !(4096..=32768).contains(&page_size) || !page_size.is_power_of_two() {
        return;
    }
    for meta in [0, page_size] {
        if data.len() >= meta + META_CHECKSUM_AT + 4 {
            let sum = crc32c::crc32c(&data[meta..meta + META_CHECKSUM_AT]);
            data[meta + META_CHECKSUM_AT..meta + META_CHECKSUM_AT + 4]
                .copy_from_slice(&sum.to_le_bytes());
        }
    }
    for page in data.chunks_exact_mut(page_size).skip(2) {
        if page[4] == 1 || page[4] == 2 {
            let sum = crc32c::crc32c(&page[4..]);
            page[..4].copy_from_slice(&sum.to_le_bytes());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut data = data.to_vec();
    fix_checksums(&mut data);
    let path = scratch().join("db.mmt");
    let lock = scratch().join("db.mmt-lock");
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&lock);
    std::fs::write(&path, &data).unwrap();
    exercise(&path);
    let _ = std::fs::remove_file(&path);
    let _ = std::fs::remove_file(&lock);
});
