//! A raw WebSocket client that can send what a well-behaved client never would (reserved bits
//! and opcodes, unmasked frames, oversized control frames), and raw HTTP requests.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// A frame as the harness writes it.
#[derive(Debug, Clone)]
pub struct RawFrame {
    /// FIN bit.
    pub fin: bool,
    /// RSV1..3 as the three bits 0b111.
    pub rsv: u8,
    /// The 4-bit opcode.
    pub opcode: u8,
    /// Mask the payload (clients must).
    pub masked: bool,
    /// The payload.
    pub payload: Vec<u8>,
    /// Declare this length instead of the payload's (a header without its body).
    pub declared_len: Option<u64>,
}

impl RawFrame {
    /// A final, masked frame.
    pub fn new(opcode: u8, payload: impl Into<Vec<u8>>) -> Self {
        RawFrame {
            fin: true,
            rsv: 0,
            opcode,
            masked: true,
            payload: payload.into(),
            declared_len: None,
        }
    }

    /// A text frame.
    pub fn text(text: &str) -> Self {
        Self::new(1, text.as_bytes())
    }

    /// The frame's bytes on the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.payload.len() + 14);
        out.push(u8::from(self.fin) << 7 | (self.rsv & 7) << 4 | (self.opcode & 15));
        let len = self.declared_len.unwrap_or(self.payload.len() as u64);
        let mask_bit = u8::from(self.masked) << 7;
        if len < 126 {
            out.push(mask_bit | len as u8);
        } else if len <= u64::from(u16::MAX) {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            out.push(mask_bit | 127);
            out.extend_from_slice(&len.to_be_bytes());
        }
        if self.masked {
            let key: [u8; 4] = rand::random();
            out.extend_from_slice(&key);
            out.extend(self.payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(&self.payload);
        }
        out
    }
}

/// What the server sent when a raw connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// A close frame with this code (None: a close frame without a code).
    Close(Option<u16>),
    /// The TCP connection ended (or was reset) with no close frame.
    Dropped,
    /// Still open when the harness stopped waiting.
    StillOpen,
}

/// One raw WebSocket connection past its 101.
pub struct RawWs {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The request head of an upgrade to `path_query`.
pub fn upgrade_request(path_query: &str, key: &str) -> String {
    format!(
        "GET {path_query} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n\r\n"
    )
}

impl RawWs {
    /// Connects and upgrades; the error says what the server answered instead of 101.
    pub async fn open(addr: SocketAddr, path_query: &str) -> std::io::Result<RawWs> {
        let mut stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        stream
            .write_all(upgrade_request(path_query, "dGhlIHNhbXBsZSBub25jZQ==").as_bytes())
            .await?;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            let n = timeout(Duration::from_secs(10), stream.read(&mut chunk))
                .await
                .map_err(|_| std::io::Error::other("no upgrade response in 10 s"))??;
            if n == 0 {
                return Err(std::io::Error::other("closed before the upgrade response"));
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let status = String::from_utf8_lossy(&buf[..head_end.min(12)]).into_owned();
        if !status.starts_with("HTTP/1.1 101") {
            return Err(std::io::Error::other(format!("upgrade refused: {status}")));
        }
        buf.drain(..head_end);
        Ok(RawWs { stream, buf })
    }

    /// Writes bytes as they are.
    pub async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Writes one frame.
    pub async fn send(&mut self, frame: &RawFrame) -> std::io::Result<()> {
        self.write(&frame.encode()).await
    }

    /// Reads one server frame: (opcode, payload); None when the connection ended.
    pub async fn read_frame(&mut self, within: Duration) -> Option<(u8, Vec<u8>)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some((frame, used)) = parse_server_frame(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = vec![0u8; 64 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return None,
                Ok(Ok(n)) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Reads until the server closes: how it ended.
    pub async fn ending(&mut self, within: Duration) -> Ending {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                return Ending::StillOpen;
            }
            match self.read_frame(left).await {
                Some((8, payload)) => {
                    let code =
                        (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    return Ending::Close(code);
                }
                Some(_) => continue,
                None if tokio::time::Instant::now() >= deadline => return Ending::StillOpen,
                None => return Ending::Dropped,
            }
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses one unmasked server frame from the front of `buf`: ((opcode, payload), bytes used).
fn parse_server_frame(buf: &[u8]) -> Option<((u8, Vec<u8>), usize)> {
    let b0 = *buf.first()?;
    let b1 = *buf.get(1)?;
    let (len, mut at): (u64, usize) = match b1 & 127 {
        126 => (
            u64::from(u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?])),
            4,
        ),
        127 => {
            let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(b), 10)
        }
        n => (u64::from(n), 2),
    };
    if b1 & 128 != 0 {
        at += 4;
    }
    let len = usize::try_from(len).ok()?;
    let end = at.checked_add(len)?;
    let payload = buf.get(at..end)?.to_vec();
    Some(((b0 & 15, payload), end))
}

/// Sends `request` on a fresh connection and reads until the server closes (or `within`
/// passes): (status code, whole response). Status 0 when nothing came back.
pub async fn http(addr: SocketAddr, request: &[u8], within: Duration) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return (0, String::new());
    };
    if s.write_all(request).await.is_err() {
        // The server may answer (431) and close before reading everything.
    }
    let mut out = Vec::new();
    let _ = timeout(within, s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// Sends `request` on a fresh connection and reads only the response head: its status code
/// (0 when none came within `within`). For upgrades, which leave the connection open.
pub async fn status_of(addr: SocketAddr, request: &[u8], within: Duration) -> u16 {
    let Ok(mut s) = TcpStream::connect(addr).await else {
        return 0;
    };
    if s.write_all(request).await.is_err() {
        return 0;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    while find(&buf, b"\r\n").is_none() {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}
