//! The WebSocket upgrade, in Phoenix's order: origin check, vsn negotiation and `connect/3`,
//! then the handshake (bad upgrade headers are a 400).

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_tungstenite::WebSocketStream;

use super::http::{empty_response, json_response, text_response, HttpResponse};
use super::origin::origin_allowed;
use super::params::decode_query;
use super::Endpoint;
use crate::socket::SocketHandler;
use phx_protocol::version::Behaviour;

/// Answers an upgrade request on a socket mount.
pub(crate) async fn upgrade(
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
    handler: Arc<dyn SocketHandler>,
) -> HttpResponse {
    if req.method() != Method::GET {
        return empty_response(StatusCode::BAD_REQUEST);
    }
    let config = endpoint.config();
    if let (Some(allowed), Some(origin)) = (&config.check_origin, req.headers().get(ORIGIN)) {
        let origin = origin.to_str().unwrap_or("");
        if !origin_allowed(origin, allowed) {
            tracing::error!("Could not check origin for Phoenix.Socket transport. Origin of the request: {origin}");
            return empty_response(StatusCode::FORBIDDEN);
        }
    }
    let params = decode_query(req.uri().query());
    let vsn = match params.get("vsn") {
        None => phx_protocol::negotiate(None),
        Some(Value::String(v)) => phx_protocol::negotiate(Some(v)),
        Some(other) => match config.compat.has(Behaviour::VsnListRefused) {
            false => {
                // Version.parse/1 raises on a list: Phoenix 1.7 answers with its ErrorJSON view.
                tracing::error!("** (FunctionClauseError) no function clause matching in Version.parse/1: {other}");
                return json_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &json!({"errors": {"detail": "Internal Server Error"}}),
                );
            }
            true => {
                tracing::error!("Client sent invalid transport version: {other}");
                return empty_response(StatusCode::FORBIDDEN);
            }
        },
    };
    let vsn = match vsn {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(
                "The client's requested transport version does not match any serializer: {e}"
            );
            return empty_response(StatusCode::FORBIDDEN);
        }
    };
    let Ok(assigns) = handler.connect(&params, &endpoint) else {
        return empty_response(StatusCode::FORBIDDEN);
    };
    let socket_id = handler.id(&assigns);

    let headers = req.headers();
    let has_token = |name, token: &str| {
        headers.get_all(name).iter().any(|v: &HeaderValue| {
            v.to_str()
                .is_ok_and(|s| s.split(',').any(|p| p.trim().eq_ignore_ascii_case(token)))
        })
    };
    if !has_token(CONNECTION, "upgrade") {
        return text_response(
            StatusCode::BAD_REQUEST,
            "'connection' header must contain 'upgrade', got []",
        );
    }
    if !has_token(UPGRADE, "websocket") {
        return text_response(
            StatusCode::BAD_REQUEST,
            "'upgrade' header must contain 'websocket', got []",
        );
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return text_response(
            StatusCode::BAD_REQUEST,
            "'sec-websocket-version' header must equal '13'",
        );
    }
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY) else {
        return text_response(
            StatusCode::BAD_REQUEST,
            "'sec-websocket-key' header is absent",
        );
    };
    let accept = derive_accept_key(key.as_bytes());

    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer_size)
        .write_buffer_size(config.write_buffer_size)
        .max_message_size(Some(config.max_frame_size))
        .max_frame_size(Some(config.max_frame_size));
    let endpoint2 = endpoint.clone();
    crate::spawn::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let ws = WebSocketStream::from_raw_socket(
                    TokioIo::new(upgraded),
                    Role::Server,
                    Some(ws_config),
                )
                .await;
                crate::socket::connection::serve(ws, endpoint2, handler, assigns, socket_id, vsn)
                    .await;
            }
            Err(e) => tracing::debug!(%peer, "upgrade failed: {e}"),
        }
    });

    let mut resp = empty_response(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.remove(hyper::header::CONTENT_LENGTH);
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(SEC_WEBSOCKET_ACCEPT, v);
    }
    resp
}
