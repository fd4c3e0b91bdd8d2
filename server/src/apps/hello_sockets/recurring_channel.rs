//! `HelloSocketsWeb.RecurringChannel`.

use phx_protocol::Payload;
use serde_json::{json, Value};

use super::AUTH_SALT;
use crate::channel::{Channel, ChannelContext, Crash, Info, JoinOutcome, Outcome};

/// `recurring`: every recurring interval after join, pushes `new_token` with a fresh token for
/// the socket's user.
#[derive(Debug, Default, Clone, Copy)]
pub struct RecurringChannel;

/// The `:send_token` message.
struct SendToken;

impl Channel for RecurringChannel {
    fn join(
        &mut self,
        _topic: &str,
        _payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        let interval = super::HelloSocketsConfig::of(ctx.endpoint()).recurring_interval;
        ctx.send_after(interval, Box::new(SendToken));
        Ok(JoinOutcome::Ok(Payload::empty_object()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        Err(Crash::no_clause("handle_in/3", event))
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        if msg.downcast_ref::<SendToken>().is_none() {
            return Ok(Outcome::NoReply);
        }
        let interval = super::HelloSocketsConfig::of(ctx.endpoint()).recurring_interval;
        ctx.send_after(interval, Box::new(SendToken));
        let user_id = ctx.assign("user_id").cloned().unwrap_or(Value::Null);
        let token = ctx
            .endpoint()
            .sign_token(AUTH_SALT, &user_id)
            .map_err(|e| Crash::new(e.to_string()))?;
        ctx.push("new_token", json!({ "token": token }));
        Ok(Outcome::NoReply)
    }
}
