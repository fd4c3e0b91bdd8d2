//! The idle timeout (opt-in on external targets: it waits the server's whole timeout).

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use std::time::Duration;

/// The idle scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        id: "idle_timeout",
        name: "shuts down if client goes quiet",
        about: "With no client frames at all, the server closes the socket after its idle timeout (60 s in Phoenix; up to 66 s with Cowboy >= 2.13) with code 1000 (Cowboy) or 1002 (Bandit).",
        tags: &["idle", "slow"],
        versions: Versions::ALL,
        needs: &[Need::Socket(Socket::Idle)],
        steps: |ctx| {
            let timeout = ctx.idle_timeout.unwrap_or(Duration::from_secs(60));
            let mut s = vec![connect_to("c1", Socket::Idle, "vsn=2.0.0", 101)];
            s.extend(join_ok("c1", "ping", "1"));
            s.push(Step::ExpectClosed {
                conn: "c1".into(),
                code: ctx.idle_close_code(),
                within: Some(timeout + timeout / 5 + Duration::from_secs(2)),
            });
            s
        },
    }]
}
