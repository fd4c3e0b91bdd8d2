//! Server configuration: every knob of the endpoint, with Phoenix's defaults.

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

/// Everything [`crate::run`] needs besides the listener. Fields are public; start from
/// [`Config::default`] and override what you need.
#[derive(Clone, Debug)]
pub struct Config {
    /// The Erlang-style node name, reported as `from_node` and by `GET /`.
    pub node_name: String,
    /// Which Phoenix release to imitate.
    pub compat: Compat,
    /// `secret_key_base` for Phoenix.Token (at least 64 bytes in Phoenix).
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
    /// Frames queued for one connection before it counts as a slow consumer and is dropped.
    pub outbound_queue: usize,
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
            secret_key_base: FIXTURE_SECRET_KEY_BASE.into(),
            recurring_interval: Duration::from_millis(5000),
            dedupe_window: Duration::from_millis(1000),
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
