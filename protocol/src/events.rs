//! Reserved event names, the heartbeat topic, and the exact error reasons Phoenix sends.

/// Join request event.
pub const JOIN: &str = "phx_join";
/// Leave request event.
pub const LEAVE: &str = "phx_leave";
/// Reply event (server → client).
pub const REPLY: &str = "phx_reply";
/// Channel closed normally (server → client); `ref` carries the join_ref.
pub const CLOSE: &str = "phx_close";
/// Channel crashed (server → client); `ref` carries the join_ref.
pub const ERROR: &str = "phx_error";
/// Heartbeat event, sent on [`HEARTBEAT_TOPIC`].
pub const HEARTBEAT: &str = "heartbeat";
/// The topic heartbeats are sent on; it is intercepted before channel routing.
pub const HEARTBEAT_TOPIC: &str = "phoenix";

/// Reply reason for a join or push to a topic with no channel.
pub const UNMATCHED_TOPIC: &str = "unmatched topic";
/// Reply reason when `join/3` raised.
pub const JOIN_CRASHED: &str = "join crashed";
/// Reply reason when the socket reached `max_channels_per_transport`.
pub const TOO_MANY_CHANNELS: &str = "too many channels joined";
/// `phx_error` reason since Phoenix 1.8.10.
pub const CHANNEL_CRASH: &str = "channel_crash";
