//! Reconnect storm: N joined clients, then the server restarts (embedded and baseline: in
//! this process, same address; `--url`: the bench waits for you to restart it). Each client
//! reconnects on phoenix.js's schedule (10, 50, 100, 150, 200, 250, 500, 1000, 2000 ms, then
//! 5 s) and rejoins; the latencies are each client's disconnect → rejoined time, the rate is
//! rejoins per second from the restart to the last rejoin.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::time::Instant;

use super::conn::{self, ConnError, Ws, WsTarget};
use super::cpu::CpuMeter;
use super::histogram::Latencies;
use super::report::{Failures, Report};
use super::{join_clients, BenchError, BenchOptions, Server, Subject};

/// phoenix.js's `reconnectAfterMs` (then 5 s).
const SCHEDULE_MS: [u64; 10] = [10, 50, 100, 150, 200, 250, 500, 1000, 2000, 5000];
/// Reconnect attempts per client at most (the deadline usually ends them first).
const MAX_ATTEMPTS: usize = 1000;

struct Rejoin {
    /// Disconnect → rejoined.
    took: Option<Duration>,
    rejoined_at: Option<Instant>,
    attempts: usize,
    error: Option<ConnError>,
    ws: Option<Ws>,
}

async fn client(target: WsTarget, index: usize, mut ws: Ws, deadline: Instant) -> Rejoin {
    let failed = |error| Rejoin {
        took: None,
        rejoined_at: None,
        attempts: 0,
        error: Some(error),
        ws: None,
    };
    // Wait for the restart to close this socket.
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Err(_) => return failed(ConnError::Timeout("waiting for the server to go away")),
            Ok(Some(Ok(m))) if !m.is_close() => continue,
            Ok(_) => break,
        }
    }
    drop(ws);
    let dropped_at = Instant::now();
    let mut last = ConnError::Timeout("rejoining");
    for attempt in 0..MAX_ATTEMPTS {
        let delay = Duration::from_millis(SCHEDULE_MS[attempt.min(SCHEDULE_MS.len() - 1)]);
        if Instant::now() + delay >= deadline {
            break;
        }
        tokio::time::sleep(delay).await;
        match conn::connect_and_join(&target, index).await {
            Ok(ws) => {
                let now = Instant::now();
                return Rejoin {
                    took: Some(now - dropped_at),
                    rejoined_at: Some(now),
                    attempts: attempt + 1,
                    error: None,
                    ws: Some(ws),
                };
            }
            Err(e) => last = e,
        }
    }
    failed(last)
}

/// Joins N, restarts the server, waits (bounded) until every client has rejoined.
pub async fn measure(opts: &BenchOptions, subject: &mut Subject) -> Result<Report, BenchError> {
    let target = subject.target(opts)?;
    let connected = join_clients(opts, std::slice::from_ref(&target), &subject.name).await?;
    let joined = connected.conns.len() as u64;
    let mut failures: Failures = connected.failures;
    let deadline = Instant::now() + opts.timeout;
    let tasks: Vec<_> = connected
        .conns
        .into_iter()
        .map(|(i, ws)| tokio::spawn(client(target.clone(), i, ws, deadline)))
        .collect();
    let meter = CpuMeter::start(subject.cpu);
    let restart_at = Instant::now();
    match &mut subject.server {
        Server::Embedded(e) => e.restart().await.map_err(BenchError::Unreachable)?,
        Server::Baseline(b) => b.restart().await.map_err(BenchError::Unreachable)?,
        Server::Remote => eprintln!(
            "storm: {joined} clients joined; restart the server now (waiting up to {:?})",
            opts.timeout
        ),
    }
    let mut took = Latencies::new();
    let (mut rejoined, mut attempts, mut last_at) = (0u64, 0usize, restart_at);
    let mut open = Vec::with_capacity(tasks.len());
    for t in tasks {
        let Ok(r) = t.await else { continue };
        attempts += r.attempts;
        if let (Some(d), Some(at)) = (r.took, r.rejoined_at) {
            rejoined += 1;
            took.record(d.as_micros() as u64);
            last_at = last_at.max(at);
        }
        if let Some(e) = &r.error {
            failures.add(e);
        }
        open.extend(r.ws);
    }
    let all_in = last_at - restart_at;
    let cpu = meter.stop(all_in);
    drop(open);
    let mut extra = serde_json::Map::new();
    extra.insert("joined_before".into(), json!(joined));
    extra.insert("rejoined".into(), json!(rejoined));
    extra.insert(
        "all_rejoined_ms".into(),
        json!(all_in.as_secs_f64() * 1000.0),
    );
    extra.insert("reconnect_attempts".into(), json!(attempts));
    let secs = all_in.as_secs_f64().max(1e-9);
    Ok(Report {
        mode: opts.mode.name(),
        target: subject.name.clone(),
        clients: opts.clients,
        messages: 0,
        rate: rejoined as f64 / secs,
        rate_unit: "rejoins",
        missing: opts.clients - rejoined,
        duplicated: 0,
        out_of_order: 0,
        latency: took.percentiles(),
        latency_of: "disconnect → rejoined, per client",
        elapsed_s: secs,
        connections_failed: failures.total(),
        failures,
        cpu,
        generator_bound: false,
        extra,
    })
}
