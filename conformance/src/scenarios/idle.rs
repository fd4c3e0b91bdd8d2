//! The idle timeout (opt-in on external targets: it waits the server's whole timeout).

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use crate::target::Adapter;
use std::time::Duration;

/// The idle scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        id: "idle_timeout",
        name: "shuts down if client goes quiet",
        about: "After the client's last frame the server stays silent for the idle timeout, then closes with 1000 (Cowboy) or 1002 (Bandit): not earlier (Cowboy 2.12 and Bandit close at the timeout: 60.0 s in Phoenix), and no later than a tenth more on Cowboy (>= 2.13 ticks every timeout/10: 66.0 s).",
        tags: &["idle", "slow"],
        versions: Versions::ALL,
        needs: &[Need::Socket(Socket::Idle)],
        steps: |ctx| {
            let (lower, upper) = idle_window(ctx.idle_timeout.unwrap_or(Duration::from_secs(60)), ctx.adapter);
            let mut s = vec![connect_to("c1", Socket::Idle, "vsn=2.0.0", 101)];
            s.extend(join_ok("c1", "ping", "1"));
            // An early close fails the silence; a late one fails the close's deadline.
            s.push(Step::ExpectSilence {
                conn: "c1".into(),
                quiet: lower,
            });
            s.push(Step::ExpectClosed {
                conn: "c1".into(),
                code: ctx.idle_close_code(),
                within: Some(upper - lower),
            });
            s
        },
    }]
}

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
