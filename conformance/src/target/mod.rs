//! What the suite runs against.
//!
//! - [`embedded`]: phx-server started in-process on port 0 (two nodes sharing an in-process bus,
//!   plus a server with a short idle timeout), triggered through its control API.
//! - [`External`]: a running server given by URL: phx-server (control API) or a real Phoenix
//!   app (Erlang RPC triggers, or only a `secret_key_base` for tokens).

pub mod embedded;

use crate::runner::step::Socket;
use crate::triggers::control_api::ControlApi;
use crate::triggers::erlang::{
    ErlangNode, ErlangOptions, PhoenixRpc, RpcError, DEFAULT_ENDPOINT_MODULE,
};
use crate::triggers::{Backend, Triggers};
use phx_client::TlsConfig;
use std::time::Duration;

/// The Phoenix release whose behaviour is expected: the type phx-server's `Compat` also is, with
/// its behaviour table ([`phx_protocol::version::BEHAVIOURS`]).
pub use phx_protocol::version::PhoenixVersion;

/// The web server under Phoenix: it decides two close codes (PROTOCOL.md §1.6, fixtures README).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Adapter {
    /// Cowboy (what the fixtures were recorded on; phx-server imitates it).
    #[default]
    Cowboy,
    /// Bandit (the default of newer `mix phx.new` apps): disconnect by id closes with 1011 on
    /// Phoenix 1.7, and the idle timeout closes with 1002.
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

/// A target: URLs, what to expect, and how to trigger server-side actions.
pub struct Target {
    /// A human description (`embedded phx-server (1.8)`, or the URL).
    pub description: String,
    /// Which Phoenix release's behaviour to expect.
    pub version: PhoenixVersion,
    /// The web server adapter whose close codes to expect.
    pub adapter: Adapter,
    /// `ws://HOST:PORT/socket` of node A.
    pub socket_url: String,
    /// `ws://HOST:PORT/auth_socket`, when the target has one.
    pub auth_url: Option<String>,
    /// `ws://HOST:PORT/socket` of node B, for the two-node scenarios.
    pub node_b_url: Option<String>,
    /// A `/socket` URL whose idle timeout is [`Target::idle_timeout`].
    pub idle_url: Option<String>,
    /// The idle timeout of `idle_url`.
    pub idle_timeout: Option<Duration>,
    /// RecurringChannel's push interval.
    pub recurring_interval: Duration,
    /// DedupeChannel's window.
    pub dedupe_window: Duration,
    /// Server-side actions.
    pub triggers: Triggers,
    /// TLS for `wss://` URLs (default: Mozilla's roots).
    pub tls: TlsConfig,
    /// Keeps embedded servers running while the target lives.
    pub(crate) _embedded: Option<embedded::Embedded>,
}

impl Target {
    /// The base URL (`ws://…/socket`) for a socket kind, if the target has it.
    pub fn socket_url(&self, socket: Socket) -> Option<&str> {
        match socket {
            Socket::Main => Some(&self.socket_url),
            Socket::Auth => self.auth_url.as_deref(),
            Socket::NodeB => self.node_b_url.as_deref(),
            Socket::Idle => self.idle_url.as_deref(),
        }
    }

    /// Starts the embedded reference server(s) for `version`.
    pub async fn embedded(version: PhoenixVersion) -> Result<Target, TargetError> {
        embedded::start(version).await
    }

    /// Starts the embedded reference server(s) for `version` with `adapter`'s close codes.
    pub async fn embedded_on(
        version: PhoenixVersion,
        adapter: Adapter,
    ) -> Result<Target, TargetError> {
        embedded::start_on(version, adapter).await
    }
}

/// Why a target could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A URL is not `ws://HOST:PORT/PATH`.
    #[error("invalid URL {0:?}: expected ws://HOST:PORT/socket")]
    BadUrl(String),
    /// The embedded server did not start.
    #[error("cannot start the embedded server: {0}")]
    Embedded(String),
    /// The Erlang node could not be reached.
    #[error(transparent)]
    Erlang(#[from] RpcError),
    /// `--cacert` cannot be used (a usage error: fix the path or file).
    #[error(transparent)]
    Tls(#[from] phx_client::TlsConfigError),
    /// A `PHX_*` variable holds a value it cannot mean (fix or unset it).
    #[error("{var}={value:?} is not {expected}: fix or unset it")]
    BadEnv {
        /// The variable.
        var: &'static str,
        /// What it holds.
        value: String,
        /// What it may hold.
        expected: &'static str,
    },
}

/// Settings for an external target (the CLI flags and `PHX_*` variables).
#[derive(Clone, Debug, Default)]
pub struct External {
    /// `ws://HOST:PORT/socket`.
    pub url: String,
    /// `ws://HOST:PORT/auth_socket`.
    pub auth_url: Option<String>,
    /// Node B's `ws://HOST:PORT/socket`.
    pub node_b_url: Option<String>,
    /// The app's secret_key_base, to mint tokens locally.
    pub secret_key_base: Option<String>,
    /// Expected Phoenix version (default 1.8).
    pub version: Option<PhoenixVersion>,
    /// The adapter (default Cowboy).
    pub adapter: Adapter,
    /// RecurringChannel's interval on the target (Phoenix app: 5000 ms).
    pub recurring_interval: Option<Duration>,
    /// DedupeChannel's window on the target (Phoenix app: 1000 ms).
    pub dedupe_window: Option<Duration>,
    /// The Phoenix node to call by RPC (`server@127.0.0.1`).
    pub erlang_node: Option<String>,
    /// Node B's Erlang node name.
    pub erlang_node_b: Option<String>,
    /// The cluster cookie.
    pub cookie: Option<String>,
    /// The app's endpoint module for RPC triggers (`MyAppWeb.Endpoint`; default
    /// `HelloSocketsWeb.Endpoint`).
    pub endpoint_module: Option<String>,
    /// Use phx-server's control API (on the URLs' ports) for triggers.
    pub control: bool,
    /// The control API's bearer token.
    pub control_token: Option<String>,
    /// Run the idle-timeout scenario (waits the server's full idle timeout, 60 s on Phoenix).
    pub idle_timeout: Option<Duration>,
    /// TLS for `wss://` URLs and the control API over HTTPS (default: Mozilla's roots).
    pub tls: TlsConfig,
}

/// `""` for a recorded release; for any other, a note that its expectations come from the
/// version table, not from a recording.
pub fn inferred_note(version: PhoenixVersion) -> &'static str {
    match version.evidence() {
        phx_protocol::version::Evidence::Recorded => "",
        phx_protocol::version::Evidence::Inferred => {
            ": expectations inferred from the version table, not recorded"
        }
    }
}

/// `host:port` of a `ws://host:port/…` URL.
pub fn authority(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let host = parsed.host_str()?;
    let port = parsed.port_or_known_default()?;
    Some(format!("{host}:{port}"))
}

fn check_url(u: &str) -> Result<String, TargetError> {
    let trimmed = u
        .trim_end_matches('/')
        .trim_end_matches("/websocket")
        .to_owned();
    match url::Url::parse(&trimmed) {
        Ok(p) if (p.scheme() == "ws" || p.scheme() == "wss") && p.host_str().is_some() => {
            Ok(trimmed)
        }
        _ => Err(TargetError::BadUrl(u.to_owned())),
    }
}

impl External {
    /// The external target described by `PHX_URL`, `PHX_AUTH_URL`, `PHX_NODE_B_URL`,
    /// `PHX_SECRET_KEY_BASE`, `PHX_ADAPTER`, `PHX_ERLANG_NODE`, `PHX_ERLANG_NODE_B`, `PHX_COOKIE`,
    /// `PHX_ENDPOINT_MODULE`, `PHX_PHOENIX`,
    /// `PHX_RECURRING_INTERVAL_MS`, `PHX_DEDUPE_WINDOW_MS`, `PHX_CONTROL`, `PHX_CONTROL_TOKEN` and
    /// `PHX_IDLE_TIMEOUT_MS`; `Ok(None)` when `PHX_URL` is unset (then tests use the embedded
    /// server). A value that cannot mean anything (`PHX_PHOENIX=1.9x`, `PHX_ADAPTER=nginx`,
    /// `PHX_DEDUPE_WINDOW_MS=soon`, `PHX_CONTROL=maybe`) is an error, never a silent default.
    pub fn from_env() -> Result<Option<External>, TargetError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// [`External::from_env`] over any variable source (`var(name)`).
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<External>, TargetError> {
        let var = |k: &str| var(k).filter(|v| !v.is_empty());
        let bad = |k: &'static str, v: String, expected: &'static str| TargetError::BadEnv {
            var: k,
            value: v,
            expected,
        };
        let ms = |k: &'static str| -> Result<Option<Duration>, TargetError> {
            var(k)
                .map(|v| {
                    v.parse()
                        .map(Duration::from_millis)
                        .map_err(|_| bad(k, v, "a number of milliseconds"))
                })
                .transpose()
        };
        let Some(url) = var("PHX_URL") else {
            return Ok(None);
        };
        let version = var("PHX_PHOENIX")
            .map(|v| {
                v.parse()
                    .map_err(|_| bad("PHX_PHOENIX", v, "a Phoenix version (1.7, 1.8, 1.8.12, …)"))
            })
            .transpose()?;
        let adapter = match var("PHX_ADAPTER") {
            None => Adapter::Cowboy,
            Some(v) => match v.as_str() {
                "cowboy" => Adapter::Cowboy,
                "bandit" => Adapter::Bandit,
                _ => return Err(bad("PHX_ADAPTER", v, "cowboy or bandit")),
            },
        };
        let control = match var("PHX_CONTROL") {
            None => false,
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => true,
                "0" | "false" | "no" | "off" => false,
                _ => return Err(bad("PHX_CONTROL", v, "1/0, true/false, yes/no or on/off")),
            },
        };
        Ok(Some(External {
            url,
            auth_url: var("PHX_AUTH_URL"),
            node_b_url: var("PHX_NODE_B_URL"),
            secret_key_base: var("PHX_SECRET_KEY_BASE"),
            version,
            adapter,
            recurring_interval: ms("PHX_RECURRING_INTERVAL_MS")?,
            dedupe_window: ms("PHX_DEDUPE_WINDOW_MS")?,
            erlang_node: var("PHX_ERLANG_NODE"),
            erlang_node_b: var("PHX_ERLANG_NODE_B"),
            cookie: var("PHX_COOKIE"),
            endpoint_module: var("PHX_ENDPOINT_MODULE"),
            control,
            control_token: var("PHX_CONTROL_TOKEN"),
            idle_timeout: ms("PHX_IDLE_TIMEOUT_MS")?,
            tls: TlsConfig::default(),
        }))
    }

    /// Connects the triggers and builds the target.
    pub async fn connect(self) -> Result<Target, TargetError> {
        let url = check_url(&self.url)?;
        let auth_url = self.auth_url.as_deref().map(check_url).transpose()?;
        let node_b_url = self.node_b_url.as_deref().map(check_url).transpose()?;
        let mut triggers = Triggers {
            secret_key_base: self.secret_key_base.clone(),
            ..Triggers::default()
        };
        if self.control {
            // The control API shares each socket's port, so it is HTTPS where the socket is wss.
            let control = |u: &str| {
                let api = ControlApi::new(authority(u)?, self.control_token.clone());
                Some(Backend::Control(if u.starts_with("wss:") {
                    api.with_tls(self.tls.clone())
                } else {
                    api
                }))
            };
            triggers.a = Some(control(&url).ok_or_else(|| TargetError::BadUrl(url.clone()))?);
            triggers.b = node_b_url.as_deref().and_then(control);
        } else if let (Some(node), Some(cookie)) = (&self.erlang_node, &self.cookie) {
            let endpoint = self
                .endpoint_module
                .as_deref()
                .unwrap_or(DEFAULT_ENDPOINT_MODULE);
            let a = ErlangNode::connect(&ErlangOptions::new(node, cookie)).await?;
            triggers.a = Some(Backend::Erlang(PhoenixRpc::with_endpoint(a, endpoint)));
            if let Some(node_b) = &self.erlang_node_b {
                let b = ErlangNode::connect(&ErlangOptions::new(node_b, cookie)).await?;
                triggers.b = Some(Backend::Erlang(PhoenixRpc::with_endpoint(b, endpoint)));
            }
        }
        let version = self.version.unwrap_or(PhoenixVersion::V1_8);
        Ok(Target {
            description: format!(
                "{url} (Phoenix {version}{}, {})",
                inferred_note(version),
                self.adapter.as_str()
            ),
            version,
            adapter: self.adapter,
            idle_url: self.idle_timeout.map(|_| url.clone()),
            idle_timeout: self.idle_timeout,
            socket_url: url,
            auth_url,
            node_b_url,
            recurring_interval: self
                .recurring_interval
                .unwrap_or(Duration::from_millis(5000)),
            dedupe_window: self.dedupe_window.unwrap_or(Duration::from_millis(1000)),
            triggers,
            tls: self.tls,
            _embedded: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    #[test]
    fn the_environment_names_a_target_or_says_what_is_wrong() {
        assert!(External::from_vars(vars(&[])).unwrap().is_none());
        let ext = External::from_vars(vars(&[
            ("PHX_URL", "ws://127.0.0.1:4000/socket"),
            ("PHX_PHOENIX", "1.7.14"),
            ("PHX_ADAPTER", "bandit"),
            ("PHX_CONTROL", "yes"),
            ("PHX_DEDUPE_WINDOW_MS", "250"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(
            ext.version.map(|v| v.to_string()).as_deref(),
            Some("1.7.14")
        );
        assert!(matches!(ext.adapter, Adapter::Bandit));
        assert!(ext.control);
        assert_eq!(ext.dedupe_window, Some(Duration::from_millis(250)));
        for (var, value) in [
            ("PHX_PHOENIX", "1.9x"),
            ("PHX_ADAPTER", "nginx"),
            ("PHX_CONTROL", "maybe"),
            ("PHX_DEDUPE_WINDOW_MS", "soon"),
            ("PHX_IDLE_TIMEOUT_MS", "-1"),
        ] {
            let e = External::from_vars(vars(&[("PHX_URL", "ws://h:1/socket"), (var, value)]))
                .expect_err(var);
            let text = e.to_string();
            assert!(text.contains(var) && text.contains(value), "{text}");
        }
    }
}
