//! Reconnect delays: exponential from `initial` to `max`, with up to 25 % jitter so that the
//! nodes of a cluster do not reconnect in lockstep after Redis restarts; and
//! [`Backoff::retry`], the reconnect loop the publisher and the subscriber share.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::sleep;

/// The delays of one outage; [`Backoff::reset`] after a success.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    seed: u64,
}

impl Backoff {
    pub(crate) fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        let initial = initial.max(Duration::from_millis(1));
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
            seed: seed | 1,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let base = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        // xorshift: cheap, deterministic per seed, good enough for jitter.
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        let jitter = base.mul_f64((self.seed % 1000) as f64 / 4000.0);
        // Saturating: a configured maximum near Duration::MAX must not panic.
        base.saturating_add(jitter)
            .min(self.max.saturating_add(self.max / 4))
    }

    pub(crate) fn reset(&mut self) {
        self.next = self.initial;
    }

    /// Calls `open` after each delay until it succeeds, logging every attempt as `who`
    /// (`"publisher"`, `"subscriber"`). Returns the connection and the attempt count, or `None`
    /// when `stop` fires first. The delays restart from `initial` afterwards.
    pub(crate) async fn retry<T, F, Fut>(
        &mut self,
        who: &str,
        url: &str,
        stop: &mut watch::Receiver<()>,
        mut open: F,
    ) -> Option<(T, u64)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, String>>,
    {
        for attempt in 1u64.. {
            let delay = self.next_delay();
            tracing::info!(url, attempt, ?delay, "redis backplane: {who} reconnecting");
            tokio::select! {
                _ = stop.changed() => return None,
                _ = sleep(delay) => {}
            }
            match open().await {
                Ok(c) => {
                    self.reset();
                    return Some((c, attempt));
                }
                Err(e) => {
                    tracing::warn!(url, attempt, "redis backplane: {who} reconnect failed: {e}")
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_doubling_to_the_cap_with_bounded_jitter_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000), 42);
        let delays: Vec<Duration> = (0..6).map(|_| b.next_delay()).collect();
        let bases = [100u64, 200, 400, 800, 1000, 1000];
        for (d, base) in delays.iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(
                *d >= base && *d <= base + base / 4,
                "{d:?} not within 25 % above {base:?}"
            );
        }
        b.reset();
        assert!(b.next_delay() < Duration::from_millis(126));
    }

    #[test]
    fn a_huge_maximum_saturates_instead_of_panicking() {
        let mut b = Backoff::new(Duration::MAX / 2, Duration::MAX, 7);
        for _ in 0..4 {
            assert!(b.next_delay() >= Duration::MAX / 2);
        }
    }
}
