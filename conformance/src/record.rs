//! `phx record`: a transparent WebSocket proxy that writes what passes through as a JSONL
//! transcript (the fixtures' format), one `conn` label per client connection. Either side may
//! be TLS: clients reach the proxy over `wss://` when it has a [`TlsAcceptor`], and a `wss://`
//! upstream is dialled with the [`TlsConfig`] given.
//!
//! For a transcript to commit, [`RecordOptions::redactions`] turn volatile values into
//! placeholders as lines are written (the proxy forwards the real frames), and
//! [`RecordOptions::stable`] writes no `t_ms` and groups server lines by connection between two
//! client actions, so that the same session recorded twice gives the same bytes.

use crate::transcript::redact::{Redaction, Redactor};
use crate::transcript::{Dir, Entry, Event};
use futures_util::{SinkExt, StreamExt};
use phx_client::{TcpConnector, TlsConfig};
use phx_server::TlsAcceptor;
use serde_json::json;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpListener;
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
    /// The upstream URL is not `ws://HOST:PORT[/…]` or `wss://HOST:PORT[/…]`.
    #[error("invalid upstream URL {0:?}: expected ws://HOST:PORT or wss://HOST:PORT")]
    BadUpstream(String),
}

/// Proxy settings.
#[derive(Clone, Debug)]
pub struct RecordOptions {
    /// Where clients connect (loopback).
    pub listen: String,
    /// `ws://HOST:PORT` (or `wss://`) of the real server; each client's path and query are kept.
    pub upstream: String,
    /// The transcript file (appended to).
    pub output: PathBuf,
    /// TLS for a `wss://` upstream (default: Mozilla's roots).
    pub upstream_tls: TlsConfig,
    /// Serve clients over TLS (`wss://`) with this certificate; `None`: plain `ws://`.
    pub listen_tls: Option<TlsAcceptor>,
    /// Applied to every line before it is written (`--redact`, `--redact-file`).
    pub redactions: Vec<Redaction>,
    /// No `t_ms`, and the server's lines between two client actions (connect, send, close)
    /// written grouped by connection label, each connection's in arrival order (`--stable`).
    /// Replay compares each connection's own order only, so nothing it checks moves.
    pub stable: bool,
}

impl RecordOptions {
    /// Plain `ws://` on both sides.
    pub fn new(listen: impl Into<String>, upstream: impl Into<String>, output: PathBuf) -> Self {
        RecordOptions {
            listen: listen.into(),
            upstream: upstream.into(),
            output,
            upstream_tls: TlsConfig::default(),
            listen_tls: None,
            redactions: Vec::new(),
            stable: false,
        }
    }
}

struct Shared {
    start: Instant,
    lines: mpsc::UnboundedSender<Entry>,
    upstream: String,
    upstream_tls: TlsConfig,
}

impl Shared {
    /// An event line, printed by [`Event`]'s one `Display`.
    fn event(&self, conn: &str, event: Event, extra: serde_json::Value) {
        self.log(Dir::Event, conn, event.to_string(), false, extra);
    }

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

/// Turns logged entries into written lines: redacted, and in stable mode without `t_ms` and
/// grouped by connection between client actions.
struct Lines {
    redactor: Redactor,
    stable: bool,
    /// Server-side lines since the last client action (stable mode only).
    pending: Vec<Entry>,
    /// A client's close waiting for the server's answer, which the proxy logs whenever it
    /// comes: lines after it wait too, so that the answer is written next to it every time.
    closing: Option<(Entry, Vec<Entry>)>,
}

/// `c2` < `c10`: by number when both labels are `c<N>`.
fn conn_order(e: &Entry) -> (usize, String) {
    let c = e.conn.clone().unwrap_or_default();
    let n = c
        .strip_prefix('c')
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    (n, c)
}

impl Lines {
    fn new(redactions: Vec<Redaction>, stable: bool) -> Self {
        Lines {
            redactor: Redactor::new(redactions),
            stable,
            pending: Vec::new(),
            closing: None,
        }
    }

    /// The lines to write now for `e`.
    fn push(&mut self, mut e: Entry) -> Vec<Entry> {
        self.redactor.entry(&mut e);
        if !self.stable {
            return vec![e];
        }
        e.t_ms = None;
        self.accept(e)
    }

    /// Stable mode: a redacted line in, the lines it lets out.
    fn accept(&mut self, e: Entry) -> Vec<Entry> {
        let event = e.as_event();
        if let Some((close, queued)) = &mut self.closing {
            if e.conn != close.conn || !matches!(event, Some(Event::Closed { .. })) {
                queued.push(e);
                return Vec::new();
            }
            let Some((close, queued)) = self.closing.take() else {
                return Vec::new();
            };
            let mut out = vec![close, e];
            for q in queued {
                out.extend(self.accept(q));
            }
            return out;
        }
        let client_action = e.dir == Dir::Send
            || matches!(
                event,
                Some(Event::Connect { .. } | Event::ClientClosing { .. })
            );
        if !client_action {
            self.pending.push(e);
            return Vec::new();
        }
        let mut out = self.flush();
        if matches!(event, Some(Event::ClientClosing { .. })) {
            self.closing = Some((e, Vec::new()));
        } else {
            out.push(e);
        }
        out
    }

    /// Whatever is pending, grouped by connection (a stable sort keeps each one's order).
    fn flush(&mut self) -> Vec<Entry> {
        let mut out = std::mem::take(&mut self.pending);
        out.sort_by_key(conn_order);
        out
    }

    /// Everything left, at the end of the recording.
    fn finish(&mut self) -> Vec<Entry> {
        let mut out = Vec::new();
        // A close the server never answered: written with what followed it.
        while let Some((close, queued)) = self.closing.take() {
            out.extend(self.flush());
            out.push(close);
            for q in queued {
                out.extend(self.accept(q));
            }
        }
        out.extend(self.flush());
        out
    }
}

async fn write_lines(file: &mut tokio::fs::File, lines: &[Entry]) -> std::io::Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut text = String::new();
    for e in lines {
        text.push_str(&serde_json::to_string(e).unwrap_or_default());
        text.push('\n');
    }
    file.write_all(text.as_bytes()).await?;
    file.flush().await
}

/// Runs the proxy until `shutdown` resolves.
pub async fn run(
    opts: RecordOptions,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), RecordError> {
    let parsed = url::Url::parse(&opts.upstream)
        .map_err(|_| RecordError::BadUpstream(opts.upstream.clone()))?;
    if !matches!(parsed.scheme(), "ws" | "wss") {
        return Err(RecordError::BadUpstream(opts.upstream.clone()));
    }
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
        upstream_tls: opts.upstream_tls.clone(),
    });
    let mut lines = Lines::new(opts.redactions.clone(), opts.stable);
    let writer = tokio::spawn(async move {
        while let Some(e) = rx.recv().await {
            let out = lines.push(e);
            if write_lines(&mut file, &out).await.is_err() {
                return;
            }
        }
        let out = lines.finish();
        let _ = write_lines(&mut file, &out).await;
        if !lines.redactor.broken.is_empty() {
            eprintln!(
                "phx record: these --redact rules would have made a frame invalid JSON there, and were not applied: {}",
                lines.redactor.broken.join("; ")
            );
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
                let tls = opts.listen_tls.clone();
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    match tls {
                        None => proxy(stream, format!("c{n}"), shared).await,
                        // A client that fails the handshake is not a connection of the transcript.
                        Some(tls) => if let Ok(stream) = tls.handshake(stream).await {
                            proxy(stream, format!("c{n}"), shared).await;
                        },
                    }
                });
            }
        }
    }
    drop(shared);
    let _ = writer.await;
    Ok(())
}

/// Records the upstream's close frame.
fn log_close(
    shared: &Shared,
    conn: &str,
    cf: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
    client_closed: bool,
) {
    let code = cf.map_or(1005, |c| u16::from(c.code));
    let reason = cf.map(|c| c.reason.to_string()).unwrap_or_default();
    shared.event(
        conn,
        Event::Closed {
            code,
            reason: Some(reason.clone()),
        },
        json!({"close_frame_received": {"code": code, "reason": reason}, "server_initiated": !client_closed}),
    );
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

/// The largest request head the proxy reads.
const MAX_HEAD: usize = 8192;

/// Reads the request head (up to [`MAX_HEAD`] bytes, within 10 s): the bytes read, to replay
/// to the WebSocket accept through [`Replayed`], and the parsed target and headers. Reading,
/// not peeking, works the same over TLS.
async fn request_head<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> Option<(Vec<u8>, String, Vec<(String, String)>)> {
    let read = async {
        let mut buf = Vec::with_capacity(1024);
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end + 4]).into_owned();
                let (target, headers) = parse_head(&head)?;
                return Some((buf, target, headers));
            }
            if buf.len() >= MAX_HEAD {
                return None;
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), read)
        .await
        .ok()
        .flatten()
}

/// A stream whose first reads return `prefix` (bytes already read from `inner`).
struct Replayed<S> {
    prefix: Vec<u8>,
    pos: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Replayed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = buf.remaining().min(self.prefix.len() - self.pos);
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Replayed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
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

async fn proxy<S>(mut stream: S, conn: String, shared: Arc<Shared>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Some((head, target, headers)) = request_head(&mut stream).await else {
        return;
    };
    let url = format!("{}{target}", shared.upstream);
    shared.event(
        &conn,
        Event::Connect {
            target: url.clone(),
        },
        json!({}),
    );
    let request = match upstream_request(&url, &headers) {
        Ok(r) => r,
        Err(e) => {
            shared.event(&conn, Event::Note(format!("bad request: {e}")), json!({}));
            return;
        }
    };
    let upstream = match url::Url::parse(&url) {
        Ok(parsed) => {
            phx_client::transport::open_stream(&TcpConnector, &shared.upstream_tls, &parsed).await
        }
        Err(e) => Err(phx_client::ConnectError::Handshake(e.to_string())),
    };
    let upstream = match upstream {
        Ok(io) => tokio_tungstenite::client_async(request, io).await,
        Err(e) => {
            shared.event(
                &conn,
                Event::Note(format!("upstream unreachable: {e}")),
                json!({}),
            );
            return;
        }
    };
    let (upstream, protocol) = match upstream {
        Ok((ws, resp)) => (ws, resp.headers().get("sec-websocket-protocol").cloned()),
        Err(tungstenite::Error::Http(resp)) => {
            let status = resp.status().as_u16();
            let body = resp
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            shared.event(
                &conn,
                Event::HttpStatus {
                    status,
                    detail: Some("on upgrade".into()),
                },
                json!({"http_status": status, "body": body}),
            );
            // The request head was read already: answer with the upstream's status.
            let reply = format!("HTTP/1.1 {status} Refused\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
            let _ = stream.write_all(reply.as_bytes()).await;
            return;
        }
        Err(e) => {
            shared.event(
                &conn,
                Event::Note(format!("upstream unreachable: {e}")),
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
    let replayed = Replayed {
        prefix: head,
        pos: 0,
        inner: stream,
    };
    let Ok(client) = tokio_tungstenite::accept_hdr_async(replayed, echo).await else {
        return;
    };
    shared.event(
        &conn,
        Event::HttpStatus {
            status: 101,
            detail: Some("on upgrade (websocket open)".into()),
        },
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
                            shared.event(&conn, Event::ClientClosing { code }, json!({}));
                        }
                        _ => {}
                    }
                    if up_tx.send(msg).await.is_err() { break; }
                }
                _ => {
                    // The client's stream ends as soon as tungstenite has answered its close,
                    // possibly before the upstream's close arrives: wait for that (bounded), so
                    // the transcript does not lose the server's side of the handshake.
                    if client_closed {
                        let wait = std::time::Duration::from_millis(500);
                        if let Ok(Some(Ok(WsMessage::Close(cf)))) = tokio::time::timeout(wait, up_rx.next()).await {
                            log_close(&shared, &conn, cf.as_ref(), client_closed);
                        }
                    }
                    break;
                }
            },
            m = up_rx.next() => match m {
                Some(Ok(msg)) => {
                    match &msg {
                        WsMessage::Text(t) => shared.log(Dir::Recv, &conn, t.to_string(), false, json!({})),
                        WsMessage::Binary(b) => shared.log(Dir::Recv, &conn, hex::encode(b), true, json!({})),
                        WsMessage::Close(cf) => log_close(&shared, &conn, cf.as_ref(), client_closed),
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
