//! `HelloSocketsWeb.DedupeChannel`.

use phx_protocol::Payload;
use serde_json::{json, Value};

use crate::channel::{Channel, ChannelContext, Crash, Info, JoinOutcome, Outcome};
use crate::endpoint::Endpoint;

/// `dupe`: intercepts `number`, buffers, and after the dedupe window pushes each distinct number
/// once, in first-seen order.
#[derive(Debug, Default)]
pub struct DedupeChannel {
    buffer: Vec<Value>,
    awaiting_buffer: bool,
}

/// The `:send_buffer` message.
struct SendBuffer;

impl Channel for DedupeChannel {
    fn join(
        &mut self,
        _topic: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &["number"]
    }

    fn handle_in(
        &mut self,
        event: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        Err(Crash::no_clause("handle_in/3", event))
    }

    fn handle_out(
        &mut self,
        event: &str,
        payload: &Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        let number = payload
            .as_json()
            .and_then(|p| p.as_object())
            .and_then(|o| o.get("number"));
        let (true, Some(number)) = (event == "number", number) else {
            return Err(Crash::no_clause("handle_out/3", event));
        };
        self.buffer.push(number.clone());
        if !self.awaiting_buffer {
            let window = super::HelloSocketsConfig::of(ctx.endpoint()).dedupe_window;
            ctx.send_after(window, Box::new(SendBuffer));
            self.awaiting_buffer = true;
        }
        Ok(Outcome::NoReply)
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        if msg.downcast_ref::<SendBuffer>().is_none() {
            return Ok(Outcome::NoReply);
        }
        let mut seen: Vec<Value> = Vec::new();
        for n in self.buffer.drain(..) {
            if !seen.contains(&n) {
                seen.push(n);
            }
        }
        for n in seen {
            ctx.push("number", json!({ "value": n }));
        }
        self.awaiting_buffer = false;
        Ok(Outcome::NoReply)
    }
}

/// `DedupeChannel.broadcast(numbers, times)`: each number `times` times on `"dupe"`.
pub fn broadcast_numbers(endpoint: &Endpoint, numbers: &[Value], times: u64) {
    for _ in 0..times {
        for n in numbers {
            endpoint.broadcast("dupe", "number", json!({ "number": n }).into());
        }
    }
}
