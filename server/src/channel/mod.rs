//! Channels: the [`Channel`] trait mirrors Phoenix's callbacks.
//!
//! Each callback runs inside the socket task; a returned [`Crash`] or a Rust panic is caught and
//! becomes `phx_error` for that channel only, exactly like a crashing channel process in Phoenix.
//! Pushes made through [`ChannelContext::push`] are sent after the callback returns, before its
//! reply, in the order they were made.

mod context;

use std::any::Any;

use phx_protocol::Payload;

pub use context::{ChannelContext, ChannelGone, ChannelHandle};

/// A message for [`Channel::handle_info`], scheduled with [`ChannelContext::send_after`]
/// (Phoenix's `Process.send_after(self(), msg, ms)`). Channels downcast it.
pub type Info = Box<dyn Any + Send>;

/// Work a callback leaves for after its frames: see [`ChannelContext::defer`].
pub(crate) type Deferred = Box<dyn FnOnce() + Send>;

/// The outcome of [`Channel::join`].
#[derive(Debug, Clone, PartialEq)]
pub enum JoinOutcome {
    /// `{:ok, reply, socket}` (use `Payload::empty_object()` for plain `{:ok, socket}`).
    Ok(Payload),
    /// `{:error, reply}`: the join is refused with this response; nothing is registered.
    Error(Payload),
}

/// Why a channel stops (`{:stop, reason, …}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `:normal`: phx_close.
    Normal,
    /// `:shutdown`: phx_close.
    Shutdown,
    /// `{:shutdown, detail}`: phx_close (`:left`, `:closed`, `:duplicate_join`, …).
    ShutdownWith(String),
    /// Any other reason: the socket sends phx_error, as for a crash.
    Other(String),
}

impl StopReason {
    /// True when Phoenix treats the stop as clean (phx_close rather than phx_error).
    pub fn is_clean(&self) -> bool {
        !matches!(self, StopReason::Other(_))
    }
}

/// A reply to the message being handled: `{:reply, {status, payload}, socket}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ReplyWith {
    /// `"ok"`, `"error"` or any other status atom.
    pub status: String,
    /// The response (JSON or binary).
    pub payload: Payload,
}

impl ReplyWith {
    /// `{:ok, payload}`.
    pub fn ok(payload: impl Into<Payload>) -> Self {
        ReplyWith {
            status: "ok".into(),
            payload: payload.into(),
        }
    }

    /// `{:error, payload}`.
    pub fn error(payload: impl Into<Payload>) -> Self {
        ReplyWith {
            status: "error".into(),
            payload: payload.into(),
        }
    }
}

/// What a callback returns.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `{:noreply, socket}`.
    NoReply,
    /// `{:reply, {status, payload}, socket}` (only meaningful from `handle_in`).
    Reply(ReplyWith),
    /// `{:stop, reason, socket}` or `{:stop, reason, reply, socket}` (reply sent first).
    Stop {
        /// Why; decides between phx_close and phx_error.
        reason: StopReason,
        /// An optional reply to the message being handled.
        reply: Option<ReplyWith>,
    },
}

impl Outcome {
    /// `{:reply, {:ok, payload}, socket}`.
    pub fn reply_ok(payload: impl Into<Payload>) -> Self {
        Outcome::Reply(ReplyWith::ok(payload))
    }

    /// `{:reply, {:error, payload}, socket}`.
    pub fn reply_error(payload: impl Into<Payload>) -> Self {
        Outcome::Reply(ReplyWith::error(payload))
    }
}

/// A channel crash (Phoenix: the channel process raised). The socket sends `phx_error`
/// (or "join crashed" from `join`), logs the reason and keeps serving.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("channel crashed: {reason}")]
pub struct Crash {
    /// What went wrong, for the log only (never sent to the client).
    pub reason: String,
}

impl Crash {
    /// A crash with a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        Crash {
            reason: reason.into(),
        }
    }

    /// Phoenix's `FunctionClauseError` for an event no `handle_in` clause matches.
    pub fn no_clause(callback: &str, event: &str) -> Self {
        Crash::new(format!(
            "no function clause matching {callback}({event:?}, …)"
        ))
    }
}

/// A Phoenix channel. One value per joined topic per socket; it holds the channel's state
/// (Phoenix keeps it in `socket.assigns`).
pub trait Channel: Send + 'static {
    /// `join/3`. Called once; the topic is in `ctx.topic()`.
    fn join(
        &mut self,
        topic: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash>;

    /// `handle_in/3` for every event the client pushes to this channel.
    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash>;

    /// `intercept [...]`: broadcast events that go through [`Channel::handle_out`] instead of the
    /// fastlane.
    fn intercepts(&self) -> &'static [&'static str] {
        &[]
    }

    /// `handle_out/3` for an intercepted broadcast. The default pushes it unchanged.
    fn handle_out(
        &mut self,
        event: &str,
        payload: &Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        ctx.push(event, payload.clone());
        Ok(Outcome::NoReply)
    }

    /// `handle_info/2` for messages scheduled with [`ChannelContext::send_after`].
    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        let _ = (msg, ctx);
        Ok(Outcome::NoReply)
    }

    /// `terminate/2`: the channel is going away (leave, stop, socket closed). Pushes made here
    /// are sent after phx_close when the socket is still open.
    fn terminate(&mut self, reason: &StopReason, ctx: &mut ChannelContext<'_>) {
        let _ = (reason, ctx);
    }
}

/// The message of a caught panic (`panic!("…")`'s text), or `"panic"`.
pub(crate) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_owned())
}
