//! The `phx-server serve` binary: env configuration, serving, and SIGTERM → sockets closed
//! with 1012 and exit 0.

use std::process::Stdio;
use std::time::Duration;

use phx_server::testing::TestClient;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::support::*;

#[tokio::test]
async fn serve_reads_env_and_drains_on_sigterm() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .arg("serve")
        .env("PORT", port.to_string())
        .env("NODE_NAME", "cli@127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut s = loop {
        match TcpStream::connect(("127.0.0.1", port)).await {
            Ok(s) => break s,
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            Err(e) => panic!("phx-server did not start: {e}"),
        }
    };
    s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.ends_with(r#"{"node":"cli@127.0.0.1","ok":true}"#),
        "{resp}"
    );

    let url = format!("ws://127.0.0.1:{port}/socket/websocket");
    let mut c = TestClient::connect(&url, &[]).await.unwrap();
    exchange(
        &mut c,
        r#"["1","1","ping","phx_join",{}]"#,
        &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    assert_eq!(expect_close(&mut c).await, Some(1012));
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after draining")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn serve_refuses_a_short_secret_key_base_and_a_busy_port() {
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", "0"])
        .env("SECRET_KEY_BASE", "too short")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 64 bytes"));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot listen on"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `serve --tls-cert --tls-key`: HTTPS (`GET /`) and WSS (join) on the same port, with a
/// certificate made for this run.
#[cfg(feature = "tls")]
#[tokio::test]
async fn serve_with_tls_cert_and_key_serves_https_and_wss_on_one_port() {
    use futures_util::{SinkExt, StreamExt};
    use phx_server::testing::certs::TestCa;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio_tungstenite::tungstenite::Message;

    let ca = TestCa::new("phx test CA").unwrap();
    let leaf = ca.issue(&["localhost"]).unwrap();
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("serve-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = leaf.write_pem(&dir, "server").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _child = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", &port.to_string(), "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .env("NODE_NAME", "tls@127.0.0.1")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(ca.cert_pem().as_bytes()).unwrap())
        .unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tls = async || {
        let deadline = tokio::time::Instant::now() + WAIT;
        let tcp = loop {
            match TcpStream::connect(("127.0.0.1", port)).await {
                Ok(s) => break s,
                Err(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await
                }
                Err(e) => panic!("phx-server did not start: {e}"),
            }
        };
        let name = ServerName::try_from("localhost").unwrap();
        connector.connect(name, tcp).await.unwrap()
    };

    let mut https = tls().await;
    https
        .write_all(b"GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut resp = Vec::new();
    // A peer may end TLS without close_notify; what was read is what counts.
    let _ = https.read_to_end(&mut resp).await;
    let resp = String::from_utf8_lossy(&resp);
    assert!(
        resp.ends_with(r#"{"node":"tls@127.0.0.1","ok":true}"#),
        "{resp}"
    );

    let url = format!("wss://localhost:{port}/socket/websocket?vsn=2.0.0");
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls().await)
        .await
        .unwrap();
    ws.send(Message::text(r#"["1","1","ping","phx_join",{}]"#))
        .await
        .unwrap();
    let reply = tokio::time::timeout(WAIT, ws.next()).await.unwrap();
    assert_eq!(
        reply.unwrap().unwrap().into_text().unwrap().as_str(),
        r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn serve_refuses_an_unreadable_tls_key_as_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", "0", "--tls-cert", "/no/such/cert.pem"])
        .args(["--tls-key", "/no/such/key.pem"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = if cfg!(feature = "tls") {
        "/no/such/cert.pem"
    } else {
        "no TLS"
    };
    assert!(stderr.contains(want), "{stderr}");
    // Half of the pair is a usage error too.
    let out = Command::new(env!("CARGO_BIN_EXE_phx-server"))
        .args(["serve", "--port", "0", "--tls-cert", "/no/such/cert.pem"])
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}
