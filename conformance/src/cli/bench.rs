//! `phx bench MODE`: load figures with exact delivery counts (see [`crate::bench`]).
//!
//! Exit codes: 0 every delivery and connection accounted for; 1 something missing, duplicated
//! or a connection failed; 2 usage; 3 a server, the trigger or Redis unreachable.

use std::process::ExitCode;
use std::time::Duration;

use crate::bench::cpu::GENERATOR_THREAD;
use crate::bench::trigger::{TriggerSpec, DEFAULT_ENDPOINT};
use crate::bench::{self, BenchError, BenchOptions, Mode};

/// Arguments of `phx bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    mode: Mode,
    /// Socket URL, e.g. ws://127.0.0.1:4000/socket or wss://… (default: an embedded phx-server).
    /// cross-node: give it twice, node A (broadcasts) then node B.
    #[arg(long = "url")]
    urls: Vec<String>,
    /// Connections.
    #[arg(long, default_value_t = 1000)]
    clients: u64,
    /// Broadcasts (fanout, cross-node).
    #[arg(long, default_value_t = 200)]
    messages: u64,
    /// Topic every client joins.
    #[arg(long, default_value = "ping:bench")]
    topic: String,
    /// Event of the broadcasts (one the app does not intercept).
    #[arg(long, default_value = "tick")]
    event: String,
    /// How broadcasts are published: control:http(s)://HOST:PORT (phx-server's control API) or
    /// erl:NAME@HOST:COOKIE (Endpoint.broadcast in a loop inside a Phoenix node). Default: the
    /// control API of the --url's host and port.
    #[arg(long)]
    trigger: Option<String>,
    /// Bearer token for the control API.
    #[arg(long, env = "PHX_CONTROL_TOKEN")]
    control_token: Option<String>,
    /// Endpoint module for the erl trigger (MyAppWeb.Endpoint or its atom).
    #[arg(long, env = "PHX_ENDPOINT_MODULE", default_value = DEFAULT_ENDPOINT)]
    endpoint_module: String,
    /// The server's process id: its RSS (idle) and CPU are reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Also run the same shape against a bare tokio-tungstenite server (cross-node: on a
    /// single node) and report the ratio.
    #[arg(long)]
    baseline: bool,
    /// One JSON object on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// Concurrent connects.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// Bound of each phase, seconds (connecting, delivering, rejoining).
    #[arg(long, default_value_t = 60.0)]
    timeout: f64,
    /// Bound of one connect + join, seconds.
    #[arg(long, default_value_t = 10.0)]
    join_timeout: f64,
    /// How long idle connections are held, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Redis URL for cross-node without --url: two embedded nodes clustered over it.
    #[arg(long)]
    redis: Option<String>,
    /// cross-node: spread clients over both nodes instead of all on node B.
    #[arg(long)]
    split: bool,
    /// Generator threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// No progress line.
    #[arg(long)]
    quiet: bool,
    #[command(flatten)]
    tls: crate::cli::tls_args::TlsArgs,
}

fn seconds(flag: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("--{flag} {s}: not a duration in seconds"))
}

impl BenchArgs {
    fn options(self) -> Result<BenchOptions, String> {
        let trigger = self
            .trigger
            .as_deref()
            .map(|t| {
                let endpoint = crate::triggers::erlang::module_atom(&self.endpoint_module);
                TriggerSpec::parse(t, self.control_token.clone(), &endpoint)
            })
            .transpose()?;
        let tls = self.tls.config().map_err(|e| e.to_string())?;
        Ok(BenchOptions {
            mode: self.mode,
            urls: self.urls,
            clients: self.clients,
            messages: self.messages,
            topic: self.topic,
            event: self.event,
            trigger,
            server_pid: self.server_pid,
            baseline: self.baseline,
            concurrency: self.concurrency.max(1),
            timeout: seconds("timeout", self.timeout)?,
            join_timeout: seconds("join-timeout", self.join_timeout)?,
            duration: seconds("duration", self.duration)?,
            redis: self.redis,
            split: self.split,
            threads: self.threads.max(1),
            quiet: self.quiet || self.json,
            tls,
        })
    }
}

/// Runs `phx bench`.
pub fn run(args: BenchArgs) -> ExitCode {
    let json = args.json;
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    // The generator's own runtime, its threads named so their CPU is measured apart from an
    // embedded server's.
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(opts.threads)
        .thread_name(GENERATOR_THREAD)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = rt.block_on(async { tokio::spawn(async move { bench::run(&opts).await }).await });
    let outcome = match result {
        Ok(Ok(o)) => o,
        Ok(Err(BenchError::Usage(e))) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
        Err(e) => {
            eprintln!("error: the bench task failed: {e}");
            return ExitCode::from(3);
        }
    };
    if json {
        println!("{}", outcome.json());
    } else {
        println!("{}", outcome.text());
    }
    if outcome.clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
