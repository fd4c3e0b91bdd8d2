//! The auth socket: token checks at connect, user:* authorization, recurring tokens and
//! disconnect by socket id.

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use crate::triggers::{Action, Capability, SignRequest};
use std::time::Duration;

const SALT: &str = "salt identifier";

fn sign(var: &str, salt: &str, age_offset_s: i64) -> Step {
    Step::Sign {
        var: var.into(),
        request: SignRequest {
            salt: salt.into(),
            data: 1,
            age_offset_s,
        },
    }
}

fn connect_auth(conn: &str, query: &str, status: u16) -> Step {
    connect_to(conn, Socket::Auth, query, status)
}

/// The auth scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "auth_missing",
            name: "refuses an auth socket connect without a token",
            about: "AuthSocket.connect/3 returns :error without a token param: HTTP 403, empty body.",
            tags: &["auth"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::Auth)],
            steps: |_| vec![connect_auth("notoken", "vsn=2.0.0", 403)],
        },
        Scenario {
            id: "auth_invalid",
            name: "refuses an auth socket connect with an invalid token",
            about: "A nonsense token and a token signed with another salt are both :invalid: HTTP 403.",
            tags: &["auth"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::Auth), Need::Trigger(Capability::Sign)],
            steps: |_| {
                vec![
                    connect_auth("nonsense", "vsn=2.0.0&token=nonsense", 403),
                    sign("{badsalt}", "invalid", 0),
                    connect_auth("badsalt", "vsn=2.0.0&token={badsalt}", 403),
                ]
            },
        },
        Scenario {
            id: "auth_expired",
            name: "refuses an auth socket connect with an expired token",
            about: "A token signed 90000 s ago is past max_age 86400: :expired, HTTP 403.",
            tags: &["auth"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::Auth), Need::Trigger(Capability::Sign)],
            steps: |_| {
                vec![
                    sign("{expired}", SALT, -90_000),
                    connect_auth("expired", "vsn=2.0.0&token={expired}", 403),
                ]
            },
        },
        Scenario {
            id: "auth_ok",
            name: "accepts a valid token and authorizes user:* by user id",
            about: "A fresh token opens the socket; user:1 joins, user:2 is refused with \"unauthorized\".",
            tags: &["auth"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::Auth), Need::Trigger(Capability::Sign)],
            steps: |_| {
                let mut s = vec![sign("{ok}", SALT, 0), connect_auth("user1", "vsn=2.0.0&token={ok}", 101)];
                s.extend(join_ok("user1", "user:1", "1"));
                s.extend([
                    send("user1", r#"["2","2","user:2","phx_join",{}]"#),
                    expect("user1", r#"["2","2","user:2","phx_reply",{"response":{"reason":"unauthorized"},"status":"error"}]"#),
                    close("user1"),
                ]);
                s
            },
        },
        Scenario {
            id: "recurring_token",
            name: "the recurring channel pushes a fresh token every interval",
            about: "After joining \"recurring\", a new_token push with a valid Phoenix.Token arrives every interval (5 s in the app). Order is compared, not timing.",
            tags: &["auth", "recurring"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::Auth), Need::Trigger(Capability::Sign)],
            steps: |ctx| {
                let within = ctx.recurring_interval * 2 + Duration::from_secs(2);
                let mut s = vec![sign("{ok}", SALT, 0), connect_auth("user1", "vsn=2.0.0&token={ok}", 101)];
                s.extend(join_ok("user1", "recurring", "3"));
                s.extend([
                    expect_within("user1", r#"["3",null,"recurring","new_token",{"token":"[token]"}]"#, within),
                    expect_within("user1", r#"["3",null,"recurring","new_token",{"token":"[token]"}]"#, within),
                    close("user1"),
                ]);
                s
            },
        },
        Scenario {
            id: "disconnect",
            name: "a disconnect broadcast to the socket id closes the socket",
            about: "Endpoint.broadcast(\"auth_socket:1\", \"disconnect\", %{}) closes the WebSocket with no phx_close first: code 1000 with Cowboy (1011 with Bandit) before 1.8.8, 1001 on every adapter from 1.8.8.",
            tags: &["auth", "disconnect"],
            versions: Versions::depends(&[phx_protocol::version::Behaviour::DisconnectGoingAway]),
            needs: &[Need::Socket(Socket::Auth), Need::Trigger(Capability::Sign), Need::Trigger(Capability::Actions)],
            steps: |ctx| {
                let mut s = vec![sign("{ok}", SALT, 0), connect_auth("user1", "vsn=2.0.0&token={ok}", 101)];
                s.extend(join_ok("user1", "user:1", "1"));
                s.extend([
                    Step::Trigger(Action::Disconnect { socket_id: "auth_socket:1".into() }),
                    expect_closed("user1", ctx.disconnect_code()),
                ]);
                s
            },
        },
    ]
}
