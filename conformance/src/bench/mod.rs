//! `phx bench`: a Phoenix-aware load generator with exact delivery counts.
//!
//! - [`fanout`]: N clients join a topic, M stamped broadcasts are published inside the server;
//!   every delivery is counted per connection (missing, duplicated, out of order).
//! - [`joins`]: the connect+join rate at a given concurrency.
//! - [`idle`]: N joined connections held for a time; the server's RSS and CPU per connection.
//! - [`storm`]: N clients, the server restarted; the time until each has rejoined.
//! - [`cross_node`]: broadcasts on node A of a Redis cluster, clients on node B (or split),
//!   against the same shape on one node.
//!
//! Building blocks: [`conn`] (the generator's raw sockets and the delivery [`conn::Counter`]),
//! [`trigger`] (control API, Erlang RPC, baseline), [`embedded`] (phx-server in-process),
//! [`baseline`] (a bare tokio-tungstenite server for same-run ratios), [`runtime`] (the servers'
//! own threads), [`cpu`] (`/proc` CPU and RSS), [`histogram`] (HdrHistogram percentiles),
//! [`report`] (text, JSON, failures, the progress line).
//!
//! Every loop is bounded by a count and by `--timeout`.

pub mod baseline;
pub mod conn;
pub mod cpu;
pub mod cross_node;
pub mod embedded;
pub mod fanout;
pub mod histogram;
pub mod idle;
pub mod joins;
pub mod report;
pub mod runtime;
pub mod storm;
pub mod trigger;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use baseline::BaselineServer;
use conn::{ConnError, Ws, WsTarget};
use cpu::ServerCpu;
use embedded::EmbeddedServer;
use histogram::Latencies;
use report::{Failures, Outcome, Progress};
use runtime::ServerRuntime;
use trigger::{Trigger, TriggerSpec};

/// The modes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// N clients, M broadcasts: deliveries per second.
    Fanout,
    /// Connect+join rate.
    Joins,
    /// N joined connections held idle: RSS and CPU per connection.
    Idle,
    /// Reconnect storm: N clients, server restarted, time until all rejoined.
    Storm,
    /// Broadcasts on node A, clients on node B (Redis cluster).
    CrossNode,
}

impl Mode {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Fanout => "fanout",
            Mode::Joins => "joins",
            Mode::Idle => "idle",
            Mode::Storm => "storm",
            Mode::CrossNode => "cross-node",
        }
    }
}

/// Everything a run needs (the CLI's flags, validated).
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// The mode.
    pub mode: Mode,
    /// Target socket URLs (`ws://host:port/socket`); none: embedded phx-server. Cross-node
    /// takes two (node A, node B).
    pub urls: Vec<String>,
    /// Connections.
    pub clients: u64,
    /// Broadcasts (fanout, cross-node).
    pub messages: u64,
    /// Topic the clients join.
    pub topic: String,
    /// Event of the broadcasts (not intercepted by the app: the fastlane).
    pub event: String,
    /// How broadcasts are published (default: the control API of the first URL's host).
    pub trigger: Option<TriggerSpec>,
    /// The server's process id, for its RSS and CPU.
    pub server_pid: Option<u32>,
    /// Also run the same shape against the baseline (bare server; single node for cross-node).
    pub baseline: bool,
    /// Concurrent connects while connecting.
    pub concurrency: usize,
    /// Bound of each phase (connecting, delivering, rejoining).
    pub timeout: Duration,
    /// Bound of one connect+join.
    pub join_timeout: Duration,
    /// How long idle connections are held.
    pub duration: Duration,
    /// Redis URL for an embedded two-node cluster (cross-node without `--url`).
    pub redis: Option<String>,
    /// Cross-node: spread clients over both nodes instead of putting all on node B.
    pub split: bool,
    /// Generator worker threads.
    pub threads: usize,
    /// No progress line.
    pub quiet: bool,
    /// How `wss://` URLs and an HTTPS control API are dialled (`--cacert`, `--insecure`).
    pub tls: phx_client::TlsConfig,
}

/// Why a run could not be made (exit 3 from the CLI, or 2 for bad options).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The options do not fit together.
    #[error("{0}")]
    Usage(String),
    /// A server, the trigger or Redis could not be reached or started.
    #[error("{0}")]
    Unreachable(String),
}

/// One server under test.
pub enum Server {
    /// phx-server in this process.
    Embedded(Box<EmbeddedServer>),
    /// The baseline in this process.
    Baseline(BaselineServer),
    /// Somewhere else.
    Remote,
}

/// A server with what the modes need to drive and observe it.
pub struct Subject {
    /// How reports name it.
    pub name: String,
    /// Its socket URL.
    pub ws_url: String,
    /// The server.
    pub server: Server,
    /// Where its CPU is read.
    pub cpu: ServerCpu,
    /// Its process id for RSS (`None`: unknown, or in this process).
    pub pid: Option<u32>,
}

impl Subject {
    /// An embedded phx-server.
    pub async fn embedded(
        rt: Arc<ServerRuntime>,
        node: &str,
        redis: Option<phx_server::pubsub::redis::RedisConfig>,
    ) -> Result<Subject, BenchError> {
        let s = EmbeddedServer::start(rt, EmbeddedServer::config(node), redis, None)
            .await
            .map_err(BenchError::Unreachable)?;
        Ok(Subject {
            name: format!("embedded phx-server {node}"),
            ws_url: s.ws_url(),
            server: Server::Embedded(Box::new(s)),
            cpu: ServerCpu::Embedded,
            pid: None,
        })
    }

    /// The baseline.
    pub async fn baseline(rt: Arc<ServerRuntime>) -> Result<Subject, BenchError> {
        let s = BaselineServer::start(rt)
            .await
            .map_err(BenchError::Unreachable)?;
        Ok(Subject {
            name: "baseline (bare tokio-tungstenite server, in this process)".into(),
            ws_url: s.ws_url(),
            server: Server::Baseline(s),
            cpu: ServerCpu::Embedded,
            pid: None,
        })
    }

    /// A server at `url`.
    pub fn remote(url: &str, pid: Option<u32>) -> Subject {
        Subject {
            name: url.to_owned(),
            ws_url: url.to_owned(),
            server: Server::Remote,
            cpu: pid.map_or(ServerCpu::Unknown, ServerCpu::Pid),
            pid,
        }
    }

    /// The generator's view of it.
    pub fn target(&self, opts: &BenchOptions) -> Result<WsTarget, BenchError> {
        WsTarget::parse(&self.ws_url, &opts.topic, opts.join_timeout, &opts.tls)
            .map_err(BenchError::Usage)
    }

    /// The trigger for it: the baseline directly, an explicit `--trigger`, or the control API
    /// of the embedded server / of the URL's host and port.
    pub async fn trigger(&self, opts: &BenchOptions) -> Result<Trigger<'_>, BenchError> {
        match (&self.server, &opts.trigger) {
            (Server::Baseline(b), _) => Ok(Trigger::Baseline(b)),
            (Server::Embedded(e), _) => Ok(Trigger::Control(e.control(opts.timeout))),
            (Server::Remote, Some(spec)) => Trigger::connect(spec, opts.timeout, &opts.tls)
                .await
                .map_err(BenchError::Unreachable),
            (Server::Remote, None) => {
                let u =
                    url::Url::parse(&self.ws_url).map_err(|e| BenchError::Usage(e.to_string()))?;
                let spec = TriggerSpec::Control {
                    authority: format!(
                        "{}:{}",
                        u.host_str().unwrap_or("127.0.0.1"),
                        u.port_or_known_default().unwrap_or(80)
                    ),
                    token: None,
                    // A wss:// server serves its control API over HTTPS on the same port.
                    https: u.scheme() == "wss",
                };
                Trigger::connect(&spec, opts.timeout, &opts.tls)
                    .await
                    .map_err(BenchError::Unreachable)
            }
        }
    }
}

/// The connect phase's result.
pub struct Connected {
    /// Joined sockets, with their connection index.
    pub conns: Vec<(usize, Ws)>,
    /// Failed connections.
    pub failures: Failures,
    /// Connect+join latencies.
    pub latencies: Latencies,
    /// Wall time of the phase.
    pub elapsed: Duration,
}

/// One connection attempt: its index, the socket or why not, and how long it took.
type Attempt = (usize, Result<Ws, ConnError>, Duration);

/// [`connect_all`] with the options' shape (`--clients`, `--concurrency`, `--timeout`); a run
/// in which no client joined `name` is an error that lists why they failed.
pub async fn join_clients(
    opts: &BenchOptions,
    targets: &[WsTarget],
    name: &str,
) -> Result<Connected, BenchError> {
    let connected = connect_all(
        targets,
        opts.clients,
        opts.concurrency,
        opts.timeout,
        opts.quiet,
    )
    .await;
    if connected.conns.is_empty() {
        return Err(BenchError::Unreachable(format!(
            "no client could join {name}: {:?}",
            connected.failures
        )));
    }
    Ok(connected)
}

/// Connects and joins `n` clients, `concurrency` at a time, round-robin over `targets`;
/// bounded by `n` and by `timeout`.
pub async fn connect_all(
    targets: &[WsTarget],
    n: u64,
    concurrency: usize,
    timeout: Duration,
    quiet: bool,
) -> Connected {
    let started = Instant::now();
    let deadline = started + timeout;
    let next = Arc::new(AtomicUsize::new(0));
    let joined = Arc::new(AtomicU64::new(0));
    let results: Arc<Mutex<Vec<Attempt>>> = Arc::new(Mutex::new(Vec::with_capacity(n as usize)));
    let _progress = Progress::start("connecting", n, joined.clone(), quiet);
    let mut workers = Vec::new();
    for _ in 0..concurrency.clamp(1, n.max(1) as usize) {
        let (targets, next, joined, results) = (
            targets.to_vec(),
            next.clone(),
            joined.clone(),
            results.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i as u64 >= n {
                    break;
                }
                let r = if Instant::now() >= deadline {
                    Err(ConnError::Timeout(
                        "before connecting (the phase's --timeout passed)",
                    ))
                } else {
                    let t = Instant::now();
                    let target = &targets[i % targets.len()];
                    conn::connect_and_join(target, i)
                        .await
                        .map(|ws| (ws, t.elapsed()))
                };
                let entry = match r {
                    Ok((ws, took)) => (i, Ok(ws), took),
                    Err(e) => (i, Err(e), Duration::ZERO),
                };
                joined.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut v) = results.lock() {
                    v.push(entry);
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let mut out = Connected {
        conns: Vec::with_capacity(n as usize),
        failures: Failures::default(),
        latencies: Latencies::new(),
        elapsed,
    };
    let results = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    for (i, r, took) in results {
        match r {
            Ok(ws) => {
                out.latencies.record(took.as_micros() as u64);
                out.conns.push((i, ws));
            }
            Err(e) => out.failures.add(&e),
        }
    }
    out.conns.sort_by_key(|(i, _)| *i);
    out
}

/// Runs `opts.mode`: the measured target, then the baseline when asked for.
pub async fn run(opts: &BenchOptions) -> Result<Outcome, BenchError> {
    if opts.clients == 0 {
        return Err(BenchError::Usage("--clients must be at least 1".into()));
    }
    let needs_messages = matches!(opts.mode, Mode::Fanout | Mode::CrossNode);
    if needs_messages && opts.messages == 0 {
        return Err(BenchError::Usage("--messages must be at least 1".into()));
    }
    if opts.mode == Mode::CrossNode {
        return cross_node::run(opts).await;
    }
    if opts.urls.len() > 1 {
        return Err(BenchError::Usage(format!(
            "{} takes one --url",
            opts.mode.name()
        )));
    }
    let rt = ServerRuntime::start(2).map_err(BenchError::Unreachable)?;
    let mut subject = match opts.urls.first() {
        Some(url) => Subject::remote(url, opts.server_pid),
        None => Subject::embedded(rt.clone(), "bench@127.0.0.1", None).await?,
    };
    let report = run_mode(opts, &mut subject).await?;
    let baseline = if opts.baseline {
        let mut b = Subject::baseline(rt.clone()).await?;
        Some(run_mode(opts, &mut b).await?)
    } else {
        None
    };
    Ok(Outcome {
        report,
        baseline,
        baseline_label: "bare tokio-tungstenite server",
    })
}

async fn run_mode(
    opts: &BenchOptions,
    subject: &mut Subject,
) -> Result<report::Report, BenchError> {
    let mut report = match opts.mode {
        Mode::Fanout => {
            let target = subject.target(opts)?;
            let trigger = subject.trigger(opts).await?;
            fanout::measure(opts, &[target], &trigger, subject.cpu, &subject.name).await?
        }
        Mode::Joins => joins::measure(opts, subject).await?,
        Mode::Idle => idle::measure(opts, subject).await?,
        Mode::Storm => storm::measure(opts, subject).await?,
        Mode::CrossNode => {
            return Err(BenchError::Usage(
                "cross-node runs through cross_node::run".into(),
            ))
        }
    };
    report.judge_generator(opts.threads);
    Ok(report)
}
