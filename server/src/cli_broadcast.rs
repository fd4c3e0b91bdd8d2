//! `phx-server broadcast`: POST /api/broadcast on a running server.

use std::process::ExitCode;

use clap::Args;
use phx_server::control::{decode_payload, BroadcastRequest, Client, ControlError};
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
    let client = match Client::from_url(&args.control_url, args.control_token) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("phx-server broadcast: {e}");
            return ExitCode::from(2);
        }
    };
    let payload = match decode_payload(payload) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("phx-server broadcast: PAYLOAD_JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let mut req = BroadcastRequest::new(args.topic, args.event, &payload);
    req.count = args.count;
    match client.broadcast(&req).await {
        Ok(count) => {
            println!("{}", json!({"count": count, "ok": true}));
            ExitCode::SUCCESS
        }
        Err(e @ ControlError::Unreachable { .. }) => {
            eprintln!("phx-server broadcast: {e}");
            ExitCode::from(3)
        }
        Err(e) => {
            eprintln!("phx-server broadcast: {e}");
            ExitCode::FAILURE
        }
    }
}
