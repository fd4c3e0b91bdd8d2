//! The Redis cluster, end to end: a real `redis-server` (from PATH) and two `phx-server`
//! processes (the built binary) named like the tutorial's nodes, driven by raw WebSocket clients
//! and the nodes' control APIs. Without redis-server these tests fail with install instructions,
//! unless `PHX_SKIP_MISSING=1` asks to skip them (each prints `SKIPPED`).

mod node;
mod presence;
mod redis_server;
mod replay;
mod ws;

use std::time::Duration;

use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::{timeout, Instant};

use node::{Node, BIN};
use redis_server::{free_port, RedisServer};
use ws::{Got, Ws};

const WAIT: Duration = Duration::from_secs(10);
const CHANNEL: &str = "phx:HelloSockets:broadcast";

struct Cluster {
    redis: RedisServer,
    a: Node,
    b: Node,
}

/// redis-server plus nodes A and B on it, or `None` when it is missing and `PHX_SKIP_MISSING=1`.
async fn cluster(test: &str, compat: &str, a: &str, b: &str) -> Option<Cluster> {
    let redis = RedisServer::start(test).await?;
    let url = redis.url();
    let (a, b) = tokio::join!(
        Node::start(a, compat, &url, &[]),
        Node::start(b, compat, &url, &[])
    );
    Some(Cluster { redis, a, b })
}

async fn ping_client(node: &Node) -> Ws {
    let mut ws = Ws::connect(&node.ws_url("/socket/websocket?vsn=2.0.0")).await;
    ws.join("ping").await;
    ws
}

fn plain(payload: &Value) -> String {
    format!(r#"[null,null,"ping","plain_event",{payload}]"#)
}

fn send_ping(node: &str) -> String {
    format!(r#"["1",null,"ping","send_ping",{{"from_node":"{node}"}}]"#)
}

fn fixture(path: &str) -> String {
    let full = format!("{}/../fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("read {full}: {e}"))
}

/// Runs `phx-server ARGS…` to completion (bounded) and returns (exit code, stdout, stderr).
async fn run_cli(args: &[&str]) -> (i32, String, String) {
    run_cli_env(args, &[]).await
}

/// [`run_cli`] with environment variables.
async fn run_cli_env(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = timeout(
        Duration::from_secs(30),
        Command::new(BIN)
            .args(args)
            .env_remove("PHX_PUBSUB")
            .env_remove("PHX_CONTROL_URL")
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("phx-server {args:?} did not finish within 30 s"))
    .expect("run phx-server");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_the_recorded_two_node_broadcast_phoenix_1_7() {
    let Some(c) = cluster("replay 1.7", "1.7", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    replay::replay(
        &fixture("phoenix-1.7.14/transcripts/broadcast.jsonl"),
        &c.a,
        &c.b,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_the_recorded_two_node_broadcast_phoenix_1_8() {
    let Some(c) = cluster(
        "replay 1.8",
        "1.8",
        "server18@127.0.0.1",
        "remote18@127.0.0.1",
    )
    .await
    else {
        return;
    };
    replay::replay(
        &fixture("phoenix-1.8.12/transcripts/broadcast.jsonl"),
        &c.a,
        &c.b,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_only_process_reaches_clients_on_both_nodes() {
    let Some(c) = cluster(
        "publish-only",
        "1.8",
        "server@127.0.0.1",
        "remote@127.0.0.1",
    )
    .await
    else {
        return;
    };
    let (mut wa, mut wb) = (ping_client(&c.a).await, ping_client(&c.b).await);
    let url = c.redis.url();

    // Intercepted: each node runs handle_out itself, so each client names its own node.
    let (code, stdout, stderr) =
        run_cli(&["broadcast", "--pubsub", &url, "ping", "request_ping"]).await;
    assert_eq!(code, 0, "stderr: {stderr}");
    let reply: Value = serde_json::from_str(stdout.trim()).expect("JSON on stdout");
    assert_eq!(
        reply,
        json!({"ok": true, "count": 1, "receivers": 2}),
        "both node processes are subscribed"
    );
    wa.expect(&send_ping("server@127.0.0.1"), "client on A")
        .await;
    wb.expect(&send_ping("remote@127.0.0.1"), "client on B")
        .await;

    // Another prefix is another cluster: nobody hears it, and the CLI says so.
    let (code, stdout, stderr) = run_cli(&[
        "broadcast",
        "--pubsub",
        &url,
        "--pubsub-prefix",
        "other",
        "ping",
        "plain_event",
    ])
    .await;
    assert_eq!(code, 0, "stderr: {stderr}");
    assert!(stdout.contains(r#""receivers":0"#), "{stdout}");
    assert!(
        stderr.contains("no node is subscribed to other:broadcast"),
        "{stderr}"
    );

    // Fastlane, JSON and binary, several copies in order.
    let (code, _, stderr) = run_cli(&[
        "broadcast",
        "--pubsub",
        &url,
        "--count",
        "3",
        "ping",
        "plain_event",
        r#"{"n":2}"#,
    ])
    .await;
    assert_eq!(code, 0, "stderr: {stderr}");
    // The URL from the environment this time.
    let (code, _, stderr) = run_cli_env(
        &["broadcast", "ping", "bin", r#"{"$binary":"00ff10"}"#],
        &[("PHX_PUBSUB", &url)],
    )
    .await;
    assert_eq!(code, 0, "stderr: {stderr}");
    // V2 binary broadcast: kind 2, topic size, event size, topic, event, data.
    let binary = [&[2u8, 4, 3][..], b"ping", b"bin", &[0x00, 0xff, 0x10]].concat();
    for (ws, who) in [(&mut wa, "A"), (&mut wb, "B")] {
        for _ in 0..3 {
            ws.expect(&plain(&json!({"n": 2})), who).await;
        }
        assert_eq!(
            ws.next(WAIT).await,
            Got::Binary(binary.clone()),
            "binary broadcast on {who}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_does_not_deliver_its_own_broadcast_twice() {
    let Some(c) = cluster("no echo", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let (mut wa, mut wb) = (ping_client(&c.a).await, ping_client(&c.b).await);
    c.a.broadcast("ping", "plain_event", json!({"n": 1})).await;
    wa.expect(&plain(&json!({"n": 1})), "A, local delivery")
        .await;
    // B got it through Redis, so Redis has also handed A its own copy by now …
    wb.expect(&plain(&json!({"n": 1})), "B, through Redis")
        .await;
    // … and Redis orders B's next broadcast after it: A's next frame would be the echo.
    c.b.broadcast("ping", "plain_event", json!({"n": 2})).await;
    wa.expect(&plain(&json!({"n": 2})), "A, no echo of n=1 before B's n=2")
        .await;
    wb.expect(&plain(&json!({"n": 2})), "B, local delivery")
        .await;
}

/// The library API: two endpoints in one process share one `RedisBackplane` (one pair of Redis
/// connections); they still tell their broadcasts apart, and the counters add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_endpoints_in_one_process_share_one_backplane() {
    use phx_server::pubsub::redis::{RedisBackplane, RedisConfig};
    use phx_server::pubsub::Backplane;
    use phx_server::testing::TestServer;

    let Some(redis) = RedisServer::start("in-process").await else {
        return;
    };
    let bp = RedisBackplane::connect(RedisConfig::new(redis.url()))
        .await
        .expect("connect to redis-server");
    assert_eq!(bp.channel(), CHANNEL);
    let shared: std::sync::Arc<dyn Backplane> = bp.clone();
    let config = |name: &str| phx_server::Config {
        node_name: name.into(),
        ..phx_server::Config::default()
    };
    let one = TestServer::start_with_bus(config("one@127.0.0.1"), shared.clone()).await;
    let two = TestServer::start_with_bus(config("two@127.0.0.1"), shared).await;
    let mut w1 = Ws::connect(&format!("{}?vsn=2.0.0", one.ws_url("/socket"))).await;
    let mut w2 = Ws::connect(&format!("{}?vsn=2.0.0", two.ws_url("/socket"))).await;
    w1.join("ping").await;
    w2.join("ping").await;

    one.endpoint().broadcast(
        "ping",
        "request_ping",
        phx_protocol::Payload::empty_object(),
    );
    w1.expect(&send_ping("one@127.0.0.1"), "endpoint one").await;
    w2.expect(&send_ping("two@127.0.0.1"), "endpoint two, through Redis")
        .await;
    two.endpoint()
        .broadcast("ping", "plain_event", json!({"n": 1}).into());
    // An echo of one's request_ping would come before this.
    w1.expect(&plain(&json!({"n": 1})), "endpoint one, through Redis")
        .await;
    w2.expect(&plain(&json!({"n": 1})), "endpoint two").await;

    // `published` counts once Redis has replied, which may come after the delivery.
    let deadline = Instant::now() + WAIT;
    while bp.stats().published < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = bp.stats();
    assert_eq!((stats.published, stats.received), (2, 2), "{stats:?}");
    assert_eq!(
        (
            stats.dropped_queue_full,
            stats.lost_in_flight,
            stats.malformed
        ),
        (0, 0, 0),
        "{stats:?}"
    );
}

/// A hung Redis (SIGSTOP: connections stay open, nothing answers) is caught by the health-check
/// PING, not only a closed socket; after SIGCONT both connections come back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_redis_is_caught_by_the_health_check() {
    use phx_server::pubsub::redis::{RedisBackplane, RedisConfig, RedisStats};
    use phx_server::pubsub::Backplane;
    use phx_server::testing::TestServer;

    let Some(redis) = RedisServer::start("hung redis").await else {
        return;
    };
    let fast = Duration::from_millis(200);
    let config = RedisConfig {
        health_interval: fast,
        response_timeout: fast,
        connect_timeout: fast,
        backoff_max: fast,
        ..RedisConfig::new(redis.url())
    };
    let bp = RedisBackplane::connect(config)
        .await
        .expect("connect to redis-server");
    let shared: std::sync::Arc<dyn Backplane> = bp.clone();
    let node = |name: &str| phx_server::Config {
        node_name: name.into(),
        ..phx_server::Config::default()
    };
    let one = TestServer::start_with_bus(node("one@127.0.0.1"), shared.clone()).await;
    let two = TestServer::start_with_bus(node("two@127.0.0.1"), shared).await;
    let mut w2 = Ws::connect(&format!("{}?vsn=2.0.0", two.ws_url("/socket"))).await;
    w2.join("ping").await;

    let wait = |what: &'static str, ok: fn(&RedisStats) -> bool| {
        let bp = bp.clone();
        async move {
            let deadline = Instant::now() + WAIT;
            while !ok(&bp.stats()) {
                assert!(Instant::now() < deadline, "{what}: {:?}", bp.stats());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };
    assert!(redis.freeze(true).await, "SIGSTOP redis-server");
    // Both connections are idle, so both PINGs go unanswered.
    wait("both connections found hung", |s| s.connections_lost >= 2).await;
    assert!(redis.freeze(false).await, "SIGCONT redis-server");
    wait("both connections back", |s| {
        s.resubscribes >= 1 && s.publisher_reconnects >= 1
    })
    .await;
    one.endpoint()
        .broadcast("ping", "plain_event", json!({"n": 1}).into());
    w2.expect(&plain(&json!({"n": 1})), "endpoint two, after the hang")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_by_socket_id_reaches_the_other_node() {
    let Some(c) = cluster("disconnect", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let token = |user: u64| {
        let a = &c.a;
        async move {
            let reply = a
                .control(
                    "/api/token",
                    json!({"salt": "salt identifier", "data": user}),
                )
                .await;
            reply["token"].as_str().expect("a token").to_owned()
        }
    };
    let (t1, t2) = (token(1).await, token(2).await);
    let auth =
        |node: &Node, t: &str| node.ws_url(&format!("/auth_socket/websocket?vsn=2.0.0&token={t}"));
    let mut user1_on_b = Ws::connect(&auth(&c.b, &t1)).await;
    let mut user1_on_a = Ws::connect(&auth(&c.a, &t1)).await;
    let mut user2_on_b = Ws::connect(&auth(&c.b, &t2)).await;
    // The sockets are registered once they answer a heartbeat.
    for ws in [&mut user1_on_b, &mut user1_on_a, &mut user2_on_b] {
        ws.send(r#"[null,"1","phoenix","heartbeat",{}]"#).await;
        ws.expect(
            r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
            "heartbeat",
        )
        .await;
    }

    c.a.control("/api/disconnect", json!({"socket_id": "auth_socket:1"}))
        .await;

    for (ws, who) in [
        (&mut user1_on_b, "user 1 on B"),
        (&mut user1_on_a, "user 1 on A"),
    ] {
        match ws.next(WAIT).await {
            Got::Closed(Some(_)) => {}
            other => panic!("{who}: expected a close frame, got {other:?}"),
        }
    }
    user2_on_b
        .send(r#"[null,"2","phoenix","heartbeat",{}]"#)
        .await;
    user2_on_b
        .expect(
            r#"[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
            "user 2 stays",
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedupe_broadcasts_from_one_node_are_deduplicated_on_each_node() {
    let Some(c) = cluster("dedupe", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let mut clients = Vec::new();
    for node in [&c.a, &c.b] {
        let mut ws = Ws::connect(&node.ws_url("/socket/websocket?vsn=2.0.0")).await;
        ws.join("dupe").await;
        clients.push(ws);
    }
    let number = |n: u64| format!(r#"["1",null,"dupe","number",{{"value":{n}}}]"#);
    // DedupeChannel.broadcast([1, 2, 3], 5) on A: 15 broadcasts, each node pushes 1, 2, 3 once
    // at the end of its 1 s window.
    c.a.control("/api/dedupe", json!({"numbers": [1, 2, 3], "times": 5}))
        .await;
    for n in 1..=3 {
        clients[0].expect(&number(n), "A").await;
    }
    // Then 4 from B, in a later window: a duplicate or a straggler of the first batch on either
    // node would come before it.
    c.b.control("/api/dedupe", json!({"numbers": [4], "times": 2}))
        .await;
    for n in 1..=4 {
        clients[1].expect(&number(n), "B").await;
    }
    clients[0].expect(&number(4), "A").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_heal_after_redis_restarts() {
    let Some(mut c) = cluster("heal", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let (mut wa, mut wb) = (ping_client(&c.a).await, ping_client(&c.b).await);
    c.a.broadcast("ping", "plain_event", json!({"n": 0})).await;
    wa.expect(&plain(&json!({"n": 0})), "A before the outage")
        .await;
    wb.expect(&plain(&json!({"n": 0})), "B before the outage")
        .await;

    c.redis.kill().await;
    for node in [&c.a, &c.b] {
        node.log
            .wait_for("subscription connection lost", 1, WAIT)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", node.name));
    }
    // Local delivery goes on during the outage.
    c.a.broadcast("ping", "plain_event", json!({"outage": 1}))
        .await;
    wa.expect(&plain(&json!({"outage": 1})), "A during the outage")
        .await;
    c.a.broadcast("ping", "request_ping", json!({})).await;
    wa.expect(&send_ping("server@127.0.0.1"), "A during the outage")
        .await;

    c.redis.restart().await;
    let restarted = Instant::now();
    for node in [&c.a, &c.b] {
        node.log
            .wait_for("redis backplane: resubscribed", 1, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", node.name));
    }
    // A's broadcasts from the outage were queued and are published once A's publisher is back:
    // they may reach B's client at any point from now on, in order, each at most once.
    let mut late = vec![plain(&json!({"outage": 1})), send_ping("remote@127.0.0.1")];
    // B → A.
    c.b.broadcast("ping", "plain_event", json!({"n": 1})).await;
    expect_after_late(
        &mut wb,
        &plain(&json!({"n": 1})),
        &mut late,
        "B after the restart",
    )
    .await;
    wa.expect(&plain(&json!({"n": 1})), "A hears B after the restart")
        .await;
    // A → B.
    c.a.broadcast("ping", "plain_event", json!({"n": 2})).await;
    wa.expect(&plain(&json!({"n": 2})), "A after the restart")
        .await;
    expect_after_late(
        &mut wb,
        &plain(&json!({"n": 2})),
        &mut late,
        "B hears A after the restart",
    )
    .await;
    eprintln!(
        "heal: cross-node delivery restored {:?} after redis-server answered PING again",
        restarted.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_publish_queue_is_bounded_and_drops_are_counted() {
    let Some(mut redis) = RedisServer::start("bounded queue").await else {
        return;
    };
    let a = Node::start(
        "server@127.0.0.1",
        "1.8",
        &redis.url(),
        &["--pubsub-queue", "4"],
    )
    .await;
    let mut wa = ping_client(&a).await;
    redis.kill().await;
    a.log
        .wait_for("subscription connection lost", 1, WAIT)
        .await
        .expect("A notices the outage");
    // The first broadcast sends the publisher into its reconnect loop; then the queue fills.
    a.broadcast("ping", "plain_event", json!({"n": 0})).await;
    a.log
        .wait_for("publisher reconnecting", 1, WAIT)
        .await
        .expect("the publisher reconnects");
    a.control(
        "/api/broadcast",
        json!({"topic": "ping", "event": "plain_event", "payload": {}, "count": 50}),
    )
    .await;
    // Every broadcast still reaches the local client.
    wa.expect(&plain(&json!({"n": 0})), "A").await;
    for _ in 0..50 {
        wa.expect(&plain(&json!({})), "A").await;
    }
    // At least 45 of the 50 were dropped (4 queue slots, at most one taken before): logged at 1, 2, 4, … 32.
    a.log
        .wait_for("dropped_total=32", 1, WAIT)
        .await
        .expect("drops are counted and logged");
    assert_eq!(
        a.log.count("publish queue full"),
        6,
        "one line per power of two:\n{}",
        a.log.text()
    );
    redis.restart().await;
    a.log
        .wait_for("publisher reconnected", 1, Duration::from_secs(30))
        .await
        .expect("the publisher comes back");
    a.log
        .wait_for("redis backplane: resubscribed", 1, Duration::from_secs(30))
        .await
        .expect("the subscriber comes back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_and_malformed_messages_on_the_channel_are_skipped() {
    let Some(c) = cluster("malformed", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let mut wb = ping_client(&c.b).await;
    let publish = |msg: &'static str| {
        c.redis
            .command_owned(vec!["PUBLISH".into(), CHANNEL.into(), msg.into()])
    };
    assert_eq!(
        publish("garbage").await.expect("PUBLISH"),
        ":2\r\n",
        "both nodes subscribe to {CHANNEL}"
    );
    // A version this build does not read (v2 is the batch envelope; v3 does not exist yet).
    publish(r#"{"v":3,"origin":"x","topic":"ping","event":"plain_event","payload":{"v":3}}"#)
        .await
        .expect("PUBLISH");
    publish(r#"{"v":1,"origin":"x","topic":"ping","event":"plain_event"}"#)
        .await
        .expect("PUBLISH");
    publish(r#"{"v":1,"origin":"x","topic":"ping","event":"plain_event","payload":{"n":7}}"#)
        .await
        .expect("PUBLISH");
    wb.expect(&plain(&json!({"n": 7})), "B gets only the valid envelope")
        .await;
    c.b.log
        .wait_for("skipped a message", 2, WAIT)
        .await
        .expect("skips are logged");
    let log = c.b.log.text();
    assert!(log.contains("not a JSON object"), "{log}");
    assert!(log.contains("envelope version 3 is not supported"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_at_start_fails_with_a_clear_message() {
    let url = format!("redis://127.0.0.1:{}", free_port());
    let started = Instant::now();
    let (code, _, stderr) = run_cli(&["serve", "--port", "0", "--pubsub", &url]).await;
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("cannot reach Redis at {url} for --pubsub")),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    // A password in the URL never reaches the output.
    let port = free_port();
    let secret_url = format!("redis://:s3cret@127.0.0.1:{port}");
    let (code, _, stderr) = run_cli(&["serve", "--port", "0", "--pubsub", &secret_url]).await;
    assert_eq!(code, 1, "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "cannot reach Redis at redis://:***@127.0.0.1:{port}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");

    let (code, _, stderr) =
        run_cli(&["serve", "--port", "0", "--pubsub", "http://127.0.0.1:1"]).await;
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(
        stderr.contains("bad --pubsub URL \"http://127.0.0.1:1\": unsupported scheme"),
        "{stderr}"
    );

    let (code, stdout, stderr) =
        run_cli(&["broadcast", "--pubsub", &url, "ping", "request_ping"]).await;
    assert_eq!((code, stdout.as_str()), (1, ""), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!(
            "phx-server broadcast: cannot reach Redis at {url}"
        )),
        "{stderr}"
    );

    let (code, _, stderr) =
        run_cli(&["broadcast", "--pubsub", &url, "ping", "e", "{not json"]).await;
    assert_eq!(code, 2, "stderr: {stderr}");
    assert!(
        stderr.contains("PAYLOAD_JSON is not valid JSON"),
        "{stderr}"
    );
}

/// Reads `ws` until `want`, allowing before it only the first of the `late` frames (removed
/// when seen): queued frames arrive in order.
async fn expect_after_late(ws: &mut Ws, want: &str, late: &mut Vec<String>, who: &str) {
    loop {
        match ws.next(WAIT).await {
            Got::Text(t) if t == want => return,
            Got::Text(t) if late.first() == Some(&t) => {
                late.remove(0);
            }
            Got::Text(t) if late.contains(&t) => {
                // An earlier queued frame was lost (published before this node resubscribed).
                let at = late.iter().position(|l| *l == t).unwrap_or(0);
                late.drain(..=at);
            }
            other => panic!("{who}: expected {want} (after at most {late:?}), got {other:?}"),
        }
    }
}

/// Cross-node broadcast latency, A's control API → Redis → a client on B (not a pass/fail
/// test): `cargo test -p phx-server --test server cluster::measure -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, run by hand"]
async fn measure_cross_node_broadcast_latency() {
    let Some(c) = cluster("measure", "1.8", "server@127.0.0.1", "remote@127.0.0.1").await else {
        return;
    };
    let mut wb = ping_client(&c.b).await;
    for (count, spacing) in [(200u64, true), (5_000, false)] {
        let mut lat = Vec::new();
        let started = Instant::now();
        if spacing {
            // One at a time: the unloaded latency.
            for _ in 0..count {
                c.a.control(
                    "/api/broadcast",
                    json!({"topic": "ping", "event": "plain_event", "payload": {}, "stamp": true}),
                )
                .await;
                lat.push(latency(&mut wb).await);
            }
        } else {
            c.a.control("/api/broadcast", json!({"topic": "ping", "event": "plain_event", "payload": {}, "count": count, "stamp": true})).await;
            for _ in 0..count {
                lat.push(latency(&mut wb).await);
            }
        }
        let secs = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
        eprintln!(
            "{} broadcasts A→Redis→B ({}): p50 {} µs, p99 {} µs, max {} µs; {:.0} msg/s at the client",
            count,
            if spacing { "one at a time" } else { "one burst" },
            pct(0.5),
            pct(0.99),
            lat[lat.len() - 1],
            count as f64 / secs
        );
    }
}

async fn latency(ws: &mut Ws) -> u64 {
    let got = ws.next(WAIT).await;
    let Got::Text(t) = got else {
        panic!("expected a stamped broadcast, got {got:?}")
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_micros() as u64;
    let v: Value = serde_json::from_str(&t).expect("JSON frame");
    now.saturating_sub(v[4]["t"].as_u64().expect("stamp"))
}
