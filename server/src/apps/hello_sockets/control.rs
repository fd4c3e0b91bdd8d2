//! HelloSockets' control route: `POST /api/dedupe` `{"numbers":[…],"times":N}` runs
//! `DedupeChannel.broadcast(numbers, times)`, bounded like every control loop (`times` and
//! `numbers × times` at most `MAX_COUNT`, publishing at most `MAX_DURATION`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::broadcast_numbers;
use crate::apps::ControlResult;
use crate::control::{over_time, MAX_COUNT, MAX_DURATION, YIELD_EVERY};
use crate::endpoint::Endpoint;
use tokio::time::Instant;

/// `POST /api/dedupe`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DedupeRequest {
    /// The numbers to broadcast.
    pub numbers: Vec<Value>,
    /// How many times each.
    pub times: u64,
}

pub(super) async fn dedupe(endpoint: &Endpoint, body: &[u8]) -> ControlResult {
    let r: DedupeRequest =
        serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))?;
    if r.times > MAX_COUNT {
        return Err(format!(
            "times {} exceeds the limit of {MAX_COUNT}",
            r.times
        ));
    }
    let total = (r.numbers.len() as u64).saturating_mul(r.times);
    if total > MAX_COUNT {
        return Err(format!(
            "{total} broadcasts exceed the limit of {MAX_COUNT}"
        ));
    }
    // One loop over the broadcasts themselves: `times` with no numbers is no work at all.
    let deadline = Instant::now() + MAX_DURATION;
    for (sent, n) in (1..=total).zip(r.numbers.iter().cycle()) {
        broadcast_numbers(endpoint, std::slice::from_ref(n), 1);
        // As for /api/broadcast: up to 10 M broadcasts must not hold a runtime worker
        // while every subscriber's queue overflows.
        if sent % YIELD_EVERY == 0 {
            tokio::task::yield_now().await;
            if Instant::now() > deadline {
                return Err(over_time(sent, total));
            }
        }
    }
    Ok(json!({"ok": true, "broadcasts": total}))
}
