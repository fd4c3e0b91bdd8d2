//! The certification cases and how each one is driven: a fresh embedded server, fault proxy
//! and client process per case (so one broken case cannot poison the next), a healthy
//! baseline, the fault, then the checks over what the server side saw.

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

use super::app::{Control, Server};
use super::observer::{self, ConnView, Dir, Entry, Ev, Msg, Observer};
use super::proxy::{Fault, Proxy};
use super::{CaseResult, Check, Settings, SpawnError, Verdict};

/// The cases, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseId {
    /// TCP reset.
    TcpReset,
    /// TCP FIN.
    TcpClose,
    /// Black hole.
    BlackHole,
    /// New connections refused for a while.
    RefuseConnections,
    /// Added latency.
    Latency,
    /// Only the server side cut.
    ServerSideCut,
    /// Server restarted on the same port.
    ServerRestart,
    /// Disconnect by socket id.
    DisconnectSocketId,
    /// phx_error.
    ChannelCrash,
    /// phx_close from the server.
    ServerPhxClose,
    /// Heartbeat replies dropped.
    HeartbeatUnanswered,
    /// An `unmatched topic` reply.
    UnmatchedTopic,
    /// Join refused, then accepted.
    JoinRefused,
    /// Connect refused with 403, then accepted.
    Connect403,
}

/// A case's name and what it does, for `--list` and reports.
#[derive(Debug, Clone, Copy)]
pub struct CaseInfo {
    /// Which case.
    pub id: CaseId,
    /// The `--case` name.
    pub name: &'static str,
    /// The fault.
    pub fault: &'static str,
    /// What a correct client does.
    pub expect: &'static str,
    /// The client can only notice this fault by its heartbeat (skipped when the client does
    /// not heartbeat at the interval it was asked for).
    pub needs_heartbeat: bool,
}

/// Every case.
pub fn all() -> &'static [CaseInfo] {
    use CaseId::*;
    const ALL: &[CaseInfo] = &[
        CaseInfo { id: TcpReset, name: "tcp_reset", fault: "the proxy resets both TCP connections (RST, SO_LINGER 0)", expect: "reconnect, rejoin every topic with a fresh join_ref", needs_heartbeat: false },
        CaseInfo { id: TcpClose, name: "tcp_close", fault: "the proxy closes both TCP connections (FIN)", expect: "reconnect, rejoin every topic", needs_heartbeat: false },
        CaseInfo { id: BlackHole, name: "black_hole", fault: "the connection stays open but nothing is forwarded either way", expect: "notice by heartbeat timeout, reconnect, rejoin", needs_heartbeat: true },
        CaseInfo { id: RefuseConnections, name: "refuse_connections", fault: "the connection is reset and new connections are refused for the outage (--outage-ms)", expect: "retry with a growing delay (no storm), then reconnect and rejoin", needs_heartbeat: false },
        CaseInfo { id: Latency, name: "latency", fault: "every byte is delayed by a fifth of the heartbeat interval each way (20-200 ms)", expect: "stay connected; echoes and heartbeats keep working", needs_heartbeat: false },
        CaseInfo { id: ServerSideCut, name: "server_side_cut", fault: "only the proxy-to-server connection is cut; the client's stays open and silent", expect: "notice by heartbeat timeout, reconnect, rejoin", needs_heartbeat: true },
        CaseInfo { id: ServerRestart, name: "server_restart", fault: "the server stops (close 1012) and starts again on the same port 500 ms later", expect: "reconnect to the new server, rejoin every topic (no already_joined)", needs_heartbeat: false },
        CaseInfo { id: DisconnectSocketId, name: "disconnect_socket_id", fault: "Endpoint.broadcast(socket_id, \"disconnect\", %{})", expect: "reconnect, rejoin every topic", needs_heartbeat: false },
        CaseInfo { id: ChannelCrash, name: "channel_crash", fault: "the first topic's channel crashes (phx_error); an echo that crossed the crash follows it", expect: "rejoin that channel with a fresh join_ref; answer the crossed echo once, after the rejoin", needs_heartbeat: false },
        CaseInfo { id: ServerPhxClose, name: "server_phx_close", fault: "the server stops the first topic's channel normally (phx_close)", expect: "do NOT rejoin it; the other topics keep working", needs_heartbeat: false },
        CaseInfo { id: HeartbeatUnanswered, name: "heartbeat_unanswered", fault: "the proxy drops the server's heartbeat replies", expect: "close the link after a missed reply, reconnect, rejoin", needs_heartbeat: true },
        CaseInfo { id: UnmatchedTopic, name: "unmatched_topic", fault: "the server forgets the first topic (its phx_close is swallowed); the client's echo_reply there gets an \"unmatched topic\" reply", expect: "stay connected (a rejoin of that topic is allowed); the other topics keep working", needs_heartbeat: false },
        CaseInfo { id: JoinRefused, name: "join_refused", fault: "the first join of every topic is refused ({:error, reason})", expect: "retry the join on the same socket until accepted, with a fresh join_ref", needs_heartbeat: false },
        CaseInfo { id: Connect403, name: "connect_403", fault: "the connection is reset and the next four connects are refused with HTTP 403", expect: "retry with a growing delay, then reconnect and rejoin", needs_heartbeat: false },
    ];
    ALL
}

/// Looks a case up by name.
pub fn find(name: &str) -> Option<&'static CaseInfo> {
    all().iter().find(|c| c.name == name)
}

/// A new socket with no phx_join for this long has given up on rejoining.
const QUIET: Duration = Duration::from_secs(2);

/// How a case's driving ended before the common checks.
enum Flow {
    Done,
    Skip(String),
    Abort,
}

/// The last lines the client printed (stdout and stderr), bounded.
#[derive(Clone, Default)]
struct Output(Arc<Mutex<VecDeque<String>>>);

impl Output {
    fn follow(&self, stream: impl AsyncRead + Unpin + Send + 'static, tag: &'static str) {
        let out = self.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(l)) = lines.next_line().await {
                if let Ok(mut o) = out.0.lock() {
                    if o.len() >= 40 {
                        o.pop_front();
                    }
                    o.push_back(format!(
                        "{tag}: {}",
                        l.chars().take(300).collect::<String>()
                    ));
                }
            }
        });
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|o| o.iter().cloned().collect())
            .unwrap_or_default()
    }
}

struct Harness<'a> {
    s: &'a Settings,
    obs: Observer,
    control: Control,
    server: Server,
    proxy: Proxy,
    child: Child,
    checks: Vec<Check>,
    timings: Vec<(String, u64)>,
    notes: Vec<String>,
    fault_at: Option<Duration>,
    echo_seq: u64,
    /// Echo payloads sent and expected exactly once.
    expected_echoes: Vec<(String, Value)>,
    /// Heartbeat cadence applies (the client heartbeats at the asked interval).
    heartbeat_ok: Option<bool>,
}

fn ms(d: Duration) -> u64 {
    d.as_millis() as u64
}

impl Harness<'_> {
    fn check(&mut self, name: &'static str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check {
            name,
            ok,
            detail: detail.into(),
        });
    }

    fn timing(&mut self, what: &str, d: Duration) {
        self.timings.push((what.to_string(), ms(d)));
    }

    fn conns(&self) -> Vec<ConnView> {
        observer::connections(&self.obs.snapshot())
    }

    async fn wait_heartbeats(&self, conn: u64, n: usize, limit: Duration) -> bool {
        self.obs
            .wait_for(limit, |log| {
                observer::connections(log)
                    .iter()
                    .find(|c| c.id == conn)
                    .filter(|c| c.heartbeats.len() >= n)
                    .map(|_| ())
            })
            .await
            .is_some()
    }

    /// An echo round-trip on each of `topics`; the slowest one, or what went wrong.
    async fn echo(&mut self, topics: &[String], limit: Duration) -> Result<Duration, String> {
        let mut slowest = Duration::ZERO;
        for topic in topics {
            self.echo_seq += 1;
            let payload = json!({"certify": format!("echo-{}", self.echo_seq), "topic": topic});
            let sent = self.obs.now();
            if !self.control.echo(topic, payload.clone()).await {
                return Err(format!("no live channel on {topic} to push echo to"));
            }
            self.expected_echoes.push((topic.clone(), payload.clone()));
            let (t, p) = (topic.clone(), payload.clone());
            let got = self
                .obs
                .wait_for(limit, |log| {
                    log.iter().find_map(|e| match &e.ev {
                        Ev::Delivered(tt, pp) if *tt == t && *pp == p => Some(e.at),
                        _ => None,
                    })
                })
                .await;
            match got {
                Some(at) => slowest = slowest.max(at.saturating_sub(sent)),
                None => {
                    return Err(format!(
                        "no echo_reply with {payload} on {topic} within {} ms",
                        ms(limit)
                    ))
                }
            }
        }
        Ok(slowest)
    }

    async fn echo_check(&mut self, name: &'static str, topics: &[String]) -> bool {
        let r = self.echo(topics, Duration::from_secs(3)).await;
        match r {
            Ok(rtt) => {
                self.check(
                    name,
                    true,
                    format!("{} topics, slowest {} ms", topics.len(), ms(rtt)),
                );
                self.timing("echo round-trip (slowest)", rtt);
                true
            }
            Err(e) => {
                self.check(name, false, e);
                false
            }
        }
    }

    fn mark_fault(&mut self, what: &str) -> Duration {
        let at = self.obs.mark(format!("fault: {what}"));
        self.fault_at = Some(at);
        at
    }

    /// After a connection-level fault: a new socket with every topic rejoined within `bound`
    /// of `restore`; then echo, heartbeat cadence on the new socket.
    async fn expect_recovery(
        &mut self,
        fault: Duration,
        restore: Duration,
        bound: Duration,
    ) -> Option<u64> {
        let wait = (restore + bound).saturating_sub(self.obs.now());
        let topics = self.s.topics.clone();
        let obs = self.obs.clone();
        // Ends early when a new socket has been open for QUIET with not a single phx_join: a
        // correct client rejoins as soon as the socket opens.
        let outcome = self
            .obs
            .wait_for(wait, |log| {
                let conns = observer::connections(log);
                let mut fresh = conns.iter().filter(|c| c.accepted >= fault && c.upgraded());
                if let Some(done) = fresh
                    .clone()
                    .find_map(|c| c.all_joined(&topics).map(|at| (c.id, at)))
                {
                    return Some(Some(done));
                }
                let silent = fresh.next_back().is_some_and(|c| {
                    c.joins.is_empty()
                        && c.closed.is_none()
                        && c.handshake.is_some_and(|(_, at)| at + QUIET <= obs.now())
                });
                silent.then_some(None)
            })
            .await
            .flatten();
        match outcome {
            Some((conn, at)) => {
                let took = at.saturating_sub(restore);
                self.timing("restore -> all topics rejoined", took);
                let within = took <= bound;
                self.check(
                    "rejoined",
                    within,
                    format!(
                        "new socket (conn {conn}) with all {} topics joined {} ms after the restore (bound {} ms)",
                        self.s.topics.len(),
                        ms(took),
                        ms(bound)
                    ),
                );
                if !self
                    .echo_check("echo after recovery", &self.s.topics.clone())
                    .await
                {
                    return Some(conn);
                }
                self.cadence_probe(conn).await;
                Some(conn)
            }
            None => {
                let conns = self.conns();
                let new: Vec<&ConnView> = conns.iter().filter(|c| c.accepted >= fault).collect();
                let why = match new.iter().rev().find(|c| c.upgraded()) {
                    None if new.is_empty() => "no new connection was attempted".to_string(),
                    None => format!("{} connection attempts, none upgraded", new.len()),
                    Some(c) => {
                        let joined: Vec<&str> = c
                            .joins
                            .iter()
                            .filter(|j| j.answer.is_some_and(|(_, ok)| ok))
                            .map(|j| j.topic.as_str())
                            .collect();
                        let missing: Vec<&String> = self
                            .s
                            .topics
                            .iter()
                            .filter(|t| !joined.contains(&t.as_str()))
                            .collect();
                        format!(
                            "reconnected (conn {}) but never rejoined {:?} (it sent {} phx_join)",
                            c.id,
                            missing,
                            c.joins.len()
                        )
                    }
                };
                self.check(
                    "rejoined",
                    false,
                    format!("not every topic rejoined on a new socket within {} ms of the restore (or {} ms of it opening): {why}", ms(bound), ms(QUIET)),
                );
                None
            }
        }
    }

    /// Waits for two heartbeats on `conn` so the cadence check has something to judge.
    async fn cadence_probe(&mut self, conn: u64) {
        let hb = self.s.heartbeat;
        let seen = self
            .wait_heartbeats(conn, 2, hb * 2 + hb / 2 + Duration::from_millis(400))
            .await;
        if self.heartbeat_ok.is_none() || !seen {
            self.heartbeat_ok = Some(seen);
        }
    }

    async fn drive(&mut self, case: &CaseInfo) -> Flow {
        let s = self.s;
        let hb = s.heartbeat;
        let topics = s.topics.clone();
        let first = topics[0].clone();
        // A refused join is retried on the rejoin schedule (phoenix.js: after 1 s).
        let ready_limit = if case.id == CaseId::JoinRefused {
            Duration::from_secs(6)
        } else {
            Duration::from_secs(10)
        };
        let obs = self.obs.clone();
        let wanted = topics.clone();
        let joined = obs.wait_for(ready_limit, move |log| {
            observer::connections(log)
                .iter()
                .filter(|c| c.upgraded())
                .find_map(|c| c.all_joined(&wanted).map(|at| (c.id, at)))
        });
        let child = &mut self.child;
        let exited = async {
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    return status;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        // A client that dies before joining ends the wait at once.
        let ready = tokio::select! {
            r = joined => r,
            status = exited => {
                self.obs.mark(format!("the client exited ({status})"));
                self.check("ready", false, format!("the client exited ({status}) before joining every topic"));
                return Flow::Abort;
            }
        };
        let Some((conn, ready_at)) = ready else {
            let conns = self.conns();
            let why = match conns.first() {
                None => "it never connected".to_string(),
                Some(c) if !c.upgraded() => {
                    format!("its connection was not upgraded ({:?})", c.handshake)
                }
                Some(c) => format!(
                    "it joined {:?}",
                    c.joins
                        .iter()
                        .map(|j| (&j.topic, j.answer.map(|(_, ok)| ok)))
                        .collect::<Vec<_>>()
                ),
            };
            let why = if case.id == CaseId::JoinRefused {
                format!("{why}; after a refused join it must retry")
            } else {
                why
            };
            self.check(
                "ready",
                false,
                format!(
                    "the client did not join every topic within {} ms: {why}",
                    ms(ready_limit)
                ),
            );
            return Flow::Abort;
        };
        self.timing("start -> all topics joined", ready_at);
        self.check(
            "ready",
            true,
            format!(
                "conn {conn} joined {} topics at {:.3}s",
                topics.len(),
                ready_at.as_secs_f64()
            ),
        );
        if case.id == CaseId::JoinRefused {
            return self.join_refused(conn).await;
        }
        if !self.echo_check("echo before the fault", &topics).await {
            return Flow::Abort;
        }
        if case.needs_heartbeat {
            let seen = self
                .wait_heartbeats(conn, 2, hb * 3 + Duration::from_secs(1))
                .await;
            self.heartbeat_ok = Some(seen);
            if !seen {
                return Flow::Skip(format!(
                    "heartbeat not configurable: no two heartbeats within {} ms when asked for one every {} ms; this case needs the client to notice a dead link by its heartbeat",
                    ms(hb * 3 + Duration::from_secs(1)),
                    ms(hb)
                ));
            }
        }
        let quick = Duration::from_secs(6);
        let by_heartbeat = hb * 3 + Duration::from_secs(5);
        match case.id {
            CaseId::TcpReset | CaseId::TcpClose | CaseId::DisconnectSocketId => {
                let at = self.mark_fault(case.fault);
                match case.id {
                    CaseId::TcpReset => {
                        self.proxy.fault_all(Fault::Reset);
                    }
                    CaseId::TcpClose => {
                        self.proxy.fault_all(Fault::Close);
                    }
                    _ => self.server.disconnect_socket_id(),
                }
                self.expect_recovery(at, at, quick).await;
            }
            CaseId::BlackHole | CaseId::ServerSideCut | CaseId::HeartbeatUnanswered => {
                let at = self.mark_fault(case.fault);
                let fault = match case.id {
                    CaseId::BlackHole => Fault::BlackHole,
                    CaseId::ServerSideCut => Fault::CutServer,
                    _ => Fault::DropHeartbeatReplies,
                };
                self.proxy.fault(conn, fault);
                if self.expect_recovery(at, at, by_heartbeat).await.is_some() {
                    if let Some(closed) = self
                        .conns()
                        .iter()
                        .find(|c| c.id == conn)
                        .and_then(|c| c.closed)
                    {
                        self.timing("fault -> old link closed", closed.saturating_sub(at));
                    }
                }
            }
            CaseId::RefuseConnections => {
                let at = self.mark_fault(case.fault);
                self.proxy.refuse(true);
                self.proxy.fault_all(Fault::Reset);
                tokio::time::sleep(s.outage).await;
                self.proxy.refuse(false);
                let restore = self.obs.mark("restore: connections accepted again");
                self.expect_recovery(at, restore, quick).await;
                self.backoff_check(at);
            }
            CaseId::Connect403 => {
                let at = self.mark_fault(case.fault);
                self.control.refuse_connects(4);
                self.proxy.fault_all(Fault::Reset);
                let refused = self
                    .obs
                    .wait_for(Duration::from_secs(15), |log| {
                        let n = log
                            .iter()
                            .filter(|e| matches!(e.ev, Ev::Handshake(_, 403)))
                            .count();
                        (n >= 4)
                            .then(|| {
                                log.iter()
                                    .rev()
                                    .find(|e| matches!(e.ev, Ev::Handshake(_, 403)))
                                    .map(|e| e.at)
                            })
                            .flatten()
                    })
                    .await;
                let Some(restore) = refused else {
                    let n = self
                        .obs
                        .snapshot()
                        .iter()
                        .filter(|e| matches!(e.ev, Ev::Handshake(_, 403)))
                        .count();
                    self.check("rejoined", false, format!("the client stopped retrying after {n} connects refused with 403 (4 are refused)"));
                    return Flow::Done;
                };
                self.expect_recovery(at, restore, quick).await;
                self.backoff_check(at);
            }
            CaseId::ServerRestart => {
                let at = self.mark_fault(case.fault);
                if let Err(e) = self.server.restart(Duration::from_millis(500)).await {
                    self.check(
                        "rejoined",
                        false,
                        format!("the certification server could not restart: {e}"),
                    );
                    return Flow::Abort;
                }
                let restore = self.obs.mark("restore: the server listens again");
                self.expect_recovery(at, restore, quick).await;
                self.backoff_check(at);
            }
            CaseId::Latency => {
                let l = (hb / 5).clamp(Duration::from_millis(20), Duration::from_millis(200));
                let at = self.mark_fault(&format!("latency {} ms each way", ms(l)));
                self.proxy.latency(l);
                let r = self.echo(&topics, Duration::from_secs(3) + l * 4).await;
                match r {
                    Ok(rtt) => {
                        self.timing("echo round-trip under latency", rtt);
                        self.check(
                            "echo under latency",
                            rtt >= l * 2,
                            format!("slowest {} ms with {} ms each way", ms(rtt), ms(l)),
                        );
                    }
                    Err(e) => self.check("echo under latency", false, e),
                }
                let before = self
                    .conns()
                    .iter()
                    .find(|c| c.id == conn)
                    .map_or(0, |c| c.heartbeats.len());
                let hb_ok = self
                    .wait_heartbeats(
                        conn,
                        before + 2,
                        hb * 3 + l * 2 + Duration::from_millis(500),
                    )
                    .await;
                self.heartbeat_ok = Some(hb_ok);
                self.proxy.latency(Duration::ZERO);
                self.obs.mark("restore: latency removed");
                self.stayed_connected(at, conn);
                self.echo_check("echo after recovery", &topics).await;
            }
            CaseId::ChannelCrash => {
                let buffered = json!({"certify": "crossed-the-crash"});
                self.proxy
                    .fault(conn, Fault::EchoAfterError(first.clone(), buffered.clone()));
                let at = self.mark_fault(case.fault);
                if !self.control.crash(&first).await {
                    self.check(
                        "rejoined",
                        false,
                        format!("no live channel on {first} to crash"),
                    );
                    return Flow::Abort;
                }
                let f = first.clone();
                let rejoin_bound = Duration::from_secs(4);
                let rejoined = self
                    .obs
                    .wait_for(rejoin_bound, |log| {
                        observer::connections(log).iter().find_map(|c| {
                            c.ok_joins_after(&f, at)
                                .next()
                                .map(|j| (c.id, j.answer.map_or(at, |(t, _)| t)))
                        })
                    })
                    .await;
                let Some((rconn, rat)) = rejoined else {
                    self.check(
                        "rejoined",
                        false,
                        format!(
                            "{first} was not rejoined within {} ms of its phx_error",
                            ms(rejoin_bound)
                        ),
                    );
                    return Flow::Done;
                };
                self.timing("phx_error -> rejoined", rat.saturating_sub(at));
                self.check(
                    "rejoined",
                    true,
                    format!(
                        "{first} rejoined on conn {rconn} {} ms after phx_error",
                        ms(rat.saturating_sub(at))
                    ),
                );
                let b = buffered.clone();
                let delivered = self
                    .obs
                    .wait_for(Duration::from_secs(3), |log| {
                        log.iter().find_map(|e| match &e.ev {
                            Ev::Delivered(t, p) if *t == f && *p == b => Some(e.at),
                            _ => None,
                        })
                    })
                    .await;
                self.expected_echoes.push((first.clone(), buffered.clone()));
                match delivered {
                    Some(d) if d >= rat => self.check("buffered push", true, format!("the crossed echo was answered after the rejoin ({} ms after it)", ms(d - rat))),
                    Some(d) => self.check("buffered push", false, format!("the crossed echo's reply reached the channel at {:.3}s, before the rejoin at {:.3}s", d.as_secs_f64(), rat.as_secs_f64())),
                    None => self.check("buffered push", false, "the echo that arrived between phx_error and the rejoin was never answered on the rejoined channel (not buffered, or dropped)"),
                }
                self.echo_check("echo after recovery", &topics).await;
                self.cadence_probe(rconn).await;
            }
            CaseId::ServerPhxClose => {
                let at = self.mark_fault(case.fault);
                if !self.control.close(&first).await {
                    self.check(
                        "no rejoin after phx_close",
                        false,
                        format!("no live channel on {first} to close"),
                    );
                    return Flow::Abort;
                }
                let window = Duration::from_secs(2).max(hb * 2);
                tokio::time::sleep(window).await;
                let rejoins: Vec<String> = self
                    .conns()
                    .iter()
                    .flat_map(|c| {
                        c.joins
                            .iter()
                            .filter(|j| j.topic == first && j.sent >= at)
                            .map(|j| format!("conn {} at {:.3}s", c.id, j.sent.as_secs_f64()))
                            .collect::<Vec<_>>()
                    })
                    .collect();
                self.check(
                    "no rejoin after phx_close",
                    rejoins.is_empty(),
                    if rejoins.is_empty() {
                        format!("{first} not rejoined within {} ms", ms(window))
                    } else {
                        format!("{first} was rejoined after the server closed it: {rejoins:?}")
                    },
                );
                self.stayed_connected(at, conn);
                self.echo_check("echo on the other topics", &topics[1..])
                    .await;
                self.cadence_probe(conn).await;
            }
            CaseId::UnmatchedTopic => {
                self.proxy.fault(conn, Fault::SwallowClose(first.clone()));
                let at = self.mark_fault(case.fault);
                let join_ref = self.conns().iter().find(|c| c.id == conn).and_then(|c| {
                    c.joins
                        .iter()
                        .rev()
                        .find(|j| j.topic == first)
                        .map(|j| j.join_ref.clone())
                });
                if !self.control.close(&first).await {
                    self.check(
                        "stays connected",
                        false,
                        format!("no live channel on {first} to close"),
                    );
                    return Flow::Abort;
                }
                let f = first.clone();
                let swallowed = self.obs.wait_for(Duration::from_secs(2), |log| log.iter().find(|e| matches!(&e.ev, Ev::Frame { dir: Dir::Out, msg, note, .. } if msg.topic == f && msg.event == "phx_close" && !note.is_empty())).map(|_| ())).await;
                if swallowed.is_none() {
                    self.check(
                        "stays connected",
                        false,
                        "the server's phx_close never came (certification harness problem)",
                    );
                    return Flow::Abort;
                }
                self.proxy.fault(
                    conn,
                    Fault::Inject(Msg {
                        join_ref,
                        msg_ref: None,
                        topic: first.clone(),
                        event: "echo".into(),
                        payload: json!({"certify": "unmatched"}),
                    }),
                );
                let unmatched = self.obs.wait_for(Duration::from_secs(3), |log| log.iter().find(|e| matches!(&e.ev, Ev::Frame { dir: Dir::Out, msg, .. } if msg.topic == f && msg.reply_status() == Some("error") && msg.payload.pointer("/response/reason").and_then(Value::as_str) == Some("unmatched topic"))).map(|e| e.at)).await;
                match unmatched {
                    Some(u) => self.check("unmatched topic reply", true, format!("the client answered the echo on the forgotten topic and got \"unmatched topic\" at {:.3}s", u.as_secs_f64())),
                    None => self.check("unmatched topic reply", false, "the client did not answer an echo on a topic it believes joined (so it never got the \"unmatched topic\" reply)"),
                }
                tokio::time::sleep(Duration::from_millis(1500).max(hb * 2)).await;
                self.stayed_connected(at, conn);
                let rejoined = self
                    .conns()
                    .iter()
                    .any(|c| c.ok_joins_after(&first, at).next().is_some());
                self.notes.push(format!(
                    "rejoined the forgotten topic {first}: {}",
                    if rejoined { "yes" } else { "no" }
                ));
                self.echo_check("echo on the other topics", &topics[1..])
                    .await;
                self.cadence_probe(conn).await;
            }
            CaseId::JoinRefused => {}
        }
        Flow::Done
    }

    async fn join_refused(&mut self, conn: u64) -> Flow {
        let conns = self.conns();
        let Some(c) = conns.iter().find(|c| c.id == conn) else {
            return Flow::Abort;
        };
        let first_refusal = c
            .joins
            .iter()
            .filter_map(|j| j.answer.filter(|(_, ok)| !ok).map(|(t, _)| t))
            .fold(None, |m: Option<Duration>, t| {
                Some(m.map_or(t, |m| m.min(t)))
            });
        let refused = c
            .joins
            .iter()
            .filter(|j| j.answer.is_some_and(|(_, ok)| !ok))
            .count();
        let most = self
            .s
            .topics
            .iter()
            .map(|t| c.joins.iter().filter(|j| &j.topic == t).count())
            .max()
            .unwrap_or(0);
        if let (Some(r), Some(all)) = (first_refusal, c.all_joined(&self.s.topics)) {
            self.fault_at = Some(r);
            self.timing("first refusal -> all topics joined", all.saturating_sub(r));
        }
        self.check(
            "rejoined",
            refused >= self.s.topics.len(),
            format!("{refused} joins refused, then every topic joined on the same socket"),
        );
        self.check(
            "join retries back off",
            most <= 4,
            format!("at most {most} join attempts per topic"),
        );
        let upgraded = conns.iter().filter(|c| c.upgraded()).count();
        self.check(
            "stays connected",
            upgraded == 1,
            format!("{upgraded} socket(s) opened (a refused join needs no reconnect)"),
        );
        self.echo_check("echo after recovery", &self.s.topics.clone())
            .await;
        self.cadence_probe(conn).await;
        Flow::Done
    }

    fn stayed_connected(&mut self, since: Duration, conn: u64) {
        let later: Vec<u64> = self
            .conns()
            .iter()
            .filter(|c| c.accepted >= since)
            .map(|c| c.id)
            .collect();
        let closed = self
            .conns()
            .iter()
            .find(|c| c.id == conn)
            .and_then(|c| c.closed);
        self.check(
            "stays connected",
            later.is_empty() && closed.is_none(),
            if later.is_empty() && closed.is_none() {
                format!("conn {conn} kept, no reconnect")
            } else {
                format!("the client reconnected needlessly (new conns {later:?}, conn {conn} closed at {closed:?})")
            },
        );
    }

    fn backoff_check(&mut self, from: Duration) {
        let attempts = observer::attempts_since(&self.conns(), from);
        let faults = observer::backoff_faults(&attempts, 12);
        let gaps: Vec<u64> = attempts.windows(2).map(|w| ms(w[1] - w[0])).collect();
        self.check(
            "back-off",
            faults.is_empty(),
            if faults.is_empty() {
                format!("{} attempts, gaps {gaps:?} ms", attempts.len())
            } else {
                faults.join("; ")
            },
        );
    }

    /// The checks every case gets, over the whole log.
    fn common_checks(&mut self, log: &[Entry]) {
        let conns = observer::connections(log);
        let reused = observer::reused_join_refs(&conns);
        self.check(
            "fresh join_refs",
            reused.is_empty(),
            if reused.is_empty() {
                "every join used a new join_ref".into()
            } else {
                reused.join("; ")
            },
        );
        let dups = observer::duplicate_joins(&conns);
        self.check(
            "no duplicate joins",
            dups.is_empty(),
            if dups.is_empty() {
                "no topic joined twice on one socket".into()
            } else {
                dups.join("; ")
            },
        );
        if self.heartbeat_ok == Some(true) {
            let faults = observer::heartbeat_cadence_faults(&conns, self.s.heartbeat);
            self.check(
                "heartbeat cadence",
                faults.is_empty(),
                if faults.is_empty() {
                    format!(
                        "every gap within [{}, {}] ms",
                        ms(self.s.heartbeat / 2),
                        ms(self.s.heartbeat * 3 / 2) + 150
                    )
                } else {
                    faults.join("; ")
                },
            );
        } else if self.heartbeat_ok == Some(false) {
            self.notes.push(format!("heartbeat cadence not checked: fewer than two heartbeats on the probed socket when asked for one every {} ms", ms(self.s.heartbeat)));
        }
        let storm = observer::backoff_faults(&observer::attempts_since(&conns, Duration::ZERO), 12)
            .into_iter()
            .filter(|f| f.contains("storm"))
            .collect::<Vec<_>>();
        if !storm.is_empty() {
            self.check("no reconnect storm", false, storm.join("; "));
        }
        let mut twice = Vec::new();
        for (topic, p) in &self.expected_echoes {
            let n = log
                .iter()
                .filter(|e| matches!(&e.ev, Ev::Delivered(t, pp) if t == topic && pp == p))
                .count();
            if n > 1 {
                twice.push(format!("{p} on {topic} arrived {n} times"));
            }
        }
        if !self.expected_echoes.is_empty() {
            self.check(
                "pushes arrive once",
                twice.is_empty(),
                if twice.is_empty() {
                    format!(
                        "{} echo_replies, each exactly once",
                        self.expected_echoes.len()
                    )
                } else {
                    twice.join("; ")
                },
            );
        }
    }
}

/// The frames worth showing: from a second before the fault (or the start), at most 80 lines.
fn frames_around(log: &[Entry], focus: Option<Duration>) -> Vec<String> {
    let from = focus.map_or(Duration::ZERO, |f| f.saturating_sub(Duration::from_secs(1)));
    let lines: Vec<String> = log
        .iter()
        .filter(|e| e.at >= from)
        .map(Entry::line)
        .collect();
    if lines.len() <= 80 {
        return lines;
    }
    let mut out: Vec<String> = lines[..60].to_vec();
    out.push(format!("… {} lines left out …", lines.len() - 80));
    out.extend_from_slice(&lines[lines.len() - 20..]);
    out
}

/// Runs one case with a fresh server, proxy and client.
pub async fn run(case: &CaseInfo, s: &Settings) -> Result<CaseResult, SpawnError> {
    let started = Instant::now();
    let obs = Observer::new();
    let control = Control::new(s.topics.clone(), obs.clone());
    if case.id == CaseId::JoinRefused {
        for t in &s.topics {
            control.refuse_joins(t, 1);
        }
    }
    let internal = |what: String| CaseResult {
        name: case.name,
        fault: case.fault,
        verdict: Verdict::Fail,
        duration: started.elapsed(),
        checks: vec![Check {
            name: "harness",
            ok: false,
            detail: what,
        }],
        timings: Vec::new(),
        notes: Vec::new(),
        frames: Vec::new(),
        client_output: Vec::new(),
        never_connected: false,
    };
    let server = match Server::start(control.clone()).await {
        Ok(s) => s,
        Err(e) => return Ok(internal(e.to_string())),
    };
    let proxy = match Proxy::start(server.addr(), obs.clone()).await {
        Ok(p) => p,
        Err(e) => return Ok(internal(format!("cannot start the fault proxy: {e}"))),
    };
    let (program, args) = s.command.split_first().ok_or(SpawnError::Empty)?;
    let mut child = Command::new(program)
        .args(args)
        .env("PHX_CERTIFY_URL", format!("ws://{}/socket", proxy.addr()))
        .env("PHX_CERTIFY_TOPICS", s.topics.join(","))
        .env("PHX_CERTIFY_HEARTBEAT_MS", ms(s.heartbeat).to_string())
        .env("PHX_CERTIFY_CASE", case.name)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| SpawnError::Spawn {
            command: s.command.join(" "),
            source,
        })?;
    let output = Output::default();
    if let Some(o) = child.stdout.take() {
        output.follow(o, "stdout");
    }
    if let Some(e) = child.stderr.take() {
        output.follow(e, "stderr");
    }
    let mut h = Harness {
        s,
        obs,
        control,
        server,
        proxy,
        child,
        checks: Vec::new(),
        timings: Vec::new(),
        notes: Vec::new(),
        fault_at: None,
        echo_seq: 0,
        expected_echoes: Vec::new(),
        heartbeat_ok: None,
    };
    let bound = Duration::from_secs(30) + s.heartbeat * 4 + s.outage;
    let flow = match tokio::time::timeout(bound, h.drive(case)).await {
        Ok(flow) => flow,
        Err(_) => {
            h.check(
                "time bound",
                false,
                format!("the case did not finish within {} ms", ms(bound)),
            );
            Flow::Abort
        }
    };
    let exited = h.child.try_wait().ok().flatten();
    let _ = h.child.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(2), h.child.wait()).await;
    h.server.stop().await;
    let log = h.obs.snapshot();
    let never_connected = exited.is_some() && observer::connections(&log).is_empty();
    if let Some(status) = exited {
        h.check(
            "client alive",
            false,
            format!("the client exited during the case ({status})"),
        );
    }
    let verdict = match flow {
        Flow::Skip(why) => {
            h.checks.retain(|c| !c.ok || c.name == "ready");
            Verdict::Skip(why)
        }
        Flow::Done | Flow::Abort => {
            h.common_checks(&log);
            if h.checks.iter().all(|c| c.ok) {
                Verdict::Pass
            } else {
                Verdict::Fail
            }
        }
    };
    let frames = frames_around(&log, h.fault_at);
    drop(h.proxy);
    Ok(CaseResult {
        name: case.name,
        fault: case.fault,
        verdict,
        duration: started.elapsed(),
        checks: h.checks,
        timings: h.timings,
        notes: h.notes,
        frames,
        client_output: output.lines(),
        never_connected,
    })
}
