//! The publishing task: drains the bounded queue, packs what it took into v2 batch envelopes
//! (consecutive broadcasts of one origin, up to [`MAX_ENTRIES`] or [`MAX_ENVELOPE_BYTES`] each),
//! sends them as one `PUBLISH` pipeline on one multiplexed connection, and reconnects with
//! backoff when the connection breaks. Batching is what makes the backplane keep up with local
//! delivery: one Redis message, one round trip and one wake-up of every subscriber per batch
//! instead of per broadcast. Under light load a batch is a single broadcast; nothing waits to
//! fill one.
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
use super::{envelope, RedisConfig, Shared};

/// Most queued broadcasts taken per round trip.
pub(crate) const MAX_DRAIN: usize = 4096;
/// Most broadcasts in one envelope.
pub(crate) const MAX_ENTRIES: usize = 1024;
/// An envelope is closed once it holds this many bytes (a single larger broadcast still goes,
/// alone): keeps each Redis message far below Redis's pub/sub output-buffer limits.
pub(crate) const MAX_ENVELOPE_BYTES: usize = 256 * 1024;

/// One broadcast waiting to be published: its sender and its v2 entry.
pub(crate) struct Queued {
    pub(crate) origin: Arc<str>,
    pub(crate) entry: Vec<u8>,
}

/// One envelope ready for `PUBLISH`, and how many broadcasts it carries.
pub(crate) struct Packed {
    bytes: Vec<u8>,
    broadcasts: u64,
}

/// Packs queued broadcasts into envelopes, keeping their order.
pub(crate) fn pack(items: &[Queued]) -> Vec<Packed> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < items.len() {
        let origin = &items[start].origin;
        let mut end = start;
        let mut bytes = 0;
        while end < items.len()
            && &items[end].origin == origin
            && end - start < MAX_ENTRIES
            && (end == start || bytes + items[end].entry.len() <= MAX_ENVELOPE_BYTES)
        {
            bytes += items[end].entry.len() + 1;
            end += 1;
        }
        out.push(Packed {
            bytes: envelope::encode_batch(
                origin,
                items[start..end].iter().map(|q| q.entry.as_slice()),
            ),
            broadcasts: (end - start) as u64,
        });
        start = end;
    }
    out
}

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
    mut rx: mpsc::Receiver<Queued>,
    mut stop: watch::Receiver<()>,
    seed: u64,
) {
    let config = &shared.config;
    let mut backoff = Backoff::new(config.backoff_initial, config.backoff_max, seed);
    let mut conn = Some(conn);
    // A batch whose PUBLISH failed; sent once more after reconnecting.
    let mut retry: Option<Vec<Packed>> = None;
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
                let n = count(&batch);
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
                    let mut taken = vec![first];
                    while taken.len() < MAX_DRAIN {
                        match rx.try_recv() {
                            Ok(m) => taken.push(m),
                            Err(_) => break,
                        }
                    }
                    let batch = pack(&taken);
                    drop(taken);
                    if let Err(e) = send(&shared, &mut c, &batch).await {
                        tracing::warn!(
                            url = %config.redacted_url(), in_flight = count(&batch),
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

fn count(batch: &[Packed]) -> u64 {
    batch.iter().map(|p| p.broadcasts).sum()
}

async fn send(
    shared: &Shared,
    conn: &mut MultiplexedConnection,
    batch: &[Packed],
) -> Result<(), String> {
    let mut pipe = redis::pipe();
    for m in batch {
        pipe.cmd("PUBLISH")
            .arg(&shared.channel)
            .arg(m.bytes.as_slice())
            .ignore();
    }
    match timeout(shared.config.response_timeout, pipe.query_async::<()>(conn)).await {
        Ok(Ok(())) => {
            shared
                .counters
                .published
                .fetch_add(count(batch), Ordering::Relaxed);
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

#[cfg(test)]
mod tests {
    use super::*;
    use phx_protocol::{Broadcast, Payload};

    fn queued(origin: &str, n: usize, payload_len: usize) -> Vec<Queued> {
        let origin: Arc<str> = Arc::from(origin);
        (0..n)
            .map(|i| Queued {
                origin: origin.clone(),
                entry: envelope::encode_entry(&Broadcast::new(
                    "t",
                    format!("e{i}"),
                    Payload::Json(serde_json::json!({"pad": "x".repeat(payload_len)})),
                )),
            })
            .collect()
    }

    fn events(p: &Packed) -> Vec<String> {
        envelope::decode(&p.bytes)
            .unwrap()
            .broadcasts
            .into_iter()
            .map(|b| b.event)
            .collect()
    }

    #[test]
    fn packs_by_origin_in_order_within_the_bounds() {
        let mut items = queued("a", 3, 0);
        items.extend(queued("b", 2, 0));
        items.extend(queued("a", 1, 0));
        let packed = pack(&items);
        let shape: Vec<u64> = packed.iter().map(|p| p.broadcasts).collect();
        assert_eq!(shape, vec![3, 2, 1]);
        assert_eq!(events(&packed[0]), vec!["e0", "e1", "e2"]);
        assert_eq!(envelope::decode(&packed[1].bytes).unwrap().origin, "b");

        let many = pack(&queued("a", MAX_ENTRIES + 5, 0));
        assert_eq!(
            many.iter().map(|p| p.broadcasts).collect::<Vec<_>>(),
            vec![MAX_ENTRIES as u64, 5]
        );

        let big = pack(&queued("a", 3, MAX_ENVELOPE_BYTES / 2));
        assert_eq!(
            big.iter().map(|p| p.broadcasts).collect::<Vec<_>>(),
            vec![1, 1, 1]
        );
        let huge = pack(&queued("a", 1, MAX_ENVELOPE_BYTES * 2));
        assert_eq!(huge.len(), 1, "an oversized broadcast still goes, alone");
        assert_eq!(count(&huge), 1);
    }
}
