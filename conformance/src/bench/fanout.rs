//! Fan-out: N clients join, M stamped broadcasts are published inside the server, every
//! delivery is counted per connection. The rate is deliveries over the time from the trigger
//! to the last delivery; latencies are publish → receive per delivery, and publish → last
//! receiver per broadcast.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio::time::Instant;

use super::conn::{self, unix_micros, WsTarget};
use super::cpu::{CpuMeter, ServerCpu};
use super::histogram::Latencies;
use super::report::{Progress, Report};
use super::trigger::Trigger;
use super::{join_clients, BenchError, BenchOptions};

/// With the trigger done, how long deliveries may pause before the run ends with what arrived.
const SETTLE: Duration = Duration::from_secs(3);

/// Runs one fan-out against `targets` (clients round-robin over them), published by `trigger`.
pub async fn measure(
    opts: &BenchOptions,
    targets: &[WsTarget],
    trigger: &Trigger<'_>,
    server_cpu: ServerCpu,
    name: &str,
) -> Result<Report, BenchError> {
    let connected = join_clients(opts, targets, name).await?;
    let mut failures = connected.failures;
    let joined = connected.conns.len() as u64;
    let m = opts.messages;
    let delivered = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let (stop, stop_rx) = watch::channel(false);
    let deadline = Instant::now() + opts.timeout;
    let readers: Vec<_> = connected
        .conns
        .into_iter()
        .map(|(_, ws)| {
            tokio::spawn(conn::count(
                ws,
                m,
                deadline,
                stop_rx.clone(),
                Some(delivered.clone()),
                done.clone(),
            ))
        })
        .collect();

    let progress = Progress::start("delivering", joined * m, delivered.clone(), opts.quiet);
    let meter = CpuMeter::start(server_cpu);
    let started = Instant::now();
    let t0 = unix_micros();
    trigger
        .broadcast(&opts.topic, &opts.event, m)
        .await
        .map_err(|e| BenchError::Unreachable(format!("the trigger failed: {e}")))?;
    let publish_time = started.elapsed();
    // Bounded by the deadline; ends early when all are complete or nothing moves for SETTLE.
    let (mut last_count, mut last_change) = (0, Instant::now());
    while done.load(Ordering::Relaxed) < joined && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now_count = delivered.load(Ordering::Relaxed);
        if now_count != last_count {
            (last_count, last_change) = (now_count, Instant::now());
        } else if last_change.elapsed() >= SETTLE {
            break;
        }
    }
    let wall = started.elapsed();
    let cpu = meter.stop(wall);
    drop(progress);
    let _ = stop.send(true);

    let mut all = Latencies::new();
    let mut last_receiver = vec![0u64; m as usize];
    let (mut received, mut missing, mut duplicated, mut out_of_order) = (0u64, 0u64, 0u64, 0u64);
    let mut last_at = t0;
    let mut open = Vec::with_capacity(readers.len());
    for r in readers {
        let Ok(counted) = r.await else { continue };
        let c = &counted.counter;
        received += c.distinct;
        missing += c.missing();
        duplicated += c.duplicated + c.unexpected;
        out_of_order += c.out_of_order;
        last_at = last_at.max(c.last_at);
        for (i, l) in c.latencies().enumerate() {
            if let Some(l) = l {
                all.record(l);
                last_receiver[i] = last_receiver[i].max(l);
            }
        }
        if let Some(e) = &counted.failure {
            failures.add(e);
        }
        open.extend(counted.ws);
    }
    drop(open);
    let span = Duration::from_micros(last_at.saturating_sub(t0)).max(Duration::from_micros(1));
    let mut last = Latencies::new();
    last.extend(last_receiver.iter().copied().filter(|&l| l > 0));
    let last = last.percentiles();
    let mut extra = serde_json::Map::new();
    extra.insert("joined".into(), json!(joined));
    extra.insert("delivered".into(), json!(received));
    extra.insert(
        "publish_ms".into(),
        json!(publish_time.as_secs_f64() * 1000.0),
    );
    extra.insert(
        "last_receiver_us".into(),
        json!({"p50": last.p50_us, "p99": last.p99_us, "max": last.max_us}),
    );
    if let Some(ns) = cpu
        .server_cpu_us
        .and_then(|us| (us * 1000).checked_div(received))
    {
        extra.insert("server_cpu_ns_per_delivery".into(), json!(ns));
    }
    Ok(Report {
        mode: opts.mode.name(),
        target: name.to_owned(),
        clients: opts.clients,
        messages: m,
        rate: received as f64 / span.as_secs_f64(),
        rate_unit: "deliveries",
        missing,
        duplicated,
        out_of_order,
        latency: all.percentiles(),
        latency_of: "publish → receive per delivery",
        elapsed_s: span.as_secs_f64(),
        connections_failed: failures.total(),
        failures,
        cpu,
        generator_bound: false,
        extra,
    })
}
