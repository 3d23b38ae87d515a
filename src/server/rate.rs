//! A per-subject token bucket: each token subject may send `burst` requests at once and
//! `rate_per_second` sustained. In-process and small: a map from subject to bucket, swept of full
//! buckets (which are the same as absent ones) whenever it has doubled since the last sweep.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Buckets kept before the first sweep.
const FIRST_SWEEP_AT: usize = 1024;

pub(crate) struct RateLimiter {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

struct State {
    buckets: HashMap<String, Bucket>,
    sweep_at: usize,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// `None` when `rate_per_second` is not positive (rate limiting off).
    pub(crate) fn new(rate_per_second: f64, burst: u32) -> Option<RateLimiter> {
        (rate_per_second.is_finite() && rate_per_second > 0.0).then(|| RateLimiter {
            rate: rate_per_second,
            burst: f64::from(burst.max(1)),
            state: Mutex::new(State {
                buckets: HashMap::new(),
                sweep_at: FIRST_SWEEP_AT,
            }),
        })
    }

    /// Takes one token from `subject`'s bucket, or says how long until one is available.
    pub(crate) fn check(&self, subject: &str) -> Result<(), Duration> {
        self.check_at(subject, Instant::now())
    }

    fn check_at(&self, subject: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (rate, burst) = (self.rate, self.burst);
        let refill = |b: &Bucket| {
            let elapsed = now.saturating_duration_since(b.updated).as_secs_f64();
            (b.tokens + elapsed * rate).min(burst)
        };
        let mut bucket = state.buckets.get(subject).copied().unwrap_or(Bucket {
            tokens: burst,
            updated: now,
        });
        bucket.tokens = refill(&bucket);
        bucket.updated = now;
        let outcome = if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate))
        };
        state.buckets.insert(subject.to_owned(), bucket);
        if state.buckets.len() >= state.sweep_at {
            state.buckets.retain(|_, b| refill(b) < burst);
            state.sweep_at = (state.buckets.len() * 2).max(FIRST_SWEEP_AT);
        }
        outcome
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .buckets
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_sustained_rate_per_subject() {
        let limiter = RateLimiter::new(2.0, 3).expect("on");
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.check_at("a", t0).is_ok());
        }
        let wait = limiter.check_at("a", t0).expect_err("limited");
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(
            limiter.check_at("b", t0).is_ok(),
            "subjects are independent"
        );
        assert!(
            limiter
                .check_at("a", t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .check_at("a", t0 + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn full_buckets_are_forgotten() {
        let limiter = RateLimiter::new(1000.0, 5).expect("on");
        let t0 = Instant::now();
        for i in 0..FIRST_SWEEP_AT - 1 {
            let _ = limiter.check_at(&format!("s{i}"), t0);
        }
        let later = t0 + Duration::from_secs(1);
        let _ = limiter.check_at("x", later);
        assert_eq!(limiter.tracked(), 1, "only the bucket in use is kept");
    }

    #[test]
    fn zero_rate_turns_it_off() {
        assert!(RateLimiter::new(0.0, 10).is_none());
    }
}
