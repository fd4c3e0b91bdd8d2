//! The Redis backplane: nodes in different processes or machines share broadcasts through Redis
//! pub/sub, as `Phoenix.PubSub.Redis` does. See `server/CLUSTER.md` for the operator's view.
//!
//! - [`envelope`]: the documented, versioned message format and the channel name.
//! - `publisher`: one task draining a bounded queue into v2 batch envelopes sent as one `PUBLISH`
//!   pipeline; reconnects with backoff; counts what it drops.
//! - `subscriber`: one task holding the `SUBSCRIBE` connection, health-checked by `PING`;
//!   resubscribes with backoff; delivers to every attached node except the sender.
//! - `standalone`: publishing without being a node (`phx-server broadcast --pubsub`).
//! - `backoff`: reconnect delays and the shared retry loop.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use phx_server::pubsub::redis::{RedisBackplane, RedisConfig};
//! use phx_server::apps::hello_sockets::HelloSockets;
//! use phx_server::Config;
//!
//! let backplane = RedisBackplane::connect(RedisConfig::new("redis://127.0.0.1:6379")).await?;
//! let config = Config { node_name: "server@127.0.0.1".into(), ..Config::default() };
//! let endpoint = HelloSockets::default().endpoint(config, Some(backplane));
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:4000").await?;
//! phx_server::serve(listener, endpoint, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await?;
//! # Ok(()) }
//! ```
//!
//! Each process opens two Redis connections (one publishing, one subscribed) however many
//! nodes it attaches. Fastlane encoding and `handle_out` happen in the receiving node's
//! [`LocalDelivery`], so each node encodes a frame once and intercepted events name the node
//! that pushes them.

mod backoff;
pub mod envelope;
mod publisher;
mod standalone;
mod subscriber;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use phx_protocol::Broadcast;
use tokio::sync::{mpsc, watch};

use super::{Backplane, LocalDelivery, NodeId};
pub use standalone::{publish, PublishError, Published};

/// The default channel prefix (the channel is `"<prefix>:broadcast"`).
pub const DEFAULT_PREFIX: &str = "phx:HelloSockets";
/// The default publish queue bound, in broadcasts. Large enough that a burst from one control
/// call or one `lists:foreach` loop (tens of thousands of broadcasts, made faster than any
/// Redis round trip) is published rather than dropped while Redis is healthy; each queued
/// broadcast costs its encoded size plus about 60 bytes.
pub const DEFAULT_QUEUE: usize = 100_000;

/// How to reach Redis and how to behave when it goes away.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// Nodes sharing a prefix form one cluster; the channel is `"<prefix>:broadcast"`.
    pub prefix: String,
    /// Broadcasts waiting to be published (e.g. during an outage); beyond it they are dropped
    /// and counted.
    pub queue_capacity: usize,
    /// Limit for opening a connection.
    pub connect_timeout: Duration,
    /// Limit for a reply (PUBLISH pipeline, health PING).
    pub response_timeout: Duration,
    /// How often an idle connection is checked with PING (catches half-open connections).
    pub health_interval: Duration,
    /// First reconnect delay; doubles per failed attempt.
    pub backoff_initial: Duration,
    /// Largest reconnect delay.
    pub backoff_max: Duration,
}

impl RedisConfig {
    /// Defaults for `url`: prefix [`DEFAULT_PREFIX`], queue [`DEFAULT_QUEUE`], 5 s connect and
    /// reply timeouts, PING every 5 s, reconnect delays 100 ms doubling to 5 s.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            prefix: DEFAULT_PREFIX.into(),
            queue_capacity: DEFAULT_QUEUE,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            health_interval: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
        }
    }

    /// The Redis channel this cluster uses.
    pub fn channel(&self) -> String {
        envelope::channel_name(&self.prefix)
    }

    /// The URL with any password replaced by `***`, for logs and error messages.
    pub fn redacted_url(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) if u.password().is_some() => {
                let _ = u.set_password(Some("***"));
                u.to_string()
            }
            Ok(_) => self.url.clone(),
            // Unparseable: hide whatever sits before an `@`.
            Err(_) => match self.url.rsplit_once('@') {
                Some((_, host)) => format!("***@{host}"),
                None => self.url.clone(),
            },
        }
    }

    /// The validated client, or why the URL is unusable.
    pub(crate) fn client(&self) -> Result<redis::Client, String> {
        match url::Url::parse(&self.url) {
            Ok(u) if u.scheme() == "redis" => {}
            Ok(u) if u.scheme() == "rediss" => {
                return Err("rediss:// (TLS) is not supported by this build; use redis:// (e.g. through a TLS tunnel)".into())
            }
            Ok(u) => return Err(format!("unsupported scheme {:?}; use redis://HOST:PORT", u.scheme())),
            Err(e) => return Err(format!("{e}; use redis://HOST:PORT")),
        }
        redis::Client::open(self.url.as_str()).map_err(|e| e.to_string())
    }
}

/// Why [`RedisBackplane::connect`] failed. The node does not start: a node that silently ran
/// alone would split the cluster without anyone noticing.
#[derive(Debug, thiserror::Error)]
pub enum RedisStartError {
    /// The URL cannot be used; fix `--pubsub`.
    #[error("bad --pubsub URL {url:?}: {reason}")]
    BadUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Redis did not answer; start it, or check host, port and password.
    #[error("cannot reach Redis at {url} for --pubsub: {reason} (start redis-server, fix --pubsub, or drop --pubsub to run a single node)")]
    Unreachable {
        /// The URL given.
        url: String,
        /// What the connection attempt said.
        reason: String,
    },
}

/// Counters since start (all monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RedisStats {
    /// Broadcasts published to Redis.
    pub published: u64,
    /// Broadcasts dropped because the publish queue was full.
    pub dropped_queue_full: u64,
    /// Broadcasts whose PUBLISH failed twice (in flight when the connection broke, and again
    /// after reconnecting).
    pub lost_in_flight: u64,
    /// Broadcasts from other processes delivered locally.
    pub received: u64,
    /// Redis messages that were not a valid envelope (skipped and logged).
    pub malformed: u64,
    /// Times a connection (publishing or subscribed) was found broken: closed, a failed
    /// PUBLISH, or no answer to the health-check PING.
    pub connections_lost: u64,
    /// Successful reconnections of the publishing connection.
    pub publisher_reconnects: u64,
    /// Successful resubscriptions after the subscribed connection was lost.
    pub resubscribes: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    published: AtomicU64,
    dropped_queue_full: AtomicU64,
    lost_in_flight: AtomicU64,
    received: AtomicU64,
    malformed: AtomicU64,
    connections_lost: AtomicU64,
    publisher_reconnects: AtomicU64,
    resubscribes: AtomicU64,
}

/// State shared by the backplane handle and its two tasks.
pub(crate) struct Shared {
    config: RedisConfig,
    channel: String,
    /// Random per backplane: origins from two processes never collide, whatever their names.
    nonce: String,
    nodes: RwLock<Vec<Attached>>,
    counters: Counters,
}

struct Attached {
    node: NodeId,
    origin: String,
    local: LocalDelivery,
}

impl Shared {
    fn origin(&self, node: &NodeId) -> String {
        format!("{}/{}/{}", node.name, self.nonce, node.instance)
    }

    /// Delivers the broadcasts of one Redis message, in order, to every attached node except
    /// their sender.
    fn deliver(&self, origin: &str, broadcasts: &[Broadcast]) {
        let targets: Vec<LocalDelivery> = match self.nodes.read() {
            Ok(nodes) => nodes
                .iter()
                .filter(|a| a.origin != origin)
                .map(|a| a.local.clone())
                .collect(),
            Err(_) => return,
        };
        if !targets.is_empty() {
            self.counters
                .received
                .fetch_add(broadcasts.len() as u64, Ordering::Relaxed);
        }
        for broadcast in broadcasts {
            for local in &targets {
                local.deliver(broadcast);
            }
        }
    }
}

/// A [`Backplane`] over Redis pub/sub. Create it with [`RedisBackplane::connect`] and give it to
/// [`crate::Endpoint::builder`]; dropping the last handle stops its tasks.
pub struct RedisBackplane {
    shared: Arc<Shared>,
    queue: mpsc::Sender<publisher::Queued>,
    _stop: watch::Sender<()>,
}

impl RedisBackplane {
    /// Connects (publishing connection, then `SUBSCRIBE`) and starts the two tasks. Fails when
    /// Redis cannot be reached within `connect_timeout`: see [`RedisStartError`].
    pub async fn connect(config: RedisConfig) -> Result<Arc<RedisBackplane>, RedisStartError> {
        let client = config.client().map_err(|reason| RedisStartError::BadUrl {
            url: config.redacted_url(),
            reason,
        })?;
        let unreachable = |reason: String| RedisStartError::Unreachable {
            url: config.redacted_url(),
            reason,
        };
        let channel = config.channel();
        let publisher_conn = publisher::open(&client, &config)
            .await
            .map_err(unreachable)?;
        let subscription = subscriber::open(&client, &config, &channel)
            .await
            .map_err(unreachable)?;
        tracing::info!(url = %config.redacted_url(), %channel, "redis backplane: connected and subscribed");

        let (queue, rx) = mpsc::channel(config.queue_capacity.max(1));
        let (stop, stop_rx) = watch::channel(());
        let seed = RandomState::new().hash_one((std::process::id(), SystemTime::now()));
        let shared = Arc::new(Shared {
            config,
            channel,
            nonce: format!("{seed:016x}"),
            nodes: RwLock::new(Vec::new()),
            counters: Counters::default(),
        });
        crate::spawn::spawn(publisher::run(
            shared.clone(),
            client.clone(),
            publisher_conn,
            rx,
            stop_rx.clone(),
            seed,
        ));
        crate::spawn::spawn(subscriber::run(
            shared.clone(),
            client,
            subscription,
            stop_rx,
            seed.rotate_left(17),
        ));
        Ok(Arc::new(RedisBackplane {
            shared,
            queue,
            _stop: stop,
        }))
    }

    /// The Redis channel in use.
    pub fn channel(&self) -> &str {
        &self.shared.channel
    }

    /// Counters since start.
    pub fn stats(&self) -> RedisStats {
        let c = &self.shared.counters;
        RedisStats {
            published: c.published.load(Ordering::Relaxed),
            dropped_queue_full: c.dropped_queue_full.load(Ordering::Relaxed),
            lost_in_flight: c.lost_in_flight.load(Ordering::Relaxed),
            received: c.received.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
            connections_lost: c.connections_lost.load(Ordering::Relaxed),
            publisher_reconnects: c.publisher_reconnects.load(Ordering::Relaxed),
            resubscribes: c.resubscribes.load(Ordering::Relaxed),
        }
    }
}

impl Backplane for RedisBackplane {
    fn attach(&self, node: &NodeId, local: LocalDelivery) {
        let origin = self.shared.origin(node);
        if let Ok(mut nodes) = self.shared.nodes.write() {
            nodes.push(Attached {
                node: node.clone(),
                origin,
                local,
            });
        }
    }

    fn detach(&self, node: &NodeId) {
        if let Ok(mut nodes) = self.shared.nodes.write() {
            nodes.retain(|a| &a.node != node);
        }
    }

    fn publish(&self, origin: &NodeId, broadcast: &Broadcast) {
        let queued = publisher::Queued {
            origin: Arc::from(self.shared.origin(origin)),
            entry: envelope::encode_entry(broadcast),
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = self.queue.try_send(queued) {
            let n = self
                .shared
                .counters
                .dropped_queue_full
                .fetch_add(1, Ordering::Relaxed)
                + 1;
            // 1, 2, 4, 8, …: visible without flooding the log during a long outage.
            if n.is_power_of_two() {
                tracing::warn!(
                    capacity = self.shared.config.queue_capacity,
                    dropped_total = n,
                    topic = %broadcast.topic,
                    "redis backplane: publish queue full, broadcast dropped for other nodes (delivered locally)"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs_or_errors() {
        assert_eq!(
            RedisConfig::new("redis://:s3cret@10.0.0.1:6379/0").redacted_url(),
            "redis://:***@10.0.0.1:6379/0"
        );
        assert_eq!(
            RedisConfig::new("redis://user:s3cret@h").redacted_url(),
            "redis://user:***@h"
        );
        assert_eq!(
            RedisConfig::new("redis://h:6379").redacted_url(),
            "redis://h:6379"
        );
        assert_eq!(
            RedisConfig::new("not a url:s3cret@h").redacted_url(),
            "***@h"
        );
    }

    #[test]
    fn only_redis_urls_are_accepted() {
        assert!(RedisConfig::new("redis://127.0.0.1:6379").client().is_ok());
        assert!(RedisConfig::new("rediss://h")
            .client()
            .unwrap_err()
            .contains("TLS"));
        assert!(RedisConfig::new("http://h")
            .client()
            .unwrap_err()
            .contains("unsupported scheme"));
        assert!(RedisConfig::new("nonsense").client().is_err());
    }
}
