//! Publishing into a cluster without being a node: what the tutorial's remote node does when it
//! calls `Endpoint.broadcast`, for `phx-server broadcast --pubsub redis://…`.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use phx_protocol::Broadcast;

use super::{envelope, publisher, RedisConfig};

/// PUBLISH commands per pipeline (one round trip).
const PIPELINE: usize = 256;

/// Why [`publish`] failed. Nothing was published unless `Failed` says otherwise.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The URL cannot be used; fix `--pubsub`.
    #[error("bad --pubsub URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis did not answer; start it, or check host, port and password.
    #[error("cannot reach Redis at {url}: {reason}")]
    Unreachable {
        /// The URL given.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
    /// Redis refused or dropped the `PUBLISH` pipeline; the first `published` made it.
    #[error("PUBLISH failed after {published} of {total} broadcasts: {reason}")]
    Failed {
        /// How many were confirmed before the failure.
        published: u64,
        /// How many were asked for.
        total: u64,
        /// What Redis or the connection said.
        reason: String,
    },
}

/// What [`publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    /// Broadcasts published.
    pub count: u64,
    /// Subscribed connections that received the last one: one per running node process.
    pub receivers: u64,
}

/// Publishes `broadcasts` in order on the cluster's channel and waits for Redis to confirm.
pub async fn publish(
    config: &RedisConfig,
    broadcasts: &[Broadcast],
) -> Result<Published, PublishError> {
    let client = config.client().map_err(|reason| PublishError::BadUrl {
        url: config.redacted_url(),
        reason,
    })?;
    let mut conn =
        publisher::open(&client, config)
            .await
            .map_err(|reason| PublishError::Unreachable {
                url: config.redacted_url(),
                reason,
            })?;
    let origin = format!(
        "phx-server-broadcast/{:016x}",
        RandomState::new().hash_one(std::process::id())
    );
    let channel = config.channel();
    let total = broadcasts.len() as u64;
    let mut published = 0u64;
    let mut receivers = 0u64;
    // v1 envelopes, one per broadcast: readable by every node version, and `receivers` is
    // Redis's count for the last one.
    for chunk in broadcasts.chunks(PIPELINE) {
        let mut pipe = redis::pipe();
        for b in chunk {
            pipe.cmd("PUBLISH")
                .arg(&channel)
                .arg(envelope::encode(&origin, b));
        }
        let replies: Vec<u64> =
            pipe.query_async(&mut conn)
                .await
                .map_err(|e| PublishError::Failed {
                    published,
                    total,
                    reason: e.to_string(),
                })?;
        published += chunk.len() as u64;
        receivers = replies.last().copied().unwrap_or(0);
    }
    Ok(Published {
        count: published,
        receivers,
    })
}
