//! The control API: server-side actions over HTTP, for test harnesses and the CLI.
//!
//! Off unless `Config::control`; loopback peers only; optional bearer token. Every endpoint
//! answers 200 with JSON, or 4xx with `{"error": "..."}`.
//!
//! | endpoint | body | action |
//! |---|---|---|
//! | `POST /api/broadcast` | `{"topic","event","payload","count"?,"stamp"?}` | `Endpoint.broadcast`, `count` times; `{"$binary": HEX}` payload is binary; `stamp` adds `"i"` and `"t"` (unix µs) |
//! | `POST /api/disconnect` | `{"socket_id"}` | `Endpoint.broadcast(socket_id, "disconnect", %{})` |
//! | `POST /api/token` | `{"salt","data","signed_at"?,"max_age"?}` | `Phoenix.Token.sign` → `{"token"}` |
//! | `GET /api/info` | | `{"node","compat","connections","channels"}` |
//! | `POST /api/<route>` | the app's | a mounted [`App`](crate::apps::App)'s own route (HelloSockets: `/api/dedupe`) |
//!
//! [`Client`] is the one typed client of this API (the CLI, the conformance triggers, tests).

mod client;
mod request;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, StatusCode};
use phx_protocol::Payload;
use serde_json::{json, Value};

use crate::endpoint::http::{json_response, HttpResponse};
use crate::endpoint::Endpoint;
pub use client::{Client, ControlError, Io, Transport, TransportFuture};
pub use request::{
    decode_payload, encode_payload, BroadcastRequest, DisconnectRequest, Info, PayloadError,
    TokenRequest,
};

/// Largest accepted control request body.
const MAX_BODY: usize = 16 * 1024 * 1024;
/// Broadcasts published between two yields of a `count` loop (app routes follow it too).
pub(crate) const YIELD_EVERY: u64 = 64;
/// Largest `count` for one broadcast request.
pub const MAX_COUNT: u64 = 10_000_000;

fn error(status: StatusCode, msg: impl std::fmt::Display) -> HttpResponse {
    json_response(status, &json!({"error": msg.to_string()}))
}

/// Serves `/api/*`.
pub(crate) async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> HttpResponse {
    let config = endpoint.config();
    if !config.control {
        return error(
            StatusCode::NOT_FOUND,
            "the control API is disabled (start the server with --control)",
        );
    }
    if !peer.ip().is_loopback() {
        return error(
            StatusCode::FORBIDDEN,
            "the control API serves loopback peers only",
        );
    }
    if let Some(token) = &config.control_token {
        let presented = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if presented != Some(token.as_str()) {
            return error(
                StatusCode::UNAUTHORIZED,
                "missing or wrong `Authorization: Bearer <control token>`",
            );
        }
    }
    let path = req.uri().path().to_owned();
    if req.method() == Method::GET && path == "/api/info" {
        let info = Info {
            node: endpoint.node_name().to_owned(),
            compat: config.compat.to_string(),
            connections: endpoint.connection_count(),
            channels: endpoint.joined().len(),
        };
        return json_response(StatusCode::OK, &json!(info));
    }
    if req.method() != Method::POST {
        return error(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {path}: use POST", req.method()),
        );
    }
    let body = match http_body_util::Limited::new(req.into_body(), MAX_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!("cannot read the request body: {e}"),
            )
        }
    };
    let result = match path.as_str() {
        "/api/broadcast" => match parse(&body) {
            Ok(r) => broadcast(&endpoint, r).await,
            Err(e) => Err(e),
        },
        "/api/disconnect" => parse(&body).map(|r: DisconnectRequest| {
            endpoint.disconnect(&r.socket_id);
            json!({"ok": true})
        }),
        "/api/token" => parse(&body).and_then(|r: TokenRequest| token(&endpoint, r)),
        other => {
            let route = other.trim_start_matches("/api/");
            let answer = endpoint
                .apps()
                .find_map(|app| app.control(route, &body, &endpoint));
            match answer {
                Some(answer) => answer.await,
                None => return error(StatusCode::NOT_FOUND, format!("no control endpoint {path}")),
            }
        }
    };
    match result {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(msg) => error(StatusCode::BAD_REQUEST, msg),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad request body: {e}"))
}

async fn broadcast(endpoint: &Endpoint, r: BroadcastRequest) -> Result<Value, String> {
    let count = r.count.unwrap_or(1);
    if count > MAX_COUNT {
        return Err(format!("count {count} exceeds the limit of {MAX_COUNT}"));
    }
    let payload =
        decode_payload(r.payload.unwrap_or_else(|| json!({}))).map_err(|e| e.to_string())?;
    if r.stamp && !matches!(&payload, Payload::Json(Value::Object(_))) {
        return Err("\"stamp\": true needs a JSON object payload".into());
    }
    for i in 0..count {
        let payload = if r.stamp {
            let mut p = payload.clone();
            if let Payload::Json(Value::Object(map)) = &mut p {
                map.insert("i".into(), json!(i));
                map.insert("t".into(), json!(unix_micros()));
            }
            p
        } else {
            payload.clone()
        };
        endpoint.broadcast(&r.topic, &r.event, payload);
        // Let writers drain between batches instead of overflowing every subscriber's queue.
        if i % YIELD_EVERY == YIELD_EVERY - 1 {
            tokio::task::yield_now().await;
        }
    }
    Ok(json!({"ok": true, "count": count}))
}

fn token(endpoint: &Endpoint, r: TokenRequest) -> Result<Value, String> {
    let token = crate::token::sign(
        &endpoint.config().secret_key_base,
        &r.salt,
        &r.data,
        r.signed_at,
        r.max_age,
    )
    .map_err(|e| e.to_string())?;
    Ok(json!({"token": token}))
}

fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}
