//! The engine: runs steps over raw connections against a target, records every frame, and
//! stops at the first difference. Scenarios and transcript replay both run here.

use super::conn::{ConnectError, RawConn, Received};
use super::pattern::{self, Captures};
use super::step::{Expected, Outgoing, Step};
use crate::target::Target;
use crate::transcript::matcher::{self, Bindings};
use crate::transcript::{normalise, replay};
use crate::transcript::{Dir, Entry, Event, Transcript};
use crate::triggers::TriggerError;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// How long an expectation waits by default.
    pub frame_timeout: Duration,
    /// Skip a server push that repeats the previous token push on that connection (the
    /// recurring channel pushes a new token every interval; only their order is compared).
    pub tolerate_token_repeats: bool,
    /// Skip (and report as app traffic) the pushes an app sends by itself, with a null ref and
    /// an event that is not `phx_*` (after-join pushes, presence, broadcasts), when the step
    /// does not expect them: the protocol profile, whose rules hold whatever the app pushes.
    pub tolerate_app_pushes: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            frame_timeout: Duration::from_secs(3),
            tolerate_token_repeats: true,
            tolerate_app_pushes: false,
        }
    }
}

/// The first difference between the expectation and the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Index of the failing step.
    pub step: usize,
    /// The connection, when the step had one.
    pub conn: Option<String>,
    /// What was expected.
    pub expected: String,
    /// What happened.
    pub actual: String,
    /// True when the target could not be reached at all.
    pub unreachable: bool,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let conn = self.conn.as_deref().unwrap_or("-");
        write!(
            f,
            "step {} on {conn}:\n  expected: {}\n  actual:   {}",
            self.step + 1,
            self.expected,
            self.actual
        )
    }
}

/// What a run produced.
#[derive(Clone, Debug, Default)]
pub struct RunOutcome {
    /// Everything sent, received and done, in order.
    pub transcript: Transcript,
    /// The first difference, if any.
    pub failure: Option<Failure>,
    /// Set when the target lacks something the steps need (the run stopped there).
    pub skipped: Option<String>,
    /// Placeholder bindings (node names seen).
    pub bindings: Bindings,
    /// Recurring token pushes skipped as repeats.
    pub repeats_skipped: usize,
    /// Each tolerance used, in words (e.g. a pipelined leave + join answered in another valid
    /// order than recorded); `phx replay` prints them.
    pub tolerances: Vec<String>,
    /// Values captured by scenario-file patterns (`!capture`) and `sign` steps.
    pub captures: Captures,
    /// The app's own pushes skipped under [`EngineOptions::tolerate_app_pushes`], in words.
    pub app_traffic: Vec<String>,
}

impl RunOutcome {
    /// The transcript as normalised snapshot text.
    pub fn snapshot(&self) -> String {
        let mut n = normalise::Normaliser::new();
        for (concrete, placeholder) in self.bindings.reversed() {
            n = n.node(concrete, placeholder);
        }
        normalise::snapshot_text(&self.transcript, &n)
    }
}

struct Recorder {
    start: Instant,
    entries: Vec<Entry>,
}

impl Recorder {
    /// An event line (printed by [`Event`]'s one `Display`).
    fn event(&mut self, conn: Option<&str>, event: Event) {
        let t = self.start.elapsed().as_secs_f64() * 1000.0;
        self.entries.push(Entry::event(t, conn, &event));
    }

    fn push(&mut self, dir: Dir, conn: Option<&str>, frame: String, binary: bool) {
        let mut e = Entry::new(self.start.elapsed().as_secs_f64() * 1000.0, dir, frame);
        e.conn = conn.map(str::to_owned);
        if binary {
            e.opcode = Some("binary".into());
        }
        self.entries.push(e);
    }

    /// Adds an extra field to the last entry (e.g. `http_status`), as the fixtures carry.
    fn extra(&mut self, key: &str, value: serde_json::Value) {
        if let Some(e) = self.entries.last_mut() {
            e.extra.insert(key.to_owned(), value);
        }
    }
}

fn describe(r: &Received) -> String {
    match r {
        Received::Text(t) => t.clone(),
        Received::Binary(b) => format!("binary {}", hex::encode(b)),
        Received::Closed { code, frame: true } => Event::Closed {
            code: *code,
            reason: None,
        }
        .to_string(),
        Received::Closed { frame: false, .. } => "connection dropped without a close frame".into(),
        Received::Timeout => "nothing arrived".into(),
    }
}

/// Runs steps against a target.
pub struct Engine<'t> {
    target: &'t Target,
    opts: EngineOptions,
    conns: HashMap<String, RawConn>,
    tokens: Vec<(String, String)>,
    last_token_push: HashMap<String, String>,
    rec: Recorder,
    out: RunOutcome,
}

enum Flow {
    Next,
    Stop,
}

impl<'t> Engine<'t> {
    /// An engine for one run.
    pub fn new(target: &'t Target, opts: EngineOptions) -> Self {
        Engine {
            target,
            opts,
            conns: HashMap::new(),
            tokens: Vec::new(),
            last_token_push: HashMap::new(),
            rec: Recorder {
                start: Instant::now(),
                entries: Vec::new(),
            },
            out: RunOutcome::default(),
        }
    }

    /// Runs every step (stopping at the first failure or skip), then closes what is still open.
    pub async fn run(mut self, steps: &[Step]) -> RunOutcome {
        for (i, step) in steps.iter().enumerate() {
            if let Flow::Stop = self.step(i, step).await {
                break;
            }
        }
        for (_, mut c) in self.conns.drain() {
            let _ = tokio::time::timeout(
                Duration::from_millis(500),
                c.close(Duration::from_millis(500)),
            )
            .await;
        }
        self.out.transcript = Transcript {
            entries: std::mem::take(&mut self.rec.entries),
        };
        self.out
    }

    fn fail(
        &mut self,
        step: usize,
        conn: Option<&str>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Flow {
        self.out.failure = Some(Failure {
            step,
            conn: conn.map(str::to_owned),
            expected: expected.into(),
            actual: actual.into(),
            unreachable: false,
        });
        Flow::Stop
    }

    /// The next frame on `conn` within `within`. A frame `wanted` rejects that repeats the
    /// previous token push on this connection is skipped when repeats are tolerated.
    async fn read(
        &mut self,
        conn: &str,
        within: Duration,
        wanted: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let r = self.conns.get_mut(conn)?.next(left).await;
            if let Received::Text(t) = &r {
                let n = normalise::tokens(t);
                if n.contains(normalise::TOKEN_PLACEHOLDER) {
                    let repeat = self.last_token_push.get(conn) == Some(&n);
                    if repeat && self.opts.tolerate_token_repeats && !wanted(&r) {
                        self.out.repeats_skipped += 1;
                        continue;
                    }
                    self.last_token_push.insert(conn.to_owned(), n);
                }
            }
            if self.opts.tolerate_app_pushes && is_app_push(&r) && !wanted(&r) {
                let what = format!("app traffic on {conn}: {}", describe(&r));
                self.record_received(conn, &r);
                self.rec.event(Some(conn), Event::Note(what.clone()));
                self.out.app_traffic.push(what);
                continue;
            }
            return Some(r);
        }
    }

    fn record_received(&mut self, conn: &str, r: &Received) {
        match r {
            Received::Text(t) => self.rec.push(Dir::Recv, Some(conn), t.clone(), false),
            Received::Binary(b) => self.rec.push(Dir::Recv, Some(conn), hex::encode(b), true),
            Received::Closed { code, frame: true } => {
                self.rec.event(
                    Some(conn),
                    Event::Closed {
                        code: *code,
                        reason: None,
                    },
                );
                self.rec
                    .extra("close_frame_received", serde_json::json!({"code": code}));
                self.rec
                    .extra("server_initiated", serde_json::Value::Bool(true));
            }
            Received::Closed { frame: false, .. } => self.rec.event(Some(conn), Event::Dropped),
            Received::Timeout => {}
        }
    }

    async fn connect(
        &mut self,
        i: usize,
        conn: &str,
        base: &str,
        label: &str,
        query: &str,
        status: u16,
    ) -> Flow {
        let mut q = pattern::substitute(query, &self.out.captures);
        // An empty var (a `ctl sign` with no recorded result) would match everywhere.
        for (var, token) in self.tokens.iter().filter(|(v, _)| !v.is_empty()) {
            q = q.replace(var.as_str(), token);
        }
        self.rec.event(
            Some(conn),
            Event::Connect {
                target: format!("{}?{q}", label),
            },
        );
        let url = format!("{base}/websocket?{q}");
        match RawConn::connect(&url, &self.target.tls).await {
            Ok(c) => {
                self.rec.event(
                    Some(conn),
                    Event::HttpStatus {
                        status: 101,
                        detail: None,
                    },
                );
                self.rec.extra("http_status", 101.into());
                self.conns.insert(conn.to_owned(), c);
                if status != 101 {
                    return self.fail(
                        i,
                        Some(conn),
                        format!("HTTP {status}"),
                        "HTTP 101 (websocket open)",
                    );
                }
                Flow::Next
            }
            Err(ConnectError::Refused { status: got, body }) => {
                self.rec.event(
                    Some(conn),
                    Event::HttpStatus {
                        status: got,
                        detail: Some(format!("body={body:?}")),
                    },
                );
                self.rec.extra("http_status", got.into());
                if got != status {
                    return self.fail(
                        i,
                        Some(conn),
                        format!("HTTP {status}"),
                        format!("HTTP {got} {body:?}"),
                    );
                }
                Flow::Next
            }
            Err(e @ (ConnectError::Unreachable { .. } | ConnectError::Tls { .. })) => {
                self.out.failure = Some(Failure {
                    step: i,
                    conn: Some(conn.to_owned()),
                    expected: format!("HTTP {status}"),
                    actual: e.to_string(),
                    unreachable: true,
                });
                Flow::Stop
            }
        }
    }

    async fn step(&mut self, i: usize, step: &Step) -> Flow {
        match step {
            Step::Note(s) => {
                self.rec.event(None, Event::Note(s.clone()));
                Flow::Next
            }
            Step::Connect {
                conn,
                socket,
                query,
                status,
            } => {
                let Some(base) = self.target.socket_url(*socket) else {
                    self.out.skipped =
                        Some(format!("the target has no {} endpoint", socket.label()));
                    return Flow::Stop;
                };
                let base = base.to_owned();
                self.connect(i, conn, &base, socket.label(), query, *status)
                    .await
            }
            Step::ConnectPath {
                conn,
                path,
                query,
                status,
            } => {
                let base = match url::Url::parse(&self.target.socket_url) {
                    Ok(mut u) => {
                        u.set_path(path);
                        u.to_string().trim_end_matches('/').to_owned()
                    }
                    Err(_) => self.target.socket_url.clone(),
                };
                self.connect(i, conn, &base, path, query, *status).await
            }
            Step::Send { conn, frame } => {
                let Some(c) = self.conns.get_mut(conn) else {
                    return self.fail(
                        i,
                        Some(conn),
                        "an open connection",
                        "no such connection (a bug in the steps)",
                    );
                };
                let (res, text, binary) = match frame {
                    Outgoing::Text(t) => {
                        let t = pattern::substitute(t, &self.out.captures);
                        (c.send_text(&t).await, t, false)
                    }
                    Outgoing::Binary(b) => (c.send_binary(b).await, hex::encode(b), true),
                };
                self.rec.push(Dir::Send, Some(conn), text, binary);
                match res {
                    Ok(()) => Flow::Next,
                    Err(e) => self.fail(
                        i,
                        Some(conn),
                        "the frame to be sent",
                        format!("send failed: {e}"),
                    ),
                }
            }
            Step::Expect {
                conn,
                frame,
                within,
            } => {
                let within = within.unwrap_or(self.opts.frame_timeout);
                let probe = self.out.bindings.clone();
                let probe_c = self.out.captures.clone();
                let Some(r) = self
                    .read(conn, within, |r| {
                        frame_matches(frame, r, &mut probe.clone(), &mut probe_c.clone())
                    })
                    .await
                else {
                    return self.fail(i, Some(conn), frame.to_string(), "no such connection");
                };
                self.record_received(conn, &r);
                let ok = frame_matches(frame, &r, &mut self.out.bindings, &mut self.out.captures);
                if ok {
                    Flow::Next
                } else {
                    self.fail(i, Some(conn), frame.to_string(), describe(&r))
                }
            }
            Step::ExpectClosed { conn, code, within } => {
                let within = within.unwrap_or(self.opts.frame_timeout);
                let Some(r) = self.read(conn, within, |_| false).await else {
                    return self.fail(i, Some(conn), format!("close {code}"), "no such connection");
                };
                self.record_received(conn, &r);
                match r {
                    Received::Closed {
                        code: got,
                        frame: true,
                    } if got == *code => {
                        self.conns.remove(conn);
                        Flow::Next
                    }
                    other => self.fail(
                        i,
                        Some(conn),
                        Event::Closed {
                            code: *code,
                            reason: None,
                        }
                        .to_string(),
                        describe(&other),
                    ),
                }
            }
            Step::ExpectLeaveJoin {
                conn,
                join,
                leave,
                close,
                recorded,
                within,
            } => {
                use crate::transcript::matcher::race::{self, Frame, Progress};
                let within = within.unwrap_or(self.opts.frame_timeout);
                let wanted = format!("the answers to a pipelined phx_leave + phx_join in one of the orders J C, J R C, R C J, R J C (J {join}, R {leave}, C {close})");
                let mut seen = Vec::new();
                loop {
                    let probe = self.out.bindings.clone();
                    let probe_c = self.out.captures.clone();
                    let any = |r: &Received| {
                        [join, leave, close]
                            .iter()
                            .any(|e| frame_matches(e, r, &mut probe.clone(), &mut probe_c.clone()))
                    };
                    let Some(r) = self.read(conn, within, any).await else {
                        return self.fail(i, Some(conn), wanted, "no such connection");
                    };
                    self.record_received(conn, &r);
                    let frame = if frame_matches(
                        join,
                        &r,
                        &mut self.out.bindings,
                        &mut self.out.captures,
                    ) {
                        Frame::J
                    } else if frame_matches(
                        leave,
                        &r,
                        &mut self.out.bindings,
                        &mut self.out.captures,
                    ) {
                        Frame::R
                    } else if frame_matches(
                        close,
                        &r,
                        &mut self.out.bindings,
                        &mut self.out.captures,
                    ) {
                        Frame::C
                    } else {
                        return self.fail(i, Some(conn), wanted, describe(&r));
                    };
                    seen.push(frame);
                    match race::progress(&seen) {
                        Progress::More => continue,
                        Progress::Invalid => {
                            return self.fail(
                                i,
                                Some(conn),
                                wanted,
                                format!("the order {}", race::show(&seen)),
                            )
                        }
                        Progress::Done => break,
                    }
                }
                if seen != *recorded {
                    let what = format!(
                        "pipelined phx_leave + phx_join on {conn} answered {} (recorded {})",
                        race::show(&seen),
                        race::show(recorded)
                    );
                    let event = Event::Tolerated(what);
                    self.out.tolerances.push(event.to_string());
                    self.rec.event(Some(conn), event);
                }
                Flow::Next
            }
            Step::ExpectUnordered {
                conn,
                frames,
                within,
            } => {
                let within = within.unwrap_or(self.opts.frame_timeout);
                let wanted = || {
                    let all: Vec<String> = frames.iter().map(ToString::to_string).collect();
                    format!("in any order: {}", all.join(" | "))
                };
                let mut left: Vec<usize> = (0..frames.len()).collect();
                let mut order = Vec::new();
                // Written in the expected order once all arrived, so that a run's transcript
                // (and snapshot) does not depend on the race; the tolerance line says the order.
                let mut got: Vec<(usize, Received)> = Vec::new();
                while !left.is_empty() {
                    let probe = self.out.bindings.clone();
                    let probe_c = self.out.captures.clone();
                    let any = |r: &Received| {
                        left.iter().any(|&k| {
                            frame_matches(&frames[k], r, &mut probe.clone(), &mut probe_c.clone())
                        })
                    };
                    let Some(r) = self.read(conn, within, any).await else {
                        return self.fail(i, Some(conn), wanted(), "no such connection");
                    };
                    let Some(pos) = left.iter().position(|&k| {
                        frame_matches(
                            &frames[k],
                            &r,
                            &mut self.out.bindings,
                            &mut self.out.captures,
                        )
                    }) else {
                        for (_, g) in &got {
                            self.record_received(conn, g);
                        }
                        self.record_received(conn, &r);
                        return self.fail(i, Some(conn), wanted(), describe(&r));
                    };
                    let k = left.remove(pos);
                    order.push(k);
                    got.push((k, r));
                }
                got.sort_by_key(|(k, _)| *k);
                for (_, g) in &got {
                    self.record_received(conn, g);
                }
                if order.windows(2).any(|w| w[0] > w[1]) {
                    let name = |k: &usize| unordered_label(&frames[*k]);
                    let arrived: Vec<String> = order.iter().map(name).collect();
                    let expected: Vec<String> = (0..frames.len()).map(|k| name(&k)).collect();
                    let event = Event::Tolerated(format!(
                        "{conn} received {} (recorded {})",
                        arrived.join(", "),
                        expected.join(", ")
                    ));
                    self.out.tolerances.push(event.to_string());
                    self.rec.event(Some(conn), event);
                }
                Flow::Next
            }
            Step::ExpectSilence { conn, quiet } => {
                let Some(r) = self.read(conn, *quiet, |_| false).await else {
                    return self.fail(i, Some(conn), "silence", "no such connection");
                };
                if r == Received::Timeout {
                    return Flow::Next;
                }
                self.record_received(conn, &r);
                self.fail(
                    i,
                    Some(conn),
                    format!("nothing for {quiet:?}"),
                    describe(&r),
                )
            }
            Step::Close { conn } => {
                let Some(mut c) = self.conns.remove(conn) else {
                    return self.fail(i, Some(conn), "an open connection", "no such connection");
                };
                self.rec
                    .event(Some(conn), Event::ClientClosing { code: 1000 });
                let (early, code) = c.close(self.opts.frame_timeout).await;
                let early: Vec<_> = early
                    .into_iter()
                    .filter(|r| match r {
                        Received::Text(t) => {
                            let n = normalise::tokens(t);
                            !(self.opts.tolerate_token_repeats
                                && self.last_token_push.get(conn) == Some(&n))
                        }
                        _ => true,
                    })
                    .collect();
                for r in &early {
                    self.record_received(conn, r);
                }
                let (app, early): (Vec<_>, Vec<_>) = early
                    .into_iter()
                    .partition(|r| self.opts.tolerate_app_pushes && is_app_push(r));
                for r in &app {
                    let what = format!("app traffic on {conn}: {}", describe(r));
                    self.rec.event(Some(conn), Event::Note(what.clone()));
                    self.out.app_traffic.push(what);
                }
                if let Some(first) = early.first() {
                    return self.fail(
                        i,
                        Some(conn),
                        "nothing before the close handshake",
                        describe(first),
                    );
                }
                match code {
                    Some(code) => {
                        self.rec
                            .event(Some(conn), Event::Closed { code, reason: None });
                        self.rec
                            .extra("close_frame_received", serde_json::json!({"code": code}));
                        self.rec
                            .extra("server_initiated", serde_json::Value::Bool(false));
                        Flow::Next
                    }
                    None => self.fail(i, Some(conn), "the server's close frame", "no close frame"),
                }
            }
            Step::Trigger(action) => {
                let cmd = replay::render_action(action);
                self.rec
                    .event(None, Event::CtlTriggered { cmd: cmd.clone() });
                match self.target.triggers.run(action).await {
                    Ok(()) => {
                        self.rec.event(
                            None,
                            Event::CtlResult {
                                cmd,
                                rc: 0,
                                value: Some(":ok".into()),
                            },
                        );
                        Flow::Next
                    }
                    Err(TriggerError::Unsupported(what)) => {
                        self.out.skipped = Some(format!("the target has no trigger for {what}"));
                        Flow::Stop
                    }
                    Err(e) => self.fail(i, None, "the trigger to succeed", e.to_string()),
                }
            }
            Step::Call(call) => {
                let cmd = call.render();
                self.rec
                    .event(None, Event::CtlTriggered { cmd: cmd.clone() });
                match call.run(self.target, &self.out.captures).await {
                    Ok(captured) => {
                        let value = captured.as_ref().map(|(_, v)| match v {
                            serde_json::Value::String(s) => s.clone(),
                            other => phx_protocol::json::to_string(other),
                        });
                        self.rec.event(None, Event::CtlResult { cmd, rc: 0, value });
                        if let Some((name, v)) = captured {
                            self.out.captures.insert(name, v);
                        }
                        Flow::Next
                    }
                    Err(super::call::CallError::Unsupported(why)) => {
                        self.out.skipped = Some(why);
                        Flow::Stop
                    }
                    Err(super::call::CallError::Failed(why)) => {
                        self.fail(i, None, format!("{cmd} to succeed"), why)
                    }
                }
            }
            Step::Sign { var, request } => {
                let cmd = replay::render_sign(request);
                self.rec
                    .event(None, Event::CtlTriggered { cmd: cmd.clone() });
                match self.target.triggers.sign(request).await {
                    Ok(token) => {
                        self.rec.event(
                            None,
                            Event::CtlResult {
                                cmd,
                                rc: 0,
                                value: Some(token.clone()),
                            },
                        );
                        if let Some(name) = var.strip_prefix("${").and_then(|v| v.strip_suffix('}'))
                        {
                            self.out
                                .captures
                                .insert(name.to_owned(), serde_json::Value::String(token.clone()));
                        }
                        self.tokens.push((var.clone(), token));
                        Flow::Next
                    }
                    Err(TriggerError::Unsupported(what)) => {
                        self.out.skipped = Some(format!("the target has no trigger for {what}"));
                        Flow::Stop
                    }
                    Err(e) => self.fail(i, None, "a signed token", e.to_string()),
                }
            }
        }
    }
}

/// `presence_diff on presence:lobby` for a V2 array or V1 object frame, else the frame.
fn unordered_label(e: &Expected) -> String {
    let Expected::Json(v) = e else {
        return e.to_string();
    };
    let te = match v {
        serde_json::Value::Array(a) => a.get(2).zip(a.get(3)),
        serde_json::Value::Object(o) => o.get("topic").zip(o.get("event")),
        _ => None,
    };
    match te.and_then(|(t, ev)| t.as_str().zip(ev.as_str())) {
        Some((t, ev)) => format!("{ev} on {t}"),
        None => e.to_string(),
    }
}

/// A server push the app sent by itself: a V2 array or V1 object with a null ref and an event
/// that is not `phx_*`, or a binary push or broadcast (kinds 0 and 2).
fn is_app_push(r: &Received) -> bool {
    match r {
        Received::Text(t) => {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(t) else {
                return false;
            };
            let (reference, event) = match &v {
                serde_json::Value::Array(a) if a.len() == 5 => (&a[1], &a[3]),
                serde_json::Value::Object(o) => match (o.get("ref"), o.get("event")) {
                    (Some(r), Some(e)) => (r, e),
                    _ => return false,
                },
                _ => return false,
            };
            reference.is_null() && event.as_str().is_some_and(|e| !e.starts_with("phx_"))
        }
        Received::Binary(b) => matches!(b.first(), Some(0 | 2)),
        _ => false,
    }
}

fn frame_matches(
    expected: &Expected,
    r: &Received,
    bindings: &mut Bindings,
    captures: &mut Captures,
) -> bool {
    match (expected, r) {
        (Expected::Json(e), Received::Text(t)) => match serde_json::from_str(t) {
            Ok(actual) => matcher::matches(e, &actual, bindings),
            Err(_) => false,
        },
        (Expected::Pattern(p), Received::Text(t)) => match serde_json::from_str(t) {
            Ok(actual) => p.matches(&actual, bindings, captures),
            Err(_) => false,
        },
        (Expected::Binary(e), Received::Binary(b)) => e == b,
        _ => false,
    }
}
