//! Heartbeats on the reserved `phoenix` topic.

use super::{Scenario, Versions};
use crate::runner::step::build::*;

/// The heartbeat scenarios.
pub fn scenarios() -> Vec<Scenario> {
    vec![Scenario {
        id: "heartbeat",
        name: "replies to heartbeats on the phoenix topic",
        about:
            "A heartbeat on \"phoenix\" gets an ok reply with join_ref null, before and after a \
                channel is joined (fixtures heartbeat.jsonl).",
        tags: &["heartbeat"],
        versions: Versions::ALL,
        needs: &[],
        steps: |_| {
            let mut s = vec![
                connect("c1"),
                send("c1", r#"[null,"1","phoenix","heartbeat",{}]"#),
                expect(
                    "c1",
                    r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
                ),
            ];
            s.extend(join_ok("c1", "ping", "2"));
            s.extend([
                send("c1", r#"["2","3","phoenix","heartbeat",{"ignored":true}]"#),
                expect(
                    "c1",
                    r#"[null,"3","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
                ),
                close("c1"),
            ]);
            s
        },
    }]
}
