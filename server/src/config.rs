//! Server configuration: every knob of the endpoint, with Phoenix's defaults.

use std::str::FromStr;
use std::time::Duration;

/// The `secret_key_base` of the recorded fixtures (88 bytes). It is public, so anyone can sign
/// tokens with it: pass it explicitly (`Config { secret_key_base: FIXTURE_SECRET_KEY_BASE.into(),
/// .. }`, `--secret-key-base`) only where recorded tokens must verify. [`Config::default`] uses
/// [`process_secret_key_base`] instead.
pub const FIXTURE_SECRET_KEY_BASE: &str =
    "realphx-fixed-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";

/// A random 64-byte secret_key_base made once per process: the default, so a server started
/// without a key does not accept tokens anyone can mint. Tokens it signs (the control API's
/// `/api/token`, [`crate::Endpoint::sign_token`]) verify until the process exits.
pub fn process_secret_key_base() -> &'static str {
    static KEY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        hex::encode(bytes)
    })
}

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

/// A Phoenix rule the server breaks on purpose, so that a checker (the conformance suite's
/// `protocol` profile) can be shown to catch it. Each variant does exactly one wrong thing, in
/// one place of the socket machine; nothing else changes. Never set outside tests
/// (`phx-server serve --break RULE`, [`Config::breakage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Breakage {
    /// `omit-leave-close`: a `phx_leave` is answered `ok`, but no `phx_close` follows.
    OmitLeaveClose,
    /// `heartbeat-join-ref`: a heartbeat's reply carries the heartbeat's ref as its join_ref
    /// instead of null.
    HeartbeatJoinRef,
    /// `keep-old-channel-on-duplicate-join`: a second `phx_join` of a joined topic is answered
    /// `ok`, but the old channel stays (no `phx_close` for the old join_ref, no new channel).
    KeepOldChannelOnDuplicateJoin,
}

impl Breakage {
    /// Every variant, in `--break` order.
    pub const ALL: [Breakage; 3] = [
        Breakage::OmitLeaveClose,
        Breakage::HeartbeatJoinRef,
        Breakage::KeepOldChannelOnDuplicateJoin,
    ];

    /// The `--break` name (`omit-leave-close`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Breakage::OmitLeaveClose => "omit-leave-close",
            Breakage::HeartbeatJoinRef => "heartbeat-join-ref",
            Breakage::KeepOldChannelOnDuplicateJoin => "keep-old-channel-on-duplicate-join",
        }
    }
}

impl std::fmt::Display for Breakage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--break` value that names no [`Breakage`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule to break {0:?}: use omit-leave-close, heartbeat-join-ref or keep-old-channel-on-duplicate-join")]
pub struct ParseBreakageError(pub String);

impl FromStr for Breakage {
    type Err = ParseBreakageError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Breakage::ALL
            .into_iter()
            .find(|b| b.as_str() == wanted)
            .ok_or_else(|| ParseBreakageError(s.to_owned()))
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
    /// `secret_key_base` for Phoenix.Token (at least 64 bytes in Phoenix). Default: a random
    /// per-process key ([`process_secret_key_base`]).
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
    /// Outbound bytes one connection may have queued (encoded frames not yet taken by its
    /// writer). Over it, reading that connection's input pauses until the writer drains, so a
    /// client pipelining requests feels TCP backpressure instead of growing the queue.
    pub outbound_pause_bytes: usize,
    /// Outbound bytes one connection may have queued at most (broadcasts keep arriving while
    /// its input is paused); over it, it is dropped as a slow consumer. At least
    /// `max_frame_size` plus `outbound_pause_bytes`, so one echoed frame never trips it.
    pub outbound_max_bytes: usize,
    /// Outbound bytes queued over all connections at most. Over it, the connections that drained
    /// least (longest without progress, then most queued) are dropped until the total is back
    /// under the cap.
    pub outbound_total_bytes: usize,
    /// A connection with queued output whose writer makes no progress (its socket takes no
    /// bytes) for this long is dropped as a slow consumer. Ranch's `send_timeout` under Cowboy is
    /// 30 s with `send_timeout_close`; 10 s here frees a stuck connection's memory sooner.
    pub slow_consumer_timeout: Duration,
    /// Time allowed for a request head (request line and headers), from the connection's first
    /// byte or the previous response (Cowboy's `request_timeout`, 5 s). A silent or trickling
    /// client is disconnected after it.
    pub request_timeout: Duration,
    /// Most headers in one request (Cowboy's `max_headers`, 100); more is a 431.
    pub max_headers: usize,
    /// Longest header value (Cowboy's `max_header_value_length`, 4,096 bytes); longer is a 431.
    pub max_header_value_length: usize,
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
    /// A Phoenix rule to break on purpose, for testing checkers; `None` (the default) is a
    /// faithful server. See [`Breakage`].
    pub breakage: Option<Breakage>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_name: "nonode@nohost".into(),
            compat: Compat::V1_8,
            adapter: Adapter::Cowboy,
            secret_key_base: process_secret_key_base().into(),
            plug_crypto: None,
            idle_timeout: Duration::from_secs(60),
            control: false,
            control_token: None,
            check_origin: None,
            max_frame_size: 8 * 1024 * 1024,
            outbound_pause_bytes: 1024 * 1024,
            outbound_max_bytes: 64 * 1024 * 1024,
            outbound_total_bytes: 1024 * 1024 * 1024,
            slow_consumer_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(5),
            max_headers: 100,
            max_header_value_length: 4096,
            max_channels: 100,
            read_buffer_size: 4096,
            write_buffer_size: 16 * 1024,
            shutdown_grace: Duration::from_secs(2),
            breakage: None,
        }
    }
}
