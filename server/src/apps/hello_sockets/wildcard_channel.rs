//! `HelloSocketsWeb.WildcardChannel`.

use phx_protocol::Payload;
use serde_json::json;

use crate::channel::{Channel, ChannelContext, Crash, JoinOutcome, Outcome};

/// `wild:A:B`: joins when B == 2·A; raises (join crashed) when A or B is not an integer.
#[derive(Debug, Default, Clone, Copy)]
pub struct WildcardChannel;

/// Elixir's `String.to_integer/1`: optional sign, decimal digits, nothing else.
fn to_integer(s: &str) -> Result<i128, Crash> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Crash::new(format!(
            "ArgumentError: String.to_integer({s:?})"
        )));
    }
    s.parse::<i128>()
        .map_err(|_| Crash::new(format!("integer out of range: {s:?}")))
}

impl Channel for WildcardChannel {
    fn join(
        &mut self,
        topic: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        let rest = topic.strip_prefix("wild:").unwrap_or(topic);
        let parts: Vec<&str> = rest.split(':').collect();
        let [a, b] = parts.as_slice() else {
            return Err(Crash::new(format!("MatchError: {parts:?}")));
        };
        let (a, b) = (to_integer(a)?, to_integer(b)?);
        if a.checked_mul(2) == Some(b) {
            Ok(JoinOutcome::Ok(Payload::empty_object()))
        } else {
            Ok(JoinOutcome::Error(Payload::empty_object()))
        }
    }

    fn handle_in(
        &mut self,
        event: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        match event {
            "ping" => Ok(Outcome::reply_ok(json!({"ping": "pong"}))),
            other => Err(Crash::no_clause("handle_in/3", other)),
        }
    }
}
