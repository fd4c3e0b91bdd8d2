//! Joining, leaving, replies, stop and crash (the PingChannel and WildcardChannel of the app).

use super::{Scenario, Versions};
use crate::runner::step::build::*;
use crate::runner::step::Step;
use phx_protocol::version::Behaviour;

const UNMATCHED: &str = r#"{"response":{"reason":"unmatched topic"},"status":"error"}"#;

fn unmatched(conn: &str, r: &str, topic: &str) -> Step {
    expect(
        conn,
        &format!(r#"[null,"{r}","{topic}","phx_reply",{UNMATCHED}]"#),
    )
}

/// The channel scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "join_ok",
            name: "joins a channel and replies ok",
            about: "phx_join on a routed topic replies ok, echoing join_ref and ref.",
            tags: &["channels", "join"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.push(close("c1"));
                s
            },
        },
        Scenario {
            id: "unmatched_topic",
            name: "refuses to join a topic no channel matches",
            about: "A join of a topic no route matches gets \"unmatched topic\" with join_ref null; the socket stays open.",
            tags: &["channels", "join"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                vec![
                    connect("c1"),
                    send("c1", r#"["1","1","nope","phx_join",{}]"#),
                    unmatched("c1", "1", "nope"),
                    send("c1", r#"[null,"2","phoenix","heartbeat",{}]"#),
                    expect("c1", r#"[null,"2","phoenix","phx_reply",{"response":{},"status":"ok"}]"#),
                    close("c1"),
                ]
            },
        },
        Scenario {
            id: "push_before_join",
            name: "refuses websocket events that haven't joined",
            about: "A push to a routable topic that was never joined gets \"unmatched topic\", join_ref null even when one was sent.",
            tags: &["channels"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                vec![
                    connect("c1"),
                    send("c1", r#"[null,"2","ping","ping",{}]"#),
                    unmatched("c1", "2", "ping"),
                    send("c1", r#"["77","3","ping","ping",{}]"#),
                    unmatched("c1", "3", "ping"),
                    close("c1"),
                ]
            },
        },
        Scenario {
            id: "reply_ok",
            name: "replies ok with the handler's response",
            about: "PingChannel's handlers reply ok: ping, ping with ack_phrase, ping:<phrase>, and param_ping echoing the payload with sorted keys.",
            tags: &["channels", "replies"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["1","2","ping","ping",{}]"#),
                    expect("c1", r#"["1","2","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    send("c1", r#"["1","3","ping","ping",{"ack_phrase":"hello there"}]"#),
                    expect("c1", r#"["1","3","ping","phx_reply",{"response":{"ping":"hello there"},"status":"ok"}]"#),
                    send("c1", r#"["1","4","ping","ping:hello",{}]"#),
                    expect("c1", r#"["1","4","ping","phx_reply",{"response":{"ping":"hello"},"status":"ok"}]"#),
                    send("c1", r#"["1","6","ping","param_ping",{"error":false,"arr":[1,2],"s":"x"}]"#),
                    expect("c1", r#"["1","6","ping","phx_reply",{"response":{"arr":[1,2],"error":false,"s":"x"},"status":"ok"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "reply_error",
            name: "replies error when the handler returns an error",
            about: "param_ping with {\"error\": true} replies status error with the handler's reason.",
            tags: &["channels", "replies"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["1","7","ping","param_ping",{"error":true}]"#),
                    expect("c1", r#"["1","7","ping","phx_reply",{"response":{"reason":"You asked for this!"},"status":"error"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "no_reply",
            name: "sends nothing for a handler that does not reply",
            about: "pong has {:noreply, socket}: no frame at all; the next push's reply is the next frame.",
            tags: &["channels", "replies"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["1","5","ping","pong",{}]"#),
                    send("c1", r#"["1","6","ping","ping",{}]"#),
                    expect("c1", r#"["1","6","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "stop_close",
            name: "a channel that stops sends its reply then phx_close",
            about: "ding returns {:stop, :shutdown, reply, socket}: the reply, then phx_close with the join_ref in both slots; the topic is then unmatched and the socket stays open.",
            tags: &["channels", "replies"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["1","8","ping","ding",{}]"#),
                    expect("c1", r#"["1","8","ping","phx_reply",{"response":{"msg":"shutting down"},"status":"ok"}]"#),
                    expect("c1", r#"["1","1","ping","phx_close",{}]"#),
                    send("c1", r#"["1","9","ping","ping",{}]"#),
                    unmatched("c1", "9", "ping"),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "crash_error",
            name: "a crashing channel sends phx_error and its topic becomes unmatched",
            about: "An event with no handle_in clause crashes the channel: no reply, then phx_error ({} before 1.8.10, {\"reason\":\"channel_crash\"} from 1.8.10).",
            tags: &["channels", "crash"],
            versions: Versions::depends(&[Behaviour::PhxErrorReason]),
            needs: &[],
            steps: |ctx| {
                let err = if ctx.version.has(Behaviour::PhxErrorReason) {
                    r#"["14","14","ping","phx_error",{"reason":"channel_crash"}]"#
                } else {
                    r#"["14","14","ping","phx_error",{}]"#
                };
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "14"));
                s.extend([
                    send("c1", r#"["14","15","ping","no_such_event",{}]"#),
                    expect("c1", err),
                    send("c1", r#"["14","16","ping","ping",{}]"#),
                    unmatched("c1", "16", "ping"),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "duplicate_join",
            name: "duplicate join event closes existing channel",
            about: "A second join of a joined topic gets its ok reply first, then phx_close for the old join_ref. A push carrying the stale join_ref reaches the new channel before 1.8.3 and is dropped silently from 1.8.3.",
            tags: &["channels", "join"],
            versions: Versions::depends(&[Behaviour::StaleJoinRefDropped]),
            needs: &[],
            steps: |ctx| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "4"));
                s.extend(join_ok("c1", "ping", "5"));
                s.push(expect("c1", r#"["4","4","ping","phx_close",{}]"#));
                s.push(send("c1", r#"["4","6","ping","ping",{}]"#));
                if !ctx.version.has(Behaviour::StaleJoinRefDropped) {
                    s.push(expect("c1", r#"["5","6","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#));
                }
                s.extend([
                    send("c1", r#"["5","7","ping","ping",{}]"#),
                    expect("c1", r#"["5","7","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "leave",
            name: "leaving a channel replies ok then closes it",
            about: "phx_leave gets an ok reply, then phx_close; a later push is unmatched.",
            tags: &["channels", "leave"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "5"));
                s.extend([
                    send("c1", r#"["5","10","ping","phx_leave",{}]"#),
                    expect("c1", r#"["5","10","ping","phx_reply",{"response":{},"status":"ok"}]"#),
                    expect("c1", r#"["5","5","ping","phx_close",{}]"#),
                    send("c1", r#"["5","11","ping","ping",{}]"#),
                    unmatched("c1", "11", "ping"),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "leave_never_joined",
            name: "leaving a topic never joined still replies ok",
            about: "phx_leave of a topic that was never joined gets an ok reply echoing the join_ref.",
            tags: &["channels", "leave"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                vec![
                    connect("c1"),
                    send("c1", r#"["17","17","never","phx_leave",{}]"#),
                    expect("c1", r#"["17","17","never","phx_reply",{"response":{},"status":"ok"}]"#),
                    close("c1"),
                ]
            },
        },
        Scenario {
            id: "wildcard_join",
            name: "wildcard topics join ok, refuse, or report join crashed",
            about: "wild:A:B joins when B = 2A, is refused with {} otherwise, and a raise in join/3 gives \"join crashed\"; the socket stays open.",
            tags: &["channels", "join", "wildcard"],
            versions: Versions::ALL,
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "wild:2:4", "1"));
                s.extend([
                    send("c1", r#"["1","2","wild:2:4","ping",{}]"#),
                    expect("c1", r#"["1","2","wild:2:4","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    send("c1", r#"["3","3","wild:2:5","phx_join",{}]"#),
                    expect("c1", r#"["3","3","wild:2:5","phx_reply",{"response":{},"status":"error"}]"#),
                    send("c1", r#"["4","4","wild:a:b","phx_join",{}]"#),
                    expect("c1", r#"["4","4","wild:a:b","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#),
                    send("c1", r#"[null,"5","phoenix","heartbeat",{}]"#),
                    expect("c1", r#"[null,"5","phoenix","phx_reply",{"response":{},"status":"ok"}]"#),
                    close("c1"),
                ]);
                s
            },
        },
        Scenario {
            id: "leave_join_refs",
            name: "a leave with a mismatched join_ref is ignored",
            about: "phx_leave with another join_ref gets no reply and the channel stays joined. A null join_ref leave is ignored before 1.8.3, leaves from 1.8.12 (COMPAT X2), and in 1.8.3–1.8.11 is dropped like every null join_ref (so is the later null push).",
            tags: &["channels", "leave"],
            versions: Versions::depends(&[Behaviour::StaleJoinRefDropped, Behaviour::NullJoinRefRouted]),
            needs: &[],
            steps: |ctx| {
                let mut s = vec![connect("c1")];
                s.extend(join_ok("c1", "ping", "1"));
                s.extend([
                    send("c1", r#"["9","2","ping","phx_leave",{}]"#),
                    send("c1", r#"["1","3","ping","ping",{}]"#),
                    expect("c1", r#"["1","3","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    send("c1", r#"[null,"4","ping","phx_leave",{}]"#),
                ]);
                let stale = ctx.version.has(Behaviour::StaleJoinRefDropped);
                if stale && !ctx.version.has(Behaviour::NullJoinRefRouted) {
                    // 1.8.3–1.8.11: `existing_join_ref in [join_ref, nil]` drops a null join_ref.
                    s.extend([
                        send("c1", r#"[null,"5","ping","ping",{}]"#),
                        silence("c1", 300),
                        send("c1", r#"["1","6","ping","ping",{}]"#),
                        expect("c1", r#"["1","6","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    ]);
                } else if stale {
                    s.extend([
                        expect("c1", r#"["1","4","ping","phx_reply",{"response":{},"status":"ok"}]"#),
                        expect("c1", r#"["1","1","ping","phx_close",{}]"#),
                        send("c1", r#"[null,"5","ping","ping",{}]"#),
                        unmatched("c1", "5", "ping"),
                    ]);
                } else {
                    s.extend([
                        send("c1", r#"[null,"5","ping","ping",{}]"#),
                        expect("c1", r#"["1","5","ping","phx_reply",{"response":{"ping":"pong"},"status":"ok"}]"#),
                    ]);
                }
                s.push(close("c1"));
                s
            },
        },
        Scenario {
            id: "max_channels",
            name: "refuses the channel past max_channels_per_transport",
            about: "With the default limit of 100, the 101st join gets \"too many channels joined\" and the socket stays open; after a leave a join succeeds. From Phoenix 1.7.24 and 1.8.9 (CVE-2026-56811); 1.7.14 has no limit.",
            tags: &["channels", "join"],
            versions: Versions::requires(Behaviour::MaxChannels),
            needs: &[],
            steps: |_| {
                let mut s = vec![connect("c1")];
                for i in 0..100 {
                    let r = (i + 1).to_string();
                    s.push(send("c1", &format!(r#"["{r}","{r}","ping:{i}","phx_join",{{}}]"#)));
                }
                for i in 0..100 {
                    let r = (i + 1).to_string();
                    s.push(expect("c1", &format!(r#"["{r}","{r}","ping:{i}","phx_reply",{{"response":{{}},"status":"ok"}}]"#)));
                }
                s.extend([
                    send("c1", r#"["101","101","ping:100","phx_join",{}]"#),
                    expect("c1", r#"["101","101","ping:100","phx_reply",{"response":{"reason":"too many channels joined"},"status":"error"}]"#),
                    send("c1", r#"["1","102","ping:0","phx_leave",{}]"#),
                    expect("c1", r#"["1","102","ping:0","phx_reply",{"response":{},"status":"ok"}]"#),
                    expect("c1", r#"["1","1","ping:0","phx_close",{}]"#),
                ]);
                s.extend(join_ok("c1", "ping:100", "103"));
                s.push(close("c1"));
                s
            },
        },
    ]
}
