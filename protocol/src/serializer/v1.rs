//! V1 JSON objects: `{"topic","event","payload","ref"[,"join_ref"]}` in, and
//! `{"event","payload","ref","topic"}` out (Phoenix never emits `join_ref` on V1).

use super::{classify, json_kind, parse_json, take_string, DecodeError, EncodeError};
use crate::message::{Message, Payload, Ref, ServerMessage};
use serde_json::Value;

/// Decodes a client V1 object. `topic`, `event`, `payload` and `ref` are required.
pub fn decode_client(text: &str) -> Result<Message, DecodeError> {
    decode_object(text, true)
}

/// Decodes a server V1 object (as a client). The join_ref is always null on V1.
pub fn decode_server(text: &str) -> Result<ServerMessage, DecodeError> {
    let msg = decode_object(text, false)?;
    let payload = match msg.payload {
        Payload::Json(v) => v,
        Payload::Binary(_) => Value::Null,
    };
    Ok(classify(
        msg.join_ref,
        msg.ref_,
        msg.topic,
        msg.event,
        payload,
    ))
}

/// `topic` and `event` are always required; `strict` requires `payload` and `ref` too (a client
/// message), otherwise they default to null (a server message).
fn decode_object(text: &str, strict: bool) -> Result<Message, DecodeError> {
    let mut obj = match parse_json(text)? {
        Value::Object(obj) => obj,
        other => return Err(DecodeError::NotAnObject(json_kind(&other))),
    };
    let mut take = |key: &'static str, required: bool| match obj.remove(key) {
        Some(v) => Ok(v),
        None if required => Err(DecodeError::MissingKey(key)),
        None => Ok(Value::Null),
    };
    let topic = take_string(take("topic", true)?, "topic")?;
    let event = take_string(take("event", true)?, "event")?;
    let payload = take("payload", strict)?;
    let ref_ = Ref::from_json(&take("ref", strict)?);
    let join_ref = Ref::from_json(&take("join_ref", false)?);
    Ok(Message {
        join_ref,
        ref_,
        topic,
        event,
        payload: Payload::Json(payload),
    })
}

/// Encodes a server message as a V1 object, keys in Jason's (sorted) order.
pub fn encode_server(msg: &ServerMessage) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(96);
    out.push_str("{\"event\":");
    crate::json::write_str(msg.event(), &mut out);
    out.push_str(",\"payload\":");
    match msg {
        ServerMessage::Reply(r) => {
            out.push_str("{\"response\":");
            super::write_payload_json(&r.response, &mut out)?;
            out.push_str(",\"status\":");
            crate::json::write_str(&r.status, &mut out);
            out.push('}');
        }
        ServerMessage::Push(p) => super::write_payload_json(&p.payload, &mut out)?,
        ServerMessage::Broadcast(b) => super::write_payload_json(&b.payload, &mut out)?,
        ServerMessage::Message(m) => super::write_payload_json(&m.payload, &mut out)?,
    }
    out.push_str(",\"ref\":");
    msg.ref_().write_json(&mut out);
    out.push_str(",\"topic\":");
    crate::json::write_str(msg.topic(), &mut out);
    out.push('}');
    Ok(out)
}

/// Encodes a client message as a V1 object (`join_ref` included when not null).
pub fn encode_client(msg: &Message) -> Result<String, EncodeError> {
    let mut out = String::with_capacity(96);
    out.push_str("{\"event\":");
    crate::json::write_str(&msg.event, &mut out);
    if !msg.join_ref.is_null() {
        out.push_str(",\"join_ref\":");
        msg.join_ref.write_json(&mut out);
    }
    out.push_str(",\"payload\":");
    super::write_payload_json(&msg.payload, &mut out)?;
    out.push_str(",\"ref\":");
    msg.ref_.write_json(&mut out);
    out.push_str(",\"topic\":");
    crate::json::write_str(&msg.topic, &mut out);
    out.push('}');
    Ok(out)
}
