//! What a channel hands back: push [`Reply`]s and incoming [`ChannelEvent`]s.

use phx_protocol::{Payload, Ref};
use serde::de::DeserializeOwned;

/// A successful reply to a push: any status except `"error"` (which is
/// [`crate::PushError::ErrorReply`]). Phoenix channels may reply with custom statuses.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// `"ok"`, or a custom status atom.
    pub status: String,
    /// The response payload (JSON, or bytes from a V2 binary reply).
    pub response: Payload,
}

/// Decoding a reply or event payload into a Rust type failed.
#[derive(Debug, thiserror::Error)]
pub enum DecodePayloadError {
    /// The payload is binary, not JSON.
    #[error("the payload is binary, not JSON")]
    Binary,
    /// The JSON does not match the target type.
    #[error("the payload does not match the expected type: {0}")]
    Json(#[from] serde_json::Error),
}

pub(crate) fn decode_payload<T: DeserializeOwned>(p: &Payload) -> Result<T, DecodePayloadError> {
    match p {
        Payload::Json(v) => Ok(T::deserialize(v)?),
        Payload::Binary(_) => Err(DecodePayloadError::Binary),
    }
}

impl Reply {
    /// True when the status is `"ok"`.
    pub fn is_ok(&self) -> bool {
        self.status == "ok"
    }

    /// The response decoded into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodePayloadError> {
        decode_payload(&self.response)
    }
}

/// An event the server sent to a channel: a push, a broadcast, `phx_error` or `phx_close`.
/// Replies to your pushes are not events; they resolve the push.
#[derive(Clone, Debug, PartialEq)]
pub struct ChannelEvent {
    /// The topic.
    pub topic: String,
    /// The event name.
    pub event: String,
    /// The payload.
    pub payload: Payload,
    /// The join_ref it carried (null for fastlane broadcasts).
    pub join_ref: Ref,
}

impl ChannelEvent {
    /// The payload decoded into `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodePayloadError> {
        decode_payload(&self.payload)
    }
}
