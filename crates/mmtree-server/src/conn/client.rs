//! The connection commands: AUTH (and its rate limit), HELLO, the CLIENT subcommands (the
//! simplest run in `Conn::run`).

use super::*;

impl Conn {
    pub(super) fn auth(&mut self, a: &[Vec<u8>]) -> Flow {
        let password = match a.len() {
            1 => &a[0],
            2 => &a[1],
            _ => {
                self.out.error("ERR syntax error");
                return Flow::Continue;
            }
        };
        if self.server.config.requirepass.is_none() {
            self.out.error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return Flow::Continue;
        }
        match self.check_password(password) {
            Ok(()) => {
                self.out.simple("OK");
                Flow::Continue
            }
            Err(flow) => flow,
        }
    }
    /// Authenticates, or replies with the failure. Failed attempts are rate-limited: each one
    /// waits longer (50 ms, 100 ms, ...) and the 5th closes the connection.
    pub(super) fn check_password(&mut self, password: &[u8]) -> Result<(), Flow> {
        if self
            .server
            .config
            .requirepass
            .as_deref()
            .is_some_and(|p| p.as_bytes() == password)
        {
            self.authed = true;
            return Ok(());
        }
        self.auth_failures += 1;
        self.server
            .stats
            .auth_failures
            .fetch_add(1, Ordering::Relaxed);
        // Nothing more is run or sent on this connection for a while (the event loop serves
        // the others meanwhile).
        self.paused_until =
            Some(self.now + Duration::from_millis(50 * u64::from(self.auth_failures)));
        self.out
            .error("WRONGPASS invalid username-password pair or user is disabled.");
        if self.auth_failures >= 5 {
            self.out
                .error("ERR too many failed AUTH attempts; closing the connection");
            return Err(Flow::Close);
        }
        Err(Flow::Continue)
    }
    pub(super) fn hello(&mut self, a: &[Vec<u8>]) -> Flow {
        let mut i = 0;
        let mut resp3 = self.out.resp3;
        if let Some(version) = a.first() {
            match std::str::from_utf8(version)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
            {
                Some(2) => resp3 = false,
                Some(3) => resp3 = true,
                _ => {
                    self.out.error("NOPROTO unsupported protocol version");
                    return Flow::Continue;
                }
            }
            i = 1;
        }
        while i < a.len() {
            match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                "AUTH" if i + 2 < a.len() => {
                    // Without a password configured, the default user accepts any (as Redis').
                    if self.server.config.requirepass.is_some() {
                        if let Err(flow) = self.check_password(&a[i + 2]) {
                            return flow;
                        }
                    }
                    i += 3;
                }
                "SETNAME" if i + 1 < a.len() => {
                    self.name = Some(a[i + 1].clone());
                    self.handle.state.lock().expect("client state").name = a[i + 1].clone();
                    i += 2;
                }
                _ => {
                    self.out.error("ERR syntax error in HELLO");
                    return Flow::Continue;
                }
            }
        }
        if !self.authed {
            self.out.error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return Flow::Continue;
        }
        self.out.resp3 = resp3;
        // Seen at once by those who write to this connection (PUBLISH, tracking invalidations):
        // the next command would set it too late for a client that only listens now.
        self.handle.state.lock().expect("client state").resp3 = resp3;
        self.out.map(7);
        self.out.bulk(b"server");
        self.out.bulk(b"mmtree");
        self.out.bulk(b"version");
        self.out.bulk(crate::server::REDIS_VERSION.as_bytes());
        self.out.bulk(b"proto");
        self.out.int(if self.out.resp3 { 3 } else { 2 });
        self.out.bulk(b"id");
        self.out.int(self.id as i64);
        self.out.bulk(b"mode");
        self.out.bulk(b"standalone");
        self.out.bulk(b"role");
        self.out.bulk(b"master");
        self.out.bulk(b"modules");
        self.out.array(0);
        Flow::Continue
    }
    /// CLIENT REPLY ON|OFF|SKIP (answered only when ON: the others silence this reply too).
    pub(super) fn client_reply(&mut self, mode: &[u8]) {
        match String::from_utf8_lossy(mode).to_ascii_uppercase().as_str() {
            "ON" => {
                self.replies_off = false;
                self.skip_next = false;
                self.out.simple("OK");
            }
            "OFF" => self.replies_off = true,
            "SKIP" => self.skip_next = !self.replies_off,
            _ => self.out.error("ERR syntax error"),
        }
    }
    /// CLIENT SETNAME name (an empty name clears it).
    pub(super) fn client_setname(&mut self, name: &[u8]) {
        if name.iter().any(|&b| b <= b' ' || b > b'~') {
            self.out
                .error("ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }
        self.name = (!name.is_empty()).then(|| name.to_vec());
        self.handle.state.lock().expect("client state").name = name.to_vec();
        self.out.simple("OK");
    }
    /// The TYPE option of CLIENT LIST and CLIENT KILL, lower-cased; `None`: not a client type
    /// (the error is the reply).
    fn client_type(&mut self, given: &[u8]) -> Option<String> {
        let t = String::from_utf8_lossy(given).to_ascii_lowercase();
        if !matches!(
            t.as_str(),
            "normal" | "master" | "replica" | "slave" | "pubsub"
        ) {
            self.out.error(&format!("ERR Unknown client type '{t}'"));
            return None;
        }
        Some(t)
    }

    /// CLIENT LIST [TYPE type] [ID id ...].
    pub(super) fn client_list(&mut self, a: &[Vec<u8>]) {
        let (mut ids, mut kind) = (None::<Vec<u64>>, None::<String>);
        let mut i = 0;
        while i < a.len() {
            match String::from_utf8_lossy(&a[i]).to_ascii_uppercase().as_str() {
                "TYPE" if i + 1 < a.len() => {
                    let Some(t) = self.client_type(&a[i + 1]) else {
                        return;
                    };
                    kind = Some(t);
                    i += 2;
                }
                "ID" if i + 1 < a.len() => {
                    let mut list = Vec::new();
                    for id in &a[i + 1..] {
                        match std::str::from_utf8(id)
                            .ok()
                            .and_then(|n| n.parse::<u64>().ok())
                        {
                            Some(n) if n > 0 => list.push(n),
                            _ => {
                                self.out.error("ERR Invalid client ID");
                                return;
                            }
                        }
                    }
                    ids = Some(list);
                    i = a.len();
                }
                _ => {
                    self.out.error("ERR syntax error");
                    return;
                }
            }
        }
        let handles: Vec<Arc<Handle>> = self
            .server
            .registry
            .lock()
            .expect("registry")
            .values()
            .cloned()
            .collect();
        let mut text = String::new();
        for h in handles {
            if ids.as_ref().is_some_and(|ids| !ids.contains(&h.id)) {
                continue;
            }
            match kind.as_deref() {
                Some("normal") if h.is_pubsub() => continue,
                Some("pubsub") if !h.is_pubsub() => continue,
                Some("master" | "replica" | "slave") => continue,
                _ => {}
            }
            text.push_str(&h.line());
        }
        self.out.verbatim(text.as_bytes());
    }
    /// CLIENT UNBLOCK id [TIMEOUT|ERROR]: 1 if that client is blocked (the writer then answers
    /// it with nil, or with the UNBLOCKED error), else 0. The flag is the writer's, read here;
    /// a client the writer serves at the same moment gets its element, not the nil.
    pub(super) fn client_unblock(&mut self, a: &[Vec<u8>]) {
        let error = match a.get(1) {
            None => false,
            Some(r) if r.eq_ignore_ascii_case(b"TIMEOUT") => false,
            Some(r) if r.eq_ignore_ascii_case(b"ERROR") => true,
            Some(_) => {
                self.out
                    .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
                return;
            }
        };
        let Some(id) = std::str::from_utf8(&a[0])
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
        else {
            self.out
                .error("ERR value is not an integer or out of range");
            return;
        };
        let target = u64::try_from(id).ok().and_then(|id| {
            self.server
                .registry
                .lock()
                .expect("registry")
                .get(&id)
                .cloned()
        });
        match target {
            Some(h) if h.block.blocked.load(Ordering::Acquire) => {
                self.send_unanswered(Job::Unblock {
                    id: h.id,
                    error,
                    gone: false,
                });
                self.out.int(1);
            }
            _ => self.out.int(0),
        }
    }

    /// CLIENT KILL addr (the old form: OK or an error) or CLIENT KILL filter value ... (the new
    /// form: how many were closed; SKIPME yes by default).
    pub(super) fn client_kill(&mut self, a: &[Vec<u8>]) {
        let handles: Vec<Arc<Handle>> = self
            .server
            .registry
            .lock()
            .expect("registry")
            .values()
            .cloned()
            .collect();
        if a.len() == 1 {
            match handles
                .iter()
                .find(|h| h.addr.as_bytes() == a[0].as_slice())
            {
                Some(h) => {
                    self.out.simple("OK");
                    if h.id == self.id {
                        self.quit = true;
                    } else {
                        h.kill();
                    }
                }
                None => self.out.error("ERR No such client"),
            }
            return;
        }
        if !a.len().is_multiple_of(2) {
            self.out.error("ERR syntax error");
            return;
        }
        let (mut id, mut addr, mut laddr, mut kind, mut user, mut skipme) = (
            None::<u64>,
            None::<Vec<u8>>,
            None::<Vec<u8>>,
            None::<String>,
            None::<Vec<u8>>,
            true,
        );
        for pair in a.chunks(2) {
            let v = &pair[1];
            match String::from_utf8_lossy(&pair[0])
                .to_ascii_uppercase()
                .as_str()
            {
                "ID" => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|n| n.parse::<u64>().ok())
                {
                    Some(n) if n > 0 => id = Some(n),
                    _ => {
                        self.out.error("ERR client-id should be greater than 0");
                        return;
                    }
                },
                "ADDR" => addr = Some(v.clone()),
                "LADDR" => laddr = Some(v.clone()),
                // Only the default user exists (no ACL users).
                "USER" if v.as_slice() != b"default" => {
                    self.out.error(&format!(
                        "ERR No such user '{}'",
                        String::from_utf8_lossy(v)
                    ));
                    return;
                }
                "USER" => user = Some(v.clone()),
                "TYPE" => {
                    let Some(t) = self.client_type(v) else {
                        return;
                    };
                    kind = Some(t);
                }
                "SKIPME" => match String::from_utf8_lossy(v).to_ascii_lowercase().as_str() {
                    "yes" => skipme = true,
                    "no" => skipme = false,
                    _ => {
                        self.out.error("ERR syntax error");
                        return;
                    }
                },
                _ => {
                    self.out.error("ERR syntax error");
                    return;
                }
            }
        }
        let mut killed = 0;
        for h in handles {
            let matches = id.is_none_or(|id| id == h.id)
                && addr
                    .as_ref()
                    .is_none_or(|x| x.as_slice() == h.addr.as_bytes())
                && laddr
                    .as_ref()
                    .is_none_or(|x| x.as_slice() == h.laddr.as_bytes())
                && user.as_ref().is_none_or(|u| u.as_slice() == b"default")
                && match kind.as_deref() {
                    Some("normal") => !h.is_pubsub(),
                    Some("pubsub") => h.is_pubsub(),
                    Some(_) => false,
                    None => true,
                };
            if !matches || (skipme && h.id == self.id) {
                continue;
            }
            killed += 1;
            if h.id == self.id {
                self.quit = true;
            } else {
                h.kill();
            }
        }
        self.out.int(killed);
    }
}
