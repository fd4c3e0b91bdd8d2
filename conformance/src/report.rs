//! Reports of a run: a human summary table, JSON, or JUnit XML (for CI test tabs).

use crate::runner::{ScenarioResult, Status};
use serde_json::json;

/// Output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A summary table.
    Human,
    /// One JSON document.
    Json,
    /// JUnit XML.
    Junit,
}

/// Counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Passed scenarios.
    pub passed: usize,
    /// Failed scenarios.
    pub failed: usize,
    /// Skipped scenarios.
    pub skipped: usize,
}

impl Summary {
    /// Counts results.
    pub fn of(results: &[ScenarioResult]) -> Self {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Failed(_) => s.failed += 1,
                Status::Skipped(_) => s.skipped += 1,
            }
        }
        s
    }
}

/// The one-line progress line for a result.
pub fn progress_line(r: &ScenarioResult) -> String {
    let (tag, extra) = match &r.status {
        Status::Passed => ("PASS", String::new()),
        Status::Failed(_) => ("FAIL", String::new()),
        Status::Skipped(why) => ("SKIP", format!(" ({why})")),
    };
    format!(
        "{tag} {:<22} {} [{} ms]{extra}",
        r.id,
        r.name,
        r.duration.as_millis()
    )
}

/// Renders results.
pub fn render(format: Format, target: &str, results: &[ScenarioResult]) -> String {
    match format {
        Format::Human => human(target, results),
        Format::Json => json_report(target, results),
        Format::Junit => junit(target, results),
    }
}

fn human(target: &str, results: &[ScenarioResult]) -> String {
    let mut out = format!(
        "\nTarget: {target}\n\n{:<22} {:<6} {:>8}  scenario\n",
        "id", "result", "ms"
    );
    for r in results {
        let res = match r.status {
            Status::Passed => "pass",
            Status::Failed(_) => "FAIL",
            Status::Skipped(_) => "skip",
        };
        out.push_str(&format!(
            "{:<22} {:<6} {:>8}  {}\n",
            r.id,
            res,
            r.duration.as_millis(),
            r.name
        ));
    }
    for r in results {
        match &r.status {
            Status::Failed(f) => out.push_str(&format!("\nFAILED {} ({}): {f}\n", r.id, r.name)),
            Status::Skipped(why) => out.push_str(&format!("\nskipped {}: {why}", r.id)),
            Status::Passed => {}
        }
    }
    for r in results.iter().filter(|r| !r.outcome.app_traffic.is_empty()) {
        let t = &r.outcome.app_traffic;
        out.push_str(&format!(
            "\napp traffic in {} (the app's own pushes, not checked): {} frame(s), first: {}",
            r.id,
            t.len(),
            t[0]
        ));
    }
    let s = Summary::of(results);
    out.push_str(&format!(
        "\n\n{} passed, {} failed, {} skipped ({} scenarios)\n",
        s.passed,
        s.failed,
        s.skipped,
        results.len()
    ));
    out
}

fn json_report(target: &str, results: &[ScenarioResult]) -> String {
    let s = Summary::of(results);
    let items: Vec<_> = results
        .iter()
        .map(|r| {
            let (status, detail) = match &r.status {
                Status::Passed => ("passed", json!(null)),
                Status::Failed(f) => (
                    "failed",
                    json!({"step": f.step + 1, "conn": f.conn, "expected": f.expected, "actual": f.actual}),
                ),
                Status::Skipped(why) => ("skipped", json!(why)),
            };
            json!({"id": r.id, "name": r.name, "status": status, "duration_ms": r.duration.as_millis() as u64, "detail": detail, "app_traffic": r.outcome.app_traffic})
        })
        .collect();
    let doc = json!({
        "target": target,
        "passed": s.passed, "failed": s.failed, "skipped": s.skipped,
        "scenarios": items,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// Escapes text for XML and HTML attributes and bodies.
pub(crate) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn junit(target: &str, results: &[ScenarioResult]) -> String {
    let s = Summary::of(results);
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"phx check\" tests=\"{}\" failures=\"{}\" skipped=\"{}\" time=\"{total:.3}\">\n<properties><property name=\"target\" value=\"{}\"/></properties>\n",
        results.len(),
        s.failed,
        s.skipped,
        xml_escape(target)
    );
    for r in results {
        out.push_str(&format!(
            "<testcase classname=\"phx.{}\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(&r.id),
            xml_escape(&r.name),
            r.duration.as_secs_f64()
        ));
        match &r.status {
            Status::Passed => out.push_str("/>\n"),
            Status::Failed(f) => out.push_str(&format!(
                ">\n<failure message=\"{}\">{}</failure>\n</testcase>\n",
                xml_escape(&format!("expected {}", f.expected)),
                xml_escape(&f.to_string())
            )),
            Status::Skipped(why) => out.push_str(&format!(
                ">\n<skipped message=\"{}\"/>\n</testcase>\n",
                xml_escape(why)
            )),
        }
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}
