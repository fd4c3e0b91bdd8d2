//! Opening the byte stream and running the WebSocket handshake.
//!
//! [`Connector`] opens the byte stream. The default is TCP; tests plug in an in-memory stream to
//! script a peer (e.g. one that never answers heartbeats) under tokio's paused clock. For
//! `wss://` the socket's [`TlsConfig`] runs the TLS handshake over that stream ([`open_stream`],
//! also used by the `phx` tools for their raw connections).

use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::WebSocketStream;
use url::Url;

use crate::config::SocketConfig;
use crate::error::ConnectError;
use crate::tls::TlsConfig;

/// A byte stream a WebSocket can run over.
pub trait Io: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for T {}

/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;

pub(crate) type Ws = WebSocketStream<BoxIo>;

/// Opens the byte stream to `host:port` for each connection attempt.
pub trait Connector: Send + Sync + 'static {
    /// Opens a stream to `host:port`.
    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>>;
}

/// The default connector: plain TCP with `TCP_NODELAY`.
#[derive(Debug, Default, Clone, Copy)]
pub struct TcpConnector;

impl Connector for TcpConnector {
    fn connect(&self, host: String, port: u16) -> BoxFuture<'static, std::io::Result<BoxIo>> {
        Box::pin(async move {
            let stream = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(Box::new(stream) as BoxIo)
        })
    }
}

/// One connection attempt: open the stream (TLS for `wss://`), then the WebSocket handshake,
/// within the config's connect timeout.
pub(crate) fn open(
    config: &SocketConfig,
    url: Url,
    subprotocols: Option<String>,
) -> impl std::future::Future<Output = Result<Ws, ConnectError>> + Send + 'static {
    let connector = config.connector.clone();
    let tls = config.tls.clone();
    let timeout = config.connect_timeout;
    // tungstenite allocates its read buffer per connection (128 KiB by default).
    let ws_config = WebSocketConfig::default().read_buffer_size(config.read_buffer_size);
    async move {
        let attempt = open_inner(connector, tls, url, subprotocols, ws_config);
        match tokio::time::timeout(timeout, attempt).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout(timeout)),
        }
    }
}

/// Opens the byte stream for `url`: `connector` to its host and port, then, for `wss://`, the
/// TLS handshake with the URL's host as the server name.
pub async fn open_stream(
    connector: &dyn Connector,
    tls: &TlsConfig,
    url: &Url,
) -> Result<BoxIo, ConnectError> {
    let host = url.host_str().unwrap_or("localhost").to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let addr = format!("{host}:{port}");
    let io = connector
        .connect(
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
        )
        .await
        .map_err(|e| ConnectError::Unreachable {
            addr,
            reason: e.to_string(),
        })?;
    if matches!(url.scheme(), "wss" | "https") {
        return tls.connect(&host, io).await.map_err(ConnectError::Tls);
    }
    Ok(io)
}

async fn open_inner(
    connector: Arc<dyn Connector>,
    tls: TlsConfig,
    url: Url,
    subprotocols: Option<String>,
    ws_config: WebSocketConfig,
) -> Result<Ws, ConnectError> {
    let io = open_stream(connector.as_ref(), &tls, &url).await?;
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| ConnectError::Handshake(e.to_string()))?;
    if let Some(protocols) = subprotocols {
        let value = HeaderValue::from_str(&protocols)
            .map_err(|e| ConnectError::Handshake(e.to_string()))?;
        request
            .headers_mut()
            .insert("sec-websocket-protocol", value);
    }
    match tokio_tungstenite::client_async_with_config(request, io, Some(ws_config)).await {
        Ok((ws, _response)) => Ok(ws),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).trim().to_owned())
                .unwrap_or_default();
            Err(ConnectError::Refused {
                status: response.status().as_u16(),
                body,
            })
        }
        Err(e) => Err(ConnectError::Handshake(e.to_string())),
    }
}
