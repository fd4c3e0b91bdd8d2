//! `phx-server broadcast`: POST /api/broadcast on a running server.

use std::process::ExitCode;

use bytes::Bytes;
use clap::Args;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

#[derive(Args)]
pub struct BroadcastArgs {
    /// Base URL of the server, e.g. http://127.0.0.1:4000 (started with --control).
    #[arg(long, env = "PHX_CONTROL_URL", default_value = "http://127.0.0.1:4000")]
    control_url: String,
    /// Bearer token, when the server has --control-token.
    #[arg(long, env = "CONTROL_TOKEN", hide_env_values = true)]
    control_token: Option<String>,
    /// Publish through Redis instead of --control-url (no server needed).
    #[command(flatten)]
    pubsub: crate::cli_pubsub::PubSubArgs,
    /// Publish this many copies.
    #[arg(long)]
    count: Option<u64>,
    /// The topic, e.g. ping.
    topic: String,
    /// The event, e.g. request_ping.
    event: String,
    /// The payload as JSON (default {}); {"$binary":"HEX"} for binary.
    payload: Option<String>,
}

pub async fn run(args: BroadcastArgs) -> ExitCode {
    if args.pubsub.pubsub.is_some() {
        let (topic, event, payload) = (&args.topic, &args.event, args.payload.as_deref());
        return crate::cli_pubsub::broadcast(
            &args.pubsub,
            topic,
            event,
            payload,
            args.count.unwrap_or(1),
        )
        .await;
    }
    let payload: Value = match args
        .payload
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
    {
        Ok(p) => p.unwrap_or_else(|| json!({})),
        Err(e) => {
            eprintln!("phx-server broadcast: PAYLOAD_JSON is not valid JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let mut body = json!({"topic": args.topic, "event": args.event, "payload": payload});
    if let Some(c) = args.count {
        body["count"] = json!(c);
    }
    match post(
        &args.control_url,
        "/api/broadcast",
        args.control_token.as_deref(),
        &body,
    )
    .await
    {
        Ok((200, text)) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Ok((status, text)) => {
            eprintln!("phx-server broadcast: HTTP {status}: {text}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("phx-server broadcast: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn post(
    base: &str,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, String), String> {
    let url = url::Url::parse(base).map_err(|e| format!("bad --control-url {base:?}: {e}"))?;
    if url.scheme() != "http" {
        return Err(format!("--control-url must be http://, got {base:?}"));
    }
    let host = url
        .host_str()
        .ok_or_else(|| format!("--control-url has no host: {base:?}"))?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| {
            format!("cannot connect to {host}:{port}: {e} (is the server running with --control?)")
        })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http handshake: {e}"))?;
    tokio::spawn(conn);
    let mut req = Request::post(path)
        .header("host", format!("{host}:{port}"))
        .header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = req
        .body(Full::new(Bytes::from(body.to_string())))
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = resp.status().as_u16();
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("reading response: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
