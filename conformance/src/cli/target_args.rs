//! The target flags shared by `phx check` and `phx replay` (each also read from a `PHX_*`
//! variable).

use crate::target::{External, PhoenixVersion, Target, TargetError};

/// The exit code for a target that cannot be set up: 2 for an unusable `--cacert` (usage), else
/// 3 (unreachable).
pub fn target_error_code(e: &TargetError) -> u8 {
    match e {
        TargetError::Tls(_) => 2,
        _ => 3,
    }
}
use super::tls_args::TlsArgs;
use std::time::Duration;

/// Which server to run against; without `--url`, the embedded reference server.
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// `ws://HOST:PORT/socket` (or `wss://`) of the server under test (default: the embedded
    /// phx-server). With `--control` over wss://, the control API is called over HTTPS.
    #[arg(long, env = "PHX_URL")]
    pub url: Option<String>,
    /// `ws://HOST:PORT/auth_socket` (the auth scenarios are skipped without it).
    #[arg(long, env = "PHX_AUTH_URL")]
    pub auth_url: Option<String>,
    /// Node B's `ws://HOST:PORT/socket` (the two-node scenarios are skipped without it).
    #[arg(long, env = "PHX_NODE_B_URL")]
    pub node_b_url: Option<String>,
    /// The app's secret_key_base, to mint tokens for the auth scenarios.
    #[arg(long, env = "PHX_SECRET_KEY_BASE", hide_env_values = true)]
    pub secret_key_base: Option<String>,
    /// Which Phoenix release's behaviour to expect.
    #[arg(long, env = "PHX_PHOENIX", default_value = "1.8")]
    pub phoenix: PhoenixVersion,
    /// The target's web server adapter (decides the disconnect and idle close codes).
    #[arg(long, env = "PHX_ADAPTER", value_enum, default_value = "cowboy")]
    pub adapter: crate::target::Adapter,
    /// RecurringChannel's interval on the target, in ms (the tutorial app: 5000).
    #[arg(long, env = "PHX_RECURRING_INTERVAL_MS")]
    pub recurring_interval_ms: Option<u64>,
    /// DedupeChannel's window on the target, in ms (the tutorial app: 1000).
    #[arg(long, env = "PHX_DEDUPE_WINDOW_MS")]
    pub dedupe_window_ms: Option<u64>,
    /// The Phoenix node to trigger actions on by Erlang RPC, e.g. `server@127.0.0.1`.
    #[arg(long, env = "PHX_ERLANG_NODE")]
    pub erlang_node: Option<String>,
    /// Node B's Erlang node (for broadcasts started on node B).
    #[arg(long, env = "PHX_ERLANG_NODE_B")]
    pub erlang_node_b: Option<String>,
    /// The Erlang cookie of the cluster.
    #[arg(long, env = "PHX_COOKIE", hide_env_values = true)]
    pub cookie: Option<String>,
    /// The app's endpoint module for RPC triggers (broadcast, disconnect, Phoenix.Token.sign),
    /// e.g. MyAppWeb.Endpoint [default: HelloSocketsWeb.Endpoint].
    #[arg(long, env = "PHX_ENDPOINT_MODULE", value_name = "MODULE")]
    pub endpoint_module: Option<String>,
    /// The target is phx-server: trigger through its control API.
    // 1/0, yes/no, on/off and true/false from the environment, as the library reads them.
    #[arg(long, env = "PHX_CONTROL", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub control: bool,
    /// The control API's bearer token.
    #[arg(long, env = "PHX_CONTROL_TOKEN", hide_env_values = true)]
    pub control_token: Option<String>,
    /// Run the idle-timeout scenario against the target, whose idle timeout is this (slow:
    /// Phoenix's default is 60000).
    #[arg(long, env = "PHX_IDLE_TIMEOUT_MS")]
    pub idle_timeout_ms: Option<u64>,
    /// `--cacert` / `--insecure` for wss:// targets.
    #[command(flatten)]
    pub tls: TlsArgs,
}

impl TargetArgs {
    /// True when no external URL was given.
    pub fn is_embedded(&self) -> bool {
        self.url.is_none()
    }

    /// Builds the target (starting the embedded servers, or connecting triggers).
    pub async fn build(&self) -> Result<Target, TargetError> {
        let Some(url) = &self.url else {
            return Target::embedded(self.phoenix).await;
        };
        External {
            url: url.clone(),
            auth_url: self.auth_url.clone(),
            node_b_url: self.node_b_url.clone(),
            secret_key_base: self.secret_key_base.clone(),
            version: Some(self.phoenix),
            adapter: self.adapter,
            recurring_interval: self.recurring_interval_ms.map(Duration::from_millis),
            dedupe_window: self.dedupe_window_ms.map(Duration::from_millis),
            erlang_node: self.erlang_node.clone(),
            erlang_node_b: self.erlang_node_b.clone(),
            cookie: self.cookie.clone(),
            endpoint_module: self.endpoint_module.clone(),
            control: self.control,
            control_token: self.control_token.clone(),
            idle_timeout: self.idle_timeout_ms.map(Duration::from_millis),
            tls: self.tls.config()?,
        }
        .connect()
        .await
    }
}
