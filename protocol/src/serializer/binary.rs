//! V2 binary frames. Every length field is one byte, so each text field is at most 255 bytes.
//!
//! | kind | direction | header after the kind byte | then |
//! |---|---|---|---|
//! | 0 | client push | join_ref, ref, topic, event lengths | fields, payload |
//! | 0 | server push | join_ref, topic, event lengths (no ref) | fields, payload |
//! | 1 | server reply | join_ref, ref, topic, status lengths | fields, payload |
//! | 2 | server broadcast | topic, event lengths | fields, payload |

use super::{DecodeError, EncodeError};
use crate::message::{Broadcast, Message, Payload, Push, Ref, Reply, ServerMessage};
use bytes::{BufMut, Bytes, BytesMut};

const PUSH: u8 = 0;
const REPLY: u8 = 1;
const BROADCAST: u8 = 2;

/// True when `msg` must go out as a binary frame (its payload or response is binary).
pub fn is_binary(msg: &ServerMessage) -> bool {
    match msg {
        ServerMessage::Reply(r) => r.response.is_binary(),
        ServerMessage::Push(p) => p.payload.is_binary(),
        ServerMessage::Broadcast(b) => b.payload.is_binary(),
        ServerMessage::Message(m) => m.payload.is_binary(),
    }
}

/// Decodes a client binary push (kind 0 with four length bytes).
pub fn decode_client(data: &Bytes) -> Result<Message, DecodeError> {
    let kind = *data.first().ok_or(DecodeError::EmptyBinary)?;
    if kind != PUSH {
        return Err(DecodeError::UnknownKind(kind));
    }
    let mut fields = Fields::new(data, &["join_ref", "ref", "topic", "event"])?;
    let join_ref = Ref::Str(fields.next()?);
    let ref_ = Ref::Str(fields.next()?);
    let topic = fields.next()?;
    let event = fields.next()?;
    Ok(Message {
        join_ref,
        ref_,
        topic,
        event,
        payload: Payload::Binary(fields.rest()),
    })
}

/// Decodes a server binary frame (as a client).
pub fn decode_server(data: &Bytes) -> Result<ServerMessage, DecodeError> {
    let kind = *data.first().ok_or(DecodeError::EmptyBinary)?;
    let opt = |s: String| if s.is_empty() { Ref::Null } else { Ref::Str(s) };
    match kind {
        PUSH => {
            let mut f = Fields::new(data, &["join_ref", "topic", "event"])?;
            let join_ref = opt(f.next()?);
            let topic = f.next()?;
            let event = f.next()?;
            Ok(ServerMessage::Push(Push {
                join_ref,
                topic,
                event,
                payload: Payload::Binary(f.rest()),
            }))
        }
        REPLY => {
            let mut f = Fields::new(data, &["join_ref", "ref", "topic", "status"])?;
            let join_ref = opt(f.next()?);
            let ref_ = opt(f.next()?);
            let topic = f.next()?;
            let status = f.next()?;
            Ok(ServerMessage::Reply(Reply {
                join_ref,
                ref_,
                topic,
                status,
                response: Payload::Binary(f.rest()),
            }))
        }
        BROADCAST => {
            let mut f = Fields::new(data, &["topic", "event"])?;
            let topic = f.next()?;
            let event = f.next()?;
            Ok(ServerMessage::Broadcast(Broadcast {
                topic,
                event,
                payload: Payload::Binary(f.rest()),
            }))
        }
        other => Err(DecodeError::UnknownKind(other)),
    }
}

/// Encodes a server message whose payload is binary.
pub fn encode_server(msg: &ServerMessage) -> Result<Bytes, EncodeError> {
    match msg {
        ServerMessage::Push(p) => {
            let jr = p.join_ref.to_binary_field();
            encode(
                PUSH,
                &[("join_ref", &jr), ("topic", &p.topic), ("event", &p.event)],
                bin(&p.payload, "push")?,
            )
        }
        ServerMessage::Reply(r) => {
            let (jr, rf) = (r.join_ref.to_binary_field(), r.ref_.to_binary_field());
            let fields = [
                ("join_ref", jr.as_str()),
                ("ref", &rf),
                ("topic", &r.topic),
                ("status", &r.status),
            ];
            encode(REPLY, &fields, bin(&r.response, "reply")?)
        }
        ServerMessage::Broadcast(b) => encode(
            BROADCAST,
            &[("topic", &b.topic), ("event", &b.event)],
            bin(&b.payload, "broadcast")?,
        ),
        ServerMessage::Message(_) => {
            Err(EncodeError::BinaryNotAllowed("a five-field server message"))
        }
    }
}

/// Encodes a client push whose payload is binary.
pub fn encode_client(msg: &Message) -> Result<Bytes, EncodeError> {
    let (jr, rf) = (msg.join_ref.to_binary_field(), msg.ref_.to_binary_field());
    let fields = [
        ("join_ref", jr.as_str()),
        ("ref", &rf),
        ("topic", &msg.topic),
        ("event", &msg.event),
    ];
    encode(PUSH, &fields, bin(&msg.payload, "client push")?)
}

fn bin<'a>(p: &'a Payload, what: &'static str) -> Result<&'a [u8], EncodeError> {
    match p {
        Payload::Binary(b) => Ok(b),
        Payload::Json(_) => Err(EncodeError::BinaryNotAllowed(what)),
    }
}

fn encode(kind: u8, fields: &[(&'static str, &str)], payload: &[u8]) -> Result<Bytes, EncodeError> {
    let total: usize = fields.iter().map(|(_, f)| f.len()).sum();
    let mut out = BytesMut::with_capacity(1 + fields.len() + total + payload.len());
    out.put_u8(kind);
    for (field, value) in fields {
        let len = u8::try_from(value.len()).map_err(|_| EncodeError::FieldTooLong {
            field,
            len: value.len(),
        })?;
        out.put_u8(len);
    }
    for (_, value) in fields {
        out.put_slice(value.as_bytes());
    }
    out.put_slice(payload);
    Ok(out.freeze())
}

/// Reads length-prefixed fields after the kind byte.
struct Fields<'a> {
    data: &'a Bytes,
    names: &'static [&'static str],
    idx: usize,
    pos: usize,
}

impl<'a> Fields<'a> {
    /// One length byte per name follows the kind byte.
    fn new(data: &'a Bytes, names: &'static [&'static str]) -> Result<Self, DecodeError> {
        let header = 1 + names.len();
        if data.len() < header {
            return Err(DecodeError::Truncated {
                needed: header,
                len: data.len(),
            });
        }
        let needed = header
            + data[1..header]
                .iter()
                .map(|&b| usize::from(b))
                .sum::<usize>();
        if data.len() < needed {
            return Err(DecodeError::Truncated {
                needed,
                len: data.len(),
            });
        }
        Ok(Fields {
            data,
            names,
            idx: 0,
            pos: header,
        })
    }

    /// Called once per name: `new` checked that the header and every field are present.
    fn next(&mut self) -> Result<String, DecodeError> {
        let len = usize::from(self.data[1 + self.idx]);
        let name = self.names[self.idx];
        let raw = &self.data[self.pos..self.pos + len];
        self.idx += 1;
        self.pos += len;
        String::from_utf8(raw.to_vec()).map_err(|_| DecodeError::InvalidUtf8(name))
    }

    fn rest(self) -> Bytes {
        self.data.slice(self.pos..)
    }
}
