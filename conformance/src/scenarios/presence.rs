//! Presence: the HelloSockets `PresenceChannel` on `presence:*` (`fixtures/presence-README.md`).
//! Refs are random, so every `phx_ref` is written `[ref:Rn]`: bound at first sight, the same
//! value wherever it recurs, and two refs never one value. The frames that Phoenix 1.8.12 was
//! seen to deliver in either order (the own join diff and `presence_state`, an update's reply and
//! its diff) are accepted in either order on 1.8 and only in the 1.7.14 order on 1.7. Because
//! 1.8.12 sometimes sends a leaver its own leave diff after `phx_close`, the 1.8 steps leave by
//! closing the socket; the 1.7 steps also check that a `phx_leave` gets no own leave diff.

use super::{Need, Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::{Socket, Step};
use crate::target::PhoenixVersion;
use std::time::Duration;

const TOPIC: &str = "presence:lobby";
/// Cross-node diffs arrive within the Tracker's 1.5 s broadcast period (42–1466 ms recorded).
const CROSS_NODE: Duration = Duration::from_millis(1600);

fn meta(r: &str, device: &str, extra: &str) -> String {
    format!(r#"{{"phx_ref":"[ref:{r}]"{extra},"device":"{device}","online_at":"0"}}"#)
}

fn diff(joins: &str, leaves: &str) -> String {
    format!(
        r#"[null,null,"{TOPIC}","presence_diff",{{"joins":{{{joins}}},"leaves":{{{leaves}}}}}]"#
    )
}

fn key(k: &str, metas: &[String]) -> String {
    format!(r#""{k}":{{"metas":[{}]}}"#, metas.join(","))
}

fn reordered(ctx: &super::Ctx) -> bool {
    ctx.version >= PhoenixVersion::new(1, 8, 0)
}

/// `conn` joins as `user` from `device` (join_ref "1"): the reply, then its own join diff and
/// `presence_state` (`state` is the state's keys).
fn join(ctx: &super::Ctx, conn: &str, user: &str, device: &str, r: &str, state: &str) -> Vec<Step> {
    let own = diff(&key(user, &[meta(r, device, "")]), "");
    let state = format!(r#"["1",null,"{TOPIC}","presence_state",{{{state}}}]"#);
    let mut s = vec![
        send(
            conn,
            &format!(
                r#"["1","1","{TOPIC}","phx_join",{{"user_id":"{user}","device":"{device}"}}]"#
            ),
        ),
        expect(
            conn,
            &format!(r#"["1","1","{TOPIC}","phx_reply",{{"response":{{}},"status":"ok"}}]"#),
        ),
    ];
    if reordered(ctx) {
        s.push(expect_unordered(conn, &[&own, &state]));
    } else {
        s.extend([expect(conn, &own), expect(conn, &state)]);
    }
    s
}

/// `conn` updates its status: the reply and the diff (new ref `new`, previous `old`).
fn update(
    ctx: &super::Ctx,
    conn: &str,
    user: &str,
    device: &str,
    old: &str,
    new: &str,
) -> (Vec<Step>, String) {
    let d = diff(
        &key(
            user,
            &[meta(
                new,
                device,
                &format!(r#","phx_ref_prev":"[ref:{old}]","status":"away""#),
            )],
        ),
        &key(user, &[meta(old, device, "")]),
    );
    let reply = format!(r#"["1","2","{TOPIC}","phx_reply",{{"response":{{}},"status":"ok"}}]"#);
    let mut s = vec![send(
        conn,
        &format!(r#"["1","2","{TOPIC}","update",{{"status":"away"}}]"#),
    )];
    if reordered(ctx) {
        s.push(expect_unordered(conn, &[&reply, &d]));
    } else {
        s.extend([expect(conn, &reply), expect(conn, &d)]);
    }
    (s, d)
}

/// The presence scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "presence",
            name: "presence tracks joins, a second meta under one key, an update and leaves",
            about: "presence_basic.jsonl: the joiner gets its own join diff and presence_state; others get only the new meta; an update is one diff with a new phx_ref, phx_ref_prev and the old meta leaving; a socket close (and on 1.7 a phx_leave) leaves with the current meta.",
            tags: &["presence"],
            versions: Versions::ALL,
            needs: &[],
            steps: |ctx| {
                let alice = key("alice", &[meta("R1", "web", "")]);
                let mut s = vec![connect("a")];
                s.extend(join(ctx, "a", "alice", "web", "R1", &alice));
                s.push(connect("b"));
                let bob = key("bob", &[meta("R2", "phone", "")]);
                s.extend(join(ctx, "b", "bob", "phone", "R2", &format!("{alice},{bob}")));
                s.push(expect("a", &diff(&bob, "")));
                s.push(connect("c"));
                let both = key("alice", &[meta("R1", "web", ""), meta("R3", "tablet", "")]);
                s.extend(join(ctx, "c", "alice", "tablet", "R3", &format!("{both},{bob}")));
                let tablet = diff(&key("alice", &[meta("R3", "tablet", "")]), "");
                s.extend([expect("a", &tablet), expect("b", &tablet)]);
                let (steps, d) = update(ctx, "b", "bob", "phone", "R2", "R4");
                s.extend(steps);
                s.extend([expect("a", &d), expect("c", &d)]);
                let tablet_left = diff("", &key("alice", &[meta("R3", "tablet", "")]));
                if reordered(ctx) {
                    s.push(close("c"));
                } else {
                    s.extend([
                        send("c", &format!(r#"["1","2","{TOPIC}","phx_leave",{{}}]"#)),
                        expect("c", &format!(r#"["1","2","{TOPIC}","phx_reply",{{"response":{{}},"status":"ok"}}]"#)),
                        expect("c", &format!(r#"["1","1","{TOPIC}","phx_close",{{}}]"#)),
                        silence("c", 200),
                        close("c"),
                    ]);
                }
                s.extend([expect("a", &tablet_left), expect("b", &tablet_left)]);
                s.push(close("b"));
                s.push(expect(
                    "a",
                    &diff("", &key("bob", &[meta("R4", "phone", r#","phx_ref_prev":"[ref:R2]","status":"away""#)])),
                ));
                s.push(close("a"));
                s
            },
        },
        Scenario {
            id: "presence_errors",
            name: "presence needs a user_id and keeps topics apart",
            about: "presence_errors.jsonl: a join without user_id is refused with {\"reason\":\"user_id required\"}; a member of presence:other is never seen on presence:lobby.",
            tags: &["presence"],
            versions: Versions::ALL,
            needs: &[],
            steps: |ctx| {
                let mut s = vec![
                    connect("a"),
                    send("a", &format!(r#"["9","9","{TOPIC}","phx_join",{{"device":"web"}}]"#)),
                    expect("a", &format!(r#"["9","9","{TOPIC}","phx_reply",{{"response":{{"reason":"user_id required"}},"status":"error"}}]"#)),
                ];
                s.extend(join(ctx, "a", "alice", "web", "R1", &key("alice", &[meta("R1", "web", "")])));
                s.extend([
                    connect("b"),
                    send("b", r#"["1","1","presence:other","phx_join",{"user_id":"carol"}]"#),
                    expect("b", r#"["1","1","presence:other","phx_reply",{"response":{},"status":"ok"}]"#),
                ]);
                let own = r#"[null,null,"presence:other","presence_diff",{"joins":{"carol":{"metas":[{"phx_ref":"[ref:R2]","device":null,"online_at":"0"}]}},"leaves":{}}]"#;
                let state = r#"["1",null,"presence:other","presence_state",{"carol":{"metas":[{"phx_ref":"[ref:R2]","device":null,"online_at":"0"}]}}]"#;
                if reordered(ctx) {
                    s.push(expect_unordered("b", &[own, state]));
                } else {
                    s.extend([expect("b", own), expect("b", state)]);
                }
                s.extend([silence("a", 300), close("b"), silence("a", 300), close("a")]);
                s
            },
        },
        Scenario {
            id: "presence_cluster",
            name: "presence crosses nodes within the Tracker's broadcast period",
            about: "presence_cluster.jsonl: node B's member is in node A's diffs and node A's member in node B's presence_state; cross-node diffs are accepted at any delay up to 1.6 s (the Tracker's 1.5 s broadcast period).",
            tags: &["presence", "cluster"],
            versions: Versions::ALL,
            needs: &[Need::Socket(Socket::NodeB)],
            steps: |ctx| {
                let alice = key("alice", &[meta("R1", "web", "")]);
                let mut s = vec![connect("a")];
                s.extend(join(ctx, "a", "alice", "web", "R1", &alice));
                s.push(connect_to("b", Socket::NodeB, "vsn=2.0.0", 101));
                let bob = key("bob", &[meta("R2", "phone", "")]);
                // Node B may learn of alice only just now: its state is taken when it is.
                s.extend(join(ctx, "b", "bob", "phone", "R2", &format!("{alice},{bob}")));
                s.push(expect_within("a", &diff(&bob, ""), CROSS_NODE));
                let (steps, d) = update(ctx, "b", "bob", "phone", "R2", "R3");
                s.extend(steps);
                s.push(expect_within("a", &d, CROSS_NODE));
                s.push(close("b"));
                s.push(expect_within(
                    "a",
                    &diff("", &key("bob", &[meta("R3", "phone", r#","phx_ref_prev":"[ref:R2]","status":"away""#)])),
                    CROSS_NODE,
                ));
                s.push(close("a"));
                s
            },
        },
    ]
}
