//! Idle: N joined connections held for `--duration` with heartbeats. With `--server-pid`, the
//! server's RSS per connection and its CPU while idle; an in-process server (embedded,
//! baseline) reports this process's RSS, generator sockets included, and says so.

use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn;
use super::cpu::{process_rss_kib, CpuMeter};
use super::report::Report;
use super::{join_clients, BenchError, BenchOptions, Subject};

/// Time for the server to settle after the last join before RSS is read.
const SETTLE: Duration = Duration::from_millis(500);

/// Connects, reads RSS, holds, reports who is still connected.
pub async fn measure(opts: &BenchOptions, subject: &mut Subject) -> Result<Report, BenchError> {
    let target = subject.target(opts)?;
    let (pid, rss_of) = match subject.pid {
        Some(pid) => (pid, "the server process"),
        None => (
            std::process::id(),
            "this process: server and generator sockets together",
        ),
    };
    tokio::time::sleep(SETTLE).await;
    let before = process_rss_kib(pid);
    let connected = join_clients(opts, &[target], &subject.name).await?;
    let joined = connected.conns.len() as u64;
    tokio::time::sleep(SETTLE).await;
    let after = process_rss_kib(pid);

    let (stop, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + opts.duration;
    let meter = CpuMeter::start(subject.cpu);
    let held: Vec<_> = connected
        .conns
        .into_iter()
        .map(|(_, ws)| tokio::spawn(conn::hold(ws, deadline, stop_rx.clone())))
        .collect();
    let started = Instant::now();
    let mut failures = connected.failures;
    let mut open = Vec::with_capacity(held.len());
    let mut dropped = 0;
    for h in held {
        match h.await {
            Ok((ws, err)) => {
                if let Some(e) = err {
                    failures.add(&e);
                    dropped += 1;
                }
                open.extend(ws);
            }
            Err(_) => dropped += 1,
        }
    }
    let cpu = meter.stop(started.elapsed());
    let _ = stop.send(true);
    drop(open);

    let secs = connected.elapsed.as_secs_f64().max(1e-9);
    let mut extra = serde_json::Map::new();
    extra.insert("joined".into(), json!(joined));
    extra.insert("still_connected".into(), json!(joined - dropped));
    extra.insert("held_s".into(), json!(opts.duration.as_secs_f64()));
    extra.insert("rss_of".into(), json!(rss_of));
    if let (Some(b), Some(a)) = (before, after) {
        extra.insert("rss_before_kib".into(), json!(b));
        extra.insert("rss_after_kib".into(), json!(a));
        extra.insert(
            "rss_per_connection_kib".into(),
            json!(((a.saturating_sub(b)) as f64 / joined as f64 * 100.0).round() / 100.0),
        );
    }
    if let Some(cores) = cpu.server_cores {
        extra.insert("server_cpu_idle_percent".into(), json!(cores * 100.0));
    }
    Ok(Report {
        mode: opts.mode.name(),
        target: subject.name.clone(),
        clients: opts.clients,
        messages: 0,
        rate: joined as f64 / secs,
        rate_unit: "joins",
        missing: opts.clients - (joined - dropped),
        duplicated: 0,
        out_of_order: 0,
        latency: connected.latencies.percentiles(),
        latency_of: "connect + upgrade + join",
        elapsed_s: secs,
        connections_failed: failures.total(),
        failures: std::mem::take(&mut failures),
        cpu,
        generator_bound: false,
        extra,
    })
}
