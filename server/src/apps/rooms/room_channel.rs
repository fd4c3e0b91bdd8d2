//! `RoomsWeb.RoomChannel` on `room:*` (see the [module docs](super)).

use std::time::Duration;

use phx_protocol::Payload;
use serde_json::{json, Value};

use crate::channel::{Channel, ChannelContext, Crash, Info, JoinOutcome, Outcome};
use crate::presence::{Meta, Tracked, PRESENCE_STATE};

/// One member in one room: the name it joined with, and its presence once tracked.
#[derive(Debug, Default)]
pub struct RoomChannel {
    name: String,
    room: String,
    tracked: Option<Tracked>,
}

/// `send(self(), :after_join)`: welcome, then track.
struct AfterJoin;
/// The `presence_state` push that follows the track (after the join diff, as in Phoenix).
struct PushState;

/// A string field of a JSON object payload.
fn field<'p>(payload: &'p Payload, key: &str) -> Option<&'p str> {
    payload
        .as_json()
        .and_then(|p| p.get(key))
        .and_then(Value::as_str)
}

/// `inspect(System.system_time(:second))`.
fn online_at() -> String {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string()
}

impl Channel for RoomChannel {
    fn join(
        &mut self,
        topic: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        let Some(name) = field(&payload, "name").filter(|n| !n.is_empty()) else {
            return Ok(JoinOutcome::Error(
                json!({"reason": "name required"}).into(),
            ));
        };
        self.name = name.to_owned();
        self.room = topic.strip_prefix("room:").unwrap_or(topic).to_owned();
        ctx.send_after(Duration::ZERO, Box::new(AfterJoin));
        Ok(JoinOutcome::Ok(json!({ "room": self.room }).into()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        match event {
            "new_msg" => match field(&payload, "body") {
                Some(body) => {
                    let msg = json!({"name": self.name, "body": body});
                    ctx.broadcast(ctx.topic(), "new_msg", msg);
                    Ok(Outcome::NoReply)
                }
                None => Ok(Outcome::reply_error(json!({"reason": "body required"}))),
            },
            "whoami" => Ok(Outcome::reply_ok(
                json!({"name": self.name, "room": self.room}),
            )),
            other => Err(Crash::no_clause("handle_in/3", other)),
        }
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        if msg.is::<AfterJoin>() {
            ctx.push("welcome", json!({"room": self.room, "name": self.name}));
            let mut meta = Meta::new();
            meta.insert("online_at".into(), Value::String(online_at()));
            let presence = ctx.endpoint().presence().clone();
            self.tracked = Some(presence.track(ctx, &self.name, meta));
            ctx.send_after(Duration::ZERO, Box::new(PushState));
        } else if msg.is::<PushState>() {
            let state = ctx.endpoint().presence().list(ctx.topic());
            ctx.push(PRESENCE_STATE, state);
        }
        Ok(Outcome::NoReply)
    }
}
