//! [`Client`]: the one typed client of the control API, on hyper's HTTP/1 client. Used by
//! `phx-server broadcast`, the conformance suite's triggers and the tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

use super::request::{BroadcastRequest, DisconnectRequest, Info, TokenRequest};

/// Default bound on one request (connect, send, whole answer).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a control API call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// The base URL is not `http://HOST:PORT`: pass the server's address.
    #[error("bad control URL {url:?}: {why}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
    /// No answer from the server (refused, reset, timed out): is it running with `--control`?
    #[error("{authority}: {why} (is the server running with --control?)")]
    Unreachable {
        /// `host:port`.
        authority: String,
        /// What failed.
        why: String,
    },
    /// The server answered with an error status: fix the request (400), the token (401) or
    /// the server's flags (404 when the API is off).
    #[error("{path}: HTTP {status}: {body}")]
    Status {
        /// The request path.
        path: String,
        /// The HTTP status.
        status: u16,
        /// The answer's body (`{"error": …}`).
        body: String,
    },
    /// A 200 whose body is not what the endpoint answers: a different server on that port.
    #[error("{path}: unexpected answer {body}")]
    BadAnswer {
        /// The request path.
        path: String,
        /// The answer's body.
        body: String,
    },
}

/// A byte stream the client speaks HTTP/1.1 over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// What a [`Transport`] hands back.
pub type TransportFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Box<dyn Io>, String>> + Send + 'a>>;

/// Wraps the TCP connection before HTTP is spoken over it: TLS for a server serving HTTPS
/// (the conformance suite plugs phx-client's rustls setup in here).
pub trait Transport: Send + Sync + 'static {
    /// Wraps `tcp`, connected to `host`; `Err` says why the handshake failed.
    fn wrap<'a>(&'a self, host: &'a str, tcp: TcpStream) -> TransportFuture<'a>;
}

/// A control API endpoint: `host:port`, an optional bearer token. Cheap to clone; each call
/// opens one short HTTP/1.1 connection.
#[derive(Clone)]
pub struct Client {
    authority: String,
    token: Option<String>,
    timeout: Duration,
    transport: Option<Arc<dyn Transport>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("authority", &self.authority)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("transport", &self.transport.as_ref().map(|_| "custom"))
            .finish()
    }
}

impl Client {
    /// The API of the server at `authority` (`host:port`).
    pub fn new(authority: impl Into<String>, token: Option<String>) -> Self {
        Client {
            authority: authority.into(),
            token,
            timeout: DEFAULT_TIMEOUT,
            transport: None,
        }
    }

    /// Speaks HTTP over `transport`'s stream (e.g. TLS) instead of plain TCP.
    pub fn with_transport(mut self, transport: Arc<dyn Transport>) -> Self {
        self.transport = Some(transport);
        self
    }

    /// The API of the server at `http://HOST:PORT` (a path is ignored).
    pub fn from_url(url: &str, token: Option<String>) -> Result<Self, ControlError> {
        let bad = |why: &str| ControlError::BadUrl {
            url: url.to_owned(),
            why: why.to_owned(),
        };
        let parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
        if parsed.scheme() != "http" {
            return Err(bad("the control API is plain http://"));
        }
        let host = parsed.host_str().ok_or_else(|| bad("no host"))?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        Ok(Client::new(format!("{host}:{port}"), token))
    }

    /// Bounds each call to `timeout` (default 10 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// `host:port`.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `POST /api/broadcast`; the number of broadcasts published.
    pub async fn broadcast(&self, req: &BroadcastRequest) -> Result<u64, ControlError> {
        let path = "/api/broadcast";
        let v = self.post(path, req).await?;
        v.get("count")
            .and_then(Value::as_u64)
            .ok_or_else(|| ControlError::BadAnswer {
                path: path.into(),
                body: v.to_string(),
            })
    }

    /// `POST /api/disconnect`: closes every socket with this id.
    pub async fn disconnect(&self, socket_id: &str) -> Result<(), ControlError> {
        let req = DisconnectRequest {
            socket_id: socket_id.to_owned(),
        };
        self.post("/api/disconnect", &req).await.map(|_| ())
    }

    /// `POST /api/token`: a token signed with the server's secret.
    pub async fn sign_token(&self, req: &TokenRequest) -> Result<String, ControlError> {
        let path = "/api/token";
        let v = self.post(path, req).await?;
        v.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| ControlError::BadAnswer {
                path: path.into(),
                body: v.to_string(),
            })
    }

    /// `GET /api/info`.
    pub async fn info(&self) -> Result<Info, ControlError> {
        let path = "/api/info";
        let v = self.get(path).await?;
        serde_json::from_value(v.clone()).map_err(|_| ControlError::BadAnswer {
            path: path.into(),
            body: v.to_string(),
        })
    }

    /// `POST path` with a JSON body (an app's route, e.g. `/api/dedupe`); the JSON answer.
    pub async fn post(&self, path: &str, body: &impl Serialize) -> Result<Value, ControlError> {
        let bytes = serde_json::to_vec(body).map_err(|e| ControlError::BadAnswer {
            path: path.into(),
            body: format!("cannot encode the request: {e}"),
        })?;
        self.request("POST", path, bytes).await
    }

    /// `GET path`; the JSON answer.
    pub async fn get(&self, path: &str) -> Result<Value, ControlError> {
        self.request("GET", path, Vec::new()).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Value, ControlError> {
        match tokio::time::timeout(self.timeout, self.request_unbounded(method, path, body)).await {
            Ok(r) => r,
            Err(_) => Err(self.unreachable(format!(
                "{method} {path} got no answer within {:?}",
                self.timeout
            ))),
        }
    }

    fn unreachable(&self, why: impl std::fmt::Display) -> ControlError {
        ControlError::Unreachable {
            authority: self.authority.clone(),
            why: why.to_string(),
        }
    }

    async fn request_unbounded(
        &self,
        method: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<Value, ControlError> {
        let stream = TcpStream::connect(&self.authority)
            .await
            .map_err(|e| self.unreachable(e))?;
        let _ = stream.set_nodelay(true);
        let io: Box<dyn Io> = match &self.transport {
            None => Box::new(stream),
            Some(t) => {
                let host = self
                    .authority
                    .rsplit_once(':')
                    .map_or(self.authority.as_str(), |(h, _)| h);
                t.wrap(host, stream)
                    .await
                    .map_err(|e| self.unreachable(e))?
            }
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority)
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| self.unreachable(e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| self.unreachable(e))?
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if !(200..300).contains(&status) {
            return Err(ControlError::Status {
                path: path.into(),
                status,
                body: text,
            });
        }
        serde_json::from_str(&text).map_err(|_| ControlError::BadAnswer {
            path: path.into(),
            body: text,
        })
    }
}
