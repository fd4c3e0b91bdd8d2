//! wss:// against the real phx-server serving TLS, with certificates made per run by
//! `phx_server::testing::certs` (no committed keys): join, push, broadcast, rejoin after a
//! restart, and each certificate failure as a typed, terminal error.

use std::net::SocketAddr;

use phx_client::{ChannelStatus, ConnectError, SocketStatus, TlsConfig, TlsError, TlsOptions};
use phx_server::testing::certs::{Leaf, TestCa};
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

use crate::support::{builder, joined_on_one_new_connection, WAIT};

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn trusting(ca: &TestCa) -> TlsConfig {
    TlsConfig::new(&TlsOptions {
        ca_pem: vec![ca.cert_pem().into_bytes()],
        ..TlsOptions::default()
    })
    .unwrap()
}

async fn tls_server(leaf: &Leaf) -> TestServer {
    TestServer::start_tls(any_port(), Config::default(), leaf.acceptor().unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn join_push_and_broadcast_over_wss() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue(&["localhost", "127.0.0.1"]).unwrap()).await;
    let url = server.ws_url("/socket");
    assert!(url.starts_with("wss://127.0.0.1:"), "{url}");

    let socket = builder(&url).tls(trusting(&ca)).build().unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    let mut events = ping.events();
    ping.join(json!({})).await.unwrap();
    let reply = ping.push("ping", json!({})).await.unwrap();
    assert_eq!(reply.response, json!({"ping": "pong"}).into());

    server.broadcast("ping", "tls_news", json!({"over": "wss"}).into());
    let ev = tokio::time::timeout(WAIT, events.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ev.event, "tls_news");
    assert_eq!(ev.payload, json!({"over": "wss"}).into());
}

#[tokio::test]
async fn localhost_is_verified_by_name_through_sni() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue(&["localhost"]).unwrap()).await;
    let url = format!("wss://localhost:{}/socket", server.addr().port());
    let socket = builder(&url).tls(trusting(&ca)).build().unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();
}

#[tokio::test]
async fn channels_rejoin_after_a_tls_server_restarts_on_the_same_port() {
    let ca = TestCa::new("phx test CA").unwrap();
    let leaf = ca.issue(&["127.0.0.1"]).unwrap();
    let server = tls_server(&leaf).await;
    let addr = server.addr();
    let socket = builder(&server.ws_url("/socket"))
        .tls(trusting(&ca))
        .build()
        .unwrap();
    socket.connect().await.unwrap();
    let ping = socket.channel("ping");
    ping.join(json!({})).await.unwrap();

    server.stop().await;
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Errored)
        .await
        .unwrap();
    let server = TestServer::start_tls(addr, Config::default(), leaf.acceptor().unwrap())
        .await
        .unwrap();
    server
        .wait_until("ping rejoined over wss", WAIT, |s| {
            joined_on_one_new_connection(s, &["ping"], None)
        })
        .await
        .unwrap();
    ping.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
    assert_eq!(socket.status().generation(), Some(2));
    let reply = ping.push("ping", json!({})).await.unwrap();
    assert_eq!(reply.response, json!({"ping": "pong"}).into());
}

/// Connects once with `tls` and returns the error and the status right after it.
async fn failed_connect(url: &str, tls: TlsConfig, retry: bool) -> (ConnectError, SocketStatus) {
    let socket = builder(url)
        .tls(tls)
        .retry_tls_errors(retry)
        .build()
        .unwrap();
    let err = socket.connect().await.unwrap_err();
    let status = socket
        .wait_for(WAIT, |s| !matches!(s, SocketStatus::Connecting { .. }))
        .await
        .unwrap();
    socket.disconnect().await;
    (err, status)
}

#[tokio::test]
async fn an_untrusted_ca_is_a_terminal_unknown_issuer_error() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue(&["127.0.0.1"]).unwrap()).await;
    let other = TestCa::new("some other CA").unwrap();

    let (err, status) = failed_connect(&server.ws_url("/socket"), trusting(&other), false).await;
    assert!(
        matches!(&err, ConnectError::Tls(TlsError::UnknownIssuer { host }) if host == "127.0.0.1"),
        "{err:?}"
    );
    assert!(err.is_terminal());
    assert!(err.to_string().contains("--cacert"), "{err}");
    // Terminal: the socket stops instead of scheduling another attempt.
    assert!(
        matches!(&status, SocketStatus::Stopped { code: None, reason } if reason.contains("unknown issuer")),
        "{status:?}"
    );

    // The documented knob keeps retrying instead.
    let (_, status) = failed_connect(&server.ws_url("/socket"), trusting(&other), true).await;
    assert!(
        matches!(status, SocketStatus::Reconnecting { .. }),
        "{status:?}"
    );
}

#[tokio::test]
async fn an_expired_certificate_is_a_terminal_expired_error() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue_expired(&["127.0.0.1"]).unwrap()).await;
    let (err, status) = failed_connect(&server.ws_url("/socket"), trusting(&ca), false).await;
    assert!(
        matches!(&err, ConnectError::Tls(TlsError::Expired { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("expired"), "{err}");
    assert!(matches!(status, SocketStatus::Stopped { .. }), "{status:?}");
}

#[tokio::test]
async fn a_certificate_for_another_host_is_a_terminal_wrong_host_error() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue(&["example.test"]).unwrap()).await;
    let (err, status) = failed_connect(&server.ws_url("/socket"), trusting(&ca), false).await;
    assert!(
        matches!(&err, ConnectError::Tls(TlsError::WrongHost { host, detail })
            if host == "127.0.0.1" && detail.contains("example.test")),
        "{err:?}"
    );
    assert!(matches!(status, SocketStatus::Stopped { .. }), "{status:?}");
}

#[tokio::test]
async fn a_plain_ws_server_reached_as_wss_is_a_terminal_not_tls_error() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("wss://{}/socket", server.addr());
    let (err, status) = failed_connect(&url, TlsConfig::default(), false).await;
    assert!(
        matches!(&err, ConnectError::Tls(TlsError::NotTls { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("use ws://"), "{err}");
    assert!(matches!(status, SocketStatus::Stopped { .. }), "{status:?}");
}

#[tokio::test]
async fn insecure_accepts_an_untrusted_certificate() {
    let ca = TestCa::new("phx test CA").unwrap();
    let server = tls_server(&ca.issue(&["example.test"]).unwrap()).await;
    let tls = TlsConfig::new(&TlsOptions {
        insecure: true,
        ..TlsOptions::default()
    })
    .unwrap();
    assert!(tls.is_insecure());
    let socket = builder(&server.ws_url("/socket")).tls(tls).build().unwrap();
    socket.connect().await.unwrap();
    socket.channel("ping").join(json!({})).await.unwrap();
}

#[test]
fn a_missing_ca_file_fails_when_the_config_is_built() {
    let err = TlsConfig::new(&TlsOptions {
        ca_files: vec!["/nonexistent/ca.pem".into()],
        ..TlsOptions::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
