//! A raw WebSocket connection: the exact frames, no Phoenix client logic in between. `wss://`
//! URLs go through the target's [`TlsConfig`] (phx-client's dialer: TCP, then TLS).

use futures_util::{SinkExt, StreamExt};
use phx_client::{BoxIo, TcpConnector, TlsConfig, TlsError};
use std::time::Duration;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message as WsMessage};
use tokio_tungstenite::WebSocketStream;

/// What the next read produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The peer closed: its close code (1005 when the close frame had none).
    Closed {
        /// The close code.
        code: u16,
        /// True when a close frame arrived (false: the TCP connection just dropped).
        frame: bool,
    },
    /// Nothing arrived before the deadline.
    Timeout,
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused the upgrade with this HTTP status (e.g. 403).
    #[error("HTTP status {status} on upgrade")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The server could not be reached; check the URL and that it is running.
    #[error("cannot reach {url}: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The TLS handshake failed (untrusted, expired or wrong-host certificate, or no TLS).
    #[error("cannot reach {url}: {source}")]
    Tls {
        /// The URL.
        url: String,
        /// What failed.
        source: TlsError,
    },
}

/// An open WebSocket.
pub struct RawConn {
    ws: WebSocketStream<BoxIo>,
    closed: bool,
}

impl RawConn {
    /// Opens `url` (a full `ws://…/websocket?…` or `wss://` URL).
    pub async fn connect(url: &str, tls: &TlsConfig) -> Result<RawConn, ConnectError> {
        let unreachable = |reason: String| ConnectError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|e| unreachable(e.to_string()))?;
        let io = match phx_client::transport::open_stream(&TcpConnector, tls, &parsed).await {
            Ok(io) => io,
            Err(phx_client::ConnectError::Tls(source)) => {
                return Err(ConnectError::Tls {
                    url: url.to_owned(),
                    source,
                })
            }
            Err(e) => return Err(unreachable(e.to_string())),
        };
        match tokio_tungstenite::client_async(url, io).await {
            Ok((ws, _)) => Ok(RawConn { ws, closed: false }),
            Err(tungstenite::Error::Http(resp)) => {
                let status = resp.status().as_u16();
                let body = resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default();
                Err(ConnectError::Refused { status, body })
            }
            Err(e) => Err(ConnectError::Unreachable {
                url: url.to_owned(),
                reason: e.to_string(),
            }),
        }
    }

    /// Sends a text frame. Errors (a closed socket) are returned as text.
    pub async fn send_text(&mut self, text: &str) -> Result<(), String> {
        self.ws
            .send(WsMessage::text(text))
            .await
            .map_err(|e| e.to_string())
    }

    /// Sends a binary frame.
    pub async fn send_binary(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.ws
            .send(WsMessage::binary(bytes.to_vec()))
            .await
            .map_err(|e| e.to_string())
    }

    /// True once the peer closed or the connection dropped.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Waits up to `within` for the next data frame or close; pings and pongs are skipped.
    pub async fn next(&mut self, within: Duration) -> Received {
        if self.closed {
            return Received::Closed {
                code: 1006,
                frame: false,
            };
        }
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let msg = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Received::Timeout,
                Ok(m) => m,
            };
            match msg {
                Some(Ok(WsMessage::Text(t))) => return Received::Text(t.to_string()),
                Some(Ok(WsMessage::Binary(b))) => return Received::Binary(b.to_vec()),
                Some(Ok(WsMessage::Close(cf))) => {
                    self.closed = true;
                    let code = cf.map_or(1005, |c| u16::from(c.code));
                    return Received::Closed { code, frame: true };
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => {
                    self.closed = true;
                    return Received::Closed {
                        code: 1006,
                        frame: false,
                    };
                }
            }
        }
    }

    /// Starts a client close with code 1000 and collects what arrives until the server's
    /// close: data frames that arrived first, then the server's close code (if any).
    pub async fn close(&mut self, within: Duration) -> (Vec<Received>, Option<u16>) {
        let mut early = Vec::new();
        if self.closed {
            return (early, None);
        }
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        if self.ws.close(Some(frame)).await.is_err() {
            self.closed = true;
            return (early, None);
        }
        loop {
            match self.next(within).await {
                Received::Closed { code, frame } => return (early, frame.then_some(code)),
                Received::Timeout => return (early, None),
                other => early.push(other),
            }
        }
    }
}
