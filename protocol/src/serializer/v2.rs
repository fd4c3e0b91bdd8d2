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

fn split(text: &str) -> Result<(Ref, Ref, String, String, Value), DecodeError> {
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
