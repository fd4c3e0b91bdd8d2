//! Triggers: server-side actions a scenario needs (broadcast, dedupe broadcast, sign a token,
//! disconnect a socket id).
//!
//! - [`control_api`]: phx-server's HTTP control API (`POST /api/…`).
//! - [`erlang`]: a real Phoenix node, reached over Erlang distribution as a hidden node that calls
//!   `'Elixir.HelloSocketsWeb.Endpoint':broadcast/3` and friends by RPC (or the app's own
//!   endpoint module: `--endpoint-module`, `PHX_ENDPOINT_MODULE`).
//! - A local signer: with the app's `secret_key_base` the harness mints tokens itself.

pub mod control_api;
pub mod erlang;

use phx_protocol::Payload;

/// A server-side action.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `Endpoint.broadcast(topic, event, payload)` on one node.
    Broadcast {
        /// Which node runs the broadcast.
        node: Node,
        /// The topic.
        topic: String,
        /// The event.
        event: String,
        /// A JSON object, or binary (`{:binary, data}`).
        payload: Payload,
    },
    /// `DedupeChannel.broadcast(numbers, times)`.
    Dedupe {
        /// The numbers.
        numbers: Vec<i64>,
        /// How many times each is broadcast.
        times: u32,
    },
    /// `Endpoint.broadcast(socket_id, "disconnect", %{})`.
    Disconnect {
        /// The socket id, e.g. `auth_socket:1`.
        socket_id: String,
    },
}

/// Which node of the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    /// The main node (`--url`).
    A,
    /// The second node (`--node-b-url`).
    B,
}

/// A `Phoenix.Token.sign(endpoint, salt, data)` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignRequest {
    /// The salt, e.g. `"salt identifier"`.
    pub salt: String,
    /// The user id.
    pub data: i64,
    /// Seconds added to "now" for `signed_at` (negative: an old token), or 0.
    pub age_offset_s: i64,
}

/// What a trigger needs from the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// Broadcast, dedupe and disconnect on node A.
    Actions,
    /// Broadcast on node B.
    NodeBActions,
    /// Token signing.
    Sign,
}

/// Why a trigger failed.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The target has no way to do this; the scenario is skipped.
    #[error("the target has no trigger for {0}")]
    Unsupported(&'static str),
    /// The control API answered with an error status.
    #[error("control API {path} answered {status}: {body}")]
    Control {
        /// The API path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The body.
        body: String,
    },
    /// The trigger endpoint could not be reached.
    #[error("cannot reach the trigger endpoint: {0}")]
    Unreachable(String),
    /// The Erlang RPC failed.
    #[error(transparent)]
    Erlang(#[from] erlang::RpcError),
    /// Local signing failed.
    #[error("cannot sign a token locally: {0}")]
    Sign(String),
}

/// One way to reach a node.
pub enum Backend {
    /// phx-server's control API.
    Control(control_api::ControlApi),
    /// A real Phoenix node over Erlang distribution.
    Erlang(erlang::PhoenixRpc),
}

impl Backend {
    async fn run(&self, action: &Action) -> Result<(), TriggerError> {
        match self {
            Backend::Control(c) => c.run(action).await,
            Backend::Erlang(e) => e.run(action).await.map_err(TriggerError::from),
        }
    }

    async fn sign(&self, req: &SignRequest) -> Result<String, TriggerError> {
        match self {
            Backend::Control(c) => c.sign(req).await,
            Backend::Erlang(e) => e.sign(req).await.map_err(TriggerError::from),
        }
    }
}

/// Every trigger a target offers.
#[derive(Default)]
pub struct Triggers {
    /// Node A's backend.
    pub a: Option<Backend>,
    /// Node B's backend.
    pub b: Option<Backend>,
    /// The app's `secret_key_base`, to mint tokens locally when no backend can.
    pub secret_key_base: Option<String>,
}

impl Triggers {
    /// None when `cap` is available, else the reason it is not.
    pub fn lacks(&self, cap: Capability) -> Option<String> {
        match cap {
            Capability::Actions if self.a.is_none() => Some(
                "no trigger for node A (give --erlang-node and --cookie, or use phx-server's control API)"
                    .into(),
            ),
            Capability::NodeBActions if self.b.is_none() => {
                Some("no trigger for node B (no control API or Erlang node for --node-b-url)".into())
            }
            Capability::Sign if self.a.is_none() && self.secret_key_base.is_none() => Some(
                "cannot mint tokens (give --secret-key-base, or an Erlang node to sign by RPC)".into(),
            ),
            _ => None,
        }
    }

    /// Runs an action.
    pub async fn run(&self, action: &Action) -> Result<(), TriggerError> {
        let node = match action {
            Action::Broadcast { node, .. } => *node,
            _ => Node::A,
        };
        let backend = match node {
            Node::A => self.a.as_ref(),
            Node::B => self.b.as_ref(),
        };
        match backend {
            Some(b) => b.run(action).await,
            None => Err(TriggerError::Unsupported("this action")),
        }
    }

    /// Mints a token, locally when a secret is known, else through node A.
    pub async fn sign(&self, req: &SignRequest) -> Result<String, TriggerError> {
        if let Some(secret) = &self.secret_key_base {
            return sign_locally(secret, req);
        }
        match &self.a {
            Some(b) => b.sign(req).await,
            None => Err(TriggerError::Unsupported("token signing")),
        }
    }
}

/// Seconds since the Unix epoch.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn sign_locally(secret: &str, req: &SignRequest) -> Result<String, TriggerError> {
    use phx_protocol::token::{self, SecretKeyBase, SignOptions};
    let key = SecretKeyBase::new(secret.as_bytes().to_vec())
        .map_err(|e| TriggerError::Sign(e.to_string()))?;
    let opts = SignOptions::new().signed_at_secs((now_s() + req.age_offset_s) as f64);
    token::sign(&key, &req.salt, &serde_json::json!(req.data), &opts)
        .map_err(|e| TriggerError::Sign(e.to_string()))
}
