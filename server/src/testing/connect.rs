//! In-process `connect(SocketModule, params)`, like `Phoenix.ChannelTest.connect/3`.

use serde_json::Value;

use crate::apps::hello_sockets::HelloSockets;
use crate::config::Config;
use crate::endpoint::Endpoint;
use crate::socket::{Assigns, ConnectRefused, Params, SocketHandler};

/// A connected socket, as `connect/3` left it.
#[derive(Debug, Clone, PartialEq)]
pub struct TestSocket {
    assigns: Assigns,
    id: Option<String>,
}

impl TestSocket {
    /// `SocketModule.id(socket)`.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The socket's assigns.
    pub fn assigns(&self) -> &Assigns {
        &self.assigns
    }
}

/// `connect(handler, params)` against a HelloSockets endpoint with [`Config::default`] (the
/// fixtures' secret_key_base).
pub fn connect(
    handler: &dyn SocketHandler,
    params: &[(&str, &str)],
) -> Result<TestSocket, ConnectRefused> {
    let params: Params = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect();
    connect_with(
        &HelloSockets::default().endpoint(Config::default(), None),
        handler,
        &params,
    )
}

/// `connect(handler, params)` against a given endpoint, with params as decoded JSON.
pub fn connect_with(
    endpoint: &Endpoint,
    handler: &dyn SocketHandler,
    params: &Params,
) -> Result<TestSocket, ConnectRefused> {
    let assigns = handler.connect(params, endpoint)?;
    let id = handler.id(&assigns);
    Ok(TestSocket { assigns, id })
}
