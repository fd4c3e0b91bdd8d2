//! `phx-server`: the thin binary over the `phx_server` library.
//!
//! - `phx-server serve [flags]`: serve HelloSockets (env `PORT`, `SECRET_KEY_BASE`, `NODE_NAME`);
//!   `--app rooms` serves the rooms chat app instead (`phx_server::apps::rooms`).
//! - `phx-server serve --break RULE` (hidden, for testing checkers): break one Phoenix rule on
//!   purpose, `omit-leave-close`, `heartbeat-join-ref` or `keep-old-channel-on-duplicate-join`
//!   (`phx_server::Breakage`).
//! - `phx-server broadcast --control-url URL TOPIC EVENT [PAYLOAD_JSON]`: call the control API.
//! - `--pubsub redis://HOST:PORT` (env `PHX_PUBSUB`): join / publish into a Redis-backed cluster.
//! - `--tls-cert FILE --tls-key FILE` (PEM): serve HTTPS and WSS on the port instead of HTTP/WS.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig};
use phx_server::apps::rooms::Rooms;
use phx_server::{Adapter, Breakage, Compat, Config};

mod cli_broadcast;
mod cli_pubsub;

#[derive(Parser)]
#[command(
    name = "phx-server",
    version,
    about = "Reference Phoenix Channels server (the HelloSockets app, or --app rooms)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve HelloSockets (UserSocket on /socket, AuthSocket on /auth_socket), or --app rooms.
    Serve(Box<ServeArgs>),
    /// Broadcast through a running server's control API, or into a cluster with --pubsub.
    Broadcast(cli_broadcast::BroadcastArgs),
}

/// The apps `serve` can mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum AppName {
    /// The tutorial's HelloSockets (`/socket`, `/auth_socket`).
    HelloSockets,
    /// A chat app: `room:*` on `/socket`, join needs `{"name": …}`, Presence.
    Rooms,
}

#[derive(Args)]
struct ServeArgs {
    /// The app to serve (--recurring-interval-ms and --dedupe-window-ms are HelloSockets').
    #[arg(long, value_enum, default_value = "hello-sockets")]
    app: AppName,
    /// Break one Phoenix rule on purpose, to test a checker: omit-leave-close,
    /// heartbeat-join-ref or keep-old-channel-on-duplicate-join.
    #[arg(long = "break", value_name = "RULE", hide = true)]
    breakage: Option<Breakage>,
    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 4000)]
    port: u16,
    /// Address to listen on (loopback by default).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Erlang-style node name, reported as from_node.
    #[arg(long, env = "NODE_NAME", default_value = "nonode@nohost")]
    node_name: String,
    /// Phoenix release to imitate: a full version (1.7.24), or 1.7 / 1.8 for the recorded
    /// 1.7.14 / 1.8.12; behaviours follow phx_protocol::version::BEHAVIOURS.
    #[arg(long, default_value = "1.8")]
    compat: Compat,
    /// Web server whose close codes to imitate: cowboy or bandit (idle timeout 1002; disconnect
    /// by id 1011 on 1.7).
    #[arg(long, default_value = "cowboy")]
    adapter: Adapter,
    /// secret_key_base for Phoenix.Token (default: a random key made at start, so tokens
    /// verify only if this process signed them; give the fixtures' key to verify recorded ones).
    #[arg(long, env = "SECRET_KEY_BASE", hide_env_values = true)]
    secret_key_base: Option<String>,
    /// RecurringChannel push interval.
    #[arg(long, default_value_t = 5000)]
    recurring_interval_ms: u64,
    /// DedupeChannel buffering window.
    #[arg(long, default_value_t = 1000)]
    dedupe_window_ms: u64,
    /// Close sockets idle for this long (close code 1000; 1002 with --adapter bandit).
    #[arg(long, default_value_t = 60_000)]
    idle_timeout_ms: u64,
    /// Serve the control API (/api/*) to loopback peers.
    #[arg(long)]
    control: bool,
    /// Require `Authorization: Bearer TOKEN` on the control API.
    #[arg(long, env = "CONTROL_TOKEN", hide_env_values = true)]
    control_token: Option<String>,
    /// Allowed Origin (repeatable); without it the origin is not checked.
    #[arg(long = "check-origin")]
    check_origin: Vec<String>,
    /// Largest inbound WebSocket message in bytes (over it: close 1009).
    #[arg(long)]
    max_frame_size: Option<usize>,
    /// Outbound bytes queued per connection before its input is paused (default 1 MiB).
    #[arg(long)]
    outbound_pause_bytes: Option<usize>,
    /// Outbound bytes queued per connection before it is dropped (default 64 MiB).
    #[arg(long)]
    outbound_max_bytes: Option<usize>,
    /// Outbound bytes queued over all connections before the least-draining are dropped
    /// (default 1 GiB).
    #[arg(long)]
    outbound_total_bytes: Option<usize>,
    /// Drop a connection whose socket takes no bytes for this long (default 10000).
    #[arg(long)]
    slow_consumer_timeout_ms: Option<u64>,
    /// Time allowed for a request head before the connection is closed (default 5000).
    #[arg(long)]
    request_timeout_ms: Option<u64>,
    /// Channels per socket (where the release limits them: 1.7.24+, 1.8.9+).
    #[arg(long)]
    max_channels: Option<usize>,
    /// tungstenite read buffer per connection, bytes (default 4096; benches compare).
    #[arg(long, hide = true)]
    ws_read_buffer: Option<usize>,
    /// tungstenite write buffer target per connection, bytes (benches compare).
    #[arg(long, hide = true)]
    ws_write_buffer: Option<usize>,
    /// Serve HTTPS/WSS with this PEM certificate chain (leaf first); needs --tls-key.
    #[arg(long, env = "TLS_CERT", value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "TLS_KEY", value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    #[command(flatten)]
    pubsub: cli_pubsub::ServePubSubArgs,
}

impl ServeArgs {
    fn app(&self) -> HelloSockets {
        HelloSockets::new(
            HelloSocketsConfig::default()
                .recurring_interval(Duration::from_millis(self.recurring_interval_ms))
                .dedupe_window(Duration::from_millis(self.dedupe_window_ms)),
        )
    }

    fn config(self) -> Config {
        let mut c = Config {
            node_name: self.node_name,
            compat: self.compat,
            adapter: self.adapter,
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            control: self.control,
            control_token: self.control_token,
            check_origin: (!self.check_origin.is_empty()).then_some(self.check_origin),
            breakage: self.breakage,
            ..Config::default()
        };
        if let Some(s) = self.secret_key_base {
            c.secret_key_base = s;
        }
        if let Some(v) = self.max_frame_size {
            c.max_frame_size = v;
        }
        if let Some(v) = self.outbound_pause_bytes {
            c.outbound_pause_bytes = v;
        }
        if let Some(v) = self.outbound_max_bytes {
            c.outbound_max_bytes = v;
        }
        if let Some(v) = self.outbound_total_bytes {
            c.outbound_total_bytes = v;
        }
        if let Some(v) = self.slow_consumer_timeout_ms {
            c.slow_consumer_timeout = Duration::from_millis(v);
        }
        if let Some(v) = self.request_timeout_ms {
            c.request_timeout = Duration::from_millis(v);
        }
        if let Some(v) = self.max_channels {
            c.max_channels = v;
        }
        if let Some(v) = self.ws_read_buffer {
            c.read_buffer_size = v;
        }
        if let Some(v) = self.ws_write_buffer {
            c.write_buffer_size = v;
        }
        c
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("phx-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve(*args).await,
            Command::Broadcast(args) => cli_broadcast::run(args).await,
        }
    })
}

async fn serve(args: ServeArgs) -> ExitCode {
    let addr = SocketAddr::new(args.host, args.port);
    if args.secret_key_base.as_ref().is_some_and(|s| s.len() < 64) {
        eprintln!("phx-server: SECRET_KEY_BASE must be at least 64 bytes (Phoenix requires it)");
        return ExitCode::from(2);
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match phx_server::TlsAcceptor::from_pem_files(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("phx-server: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("phx-server: cannot listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.secret_key_base.is_none() {
        tracing::warn!(
            "no --secret-key-base: tokens are signed and verified with a random key made at start"
        );
    }
    let backplane = match cli_pubsub::backplane(&args.pubsub).await {
        Ok(b) => b,
        Err(code) => return code,
    };
    let shutdown = shutdown_signal();
    if let Some(rule) = args.breakage {
        tracing::warn!("--break {rule}: this server breaks a Phoenix rule on purpose");
    }
    let endpoint = match args.app {
        AppName::HelloSockets => {
            let app = args.app();
            app.endpoint(args.config(), backplane)
        }
        AppName::Rooms => Rooms.endpoint(args.config(), backplane),
    };
    match phx_server::serve_with(listener, endpoint, tls, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("phx-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM: both drain sockets with 1012, as Phoenix does.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    tracing::info!("shutting down: closing sockets with 1012");
}
