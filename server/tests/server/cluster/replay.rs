//! Replays a real Phoenix two-node recording (`broadcast.jsonl`) against two phx-server
//! processes: every frame must match exactly, per connection and in order.
//!
//! The recording's first port is node A ("server"), the second node B ("remote"). Event lines:
//! `connect ws://…` (re-pointed at our node), `ctl ping NODE` (a `request_ping` broadcast made on
//! that node), `ctl eval …Endpoint.broadcast("T", "E", %{"k" => v}) NODE`, client close and the
//! server's close reply. Any other event line fails the test rather than being skipped silently.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};

use super::node::Node;
use super::ws::{Got, Ws};

pub async fn replay(transcript: &str, a: &Node, b: &Node) {
    let mut ports: Vec<String> = Vec::new();
    let mut conns: HashMap<String, Ws> = HashMap::new();
    for (i, line) in transcript
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = format!("line {}", i + 1);
        let rec: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{at}: not JSON: {e}"));
        let dir = rec["dir"].as_str().unwrap_or_default();
        let frame = rec["frame"].as_str().unwrap_or_default();
        let conn = rec["conn"].as_str();
        match (dir, conn) {
            ("send", Some(c)) => conn_mut(&mut conns, c, &at).send(frame).await,
            ("recv", Some(c)) => {
                conn_mut(&mut conns, c, &at)
                    .expect(frame, &format!("{at} ({c})"))
                    .await
            }
            ("event", Some(c)) => {
                if let Some(url) = frame.strip_prefix("connect ") {
                    let (port, rest) = split_url(url, &at);
                    if !ports.contains(&port) {
                        ports.push(port.clone());
                    }
                    let node = node_for(&ports, &port, a, b, &at);
                    conns.insert(c.to_owned(), Ws::connect(&node.ws_url(&rest)).await);
                } else if frame.starts_with("http status 101") {
                    assert!(conns.contains_key(c), "{at}: {c} is not connected");
                } else if let Some(code) = frame.strip_prefix("client closing with code=") {
                    let code: u16 = code
                        .trim()
                        .parse()
                        .unwrap_or_else(|_| panic!("{at}: close code"));
                    conn_mut(&mut conns, c, &at).close(code).await;
                } else if frame.starts_with("connection closed") {
                    let want = rec["close_frame_received"]["code"]
                        .as_u64()
                        .map(|c| c as u16);
                    let got = conn_mut(&mut conns, c, &at)
                        .next(Duration::from_secs(10))
                        .await;
                    assert_eq!(got, Got::Closed(want), "{at} ({c}): the close");
                } else {
                    panic!("{at}: unsupported event line for {c}: {frame}");
                }
            }
            ("event", None) => {
                if frame.starts_with("scenario")
                    || frame.starts_with("extra:")
                    || frame.contains("-> rc=")
                {
                    continue;
                }
                let Some(cmd) = frame.strip_suffix(" (triggered)") else {
                    panic!("{at}: unsupported event line: {frame}");
                };
                let (node, topic, event, payload) = trigger(cmd, a, b, &at);
                node.broadcast(&topic, &event, payload).await;
            }
            _ => panic!("{at}: unsupported line: {line}"),
        }
    }
    assert!(!conns.is_empty(), "the transcript had no connections");
}

fn conn_mut<'a>(conns: &'a mut HashMap<String, Ws>, c: &str, at: &str) -> &'a mut Ws {
    conns
        .get_mut(c)
        .unwrap_or_else(|| panic!("{at}: {c} is not connected"))
}

/// `ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0` → ("4000", "/socket/websocket?vsn=2.0.0").
fn split_url(url: &str, at: &str) -> (String, String) {
    let rest = url
        .strip_prefix("ws://")
        .unwrap_or_else(|| panic!("{at}: not a ws:// URL: {url}"));
    let (host_port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = host_port.rsplit(':').next().unwrap_or_default().to_owned();
    (port, path.to_owned())
}

fn node_for<'a>(ports: &[String], port: &str, a: &'a Node, b: &'a Node, at: &str) -> &'a Node {
    match ports.iter().position(|p| p == port) {
        Some(0) => a,
        Some(1) => b,
        _ => panic!("{at}: the recording uses more than two nodes"),
    }
}

/// `ping server`, `ping remote`, `eval HelloSocketsWeb.Endpoint.broadcast("T", "E", %{"k" => 1}) remote`.
fn trigger<'a>(cmd: &str, a: &'a Node, b: &'a Node, at: &str) -> (&'a Node, String, String, Value) {
    let cmd = cmd
        .strip_prefix("ctl ")
        .unwrap_or_else(|| panic!("{at}: unknown trigger {cmd}"));
    let (rest, node_word) = cmd
        .rsplit_once(' ')
        .unwrap_or_else(|| panic!("{at}: trigger without a node: {cmd}"));
    let node = match node_word {
        "server" => a,
        "remote" => b,
        other => panic!("{at}: unknown node {other:?}"),
    };
    if rest == "ping" {
        return (node, "ping".into(), "request_ping".into(), json!({}));
    }
    let args = rest
        .strip_prefix("eval HelloSocketsWeb.Endpoint.broadcast(")
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{at}: unsupported trigger {cmd}"));
    // Three arguments: two strings and an Elixir map with string keys and JSON-like values.
    let (topic, args) = args
        .split_once(", ")
        .unwrap_or_else(|| panic!("{at}: topic in {cmd}"));
    let (event, map) = args
        .split_once(", ")
        .unwrap_or_else(|| panic!("{at}: event in {cmd}"));
    let unquote =
        |s: &str| serde_json::from_str::<String>(s).unwrap_or_else(|e| panic!("{at}: {s}: {e}"));
    let json_map = map
        .strip_prefix("%{")
        .map(|m| format!("{{{}", m.replace(" => ", ":")));
    let payload = json_map
        .and_then(|m| serde_json::from_str(&m).ok())
        .unwrap_or_else(|| panic!("{at}: cannot read the payload {map}"));
    (node, unquote(topic), unquote(event), payload)
}
