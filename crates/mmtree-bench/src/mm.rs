//! The mmtree side.

use crate::{key, value, Store, VALUE_CHECK_BYTE as VALUE_CHECK};
use anyhow::Result;
use mmtree::Db;
use std::path::{Path, PathBuf};

pub struct MmStore {
    path: PathBuf,
    db: Option<Db>,
    /// Held by `hold_background`: the writer role, so the background merge waits.
    held: Option<mmtree::WriteTransaction>,
}

pub const TABLE: &str = "bench";

pub fn open(path: &Path) -> Result<Db> {
    let mut options = mmtree::Options::default();
    // For experiments only: MMTREE_BENCH_NO_VERIFY=1 skips checksum verification on reads.
    options.verify_checksums = std::env::var_os("MMTREE_BENCH_NO_VERIFY").is_none();
    // For experiments only: MMTREE_BENCH_READ_AHEAD=1 keeps the kernel's read-around on.
    options.read_ahead = std::env::var_os("MMTREE_BENCH_READ_AHEAD").is_some();
    Ok(Db::open_with(path, options)?)
}

impl MmStore {
    pub fn create(path: &Path) -> Result<MmStore> {
        Ok(MmStore {
            path: path.to_path_buf(),
            db: Some(open(path)?),
            held: None,
        })
    }

    fn db(&self) -> &Db {
        self.db.as_ref().expect("open")
    }
}

impl Store for MmStore {
    fn name(&self) -> &'static str {
        "mmtree"
    }

    fn bulk_load(&mut self, records: u64) -> Result<()> {
        let mut w = self.db().begin_write()?;
        let mut loader = w.bulk_load(TABLE)?;
        for i in 0..records {
            loader.append(&key(i * 2), &value(i * 2))?;
        }
        loader.finish()?;
        w.commit()?;
        Ok(())
    }

    fn insert_batch(&mut self, ids: &[u64]) -> Result<()> {
        let mut w = self.db().begin_write()?;
        {
            let mut t = w.table(TABLE)?;
            for &id in ids {
                t.insert(key(id), value(id))?;
            }
        }
        w.commit()?;
        Ok(())
    }

    fn delete_batch(&mut self, ids: &[u64]) -> Result<()> {
        let mut w = self.db().begin_write()?;
        {
            let mut t = w.table(TABLE)?;
            for &id in ids {
                t.remove(key(id))?;
            }
        }
        w.commit()?;
        Ok(())
    }

    fn gets(&mut self, ids: &mut dyn Iterator<Item = u64>) -> Result<u64> {
        let r = self.db().begin_read()?;
        let t = r.table(TABLE)?.expect("table");
        let mut found = 0;
        for id in ids {
            if let Some(v) = t.get(key(id))? {
                found += u64::from(v[VALUE_CHECK] == value(id)[VALUE_CHECK]);
            }
        }
        Ok(found)
    }

    fn gets_threads(&mut self, ids: &[u64], threads: usize) -> Result<u64> {
        let db = self.db().clone();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let db = db.clone();
                    scope.spawn(move || -> Result<u64> {
                        let r = db.begin_read()?;
                        let table = r.table(TABLE)?.expect("table");
                        let mut found = 0;
                        for &id in ids.iter().skip(t).step_by(threads) {
                            if let Some(v) = table.get(key(id))? {
                                found += u64::from(v[VALUE_CHECK] == value(id)[VALUE_CHECK]);
                            }
                        }
                        Ok(found)
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().expect("worker")).sum()
        })
    }

    fn scan(&mut self) -> Result<(u64, u64)> {
        let r = self.db().begin_read()?;
        let t = r.table(TABLE)?.expect("table");
        let (mut count, mut bytes) = (0, 0);
        for item in t.range(..)? {
            let (k, v) = item?;
            count += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((count, bytes))
    }

    fn seek_next(&mut self, ids: &mut dyn Iterator<Item = u64>, n: usize) -> Result<u64> {
        let r = self.db().begin_read()?;
        let t = r.table(TABLE)?.expect("table");
        let mut read = 0;
        for id in ids {
            let start = key(id);
            for item in t.range(&start[..]..)?.take(n) {
                let (_, v) = item?;
                read += u64::from(v.len() == crate::value_size());
            }
        }
        Ok(read)
    }

    fn hold_background(&mut self) -> Result<()> {
        self.held = Some(self.db().begin_write()?);
        Ok(())
    }

    /// Lets the background merge run (it merges once the writer has been idle for
    /// `Options::merge_after_idle`) and waits until the buffer is empty and the merge thread
    /// has finished its work (given its page buffers back).
    fn settle(&mut self) -> Result<()> {
        drop(self.held.take()); // aborts: nothing was written
        let started = std::time::Instant::now();
        while self.db().stats().log_bytes > 0 {
            anyhow::ensure!(
                started.elapsed() < std::time::Duration::from_secs(300),
                "the background merge did not run"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        Ok(())
    }

    fn reopen(&mut self) -> Result<()> {
        self.held = None;
        self.db = None;
        self.db = Some(open(&self.path)?);
        let r = self.db().begin_read()?;
        anyhow::ensure!(r.table(TABLE)?.expect("table").get(key(0))?.is_some());
        Ok(())
    }

    /// The data file and its redo log.
    fn file_bytes(&self) -> Result<u64> {
        let mut log = self.path.clone().into_os_string();
        log.push("-log");
        let log_len = std::fs::metadata(&log).map_or(0, |m| m.len());
        Ok(std::fs::metadata(&self.path)?.len() + log_len)
    }
}
