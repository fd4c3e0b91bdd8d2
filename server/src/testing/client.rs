//! [`TestClient`]: a real WebSocket client with ChannelCase-style helpers and assertions.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use phx_protocol::{negotiate, Frame, Message, Payload, Ref, ServerMessage, Vsn};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};
use tokio_tungstenite::tungstenite::{Error as WsError, Message as WsMessage};
use tokio_tungstenite::{connect_async, MaybeTlsStream, WebSocketStream};

/// Default wait of the assertion helpers.
const DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// Connecting or sending failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server refused the upgrade with this status and body (e.g. 403, empty body).
    #[error("upgrade refused with HTTP {status}: {body:?}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body.
        body: String,
    },
    /// The `vsn` parameter names no serializer this client knows.
    #[error("unsupported vsn: {0}")]
    Vsn(#[from] phx_protocol::VsnError),
    /// The WebSocket failed.
    #[error("websocket error: {0}")]
    Ws(#[from] WsError),
    /// The message could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[from] phx_protocol::EncodeError),
}

/// Receiving failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Nothing arrived in time.
    #[error("nothing received in time")]
    Timeout,
    /// The server closed the connection (with this close code, if a close frame came).
    #[error("connection closed (code {0:?})")]
    Closed(Option<u16>),
    /// A frame the client could not decode.
    #[error("undecodable frame from server: {0}")]
    Undecodable(String),
}

/// A Phoenix client over a real WebSocket, for tests.
pub struct TestClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    vsn: Vsn,
    next_ref: u64,
    join_refs: HashMap<String, Ref>,
    inbox: VecDeque<ServerMessage>,
    closed: Option<Option<u16>>,
}

impl TestClient {
    /// Connects to `url` (no query) with query `params`; `vsn` defaults to `2.0.0`.
    pub async fn connect(url: &str, params: &[(&str, &str)]) -> Result<TestClient, ClientError> {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        let mut vsn_value = None;
        for (k, v) in params {
            if *k == "vsn" {
                vsn_value = Some(*v);
            }
            query.append_pair(k, v);
        }
        if vsn_value.is_none() {
            query.append_pair("vsn", "2.0.0");
        }
        let vsn = negotiate(Some(vsn_value.unwrap_or("2.0.0")))?;
        Self::connect_raw(&format!("{url}?{}", query.finish()), vsn).await
    }

    /// Connects to a full URL (query included), speaking `vsn`.
    pub async fn connect_raw(url: &str, vsn: Vsn) -> Result<TestClient, ClientError> {
        match connect_async(url).await {
            Ok((ws, _)) => Ok(TestClient {
                ws,
                vsn,
                next_ref: 0,
                join_refs: HashMap::new(),
                inbox: VecDeque::new(),
                closed: None,
            }),
            Err(WsError::Http(resp)) => Err(ClientError::Refused {
                status: resp.status().as_u16(),
                body: resp
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            }),
            Err(e) => Err(ClientError::Ws(e)),
        }
    }

    /// The serializer in use.
    pub fn vsn(&self) -> Vsn {
        self.vsn
    }

    fn make_ref(&mut self) -> Ref {
        self.next_ref += 1;
        Ref::Str(self.next_ref.to_string())
    }

    /// Sends a raw WebSocket message.
    pub async fn send_raw(&mut self, msg: WsMessage) -> Result<(), ClientError> {
        self.ws.send(msg).await.map_err(ClientError::from)
    }

    /// Sends a data frame.
    pub async fn send_frame(&mut self, frame: Frame) -> Result<(), ClientError> {
        let msg = match frame {
            Frame::Text(t) => WsMessage::Text(t.into()),
            Frame::Binary(b) => WsMessage::Binary(b),
        };
        self.send_raw(msg).await
    }

    /// Sends a text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send_frame(Frame::text(text)).await
    }

    /// Encodes and sends a message.
    pub async fn send(&mut self, msg: &Message) -> Result<(), ClientError> {
        let frame = self.vsn.encode_client(msg)?;
        self.send_frame(frame).await
    }

    /// Sends `phx_join` (join_ref = ref) and returns its ref; the join_ref is remembered for
    /// later pushes to the topic.
    pub async fn send_join(
        &mut self,
        topic: &str,
        payload: impl Into<Payload>,
    ) -> Result<Ref, ClientError> {
        let r = self.make_ref();
        self.join_refs.insert(topic.to_owned(), r.clone());
        self.send(&Message::new(
            r.clone(),
            r.clone(),
            topic,
            phx_protocol::events::JOIN,
            payload,
        ))
        .await?;
        Ok(r)
    }

    /// Joins and waits for the reply; returns `(status, response)`.
    ///
    /// # Panics
    /// When no reply arrives within 5 s.
    pub async fn join(&mut self, topic: &str, payload: impl Into<Payload>) -> (String, Payload) {
        let r = self.send_join(topic, payload).await.expect("send phx_join");
        self.reply_to(&r, DEFAULT_WAIT).await
    }

    /// Pushes `event` to `topic` with the topic's join_ref; returns the push's ref.
    pub async fn push(
        &mut self,
        topic: &str,
        event: &str,
        payload: impl Into<Payload>,
    ) -> Result<Ref, ClientError> {
        let r = self.make_ref();
        let join_ref = self.join_refs.get(topic).cloned().unwrap_or(Ref::Null);
        self.send(&Message::new(join_ref, r.clone(), topic, event, payload))
            .await?;
        Ok(r)
    }

    /// Sends a heartbeat; returns its ref.
    pub async fn heartbeat(&mut self) -> Result<Ref, ClientError> {
        let r = self.make_ref();
        self.send(&Message::new(
            Ref::Null,
            r.clone(),
            "phoenix",
            "heartbeat",
            Payload::empty_object(),
        ))
        .await?;
        Ok(r)
    }

    /// The next server message (buffered ones first).
    pub async fn recv(&mut self, within: Duration) -> Result<ServerMessage, RecvError> {
        if let Some(m) = self.inbox.pop_front() {
            return Ok(m);
        }
        self.recv_wire(Instant::now() + within).await
    }

    async fn recv_wire(&mut self, deadline: Instant) -> Result<ServerMessage, RecvError> {
        let frame = self.recv_frame_until(deadline).await?;
        self.vsn
            .decode_server(&frame)
            .map_err(|e| RecvError::Undecodable(e.to_string()))
    }

    /// The next raw data frame, undecoded (for byte-exact comparisons with recordings).
    /// Messages already buffered by the decoding helpers are not returned here.
    pub async fn recv_frame(&mut self, within: Duration) -> Result<Frame, RecvError> {
        self.recv_frame_until(Instant::now() + within).await
    }

    async fn recv_frame_until(&mut self, deadline: Instant) -> Result<Frame, RecvError> {
        if let Some(code) = self.closed {
            return Err(RecvError::Closed(code));
        }
        loop {
            let next = match timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Err(RecvError::Timeout),
                Ok(n) => n,
            };
            let frame = match next {
                None | Some(Err(_)) => {
                    self.closed = Some(None);
                    return Err(RecvError::Closed(None));
                }
                Some(Ok(WsMessage::Close(cf))) => {
                    let code = cf.map(|c| u16::from(c.code));
                    self.closed = Some(code);
                    // Answer the close handshake.
                    let _ = timeout_at(deadline, async {
                        while let Some(Ok(_)) = self.ws.next().await {}
                    })
                    .await;
                    return Err(RecvError::Closed(code));
                }
                Some(Ok(WsMessage::Text(t))) => Frame::Text(t.as_str().to_owned()),
                Some(Ok(WsMessage::Binary(b))) => Frame::Binary(b),
                Some(Ok(_)) => continue,
            };
            return Ok(frame);
        }
    }

    /// Waits for a message matching `pred`, keeping the others buffered in order.
    pub async fn next_matching(
        &mut self,
        within: Duration,
        pred: impl Fn(&ServerMessage) -> bool,
    ) -> Result<ServerMessage, RecvError> {
        if let Some(i) = self.inbox.iter().position(&pred) {
            return Ok(self.inbox.remove(i).expect("index in range"));
        }
        let deadline = Instant::now() + within;
        loop {
            let m = self.recv_wire(deadline).await?;
            if pred(&m) {
                return Ok(m);
            }
            self.inbox.push_back(m);
        }
    }

    async fn reply_to(&mut self, r: &Ref, within: Duration) -> (String, Payload) {
        let r2 = r.clone();
        match self
            .next_matching(
                within,
                move |m| matches!(m, ServerMessage::Reply(rep) if rep.ref_ == r2),
            )
            .await
        {
            Ok(ServerMessage::Reply(rep)) => (rep.status, rep.response),
            Ok(other) => panic!("expected a reply to ref {r}, got {other:?}"),
            Err(e) => panic!(
                "expected a reply to ref {r}: {e}; buffered: {:?}",
                self.inbox
            ),
        }
    }

    /// `assert_reply ref, status`: returns the response.
    ///
    /// # Panics
    /// When no reply to `r` arrives within 5 s, or its status differs.
    pub async fn assert_reply(&mut self, r: &Ref, status: &str) -> Payload {
        let (got, response) = self.reply_to(r, DEFAULT_WAIT).await;
        assert_eq!(
            got, status,
            "reply to ref {r} has status {got:?} (response {response:?})"
        );
        response
    }

    /// `assert_push event, payload`: a channel push (join_ref set) on `topic`; returns its payload.
    ///
    /// # Panics
    /// When none arrives within 5 s.
    pub async fn assert_push(&mut self, topic: &str, event: &str) -> Payload {
        let (t, e) = (topic.to_owned(), event.to_owned());
        match self
            .next_matching(
                DEFAULT_WAIT,
                move |m| matches!(m, ServerMessage::Push(p) if p.topic == t && p.event == e),
            )
            .await
        {
            Ok(ServerMessage::Push(p)) => p.payload,
            Ok(other) => panic!("expected push {topic} {event}, got {other:?}"),
            Err(err) => panic!(
                "expected push {topic} {event}: {err}; buffered: {:?}",
                self.inbox
            ),
        }
    }

    /// `assert_broadcast event, payload`: a fastlane broadcast (both refs null) on `topic`.
    ///
    /// # Panics
    /// When none arrives within 5 s.
    pub async fn assert_broadcast(&mut self, topic: &str, event: &str) -> Payload {
        let (t, e) = (topic.to_owned(), event.to_owned());
        match self
            .next_matching(
                DEFAULT_WAIT,
                move |m| matches!(m, ServerMessage::Broadcast(b) if b.topic == t && b.event == e),
            )
            .await
        {
            Ok(ServerMessage::Broadcast(b)) => b.payload,
            Ok(other) => panic!("expected broadcast {topic} {event}, got {other:?}"),
            Err(err) => panic!(
                "expected broadcast {topic} {event}: {err}; buffered: {:?}",
                self.inbox
            ),
        }
    }

    /// `assert_receive` of a five-field message with this event on `topic` (phx_close, phx_error).
    ///
    /// # Panics
    /// When none arrives within 5 s.
    pub async fn assert_message(&mut self, topic: &str, event: &str) -> Message {
        let (t, e) = (topic.to_owned(), event.to_owned());
        match self
            .next_matching(DEFAULT_WAIT, move |m| m.topic() == t && m.event() == e)
            .await
        {
            Ok(m) => m.into_message(),
            Err(err) => panic!(
                "expected {event} on {topic}: {err}; buffered: {:?}",
                self.inbox
            ),
        }
    }

    /// `refute_receive`: nothing arrives for `within`.
    ///
    /// # Panics
    /// When something arrives (or the connection closes).
    pub async fn refute_receive(&mut self, within: Duration) {
        match self.recv(within).await {
            Err(RecvError::Timeout) => {}
            Ok(m) => panic!("expected nothing, got {m:?}"),
            Err(e) => panic!("expected nothing, got {e}"),
        }
    }

    /// Waits for the server to close the connection; returns the close code (None: no close frame).
    ///
    /// # Panics
    /// When a data frame arrives first, or nothing happens within `within`.
    pub async fn assert_closed(&mut self, within: Duration) -> Option<u16> {
        match self.recv(within).await {
            Err(RecvError::Closed(code)) => code,
            Ok(m) => panic!("expected the connection to close, got {m:?}"),
            Err(e) => panic!("expected the connection to close: {e}"),
        }
    }

    /// Closes the connection with 1000.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            while let Some(Ok(_)) = self.ws.next().await {}
        })
        .await;
    }
}
