//! The hostile-input harness: starts a real `phx-server` process and attacks it over the wire
//! while a bystander client keeps heartbeating, then reports what the server did.
//!
//! Attacks (see `attacks`): validly signed ETF-bomb tokens and a token minted with the public
//! fixture key against a server with no configured key; WebSocket protocol errors, each with its
//! expected close code; fuzzed and mutated frames; clients that push 1 MiB echoes and never
//! read; pipelined heartbeats; a reading client under a broadcast burst; silent and trickling
//! handshakes and oversized request heads; control API abuse.
//!
//! The [`Report`] gives peak RSS (the kernel's `VmHWM` after each attack), the bystander's
//! longest gap between two heartbeat replies, panics in the server's log, and every close code
//! seen. [`Scale::Short`] runs in well under a minute against a debug build (the CI test in
//! `server/tests/server/hostile.rs`); [`Scale::Long`] is the full-size run of
//! `cargo bench -p phx-server --bench hostile`.

mod attacks;
pub mod raw;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::client::TestClient;

/// How hard to attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// CI size: seconds per attack, short server timeouts.
    Short,
    /// The sizes: 200,000 fuzzed frames, 200,000-broadcast burst, default timeouts.
    Long,
}

/// Sizes and server timeouts for one run.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Fuzzed frames in total.
    pub fuzz_frames: usize,
    /// Concurrent fuzzing connections.
    pub fuzz_conns: usize,
    /// Clients pushing 1 MiB echoes without reading.
    pub non_readers: usize,
    /// Heartbeats written in one go before reading.
    pub pipelined: usize,
    /// Broadcasts in the burst.
    pub burst: u64,
    /// Silent TCP connections opened before any byte.
    pub silent_conns: usize,
    /// Each ETF bomb is tried this many times.
    pub bomb_tries: usize,
    /// Fuzzed control API requests.
    pub control_requests: usize,
    /// The server's `--request-timeout-ms`.
    pub request_timeout: Duration,
    /// The server's `--slow-consumer-timeout-ms`.
    pub slow_consumer_timeout: Duration,
}

impl Plan {
    /// The plan for a scale.
    pub fn for_scale(scale: Scale) -> Plan {
        match scale {
            Scale::Short => Plan {
                fuzz_frames: 3_000,
                fuzz_conns: 8,
                non_readers: 2,
                pipelined: 2_000,
                burst: 20_000,
                silent_conns: 50,
                bomb_tries: 3,
                control_requests: 100,
                request_timeout: Duration::from_secs(1),
                slow_consumer_timeout: Duration::from_secs(2),
            },
            Scale::Long => Plan {
                fuzz_frames: 200_000,
                fuzz_conns: 32,
                non_readers: 4,
                pipelined: 10_000,
                burst: 200_000,
                silent_conns: 1_000,
                bomb_tries: 20,
                control_requests: 2_000,
                request_timeout: Duration::from_secs(5),
                slow_consumer_timeout: Duration::from_secs(10),
            },
        }
    }
}

/// Why the harness could not run (not a finding about the server).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// The server binary would not start or never listened.
    #[error("cannot start {binary}: {why}")]
    Start {
        /// The binary.
        binary: String,
        /// What went wrong.
        why: String,
    },
    /// The bystander could not connect or join at the start.
    #[error("the bystander could not join: {0}")]
    Bystander(String),
}

/// One attack's outcome.
#[derive(Debug, Clone)]
pub struct Finding {
    /// The attack's name.
    pub attack: &'static str,
    /// What was measured, in words and numbers.
    pub detail: String,
    /// Whether the server held (the attack's own pass criterion).
    pub held: bool,
    /// Peak RSS of the server after this attack, KiB.
    pub peak_rss_kib: u64,
    /// How long the attack took.
    pub took: Duration,
}

/// What a run found.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Every attack, in order.
    pub findings: Vec<Finding>,
    /// The server's peak RSS over the run (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// RSS just after start, KiB.
    pub start_rss_kib: u64,
    /// The bystander's longest time between two heartbeat replies.
    pub bystander_max_gap: Duration,
    /// Heartbeats the bystander got answered.
    pub bystander_replies: u64,
    /// True if the bystander lost its connection.
    pub bystander_lost: bool,
    /// Lines of the server's log that mention a panic.
    pub panics: Vec<String>,
    /// Close codes the attackers saw (0: dropped without a close frame).
    pub close_codes: BTreeMap<u16, u64>,
    /// The server still answered `GET /` at the end.
    pub alive_at_end: bool,
}

impl Report {
    /// True when every attack held, the server stayed alive and never panicked, and the
    /// bystander kept its connection.
    pub fn held(&self) -> bool {
        self.findings.iter().all(|f| f.held)
            && self.alive_at_end
            && self.panics.is_empty()
            && !self.bystander_lost
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for x in &self.findings {
            writeln!(
                f,
                "{:5} {:<16} {:>8.2} s  peak RSS {:>7.1} MiB  {}",
                if x.held { "HELD" } else { "FAIL" },
                x.attack,
                x.took.as_secs_f64(),
                x.peak_rss_kib as f64 / 1024.0,
                x.detail
            )?;
        }
        writeln!(
            f,
            "server RSS: {:.1} MiB at start, {:.1} MiB peak",
            self.start_rss_kib as f64 / 1024.0,
            self.peak_rss_kib as f64 / 1024.0
        )?;
        writeln!(
            f,
            "bystander: {} heartbeat replies, longest gap {:.3} s{}",
            self.bystander_replies,
            self.bystander_max_gap.as_secs_f64(),
            if self.bystander_lost {
                ", CONNECTION LOST"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "close codes seen (0 = no close frame): {:?}",
            self.close_codes
        )?;
        writeln!(
            f,
            "panics: {}; alive at end: {}",
            self.panics.len(),
            self.alive_at_end
        )?;
        for p in self.panics.iter().take(5) {
            writeln!(f, "  {p}")?;
        }
        Ok(())
    }
}

/// The server key the harness gives the server, so that it can sign bombs as an attacker who
/// holds the key would.
pub const HARNESS_KEY: &str =
    "hostile-harness-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyz0123456789";

/// A running `phx-server` child.
pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    pub(crate) async fn start(binary: &PathBuf, args: &[String]) -> Result<Self, HarnessError> {
        let err = |why: String| HarnessError::Start {
            binary: binary.display().to_string(),
            why,
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| err(e.to_string()))?
            .port();
        static RUN: AtomicU64 = AtomicU64::new(0);
        let log = std::env::temp_dir().join(format!(
            "phx-hostile-{}-{}.log",
            std::process::id(),
            RUN.fetch_add(1, Ordering::Relaxed)
        ));
        let file = std::fs::File::create(&log).map_err(|e| err(e.to_string()))?;
        let child = Command::new(binary)
            .args(["serve", "--port", &port.to_string(), "--control"])
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .map_err(|e| err(e.to_string()))?;
        let mut server = ServerProcess {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(server.addr).await.is_err() {
            if Instant::now() > deadline {
                return Err(err("did not listen within 20 s".into()));
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(err(format!("exited at start: {status}")));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(server)
    }

    fn status_kib(&self, field: &str) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with(field))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Peak RSS so far (VmHWM), KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Current RSS, KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    pub(crate) fn ws_url(&self, path: &str) -> String {
        format!("ws://{}{path}/websocket", self.addr)
    }

    fn panics(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("panicked"))
            .map(str::to_owned)
            .collect()
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// Close codes seen by the attackers, shared.
#[derive(Clone, Default)]
pub(crate) struct Codes(Arc<Mutex<BTreeMap<u16, u64>>>);

impl Codes {
    pub(crate) fn note(&self, ending: raw::Ending) {
        let code = match ending {
            raw::Ending::Close(c) => c.unwrap_or(1005),
            raw::Ending::Dropped => 0,
            raw::Ending::StillOpen => return,
        };
        if let Ok(mut m) = self.0.lock() {
            *m.entry(code).or_default() += 1;
        }
    }
}

/// The bystander: heartbeats every 20 ms and records the longest gap between replies.
struct Bystander {
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Duration, u64, bool)>,
}

impl Bystander {
    async fn start(url: &str) -> Result<Bystander, HarnessError> {
        let mut c = TestClient::connect(url, &[])
            .await
            .map_err(|e| HarnessError::Bystander(e.to_string()))?;
        c.join("ping", serde_json::json!({})).await;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let task = tokio::spawn(async move {
            let mut last = Instant::now();
            let mut max_gap = Duration::ZERO;
            let mut replies = 0;
            while !stop2.load(Ordering::Relaxed) {
                let Ok(r) = c.heartbeat().await else {
                    return (max_gap, replies, true);
                };
                let deadline = Instant::now() + Duration::from_secs(30);
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    match c.recv(left).await {
                        Ok(phx_protocol::ServerMessage::Reply(rep)) if rep.ref_ == r => break,
                        Ok(_) => continue,
                        Err(_) => return (max_gap.max(last.elapsed()), replies, true),
                    }
                }
                replies += 1;
                max_gap = max_gap.max(last.elapsed());
                last = Instant::now();
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (max_gap, replies, false)
        });
        Ok(Bystander { stop, task })
    }

    async fn finish(self) -> (Duration, u64, bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap_or((Duration::MAX, 0, true))
    }
}

/// Runs every attack against `binary` (a `phx-server` executable) at `scale`.
pub async fn run(binary: PathBuf, scale: Scale) -> Result<Report, HarnessError> {
    let plan = Plan::for_scale(scale);
    let args = vec![
        "--secret-key-base".to_string(),
        HARNESS_KEY.to_string(),
        "--request-timeout-ms".into(),
        plan.request_timeout.as_millis().to_string(),
        "--slow-consumer-timeout-ms".into(),
        plan.slow_consumer_timeout.as_millis().to_string(),
    ];
    let server = ServerProcess::start(&binary, &args).await?;
    let mut report = Report {
        start_rss_kib: server.rss_kib(),
        ..Report::default()
    };
    let bystander = Bystander::start(&server.ws_url("/socket")).await?;
    let codes = Codes::default();

    macro_rules! attack {
        ($name:literal, $e:expr) => {{
            let t0 = Instant::now();
            let (held, detail) = $e;
            report.findings.push(Finding {
                attack: $name,
                detail,
                held,
                peak_rss_kib: server.peak_rss_kib(),
                took: t0.elapsed(),
            });
        }};
    }
    attack!("unkeyed_server", attacks::unkeyed_server(&binary).await);
    attack!("etf_bombs", attacks::etf_bombs(&server, &plan).await);
    attack!(
        "protocol_errors",
        attacks::protocol_errors(&server, &codes).await
    );
    attack!("fuzz", attacks::fuzz(&server, &plan, &codes).await);
    attack!(
        "non_readers",
        attacks::non_readers(&server, &plan, &codes).await
    );
    attack!("pipelining", attacks::pipelining(&server, &plan).await);
    attack!("burst", attacks::burst(&server, &plan).await);
    attack!("handshakes", attacks::handshakes(&server, &plan).await);
    attack!(
        "control_abuse",
        attacks::control_abuse(&server, &plan).await
    );

    let (gap, replies, lost) = bystander.finish().await;
    report.bystander_max_gap = gap;
    report.bystander_replies = replies;
    report.bystander_lost = lost;
    report.peak_rss_kib = server.peak_rss_kib();
    report.alive_at_end = raw::http(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .0 == 200;
    report.panics = server.panics();
    report.close_codes = codes.0.lock().map(|m| m.clone()).unwrap_or_default();
    server.stop();
    Ok(report)
}
