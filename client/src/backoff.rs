//! Retry schedules: the pluggable [`Backoff`] trait, phoenix.js's stepped schedules and jitter.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How long to wait before retry number `attempt` (1 for the first retry).
///
/// Implement it to plug in your own schedule; [`Stepped`] covers phoenix.js's and [`Jitter`]
/// spreads a fleet of clients out after a server restart (the "thundering herd", firezone#11493).
pub trait Backoff: Send + Sync + fmt::Debug {
    /// The delay before retry `attempt` (1-based; 0 is treated as 1).
    fn delay(&self, attempt: u32) -> Duration;
}

/// A fixed list of steps, then a constant delay forever.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stepped {
    steps: Vec<Duration>,
    then: Duration,
}

impl Stepped {
    /// `steps[attempt - 1]` while there are steps, then `then`.
    pub fn new(steps: impl IntoIterator<Item = Duration>, then: Duration) -> Self {
        Stepped {
            steps: steps.into_iter().collect(),
            then,
        }
    }

    /// Milliseconds shorthand: `Stepped::from_millis(&[10, 50], 5000)`.
    pub fn from_millis(steps: &[u64], then_ms: u64) -> Self {
        Stepped::new(
            steps.iter().map(|&ms| Duration::from_millis(ms)),
            Duration::from_millis(then_ms),
        )
    }

    /// phoenix.js `reconnectAfterMs`: 10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then 5 s.
    pub fn phoenix_reconnect() -> Self {
        Stepped::from_millis(&[10, 50, 100, 150, 200, 250, 500, 1000, 2000], 5000)
    }

    /// phoenix.js `rejoinAfterMs`: 1, 2, 5 s, then 10 s.
    pub fn phoenix_rejoin() -> Self {
        Stepped::from_millis(&[1000, 2000, 5000], 10_000)
    }

    /// The same delay for every attempt.
    pub fn constant(delay: Duration) -> Self {
        Stepped::new([], delay)
    }
}

impl Backoff for Stepped {
    fn delay(&self, attempt: u32) -> Duration {
        let index = attempt.max(1) as usize - 1;
        self.steps.get(index).copied().unwrap_or(self.then)
    }
}

/// Wraps a schedule and scales each delay by a random factor in `[1 - ratio, 1]`.
///
/// `ratio = 1.0` is "full jitter" (uniform in `[0, delay]`); `0.0` disables it. phoenix.js has no
/// jitter; this is opt-in.
#[derive(Clone, Debug)]
pub struct Jitter<B> {
    inner: B,
    ratio: f64,
}

impl<B: Backoff> Jitter<B> {
    /// Jitter of `ratio` (clamped to `0.0..=1.0`) around `inner`.
    pub fn new(inner: B, ratio: f64) -> Self {
        let ratio = if ratio.is_finite() {
            ratio.clamp(0.0, 1.0)
        } else {
            0.0
        };
        Jitter { inner, ratio }
    }

    /// Full jitter: uniform in `[0, delay]`.
    pub fn full(inner: B) -> Self {
        Jitter::new(inner, 1.0)
    }
}

impl<B: Backoff> Backoff for Jitter<B> {
    fn delay(&self, attempt: u32) -> Duration {
        let base = self.inner.delay(attempt);
        let factor = 1.0 - self.ratio * rand::random::<f64>();
        // `mul_f64` panics when the product does not fit (a `Duration::MAX` base).
        Duration::try_from_secs_f64(base.as_secs_f64() * factor).unwrap_or(base)
    }
}

impl<B: Backoff + ?Sized> Backoff for Arc<B> {
    fn delay(&self, attempt: u32) -> Duration {
        (**self).delay(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(b: &dyn Backoff, n: u32) -> Vec<u64> {
        (1..=n).map(|a| b.delay(a).as_millis() as u64).collect()
    }

    #[test]
    fn reconnect_schedule_is_phoenix_js() {
        assert_eq!(
            millis(&Stepped::phoenix_reconnect(), 12),
            [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000, 5000, 5000]
        );
        assert_eq!(
            Stepped::phoenix_reconnect().delay(0),
            Duration::from_millis(10)
        );
        assert_eq!(
            Stepped::phoenix_reconnect().delay(u32::MAX),
            Duration::from_secs(5)
        );
    }

    #[test]
    fn rejoin_schedule_is_phoenix_js() {
        assert_eq!(
            millis(&Stepped::phoenix_rejoin(), 6),
            [1000, 2000, 5000, 10_000, 10_000, 10_000]
        );
    }

    #[test]
    fn jitter_stays_within_its_band() {
        let j = Jitter::new(Stepped::constant(Duration::from_millis(1000)), 0.5);
        let mut seen_below = false;
        for _ in 0..200 {
            let d = j.delay(1);
            assert!(
                d >= Duration::from_millis(500) && d <= Duration::from_millis(1000),
                "{d:?}"
            );
            seen_below |= d < Duration::from_millis(990);
        }
        assert!(seen_below, "jitter never moved the delay");
        let none = Jitter::new(Stepped::constant(Duration::from_millis(1000)), 0.0);
        assert_eq!(none.delay(3), Duration::from_millis(1000));
        let full = Jitter::full(Stepped::phoenix_reconnect());
        assert!(full.delay(10) <= Duration::from_secs(5));
        // A base too large for float scaling is kept, not a panic.
        let endless = Jitter::new(Stepped::constant(Duration::MAX), 0.0);
        assert_eq!(endless.delay(1), Duration::MAX);
    }
}
