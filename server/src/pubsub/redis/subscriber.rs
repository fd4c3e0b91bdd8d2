//! The subscribing task: holds the `SUBSCRIBE` connection, delivers each message to the
//! attached nodes (except its sender), PINGs when idle, and resubscribes with backoff when the
//! connection is lost. Messages published while it is down are not seen (Redis pub/sub keeps
//! nothing).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use futures_util::StreamExt;
use redis::aio::PubSub;
use tokio::sync::watch;
use tokio::time::{sleep, timeout};

use super::backoff::Backoff;
use super::{envelope, RedisConfig, Shared};

/// Connects and subscribes to `channel`, all within `connect_timeout`.
pub(crate) async fn open(
    client: &redis::Client,
    config: &RedisConfig,
    channel: &str,
) -> Result<PubSub, String> {
    let attempt = async {
        let mut pubsub = client.get_async_pubsub().await?;
        pubsub.subscribe(channel).await?;
        Ok::<_, redis::RedisError>(pubsub)
    };
    match timeout(config.connect_timeout, attempt).await {
        Ok(Ok(p)) => Ok(p),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", config.connect_timeout)),
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    client: redis::Client,
    subscription: PubSub,
    mut stop: watch::Receiver<()>,
    seed: u64,
) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max, seed);
    let mut subscription = Some(subscription);
    loop {
        let pubsub = match subscription.take() {
            Some(p) => p,
            None => match resubscribe(&shared, &client, &mut backoff, &mut stop).await {
                Some(p) => p,
                None => return,
            },
        };
        let (mut sink, mut stream) = pubsub.split();
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                msg = stream.next() => match msg {
                    Some(msg) => handle(&shared, msg.get_payload_bytes()).await,
                    None => {
                        tracing::warn!(
                            url = %config.redacted_url(), channel = %shared.channel,
                            "redis backplane: subscription connection lost; reconnecting (broadcasts from other nodes are missed until then, local delivery goes on)"
                        );
                        break;
                    }
                },
                _ = sleep(config.health_interval) => {
                    let ping: Result<Result<redis::Value, _>, _> = timeout(config.response_timeout, sink.ping()).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        tracing::warn!(url = %config.redacted_url(), "redis backplane: subscription connection failed its health check; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

/// Broadcasts delivered between two yields, as the control API's publishing loop does: a batch
/// from Redis must not reach each socket's bounded queue faster than a local burst would.
const YIELD_EVERY: usize = 64;

async fn handle(shared: &Shared, bytes: &[u8]) {
    match envelope::decode(bytes) {
        Ok(env) => {
            let mut chunks = env.broadcasts.chunks(YIELD_EVERY).peekable();
            while let Some(chunk) = chunks.next() {
                shared.deliver(&env.origin, chunk);
                if chunks.peek().is_some() {
                    tokio::task::yield_now().await;
                }
            }
        }
        Err(e) => {
            let n = shared.counters.malformed.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(channel = %shared.channel, malformed_total = n, "redis backplane: skipped a message: {e}");
            }
        }
    }
}

/// Resubscribes with backoff, logging each attempt; `None` when the backplane stops meanwhile.
async fn resubscribe(
    shared: &Shared,
    client: &redis::Client,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<()>,
) -> Option<PubSub> {
    let config = &shared.config;
    let started = Instant::now();
    shared
        .counters
        .connections_lost
        .fetch_add(1, Ordering::Relaxed);
    let url = config.redacted_url();
    let (pubsub, attempt) = backoff
        .retry("subscriber", &url, stop, || {
            open(client, config, &shared.channel)
        })
        .await?;
    shared.counters.resubscribes.fetch_add(1, Ordering::Relaxed);
    tracing::info!(
        %url, channel = %shared.channel, attempt, outage = ?started.elapsed(),
        "redis backplane: resubscribed"
    );
    Some(pubsub)
}
