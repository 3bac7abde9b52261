//! A leaky bucket (GCRA form): requests drain at `rate` per second, with room for `burst` at
//! once. Over the limit, a request is rejected at once instead of queueing without bound.

use std::time::Instant;

pub struct LeakyBucket {
    /// Seconds per request.
    interval: f64,
    /// How far ahead of now the bucket may fill, in seconds.
    tolerance: f64,
    /// Theoretical arrival time of the next request (seconds since `origin`).
    tat: f64,
    origin: Instant,
    pub admitted: u64,
    pub rejected: u64,
}

impl LeakyBucket {
    pub fn new(rate: f64, burst: u32) -> LeakyBucket {
        let interval = 1.0 / rate.max(1e-9);
        LeakyBucket {
            interval,
            tolerance: interval * f64::from(burst.max(1)),
            tat: 0.0,
            origin: Instant::now(),
            admitted: 0,
            rejected: 0,
        }
    }

    /// Admits a request arriving `now` seconds after the bucket was made (injectable clock).
    pub fn admit_at(&mut self, now: f64) -> bool {
        let tat = self.tat.max(now);
        if tat + self.interval - now > self.tolerance + 1e-12 {
            self.rejected += 1;
            return false;
        }
        self.tat = tat + self.interval;
        self.admitted += 1;
        true
    }

    pub fn admit(&mut self) -> bool {
        let now = self.origin.elapsed().as_secs_f64();
        self.admit_at(now)
    }

    /// Requests currently in the bucket (0 when drained).
    pub fn level(&self) -> f64 {
        let now = self.origin.elapsed().as_secs_f64();
        ((self.tat - now) / self.interval).max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::LeakyBucket;

    #[test]
    fn admits_a_burst_then_the_rate_then_again_after_draining() {
        let mut bucket = LeakyBucket::new(10.0, 5);
        let admitted = (0..20).filter(|_| bucket.admit_at(0.0)).count();
        assert_eq!(admitted, 5, "the burst");
        assert!(!bucket.admit_at(0.05), "still full");
        assert!(bucket.admit_at(0.1), "one drained after 1/rate");
        assert!(!bucket.admit_at(0.1));
        let later = (0..20).filter(|_| bucket.admit_at(10.0)).count();
        assert_eq!(later, 5, "a full burst again once drained");
        assert_eq!(bucket.rejected, 15 + 1 + 1 + 15);
    }
}
