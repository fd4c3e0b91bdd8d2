//! A WebSocket data frame as the codecs see it.

use bytes::Bytes;

/// One WebSocket data frame: Phoenix sends JSON as text and V2 binary messages as binary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame (UTF-8 JSON for every serializer).
    Text(String),
    /// A binary frame (V2 binary layout).
    Binary(Bytes),
}

impl Frame {
    /// A text frame from anything string-like.
    pub fn text(s: impl Into<String>) -> Self {
        Frame::Text(s.into())
    }

    /// A binary frame from anything byte-like.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Frame::Binary(b.into())
    }

    /// Length of the frame's data in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// True when the frame carries no data.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
