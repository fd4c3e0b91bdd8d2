//! wss:// through the `phx` commands, against phx-server serving TLS with certificates made per
//! run (`phx_server::testing::certs`): `check` and `replay` pass, each certificate failure is a
//! clear error with exit code 3, and `phx record` writes the same transcript over wss as over ws.

use crate::support;
use crate::support::phx;
use phx_client::{TlsConfig, TlsOptions};
use phx_conformance::record::{self, RecordOptions};
use phx_conformance::runner::conn::{RawConn, Received};
use phx_conformance::transcript::Transcript;
use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig};
use phx_server::testing::certs::{Leaf, TestCa};
use phx_server::testing::TestServer;
use phx_server::Config;
use predicates::prelude::*;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// HelloSockets with the short intervals the suite is told about.
fn fast_app() -> HelloSockets {
    HelloSockets::new(
        HelloSocketsConfig::default()
            .recurring_interval(Duration::from_millis(150))
            .dedupe_window(Duration::from_millis(200)),
    )
}

async fn tls_server(leaf: &Leaf) -> TestServer {
    TestServer::start_app_tls(
        any_port(),
        Config::default(),
        fast_app(),
        leaf.acceptor().expect("acceptor"),
    )
    .await
    .expect("start the TLS server")
}

fn ca_file(ca: &TestCa, dir: &Path) -> String {
    ca.write_pem(dir)
        .expect("write ca.pem")
        .display()
        .to_string()
}

fn socket_url(server: &TestServer) -> String {
    server
        .ws_url("/socket")
        .trim_end_matches("/websocket")
        .to_owned()
}

#[test]
fn check_over_wss_passes_against_a_tls_phx_server_with_its_control_api_over_https() {
    let rt = support::runtime();
    let ca = TestCa::new("phx test CA").expect("ca");
    let leaf = ca.issue(&["127.0.0.1"]).expect("leaf");
    let server = rt.block_on(tls_server(&leaf));
    let dir = tempfile::tempdir().expect("tempdir");
    let url = socket_url(&server);
    assert!(url.starts_with("wss://"), "{url}");
    let out = dir.path().join("report.json");
    phx(&[
        "check",
        "--url",
        &url,
        "--cacert",
        &ca_file(&ca, dir.path()),
    ])
    .args(["--control", "--recurring-interval-ms", "150"])
    .args(["--dedupe-window-ms", "200", "--format", "json", "--output"])
    .arg(&out)
    .assert()
    .success()
    .stderr(predicate::str::contains("PASS heartbeat"))
    // Broadcasts go through the control API, over HTTPS on the same port.
    .stderr(predicate::str::contains("PASS fastlane"));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("report")).expect("json");
    assert_eq!(report["failed"], 0, "{report:#}");
    let passed = report["passed"].as_u64().unwrap_or(0);
    assert!(passed >= 20, "only {passed} scenarios passed: {report:#}");
    drop(server);
}

#[test]
fn replay_over_wss_replays_a_fixture() {
    let rt = support::runtime();
    let ca = TestCa::new("phx test CA").expect("ca");
    let server = rt.block_on(tls_server(&ca.issue(&["127.0.0.1"]).expect("leaf")));
    let dir = tempfile::tempdir().expect("tempdir");
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/phoenix-1.8.12/transcripts/ping.jsonl");
    phx(&["replay", "--url", &socket_url(&server)])
        .args(["--cacert", &ca_file(&ca, dir.path())])
        .arg(&fixture)
        .assert()
        .success()
        .stdout(predicate::str::contains("ok "));
    drop(server);
}

/// `phx check` and `phx connect` to `url` trusting `ca` (when given): both exit 3 and say `why`.
fn assert_refused_with(url: &str, cacert: Option<&str>, why: &str) {
    let trust: Vec<&str> = cacert.map(|c| vec!["--cacert", c]).unwrap_or_default();
    let check = phx(&["check", "--url", url, "--scenario", "heartbeat"])
        .args(&trust)
        .assert()
        .code(3);
    let out = check.get_output();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(why),
        "phx check: expected {why:?} in:\n{text}"
    );
    phx(&["connect", url, "--json", "--exit-on-eof"])
        .args(&trust)
        .write_stdin("")
        .timeout(Duration::from_secs(30))
        .assert()
        .code(3)
        .stderr(predicate::str::contains(why));
}

#[test]
fn tls_failures_exit_3_with_a_clear_error() {
    let rt = support::runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = TestCa::new("phx test CA").expect("ca");
    let ca_pem = ca_file(&ca, dir.path());
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_ca = ca_file(&TestCa::new("another CA").expect("ca"), other_dir.path());

    let good = rt.block_on(tls_server(&ca.issue(&["127.0.0.1"]).expect("leaf")));
    assert_refused_with(&socket_url(&good), Some(&other_ca), "unknown issuer");
    // Mozilla's roots alone do not know the test CA either.
    assert_refused_with(&socket_url(&good), None, "unknown issuer");

    let expired = rt.block_on(tls_server(&ca.issue_expired(&["127.0.0.1"]).expect("leaf")));
    assert_refused_with(&socket_url(&expired), Some(&ca_pem), "has expired");

    let wrong_host = rt.block_on(tls_server(&ca.issue(&["example.test"]).expect("leaf")));
    assert_refused_with(
        &socket_url(&wrong_host),
        Some(&ca_pem),
        "is not valid for that name",
    );

    let plain = rt.block_on(TestServer::start_on(any_port(), Config::default()));
    let plain = plain.expect("plain server");
    let as_wss = format!("wss://{}/socket", plain.addr());
    assert_refused_with(&as_wss, Some(&ca_pem), "did not answer with TLS");
}

#[test]
fn an_unreadable_cacert_or_certificate_is_a_usage_error() {
    phx(&["check", "--url", "wss://127.0.0.1:1/socket"])
        .args(["--cacert", "/no/such/ca.pem"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/ca.pem"));
    phx(&[
        "connect",
        "wss://127.0.0.1:1/socket",
        "--cacert",
        "/no/such/ca.pem",
    ])
    .assert()
    .code(2);
    phx(&[
        "record",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "wss://127.0.0.1:1",
    ])
    .args([
        "--tls-cert",
        "/no/such/cert.pem",
        "--tls-key",
        "/no/such/key.pem",
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("/no/such/cert.pem"));
}

#[test]
fn insecure_connects_with_a_warning() {
    let rt = support::runtime();
    let ca = TestCa::new("phx test CA").expect("ca");
    let server = rt.block_on(tls_server(&ca.issue(&["example.test"]).expect("leaf")));
    // Exit 0 (not 3) means the first connection opened: the handshake accepted a certificate
    // for another name from an unknown CA. EOF on stdin then ends the session.
    phx(&["connect", &socket_url(&server), "--insecure", "--json"])
        .arg("--exit-on-eof")
        .write_stdin("")
        .timeout(Duration::from_secs(30))
        .assert()
        .success()
        .stderr(predicate::str::contains("NOT verified"));
    drop(server);
}

/// One client session through a recording proxy in front of `upstream`: join, push, close.
/// Returns the transcript's lines without times, the upstream URL replaced by `UPSTREAM`.
async fn record_session(
    upstream_url: String,
    upstream_tls: TlsConfig,
    listen_tls: Option<phx_server::TlsAcceptor>,
    client_tls: &TlsConfig,
) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("rec.jsonl");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let scheme = if listen_tls.is_some() { "wss" } else { "ws" };
    let opts = RecordOptions {
        upstream_tls,
        listen_tls,
        ..RecordOptions::new(listen.to_string(), upstream_url.clone(), output.clone())
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(record::run(opts, async {
        let _ = stop_rx.await;
    }));
    let url = format!("{scheme}://{listen}/socket/websocket?vsn=2.0.0");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut c = loop {
        match RawConn::connect(&url, client_tls).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "proxy did not come up: {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    c.send_text(r#"["1","1","ping","phx_join",{}]"#)
        .await
        .expect("send");
    assert!(matches!(
        c.next(Duration::from_secs(3)).await,
        Received::Text(_)
    ));
    c.send_text(r#"["1","2","ping","ping",{"ack_phrase":"over tls"}]"#)
        .await
        .expect("send");
    assert!(
        matches!(c.next(Duration::from_secs(3)).await, Received::Text(t) if t.contains("over tls"))
    );
    let (early, code) = c.close(Duration::from_secs(3)).await;
    assert!(early.is_empty());
    assert_eq!(code, Some(1000));
    let _ = stop_tx.send(());
    proxy.await.expect("proxy task").expect("proxy ran");
    Transcript::read(&output)
        .expect("transcript")
        .entries
        .into_iter()
        .map(|mut e| {
            e.t_ms = None;
            let line = serde_json::to_string(&e).expect("json");
            line.replace(&upstream_url, "UPSTREAM")
        })
        .collect()
}

#[test]
fn record_between_a_wss_client_and_a_wss_upstream_writes_the_plain_ws_transcript() {
    let rt = support::runtime();
    rt.block_on(async {
        let ca = TestCa::new("phx test CA").expect("ca");
        let trust = TlsConfig::new(&TlsOptions {
            ca_pem: vec![ca.cert_pem().into_bytes()],
            ..TlsOptions::default()
        })
        .expect("tls config");

        let plain = TestServer::start(Config::default()).await;
        let plain_upstream = format!("ws://{}", plain.addr());
        let over_ws = record_session(plain_upstream, TlsConfig::default(), None, &trust).await;

        let tls = tls_server(&ca.issue(&["127.0.0.1"]).expect("leaf")).await;
        let proxy_leaf = ca.issue(&["127.0.0.1"]).expect("proxy leaf");
        let tls_upstream = format!("wss://{}", tls.addr());
        let over_wss = record_session(
            tls_upstream,
            trust.clone(),
            Some(proxy_leaf.acceptor().expect("acceptor")),
            &trust,
        )
        .await;

        assert!(over_ws.len() >= 6, "{over_ws:#?}");
        assert_eq!(over_wss, over_ws);
    });
}

/// `phx bench MODE --url wss://… --cacert CA --json`: its exit code and JSON object.
fn bench_wss(mode: &str, url: &str, ca: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let out = phx(&["bench", mode, "--url", url, "--cacert", ca])
        .args(["--json", "--timeout", "30", "--concurrency", "10"])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run phx bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

#[test]
fn bench_dials_wss_and_triggers_over_https() {
    let rt = support::runtime();
    let ca = TestCa::new("phx test CA").expect("ca");
    let server = rt.block_on(tls_server(&ca.issue(&["127.0.0.1"]).expect("leaf")));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_pem = ca_file(&ca, dir.path());
    let url = socket_url(&server);

    let (code, v) = bench_wss("joins", &url, &ca_pem, &["--clients", "20"]);
    assert_eq!(
        (code, &v["connections_failed"]),
        (0, &serde_json::json!(0)),
        "{v}"
    );
    assert!(v["rate"].as_f64().unwrap_or(0.0) > 0.0, "{v}");

    // Broadcasts through the control API, which a TLS phx-server serves over HTTPS.
    let (code, v) = bench_wss(
        "fanout",
        &url,
        &ca_pem,
        &["--clients", "5", "--messages", "20"],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        (&v["missing"], &v["duplicated"]),
        (&serde_json::json!(0), &serde_json::json!(0)),
        "{v}"
    );

    // Another CA's trust: no client can join; the TLS reason is given, exit 3.
    let other_dir = tempfile::tempdir().expect("tempdir");
    let other_ca = ca_file(&TestCa::new("another CA").expect("ca"), other_dir.path());
    phx(&["bench", "joins", "--url", &url, "--cacert", &other_ca])
        .args(["--clients", "3", "--timeout", "30"])
        .timeout(Duration::from_secs(120))
        .assert()
        .code(3)
        .stderr(predicate::str::contains("unknown issuer"));
    drop(server);
}
