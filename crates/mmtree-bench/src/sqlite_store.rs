//! The SQLite side (rusqlite, bundled SQLite): a WITHOUT ROWID table, WAL mode with
//! `synchronous=FULL` (every commit durable), `mmap_size` set so reads go through a mapping.

use crate::{key, value, Store, VALUE_CHECK_BYTE as VALUE_CHECK};
use anyhow::Result;
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};

pub struct SqliteStore {
    path: PathBuf,
    conn: Option<Connection>,
}

fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)?;
    // Several processes share the file in readwhilewriting: wait for locks, never fail at once.
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // A 64 MiB page cache, or less when the harness caps memory (W7).
    let cache_kib = crate::cache_bytes().map_or(65536, |bytes| (bytes >> 10).max(1024));
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA mmap_size=68719476736;
         PRAGMA cache_size=-{cache_kib};
         CREATE TABLE IF NOT EXISTS kv (k BLOB PRIMARY KEY, v BLOB NOT NULL) WITHOUT ROWID;"
    ))?;
    Ok(conn)
}

impl SqliteStore {
    pub fn create(path: &Path) -> Result<SqliteStore> {
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Some(open(path)?),
        })
    }

    fn conn(&mut self) -> &mut Connection {
        self.conn.as_mut().expect("open")
    }

    fn insert_all(&mut self, ids: impl Iterator<Item = u64>) -> Result<()> {
        let tx = self.conn().transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT OR REPLACE INTO kv (k, v) VALUES (?1, ?2)")?;
            for id in ids {
                insert.execute(params![&key(id)[..], &value(id)[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    fn bulk_load(&mut self, records: u64) -> Result<()> {
        self.insert_all((0..records).map(|i| i * 2))
    }

    fn insert_batch(&mut self, ids: &[u64]) -> Result<()> {
        self.insert_all(ids.iter().copied())
    }

    fn delete_batch(&mut self, ids: &[u64]) -> Result<()> {
        let tx = self.conn().transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM kv WHERE k = ?1")?;
            for &id in ids {
                delete.execute(params![&key(id)[..]])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn gets(&mut self, ids: &mut dyn Iterator<Item = u64>) -> Result<u64> {
        let conn = self.conn();
        let mut select = conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
        let mut found = 0;
        for id in ids {
            let mut rows = select.query(params![&key(id)[..]])?;
            if let Some(row) = rows.next()? {
                let v = row.get_ref(0)?.as_blob()?;
                found += u64::from(v[VALUE_CHECK] == value(id)[VALUE_CHECK]);
            }
        }
        Ok(found)
    }

    fn gets_threads(&mut self, ids: &[u64], threads: usize) -> Result<u64> {
        let path = self.path.clone();
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|t| {
                    let path = path.clone();
                    scope.spawn(move || -> Result<u64> {
                        // A connection per thread, as SQLite wants.
                        let conn = open(&path)?;
                        let mut select = conn.prepare_cached("SELECT v FROM kv WHERE k = ?1")?;
                        let mut found = 0;
                        for &id in ids.iter().skip(t).step_by(threads) {
                            let mut rows = select.query(params![&key(id)[..]])?;
                            if let Some(row) = rows.next()? {
                                let v = row.get_ref(0)?.as_blob()?;
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
        let conn = self.conn();
        let mut select = conn.prepare_cached("SELECT k, v FROM kv ORDER BY k")?;
        let mut rows = select.query([])?;
        let (mut count, mut bytes) = (0, 0);
        while let Some(row) = rows.next()? {
            count += 1;
            bytes += (row.get_ref(0)?.as_blob()?.len() + row.get_ref(1)?.as_blob()?.len()) as u64;
        }
        Ok((count, bytes))
    }

    fn seek_next(&mut self, ids: &mut dyn Iterator<Item = u64>, n: usize) -> Result<u64> {
        let conn = self.conn();
        let mut select =
            conn.prepare_cached("SELECT v FROM kv WHERE k >= ?1 ORDER BY k LIMIT ?2")?;
        let mut read = 0;
        for id in ids {
            let mut rows = select.query(params![&key(id)[..], n as i64])?;
            while let Some(row) = rows.next()? {
                read += u64::from(row.get_ref(0)?.as_blob()?.len() == crate::value_size());
            }
        }
        Ok(read)
    }

    fn reopen(&mut self) -> Result<()> {
        self.conn = None;
        self.conn = Some(open(&self.path)?);
        let conn = self.conn();
        let found: Option<Vec<u8>> = conn
            .query_row(
                "SELECT v FROM kv WHERE k = ?1",
                params![&key(0)[..]],
                |row| row.get(0),
            )
            .ok();
        anyhow::ensure!(found.is_some());
        Ok(())
    }

    fn file_bytes(&self) -> Result<u64> {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_len = std::fs::metadata(&wal).map_or(0, |m| m.len());
        Ok(std::fs::metadata(&self.path)?.len() + wal_len)
    }
}
