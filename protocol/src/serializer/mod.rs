//! The three Phoenix serializers and their errors.
//!
//! - [`v1`]: `Phoenix.Socket.V1.JSONSerializer` (objects; output has no `join_ref`).
//! - [`v2`]: `Phoenix.Socket.V2.JSONSerializer` text frames (arrays).
//! - [`binary`]: the V2 serializer's binary frames (u8 length-prefixed fields).
//!
//! Most callers go through [`crate::Vsn`], which picks the right codec per frame.

pub mod binary;
pub mod v1;
pub mod v2;

use crate::message::{Payload, Ref};
use serde_json::Value;

/// Why a frame could not be decoded. Phoenix crashes the socket on any of these (close 1011).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The text is not JSON.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// V1 expects an object.
    #[error("V1 JSON serializer expected an object, got {0}")]
    NotAnObject(&'static str),
    /// V2 expects an array.
    #[error("V2 JSON serializer expected an array, got {0}")]
    NotAnArray(&'static str),
    /// A V2 array with fewer than 5 elements.
    #[error("V2 message needs 5 elements [join_ref, ref, topic, event, payload], got {0}")]
    TooFewElements(usize),
    /// A required V1 key is missing.
    #[error("missing key {0:?}")]
    MissingKey(&'static str),
    /// A field has the wrong JSON type.
    #[error("{field} must be {expected}")]
    WrongType {
        /// Which field.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// V1 carries no binary frames.
    #[error("binary frames are not supported on vsn 1.0.0")]
    BinaryOnV1,
    /// An empty binary frame.
    #[error("empty binary frame")]
    EmptyBinary,
    /// An unknown binary kind byte.
    #[error("unknown binary message kind {0} (client pushes are kind 0)")]
    UnknownKind(u8),
    /// The binary header or fields are cut short.
    #[error("binary frame truncated: needs {needed} bytes, has {len}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        len: usize,
    },
    /// A binary field is not UTF-8.
    #[error("binary frame field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A V2 binary field is longer than 255 bytes.
    #[error("binary frame field {field} is {len} bytes; the limit is 255")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
    /// V2 pushes and broadcasts need an object payload (Phoenix raises ArgumentError).
    #[error("V2 push/broadcast payload must be a JSON object")]
    PayloadNotObject,
    /// V1 cannot carry binary payloads.
    #[error("binary payloads are not supported on vsn 1.0.0")]
    BinaryOnV1,
    /// This shape has no binary encoding (e.g. a binary `phx_close`).
    #[error("{0} cannot carry a binary payload")]
    BinaryNotAllowed(&'static str),
}

pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

pub(crate) fn parse_json(text: &str) -> Result<Value, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::InvalidJson(e.to_string()))
}

pub(crate) fn take_string(v: Value, field: &'static str) -> Result<String, DecodeError> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(DecodeError::WrongType {
            field,
            expected: "a string",
        }),
    }
}

/// Splits a decoded `{"status":…,"response":…}` reply payload; None when it is not one.
pub(crate) fn split_reply(payload: &Value) -> Option<(String, Value)> {
    let obj = payload.as_object()?;
    let status = obj.get("status")?.as_str()?.to_owned();
    let response = obj.get("response").cloned().unwrap_or(Value::Null);
    Some((status, response))
}

pub(crate) fn write_payload_json(p: &Payload, out: &mut String) -> Result<(), EncodeError> {
    match p {
        Payload::Json(v) => {
            crate::json::write_value(v, out);
            Ok(())
        }
        Payload::Binary(_) => Err(EncodeError::BinaryOnV1),
    }
}

/// Classifies a decoded server message by its refs and event.
pub(crate) fn classify(
    join_ref: Ref,
    ref_: Ref,
    topic: String,
    event: String,
    payload: Value,
) -> crate::ServerMessage {
    use crate::{Broadcast, Message, Push, Reply, ServerMessage};
    if event == crate::events::REPLY {
        if let Some((status, response)) = split_reply(&payload) {
            return ServerMessage::Reply(Reply {
                join_ref,
                ref_,
                topic,
                status,
                response: Payload::Json(response),
            });
        }
    }
    match (join_ref.is_null(), ref_.is_null()) {
        (true, true) if event != crate::events::CLOSE && event != crate::events::ERROR => {
            ServerMessage::Broadcast(Broadcast {
                topic,
                event,
                payload: Payload::Json(payload),
            })
        }
        (false, true) => ServerMessage::Push(Push {
            join_ref,
            topic,
            event,
            payload: Payload::Json(payload),
        }),
        _ => ServerMessage::Message(Message {
            join_ref,
            ref_,
            topic,
            event,
            payload: Payload::Json(payload),
        }),
    }
}
