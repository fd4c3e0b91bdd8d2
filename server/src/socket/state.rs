//! The transport's routing state machine (Phoenix.Socket `handle_in/4` and friends).
//!
//! Synchronous: each input produces the server messages to send, in order, plus timers to
//! schedule. 1.7/1.8 differences live here (see COMPAT.md).

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::{events, Broadcast, Message, Payload, Push, Ref, Reply, ServerMessage, Vsn};
use serde_json::json;

use super::handle::ConnHandle;
use super::{Assigns, SocketHandler};
use crate::channel::{
    Channel, ChannelContext, Crash, Info, JoinOutcome, Outcome, ReplyWith, StopReason,
};
use crate::config::Compat;
use crate::endpoint::Endpoint;
use crate::pubsub::local::{SubKind, SubscriptionRef};
use phx_protocol::version::Behaviour;

/// What the socket and its channels can see.
pub(crate) struct Env {
    pub endpoint: Endpoint,
    pub assigns: Assigns,
    pub socket_id: Option<String>,
}

struct Joined {
    key: u64,
    /// The join_ref as the client sent it (nil stays nil): used for routing checks, phx_close
    /// and phx_error.
    stored_join_ref: Ref,
    /// `join_ref || ref`: what the channel's replies and pushes carry.
    chan_join_ref: Ref,
    channel: Box<dyn Channel>,
    sub: Option<SubscriptionRef>,
}

/// A timer to arm: after `delay`, `msg` goes to channel `chan_key`'s `handle_info`.
pub(crate) struct Timer {
    pub chan_key: u64,
    pub delay: Duration,
    pub msg: Info,
}

/// One connection's channels.
pub(crate) struct SocketState {
    env: Env,
    handler: Arc<dyn SocketHandler>,
    conn: Option<Arc<ConnHandle>>,
    vsn: Vsn,
    compat: Compat,
    max_channels: usize,
    channels: HashMap<String, Joined>,
    next_key: u64,
    out: Vec<ServerMessage>,
    timers: Vec<Timer>,
}

fn guarded<R>(f: impl FnOnce() -> Result<R, Crash>) -> Result<R, Crash> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(panic) => {
            let why = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".to_owned());
            Err(Crash::new(format!("panic: {why}")))
        }
    }
}

impl SocketState {
    pub(crate) fn new(
        env: Env,
        handler: Arc<dyn SocketHandler>,
        conn: Option<Arc<ConnHandle>>,
        vsn: Vsn,
    ) -> Self {
        let config = env.endpoint.config();
        let (compat, max_channels) = (config.compat, config.max_channels);
        SocketState {
            env,
            handler,
            conn,
            vsn,
            compat,
            max_channels,
            channels: HashMap::new(),
            next_key: 1,
            out: Vec::new(),
            timers: Vec::new(),
        }
    }

    /// Takes what the last inputs produced.
    pub(crate) fn take_output(&mut self) -> (Vec<ServerMessage>, Vec<Timer>) {
        (
            std::mem::take(&mut self.out),
            std::mem::take(&mut self.timers),
        )
    }

    /// A decoded client message.
    pub(crate) fn handle_message(&mut self, msg: Message) {
        if msg.topic == events::HEARTBEAT_TOPIC && msg.event == events::HEARTBEAT {
            self.out.push(ServerMessage::Reply(Reply::new(
                Ref::Null,
                msg.ref_.clone(),
                msg.topic.clone(),
                "ok",
                Payload::empty_object(),
            )));
            return;
        }
        let Some(joined) = self.channels.get(&msg.topic) else {
            match msg.event.as_str() {
                events::JOIN => self.join(msg),
                events::LEAVE => self.out.push(ServerMessage::Reply(Reply::ok(
                    &msg,
                    Payload::empty_object(),
                ))),
                _ => self.unmatched(&msg),
            }
            return;
        };
        if msg.event == events::JOIN {
            self.duplicate_join(msg);
            return;
        }
        let routed = match self.compat.has(Behaviour::StaleJoinRefDropped) {
            // 1.8: only nil or a strictly equal join_ref reaches the channel.
            true => msg.join_ref.is_null() || msg.join_ref == joined.stored_join_ref,
            // 1.7: everything reaches the channel; only phx_leave checks join_ref.
            false => {
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
            self.leave(msg);
        } else {
            self.handle_in(msg);
        }
    }

    fn unmatched(&mut self, msg: &Message) {
        tracing::warn!(topic = %msg.topic, event = %msg.event, "Ignoring unmatched topic {:?} in {}", msg.topic, self.handler.module());
        self.out.push(ServerMessage::Reply(Reply::new(
            Ref::Null,
            msg.ref_.clone(),
            msg.topic.clone(),
            "error",
            json!({"reason": events::UNMATCHED_TOPIC}),
        )));
    }

    fn join(&mut self, msg: Message) {
        if self.compat == Compat::V1_8 && self.channels.len() >= self.max_channels {
            tracing::error!(topic = %msg.topic, limit = self.max_channels, "too many channels joined");
            self.out.push(ServerMessage::Reply(Reply::error(
                &msg,
                json!({"reason": events::TOO_MANY_CHANNELS}),
            )));
            return;
        }
        let Some(mut channel) = self.handler.channel(&msg.topic) else {
            self.unmatched(&msg);
            return;
        };
        let chan_join_ref = msg.join_ref.or(&msg.ref_).clone();
        let key = self.next_key;
        self.next_key += 1;
        let env = &self.env;
        let mut ctx = ChannelContext::new(
            &msg.topic,
            &chan_join_ref,
            &env.assigns,
            env.socket_id.as_deref(),
            &env.endpoint,
        )
        .with_handle(self.conn.as_deref().map(ConnHandle::inbox_ref), key);
        let topic = msg.topic.clone();
        let result = guarded(|| channel.join(&topic, msg.payload.clone(), &mut ctx));
        let (pushes, timers) = (
            std::mem::take(&mut ctx.pushes),
            std::mem::take(&mut ctx.timers),
        );
        match result {
            Ok(JoinOutcome::Ok(response)) => {
                self.out
                    .push(ServerMessage::Reply(Reply::ok(&msg, response)));
                self.emit_pushes(&chan_join_ref, &msg.topic, pushes);
                self.timers
                    .extend(timers.into_iter().map(|(delay, msg)| Timer {
                        chan_key: key,
                        delay,
                        msg,
                    }));
                let sub = self.conn.as_ref().map(|conn| {
                    let kind = SubKind::Channel {
                        chan_key: key,
                        vsn: self.vsn,
                        intercepts: channel.intercepts(),
                    };
                    self.env
                        .endpoint
                        .pubsub()
                        .local()
                        .subscribe(&msg.topic, conn.clone(), kind)
                });
                if let Some(conn) = &self.conn {
                    conn.set_joined(&msg.topic, Some(&msg.join_ref));
                }
                self.channels.insert(
                    msg.topic.clone(),
                    Joined {
                        key,
                        stored_join_ref: msg.join_ref.clone(),
                        chan_join_ref,
                        channel,
                        sub,
                    },
                );
            }
            Ok(JoinOutcome::Error(response)) => {
                self.out
                    .push(ServerMessage::Reply(Reply::error(&msg, response)));
            }
            Err(crash) => {
                tracing::error!(topic = %msg.topic, "join crashed: {}", crash.reason);
                self.out.push(ServerMessage::Reply(Reply::error(
                    &msg,
                    json!({"reason": events::JOIN_CRASHED}),
                )));
            }
        }
    }

    fn duplicate_join(&mut self, msg: Message) {
        let Some(mut old) = self.channels.remove(&msg.topic) else {
            return;
        };
        tracing::debug!(topic = %msg.topic, "Duplicate channel join for topic {:?}: closing existing channel", msg.topic);
        self.unsubscribe(&msg.topic, &old);
        // The old channel is shut down; its close is queued behind the new join's reply.
        let mut discard = Vec::new();
        std::mem::swap(&mut discard, &mut self.out);
        self.terminate_channel(
            &msg.topic,
            &mut old,
            &StopReason::ShutdownWith("duplicate_join".into()),
        );
        std::mem::swap(&mut discard, &mut self.out);
        let topic = msg.topic.clone();
        self.join(msg);
        self.out.push(close_msg(
            &old.stored_join_ref,
            &topic,
            events::CLOSE,
            Payload::empty_object(),
        ));
    }

    fn leave(&mut self, msg: Message) {
        let Some(mut joined) = self.channels.remove(&msg.topic) else {
            return;
        };
        self.unsubscribe(&msg.topic, &joined);
        self.out.push(ServerMessage::Reply(Reply::new(
            joined.chan_join_ref.clone(),
            msg.ref_.clone(),
            msg.topic.clone(),
            "ok",
            Payload::empty_object(),
        )));
        self.out.push(close_msg(
            &joined.stored_join_ref,
            &msg.topic,
            events::CLOSE,
            Payload::empty_object(),
        ));
        self.terminate_channel(
            &msg.topic,
            &mut joined,
            &StopReason::ShutdownWith("left".into()),
        );
    }

    fn handle_in(&mut self, msg: Message) {
        let Message {
            ref_,
            topic,
            event,
            payload,
            ..
        } = msg;
        self.run_callback(&topic, Some(&ref_), |channel, ctx| {
            channel.handle_in(&event, payload, ctx)
        });
    }

    /// An intercepted broadcast for channel `chan_key`.
    pub(crate) fn handle_intercept(&mut self, chan_key: u64, broadcast: &Broadcast) {
        // The channel subscribed on the broadcast's topic: a map lookup, no scan. The key tells
        // it from a channel that has since left and re-joined the topic.
        let topic = broadcast.topic.as_str();
        if self.channels.get(topic).is_none_or(|j| j.key != chan_key) {
            return;
        }
        self.run_callback(topic, None, |channel, ctx| {
            channel.handle_out(&broadcast.event, &broadcast.payload, ctx)
        });
    }

    /// A timer fired for channel `chan_key`.
    pub(crate) fn handle_info(&mut self, chan_key: u64, info: Info) {
        let Some(topic) = self.topic_of(chan_key) else {
            return;
        };
        self.run_callback(&topic, None, |channel, ctx| channel.handle_info(info, ctx));
    }

    fn topic_of(&self, chan_key: u64) -> Option<String> {
        self.channels
            .iter()
            .find(|(_, j)| j.key == chan_key)
            .map(|(t, _)| t.clone())
    }

    fn run_callback(
        &mut self,
        topic: &str,
        reply_to: Option<&Ref>,
        f: impl FnOnce(&mut dyn Channel, &mut ChannelContext<'_>) -> Result<Outcome, Crash>,
    ) {
        let Some(joined) = self.channels.get_mut(topic) else {
            return;
        };
        let env = &self.env;
        let mut ctx = ChannelContext::new(
            topic,
            &joined.chan_join_ref,
            &env.assigns,
            env.socket_id.as_deref(),
            &env.endpoint,
        )
        .with_handle(self.conn.as_deref().map(ConnHandle::inbox_ref), joined.key);
        let channel = &mut joined.channel;
        let result = guarded(|| f(channel.as_mut(), &mut ctx));
        let (pushes, timers) = (
            std::mem::take(&mut ctx.pushes),
            std::mem::take(&mut ctx.timers),
        );
        let (key, chan_join_ref) = (joined.key, joined.chan_join_ref.clone());
        self.emit_pushes(&chan_join_ref, topic, pushes);
        self.timers
            .extend(timers.into_iter().map(|(delay, msg)| Timer {
                chan_key: key,
                delay,
                msg,
            }));
        let reply = |status: String, payload: Payload| {
            reply_to.map(|r| {
                ServerMessage::Reply(Reply::new(
                    chan_join_ref.clone(),
                    r.clone(),
                    topic,
                    status,
                    payload,
                ))
            })
        };
        match result {
            Ok(Outcome::NoReply) => {}
            Ok(Outcome::Reply(ReplyWith { status, payload })) => {
                self.out.extend(reply(status, payload))
            }
            Ok(Outcome::Stop { reason, reply: r }) => {
                if let Some(ReplyWith { status, payload }) = r {
                    self.out.extend(reply(status, payload));
                }
                self.stop(topic, reason);
            }
            Err(crash) => {
                tracing::error!(topic, "channel crashed: {}", crash.reason);
                self.crashed(topic);
            }
        }
    }

    fn stop(&mut self, topic: &str, reason: StopReason) {
        let Some(mut joined) = self.channels.remove(topic) else {
            return;
        };
        self.unsubscribe(topic, &joined);
        // Phoenix: a clean stop sends {:socket_close} before terminate/2 runs (phx_close first);
        // any other reason is only seen when the process is DOWN, after terminate's pushes.
        if reason.is_clean() {
            let close = close_msg(
                &joined.stored_join_ref,
                topic,
                events::CLOSE,
                Payload::empty_object(),
            );
            self.out.push(close);
            self.terminate_channel(topic, &mut joined, &reason);
        } else {
            self.terminate_channel(topic, &mut joined, &reason);
            let error = close_msg(
                &joined.stored_join_ref,
                topic,
                events::ERROR,
                self.error_payload(),
            );
            self.out.push(error);
        }
    }

    fn crashed(&mut self, topic: &str) {
        let Some(joined) = self.channels.remove(topic) else {
            return;
        };
        self.unsubscribe(topic, &joined);
        self.out.push(close_msg(
            &joined.stored_join_ref,
            topic,
            events::ERROR,
            self.error_payload(),
        ));
    }

    fn error_payload(&self) -> Payload {
        match self.compat.has(Behaviour::PhxErrorReason) {
            false => Payload::empty_object(),
            true => json!({"reason": events::CHANNEL_CRASH}).into(),
        }
    }

    fn unsubscribe(&self, topic: &str, joined: &Joined) {
        if let Some(sub) = &joined.sub {
            self.env.endpoint.pubsub().local().unsubscribe(sub);
        }
        if let Some(conn) = &self.conn {
            conn.set_joined(topic, None);
        }
    }

    fn terminate_channel(&mut self, topic: &str, joined: &mut Joined, reason: &StopReason) {
        let env = &self.env;
        let mut ctx = ChannelContext::new(
            topic,
            &joined.chan_join_ref,
            &env.assigns,
            env.socket_id.as_deref(),
            &env.endpoint,
        );
        let channel = &mut joined.channel;
        let _ = guarded(|| {
            channel.terminate(reason, &mut ctx);
            Ok(())
        });
        let pushes = std::mem::take(&mut ctx.pushes);
        let chan_join_ref = joined.chan_join_ref.clone();
        self.emit_pushes(&chan_join_ref, topic, pushes);
    }

    /// The socket is going away: every channel terminates with `{:shutdown, :closed}`.
    pub(crate) fn terminate_all(&mut self) {
        let topics: Vec<String> = self.channels.keys().cloned().collect();
        for topic in topics {
            if let Some(mut joined) = self.channels.remove(&topic) {
                self.unsubscribe(&topic, &joined);
                self.terminate_channel(
                    &topic,
                    &mut joined,
                    &StopReason::ShutdownWith("closed".into()),
                );
            }
        }
        self.out.clear();
        self.timers.clear();
    }

    fn emit_pushes(&mut self, join_ref: &Ref, topic: &str, pushes: Vec<(String, Payload)>) {
        for (event, payload) in pushes {
            self.out.push(ServerMessage::Push(Push::new(
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
