//! Transcripts: the JSONL recording format of `fixtures/*/transcripts` (see
//! `fixtures/phoenix-1.7.14/README.md`, "Transcript format"), plus normalising and matching.
//!
//! - [`Entry`]/[`Transcript`]: one line per frame or event, read and written as JSONL.
//! - [`event`]: the typed harness event ([`Event`]) of an `event` line: one way to print it and
//!   one to parse it, for the engine, `phx record` and replay.
//! - [`normalise`]: replaces volatile values (tokens, node names, ports, times) with placeholders.
//! - [`matcher`]: compares an expected frame (with placeholders) against a received one.
//! - [`replay`]: turns a recorded transcript into engine steps (the client side of it).
//! - [`redact`]: redaction rules (a JSON path and/or a regex) that turn volatile values into
//!   placeholders; [`rules`]: rules files and the per-topic order tolerances ([`rules::Unordered`]).
//!
//! The format, written for editing by hand, is documented in `conformance/TRANSCRIPTS.md`.

pub mod event;
pub mod matcher;
pub mod normalise;
pub mod redact;
pub mod replay;
pub mod rules;

pub use event::Event;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// Who produced a line: the client (`send`), the server (`recv`), or the harness (`event`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// A frame the client sent.
    Send,
    /// A frame the client received.
    Recv,
    /// A harness event: connect, HTTP status, close, trigger, note.
    Event,
}

/// One transcript line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the scenario started (timing only; never compared). Optional: a
    /// hand-written line may leave it out (replay then allows the default wait), and
    /// `phx record --no-timing` does not write it, so that recordings compare byte for byte.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t_ms: Option<f64>,
    /// Direction.
    pub dir: Dir,
    /// The frame text, binary frames as lowercase hex, or the event's description. A
    /// hand-written line may give a text frame as JSON (`"frame":["1","1","t","phx_join",{}]`)
    /// instead of a string holding JSON; it is read as its compact text and written as a string.
    #[serde(deserialize_with = "frame_text")]
    pub frame: String,
    /// The connection label, when the line belongs to one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conn: Option<String>,
    /// `"binary"` when `frame` holds a binary frame as hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opcode: Option<String>,
    /// Any further fields (http_status, close_frame_received, server_initiated, …).
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

/// A `frame` field: a string as is, any other JSON value as its compact text.
fn frame_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        other => Ok(other.to_string()),
    }
}

impl Entry {
    /// A line with no connection and no extra fields.
    pub fn new(t_ms: f64, dir: Dir, frame: impl Into<String>) -> Self {
        Entry {
            t_ms: Some(t_ms),
            dir,
            frame: frame.into(),
            conn: None,
            opcode: None,
            extra: serde_json::Map::new(),
        }
    }

    /// An `event` line for `event` on `conn`.
    pub fn event(t_ms: f64, conn: Option<&str>, event: &Event) -> Self {
        let mut e = Entry::new(t_ms, Dir::Event, event.to_string());
        e.conn = conn.map(str::to_owned);
        e
    }

    /// The typed event of an `event` line (None for frames).
    pub fn as_event(&self) -> Option<Event> {
        (self.dir == Dir::Event).then(|| Event::parse(&self.frame))
    }

    /// True when the frame is a binary frame written as hex.
    pub fn is_binary(&self) -> bool {
        self.opcode.as_deref() == Some("binary")
    }

    /// An extra integer field, e.g. `http_status`.
    pub fn extra_u64(&self, key: &str) -> Option<u64> {
        self.extra.get(key).and_then(|v| v.as_u64())
    }
}

/// Why a transcript could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TranscriptError {
    /// The file could not be read; check the path.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line is not a transcript entry.
    #[error("{path}:{line}: not a transcript line: {source}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line number.
        line: usize,
        /// The JSON error.
        source: serde_json::Error,
    },
}

/// A whole transcript.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Transcript {
    /// The lines, in order.
    pub entries: Vec<Entry>,
}

impl Transcript {
    /// Parses JSONL text; `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, TranscriptError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let entry = serde_json::from_str(line).map_err(|source| TranscriptError::Parse {
                path: origin.to_owned(),
                line: i + 1,
                source,
            })?;
            entries.push(entry);
        }
        Ok(Transcript { entries })
    }

    /// Reads a JSONL file.
    pub fn read(path: &Path) -> Result<Self, TranscriptError> {
        let text = std::fs::read_to_string(path).map_err(|source| TranscriptError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Writes JSONL text, one entry per line.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            // Serialising plain data cannot fail.
            out.push_str(&serde_json::to_string(e).unwrap_or_default());
            out.push('\n');
        }
        out
    }

    /// The first line's scenario title, if it starts with one.
    pub fn title(&self) -> Option<String> {
        match self.entries.first()?.as_event()? {
            Event::ScenarioStart(title) => Some(title),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_written_lines_may_omit_t_ms_and_give_frames_as_json() {
        let t = Transcript::parse(
            r#"{"dir":"send","conn":"c1","frame":["1","1","room:lobby","phx_join",{"a":1}]}
{"dir":"recv","conn":"c1","frame":"[\"1\",\"1\",\"room:lobby\",\"phx_reply\",{}]","t_ms":1.5}"#,
            "hand",
        )
        .expect("parses");
        assert_eq!(t.entries[0].t_ms, None);
        assert_eq!(
            t.entries[0].frame,
            r#"["1","1","room:lobby","phx_join",{"a":1}]"#
        );
        assert_eq!(t.entries[1].t_ms, Some(1.5));
        // Written back: t_ms only where there is one, frames as strings.
        assert_eq!(
            t.to_jsonl().lines().next(),
            Some(
                r#"{"dir":"send","frame":"[\"1\",\"1\",\"room:lobby\",\"phx_join\",{\"a\":1}]","conn":"c1"}"#
            )
        );
        let e = Transcript::parse(r#"{"dir":"send"}"#, "hand.jsonl").expect_err("no frame");
        assert!(
            e.to_string()
                .starts_with("hand.jsonl:1: not a transcript line"),
            "{e}"
        );
    }
}
