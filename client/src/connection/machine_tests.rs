//! Every transition of the connection machine, stepped by hand: no WebSocket, no runtime, and
//! time is a value the test advances.

#![allow(clippy::unwrap_used)] // test code

use std::time::Duration;

use phx_protocol::{Message, Push, Reply as WireReply, ServerMessage, Vsn};
use serde_json::json;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{Machine, Output};
use crate::close_policy::{CloseCause, ClosePolicy};
use crate::config::JoinPayload;
use crate::error::{ConnectError, JoinError, PushError};
use crate::reply::Reply;
use crate::status::{ChannelStatus, SocketStatus};
use crate::{Socket, Stepped};

const HB_INTERVAL: Duration = Duration::from_secs(30);
const HB_TIMEOUT: Duration = Duration::from_secs(10);
const RECONNECT: Duration = Duration::from_secs(1);
const REJOIN: Duration = Duration::from_secs(2);
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What the machine asked for, in a form tests compare easily. Answers are delivered at once.
#[derive(Debug, PartialEq)]
enum Did {
    Connect,
    Sent(Message),
    Close(bool, String),
    Socket(SocketStatus),
    Channel(String, ChannelStatus),
    JoinRef(String),
    Event(String),
    Answered,
}

struct Harness {
    m: Machine,
    now: Instant,
}

type JoinRx = oneshot::Receiver<Result<phx_protocol::Payload, JoinError>>;
type PushRx = oneshot::Receiver<Result<Reply, PushError>>;

impl Harness {
    fn new() -> Self {
        Self::with_policy(ClosePolicy::default())
    }

    fn with_policy(policy: ClosePolicy) -> Self {
        let config = Socket::builder("ws://example.invalid/socket")
            .heartbeat_interval(HB_INTERVAL)
            .heartbeat_timeout(HB_TIMEOUT)
            .reconnect_backoff(Stepped::constant(RECONNECT))
            .rejoin_backoff(Stepped::constant(REJOIN))
            .push_timeout(PUSH_TIMEOUT)
            .max_buffered_pushes(2)
            .close_policy(policy)
            .into_config()
            .unwrap();
        Harness {
            m: Machine::new(config),
            now: Instant::now(),
        }
    }

    fn drain(&mut self) -> Vec<Did> {
        let mut did = Vec::new();
        while let Some(out) = self.m.poll_output() {
            did.push(match out {
                Output::Connect => Did::Connect,
                Output::Send(frame) => Did::Sent(Vsn::V2.decode_client(&frame).unwrap()),
                Output::Close { graceful, reason } => Did::Close(graceful, reason),
                Output::Socket(s) => Did::Socket(s),
                Output::Channel { topic, status, .. } => Did::Channel(topic, status),
                Output::JoinRef { join_ref, .. } => Did::JoinRef(join_ref),
                Output::Event { event, .. } => Did::Event(event.event),
                Output::Done(done) => {
                    done.complete();
                    Did::Answered
                }
            });
        }
        did
    }

    fn sent(&mut self) -> Vec<Message> {
        self.drain()
            .into_iter()
            .filter_map(|d| match d {
                Did::Sent(m) => Some(m),
                _ => None,
            })
            .collect()
    }

    /// Advances the clock and fires what is due.
    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.m.handle_timeout(self.now);
    }

    fn connected(&mut self) {
        let (tx, mut rx) = oneshot::channel();
        self.m.connect(tx);
        self.m.handle_connected(self.now);
        self.drain();
        assert!(matches!(rx.try_recv(), Ok(Ok(()))));
    }

    fn join(&mut self, id: u64, topic: &str) -> JoinRx {
        let (tx, rx) = oneshot::channel();
        assert!(self.m.join(
            self.now,
            id,
            topic.into(),
            JoinPayload::Static(json!({"k": 1}).into()),
            tx
        ));
        rx
    }

    /// Joins `topic` on an open link and answers ok; returns the join message.
    fn joined(&mut self, id: u64, topic: &str) -> Message {
        let mut rx = self.join(id, topic);
        let join = self.sent().pop().unwrap();
        assert_eq!(join.event, "phx_join");
        self.reply_ok(&join);
        assert!(matches!(rx.try_recv(), Ok(Ok(_))));
        join
    }

    fn push(&mut self, id: u64, event: &str) -> PushRx {
        let (tx, rx) = oneshot::channel();
        self.m.push(
            self.now,
            id,
            event.into(),
            json!({}).into(),
            PUSH_TIMEOUT,
            tx,
        );
        rx
    }

    fn reply_ok(&mut self, to: &Message) {
        self.m.handle_message(
            self.now,
            ServerMessage::Reply(WireReply::ok(to, json!({"ok": true}))),
        );
        self.drain();
    }

    fn server_push(&mut self, topic: &str, join_ref: &str, event: &str) -> Vec<Did> {
        self.m.handle_message(
            self.now,
            ServerMessage::Push(Push::new(join_ref, topic, event, json!({}))),
        );
        self.drain()
    }

    fn status(&self, topic: &str, did: &[Did]) -> Option<ChannelStatus> {
        did.iter().rev().find_map(|d| match d {
            Did::Channel(t, s) if t == topic => Some(*s),
            _ => None,
        })
    }
}

#[test]
fn connect_opens_and_answers_the_caller_after_the_status() {
    let mut h = Harness::new();
    let (tx, mut rx) = oneshot::channel();
    h.m.connect(tx);
    assert_eq!(
        h.drain(),
        [
            Did::Connect,
            Did::Socket(SocketStatus::Connecting { attempt: 0 })
        ]
    );
    h.m.handle_connected(h.now);
    assert_eq!(
        h.drain(),
        [
            Did::Socket(SocketStatus::Connected { generation: 1 }),
            Did::Answered
        ]
    );
    assert!(matches!(rx.try_recv(), Ok(Ok(()))));
    assert_eq!(h.m.poll_timeout(), Some(h.now + HB_INTERVAL));
}

#[test]
fn a_failed_attempt_reconnects_on_the_schedule() {
    let mut h = Harness::new();
    let (tx, mut rx) = oneshot::channel();
    h.m.connect(tx);
    h.drain();
    h.m.handle_connect_failed(h.now, ConnectError::Timeout(Duration::from_secs(1)));
    let did = h.drain();
    assert!(matches!(
        did.first(),
        Some(Did::Socket(SocketStatus::Reconnecting { attempt: 1, delay, .. })) if *delay == RECONNECT
    ));
    assert!(matches!(rx.try_recv(), Ok(Err(ConnectError::Timeout(_)))));
    assert_eq!(h.m.poll_timeout(), Some(h.now + RECONNECT));
    h.advance(RECONNECT - Duration::from_millis(1));
    assert_eq!(h.drain(), []);
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.drain(),
        [
            Did::Connect,
            Did::Socket(SocketStatus::Connecting { attempt: 1 })
        ]
    );
}

#[test]
fn a_join_made_offline_is_sent_on_open_and_its_buffered_pushes_after_the_reply() {
    let mut h = Harness::new();
    let mut join = h.join(1, "room:1");
    let mut push = h.push(1, "hello");
    assert!(h.sent().is_empty(), "offline: nothing sent");
    h.m.connect(oneshot::channel().0);
    h.m.handle_connected(h.now);
    let joins = h.sent();
    assert_eq!(joins.len(), 1, "only the join goes out before its reply");
    h.m.handle_message(
        h.now,
        ServerMessage::Reply(WireReply::ok(&joins[0], json!({"welcome": 1}))),
    );
    let did = h.drain();
    let joined_at = did
        .iter()
        .position(|d| *d == Did::Channel("room:1".into(), ChannelStatus::Joined))
        .unwrap();
    let answered_at = did.iter().position(|d| *d == Did::Answered).unwrap();
    assert!(joined_at < answered_at, "status before the answer: {did:?}");
    assert_eq!(
        join.try_recv().unwrap().unwrap(),
        json!({"welcome": 1}).into()
    );
    let flushed: Vec<&Message> = did
        .iter()
        .filter_map(|d| match d {
            Did::Sent(m) => Some(m),
            _ => None,
        })
        .collect();
    assert_eq!(flushed.len(), 1);
    assert_eq!(flushed[0].event, "hello");
    assert_eq!(flushed[0].join_ref, joins[0].join_ref);
    let flushed = flushed[0].clone();
    h.reply_ok(&flushed);
    assert_eq!(push.try_recv().unwrap().unwrap().status, "ok");
}

#[test]
fn a_full_push_buffer_fails_the_push_at_once() {
    let mut h = Harness::new();
    let _join = h.join(1, "room:1");
    let _a = h.push(1, "a");
    let _b = h.push(1, "b");
    let mut c = h.push(1, "c");
    h.drain();
    assert!(matches!(
        c.try_recv(),
        Ok(Err(PushError::BufferFull { capacity: 2 }))
    ));
}

#[test]
fn a_buffered_push_times_out_while_waiting_for_the_join() {
    let mut h = Harness::new();
    let _join = h.join(1, "room:1");
    let mut p = h.push(1, "a");
    h.advance(PUSH_TIMEOUT);
    h.drain();
    assert!(matches!(p.try_recv(), Ok(Err(PushError::Timeout(_)))));
}

#[test]
fn a_push_without_reply_times_out() {
    let mut h = Harness::new();
    h.connected();
    h.joined(1, "room:1");
    let mut p = h.push(1, "a");
    assert_eq!(h.sent().len(), 1);
    h.advance(PUSH_TIMEOUT - Duration::from_millis(1));
    h.drain();
    assert!(p.try_recv().is_err(), "still pending");
    h.advance(Duration::from_millis(1));
    h.drain();
    assert!(matches!(p.try_recv(), Ok(Err(PushError::Timeout(d))) if d == PUSH_TIMEOUT));
}

#[test]
fn heartbeats_run_and_an_unanswered_one_closes_the_link_and_reconnects() {
    let mut h = Harness::new();
    h.connected();
    h.advance(HB_INTERVAL);
    let beat = h.sent().pop().unwrap();
    assert_eq!(
        (beat.topic.as_str(), beat.event.as_str()),
        ("phoenix", "heartbeat")
    );
    // Answered: the next one comes an interval after the reply.
    h.advance(Duration::from_secs(3));
    h.reply_ok(&beat);
    assert_eq!(h.m.poll_timeout(), Some(h.now + HB_INTERVAL));
    h.advance(HB_INTERVAL);
    assert_eq!(h.sent().len(), 1);
    // Unanswered: dead after the timeout; the client closes (1000) and reconnects.
    h.advance(HB_TIMEOUT);
    let did = h.drain();
    assert_eq!(did[0], Did::Close(true, "heartbeat timeout".into()));
    assert!(did.iter().any(|d| matches!(d,
        Did::Socket(SocketStatus::Reconnecting { reason, .. }) if reason == "heartbeat timeout")));
    h.advance(RECONNECT);
    assert_eq!(h.drain()[0], Did::Connect);
}

#[test]
fn a_drop_fails_in_flight_pushes_and_rejoins_with_a_fresh_join_ref_on_reconnect() {
    let mut h = Harness::new();
    h.connected();
    let first = h.joined(1, "room:1");
    let mut p = h.push(1, "a");
    h.drain();
    h.m.handle_closed(h.now, CloseCause::Dropped, "connection dropped".into());
    let did = h.drain();
    assert_eq!(did[0], Did::Close(false, "connection dropped".into()));
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Errored));
    assert!(matches!(p.try_recv(), Ok(Err(PushError::ConnectionLost))));
    h.advance(RECONNECT);
    assert_eq!(h.drain()[0], Did::Connect);
    h.m.handle_connected(h.now);
    let did = h.drain();
    assert!(did.contains(&Did::Socket(SocketStatus::Connected { generation: 2 })));
    let rejoin = did
        .iter()
        .find_map(|d| match d {
            Did::Sent(m) if m.event == "phx_join" => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_ne!(rejoin.join_ref, first.join_ref, "a fresh join_ref");
    h.reply_ok(&rejoin);
    let first_ref = first.join_ref.to_binary_field();
    // A message from the older join is stale and dropped; a null join_ref is a broadcast.
    assert_eq!(h.server_push("room:1", &first_ref, "old"), []);
    let mut broadcast = h.m.poll_output();
    assert!(broadcast.is_none());
    h.m.handle_message(
        h.now,
        ServerMessage::Broadcast(phx_protocol::Broadcast::new("room:1", "new", json!({}))),
    );
    broadcast = h.m.poll_output();
    assert!(matches!(broadcast, Some(Output::Event { id: 1, .. })));
}

#[test]
fn phx_error_errors_the_channel_fails_its_pushes_and_rejoins_on_the_schedule() {
    let mut h = Harness::new();
    h.connected();
    let join = h.joined(1, "room:1");
    let mut p = h.push(1, "a");
    h.drain();
    let did = h.server_push("room:1", &join.join_ref.to_binary_field(), "phx_error");
    assert_eq!(did[0], Did::Event("phx_error".into()));
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Errored));
    assert!(matches!(
        p.try_recv(),
        Ok(Err(PushError::ChannelErrored(_)))
    ));
    h.advance(REJOIN - Duration::from_millis(1));
    assert_eq!(h.sent(), []);
    h.advance(Duration::from_millis(1));
    let rejoin = h.sent();
    assert_eq!(rejoin.len(), 1);
    assert_eq!(rejoin[0].event, "phx_join");
    assert_ne!(rejoin[0].join_ref, join.join_ref);
}

#[test]
fn phx_close_closes_the_channel_for_good() {
    let mut h = Harness::new();
    h.connected();
    let join = h.joined(1, "room:1");
    let mut p = h.push(1, "a");
    h.drain();
    let did = h.server_push("room:1", &join.join_ref.to_binary_field(), "phx_close");
    assert_eq!(did[0], Did::Event("phx_close".into()));
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Closed));
    assert!(matches!(p.try_recv(), Ok(Err(PushError::ChannelClosed))));
    h.advance(Duration::from_secs(60));
    assert!(h.sent().iter().all(|m| m.event != "phx_join"), "no rejoin");
}

#[test]
fn a_refused_join_is_answered_and_retried_on_the_rejoin_schedule() {
    let mut h = Harness::new();
    h.connected();
    let mut rx = h.join(1, "room:1");
    let join = h.sent().pop().unwrap();
    h.m.handle_message(
        h.now,
        ServerMessage::Reply(WireReply::error(&join, json!({"reason": "no"}))),
    );
    let did = h.drain();
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Errored));
    assert!(matches!(rx.try_recv(), Ok(Err(JoinError::Rejected(_)))));
    h.advance(REJOIN);
    assert_eq!(h.sent()[0].event, "phx_join");
}

#[test]
fn a_join_timeout_leaves_on_the_server_and_rejoins() {
    let mut h = Harness::new();
    h.connected();
    let mut rx = h.join(1, "room:1");
    let join = h.sent().pop().unwrap();
    h.advance(PUSH_TIMEOUT);
    let did = h.drain();
    assert!(did.iter().any(|d| matches!(d,
        Did::Sent(m) if m.event == "phx_leave" && m.join_ref == join.join_ref)));
    assert!(matches!(rx.try_recv(), Ok(Err(JoinError::Timeout(_)))));
    h.advance(REJOIN);
    assert_eq!(h.sent()[0].event, "phx_join");
}

#[test]
fn an_unmatched_topic_reply_to_a_push_rejoins_the_channel() {
    let mut h = Harness::new();
    h.connected();
    let join = h.joined(1, "room:1");
    let mut p = h.push(1, "a");
    let push = h.sent().pop().unwrap();
    // The server forgot the channel: its reply carries no join_ref.
    h.m.handle_message(
        h.now,
        ServerMessage::Reply(WireReply::new(
            phx_protocol::Ref::Null,
            push.ref_.clone(),
            "room:1",
            "error",
            json!({"reason": "unmatched topic"}),
        )),
    );
    let did = h.drain();
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Errored));
    assert!(matches!(p.try_recv(), Ok(Err(PushError::ErrorReply(_)))));
    h.advance(REJOIN);
    let rejoin = h.sent();
    assert_eq!(rejoin[0].event, "phx_join");
    assert_ne!(rejoin[0].join_ref, join.join_ref);
}

#[test]
fn leave_sends_phx_leave_and_closes_on_its_reply() {
    let mut h = Harness::new();
    h.connected();
    h.joined(1, "room:1");
    let (tx, mut rx) = oneshot::channel();
    h.m.leave(h.now, 1, tx);
    let did = h.drain();
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Leaving));
    let leave = did
        .iter()
        .find_map(|d| match d {
            Did::Sent(m) => Some(m.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(leave.event, "phx_leave");
    assert!(rx.try_recv().is_err());
    h.m.handle_message(
        h.now,
        ServerMessage::Reply(WireReply::ok(&leave, json!({}))),
    );
    let did = h.drain();
    assert_eq!(
        did,
        [
            Did::Channel("room:1".into(), ChannelStatus::Closed),
            Did::Answered
        ]
    );
    assert!(matches!(rx.try_recv(), Ok(Ok(()))));
    // The topic is free again.
    let _again = h.join(1, "room:1");
}

#[test]
fn a_second_join_of_a_topic_is_refused() {
    let mut h = Harness::new();
    let _first = h.join(1, "room:1");
    let (tx, mut rx) = oneshot::channel();
    assert!(!h.m.join(
        h.now,
        2,
        "room:1".into(),
        JoinPayload::Static(json!({}).into()),
        tx
    ));
    h.drain();
    assert!(matches!(rx.try_recv(), Ok(Err(JoinError::AlreadyJoined(t))) if t == "room:1"));
}

#[test]
fn disconnect_closes_gracefully_and_does_not_reconnect() {
    let mut h = Harness::new();
    h.connected();
    h.joined(1, "room:1");
    h.m.disconnect(h.now);
    let did = h.drain();
    assert_eq!(did[0], Did::Close(true, "client disconnect".into()));
    assert_eq!(h.status("room:1", &did), Some(ChannelStatus::Errored));
    assert_eq!(did.last(), Some(&Did::Socket(SocketStatus::Idle)));
    assert_eq!(h.m.poll_timeout(), None, "nothing left to wake for");
}

#[test]
fn the_close_policy_decides_after_a_server_close() {
    let mut h = Harness::with_policy(ClosePolicy::PhoenixJs1812);
    h.connected();
    h.m.handle_closed(h.now, CloseCause::ServerClose(Some(1000)), "bye".into());
    let did = h.drain();
    assert_eq!(
        did.last(),
        Some(&Did::Socket(SocketStatus::Stopped {
            code: Some(1000),
            reason: "bye".into()
        }))
    );
    let mut h = Harness::new();
    h.connected();
    h.m.handle_closed(h.now, CloseCause::ServerClose(Some(1000)), "bye".into());
    assert!(h
        .drain()
        .iter()
        .any(|d| matches!(d, Did::Socket(SocketStatus::Reconnecting { .. }))));
}

#[test]
fn a_pending_join_survives_a_drop_and_is_sent_on_the_next_open() {
    let mut h = Harness::new();
    h.connected();
    let mut rx = h.join(1, "room:1");
    let first = h.sent().pop().unwrap();
    h.m.handle_closed(h.now, CloseCause::Dropped, "gone".into());
    h.drain();
    h.advance(RECONNECT);
    h.drain();
    h.m.handle_connected(h.now);
    let rejoin = h.sent().pop().unwrap();
    assert_eq!(rejoin.event, "phx_join");
    assert_ne!(rejoin.join_ref, first.join_ref);
    // The reply to the old join is stale now.
    h.reply_ok(&first);
    assert!(rx.try_recv().is_err());
    h.reply_ok(&rejoin);
    assert!(matches!(rx.try_recv(), Ok(Ok(_))));
}

#[test]
fn a_terminal_tls_error_stops_instead_of_reconnecting() {
    let mut h = Harness::new();
    h.m.connect(oneshot::channel().0);
    h.drain();
    let error = ConnectError::Tls(crate::TlsError::Expired {
        host: "example.invalid".into(),
        detail: String::new(),
    });
    assert!(error.is_terminal());
    h.m.handle_connect_failed(h.now, error);
    let did = h.drain();
    assert!(
        matches!(
            did.first(),
            Some(Did::Socket(SocketStatus::Stopped { code: None, .. }))
        ),
        "{did:?}"
    );
    assert_eq!(h.m.poll_timeout(), None, "no reconnect armed");
}
