//! phx-server's HTTP control API, on the same port as the sockets (HTTPS when they are wss://),
//! through phx-server's own typed client ([`phx_server::control::Client`]).

use std::sync::Arc;

use super::{Action, SignRequest, TriggerError};
use phx_client::{BoxIo, TlsConfig};
use phx_server::apps::hello_sockets::control::DedupeRequest;
use phx_server::control::{
    BroadcastRequest, Client, ControlError, Io, TokenRequest, Transport, TransportFuture,
};
use serde_json::json;

/// HTTPS for the control API: phx-client's rustls setup as the client's transport.
struct Tls(TlsConfig);

impl Transport for Tls {
    fn wrap<'a>(&'a self, host: &'a str, tcp: tokio::net::TcpStream) -> TransportFuture<'a> {
        Box::pin(async move {
            let io: BoxIo = Box::new(tcp);
            let tls = self.0.connect(host, io).await.map_err(|e| e.to_string())?;
            Ok(Box::new(tls) as Box<dyn Io>)
        })
    }
}

/// The control client's transport for a server serving HTTPS on its socket port.
pub(crate) fn https(tls: TlsConfig) -> Arc<dyn Transport> {
    Arc::new(Tls(tls))
}

/// A control API endpoint (`http://127.0.0.1:PORT`, optional bearer token).
#[derive(Clone, Debug)]
pub struct ControlApi {
    client: Client,
}

impl From<ControlError> for TriggerError {
    fn from(e: ControlError) -> Self {
        match e {
            ControlError::Status { path, status, body } => {
                TriggerError::Control { path, status, body }
            }
            ControlError::BadAnswer { path, body } => TriggerError::Control {
                path,
                status: 200,
                body,
            },
            other => TriggerError::Unreachable(other.to_string()),
        }
    }
}

impl ControlApi {
    /// An endpoint at `authority` (`host:port`).
    pub fn new(authority: impl Into<String>, token: Option<String>) -> Self {
        ControlApi {
            client: Client::new(authority, token),
        }
    }

    /// The same endpoint over HTTPS (for a server serving TLS on its port).
    pub fn with_tls(mut self, tls: TlsConfig) -> Self {
        self.client = self.client.with_transport(https(tls));
        self
    }

    /// Runs an action.
    pub async fn run(&self, action: &Action) -> Result<(), TriggerError> {
        match action {
            Action::Broadcast {
                topic,
                event,
                payload,
                ..
            } => {
                let req = BroadcastRequest::new(topic, event, payload);
                self.client.broadcast(&req).await?;
            }
            Action::Dedupe { numbers, times } => {
                let body = DedupeRequest {
                    numbers: numbers.iter().map(|n| json!(n)).collect(),
                    times: u64::from(*times),
                };
                self.client.post("/api/dedupe", &body).await?;
            }
            Action::Disconnect { socket_id } => self.client.disconnect(socket_id).await?,
        }
        Ok(())
    }

    /// `GET path` or `POST path` with a JSON body (a scenario file's `control` step); the JSON
    /// answer.
    pub async fn request(
        &self,
        method: &str,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, TriggerError> {
        Ok(if method.eq_ignore_ascii_case("GET") {
            self.client.get(path).await?
        } else {
            self.client.post(path, body).await?
        })
    }

    /// Signs a token with the server's secret.
    pub async fn sign(&self, req: &SignRequest) -> Result<String, TriggerError> {
        let signed_at =
            (req.age_offset_s != 0).then(|| (super::now_s() + req.age_offset_s).max(0) as u64);
        let req = TokenRequest {
            salt: req.salt.clone(),
            data: json!(req.data),
            signed_at,
            max_age: None,
        };
        Ok(self.client.sign_token(&req).await?)
    }
}
