//! The embedded target: phx-server in-process on 127.0.0.1 port 0.
//!
//! Three servers: node A and node B share one in-process bus (the two-node scenarios), and a
//! third one has a short idle timeout (the idle scenario), so that the others never hit it.
//! Intervals are short so the whole suite runs in seconds; scenarios read them from the target.

use super::{PhoenixVersion, Target, TargetError};
use crate::triggers::control_api::ControlApi;
use crate::triggers::{Backend, Triggers};
use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig};
use phx_server::pubsub::in_process::InProcessBus;
use phx_server::testing::TestServer;
use phx_server::Config;
use std::time::Duration;

/// RecurringChannel's interval on the embedded server.
pub const RECURRING_INTERVAL: Duration = Duration::from_millis(150);
/// DedupeChannel's window on the embedded server.
pub const DEDUPE_WINDOW: Duration = Duration::from_millis(200);
/// The idle timeout of the idle server.
pub const IDLE_TIMEOUT: Duration = Duration::from_millis(300);
/// The control API token the embedded servers require (proves the harness sends it).
const CONTROL_TOKEN: &str = "phx-conformance";

/// The running servers.
pub struct Embedded {
    _a: TestServer,
    _b: TestServer,
    _idle: TestServer,
}

fn config(version: PhoenixVersion, node: &str) -> Config {
    Config {
        node_name: node.into(),
        compat: version,
        control: true,
        control_token: Some(CONTROL_TOKEN.into()),
        ..Config::default()
    }
}

/// HelloSockets with the short intervals.
fn app() -> HelloSockets {
    HelloSockets::new(
        HelloSocketsConfig::default()
            .recurring_interval(RECURRING_INTERVAL)
            .dedupe_window(DEDUPE_WINDOW),
    )
}

fn base(s: &TestServer) -> String {
    s.ws_url("/socket")
        .trim_end_matches("/websocket")
        .to_owned()
}

/// Starts the servers for `version` (phx-server's test harness panics if no loopback port
/// can be bound).
pub async fn start(version: PhoenixVersion) -> Result<Target, TargetError> {
    // Node names as in the recordings: `server@…` for 1.7, `server18@…` for 1.8.
    let suffix = if version.release().minor >= 8 {
        "18"
    } else {
        ""
    };
    let bus = InProcessBus::new();
    let a = TestServer::start_app(
        config(version, &format!("server{suffix}@127.0.0.1")),
        app(),
        Some(bus.clone()),
    )
    .await;
    let b = TestServer::start_app(
        config(version, &format!("remote{suffix}@127.0.0.1")),
        app(),
        Some(bus),
    )
    .await;
    let mut idle_cfg = config(version, &format!("idle{suffix}@127.0.0.1"));
    idle_cfg.idle_timeout = IDLE_TIMEOUT;
    let idle = TestServer::start_app(idle_cfg, app(), None).await;
    let control = |s: &TestServer| {
        Backend::Control(ControlApi::new(
            s.addr().to_string(),
            Some(CONTROL_TOKEN.into()),
        ))
    };
    let triggers = Triggers {
        a: Some(control(&a)),
        b: Some(control(&b)),
        secret_key_base: None,
    };
    Ok(Target {
        description: format!(
            "embedded phx-server (Phoenix {version}{})",
            super::inferred_note(version)
        ),
        version,
        adapter: super::Adapter::Cowboy,
        socket_url: base(&a),
        auth_url: Some(base(&a).replace("/socket", "/auth_socket")),
        node_b_url: Some(base(&b)),
        idle_url: Some(base(&idle)),
        idle_timeout: Some(IDLE_TIMEOUT),
        recurring_interval: RECURRING_INTERVAL,
        dedupe_window: DEDUPE_WINDOW,
        triggers,
        tls: phx_client::TlsConfig::default(),
        _embedded: Some(Embedded {
            _a: a,
            _b: b,
            _idle: idle,
        }),
    })
}
