//! Replay: a recorded transcript becomes the steps that redo its client side and expect its
//! server side, so it runs on the same engine as the scenarios.
//!
//! - `send` lines are sent as recorded; `recv` lines are expected in order on their connection
//!   (interleaving across connections is timing and is not compared).
//! - Tokens become `[token]` and `from_node` values `[node:NAME]` (trailing digits dropped, so
//!   `server18@…` and `server@…` both expect `[node:server]`).
//! - `ctl …` lines become triggers. `ctl sign` results are used in later connect URLs, so the
//!   recorded token is replaced by one the target mints.
//! - A pipelined `phx_leave` + `phx_join` of one topic (sent back to back on one connection)
//!   expects its three answers in any valid order ([`super::matcher::race`]), not only the
//!   recorded one: the join's reply and the old channel's exit race inside Phoenix.
//! - Presence refs (`phx_ref`, `phx_ref_prev`) become `[ref:R1]`, `[ref:R2]`, … by first
//!   appearance in the transcript: each must be one value wherever it recurs, and two refs never
//!   one value.
//! - A `presence_diff` recorded on a connection after its own `phx_close` on that topic (Phoenix
//!   1.8.12 sometimes delivers the leaver its own leave diff after the close: 2 of 32 leaves, never
//!   on 1.7.14) is not expected: phx-server sends the 1.7.14 order, which 1.8.12 also produces.
//! - Redactions ([`ReplayOptions::redactions`]) turn recorded volatile values into placeholders
//!   before anything else; placeholders already in the transcript are kept as written.
//! - Consecutive expected frames on one connection that an [`Unordered`] rule covers become one
//!   [`Step::ExpectUnordered`]: on by default for the presence races the real recordings show
//!   ([`Unordered::defaults`]); each use is reported as a tolerance.
//! - Connections go to node A or B by the port of their first connect (first port seen: A);
//!   a connection the server closes long after its last frame is an idle-timeout close and is
//!   replayed against the target's idle socket.

use super::matcher::is_placeholder;
use super::normalise;
use super::redact::{Redaction, Redactor};
use super::rules::Unordered;
use super::{Dir, Entry, Event, Transcript};
use crate::runner::step::{Expected, Outgoing, Socket, Step};
use crate::triggers::{Action, Node, SignRequest};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// Why a transcript cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A `ctl` line the replayer does not know how to trigger.
    #[error("line {line}: unknown server-side action {text:?}")]
    UnknownCtl {
        /// 1-based line.
        line: usize,
        /// The line's text.
        text: String,
    },
    /// A line is malformed (bad hex, bad URL).
    #[error("line {line}: {reason}")]
    Malformed {
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// A gap after which a server close counts as an idle timeout.
const IDLE_GAP_MS: f64 = 10_000.0;
/// Added to a recorded gap to get a wait limit.
const SLACK: Duration = Duration::from_secs(3);

fn placeholders(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if k == "from_node" {
                    if let Value::String(s) = val {
                        if is_placeholder(s) {
                            continue;
                        }
                        let name = s
                            .split('@')
                            .next()
                            .unwrap_or("")
                            .trim_end_matches(|c: char| c.is_ascii_digit());
                        *s = format!("[node:{name}]");
                        continue;
                    }
                }
                placeholders(val);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(placeholders),
        _ => {}
    }
}

/// Renames presence refs to `[ref:Rn]` by first appearance (`seen` numbers them).
fn presence_refs(v: &mut Value, seen: &mut HashMap<String, usize>) {
    match v {
        Value::Object(map) => {
            for (k, val) in map.iter_mut() {
                if let ("phx_ref" | "phx_ref_prev", Value::String(s)) = (k.as_str(), &mut *val) {
                    if is_placeholder(s) {
                        continue;
                    }
                    let n = seen.len() + 1;
                    let n = *seen.entry(s.clone()).or_insert(n);
                    *s = format!("[ref:R{n}]");
                    continue;
                }
                presence_refs(val, seen);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|v| presence_refs(v, seen)),
        _ => {}
    }
}

/// `(topic, event)` of a V2 array or V1 object frame.
fn topic_event(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Array(a) => Some((
            a.get(2)?.as_str()?.to_owned(),
            a.get(3)?.as_str()?.to_owned(),
        )),
        Value::Object(o) => Some((
            o.get("topic")?.as_str()?.to_owned(),
            o.get("event")?.as_str()?.to_owned(),
        )),
        _ => None,
    }
}

/// The expectation for a recorded frame.
pub fn expected_frame(e: &Entry) -> Result<Expected, String> {
    if e.is_binary() {
        return hex::decode(&e.frame)
            .map(Expected::Binary)
            .map_err(|x| x.to_string());
    }
    let text = normalise::tokens(&e.frame);
    let mut v: Value =
        serde_json::from_str(&text).map_err(|x| format!("received frame is not JSON: {x}"))?;
    placeholders(&mut v);
    Ok(Expected::Json(v))
}

fn parse_list(s: &str) -> Vec<i64> {
    s.split(',').filter_map(|n| n.trim().parse().ok()).collect()
}

/// True for an Elixir alias such as `HelloSocketsWeb.Endpoint` or `MyAppWeb.Endpoint`.
fn is_alias(s: &str) -> bool {
    !s.is_empty()
        && s.split('.').all(|seg| {
            seg.starts_with(|c: char| c.is_ascii_uppercase())
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// `Endpoint.broadcast("t", "e", PAYLOAD)` → topic, event, payload, for any endpoint module
/// (`HelloSocketsWeb.Endpoint` as recorded, or the app's own): the trigger runs on the
/// target's configured one (`--endpoint-module`).
fn parse_broadcast(expr: &str) -> Option<(String, String, phx_protocol::Payload)> {
    let (module, args) = expr.split_once(".broadcast(")?;
    if !is_alias(module) {
        return None;
    }
    let args = args.strip_suffix(')')?;
    let mut parts = args.splitn(3, ", ");
    let topic = parts.next()?.trim_matches('"').to_owned();
    let event = parts.next()?.trim_matches('"').to_owned();
    let payload = parts.next()?.trim();
    let payload = if let Some(bytes) = payload
        .strip_prefix("{:binary, <<")
        .and_then(|p| p.strip_suffix(">>}"))
    {
        let b: Vec<u8> = bytes
            .split(',')
            .filter_map(|n| n.trim().parse().ok())
            .collect();
        phx_protocol::Payload::binary(b)
    } else {
        // Harness-written payloads only: maps, lists, strings, numbers, nil.
        let json = payload
            .replace("%{", "{")
            .replace(" => ", ":")
            .replace("nil", "null");
        phx_protocol::Payload::Json(serde_json::from_str(&json).ok()?)
    };
    Some((topic, event, payload))
}

/// The step for a `ctl … (triggered)` line; `result` is the recorded result of the action.
fn ctl_step(cmd: &str, result: Option<&str>) -> Option<Step> {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let token_var = || {
        result
            .map(|r| r.trim().trim_matches('"').to_owned())
            .unwrap_or_default()
    };
    match words.as_slice() {
        ["ping", node] => Some(Step::Trigger(Action::Broadcast {
            node: if *node == "remote" { Node::B } else { Node::A },
            topic: "ping".into(),
            event: "request_ping".into(),
            payload: phx_protocol::Payload::empty_object(),
        })),
        ["dedupe", numbers, times] => Some(Step::Trigger(Action::Dedupe {
            numbers: parse_list(numbers),
            times: times.parse().ok()?,
        })),
        ["disconnect", id] => Some(Step::Trigger(Action::Disconnect {
            socket_id: (*id).into(),
        })),
        ["sign", data, rest @ ..] => Some(Step::Sign {
            var: token_var(),
            request: SignRequest {
                salt: if rest.is_empty() {
                    "salt identifier".into()
                } else {
                    rest.join(" ")
                },
                data: data.parse().ok()?,
                age_offset_s: 0,
            },
        }),
        ["eval", ..] => {
            let expr = cmd.strip_prefix("eval ")?.trim();
            let sign_args = expr
                .strip_prefix("Phoenix.Token.sign(")
                .and_then(|a| a.split_once(", "))
                .filter(|(module, _)| is_alias(module));
            if let Some((_, args)) = sign_args {
                let mut parts = args.splitn(3, ", ");
                let salt = parts.next()?.trim_matches('"').to_owned();
                // `…, 7)` when no options follow.
                let data = parts.next()?.trim().trim_end_matches(')').parse().ok()?;
                let rest = parts.next().unwrap_or("");
                let age = rest
                    .split("System.system_time(:second) - ")
                    .nth(1)
                    .and_then(|n| n.trim_end_matches(')').replace('_', "").parse::<i64>().ok())
                    .unwrap_or(0);
                return Some(Step::Sign {
                    var: token_var(),
                    request: SignRequest {
                        salt,
                        data,
                        age_offset_s: -age,
                    },
                });
            }
            let (expr, node) = match expr.strip_suffix(" remote") {
                Some(e) => (e, Node::B),
                None => (expr.strip_suffix(" server").unwrap_or(expr), Node::A),
            };
            let (topic, event, payload) = parse_broadcast(expr)?;
            Some(Step::Trigger(Action::Broadcast {
                node,
                topic,
                event,
                payload,
            }))
        }
        _ => None,
    }
}

/// An Elixir term for a JSON value (`%{"n" => 1}`), as `ctl eval` lines write payloads.
fn elixir(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Object(o) => {
            let fields: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} => {}", Value::String(k.clone()), elixir(v)))
                .collect();
            format!("%{{{}}}", fields.join(", "))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(elixir).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// The `ctl …` command for an action, in the fixtures' vocabulary (parsed back by [`steps`]).
pub fn render_action(a: &Action) -> String {
    match a {
        Action::Broadcast {
            node,
            topic,
            event,
            payload,
        } => {
            let payload = match payload {
                phx_protocol::Payload::Json(v) => elixir(v),
                phx_protocol::Payload::Binary(b) => {
                    let bytes: Vec<String> = b.iter().map(u8::to_string).collect();
                    format!("{{:binary, <<{}>>}}", bytes.join(", "))
                }
            };
            let on = if *node == Node::B { " remote" } else { "" };
            format!(
                "eval HelloSocketsWeb.Endpoint.broadcast({}, {}, {payload}){on}",
                Value::String(topic.clone()),
                Value::String(event.clone())
            )
        }
        Action::Dedupe { numbers, times } => {
            let n: Vec<String> = numbers.iter().map(i64::to_string).collect();
            format!("dedupe {} {times}", n.join(","))
        }
        Action::Disconnect { socket_id } => format!("disconnect {socket_id}"),
    }
}

/// The `ctl …` command for a token request, in the fixtures' vocabulary.
pub fn render_sign(r: &SignRequest) -> String {
    if r.age_offset_s == 0 && !r.salt.contains(' ') {
        format!("sign {} {}", r.data, r.salt)
    } else if r.age_offset_s == 0 && r.salt == "salt identifier" {
        format!("sign {}", r.data)
    } else {
        let at = if r.age_offset_s == 0 {
            String::new()
        } else {
            format!(
                ", signed_at: System.system_time(:second) - {}",
                -r.age_offset_s
            )
        };
        format!(
            "eval Phoenix.Token.sign(HelloSocketsWeb.Endpoint, {}, {}{at})",
            Value::String(r.salt.clone()),
            r.data
        )
    }
}

/// A recorded status or close code; out of range is malformed (not silently truncated).
fn u16_field(n: u64, what: &str, line: usize) -> Result<u16, ReplayError> {
    u16::try_from(n).map_err(|_| ReplayError::Malformed {
        line,
        reason: format!("{what} {n} is out of range"),
    })
}

/// How a transcript is turned into steps.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Applied to the recorded lines first (`phx replay --redact`).
    pub redactions: Vec<Redaction>,
    /// Order tolerances besides the defaults (`phx replay --unordered`).
    pub unordered: Vec<Unordered>,
    /// Apply [`Unordered::defaults`] too (`--strict-order` turns this off).
    pub default_unordered: bool,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            redactions: Vec::new(),
            unordered: Vec::new(),
            default_unordered: true,
        }
    }
}

impl ReplayOptions {
    /// The tolerances in force: the defaults (unless off), then the given ones.
    pub fn tolerances(&self) -> Vec<Unordered> {
        let mut all = if self.default_unordered {
            Unordered::defaults()
        } else {
            Vec::new()
        };
        all.extend(self.unordered.iter().cloned());
        all
    }
}

/// Converts a transcript into steps with the default options.
pub fn steps(t: &Transcript) -> Result<Vec<Step>, ReplayError> {
    steps_with(t, &ReplayOptions::default())
}

/// Converts a transcript into steps: redactions first, then the recorded lines, then the
/// order tolerances.
pub fn steps_with(t: &Transcript, opts: &ReplayOptions) -> Result<Vec<Step>, ReplayError> {
    let redacted;
    let t = if opts.redactions.is_empty() {
        t
    } else {
        let mut copy = t.clone();
        Redactor::new(opts.redactions.clone()).transcript(&mut copy);
        redacted = copy;
        &redacted
    };
    let mut out = recorded_steps(t)?;
    for rule in opts.tolerances() {
        out = unordered_groups(out, &rule);
    }
    Ok(out)
}

/// Folds each run of expected frames on one connection that `rule` covers (other connections'
/// expectations in between are kept, after the group) into one [`Step::ExpectUnordered`].
fn unordered_groups(steps: Vec<Step>, rule: &Unordered) -> Vec<Step> {
    let covered = |s: &Step, on: Option<&str>| match s {
        Step::Expect {
            conn,
            frame: Expected::Json(v),
            ..
        } => on.is_none_or(|c| c == conn) && rule.covers_frame(v),
        _ => false,
    };
    let mut out = Vec::with_capacity(steps.len());
    let mut i = 0;
    while i < steps.len() {
        let Step::Expect { conn, .. } = &steps[i] else {
            out.push(steps[i].clone());
            i += 1;
            continue;
        };
        if !covered(&steps[i], None) {
            out.push(steps[i].clone());
            i += 1;
            continue;
        }
        let mut members = vec![i];
        let mut others = Vec::new();
        let mut j = i + 1;
        while j < steps.len() {
            match &steps[j] {
                s @ Step::Expect { conn: c, .. } if c == conn => {
                    if covered(s, Some(conn)) {
                        members.push(j);
                        j += 1;
                    } else {
                        break;
                    }
                }
                Step::Expect { .. } => {
                    others.push(j);
                    j += 1;
                }
                _ => break,
            }
        }
        // Other connections' expectations after the last member stay where they are.
        let last = *members.last().unwrap_or(&i);
        others.retain(|&k| k < last);
        if members.len() < 2 {
            out.push(steps[i].clone());
            i += 1;
            continue;
        }
        let mut frames = Vec::new();
        let mut within: Option<Duration> = None;
        for &k in &members {
            if let Step::Expect {
                frame, within: w, ..
            } = &steps[k]
            {
                frames.push(frame.clone());
                within = within.max(*w);
            }
        }
        out.push(Step::ExpectUnordered {
            conn: conn.clone(),
            frames,
            within,
        });
        out.extend(others.iter().map(|&k| steps[k].clone()));
        i = last + 1;
    }
    out
}

/// The recorded lines as steps (redactions already applied).
fn recorded_steps(t: &Transcript) -> Result<Vec<Step>, ReplayError> {
    let entries = &t.entries;
    let mut out = Vec::new();
    let mut ports: Vec<String> = Vec::new();
    let mut last_t: HashMap<String, f64> = HashMap::new();
    // Connections the server closes after a long silence go to the idle socket.
    let mut idle_conns = Vec::new();
    for e in entries {
        let conn = e.conn.clone().unwrap_or_default();
        if matches!(e.as_event(), Some(Event::Closed { .. }))
            && e.extra.get("server_initiated") == Some(&Value::Bool(true))
        {
            if let Some(prev) = last_t.get(&conn) {
                if e.t_ms.is_some_and(|t| t - prev > IDLE_GAP_MS) {
                    idle_conns.push(conn.clone());
                }
            }
        }
        if let (None | Some(Event::Connect { .. }), Some(t)) = (e.as_event(), e.t_ms) {
            last_t.insert(conn, t);
        }
    }

    let mut prev_t: HashMap<String, f64> = HashMap::new();
    let mut refs: HashMap<String, usize> = HashMap::new();
    // (conn, topic) pairs whose channel the server has closed, until they join again.
    let mut closed: std::collections::HashSet<(String, String)> = Default::default();
    for (i, e) in entries.iter().enumerate() {
        let line = i + 1;
        let conn = e.conn.clone().unwrap_or_default();
        // Without t_ms (a hand-written or `--no-timing` line) the gap is 0: the default wait.
        let gap = match (prev_t.get(&conn), e.t_ms) {
            (Some(p), Some(t)) => (t - p).max(0.0),
            _ => 0.0,
        };
        let within = Some(Duration::from_millis(gap as u64) + SLACK);
        match e.dir {
            Dir::Send => {
                let frame = if e.is_binary() {
                    Outgoing::Binary(hex::decode(&e.frame).map_err(|x| ReplayError::Malformed {
                        line,
                        reason: x.to_string(),
                    })?)
                } else {
                    if let Some((topic, "phx_join")) = serde_json::from_str(&e.frame)
                        .ok()
                        .as_ref()
                        .and_then(topic_event)
                        .as_ref()
                        .map(|(t, ev)| (t.clone(), ev.as_str()))
                    {
                        closed.remove(&(conn.clone(), topic));
                    }
                    Outgoing::Text(e.frame.clone())
                };
                out.push(Step::Send {
                    conn: conn.clone(),
                    frame,
                });
            }
            Dir::Recv => {
                let mut frame =
                    expected_frame(e).map_err(|reason| ReplayError::Malformed { line, reason })?;
                if let Expected::Json(v) = &mut frame {
                    presence_refs(v, &mut refs);
                    match topic_event(v) {
                        Some((topic, ev)) if ev == "phx_close" => {
                            closed.insert((conn.clone(), topic));
                        }
                        Some((topic, ev))
                            if ev == "presence_diff"
                                && closed.contains(&(conn.clone(), topic.clone())) =>
                        {
                            out.push(Step::Note(format!(
                                "not expected: {conn}'s own presence_diff on {topic} after its phx_close (Phoenix 1.8.12 only)"
                            )));
                            if let Some(t) = e.t_ms {
                                prev_t.insert(conn, t);
                            }
                            continue;
                        }
                        _ => {}
                    }
                }
                out.push(Step::Expect {
                    conn: conn.clone(),
                    frame,
                    within,
                });
            }
            Dir::Event => match Event::parse(&e.frame) {
                Event::Connect { target } => {
                    let (socket, query) = if target.starts_with("ws") {
                        let parsed =
                            url::Url::parse(&target).map_err(|x| ReplayError::Malformed {
                                line,
                                reason: x.to_string(),
                            })?;
                        let port = parsed.port().map(|p| p.to_string()).unwrap_or_default();
                        if !ports.contains(&port) {
                            ports.push(port.clone());
                        }
                        let socket = if parsed.path().starts_with("/auth_socket") {
                            Socket::Auth
                        } else if idle_conns.contains(&conn) {
                            Socket::Idle
                        } else if ports.first() == Some(&port) {
                            Socket::Main
                        } else {
                            Socket::NodeB
                        };
                        (socket, parsed.query().unwrap_or("").to_owned())
                    } else {
                        // The engine's own form: `connect [node-b |idle ]/path?query`.
                        let (label, query) = target.split_once('?').unwrap_or((&target, ""));
                        let socket = [Socket::Main, Socket::Auth, Socket::NodeB, Socket::Idle]
                            .into_iter()
                            .find(|s| s.label() == label)
                            .ok_or_else(|| ReplayError::Malformed {
                                line,
                                reason: format!("unknown socket {label:?}"),
                            })?;
                        (socket, query.to_owned())
                    };
                    // The upgrade's status: the `http_status` field of the connection's next
                    // status line (or the number its event carries).
                    let status = entries[i + 1..]
                        .iter()
                        .filter(|n| n.conn == e.conn)
                        .find_map(|n| match (n.extra_u64("http_status"), n.as_event()) {
                            (Some(s), _) => Some(s),
                            (None, Some(Event::HttpStatus { status, .. })) => Some(status.into()),
                            _ => None,
                        })
                        .unwrap_or(101);
                    let status = u16_field(status, "http_status", line)?;
                    out.push(Step::Connect {
                        conn: conn.clone(),
                        socket,
                        query,
                        status,
                    });
                }
                Event::ClientClosing { .. } => out.push(Step::Close { conn: conn.clone() }),
                Event::Closed { .. } => {
                    if e.extra.get("server_initiated") == Some(&Value::Bool(true)) {
                        let code = e
                            .extra
                            .get("close_frame_received")
                            .and_then(|c| c.get("code"))
                            .and_then(Value::as_u64)
                            .unwrap_or(1005);
                        let code = u16_field(code, "close code", line)?;
                        let within = if idle_conns.contains(&conn) {
                            None
                        } else {
                            within
                        };
                        out.push(Step::ExpectClosed {
                            conn: conn.clone(),
                            code,
                            within,
                        });
                    }
                }
                Event::CtlTriggered { cmd } => {
                    let result = entries[i + 1..].iter().find_map(|n| match n.as_event() {
                        Some(Event::CtlResult { cmd: c, value, .. }) if c == cmd => {
                            Some(value.unwrap_or_default())
                        }
                        _ => None,
                    });
                    let step = ctl_step(&cmd, result.as_deref()).ok_or_else(|| {
                        ReplayError::UnknownCtl {
                            line,
                            text: e.frame.clone(),
                        }
                    })?;
                    out.push(step);
                }
                // Consumed by the connect/ctl lines above, or nothing to do.
                Event::HttpStatus { .. }
                | Event::CtlResult { .. }
                | Event::NotSent(_)
                | Event::ScenarioEnd
                | Event::Tolerated(_) => {}
                Event::Note(_) if e.extra_u64("http_status").is_some() => {}
                other @ (Event::Note(_) | Event::ScenarioStart(_) | Event::Dropped) => {
                    out.push(Step::Note(other.to_string()))
                }
            },
        }
        if let (None | Some(Event::Connect { .. }), Some(t)) = (e.as_event(), e.t_ms) {
            prev_t.insert(conn, t);
        }
    }
    Ok(leave_join_races(out))
}

/// `(join_ref, ref, topic, event)` of a V2 array frame that is sent as text.
fn sent_refs(step: &Step) -> Option<(&str, Value, Value, String, String)> {
    let Step::Send {
        conn,
        frame: Outgoing::Text(t),
    } = step
    else {
        return None;
    };
    let v: Value = serde_json::from_str(t).ok()?;
    let a = v.as_array()?;
    Some((
        conn.as_str(),
        a.first()?.clone(),
        a.get(1)?.clone(),
        a.get(2)?.as_str()?.to_owned(),
        a.get(3)?.as_str()?.to_owned(),
    ))
}

/// Replaces the recorded answers to each pipelined leave + join with one
/// [`Step::ExpectLeaveJoin`].
fn leave_join_races(steps: Vec<Step>) -> Vec<Step> {
    use super::matcher::race::Frame;
    let mut out: Vec<Step> = Vec::with_capacity(steps.len());
    let mut i = 0;
    while i < steps.len() {
        let pair = match (sent_refs(&steps[i]), steps.get(i + 1).and_then(sent_refs)) {
            (Some(l), Some(j))
                if l.0 == j.0 && l.4 == "phx_leave" && j.4 == "phx_join" && l.3 == j.3 =>
            {
                Some((l, j))
            }
            _ => None,
        };
        let Some(((conn, old_jr, leave_ref, topic, _), (_, _, join_ref, _, _))) = pair else {
            out.push(steps[i].clone());
            i += 1;
            continue;
        };
        let conn = conn.to_owned();
        // The recorded answers: the next expectations on this connection that are J, R or C.
        let classify = |s: &Step| -> Option<Frame> {
            let Step::Expect {
                conn: c,
                frame: Expected::Json(Value::Array(a)),
                ..
            } = s
            else {
                return None;
            };
            if *c != conn || a.get(2).and_then(Value::as_str) != Some(topic.as_str()) {
                return None;
            }
            match a.get(3).and_then(Value::as_str) {
                Some("phx_reply") if a.get(1) == Some(&join_ref) => Some(Frame::J),
                Some("phx_reply") if a.get(1) == Some(&leave_ref) => Some(Frame::R),
                Some("phx_close") => Some(Frame::C),
                _ => None,
            }
        };
        let mut found: Vec<(usize, Frame)> = Vec::new();
        let mut k = i + 2;
        while k < steps.len() && found.len() < 3 {
            match (&steps[k], classify(&steps[k])) {
                (_, Some(f)) if !found.iter().any(|(_, g)| *g == f) => found.push((k, f)),
                (Step::Expect { conn: c, .. }, _) if *c == conn => break,
                _ => {}
            }
            k += 1;
        }
        let get = |f: Frame| found.iter().find(|(_, g)| *g == f).map(|(k, _)| *k);
        let (Some(jk), Some(ck)) = (get(Frame::J), get(Frame::C)) else {
            out.push(steps[i].clone());
            i += 1;
            continue;
        };
        let frame_of = |k: usize| match &steps[k] {
            Step::Expect { frame, .. } => frame.clone(),
            _ => Expected::Json(Value::Null),
        };
        let within = match &steps[jk] {
            Step::Expect { within, .. } => *within,
            _ => None,
        };
        let leave = match get(Frame::R) {
            Some(rk) => frame_of(rk),
            // Recorded as J C: the leave had no reply; this is what it would have been.
            None => Expected::Json(serde_json::json!([
                old_jr,
                leave_ref,
                topic,
                "phx_reply",
                {"response": {}, "status": "ok"}
            ])),
        };
        let race = Step::ExpectLeaveJoin {
            conn: conn.clone(),
            join: frame_of(jk),
            leave,
            close: frame_of(ck),
            recorded: found.iter().map(|(_, f)| *f).collect(),
            within,
        };
        let taken: Vec<usize> = found.iter().map(|(k, _)| *k).collect();
        out.push(steps[i].clone());
        out.push(steps[i + 1].clone());
        out.push(race);
        for (k, s) in steps
            .iter()
            .enumerate()
            .take(found.last().map_or(i + 2, |(k, _)| k + 1))
            .skip(i + 2)
        {
            if !taken.contains(&k) {
                out.push(s.clone());
            }
        }
        i = found.last().map_or(i + 2, |(k, _)| k + 1);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_out_of_range_status_is_malformed_not_truncated() {
        // 65637 would have wrapped to 101 and replayed as a successful upgrade.
        let t = Transcript::parse(
            r#"{"t_ms":0,"dir":"event","frame":"connect ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0","conn":"c1"}
{"t_ms":1,"dir":"event","frame":"http status on upgrade","conn":"c1","http_status":65637}"#,
            "test",
        )
        .expect("parses");
        let err = steps(&t).expect_err("out of range");
        assert!(err.to_string().contains("http_status 65637"), "{err}");
    }

    #[test]
    fn a_pipelined_leave_and_join_expects_the_race_not_the_recorded_order() {
        use crate::transcript::matcher::race::Frame;
        let line = |dir: &str, frame: &str| {
            format!(
                r#"{{"t_ms":0,"dir":"{dir}","frame":{},"conn":"c1"}}"#,
                Value::String(frame.into())
            )
        };
        let jsonl = [
            r#"{"t_ms":0,"dir":"event","frame":"connect /socket?vsn=2.0.0","conn":"c1"}"#
                .to_owned(),
            line("send", r#"["1","1","ping","phx_join",{}]"#),
            line(
                "recv",
                r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            ),
            line("send", r#"["1","2","ping","phx_leave",{}]"#),
            line("send", r#"["3","3","ping","phx_join",{}]"#),
            line(
                "recv",
                r#"["3","3","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            ),
            line(
                "recv",
                r#"["1","2","ping","phx_reply",{"response":{},"status":"ok"}]"#,
            ),
            line("recv", r#"["1","1","ping","phx_close",{}]"#),
            line("send", r#"["3","4","ping","ping",{}]"#),
        ]
        .join("\n");
        let steps = steps(&Transcript::parse(&jsonl, "test").expect("parses")).expect("steps");
        let races: Vec<_> = steps
            .iter()
            .filter_map(|s| match s {
                Step::ExpectLeaveJoin { recorded, .. } => Some(recorded.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(races, vec![vec![Frame::J, Frame::R, Frame::C]]);
        // The three recorded expectations are folded into it; the first join's reply and the
        // later push stay as they were.
        let expects = steps
            .iter()
            .filter(|s| matches!(s, Step::Expect { .. }))
            .count();
        assert_eq!(expects, 1);
        assert!(matches!(steps.last(), Some(Step::Send { .. })));
    }

    #[test]
    fn covered_runs_become_unordered_groups_and_other_steps_end_them() {
        let line = |dir: &str, conn: &str, frame: &str| {
            format!(
                r#"{{"dir":"{dir}","frame":{},"conn":"{conn}"}}"#,
                Value::String(frame.into())
            )
        };
        let diff = r#"[null,null,"room:1","presence_diff",{"joins":{},"leaves":{}}]"#;
        let state = r#"["1",null,"room:1","presence_state",{}]"#;
        let reply = r#"["1","1","room:1","phx_reply",{"response":{},"status":"ok"}]"#;
        let jsonl = [
            line("send", "c1", r#"["1","1","room:1","phx_join",{}]"#),
            line("recv", "c1", reply),
            line("recv", "c1", diff),
            line("recv", "c2", diff),
            line("recv", "c1", state),
            line("send", "c1", r#"["1","2","room:1","x",{}]"#),
            line("recv", "c1", diff),
            line("recv", "c1", state),
        ]
        .join("\n");
        let t = Transcript::parse(&jsonl, "test").expect("parses");
        let kinds = |steps: &[Step]| -> Vec<String> {
            steps
                .iter()
                .map(|s| match s {
                    Step::Send { conn, .. } => format!("send {conn}"),
                    Step::Expect { conn, .. } => format!("expect {conn}"),
                    Step::ExpectUnordered { conn, frames, .. } => {
                        format!("unordered {conn} {}", frames.len())
                    }
                    other => format!("{other:?}"),
                })
                .collect()
        };
        // Defaults: the own diff and state (c2's diff in between does not break the run; it is
        // kept after the group); the send ends the first run.
        let got = kinds(&steps(&t).expect("steps"));
        assert_eq!(
            got,
            [
                "send c1",
                "expect c1",
                "unordered c1 2",
                "expect c2",
                "send c1",
                "unordered c1 2"
            ]
        );
        let strict = ReplayOptions {
            default_unordered: false,
            ..ReplayOptions::default()
        };
        let got = kinds(&steps_with(&t, &strict).expect("steps"));
        assert_eq!(got.iter().filter(|k| k.starts_with("unordered")).count(), 0);
        // A rule for another topic changes nothing; one for this topic groups the reply too.
        let other = ReplayOptions {
            default_unordered: false,
            unordered: vec![
                Unordered::parse("room:*:phx_reply,presence_diff,presence_state").expect("rule"),
            ],
            ..ReplayOptions::default()
        };
        let got = kinds(&steps_with(&t, &other).expect("steps"));
        assert_eq!(got[1], "unordered c1 3");
    }

    #[test]
    fn replay_redactions_turn_recorded_values_into_placeholders() {
        let jsonl =
            r#"{"dir":"recv","frame":"[null,null,\"p\",\"e\",{\"at\":\"17\"}]","conn":"c1"}"#;
        let t = Transcript::parse(jsonl, "test").expect("parses");
        let opts = ReplayOptions {
            redactions: vec![Redaction::parse("$..at").expect("rule")],
            ..ReplayOptions::default()
        };
        let s = steps_with(&t, &opts).expect("steps");
        assert_eq!(
            s,
            vec![Step::Expect {
                conn: "c1".into(),
                frame: Expected::Json(
                    serde_json::json!([null, null, "p", "e", {"at": "[any:string]"}])
                ),
                within: Some(SLACK),
            }]
        );
    }

    #[test]
    fn ctl_lines_become_triggers() {
        let s = ctl_step(
            r#"eval HelloSocketsWeb.Endpoint.broadcast("ping", "bin", {:binary, <<1, 2, 3>>})"#,
            None,
        );
        assert_eq!(
            s,
            Some(Step::Trigger(Action::Broadcast {
                node: Node::A,
                topic: "ping".into(),
                event: "bin".into(),
                payload: phx_protocol::Payload::binary(vec![1u8, 2, 3]),
            }))
        );
        let s = ctl_step(
            r#"eval HelloSocketsWeb.Endpoint.broadcast("ping", "plain_event", %{"n" => 1}) remote"#,
            None,
        );
        assert!(matches!(
            s,
            Some(Step::Trigger(Action::Broadcast { node: Node::B, .. }))
        ));
        let s = ctl_step(
            r#"eval Phoenix.Token.sign(HelloSocketsWeb.Endpoint, "salt identifier", 1, signed_at: System.system_time(:second) - 90_000)"#,
            Some("\"SFMyNTY.x.y\""),
        );
        assert_eq!(
            s,
            Some(Step::Sign {
                var: "SFMyNTY.x.y".into(),
                request: SignRequest {
                    salt: "salt identifier".into(),
                    data: 1,
                    age_offset_s: -90_000
                },
            })
        );
        assert_eq!(
            ctl_step("sign 1 invalid", Some("SFMyNTY.a.b"))
                .map(|s| matches!(s, Step::Sign { request, .. } if request.salt == "invalid")),
            Some(true)
        );
        assert_eq!(ctl_step("frobnicate", None), None);
    }

    #[test]
    fn eval_lines_name_the_apps_own_endpoint_module() {
        let s = ctl_step(
            r#"eval RoomsWeb.Endpoint.broadcast("room:lobby", "new_msg", %{"body" => "hi"})"#,
            None,
        );
        assert_eq!(
            s,
            Some(Step::Trigger(Action::Broadcast {
                node: Node::A,
                topic: "room:lobby".into(),
                event: "new_msg".into(),
                payload: serde_json::json!({"body": "hi"}).into(),
            }))
        );
        let s = ctl_step(
            r#"eval Phoenix.Token.sign(MyAppWeb.Endpoint, "user socket", 7)"#,
            None,
        );
        assert!(
            matches!(&s, Some(Step::Sign { request, .. }) if request.salt == "user socket" && request.data == 7),
            "{s:?}"
        );
        // Not a module alias: not a trigger.
        assert_eq!(
            ctl_step(r#"eval my_endpoint.broadcast("t", "e", %{})"#, None),
            None
        );
        assert_eq!(
            ctl_step(r#"eval Phoenix.Token.sign(endpoint, "s", 1)"#, None),
            None
        );
    }

    #[test]
    fn rendered_ctl_lines_parse_back() {
        let actions = [
            Action::Broadcast {
                node: Node::B,
                topic: "ping".into(),
                event: "plain_event".into(),
                payload: serde_json::json!({"n": 1, "m": {"x": null}}).into(),
            },
            Action::Broadcast {
                node: Node::A,
                topic: "ping".into(),
                event: "bin".into(),
                payload: phx_protocol::Payload::binary(vec![0u8, 255]),
            },
            Action::Dedupe {
                numbers: vec![1, 2, 3],
                times: 100,
            },
            Action::Disconnect {
                socket_id: "auth_socket:1".into(),
            },
        ];
        for a in actions {
            assert_eq!(
                ctl_step(&render_action(&a), None),
                Some(Step::Trigger(a.clone())),
                "{a:?}"
            );
        }
        for request in [
            SignRequest {
                salt: "salt identifier".into(),
                data: 1,
                age_offset_s: 0,
            },
            SignRequest {
                salt: "invalid".into(),
                data: 1,
                age_offset_s: 0,
            },
            SignRequest {
                salt: "salt identifier".into(),
                data: 7,
                age_offset_s: -90_000,
            },
        ] {
            let got = ctl_step(&render_sign(&request), Some("SFMyNTY.t.t"));
            assert_eq!(
                got,
                Some(Step::Sign {
                    var: "SFMyNTY.t.t".into(),
                    request
                })
            );
        }
    }
}
