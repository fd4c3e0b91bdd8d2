//! The publishing task: drains the bounded queue into `PUBLISH` pipelines on one multiplexed
//! connection, and reconnects with backoff when the connection breaks.
//!
//! While disconnected the queue fills (up to `queue_capacity`, then [`super::Backplane::publish`]
//! drops and counts); after reconnecting the backlog is sent, late but in order. A batch that was
//! in flight when the connection broke is sent once more after reconnecting, then given up.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::{mpsc, watch};
use tokio::time::{sleep, timeout};

use super::backoff::Backoff;
use super::{RedisConfig, Shared};

/// Most PUBLISH commands per pipeline (one round trip).
pub(crate) const MAX_BATCH: usize = 256;

/// Opens the publishing connection.
pub(crate) async fn open(
    client: &redis::Client,
    config: &RedisConfig,
) -> Result<MultiplexedConnection, String> {
    let conn_config = AsyncConnectionConfig::new()
        .set_connection_timeout(config.connect_timeout)
        .set_response_timeout(config.response_timeout);
    // The crate's connection timeout does not cover the handshake on every path; bound it all.
    match timeout(
        config.connect_timeout,
        client.get_multiplexed_async_connection_with_config(&conn_config),
    )
    .await
    {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {:?}", config.connect_timeout)),
    }
}

pub(crate) async fn run(
    shared: Arc<Shared>,
    client: redis::Client,
    conn: MultiplexedConnection,
    mut rx: mpsc::Receiver<Vec<u8>>,
    mut stop: watch::Receiver<()>,
    seed: u64,
) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max, seed);
    let mut conn = Some(conn);
    // A batch whose PUBLISH failed; sent once more after reconnecting.
    let mut retry: Option<Vec<Vec<u8>>> = None;
    loop {
        let mut c = match conn.take() {
            Some(c) => c,
            None => match reconnect(&shared, &client, &mut backoff, &mut stop).await {
                Some(c) => c,
                None => return,
            },
        };
        if let Some(batch) = retry.take() {
            if let Err(e) = send(&shared, &mut c, &batch).await {
                let n = batch.len() as u64;
                shared
                    .counters
                    .lost_in_flight
                    .fetch_add(n, Ordering::Relaxed);
                tracing::warn!(
                    lost = n,
                    "redis backplane: resending the interrupted batch failed ({e}); it is lost"
                );
                continue;
            }
        }
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                msg = rx.recv() => {
                    let Some(first) = msg else { return };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = send(&shared, &mut c, &batch).await {
                        tracing::warn!(
                            url = %config.redacted_url(), in_flight = batch.len(),
                            "redis backplane: publishing failed ({e}); reconnecting, local delivery goes on"
                        );
                        retry = Some(batch);
                        break;
                    }
                }
                _ = sleep(config.health_interval) => {
                    let ping: Result<Result<String, _>, _> =
                        timeout(config.response_timeout, redis::cmd("PING").query_async(&mut c)).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        tracing::warn!(url = %config.redacted_url(), "redis backplane: publishing connection failed its health check; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

async fn send(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    batch: &[Vec<u8>],
) -> Result<(), String> {
    let mut pipe = redis::pipe();
    for m in batch {
        pipe.cmd("PUBLISH")
            .arg(&shared.channel)
            .arg(m.as_slice())
            .ignore();
    }
    match timeout(shared.config.response_timeout, pipe.query_async::<()>(conn)).await {
        Ok(Ok(())) => {
            shared
                .counters
                .published
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            Ok(())
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!(
            "no reply within {:?}",
            shared.config.response_timeout
        )),
    }
}

/// Reconnects with backoff, logging each attempt; `None` when the backplane stops meanwhile.
async fn reconnect(
    shared: &Shared,
    client: &redis::Client,
    backoff: &mut Backoff,
    stop: &mut watch::Receiver<()>,
) -> Option<MultiplexedConnection> {
    let config = &shared.config;
    let started = Instant::now();
    shared
        .counters
        .connections_lost
        .fetch_add(1, Ordering::Relaxed);
    let url = config.redacted_url();
    let (conn, attempt) = backoff
        .retry("publisher", &url, stop, || open(client, config))
        .await?;
    shared
        .counters
        .publisher_reconnects
        .fetch_add(1, Ordering::Relaxed);
    let dropped = shared.counters.dropped_queue_full.load(Ordering::Relaxed);
    tracing::info!(
        %url, attempt, outage = ?started.elapsed(), dropped_total = dropped,
        "redis backplane: publisher reconnected; sending the queued broadcasts"
    );
    Some(conn)
}
