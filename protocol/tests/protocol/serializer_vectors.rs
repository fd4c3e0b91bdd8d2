//! Phoenix's own serializer byte vectors (PROTOCOL.md §2.4, from Phoenix's
//! v2_json_serializer_test.exs and phoenix.js serializer_test.js) and the 255-byte field limit.

use bytes::Bytes;
use phx_protocol::{
    Broadcast, EncodeError, Frame, Message, Payload, Push, Ref, Reply, ServerMessage, Vsn,
};
use serde_json::json;

fn bin(parts: &[&[u8]]) -> Frame {
    Frame::binary(parts.concat())
}

const PAYLOAD: &[u8] = &[0x65, 0x66, 0x67];

#[test]
fn client_push_vector() {
    let frame = bin(&[
        &[0x00, 0x02, 0x03, 0x05, 0x05],
        b"12",
        b"123",
        b"topic",
        b"event",
        PAYLOAD,
    ]);
    let msg = Message::new("12", "123", "topic", "event", Payload::binary(PAYLOAD));
    assert_eq!(Vsn::V2.encode_client(&msg).unwrap(), frame);
    assert_eq!(Vsn::V2.decode_client(&frame).unwrap(), msg);
}

#[test]
fn server_push_vector() {
    let frame = bin(&[
        &[0x00, 0x02, 0x05, 0x05],
        b"12",
        b"topic",
        b"event",
        PAYLOAD,
    ]);
    let msg = ServerMessage::Push(Push::new("12", "topic", "event", Payload::binary(PAYLOAD)));
    assert_eq!(Vsn::V2.encode_server(&msg).unwrap(), frame);
    assert_eq!(Vsn::V2.decode_server(&frame).unwrap(), msg);
}

#[test]
fn reply_vector() {
    let frame = bin(&[
        &[0x01, 0x02, 0x03, 0x05, 0x02],
        b"12",
        b"123",
        b"topic",
        b"ok",
        PAYLOAD,
    ]);
    let msg = ServerMessage::Reply(Reply::new(
        "12",
        "123",
        "topic",
        "ok",
        Payload::binary(PAYLOAD),
    ));
    assert_eq!(Vsn::V2.encode_server(&msg).unwrap(), frame);
    assert_eq!(Vsn::V2.decode_server(&frame).unwrap(), msg);
}

#[test]
fn broadcast_vector() {
    let frame = bin(&[&[0x02, 0x05, 0x05], b"topic", b"event", PAYLOAD]);
    let msg = ServerMessage::Broadcast(Broadcast::new("topic", "event", Payload::binary(PAYLOAD)));
    assert_eq!(Vsn::V2.encode_server(&msg).unwrap(), frame);
    assert_eq!(Vsn::V2.decode_server(&frame).unwrap(), msg);
}

#[test]
fn null_refs_are_empty_fields() {
    let reply = ServerMessage::Reply(Reply::new(
        Ref::Null,
        Ref::Null,
        "t",
        "ok",
        Payload::binary(&b"x"[..]),
    ));
    let frame = Vsn::V2.encode_server(&reply).unwrap();
    assert_eq!(frame, bin(&[&[0x01, 0, 0, 1, 2], b"t", b"ok", b"x"]));
    assert_eq!(Vsn::V2.decode_server(&frame).unwrap(), reply);
}

#[test]
fn utf8_lengths_are_bytes_not_chars() {
    // phoenix.js: "room:café" is 10 bytes, "🚀" is 4.
    let msg = Message::new("1", "2", "room:café", "🚀", Payload::binary(&b"p"[..]));
    let frame = Vsn::V2.encode_client(&msg).unwrap();
    let Frame::Binary(b) = &frame else {
        panic!("binary expected")
    };
    assert_eq!(&b[..5], &[0, 1, 1, 10, 4]);
    assert_eq!(&b[5..], "12room:café🚀p".as_bytes());
    assert_eq!(Vsn::V2.decode_client(&frame).unwrap(), msg);
}

#[test]
fn fields_over_255_bytes_are_refused() {
    let long = "x".repeat(256);
    let ok_len = "x".repeat(255);
    let p = || Payload::binary(&b"p"[..]);
    for (field, msg) in [
        ("join_ref", Message::new(long.as_str(), "1", "t", "e", p())),
        ("ref", Message::new("1", long.as_str(), "t", "e", p())),
        ("topic", Message::new("1", "1", long.as_str(), "e", p())),
        ("event", Message::new("1", "1", "t", long.as_str(), p())),
    ] {
        assert_eq!(
            Vsn::V2.encode_client(&msg),
            Err(EncodeError::FieldTooLong { field, len: 256 })
        );
    }
    // A 3-byte character pushing a topic from 254 to 257 bytes counts in bytes.
    let topic = format!("{}€", "x".repeat(254));
    let err = Vsn::V2
        .encode_server(&ServerMessage::Broadcast(Broadcast::new(topic, "e", p())))
        .unwrap_err();
    assert_eq!(
        err,
        EncodeError::FieldTooLong {
            field: "topic",
            len: 257
        }
    );
    for msg in [
        ServerMessage::Push(Push::new("1", "t", long.as_str(), p())),
        ServerMessage::Reply(Reply::new("1", "1", "t", long.as_str(), p())),
        ServerMessage::Broadcast(Broadcast::new(long.as_str(), "e", p())),
    ] {
        assert!(
            matches!(
                Vsn::V2.encode_server(&msg),
                Err(EncodeError::FieldTooLong { len: 256, .. })
            ),
            "{msg:?}"
        );
    }
    let max = Message::new(
        ok_len.as_str(),
        ok_len.as_str(),
        ok_len.as_str(),
        ok_len.as_str(),
        p(),
    );
    let frame = Vsn::V2.encode_client(&max).unwrap();
    assert_eq!(frame.len(), 5 + 4 * 255 + 1);
    assert_eq!(Vsn::V2.decode_client(&frame).unwrap(), max);
}

#[test]
fn json_vectors_from_phoenix_tests() {
    // V2: `[join_ref, ref, topic, event, payload]`; V1 never emits join_ref.
    let push = ServerMessage::Push(Push::new("1", "t", "e", json!({"m": 1})));
    assert_eq!(
        Vsn::V2.encode_server(&push).unwrap(),
        Frame::text(r#"["1",null,"t","e",{"m":1}]"#)
    );
    let bcast = ServerMessage::Broadcast(Broadcast::new("t", "e", json!({"m": 1})));
    assert_eq!(
        Vsn::V1.encode_server(&bcast).unwrap(),
        Frame::text(r#"{"event":"e","payload":{"m":1},"ref":null,"topic":"t"}"#)
    );
    let reply = ServerMessage::Reply(Reply::new("3", "4", "t", "ok", json!({"a": [1]})));
    assert_eq!(
        Vsn::V1.encode_server(&reply).unwrap(),
        Frame::text(
            r#"{"event":"phx_reply","payload":{"response":{"a":[1]},"status":"ok"},"ref":"4","topic":"t"}"#
        )
    );
    // Non-map payloads raise in Phoenix's V2 encode (push and fastlane).
    let bad = ServerMessage::Push(Push::new("1", "t", "e", json!("m")));
    assert_eq!(
        Vsn::V2.encode_server(&bad),
        Err(EncodeError::PayloadNotObject)
    );
    let bad = ServerMessage::Broadcast(Broadcast::new("t", "e", json!([1])));
    assert_eq!(
        Vsn::V2.encode_server(&bad),
        Err(EncodeError::PayloadNotObject)
    );
    // Binary payloads have no V1 form.
    let binary = ServerMessage::Push(Push::new(
        "1",
        "t",
        "e",
        Payload::Binary(Bytes::from_static(b"x")),
    ));
    assert_eq!(Vsn::V1.encode_server(&binary), Err(EncodeError::BinaryOnV1));
}

#[test]
fn non_string_refs_echo_as_phoenix_prints_them() {
    // Phoenix echoes refs as Jason prints the decoded term: floats in Erlang's short form.
    let msg = Vsn::V2
        .decode_client(&Frame::text(r#"[1000.0,1e3,"t","e",{}]"#))
        .unwrap();
    let reply = ServerMessage::Reply(Reply::ok(&msg, json!({})));
    assert_eq!(
        Vsn::V2.encode_server(&reply).unwrap(),
        Frame::text(r#"[1.0e3,1.0e3,"t","phx_reply",{"response":{},"status":"ok"}]"#)
    );
    let msg = Vsn::V2
        .decode_client(&Frame::text(r#"[18446744073709551615,[1],"t","e",{}]"#))
        .unwrap();
    let reply = ServerMessage::Reply(Reply::ok(&msg, json!({})));
    assert_eq!(
        Vsn::V2.encode_server(&reply).unwrap(),
        Frame::text(r#"[18446744073709551615,[1],"t","phx_reply",{"response":{},"status":"ok"}]"#)
    );
}
