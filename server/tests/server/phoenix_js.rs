//! The official phoenix.js client (npm `phoenix`, `ws` transport) against the server: join,
//! push/reply, a broadcast, and an automatic reconnect + rejoin after the server drops it.

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
    let mut child = Command::new("node")
        .arg(&script)
        .arg(format!("ws://{}/socket", server.addr()))
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
