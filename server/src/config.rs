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

/// Which Phoenix release to imitate where 1.7 and 1.8 differ on the wire (see `COMPAT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Compat {
    /// Phoenix 1.7.14 on Cowboy.
    V1_7,
    /// Phoenix 1.8.12 on Cowboy (the default).
    #[default]
    V1_8,
}

impl Compat {
    /// `"1.7"` or `"1.8"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Compat::V1_7 => "1.7",
            Compat::V1_8 => "1.8",
        }
    }
}

impl std::fmt::Display for Compat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `--compat` value that is neither `1.7` nor `1.8`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compat version {0:?}: use 1.7 or 1.8")]
pub struct ParseCompatError(pub String);

impl FromStr for Compat {
    type Err = ParseCompatError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "1.7" | "1.7.14" => Ok(Compat::V1_7),
            "1.8" | "1.8.12" => Ok(Compat::V1_8),
            other => Err(ParseCompatError(other.to_owned())),
        }
    }
}

/// Everything [`crate::run`] needs besides the listener. Fields are public; start from
/// [`Config::default`] and override what you need.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Erlang-style node name, reported as `from_node` and by `GET /`.
    pub node_name: String,
    /// Which Phoenix release to imitate.
    pub compat: Compat,
    /// `secret_key_base` for Phoenix.Token (at least 64 bytes in Phoenix). Default: a random
    /// per-process key ([`process_secret_key_base`]).
    pub secret_key_base: String,
    /// RecurringChannel's push interval (Phoenix app: 5 s).
    pub recurring_interval: Duration,
    /// DedupeChannel's buffering window (Phoenix app: 1 s).
    pub dedupe_window: Duration,
    /// Close a WebSocket after this long without inbound data (Phoenix: 60 s, close code 1000).
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
    /// Channels one socket may join; enforced only for [`Compat::V1_8`] (Phoenix default 100).
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
            secret_key_base: process_secret_key_base().into(),
            recurring_interval: Duration::from_millis(5000),
            dedupe_window: Duration::from_millis(1000),
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
        }
    }
}
