//! The tutorial's UserSocket and AuthSocket tests, ported to the test kit (log assertions
//! included), plus the same refusals over a real WebSocket upgrade.

use phx_server::apps::hello_sockets::{AuthSocket, HelloSockets, UserSocket, AUTH_SALT};
use phx_server::testing::{capture_log, connect, connect_with, ClientError, TestServer};
use phx_server::Config;
use serde_json::{json, Value};

fn generate_token(id: i64, salt: Option<&str>) -> String {
    let endpoint = HelloSockets::default().endpoint(Config::default(), None);
    endpoint
        .sign_token(salt.unwrap_or(AUTH_SALT), &json!(id))
        .expect("sign")
}

mod user_socket {
    use super::*;

    #[test]
    fn can_be_connected_to_without_parameters() {
        assert!(connect(&UserSocket, &[]).is_ok());
    }

    #[test]
    fn an_identifier_is_not_provided() {
        let socket = connect(&UserSocket, &[]).expect("connect");
        assert_eq!(socket.id(), None);
    }
}

mod auth_socket {
    use super::*;

    #[test]
    fn can_be_connected_to_with_a_valid_token() {
        assert!(connect(&AuthSocket, &[("token", &generate_token(1, None))]).is_ok());
        assert!(connect(&AuthSocket, &[("token", &generate_token(2, None))]).is_ok());
    }

    #[test]
    fn cannot_be_connected_to_with_an_invalid_salt() {
        let token = generate_token(1, Some("invalid"));
        let log = capture_log(|| assert!(connect(&AuthSocket, &[("token", &token)]).is_err()));
        assert!(
            log.contains("[error] Elixir.HelloSocketsWeb.AuthSocket connect error :invalid"),
            "{log}"
        );
    }

    #[test]
    fn cannot_be_connected_to_without_a_token() {
        let log = capture_log(|| assert!(connect(&AuthSocket, &[]).is_err()));
        assert!(
            log.contains("[error] Elixir.HelloSocketsWeb.AuthSocket connect error missing params"),
            "{log}"
        );
    }

    #[test]
    fn cannot_be_connected_to_with_a_nonsense_token() {
        let log = capture_log(|| assert!(connect(&AuthSocket, &[("token", "nonsense")]).is_err()));
        assert!(
            log.contains("[error] Elixir.HelloSocketsWeb.AuthSocket connect error :invalid"),
            "{log}"
        );
    }

    #[test]
    fn cannot_be_connected_to_with_an_expired_token() {
        let endpoint = HelloSockets::default().endpoint(Config::default(), None);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let token = phx_server::token::sign(
            &Config::default().secret_key_base,
            AUTH_SALT,
            &json!(1),
            Some(now - 90_000),
            None,
        )
        .unwrap();
        let params = [("token".to_owned(), Value::String(token))]
            .into_iter()
            .collect();
        let log = capture_log(|| assert!(connect_with(&endpoint, &AuthSocket, &params).is_err()));
        assert!(
            log.contains("[error] Elixir.HelloSocketsWeb.AuthSocket connect error :expired"),
            "{log}"
        );
    }

    #[test]
    fn an_identifier_is_based_on_the_connected_id() {
        let socket = connect(&AuthSocket, &[("token", &generate_token(1, None))]).expect("connect");
        assert_eq!(socket.id(), Some("auth_socket:1"));
        assert_eq!(socket.assigns().get("user_id"), Some(&json!(1)));
        let socket = connect(&AuthSocket, &[("token", &generate_token(2, None))]).expect("connect");
        assert_eq!(socket.id(), Some("auth_socket:2"));
    }

    #[test]
    fn verifies_a_token_recorded_from_real_phoenix_with_its_salt() {
        // fixtures auth.jsonl: Phoenix.Token.sign(endpoint, "invalid", 1) from the real server.
        let recorded =
            "SFMyNTY.g2gDYQFuBgCD1FQeogFiAAFRgA.GjLvVYwdFrqDf5W_iKIDDU_eThUkDJEb0zXcQT0q0Ts";
        let log = capture_log(|| assert!(connect(&AuthSocket, &[("token", recorded)]).is_err()));
        // Wrong salt for AuthSocket (and long expired): invalid comes first, as in the recording.
        assert!(log.contains("connect error :invalid"), "{log}");
    }
}

#[tokio::test]
async fn refused_upgrades_are_403_with_empty_body_and_logged() {
    let server = TestServer::start(Config::default()).await;
    let cases: [(Vec<(&str, String)>, &str); 4] = [
        (vec![], "connect error missing params"),
        // `?token=` is a string, not nil: Plug.Crypto says :invalid, not :missing.
        (vec![("token", String::new())], "connect error :invalid"),
        (
            vec![("token", "nonsense".to_owned())],
            "connect error :invalid",
        ),
        (
            vec![("token", server.sign_token("invalid", json!(1)))],
            "connect error :invalid",
        ),
    ];
    for (params, log) in cases {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        server.logs().clear();
        match server.client("/auth_socket", &params).await {
            Err(ClientError::Refused { status, body }) => {
                assert_eq!(status, 403);
                assert_eq!(body, "");
            }
            Err(e) => panic!("expected 403, got {e}"),
            Ok(_) => panic!("expected 403, got a connection"),
        }
        server
            .wait_for_log(
                &format!("[error] Elixir.HelloSocketsWeb.AuthSocket {log}"),
                super::support::WAIT,
            )
            .await
            .unwrap();
    }
    let token = server.sign_token(AUTH_SALT, json!(1));
    let mut c = server
        .client("/auth_socket", &[("token", &token)])
        .await
        .expect("valid token connects");
    assert_eq!(c.join("user:1", json!({})).await.0, "ok");
    let (status, resp) = c.join("user:2", json!({})).await;
    assert_eq!(
        (status.as_str(), resp),
        ("error", json!({"reason": "unauthorized"}).into())
    );
    let joined = server.joined();
    assert_eq!(joined.len(), 1);
    assert_eq!(joined[0].socket_id.as_deref(), Some("auth_socket:1"));
}

/// A token signed one hour ahead: Phoenix 1.7.14 (Plug.Crypto 2.1.0) accepts it, as recorded;
/// 1.8.12 (mix.exs `~> 2.2`, Plug.Crypto #48) refuses it; `Config::plug_crypto` overrides.
#[tokio::test]
async fn a_token_signed_in_the_future_follows_the_plug_crypto_of_the_release() {
    use phx_protocol::version::PlugCryptoVersion;
    use phx_server::Compat;
    let ahead = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        + 3600;
    let token = phx_server::token::sign(
        phx_server::FIXTURE_SECRET_KEY_BASE,
        AUTH_SALT,
        &json!(1),
        Some(ahead),
        None,
    )
    .expect("sign");
    for (compat, plug_crypto, accepted) in [
        (Compat::V1_7, None, true),
        (Compat::V1_8, None, false),
        (Compat::V1_8, Some(PlugCryptoVersion::V2_1_1), true),
        (Compat::V1_7, Some(PlugCryptoVersion::V2_2_0), false),
    ] {
        let server = TestServer::start(Config {
            compat,
            plug_crypto,
            ..Config::default()
        })
        .await;
        let got = server
            .client("/auth_socket", &[("token", token.as_str())])
            .await;
        match (accepted, got) {
            (true, Ok(_)) => {}
            (false, Err(ClientError::Refused { status: 403, .. })) => {}
            (_, other) => panic!(
                "{compat} {plug_crypto:?}: expected accepted={accepted}, got {:?}",
                other.map(|_| "a connection")
            ),
        }
    }
}
