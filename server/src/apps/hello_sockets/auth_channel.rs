//! `HelloSocketsWeb.AuthChannel`.

use phx_protocol::Payload;
use serde_json::json;

use super::auth_socket::interpolate;
use crate::channel::{Channel, ChannelContext, Crash, JoinOutcome, Outcome};

/// `user:<id>`: only the socket's own user may join.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuthChannel;

impl Channel for AuthChannel {
    fn join(
        &mut self,
        topic: &str,
        _payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        let requested = topic.strip_prefix("user:").unwrap_or_default();
        let own = ctx.assign("user_id").map(interpolate);
        if own.as_deref() == Some(requested) {
            Ok(JoinOutcome::Ok(Payload::empty_object()))
        } else {
            Ok(JoinOutcome::Error(json!({"reason": "unauthorized"}).into()))
        }
    }

    fn handle_in(
        &mut self,
        event: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        Err(Crash::no_clause("handle_in/3", event))
    }
}
