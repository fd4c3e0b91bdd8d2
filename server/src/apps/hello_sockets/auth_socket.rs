//! `HelloSocketsWeb.AuthSocket`: connect needs a valid `token`; the id is `auth_socket:<user_id>`.

use serde_json::Value;

use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::socket::{Assigns, ConnectRefused, Params, SocketHandler};

use super::{AuthChannel, PingChannel, RecurringChannel};

/// The salt of the app's tokens.
pub const AUTH_SALT: &str = "salt identifier";
/// The app's `max_age` for tokens, in seconds (one day).
pub const AUTH_MAX_AGE: u64 = 86400;

/// `socket "/auth_socket", AuthSocket`.
#[derive(Debug, Default, Clone, Copy)]
pub struct AuthSocket;

impl SocketHandler for AuthSocket {
    fn module(&self) -> &str {
        "Elixir.HelloSocketsWeb.AuthSocket"
    }

    fn connect(&self, params: &Params, endpoint: &Endpoint) -> Result<Assigns, ConnectRefused> {
        let Some(token) = params.get("token") else {
            tracing::error!("{} connect error missing params", self.module());
            return Err(ConnectRefused);
        };
        let verified = match token {
            Value::String(t) => endpoint.verify_token(AUTH_SALT, t, AUTH_MAX_AGE),
            _ => Err(crate::token::TokenError::Invalid),
        };
        match verified {
            Ok(user_id) => {
                let mut assigns = Assigns::new();
                assigns.insert("user_id".into(), user_id);
                Ok(assigns)
            }
            Err(e) => {
                tracing::error!("{} connect error {}", self.module(), e.as_atom());
                Err(ConnectRefused)
            }
        }
    }

    fn id(&self, assigns: &Assigns) -> Option<String> {
        assigns
            .get("user_id")
            .map(|id| format!("auth_socket:{}", interpolate(id)))
    }

    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        if topic == "ping" {
            Some(Box::new(PingChannel))
        } else if topic == "recurring" {
            Some(Box::new(RecurringChannel))
        } else if topic.starts_with("user:") {
            Some(Box::new(AuthChannel))
        } else {
            None
        }
    }
}

/// Elixir string interpolation of a term: strings as-is, numbers as digits.
pub(crate) fn interpolate(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
