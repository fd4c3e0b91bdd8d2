//! What a bench run prints: a [`Report`] per measured target, as text for people or one JSON
//! object (`--json`); failed connections counted by reason; the progress line on a terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};

use super::conn::ConnError;
use super::cpu::CpuUse;
use super::histogram::Percentiles;

/// Generator CPU (in cores, per generator thread) above which the figure is the generator's.
pub const GENERATOR_BOUND: f64 = 0.9;

/// Failed connections by reason.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Failures(BTreeMap<String, u64>);

impl Failures {
    /// Counts one failure.
    pub fn add(&mut self, e: &ConnError) {
        *self.0.entry(e.to_string()).or_default() += 1;
    }

    /// Adds another set.
    pub fn merge(&mut self, other: Failures) {
        for (k, v) in other.0 {
            *self.0.entry(k).or_default() += v;
        }
    }

    /// Failed connections in all.
    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// One measured run against one target.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Report {
    /// The mode (`fanout`, `joins`, …).
    pub mode: &'static str,
    /// What was measured (`embedded phx-server`, a URL, `baseline`).
    pub target: String,
    /// Connections asked for.
    pub clients: u64,
    /// Broadcasts per run (fan-out shapes), else 0.
    pub messages: u64,
    /// Operations per second: deliveries (fanout, cross-node), joins (joins, idle, storm).
    pub rate: f64,
    /// What `rate` counts.
    pub rate_unit: &'static str,
    /// Deliveries (fan-out) or connections (idle, storm) expected but not seen.
    pub missing: u64,
    /// Deliveries seen more than once.
    pub duplicated: u64,
    /// Deliveries that arrived after a later broadcast.
    pub out_of_order: u64,
    /// Latency figures (what they measure depends on the mode; see `latency`).
    #[serde(flatten)]
    pub latency: Percentiles,
    /// What the latencies measure.
    pub latency_of: &'static str,
    /// Wall time of the measured phase, s.
    pub elapsed_s: f64,
    /// Connections that failed, in all.
    pub connections_failed: u64,
    /// Failed connections by reason.
    pub failures: Failures,
    /// CPU over the measured phase.
    pub cpu: CpuUse,
    /// True when the generator was busy enough to be the limit.
    pub generator_bound: bool,
    /// Mode-specific figures, at the top level of the JSON object.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Report {
    /// Sets `generator_bound` from the generator's CPU and its thread count.
    pub fn judge_generator(&mut self, threads: usize) {
        self.generator_bound = self.cpu.generator_cores >= GENERATOR_BOUND * threads as f64;
    }

    /// True when nothing was missing, duplicated or failed.
    pub fn clean(&self) -> bool {
        self.missing == 0 && self.duplicated == 0 && self.connections_failed == 0
    }

    /// The text form.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{} against {}: {} clients{}\n  rate {:.0} {}/s over {:.3} s; missing {}, duplicated {}, out of order {}\n  {}: p50 {} µs, p99 {} µs, p99.9 {} µs, max {} µs ({} samples)\n  CPU: generator {:.0}% of a core",
            self.mode,
            self.target,
            self.clients,
            if self.messages > 0 { format!(" × {} broadcasts", self.messages) } else { String::new() },
            self.rate,
            self.rate_unit,
            self.elapsed_s,
            self.missing,
            self.duplicated,
            self.out_of_order,
            self.latency_of,
            self.latency.p50_us,
            self.latency.p99_us,
            self.latency.p999_us,
            self.latency.max_us,
            self.latency.samples,
            self.cpu.generator_cores * 100.0,
        );
        if let Some(server) = self.cpu.server_cores {
            s.push_str(&format!(", server {:.0}%", server * 100.0));
        }
        for (k, v) in &self.extra {
            s.push_str(&format!("\n  {k}: {v}"));
        }
        s.push_str(&format!(
            "\n  failed connections: {}",
            self.connections_failed
        ));
        for (reason, n) in &self.failures.0 {
            s.push_str(&format!("\n    {n} × {reason}"));
        }
        if self.generator_bound {
            s.push_str("\n  WARNING: the generator used nearly all of its threads' CPU: this figure may be the generator's limit, not the server's");
        }
        s
    }
}

/// A whole run: the measured report and, with `--baseline`, the baseline's.
pub struct Outcome {
    /// The measured target.
    pub report: Report,
    /// The baseline, when asked for.
    pub baseline: Option<Report>,
    /// What the baseline is (`bare tokio-tungstenite server`, `single node`).
    pub baseline_label: &'static str,
}

impl Outcome {
    /// The JSON object: the report's fields, plus `baseline_rate`, `ratio` and `baseline`.
    pub fn json(&self) -> Value {
        let mut v = serde_json::to_value(&self.report).unwrap_or(Value::Null);
        if let (Some(b), Value::Object(map)) = (&self.baseline, &mut v) {
            map.insert("baseline_rate".into(), b.rate.into());
            map.insert("ratio".into(), ratio(self.report.rate, b.rate).into());
            map.insert("baseline_kind".into(), self.baseline_label.into());
            map.insert(
                "baseline".into(),
                serde_json::to_value(b).unwrap_or(Value::Null),
            );
        }
        v
    }

    /// The text form.
    pub fn text(&self) -> String {
        let mut s = self.report.text();
        if let Some(b) = &self.baseline {
            s.push_str(&format!(
                "\n\nbaseline ({}):\n{}",
                self.baseline_label,
                b.text()
            ));
            s.push_str(&format!(
                "\n\nratio: {:.2} of the baseline's rate ({:.0} against {:.0} {}/s)",
                ratio(self.report.rate, b.rate),
                self.report.rate,
                b.rate,
                self.report.rate_unit
            ));
        }
        s
    }

    /// True when every report is clean.
    pub fn clean(&self) -> bool {
        self.report.clean() && self.baseline.as_ref().is_none_or(Report::clean)
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The progress line on stderr, shown only when stderr is a terminal: `label done/total`,
/// redrawn every 200 ms until dropped.
pub struct Progress {
    stop: Arc<AtomicBool>,
    shown: bool,
}

impl Progress {
    /// Shows `counter` out of `total` (does nothing off a terminal or with `quiet`).
    pub fn start(label: &str, total: u64, counter: Arc<AtomicU64>, quiet: bool) -> Progress {
        let stop = Arc::new(AtomicBool::new(false));
        let shown = !quiet && std::io::stderr().is_terminal();
        if shown {
            let (label, stop) = (label.to_owned(), stop.clone());
            tokio::spawn(async move {
                // Bounded: a run is bounded by its own deadline; this stops with it or at 1 h.
                for _ in 0..18_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let done = counter.load(Ordering::Relaxed);
                    let width = 30u64;
                    let filled = (done.min(total) * width)
                        .checked_div(total)
                        .unwrap_or(width);
                    eprint!(
                        "\r{label} [{}{}] {done}/{total}",
                        "#".repeat(filled as usize),
                        " ".repeat((width - filled) as usize)
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            });
        }
        Progress { stop, shown }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}
