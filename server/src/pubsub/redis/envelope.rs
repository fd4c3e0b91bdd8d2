//! The message format on Redis (version 1), documented in `server/CLUSTER.md`.
//!
//! One Redis message per broadcast, a JSON object on the channel [`channel_name`]:
//!
//! ```json
//! {"v":1,"origin":"server@127.0.0.1/9f0c2a7d13e4b5a6/1","topic":"ping","event":"request_ping","payload":{}}
//! ```
//!
//! A binary payload travels as `"payload_b64"` (standard base64, padded) instead of `"payload"`.
//! `origin` is opaque: receivers only compare it with their own to skip their own broadcasts.
//! Unknown fields are ignored, so a later minor addition does not need a new `v`.

use base64::Engine as _;
use phx_protocol::{Broadcast, Payload};
use serde_json::{Map, Value};

/// The envelope version this build writes and reads.
pub const VERSION: u64 = 1;

/// The Redis channel of the cluster named by `prefix`: `"<prefix>:broadcast"`.
pub fn channel_name(prefix: &str) -> String {
    format!("{prefix}:broadcast")
}

/// Why a Redis message is not a broadcast this node can deliver. The message is skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// Not a JSON object (another program publishes on the channel, or the prefix is shared).
    #[error("not a JSON object: {0}")]
    NotJson(String),
    /// Written by a phx-server speaking another envelope version: upgrade the older nodes.
    #[error("envelope version {0} is not supported (this node reads v{VERSION}); run the same phx-server version on every node")]
    UnsupportedVersion(u64),
    /// A required field is missing or has the wrong type.
    #[error("field {0:?} is missing or has the wrong type")]
    BadField(&'static str),
    /// `payload_b64` is not valid base64.
    #[error("payload_b64 is not valid base64: {0}")]
    BadBase64(String),
}

/// Encodes `broadcast` sent by `origin` as a v1 envelope, fields in the documented order.
pub fn encode(origin: &str, broadcast: &Broadcast) -> Vec<u8> {
    /// Borrows the broadcast, so the payload is serialised in place rather than deep-copied
    /// into a `Value` on every publish.
    #[derive(serde::Serialize)]
    struct Wire<'a> {
        v: u64,
        origin: &'a str,
        topic: &'a str,
        event: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload: Option<&'a Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        payload_b64: Option<String>,
    }
    let (payload, payload_b64) = match &broadcast.payload {
        Payload::Json(v) => (Some(v), None),
        Payload::Binary(b) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
    };
    let wire = Wire {
        v: VERSION,
        origin,
        topic: &broadcast.topic,
        event: &broadcast.event,
        payload,
        payload_b64,
    };
    // Serialising strings and a `Value` cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// A decoded envelope: who sent it and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The sender's opaque origin id.
    pub origin: String,
    /// The broadcast.
    pub broadcast: Broadcast,
}

/// Decodes a Redis message.
pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(EnvelopeError::NotJson(
            "a JSON value that is not an object".into(),
        ));
    };
    match map.get("v").and_then(Value::as_u64) {
        Some(VERSION) => {}
        Some(other) => return Err(EnvelopeError::UnsupportedVersion(other)),
        None => return Err(EnvelopeError::BadField("v")),
    }
    let origin = take_string(&mut map, "origin")?;
    let topic = take_string(&mut map, "topic")?;
    let event = take_string(&mut map, "event")?;
    let payload = match (map.remove("payload"), map.remove("payload_b64")) {
        (Some(v), None) => Payload::Json(v),
        (None, Some(Value::String(b64))) => Payload::binary(
            base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|e| EnvelopeError::BadBase64(e.to_string()))?,
        ),
        (None, Some(_)) => return Err(EnvelopeError::BadField("payload_b64")),
        // Neither or both: ambiguous.
        _ => return Err(EnvelopeError::BadField("payload")),
    };
    Ok(Envelope {
        origin,
        broadcast: Broadcast {
            topic,
            event,
            payload,
        },
    })
}

fn take_string(map: &mut Map<String, Value>, field: &'static str) -> Result<String, EnvelopeError> {
    match map.remove(field) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(EnvelopeError::BadField(field)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_payload_round_trips_and_matches_the_documented_shape() {
        let b = Broadcast::new(
            "ping",
            "request_ping",
            Payload::Json(json!({"x": [1, 2.5, "é"]})),
        );
        let bytes = encode("server@127.0.0.1/ab/1", &b);
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":1,"origin":"server@127.0.0.1/ab/1","topic":"ping","event":"request_ping","payload":{"x":[1,2.5,"é"]}}"#
        );
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            v,
            json!({"v": 1, "origin": "server@127.0.0.1/ab/1", "topic": "ping", "event": "request_ping",
                   "payload": {"x": [1, 2.5, "é"]}})
        );
        assert_eq!(
            decode(&bytes).unwrap(),
            Envelope {
                origin: "server@127.0.0.1/ab/1".into(),
                broadcast: b
            }
        );
    }

    #[test]
    fn binary_payload_travels_as_base64() {
        let b = Broadcast::new("binary", "bin", Payload::binary(vec![0u8, 1, 255, 10]));
        let bytes = encode("o", &b);
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["payload_b64"], json!("AAH/Cg=="));
        assert!(v.get("payload").is_none());
        assert_eq!(decode(&bytes).unwrap().broadcast, b);
    }

    #[test]
    fn non_object_json_payloads_survive() {
        for p in [json!(null), json!([1]), json!("s"), json!(12)] {
            let b = Broadcast::new("t", "e", Payload::Json(p));
            assert_eq!(decode(&encode("o", &b)).unwrap().broadcast, b);
        }
    }

    #[test]
    fn bad_messages_are_rejected_with_the_reason() {
        assert!(matches!(decode(b"hello"), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(decode(b"[1]"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(
            decode(br#"{"v":2,"origin":"o"}"#),
            Err(EnvelopeError::UnsupportedVersion(2))
        );
        assert_eq!(
            decode(br#"{"origin":"o"}"#),
            Err(EnvelopeError::BadField("v"))
        );
        assert_eq!(
            decode(br#"{"v":1,"topic":"t","event":"e","payload":{}}"#),
            Err(EnvelopeError::BadField("origin"))
        );
        assert_eq!(
            decode(br#"{"v":1,"origin":"o","topic":"t","event":"e"}"#),
            Err(EnvelopeError::BadField("payload"))
        );
        assert_eq!(
            decode(
                br#"{"v":1,"origin":"o","topic":"t","event":"e","payload":{},"payload_b64":""}"#
            ),
            Err(EnvelopeError::BadField("payload"))
        );
        assert!(matches!(
            decode(br#"{"v":1,"origin":"o","topic":"t","event":"e","payload_b64":"!!"}"#),
            Err(EnvelopeError::BadBase64(_))
        ));
    }

    #[test]
    fn unknown_fields_are_ignored() {
        let e = decode(br#"{"v":1,"origin":"o","topic":"t","event":"e","payload":{},"trace":"x"}"#)
            .unwrap();
        assert_eq!(
            e.broadcast,
            Broadcast::new("t", "e", Payload::empty_object())
        );
    }

    #[test]
    fn channel_is_derived_from_the_prefix() {
        assert_eq!(
            channel_name("phx:HelloSockets"),
            "phx:HelloSockets:broadcast"
        );
    }
}
