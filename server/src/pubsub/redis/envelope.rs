//! The message format on Redis, documented in `server/CLUSTER.md`. Nodes write version 2 and
//! read versions 1 and 2.
//!
//! Version 2, a batch: the broadcasts one publisher had queued, in order, in one Redis message
//! (one PUBLISH, one delivery to each subscribed process, instead of one per broadcast):
//!
//! ```json
//! {"v":2,"origin":"server@127.0.0.1/9f0c2a7d13e4b5a6/1","broadcasts":[{"topic":"ping","event":"request_ping","payload":{}}]}
//! ```
//!
//! Version 1, one broadcast per message (still read; `phx-server broadcast --pubsub` writes it,
//! and so can `redis-cli`):
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

/// The envelope version this build writes (batches).
pub const VERSION: u64 = 2;
/// The single-broadcast version, still read.
pub const VERSION_SINGLE: u64 = 1;

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
    #[error("envelope version {0} is not supported (this node reads v{VERSION_SINGLE} and v{VERSION}); run the same phx-server version on every node")]
    UnsupportedVersion(u64),
    /// A required field is missing or has the wrong type.
    #[error("field {0:?} is missing or has the wrong type")]
    BadField(&'static str),
    /// `payload_b64` is not valid base64.
    #[error("payload_b64 is not valid base64: {0}")]
    BadBase64(String),
}

/// The wire form of one broadcast; borrows it, so the payload is serialised in place rather
/// than deep-copied into a `Value` on every publish.
#[derive(serde::Serialize)]
struct WireBroadcast<'a> {
    topic: &'a str,
    event: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payload_b64: Option<String>,
}

impl<'a> WireBroadcast<'a> {
    fn new(broadcast: &'a Broadcast) -> Self {
        let (payload, payload_b64) = match &broadcast.payload {
            Payload::Json(v) => (Some(v), None),
            Payload::Binary(b) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(b)),
            ),
        };
        WireBroadcast {
            topic: &broadcast.topic,
            event: &broadcast.event,
            payload,
            payload_b64,
        }
    }
}

/// Encodes `broadcast` sent by `origin` as a v1 envelope (one broadcast), fields in the
/// documented order.
pub fn encode(origin: &str, broadcast: &Broadcast) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Wire<'a> {
        v: u64,
        origin: &'a str,
        #[serde(flatten)]
        broadcast: WireBroadcast<'a>,
    }
    let wire = Wire {
        v: VERSION_SINGLE,
        origin,
        broadcast: WireBroadcast::new(broadcast),
    };
    // Serialising strings and a `Value` cannot fail.
    serde_json::to_vec(&wire).unwrap_or_default()
}

/// Encodes one broadcast as an element of a v2 batch (`{"topic","event","payload"}`); the
/// publisher joins queued entries with [`encode_batch`].
pub fn encode_entry(broadcast: &Broadcast) -> Vec<u8> {
    serde_json::to_vec(&WireBroadcast::new(broadcast)).unwrap_or_default()
}

/// A v2 envelope of `entries` (from [`encode_entry`]), in order, sent by `origin`.
pub fn encode_batch<'a>(origin: &str, entries: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let origin = serde_json::to_string(origin).unwrap_or_default();
    let mut out = Vec::with_capacity(64 + origin.len());
    out.extend_from_slice(
        format!("{{\"v\":{VERSION},\"origin\":{origin},\"broadcasts\":[").as_bytes(),
    );
    for (k, e) in entries.into_iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(e);
    }
    out.extend_from_slice(b"]}");
    out
}

/// A decoded envelope: who sent it and what.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The sender's opaque origin id.
    pub origin: String,
    /// The broadcasts, in publishing order (one for v1).
    pub broadcasts: Vec<Broadcast>,
}

/// Decodes a Redis message (v1 or v2).
pub fn decode(bytes: &[u8]) -> Result<Envelope, EnvelopeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(EnvelopeError::NotJson(
            "a JSON value that is not an object".into(),
        ));
    };
    let version = match map.get("v").and_then(Value::as_u64) {
        Some(v @ (VERSION_SINGLE | VERSION)) => v,
        Some(other) => return Err(EnvelopeError::UnsupportedVersion(other)),
        None => return Err(EnvelopeError::BadField("v")),
    };
    let origin = take_string(&mut map, "origin")?;
    let broadcasts = if version == VERSION_SINGLE {
        vec![take_broadcast(&mut map)?]
    } else {
        match map.remove("broadcasts") {
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(mut m) => take_broadcast(&mut m),
                    _ => Err(EnvelopeError::BadField("broadcasts")),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(EnvelopeError::BadField("broadcasts")),
        }
    };
    Ok(Envelope { origin, broadcasts })
}

fn take_broadcast(map: &mut Map<String, Value>) -> Result<Broadcast, EnvelopeError> {
    let topic = take_string(map, "topic")?;
    let event = take_string(map, "event")?;
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
    Ok(Broadcast {
        topic,
        event,
        payload,
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
                broadcasts: vec![b]
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
        assert_eq!(decode(&bytes).unwrap().broadcasts, vec![b]);
    }

    #[test]
    fn non_object_json_payloads_survive() {
        for p in [json!(null), json!([1]), json!("s"), json!(12)] {
            let b = Broadcast::new("t", "e", Payload::Json(p));
            assert_eq!(decode(&encode("o", &b)).unwrap().broadcasts, vec![b]);
        }
    }

    #[test]
    fn bad_messages_are_rejected_with_the_reason() {
        assert!(matches!(decode(b"hello"), Err(EnvelopeError::NotJson(_))));
        assert!(matches!(decode(b"[1]"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(
            decode(br#"{"v":3,"origin":"o"}"#),
            Err(EnvelopeError::UnsupportedVersion(3))
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
            e.broadcasts,
            vec![Broadcast::new("t", "e", Payload::empty_object())]
        );
    }

    #[test]
    fn a_batch_keeps_its_broadcasts_in_order_and_matches_the_documented_shape() {
        let a = Broadcast::new("ping", "request_ping", Payload::empty_object());
        let b = Broadcast::new("binary", "bin", Payload::binary(vec![0u8, 1, 255, 10]));
        let entries = [encode_entry(&a), encode_entry(&b), encode_entry(&a)];
        let bytes = encode_batch("n/x/1", entries.iter().map(Vec::as_slice));
        assert_eq!(
            std::str::from_utf8(&bytes).unwrap(),
            r#"{"v":2,"origin":"n/x/1","broadcasts":[{"topic":"ping","event":"request_ping","payload":{}},{"topic":"binary","event":"bin","payload_b64":"AAH/Cg=="},{"topic":"ping","event":"request_ping","payload":{}}]}"#
        );
        let e = decode(&bytes).unwrap();
        assert_eq!(e.origin, "n/x/1");
        assert_eq!(e.broadcasts, vec![a.clone(), b, a]);
        assert_eq!(
            decode(&encode_batch("o", std::iter::empty()))
                .unwrap()
                .broadcasts,
            vec![]
        );
    }

    #[test]
    fn a_bad_batch_is_rejected_with_the_reason() {
        assert_eq!(
            decode(br#"{"v":2,"origin":"o"}"#),
            Err(EnvelopeError::BadField("broadcasts"))
        );
        assert_eq!(
            decode(br#"{"v":2,"origin":"o","broadcasts":[1]}"#),
            Err(EnvelopeError::BadField("broadcasts"))
        );
        assert_eq!(
            decode(br#"{"v":2,"origin":"o","broadcasts":[{"topic":"t","event":"e"}]}"#),
            Err(EnvelopeError::BadField("payload"))
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
