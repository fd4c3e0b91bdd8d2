//! The fault proxy: a TCP proxy on 127.0.0.1 between the client under test and the embedded
//! server. It forwards bytes frame by frame, records every Phoenix message in the
//! [`Observer`], and injects faults: reset (RST, `SO_LINGER` 0), close (FIN), black hole,
//! refused connections, latency, a server-side-only cut, unanswered heartbeats, a swallowed
//! `phx_close`, and messages slipped in towards the client.
//!
//! "Refused" connections are accepted and reset at once rather than left unaccepted, so that
//! every attempt is counted for the back-off check; the client sees a reset before the
//! handshake instead of ECONNREFUSED.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::observer::{Dir, Ev, Msg, Observer};
use super::wsframe::{server_text_frame, take_http_head, FrameReader, WsFrame};

/// A fault applied to live connections.
#[derive(Debug, Clone)]
pub enum Fault {
    /// RST both sides (`SO_LINGER` 0, then close).
    Reset,
    /// FIN both sides.
    Close,
    /// Keep both sides open; forward nothing either way.
    BlackHole,
    /// RST the server side only; the client side stays open and hears nothing.
    CutServer,
    /// Drop the server's heartbeat replies from now on.
    DropHeartbeatReplies,
    /// Drop the server's next `phx_close` on this topic (the client never learns of it).
    SwallowClose(String),
    /// Right after the server's next `phx_error` on this topic, slip in an `echo` with this
    /// payload and the same join_ref (a push that crossed the crash).
    EchoAfterError(String, Value),
    /// Send this message to the client now.
    Inject(Msg),
}

struct Shared {
    upstream: Mutex<SocketAddr>,
    observer: Observer,
    refuse: AtomicBool,
    latency_us: AtomicU64,
    next_id: AtomicU64,
    conns: Mutex<HashMap<u64, mpsc::UnboundedSender<Fault>>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// A running fault proxy. Dropping it stops it and cuts its connections.
pub struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Listens on 127.0.0.1 (port 0) and forwards to `upstream`.
    pub async fn start(upstream: SocketAddr, observer: Observer) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            upstream: Mutex::new(upstream),
            observer,
            refuse: AtomicBool::new(false),
            latency_us: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            conns: Mutex::new(HashMap::new()),
            tasks: Mutex::new(Vec::new()),
        });
        let s = shared.clone();
        let accept = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let id = s.next_id.fetch_add(1, Ordering::Relaxed);
                if s.refuse.load(Ordering::SeqCst) {
                    s.observer.record(Ev::Refused(id));
                    let _ = tcp.set_zero_linger();
                    drop(tcp);
                    continue;
                }
                s.observer.record(Ev::Accepted(id));
                let (tx, rx) = mpsc::unbounded_channel();
                if let Ok(mut c) = s.conns.lock() {
                    c.insert(id, tx);
                }
                let task = tokio::spawn(run_conn(id, tcp, s.clone(), rx));
                if let Ok(mut t) = s.tasks.lock() {
                    t.retain(|h| !h.is_finished());
                    t.push(task.abort_handle());
                }
            }
        });
        if let Ok(mut t) = shared.tasks.lock() {
            t.push(accept.abort_handle());
        }
        Ok(Proxy { addr, shared })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Refuse (reset) new connections, or stop refusing.
    pub fn refuse(&self, on: bool) {
        self.shared.refuse.store(on, Ordering::SeqCst);
    }

    /// Delay every byte by `d` each way from now on (zero: none).
    pub fn latency(&self, d: Duration) {
        self.shared
            .latency_us
            .store(d.as_micros() as u64, Ordering::SeqCst);
    }

    /// Applies `fault` to every live connection; returns how many.
    pub fn fault_all(&self, fault: Fault) -> usize {
        let conns = self
            .shared
            .conns
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        conns
            .values()
            .filter(|tx| tx.send(fault.clone()).is_ok())
            .count()
    }

    /// Applies `fault` to one connection. False: it is gone.
    pub fn fault(&self, conn: u64, fault: Fault) -> bool {
        let tx = self
            .shared
            .conns
            .lock()
            .ok()
            .and_then(|c| c.get(&conn).cloned());
        tx.is_some_and(|tx| tx.send(fault).is_ok())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Ok(tasks) = self.shared.tasks.lock() {
            for t in tasks.iter() {
                t.abort();
            }
        }
    }
}

/// One direction's decoding state.
struct Pipe {
    head: Option<Vec<u8>>,
    raw: bool,
    frames: FrameReader,
    fragments: Option<Vec<u8>>,
}

enum Piece {
    Head(Vec<u8>),
    Frame(WsFrame),
    Raw(Vec<u8>),
}

impl Pipe {
    fn new() -> Self {
        Pipe {
            head: Some(Vec::new()),
            raw: false,
            frames: FrameReader::default(),
            fragments: None,
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> Vec<Piece> {
        let mut out = Vec::new();
        if self.raw {
            out.push(Piece::Raw(bytes.to_vec()));
            return out;
        }
        let carry;
        let mut rest = bytes;
        if let Some(buf) = self.head.as_mut() {
            buf.extend_from_slice(bytes);
            match take_http_head(buf) {
                Some(head) => {
                    carry = std::mem::take(buf);
                    self.head = None;
                    out.push(Piece::Head(head));
                    rest = &carry;
                }
                None if buf.len() > 64 * 1024 => {
                    self.raw = true;
                    out.push(Piece::Raw(std::mem::take(buf)));
                    return out;
                }
                None => return out,
            }
        }
        self.frames.push(rest);
        loop {
            match self.frames.next_frame() {
                Ok(Some(f)) => out.push(Piece::Frame(f)),
                Ok(None) => break,
                Err(_) => {
                    self.raw = true;
                    out.push(Piece::Raw(self.frames.take_rest()));
                    break;
                }
            }
        }
        out
    }

    /// The text of a whole message, reassembling fragments.
    fn text_of(&mut self, f: &WsFrame) -> Option<String> {
        if f.rsv != 0 {
            return None;
        }
        match (f.opcode, f.fin) {
            (1, true) => String::from_utf8(f.payload.clone()).ok(),
            (1, false) => {
                self.fragments = Some(f.payload.clone());
                None
            }
            (0, fin) => {
                let buf = self.fragments.as_mut()?;
                buf.extend_from_slice(&f.payload);
                if fin {
                    self.fragments
                        .take()
                        .and_then(|b| String::from_utf8(b).ok())
                } else {
                    None
                }
            }
            _ => None,
        }
    }
}

/// Per-connection fault state.
#[derive(Default)]
struct Modes {
    black_hole: bool,
    server_cut: bool,
    drop_heartbeat_replies: bool,
    swallow_close: Option<String>,
    echo_after_error: Option<(String, Value)>,
    v2: bool,
}

async fn read_opt(s: &mut Option<TcpStream>, buf: &mut [u8]) -> std::io::Result<usize> {
    match s {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

fn reset(s: Option<TcpStream>) {
    if let Some(s) = s {
        let _ = s.set_zero_linger();
        drop(s);
    }
}

/// FIN, then drain what the peer still sends (so the close stays a FIN, not a RST).
async fn close_gently(s: Option<TcpStream>) {
    if let Some(mut s) = s {
        let _ = s.shutdown().await;
        let mut buf = [0u8; 4096];
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(n) = s.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    }
}

fn close_code(f: &WsFrame) -> Option<u16> {
    (f.payload.len() >= 2).then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]))
}

async fn run_conn(
    id: u64,
    client: TcpStream,
    shared: Arc<Shared>,
    mut faults: mpsc::UnboundedReceiver<Fault>,
) {
    let obs = shared.observer.clone();
    let upstream = shared.upstream.lock().map(|u| *u).ok();
    let server = match upstream {
        Some(addr) => tokio::time::timeout(Duration::from_secs(2), TcpStream::connect(addr))
            .await
            .ok()
            .and_then(Result::ok),
        None => None,
    };
    let Some(server) = server else {
        obs.record(Ev::UpstreamDown(id));
        reset(Some(client));
        forget(&shared, id);
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let mut client = Some(client);
    let mut server = Some(server);
    let mut c2s = Pipe::new();
    let mut s2c = Pipe::new();
    let mut modes = Modes::default();
    let mut queue: VecDeque<(Instant, Dir, Vec<u8>)> = VecDeque::new();
    let mut cbuf = vec![0u8; 16 * 1024];
    let mut sbuf = vec![0u8; 16 * 1024];
    let why: &'static str = loop {
        let due = queue.front().map(|(t, _, _)| *t);
        tokio::select! {
            // Faults first: one sent before the server acts (SwallowClose, EchoAfterError)
            // must be in force when the server's frame arrives.
            biased;
            fault = faults.recv() => {
                let Some(fault) = fault else { break "proxy stopped" };
                match fault {
                    Fault::Reset => {
                        reset(client.take());
                        reset(server.take());
                        break "reset by the proxy (RST)";
                    }
                    Fault::Close => {
                        tokio::join!(close_gently(client.take()), close_gently(server.take()));
                        break "closed by the proxy (FIN)";
                    }
                    Fault::BlackHole => {
                        modes.black_hole = true;
                        queue.clear();
                    }
                    Fault::CutServer => {
                        modes.server_cut = true;
                        queue.clear();
                        reset(server.take());
                        obs.record(Ev::Marker(format!("conn {id}: server side cut (RST), client side left open")));
                    }
                    Fault::DropHeartbeatReplies => modes.drop_heartbeat_replies = true,
                    Fault::SwallowClose(t) => modes.swallow_close = Some(t),
                    Fault::EchoAfterError(t, p) => modes.echo_after_error = Some((t, p)),
                    Fault::Inject(msg) => {
                        let bytes = server_text_frame(&msg.encode(modes.v2));
                        obs.record(Ev::Frame { conn: id, dir: Dir::Out, msg, note: "injected by the proxy" });
                        push(&mut queue, &shared, Dir::Out, bytes);
                    }
                }
            }
            r = read_opt(&mut client, &mut cbuf) => {
                let n = match r { Ok(0) | Err(_) => break "the client closed the connection", Ok(n) => n };
                let pass = !modes.black_hole && !modes.server_cut;
                for piece in c2s.feed(&cbuf[..n]) {
                    match piece {
                        Piece::Head(h) => {
                            let line = String::from_utf8_lossy(&h);
                            modes.v2 = line.lines().next().is_some_and(|l| l.contains("vsn=2"));
                            if pass { push(&mut queue, &shared, Dir::In, h); }
                        }
                        Piece::Raw(b) => if pass { push(&mut queue, &shared, Dir::In, b) },
                        Piece::Frame(f) => {
                            let note = if pass { "" } else { "dropped by the proxy" };
                            if f.opcode == 8 {
                                obs.record(Ev::CloseFrame(id, Dir::In, close_code(&f)));
                            } else if let Some(msg) = c2s.text_of(&f).and_then(|t| Msg::parse(&t)) {
                                obs.record(Ev::Frame { conn: id, dir: Dir::In, msg, note });
                            }
                            if pass { push(&mut queue, &shared, Dir::In, f.raw); }
                        }
                    }
                }
            }
            r = read_opt(&mut server, &mut sbuf) => {
                let n = match r { Ok(0) | Err(_) => break "the server closed the connection", Ok(n) => n };
                let pass = !modes.black_hole;
                for piece in s2c.feed(&sbuf[..n]) {
                    match piece {
                        Piece::Head(h) => {
                            let status = String::from_utf8_lossy(&h)
                                .split_whitespace()
                                .nth(1)
                                .and_then(|s| s.parse().ok())
                                .unwrap_or(0);
                            obs.record(Ev::Handshake(id, status));
                            if status != 101 {
                                s2c.raw = true;
                                c2s.raw = true;
                            }
                            if pass { push(&mut queue, &shared, Dir::Out, h); }
                        }
                        Piece::Raw(b) => if pass { push(&mut queue, &shared, Dir::Out, b) },
                        Piece::Frame(f) => {
                            if f.opcode == 8 {
                                obs.record(Ev::CloseFrame(id, Dir::Out, close_code(&f)));
                                if pass { push(&mut queue, &shared, Dir::Out, f.raw); }
                                continue;
                            }
                            let Some(msg) = s2c.text_of(&f).and_then(|t| Msg::parse(&t)) else {
                                if pass { push(&mut queue, &shared, Dir::Out, f.raw); }
                                continue;
                            };
                            let drop_it = !pass
                                || (modes.drop_heartbeat_replies && msg.topic == "phoenix" && msg.event == "phx_reply")
                                || (msg.event == "phx_close" && modes.swallow_close.as_deref() == Some(msg.topic.as_str()));
                            if drop_it && msg.event == "phx_close" {
                                modes.swallow_close = None;
                            }
                            let inject = (msg.event == "phx_error"
                                && modes.echo_after_error.as_ref().is_some_and(|(t, _)| *t == msg.topic))
                                .then(|| modes.echo_after_error.take())
                                .flatten()
                                .map(|(topic, payload)| Msg {
                                    join_ref: msg.join_ref.clone(),
                                    msg_ref: None,
                                    topic,
                                    event: "echo".into(),
                                    payload,
                                });
                            obs.record(Ev::Frame { conn: id, dir: Dir::Out, msg, note: if drop_it { "dropped by the proxy" } else { "" } });
                            if !drop_it { push(&mut queue, &shared, Dir::Out, f.raw); }
                            if let Some(m) = inject {
                                let bytes = server_text_frame(&m.encode(modes.v2));
                                obs.record(Ev::Frame { conn: id, dir: Dir::Out, msg: m, note: "injected by the proxy" });
                                push(&mut queue, &shared, Dir::Out, bytes);
                            }
                        }
                    }
                }
            }
            _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {}
        }
        // Write out whatever is due.
        let now = Instant::now();
        while queue.front().is_some_and(|(t, _, _)| *t <= now) {
            let Some((_, dir, bytes)) = queue.pop_front() else {
                break;
            };
            let target = if dir == Dir::In {
                &mut server
            } else {
                &mut client
            };
            if let Some(s) = target.as_mut() {
                if s.write_all(&bytes).await.is_err() {
                    *target = None;
                }
            }
        }
        if client.is_none() {
            break "the client side is gone";
        }
        if server.is_none() && !modes.server_cut {
            break "the server side is gone";
        }
    };
    obs.record(Ev::Closed(id, why));
    // Whatever is left: deliver pending bytes towards the client, then close gently.
    if let Some(c) = client.as_mut() {
        for (_, dir, bytes) in queue.drain(..) {
            if dir == Dir::Out && c.write_all(&bytes).await.is_err() {
                break;
            }
        }
    }
    tokio::join!(close_gently(client), close_gently(server));
    forget(&shared, id);
}

fn forget(shared: &Shared, id: u64) {
    if let Ok(mut c) = shared.conns.lock() {
        c.remove(&id);
    }
}

fn push(queue: &mut VecDeque<(Instant, Dir, Vec<u8>)>, shared: &Shared, dir: Dir, bytes: Vec<u8>) {
    let latency = Duration::from_micros(shared.latency_us.load(Ordering::SeqCst));
    let mut due = Instant::now() + latency;
    if let Some((last, _, _)) = queue.back() {
        due = due.max(*last);
    }
    queue.push_back((due, dir, bytes));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A proxy in front of a bare TCP listener, and a client connected through it; returns the
    /// upstream side of the connection too.
    async fn setup() -> (Proxy, Observer, TcpStream, TcpStream) {
        let upstream = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let obs = Observer::new();
        let proxy = Proxy::start(upstream.local_addr().expect("addr"), obs.clone())
            .await
            .expect("proxy");
        let client = TcpStream::connect(proxy.addr()).await.expect("connect");
        let (server, _) = upstream.accept().await.expect("upstream accept");
        (proxy, obs, client, server)
    }

    const HEAD: &[u8] = b"GET /socket/websocket?vsn=2.0.0 HTTP/1.1\r\nHost: x\r\n\r\n";

    #[tokio::test]
    async fn reset_is_a_rst_and_close_is_a_fin() {
        let (proxy, _, mut client, _server) = setup().await;
        assert_eq!(proxy.fault_all(Fault::Reset), 1);
        let mut buf = [0u8; 16];
        let err = client
            .read(&mut buf)
            .await
            .expect_err("a reset, not an EOF");
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionReset);

        let (proxy, _, mut client, mut server) = setup().await;
        assert_eq!(proxy.fault_all(Fault::Close), 1);
        assert_eq!(client.read(&mut buf).await.expect("a clean EOF"), 0);
        assert_eq!(server.read(&mut buf).await.expect("a clean EOF"), 0);
    }

    #[tokio::test]
    async fn latency_delays_forwarding_and_refused_connections_are_counted() {
        let (proxy, obs, mut client, mut server) = setup().await;
        proxy.latency(Duration::from_millis(150));
        let sent = std::time::Instant::now();
        client.write_all(HEAD).await.expect("write");
        let mut buf = vec![0u8; HEAD.len()];
        server.read_exact(&mut buf).await.expect("forwarded");
        assert_eq!(buf, HEAD);
        assert!(sent.elapsed() >= Duration::from_millis(150));

        proxy.refuse(true);
        let mut refused = TcpStream::connect(proxy.addr())
            .await
            .expect("tcp connects");
        let mut b = [0u8; 4];
        assert!(refused.read(&mut b).await.is_err(), "reset at once");
        let saw = obs
            .wait_for(Duration::from_secs(2), |log| {
                log.iter()
                    .any(|e| matches!(e.ev, Ev::Refused(_)))
                    .then_some(())
            })
            .await;
        assert!(saw.is_some());
    }
}
