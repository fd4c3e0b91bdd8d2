//! The official phoenix.js client (npm `phoenix`, `ws` transport) against the server: join,
//! push/reply, a broadcast, and an automatic reconnect + rejoin after the server drops it; over
//! ws:// and over wss:// (the server serving TLS with a per-run test CA that node trusts through
//! `NODE_EXTRA_CA_CERTS`).

use std::io::Write as _;
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
        // A test that did not run must not pass: skipping is asked for, and visible.
        if std::env::var("PHX_SKIP_MISSING").as_deref() != Ok("1") {
            panic!("node is required for the phoenix.js test: install it with `apt-get install nodejs npm` (.ci/run does), or set PHX_SKIP_MISSING=1 to skip it");
        }
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED the phoenix.js test: `node` not found and PHX_SKIP_MISSING=1"
        );
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

/// Each meta list sorted by `phx_ref`, keys sorted (serde_json's map): a view's identity.
fn view_by_ref(mut v: serde_json::Value) -> serde_json::Value {
    if let Some(o) = v.as_object_mut() {
        for p in o.values_mut() {
            if let Some(a) = p["metas"].as_array_mut() {
                a.sort_by(|x, y| x["phx_ref"].as_str().cmp(&y["phx_ref"].as_str()));
            }
        }
    }
    v
}

/// phoenix.js's own `Presence` class shows what the server lists, through another member's
/// join, a second meta, an update and leaves (phx-client's `Presence` is held to the same list
/// in the client crate's `presence` tests).
#[tokio::test]
async fn phoenix_js_presence_shows_the_servers_list() {
    use tokio::io::AsyncWriteExt;
    let Some(script) = ensure_phoenix_js().await else {
        return;
    };
    let presence_js = js_dir().join("phoenix_presence.js");
    std::fs::write(&presence_js, include_str!("js/phoenix_presence.js")).expect("write script");
    let _ = script;
    let server = start(Compat::V1_8).await;
    let mut child = Command::new("node")
        .arg(&presence_js)
        .arg(format!("ws://{}/socket", server.addr()))
        .arg("js")
        .current_dir(js_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    // Reads syncs until phoenix.js's view equals the server's list.
    // `what` names the change and `ready` says when the server's list shows it, so that an
    // unchanged view never counts as caught up.
    let mut until_same = async |what: &str, ready: &dyn Fn(&serde_json::Value) -> bool| {
        server
            .wait_until(what, WAIT, |s| {
                ready(&s.endpoint().presence().list("presence:lobby"))
            })
            .await
            .unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        let mut last = String::new();
        loop {
            let want = view_by_ref(server.endpoint().presence().list("presence:lobby"));
            if last
                .strip_prefix("sync ")
                .and_then(|j| serde_json::from_str(j).ok())
                == Some(want.clone())
            {
                return;
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, lines.next_line()).await {
                Ok(Ok(Some(l))) => last = l,
                other => {
                    panic!("{what}: phoenix.js never showed {want} (last {last:?}, {other:?})")
                }
            }
        }
    };
    let metas = |v: &serde_json::Value, k: &str| v[k]["metas"].as_array().map_or(0, Vec::len);
    until_same("own join", &|v| metas(v, "js") == 1).await;
    let mut alice = v2(&server).await;
    send(
        &mut alice,
        r#"["1","1","presence:lobby","phx_join",{"user_id":"alice","device":"web"}]"#,
    )
    .await;
    until_same("alice joins", &|v| metas(v, "alice") == 1).await;
    let mut tablet = v2(&server).await;
    send(
        &mut tablet,
        r#"["1","1","presence:lobby","phx_join",{"user_id":"alice","device":"tablet"}]"#,
    )
    .await;
    until_same("a second meta under alice", &|v| metas(v, "alice") == 2).await;
    send(
        &mut alice,
        r#"["1","2","presence:lobby","update",{"status":"away"}]"#,
    )
    .await;
    until_same("alice's update", &|v| {
        v["alice"]["metas"]
            .as_array()
            .is_some_and(|a| a.iter().any(|m| m["status"] == "away"))
    })
    .await;
    assert_eq!(
        server.endpoint().presence().list("presence:lobby")["alice"]["metas"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    tablet.close().await;
    until_same("the tablet closes", &|v| metas(v, "alice") == 1).await;
    send(&mut alice, r#"["1","3","presence:lobby","phx_leave",{}]"#).await;
    until_same("alice leaves", &|v| {
        metas(v, "alice") == 0 && metas(v, "js") == 1
    })
    .await;
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"quit\n").await;
    let status = timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("node exits")
        .expect("wait");
    assert!(status.success(), "node exited with {status}");
}
