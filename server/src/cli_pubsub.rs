//! `--pubsub redis://…`: the Redis backplane for `serve`, and publishing from
//! `phx-server broadcast` without a server (see `CLUSTER.md`).

use std::process::ExitCode;
use std::sync::Arc;

use clap::Args;
use phx_protocol::{Broadcast, Payload};
use phx_server::control::decode_payload;
use phx_server::pubsub::redis::{self, RedisBackplane, RedisConfig};
use phx_server::pubsub::Backplane;
use serde_json::Value;

/// Which cluster to join (`serve`) or publish into (`broadcast`).
#[derive(Args, Debug, Clone)]
pub struct PubSubArgs {
    /// Redis backplane, e.g. redis://127.0.0.1:6379 (default: local in-process pub/sub only).
    #[arg(long, env = "PHX_PUBSUB")]
    pub pubsub: Option<String>,
    /// Channel prefix: nodes with the same prefix form one cluster (channel "<prefix>:broadcast").
    #[arg(long, env = "PHX_PUBSUB_PREFIX", default_value = redis::DEFAULT_PREFIX)]
    pub pubsub_prefix: String,
}

impl PubSubArgs {
    fn redis_config(&self, url: &str) -> RedisConfig {
        RedisConfig {
            prefix: self.pubsub_prefix.clone(),
            ..RedisConfig::new(url)
        }
    }
}

/// `serve`'s extra cluster knobs.
#[derive(Args, Debug, Clone)]
pub struct ServePubSubArgs {
    #[command(flatten)]
    pub cluster: PubSubArgs,
    /// Broadcasts queued for Redis (e.g. during an outage) before new ones are dropped for
    /// other nodes (they are still delivered locally).
    #[arg(long, default_value_t = redis::DEFAULT_QUEUE)]
    pub pubsub_queue: usize,
}

/// The backplane `serve` should use: `None` without `--pubsub`; exits (1) when Redis is
/// unreachable at start.
pub async fn backplane(args: &ServePubSubArgs) -> Result<Option<Arc<dyn Backplane>>, ExitCode> {
    let Some(url) = &args.cluster.pubsub else {
        return Ok(None);
    };
    let config = RedisConfig {
        queue_capacity: args.pubsub_queue,
        ..args.cluster.redis_config(url)
    };
    match RedisBackplane::connect(config).await {
        Ok(bp) => Ok(Some(bp)),
        Err(e) => {
            eprintln!("phx-server: {e}");
            Err(match e {
                redis::RedisStartError::BadUrl { .. } => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            })
        }
    }
}

/// `phx-server broadcast --pubsub URL TOPIC EVENT [PAYLOAD_JSON]`: publishes `count` copies into
/// the cluster and prints `{"ok":true,"count":N,"receivers":R}` (R: node processes that got the
/// last one). Exit 2 on bad input, 1 when Redis fails.
pub async fn broadcast(
    args: &PubSubArgs,
    topic: &str,
    event: &str,
    payload: Option<&str>,
    count: u64,
) -> ExitCode {
    let Some(url) = &args.pubsub else {
        return ExitCode::from(2);
    };
    let payload = match parse_payload(payload) {
        Ok(p) => p,
        Err(msg) => {
            eprintln!("phx-server broadcast: {msg}");
            return ExitCode::from(2);
        }
    };
    const MAX_COUNT: u64 = 1_000_000;
    if count > MAX_COUNT {
        eprintln!("phx-server broadcast: --count {count} exceeds the limit of {MAX_COUNT}");
        return ExitCode::from(2);
    }
    let broadcasts: Vec<Broadcast> = (0..count)
        .map(|_| Broadcast::new(topic, event, payload.clone()))
        .collect();
    match redis::publish(&args.redis_config(url), &broadcasts).await {
        Ok(p) => {
            if p.receivers == 0 {
                eprintln!(
                    "phx-server broadcast: note: no node is subscribed to {} (is --pubsub-prefix the nodes' prefix?)",
                    args.redis_config(url).channel()
                );
            }
            println!(
                "{}",
                serde_json::json!({"ok": true, "count": p.count, "receivers": p.receivers})
            );
            ExitCode::SUCCESS
        }
        Err(e @ redis::PublishError::BadUrl { .. }) => {
            eprintln!("phx-server broadcast: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("phx-server broadcast: {e}");
            ExitCode::FAILURE
        }
    }
}

/// JSON (default `{}`), or `{"$binary":"HEX"}` for a binary payload, as the control API takes it.
fn parse_payload(text: Option<&str>) -> Result<Payload, String> {
    let Some(text) = text else {
        return Ok(Payload::empty_object());
    };
    let v: Value =
        serde_json::from_str(text).map_err(|e| format!("PAYLOAD_JSON is not valid JSON: {e}"))?;
    decode_payload(v).map_err(|e| e.to_string())
}
