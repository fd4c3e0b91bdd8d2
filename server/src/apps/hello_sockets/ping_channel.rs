//! `HelloSocketsWeb.PingChannel`.

use phx_protocol::Payload;
use serde_json::{json, Value};

use crate::channel::{Channel, ChannelContext, Crash, JoinOutcome, Outcome, ReplyWith, StopReason};

/// `ping` / `ping:*`: replies to pings, stops on `ding`, crashes on unknown events, and
/// intercepts `request_ping` to push `send_ping` with its own node name.
#[derive(Debug, Default, Clone, Copy)]
pub struct PingChannel;

impl Channel for PingChannel {
    fn join(
        &mut self,
        _topic: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    fn intercepts(&self) -> &'static [&'static str] {
        &["request_ping"]
    }

    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        if let Some(phrase) = event.strip_prefix("ping:") {
            return Ok(Outcome::reply_ok(json!({ "ping": phrase })));
        }
        match event {
            "ping" => {
                let ack = payload
                    .as_json()
                    .and_then(|p| p.as_object())
                    .and_then(|o| o.get("ack_phrase"));
                Ok(Outcome::reply_ok(
                    json!({ "ping": ack.cloned().unwrap_or_else(|| "pong".into()) }),
                ))
            }
            "pong" => Ok(Outcome::NoReply),
            "ding" => Ok(Outcome::Stop {
                reason: StopReason::Shutdown,
                reply: Some(ReplyWith::ok(json!({"msg": "shutting down"}))),
            }),
            "param_ping" => {
                let wants_error = payload
                    .as_json()
                    .and_then(|p| p.as_object())
                    .and_then(|o| o.get("error"))
                    == Some(&Value::Bool(true));
                if wants_error {
                    Ok(Outcome::reply_error(
                        json!({"reason": "You asked for this!"}),
                    ))
                } else {
                    Ok(Outcome::Reply(ReplyWith::ok(payload)))
                }
            }
            other => Err(Crash::no_clause("handle_in/3", other)),
        }
    }

    fn handle_out(
        &mut self,
        event: &str,
        payload: &Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        if event != "request_ping" {
            return Err(Crash::no_clause("handle_out/3", event));
        }
        let Some(Value::Object(map)) = payload.as_json() else {
            return Err(Crash::new("request_ping payload is not a map"));
        };
        let mut map = map.clone();
        map.insert(
            "from_node".into(),
            Value::String(ctx.endpoint().node_name().to_owned()),
        );
        ctx.push("send_ping", Value::Object(map));
        Ok(Outcome::NoReply)
    }
}
