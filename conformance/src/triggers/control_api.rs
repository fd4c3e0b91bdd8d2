//! phx-server's HTTP control API, on the same port as the sockets (HTTPS when they are wss://).

use super::{Action, SignRequest, TriggerError};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use phx_client::{BoxIo, TlsConfig};
use phx_protocol::Payload;
use serde_json::{json, Value};

/// How long one control request may take (connect, send, whole answer).
const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// A control API endpoint (`http://127.0.0.1:PORT`, optional bearer token).
#[derive(Clone, Debug)]
pub struct ControlApi {
    /// `host:port`.
    pub authority: String,
    /// The bearer token, when the server asks for one.
    pub token: Option<String>,
    /// HTTPS with this TLS setup (the server serves TLS); `None`: plain HTTP.
    pub tls: Option<TlsConfig>,
}

impl ControlApi {
    /// An endpoint at `authority` (`host:port`).
    pub fn new(authority: impl Into<String>, token: Option<String>) -> Self {
        ControlApi {
            authority: authority.into(),
            token,
            tls: None,
        }
    }

    /// The same endpoint over HTTPS (for a server serving TLS on its port).
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Runs an action.
    pub async fn run(&self, action: &Action) -> Result<(), TriggerError> {
        let (path, body) = match action {
            Action::Broadcast {
                topic,
                event,
                payload,
                ..
            } => {
                let payload = match payload {
                    Payload::Json(v) => v.clone(),
                    Payload::Binary(b) => json!({ "$binary": hex::encode(b) }),
                };
                (
                    "/api/broadcast",
                    json!({"topic": topic, "event": event, "payload": payload}),
                )
            }
            Action::Dedupe { numbers, times } => {
                ("/api/dedupe", json!({"numbers": numbers, "times": times}))
            }
            Action::Disconnect { socket_id } => {
                ("/api/disconnect", json!({"socket_id": socket_id}))
            }
        };
        self.post(path, &body).await.map(|_| ())
    }

    /// Signs a token with the server's secret.
    pub async fn sign(&self, req: &SignRequest) -> Result<String, TriggerError> {
        let mut body = json!({"salt": req.salt, "data": req.data});
        if req.age_offset_s != 0 {
            body["signed_at"] = json!(super::now_s() + req.age_offset_s);
        }
        let v = self.post("/api/token", &body).await?;
        v.get("token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| TriggerError::Control {
                path: "/api/token".into(),
                status: 200,
                body: format!("no \"token\" in {v}"),
            })
    }

    /// `POST path` with a JSON body; the JSON answer (or null).
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, TriggerError> {
        self.request("POST", path, Some(body)).await
    }

    /// `GET path`; the JSON answer (or null).
    pub async fn get(&self, path: &str) -> Result<Value, TriggerError> {
        self.request("GET", path, None).await
    }

    /// One request, bounded by [`REQUEST_TIMEOUT`] so a hung server cannot wedge a run.
    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TriggerError> {
        tokio::time::timeout(REQUEST_TIMEOUT, self.request_unbounded(method, path, body))
            .await
            .unwrap_or_else(|_| {
                Err(TriggerError::Unreachable(format!(
                    "{}: {method} {path} got no answer within {REQUEST_TIMEOUT:?}",
                    self.authority
                )))
            })
    }

    async fn request_unbounded(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, TriggerError> {
        let unreachable = |e: &dyn std::fmt::Display| {
            TriggerError::Unreachable(format!("{}: {e}", self.authority))
        };
        let stream = tokio::net::TcpStream::connect(&self.authority)
            .await
            .map_err(|e| unreachable(&e))?;
        let _ = stream.set_nodelay(true);
        let mut io: BoxIo = Box::new(stream);
        if let Some(tls) = &self.tls {
            let host = self
                .authority
                .rsplit_once(':')
                .map_or(self.authority.as_str(), |(h, _)| h);
            io = tls.connect(host, io).await.map_err(|e| unreachable(&e))?;
        }
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| unreachable(&e))?;
        tokio::spawn(conn);
        let bytes = body.map(|b| b.to_string()).unwrap_or_default();
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.authority)
            .header("content-type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req
            .body(Full::new(Bytes::from(bytes)))
            .map_err(|e| unreachable(&e))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(&e))?
            .to_bytes();
        let text = String::from_utf8_lossy(&body).into_owned();
        if !(200..300).contains(&status) {
            return Err(TriggerError::Control {
                path: path.into(),
                status,
                body: text,
            });
        }
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
