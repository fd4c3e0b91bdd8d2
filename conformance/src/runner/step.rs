//! Steps: what a scenario or a replayed transcript does, one action or expectation each.

use crate::triggers::{Action, SignRequest};
use serde_json::Value;
use std::time::Duration;

/// Which socket endpoint a connection opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Socket {
    /// `/socket` on node A (`--url`).
    Main,
    /// `/auth_socket` on node A (`--auth-url`).
    Auth,
    /// `/socket` on node B (`--node-b-url`).
    NodeB,
    /// `/socket` on a server whose idle timeout is known (embedded: a short one).
    Idle,
}

impl Socket {
    /// How the socket is written in transcripts (never a host or port, so that snapshots compare
    /// across targets).
    pub fn label(self) -> &'static str {
        match self {
            Socket::Main => "/socket",
            Socket::Auth => "/auth_socket",
            Socket::NodeB => "node-b /socket",
            Socket::Idle => "idle /socket",
        }
    }
}

/// A frame the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// A text frame, sent exactly as written.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
}

/// A frame the client expects next on a connection.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// A JSON text frame, matched structurally; strings may be placeholders (see
    /// [`crate::transcript::matcher`]).
    Json(Value),
    /// A binary frame, byte for byte.
    Binary(Vec<u8>),
    /// A JSON text frame matched by a pattern with matchers and captures (scenario files).
    Pattern(super::pattern::Pattern),
}

impl std::fmt::Display for Expected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Expected::Json(v) => f.write_str(&phx_protocol::json::to_string(v)),
            Expected::Pattern(p) => write!(f, "{p}"),
            Expected::Binary(b) => write!(f, "binary {}", hex::encode(b)),
        }
    }
}

/// One step.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A comment, recorded as an event.
    Note(String),
    /// Open connection `conn`; `query` may name tokens minted by [`Step::Sign`]; `status` is the
    /// expected HTTP status (101 for an open WebSocket).
    Connect {
        /// The connection label.
        conn: String,
        /// Which endpoint.
        socket: Socket,
        /// The query string without `?`, e.g. `vsn=2.0.0`.
        query: String,
        /// The expected HTTP status.
        status: u16,
    },
    /// Open connection `conn` at another path of node A's host (a scenario file's `path:`),
    /// e.g. `/live`; otherwise as [`Step::Connect`].
    ConnectPath {
        /// The connection label.
        conn: String,
        /// The socket path without `/websocket`, e.g. `/socket`.
        path: String,
        /// The query string without `?`.
        query: String,
        /// The expected HTTP status.
        status: u16,
    },
    /// Send a frame.
    Send {
        /// The connection label.
        conn: String,
        /// The frame.
        frame: Outgoing,
    },
    /// The next frame on `conn` must match.
    Expect {
        /// The connection label.
        conn: String,
        /// The expected frame.
        frame: Expected,
        /// How long to wait (default: the engine's frame timeout).
        within: Option<Duration>,
    },
    /// The server must close `conn` with this code next.
    ExpectClosed {
        /// The connection label.
        conn: String,
        /// The close code.
        code: u16,
        /// How long to wait (default: the engine's frame timeout).
        within: Option<Duration>,
    },
    /// The three answers to a pipelined `phx_leave` (old join_ref) + `phx_join` of one topic,
    /// in any of the valid orders of [`crate::transcript::matcher::race`]: the join's reply,
    /// the leave's reply, and the old join_ref's `phx_close`.
    ExpectLeaveJoin {
        /// The connection label.
        conn: String,
        /// The join's reply (J).
        join: Expected,
        /// The leave's reply (R).
        leave: Expected,
        /// The `phx_close` of the old join_ref (C).
        close: Expected,
        /// The order the recording had.
        recorded: Vec<crate::transcript::matcher::race::Frame>,
        /// How long to wait for each frame (default: the engine's frame timeout).
        within: Option<Duration>,
    },
    /// The next `frames.len()` frames on `conn` must match `frames` in any order (frames that
    /// Phoenix 1.8.12 may deliver in either order, such as an update's reply and its presence
    /// diff). An order other than the listed one is recorded as tolerated.
    ExpectUnordered {
        /// The connection label.
        conn: String,
        /// The expected frames, in their usual order.
        frames: Vec<Expected>,
        /// How long to wait for each frame (default: the engine's frame timeout).
        within: Option<Duration>,
    },
    /// Nothing may arrive on `conn` for this long.
    ExpectSilence {
        /// The connection label.
        conn: String,
        /// How long.
        quiet: Duration,
    },
    /// The client closes `conn` with 1000; nothing else may arrive before the server's close.
    Close {
        /// The connection label.
        conn: String,
    },
    /// A server-side action.
    Trigger(Action),
    /// A generic trigger of a scenario file: Erlang RPC, control API or HTTP request.
    Call(super::call::Call),
    /// Mint a token; later `Connect` queries have `var` replaced by it.
    Sign {
        /// The placeholder to replace in later queries.
        var: String,
        /// The request.
        request: SignRequest,
    },
}

/// Small constructors that keep scenario files readable.
pub mod build {
    use super::*;

    /// Connect `conn` to `/socket` with `vsn=2.0.0`, expecting an open WebSocket.
    pub fn connect(conn: &str) -> Step {
        connect_to(conn, Socket::Main, "vsn=2.0.0", 101)
    }

    /// Connect with a given socket, query and expected status.
    pub fn connect_to(conn: &str, socket: Socket, query: &str, status: u16) -> Step {
        Step::Connect {
            conn: conn.into(),
            socket,
            query: query.into(),
            status,
        }
    }

    /// Send a text frame.
    pub fn send(conn: &str, text: &str) -> Step {
        Step::Send {
            conn: conn.into(),
            frame: Outgoing::Text(text.into()),
        }
    }

    /// Send a binary frame.
    pub fn send_bin(conn: &str, bytes: &[u8]) -> Step {
        Step::Send {
            conn: conn.into(),
            frame: Outgoing::Binary(bytes.to_vec()),
        }
    }

    /// Expect a JSON frame (written as JSON text; panics on invalid JSON, which is a bug in a
    /// scenario, never input).
    pub fn expect(conn: &str, json: &str) -> Step {
        #[allow(clippy::expect_used)]
        let v = serde_json::from_str(json).expect("scenario JSON is valid");
        Step::Expect {
            conn: conn.into(),
            frame: Expected::Json(v),
            within: None,
        }
    }

    /// Expect a JSON frame within a given time.
    pub fn expect_within(conn: &str, json: &str, within: Duration) -> Step {
        match expect(conn, json) {
            Step::Expect { conn, frame, .. } => Step::Expect {
                conn,
                frame,
                within: Some(within),
            },
            other => other,
        }
    }

    /// Expect a binary frame.
    pub fn expect_bin(conn: &str, bytes: &[u8]) -> Step {
        Step::Expect {
            conn: conn.into(),
            frame: Expected::Binary(bytes.to_vec()),
            within: None,
        }
    }

    /// Expect the server to close with `code`.
    pub fn expect_closed(conn: &str, code: u16) -> Step {
        Step::ExpectClosed {
            conn: conn.into(),
            code,
            within: None,
        }
    }

    /// Expect nothing for `ms` milliseconds.
    /// Expect these JSON frames next, in any order (see [`Step::ExpectUnordered`]).
    pub fn expect_unordered(conn: &str, jsons: &[&str]) -> Step {
        let frames = jsons
            .iter()
            .filter_map(|j| match expect(conn, j) {
                Step::Expect { frame, .. } => Some(frame),
                _ => None,
            })
            .collect();
        Step::ExpectUnordered {
            conn: conn.into(),
            frames,
            within: None,
        }
    }

    /// Nothing may arrive on `conn` for `ms` milliseconds.
    pub fn silence(conn: &str, ms: u64) -> Step {
        Step::ExpectSilence {
            conn: conn.into(),
            quiet: Duration::from_millis(ms),
        }
    }

    /// Close from the client side.
    pub fn close(conn: &str) -> Step {
        Step::Close { conn: conn.into() }
    }

    /// A note.
    pub fn note(s: &str) -> Step {
        Step::Note(s.into())
    }

    /// Join `topic` with join_ref = ref = `r` and expect the ok reply.
    pub fn join_ok(conn: &str, topic: &str, r: &str) -> [Step; 2] {
        [
            send(conn, &format!(r#"["{r}","{r}","{topic}","phx_join",{{}}]"#)),
            expect(
                conn,
                &format!(
                    r#"["{r}","{r}","{topic}","phx_reply",{{"response":{{}},"status":"ok"}}]"#
                ),
            ),
        ]
    }
}
