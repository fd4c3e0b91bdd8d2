//! The idle timeout's window (the `idle_timeout` scenario file reads it as `{idle_quiet}` and
//! `{idle_close_within}`; opt-in on external targets: it waits the server's whole timeout).

use crate::target::Adapter;
use std::time::Duration;

/// When the idle close may come, counted from the reply to the client's last frame:
/// `(not before, not after)`. Lower: the timeout less a twentieth (at least 50 ms) for the
/// reply's own trip; upper: the timeout, plus a tenth on Cowboy (>= 2.13's coarse timer), plus
/// 2 s of scheduling slack.
pub fn idle_window(timeout: Duration, adapter: Adapter) -> (Duration, Duration) {
    let lower = timeout.saturating_sub((timeout / 20).max(Duration::from_millis(50)));
    let coarse = match adapter {
        Adapter::Cowboy => timeout / 10,
        Adapter::Bandit => Duration::ZERO,
    };
    (lower, timeout + coarse + Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_holds_both_recorded_cowboy_closes_and_refuses_early_ones() {
        let (lo, hi) = idle_window(Duration::from_secs(60), Adapter::Cowboy);
        // Cowboy 2.12 closed at 60.0 s, Cowboy 2.17 at 66.0 s.
        for at in [60.0, 66.0] {
            let at = Duration::from_secs_f64(at);
            assert!(lo <= at && at <= hi, "{at:?} in {lo:?}..{hi:?}");
        }
        assert!(Duration::from_secs(50) < lo);
        let (lo, hi) = idle_window(Duration::from_secs(60), Adapter::Bandit);
        assert!(lo <= Duration::from_secs(60) && hi < Duration::from_secs(66));
        // The embedded short-idle node (300 ms).
        let (lo, _) = idle_window(Duration::from_millis(300), Adapter::Cowboy);
        assert_eq!(lo, Duration::from_millis(250));
    }
}
