//! When the group-commit writer sweeps expired keys, and how many at a time (the sweep itself is
//! `store::sweep`, which takes keys from the expiry queue in time order).
//!
//! Without a backlog the writer sweeps every `INTERVAL`, at most `LIMIT_MIN` keys. A sweep that
//! removed as many keys as it was allowed leaves a backlog (more keys may be due): the next one
//! runs at once, in the writer's next round (the writes waiting then share its commit), with
//! twice the allowance up to `LIMIT_MAX`; the first sweep that removes fewer ends the backlog.
//! So 200,000 keys that expire together go within a few rounds instead of 20 intervals (5 s),
//! as Redis' active expiry repeats its cycle while many sampled keys are stale; and `LIMIT_MAX`
//! bounds how long one commit holds the writes of its round back.

use std::time::{Duration, Instant};

/// The pause between sweeps without a backlog.
pub const INTERVAL: Duration = Duration::from_millis(250);
/// Keys one sweep removes at most without a backlog.
pub const LIMIT_MIN: usize = 10_000;
/// Keys one sweep removes at most during a backlog.
pub const LIMIT_MAX: usize = 160_000;

/// The writer's sweep schedule.
#[derive(Debug)]
pub struct Sweeper {
    last: Instant,
    limit: usize,
    backlog: bool,
}

impl Sweeper {
    pub fn new(now: Instant) -> Sweeper {
        Sweeper {
            last: now,
            limit: LIMIT_MIN,
            backlog: false,
        }
    }

    /// True if a sweep is to run in this round.
    pub fn due(&self, now: Instant) -> bool {
        self.backlog || now.saturating_duration_since(self.last) >= INTERVAL
    }

    /// Keys the next sweep may remove.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How long the writer may wait for jobs before its next round: not at all during a
    /// backlog.
    pub fn wait(&self, idle: Duration) -> Duration {
        if self.backlog {
            Duration::ZERO
        } else {
            idle
        }
    }

    /// A sweep ran at `now` and removed `removed` keys.
    pub fn swept(&mut self, removed: usize, now: Instant) {
        self.last = now;
        self.backlog = removed >= self.limit;
        self.limit = if self.backlog {
            (self.limit * 2).min(LIMIT_MAX)
        } else {
            LIMIT_MIN
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: a backlog is swept round after round without the interval, in growing steps, and
    /// the schedule falls back to the interval once it is gone. Method: the schedule driven with
    /// a fixed clock.
    #[test]
    fn a_backlog_is_swept_at_once_in_growing_steps() {
        let start = Instant::now();
        let mut s = Sweeper::new(start);
        assert!(!s.due(start), "nothing before the first interval");
        assert!(s.due(start + INTERVAL));
        assert_eq!(
            s.wait(Duration::from_millis(100)),
            Duration::from_millis(100)
        );
        // 200,000 keys due at once: each sweep removes all it may.
        let mut left = 200_000;
        let mut sweeps = 0;
        let now = start + INTERVAL;
        while left > 0 {
            assert!(s.due(now), "a backlog is swept in the next round");
            let removed = s.limit().min(left);
            left -= removed;
            s.swept(removed, now);
            sweeps += 1;
            if left > 0 {
                assert_eq!(s.wait(Duration::from_millis(100)), Duration::ZERO);
            }
        }
        // 10k, 20k, 40k, 80k, 50k of 160k: five rounds, none waiting for the interval.
        assert_eq!(sweeps, 5);
        assert!(!s.due(now), "the backlog is over");
        assert_eq!(s.limit(), LIMIT_MIN);
        assert!(s.due(now + INTERVAL));
    }
}
