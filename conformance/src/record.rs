//! `phx record`: a transparent WebSocket proxy that writes what passes through as a JSONL
//! transcript (the fixtures' format), one `conn` label per client connection.

use crate::transcript::{Dir, Entry};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};

/// Why recording stopped.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: String,
        /// The error.
        source: std::io::Error,
    },
    /// The output file could not be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The upstream URL is not `ws://HOST:PORT[/…]`.
    #[error("invalid upstream URL {0:?}: expected ws://HOST:PORT")]
    BadUpstream(String),
}

/// Proxy settings.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Where clients connect (loopback).
    pub listen: String,
    /// `ws://HOST:PORT` of the real server; each client's path and query are kept.
    pub upstream: String,
    /// The transcript file (appended to).
    pub output: PathBuf,
}

struct Shared {
    start: Instant,
    lines: mpsc::UnboundedSender<Entry>,
    upstream: String,
}

impl Shared {
    fn log(
        &self,
        dir: Dir,
        conn: &str,
        frame: impl Into<String>,
        binary: bool,
        extra: serde_json::Value,
    ) {
        let mut e = Entry::new(self.start.elapsed().as_secs_f64() * 1000.0, dir, frame);
        e.conn = Some(conn.to_owned());
        if binary {
            e.opcode = Some("binary".into());
        }
        if let serde_json::Value::Object(m) = extra {
            e.extra = m;
        }
        let _ = self.lines.send(e);
    }
}

/// Runs the proxy until `shutdown` resolves.
pub async fn run(
    opts: RecordOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RecordError> {
    let parsed = url::Url::parse(&opts.upstream)
        .map_err(|_| RecordError::BadUpstream(opts.upstream.clone()))?;
    let authority = crate::target::authority(&opts.upstream)
        .ok_or_else(|| RecordError::BadUpstream(opts.upstream.clone()))?;
    let upstream = format!("{}://{authority}", parsed.scheme());
    let listener = TcpListener::bind(&opts.listen)
        .await
        .map_err(|source| RecordError::Listen {
            addr: opts.listen.clone(),
            source,
        })?;
    let mut file = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&opts.output)
        .await
        .map_err(|source| RecordError::Output {
            path: opts.output.display().to_string(),
            source,
        })?;
    let (tx, mut rx) = mpsc::unbounded_channel::<Entry>();
    let shared = Arc::new(Shared {
        start: Instant::now(),
        lines: tx,
        upstream,
    });
    let writer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let mut line = serde_json::to_string(&e).unwrap_or_default();
            line.push('\n');
            if file.write_all(line.as_bytes()).await.is_err() {
                return;
            }
            let _ = file.flush().await;
        }
    });
    let counter = Arc::new(AtomicUsize::new(0));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // E.g. out of file descriptors: pause instead of spinning on the error.
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                };
                let n = counter.fetch_add(1, Ordering::Relaxed) + 1;
                let shared = shared.clone();
                tokio::spawn(async move { proxy(stream, format!("c{n}"), shared).await });
            }
        }
    }
    drop(shared);
    let _ = writer.await;
    Ok(())
}

/// Request headers the proxy passes on: they can change what the server does (origin check,
/// Phoenix 1.8's token in `Sec-WebSocket-Protocol`, cookies for session connect_info).
const FORWARDED: &[&str] = &[
    "origin",
    "cookie",
    "user-agent",
    "authorization",
    "sec-websocket-protocol",
    "x-phoenix-authtoken",
];

/// The request target and the forwarded headers of an HTTP request head.
fn parse_head(head: &str) -> Option<(String, Vec<(String, String)>)> {
    let mut lines = head.split("\r\n");
    let target = lines.next()?.split_whitespace().nth(1)?.to_owned();
    // Origin-form only: `@host/…` or an absolute URL appended to the upstream would redirect
    // the proxy to another host.
    if !target.starts_with('/') {
        return None;
    }
    let headers = lines
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .filter(|(k, _)| FORWARDED.contains(&k.as_str()))
        .collect();
    Some((target, headers))
}

/// Reads the request head without consuming it, so the WebSocket accept still sees it.
async fn request_head(stream: &TcpStream) -> Option<(String, Vec<(String, String)>)> {
    let mut buf = vec![0u8; 8192];
    for _ in 0..100 {
        let n = stream.peek(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        let head = String::from_utf8_lossy(&buf[..n]);
        if head.contains("\r\n\r\n") || n == buf.len() {
            return parse_head(&head);
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    None
}

fn upstream_request(
    url: &str,
    headers: &[(String, String)],
) -> Result<tungstenite::handshake::client::Request, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    use tungstenite::http::{HeaderName, HeaderValue};
    let mut req = url.into_client_request()?;
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            req.headers_mut().insert(name, value);
        }
    }
    Ok(req)
}

async fn proxy(mut stream: TcpStream, conn: String, shared: Arc<Shared>) {
    let Some((target, headers)) = request_head(&stream).await else {
        return;
    };
    let url = format!("{}{target}", shared.upstream);
    shared.log(
        Dir::Event,
        &conn,
        format!("connect {url}"),
        false,
        json!({}),
    );
    let request = match upstream_request(&url, &headers) {
        Ok(r) => r,
        Err(e) => {
            shared.log(
                Dir::Event,
                &conn,
                format!("bad request: {e}"),
                false,
                json!({}),
            );
            return;
        }
    };
    let (upstream, protocol) = match tokio_tungstenite::connect_async(request).await {
        Ok((ws, resp)) => (ws, resp.headers().get("sec-websocket-protocol").cloned()),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            shared.log(
                Dir::Event,
                &conn,
                "http status on upgrade",
                false,
                json!({"http_status": status, "body": body}),
            );
            // Drain the request, then answer with the upstream's status.
            let mut scratch = vec![0u8; 8192];
            let _ = tokio::io::AsyncReadExt::read(&mut stream, &mut scratch).await;
            let reply = format!("HTTP/1.1 {status} Refused\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes()).await;
            return;
        }
        Err(e) => {
            shared.log(
                Dir::Event,
                &conn,
                format!("upstream unreachable: {e}"),
                false,
                json!({}),
            );
            return;
        }
    };
    // Answer the client with the subprotocol the server chose, as the server did. The error
    // type is tungstenite's callback signature, not ours.
    #[allow(clippy::result_large_err)]
    let echo = |_: &tungstenite::handshake::server::Request,
                mut resp: tungstenite::handshake::server::Response| {
        if let Some(p) = protocol.clone() {
            resp.headers_mut().insert("sec-websocket-protocol", p);
        }
        Ok(resp)
    };
    let Ok(client) = tokio_tungstenite::accept_hdr_async(stream, echo).await else {
        return;
    };
    shared.log(
        Dir::Event,
        &conn,
        "http status 101 on upgrade (websocket open)",
        false,
        json!({"http_status": 101}),
    );
    let (mut up_tx, mut up_rx) = upstream.split();
    let (mut cl_tx, mut cl_rx) = client.split();
    let mut client_closed = false;
    loop {
        tokio::select! {
            m = cl_rx.next() => match m {
                Some(Ok(msg)) => {
                    match &msg {
                        WsMessage::Text(t) => shared.log(Dir::Send, &conn, t.to_string(), false, json!({})),
                        WsMessage::Binary(b) => shared.log(Dir::Send, &conn, hex::encode(b), true, json!({})),
                        WsMessage::Close(cf) => {
                            client_closed = true;
                            let code = cf.as_ref().map_or(1005, |c| u16::from(c.code));
                            shared.log(Dir::Event, &conn, format!("client closing with code={code}"), false, json!({}));
                        }
                        _ => {}
                    }
                    if up_tx.send(msg).await.is_err() { break; }
                }
                _ => break,
            },
            m = up_rx.next() => match m {
                Some(Ok(msg)) => {
                    match &msg {
                        WsMessage::Text(t) => shared.log(Dir::Recv, &conn, t.to_string(), false, json!({})),
                        WsMessage::Binary(b) => shared.log(Dir::Recv, &conn, hex::encode(b), true, json!({})),
                        WsMessage::Close(cf) => {
                            let code = cf.as_ref().map_or(1005, |c| u16::from(c.code));
                            let reason = cf.as_ref().map(|c| c.reason.to_string()).unwrap_or_default();
                            shared.log(Dir::Event, &conn, format!("connection closed code={code} reason='{reason}'"), false,
                                json!({"close_frame_received": {"code": code, "reason": reason}, "server_initiated": !client_closed}));
                        }
                        _ => {}
                    }
                    if cl_tx.send(msg).await.is_err() { break; }
                }
                _ => break,
            },
        }
    }
    // Flush what tungstenite queued (its automatic reply to a close frame) before dropping the
    // sockets, so each side sees a proper close handshake.
    let grace = std::time::Duration::from_millis(500);
    let _ = tokio::time::timeout(grace, cl_tx.close()).await;
    let _ = tokio::time::timeout(grace, up_tx.close()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_gives_the_target_and_only_forwarded_headers() {
        let head = "GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\nOrigin: http://a\r\n\
                    Sec-WebSocket-Protocol: phoenix, base64url.bearer.phx.YWJj\r\nSec-WebSocket-Key: k\r\n\r\n";
        let (target, headers) = parse_head(head).expect("head");
        assert_eq!(target, "/socket/websocket?vsn=2.0.0");
        assert_eq!(
            headers,
            vec![
                ("origin".to_owned(), "http://a".to_owned()),
                (
                    "sec-websocket-protocol".to_owned(),
                    "phoenix, base64url.bearer.phx.YWJj".to_owned()
                ),
            ]
        );
        assert!(parse_head("").is_none());
        assert!(parse_head("GET @example.com/socket HTTP/1.1\r\n\r\n").is_none());
    }
}
