//! Server configuration: every knob of the endpoint, with Phoenix's defaults.

use std::str::FromStr;
use std::time::Duration;

/// The `secret_key_base` of the recorded fixtures (88 bytes). It is also the dev default, so
/// tokens signed by the real recordings verify against a default server.
pub const FIXTURE_SECRET_KEY_BASE: &str =
    "realphx-fixed-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";

/// Which Phoenix release to imitate where releases differ on the wire (see `COMPAT.md`): the
/// shared version type, so the server and the conformance suite read one behaviour table
/// ([`phx_protocol::version::BEHAVIOURS`]). `Compat::V1_7` is 1.7.14, `Compat::V1_8` 1.8.12.
pub type Compat = phx_protocol::version::PhoenixVersion;

/// A `--compat` value that is not a Phoenix version.
pub type ParseCompatError = phx_protocol::version::ParseVersionError;

/// The web server under Phoenix whose close codes to imitate (the frames are the same).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Adapter {
    /// Cowboy (Phoenix's default before 1.8): idle timeout 1000, disconnect 1000 on 1.7.
    #[default]
    Cowboy,
    /// Bandit: idle timeout 1002, disconnect by id 1011 on 1.7 (1001 on 1.8, as Cowboy).
    Bandit,
}

impl Adapter {
    /// `"cowboy"` or `"bandit"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Cowboy => "cowboy",
            Adapter::Bandit => "bandit",
        }
    }
}

impl std::fmt::Display for Adapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `--adapter` value that is neither `cowboy` nor `bandit`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown adapter {0:?}: use cowboy or bandit")]
pub struct ParseAdapterError(pub String);

impl FromStr for Adapter {
    type Err = ParseAdapterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "cowboy" => Ok(Adapter::Cowboy),
            "bandit" => Ok(Adapter::Bandit),
            _ => Err(ParseAdapterError(s.to_owned())),
        }
    }
}

/// Everything [`crate::serve`] needs besides the listener. Fields are public; start from
/// [`Config::default`] and override what you need.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Erlang-style node name, reported as `from_node` and by `GET /`.
    pub node_name: String,
    /// Which Phoenix release to imitate.
    pub compat: Compat,
    /// Which web server's close codes to imitate.
    pub adapter: Adapter,
    /// `secret_key_base` for Phoenix.Token (at least 64 bytes in Phoenix).
    pub secret_key_base: String,
    /// Whose token rules to follow; `None`: the Plug.Crypto that goes with [`Config::compat`]
    /// (a token signed in the future verifies before 2.2.0, is invalid from it).
    pub plug_crypto: Option<phx_protocol::version::PlugCryptoVersion>,
    /// Close a WebSocket after this long without inbound data (Phoenix: 60 s; close code 1000 on
    /// Cowboy, 1002 on Bandit).
    pub idle_timeout: Duration,
    /// Serve the control API (`/api/*`) to loopback peers.
    pub control: bool,
    /// When set, the control API requires `Authorization: Bearer <token>`.
    pub control_token: Option<String>,
    /// Allowed `Origin`s (`"https://example.com"`, `"//host:port"`, `"//*.example.com"`);
    /// `None` disables the check. A missing Origin header is always allowed.
    pub check_origin: Option<Vec<String>>,
    /// Largest accepted inbound WebSocket message; bigger ones close the socket with 1009.
    pub max_frame_size: usize,
    /// Frames queued for one connection before it counts as a slow consumer and is dropped.
    pub outbound_queue: usize,
    /// Channels one socket may join; enforced only where the release has the limit
    /// (`Behaviour::MaxChannels`: Phoenix 1.7.24+, 1.8.9+; default 100).
    pub max_channels: usize,
    /// tungstenite read buffer per connection (4 KiB keeps idle sockets cheap; the 128 KiB
    /// default costs about 133 KiB RSS per idle connection).
    pub read_buffer_size: usize,
    /// tungstenite write buffer target: frames fed by the writer loop are written out once this
    /// much is buffered, or at its single flush. The buffer is allocated only as frames are
    /// written, so idle sockets do not pay for it. 0 writes every frame eagerly (one syscall per
    /// frame, no coalescing): `benches/load.rs` measured 16 KiB at about 1.7x the fan-out
    /// throughput of 0, with the same RSS after the burst.
    pub write_buffer_size: usize,
    /// How long a graceful shutdown waits for clients to answer the 1012 close.
    pub shutdown_grace: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_name: "nonode@nohost".into(),
            compat: Compat::V1_8,
            adapter: Adapter::Cowboy,
            secret_key_base: FIXTURE_SECRET_KEY_BASE.into(),
            plug_crypto: None,
            idle_timeout: Duration::from_secs(60),
            control: false,
            control_token: None,
            check_origin: None,
            max_frame_size: 8 * 1024 * 1024,
            outbound_queue: 1024,
            max_channels: 100,
            read_buffer_size: 4096,
            write_buffer_size: 16 * 1024,
            shutdown_grace: Duration::from_secs(2),
        }
    }
}
