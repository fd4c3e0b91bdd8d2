//! Reports of a certification: the human table, JSON and JUnit in the shapes `phx check`
//! uses ([`crate::report`]), and a self-contained HTML page with a row per case.

use serde_json::json;

use super::{CaseResult, Verdict};
use crate::report::{xml_escape, Format};

fn verdict_word(v: &Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "FAIL",
        Verdict::Skip(_) => "skip",
    }
}

fn rejoin_ms(r: &CaseResult) -> String {
    r.timings
        .iter()
        .find(|(k, _)| k.contains("rejoined") || k.starts_with("first refusal"))
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| "-".into())
}

/// Why a case did not pass, in one line.
pub fn reason(r: &CaseResult) -> String {
    match &r.verdict {
        Verdict::Pass => String::new(),
        Verdict::Skip(why) => why.clone(),
        Verdict::Fail => r
            .failures()
            .map(|c| format!("{}: {}", c.name, c.detail))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The one-line progress line.
pub fn progress_line(r: &CaseResult) -> String {
    let extra = match &r.verdict {
        Verdict::Pass => String::new(),
        _ => format!(" ({})", reason(r)),
    };
    format!(
        "{} {:<22} [{} ms]{extra}",
        verdict_word(&r.verdict).to_uppercase(),
        r.name,
        r.duration.as_millis()
    )
}

/// Counts (passed, failed, skipped).
pub fn summary(results: &[CaseResult]) -> (usize, usize, usize) {
    let mut s = (0, 0, 0);
    for r in results {
        match r.verdict {
            Verdict::Pass => s.0 += 1,
            Verdict::Fail => s.1 += 1,
            Verdict::Skip(_) => s.2 += 1,
        }
    }
    s
}

/// Renders the report.
pub fn render(format: Format, client: &str, results: &[CaseResult]) -> String {
    match format {
        Format::Human => human(client, results),
        Format::Json => json_report(client, results),
        Format::Junit => junit(client, results),
    }
}

fn heartbeat_note(results: &[CaseResult]) -> Option<String> {
    let skipped: Vec<&str> = results
        .iter()
        .filter(|r| matches!(&r.verdict, Verdict::Skip(w) if w.starts_with("heartbeat")))
        .map(|r| r.name)
        .collect();
    (!skipped.is_empty()).then(|| {
        format!(
            "The client does not heartbeat at the interval it was asked for: {} could not be certified, and the heartbeat cadence check was not applied.",
            skipped.join(", ")
        )
    })
}

fn human(client: &str, results: &[CaseResult]) -> String {
    let mut out = format!(
        "\nClient: {client}\n\n{:<22} {:<6} {:>7} {:>10}  why\n",
        "case", "result", "ms", "rejoin ms"
    );
    for r in results {
        out.push_str(&format!(
            "{:<22} {:<6} {:>7} {:>10}  {}\n",
            r.name,
            verdict_word(&r.verdict),
            r.duration.as_millis(),
            rejoin_ms(r),
            reason(r)
        ));
    }
    for r in results.iter().filter(|r| r.verdict == Verdict::Fail) {
        out.push_str(&format!("\nFAILED {} ({})\n", r.name, r.fault));
        for c in &r.checks {
            out.push_str(&format!(
                "  [{}] {}: {}\n",
                if c.ok { "ok" } else { "FAIL" },
                c.name,
                c.detail
            ));
        }
        out.push_str("  server-side log around the fault:\n");
        for l in r.frames.iter().take(30) {
            out.push_str(&format!("    {l}\n"));
        }
        if !r.client_output.is_empty() {
            out.push_str("  client output (last lines):\n");
            for l in r.client_output.iter().rev().take(8).rev() {
                out.push_str(&format!("    {l}\n"));
            }
        }
    }
    if let Some(n) = heartbeat_note(results) {
        out.push_str(&format!("\n{n}\n"));
    }
    let (p, f, s) = summary(results);
    out.push_str(&format!(
        "\n{p} passed, {f} failed, {s} skipped ({} cases, {:.1} s)\n",
        results.len(),
        results
            .iter()
            .map(|r| r.duration.as_secs_f64())
            .sum::<f64>()
    ));
    out
}

fn json_report(client: &str, results: &[CaseResult]) -> String {
    let (p, f, s) = summary(results);
    let cases: Vec<_> = results
        .iter()
        .map(|r| {
            let (status, detail) = match &r.verdict {
                Verdict::Pass => ("passed", json!(null)),
                Verdict::Fail => ("failed", json!(reason(r))),
                Verdict::Skip(why) => ("skipped", json!(why)),
            };
            json!({
                "id": r.name, "fault": r.fault, "status": status, "detail": detail,
                "duration_ms": r.duration.as_millis() as u64,
                "timings_ms": r.timings.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<serde_json::Map<_, _>>(),
                "checks": r.checks.iter().map(|c| json!({"name": c.name, "ok": c.ok, "detail": c.detail})).collect::<Vec<_>>(),
                "notes": r.notes,
                "frames": r.frames,
                "client_output": r.client_output,
            })
        })
        .collect();
    let doc = json!({
        "client": client, "passed": p, "failed": f, "skipped": s,
        "heartbeat_note": heartbeat_note(results),
        "cases": cases,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn junit(client: &str, results: &[CaseResult]) -> String {
    let (_, f, s) = summary(results);
    let total: f64 = results.iter().map(|r| r.duration.as_secs_f64()).sum();
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n<testsuite name=\"phx certify\" tests=\"{}\" failures=\"{f}\" skipped=\"{s}\" time=\"{total:.3}\">\n<properties><property name=\"client\" value=\"{}\"/></properties>\n",
        results.len(),
        xml_escape(client)
    );
    for r in results {
        out.push_str(&format!(
            "<testcase classname=\"phx.certify\" name=\"{}\" time=\"{:.3}\"",
            xml_escape(r.name),
            r.duration.as_secs_f64()
        ));
        match &r.verdict {
            Verdict::Pass => out.push_str("/>\n"),
            Verdict::Fail => out.push_str(&format!(
                ">\n<failure message=\"{}\">{}</failure>\n</testcase>\n",
                xml_escape(&reason(r)),
                xml_escape(&r.frames.join("\n"))
            )),
            Verdict::Skip(why) => out.push_str(&format!(
                ">\n<skipped message=\"{}\"/>\n</testcase>\n",
                xml_escape(why)
            )),
        }
    }
    out.push_str("</testsuite>\n</testsuites>\n");
    out
}

/// A self-contained HTML page: one row per case (verdict, timings, checks), with the
/// server-side frames around the fault folded under it.
pub fn html(client: &str, results: &[CaseResult]) -> String {
    let (p, f, s) = summary(results);
    let mut rows = String::new();
    for r in results {
        let class = match r.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Skip(_) => "skip",
        };
        let timings: String = r
            .timings
            .iter()
            .map(|(k, v)| format!("{}: {v} ms<br>", xml_escape(k)))
            .collect();
        let checks: String = r
            .checks
            .iter()
            .map(|c| {
                format!(
                    "<li class=\"{}\"><b>{}</b>: {}</li>",
                    if c.ok { "pass" } else { "fail" },
                    xml_escape(c.name),
                    xml_escape(&c.detail)
                )
            })
            .chain(
                r.notes
                    .iter()
                    .map(|n| format!("<li>{}</li>", xml_escape(n))),
            )
            .collect();
        let skip = match &r.verdict {
            Verdict::Skip(why) => format!("<p>{}</p>", xml_escape(why)),
            _ => String::new(),
        };
        let output = if r.client_output.is_empty() {
            String::new()
        } else {
            format!(
                "<details><summary>client output</summary><pre>{}</pre></details>",
                xml_escape(&r.client_output.join("\n"))
            )
        };
        rows.push_str(&format!(
            "<tr class=\"{class}\"><td><b>{}</b><br><small>{}</small></td><td class=\"v\">{}</td><td>{} ms</td><td>{timings}</td><td>{skip}<ul>{checks}</ul><details{}><summary>frames around the fault ({} lines)</summary><pre>{}</pre></details>{output}</td></tr>\n",
            xml_escape(r.name),
            xml_escape(r.fault),
            verdict_word(&r.verdict),
            r.duration.as_millis(),
            if r.verdict == Verdict::Fail { " open" } else { "" },
            r.frames.len(),
            xml_escape(&r.frames.join("\n")),
        ));
    }
    let note = heartbeat_note(results)
        .map(|n| format!("<p>{}</p>", xml_escape(&n)))
        .unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>phx certify: {c}</title><style>\
body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}\
td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}}\
tr.pass td.v{{background:#cfc}}tr.fail td.v{{background:#fcc}}tr.skip td.v{{background:#eee}}\
li.fail{{color:#a00}}pre{{font-size:12px;white-space:pre-wrap;max-height:30em;overflow:auto;background:#f7f7f7}}\
</style></head><body><h1>phx certify</h1><p>Client: <code>{c}</code></p><p>{p} passed, {f} failed, {s} skipped</p>{note}\
<table><tr><th>case</th><th>verdict</th><th>time</th><th>timings</th><th>checks</th></tr>\n{rows}</table></body></html>\n",
        c = xml_escape(client),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certify::Check;
    use std::time::Duration;

    fn result(verdict: Verdict) -> CaseResult {
        CaseResult {
            name: "tcp_reset",
            fault: "reset <both>",
            verdict,
            duration: Duration::from_millis(1234),
            checks: vec![Check {
                name: "rejoined",
                ok: false,
                detail: "never rejoined \"x\"".into(),
            }],
            timings: vec![("restore -> all topics rejoined".into(), 42)],
            notes: vec![],
            frames: vec!["0.001s conn 1 -> [\"1\",\"1\",\"a\",\"phx_join\",{}]".into()],
            client_output: vec![],
            never_connected: false,
        }
    }

    #[test]
    fn every_format_names_the_case_and_why_it_failed() {
        let rs = [result(Verdict::Fail), result(Verdict::Pass)];
        let human = render(Format::Human, "node c.js", &rs);
        assert!(human.contains("tcp_reset") && human.contains("never rejoined"));
        assert!(human.contains("1 passed, 1 failed, 0 skipped"));
        let doc: serde_json::Value =
            serde_json::from_str(&render(Format::Json, "node c.js", &rs)).expect("json");
        assert_eq!(doc["failed"], 1);
        assert_eq!(
            doc["cases"][0]["timings_ms"]["restore -> all topics rejoined"],
            42
        );
        let junit = render(Format::Junit, "node c.js", &rs);
        assert!(junit.contains("failures=\"1\"") && junit.contains("&quot;x&quot;"));
        let page = html("node <c>.js", &rs);
        assert!(page.contains("node &lt;c&gt;.js") && page.contains("<tr class=\"fail\">"));
        assert!(!page.contains("<both>"));
    }
}
