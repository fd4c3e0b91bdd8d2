//! Property tests: codec and token round trips, tamper detection, and decoders that never panic.

use bytes::Bytes;
use phx_protocol::token::{
    self, decode, MaxAge, SecretKeyBase, SignOptions, VerifyError, VerifyOptions,
};
use phx_protocol::{Broadcast, Frame, Message, Payload, Push, Ref, Reply, ServerMessage, Vsn};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Arbitrary JSON (integers across the i64/u64 range, finite floats, unicode strings).
pub fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u8..=255).prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(("\\PC{0,6}", inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn object() -> impl Strategy<Value = Value> {
    prop::collection::vec(("[a-z_]{1,6}", json_value()), 0..4)
        .prop_map(|kv| Value::Object(kv.into_iter().collect()))
}

fn json_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        Just(Ref::Null),
        "[0-9]{1,4}".prop_map(Ref::Str),
        any::<i64>().prop_map(Ref::Int),
    ]
}

fn field() -> impl Strategy<Value = String> {
    "\\PC{0,20}"
}

fn nonempty_ref() -> impl Strategy<Value = Ref> {
    "[0-9a-z]{1,8}".prop_map(Ref::Str)
}

fn payload_bytes() -> impl Strategy<Value = Payload> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(|b| Payload::Binary(Bytes::from(b)))
}

/// A key base shared by the token properties, and one salt: the PBKDF2 key is derived once.
fn kb() -> SecretKeyBase {
    SecretKeyBase::new("proptest-secret-key-base-0123456789abcdef".to_owned()).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn client_messages_round_trip_on_every_codec(jr in json_ref(), r in json_ref(), topic in field(), event in field(), payload in json_value()) {
        let msg = Message::new(jr, r, topic, event, payload);
        for vsn in [Vsn::V1, Vsn::V2] {
            let frame = vsn.encode_client(&msg).unwrap();
            let back = vsn.decode_client(&frame).unwrap();
            // JSON numbers compare by value: a float that prints as an integer-valued float stays a float.
            prop_assert_eq!(&back, &msg, "{:?}", vsn);
        }
    }

    #[test]
    fn binary_client_pushes_round_trip(jr in nonempty_ref(), r in nonempty_ref(), topic in field(), event in field(), payload in payload_bytes()) {
        let msg = Message::new(jr, r, topic, event, payload);
        let frame = Vsn::V2.encode_client(&msg).unwrap();
        prop_assert!(matches!(frame, Frame::Binary(_)));
        prop_assert_eq!(Vsn::V2.decode_client(&frame).unwrap(), msg);
    }

    #[test]
    fn server_messages_round_trip_on_v2(jr in nonempty_ref(), r in nonempty_ref(), topic in field(), event in "[a-z_]{1,10}", obj in object(), status in "[a-z]{1,8}", bin in payload_bytes(), response in json_value()) {
        let msgs = [
            ServerMessage::Reply(Reply::new(jr.clone(), r.clone(), topic.clone(), status.clone(), response)),
            ServerMessage::Reply(Reply::new(jr.clone(), r.clone(), topic.clone(), status, bin.clone())),
            ServerMessage::Push(Push::new(jr.clone(), topic.clone(), event.clone(), obj.clone())),
            ServerMessage::Push(Push::new(jr, topic.clone(), event.clone(), bin.clone())),
            ServerMessage::Broadcast(Broadcast::new(topic.clone(), event.clone(), obj)),
            ServerMessage::Broadcast(Broadcast::new(topic, event, bin)),
        ];
        for m in msgs {
            let frame = Vsn::V2.encode_server(&m).unwrap();
            prop_assert_eq!(&Vsn::V2.decode_server(&frame).unwrap(), &m);
            // And the bytes are stable through a second pass.
            prop_assert_eq!(Vsn::V2.encode_server(&Vsn::V2.decode_server(&frame).unwrap()).unwrap(), frame);
        }
    }

    #[test]
    fn server_messages_round_trip_on_v1(r in nonempty_ref(), topic in field(), event in "[a-z_]{1,10}", payload in json_value(), status in "[a-z]{1,8}") {
        // V1 has no join_ref on the wire, so pushes read back as broadcasts: compare the bytes.
        let msgs = [
            ServerMessage::Reply(Reply::new(Ref::Null, r.clone(), topic.clone(), status, payload.clone())),
            ServerMessage::Broadcast(Broadcast::new(topic, event, payload)),
        ];
        for m in msgs {
            let frame = Vsn::V1.encode_server(&m).unwrap();
            prop_assert_eq!(&Vsn::V1.decode_server(&frame).unwrap(), &m);
        }
    }

    #[test]
    fn tokens_round_trip(data in json_value(), signed_s in 0i64..4_000_000_000, max_age in 1i64..1_000_000, salt in "[a-z ]{0,12}") {
        let k = kb();
        let opts = SignOptions::new().signed_at_secs(signed_s as f64).max_age(MaxAge::Seconds(max_age));
        let tok = token::sign(&k, &salt, &data, &opts).unwrap();
        let signed_ms = signed_s * 1000;
        let back = token::verify_at(&k, &salt, &tok, &VerifyOptions::new(), signed_ms + max_age * 1000).unwrap();
        prop_assert_eq!(&back, &data);
        prop_assert_eq!(token::verify_at(&k, &salt, &tok, &VerifyOptions::new(), signed_ms + max_age * 1000 + 1), Err(VerifyError::Expired));
        prop_assert_eq!(token::verify_at(&k, format!("{salt}!"), &tok, &VerifyOptions::new(), signed_ms), Err(VerifyError::Invalid));
    }

    #[test]
    fn any_single_byte_change_breaks_a_token(data in json_value(), pos in any::<prop::sample::Index>(), replacement in any::<char>()) {
        let k = kb();
        let tok = token::sign(&k, "s", &data, &SignOptions::new().signed_at_ms(0).max_age(MaxAge::Infinity)).unwrap();
        let i = pos.index(tok.len());
        // Tokens are ASCII, so every byte index is a char boundary.
        let original = tok.as_bytes()[i] as char;
        prop_assume!(replacement != original);
        let mut forged = tok.clone();
        forged.replace_range(i..=i, &replacement.to_string());
        prop_assert_eq!(token::verify_at(&k, "s", &forged, &VerifyOptions::new(), 1), Err(VerifyError::Invalid), "{} -> {}", tok, forged);
    }

    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(data in prop::collection::vec(any::<u8>(), 0..256)) {
        let frame = Frame::binary(data.clone());
        for vsn in [Vsn::V1, Vsn::V2] {
            let _ = vsn.decode_client(&frame);
            let _ = vsn.decode_server(&frame);
        }
        let _ = decode::binary_to_term(&data);
        let mut with_version = vec![131u8];
        with_version.extend_from_slice(&data);
        let _ = decode::binary_to_term(&with_version);
        let _ = decode::payload(&with_version);
        // Through a validly MAC'd token too: the payload reader sees hostile bytes.
        let k = kb();
        let tok = token::verifier::sign(&with_version, &k.signing_key("s"), token::Digest::Sha256);
        let _ = token::verify_at(&k, "s", &tok, &VerifyOptions::new(), 0);
    }

    #[test]
    fn arbitrary_strings_never_panic_a_decoder(text in "\\PC{0,200}", raw in ".{0,64}") {
        for vsn in [Vsn::V1, Vsn::V2] {
            for t in [&text, &raw] {
                let frame = Frame::text(t.as_str());
                let _ = vsn.decode_client(&frame);
                let _ = vsn.decode_server(&frame);
                let _ = vsn.decode_client(&Frame::binary(t.as_bytes().to_vec()));
                let _ = vsn.decode_server(&Frame::binary(t.as_bytes().to_vec()));
            }
        }
        let k = kb();
        let _ = token::verify_at(&k, "s", &text, &VerifyOptions::new(), 0);
        let _ = token::verify_at(&k, "s", &raw, &VerifyOptions::new(), 0);
    }

    #[test]
    fn json_shaped_text_never_panics_a_decoder(v in json_value()) {
        let text = phx_protocol::json::to_string(&v);
        let arr = format!("[null,\"1\",\"t\",\"e\",{text}]");
        for vsn in [Vsn::V1, Vsn::V2] {
            for t in [&text, &arr] {
                let _ = vsn.decode_client(&Frame::text(t.as_str()));
                let _ = vsn.decode_server(&Frame::text(t.as_str()));
            }
        }
    }
}

#[test]
fn hostile_etf_is_refused_not_panicked_on() {
    // Tags eetf's own decoder panics on (68, 82), bit binary with 0 tail bits, huge counts, deep nesting.
    let cases: Vec<Vec<u8>> = vec![
        vec![131, 68, 0],
        vec![131, 82, 0],
        vec![131, 77, 0, 0, 0, 1, 0, 0xff],
        vec![131, 108, 0xff, 0xff, 0xff, 0xff],
        vec![131, 116, 0xff, 0xff, 0xff, 0xff],
        vec![131, 109, 0xff, 0xff, 0xff, 0xff],
        vec![131, 105, 0xff, 0xff, 0xff, 0xff],
        vec![131, 90, 0xff, 0xff, 100, 0, 1, b'n', 0, 0, 0, 0],
        vec![131, 80, 0xff, 0xff, 0xff, 0xff, 0x78, 0x9c],
        vec![131, 80, 0, 0, 0, 10, 0x78, 0x9c, 1, 2, 3],
        vec![131, 110, 1, 2, 5],
        vec![131, 70, 0x7f, 0xf0, 0, 0, 0, 0, 0, 0],
        [vec![131], [108, 0, 0, 0, 1].repeat(100_000)].concat(),
    ];
    for c in cases {
        assert!(
            decode::binary_to_term(&c).is_err(),
            "{:?}",
            &c[..c.len().min(12)]
        );
    }
}

#[test]
fn deep_json_frames_are_errors_not_crashes() {
    let deep = format!(
        "[null,\"1\",\"t\",\"e\",{}1{}]",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert!(Vsn::V2.decode_client(&Frame::text(deep)).is_err());
}
