//! The socket's protocol core (Phoenix.Socket `handle_in/4` and friends), sans-IO.
//!
//! [`SocketMachine`] holds one connection's channels and the routing rules (join, leave,
//! duplicate join, stale join_refs, crashes, close codes). It performs no I/O and holds no
//! endpoint, connection handle or tokio type: each input (`handle_*`) appends [`Effect`]s that
//! the connection task applies in order (send a frame, subscribe, arm a timer, close). 1.7/1.8
//! and Cowboy/Bandit differences live here (see `COMPAT.md`); the tests at the bottom drive the
//! machine alone, one per COMPAT row and recorded behaviour. [`Breakage`] (testing checkers)
//! breaks one rule on purpose, each with one check where that rule is applied.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::version::Behaviour;
use phx_protocol::{events, Broadcast, Message, Payload, Push, Ref, Reply, ServerMessage};
use serde_json::json;

use super::handle::Inbox;
use super::{Assigns, SocketHandler};
use crate::channel::{
    Channel, ChannelContext, Crash, Deferred, Info, JoinOutcome, Outcome, ReplyWith, StopReason,
};
use crate::config::{Adapter, Breakage, Compat, Config};
use crate::endpoint::Endpoint;

/// The release-dependent rules one socket follows, taken from the [`Config`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rules {
    /// Which Phoenix release to imitate.
    pub compat: Compat,
    /// Which web server's close codes to use.
    pub adapter: Adapter,
    /// Channels per socket, when the release enforces a limit (Phoenix 1.7.24+, 1.8.9+).
    pub max_channels: Option<usize>,
    /// The one Phoenix rule broken on purpose, if any (testing checkers; see [`Breakage`]).
    pub breakage: Option<Breakage>,
}

impl Rules {
    /// The rules `config` asks for.
    pub(crate) fn from_config(config: &Config) -> Self {
        Rules {
            compat: config.compat,
            adapter: config.adapter,
            max_channels: config
                .compat
                .has(Behaviour::MaxChannels)
                .then_some(config.max_channels),
            breakage: config.breakage,
        }
    }
}

/// Why the server closes a socket; [`SocketMachine::handle_close`] picks the code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CloseCause {
    /// A `"disconnect"` broadcast on the socket id (`Endpoint.broadcast(id, "disconnect", %{})`).
    Disconnect,
    /// No inbound data for the idle timeout.
    Idle,
    /// A frame the serializer cannot decode (the socket process raises).
    Undecodable,
    /// Server shutdown (Phoenix's drain).
    Drain,
}

/// What the connection task must do, in order.
pub(crate) enum Effect {
    /// Encode and send this message.
    Send(ServerMessage),
    /// Subscribe channel `chan_key` to `topic` (fastlane unless the event is intercepted).
    Subscribe {
        chan_key: u64,
        topic: String,
        intercepts: &'static [&'static str],
    },
    /// Drop channel `chan_key`'s subscription to `topic`.
    Unsubscribe { chan_key: u64, topic: String },
    /// After `delay`, feed `msg` back through [`SocketMachine::handle_info`] for `chan_key`.
    ArmTimer {
        chan_key: u64,
        delay: Duration,
        msg: Info,
    },
    /// A channel joined `topic` with `join_ref` (introspection).
    Joined { topic: String, join_ref: Ref },
    /// The channel on `topic` is gone (introspection).
    Left { topic: String },
    /// Close the WebSocket with this code; nothing more is sent.
    Close(u16),
    /// Work a callback deferred with [`ChannelContext::defer`] (Presence's track/update/untrack
    /// and their diffs): run once the callback's frames and reply are queued.
    Run(Deferred),
    /// A channel that has gone (leave, stop, crash, duplicate join, socket close): dropped here,
    /// after its last frames and its unsubscribe, so side effects of its `Drop` (Presence's
    /// leave diff, like the Tracker seeing the process DOWN) never reach its own client.
    Release(Box<dyn Channel>),
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Send(m) => write!(f, "Send({m:?})"),
            Effect::Subscribe {
                chan_key, topic, ..
            } => write!(f, "Subscribe({chan_key}, {topic:?})"),
            Effect::Unsubscribe { chan_key, topic } => {
                write!(f, "Unsubscribe({chan_key}, {topic:?})")
            }
            Effect::ArmTimer {
                chan_key, delay, ..
            } => write!(f, "ArmTimer({chan_key}, {delay:?})"),
            Effect::Joined { topic, join_ref } => write!(f, "Joined({topic:?}, {join_ref})"),
            Effect::Left { topic } => write!(f, "Left({topic:?})"),
            Effect::Close(code) => write!(f, "Close({code})"),
            Effect::Run(_) => write!(f, "Run"),
            Effect::Release(_) => write!(f, "Release"),
        }
    }
}

/// What channel callbacks may reach during one input: the endpoint (node name, broadcast,
/// tokens) and, on a live connection, the socket task's inbox for [`ChannelContext::handle`].
/// Lent for the call only; the machine keeps neither.
#[derive(Clone, Copy)]
pub(crate) struct Host<'a> {
    pub endpoint: &'a Endpoint,
    pub inbox: Option<&'a tokio::sync::mpsc::Sender<Inbox>>,
}

struct Joined {
    key: u64,
    /// The join_ref as the client sent it (nil stays nil): used for routing checks, phx_close
    /// and phx_error.
    stored_join_ref: Ref,
    /// `join_ref || ref`: what the channel's replies and pushes carry.
    chan_join_ref: Ref,
    channel: Box<dyn Channel>,
}

/// One connection's channels and routing rules.
pub(crate) struct SocketMachine {
    handler: Arc<dyn SocketHandler>,
    assigns: Assigns,
    socket_id: Option<String>,
    rules: Rules,
    channels: HashMap<String, Joined>,
    next_key: u64,
    effects: Vec<Effect>,
}

fn guarded<R>(f: impl FnOnce() -> Result<R, Crash>) -> Result<R, Crash> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => Err(Crash::new(format!(
            "panic: {}",
            crate::channel::panic_message(&panic)
        ))),
    }
}

impl SocketMachine {
    /// A socket that `handler.connect` accepted with `assigns`.
    pub(crate) fn new(
        handler: Arc<dyn SocketHandler>,
        assigns: Assigns,
        socket_id: Option<String>,
        rules: Rules,
    ) -> Self {
        SocketMachine {
            handler,
            assigns,
            socket_id,
            rules,
            channels: HashMap::new(),
            next_key: 1,
            effects: Vec::new(),
        }
    }

    /// Takes the effects of the inputs so far, in order. The machine keeps no buffer behind:
    /// an idle socket holds no effect capacity (RSS per idle connection).
    pub(crate) fn take_effects(&mut self) -> Vec<Effect> {
        std::mem::take(&mut self.effects)
    }

    fn breaks(&self, rule: Breakage) -> bool {
        self.rules.breakage == Some(rule)
    }

    /// Joined channels.
    #[cfg(test)]
    pub(crate) fn channel_count(&self) -> usize {
        self.channels.len()
    }

    fn send(&mut self, msg: ServerMessage) {
        self.effects.push(Effect::Send(msg));
    }

    /// A decoded client message.
    pub(crate) fn handle_message(&mut self, msg: Message, host: Host<'_>) {
        if msg.topic == events::HEARTBEAT_TOPIC && msg.event == events::HEARTBEAT {
            // Phoenix: a heartbeat's reply has a null join_ref.
            let join_ref = if self.breaks(Breakage::HeartbeatJoinRef) {
                msg.ref_.clone()
            } else {
                Ref::Null
            };
            self.send(ServerMessage::Reply(Reply::new(
                join_ref,
                msg.ref_.clone(),
                msg.topic.clone(),
                "ok",
                Payload::empty_object(),
            )));
            return;
        }
        let Some(joined) = self.channels.get(&msg.topic) else {
            match msg.event.as_str() {
                events::JOIN => self.join(msg, host),
                events::LEAVE => self.send(ServerMessage::Reply(Reply::ok(
                    &msg,
                    Payload::empty_object(),
                ))),
                _ => self.unmatched(&msg),
            }
            return;
        };
        if msg.event == events::JOIN {
            self.duplicate_join(msg, host);
            return;
        }
        let compat = self.rules.compat;
        let routed = match (
            compat.has(Behaviour::StaleJoinRefDropped),
            compat.has(Behaviour::NullJoinRefRouted),
        ) {
            // 1.8.12: only nil or a strictly equal join_ref reaches the channel.
            (true, true) => msg.join_ref.is_null() || msg.join_ref == joined.stored_join_ref,
            // 1.8.3–1.8.11: a channel joined with nil takes every join_ref; otherwise only an
            // equal one (nil is dropped).
            (true, false) => {
                joined.stored_join_ref.is_null() || msg.join_ref == joined.stored_join_ref
            }
            // 1.7: everything reaches the channel; only phx_leave checks join_ref.
            (false, _) => {
                msg.event != events::LEAVE
                    || joined.stored_join_ref.is_null()
                    || joined.stored_join_ref == msg.join_ref
            }
        };
        if !routed {
            tracing::debug!(topic = %msg.topic, join_ref = %msg.join_ref, "ignoring message with stale join_ref");
            return;
        }
        if msg.event == events::LEAVE {
            self.leave(msg, host);
        } else {
            self.handle_in(msg, host);
        }
    }

    /// The server closes the socket: a [`Effect::Close`] with the release's and adapter's code.
    /// No phx_close or phx_error is sent for the joined channels.
    pub(crate) fn handle_close(&mut self, cause: CloseCause) {
        let going_away = self.rules.compat.has(Behaviour::DisconnectGoingAway);
        let code = match (cause, going_away, self.rules.adapter) {
            (CloseCause::Disconnect, true, _) => 1001,
            (CloseCause::Disconnect, false, Adapter::Cowboy) => 1000,
            (CloseCause::Disconnect, false, Adapter::Bandit) => 1011,
            (CloseCause::Idle, _, Adapter::Cowboy) => 1000,
            (CloseCause::Idle, _, Adapter::Bandit) => 1002,
            (CloseCause::Undecodable, _, _) => 1011,
            (CloseCause::Drain, _, _) => 1012,
        };
        self.effects.push(Effect::Close(code));
    }

    fn unmatched(&mut self, msg: &Message) {
        tracing::warn!(topic = %msg.topic, event = %msg.event, "Ignoring unmatched topic {:?} in {}", msg.topic, self.handler.module());
        self.send(ServerMessage::Reply(Reply::new(
            Ref::Null,
            msg.ref_.clone(),
            msg.topic.clone(),
            "error",
            json!({"reason": events::UNMATCHED_TOPIC}),
        )));
    }

    fn join(&mut self, msg: Message, host: Host<'_>) {
        if let Some(limit) = self.rules.max_channels {
            if self.channels.len() >= limit {
                tracing::error!(topic = %msg.topic, limit, "too many channels joined");
                self.send(ServerMessage::Reply(Reply::error(
                    &msg,
                    json!({"reason": events::TOO_MANY_CHANNELS}),
                )));
                return;
            }
        }
        let Some(mut channel) = self.handler.channel(&msg.topic) else {
            self.unmatched(&msg);
            return;
        };
        let chan_join_ref = msg.join_ref.or(&msg.ref_).clone();
        let key = self.next_key;
        self.next_key += 1;
        let mut ctx = ChannelContext::new(
            &msg.topic,
            &chan_join_ref,
            &self.assigns,
            self.socket_id.as_deref(),
            host.endpoint,
        )
        .with_handle(host.inbox, key);
        let result = guarded(|| channel.join(&msg.topic, msg.payload.clone(), &mut ctx));
        let (pushes, timers, deferred) = (
            std::mem::take(&mut ctx.pushes),
            std::mem::take(&mut ctx.timers),
            std::mem::take(&mut ctx.deferred),
        );
        match result {
            Ok(JoinOutcome::Ok(response)) => {
                // Subscribed before the reply leaves: a broadcast the client triggers once it
                // reads the reply must reach it.
                self.effects.push(Effect::Subscribe {
                    chan_key: key,
                    topic: msg.topic.clone(),
                    intercepts: channel.intercepts(),
                });
                self.effects.push(Effect::Joined {
                    topic: msg.topic.clone(),
                    join_ref: msg.join_ref.clone(),
                });
                self.send(ServerMessage::Reply(Reply::ok(&msg, response)));
                self.emit_pushes(&chan_join_ref, &msg.topic, pushes);
                self.arm(key, timers);
                self.run_deferred(deferred);
                self.channels.insert(
                    msg.topic,
                    Joined {
                        key,
                        stored_join_ref: msg.join_ref,
                        chan_join_ref,
                        channel,
                    },
                );
            }
            Ok(JoinOutcome::Error(response)) => {
                self.send(ServerMessage::Reply(Reply::error(&msg, response)));
                self.run_deferred(deferred);
                self.effects.push(Effect::Release(channel));
            }
            Err(crash) => {
                tracing::error!(topic = %msg.topic, "join crashed: {}", crash.reason);
                self.send(ServerMessage::Reply(Reply::error(
                    &msg,
                    json!({"reason": events::JOIN_CRASHED}),
                )));
                self.run_deferred(deferred);
                self.effects.push(Effect::Release(channel));
            }
        }
    }

    fn run_deferred(&mut self, deferred: Vec<Deferred>) {
        self.effects.extend(deferred.into_iter().map(Effect::Run));
    }

    fn duplicate_join(&mut self, msg: Message, host: Host<'_>) {
        if self.breaks(Breakage::KeepOldChannelOnDuplicateJoin) {
            // Phoenix closes the old channel and joins a new one.
            self.answer_join_keeping_old(msg, host);
            return;
        }
        let Some(mut old) = self.channels.remove(&msg.topic) else {
            return;
        };
        tracing::debug!(topic = %msg.topic, "Duplicate channel join for topic {:?}: closing existing channel", msg.topic);
        self.unsubscribe(&msg.topic, &old);
        // The old channel is shut down; what it pushes from terminate is never sent, and its
        // close is queued behind the new join's reply.
        let mark = self.effects.len();
        self.terminate_channel(
            &msg.topic,
            &mut old,
            &StopReason::ShutdownWith("duplicate_join".into()),
            host,
        );
        self.effects.truncate(mark);
        let topic = msg.topic.clone();
        self.join(msg, host);
        self.send(close_msg(
            &old.stored_join_ref,
            &topic,
            events::CLOSE,
            Payload::empty_object(),
        ));
        self.effects.push(Effect::Release(old.channel));
    }

    /// [`Breakage::KeepOldChannelOnDuplicateJoin`]: the reply a new channel's `join` gives, but
    /// the new channel is dropped at once (none of its pushes, timers or deferred work happen)
    /// and the old one stays joined, subscribed and unclosed.
    fn answer_join_keeping_old(&mut self, msg: Message, host: Host<'_>) {
        let Some(mut channel) = self.handler.channel(&msg.topic) else {
            return;
        };
        let chan_join_ref = msg.join_ref.or(&msg.ref_).clone();
        let mut ctx = ChannelContext::new(
            &msg.topic,
            &chan_join_ref,
            &self.assigns,
            self.socket_id.as_deref(),
            host.endpoint,
        );
        let reply = match guarded(|| channel.join(&msg.topic, msg.payload.clone(), &mut ctx)) {
            Ok(JoinOutcome::Ok(response)) => Reply::ok(&msg, response),
            Ok(JoinOutcome::Error(response)) => Reply::error(&msg, response),
            Err(_) => Reply::error(&msg, json!({"reason": events::JOIN_CRASHED})),
        };
        drop(ctx);
        self.send(ServerMessage::Reply(reply));
        self.effects.push(Effect::Release(channel));
    }

    fn leave(&mut self, msg: Message, host: Host<'_>) {
        let Some(mut joined) = self.channels.remove(&msg.topic) else {
            return;
        };
        self.unsubscribe(&msg.topic, &joined);
        self.send(ServerMessage::Reply(Reply::new(
            joined.chan_join_ref.clone(),
            msg.ref_.clone(),
            msg.topic.clone(),
            "ok",
            Payload::empty_object(),
        )));
        // Phoenix: the leave's reply is followed by phx_close.
        if !self.breaks(Breakage::OmitLeaveClose) {
            self.send(close_msg(
                &joined.stored_join_ref,
                &msg.topic,
                events::CLOSE,
                Payload::empty_object(),
            ));
        }
        self.terminate_channel(
            &msg.topic,
            &mut joined,
            &StopReason::ShutdownWith("left".into()),
            host,
        );
        self.effects.push(Effect::Release(joined.channel));
    }

    fn handle_in(&mut self, msg: Message, host: Host<'_>) {
        let Message {
            ref_,
            topic,
            event,
            payload,
            ..
        } = msg;
        self.run_callback(&topic, Some(&ref_), host, |channel, ctx| {
            channel.handle_in(&event, payload, ctx)
        });
    }

    /// An intercepted broadcast for channel `chan_key`: its `handle_out`.
    pub(crate) fn handle_intercept(
        &mut self,
        chan_key: u64,
        broadcast: &Broadcast,
        host: Host<'_>,
    ) {
        // The channel subscribed on the broadcast's topic: a map lookup, no scan. The key tells
        // it from a channel that has since left and re-joined the topic.
        let topic = broadcast.topic.as_str();
        if self.channels.get(topic).is_none_or(|j| j.key != chan_key) {
            return;
        }
        self.run_callback(topic, None, host, |channel, ctx| {
            channel.handle_out(&broadcast.event, &broadcast.payload, ctx)
        });
    }

    /// A timer or a [`crate::channel::ChannelHandle`] message for channel `chan_key`: its
    /// `handle_info`. Dropped when that channel has gone.
    pub(crate) fn handle_info(&mut self, chan_key: u64, info: Info, host: Host<'_>) {
        let Some(topic) = self.topic_of(chan_key) else {
            return;
        };
        self.run_callback(&topic, None, host, |channel, ctx| {
            channel.handle_info(info, ctx)
        });
    }

    fn topic_of(&self, chan_key: u64) -> Option<String> {
        self.channels
            .iter()
            .find(|(_, j)| j.key == chan_key)
            .map(|(t, _)| t.clone())
    }

    fn arm(&mut self, chan_key: u64, timers: Vec<(Duration, Info)>) {
        self.effects
            .extend(timers.into_iter().map(|(delay, msg)| Effect::ArmTimer {
                chan_key,
                delay,
                msg,
            }));
    }

    fn run_callback(
        &mut self,
        topic: &str,
        reply_to: Option<&Ref>,
        host: Host<'_>,
        f: impl FnOnce(&mut dyn Channel, &mut ChannelContext<'_>) -> Result<Outcome, Crash>,
    ) {
        let Some(joined) = self.channels.get_mut(topic) else {
            return;
        };
        let mut ctx = ChannelContext::new(
            topic,
            &joined.chan_join_ref,
            &self.assigns,
            self.socket_id.as_deref(),
            host.endpoint,
        )
        .with_handle(host.inbox, joined.key);
        let channel = &mut joined.channel;
        let result = guarded(|| f(channel.as_mut(), &mut ctx));
        let (pushes, timers, deferred) = (
            std::mem::take(&mut ctx.pushes),
            std::mem::take(&mut ctx.timers),
            std::mem::take(&mut ctx.deferred),
        );
        let (key, chan_join_ref) = (joined.key, joined.chan_join_ref.clone());
        self.emit_pushes(&chan_join_ref, topic, pushes);
        self.arm(key, timers);
        let reply = |status: String, payload: Payload| {
            reply_to.map(|r| {
                Effect::Send(ServerMessage::Reply(Reply::new(
                    chan_join_ref.clone(),
                    r.clone(),
                    topic,
                    status,
                    payload,
                )))
            })
        };
        match result {
            Ok(Outcome::NoReply) => self.run_deferred(deferred),
            Ok(Outcome::Reply(ReplyWith { status, payload })) => {
                self.effects.extend(reply(status, payload));
                self.run_deferred(deferred);
            }
            Ok(Outcome::Stop { reason, reply: r }) => {
                if let Some(ReplyWith { status, payload }) = r {
                    self.effects.extend(reply(status, payload));
                }
                self.run_deferred(deferred);
                self.stop(topic, reason, host);
            }
            Err(crash) => {
                tracing::error!(topic, "channel crashed: {}", crash.reason);
                self.run_deferred(deferred);
                self.crashed(topic);
            }
        }
    }

    fn stop(&mut self, topic: &str, reason: StopReason, host: Host<'_>) {
        let Some(mut joined) = self.channels.remove(topic) else {
            return;
        };
        self.unsubscribe(topic, &joined);
        // Phoenix: a clean stop sends {:socket_close} before terminate/2 runs (phx_close first);
        // any other reason is only seen when the process is DOWN, after terminate's pushes.
        if reason.is_clean() {
            self.send(close_msg(
                &joined.stored_join_ref,
                topic,
                events::CLOSE,
                Payload::empty_object(),
            ));
            self.terminate_channel(topic, &mut joined, &reason, host);
        } else {
            self.terminate_channel(topic, &mut joined, &reason, host);
            self.send_phx_error(&joined.stored_join_ref, topic);
        }
        self.effects.push(Effect::Release(joined.channel));
    }

    fn crashed(&mut self, topic: &str) {
        let Some(joined) = self.channels.remove(topic) else {
            return;
        };
        self.unsubscribe(topic, &joined);
        self.send_phx_error(&joined.stored_join_ref, topic);
        self.effects.push(Effect::Release(joined.channel));
    }

    /// The `phx_error` of a crashed channel, with the payload the release sends.
    fn send_phx_error(&mut self, join_ref: &Ref, topic: &str) {
        let payload = self.error_payload();
        self.send(close_msg(join_ref, topic, events::ERROR, payload));
    }

    fn error_payload(&self) -> Payload {
        if self.rules.compat.has(Behaviour::PhxErrorReason) {
            json!({"reason": events::CHANNEL_CRASH}).into()
        } else {
            Payload::empty_object()
        }
    }

    fn unsubscribe(&mut self, topic: &str, joined: &Joined) {
        self.effects.push(Effect::Unsubscribe {
            chan_key: joined.key,
            topic: topic.to_owned(),
        });
        self.effects.push(Effect::Left {
            topic: topic.to_owned(),
        });
    }

    fn terminate_channel(
        &mut self,
        topic: &str,
        joined: &mut Joined,
        reason: &StopReason,
        host: Host<'_>,
    ) {
        let mut ctx = ChannelContext::new(
            topic,
            &joined.chan_join_ref,
            &self.assigns,
            self.socket_id.as_deref(),
            host.endpoint,
        );
        let channel = &mut joined.channel;
        let _ = guarded(|| {
            channel.terminate(reason, &mut ctx);
            Ok(())
        });
        let pushes = std::mem::take(&mut ctx.pushes);
        let deferred = std::mem::take(&mut ctx.deferred);
        self.emit_pushes(&joined.chan_join_ref, topic, pushes);
        self.run_deferred(deferred);
    }

    /// The socket is going away: every channel terminates with `{:shutdown, :closed}`. Nothing
    /// more is sent or armed; only the unsubscribe, left, deferred and release effects remain.
    pub(crate) fn terminate_all(&mut self, host: Host<'_>) {
        let topics: Vec<String> = self.channels.keys().cloned().collect();
        for topic in topics {
            if let Some(mut joined) = self.channels.remove(&topic) {
                self.unsubscribe(&topic, &joined);
                self.terminate_channel(
                    &topic,
                    &mut joined,
                    &StopReason::ShutdownWith("closed".into()),
                    host,
                );
                self.effects.push(Effect::Release(joined.channel));
            }
        }
        self.effects.retain(|e| {
            matches!(
                e,
                Effect::Unsubscribe { .. }
                    | Effect::Left { .. }
                    | Effect::Close(_)
                    | Effect::Run(_)
                    | Effect::Release(_)
            )
        });
    }

    fn emit_pushes(&mut self, join_ref: &Ref, topic: &str, pushes: Vec<(String, Payload)>) {
        for (event, payload) in pushes {
            self.send(ServerMessage::Push(Push::new(
                join_ref.clone(),
                topic,
                event,
                payload,
            )));
        }
    }
}

/// phx_close / phx_error: the stored join_ref in both slots.
fn close_msg(join_ref: &Ref, topic: &str, event: &str, payload: Payload) -> ServerMessage {
    ServerMessage::Message(Message::new(
        join_ref.clone(),
        join_ref.clone(),
        topic,
        event,
        payload,
    ))
}

#[cfg(test)]
#[path = "machine_tests.rs"]
mod tests;
