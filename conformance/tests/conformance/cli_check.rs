//! `phx check`, `phx list`, `phx replay` and `phx record`: output and exit codes (0 ok,
//! 1 failed, 2 usage, 3 cannot reach the target).

use crate::support;
use crate::support::phx;
use phx_conformance::record::{self, RecordOptions};
use phx_conformance::runner::conn::{RawConn, Received};
use phx_conformance::runner::{Engine, EngineOptions};
use phx_conformance::target::{PhoenixVersion, Target};
use phx_conformance::transcript::{replay, Transcript};
use predicates::prelude::*;
use std::path::PathBuf;
use std::time::Duration;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures")
        .join(rel)
}

#[test]
fn list_names_every_scenario() {
    phx(&["list"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "refuses websocket events that haven't joined",
        ))
        .stdout(predicate::str::contains("duplicate_join"));
}

#[test]
fn check_selected_scenarios_writes_a_json_report_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    phx(&[
        "check",
        "--scenario",
        "heartbeat",
        "--scenario",
        "leave",
        "--format",
        "json",
        "--output",
    ])
    .arg(&out)
    .arg("--transcripts")
    .arg(dir.path().join("transcripts"))
    .assert()
    .success()
    .stderr(predicate::str::contains("PASS heartbeat"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("json");
    assert_eq!(report["passed"], 2);
    // --transcripts wrote each run in the fixtures' format, and it replays.
    let t = Transcript::read(&dir.path().join("transcripts/heartbeat.jsonl")).expect("transcript");
    assert!(t.entries.iter().any(|e| e.frame.contains("heartbeat")));
    assert!(!replay::steps(&t).expect("steps").is_empty());
    assert_eq!(report["failed"], 0);
    assert_eq!(report["scenarios"][0]["id"], "heartbeat");
}

#[test]
fn check_junit_report_lists_testcases() {
    phx(&[
        "check",
        "--tag",
        "v1",
        "--phoenix",
        "1.7",
        "--format",
        "junit",
    ])
    .assert()
    .success()
    .stdout(predicate::str::contains(
        "<testsuite name=\"phx check\" tests=\"1\" failures=\"0\"",
    ))
    .stdout(predicate::str::contains("classname=\"phx.v1_frames\""));
}

#[test]
fn check_with_an_unknown_selection_is_a_usage_error() {
    phx(&["check", "--scenario", "no_such_scenario"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no scenario matches"));
    phx(&["check", "--phoenix", "2.0"]).assert().code(2);
}

#[test]
fn check_against_an_unreachable_server_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    // The listener is dropped: nothing listens on that port any more.
    phx(&[
        "check",
        "--url",
        &format!("ws://127.0.0.1:{port}/socket"),
        "--scenario",
        "heartbeat",
    ])
    .assert()
    .code(3)
    .stderr(predicate::str::contains("cannot reach"));
}

#[test]
fn check_skips_scenarios_whose_trigger_the_target_lacks() {
    // A bare URL (the embedded server started here, no control API flag): broadcast scenarios
    // are skipped with a reason, plain ones pass.
    let rt = support::runtime();
    let target = rt
        .block_on(Target::embedded(PhoenixVersion::V1_8))
        .expect("embedded");
    phx(&[
        "check",
        "--url",
        &target.socket_url,
        "--scenario",
        "heartbeat",
        "--scenario",
        "fastlane",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains("PASS heartbeat"))
    .stderr(predicate::str::contains("SKIP fastlane"))
    .stdout(predicate::str::contains("no trigger for node A"));
    drop(target);
}

#[test]
fn replay_reports_ok_for_a_fixture_and_a_difference_for_a_tampered_one() {
    phx(&["replay", "--phoenix", "1.8"])
        .arg(fixture("phoenix-1.8.12/transcripts/ping.jsonl"))
        .assert()
        .success()
        .stdout(predicate::str::contains("ok "));
    // The 1.7 recording of topics differs from 1.8 (COMPAT D1, D2): replayed against 1.8, it
    // must be reported as a difference.
    phx(&["replay", "--phoenix", "1.8"])
        .arg(fixture("phoenix-1.7.14/transcripts/topics.jsonl"))
        .assert()
        .code(1)
        .stdout(predicate::str::contains("DIFF"));
    phx(&["replay", "/no/such/file.jsonl"]).assert().code(2);
}

#[test]
fn record_writes_a_transcript_that_replays_cleanly() {
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_8).await.expect("embedded");
        let dir = tempfile::tempdir().expect("tempdir");
        let output = dir.path().join("rec.jsonl");
        let listen = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let upstream = target.socket_url.trim_end_matches("/socket").to_owned();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let opts = RecordOptions::new(listen.to_string(), upstream, output.clone());
        let proxy = tokio::spawn(record::run(opts, async {
            let _ = stop_rx.await;
        }));

        // Talk through the proxy (retrying until it listens).
        let url = format!("ws://{listen}/socket/websocket?vsn=2.0.0");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut c = loop {
            match RawConn::connect(&url, &phx_client::TlsConfig::default()).await {
                Ok(c) => break c,
                Err(e) => {
                    assert!(tokio::time::Instant::now() < deadline, "proxy did not come up: {e}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        c.send_text(r#"["1","1","ping","phx_join",{}]"#).await.expect("send");
        assert!(matches!(c.next(Duration::from_secs(3)).await, Received::Text(_)));
        c.send_text(r#"["1","2","ping","ping",{"ack_phrase":"via proxy"}]"#).await.expect("send");
        assert!(matches!(c.next(Duration::from_secs(3)).await, Received::Text(t) if t.contains("via proxy")));
        let (early, code) = c.close(Duration::from_secs(3)).await;
        assert!(early.is_empty());
        assert_eq!(code, Some(1000));
        let _ = stop_tx.send(());
        proxy.await.expect("proxy task").expect("proxy ran");

        let transcript = Transcript::read(&output).expect("transcript");
        let dirs: Vec<_> = transcript.entries.iter().map(|e| format!("{:?}", e.dir)).collect();
        assert_eq!(dirs.iter().filter(|d| *d == "Send").count(), 2, "{dirs:?}");
        assert_eq!(dirs.iter().filter(|d| *d == "Recv").count(), 2, "{dirs:?}");
        let steps = replay::steps(&transcript).expect("steps");
        let out = Engine::new(&target, EngineOptions::default()).run(&steps).await;
        assert!(out.failure.is_none(), "{:?}", out.failure);
    });
}

#[test]
fn check_against_an_external_phx_server_through_its_control_api_passes_everything() {
    // The embedded servers, addressed as an external target: URLs, --control and its token.
    let rt = support::runtime();
    let target = rt
        .block_on(Target::embedded(PhoenixVersion::V1_7))
        .expect("embedded");
    let auth = target.auth_url.clone().expect("auth url");
    let node_b = target.node_b_url.clone().expect("node b url");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report.json");
    phx(&[
        "check",
        "--phoenix",
        "1.7",
        "--url",
        &target.socket_url,
        "--auth-url",
        &auth,
        "--node-b-url",
        &node_b,
    ])
    .args([
        "--control",
        "--control-token",
        "phx-conformance",
        "--recurring-interval-ms",
        "150",
        "--dedupe-window-ms",
        "200",
    ])
    .args(["--format", "json", "--output"])
    .arg(&out)
    .assert()
    .success();
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("json");
    assert_eq!(report["failed"], 0, "{report:#}");
    // Only idle_timeout (needs --idle-timeout-ms) and max_channels (1.7.24+, 1.8.9+) are skipped.
    let skipped: Vec<_> = report["scenarios"]
        .as_array()
        .expect("scenarios")
        .iter()
        .filter(|s| s["status"] == "skipped")
        .map(|s| s["id"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(skipped, ["max_channels", "idle_timeout"], "{report:#}");
    drop(target);
}

#[test]
fn check_mints_tokens_locally_with_the_secret_key_base() {
    // No trigger at all, only the app's secret: the token scenarios run (signed here, verified
    // by the server), the broadcast ones are skipped.
    let rt = support::runtime();
    let target = rt
        .block_on(Target::embedded(PhoenixVersion::V1_8))
        .expect("embedded");
    let auth = target.auth_url.clone().expect("auth url");
    phx(&[
        "check",
        "--url",
        &target.socket_url,
        "--auth-url",
        &auth,
        "--tag",
        "auth",
    ])
    .args([
        "--secret-key-base",
        phx_server::FIXTURE_SECRET_KEY_BASE,
        "--recurring-interval-ms",
        "150",
    ])
    .assert()
    .success()
    .stderr(predicate::str::contains("PASS auth_expired"))
    .stderr(predicate::str::contains("PASS recurring_token"))
    .stderr(predicate::str::contains("SKIP disconnect"));
    drop(target);
}

#[test]
fn check_exits_1_and_shows_the_difference_when_a_scenario_fails() {
    // A 1.8 server checked with 1.7 expectations: phx_error carries a reason on 1.8 (COMPAT D1).
    let rt = support::runtime();
    let target = rt
        .block_on(Target::embedded(PhoenixVersion::V1_8))
        .expect("embedded");
    phx(&[
        "check",
        "--url",
        &target.socket_url,
        "--phoenix",
        "1.7",
        "--scenario",
        "crash_error",
        "--scenario",
        "heartbeat",
    ])
    .assert()
    .code(1)
    .stderr(predicate::str::contains("FAIL crash_error"))
    .stderr(predicate::str::contains("PASS heartbeat"))
    .stdout(predicate::str::contains(
        r#"expected: ["14","14","ping","phx_error",{}]"#,
    ))
    .stdout(predicate::str::contains(
        r#"actual:   ["14","14","ping","phx_error",{"reason":"channel_crash"}]"#,
    ))
    .stdout(predicate::str::contains("1 passed, 1 failed"));
    drop(target);
}
