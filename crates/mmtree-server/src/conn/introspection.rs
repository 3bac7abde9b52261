//! CLIENT TRACKING, CACHING, GETREDIR and TRACKINGINFO (client-side caching: `crate::tracking`),
//! MONITOR and SLOWLOG (`crate::introspection`).

use super::*;
use crate::tracking::Mode;

impl Conn {
    /// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP], checked
    /// as Redis 7.0 checks it. ON answers after a round trip through the writer (see
    /// `crate::tracking`).
    pub(super) fn client_tracking(&mut self, a: &[Vec<u8>]) {
        let mut mode = Mode::default();
        let mut prefixes: Vec<Vec<u8>> = Vec::new();
        let mut j = 1;
        while j < a.len() {
            let more = j + 1 < a.len();
            let opt = a[j].to_ascii_uppercase();
            match opt.as_slice() {
                b"REDIRECT" if more => {
                    j += 1;
                    if mode.redirect != 0 {
                        self.out
                            .error("ERR A client can only redirect to a single other client");
                        return;
                    }
                    let Some(id) = store::parse_i64(&a[j]) else {
                        self.out
                            .error("ERR value is not an integer or out of range");
                        return;
                    };
                    let exists = id > 0
                        && self
                            .server
                            .registry
                            .lock()
                            .expect("registry")
                            .contains_key(&(id as u64));
                    if !exists {
                        self.out
                            .error("ERR The client ID you want redirect to does not exist");
                        return;
                    }
                    mode.redirect = id as u64;
                }
                b"BCAST" => mode.bcast = true,
                b"OPTIN" => mode.optin = true,
                b"OPTOUT" => mode.optout = true,
                b"NOLOOP" => mode.noloop = true,
                b"PREFIX" if more => {
                    j += 1;
                    prefixes.push(a[j].clone());
                }
                _ => {
                    self.out.error("ERR syntax error");
                    return;
                }
            }
            j += 1;
        }
        match a[0].to_ascii_uppercase().as_slice() {
            b"ON" => {}
            b"OFF" => {
                self.tracking_off();
                self.out.simple("OK");
                return;
            }
            _ => {
                self.out.error("ERR syntax error");
                return;
            }
        }
        let old = self.tracking.as_ref();
        let refused = if !mode.bcast && !prefixes.is_empty() {
            Some("ERR PREFIX option requires BCAST mode to be enabled")
        } else if old.is_some_and(|m| m.bcast != mode.bcast) {
            Some("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.")
        } else if mode.bcast && (mode.optin || mode.optout) {
            Some("ERR OPTIN and OPTOUT are not compatible with BCAST")
        } else if mode.optin && mode.optout {
            Some("ERR You can't use both OPTIN and OPTOUT")
        } else if old.is_some_and(|m| (mode.optin && m.optout) || (mode.optout && m.optin)) {
            Some("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.")
        } else {
            None
        };
        if let Some(e) = refused {
            self.out.error(e);
            return;
        }
        let enabled = {
            let mut t = self.server.tracking.lock().expect("tracking");
            if mode.bcast {
                if let Some(e) = t.prefix_collision(self.id, &prefixes) {
                    drop(t);
                    self.out.error(&e);
                    return;
                }
            }
            mode.prefixes = prefixes.into_iter().collect();
            t.enable(self.id, mode)
        };
        if self.tracking.is_none() {
            self.server.tracking_clients.fetch_add(1, Ordering::AcqRel);
        }
        let flags = &self.handle.tracking;
        flags.redirect.store(enabled.redirect, Ordering::Relaxed);
        flags.bcast.store(enabled.bcast, Ordering::Relaxed);
        flags.broken.store(false, Ordering::Relaxed);
        flags.on.store(true, Ordering::Relaxed);
        self.tracking = Some(enabled);
        if self.in_exec {
            // (EXEC's own commit was the round trip.)
            self.out.simple("OK");
        } else {
            // Answered once every group that began before tracking was on has committed.
            self.submit(
                Job::Writes {
                    db: self.db,
                    ops: Vec::new(),
                    client: self.id,
                },
                Wait::Ok,
            );
        }
    }

    /// CLIENT TRACKING OFF, and a closing connection's.
    pub(super) fn tracking_off(&mut self) {
        if self.tracking.take().is_none() {
            return;
        }
        self.server
            .tracking
            .lock()
            .expect("tracking")
            .disable(self.id);
        self.server.tracking_clients.fetch_sub(1, Ordering::AcqRel);
        self.handle.tracking.on.store(false, Ordering::Relaxed);
        self.handle.tracking.broken.store(false, Ordering::Relaxed);
        self.caching = false;
    }

    /// CLIENT CACHING YES|NO: whether the next command's reads are tracked (OPTIN, OPTOUT).
    pub(super) fn client_caching(&mut self, opt: &[u8]) {
        let Some(mode) = &self.tracking else {
            self.out.error("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled");
            return;
        };
        match opt.to_ascii_uppercase().as_slice() {
            b"YES" if mode.optin => self.caching = true,
            b"YES" => {
                self.out.error(
                    "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode.",
                );
                return;
            }
            b"NO" if mode.optout => self.caching = true,
            b"NO" => {
                self.out.error(
                    "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode.",
                );
                return;
            }
            _ => {
                self.out.error("ERR syntax error");
                return;
            }
        }
        self.out.simple("OK");
    }

    /// CLIENT GETREDIR: -1 without tracking, 0 without a redirect.
    pub(super) fn client_getredir(&mut self) {
        let redirect = self.tracking.as_ref().map_or(-1, |m| m.redirect as i64);
        self.out.int(redirect);
    }

    /// CLIENT TRACKINGINFO: flags, redirect, prefixes.
    pub(super) fn client_trackinginfo(&mut self) {
        let mut flags: Vec<&str> = Vec::new();
        match &self.tracking {
            None => flags.push("off"),
            Some(m) => {
                flags.push("on");
                if m.bcast {
                    flags.push("bcast");
                }
                if m.optin {
                    flags.push("optin");
                    if self.caching {
                        flags.push("caching-yes");
                    }
                }
                if m.optout {
                    flags.push("optout");
                    if self.caching {
                        flags.push("caching-no");
                    }
                }
                if m.noloop {
                    flags.push("noloop");
                }
                if self.handle.tracking.broken.load(Ordering::Relaxed) {
                    flags.push("broken_redirect");
                }
            }
        }
        self.out.map(3);
        self.out.bulk(b"flags");
        self.out.set(flags.len());
        for f in flags {
            self.out.bulk(f.as_bytes());
        }
        self.out.bulk(b"redirect");
        self.client_getredir();
        self.out.bulk(b"prefixes");
        let prefixes: Vec<Vec<u8>> = self
            .tracking
            .as_ref()
            .map(|m| m.prefixes.iter().cloned().collect())
            .unwrap_or_default();
        self.out.array(prefixes.len());
        for p in prefixes {
            self.out.bulk(&p);
        }
    }

    /// Registers the keys a read-only command reads, if this connection tracks them (default
    /// mode, and OPTIN/OPTOUT as CLIENT CACHING said). Returns true if it registered some: the
    /// read must then run on a snapshot taken after the registration (see `crate::tracking`).
    pub(super) fn track_read(&mut self, cmd: &Command, args: &[Vec<u8>]) -> bool {
        if !self.tracks_reads() || !cmd.has(table::READONLY) || !cmd.has_keys() {
            return false;
        }
        let evicted = self
            .server
            .tracking
            .lock()
            .expect("tracking")
            .remember(self.id, cmd.key_args(args));
        self.server.invalidate(&evicted);
        true
    }

    /// True if this connection's next reads are tracked: default mode, and OPTIN/OPTOUT as
    /// CLIENT CACHING said.
    pub(super) fn tracks_reads(&self) -> bool {
        self.tracking
            .as_ref()
            .is_some_and(|m| !m.bcast && (!m.optin || self.caching) && (!m.optout || !self.caching))
    }

    /// MONITOR: from now on this connection gets every command the others run. Refused where a
    /// reply per command is expected (inside EXEC), ignored when already monitoring (as Redis).
    pub(super) fn monitor(&mut self) {
        if self.in_exec {
            self.out
                .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
            return;
        }
        if self.handle.monitor.swap(true, Ordering::Relaxed) {
            return;
        }
        self.server
            .monitors
            .lock()
            .expect("monitors")
            .push(self.handle.clone());
        self.server.monitoring.fetch_add(1, Ordering::Relaxed);
        self.server
            .scripts
            .monitoring
            .store(true, Ordering::Relaxed);
        self.out.simple("OK");
    }

    /// A closing monitor leaves the list.
    pub(super) fn monitor_off(&mut self) {
        if !self.handle.monitor.load(Ordering::Relaxed) {
            return;
        }
        let none_left = {
            let mut monitors = self.server.monitors.lock().expect("monitors");
            monitors.retain(|h| h.id != self.id);
            monitors.is_empty()
        };
        self.server.monitoring.fetch_sub(1, Ordering::Relaxed);
        self.server
            .scripts
            .monitoring
            .store(!none_left, Ordering::Relaxed);
        if none_left {
            // A script's lines noted for nobody are not fed to a later monitor.
            self.server
                .scripts
                .monitored
                .lock()
                .expect("monitored")
                .clear();
        }
    }

    /// Shows a command to the monitors (unless it is administrative).
    pub(super) fn feed(&self, db: u32, cmd: &Command, args: &[Vec<u8>]) {
        if self.server.monitoring.load(Ordering::Relaxed) > 0 && !cmd.has(table::ADMIN) {
            self.server.feed_monitors(db, &self.handle.addr, args);
        }
    }

    /// SLOWLOG GET [count]: the newest `count` entries (10; -1: all).
    pub(super) fn slowlog_get(&mut self, a: &[Vec<u8>]) {
        let count = match a {
            [] => 10,
            [n] => match store::parse_i64(n) {
                Some(-1) => usize::MAX,
                Some(n) if n >= 0 => n as usize,
                Some(_) => {
                    self.out
                        .error("ERR count should be greater than or equal to -1");
                    return;
                }
                None => {
                    self.out
                        .error("ERR value is not an integer or out of range");
                    return;
                }
            },
            _ => {
                self.out.error(&table::wrong_args("SLOWLOG|GET"));
                return;
            }
        };
        let entries = self.server.slowlog.lock().expect("slowlog").newest(count);
        self.out.array(entries.len());
        for e in entries {
            self.out.array(6);
            self.out.int(e.id as i64);
            self.out.int(e.time as i64);
            self.out.int(e.micros as i64);
            self.out.array(e.args.len());
            for arg in &e.args {
                self.out.bulk(arg);
            }
            self.out.bulk(e.addr.as_bytes());
            self.out.bulk(&e.name);
        }
    }
}
