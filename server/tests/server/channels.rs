//! Channel semantics, frame for frame as in the recordings (PROTOCOL.md §3, COMPAT.md).

use phx_server::Compat;

use crate::support::*;

const JOIN_PING: &str = r#"["1","1","ping","phx_join",{}]"#;
const JOINED_PING: &str = r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#;

#[tokio::test]
async fn heartbeat_replies_with_null_join_ref_with_or_without_channels() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"[null,"1","phoenix","heartbeat",{}]"#,
        &[r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
    exchange(
        &mut c,
        r#"["1","2","phoenix","heartbeat",{"x":1}]"#,
        &[r#"[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn every_ping_channel_handler_answers_like_phoenix() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
    exchange(
        &mut c,
        r#"["1","2","ping","ping",{}]"#,
        &[r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["1","3","ping","ping",{"ack_phrase":"hi"}]"#,
        &[r#"["1","3","ping","phx_reply",{"response":{"ping":"hi"},"status":"ok"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["1","4","ping","ping:hello",{}]"#,
        &[r#"["1","4","ping","phx_reply",{"response":{"ping":"hello"},"status":"ok"}]"#],
    )
    .await;
    send(&mut c, r#"["1","5","ping","pong",{}]"#).await;
    expect_silence(&mut c).await;
    exchange(&mut c, r#"["1","6","ping","param_ping",{"error":true}]"#, &[r#"["1","6","ping","phx_reply",{"response":{"reason":"You asked for this!"},"status":"error"}]"#]).await;
    exchange(&mut c, r#"["1","7","ping","param_ping",{"s":"x","arr":[1],"error":false}]"#, &[r#"["1","7","ping","phx_reply",{"response":{"arr":[1],"error":false,"s":"x"},"status":"ok"}]"#]).await;
    // ding: reply, then phx_close; the socket stays open and the topic is unmatched.
    exchange(
        &mut c,
        r#"["1","8","ping","ding",{}]"#,
        &[
            r#"["1","8","ping","phx_reply",{"response":{"msg":"shutting down"},"status":"ok"}]"#,
            r#"["1","1","ping","phx_close",{}]"#,
        ],
    )
    .await;
    exchange(&mut c, r#"["1","9","ping","ping",{}]"#, &[r#"[null,"9","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
}

#[tokio::test]
async fn unmatched_topics_always_reply_with_null_join_ref() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(&mut c, r#"["1","1","nope","phx_join",{}]"#, &[r#"[null,"1","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
    exchange(&mut c, r#"["7","2","never","ping",{}]"#, &[r#"[null,"2","never","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
    exchange(&mut c, r#"["3","3","phoenix","phx_join",{}]"#, &[r#"[null,"3","phoenix","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
    // A leave of a topic never joined still gets an ok echoing the join_ref.
    exchange(
        &mut c,
        r#"["17","17","never","phx_leave",{}]"#,
        &[r#"["17","17","never","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn duplicate_join_replies_first_then_closes_the_old_join() {
    for compat in [Compat::V1_7, Compat::V1_8] {
        let server = start(compat).await;
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"["4","4","ping","phx_join",{}]"#,
            &[r#"["4","4","ping","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"["5","5","ping","phx_join",{}]"#,
            &[
                r#"["5","5","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["4","4","ping","phx_close",{}]"#,
            ],
        )
        .await;
        // Reusing the same join_ref acts the same way.
        exchange(
            &mut c,
            r#"["5","6","ping","phx_join",{}]"#,
            &[
                r#"["5","6","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["5","5","ping","phx_close",{}]"#,
            ],
        )
        .await;
        assert_eq!(server.joined().len(), 1, "{compat}");
    }
}

#[tokio::test]
async fn stale_join_ref_is_answered_in_1_7_and_dropped_in_1_8() {
    for (compat, reply) in [
        (
            Compat::V1_7,
            Some(r#"["5","6","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
        ),
        (Compat::V1_8, None),
    ] {
        let server = start(compat).await;
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"["4","4","ping","phx_join",{}]"#,
            &[r#"["4","4","ping","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"["5","5","ping","phx_join",{}]"#,
            &[
                r#"["5","5","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["4","4","ping","phx_close",{}]"#,
            ],
        )
        .await;
        send(&mut c, r#"["4","6","ping","ping",{}]"#).await;
        match reply {
            Some(r) => expect(&mut c, r).await,
            None => expect_silence(&mut c).await,
        }
        exchange(
            &mut c,
            r#"["5","7","ping","ping",{}]"#,
            &[r#"["5","7","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
        )
        .await;
        // X1: a join_ref that never existed.
        send(&mut c, r#"["99","8","ping","ping",{}]"#).await;
        match compat {
            Compat::V1_7 => {
                expect(
                    &mut c,
                    r#"["5","8","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
                )
                .await
            }
            Compat::V1_8 => expect_silence(&mut c).await,
            other => unreachable!("compat {other} is not tested here"),
        }
        // A leave with the wrong join_ref gets no reply in both, and the channel stays.
        send(&mut c, r#"["4","9","ping","phx_leave",{}]"#).await;
        expect_silence(&mut c).await;
        exchange(
            &mut c,
            r#"["5","10","ping","phx_leave",{}]"#,
            &[
                r#"["5","10","ping","phx_reply",{"response":{},"status":"ok"}]"#,
                r#"["5","5","ping","phx_close",{}]"#,
            ],
        )
        .await;
        exchange(&mut c, r#"["5","11","ping","ping",{}]"#, &[r#"[null,"11","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
    }
}

#[tokio::test]
async fn integer_refs_are_type_sensitive_in_1_8() {
    for compat in [Compat::V1_7, Compat::V1_8] {
        let server = start(compat).await;
        let mut c = v2(&server).await;
        exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
        send(&mut c, r#"[1,9,"ping","ping",{}]"#).await;
        match compat {
            Compat::V1_7 => {
                expect(
                    &mut c,
                    r#"["1",9,"ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
                )
                .await
            }
            Compat::V1_8 => expect_silence(&mut c).await,
            other => unreachable!("compat {other} is not tested here"),
        }
        // Joined with integer refs: integer and null join_refs are answered, ref echoed as integer.
        exchange(
            &mut c,
            r#"[1,1,"ping:int","phx_join",{}]"#,
            &[r#"[1,1,"ping:int","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"[1,2,"ping:int","ping",{}]"#,
            &[r#"[1,2,"ping:int","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"[null,3,"ping:int","ping",{}]"#,
            &[r#"[1,3,"ping:int","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"[null,"4","phoenix","heartbeat",{}]"#,
            &[r#"[null,"4","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
    }
}

#[tokio::test]
async fn null_join_ref_leave_differs_between_versions() {
    // X2
    let server = start(Compat::V1_7).await;
    let mut c = v2(&server).await;
    exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
    send(&mut c, r#"[null,"4","ping","phx_leave",{}]"#).await;
    expect_silence(&mut c).await;
    exchange(
        &mut c,
        r#"[null,"5","ping","ping",{}]"#,
        &[r#"["1","5","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
    )
    .await;

    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
    exchange(
        &mut c,
        r#"[null,"4","ping","phx_leave",{}]"#,
        &[
            r#"["1","4","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"["1","1","ping","phx_close",{}]"#,
        ],
    )
    .await;
    exchange(&mut c, r#"[null,"5","ping","ping",{}]"#, &[r#"[null,"5","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
}

#[tokio::test]
async fn channel_joined_with_null_join_ref_uses_join_ref_or_ref() {
    // X3
    for compat in [Compat::V1_7, Compat::V1_8] {
        let server = start(compat).await;
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"[null,"6","ping:x","phx_join",{}]"#,
            &[r#"[null,"6","ping:x","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        exchange(
            &mut c,
            r#"[null,"8","ping:x","ping",{}]"#,
            &[r#"["6","8","ping:x","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
        )
        .await;
        send(&mut c, r#"["6","7","ping:x","ping",{}]"#).await;
        match compat {
            Compat::V1_7 => {
                expect(
                    &mut c,
                    r#"["6","7","ping:x","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
                )
                .await;
                exchange(
                    &mut c,
                    r#"["6","9","ping:x","phx_leave",{}]"#,
                    &[
                        r#"["6","9","ping:x","phx_reply",{"response":{},"status":"ok"}]"#,
                        r#"[null,null,"ping:x","phx_close",{}]"#,
                    ],
                )
                .await;
            }
            Compat::V1_8 => {
                expect_silence(&mut c).await;
                send(&mut c, r#"["6","9","ping:x","phx_leave",{}]"#).await;
                expect_silence(&mut c).await;
                exchange(
                    &mut c,
                    r#"[null,"11","ping:x","phx_leave",{}]"#,
                    &[
                        r#"["6","11","ping:x","phx_reply",{"response":{},"status":"ok"}]"#,
                        r#"[null,null,"ping:x","phx_close",{}]"#,
                    ],
                )
                .await;
            }
            other => unreachable!("compat {other} is not tested here"),
        }
    }
}

#[tokio::test]
async fn a_crashing_handler_gives_phx_error_and_keeps_the_socket() {
    for (compat, error) in [
        (Compat::V1_7, r#"["1","1","ping","phx_error",{}]"#),
        (
            Compat::V1_8,
            r#"["1","1","ping","phx_error",{"reason":"channel_crash"}]"#,
        ),
    ] {
        let server = start(compat).await;
        let mut c = v2(&server).await;
        exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
        // No handle_in clause: no reply, then phx_error.
        exchange(
            &mut c,
            r#"["1","2","ping","nothing_handles_this",{}]"#,
            &[error],
        )
        .await;
        exchange(&mut c, r#"["1","3","ping","ping",{}]"#, &[r#"[null,"3","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#]).await;
        // "heartbeat" on a joined non-phoenix topic goes to the channel and crashes it too.
        exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
        exchange(&mut c, r#"[null,"9","ping","heartbeat",{}]"#, &[error]).await;
        assert!(server.joined().is_empty());
    }
}

#[tokio::test]
async fn wildcard_join_outcomes() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(
        &mut c,
        r#"["1","1","wild:2:4","phx_join",{}]"#,
        &[r#"["1","1","wild:2:4","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["1","2","wild:2:4","ping",{}]"#,
        &[r#"["1","2","wild:2:4","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["3","3","wild:2:5","phx_join",{}]"#,
        &[r#"["3","3","wild:2:5","phx_reply",{"response":{},"status":"error"}]"#],
    )
    .await;
    exchange(&mut c, r#"["4","4","wild:a:b","phx_join",{}]"#, &[r#"["4","4","wild:a:b","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#]).await;
    exchange(&mut c, r#"["5","5","wild:1:2:3","phx_join",{}]"#, &[r#"["5","5","wild:1:2:3","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#]).await;
    exchange(
        &mut c,
        r#"[null,"6","phoenix","heartbeat",{}]"#,
        &[r#"[null,"6","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
}

#[tokio::test]
async fn the_channel_limit_applies_only_in_1_8() {
    for compat in [Compat::V1_7, Compat::V1_8] {
        let mut config = config(compat);
        config.max_channels = 3;
        let server = phx_server::testing::TestServer::start(config).await;
        let mut c = v2(&server).await;
        for i in 0..3 {
            let r = i + 1;
            exchange(
                &mut c,
                &format!(r#"["{r}","{r}","ping:{i}","phx_join",{{}}]"#),
                &[&format!(
                    r#"["{r}","{r}","ping:{i}","phx_reply",{{"response":{{}},"status":"ok"}}]"#
                )],
            )
            .await;
        }
        send(&mut c, r#"["4","4","ping:3","phx_join",{}]"#).await;
        match compat {
            Compat::V1_7 => {
                expect(
                    &mut c,
                    r#"["4","4","ping:3","phx_reply",{"response":{},"status":"ok"}]"#,
                )
                .await
            }
            Compat::V1_8 => {
                expect(&mut c, r#"["4","4","ping:3","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#).await;
                exchange(
                    &mut c,
                    r#"["1","5","ping:0","phx_leave",{}]"#,
                    &[
                        r#"["1","5","ping:0","phx_reply",{"response":{},"status":"ok"}]"#,
                        r#"["1","1","ping:0","phx_close",{}]"#,
                    ],
                )
                .await;
                exchange(
                    &mut c,
                    r#"["6","6","ping:3","phx_join",{}]"#,
                    &[r#"["6","6","ping:3","phx_reply",{"response":{},"status":"ok"}]"#],
                )
                .await;
            }
            other => unreachable!("compat {other} is not tested here"),
        }
    }
}

#[tokio::test]
async fn v1_output_has_no_join_ref() {
    let server = start(Compat::V1_8).await;
    for params in [vec![("vsn", "1.0.0")], vec![]] {
        let mut c = if params.is_empty() {
            phx_server::testing::TestClient::connect_raw(
                &server.ws_url("/socket"),
                phx_protocol::Vsn::V1,
            )
            .await
            .unwrap()
        } else {
            server.client("/socket", &params).await.unwrap()
        };
        exchange(&mut c, r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"1"}"#, &[r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"1","topic":"ping"}"#]).await;
        exchange(&mut c, r#"{"topic":"ping","event":"ding","payload":{},"ref":"2"}"#, &[
            r#"{"event":"phx_reply","payload":{"response":{"msg":"shutting down"},"status":"ok"},"ref":"2","topic":"ping"}"#,
            r#"{"event":"phx_close","payload":{},"ref":null,"topic":"ping"}"#,
        ]).await;
        exchange(&mut c, r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"3","join_ref":"3"}"#, &[r#"{"event":"phx_reply","payload":{"response":{},"status":"ok"},"ref":"3","topic":"ping"}"#]).await;
        exchange(&mut c, r#"{"topic":"ping","event":"ding","payload":{},"ref":"4"}"#, &[
            r#"{"event":"phx_reply","payload":{"response":{"msg":"shutting down"},"status":"ok"},"ref":"4","topic":"ping"}"#,
            r#"{"event":"phx_close","payload":{},"ref":"3","topic":"ping"}"#,
        ]).await;
    }
}

#[tokio::test]
async fn binary_pushes_replies_and_broadcasts() {
    let server = start(Compat::V1_8).await;
    let mut c = v2(&server).await;
    exchange(&mut c, JOIN_PING, &[JOINED_PING]).await;
    c.send_frame(phx_protocol::Frame::binary(
        hex::decode("0001010404313270696e6770696e6701020304").unwrap(),
    ))
    .await
    .unwrap();
    expect(
        &mut c,
        r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#,
    )
    .await;
    c.send_frame(phx_protocol::Frame::binary(
        hex::decode("000101040a313370696e67706172616d5f70696e6768656c6c6f00ff").unwrap(),
    ))
    .await
    .unwrap();
    expect_hex(&mut c, "0101010402313370696e676f6b68656c6c6f00ff").await;
    c.send_frame(phx_protocol::Frame::binary(
        hex::decode("0000010404346e6f706570696e677a7a").unwrap(),
    ))
    .await
    .unwrap();
    expect(&mut c, r#"[null,"4","nope","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]"#).await;
    server.broadcast(
        "ping",
        "bin",
        phx_protocol::Payload::binary(vec![1u8, 2, 3]),
    );
    expect_hex(&mut c, "02040370696e6762696e010203").await;
}
