//! Serializers: V1 JSON objects, V2 binary frames, undecodable frames and vsn negotiation.

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use crate::triggers::{Action, Capability, Node};
use phx_protocol::version::Behaviour;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_default()
}

/// A fresh socket, a join, one bad frame, and the 1011 close.
fn invalid_case(conn: &str, vsn: &str, bad: Step) -> Vec<Step> {
    let v1 = vsn.starts_with('1');
    let (join, ok) = if v1 {
        (
            r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}"#,
            r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#,
        )
    } else {
        (
            r#"["1","1","ping","phx_join",{}]"#,
            r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#,
        )
    };
    let bad = match bad {
        Step::Send { frame, .. } => Step::Send {
            conn: conn.into(),
            frame,
        },
        other => other,
    };
    vec![
        note(&format!("case {conn}")),
        connect_to(conn, Socket::Main, &format!("vsn={vsn}"), 101),
        send(conn, join),
        expect(conn, ok),
        bad,
        expect_closed(conn, 1011),
    ]
}

/// The serializer scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "v1_frames",
            name: "speaks V1 JSON objects without join_ref on vsn 1.0.0",
            about: "vsn=1.0.0 (and no vsn at all) selects V1: JSON objects in, objects with sorted keys and no join_ref out; phx_close after a stop has ref null when the join had no join_ref.",
            tags: &["v1", "serializers"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                vec![
                    connect_to("c1", Socket::Main, "vsn=1.0.0", 101),
                    send("c1", r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#),
                    expect("c1", r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#),
                    send("c1", r#"{"topic":"ping","event":"ping","payload":{"ack_phrase":"hello there"},"ref":"3"}"#),
                    expect("c1", r#"{"event":"phx_reply","payload":{"response":{"ping":"hello there"},"status":"ok"},"ref":"3","topic":"ping"}"#),
                    send("c1", r#"{"topic":"ping","event":"param_ping","payload":{"error":true},"ref":"7"}"#),
                    expect("c1", r#"{"event":"phx_reply","payload":{"response":{"reason":"You asked for this!"},"status":"error"},"ref":"7","topic":"ping"}"#),
                    send("c1", r#"{"topic":"ping","event":"ding","payload":{},"ref":"8"}"#),
                    expect("c1", r#"{"event":"phx_reply","payload":{"response":{"msg":"shutting down"},"status":"ok"},"ref":"8","topic":"ping"}"#),
                    expect("c1", r#"{"event":"phx_close","payload":{},"ref":null,"topic":"ping"}"#),
                    send("c1", r#"{"topic":"ping","event":"ping","payload":{},"ref":"9"}"#),
                    expect("c1", r#"{"event":"phx_reply","payload":{"response":{"reason":"unmatched topic"},"status":"error"},"ref":"9","topic":"ping"}"#),
                    close("c1"),
                    connect_to("novsn", Socket::Main, "", 101),
                    send("novsn", r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"1"}"#),
                    expect("novsn", r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"phoenix"}"#),
                    close("novsn"),
                ]
            },
        },
        Scenario {
            id: "v2_binary",
            name: "handles V2 binary pushes and binary replies",
            about: "A binary push reaches the channel as {:binary, data}; a JSON reply stays text, a binary reply is a kind-1 frame, and an unjoined topic gets the JSON unmatched reply. Needs no trigger.",
            tags: &["binary", "serializers"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send_bin("c1", &unhex("0001010404313270696e6770696e6701020304")),
                    expect("c1", r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    send_bin("c1", &unhex("000101040a313370696e67706172616d5f70696e6768656c6c6f00ff")),
                    expect_bin("c1", &unhex("0101010402313370696e676f6b68656c6c6f00ff")),
                    send_bin("c1", &unhex("0000010404346e6f706570696e677a7a")),
                    expect("c1", r#"[null,"4","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "v2_binary_broadcast",
            name: "sends a binary broadcast as a V2 kind-2 frame",
            about: "Endpoint.broadcast(topic, event, {:binary, <<1,2,3>>}) reaches a V2 subscriber as a kind-2 binary frame.",
            tags: &["binary", "serializers", "broadcast"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions)],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    Step::Trigger(Action::Broadcast {
                        node: Node::A,
                        topic: "ping".into(),
                        event: "bin".into(),
                        payload: phx_protocol::Payload::binary(vec![1u8, 2, 3]),
                    }),
                    expect_bin("c1", &unhex("02040370696e6762696e010203")),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "invalid_frame",
            name: "closes the socket with 1011 on an undecodable frame",
            about: "Non-JSON text, an object on V2, a 4-element array, empty text, binary garbage, an empty binary frame, an array on V1, an object missing keys on V1 and a binary frame on V1 all crash the socket process: close 1011, no Phoenix error frame first.",
            tags: &["invalid", "serializers"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = Vec::new();
                s.extend(invalid_case("nonjson", "2.0.0", send("", "this is not json")));
                s.extend(invalid_case("object", "2.0.0", send("", r#"{"topic": "ping", "event": "ping", "payload": {}, "ref": "9", "join_ref": "1"}"#)));
                s.extend(invalid_case("four", "2.0.0", send("", r#"["1", "9", "ping", "ping"]"#)));
                s.extend(invalid_case("empty", "2.0.0", send("", "")));
                s.extend(invalid_case("binary_garbage", "2.0.0", send_bin("", &unhex("deadbeef2067617262616765200001"))));
                s.extend(invalid_case("binary_empty", "2.0.0", send_bin("", &[])));
                s.extend(invalid_case("v1_array", "1.0.0", send("", r#"["1", "9", "ping", "ping", {}]"#)));
                s.extend(invalid_case("v1_missing_keys", "1.0.0", send("", r#"{"topic": "ping", "event": "ping"}"#)));
                s.extend(invalid_case("v1_binary", "1.0.0", send_bin("", &unhex("0001010404313170696e6770696e6778797a"))));
                s
            },
        },
        Scenario {
            id: "lenient_frames",
            name: "ignores extra array elements and echoes integer refs",
            about: "A 6-element V2 array is accepted (the decoder matches the first 5). An integer ref is echoed as an integer; with an integer join_ref after a string join, releases before 1.8.3 reply and later ones drop the push (COMPAT D3).",
            tags: &["serializers"],
            versions: Versions::depends(&[Behaviour::StaleJoinRefDropped]),
            needs: &[],
            steps: |ctx| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["1", "9", "ping", "ping", {}, "extra"]"#),
                    expect("c1", r#"["1","9","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    send("c1", r#"[1, 10, "ping", "ping", {}]"#),
                ]);
                if !ctx.version.has(Behaviour::StaleJoinRefDropped) {
                    s.push(expect("c1", r#"["1",10,"ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#));
                }
                s.extend([
                    send("c1", r#"[null,11,"phoenix","heartbeat",{}]"#),
                    expect("c1", r#"[null,11,"phoenix","phx_reply",{"response":{},"status":"ok"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "refused_vsn",
            name: "refuses an unsupported vsn with 403",
            about: "vsn=3.0.0 matches no serializer and vsn=abc does not parse: both are refused at the upgrade with HTTP 403 and an empty body.",
            tags: &["serializers", "vsn"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                vec![
                    connect_to("badvsn", Socket::Main, "vsn=3.0.0", 403),
                    connect_to("abc", Socket::Main, "vsn=abc", 403),
                ]
            },
        },
    ]
}
