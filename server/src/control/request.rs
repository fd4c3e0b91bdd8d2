//! Control API request bodies (public so that clients of the API can build them).

use phx_protocol::Payload;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `POST /api/broadcast`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BroadcastRequest {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload (default `{}`); `{"$binary": HEX}` makes a binary broadcast.
    #[serde(default)]
    pub payload: Option<Value>,
    /// Publish this many times from inside the server (default 1).
    #[serde(default)]
    pub count: Option<u64>,
    /// Add `"i"` (index) and `"t"` (send time, unix µs) to each copy's payload.
    #[serde(default)]
    pub stamp: bool,
}

impl BroadcastRequest {
    /// One broadcast of `payload` (binary payloads travel as `{"$binary": HEX}`).
    pub fn new(topic: impl Into<String>, event: impl Into<String>, payload: &Payload) -> Self {
        BroadcastRequest {
            topic: topic.into(),
            event: event.into(),
            payload: Some(encode_payload(payload)),
            count: None,
            stamp: false,
        }
    }
}

/// `GET /api/info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The node name.
    pub node: String,
    /// The imitated release (`"1.8"`).
    pub compat: String,
    /// Live WebSocket connections.
    pub connections: usize,
    /// Joined channels over all connections.
    pub channels: usize,
}

/// `POST /api/disconnect`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisconnectRequest {
    /// The socket id, e.g. `"auth_socket:1"`.
    pub socket_id: String,
}

/// `POST /api/token`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenRequest {
    /// The salt, e.g. `"salt identifier"`.
    pub salt: String,
    /// The data to sign.
    pub data: Value,
    /// Unix seconds; now when absent.
    #[serde(default)]
    pub signed_at: Option<u64>,
    /// Seconds embedded in the token (Plug.Crypto default 86400).
    #[serde(default)]
    pub max_age: Option<u64>,
}

/// Why a `{"$binary": HEX}` payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    /// `"$binary"` holds something other than a string: give the bytes as a hex string.
    #[error("\"$binary\" must be a hex string")]
    NotAString,
    /// `"$binary"` is not hex: use two hex digits per byte, e.g. `"00ff"`.
    #[error("\"$binary\" is not valid hex: {0}")]
    BadHex(hex::FromHexError),
}

/// A broadcast payload as the control API and `phx-server broadcast` take it: JSON, or
/// `{"$binary": HEX}` (that key alone) for a binary one.
pub fn decode_payload(v: Value) -> Result<Payload, PayloadError> {
    if let Value::Object(map) = &v {
        if let (1, Some(hex_str)) = (map.len(), map.get("$binary")) {
            let hex_str = hex_str.as_str().ok_or(PayloadError::NotAString)?;
            let bytes = hex::decode(hex_str).map_err(PayloadError::BadHex)?;
            return Ok(Payload::binary(bytes));
        }
    }
    Ok(Payload::Json(v))
}

/// The JSON form of a payload for the control API: itself, or `{"$binary": HEX}`.
pub fn encode_payload(payload: &Payload) -> Value {
    match payload {
        Payload::Json(v) => v.clone(),
        Payload::Binary(b) => serde_json::json!({ "$binary": hex::encode(b) }),
    }
}
