//! `HelloSocketsWeb.PresenceChannel` on `"presence:*"`, written the way the Phoenix guides
//! write it (see `fixtures/phoenix-1.7.14/presence/README.md`):
//!
//! - `join` needs `user_id` (`{:error, %{reason: "user_id required"}}` without it), then sends
//!   itself `:after_join`;
//! - `:after_join` tracks `user_id` with `%{"device" => params["device"], "online_at" => "0"}`
//!   and pushes `presence_state`;
//! - `update` with `{"status": s}` puts `status` into the meta and replies `:ok`.
//!
//! The push of `presence_state` is a second message after the track: the track's join diff is
//! broadcast when the `:after_join` callback returns, and every 1.7.14 recording has the
//! joiner's own join diff before its `presence_state`.

use std::time::Duration;

use phx_protocol::Payload;
use serde_json::{json, Value};

use crate::channel::{Channel, ChannelContext, Crash, Info, JoinOutcome, Outcome};
use crate::presence::{Meta, Tracked, PRESENCE_STATE};

/// The channel's state: who joined, from which device, and their presence once tracked.
#[derive(Debug, Default)]
pub struct PresenceChannel {
    user_id: String,
    device: Value,
    tracked: Option<Tracked>,
}

/// `send(self(), :after_join)`.
struct AfterJoin;
/// The `presence_state` push that follows the track.
struct PushState;

impl Channel for PresenceChannel {
    fn join(
        &mut self,
        _topic: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        let params = payload.as_json().and_then(Value::as_object);
        let Some(user_id) = params.and_then(|p| p.get("user_id")) else {
            return Ok(JoinOutcome::Error(
                json!({"reason": "user_id required"}).into(),
            ));
        };
        // Presence keys are strings on the wire; a number is written as Phoenix would.
        self.user_id = match user_id {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        self.device = params
            .and_then(|p| p.get("device"))
            .cloned()
            .unwrap_or(Value::Null);
        ctx.send_after(Duration::ZERO, Box::new(AfterJoin));
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        let status = payload
            .as_json()
            .and_then(|v| v.get("status"))
            .filter(|_| event == "update");
        match (status, &self.tracked) {
            (Some(status), Some(tracked)) => {
                let status = status.clone();
                tracked.update(ctx, move |meta| {
                    meta.insert("status".into(), status);
                });
                Ok(Outcome::reply_ok(Payload::empty_object()))
            }
            // Phoenix: Presence.update returns {:error, :nopresence} and the match fails.
            (Some(_), None) => Err(Crash::new("update before the presence was tracked")),
            (None, _) => Err(Crash::no_clause("handle_in", event)),
        }
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        if msg.is::<AfterJoin>() {
            let mut meta = Meta::new();
            meta.insert("device".into(), self.device.clone());
            meta.insert("online_at".into(), Value::String("0".into()));
            let presence = ctx.endpoint().presence().clone();
            self.tracked = Some(presence.track(ctx, &self.user_id, meta));
            ctx.send_after(Duration::ZERO, Box::new(PushState));
        } else if msg.is::<PushState>() {
            let state = ctx.endpoint().presence().list(ctx.topic());
            ctx.push(PRESENCE_STATE, state);
        }
        Ok(Outcome::NoReply)
    }
}
