//! `HelloSocketsWeb.UserSocket`: anyone may connect; no socket id.

use crate::channel::Channel;
use crate::endpoint::Endpoint;
use crate::socket::{Assigns, ConnectRefused, Params, SocketHandler};

use super::{DedupeChannel, PingChannel, PresenceChannel, WildcardChannel};

/// `socket "/socket", UserSocket`.
#[derive(Debug, Default, Clone, Copy)]
pub struct UserSocket;

impl SocketHandler for UserSocket {
    fn module(&self) -> &str {
        "Elixir.HelloSocketsWeb.UserSocket"
    }

    fn connect(&self, _params: &Params, _endpoint: &Endpoint) -> Result<Assigns, ConnectRefused> {
        Ok(Assigns::new())
    }

    fn id(&self, _assigns: &Assigns) -> Option<String> {
        None
    }

    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        if topic == "ping" || topic.starts_with("ping:") {
            Some(Box::new(PingChannel))
        } else if topic.starts_with("wild:") {
            Some(Box::new(WildcardChannel))
        } else if topic == "dupe" {
            Some(Box::new(DedupeChannel::default()))
        } else if topic.starts_with("presence:") {
            Some(Box::new(PresenceChannel::default()))
        } else {
            None
        }
    }
}
