//! SUBSCRIBE, PSUBSCRIBE, UNSUBSCRIBE, PUNSUBSCRIBE, PUBLISH, the PUBSUB subcommands on a
//! connection (the registry and the mail are `crate::pubsub`).

use super::*;

impl Conn {
    /// SUBSCRIBE / PSUBSCRIBE: a message published once a subscription is registered goes to
    /// this connection's mail, which is sent after the confirmation (see `pubsub`).
    pub(super) fn subscribe(&mut self, pattern: bool, names: &[Vec<u8>]) {
        {
            let mut subs = self.server.subs.lock().expect("subs");
            for name in names {
                let list = if pattern {
                    &mut self.patterns
                } else {
                    &mut self.channels
                };
                if !list.contains(name) {
                    list.push(name.clone());
                    subs.add(pattern, name, self.id);
                }
                let count = self.channels.len() + self.patterns.len();
                self.out.push(3);
                self.out
                    .bulk(if pattern { b"psubscribe" } else { b"subscribe" });
                self.out.bulk(name);
                self.out.int(count as i64);
            }
        }
        let mut state = self.handle.state.lock().expect("client state");
        state.sub = self.channels.len();
        state.psub = self.patterns.len();
    }
    /// UNSUBSCRIBE / PUNSUBSCRIBE: the names given, or all (one reply each; one with a null
    /// name if there were none).
    pub(super) fn unsubscribe(&mut self, pattern: bool, names: &[Vec<u8>]) {
        let kind: &[u8] = if pattern {
            b"punsubscribe"
        } else {
            b"unsubscribe"
        };
        let names: Vec<Vec<u8>> = if names.is_empty() {
            if pattern {
                self.patterns.clone()
            } else {
                self.channels.clone()
            }
        } else {
            names.to_vec()
        };
        if names.is_empty() {
            self.out.push(3);
            self.out.bulk(kind);
            self.out.null();
            self.out
                .int((self.channels.len() + self.patterns.len()) as i64);
            return;
        }
        let mut subs = self.server.subs.lock().expect("subs");
        for name in names {
            let list = if pattern {
                &mut self.patterns
            } else {
                &mut self.channels
            };
            if let Some(at) = list.iter().position(|n| *n == name) {
                list.remove(at);
                subs.remove(pattern, &name, self.id);
            }
            self.out.push(3);
            self.out.bulk(kind);
            self.out.bulk(&name);
            self.out
                .int((self.channels.len() + self.patterns.len()) as i64);
        }
        drop(subs);
        let mut state = self.handle.state.lock().expect("client state");
        state.sub = self.channels.len();
        state.psub = self.patterns.len();
    }
    /// PUBLISH: the message goes to every subscriber's mail now (its own replies first when
    /// this connection subscribes, as Redis); replies how many received it.
    pub(super) fn publish(&mut self, channel: &[u8], payload: &[u8]) {
        let subscribers = self.server.subscribers(channel);
        for (h, p) in &subscribers {
            if h.id == self.id {
                let message = encode_message(self.out.resp3, p.as_deref(), channel, payload);
                self.take_mail();
                self.out.buf.extend_from_slice(&message);
                continue;
            }
            h.publish(p.as_deref(), channel, payload);
        }
        self.out.int(subscribers.len() as i64);
    }
    /// PUBSUB CHANNELS [pattern]: the channels with a subscriber, sorted.
    pub(super) fn pubsub_channels(&mut self, args: &[Vec<u8>], a: &[Vec<u8>]) {
        if a.len() > 1 {
            // Redis 7.0's words for a count its table allows and the subcommand does not.
            self.out.error(&table::subcommand_syntax_error(args));
            return;
        }
        let subs = self.server.subs.lock().expect("subs");
        let mut names: Vec<Vec<u8>> = subs
            .channels
            .keys()
            .filter(|c| a.first().is_none_or(|p| glob(p, c)))
            .cloned()
            .collect();
        drop(subs);
        names.sort();
        self.out.array(names.len());
        for n in names {
            self.out.bulk(&n);
        }
    }
    /// PUBSUB NUMSUB [channel ...]: each channel and its number of subscribers.
    pub(super) fn pubsub_numsub(&mut self, a: &[Vec<u8>]) {
        let subs = self.server.subs.lock().expect("subs");
        let counts: Vec<usize> = a
            .iter()
            .map(|c| subs.channels.get(c).map_or(0, |s| s.len()))
            .collect();
        drop(subs);
        self.out.array(a.len() * 2);
        for (c, n) in a.iter().zip(counts) {
            self.out.bulk(c);
            self.out.int(n as i64);
        }
    }
    /// PUBSUB NUMPAT: the number of pattern subscriptions.
    pub(super) fn pubsub_numpat(&mut self) {
        let n = self.server.subs.lock().expect("subs").patterns.len();
        self.out.int(n as i64);
    }
}
