//! # phx-protocol
//!
//! Sans-IO building blocks of the Phoenix Channels protocol, byte-compatible with Phoenix 1.7/1.8.
//! Nothing here does I/O or depends on an async runtime: the server, the client and the
//! conformance suite all share these types and codecs.
//!
//! ## Layout
//! - [`message`]: the message model: [`Ref`], [`Payload`], the client [`Message`] and the three
//!   server-side shapes [`Reply`], [`Push`] and [`Broadcast`], unified as [`ServerMessage`].
//! - [`frame`]: [`Frame`], a WebSocket data frame (text or binary) as a codec sees it.
//! - [`vsn`]: `vsn` query-parameter negotiation ([`Vsn`], [`negotiate`]).
//! - [`serializer`]: the codecs: [`serializer::v1`] (JSON objects), [`serializer::v2`] (JSON arrays)
//!   and [`serializer::binary`] (V2 binary frames), behind [`Vsn::decode_client`] and friends.
//! - [`json`]: a JSON writer that emits object keys in sorted order, as Phoenix (Jason over small
//!   Erlang maps) does.
//! - [`token`]: Phoenix.Token `sign`/`verify`, compatible with Plug.Crypto.
//! - [`events`]: reserved event and topic names.
//! - [`version`]: Phoenix and Plug.Crypto releases, and the table of which behaviour starts at
//!   which release ([`version::BEHAVIOURS`]), shared by the server and the conformance suite.
//!
//! ## Example
//! ```
//! use phx_protocol::{negotiate, Frame, ServerMessage, Reply, Ref, Payload};
//!
//! let vsn = negotiate(Some("2.0.0")).unwrap();
//! let msg = vsn.decode_client(&Frame::text(r#"["1","1","ping","phx_join",{}]"#)).unwrap();
//! assert_eq!(msg.topic, "ping");
//! let reply = ServerMessage::Reply(Reply::ok(&msg, Payload::empty_object()));
//! let frame = vsn.encode_server(&reply).unwrap();
//! assert_eq!(frame, Frame::text(r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#));
//! ```

pub mod events;
pub mod frame;
pub mod json;
pub mod message;
pub mod serializer;
pub mod token;
pub mod version;
pub mod vsn;

pub use frame::Frame;
pub use message::{Broadcast, Message, Payload, Push, Ref, Reply, ServerMessage};
pub use serializer::{DecodeError, EncodeError};
pub use vsn::{negotiate, Vsn, VsnError};
