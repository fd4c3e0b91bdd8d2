//! Harness events: the `"dir":"event"` lines of a transcript, typed.
//!
//! The engine, `phx record` and replay all write and read events through [`Event`]: its
//! `Display` is the one way to print one (the fixtures' wording) and [`Event::parse`] the one way
//! to read one back. Parsing is total: a line no variant describes is a [`Event::Note`], and
//! `Event::parse(s).to_string() == s` for every event line of the recorded fixtures (tested).

use std::fmt;

/// One harness event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// `connect TARGET`: a URL (`ws://…/socket/websocket?vsn=2.0.0`, as `phx record` and the
    /// fixtures write) or the engine's `LABEL?QUERY` (`/socket?vsn=2.0.0`, `node-b /socket?…`).
    Connect {
        /// The URL or `LABEL?QUERY`.
        target: String,
    },
    /// `http status N[ DETAIL]`: the upgrade's HTTP status (the number is also the entry's
    /// `http_status` field).
    HttpStatus {
        /// The status.
        status: u16,
        /// What follows the number (`on upgrade (websocket open)`, `body="…"`), if anything.
        detail: Option<String>,
    },
    /// `connection closed code=N[ reason='R']`: a close frame arrived (or, after a client close,
    /// the server's answer).
    Closed {
        /// The close code.
        code: u16,
        /// The close reason, when the writer recorded it.
        reason: Option<String>,
    },
    /// `connection dropped`: the TCP connection ended without a close frame.
    Dropped,
    /// `client closing with code=N`.
    ClientClosing {
        /// The close code the client sent.
        code: u16,
    },
    /// `ctl CMD (triggered)`: a server-side action starts (CMD in the fixtures' vocabulary,
    /// see [`super::replay::render_action`]).
    CtlTriggered {
        /// The command.
        cmd: String,
    },
    /// `ctl CMD -> rc=N[ VALUE]`: its result.
    CtlResult {
        /// The command.
        cmd: String,
        /// The exit code (0: ok).
        rc: i64,
        /// The printed result (`:ok`, a token), if any.
        value: Option<String>,
    },
    /// `tolerated: WHAT`: the engine accepted another valid outcome than the recorded one.
    Tolerated(String),
    /// `scenario TITLE`: the first line of a recorded scenario.
    ScenarioStart(String),
    /// `scenario end`.
    ScenarioEnd,
    /// `not sent (WHY)`: a frame the recorder could not send.
    NotSent(String),
    /// Anything else: a comment.
    Note(String),
}

impl Event {
    /// Reads an event line (never fails: unknown text is a [`Event::Note`]).
    pub fn parse(s: &str) -> Event {
        Self::typed(s).unwrap_or_else(|| Event::Note(s.to_owned()))
    }

    fn typed(s: &str) -> Option<Event> {
        if let Some(target) = s.strip_prefix("connect ") {
            return Some(Event::Connect {
                target: target.to_owned(),
            });
        }
        if let Some(rest) = s.strip_prefix("http status ") {
            let (n, detail) = split_word(rest);
            return Some(Event::HttpStatus {
                status: number(n)?,
                detail: detail.map(str::to_owned),
            });
        }
        if let Some(rest) = s.strip_prefix("connection closed code=") {
            let (n, reason) = match rest.split_once(" reason='") {
                Some((n, r)) => (n, Some(r.strip_suffix('\'')?.to_owned())),
                None => (rest, None),
            };
            return Some(Event::Closed {
                code: number(n)?,
                reason,
            });
        }
        if s == "connection dropped" {
            return Some(Event::Dropped);
        }
        if let Some(n) = s.strip_prefix("client closing with code=") {
            return Some(Event::ClientClosing { code: number(n)? });
        }
        if let Some(rest) = s.strip_prefix("ctl ") {
            if let Some(cmd) = rest.strip_suffix(" (triggered)") {
                return Some(Event::CtlTriggered {
                    cmd: cmd.to_owned(),
                });
            }
            let (cmd, result) = rest.split_once(" -> rc=")?;
            let (rc, value) = split_word(result);
            return Some(Event::CtlResult {
                cmd: cmd.to_owned(),
                rc: number(rc)?,
                value: value.map(str::to_owned),
            });
        }
        if let Some(what) = s.strip_prefix("tolerated: ") {
            return Some(Event::Tolerated(what.to_owned()));
        }
        if s == "scenario end" {
            return Some(Event::ScenarioEnd);
        }
        if let Some(title) = s.strip_prefix("scenario ") {
            return Some(Event::ScenarioStart(title.to_owned()));
        }
        if let Some(why) = s
            .strip_prefix("not sent (")
            .and_then(|w| w.strip_suffix(')'))
        {
            return Some(Event::NotSent(why.to_owned()));
        }
        None
    }
}

/// `"101 rest"` → `("101", Some("rest"))`.
fn split_word(s: &str) -> (&str, Option<&str>) {
    match s.split_once(' ') {
        Some((a, b)) => (a, Some(b)),
        None => (s, None),
    }
}

/// A decimal number written without sign, padding or leading zeros, so that printing it gives
/// back the same text.
fn number<T: std::str::FromStr + ToString>(s: &str) -> Option<T> {
    let n: T = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Connect { target } => write!(f, "connect {target}"),
            Event::HttpStatus { status, detail } => {
                write!(f, "http status {status}")?;
                detail.iter().try_for_each(|d| write!(f, " {d}"))
            }
            Event::Closed { code, reason } => {
                write!(f, "connection closed code={code}")?;
                reason.iter().try_for_each(|r| write!(f, " reason='{r}'"))
            }
            Event::Dropped => f.write_str("connection dropped"),
            Event::ClientClosing { code } => write!(f, "client closing with code={code}"),
            Event::CtlTriggered { cmd } => write!(f, "ctl {cmd} (triggered)"),
            Event::CtlResult { cmd, rc, value } => {
                write!(f, "ctl {cmd} -> rc={rc}")?;
                value.iter().try_for_each(|v| write!(f, " {v}"))
            }
            Event::Tolerated(what) => write!(f, "tolerated: {what}"),
            Event::ScenarioStart(title) => write!(f, "scenario {title}"),
            Event::ScenarioEnd => f.write_str("scenario end"),
            Event::NotSent(why) => write!(f, "not sent ({why})"),
            Event::Note(s) => f.write_str(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_prints_and_parses_back() {
        let all = [
            Event::Connect {
                target: "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0".into(),
            },
            Event::Connect {
                target: "node-b /socket?vsn=2.0.0".into(),
            },
            Event::HttpStatus {
                status: 101,
                detail: None,
            },
            Event::HttpStatus {
                status: 403,
                detail: Some("body=\"\"".into()),
            },
            Event::Closed {
                code: 1000,
                reason: None,
            },
            Event::Closed {
                code: 1011,
                reason: Some(String::new()),
            },
            Event::Dropped,
            Event::ClientClosing { code: 1000 },
            Event::CtlTriggered {
                cmd: "ping remote".into(),
            },
            Event::CtlResult {
                cmd: "sign 1 invalid".into(),
                rc: 0,
                value: Some("SFMyNTY.a.b".into()),
            },
            Event::CtlResult {
                cmd: "x".into(),
                rc: 1,
                value: None,
            },
            Event::Tolerated("pipelined phx_leave + phx_join answered R J C".into()),
            Event::ScenarioStart("ping: ping channel".into()),
            Event::ScenarioEnd,
            Event::NotSent("connection already closed".into()),
            Event::Note("case six: 6-element array".into()),
        ];
        for e in all {
            assert_eq!(Event::parse(&e.to_string()), e, "{e}");
        }
    }

    #[test]
    fn malformed_typed_lines_stay_notes_and_print_unchanged() {
        for s in [
            "http status abc",
            "http status 0101",
            "connection closed code=x",
            "client closing with code=",
            "ctl frobnicate",
            "ctl x -> rc=+1",
            "connection closed code=1000 reason='unterminated",
        ] {
            let e = Event::parse(s);
            assert!(matches!(e, Event::Note(_)), "{s}: {e:?}");
            assert_eq!(e.to_string(), s);
        }
    }
}
