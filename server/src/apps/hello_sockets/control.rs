//! HelloSockets' control route: `POST /api/dedupe` `{"numbers":[…],"times":N}` runs
//! `DedupeChannel.broadcast(numbers, times)`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::broadcast_numbers;
use crate::apps::ControlResult;
use crate::control::{MAX_COUNT, YIELD_EVERY};
use crate::endpoint::Endpoint;

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
    let total = (r.numbers.len() as u64).saturating_mul(r.times);
    if total > MAX_COUNT {
        return Err(format!(
            "{total} broadcasts exceed the limit of {MAX_COUNT}"
        ));
    }
    let mut sent = 0u64;
    for _ in 0..r.times {
        for n in &r.numbers {
            broadcast_numbers(endpoint, std::slice::from_ref(n), 1);
            sent += 1;
            // As for /api/broadcast: up to 10 M broadcasts must not hold a runtime worker
            // while every subscriber's queue overflows.
            if sent % YIELD_EVERY == 0 {
                tokio::task::yield_now().await;
            }
        }
    }
    Ok(json!({"ok": true, "broadcasts": total}))
}
