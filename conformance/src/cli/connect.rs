//! `phx connect URL`: like wscat, but it speaks Phoenix. It keeps the connection alive with
//! heartbeats, reconnects and rejoins on its own (it is a [`phx_client::Socket`]), and reads
//! commands from stdin:
//!
//! ```text
//! join TOPIC [JSON]          join a channel (payload defaults to {})
//! push TOPIC EVENT [JSON]    push an event on a joined channel and print the reply
//! leave TOPIC                leave a channel
//! [..] or {..}               send the line as a raw frame
//! ```
//!
//! With `--presence`, every joined channel also keeps a [`phx_client::Presence`] view and the
//! synced list is printed whenever it changes (`type`: `presence`, `list`: `{key: {"metas":
//! [...]}}`; human: `~ TOPIC presence: key ×metas, …`).
//!
//! Every received message and every status change is printed; with `--json`, as one JSON object
//! per line (`type`: `message`, `socket`, `channel`, `reply`, `push_error`, `join_error`,
//! `error`). It runs until interrupted (Ctrl-C / SIGINT or SIGTERM). In human mode stdin's end
//! (Ctrl-D) also ends it, like wscat; in `--json` mode stdin's end only stops reading commands, so
//! `phx connect URL --join ping --json > log &` in a script (stdin is /dev/null) keeps printing
//! until it is killed. `--exit-on-eof` makes `--json` mode end at EOF too, for piped command
//! scripts. Exit codes: 0 after EOF or an interrupt, 2 usage (bad URL, param or vsn), 3 when the
//! first connection attempt fails (e.g. HTTP 403, or a TLS certificate the client cannot
//! trust). A TLS certificate error after a reconnect stops the socket instead of retrying.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use phx_client::{
    Channel, ChannelStatus, Payload, PushError, Reply, Socket, SocketStatus, StatusEvent, Vsn,
};
use phx_protocol::{Message, ServerMessage};
use serde_json::{json, Value};

/// Arguments of `phx connect`.
#[derive(Debug, clap::Args)]
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
    /// Timeout of joins and pushes in milliseconds.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    timeout_ms: u64,
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
    /// `push TOPIC EVENT [JSON]`.
    Push {
        /// The topic.
        topic: String,
        /// The event.
        event: String,
        /// The payload.
        payload: Value,
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
        "push" => {
            let (topic, rest) = split_word(rest);
            let (event, rest) = split_word(rest);
            if event.is_empty() {
                return Err("usage: push TOPIC EVENT [JSON]".into());
            }
            Ok(Input::Push { topic: topic.to_owned(), event: event.to_owned(), payload: payload(rest)? })
        }
        "leave" => {
            let (topic, rest) = split_word(rest);
            if topic.is_empty() || !rest.is_empty() {
                return Err("usage: leave TOPIC".into());
            }
            Ok(Input::Leave { topic: topic.to_owned() })
        }
        other => Err(format!(
            "unknown command {other:?}: use join TOPIC [JSON], push TOPIC EVENT [JSON], leave TOPIC, or a raw [..] frame"
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

    let mut channels: HashMap<String, Channel> = HashMap::new();
    let presence = args.presence;
    for topic in &args.joins {
        join(
            &socket,
            &mut channels,
            out,
            presence,
            topic.clone(),
            json!({}),
        );
    }

    let mut stdin = stdin_lines();
    let mut stdin_open = true;
    let stays_after_eof = args.json && !args.exit_on_eof;
    let terminated = terminate_signal();
    tokio::pin!(terminated);
    // One Ctrl-C listener for the whole loop: a fresh `ctrl_c()` per iteration misses a Ctrl-C
    // pressed while a line is handled (and SIGINT no longer kills once the handler is installed).
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        tokio::select! {
            msg = messages.recv() => match msg {
                Ok(m) => out.line(|| message_json(&m), || human_message(&m)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => out.error(&format!("output fell behind: {n} messages not shown")),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            ev = statuses.recv() => match ev {
                Ok(ev) => out.line(|| status_json(&ev), || human_status(&ev)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => out.error(&format!("output fell behind: {n} status changes not shown")),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            line = stdin.recv(), if stdin_open => match line {
                Some(Ok(line)) => handle_line(&socket, &mut channels, out, presence, &line).await,
                Some(Err(e)) => {
                    out.error(&format!("cannot read stdin: {e}"));
                    break;
                }
                None if stays_after_eof => stdin_open = false,
                None => break, // EOF
            },
            _ = &mut interrupted => break,
            _ = &mut terminated => break,
        }
    }
    socket.disconnect().await;
    ExitCode::SUCCESS
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

fn join(
    socket: &Socket,
    channels: &mut HashMap<String, Channel>,
    out: Out,
    presence: bool,
    topic: String,
    payload: Value,
) {
    if channels
        .get(&topic)
        .is_some_and(|c| c.status() != ChannelStatus::Closed)
    {
        out.error(&format!("{topic} is already joined or joining"));
        return;
    }
    let channel = socket.channel(topic.clone());
    channels.insert(topic.clone(), channel.clone());
    if presence {
        print_presence(out, &channel);
    }
    tokio::spawn(async move {
        if let Err(e) = channel.join(payload).await {
            out.line(
                || json!({ "type": "join_error", "topic": topic, "error": e.to_string() }),
                || format!("! join {topic} failed: {e}"),
            );
        }
    });
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

async fn handle_line(
    socket: &Socket,
    channels: &mut HashMap<String, Channel>,
    out: Out,
    presence: bool,
    line: &str,
) {
    match parse_input(line) {
        Ok(Input::Nothing) => {}
        Ok(Input::Join { topic, payload }) => join(socket, channels, out, presence, topic, payload),
        Ok(Input::Push {
            topic,
            event,
            payload,
        }) => {
            let Some(channel) = channels.get(&topic).cloned() else {
                out.error(&format!("not joined: {topic} (join it first)"));
                return;
            };
            tokio::spawn(async move {
                let result = channel.push(event.clone(), payload).await;
                print_push(out, &topic, &event, result);
            });
        }
        Ok(Input::Leave { topic }) => match channels.remove(&topic) {
            Some(channel) => {
                tokio::spawn(async move {
                    let _ = channel.leave().await;
                });
            }
            None => out.error(&format!("not joined: {topic}")),
        },
        Ok(Input::Raw(text)) => {
            if let Err(e) = socket.send_raw(phx_client::Frame::text(text)).await {
                out.error(&format!("raw frame not sent: {e}"));
            }
        }
        Err(e) => out.error(&e),
    }
}

fn print_push(out: Out, topic: &str, event: &str, result: Result<Reply, PushError>) {
    match result {
        Ok(reply) => out.line(
            || json!({ "type": "reply", "topic": topic, "event": event, "status": reply.status, "response": payload_json(&reply.response) }),
            || format!("> {topic} {event}: {} {}", reply.status, payload_json(&reply.response)),
        ),
        Err(e) => {
            let response = match &e {
                PushError::ErrorReply(p) => payload_json(p),
                _ => Value::Null,
            };
            out.line(
                || json!({ "type": "push_error", "topic": topic, "event": event, "error": e.to_string(), "response": response }),
                || format!("! {topic} {event}: {e}"),
            )
        }
    }
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
                payload: json!({"a": 1})
            })
        );
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
