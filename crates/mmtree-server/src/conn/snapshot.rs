//! The snapshot a connection's reads share, and running a keyspace read on it.

use super::*;
use crate::keyspace::{Keyspace, Ks, Rows, Snapshot};

self_cell::self_cell!(
    /// A snapshot and one database's tables in it, kept while a connection runs the commands
    /// it has read: every one of them was received before the snapshot was taken, so each sees
    /// every write answered before it arrived (the connection's own writes included: the
    /// snapshot is dropped when a job goes to the writer, and when `process` returns).
    pub(super) struct Snap {
        owner: Arc<mmtree::ReadTransaction>,
        #[covariant]
        dependent: View,
    }
);

impl Conn {
    /// Runs a keyspace read on this connection's snapshot and puts its reply in place (an
    /// engine error is an error reply and a log line).
    pub(super) fn keyspace_read(
        &mut self,
        read: impl FnOnce(&mut Ks<'_>) -> mmtree::Result<Reply>,
    ) {
        let now = self.now_ms;
        self.with_table(|conn, t| {
            let mut rows = Snapshot(t);
            let mut ks = Keyspace::new(&mut rows as &mut dyn Rows, now);
            match read(&mut ks) {
                Ok(reply) => conn.out.reply(&reply),
                Err(e) => {
                    eprintln!("mmtree serve: a read failed: {e}");
                    conn.out.error(&format!("ERR {e}"));
                }
            }
            // Expired keys the read met: while a client tracks keys, the writer removes them
            // now (Redis' lazy expiry) and tracking tells who cached them, after this reply.
            // (Else the sweep removes them in its time: nobody needs to hear of it sooner.)
            if !ks.expired.is_empty() && conn.server.tracking_clients.load(Ordering::Acquire) > 0 {
                conn.send_unanswered(Job::Expire {
                    db: conn.db,
                    keys: std::mem::take(&mut ks.expired),
                    client: conn.id,
                });
            }
        });
    }

    /// Runs `f` with this connection's database (its data, expiry, type and hash tables) in a
    /// snapshot taken after the commands being run were received: the one kept since the last
    /// read of this `process` call, or a fresh one (see `Snap`).
    pub(super) fn with_table(&mut self, f: impl FnOnce(&mut Conn, &View<'_>)) {
        let db = self.db;
        let snap = match self.snap.take() {
            Some((at, snap)) if at == db => snap,
            _ => {
                let snapshot = match &self.exec_snapshot {
                    Some(s) => Ok(s.clone()),
                    None => self.server.db.begin_read().map(Arc::new),
                };
                let opened = snapshot.and_then(|snapshot| {
                    Snap::try_new(snapshot, |snapshot| {
                        Ok::<_, mmtree::Error>(View {
                            data: snapshot.table(table_name(db))?,
                            expires: snapshot.table(expires_name(db))?,
                            types: snapshot.table(store::types_name(db))?,
                            hashes: snapshot.table(store::hash_name(db))?,
                        })
                    })
                });
                match opened {
                    Ok(snap) => snap,
                    Err(e) => {
                        self.out.error(&format!("ERR {e}"));
                        return;
                    }
                }
            }
        };
        f(self, snap.borrow_dependent());
        if self.waiting.is_none() {
            self.snap = Some((db, snap));
        }
    }
}
