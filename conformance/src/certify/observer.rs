//! What the server side saw: every connection attempt, handshake and Phoenix message that
//! crossed the fault proxy, plus the `echo_reply`s the certification channel received, each
//! with its time since the case started. The checks read this log only; the client under test
//! needs no adapter beyond the contract.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Notify;

/// A Phoenix message as it crossed the proxy (V1 object or V2 array JSON).
#[derive(Debug, Clone, PartialEq)]
pub struct Msg {
    /// The join_ref (null for heartbeats and fastlane broadcasts).
    pub join_ref: Option<String>,
    /// The message ref.
    pub msg_ref: Option<String>,
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Value,
}

fn ref_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Msg {
    /// Parses a text frame in either serializer's shape.
    pub fn parse(text: &str) -> Option<Msg> {
        match serde_json::from_str::<Value>(text).ok()? {
            Value::Array(a) if a.len() == 5 => Some(Msg {
                join_ref: ref_of(&a[0]),
                msg_ref: ref_of(&a[1]),
                topic: a[2].as_str()?.to_string(),
                event: a[3].as_str()?.to_string(),
                payload: a[4].clone(),
            }),
            Value::Object(o) => Some(Msg {
                join_ref: o.get("join_ref").and_then(ref_of),
                msg_ref: o.get("ref").and_then(ref_of),
                topic: o.get("topic")?.as_str()?.to_string(),
                event: o.get("event")?.as_str()?.to_string(),
                payload: o.get("payload").cloned().unwrap_or(Value::Null),
            }),
            _ => None,
        }
    }

    /// Encodes for the client: V2 array when `v2`, else the V1 object.
    pub fn encode(&self, v2: bool) -> String {
        let r = |o: &Option<String>| o.clone().map(Value::String).unwrap_or(Value::Null);
        let v = if v2 {
            Value::Array(vec![
                r(&self.join_ref),
                r(&self.msg_ref),
                Value::String(self.topic.clone()),
                Value::String(self.event.clone()),
                self.payload.clone(),
            ])
        } else {
            serde_json::json!({"join_ref": r(&self.join_ref), "ref": r(&self.msg_ref),
                "topic": self.topic, "event": self.event, "payload": self.payload})
        };
        v.to_string()
    }

    /// A `phx_reply`'s status, if this is one.
    pub fn reply_status(&self) -> Option<&str> {
        (self.event == "phx_reply")
            .then(|| self.payload.get("status").and_then(Value::as_str))
            .flatten()
    }

    /// One line for reports.
    pub fn short(&self) -> String {
        self.encode(true)
    }
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Client to server.
    In,
    /// Server to client.
    Out,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Ev {
    /// A TCP connection reached the proxy and was forwarded.
    Accepted(u64),
    /// A TCP connection reached the proxy while it refuses connections: reset at once.
    Refused(u64),
    /// The proxy could not reach the server (down or restarting): the client was reset.
    UpstreamDown(u64),
    /// The server answered the HTTP upgrade with this status (101, 403, …).
    Handshake(u64, u16),
    /// A Phoenix message crossed (or was dropped or injected, see `note`).
    Frame {
        /// The connection.
        conn: u64,
        /// Which way.
        dir: Dir,
        /// The message.
        msg: Msg,
        /// "dropped by the proxy", "injected by the proxy", or empty.
        note: &'static str,
    },
    /// A WebSocket close frame with this code crossed.
    CloseFrame(u64, Dir, Option<u16>),
    /// The connection is gone (either side closed it, or a fault cut it).
    Closed(u64, &'static str),
    /// The certification channel received an `echo_reply` (topic, payload).
    Delivered(String, Value),
    /// The certification driver did something (a fault, a restore, an echo).
    Marker(String),
}

/// An event and when it happened.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Since the observer started.
    pub at: Duration,
    /// What.
    pub ev: Ev,
}

impl Entry {
    /// One line for reports.
    pub fn line(&self) -> String {
        let t = format!("{:>7.3}s", self.at.as_secs_f64());
        match &self.ev {
            Ev::Accepted(c) => format!("{t} conn {c} tcp accepted"),
            Ev::Refused(c) => format!("{t} conn {c} tcp refused (reset by the proxy)"),
            Ev::UpstreamDown(c) => format!("{t} conn {c} server unreachable: client reset"),
            Ev::Handshake(c, s) => format!("{t} conn {c} upgrade answered HTTP {s}"),
            Ev::Frame {
                conn,
                dir,
                msg,
                note,
            } => {
                let arrow = if *dir == Dir::In { "->" } else { "<-" };
                let note = if note.is_empty() {
                    String::new()
                } else {
                    format!("  ({note})")
                };
                format!("{t} conn {conn} {arrow} {}{note}", msg.short())
            }
            Ev::CloseFrame(c, d, code) => {
                let arrow = if *d == Dir::In { "->" } else { "<-" };
                format!("{t} conn {c} {arrow} close frame {code:?}")
            }
            Ev::Closed(c, why) => format!("{t} conn {c} closed: {why}"),
            Ev::Delivered(topic, p) => format!("{t} server got echo_reply on {topic}: {p}"),
            Ev::Marker(m) => format!("{t} == {m}"),
        }
    }
}

/// The shared, append-only event log of one case.
#[derive(Clone)]
pub struct Observer {
    inner: Arc<Shared>,
}

struct Shared {
    start: Instant,
    log: Mutex<Vec<Entry>>,
    changed: Notify,
}

impl Default for Observer {
    fn default() -> Self {
        Self::new()
    }
}

impl Observer {
    /// An empty log starting now.
    pub fn new() -> Self {
        Observer {
            inner: Arc::new(Shared {
                start: Instant::now(),
                log: Mutex::new(Vec::new()),
                changed: Notify::new(),
            }),
        }
    }

    /// Time since the log started.
    pub fn now(&self) -> Duration {
        self.inner.start.elapsed()
    }

    /// Appends an event.
    pub fn record(&self, ev: Ev) {
        let at = self.now();
        if let Ok(mut log) = self.inner.log.lock() {
            log.push(Entry { at, ev });
        }
        self.inner.changed.notify_waiters();
    }

    /// A marker line (fault injected, restored, …); returns its time.
    pub fn mark(&self, what: impl Into<String>) -> Duration {
        let at = self.now();
        self.record(Ev::Marker(what.into()));
        at
    }

    /// A copy of the log.
    pub fn snapshot(&self) -> Vec<Entry> {
        self.inner.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// Waits until `f` over the log returns `Some`, at most `limit`.
    pub async fn wait_for<T>(
        &self,
        limit: Duration,
        mut f: impl FnMut(&[Entry]) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(v) = f(&self.snapshot()) {
                return Some(v);
            }
            // Re-check at least every 100 ms, for conditions that turn on time alone.
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return f(&self.snapshot());
            }
            let tick = (deadline - now).min(Duration::from_millis(100));
            let _ = tokio::time::timeout(tick, notified).await;
        }
    }
}

/// One join attempt on one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinAttempt {
    /// The topic.
    pub topic: String,
    /// Its join_ref (the join's own ref when the client sent no join_ref, as V1 does).
    pub join_ref: String,
    /// When the client sent it.
    pub sent: Duration,
    /// When the server answered, and whether with ok.
    pub answer: Option<(Duration, bool)>,
}

/// One connection as the server side saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConnView {
    /// The proxy's connection number.
    pub id: u64,
    /// When it was accepted.
    pub accepted: Duration,
    /// The upgrade status and its time.
    pub handshake: Option<(u16, Duration)>,
    /// When it went away.
    pub closed: Option<Duration>,
    /// Every phx_join, in order.
    pub joins: Vec<JoinAttempt>,
    /// When each heartbeat arrived.
    pub heartbeats: Vec<Duration>,
    /// (topic, time) of every phx_close / phx_error the server sent, and every phx_leave.
    pub ends: Vec<(String, Duration)>,
}

impl ConnView {
    /// True when the upgrade succeeded.
    pub fn upgraded(&self) -> bool {
        matches!(self.handshake, Some((101, _)))
    }

    /// When every topic in `topics` had an ok join on this connection (the last of them).
    pub fn all_joined(&self, topics: &[String]) -> Option<Duration> {
        let mut latest = Duration::ZERO;
        for t in topics {
            let first_ok = self
                .joins
                .iter()
                .filter(|j| &j.topic == t)
                .find_map(|j| j.answer.filter(|(_, ok)| *ok).map(|(at, _)| at))?;
            latest = latest.max(first_ok);
        }
        Some(latest)
    }

    /// Ok joins of `topic` answered after `after`.
    pub fn ok_joins_after<'a>(
        &'a self,
        topic: &'a str,
        after: Duration,
    ) -> impl Iterator<Item = &'a JoinAttempt> + 'a {
        self.joins
            .iter()
            .filter(move |j| j.topic == topic && j.answer.is_some_and(|(at, ok)| ok && at >= after))
    }
}

/// Every connection in the log, in order of arrival (refused ones included).
pub fn connections(log: &[Entry]) -> Vec<ConnView> {
    let mut conns: Vec<ConnView> = Vec::new();
    let find = |conns: &mut Vec<ConnView>, id: u64| conns.iter().position(|c| c.id == id);
    for e in log {
        match &e.ev {
            Ev::Accepted(id) | Ev::Refused(id) | Ev::UpstreamDown(id) => {
                if find(&mut conns, *id).is_none() {
                    conns.push(ConnView {
                        id: *id,
                        accepted: e.at,
                        ..Default::default()
                    });
                }
                if !matches!(e.ev, Ev::Accepted(_)) {
                    if let Some(i) = find(&mut conns, *id) {
                        conns[i].closed = Some(e.at);
                    }
                }
            }
            Ev::Handshake(id, status) => {
                if let Some(i) = find(&mut conns, *id) {
                    conns[i].handshake = Some((*status, e.at));
                }
            }
            Ev::Closed(id, _) => {
                if let Some(i) = find(&mut conns, *id) {
                    conns[i].closed.get_or_insert(e.at);
                }
            }
            Ev::Frame {
                conn,
                dir,
                msg,
                note,
            } => {
                let Some(i) = find(&mut conns, *conn) else {
                    continue;
                };
                let c = &mut conns[i];
                match dir {
                    Dir::In if *note == "dropped by the proxy" => {}
                    Dir::In => match msg.event.as_str() {
                        "phx_join" => c.joins.push(JoinAttempt {
                            topic: msg.topic.clone(),
                            join_ref: msg
                                .join_ref
                                .clone()
                                .or_else(|| msg.msg_ref.clone())
                                .unwrap_or_default(),
                            sent: e.at,
                            answer: None,
                        }),
                        "heartbeat" if msg.topic == "phoenix" => c.heartbeats.push(e.at),
                        "phx_leave" => c.ends.push((msg.topic.clone(), e.at)),
                        _ => {}
                    },
                    // A phx_close the proxy swallowed still ended the channel on the server.
                    Dir::Out if *note == "dropped by the proxy" && msg.event != "phx_close" => {}
                    Dir::Out => {
                        if let Some(status) = msg.reply_status() {
                            let ok = status == "ok";
                            if let Some(j) = c.joins.iter_mut().rev().find(|j| {
                                j.topic == msg.topic
                                    && j.answer.is_none()
                                    && msg.msg_ref.as_deref() == Some(j.join_ref.as_str())
                            }) {
                                j.answer = Some((e.at, ok));
                            }
                        } else if msg.event == "phx_close" || msg.event == "phx_error" {
                            c.ends.push((msg.topic.clone(), e.at));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    conns
}

/// Duplicate joins: a phx_join of a topic on a connection where that topic is already joined
/// or still joining, with no leave/close/error in between. One line per duplicate.
pub fn duplicate_joins(conns: &[ConnView]) -> Vec<String> {
    let mut out = Vec::new();
    for c in conns {
        for (i, j) in c.joins.iter().enumerate() {
            let Some(prev) = c.joins[..i].iter().rev().find(|p| p.topic == j.topic) else {
                continue;
            };
            let prev_live = match prev.answer {
                None => true,
                Some((at, ok)) => ok && at <= j.sent,
            };
            let ended_between = c
                .ends
                .iter()
                .any(|(t, at)| *t == j.topic && *at >= prev.sent && *at <= j.sent);
            if prev_live && !ended_between {
                out.push(format!(
                    "conn {}: {} joined again at {:.3}s (join_ref {}) while join_ref {} was {}",
                    c.id,
                    j.topic,
                    j.sent.as_secs_f64(),
                    j.join_ref,
                    prev.join_ref,
                    if prev.answer.is_some() {
                        "joined"
                    } else {
                        "still joining"
                    }
                ));
            }
        }
    }
    out
}

/// join_refs reused for a topic across the whole case (a rejoin must use a fresh one).
pub fn reused_join_refs(conns: &[ConnView]) -> Vec<String> {
    let mut seen: Vec<(&str, &str, u64)> = Vec::new();
    let mut out = Vec::new();
    for c in conns {
        for j in &c.joins {
            if let Some((_, _, first)) = seen
                .iter()
                .find(|(t, r, _)| *t == j.topic && *r == j.join_ref)
            {
                out.push(format!(
                    "{} rejoined on conn {} with join_ref {} already used on conn {first}",
                    j.topic, c.id, j.join_ref
                ));
            } else {
                seen.push((&j.topic, &j.join_ref, c.id));
            }
        }
    }
    out
}

/// Heartbeat gaps outside `[interval/2, interval*3/2 + slack]` on any connection, as lines.
/// The first heartbeat of a connection is measured from its upgrade.
pub fn heartbeat_cadence_faults(conns: &[ConnView], interval: Duration) -> Vec<String> {
    let slack = Duration::from_millis(150);
    let (lo, hi) = (interval / 2, interval * 3 / 2 + slack);
    let mut out = Vec::new();
    for c in conns.iter().filter(|c| c.upgraded()) {
        for w in c.heartbeats.windows(2) {
            let gap = w[1] - w[0];
            if gap < lo || gap > hi {
                out.push(format!(
                    "conn {}: heartbeat gap {} ms at {:.3}s (asked for {} ms)",
                    c.id,
                    gap.as_millis(),
                    w[1].as_secs_f64(),
                    interval.as_millis()
                ));
            }
        }
    }
    out
}

/// Connection attempts at or after `from` (refused, reset and accepted alike).
pub fn attempts_since(conns: &[ConnView], from: Duration) -> Vec<Duration> {
    conns
        .iter()
        .map(|c| c.accepted)
        .filter(|a| *a >= from)
        .collect()
}

/// The reconnect schedule: a storm (more than `max_per_s` attempts within one second) or no
/// backing off (with at least four attempts, the last gap is under 1.5 times the first).
pub fn backoff_faults(attempts: &[Duration], max_per_s: usize) -> Vec<String> {
    let mut out = Vec::new();
    for (i, a) in attempts.iter().enumerate() {
        let n = attempts[i..]
            .iter()
            .take_while(|b| **b < *a + Duration::from_secs(1))
            .count();
        if n > max_per_s {
            out.push(format!(
                "reconnect storm: {n} connection attempts within 1 s from {:.3}s",
                a.as_secs_f64()
            ));
            break;
        }
    }
    let gaps: Vec<Duration> = attempts.windows(2).map(|w| w[1] - w[0]).collect();
    if gaps.len() >= 3 {
        let (first, last) = (gaps[0], gaps[gaps.len() - 1]);
        if last < first * 3 / 2 {
            out.push(format!(
                "no back-off: gaps between attempts {:?} ms (the last is not 1.5 times the first)",
                gaps.iter().map(|g| g.as_millis()).collect::<Vec<_>>()
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn frame(at: u64, conn: u64, dir: Dir, text: &str) -> Entry {
        Entry {
            at: ms(at),
            ev: Ev::Frame {
                conn,
                dir,
                msg: Msg::parse(text).expect("valid"),
                note: "",
            },
        }
    }

    fn join_log(second_join_ref: &str) -> Vec<Entry> {
        vec![
            Entry {
                at: ms(0),
                ev: Ev::Accepted(1),
            },
            Entry {
                at: ms(1),
                ev: Ev::Handshake(1, 101),
            },
            frame(2, 1, Dir::In, r#"["1","1","t","phx_join",{}]"#),
            frame(
                3,
                1,
                Dir::Out,
                r#"["1","1","t","phx_reply",{"status":"ok","response":{}}]"#,
            ),
            frame(
                10,
                1,
                Dir::In,
                &format!(r#"["{second_join_ref}","{second_join_ref}","t","phx_join",{{}}]"#),
            ),
        ]
    }

    #[test]
    fn parses_both_shapes_and_encodes_back() {
        let v2 = Msg::parse(r#"["1","2","room","echo",{"a":1}]"#).expect("v2");
        assert_eq!(v2.join_ref.as_deref(), Some("1"));
        assert_eq!(Msg::parse(&v2.encode(true)), Some(v2.clone()));
        let v1 = Msg::parse(&v2.encode(false)).expect("v1");
        assert_eq!(v1, v2);
        assert_eq!(Msg::parse("[1,2]"), None);
    }

    #[test]
    fn a_second_join_on_the_same_connection_is_a_duplicate() {
        let conns = connections(&join_log("5"));
        assert_eq!(conns[0].all_joined(&["t".into()]), Some(ms(3)));
        assert_eq!(duplicate_joins(&conns).len(), 1);
        assert!(reused_join_refs(&conns).is_empty());
        let conns = connections(&join_log("1"));
        assert_eq!(reused_join_refs(&conns).len(), 1);
    }

    #[test]
    fn a_join_after_phx_error_is_not_a_duplicate() {
        let mut log = join_log("5");
        log.insert(4, frame(5, 1, Dir::Out, r#"["1","1","t","phx_error",{}]"#));
        assert!(duplicate_joins(&connections(&log)).is_empty());
    }

    #[test]
    fn cadence_and_backoff() {
        let mut c = ConnView {
            handshake: Some((101, ms(0))),
            heartbeats: vec![ms(100), ms(200), ms(300)],
            ..Default::default()
        };
        assert!(heartbeat_cadence_faults(&[c.clone()], ms(100)).is_empty());
        c.heartbeats.push(ms(900));
        assert_eq!(heartbeat_cadence_faults(&[c], ms(100)).len(), 1);
        let phoenix_js: Vec<Duration> = [0, 10, 60, 160, 310, 510].map(ms).to_vec();
        assert!(backoff_faults(&phoenix_js, 12).is_empty());
        let fixed: Vec<Duration> = (0..6).map(|i| ms(i * 100)).collect();
        assert_eq!(backoff_faults(&fixed, 12).len(), 1);
        let storm: Vec<Duration> = (0..30).map(|i| ms(i * 10)).collect();
        assert!(backoff_faults(&storm, 12)[0].contains("storm"));
    }
}
