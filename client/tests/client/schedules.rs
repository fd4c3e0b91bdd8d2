//! proptest: random schedules of drops, restarts, pushes, joins and leaves against the real
//! server. Afterwards every channel that should be joined is joined (on the server too), every
//! push was resolved exactly once, and nothing reached a channel after it was left.

use std::time::Duration;

use phx_client::{Channel, ChannelStatus, Events, PushError, Reply, Socket, Stepped};
use phx_server::testing::TestServer;
use phx_server::Config;
use proptest::prelude::*;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::support::WAIT;

const TOPICS: [&str; 3] = ["ping", "ping:a", "ping:b"];

#[derive(Clone, Debug)]
enum Op {
    Join(usize),
    Leave(usize),
    Push(usize),
    Drop,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..TOPICS.len()).prop_map(Op::Join),
        2 => (0..TOPICS.len()).prop_map(Op::Leave),
        4 => (0..TOPICS.len()).prop_map(Op::Push),
        1 => Just(Op::Drop),
        1 => Just(Op::Restart),
    ]
}

struct Pending {
    n: u64,
    task: JoinHandle<Result<Reply, PushError>>,
}

async fn run_schedule(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut server = TestServer::start(Config::default()).await;
    let addr = server.addr();
    let socket = Socket::builder(&server.ws_url("/socket"))
        .reconnect_backoff(Stepped::constant(Duration::from_millis(10)))
        .rejoin_backoff(Stepped::constant(Duration::from_millis(20)))
        .push_timeout(Duration::from_millis(800))
        .build()
        .unwrap();
    socket.connect().await.unwrap();

    let mut active: [Option<Channel>; 3] = [None, None, None];
    // Left handles stay alive so their event streams stay open: any item would be a delivery.
    let mut left: Vec<(String, Events, Channel)> = Vec::new();
    let mut pushes: Vec<Pending> = Vec::new();
    let mut next_n = 0u64;

    for op in ops {
        match op {
            Op::Join(t) => {
                if active[t].is_none() {
                    let ch = socket.channel(TOPICS[t]);
                    let c = ch.clone();
                    // The first outcome may be a timeout while the server is down; the channel
                    // keeps retrying either way, which is what the final check verifies.
                    tokio::spawn(async move { c.join(json!({})).await });
                    ch.wait_for(WAIT, |s| *s != ChannelStatus::Closed)
                        .await
                        .unwrap();
                    active[t] = Some(ch);
                }
            }
            Op::Leave(t) => {
                if let Some(ch) = active[t].take() {
                    ch.leave().await.unwrap();
                    prop_assert_eq!(ch.status(), ChannelStatus::Closed);
                    let events = ch.events();
                    left.push((TOPICS[t].to_owned(), events, ch));
                }
            }
            Op::Push(t) => {
                if let Some(ch) = active[t].clone() {
                    next_n += 1;
                    let n = next_n;
                    let task =
                        tokio::spawn(async move { ch.push("param_ping", json!({ "n": n })).await });
                    pushes.push(Pending { n, task });
                }
            }
            Op::Drop => server.drop_all_connections(),
            Op::Restart => {
                // phx-server's stop() does not drain a connection whose upgrade is still in
                // flight: it completes afterwards on the stopped endpoint and lives on as a
                // zombie that answers everything (reported to the lead). So stop only once the
                // server serves the client's current connection; drops still hit any moment.
                served_barrier(&socket).await;
                server.stop().await;
                server = TestServer::start_on(addr, Config::default()).await.unwrap();
            }
        }
    }

    // Every push ends in exactly one outcome (a oneshot cannot answer twice; the task must
    // finish), and an ok reply is the answer to that very push.
    for p in pushes {
        let outcome = tokio::time::timeout(WAIT, p.task)
            .await
            .expect("every push resolves")
            .unwrap();
        match outcome {
            Ok(reply) => prop_assert_eq!(reply.response, json!({ "n": p.n }).into()),
            // NotJoined: the spawned push ran after a later Leave in the schedule.
            Err(
                PushError::Timeout(_)
                | PushError::ChannelClosed
                | PushError::ConnectionLost
                | PushError::NotJoined,
            ) => {}
            Err(other) => prop_assert!(false, "unexpected push error {other:?}"),
        }
    }

    // Every channel that should be joined is joined, on the client and on the server.
    let expected: Vec<&str> = TOPICS
        .iter()
        .zip(&active)
        .filter(|(_, c)| c.is_some())
        .map(|(t, _)| *t)
        .collect();
    for ch in active.iter().flatten() {
        ch.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
            .await
            .expect("joined on the client");
    }
    server
        .wait_until("the server has exactly the expected channels", WAIT, |s| {
            let mut got: Vec<String> = s.joined().into_iter().map(|j| j.topic).collect();
            got.sort();
            let mut want: Vec<String> = expected.iter().map(|t| t.to_string()).collect();
            want.sort();
            got == want
        })
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{e}: server has {:?}, socket {:?}, channels {:?}",
                s_joined(&server),
                socket.status(),
                active
            )
        });

    // Nothing reaches a left channel: broadcast to every topic; each joined channel gets its
    // send_ping (so the broadcasts were routed), the left handles get nothing. A drop issued by
    // the schedule is torn down asynchronously, so the client may still rejoin after the checks
    // above: a missing send_ping is excused only when the channel's join_ref changed meanwhile.
    let joined: Vec<Channel> = active.iter().flatten().cloned().collect();
    let mut delivered = vec![false; joined.len()];
    for _round in 0..5 {
        let refs: Vec<Option<String>> = joined.iter().map(Channel::join_ref).collect();
        let mut live: Vec<Events> = joined.iter().map(|c| c.on("send_ping")).collect();
        for t in TOPICS {
            server.broadcast(t, "request_ping", json!({}).into());
        }
        for (i, ev) in live.iter_mut().enumerate() {
            if delivered[i] {
                continue;
            }
            if let Ok(Ok(got)) = tokio::time::timeout(Duration::from_secs(2), ev.recv()).await {
                prop_assert_eq!(got.event, "send_ping");
                delivered[i] = true;
            } else {
                prop_assert_ne!(
                    &joined[i].join_ref(),
                    &refs[i],
                    "a joined channel missed a broadcast without rejoining"
                );
            }
        }
        if delivered.iter().all(|d| *d) {
            break;
        }
        for ch in &joined {
            ch.wait_for(WAIT, |s| *s == ChannelStatus::Joined)
                .await
                .expect("joined again");
        }
    }
    prop_assert!(
        delivered.iter().all(|d| *d),
        "some joined channel never got a broadcast"
    );
    // One more round trip on the same connection, after the broadcasts.
    if let Some(ch) = joined.first() {
        ch.push("ping", json!({})).await.unwrap();
    }
    for (topic, events, _) in &mut left {
        let got = events.try_recv();
        prop_assert!(
            got.is_none(),
            "an event reached {topic} after it was left: {got:?}"
        );
    }
    socket.disconnect().await;
    server.stop().await;
    Ok(())
}

/// Waits until the client's current connection is served end to end: a heartbeat sent now is
/// answered on it.
async fn served_barrier(socket: &Socket) {
    for round in 0..50 {
        socket.wait_for(WAIT, |s| s.is_connected()).await.unwrap();
        let mut messages = socket.messages();
        let r = format!("barrier-{round}");
        let frame = phx_client::Frame::text(format!(r#"[null,"{r}","phoenix","heartbeat",{{}}]"#));
        if socket.send_raw(frame).await.is_err() {
            continue;
        }
        let answered = tokio::time::timeout(Duration::from_millis(500), async {
            while let Ok(msg) = messages.recv().await {
                if msg.ref_() == &phx_protocol::Ref::str(r.as_str()) {
                    return;
                }
            }
        })
        .await;
        if answered.is_ok() {
            return;
        }
    }
    panic!("the client's connection was never served");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, max_shrink_iters: 32, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_schedules_end_with_every_channel_joined_and_every_push_resolved(ops in prop::collection::vec(op(), 1..14)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run_schedule(ops))?;
    }
}

fn s_joined(server: &TestServer) -> Vec<(u64, String, String)> {
    server
        .joined()
        .into_iter()
        .map(|j| (j.conn_id, j.topic, j.join_ref.to_string()))
        .collect()
}
