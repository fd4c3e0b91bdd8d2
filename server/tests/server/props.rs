//! Property tests: random frames, and mutations of valid ones, never kill the server and never
//! disturb another connection.

use phx_protocol::Frame;
use phx_server::testing::RecvError;
use phx_server::Compat;
use proptest::prelude::*;
use std::cell::Cell;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::*;

const VALID: &[&str] = &[
    r#"["1","1","ping","phx_join",{}]"#,
    r#"["1","2","ping","ping",{"ack_phrase":"x"}]"#,
    r#"[null,"3","phoenix","heartbeat",{}]"#,
    r#"["1","4","ping","phx_leave",{}]"#,
    r#"["2","2","wild:1:2","phx_join",{}]"#,
    r#"["3","3","dupe","phx_join",{}]"#,
];

fn json_value() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "null",
        r#""1""#,
        "1",
        "1.5",
        "true",
        "[]",
        "{}",
        r#""""#,
        "-7",
        r#"{"error":true}"#,
    ])
}

fn message_frame() -> impl Strategy<Value = WsMessage> {
    let topic = prop::sample::select(vec![
        "ping", "ping:x", "phoenix", "wild:1:2", "wild:a:b", "dupe", "nope", "", "user:1",
    ]);
    let event = prop::sample::select(vec![
        "phx_join",
        "phx_leave",
        "ping",
        "ding",
        "pong",
        "heartbeat",
        "param_ping",
        "x",
        "ping:y",
        "phx_reply",
    ]);
    (json_value(), json_value(), topic, event, json_value()).prop_map(|(jr, r, t, e, p)| {
        WsMessage::Text(format!(r#"[{jr},{r},"{t}","{e}",{p}]"#).into())
    })
}

fn mutated_frame() -> impl Strategy<Value = WsMessage> {
    (
        prop::sample::select(VALID.to_vec()),
        prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        any::<bool>(),
    )
        .prop_map(|(valid, edits, binary)| {
            let mut bytes = valid.as_bytes().to_vec();
            for (i, b) in edits {
                let at = i.index(bytes.len());
                bytes[at] = b;
            }
            if binary {
                WsMessage::Binary(bytes.into())
            } else {
                WsMessage::Text(String::from_utf8_lossy(&bytes).into_owned().into())
            }
        })
}

fn any_frame() -> impl Strategy<Value = WsMessage> {
    prop_oneof![
        message_frame(),
        mutated_frame(),
        any::<String>().prop_map(|s| WsMessage::Text(s.into())),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| WsMessage::Binary(b.into())),
        // Binary pushes with random header lengths.
        (
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
            prop::collection::vec(any::<u8>(), 0..24)
        )
            .prop_map(|(a, b, c, d, rest)| {
                let mut f = vec![0u8, a % 8, b % 8, c % 8, d % 8];
                f.extend(rest);
                WsMessage::Binary(f.into())
            }),
    ]
}

#[test]
fn random_frames_never_kill_the_server_or_disturb_another_connection() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, bystander) = rt.block_on(async {
        let server = start(Compat::V1_8).await;
        let mut b = v2(&server).await;
        exchange(
            &mut b,
            r#"["1","1","ping","phx_join",{}]"#,
            &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        (server, b)
    });
    let bystander = tokio::sync::Mutex::new(bystander);
    let counter = Cell::new(0u64);
    let cfg = ProptestConfig {
        cases: 96,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(cfg, |(vsn in prop::sample::select(vec!["1.0.0", "2.0.0"]), frames in prop::collection::vec(any_frame(), 1..6))| {
        rt.block_on(async {
            let mut fuzz = server.client("/socket", &[("vsn", vsn)]).await.expect("the server still accepts connections");
            for f in frames {
                if fuzz.send_raw(f).await.is_err() {
                    break;
                }
            }
            // The fuzzed connection is either closed (1011) or still answers heartbeats.
            let heartbeat = if vsn == "1.0.0" {
                r#"{"topic":"phoenix","event":"heartbeat","payload":{},"ref":"hb"}"#
            } else {
                r#"[null,"hb","phoenix","heartbeat",{}]"#
            };
            let _ = fuzz.send_text(heartbeat).await;
            let closed_or_answered = loop {
                match fuzz.recv_frame(WAIT).await {
                    Err(RecvError::Closed(code)) => break code.is_none_or(|c| c == 1011),
                    Err(RecvError::Timeout | RecvError::Undecodable(_)) => break false,
                    Ok(Frame::Text(t)) if t.contains(r#""hb""#) && t.contains("phx_reply") => break true,
                    Ok(_) => continue,
                }
            };
            assert!(closed_or_answered, "the fuzzed connection neither closed with 1011 nor answered");
            fuzz.close().await;
            // The bystander is undisturbed: its channel still answers.
            let mut b = bystander.lock().await;
            counter.set(counter.get() + 1);
            let r = format!("b{}", counter.get());
            send(&mut b, &format!(r#"["1","{r}","ping","ping",{{}}]"#)).await;
            expect(&mut b, &format!(r#"["1","{r}","ping","phx_reply",{{"response":{{"ping":"pong"}},"status":"ok"}}]"#)).await;
        });
    });
    rt.block_on(async {
        let left_alone = server
            .wait_until("only the bystander's channel left", WAIT, |s| {
                s.joined().len() == 1
            })
            .await;
        left_alone.unwrap();
    });
}
