//! `phx certify` against three real clients: phoenix.js 1.8.16 from npm under node, phx-client
//! (the `phx-certify-client` binary), and a deliberately naive node client that reconnects but
//! never rejoins. Each runs the whole certification with a 250 ms heartbeat through the
//! contract; the verdicts come from the JSON report, the HTML report is checked for a row per
//! case.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

const PHOENIX_VERSION: &str = "1.8.16";
const CASES: usize = 14;

/// Where phoenix + ws are installed (under target/, reused between runs).
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("certify-js")
}

static INSTALL: Mutex<()> = Mutex::new(());

/// phoenix@1.8.16 and ws installed with npm (once), and the two node clients written next to
/// them. Panics with what to install when node or npm is missing: a certification that did
/// not run must not pass.
fn ensure_js() -> PathBuf {
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is required for the phx certify tests: install nodejs and npm (.ci/run does)"
    );
    let dir = js_dir();
    let pkg = dir.join("node_modules/phoenix/package.json");
    let installed = std::fs::read_to_string(&pkg)
        .ok()
        .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        .and_then(|v| v["version"].as_str().map(String::from));
    if installed.as_deref() != Some(PHOENIX_VERSION) || !dir.join("node_modules/ws").exists() {
        std::fs::create_dir_all(&dir).expect("create the js dir");
        let status = std::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(&dir)
            .args([format!("phoenix@{PHOENIX_VERSION}").as_str(), "ws"])
            .status()
            .expect("npm runs (install npm; .ci/run does)");
        assert!(
            status.success(),
            "npm install phoenix@{PHOENIX_VERSION} ws failed ({status})"
        );
    }
    std::fs::write(
        dir.join("phoenix_client.js"),
        include_str!("../../certify/phoenix_client.js"),
    )
    .expect("write phoenix_client.js");
    std::fs::write(
        dir.join("naive_client.js"),
        include_str!("../../certify/naive_client.js"),
    )
    .expect("write naive_client.js");
    dir
}

struct Run {
    code: i32,
    report: Value,
    html: String,
    took: Duration,
}

/// `phx certify --heartbeat-ms 250 --format json` on `client`, in `cwd`.
fn certify(cwd: &Path, client: &[&str], name: &str) -> Run {
    let out = tempfile::tempdir().expect("tempdir");
    let json = out.path().join(format!("{name}.json"));
    let html = out.path().join(format!("{name}.html"));
    let started = Instant::now();
    let output = Command::cargo_bin("phx")
        .expect("phx binary")
        .current_dir(cwd)
        .args([
            "certify",
            "--heartbeat-ms",
            "250",
            "--format",
            "json",
            "--output",
        ])
        .arg(&json)
        .arg("--html")
        .arg(&html)
        .arg("--")
        .args(client)
        .timeout(Duration::from_secs(150))
        .output()
        .expect("phx certify runs");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    eprintln!("phx certify -- {}: {took:?}\n{stderr}", client.join(" "));
    let report: Value = serde_json::from_str(
        &std::fs::read_to_string(&json)
            .unwrap_or_else(|e| panic!("no JSON report ({e}): {stderr}")),
    )
    .expect("the JSON report parses");
    Run {
        code: output.status.code().unwrap_or(-1),
        report,
        html: std::fs::read_to_string(&html).expect("the HTML report"),
        took,
    }
}

fn statuses(report: &Value) -> Vec<(String, String, String)> {
    report["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
                c["detail"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn assert_all_pass(run: &Run, who: &str) {
    let st = statuses(&run.report);
    assert_eq!(st.len(), CASES, "{who}: every case ran");
    let bad: Vec<_> = st.iter().filter(|(_, s, _)| s != "passed").collect();
    assert!(bad.is_empty(), "{who} did not pass: {bad:#?}");
    assert_eq!(run.code, 0, "{who}: exit code");
    assert_eq!(run.html.matches("<tr class=\"pass\">").count(), CASES);
    // The bound the issue sets for one whole certification.
    assert!(
        run.took < Duration::from_secs(90),
        "{who} took {:?}",
        run.took
    );
}

#[test]
fn phoenix_js_1_8_16_passes_every_case() {
    let dir = ensure_js();
    let run = certify(&dir, &["node", "phoenix_client.js"], "phoenix_js");
    assert_all_pass(&run, "phoenix.js");
}

#[test]
fn phx_client_passes_every_case() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = certify(
        dir.path(),
        &[env!("CARGO_BIN_EXE_phx-certify-client")],
        "phx_client",
    );
    assert_all_pass(&run, "phx-client");
}

#[test]
fn a_client_that_never_rejoins_fails_exactly_the_rejoin_cases_and_the_report_says_why() {
    let dir = ensure_js();
    let run = certify(&dir, &["node", "naive_client.js"], "naive");
    assert_eq!(run.code, 1, "a failed case exits 1");
    let st = statuses(&run.report);
    assert_eq!(st.len(), CASES);
    // It never needs to rejoin in these three: latency keeps the socket, a phx_close must
    // not be rejoined, and an unmatched topic reply only has to be survived.
    let passes = ["latency", "server_phx_close", "unmatched_topic"];
    for (id, status, detail) in &st {
        if passes.contains(&id.as_str()) {
            assert_eq!(status, "passed", "{id}: {detail}");
            continue;
        }
        assert_eq!(
            status, "failed",
            "{id} should fail for a client that never rejoins"
        );
        let why_ok = detail.contains("never rejoined")
            || detail.contains("was not rejoined")
            || detail.contains("it must retry");
        assert!(
            why_ok,
            "{id}: the report does not say it failed to rejoin: {detail}"
        );
    }
    assert_eq!(run.report["failed"], CASES - passes.len());
    assert_eq!(
        run.html.matches("<tr class=\"fail\">").count(),
        CASES - passes.len()
    );
    // The frames around the failure show the reconnect without a phx_join after it.
    let reset = &run.report["cases"][0];
    assert_eq!(reset["id"], "tcp_reset");
    let frames: Vec<&str> = reset["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(
        frames
            .iter()
            .any(|l| l.contains("conn 2 upgrade answered HTTP 101")),
        "{frames:#?}"
    );
    assert!(!frames
        .iter()
        .any(|l| l.contains("conn 2 -> ") && l.contains("phx_join")));
}

#[test]
fn list_usage_errors_and_a_client_that_cannot_start() {
    let list = Command::cargo_bin("phx")
        .expect("phx")
        .args(["certify", "--list"])
        .output()
        .expect("runs");
    assert!(list.status.success());
    let text = String::from_utf8_lossy(&list.stdout);
    for case in phx_conformance::certify::all() {
        assert!(
            text.contains(case.name),
            "{} missing from --list",
            case.name
        );
    }
    assert_eq!(phx_conformance::certify::all().len(), CASES);

    let no_command = Command::cargo_bin("phx")
        .expect("phx")
        .args(["certify"])
        .output()
        .expect("runs");
    assert_eq!(no_command.status.code(), Some(2));

    let unknown = Command::cargo_bin("phx")
        .expect("phx")
        .args(["certify", "--case", "no_such_case", "--", "true"])
        .output()
        .expect("runs");
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no_such_case"));

    let missing = Command::cargo_bin("phx")
        .expect("phx")
        .args([
            "certify",
            "--case",
            "tcp_reset",
            "--",
            "/nonexistent/phx-client-under-test",
        ])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("runs");
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("cannot start"));

    // A command that starts but exits at once never connects: also 3.
    let exits = Command::cargo_bin("phx")
        .expect("phx")
        .args(["certify", "--", "true"])
        .timeout(Duration::from_secs(30))
        .output()
        .expect("runs");
    assert_eq!(exits.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&exits.stderr).contains("exited without ever connecting"));
}

#[test]
fn a_client_that_ignores_the_heartbeat_is_still_certified_and_the_report_says_what_that_skips() {
    let dir = ensure_js();
    // phoenix.js told to heartbeat every 30 s, whatever phx certify asks for.
    let out = tempfile::tempdir().expect("tempdir");
    let json = out.path().join("report.json");
    let output = Command::cargo_bin("phx")
        .expect("phx")
        .current_dir(&dir)
        .args([
            "certify",
            "--heartbeat-ms",
            "250",
            "--case",
            "black_hole",
            "--case",
            "tcp_reset",
        ])
        .args(["--format", "json", "--output"])
        .arg(&json)
        .args([
            "--",
            "sh",
            "-c",
            "PHX_CERTIFY_HEARTBEAT_MS=30000 exec node phoenix_client.js",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("runs");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("report")).expect("json");
    let st = statuses(&report);
    assert_eq!(st[0].0, "black_hole");
    assert_eq!(st[0].1, "skipped", "{st:?}");
    assert!(st[0].2.contains("heartbeat not configurable"), "{st:?}");
    assert_eq!(st[1], ("tcp_reset".into(), "passed".into(), String::new()));
    assert!(report["heartbeat_note"]
        .as_str()
        .is_some_and(|n| n.contains("black_hole")));
    assert_eq!(output.status.code(), Some(0), "a skip is not a failure");
}
