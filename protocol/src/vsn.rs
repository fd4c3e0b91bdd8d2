//! `vsn` negotiation, as `Phoenix.Socket.negotiate_serializer/2` does it.
//!
//! No `vsn` means `"1.0.0"`. The value must parse as a semantic version (`2` does not), then
//! `~> 1.0.0` selects V1 and `~> 2.0.0` selects V2. Anything else is refused, and the endpoint
//! answers HTTP 403.

use crate::serializer::{self, DecodeError, EncodeError};
use crate::{Frame, Message, ServerMessage};

/// The serializer chosen for a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vsn {
    /// `~> 1.0.0`: JSON objects; output has no `join_ref` key; text only.
    V1,
    /// `~> 2.0.0`: JSON arrays, plus V2 binary frames.
    V2,
}

/// Why a `vsn` was refused (the caller answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VsnError {
    /// The value is not `MAJOR.MINOR.PATCH[-pre][+build]`.
    #[error("vsn {0:?} is not a semantic version such as 2.0.0")]
    Unparsable(String),
    /// A valid version that no serializer accepts.
    #[error("vsn {0:?} matches no serializer (supported: ~> 1.0.0, ~> 2.0.0)")]
    Unsupported(String),
}

/// Picks the serializer for a `vsn` query value (`None` when the parameter is absent).
pub fn negotiate(vsn: Option<&str>) -> Result<Vsn, VsnError> {
    let raw = vsn.unwrap_or("1.0.0");
    let v = SemVer::parse(raw).ok_or_else(|| VsnError::Unparsable(raw.to_owned()))?;
    // `~> X.0.0` means `>= X.0.0 and < X.1.0`; a pre-release of X.0.0 sorts below X.0.0.
    let matches = |major: u64| v.major == major && v.minor == 0 && !(v.patch == 0 && v.pre);
    if matches(1) {
        Ok(Vsn::V1)
    } else if matches(2) {
        Ok(Vsn::V2)
    } else {
        Err(VsnError::Unsupported(raw.to_owned()))
    }
}

struct SemVer {
    major: u64,
    minor: u64,
    patch: u64,
    pre: bool,
}

impl SemVer {
    fn parse(s: &str) -> Option<SemVer> {
        let (core, build) = match s.split_once('+') {
            Some((c, b)) => (c, Some(b)),
            None => (s, None),
        };
        let (core, pre) = match core.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (core, None),
        };
        let ident_ok = |part: &str| {
            !part.is_empty()
                && part.split('.').all(|id| {
                    !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                })
        };
        if pre.is_some_and(|p| !ident_ok(p)) || build.is_some_and(|b| !ident_ok(b)) {
            return None;
        }
        let mut nums = core.split('.').map(|n| {
            let leading_zero = n.len() > 1 && n.starts_with('0');
            if n.is_empty() || leading_zero || !n.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                n.parse::<u64>().ok()
            }
        });
        let (major, minor, patch) = (nums.next()??, nums.next()??, nums.next()??);
        if nums.next().is_some() {
            return None;
        }
        Some(SemVer {
            major,
            minor,
            patch,
            pre: pre.is_some(),
        })
    }
}

impl Vsn {
    /// The canonical `vsn` string for this serializer.
    pub fn as_str(self) -> &'static str {
        match self {
            Vsn::V1 => "1.0.0",
            Vsn::V2 => "2.0.0",
        }
    }

    /// Decodes a frame a client sent (server side).
    pub fn decode_client(self, frame: &Frame) -> Result<Message, DecodeError> {
        match (self, frame) {
            (Vsn::V1, Frame::Text(t)) => serializer::v1::decode_client(t),
            (Vsn::V1, Frame::Binary(_)) => Err(DecodeError::BinaryOnV1),
            (Vsn::V2, Frame::Text(t)) => serializer::v2::decode_client(t),
            (Vsn::V2, Frame::Binary(b)) => serializer::binary::decode_client(b),
        }
    }

    /// Encodes a server message into the frame Phoenix would send.
    pub fn encode_server(self, msg: &ServerMessage) -> Result<Frame, EncodeError> {
        match self {
            Vsn::V1 => serializer::v1::encode_server(msg).map(Frame::Text),
            Vsn::V2 if serializer::binary::is_binary(msg) => {
                serializer::binary::encode_server(msg).map(Frame::Binary)
            }
            Vsn::V2 => serializer::v2::encode_server(msg).map(Frame::Text),
        }
    }

    /// Encodes a client message (client side). A binary payload makes a V2 binary frame.
    pub fn encode_client(self, msg: &Message) -> Result<Frame, EncodeError> {
        match (self, &msg.payload) {
            (Vsn::V1, _) => serializer::v1::encode_client(msg).map(Frame::Text),
            (Vsn::V2, crate::Payload::Binary(_)) => {
                serializer::binary::encode_client(msg).map(Frame::Binary)
            }
            (Vsn::V2, crate::Payload::Json(_)) => {
                serializer::v2::encode_client(msg).map(Frame::Text)
            }
        }
    }

    /// Decodes a frame a server sent (client side).
    pub fn decode_server(self, frame: &Frame) -> Result<ServerMessage, DecodeError> {
        match (self, frame) {
            (Vsn::V1, Frame::Text(t)) => serializer::v1::decode_server(t),
            (Vsn::V1, Frame::Binary(_)) => Err(DecodeError::BinaryOnV1),
            (Vsn::V2, Frame::Text(t)) => serializer::v2::decode_server(t),
            (Vsn::V2, Frame::Binary(b)) => serializer::binary::decode_server(b),
        }
    }
}

impl std::fmt::Display for Vsn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiation_follows_phoenix() {
        assert_eq!(negotiate(None), Ok(Vsn::V1));
        assert_eq!(negotiate(Some("1.0.0")), Ok(Vsn::V1));
        assert_eq!(negotiate(Some("1.0.7")), Ok(Vsn::V1));
        assert_eq!(negotiate(Some("2.0.0")), Ok(Vsn::V2));
        assert_eq!(negotiate(Some("2.0.1+build.5")), Ok(Vsn::V2));
        for bad in ["2", "", "abc", "2.0", "02.0.0", "2.0.0.0", "v2.0.0"] {
            assert!(
                matches!(negotiate(Some(bad)), Err(VsnError::Unparsable(_))),
                "{bad}"
            );
        }
        for unsupported in ["3.0.0", "2.1.0", "1.1.0", "123.1.1", "2.0.0-rc.1", "0.9.0"] {
            assert!(
                matches!(negotiate(Some(unsupported)), Err(VsnError::Unsupported(_))),
                "{unsupported}"
            );
        }
    }
}
