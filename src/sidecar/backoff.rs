//! The wait between polling cycles: the original sidecar's exponential formula
//! (10, 20, 40, ... capped at 300 s by default) plus jitter, and a reset whenever
//! something moved (new definitions, new signatures, a DKG attempt), which the
//! original never did.

use std::time::Duration;

use rand::Rng;

/// Parameters of the exponential wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// First wait.
    pub initial: Duration,
    /// Upper bound.
    pub max: Duration,
    /// Growth factor per cycle without progress (at least 1).
    pub factor: f64,
    /// Spread each wait by up to ±20 % so that many sidecars do not poll in lockstep.
    pub jitter: bool,
}

/// Stateful exponential backoff with reset.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: BackoffPolicy,
    current: Duration,
}

impl Backoff {
    /// A backoff at its initial wait.
    pub fn new(policy: BackoffPolicy) -> Self {
        Backoff {
            policy,
            current: policy.initial,
        }
    }

    /// The nominal (un-jittered) wait the next call to [`Backoff::next_delay`] is based on.
    pub fn current(&self) -> Duration {
        self.current
    }

    /// Returns the wait before the next cycle and grows the nominal wait.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.current;
        let grown = nominal.as_secs_f64() * self.policy.factor.max(1.0);
        self.current = Duration::from_secs_f64(grown.min(self.policy.max.as_secs_f64()));
        if self.policy.jitter && !nominal.is_zero() {
            let spread: f64 = rand::thread_rng().gen_range(0.8..=1.2);
            Duration::from_secs_f64(
                (nominal.as_secs_f64() * spread).min(self.policy.max.as_secs_f64()),
            )
        } else {
            nominal
        }
    }

    /// Starts again from the initial wait, after progress.
    pub fn reset(&mut self) {
        self.current = self.policy.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(jitter: bool) -> BackoffPolicy {
        BackoffPolicy {
            initial: Duration::from_secs(10),
            max: Duration::from_secs(300),
            factor: 2.0,
            jitter,
        }
    }

    #[test]
    fn follows_the_original_sequence_and_resets() {
        let mut b = Backoff::new(policy(false));
        let seq: Vec<u64> = (0..8).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seq, [10, 20, 40, 80, 160, 300, 300, 300]);
        b.reset();
        assert_eq!(b.next_delay().as_secs(), 10);
    }

    #[test]
    fn jitter_stays_within_bounds() {
        let mut b = Backoff::new(policy(true));
        for _ in 0..200 {
            let nominal = b.current().as_secs_f64();
            let d = b.next_delay().as_secs_f64();
            assert!(d >= nominal * 0.8 - 1e-9 && d <= (nominal * 1.2).min(300.0) + 1e-9);
        }
    }

    #[test]
    fn fractional_factor() {
        let mut b = Backoff::new(BackoffPolicy {
            factor: 1.5,
            ..policy(false)
        });
        let seq: Vec<u64> = (0..3).map(|_| b.next_delay().as_secs()).collect();
        assert_eq!(seq, [10, 15, 22]);
    }
}
