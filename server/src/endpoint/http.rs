//! HTTP routing: `GET /`, the WebSocket mounts and the control API, behind Cowboy's request
//! head limits (`cowboy_http`): a request target over `max_request_line_length` (8,000) is a
//! 414, a header name over `max_header_name_length` (64) or a value over
//! `max_header_value_length` (4,096; `host` over `max_authority_length`, 255) is a 431, and
//! the connection is closed after either.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::{upgrade, Endpoint};

/// The response type of every handler.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

/// Cowboy's `max_request_line_length`; the target alone is held to it here.
const MAX_REQUEST_LINE_LENGTH: usize = 8000;
/// Cowboy's `max_header_name_length`.
const MAX_HEADER_NAME_LENGTH: usize = 64;
/// Cowboy's `max_authority_length`, applied to the `host` header.
const MAX_AUTHORITY_LENGTH: usize = 255;

/// The status Cowboy answers for a request head over its limits, if it is.
fn head_over_limits(req: &Request<Incoming>, max_value: usize) -> Option<StatusCode> {
    let target = req.uri().path_and_query().map_or(0, |p| p.as_str().len());
    if target > MAX_REQUEST_LINE_LENGTH {
        return Some(StatusCode::URI_TOO_LONG);
    }
    let too_long = req.headers().iter().any(|(name, value)| {
        let max = if name == HOST {
            MAX_AUTHORITY_LENGTH
        } else {
            max_value
        };
        name.as_str().len() > MAX_HEADER_NAME_LENGTH || value.len() > max
    });
    too_long.then_some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
}

/// Routes one request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    peer: SocketAddr,
    endpoint: Endpoint,
) -> Result<HttpResponse, Infallible> {
    if endpoint.is_draining() {
        // A keep-alive connection that outlived the accept loop: the server has stopped.
        return Ok(json_response(
            StatusCode::SERVICE_UNAVAILABLE,
            &json!({"errors": {"detail": "Service Unavailable: the server is shutting down"}}),
        ));
    }
    if let Some(status) = head_over_limits(&req, endpoint.config().max_header_value_length) {
        tracing::debug!(%peer, %status, "request head over Cowboy's limits");
        let mut resp = empty_response(status);
        resp.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
        return Ok(resp);
    }
    let path = req.uri().path().to_owned();
    if path == "/" && req.method() == Method::GET {
        return Ok(json_response(
            StatusCode::OK,
            &json!({"node": endpoint.node_name(), "ok": true}),
        ));
    }
    if let Some(mount_path) = path.strip_suffix("/websocket") {
        if let Some(mount) = endpoint.mount(mount_path).cloned() {
            return Ok(upgrade::upgrade(req, peer, endpoint, mount.handler).await);
        }
    }
    if path.starts_with("/api/") {
        return Ok(crate::control::handle(req, peer, endpoint).await);
    }
    Ok(json_response(
        StatusCode::NOT_FOUND,
        &json!({"errors": {"detail": "Not Found"}}),
    ))
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> HttpResponse {
    let text = phx_protocol::json::to_string(body);
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("max-age=0, private, must-revalidate"),
    );
    resp
}

/// An empty-bodied response, as Phoenix sends for refused upgrades (403) and bad requests.
pub(crate) fn empty_response(status: StatusCode) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("max-age=0, private, must-revalidate"),
    );
    resp.headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from_static("0"));
    resp
}

/// A plain-text response (WebSockAdapter's upgrade errors).
pub(crate) fn text_response(status: StatusCode, text: &str) -> HttpResponse {
    let mut resp = Response::new(Full::new(Bytes::from(text.to_owned())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}
