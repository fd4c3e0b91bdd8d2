//! V2 JSON text frames: `[join_ref, ref, topic, event, payload]`.

use super::{classify, json_kind, parse_json, take_string, DecodeError, EncodeError};
use crate::message::{Message, Payload, Ref, ServerMessage};
use serde_json::Value;

/// Decodes a client text frame. Extra trailing elements are ignored, as Phoenix does.
pub fn decode_client(text: &str) -> Result<Message, DecodeError> {
    let (join_ref, ref_, topic, event, payload) = split(text)?;
    Ok(Message {
        join_ref,
        ref_,
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

/// Decodes a server text frame into its shape (reply, push, broadcast, or other).
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    let (join_ref, ref_, topic, event, payload) = split(text)?;
    Ok(classify(join_ref, ref_, topic, event, payload))
}

/// The five parts of a frame.
type Parts = (Ref, Ref, String, String, Value);

fn split(text: &str) -> Result<Parts, DecodeError> {
    // The common shape, straight into its parts (no array of values, no ref copies); anything
    // else (a float or bignum ref, too few elements, bad JSON) takes the general path, which
    // gives the same parts or names the error.
    match serde_json::from_str::<fast::Frame>(text) {
        Ok(fast::Frame(parts)) => Ok(parts),
        Err(_) => split_general(text),
    }
}

fn split_general(text: &str) -> Result<Parts, DecodeError> {
    let items = match parse_json(text)? {
        Value::Array(items) => items,
        other => return Err(DecodeError::NotAnArray(json_kind(&other))),
    };
    if items.len() < 5 {
        return Err(DecodeError::TooFewElements(items.len()));
    }
    let mut it = items.into_iter();
    let mut next = || it.next().unwrap_or(Value::Null);
    let join_ref = Ref::from_json(&next());
    let ref_ = Ref::from_json(&next());
    let topic = take_string(next(), "topic")?;
    let event = take_string(next(), "event")?;
    Ok((join_ref, ref_, topic, event, next()))
}

/// A frame deserialized element by element.
mod fast {
    use super::Parts;
    use crate::message::Ref;
    use serde::de::{self, Deserializer, IgnoredAny, SeqAccess, Visitor};
    use serde_json::Value;
    use std::fmt;

    pub(super) struct Frame(pub(super) Parts);

    impl<'de> de::Deserialize<'de> for Frame {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_seq(FrameVisitor)
        }
    }

    struct FrameVisitor;

    fn missing<E: de::Error>() -> E {
        E::custom("fewer than five elements")
    }

    impl<'de> Visitor<'de> for FrameVisitor {
        type Value = Frame;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("[join_ref, ref, topic, event, payload]")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Frame, A::Error> {
            let join_ref = seq.next_element::<FastRef>()?.ok_or_else(missing)?.0;
            let ref_ = seq.next_element::<FastRef>()?.ok_or_else(missing)?.0;
            let topic = seq.next_element::<String>()?.ok_or_else(missing)?;
            let event = seq.next_element::<String>()?.ok_or_else(missing)?;
            let payload = seq.next_element::<Value>()?.ok_or_else(missing)?;
            // Extra trailing elements are ignored, as Phoenix does.
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Frame((join_ref, ref_, topic, event, payload)))
        }
    }

    /// A ref that is null, a string or an `i64`; any other JSON is an error here (the general
    /// path prints it as `Ref::Other`, as Jason would echo it).
    struct FastRef(Ref);

    impl<'de> de::Deserialize<'de> for FastRef {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(RefVisitor)
        }
    }

    struct RefVisitor;

    impl<'de> Visitor<'de> for RefVisitor {
        type Value = FastRef;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("null, a string or an integer")
        }

        fn visit_unit<E: de::Error>(self) -> Result<FastRef, E> {
            Ok(FastRef(Ref::Null))
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<FastRef, E> {
            Ok(FastRef(Ref::Str(s.to_owned())))
        }

        fn visit_string<E: de::Error>(self, s: String) -> Result<FastRef, E> {
            Ok(FastRef(Ref::Str(s)))
        }

        fn visit_i64<E: de::Error>(self, i: i64) -> Result<FastRef, E> {
            Ok(FastRef(Ref::Int(i)))
        }

        fn visit_u64<E: de::Error>(self, u: u64) -> Result<FastRef, E> {
            i64::try_from(u)
                .map(|i| FastRef(Ref::Int(i)))
                .map_err(|_| E::custom("beyond i64"))
        }
    }
}

/// Encodes a server message as a V2 text frame (JSON payloads only; see [`super::binary`]).
pub fn encode_server(msg: &ServerMessage) -> Result<String, EncodeError> {
    match msg {
        ServerMessage::Reply(r) => {
            let mut out = head(&r.join_ref, &r.ref_, &r.topic, crate::events::REPLY);
            out.push_str("{\"response\":");
            super::write_payload_json(&r.response, &mut out)
                .map_err(|_| EncodeError::BinaryNotAllowed("a text reply"))?;
            out.push_str(",\"status\":");
            crate::json::write_str(&r.status, &mut out);
            out.push_str("}]");
            Ok(out)
        }
        ServerMessage::Push(p) => {
            object_frame(&p.join_ref, &Ref::Null, &p.topic, &p.event, &p.payload)
        }
        ServerMessage::Broadcast(b) => {
            object_frame(&Ref::Null, &Ref::Null, &b.topic, &b.event, &b.payload)
        }
        ServerMessage::Message(m) => {
            object_frame(&m.join_ref, &m.ref_, &m.topic, &m.event, &m.payload)
        }
    }
}

/// Encodes a client message as a V2 text frame. Client payloads may be any JSON value.
pub fn encode_client(msg: &Message) -> Result<String, EncodeError> {
    let mut out = head(&msg.join_ref, &msg.ref_, &msg.topic, &msg.event);
    super::write_payload_json(&msg.payload, &mut out)
        .map_err(|_| EncodeError::BinaryNotAllowed("a text frame"))?;
    out.push(']');
    Ok(out)
}

fn object_frame(
    join_ref: &Ref,
    ref_: &Ref,
    topic: &str,
    event: &str,
    payload: &Payload,
) -> Result<String, EncodeError> {
    match payload {
        Payload::Json(Value::Object(_)) => {}
        Payload::Json(_) => return Err(EncodeError::PayloadNotObject),
        Payload::Binary(_) => return Err(EncodeError::BinaryNotAllowed("a text frame")),
    }
    let mut out = head(join_ref, ref_, topic, event);
    super::write_payload_json(payload, &mut out)?;
    out.push(']');
    Ok(out)
}

fn head(join_ref: &Ref, ref_: &Ref, topic: &str, event: &str) -> String {
    let mut out = String::with_capacity(64 + topic.len() + event.len());
    out.push('[');
    join_ref.write_json(&mut out);
    out.push(',');
    ref_.write_json(&mut out);
    out.push(',');
    crate::json::write_str(topic, &mut out);
    out.push(',');
    crate::json::write_str(event, &mut out);
    out.push(',');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            "[a-z\"\\\\\u{e9}]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-z]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    #[test]
    fn edge_frames_split_as_the_general_path_does() {
        for text in [
            r#"["1","2","t","e",{"a":1}]"#,
            r#"[null,null,"t","e",{}]"#,
            r#"[1,-2,"t","e",[]]"#,
            r#"[1.5,1e3,"t","e",null]"#,
            r#"[18446744073709551615,"x","t","e",{}]"#,
            r#"[true,{},"t","e",{},"extra",7]"#,
            r#"["1","2","t","e"]"#,
            r#"["1","2",3,"e",{}]"#,
            r#"{"a":1}"#,
            r#"["1","2","t","e",{}] trailing"#,
            r#"["\u00e9\n","2","t\"","e",{}]"#,
            "",
        ] {
            assert_eq!(split(text), split_general(text), "{text}");
        }
    }

    proptest! {
        #[test]
        fn any_json_array_splits_as_the_general_path_does(items in prop::collection::vec(json(), 0..7)) {
            let text = serde_json::to_string(&Value::Array(items)).unwrap_or_default();
            prop_assert_eq!(split(&text), split_general(&text));
        }

        #[test]
        fn frame_shaped_arrays_split_as_the_general_path_does(
            jr in json(), r in json(), topic in "[a-z:\"]{0,8}", event in "[a-z_]{0,8}",
            payload in json(), extra in prop::collection::vec(json(), 0..2),
        ) {
            let mut items = vec![jr, r, Value::from(topic), Value::from(event), payload];
            items.extend(extra);
            let text = serde_json::to_string(&Value::Array(items)).unwrap_or_default();
            prop_assert_eq!(split(&text), split_general(&text));
        }

        #[test]
        fn any_text_splits_as_the_general_path_does(text in "\\PC{0,80}") {
            prop_assert_eq!(split(&text), split_general(&text));
        }
    }
}
