//! Presence across three phx-server processes on a real redis-server: every client sees every
//! join, update and leave; a late node gets the current state; after `kill -9` of a node the
//! others' clients see its members leave within the documented timeout
//! (`presence::cluster::NODE_TIMEOUT` plus one `BEAT`); after a Redis restart all views agree.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use super::node::Node;
use super::redis_server::RedisServer;
use super::ws::{Got, Ws};

/// phx-server's node timeout (3 s) plus a heartbeat period (0.5 s).
const LEAVE_BOUND: Duration = Duration::from_millis(3500);

/// A raw client on `presence:lobby` with a view: phx_ref → (key, meta).
struct Member {
    ws: Ws,
    view: BTreeMap<String, (String, Value)>,
}

impl Member {
    async fn join(node: &Node, user: &str) -> Member {
        let mut ws = Ws::connect(&node.ws_url("/socket/websocket?vsn=2.0.0")).await;
        ws.send(&format!(
            r#"["1","1","presence:lobby","phx_join",{{"user_id":"{user}","device":"{}"}}]"#,
            node.name
        ))
        .await;
        let mut m = Member {
            ws,
            view: BTreeMap::new(),
        };
        // The reply, the own join diff, then the state.
        m.until("its presence_state", Duration::from_secs(10), |m| {
            m.keys().contains(&user.to_owned())
        })
        .await;
        m
    }

    fn apply(&mut self, frame: &Value) {
        let (event, payload) = (frame[3].as_str().unwrap_or(""), &frame[4]);
        let metas = |v: &Value| -> Vec<(String, String, Value)> {
            let mut out = Vec::new();
            for (k, p) in v.as_object().into_iter().flatten() {
                for m in p["metas"].as_array().into_iter().flatten() {
                    out.push((
                        m["phx_ref"].as_str().unwrap_or("").to_owned(),
                        k.clone(),
                        m.clone(),
                    ));
                }
            }
            out
        };
        match event {
            "presence_state" => {
                self.view = metas(payload)
                    .into_iter()
                    .map(|(r, k, m)| (r, (k, m)))
                    .collect();
            }
            "presence_diff" => {
                for (r, k, m) in metas(&payload["joins"]) {
                    self.view.insert(r, (k, m));
                }
                for (r, _, _) in metas(&payload["leaves"]) {
                    self.view.remove(&r);
                }
            }
            _ => {}
        }
    }

    fn keys(&self) -> Vec<String> {
        let mut k: Vec<String> = self.view.values().map(|(k, _)| k.clone()).collect();
        k.sort();
        k.dedup();
        k
    }

    /// Reads frames until `done` holds; panics after `within`.
    async fn until(
        &mut self,
        what: &str,
        within: Duration,
        done: impl Fn(&Member) -> bool,
    ) -> Duration {
        let start = Instant::now();
        let deadline = start + within;
        while !done(self) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.ws.next(left).await {
                Got::Text(t) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.apply(&v);
                }
                other => panic!("{what}: view {:?} ({other:?})", self.keys()),
            }
        }
        start.elapsed()
    }
}

fn users(n: &[&str]) -> Vec<String> {
    n.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_presence_survive_a_kill_and_a_redis_restart() {
    let Some(mut redis) = RedisServer::start("presence").await else {
        return;
    };
    let url = redis.url();
    let (a, b, mut c) = tokio::join!(
        Node::start("a@127.0.0.1", "1.8", &url, &[]),
        Node::start("b@127.0.0.1", "1.8", &url, &[]),
        Node::start("c@127.0.0.1", "1.8", &url, &[]),
    );
    let wait = Duration::from_secs(10);
    let mut ma = Member::join(&a, "ann").await;
    let mut mb = Member::join(&b, "ben").await;
    let mut mc = Member::join(&c, "cat").await;
    let all = users(&["ann", "ben", "cat"]);
    for m in [&mut ma, &mut mb, &mut mc] {
        m.until("every join", wait, |m| m.keys() == all).await;
    }

    // An update on node B: one new ref with phx_ref_prev and the status, everywhere.
    mb.ws
        .send(r#"["1","2","presence:lobby","update",{"status":"away"}]"#)
        .await;
    for m in [&mut ma, &mut mb, &mut mc] {
        m.until("ben's update", wait, |m| {
            m.view.values().any(|(k, meta)| {
                k == "ben" && meta["status"] == "away" && meta["phx_ref_prev"].is_string()
            }) && m.view.len() == 3
        })
        .await;
    }

    // A late node gets the current state.
    let d = Node::start("d@127.0.0.1", "1.8", &url, &[]).await;
    let mut md = Member::join(&d, "dan").await;
    let four = users(&["ann", "ben", "cat", "dan"]);
    md.until("the late node's view", wait, |m| m.keys() == four)
        .await;
    for m in [&mut ma, &mut mb, &mut mc] {
        m.until("dan's join", wait, |m| m.keys() == four).await;
    }

    // A leave through phx_leave on node D.
    md.ws
        .send(r#"["1","2","presence:lobby","phx_leave",{}]"#)
        .await;
    for m in [&mut ma, &mut mb, &mut mc] {
        m.until("dan's leave", wait, |m| m.keys() == all).await;
    }

    // kill -9 of node C: its member leaves everyone else's view within the bound.
    c.kill9().await;
    let killed = Instant::now();
    let two = users(&["ann", "ben"]);
    ma.until(
        "cat leaves after the kill",
        LEAVE_BOUND + Duration::from_secs(2),
        |m| m.keys() == two,
    )
    .await;
    let seen_a = killed.elapsed();
    mb.until(
        "cat leaves after the kill",
        LEAVE_BOUND + Duration::from_secs(2),
        |m| m.keys() == two,
    )
    .await;
    let seen_b = killed.elapsed();
    eprintln!(
        "presence: after kill -9, the leave reached node A in {seen_a:?}, node B in {seen_b:?}"
    );
    assert!(
        seen_a <= LEAVE_BOUND + Duration::from_millis(500),
        "{seen_a:?}"
    );
    assert!(
        seen_b <= LEAVE_BOUND + Duration::from_millis(500),
        "{seen_b:?}"
    );
    drop(mc);

    // A Redis outage: ann updates while Redis is down, so ben's node misses the delta; after
    // the restart the heartbeat digests differ, ben's node asks for A's state, and the views
    // agree again.
    redis.kill().await;
    ma.ws
        .send(r#"["1","2","presence:lobby","update",{"status":"offline"}]"#)
        .await;
    let offline = |m: &Member| {
        m.view
            .values()
            .any(|(k, meta)| k == "ann" && meta["status"] == "offline")
            && m.keys() == two
    };
    ma.until("ann's own update during the outage", wait, offline)
        .await;
    redis.restart().await;
    let healed = mb
        .until(
            "ben's view after the Redis restart",
            Duration::from_secs(30),
            offline,
        )
        .await;
    eprintln!("presence: views agreed {healed:?} after redis-server came back");
    // And the backplane carries deltas again.
    ma.ws
        .send(r#"["1","3","presence:lobby","update",{"status":"back"}]"#)
        .await;
    let back = |m: &Member| {
        m.view
            .values()
            .any(|(k, meta)| k == "ann" && meta["status"] == "back")
            && m.keys() == two
    };
    mb.until("an update after the restart", Duration::from_secs(30), back)
        .await;
    ma.until("ann's own update", wait, back).await;
    assert_eq!(
        ma.view.keys().collect::<Vec<_>>(),
        mb.view.keys().collect::<Vec<_>>()
    );
}
