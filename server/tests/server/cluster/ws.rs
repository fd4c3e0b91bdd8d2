//! A raw WebSocket client (tokio-tungstenite): exact frames in, exact frames out.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// What the server sent next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    Text(String),
    Binary(Vec<u8>),
    /// A close frame (code), or `None` when the TCP connection ended without one.
    Closed(Option<u16>),
    /// Nothing within the wait.
    Timeout,
}

pub struct Ws {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    /// Connects; panics unless the upgrade answers 101.
    pub async fn connect(url: &str) -> Ws {
        let (stream, resp) = timeout(Duration::from_secs(10), connect_async(url))
            .await
            .unwrap_or_else(|_| panic!("connect {url}: timed out"))
            .unwrap_or_else(|e| panic!("connect {url}: {e}"));
        assert_eq!(resp.status().as_u16(), 101, "upgrade status for {url}");
        Ws { stream }
    }

    pub async fn send(&mut self, text: &str) {
        self.stream
            .send(Message::text(text))
            .await
            .expect("send a text frame");
    }

    pub async fn close(&mut self, code: u16) {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: "".into(),
        };
        self.stream
            .send(Message::Close(Some(frame)))
            .await
            .expect("send a close frame");
    }

    /// The next data or close frame (pings and pongs are skipped).
    pub async fn next(&mut self, within: Duration) -> Got {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match timeout(left, self.stream.next()).await {
                Err(_) => return Got::Timeout,
                Ok(None) | Ok(Some(Err(_))) => return Got::Closed(None),
                Ok(Some(Ok(msg))) => match msg {
                    Message::Text(t) => return Got::Text(t.to_string()),
                    Message::Binary(b) => return Got::Binary(b.to_vec()),
                    Message::Close(f) => return Got::Closed(f.map(|f| u16::from(f.code))),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                },
            }
        }
    }

    /// The next frame must be exactly `text`.
    pub async fn expect(&mut self, text: &str, who: &str) {
        match self.next(Duration::from_secs(10)).await {
            Got::Text(t) => assert_eq!(t, text, "{who}: unexpected frame"),
            other => panic!("{who}: expected {text}, got {other:?}"),
        }
    }

    /// Joins `topic` with ref "1" and expects the ok reply.
    pub async fn join(&mut self, topic: &str) {
        self.send(&format!(r#"["1","1","{topic}","phx_join",{{}}]"#))
            .await;
        self.expect(
            &format!(r#"["1","1","{topic}","phx_reply",{{"response":{{}},"status":"ok"}}]"#),
            topic,
        )
        .await;
    }
}
