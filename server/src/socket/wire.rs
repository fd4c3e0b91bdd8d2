//! Between phx-protocol frames and tungstenite messages.

use phx_protocol::{EncodeError, Frame, ServerMessage, Vsn};
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Encodes a server message into the WebSocket message Phoenix would send.
pub(crate) fn encode(vsn: Vsn, msg: &ServerMessage) -> Result<WsMessage, EncodeError> {
    Ok(match vsn.encode_server(msg)? {
        Frame::Text(t) => WsMessage::Text(t.into()),
        Frame::Binary(b) => WsMessage::Binary(b),
    })
}

/// The data frame inside a WebSocket message, if it is one.
pub(crate) fn data_frame(msg: WsMessage) -> Option<Frame> {
    match msg {
        WsMessage::Text(t) => Some(Frame::Text(t.as_str().to_owned())),
        WsMessage::Binary(b) => Some(Frame::Binary(b)),
        _ => None,
    }
}
