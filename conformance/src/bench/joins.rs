//! Joins: the connect + upgrade + join rate at `--concurrency`, with the latency of each.

use serde_json::json;

use super::cpu::CpuMeter;
use super::report::Report;
use super::{join_clients, BenchError, BenchOptions, Subject};

/// Connects and joins `--clients` clients, `--concurrency` at a time, then closes them.
pub async fn measure(opts: &BenchOptions, subject: &mut Subject) -> Result<Report, BenchError> {
    let target = subject.target(opts)?;
    let meter = CpuMeter::start(subject.cpu);
    let connected = join_clients(opts, &[target], &subject.name).await?;
    let cpu = meter.stop(connected.elapsed);
    let joined = connected.conns.len() as u64;
    drop(connected.conns);
    let secs = connected.elapsed.as_secs_f64().max(1e-9);
    let mut extra = serde_json::Map::new();
    extra.insert("joined".into(), json!(joined));
    extra.insert("concurrency".into(), json!(opts.concurrency));
    if let Some(us) = cpu.server_cpu_us {
        extra.insert("server_cpu_us_per_join".into(), json!(us / joined));
    }
    Ok(Report {
        mode: opts.mode.name(),
        target: subject.name.clone(),
        clients: opts.clients,
        messages: 0,
        rate: joined as f64 / secs,
        rate_unit: "joins",
        missing: opts.clients - joined,
        duplicated: 0,
        out_of_order: 0,
        latency: connected.latencies.percentiles(),
        latency_of: "connect + upgrade + join",
        elapsed_s: secs,
        connections_failed: connected.failures.total(),
        failures: connected.failures,
        cpu,
        generator_bound: false,
        extra,
    })
}
