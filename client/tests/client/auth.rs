//! AuthSocket: connect params from a closure. After the token the socket connected with has
//! expired, the reconnect uses the fresh token (here the tutorial's RecurringChannel
//! `new_token`), while a socket with static params is refused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use phx_client::{ChannelStatus, Socket, SocketStatus, StatusEvent};
use phx_protocol::token::{self, SecretKeyBase, SignOptions, VerifyError, VerifyOptions};
use phx_server::apps::hello_sockets::{HelloSockets, HelloSocketsConfig, AUTH_MAX_AGE, AUTH_SALT};
use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

use crate::support::{builder, WAIT};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn the_reconnect_uses_the_fresh_token_from_the_params_closure() {
    let config = Config::default();
    let key = SecretKeyBase::new(config.secret_key_base.as_bytes().to_vec()).unwrap();
    let app = HelloSocketsConfig::default().recurring_interval(Duration::from_millis(100));
    let server = TestServer::start_app(config, HelloSockets::new(app), None).await;

    // A token for user 1 that expires 1.5 s from now (signed just under max_age ago).
    let lifetime_left_ms = 1500;
    let signed_at = now_ms() - (AUTH_MAX_AGE as i64 * 1000 - lifetime_left_ms);
    let short_lived = token::sign(
        &key,
        AUTH_SALT,
        &json!(1),
        &SignOptions::new().signed_at_ms(signed_at),
    )
    .unwrap();

    let slot = Arc::new(Mutex::new(short_lived.clone()));
    let params_slot = slot.clone();
    let socket = builder(&server.ws_url("/auth_socket"))
        .params_with(move || vec![("token".to_owned(), params_slot.lock().unwrap().clone())])
        .build()
        .unwrap();
    // The control: the same token as a static param.
    let stale = builder(&server.ws_url("/auth_socket"))
        .param("token", short_lived.clone())
        .build()
        .unwrap();
    socket.connect().await.unwrap();
    stale.connect().await.unwrap();

    // Each new_token becomes the connect param of the next reconnect.
    let recurring = socket.channel("recurring");
    let mut tokens = recurring.on("new_token");
    recurring.join(json!({})).await.unwrap();
    let store = slot.clone();
    tokio::spawn(async move {
        while let Ok(ev) = tokens.recv().await {
            if let Some(t) = ev.payload.as_json().and_then(|p| p["token"].as_str()) {
                *store.lock().unwrap() = t.to_owned();
            }
        }
    });
    server
        .wait_until("a fresh token arrived", WAIT, |_| {
            *slot.lock().unwrap() != short_lived
        })
        .await
        .unwrap();

    // Wait (on the token's own clock) until the first token has expired.
    let verify = VerifyOptions::new().max_age(token::MaxAge::Seconds(AUTH_MAX_AGE as i64));
    server
        .wait_until("the first token expired", WAIT, |_| {
            matches!(
                token::verify(&key, AUTH_SALT, &short_lived, &verify),
                Err(VerifyError::Expired)
            )
        })
        .await
        .unwrap();

    let mut stale_transitions = stale.status_events();
    server.drop_all_connections();

    // The closure-driven socket is back, on the server, as user 1, with its channel rejoined.
    socket
        .wait_for(WAIT, |s| s.generation() == Some(2))
        .await
        .unwrap();
    recurring
        .wait_for(WAIT, |s| *s == ChannelStatus::Joined)
        .await
        .unwrap();
    server
        .wait_until("recurring rejoined as auth_socket:1", WAIT, |s| {
            s.joined()
                .iter()
                .any(|j| j.topic == "recurring" && j.socket_id.as_deref() == Some("auth_socket:1"))
        })
        .await
        .unwrap();

    // The static-params socket is refused (403) with the expired token.
    let refused = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(StatusEvent::Socket(SocketStatus::Reconnecting { reason, .. })) =
                stale_transitions.recv().await
            {
                if reason.contains("403") {
                    return reason;
                }
            }
        }
    })
    .await
    .unwrap();
    assert!(refused.contains("HTTP 403"), "{refused}");
    assert_eq!(stale.status().generation(), None);
    stale.disconnect().await;
}

#[tokio::test]
async fn a_refused_first_connect_returns_the_http_status() {
    let server = TestServer::start(Config::default()).await;
    let socket = Socket::builder(&server.ws_url("/auth_socket"))
        .param("token", "nonsense")
        .build()
        .unwrap();
    let err = socket.connect().await.unwrap_err();
    assert!(
        matches!(err, phx_client::ConnectError::Refused { status: 403, .. }),
        "{err:?}"
    );
    socket.disconnect().await;
    assert_eq!(socket.status(), SocketStatus::Idle);
}
