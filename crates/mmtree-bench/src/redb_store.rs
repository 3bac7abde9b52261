//! The redb side (redb 4): one table, durable commits (redb's default durability).

use crate::{key, value, Store, VALUE_CHECK_BYTE as VALUE_CHECK};
use anyhow::Result;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::path::{Path, PathBuf};

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("bench");

/// Opens or creates the database; the cache is redb's default unless the harness caps memory
/// (W7 sets `MMTREE_BENCH_CACHE_BYTES`).
fn open(path: &Path) -> Result<Database> {
    let mut builder = Database::builder();
    if let Some(bytes) = crate::cache_bytes() {
        builder.set_cache_size(bytes);
    }
    Ok(builder.create(path)?)
}

pub struct RedbStore {
    path: PathBuf,
    db: Option<Database>,
}

impl RedbStore {
    pub fn create(path: &Path) -> Result<RedbStore> {
        Ok(RedbStore {
            path: path.to_path_buf(),
            db: Some(open(path)?),
        })
    }

    fn db(&self) -> &Database {
        self.db.as_ref().expect("open")
    }
}

impl Store for RedbStore {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn bulk_load(&mut self, records: u64) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for i in 0..records {
                table.insert(&key(i * 2)[..], &value(i * 2)[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn insert_batch(&mut self, ids: &[u64]) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for &id in ids {
                table.insert(&key(id)[..], &value(id)[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn delete_batch(&mut self, ids: &[u64]) -> Result<()> {
        let txn = self.db().begin_write()?;
        {
            let mut table = txn.open_table(TABLE)?;
            for &id in ids {
                table.remove(&key(id)[..])?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    fn gets(&mut self, ids: &mut dyn Iterator<Item = u64>) -> Result<u64> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TABLE)?;
        let mut found = 0;
        for id in ids {
            if let Some(v) = table.get(&key(id)[..])? {
                found += u64::from(v.value()[VALUE_CHECK] == value(id)[VALUE_CHECK]);
            }
        }
        Ok(found)
    }

    fn gets_threads(&mut self, ids: &[u64], threads: usize) -> Result<u64> {
        let db = self.db();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    scope.spawn(move || -> Result<u64> {
                        let txn = db.begin_read()?;
                        let table = txn.open_table(TABLE)?;
                        let mut found = 0;
                        for &id in ids.iter().skip(t).step_by(threads) {
                            if let Some(v) = table.get(&key(id)[..])? {
                                found +=
                                    u64::from(v.value()[VALUE_CHECK] == value(id)[VALUE_CHECK]);
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
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TABLE)?;
        let (mut count, mut bytes) = (0, 0);
        for item in table.iter()? {
            let (k, v) = item?;
            count += 1;
            bytes += (k.value().len() + v.value().len()) as u64;
        }
        debug_assert_eq!(count, table.len()?);
        Ok((count, bytes))
    }

    fn seek_next(&mut self, ids: &mut dyn Iterator<Item = u64>, n: usize) -> Result<u64> {
        let txn = self.db().begin_read()?;
        let table = txn.open_table(TABLE)?;
        let mut read = 0;
        for id in ids {
            let start = key(id);
            for item in table.range(&start[..]..)?.take(n) {
                let (_, v) = item?;
                read += u64::from(v.value().len() == crate::value_size());
            }
        }
        Ok(read)
    }

    fn reopen(&mut self) -> Result<()> {
        self.db = None;
        self.db = Some(open(&self.path)?);
        let txn = self.db().begin_read()?;
        anyhow::ensure!(txn.open_table(TABLE)?.get(&key(0)[..])?.is_some());
        Ok(())
    }

    fn file_bytes(&self) -> Result<u64> {
        Ok(std::fs::metadata(&self.path)?.len())
    }
}
