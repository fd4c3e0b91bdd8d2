//! The WebSocket upgrade, in Phoenix's order: origin check, vsn negotiation and `connect/3`,
//! then the handshake (bad upgrade headers are a 400).
//!
//! `connect/3` runs on the blocking pool, at most one per core (2 to 8) at a time: it may verify
//! a token (PBKDF2 on a cold key cache, an HMAC, a bounded term decode), and no such work may
//! hold an async worker that other connections are waiting on.
//!
//! The handshake checks are WebSockAdapter's `UpgradeValidation` (HTTP/1.1 only, GET, `host`,
//! `connection: upgrade`, `upgrade: websocket`, a `sec-websocket-key` header, version 13) and
//! then Cowboy's: `cowboy_websocket:websocket_upgrade/2` only requires that the key header is
//! present (`false = Key =:= undefined`), so an empty or non-base64 key is answered 101 there, and
//! here too.

use std::net::SocketAddr;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY,
    SEC_WEBSOCKET_VERSION, UPGRADE,
};
use hyper::{Method, Request, StatusCode, Version};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use super::http::{empty_response, json_response, text_response, HttpResponse};
use super::origin::origin_allowed;
use super::params::decode_query;
use super::Endpoint;
use crate::socket::SocketHandler;
use phx_protocol::version::Behaviour;

/// Connects whose query string is at most this many bytes run on the async worker; longer ones
/// on the bounded blocking pool ([`connect_slots`]).
const INLINE_CONNECT_QUERY: usize = 1024;

/// True when a param (at any depth) looks like a Phoenix.Token whose payload is compressed ETF
/// (`term_to_binary(_, [:compressed])`: bytes 131, 80, which base64url-encode as `g1…`). A few
/// hundred such bytes may expand to the whole decode budget (a 65,536-element list costs
/// milliseconds), so its connect runs on the blocking pool however short the query.
fn holds_compressed_token(params: &serde_json::Map<String, Value>) -> bool {
    fn walk(v: &Value) -> bool {
        match v {
            Value::String(s) => s.split('.').nth(1).is_some_and(|p| p.starts_with("g1")),
            Value::Array(items) => items.iter().any(walk),
            Value::Object(m) => m.values().any(walk),
            _ => false,
        }
    }
    params.values().any(walk)
}

/// Threads that may run `connect/3` at once.
fn connect_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new(cores.clamp(2, 8))
    })
}

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
    let query_len = req.uri().query().map_or(0, str::len);
    let connected = if query_len <= INLINE_CONNECT_QUERY && !holds_compressed_token(&params) {
        // Small params and no compressed token: whatever connect verifies is at most this long
        // (an HMAC over it, then a decode of at most as many bytes), microseconds, so it runs
        // here; a hop to the blocking pool would cost more than the work (two thread wake-ups
        // per connect halved the connect+join rate).
        // connect/3 may raise (panic): caught here as the blocking pool's JoinError would be.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            handler.connect(&params, &endpoint)
        }))
        .map_err(|p| crate::channel::panic_message(&p))
    } else {
        let (handler, endpoint) = (handler.clone(), endpoint.clone());
        // A bounded pool: at most CONNECT_THREADS connects run at once (later upgrades wait
        // here, asynchronously), so a connect flood never grows the blocking pool's threads,
        // and a large (e.g. validly signed, bomb-shaped) token never stalls the async workers.
        let _permit = connect_slots().acquire().await;
        crate::spawn::spawn_blocking(move || handler.connect(&params, &endpoint))
            .await
            .map_err(|e| e.to_string())
    };
    let assigns = match connected {
        Ok(Ok(assigns)) => assigns,
        Ok(Err(_)) => return empty_response(StatusCode::FORBIDDEN),
        Err(e) => {
            // connect/3 raised: Phoenix answers 500.
            tracing::error!("connect/3 failed: {e}");
            return empty_response(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let socket_id = handler.id(&assigns);

    if req.version() != Version::HTTP_11 {
        return text_response(
            StatusCode::BAD_REQUEST,
            &format!("HTTP version {:?} unsupported", req.version()),
        );
    }
    let headers = req.headers();
    if !headers.contains_key(hyper::header::HOST) {
        return text_response(StatusCode::BAD_REQUEST, "'host' header is absent");
    }
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

    let endpoint2 = endpoint.clone();
    crate::spawn::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                crate::socket::connection::serve(
                    TokioIo::new(upgraded),
                    endpoint2,
                    handler,
                    assigns,
                    socket_id,
                    vsn,
                )
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

#[cfg(test)]
mod inline_connect_tests {
    use super::holds_compressed_token;
    use serde_json::json;

    fn params(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn compressed_tokens_are_found_at_any_depth_and_plain_ones_are_not() {
        // PROTOCOL.md §4.7's vector: uncompressed ETF (131, 104 → "g2g…").
        let plain = "SFMyNTY.g2gDYQFhAGIAAVGA.3r4fjnrWe_6ii6l-DnXGmNMc4d7VCK1fu-NpOxznyn4";
        assert!(!holds_compressed_token(&params(
            json!({"vsn": "2.0.0", "token": plain})
        )));
        // 131, 80 (compressed) → "g1…".
        let compressed = "SFMyNTY.g1AAAAAReJzLYGBgYGBgYAAABLABjQ.sig";
        assert!(holds_compressed_token(&params(
            json!({"token": compressed})
        )));
        assert!(holds_compressed_token(&params(
            json!({"user": {"t": [compressed]}})
        )));
        // A value merely shaped like one only costs the hop to the pool.
        assert!(holds_compressed_token(&params(
            json!({"name": "a.g1", "n": 1})
        )));
        assert!(!holds_compressed_token(&params(
            json!({"name": "ann", "n": 1})
        )));
    }
}
