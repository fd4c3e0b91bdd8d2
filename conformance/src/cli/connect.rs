//! `phx connect URL`: like wscat, but it speaks Phoenix. It keeps the connection alive with
//! heartbeats, reconnects and rejoins on its own (it is a [`phx_client::Socket`]), and reads
//! the commands of [`COMMANDS`] from stdin (also shown by `phx connect --help`).
//!
//! Pushes are sent by this module (not through [`phx_client::Channel::push`]) so that each has
//! a ref it knows from the start: `c1`, `c2`, … (the client's own refs are numbers, so they never
//! collide). A push typed before its channel has joined waits for the join. A push is answered by
//! the reply with its ref; a `phx_error`/`phx_close` of its join, a dropped connection or
//! `--timeout-ms` end it otherwise. `push!` (or `--no-wait`) sends without waiting: for events the
//! app answers with `{:noreply, socket}`.
//!
//! With `--presence`, every joined channel also keeps a [`phx_client::Presence`] view and the
//! synced list is printed whenever it changes (`type`: `presence`, `list`: `{key: {"metas":
//! [...]}}`; human: `~ TOPIC presence: key ×metas, …`).
//!
//! Every received message and every status change is printed; with `--json`, as one JSON object
//! per line (`type`: `message`, `socket`, `channel`, `reply`, `sent`, `push_error`, `pending`,
//! `join_error`, `error`). It runs until interrupted (Ctrl-C / SIGINT or SIGTERM). In human mode
//! stdin's end (Ctrl-D) also ends it, like wscat; in `--json` mode stdin's end only stops reading
//! commands, so `phx connect URL --join ping --json > log &` in a script (stdin is /dev/null)
//! keeps printing until it is killed. `--exit-on-eof` makes `--json` mode end at EOF too, for
//! piped command scripts; `--eof-wait-ms` lets the pushes still awaiting a reply finish first.
//! Pushes still awaiting a reply when the session ends are listed as pending ("1 push still
//! awaiting a reply: ref c3 room:lobby new_msg"), never as a dropped connection. Exit codes are
//! in [`EXIT_CODES`]. A TLS certificate error after a reconnect stops the socket instead of
//! retrying.

/// The stdin commands, as `phx connect --help` lists them.
pub const COMMANDS: &str = "\
Commands (one per line on stdin):
  join TOPIC [JSON]          join a channel (payload defaults to {})
  push TOPIC EVENT [JSON]    push an event and print its reply (refs c1, c2, ...)
  push! TOPIC EVENT [JSON]   push without waiting for a reply (for {:noreply, socket} events)
  leave TOPIC                leave a channel
  [..] or {..}               send the line as a raw frame
A push typed before its channel has joined is sent once it joins.";

/// The exit codes, as `phx connect --help` lists them.
pub const EXIT_CODES: &str = "\
Exit codes:
  0  ended (stdin's end, Ctrl-C or SIGTERM) with no push left awaiting a reply
  1  ended with pushes still awaiting a reply, or never sent (listed as pending)
  2  usage error (bad URL, --param or --vsn)
  3  the first connection attempt failed (unreachable, HTTP 403, untrusted TLS certificate)";

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use phx_client::{Channel, ChannelStatus, Payload, Socket, SocketStatus, StatusEvent, Vsn};
use phx_protocol::{events, Message, Ref, ServerMessage};
use serde_json::{json, Value};
use tokio::time::Instant;

fn after_help() -> String {
    format!("{COMMANDS}\n\n{EXIT_CODES}")
}

/// Arguments of `phx connect`.
#[derive(Debug, clap::Args)]
#[command(after_help = after_help())]
pub struct ConnectArgs {
    /// The socket URL: `ws://127.0.0.1:4000/socket` (`/websocket` is appended, as phoenix.js
    /// does) or the full `ws://127.0.0.1:4000/socket/websocket`; `wss://` for TLS.
    url: String,
    /// Join this topic once connected (repeatable).
    #[arg(long = "join", value_name = "TOPIC")]
    joins: Vec<String>,
    /// A connect param `key=value` (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE", value_parser = parse_param)]
    params: Vec<(String, String)>,
    /// Serializer version: 2.0.0 (default) or 1.0.0.
    #[arg(long, default_value = "2.0.0", value_parser = parse_vsn)]
    vsn: Vsn,
    /// Print one JSON object per line (for scripts); runs until interrupted, even after stdin ends.
    #[arg(long)]
    json: bool,
    /// With `--json`: exit when stdin ends (for piping a finite script of commands).
    #[arg(long)]
    exit_on_eof: bool,
    /// Send this auth token through Sec-WebSocket-Protocol (Phoenix ≥1.8 `auth_token: true`).
    #[arg(long, value_name = "TOKEN")]
    auth_token: Option<String>,
    /// Keep a Presence view of every joined channel and print the synced list when it changes.
    #[arg(long)]
    presence: bool,
    /// Heartbeat interval in milliseconds.
    #[arg(long, default_value_t = 30_000, value_name = "MS")]
    heartbeat_ms: u64,
    /// Timeout of joins and pushes in milliseconds (a push typed before its join counts from
    /// when it was typed).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u64,
    /// Send every `push` without waiting for its reply, as `push!` does.
    #[arg(long)]
    no_wait: bool,
    /// When stdin ends, wait up to this long for pushes still awaiting a reply (or their join)
    /// before listing them as pending and exiting.
    #[arg(long, default_value_t = 0, value_name = "MS")]
    eof_wait_ms: u64,
    #[command(flatten)]
    tls: super::tls_args::TlsArgs,
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{s:?} is not KEY=VALUE")),
    }
}

fn parse_vsn(s: &str) -> Result<Vsn, String> {
    match s {
        "2.0.0" | "2" => Ok(Vsn::V2),
        "1.0.0" | "1" => Ok(Vsn::V1),
        other => Err(format!("unsupported vsn {other:?}: use 2.0.0 or 1.0.0")),
    }
}

/// One line of interactive input.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// `join TOPIC [JSON]`.
    Join {
        /// The topic.
        topic: String,
        /// The join payload.
        payload: Value,
    },
    /// `push TOPIC EVENT [JSON]`, or `push! …` (`wait` false).
    Push {
        /// The topic.
        topic: String,
        /// The event.
        event: String,
        /// The payload.
        payload: Value,
        /// Wait for the reply (`push`), or not (`push!`).
        wait: bool,
    },
    /// `leave TOPIC`.
    Leave {
        /// The topic.
        topic: String,
    },
    /// A raw frame (a line starting with `[` or `{`).
    Raw(String),
    /// A blank line.
    Nothing,
}

/// Parses one input line; the error says what is wrong.
pub fn parse_input(line: &str) -> Result<Input, String> {
    let line = line.trim();
    if line.is_empty() {
        return Ok(Input::Nothing);
    }
    if line.starts_with('[') || line.starts_with('{') {
        return Ok(Input::Raw(line.to_owned()));
    }
    let (cmd, rest) = split_word(line);
    let payload = |text: &str| -> Result<Value, String> {
        if text.is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_str(text).map_err(|e| format!("the payload is not JSON: {e}"))
        }
    };
    match cmd {
        "join" => {
            let (topic, rest) = split_word(rest);
            if topic.is_empty() {
                return Err("usage: join TOPIC [JSON]".into());
            }
            Ok(Input::Join { topic: topic.to_owned(), payload: payload(rest)? })
        }
        "push" | "push!" => {
            let (topic, rest) = split_word(rest);
            let (event, rest) = split_word(rest);
            if event.is_empty() {
                return Err(format!("usage: {cmd} TOPIC EVENT [JSON]"));
            }
            Ok(Input::Push {
                topic: topic.to_owned(),
                event: event.to_owned(),
                payload: payload(rest)?,
                wait: cmd == "push",
            })
        }
        "leave" => {
            let (topic, rest) = split_word(rest);
            if topic.is_empty() || !rest.is_empty() {
                return Err("usage: leave TOPIC".into());
            }
            Ok(Input::Leave { topic: topic.to_owned() })
        }
        other => Err(format!(
            "unknown command {other:?}: use join TOPIC [JSON], push TOPIC EVENT [JSON], push! TOPIC EVENT [JSON], leave TOPIC, or a raw [..] frame (see phx connect --help)"
        )),
    }
}

fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn payload_json(p: &Payload) -> Value {
    match p {
        Payload::Json(v) => v.clone(),
        Payload::Binary(b) => json!({ "binary": hex::encode(b) }),
    }
}

/// A received message as one JSON line (`--json`).
pub fn message_json(msg: &ServerMessage) -> Value {
    let m: Message = msg.clone().into_message();
    json!({
        "type": "message",
        "join_ref": m.join_ref.to_json(),
        "ref": m.ref_.to_json(),
        "topic": m.topic,
        "event": m.event,
        "payload": payload_json(&m.payload),
    })
}

/// A status change as one JSON line (`--json`).
pub fn status_json(ev: &StatusEvent) -> Value {
    match ev {
        StatusEvent::Socket(s) => {
            let mut v = json!({ "type": "socket", "status": s.name() });
            match s {
                SocketStatus::Connecting { attempt } => v["attempt"] = json!(attempt),
                SocketStatus::Connected { generation } => v["generation"] = json!(generation),
                SocketStatus::Reconnecting {
                    attempt,
                    delay,
                    reason,
                } => {
                    v["attempt"] = json!(attempt);
                    v["delay_ms"] = json!(delay.as_millis() as u64);
                    v["reason"] = json!(reason);
                }
                SocketStatus::Stopped { code, reason } => {
                    v["code"] = json!(code);
                    v["reason"] = json!(reason);
                }
                SocketStatus::Idle => {}
            }
            v
        }
        StatusEvent::Channel { topic, status } => {
            json!({ "type": "channel", "topic": topic, "status": status.name() })
        }
    }
}

fn human_message(msg: &ServerMessage) -> String {
    let m = msg.clone().into_message();
    let payload = match &m.payload {
        Payload::Json(v) => phx_protocol::json::to_string(v),
        Payload::Binary(b) => format!("<binary {}>", hex::encode(b)),
    };
    format!(
        "< [{},{},{},{},{}]",
        m.join_ref,
        m.ref_,
        Value::from(m.topic),
        Value::from(m.event),
        payload
    )
}

fn human_status(ev: &StatusEvent) -> String {
    match ev {
        StatusEvent::Socket(SocketStatus::Connected { generation }) => {
            format!("* connected (connection #{generation})")
        }
        StatusEvent::Socket(SocketStatus::Reconnecting {
            attempt,
            delay,
            reason,
        }) => {
            format!("* disconnected: {reason}; reconnect attempt {attempt} in {delay:?}")
        }
        StatusEvent::Socket(SocketStatus::Stopped { reason, .. }) => format!("* stopped: {reason}"),
        StatusEvent::Socket(s) => format!("* {}", s.name()),
        StatusEvent::Channel { topic, status } => format!("* channel {topic} {}", status.name()),
    }
}

/// Prints in the chosen mode, building only that mode's text; stdout writes are line-atomic.
/// A closed stdout (`phx connect … | head`) is ignored rather than a `println!` panic.
#[derive(Clone, Copy)]
struct Out {
    json: bool,
}

impl Out {
    fn line(self, json_value: impl FnOnce() -> Value, human: impl FnOnce() -> String) {
        let text = if self.json {
            json_value().to_string()
        } else {
            human()
        };
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }

    fn error(self, message: &str) {
        if self.json {
            let line = json!({ "type": "error", "message": message });
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        } else {
            let _ = writeln!(std::io::stderr().lock(), "error: {message}");
        }
    }
}

/// Runs `phx connect`.
pub fn run(args: ConnectArgs) -> ExitCode {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let code = rt.block_on(connect(args));
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn connect(args: ConnectArgs) -> ExitCode {
    let out = Out { json: args.json };
    let tls = match args.tls.config() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut builder = Socket::builder(&args.url)
        .tls(tls)
        .vsn(args.vsn)
        .heartbeat_interval(Duration::from_millis(args.heartbeat_ms.max(1)))
        .push_timeout(Duration::from_millis(args.timeout_ms.max(1)));
    for (k, v) in &args.params {
        builder = builder.param(k.clone(), v.clone());
    }
    if let Some(t) = &args.auth_token {
        builder = builder.auth_token(t.clone());
    }
    let socket = match builder.build() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut messages = socket.messages();
    let mut statuses = socket.status_events();
    if let Err(e) = socket.connect().await {
        socket.disconnect().await;
        for ev in std::iter::from_fn(|| statuses.try_recv().ok()) {
            out.line(|| status_json(&ev), || human_status(&ev));
        }
        eprintln!("error: cannot connect to {}: {e}", socket.config().endpoint);
        return ExitCode::from(3);
    }

    let mut session = Session {
        socket: &socket,
        channels: HashMap::new(),
        out,
        presence: args.presence,
        no_wait: args.no_wait,
        pushes: Pushes::new(args.vsn, Duration::from_millis(args.timeout_ms.max(1))),
    };
    for topic in &args.joins {
        session.join(topic.clone(), json!({}));
    }

    let mut stdin = stdin_lines();
    let mut stdin_open = true;
    let stays_after_eof = args.json && !args.exit_on_eof;
    // Set at stdin's end with --eof-wait-ms: the session ends when no push is left, or then.
    let mut draining: Option<Instant> = None;
    let terminated = terminate_signal();
    tokio::pin!(terminated);
    // One Ctrl-C listener for the whole loop: a fresh `ctrl_c()` per iteration misses a Ctrl-C
    // pressed while a line is handled (and SIGINT no longer kills once the handler is installed).
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let wake = session.pushes.next_deadline();
        tokio::select! {
            msg = messages.recv() => match msg {
                Ok(m) => {
                    out.line(|| message_json(&m), || human_message(&m));
                    session.pushes.on_message(&m, out);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => out.error(&format!("output fell behind: {n} messages not shown")),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            ev = statuses.recv() => match ev {
                Ok(ev) => {
                    out.line(|| status_json(&ev), || human_status(&ev));
                    if let StatusEvent::Socket(SocketStatus::Reconnecting { .. } | SocketStatus::Stopped { .. }) = ev {
                        session.pushes.on_disconnect(out);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => out.error(&format!("output fell behind: {n} status changes not shown")),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            line = stdin.recv(), if stdin_open => match line {
                Some(Ok(line)) => session.handle_line(&line).await,
                Some(Err(e)) => {
                    out.error(&format!("cannot read stdin: {e}"));
                    break;
                }
                None if stays_after_eof => stdin_open = false,
                None if args.eof_wait_ms > 0 && !session.pushes.is_empty() => {
                    stdin_open = false;
                    draining = Some(Instant::now() + Duration::from_millis(args.eof_wait_ms));
                }
                None => break, // EOF
            },
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                session.pushes.expire(Instant::now(), out);
            }
            _ = tokio::time::sleep_until(draining.unwrap_or_else(Instant::now)), if draining.is_some() => break,
            _ = &mut interrupted => break,
            _ = &mut terminated => break,
        }
        // A channel may have joined: send the pushes that waited for it, in the order typed.
        session
            .pushes
            .send_ready(&socket, &session.channels, out)
            .await;
        if draining.is_some() && session.pushes.is_empty() {
            break;
        }
    }
    let clean = session.pushes.report_pending(out);
    socket.disconnect().await;
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// One interactive session: the socket, the channels joined from the command line or stdin,
/// and the pushes typed so far.
struct Session<'a> {
    socket: &'a Socket,
    channels: HashMap<String, Channel>,
    out: Out,
    presence: bool,
    /// `--no-wait`: every `push` is a `push!`.
    no_wait: bool,
    pushes: Pushes,
}

/// Resolves on SIGTERM (never, where there is no such signal), so `kill` ends the session cleanly.
async fn terminate_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
        return;
    }
    std::future::pending::<()>().await
}

/// Reads stdin on its own thread (a blocking read must not hold up the runtime or its shutdown).
fn stdin_lines() -> tokio::sync::mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let failed = line.is_err();
            if tx.blocking_send(line).is_err() || failed {
                return;
            }
        }
    });
    rx
}

/// Follows `channel`'s presence (from before its join, so nothing is missed) and prints the list
/// after every sync that changed it.
fn print_presence(out: Out, channel: &Channel) {
    let mut presence = phx_client::Presence::new(channel);
    let topic = channel.topic().to_owned();
    tokio::spawn(async move {
        let mut shown: Option<Value> = None;
        loop {
            match presence.next().await {
                Ok(phx_client::PresenceChange::Sync) => {
                    let list = presence.to_value();
                    if shown.as_ref() == Some(&list) {
                        continue;
                    }
                    let human = presence
                        .list_by(|k, p| format!("{k} ×{}", p.metas.len()))
                        .join(", ");
                    out.line(
                        || json!({ "type": "presence", "topic": topic, "list": list }),
                        || format!("~ {topic} presence: {human}"),
                    );
                    shown = Some(list);
                }
                Ok(_) => {}
                Err(e) => out.error(&format!("{topic}: {e}")),
            }
        }
    });
}

impl Session<'_> {
    fn join(&mut self, topic: String, payload: Value) {
        if self
            .channels
            .get(&topic)
            .is_some_and(|c| c.status() != ChannelStatus::Closed)
        {
            self.out
                .error(&format!("{topic} is already joined or joining"));
            return;
        }
        let channel = self.socket.channel(topic.clone());
        self.channels.insert(topic.clone(), channel.clone());
        if self.presence {
            print_presence(self.out, &channel);
        }
        let out = self.out;
        tokio::spawn(async move {
            if let Err(e) = channel.join(payload).await {
                out.line(
                    || json!({ "type": "join_error", "topic": topic, "error": e.to_string() }),
                    || format!("! join {topic} failed: {e}"),
                );
            }
        });
    }

    async fn handle_line(&mut self, line: &str) {
        let out = self.out;
        match parse_input(line) {
            Ok(Input::Nothing) => {}
            Ok(Input::Join { topic, payload }) => self.join(topic, payload),
            Ok(Input::Push {
                topic,
                event,
                payload,
                wait,
            }) => {
                if !self.channels.contains_key(&topic) {
                    out.error(&format!("not joined: {topic} (join it first)"));
                    return;
                }
                self.pushes
                    .add(topic, event, payload, wait && !self.no_wait);
            }
            Ok(Input::Leave { topic }) => match self.channels.remove(&topic) {
                Some(channel) => {
                    self.pushes.on_leave(&topic, out);
                    tokio::spawn(async move {
                        let _ = channel.leave().await;
                    });
                }
                None => out.error(&format!("not joined: {topic}")),
            },
            Ok(Input::Raw(text)) => {
                if let Err(e) = self.socket.send_raw(phx_client::Frame::text(text)).await {
                    out.error(&format!("raw frame not sent: {e}"));
                }
            }
            Err(e) => out.error(&e),
        }
    }
}

/// A push typed on stdin, from its command until its outcome is printed.
#[derive(Debug)]
struct PendingPush {
    /// `c1`, `c2`, …: its ref on the wire.
    ref_: String,
    topic: String,
    event: String,
    payload: Value,
    /// `push` (print the reply) or `push!` (forget it once sent).
    wait: bool,
    /// The join_ref it was sent with; `None` while it waits for its channel's join.
    sent_with: Option<String>,
    /// When it stops waiting (for its join, then for its reply): `--timeout-ms` after it was
    /// typed.
    deadline: Instant,
}

/// The pushes typed on stdin that have not ended, in the order typed.
struct Pushes {
    next: u64,
    pending: Vec<PendingPush>,
    vsn: Vsn,
    timeout: Duration,
}

impl Pushes {
    fn new(vsn: Vsn, timeout: Duration) -> Self {
        Pushes {
            next: 0,
            pending: Vec::new(),
            vsn,
            timeout,
        }
    }

    fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// A new push, sent by the next [`Pushes::send_ready`] once its channel has joined.
    fn add(&mut self, topic: String, event: String, payload: Value, wait: bool) {
        self.next += 1;
        self.pending.push(PendingPush {
            ref_: format!("c{}", self.next),
            topic,
            event,
            payload,
            wait,
            sent_with: None,
            deadline: Instant::now() + self.timeout,
        });
    }

    /// Sends every unsent push whose channel is joined, in the order typed.
    async fn send_ready(&mut self, socket: &Socket, channels: &HashMap<String, Channel>, out: Out) {
        let mut i = 0;
        while i < self.pending.len() {
            let p = &self.pending[i];
            let join_ref = channels
                .get(&p.topic)
                .filter(|c| c.status() == ChannelStatus::Joined)
                .and_then(Channel::join_ref);
            let (None, Some(join_ref)) = (&p.sent_with, join_ref) else {
                i += 1;
                continue;
            };
            let msg = Message::new(
                Ref::Str(join_ref.clone()),
                Ref::Str(p.ref_.clone()),
                p.topic.clone(),
                p.event.clone(),
                Payload::Json(p.payload.clone()),
            );
            let sent = match self.vsn.encode_client(&msg) {
                Ok(frame) => socket.send_raw(frame).await.map_err(|e| e.to_string()),
                Err(e) => Err(format!("cannot encode the push: {e}")),
            };
            match sent {
                Ok(()) if self.pending[i].wait => {
                    self.pending[i].sent_with = Some(join_ref);
                    i += 1;
                }
                Ok(()) => {
                    let p = self.pending.remove(i);
                    out.line(
                        || json!({"type": "sent", "ref": p.ref_, "topic": p.topic, "event": p.event}),
                        || format!("> {} {} (ref {}): sent, not waiting for a reply", p.topic, p.event, p.ref_),
                    );
                }
                Err(e) => {
                    let p = self.pending.remove(i);
                    push_error(out, &p, &format!("not sent: {e}"), Value::Null);
                }
            }
        }
    }

    /// The reply to a push, or a `phx_error`/`phx_close` that ends the pushes sent on that join.
    fn on_message(&mut self, m: &ServerMessage, out: Out) {
        if let ServerMessage::Reply(r) = m {
            let Ref::Str(r_) = &r.ref_ else { return };
            let Some(i) = self
                .pending
                .iter()
                .position(|p| p.sent_with.is_some() && &p.ref_ == r_ && p.topic == r.topic)
            else {
                return;
            };
            let p = self.pending.remove(i);
            let response = payload_json(&r.response);
            if r.status == "error" {
                let e = format!(
                    "the server replied with an error: {}",
                    phx_protocol::json::to_string(&response)
                );
                push_error(out, &p, &e, response);
            } else {
                out.line(
                    || json!({"type": "reply", "ref": p.ref_, "topic": p.topic, "event": p.event, "status": r.status, "response": response}),
                    || format!("> {} {} (ref {}): {} {}", p.topic, p.event, p.ref_, r.status, response),
                );
            }
            return;
        }
        let why = match m.event() {
            events::ERROR => "the channel crashed before replying",
            events::CLOSE => "the channel closed before replying",
            _ => return,
        };
        let Ref::Str(join_ref) = m.join_ref() else {
            return;
        };
        let (ended, kept) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.topic == m.topic() && p.sent_with.as_ref() == Some(join_ref));
        self.pending = kept;
        if ended.is_empty() {
            return;
        }
        let payload = payload_json(&m.clone().into_message().payload);
        for p in ended {
            push_error(out, &p, why, payload.clone());
        }
    }

    /// The connection dropped: pushes sent on it get no reply (the server may or may not have
    /// handled them). Unsent ones wait for the rejoin.
    fn on_disconnect(&mut self, out: Out) {
        let (ended, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.sent_with.is_some());
        self.pending = kept;
        for p in ended {
            push_error(
                out,
                &p,
                "the connection dropped before the reply arrived",
                Value::Null,
            );
        }
    }

    /// `leave TOPIC`: its unsent pushes will never be sent.
    fn on_leave(&mut self, topic: &str, out: Out) {
        let (ended, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.topic == topic && p.sent_with.is_none());
        self.pending = kept;
        for p in ended {
            push_error(out, &p, &format!("not sent: {topic} was left"), Value::Null);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.deadline).min()
    }

    /// Ends the pushes whose time is up.
    fn expire(&mut self, now: Instant, out: Out) {
        let (ended, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|p| p.deadline <= now);
        self.pending = kept;
        for p in ended {
            let why = match p.sent_with {
                Some(_) => format!("no reply within {:?}", self.timeout),
                None => format!(
                    "not sent: {} did not join within {:?}",
                    p.topic, self.timeout
                ),
            };
            push_error(out, &p, &why, Value::Null);
        }
    }

    /// The session ends: lists the pushes still awaiting a reply and those never sent. True
    /// when there were none.
    fn report_pending(&self, out: Out) -> bool {
        let (awaiting, unsent): (Vec<&PendingPush>, Vec<&PendingPush>) =
            self.pending.iter().partition(|p| p.sent_with.is_some());
        let list = |ps: &[&PendingPush]| -> Vec<Value> {
            ps.iter()
                .map(|p| json!({"ref": p.ref_, "topic": p.topic, "event": p.event}))
                .collect()
        };
        let human = |ps: &[&PendingPush]| -> String {
            ps.iter()
                .map(|p| format!("ref {} {} {}", p.ref_, p.topic, p.event))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let pushes = |n: usize| {
            if n == 1 {
                "1 push".to_owned()
            } else {
                format!("{n} pushes")
            }
        };
        if !awaiting.is_empty() {
            out.line(
                || json!({"type": "pending", "state": "awaiting_reply", "pushes": list(&awaiting)}),
                || {
                    format!(
                        "! {} still awaiting a reply: {}",
                        pushes(awaiting.len()),
                        human(&awaiting)
                    )
                },
            );
        }
        if !unsent.is_empty() {
            out.line(
                || json!({"type": "pending", "state": "not_sent", "pushes": list(&unsent)}),
                || {
                    format!(
                        "! {} never sent (the channel had not joined): {}",
                        pushes(unsent.len()),
                        human(&unsent)
                    )
                },
            );
        }
        self.pending.is_empty()
    }
}

fn push_error(out: Out, p: &PendingPush, error: &str, response: Value) {
    out.line(
        || json!({ "type": "push_error", "ref": p.ref_, "topic": p.topic, "event": p.event, "error": error, "response": response }),
        || format!("! {} {} (ref {}): {error}", p.topic, p.event, p.ref_),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(parse_input("  "), Ok(Input::Nothing));
        assert_eq!(
            parse_input("join ping"),
            Ok(Input::Join {
                topic: "ping".into(),
                payload: json!({})
            })
        );
        assert_eq!(
            parse_input(r#"join room:1 {"token": "x y"}"#),
            Ok(Input::Join {
                topic: "room:1".into(),
                payload: json!({"token": "x y"})
            })
        );
        assert_eq!(
            parse_input(r#"push ping ping {"a":1}"#),
            Ok(Input::Push {
                topic: "ping".into(),
                event: "ping".into(),
                payload: json!({"a": 1}),
                wait: true,
            })
        );
        assert_eq!(
            parse_input(r#"push! room:lobby new_msg {"body":"hi"}"#),
            Ok(Input::Push {
                topic: "room:lobby".into(),
                event: "new_msg".into(),
                payload: json!({"body": "hi"}),
                wait: false,
            })
        );
        assert!(parse_input("push! ping")
            .unwrap_err()
            .contains("usage: push!"));
        assert_eq!(
            parse_input("leave ping"),
            Ok(Input::Leave {
                topic: "ping".into()
            })
        );
        assert_eq!(
            parse_input(r#"["1","1","ping","phx_join",{}]"#),
            Ok(Input::Raw(r#"["1","1","ping","phx_join",{}]"#.into()))
        );
        assert!(parse_input("push ping").unwrap_err().contains("usage"));
        assert!(parse_input("join").unwrap_err().contains("usage"));
        assert!(parse_input("push ping ev {bad")
            .unwrap_err()
            .contains("not JSON"));
        assert!(parse_input("frobnicate")
            .unwrap_err()
            .contains("unknown command"));
    }

    #[test]
    fn params_and_vsn() {
        assert_eq!(parse_param("token=a=b"), Ok(("token".into(), "a=b".into())));
        assert!(parse_param("=x").is_err());
        assert!(parse_param("novalue").is_err());
        assert_eq!(parse_vsn("1.0.0"), Ok(Vsn::V1));
        assert!(parse_vsn("3.0.0").is_err());
    }

    #[test]
    fn json_lines() {
        let msg = ServerMessage::Push(phx_protocol::Push::new(
            "1",
            "ping",
            "send_ping",
            json!({"a": 1}),
        ));
        assert_eq!(
            message_json(&msg),
            json!({"type":"message","join_ref":"1","ref":null,"topic":"ping","event":"send_ping","payload":{"a":1}})
        );
        assert_eq!(
            human_message(&msg),
            r#"< ["1",null,"ping","send_ping",{"a":1}]"#
        );
        let ev = StatusEvent::Channel {
            topic: "ping".into(),
            status: ChannelStatus::Joined,
        };
        assert_eq!(
            status_json(&ev),
            json!({"type":"channel","topic":"ping","status":"joined"})
        );
    }
}
