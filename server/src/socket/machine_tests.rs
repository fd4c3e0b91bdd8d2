//! The socket machine alone: no socket, no runtime. Frames are the V2 JSON the recordings in
//! `fixtures/` show; each COMPAT.md row has a test named after it.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{Frame, Vsn};

use super::*;
use crate::apps::hello_sockets::{HelloSockets, UserSocket};

fn endpoint() -> Endpoint {
    HelloSockets::default().endpoint(Config::default(), None)
}

fn rules(compat: Compat) -> Rules {
    Rules::from_config(&Config {
        compat,
        ..Config::default()
    })
}

struct Harness {
    machine: SocketMachine,
    endpoint: Endpoint,
}

impl Harness {
    fn new(compat: Compat) -> Self {
        Self::with_rules(rules(compat))
    }

    fn with_rules(rules: Rules) -> Self {
        Harness {
            machine: SocketMachine::new(Arc::new(UserSocket), Assigns::new(), None, rules),
            endpoint: endpoint(),
        }
    }

    fn host(&self) -> Host<'_> {
        Host {
            endpoint: &self.endpoint,
            inbox: None,
        }
    }

    /// Feeds one V2 text frame; returns every effect it produced.
    fn input(&mut self, text: &str) -> Vec<Effect> {
        let msg = Vsn::V2
            .decode_client(&Frame::Text(text.to_owned()))
            .unwrap();
        let endpoint = self.endpoint.clone();
        let host = Host {
            endpoint: &endpoint,
            inbox: None,
        };
        self.machine.handle_message(msg, host);
        self.machine.take_effects()
    }

    /// Feeds one frame; returns only the frames sent, as V2 text.
    fn send(&mut self, text: &str) -> Vec<String> {
        frames(&self.input(text))
    }

    fn close(&mut self, cause: CloseCause) -> Vec<Effect> {
        self.machine.handle_close(cause);
        self.machine.take_effects()
    }
}

fn frames(effects: &[Effect]) -> Vec<String> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send(m) => match Vsn::V2.encode_server(m).unwrap() {
                Frame::Text(t) => Some(t),
                Frame::Binary(b) => Some(format!("binary {b:?}")),
            },
            _ => None,
        })
        .collect()
}

const JOIN_PING: &str = r#"["1","1","ping","phx_join",{}]"#;
const JOINED_PING: &str = r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#;

fn both() -> [Compat; 2] {
    [Compat::V1_7, Compat::V1_8]
}

#[test]
fn heartbeat_is_answered_with_a_null_join_ref() {
    for compat in both() {
        let mut h = Harness::new(compat);
        assert_eq!(
            h.send(r#"[null,"5","phoenix","heartbeat",{}]"#),
            [r#"[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]"#]
        );
    }
}

#[test]
fn a_join_subscribes_and_registers_before_its_reply() {
    let mut h = Harness::new(Compat::V1_8);
    let effects = h.input(JOIN_PING);
    let kinds: Vec<String> = effects.iter().map(|e| format!("{e:?}")).collect();
    assert!(
        matches!(&effects[0], Effect::Subscribe { chan_key: 1, topic, intercepts } if topic == "ping" && intercepts == &["request_ping"]),
        "{kinds:?}"
    );
    assert!(
        matches!(&effects[1], Effect::Joined { topic, join_ref } if topic == "ping" && join_ref.to_string() == "\"1\""),
        "{kinds:?}"
    );
    assert_eq!(frames(&effects), [JOINED_PING]);
    assert_eq!(h.machine.channel_count(), 1);
}

#[test]
fn an_unmatched_topic_is_refused_with_a_null_join_ref() {
    for compat in both() {
        let mut h = Harness::new(compat);
        assert_eq!(
            h.send(r#"["1","1","nope","phx_join",{}]"#),
            [
                r#"[null,"1","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#
            ]
        );
        assert_eq!(
            h.send(r#"["1","2","nope","ping",{}]"#),
            [
                r#"[null,"2","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#
            ]
        );
    }
}

#[test]
fn a_leave_of_a_topic_never_joined_is_answered_ok() {
    for compat in both() {
        let mut h = Harness::new(compat);
        assert_eq!(
            h.send(r#"["1","2","ping","phx_leave",{}]"#),
            [r#"["1","2","ping","phx_reply",{"response":{},"status":"ok"}]"#]
        );
    }
}

#[test]
fn leave_replies_then_closes_and_unsubscribes_first() {
    for compat in both() {
        let mut h = Harness::new(compat);
        h.input(JOIN_PING);
        let effects = h.input(r#"["1","2","ping","phx_leave",{}]"#);
        assert!(matches!(
            effects[0],
            Effect::Unsubscribe { chan_key: 1, .. }
        ));
        assert!(matches!(&effects[1], Effect::Left { topic } if topic == "ping"));
        assert_eq!(
            frames(&effects),
            [
                r#"["1","2","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["1","1","ping","phx_close",{}]"#,
            ]
        );
        assert_eq!(h.machine.channel_count(), 0);
    }
}

#[test]
fn duplicate_join_answers_the_new_join_then_closes_the_old_join_ref() {
    for compat in both() {
        let mut h = Harness::new(compat);
        h.input(JOIN_PING);
        let effects = h.input(r#"["3","3","ping","phx_join",{}]"#);
        assert!(matches!(
            effects[0],
            Effect::Unsubscribe { chan_key: 1, .. }
        ));
        assert!(effects
            .iter()
            .any(|e| matches!(e, Effect::Subscribe { chan_key: 2, .. })));
        assert_eq!(
            frames(&effects),
            [
                r#"["3","3","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["1","1","ping","phx_close",{}]"#,
            ]
        );
        assert_eq!(h.machine.channel_count(), 1);
    }
}

#[test]
fn a_reply_carries_the_channel_join_ref() {
    for compat in both() {
        let mut h = Harness::new(compat);
        h.input(JOIN_PING);
        assert_eq!(
            h.send(r#"["1","2","ping","ping",{}]"#),
            [r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#]
        );
    }
}

#[test]
fn a_clean_stop_replies_then_sends_phx_close() {
    for compat in both() {
        let mut h = Harness::new(compat);
        h.input(JOIN_PING);
        let effects = h.input(r#"["1","2","ping","ding",{}]"#);
        assert_eq!(
            frames(&effects),
            [
                r#"["1","2","ping","phx_reply",{"response":{"msg":"shutting down"},"status":"ok"}]"#,
                r#"["1","1","ping","phx_close",{}]"#,
            ]
        );
        assert!(effects
            .iter()
            .any(|e| matches!(e, Effect::Unsubscribe { chan_key: 1, .. })));
    }
}

#[test]
fn d1_phx_error_payload_after_a_crash_is_empty_on_1_7_and_names_the_crash_on_1_8() {
    let mut h = Harness::new(Compat::V1_7);
    h.input(JOIN_PING);
    assert_eq!(
        h.send(r#"["1","2","ping","unknown",{}]"#),
        [r#"["1","1","ping","phx_error",{}]"#]
    );
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    assert_eq!(
        h.send(r#"["1","2","ping","unknown",{}]"#),
        [r#"["1","1","ping","phx_error",{"reason":"channel_crash"}]"#]
    );
    assert_eq!(h.machine.channel_count(), 0);
}

#[test]
fn d2_a_stale_join_ref_reaches_the_channel_on_1_7_and_is_dropped_on_1_8() {
    let mut h = Harness::new(Compat::V1_7);
    h.input(JOIN_PING);
    h.input(r#"["5","5","ping","phx_join",{}]"#);
    assert_eq!(
        h.send(r#"["1","6","ping","ping",{}]"#),
        [r#"["5","6","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#]
    );
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    h.input(r#"["5","5","ping","phx_join",{}]"#);
    assert!(h.input(r#"["1","6","ping","ping",{}]"#).is_empty());
}

#[test]
fn d3_an_integer_join_ref_is_not_the_string_one_on_1_8() {
    let mut h = Harness::new(Compat::V1_7);
    h.input(JOIN_PING);
    assert_eq!(
        h.send(r#"[1,9,"ping","ping",{}]"#),
        [r#"["1",9,"ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#]
    );
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    assert!(h.input(r#"[1,9,"ping","ping",{}]"#).is_empty());
}

#[test]
fn x1_a_join_ref_that_never_existed_is_answered_on_1_7_and_dropped_on_1_8() {
    let mut h = Harness::new(Compat::V1_7);
    h.input(JOIN_PING);
    assert_eq!(h.send(r#"["99","2","ping","ping",{}]"#).len(), 1);
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    assert!(h.input(r#"["99","2","ping","ping",{}]"#).is_empty());
}

#[test]
fn x2_a_leave_with_a_null_join_ref_is_ignored_on_1_7_and_leaves_on_1_8() {
    let mut h = Harness::new(Compat::V1_7);
    h.input(JOIN_PING);
    assert!(h.input(r#"[null,"2","ping","phx_leave",{}]"#).is_empty());
    assert_eq!(h.machine.channel_count(), 1);
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    assert_eq!(
        h.send(r#"[null,"2","ping","phx_leave",{}]"#),
        [
            r#"["1","2","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"["1","1","ping","phx_close",{}]"#,
        ]
    );
}

#[test]
fn x3_a_channel_joined_with_a_null_join_ref() {
    let join = r#"[null,"5","ping","phx_join",{}]"#;
    // The join's reply echoes the null; later replies carry join_ref || ref ("5"); phx_close
    // carries the stored null.
    let mut h = Harness::new(Compat::V1_7);
    assert_eq!(
        h.send(join),
        [r#"[null,"5","ping","phx_reply",{"response":{},"status":"ok"}]"#]
    );
    assert_eq!(
        h.send(r#"["6","7","ping","phx_leave",{}]"#),
        [
            r#"["5","7","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"[null,null,"ping","phx_close",{}]"#,
        ]
    );
    let mut h = Harness::new(Compat::V1_8);
    h.input(join);
    assert!(h.input(r#"["6","7","ping","ping",{}]"#).is_empty());
    assert!(h.input(r#"["6","8","ping","phx_leave",{}]"#).is_empty());
    assert_eq!(
        h.send(r#"[null,"9","ping","ping",{}]"#),
        [r#"["5","9","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#]
    );
}

#[test]
fn x4_max_channels_applies_only_where_the_release_has_it() {
    let join = |n: usize| format!(r#"["{n}","{n}","ping:{n}","phx_join",{{}}]"#);
    let mut h = Harness::new(Compat::V1_7);
    for n in 0..101 {
        assert!(h.send(&join(n))[0].ends_with(r#""status":"ok"}]"#));
    }
    assert_eq!(h.machine.channel_count(), 101);
    let mut h = Harness::new(Compat::V1_8);
    for n in 0..100 {
        h.input(&join(n));
    }
    let effects = h.input(&join(100));
    assert_eq!(
        frames(&effects),
        [
            r#"["100","100","ping:100","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#
        ]
    );
    assert!(
        effects.iter().all(|e| matches!(e, Effect::Send(_))),
        "no subscription, no close: the socket stays open"
    );
    assert_eq!(h.machine.channel_count(), 100);
    // The configured limit, not a constant.
    let mut h = Harness::with_rules(Rules {
        max_channels: Some(2),
        ..rules(Compat::V1_8)
    });
    h.input(&join(0));
    h.input(&join(1));
    assert!(h.send(&join(2))[0].contains("too many channels joined"));
}

#[test]
fn d4_disconnect_closes_1000_on_1_7_and_1001_on_1_8_with_cowboy() {
    for (compat, code) in [(Compat::V1_7, 1000), (Compat::V1_8, 1001)] {
        let mut h = Harness::new(compat);
        h.input(JOIN_PING);
        let effects = h.close(CloseCause::Disconnect);
        assert!(
            matches!(effects[..], [Effect::Close(c)] if c == code),
            "{compat}: {effects:?}: no phx_close or phx_error first"
        );
    }
}

#[test]
fn bandit_closes_disconnect_with_1011_on_1_7_and_1001_on_1_8() {
    for (compat, code) in [(Compat::V1_7, 1011), (Compat::V1_8, 1001)] {
        let mut h = Harness::with_rules(Rules {
            adapter: Adapter::Bandit,
            ..rules(compat)
        });
        assert!(matches!(h.close(CloseCause::Disconnect)[..], [Effect::Close(c)] if c == code));
    }
}

#[test]
fn the_idle_timeout_closes_1000_on_cowboy_and_1002_on_bandit() {
    for compat in both() {
        for (adapter, code) in [(Adapter::Cowboy, 1000), (Adapter::Bandit, 1002)] {
            let mut h = Harness::with_rules(Rules {
                adapter,
                ..rules(compat)
            });
            assert!(matches!(h.close(CloseCause::Idle)[..], [Effect::Close(c)] if c == code));
        }
    }
}

#[test]
fn an_undecodable_frame_closes_1011_and_drain_closes_1012() {
    for compat in both() {
        for adapter in [Adapter::Cowboy, Adapter::Bandit] {
            let mut h = Harness::with_rules(Rules {
                adapter,
                ..rules(compat)
            });
            assert!(matches!(
                h.close(CloseCause::Undecodable)[..],
                [Effect::Close(1011)]
            ));
            assert!(matches!(
                h.close(CloseCause::Drain)[..],
                [Effect::Close(1012)]
            ));
        }
    }
}

#[test]
fn an_intercepted_broadcast_runs_handle_out_only_for_the_current_channel() {
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    let broadcast = Broadcast::new("ping", "request_ping", Payload::empty_object());
    let endpoint = h.endpoint.clone();
    let host = Host {
        endpoint: &endpoint,
        inbox: None,
    };
    h.machine.handle_intercept(1, &broadcast, host);
    let effects: Vec<Effect> = h.machine.take_effects();
    assert_eq!(
        frames(&effects),
        [r#"["1",null,"ping","send_ping",{"from_node":"nonode@nohost"}]"#]
    );
    // After a re-join the old key is stale.
    h.input(r#"["3","3","ping","phx_join",{}]"#);
    h.machine.handle_intercept(1, &broadcast, host);
    assert!(h.machine.take_effects().is_empty());
}

#[test]
fn timers_become_effects_and_come_back_through_handle_info() {
    let mut h = Harness::new(Compat::V1_8);
    h.input(r#"["1","1","dupe","phx_join",{}]"#);
    let number = |n: i64| Broadcast::new("dupe", "number", Payload::Json(json!({"number": n})));
    let endpoint = h.endpoint.clone();
    let host = Host {
        endpoint: &endpoint,
        inbox: None,
    };
    h.machine.handle_intercept(1, &number(1), host);
    let mut effects: Vec<Effect> = h.machine.take_effects();
    let Some(Effect::ArmTimer {
        chan_key: 1,
        delay,
        msg,
    }) = effects.pop()
    else {
        panic!("a timer expected: {effects:?}");
    };
    assert_eq!(
        delay,
        Duration::from_millis(1000),
        "the app's default window"
    );
    h.machine.handle_intercept(1, &number(1), host);
    h.machine.handle_intercept(1, &number(2), host);
    assert!(h.machine.take_effects().is_empty(), "one timer per window");
    h.machine.handle_info(1, msg, host);
    let effects: Vec<Effect> = h.machine.take_effects();
    assert_eq!(
        frames(&effects),
        [
            r#"["1",null,"dupe","number",{"value":1}]"#,
            r#"["1",null,"dupe","number",{"value":2}]"#,
        ]
    );
}

#[test]
fn a_message_for_a_channel_that_left_is_dropped() {
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    h.input(r#"["1","2","ping","phx_leave",{}]"#);
    let host = h.host();
    let endpoint = host.endpoint.clone();
    h.machine.handle_info(
        1,
        Box::new(()),
        Host {
            endpoint: &endpoint,
            inbox: None,
        },
    );
    assert!(h.machine.take_effects().is_empty());
}

#[test]
fn terminate_all_sends_nothing_but_releases_every_subscription() {
    let mut h = Harness::new(Compat::V1_8);
    h.input(JOIN_PING);
    h.input(r#"["2","2","wild:1:2","phx_join",{}]"#);
    let endpoint = h.endpoint.clone();
    h.machine.terminate_all(Host {
        endpoint: &endpoint,
        inbox: None,
    });
    let effects: Vec<Effect> = h.machine.take_effects();
    assert!(frames(&effects).is_empty());
    let unsubscribed = effects
        .iter()
        .filter(|e| matches!(e, Effect::Unsubscribe { .. }))
        .count();
    assert_eq!(unsubscribed, 2);
    assert_eq!(h.machine.channel_count(), 0);
}

#[test]
fn max_channels_follows_the_release_in_the_config() {
    let config = |compat| Config {
        compat,
        max_channels: 7,
        ..Config::default()
    };
    assert_eq!(Rules::from_config(&config(Compat::V1_7)).max_channels, None);
    assert_eq!(
        Rules::from_config(&config(Compat::V1_8)).max_channels,
        Some(7)
    );
}

fn version(v: &str) -> Compat {
    v.parse().unwrap()
}

#[test]
fn x4_max_channels_exists_from_1_7_24_and_1_8_9() {
    for (v, limited) in [
        ("1.7.14", false),
        ("1.7.24", true),
        ("1.8.8", false),
        ("1.8.9", true),
        ("1.8.12", true),
    ] {
        let mut h = Harness::with_rules(Rules {
            max_channels: rules(version(v)).max_channels.map(|_| 1),
            ..rules(version(v))
        });
        h.input(JOIN_PING);
        let second = h.send(r#"["2","2","ping:2","phx_join",{}]"#);
        assert_eq!(
            second[0].contains("too many channels joined"),
            limited,
            "{v}: {second:?}"
        );
    }
}

#[test]
fn between_1_8_3_and_1_8_11_a_null_join_ref_is_dropped_unless_the_channel_joined_with_null() {
    let mut h = Harness::new(version("1.8.5"));
    h.input(JOIN_PING);
    assert!(h.input(r#"[null,"2","ping","ping",{}]"#).is_empty());
    assert_eq!(h.send(r#"["1","3","ping","ping",{}]"#).len(), 1);
    // Joined with null: every join_ref reaches it.
    let mut h = Harness::new(version("1.8.5"));
    h.input(r#"[null,"5","ping","phx_join",{}]"#);
    assert_eq!(h.send(r#"["6","7","ping","ping",{}]"#).len(), 1);
    assert_eq!(h.send(r#"[null,"8","ping","ping",{}]"#).len(), 1);
}

#[test]
fn the_disconnect_code_switches_at_1_8_8() {
    for (v, code) in [("1.8.7", 1000), ("1.8.8", 1001)] {
        let mut h = Harness::new(version(v));
        assert!(
            matches!(h.close(CloseCause::Disconnect)[..], [Effect::Close(c)] if c == code),
            "{v}"
        );
    }
}

// Deliberately broken rules (`Config::breakage`): each breaks its one rule and nothing else.

fn broken(compat: Compat, breakage: Breakage) -> Harness {
    Harness::with_rules(Rules {
        breakage: Some(breakage),
        ..rules(compat)
    })
}

#[test]
fn broken_omit_leave_close_answers_the_leave_but_sends_no_phx_close() {
    for compat in both() {
        let mut h = broken(compat, Breakage::OmitLeaveClose);
        h.input(JOIN_PING);
        let effects = h.input(r#"["1","2","ping","phx_leave",{}]"#);
        assert_eq!(
            frames(&effects),
            [r#"["1","2","ping","phx_reply",{"response":{},"status":"ok"}]"#]
        );
        assert!(matches!(
            effects[0],
            Effect::Unsubscribe { chan_key: 1, .. }
        ));
        assert_eq!(h.machine.channel_count(), 0, "the channel still leaves");
        // Only the leave is broken: heartbeats and duplicate joins are faithful.
        assert_eq!(
            h.send(r#"[null,"5","phoenix","heartbeat",{}]"#),
            [r#"[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]"#]
        );
        h.input(JOIN_PING);
        assert_eq!(
            h.send(r#"["3","3","ping","phx_join",{}]"#)[1],
            r#"["1","1","ping","phx_close",{}]"#
        );
    }
}

#[test]
fn broken_heartbeat_join_ref_answers_a_heartbeat_with_its_ref_as_join_ref() {
    for compat in both() {
        let mut h = broken(compat, Breakage::HeartbeatJoinRef);
        assert_eq!(
            h.send(r#"[null,"5","phoenix","heartbeat",{}]"#),
            [r#"["5","5","phoenix","phx_reply",{"response":{},"status":"ok"}]"#]
        );
        h.input(JOIN_PING);
        assert_eq!(
            h.send(r#"["1","2","ping","phx_leave",{}]"#)[1],
            r#"["1","1","ping","phx_close",{}]"#,
            "the leave is faithful"
        );
    }
}

#[test]
fn broken_keep_old_channel_answers_a_duplicate_join_without_closing_the_old_one() {
    for compat in both() {
        let mut h = broken(compat, Breakage::KeepOldChannelOnDuplicateJoin);
        h.input(JOIN_PING);
        let effects = h.input(r#"["3","3","ping","phx_join",{}]"#);
        assert_eq!(
            frames(&effects),
            [r#"["3","3","ping","phx_reply",{"response":{},"status":"ok"}]"#]
        );
        assert!(
            effects
                .iter()
                .all(|e| matches!(e, Effect::Send(_) | Effect::Release(_))),
            "{effects:?}: no unsubscribe, no new subscription, no timer"
        );
        assert_eq!(h.machine.channel_count(), 1);
        // The old channel still answers to its own join_ref.
        assert_eq!(
            h.send(r#"["1","4","ping","ping",{}]"#),
            [r#"["1","4","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#]
        );
        assert_eq!(
            h.send(r#"[null,"5","phoenix","heartbeat",{}]"#),
            [r#"[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
            "heartbeats are faithful"
        );
    }
}

#[test]
fn breakage_names_parse_back() {
    for b in Breakage::ALL {
        assert_eq!(b.as_str().parse::<Breakage>(), Ok(b));
    }
    assert!("omit-everything".parse::<Breakage>().is_err());
    assert_eq!(Config::default().breakage, None);
}
