//! The generator's connections: raw tokio-tungstenite sockets with small buffers (4 KiB read,
//! no write buffer: about 7 KiB each), over TCP or, for `wss://`, phx-client's rustls setup;
//! spread over `127.0.0.x` source addresses past [`PER_SOURCE`] sockets; and an exact
//! per-connection delivery [`Counter`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpSocket;
use tokio::sync::watch;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use phx_client::{BoxIo, TlsConfig};

/// A generator connection (plain TCP or TLS under the WebSocket).
pub type Ws = WebSocketStream<BoxIo>;

/// Sockets per loopback source address (about 28k ephemeral ports exist per source and
/// destination; staying well below leaves room for TIME_WAIT).
pub const PER_SOURCE: usize = 20_000;
/// How often an open connection sends a Phoenix heartbeat (Phoenix closes after 60 s silence).
pub const HEARTBEAT: Duration = Duration::from_secs(25);

/// Why one connection failed; the summary counts them by reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnError {
    /// TCP connect failed (refused, out of ports or files).
    #[error("tcp connect: {0}")]
    Connect(String),
    /// The TLS handshake of a `wss://` URL failed (certificate, or not a TLS server).
    #[error("tls: {0}")]
    Tls(String),
    /// The WebSocket upgrade failed (HTTP status, bad handshake).
    #[error("websocket upgrade: {0}")]
    Upgrade(String),
    /// The join was answered with an error.
    #[error("join refused: {0}")]
    JoinRefused(String),
    /// No answer in time.
    #[error("timed out {0}")]
    Timeout(&'static str),
    /// The server closed the socket.
    #[error("closed by the server {0}")]
    Closed(&'static str),
    /// Reading or writing failed.
    #[error("socket error: {0}")]
    Io(String),
}

/// Where and how the generator connects.
#[derive(Clone, Debug)]
pub struct WsTarget {
    /// The full WebSocket URL, `/websocket` and `vsn` included.
    pub url: String,
    /// The resolved address.
    pub addr: SocketAddr,
    /// Topic every connection joins.
    pub topic: String,
    /// Limit for connect + upgrade + join.
    pub join_timeout: Duration,
    /// For `wss://`: the TLS setup and the server name (the URL's host).
    pub tls: Option<(TlsConfig, String)>,
}

impl WsTarget {
    /// `url` as the user gave it (`ws://host:port/socket` or `wss://…`, with or without
    /// `/websocket` and a query): `/websocket` and `vsn=2.0.0` are added when missing. A
    /// `wss://` URL is dialled with `tls`.
    pub fn parse(
        url: &str,
        topic: &str,
        join_timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<WsTarget, String> {
        let mut u = url::Url::parse(url).map_err(|e| format!("bad --url {url:?}: {e}"))?;
        let tls = match u.scheme() {
            "ws" => None,
            "wss" => Some((tls.clone(), u.host_str().unwrap_or("localhost").to_owned())),
            _ => return Err(format!("--url {url:?}: use ws:// or wss://")),
        };
        if !u.path().ends_with("/websocket") {
            let path = format!("{}/websocket", u.path().trim_end_matches('/'));
            u.set_path(&path);
        }
        if !u.query_pairs().any(|(k, _)| k == "vsn") {
            u.query_pairs_mut().append_pair("vsn", "2.0.0");
        }
        let addr = u
            .socket_addrs(|| Some(if tls.is_some() { 443 } else { 80 }))
            .map_err(|e| format!("--url {url:?}: cannot resolve: {e}"))?
            .into_iter()
            .next()
            .ok_or_else(|| format!("--url {url:?}: no address"))?;
        Ok(WsTarget {
            url: u.to_string(),
            addr,
            topic: topic.to_owned(),
            join_timeout,
            tls,
        })
    }

    /// The source address of connection `index`: the system's choice for the first
    /// [`PER_SOURCE`], then `127.0.0.(1 + index / PER_SOURCE)` toward a 127.x target. (Binding
    /// before connecting makes the kernel pick a port without knowing the destination: slow,
    /// and it runs out of ports early, so it is done only where it is needed.)
    fn source(&self, index: usize) -> Option<IpAddr> {
        match self.addr.ip() {
            IpAddr::V4(ip) if ip.is_loopback() && index >= PER_SOURCE => {
                let k = (1 + index / PER_SOURCE).min(254) as u8;
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, k)))
            }
            _ => None,
        }
    }
}

/// Small buffers: the generator must be cheap per connection.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0)
}

/// Connects, upgrades and joins the topic, within the target's join timeout.
pub async fn connect_and_join(target: &WsTarget, index: usize) -> Result<Ws, ConnError> {
    let deadline = Instant::now() + target.join_timeout;
    let mut ws = timeout_at(deadline, connect(target, index))
        .await
        .map_err(|_| ConnError::Timeout("connecting"))??;
    join(&mut ws, &target.topic, deadline).await?;
    Ok(ws)
}

async fn connect(target: &WsTarget, index: usize) -> Result<Ws, ConnError> {
    let socket = match target.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| ConnError::Connect(e.to_string()))?;
    if let Some(src) = target.source(index) {
        socket
            .bind(SocketAddr::new(src, 0))
            .map_err(|e| ConnError::Connect(format!("bind {src}: {e}")))?;
    }
    let tcp = socket
        .connect(target.addr)
        .await
        .map_err(|e| ConnError::Connect(e.to_string()))?;
    let _ = tcp.set_nodelay(true);
    let io: BoxIo = match &target.tls {
        None => Box::new(tcp),
        Some((tls, host)) => tls
            .connect(host, Box::new(tcp))
            .await
            .map_err(|e| ConnError::Tls(e.to_string()))?,
    };
    let (ws, _) = tokio_tungstenite::client_async_with_config(&target.url, io, Some(ws_config()))
        .await
        .map_err(|e| ConnError::Upgrade(e.to_string()))?;
    Ok(ws)
}

/// Sends `phx_join` (join_ref and ref `"1"`) and waits for its reply.
async fn join(ws: &mut Ws, topic: &str, deadline: Instant) -> Result<(), ConnError> {
    let topic_json = serde_json::to_string(topic).unwrap_or_default();
    ws.send(Message::text(format!(
        r#"["1","1",{topic_json},"phx_join",{{}}]"#
    )))
    .await
    .map_err(|e| ConnError::Io(e.to_string()))?;
    loop {
        let msg = match timeout_at(deadline, ws.next()).await {
            Err(_) => return Err(ConnError::Timeout("waiting for the join reply")),
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => {
                return Err(ConnError::Closed("before the join reply"))
            }
            Ok(Some(Err(e))) => return Err(ConnError::Io(e.to_string())),
            Ok(Some(Ok(m))) => m,
        };
        let Message::Text(t) = msg else { continue };
        let t = t.as_str();
        if t.starts_with(r#"["1","1","#) && t.contains("\"phx_reply\"") {
            if t.contains(r#""status":"ok""#) {
                return Ok(());
            }
            return Err(ConnError::JoinRefused(t.chars().take(200).collect()));
        }
    }
}

/// The heartbeat frame.
pub fn heartbeat() -> Message {
    Message::text(r#"[null,"hb","phoenix","heartbeat",{}]"#)
}

/// Microseconds since the Unix epoch (the clock the `"t"` stamps use).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// The `"i"` (broadcast index) and `"t"` (publish time, unix µs) stamps of a broadcast frame,
/// found without a full JSON parse (the payload is the last element of the frame).
pub fn stamps(frame: &str) -> Option<(u64, u64)> {
    fn number_after(s: &str, key: &str) -> Option<u64> {
        let at = s.rfind(key)? + key.len();
        let digits: &str = s.get(at..)?.trim_start();
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits.get(..end)?.parse().ok()
    }
    Some((
        number_after(frame, "\"i\":")?,
        number_after(frame, "\"t\":")?,
    ))
}

/// Exact delivery accounting for one connection: which of the `expected` broadcasts arrived,
/// how often, in which order, and how late.
#[derive(Debug, Clone)]
pub struct Counter {
    /// Latency + 1 in µs per broadcast index (0 = not received).
    latency: Vec<u32>,
    /// Distinct broadcasts received.
    pub distinct: u64,
    /// Receptions of an index already received.
    pub duplicated: u64,
    /// Receptions of an index lower than one received before.
    pub out_of_order: u64,
    /// Frames carrying an index outside `0..expected`.
    pub unexpected: u64,
    /// When the last new broadcast arrived (unix µs; 0 before the first).
    pub last_at: u64,
    highest: Option<u64>,
}

impl Counter {
    /// A counter for broadcasts `0..expected`.
    pub fn new(expected: u64) -> Self {
        Counter {
            latency: vec![0; expected as usize],
            distinct: 0,
            duplicated: 0,
            out_of_order: 0,
            unexpected: 0,
            last_at: 0,
            highest: None,
        }
    }

    /// Broadcasts expected.
    pub fn expected(&self) -> u64 {
        self.latency.len() as u64
    }

    /// True once every broadcast arrived.
    pub fn complete(&self) -> bool {
        self.distinct == self.expected()
    }

    /// Broadcasts that never arrived.
    pub fn missing(&self) -> u64 {
        self.expected() - self.distinct
    }

    /// Counts broadcast `i` published at `t` (unix µs), received at `now`.
    pub fn record(&mut self, i: u64, t: u64, now: u64) {
        let Some(slot) = self.latency.get_mut(i as usize) else {
            self.unexpected += 1;
            return;
        };
        if *slot != 0 {
            self.duplicated += 1;
            return;
        }
        *slot = now
            .saturating_sub(t)
            .saturating_add(1)
            .min(u64::from(u32::MAX)) as u32;
        self.distinct += 1;
        self.last_at = self.last_at.max(now);
        match self.highest {
            Some(h) if i < h => self.out_of_order += 1,
            _ => self.highest = Some(i),
        }
    }

    /// Latency in µs of each received broadcast, by index (`None` when missing).
    pub fn latencies(&self) -> impl Iterator<Item = Option<u64>> + '_ {
        self.latency
            .iter()
            .map(|&l| (l != 0).then(|| u64::from(l - 1)))
    }
}

/// How a counting connection ended.
pub struct Counted {
    /// What arrived.
    pub counter: Counter,
    /// Why the connection failed before every broadcast arrived, if it did.
    pub failure: Option<ConnError>,
    /// The socket, still open when it did not fail (so the caller closes all at once).
    pub ws: Option<Ws>,
}

/// Reads broadcasts into a [`Counter`] until all `expected` arrived, `stop` fires, or
/// `deadline`. Heartbeats keep the socket alive meanwhile. `progress` counts deliveries for the
/// progress line; `done` counts completed connections.
pub async fn count(
    mut ws: Ws,
    expected: u64,
    deadline: Instant,
    mut stop: watch::Receiver<bool>,
    progress: Option<std::sync::Arc<AtomicU64>>,
    done: std::sync::Arc<AtomicU64>,
) -> Counted {
    let mut counter = Counter::new(expected);
    let mut beat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    if counter.complete() {
        done.fetch_add(1, Ordering::Relaxed);
    }
    let failure = loop {
        if counter.complete() || *stop.borrow() {
            break None;
        }
        tokio::select! {
            _ = stop.changed() => break None,
            _ = beat.tick() => {
                if let Err(e) = ws.send(heartbeat()).await {
                    break Some(ConnError::Io(e.to_string()));
                }
            }
            msg = timeout_at(deadline, ws.next()) => match msg {
                Err(_) => break Some(ConnError::Timeout("waiting for broadcasts")),
                Ok(None) | Ok(Some(Ok(Message::Close(_)))) => break Some(ConnError::Closed("while broadcasts were due")),
                Ok(Some(Err(e))) => break Some(ConnError::Io(e.to_string())),
                Ok(Some(Ok(Message::Text(t)))) => {
                    if let Some((i, t)) = stamps(t.as_str()) {
                        counter.record(i, t, unix_micros());
                        if let Some(p) = &progress {
                            p.fetch_add(1, Ordering::Relaxed);
                        }
                        if counter.complete() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                Ok(Some(Ok(_))) => {}
            }
        }
    };
    let ws = failure.is_none().then_some(ws);
    Counted {
        counter,
        failure,
        ws,
    }
}

/// Holds a joined socket open (heartbeats, answers discarded) until `stop` or `deadline`.
/// Returns why it closed early, if it did.
pub async fn hold(
    mut ws: Ws,
    deadline: Instant,
    mut stop: watch::Receiver<bool>,
) -> (Option<Ws>, Option<ConnError>) {
    let mut beat = tokio::time::interval_at(Instant::now() + HEARTBEAT, HEARTBEAT);
    loop {
        if *stop.borrow() {
            return (Some(ws), None);
        }
        tokio::select! {
            _ = stop.changed() => return (Some(ws), None),
            _ = tokio::time::sleep_until(deadline) => return (Some(ws), None),
            _ = beat.tick() => {
                if let Err(e) = ws.send(heartbeat()).await {
                    return (None, Some(ConnError::Io(e.to_string())));
                }
            }
            msg = ws.next() => match msg {
                None | Some(Ok(Message::Close(_))) => return (None, Some(ConnError::Closed("while held idle"))),
                Some(Err(e)) => return (None, Some(ConnError::Io(e.to_string()))),
                Some(Ok(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_a_v2_broadcast() {
        assert_eq!(
            stamps(r#"[null,null,"ping:b","tick",{"i":17,"n":1,"t":1700000000123456}]"#),
            Some((17, 1_700_000_000_123_456))
        );
        assert_eq!(stamps(r#"[null,"hb","phoenix","phx_reply",{}]"#), None);
    }

    #[test]
    fn counter_finds_missing_duplicated_and_out_of_order() {
        let mut c = Counter::new(4);
        c.record(0, 100, 150);
        c.record(2, 100, 160);
        c.record(1, 100, 170);
        c.record(2, 100, 180);
        c.record(9, 100, 180);
        assert_eq!(
            (c.distinct, c.duplicated, c.out_of_order, c.unexpected),
            (3, 1, 1, 1)
        );
        assert_eq!(c.missing(), 1);
        assert!(!c.complete());
        let l: Vec<_> = c.latencies().collect();
        assert_eq!(l, vec![Some(50), Some(70), Some(60), None]);
    }

    #[test]
    fn urls_get_the_websocket_path_and_vsn() {
        let t = WsTarget::parse(
            "ws://127.0.0.1:4000/socket",
            "ping",
            Duration::from_secs(1),
            &TlsConfig::default(),
        )
        .unwrap();
        assert_eq!(t.url, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0");
        assert_eq!(t.source(0), None);
        assert_eq!(t.source(PER_SOURCE), Some("127.0.0.2".parse().unwrap()));
        let t = WsTarget::parse(
            "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0",
            "ping",
            Duration::from_secs(1),
            &TlsConfig::default(),
        )
        .unwrap();
        assert_eq!(t.url, "ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0");
        assert!(t.tls.is_none());
        let t = WsTarget::parse(
            "wss://localhost/socket",
            "ping",
            Duration::from_secs(1),
            &TlsConfig::default(),
        )
        .unwrap();
        assert_eq!(t.url, "wss://localhost/socket/websocket?vsn=2.0.0");
        assert_eq!(t.addr.port(), 443);
        assert_eq!(t.tls.as_ref().map(|(_, h)| h.as_str()), Some("localhost"));
        assert!(WsTarget::parse(
            "http://x",
            "p",
            Duration::from_secs(1),
            &TlsConfig::default()
        )
        .is_err());
    }
}
