//! The LMDB side, through `heed` (LMDB's own C code, bundled). Default environment flags: every
//! commit is synced, like mmtree's default `Durability::Immediate`.

use crate::{key, value, Store, VALUE_CHECK_BYTE as VALUE_CHECK};
use anyhow::Result;
use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, PutFlags};
use std::path::{Path, PathBuf};

pub struct LmdbStore {
    dir: PathBuf,
    env: Option<Env>,
    db: Option<Database<Bytes, Bytes>>,
}

/// LMDB needs its map size up front; 64 GiB of address space (sparse) is plenty here.
const MAP_SIZE: usize = 64 << 30;

fn open(dir: &Path) -> Result<(Env, Database<Bytes, Bytes>)> {
    std::fs::create_dir_all(dir)?;
    // SAFETY: heed's `open` is unsafe because LMDB's memory map must not be opened twice in one
    // process with conflicting flags, and the file must not be modified by other means; this
    // benchmark opens each directory once at a time and nothing else touches it.
    let env = unsafe {
        EnvOpenOptions::new()
            .map_size(MAP_SIZE)
            .max_dbs(1)
            .open(dir)?
    };
    let mut wtxn = env.write_txn()?;
    let db: Database<Bytes, Bytes> = env.create_database(&mut wtxn, None)?;
    wtxn.commit()?;
    Ok((env, db))
}

impl LmdbStore {
    pub fn create(dir: &Path) -> Result<LmdbStore> {
        let (env, db) = open(dir)?;
        Ok(LmdbStore {
            dir: dir.to_path_buf(),
            env: Some(env),
            db: Some(db),
        })
    }

    fn parts(&self) -> (&Env, Database<Bytes, Bytes>) {
        (self.env.as_ref().expect("open"), self.db.expect("open"))
    }
}

impl Store for LmdbStore {
    fn name(&self) -> &'static str {
        "lmdb"
    }

    fn bulk_load(&mut self, records: u64) -> Result<()> {
        let (env, db) = self.parts();
        let mut wtxn = env.write_txn()?;
        for i in 0..records {
            db.put_with_flags(&mut wtxn, PutFlags::APPEND, &key(i * 2), &value(i * 2))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn insert_batch(&mut self, ids: &[u64]) -> Result<()> {
        let (env, db) = self.parts();
        let mut wtxn = env.write_txn()?;
        for &id in ids {
            db.put(&mut wtxn, &key(id), &value(id))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    /// LMDB's fastest path for keys past the end: `MDB_APPEND` (no search, full pages).
    fn in_order_inserts(&mut self, ids: &[u64]) -> Result<()> {
        let (env, db) = self.parts();
        let mut wtxn = env.write_txn()?;
        for &id in ids {
            db.put_with_flags(&mut wtxn, PutFlags::APPEND, &key(id), &value(id))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn delete_batch(&mut self, ids: &[u64]) -> Result<()> {
        let (env, db) = self.parts();
        let mut wtxn = env.write_txn()?;
        for &id in ids {
            db.delete(&mut wtxn, &key(id))?;
        }
        wtxn.commit()?;
        Ok(())
    }

    fn gets(&mut self, ids: &mut dyn Iterator<Item = u64>) -> Result<u64> {
        let (env, db) = self.parts();
        let rtxn = env.read_txn()?;
        let mut found = 0;
        for id in ids {
            if let Some(v) = db.get(&rtxn, &key(id))? {
                found += u64::from(v[VALUE_CHECK] == value(id)[VALUE_CHECK]);
            }
        }
        Ok(found)
    }

    fn gets_threads(&mut self, ids: &[u64], threads: usize) -> Result<u64> {
        let (env, db) = self.parts();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || -> Result<u64> {
                        let rtxn = env.read_txn()?;
                        let mut found = 0;
                        for &id in ids.iter().skip(t).step_by(threads) {
                            if let Some(v) = db.get(&rtxn, &key(id))? {
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
        let (env, db) = self.parts();
        let rtxn = env.read_txn()?;
        let (mut count, mut bytes) = (0, 0);
        for item in db.iter(&rtxn)? {
            let (k, v) = item?;
            count += 1;
            bytes += (k.len() + v.len()) as u64;
        }
        Ok((count, bytes))
    }

    fn seek_next(&mut self, ids: &mut dyn Iterator<Item = u64>, n: usize) -> Result<u64> {
        let (env, db) = self.parts();
        let rtxn = env.read_txn()?;
        let mut read = 0;
        for id in ids {
            let start = key(id);
            let bounds = (
                std::ops::Bound::Included(&start[..]),
                std::ops::Bound::Unbounded,
            );
            for item in db.range(&rtxn, &bounds)?.take(n) {
                let (_, v) = item?;
                read += u64::from(v.len() == crate::value_size());
            }
        }
        Ok(read)
    }

    fn reopen(&mut self) -> Result<()> {
        self.db = None;
        if let Some(env) = self.env.take() {
            env.prepare_for_closing().wait();
        }
        let (env, db) = open(&self.dir)?;
        {
            let rtxn = env.read_txn()?;
            anyhow::ensure!(db.get(&rtxn, &key(0))?.is_some());
        }
        self.env = Some(env);
        self.db = Some(db);
        Ok(())
    }

    fn file_bytes(&self) -> Result<u64> {
        Ok(std::fs::metadata(self.dir.join("data.mdb"))?.len())
    }
}
