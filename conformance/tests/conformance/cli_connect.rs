//! `phx connect`: a Phoenix-speaking wscat. Against the in-process phx-server: JSON lines for
//! messages and status changes, automatic rejoin after the server drops the connection,
//! interactive commands, and exit codes (2 usage, 3 connection refused).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::{json, Value};
use tokio::sync::mpsc;

const WAIT: Duration = Duration::from_secs(15);

/// A running `phx connect` with piped stdin and its stdout as a stream of lines.
struct Phx {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Phx {
    fn spawn(args: &[&str]) -> Phx {
        let mut child = Command::new(assert_cmd::cargo::cargo_bin("phx"))
            .arg("connect")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn phx");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        Phx {
            child,
            stdin,
            lines,
        }
    }

    /// The next JSON line satisfying `pred` (earlier lines are skipped), within WAIT.
    async fn expect(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.recv().await {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
                if pred(&v) {
                    return Some(v);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(v)) => v,
            Ok(None) => panic!("phx exited before printing {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{line}").expect("write stdin");
    }

    /// The next raw stdout line satisfying `pred` (earlier lines are skipped), within WAIT.
    async fn expect_line(&mut self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let found = tokio::time::timeout(WAIT, async {
            while let Some(line) = self.lines.recv().await {
                if pred(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(l)) => l,
            Ok(None) => panic!("phx exited before printing {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }

    /// Closes stdin, waits for the exit code, and returns it with every line printed after.
    fn finish_with_output(mut self) -> (i32, Vec<String>) {
        let code = {
            drop(self.stdin.take());
            let deadline = std::time::Instant::now() + WAIT;
            loop {
                if let Some(status) = self.child.try_wait().expect("wait") {
                    break status.code().unwrap_or(-1);
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "phx did not exit after stdin EOF"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        };
        // The reader thread ends at the pipe's EOF, after the process has exited.
        let mut rest = Vec::new();
        while let Ok(Some(line)) = tokio::task::block_in_place(|| {
            let rt = tokio::runtime::Handle::current();
            rt.block_on(tokio::time::timeout(WAIT, self.lines.recv()))
        }) {
            rest.push(line);
        }
        (code, rest)
    }

    /// Closes stdin (EOF) and waits for the exit code.
    fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code().unwrap_or(-1);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "phx did not exit after stdin EOF"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Phx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn channel(topic: &'static str, status: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["type"] == "channel" && v["topic"] == topic && v["status"] == status
}

fn both_joined_on_one_connection(server: &TestServer, not_conn: Option<u64>) -> bool {
    let joined = server.joined();
    let mut topics: Vec<&str> = joined.iter().map(|j| j.topic.as_str()).collect();
    topics.sort_unstable();
    topics == ["dupe", "ping"]
        && joined
            .iter()
            .all(|j| Some(j.conn_id) != not_conn && j.conn_id == joined[0].conn_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_prints_everything_and_rejoins_after_a_drop() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[
        &url,
        "--join",
        "ping",
        "--join",
        "dupe",
        "--json",
        "--exit-on-eof",
    ]);

    phx.expect("connected", |v| {
        v["type"] == "socket" && v["status"] == "connected" && v["generation"] == 1
    })
    .await;
    phx.expect("ping joined", channel("ping", "joined")).await;
    server
        .wait_until("both joined", WAIT, |s| {
            both_joined_on_one_connection(s, None)
        })
        .await
        .unwrap();
    let first_conn = server.joined()[0].conn_id;

    server.drop_all_connections();
    phx.expect("the drop", |v| {
        v["type"] == "socket" && v["status"] == "reconnecting"
    })
    .await;
    phx.expect("reconnected", |v| {
        v["type"] == "socket" && v["status"] == "connected" && v["generation"] == 2
    })
    .await;
    server
        .wait_until("both rejoined on the new connection", WAIT, |s| {
            both_joined_on_one_connection(s, Some(first_conn))
        })
        .await
        .unwrap();

    // Interactive commands still work in JSON mode.
    phx.send(r#"push ping param_ping {"n": 42}"#);
    let reply = phx.expect("the push reply", |v| v["type"] == "reply").await;
    assert_eq!(
        reply,
        json!({"type":"reply","ref":"c1","topic":"ping","event":"param_ping","status":"ok","response":{"n":42}})
    );
    // Messages are printed as they arrive, replies included.
    phx.send("push ping nope");
    phx.expect("phx_error for the crash", |v| {
        v["type"] == "message" && v["event"] == "phx_error" && v["topic"] == "ping"
    })
    .await;
    // The crash ends the push, which is not left pending.
    let ended = phx
        .expect("the push's end", |v| v["type"] == "push_error")
        .await;
    assert_eq!(ended["ref"], "c2", "{ended}");
    assert_eq!(
        ended["error"], "the channel crashed before replying",
        "{ended}"
    );
    phx.send("bogus");
    let err = phx.expect("an input error", |v| v["type"] == "error").await;
    assert!(
        err["message"].as_str().unwrap().contains("unknown command"),
        "{err}"
    );

    assert_eq!(phx.finish(), 0);
}

/// The scripting mode a CI job uses: `phx connect URL --join ping --json > log &`, whose stdin is
/// /dev/null. It must keep printing after stdin ends, until it is sent SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_mode_outlives_stdin_and_stops_on_sigterm() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[&url, "--join", "ping", "--json"]);
    drop(phx.stdin.take());
    phx.expect("ping joined", channel("ping", "joined")).await;
    server
        .wait_until("ping joined on the server", WAIT, |s| s.joined().len() == 1)
        .await
        .unwrap();
    server.broadcast(
        "ping",
        "request_ping",
        phx_protocol::Payload::empty_object(),
    );
    let push = phx
        .expect("send_ping after stdin ended", |v| v["event"] == "send_ping")
        .await;
    assert_eq!(push["payload"], json!({"from_node": "nonode@nohost"}));
    assert!(
        phx.child.try_wait().expect("wait").is_none(),
        "exited at EOF"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &phx.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(killed.success());
    assert_eq!(phx.finish(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_mode_sends_raw_frames_and_accepts_the_full_websocket_url_on_vsn_1() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/socket/websocket", server.addr());
    let mut phx = Phx::spawn(&[&url, "--vsn", "1.0.0"]);
    phx.send(r#"{"topic":"ping","event":"phx_join","payload":{},"ref":"99","join_ref":"99"}"#);
    let reply = tokio::time::timeout(WAIT, async {
        loop {
            let line = phx.lines.recv().await.expect("phx still running");
            if line.starts_with("< ") && line.contains("phx_reply") {
                return line;
            }
        }
    })
    .await
    .expect("the raw join's reply");
    // V1 replies carry no join_ref, so it prints as null.
    assert_eq!(
        reply,
        r#"< [null,"99","ping","phx_reply",{"response":{},"status":"ok"}]"#
    );
    server
        .wait_until("ping joined", WAIT, |s| {
            s.joined().iter().any(|j| j.topic == "ping")
        })
        .await
        .unwrap();
    assert_eq!(phx.finish(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_a_clear_error_with_exit_code_3() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/auth_socket", server.addr());
    let output = assert_cmd::Command::cargo_bin("phx")
        .unwrap()
        .args(["connect", &url, "--param", "token=nonsense"])
        .timeout(WAIT)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refused the connection with HTTP 403"),
        "{stderr}"
    );

    // Nothing listening: also exit 3.
    server.stop().await;
    let output = assert_cmd::Command::cargo_bin("phx")
        .unwrap()
        .args(["connect", &url])
        .timeout(WAIT)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot reach"));
}

#[test]
fn usage_errors_exit_with_2() {
    for args in [
        vec!["connect", "ftp://127.0.0.1/socket"],
        vec!["connect", "ws://127.0.0.1:9/socket", "--param", "novalue"],
        vec!["connect", "ws://127.0.0.1:9/socket", "--vsn", "3.0.0"],
        vec!["connect"],
    ] {
        let output = assert_cmd::Command::cargo_bin("phx")
            .unwrap()
            .args(&args)
            .timeout(WAIT)
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.stderr.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_is_not_a_crash() {
    // `phx connect … | head -1`: once the reader is gone every print fails with EPIPE, which
    // `println!` turned into a panic (exit 101).
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/socket", server.addr());
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("phx"))
        .args(["connect", &url, "--json", "--exit-on-eof"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().unwrap();
    // An unknown command prints an error line to stdout (JSON mode), then EOF ends the session.
    writeln!(stdin, "frobnicate").unwrap();
    drop(stdin);
    let output = tokio::time::timeout(
        WAIT,
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await
    .expect("phx did not exit after stdin EOF")
    .unwrap()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
}

/// `--presence`: the synced list is printed when it changes: own join, another member, a leave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presence_mode_prints_the_synced_list_when_it_changes() {
    let server = TestServer::start(Config::default()).await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[&url, "--presence", "--json", "--exit-on-eof"]);
    phx.expect("connected", |v| {
        v["type"] == "socket" && v["status"] == "connected"
    })
    .await;
    phx.send(r#"join presence:lobby {"user_id":"cli","device":"term"}"#);
    let keys = |v: &Value| -> Vec<String> {
        v["list"]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let first = phx
        .expect("the own presence", |v| v["type"] == "presence")
        .await;
    assert_eq!(first["topic"], "presence:lobby");
    assert_eq!(keys(&first), vec!["cli"]);
    assert_eq!(first["list"]["cli"]["metas"][0]["device"], "term");

    let mut alice = server
        .client("/socket", &[("vsn", "2.0.0")])
        .await
        .expect("connect");
    alice
        .send_text(r#"["1","1","presence:lobby","phx_join",{"user_id":"alice","device":"web"}]"#)
        .await
        .expect("send");
    let both = phx
        .expect("alice in the list", |v| {
            v["type"] == "presence" && keys(v).len() == 2
        })
        .await;
    assert_eq!(keys(&both), vec!["alice", "cli"]);
    alice.close().await;
    let after = phx
        .expect("alice gone", |v| {
            v["type"] == "presence" && keys(v).len() == 1
        })
        .await;
    assert_eq!(keys(&after), vec!["cli"]);
    assert_eq!(phx.finish(), 0);
}

async fn start_rooms() -> TestServer {
    TestServer::start_app(Config::default(), phx_server::apps::rooms::Rooms, None).await
}

#[test]
fn help_lists_the_stdin_commands_and_the_exit_codes() {
    let output = assert_cmd::Command::cargo_bin("phx")
        .unwrap()
        .args(["connect", "--help"])
        .timeout(WAIT)
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "join TOPIC [JSON]",
        "push TOPIC EVENT [JSON]",
        "push! TOPIC EVENT [JSON]",
        "leave TOPIC",
        "raw frame",
        "--no-wait",
        "--eof-wait-ms",
        "Exit codes:",
        "1  ended with pushes still awaiting a reply",
        "3  the first connection attempt failed",
    ] {
        assert!(help.contains(needle), "{needle:?} not in:\n{help}");
    }
}

/// Against the rooms app, whose `new_msg` is `{:noreply, socket}`: `push!` does not wait, a
/// `push` is answered by the reply with its ref, and at stdin's end a push still awaiting a
/// reply is listed as pending (exit 1), not as a dropped connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_an_app_that_does_not_reply_are_sent_and_reported_as_pending() {
    let server = start_rooms().await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[&url, "--json", "--exit-on-eof"]);
    phx.send(r#"join room:lobby {"name":"cli"}"#);
    phx.expect("the welcome push", |v| v["event"] == "welcome")
        .await;

    phx.send(r#"push! room:lobby new_msg {"body":"hi"}"#);
    let sent = phx.expect("sent", |v| v["type"] == "sent").await;
    assert_eq!(
        sent,
        json!({"type":"sent","ref":"c1","topic":"room:lobby","event":"new_msg"})
    );
    let msg = phx
        .expect("the broadcast", |v| v["event"] == "new_msg")
        .await;
    assert_eq!(msg["payload"], json!({"body": "hi", "name": "cli"}));

    phx.send("push room:lobby whoami");
    let reply = phx.expect("whoami's reply", |v| v["type"] == "reply").await;
    assert_eq!(
        reply,
        json!({"type":"reply","ref":"c2","topic":"room:lobby","event":"whoami","status":"ok","response":{"name":"cli","room":"lobby"}})
    );

    // Awaited, but the app never replies to new_msg; it was handled (its broadcast came back).
    phx.send(r#"push room:lobby new_msg {"body":"again"}"#);
    phx.expect("the second broadcast", |v| {
        v["event"] == "new_msg" && v["payload"]["body"] == "again"
    })
    .await;
    let (code, rest) = phx.finish_with_output();
    assert_eq!(code, 1, "{rest:?}");
    let pending: Vec<Value> = rest
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "pending" || v["type"] == "push_error")
        .collect();
    assert_eq!(
        pending,
        [
            json!({"type":"pending","state":"awaiting_reply","pushes":[{"ref":"c3","topic":"room:lobby","event":"new_msg"}]})
        ],
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_mode_lists_a_push_awaiting_a_reply_at_eof() {
    let server = start_rooms().await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[&url]);
    phx.send(r#"join room:lobby {"name":"cli"}"#);
    phx.expect_line("joined", |l| l == "* channel room:lobby joined")
        .await;
    phx.send(r#"push room:lobby new_msg {"body":"x"}"#);
    phx.expect_line("the broadcast", |l| {
        l == r#"< [null,null,"room:lobby","new_msg",{"body":"x","name":"cli"}]"#
    })
    .await;
    let (code, rest) = phx.finish_with_output();
    assert_eq!(code, 1, "{rest:?}");
    assert!(
        rest.iter()
            .any(|l| l == "! 1 push still awaiting a reply: ref c1 room:lobby new_msg"),
        "{rest:?}"
    );
    assert!(
        !rest.iter().any(|l| l.contains("connection dropped")),
        "{rest:?}"
    );
}

/// A piped script: the join and the push are written at once and stdin ends before the join's
/// reply. The push waits for the join, `--eof-wait-ms` lets its reply arrive, and the session
/// ends cleanly; `--no-wait` turns a `push` into a `push!`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_piped_script_gets_its_replies_with_eof_wait() {
    let server = start_rooms().await;
    let url = format!("ws://{}/socket", server.addr());
    let mut phx = Phx::spawn(&[&url, "--json", "--exit-on-eof", "--eof-wait-ms", "5000"]);
    phx.send(r#"join room:lobby {"name":"script"}"#);
    phx.send("push room:lobby whoami");
    let (code, rest) = phx.finish_with_output();
    assert_eq!(code, 0, "{rest:?}");
    let replies: Vec<Value> = rest
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["type"] == "reply")
        .collect();
    assert_eq!(replies.len(), 1, "{rest:?}");
    assert_eq!(
        replies[0]["response"],
        json!({"name":"script","room":"lobby"})
    );

    let mut phx = Phx::spawn(&[&url, "--json", "--exit-on-eof", "--no-wait"]);
    phx.send(r#"join room:lobby {"name":"fire"}"#);
    phx.expect("joined", channel("room:lobby", "joined")).await;
    phx.send(r#"push room:lobby new_msg {"body":"and forget"}"#);
    let sent = phx.expect("sent", |v| v["type"] == "sent").await;
    assert_eq!(sent["ref"], "c1");
    phx.expect("the broadcast", |v| v["payload"]["body"] == "and forget")
        .await;
    let (code, rest) = phx.finish_with_output();
    assert_eq!(code, 0, "nothing pending: {rest:?}");
}
