//! The official phoenix.js client (npm `phoenix`, `ws` transport) against the server: join,
//! push/reply, a broadcast, and an automatic reconnect + rejoin after the server drops it; over
//! ws:// and over wss:// (the server serving TLS with a per-run test CA that node trusts through
//! `NODE_EXTRA_CA_CERTS`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use phx_server::Compat;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

use crate::support::*;

/// Where phoenix + ws are installed (under target/, reused between runs).
fn js_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("phoenix-js")
}

/// Installs `phoenix` and `ws` with npm when missing. None: node is not available here.
async fn ensure_phoenix_js() -> Option<PathBuf> {
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|o| o.status.success());
    if !has_node {
        if std::env::var_os("CI").is_some() {
            panic!("node is required for the phoenix.js test: install it with `apt-get install nodejs npm` (.ci/run does)");
        }
        eprintln!("NOTICE: skipping the phoenix.js test: `node` not found (install nodejs and npm to run it)");
        return None;
    }
    // Both tests of this module may get here at once: one npm install at a time.
    static INSTALL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _installing = INSTALL.lock().await;
    let dir = js_dir();
    if !dir.join("node_modules/phoenix").exists() || !dir.join("node_modules/ws").exists() {
        std::fs::create_dir_all(&dir).expect("create js dir");
        let status = timeout(
            Duration::from_secs(300),
            Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
                .arg(&dir)
                .args(["phoenix", "ws"])
                .status(),
        )
        .await
        .expect("npm install finished within 5 minutes")
        .expect("npm runs");
        assert!(status.success(), "npm install phoenix ws failed ({status})");
    }
    let script = dir.join("phoenix_client.js");
    std::fs::write(&script, include_str!("js/phoenix_client.js")).expect("write script");
    Some(script)
}

#[tokio::test]
async fn phoenix_js_joins_pushes_receives_broadcasts_and_rejoins_after_a_drop() {
    let Some(script) = ensure_phoenix_js().await else {
        return;
    };
    let server = start(Compat::V1_8).await;
    let url = format!("ws://{}/socket", server.addr());
    drive_phoenix_js(&script, &server, &url, None).await;
}

#[tokio::test]
async fn phoenix_js_over_wss_trusting_the_test_ca() {
    use phx_server::testing::certs::TestCa;
    let Some(script) = ensure_phoenix_js().await else {
        return;
    };
    let ca = TestCa::new("phx test CA").expect("ca");
    let leaf = ca.issue(&["localhost", "127.0.0.1"]).expect("leaf");
    let server = phx_server::testing::TestServer::start_tls(
        "127.0.0.1:0".parse().expect("address"),
        config(Compat::V1_8),
        leaf.acceptor().expect("acceptor"),
    )
    .await
    .expect("start the TLS server");
    let dir = tempfile_dir();
    let ca_file = ca.write_pem(&dir).expect("write ca.pem");
    let url = format!("wss://localhost:{}/socket", server.addr().port());
    drive_phoenix_js(&script, &server, &url, Some(&ca_file)).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// A fresh directory under the test target dir (this crate has no tempfile dependency).
fn tempfile_dir() -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("phoenix-js-ca-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create the CA dir");
    dir
}

/// Runs the phoenix.js script against `url` and drives it: join, push, broadcast, drop, rejoin.
async fn drive_phoenix_js(
    script: &Path,
    server: &phx_server::testing::TestServer,
    url: &str,
    extra_ca: Option<&Path>,
) {
    let mut node = Command::new("node");
    if let Some(ca) = extra_ca {
        node.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let mut child = node
        .arg(script)
        .arg(url)
        .current_dir(js_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut next = async || -> String {
        match timeout(Duration::from_secs(15), lines.next_line()).await {
            Ok(Ok(Some(l))) => l,
            other => panic!("phoenix.js said nothing more: {other:?}"),
        }
    };
    let mut transcript = Vec::new();
    let mut expect_line = async |want: &str, transcript: &mut Vec<String>| loop {
        let l = next().await;
        transcript.push(l.clone());
        if l == want {
            return;
        }
        assert!(
            l == "open" || l.starts_with("closed"),
            "unexpected {l:?} while waiting for {want:?}; so far {transcript:?}"
        );
    };
    expect_line("joined 1", &mut transcript).await;
    expect_line(r#"reply {"ping":"hello1"}"#, &mut transcript).await;
    assert_eq!(server.joined().len(), 1);
    server.broadcast("ping", "plain_event", json!({"n": 1}).into());
    expect_line(r#"broadcast {"n":1}"#, &mut transcript).await;

    server.drop_all_connections();
    expect_line("joined 2", &mut transcript).await;
    expect_line(r#"reply {"ping":"hello2"}"#, &mut transcript).await;
    assert!(
        transcript.iter().any(|l| l.starts_with("closed")),
        "{transcript:?}"
    );
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("node exits")
        .expect("wait");
    assert!(
        status.success(),
        "node exited with {status}; transcript {transcript:?}"
    );
    server
        .wait_until("the rejoined socket to go", WAIT, |s| s.joined().is_empty())
        .await
        .unwrap();
}
