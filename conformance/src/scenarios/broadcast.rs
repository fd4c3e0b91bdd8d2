//! Broadcasts: intercepted (handle_out), fastlane, dedupe, and across two nodes.

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use crate::triggers::{Action, Capability, Node};
use serde_json::json;
use std::time::Duration;

fn broadcast(node: Node, topic: &str, event: &str, payload: serde_json::Value) -> Step {
    Step::Trigger(Action::Broadcast {
        node,
        topic: topic.into(),
        event: event.into(),
        payload: payload.into(),
    })
}

/// The broadcast scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "intercept",
            name: "an intercepted broadcast runs handle_out in every subscriber",
            about: "request_ping is intercepted: each subscriber pushes send_ping with its channel's join_ref and from_node, the node hosting its socket.",
            tags: &["broadcast"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions)],
            steps: |_| {
                let mut s = vec![connect("a")];
                s.extend(join_ok("a", "ping", "1"));
                s.push(connect("b"));
                s.extend(join_ok("b", "ping", "7"));
                s.extend([
                    broadcast(Node::A, "ping", "request_ping", json!({})),
                    expect("a", r#"["1",null,"ping","send_ping",{"from_node":"[node:server]"}]"#),
                    expect("b", r#"["7",null,"ping","send_ping",{"from_node":"[node:server]"}]"#),
                    close("a"),
                    close("b"),
                ]);
                s
            },
        },
        Scenario {
            id: "fastlane",
            name: "a plain broadcast goes through fastlane with null refs",
            about: "A broadcast that is not intercepted reaches every subscriber as [null,null,topic,event,payload].",
            tags: &["broadcast"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions)],
            steps: |_| {
                let mut s = vec![connect("a")];
                s.extend(join_ok("a", "ping", "1"));
                s.push(connect("b"));
                s.extend(join_ok("b", "ping", "2"));
                s.extend([
                    broadcast(Node::A, "ping", "plain_event", json!({"n": 1})),
                    expect("a", r#"[null,null,"ping","plain_event",{"n":1}]"#),
                    expect("b", r#"[null,null,"ping","plain_event",{"n":1}]"#),
                    close("a"),
                    close("b"),
                ]);
                s
            },
        },
        Scenario {
            id: "dedupe",
            name: "the dedupe channel pushes each distinct number once per window",
            about: "DedupeChannel.broadcast([1,2,3], 100): 300 broadcasts give exactly 3 pushes, in first-seen order, when the window closes; nothing follows.",
            tags: &["broadcast", "dedupe"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions)],
            steps: |ctx| {
                let within = ctx.dedupe_window + Duration::from_secs(3);
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "dupe", "1"));
                s.extend([
                    Step::Trigger(Action::Dedupe { numbers: vec![1, 2, 3], times: 100 }),
                    expect_within("c1", r#"["1",null,"dupe","number",{"value":1}]"#, within),
                    expect("c1", r#"["1",null,"dupe","number",{"value":2}]"#),
                    expect("c1", r#"["1",null,"dupe","number",{"value":3}]"#),
                    silence("c1", (ctx.dedupe_window.as_millis() as u64).clamp(100, 1500)),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "broadcast_from_node_b",
            name: "a broadcast started on node B reaches subscribers on both nodes",
            about: "As the recordings do (`ctl ping remote`, a plain event on remote): Endpoint.broadcast on node B (--erlang-node-b, or node B's control API) reaches a subscriber on node A and one on node B; handle_out on each reports its own node.",
            tags: &["broadcast", "two-node"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions), Need::Socket(Socket::NodeB)],
            steps: |_| {
                let mut s = vec![connect("a")];
                s.extend(join_ok("a", "ping", "1"));
                s.push(connect_to("c", Socket::NodeB, "vsn=2.0.0", 101));
                s.extend(join_ok("c", "ping", "1"));
                s.extend([
                    broadcast(Node::B, "ping", "request_ping", json!({})),
                    expect("a", r#"["1",null,"ping","send_ping",{"from_node":"[node:server]"}]"#),
                    expect("c", r#"["1",null,"ping","send_ping",{"from_node":"[node:remote]"}]"#),
                    broadcast(Node::B, "ping", "plain_event", json!({"n": 2})),
                    expect("a", r#"[null,null,"ping","plain_event",{"n":2}]"#),
                    expect("c", r#"[null,null,"ping","plain_event",{"n":2}]"#),
                    close("a"),
                    close("c"),
                ]);
                s
            },
        },
        Scenario {
            id: "two_node_broadcast",
            name: "a broadcast on one node reaches subscribers on both, each with its own from_node",
            about: "With two clustered nodes, request_ping broadcast on node A reaches a subscriber on node B too, and handle_out there reports node B's name.",
            tags: &["broadcast", "two-node"],
            versions: Versions::ALL,
            needs: &[Need::Trigger(Capability::Actions), Need::Socket(Socket::NodeB)],
            steps: |_| {
                let mut s = vec![connect("a")];
                s.extend(join_ok("a", "ping", "1"));
                s.push(connect_to("c", Socket::NodeB, "vsn=2.0.0", 101));
                s.extend(join_ok("c", "ping", "1"));
                s.extend([
                    broadcast(Node::A, "ping", "request_ping", json!({})),
                    expect("a", r#"["1",null,"ping","send_ping",{"from_node":"[node:server]"}]"#),
                    expect("c", r#"["1",null,"ping","send_ping",{"from_node":"[node:remote]"}]"#),
                    broadcast(Node::A, "ping", "plain_event", json!({"n": 1})),
                    expect("a", r#"[null,null,"ping","plain_event",{"n":1}]"#),
                    expect("c", r#"[null,null,"ping","plain_event",{"n":1}]"#),
                    close("a"),
                    close("c"),
                ]);
                s
            },
        },
    ]
}
