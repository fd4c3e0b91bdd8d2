//! Properties against the target, on random operation sequences (bounded case counts so they
//! run in seconds):
//! - every push to a joined topic gets exactly one reply with its ref, except events that have
//!   no reply (`pong`);
//! - a push to a topic not joined gets "unmatched topic";
//! - nothing arrives for a topic after its phx_close (until it is joined again);
//! - the dedupe output of a window is its distinct values in first-seen order.
//!
//! They hold on every Phoenix release, so they run against the `PHX_URL` target whatever its
//! `PHX_PHOENIX`, and fail (not skip) when it has no broadcast trigger. Each case uses its own
//! `ping:<unique>` topics, and the dedupe property holds the `dupe` topic lock, so that the
//! scenario suite can run in parallel against the same server.

use crate::support;
use phx_conformance::runner::conn::{RawConn, Received};
use phx_conformance::target::Target;
use phx_conformance::triggers::{Action, Node};
use proptest::prelude::*;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// Topics per case: three `ping:*` topics no other test joins.
const TOPICS: usize = 3;
const WAIT: Duration = Duration::from_secs(3);

#[derive(Clone, Debug)]
enum Op {
    Join(usize),
    Push(usize, bool),
    Leave(usize),
    Broadcast(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let t = 0..TOPICS;
    prop_oneof![
        t.clone().prop_map(Op::Join),
        (t.clone(), any::<bool>()).prop_map(|(t, reply)| Op::Push(t, reply)),
        t.clone().prop_map(Op::Leave),
        t.prop_map(Op::Broadcast),
    ]
}

async fn next_json(c: &mut RawConn, within: Duration) -> Result<Value, String> {
    match c.next(within).await {
        Received::Text(t) => serde_json::from_str(&t).map_err(|e| format!("not JSON: {t}: {e}")),
        other => Err(format!("expected a frame, got {other:?}")),
    }
}

/// Runs the ops on one connection, checking each op's frames as they come.
async fn check_ops(target: &Target, ops: &[Op]) -> Result<(), String> {
    let url = format!("{}/websocket?vsn=2.0.0", target.socket_url);
    let mut c = RawConn::connect(&url, &phx_client::TlsConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    let case = support::unique("ping:prop");
    let names: Vec<String> = (0..TOPICS).map(|i| format!("{case}-{i}")).collect();
    let mut joined: HashMap<usize, String> = HashMap::new();
    let mut next_ref = 0u32;
    for op in ops {
        next_ref += 1;
        let r = next_ref.to_string();
        let mut expected: Vec<Value> = Vec::new();
        match op {
            Op::Join(t) if !joined.contains_key(t) => {
                let topic = names[*t].as_str();
                c.send_text(&json!([r, r, topic, "phx_join", {}]).to_string())
                    .await?;
                expected.push(json!([r, r, topic, "phx_reply", {"response": {}, "status": "ok"}]));
                joined.insert(*t, r.clone());
            }
            Op::Join(_) => continue,
            Op::Push(t, reply) => {
                let topic = names[*t].as_str();
                let event = if *reply { "ping" } else { "pong" };
                let jr = joined.get(t).cloned();
                c.send_text(&json!([jr, r, topic, event, {}]).to_string())
                    .await?;
                match jr {
                    Some(jr) if *reply => {
                        expected.push(json!([jr, r, topic, "phx_reply", {"response": {"ping": "pong"}, "status": "ok"}]));
                    }
                    Some(_) => {}
                    None => expected.push(json!([null, r, topic, "phx_reply", {"response": {"reason": "unmatched topic"}, "status": "error"}])),
                }
            }
            Op::Leave(t) => {
                let topic = names[*t].as_str();
                let jr = joined.remove(t);
                let sent_jr = jr.clone().unwrap_or_else(|| r.clone());
                c.send_text(&json!([sent_jr, r, topic, "phx_leave", {}]).to_string())
                    .await?;
                expected.push(
                    json!([sent_jr, r, topic, "phx_reply", {"response": {}, "status": "ok"}]),
                );
                if let Some(jr) = jr {
                    expected.push(json!([jr, jr, topic, "phx_close", {}]));
                }
            }
            Op::Broadcast(t) => {
                let topic = names[*t].as_str();
                let payload = json!({"n": next_ref});
                target
                    .triggers
                    .run(&Action::Broadcast {
                        node: Node::A,
                        topic: topic.into(),
                        event: "plain_event".into(),
                        payload: payload.clone().into(),
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                if joined.contains_key(t) {
                    expected.push(json!([null, null, topic, "plain_event", payload]));
                }
            }
        }
        // A pong has no reply, so the next frame belongs to a later op: a heartbeat after
        // every op is the barrier that proves nothing else (no extra reply, nothing for a
        // closed topic) arrived in between. Its reply may overtake a broadcast, which travels
        // through pub/sub; everything else must come in order.
        next_ref += 1;
        let hb = next_ref.to_string();
        c.send_text(&json!([null, hb, "phoenix", "heartbeat", {}]).to_string())
            .await?;
        let hb_reply = json!([null, hb, "phoenix", "phx_reply", {"response": {}, "status": "ok"}]);
        let mut pending = expected.into_iter().peekable();
        let mut hb_seen = false;
        while !hb_seen || pending.peek().is_some() {
            let got = next_json(&mut c, WAIT).await?;
            if !hb_seen && got == hb_reply {
                hb_seen = true;
            } else if pending.peek() == Some(&got) {
                pending.next();
            } else {
                return Err(format!(
                    "after {op:?}: expected {:?} (or the heartbeat reply), got {got}",
                    pending.peek()
                ));
            }
        }
    }
    Ok(())
}

async fn check_dedupe(target: &Target, numbers: &[i64], times: u32) -> Result<(), String> {
    let url = format!("{}/websocket?vsn=2.0.0", target.socket_url);
    let mut c = RawConn::connect(&url, &phx_client::TlsConfig::default())
        .await
        .map_err(|e| e.to_string())?;
    c.send_text(r#"["1","1","dupe","phx_join",{}]"#).await?;
    next_json(&mut c, WAIT).await?;
    target
        .triggers
        .run(&Action::Dedupe {
            numbers: numbers.to_vec(),
            times,
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut distinct: Vec<i64> = Vec::new();
    for n in numbers {
        if !distinct.contains(n) {
            distinct.push(*n);
        }
    }
    for n in &distinct {
        let got = next_json(&mut c, target.dedupe_window + WAIT).await?;
        let want = json!(["1", null, "dupe", "number", {"value": n}]);
        if got != want {
            return Err(format!("expected {want}, got {got}"));
        }
    }
    // The window is over: nothing more may come (a second window would repeat values).
    match c.next(target.dedupe_window * 2).await {
        Received::Timeout => Ok(()),
        other => Err(format!("extra frame after the window: {other:?}")),
    }
}

fn with_target(f: impl FnOnce(&tokio::runtime::Runtime, &Target)) {
    let rt = support::runtime();
    let target = rt.block_on(support::any_target());
    if let Some(why) = target
        .triggers
        .lacks(phx_conformance::triggers::Capability::Actions)
    {
        panic!(
            "the properties need broadcasts on {}: {why} (give PHX_CONTROL=1, or PHX_ERLANG_NODE and PHX_COOKIE)",
            target.description
        );
    }
    f(&rt, &target);
}

#[test]
fn pushes_get_one_reply_and_closed_topics_stay_silent() {
    with_target(|rt, target| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 24,
            ..ProptestConfig::default()
        });
        runner
            .run(&proptest::collection::vec(op(), 1..25), |ops| {
                rt.block_on(check_ops(target, &ops))
                    .map_err(TestCaseError::fail)
            })
            .expect("property holds");
    });
}

#[test]
fn dedupe_output_is_the_distinct_values_in_first_seen_order() {
    let _dupe = support::shared_topic_lock();
    with_target(|rt, target| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 6,
            ..ProptestConfig::default()
        });
        runner
            .run(
                &(proptest::collection::vec(-5i64..20, 1..12), 1u32..4),
                |(numbers, times)| {
                    rt.block_on(check_dedupe(target, &numbers, times))
                        .map_err(TestCaseError::fail)
                },
            )
            .expect("property holds");
    });
}
