//! The message model.
//!
//! A client sends [`Message`]s. A server sends one of three shapes, unified as [`ServerMessage`]:
//! a [`Reply`] to a client ref, a [`Push`] from one channel (join_ref set, ref null), or a fastlane
//! [`Broadcast`] (both refs null). `phx_close` and `phx_error` carry the join_ref in both slots and
//! are carried as a plain [`Message`].

use bytes::Bytes;
use serde_json::Value;

/// A `join_ref` or `ref`: Phoenix echoes whatever JSON value the client sent, type and all.
///
/// phoenix.js sends decimal strings; other clients send integers. Equality is type-sensitive, as
/// in Phoenix 1.8's stale-join_ref check: `Str("1") != Int(1)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Ref {
    /// JSON `null`, or an absent ref.
    #[default]
    Null,
    /// A JSON string.
    Str(String),
    /// A JSON integer that fits in `i64`.
    Int(i64),
    /// Any other JSON value (float, bignum, bool, array, object), kept as compact JSON text so
    /// that it echoes back unchanged.
    Other(String),
}

impl Ref {
    /// A string ref.
    pub fn str(s: impl Into<String>) -> Self {
        Ref::Str(s.into())
    }

    /// True for [`Ref::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Ref::Null)
    }

    /// Reads a ref from a decoded JSON value.
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::Null => Ref::Null,
            Value::String(s) => Ref::Str(s.clone()),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Ref::Int(i),
                // Printed as Jason would echo it (floats as `1.0e3`), not as serde_json prints.
                None => Ref::Other(crate::json::to_string(v)),
            },
            other => Ref::Other(crate::json::to_string(other)),
        }
    }

    /// The ref as a JSON value.
    pub fn to_json(&self) -> Value {
        match self {
            Ref::Null => Value::Null,
            Ref::Str(s) => Value::String(s.clone()),
            Ref::Int(i) => Value::from(*i),
            Ref::Other(raw) => serde_json::from_str(raw).unwrap_or(Value::Null),
        }
    }

    /// The ref as binary-frame bytes: Phoenix writes `to_string(ref)`, so null is empty.
    pub fn to_binary_field(&self) -> String {
        match self {
            Ref::Null => String::new(),
            Ref::Str(s) => s.clone(),
            Ref::Int(i) => i.to_string(),
            Ref::Other(raw) => raw.clone(),
        }
    }

    /// `self` unless it is null, else `other`: Phoenix's `join_ref || ref`.
    pub fn or<'a>(&'a self, other: &'a Ref) -> &'a Ref {
        if self.is_null() {
            other
        } else {
            self
        }
    }

    /// Writes the ref as JSON text.
    pub(crate) fn write_json(&self, out: &mut String) {
        match self {
            Ref::Null => out.push_str("null"),
            Ref::Str(s) => crate::json::write_str(s, out),
            Ref::Int(i) => out.push_str(&i.to_string()),
            Ref::Other(raw) => out.push_str(raw),
        }
    }
}

impl From<&str> for Ref {
    fn from(s: &str) -> Self {
        Ref::Str(s.to_owned())
    }
}

impl From<String> for Ref {
    fn from(s: String) -> Self {
        Ref::Str(s)
    }
}

impl From<i64> for Ref {
    fn from(i: i64) -> Self {
        Ref::Int(i)
    }
}

impl<T: Into<Ref>> From<Option<T>> for Ref {
    fn from(o: Option<T>) -> Self {
        o.map_or(Ref::Null, Into::into)
    }
}

impl std::fmt::Display for Ref {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write_json(&mut s);
        f.write_str(&s)
    }
}

/// A message payload: JSON, or opaque bytes carried in a V2 binary frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// A JSON value. Server pushes and broadcasts require an object on V2.
    Json(Value),
    /// Raw bytes (`{:binary, data}` in Phoenix).
    Binary(Bytes),
}

impl Payload {
    /// The empty object `{}`.
    pub fn empty_object() -> Self {
        Payload::Json(Value::Object(serde_json::Map::new()))
    }

    /// A binary payload.
    pub fn binary(b: impl Into<Bytes>) -> Self {
        Payload::Binary(b.into())
    }

    /// The JSON value, if this is a JSON payload.
    pub fn as_json(&self) -> Option<&Value> {
        match self {
            Payload::Json(v) => Some(v),
            Payload::Binary(_) => None,
        }
    }

    /// The bytes, if this is a binary payload.
    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Payload::Binary(b) => Some(b),
            Payload::Json(_) => None,
        }
    }

    /// True for a binary payload.
    pub fn is_binary(&self) -> bool {
        matches!(self, Payload::Binary(_))
    }
}

impl From<Value> for Payload {
    fn from(v: Value) -> Self {
        Payload::Json(v)
    }
}

impl Default for Payload {
    fn default() -> Self {
        Payload::empty_object()
    }
}

/// The full five-field message: what a client sends, and the shape of `phx_close`/`phx_error`.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// The join_ref of the channel this message belongs to.
    pub join_ref: Ref,
    /// The message ref; replies echo it.
    pub ref_: Ref,
    /// The topic, e.g. `"room:lobby"`.
    pub topic: String,
    /// The event, e.g. `"phx_join"`.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

impl Message {
    /// A message from its five fields.
    pub fn new(
        join_ref: impl Into<Ref>,
        ref_: impl Into<Ref>,
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Self {
        Message {
            join_ref: join_ref.into(),
            ref_: ref_.into(),
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
        }
    }
}

/// A `phx_reply` to a client ref: `[join_ref, ref, topic, "phx_reply", {"response":…,"status":…}]`.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    /// The join_ref of the channel (null for heartbeats and "unmatched topic").
    pub join_ref: Ref,
    /// The ref of the message being answered.
    pub ref_: Ref,
    /// The topic.
    pub topic: String,
    /// `"ok"`, `"error"`, or any other atom the channel returned.
    pub status: String,
    /// The response; a binary response is sent as a binary reply frame on V2.
    pub response: Payload,
}

impl Reply {
    /// A reply from its fields.
    pub fn new(
        join_ref: impl Into<Ref>,
        ref_: impl Into<Ref>,
        topic: impl Into<String>,
        status: impl Into<String>,
        response: impl Into<Payload>,
    ) -> Self {
        Reply {
            join_ref: join_ref.into(),
            ref_: ref_.into(),
            topic: topic.into(),
            status: status.into(),
            response: response.into(),
        }
    }

    /// An `"ok"` reply to `msg`, echoing its join_ref and ref.
    pub fn ok(msg: &Message, response: impl Into<Payload>) -> Self {
        Reply::new(
            msg.join_ref.clone(),
            msg.ref_.clone(),
            msg.topic.clone(),
            "ok",
            response,
        )
    }

    /// An `"error"` reply to `msg`, echoing its join_ref and ref.
    pub fn error(msg: &Message, response: impl Into<Payload>) -> Self {
        Reply::new(
            msg.join_ref.clone(),
            msg.ref_.clone(),
            msg.topic.clone(),
            "error",
            response,
        )
    }

    /// The reply payload as JSON (`{"response":…,"status":…}`), or None for a binary response.
    pub fn payload_json(&self) -> Option<Value> {
        let response = self.response.as_json()?.clone();
        let mut map = serde_json::Map::new();
        map.insert("response".into(), response);
        map.insert("status".into(), Value::String(self.status.clone()));
        Some(Value::Object(map))
    }
}

/// A server push from one channel (`Channel.push/3`): join_ref set, ref null.
#[derive(Clone, Debug, PartialEq)]
pub struct Push {
    /// The join_ref of the pushing channel.
    pub join_ref: Ref,
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

impl Push {
    /// A push from its fields.
    pub fn new(
        join_ref: impl Into<Ref>,
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Self {
        Push {
            join_ref: join_ref.into(),
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
        }
    }
}

/// A fastlane broadcast: both refs null, encoded once and shared by every subscriber.
#[derive(Clone, Debug, PartialEq)]
pub struct Broadcast {
    /// The topic.
    pub topic: String,
    /// The event.
    pub event: String,
    /// The payload.
    pub payload: Payload,
}

impl Broadcast {
    /// A broadcast from its fields.
    pub fn new(
        topic: impl Into<String>,
        event: impl Into<String>,
        payload: impl Into<Payload>,
    ) -> Self {
        Broadcast {
            topic: topic.into(),
            event: event.into(),
            payload: payload.into(),
        }
    }
}

/// Anything a server sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerMessage {
    /// A `phx_reply`.
    Reply(Reply),
    /// A channel push (ref null).
    Push(Push),
    /// A fastlane broadcast (both refs null).
    Broadcast(Broadcast),
    /// Any other five-field message, e.g. `phx_close` and `phx_error` (ref = join_ref).
    Message(Message),
}

impl ServerMessage {
    /// The topic.
    pub fn topic(&self) -> &str {
        match self {
            ServerMessage::Reply(r) => &r.topic,
            ServerMessage::Push(p) => &p.topic,
            ServerMessage::Broadcast(b) => &b.topic,
            ServerMessage::Message(m) => &m.topic,
        }
    }

    /// The event (`"phx_reply"` for replies).
    pub fn event(&self) -> &str {
        match self {
            ServerMessage::Reply(_) => crate::events::REPLY,
            ServerMessage::Push(p) => &p.event,
            ServerMessage::Broadcast(b) => &b.event,
            ServerMessage::Message(m) => &m.event,
        }
    }

    /// The join_ref slot.
    pub fn join_ref(&self) -> &Ref {
        const NULL: &Ref = &Ref::Null;
        match self {
            ServerMessage::Reply(r) => &r.join_ref,
            ServerMessage::Push(p) => &p.join_ref,
            ServerMessage::Broadcast(_) => NULL,
            ServerMessage::Message(m) => &m.join_ref,
        }
    }

    /// The ref slot.
    pub fn ref_(&self) -> &Ref {
        const NULL: &Ref = &Ref::Null;
        match self {
            ServerMessage::Reply(r) => &r.ref_,
            ServerMessage::Push(_) | ServerMessage::Broadcast(_) => NULL,
            ServerMessage::Message(m) => &m.ref_,
        }
    }

    /// The five-field view of this message (a reply's payload becomes `{"response","status"}`;
    /// a binary reply keeps its bytes as payload).
    pub fn into_message(self) -> Message {
        match self {
            ServerMessage::Reply(r) => {
                let payload = match r.payload_json() {
                    Some(v) => Payload::Json(v),
                    None => r.response,
                };
                Message {
                    join_ref: r.join_ref,
                    ref_: r.ref_,
                    topic: r.topic,
                    event: crate::events::REPLY.into(),
                    payload,
                }
            }
            ServerMessage::Push(p) => Message {
                join_ref: p.join_ref,
                ref_: Ref::Null,
                topic: p.topic,
                event: p.event,
                payload: p.payload,
            },
            ServerMessage::Broadcast(b) => Message {
                join_ref: Ref::Null,
                ref_: Ref::Null,
                topic: b.topic,
                event: b.event,
                payload: b.payload,
            },
            ServerMessage::Message(m) => m,
        }
    }
}
