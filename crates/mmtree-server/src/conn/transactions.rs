//! MULTI, EXEC, DISCARD, WATCH, UNWATCH: the transaction state of a connection (EXEC and WATCH
//! are jobs for the writer; see `store::Watches`).

use super::*;

impl Conn {
    /// Gives up a WATCH the writer registered but whose answer this connection will not take:
    /// it closes (`closing`: later WATCH jobs of it register nothing, and the writer releases
    /// what is in flight), or the commit failed (the keys in flight are unwatched). Only the
    /// claim's own lock is taken here; the watches are the writer's (`Job::Release`).
    pub(super) fn drop_watch_in_flight(&mut self, closing: bool) {
        let claim = &self.handle.watch;
        if closing {
            claim.gone.store(true, Ordering::Relaxed);
            self.send_unanswered(Job::Release {
                claim: claim.clone(),
            });
            return;
        }
        let in_flight = claim.in_flight.lock().expect("watch in flight").take();
        if let Some((db, keys)) = in_flight {
            let keys = keys.into_iter().map(|k| (db, k)).collect();
            self.send_unanswered(Job::Unwatch { keys });
        }
    }

    /// Drops every WATCH of this connection (the writer unregisters them).
    pub(super) fn unwatch(&mut self) {
        if self.watched.is_empty() {
            return;
        }
        let keys = self.watched.drain(..).map(|k| (k.db, k.key)).collect();
        self.send_unanswered(Job::Unwatch { keys });
    }

    /// MULTI, EXEC, DISCARD, WATCH and UNWATCH (outside MULTI), as Redis 7.
    pub(super) fn transaction(&mut self, cmd: &Command, args: &[Vec<u8>]) {
        let name = cmd.name;
        if !cmd.arity_ok(args.len()) {
            if self.multi.is_some() {
                self.multi_failed = true;
            }
            self.wrong_args(name);
            return;
        }
        let Handler::Session(session) = cmd.handler else {
            return;
        };
        match session {
            Session::Multi if self.multi.is_some() => {
                self.out.error("ERR MULTI calls can not be nested")
            }
            Session::Multi => {
                self.multi = Some(Vec::new());
                self.multi_failed = false;
                self.out.simple("OK");
            }
            Session::Discard if self.multi.is_none() => self.out.error("ERR DISCARD without MULTI"),
            Session::Discard => {
                self.multi = None;
                self.multi_failed = false;
                self.unwatch();
                self.out.simple("OK");
            }
            Session::Watch if self.multi.is_some() => {
                self.out.error("ERR WATCH inside MULTI is not allowed")
            }
            Session::Watch => {
                let db = self.db;
                let mut keys: Vec<Vec<u8>> = Vec::new();
                for key in &args[1..] {
                    let known = keys.contains(key)
                        || self.watched.iter().any(|w| w.db == db && &w.key == key);
                    if !known {
                        keys.push(key.clone());
                    }
                }
                if keys.is_empty() {
                    self.out.simple("OK");
                    return;
                }
                self.submit(
                    Job::Watch {
                        db,
                        keys: keys.clone(),
                        owner: self.handle.watch.clone(),
                    },
                    Wait::Watch { db, keys },
                );
            }
            Session::Unwatch => {
                self.unwatch();
                self.out.simple("OK");
            }
            _ => self.exec(cmd, args),
        }
    }
    /// EXEC: the queued commands run in the writer as one transaction (writes, and the keyspace
    /// reads, which see the transaction's earlier writes); SELECT is resolved here, and the rest
    /// (PING, ECHO, INFO, CONFIG, CLIENT, COMMAND, RANDOMKEY, MMTREE.RANGE, …) run here after
    /// the commit, each reply in its place.
    pub(super) fn exec(&mut self, cmd: &Command, args: &[Vec<u8>]) {
        let Some(queue) = self.multi.take() else {
            self.out.error("ERR EXEC without MULTI");
            return;
        };
        // MONITOR sees the queued commands as they run, then EXEC (only EXEC for a transaction
        // discarded).
        if !self.multi_failed {
            let mut db = self.db;
            for op in &queue {
                self.feed(db, op.cmd, &op.args);
                if op.cmd.session() == Some(Session::Select) {
                    db = store::parse_i64(&op.args[1]).map_or(db, |d| d as u32);
                }
            }
        }
        self.feed(self.db, cmd, args);
        if std::mem::take(&mut self.multi_failed) {
            self.unwatch();
            self.out
                .error("EXECABORT Transaction discarded because of previous errors.");
            return;
        }
        let mut db = self.db;
        let mut ops = Vec::new();
        let mut slots = Vec::with_capacity(queue.len());
        for &Op { cmd, ref args } in &queue {
            if cmd.session() == Some(Session::Select) {
                slots.push(Slot::Done(
                    match std::str::from_utf8(&args[1])
                        .ok()
                        .and_then(|d| d.parse::<u32>().ok())
                    {
                        Some(d) if d < DATABASES => {
                            db = d;
                            Reply::Ok
                        }
                        Some(_) => Reply::Error("ERR DB index is out of range".into()),
                        None => Reply::Error("ERR value is not an integer or out of range".into()),
                    },
                ));
            } else if matches!(
                cmd.handler,
                Handler::Write(_) | Handler::Read(_) | Handler::Block(_)
            ) {
                ops.push((
                    db,
                    Op {
                        cmd,
                        args: args.clone(),
                    },
                ));
                slots.push(Slot::Writer);
            } else {
                slots.push(Slot::Local(db, cmd));
            }
        }
        let watched = self.watched.clone();
        let snapshot = slots.iter().any(|s| matches!(s, Slot::Local(..)));
        self.submit(
            Job::Exec {
                watched,
                ops,
                snapshot,
                client: self.id,
                track: self.tracks_reads(),
            },
            Wait::Exec {
                queue,
                slots,
                db_after: db,
            },
        );
    }
    /// EXEC's replies, once the writer has run the queue (or found a watched key changed).
    pub(super) fn exec_done(
        &mut self,
        queue: Vec<Op>,
        slots: Vec<Slot>,
        db_after: u32,
        outcome: Outcome,
    ) {
        // The writer released the watches the EXEC job carried.
        self.watched.clear();
        let replies = match outcome {
            Outcome::Replies(replies) => replies,
            Outcome::Exec(replies, snapshot) => {
                // The queued commands run here read the state the transaction left.
                self.exec_snapshot = Some(snapshot);
                replies
            }
            Outcome::Aborted => {
                self.out.null_array();
                return;
            }
            Outcome::Failed(e) => {
                self.out.error(&e);
                return;
            }
            Outcome::Watched(_) | Outcome::Blocked | Outcome::Unblocked(..) => {
                self.out.error("ERR unexpected writer answer");
                return;
            }
        };
        let mut replies = replies.into_iter();
        self.out.array(queue.len());
        for (slot, Op { args, .. }) in slots.into_iter().zip(&queue) {
            match slot {
                Slot::Writer => {
                    let reply = replies.next().unwrap_or(Reply::Null);
                    self.out.reply(&reply);
                }
                Slot::Done(reply) => self.out.reply(&reply),
                Slot::Local(at, cmd) => {
                    self.db = at;
                    if cmd.session() == Some(Session::Unwatch) {
                        self.out.simple("OK");
                    } else {
                        self.in_exec = true;
                        let _ = self.run(cmd, args);
                        self.in_exec = false;
                    }
                }
            }
        }
        self.db = db_after;
        self.exec_snapshot = None;
        self.snap = None;
    }
}
