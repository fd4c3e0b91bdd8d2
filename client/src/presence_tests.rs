use super::*;
use proptest::prelude::*;
use serde_json::json;

fn m(r: &str, extra: Value) -> Value {
    let mut o = extra.as_object().cloned().unwrap_or_default();
    o.insert("phx_ref".into(), json!(r));
    Value::Object(o)
}

#[test]
fn state_then_diffs_as_in_the_basic_recording() {
    let mut s = PresenceSync::new();
    // Own join diff first: held, then the state (which holds it already), then applied again.
    assert!(s
        .handle(
            PRESENCE_DIFF,
            &json!({"joins": {"alice": {"metas": [m("R1", json!({}))]}}, "leaves": {}}),
            Some("1")
        )
        .is_empty());
    assert_eq!(s.pending_diffs(), 1);
    let changes = s.handle(
        PRESENCE_STATE,
        &json!({"alice": {"metas": [m("R1", json!({}))]}}),
        Some("1"),
    );
    assert_eq!(s.pending_diffs(), 0);
    assert!(
        matches!(&changes[0], PresenceChange::Join { key, current: None, .. } if key == "alice")
    );
    assert_eq!(changes.last(), Some(&PresenceChange::Sync));
    assert_eq!(s.state()["alice"].refs(), vec!["R1"]);
    // A second meta under alice, then bob's update (join new ref + leave old).
    s.handle(
        PRESENCE_DIFF,
        &json!({"joins": {"bob": {"metas": [m("R2", json!({}))]}}, "leaves": {}}),
        Some("1"),
    );
    s.handle(
        PRESENCE_DIFF,
        &json!({"joins": {"alice": {"metas": [m("R3", json!({}))]}}, "leaves": {}}),
        Some("1"),
    );
    assert_eq!(s.state()["alice"].refs(), vec!["R1", "R3"]);
    let changes = s.handle(
        PRESENCE_DIFF,
        &json!({"joins": {"bob": {"metas": [m("R4", json!({"phx_ref_prev": "R2", "status": "away"}))]}},
                "leaves": {"bob": {"metas": [m("R2", json!({}))]}}}),
        Some("1"),
    );
    assert_eq!(changes.len(), 3, "{changes:?}");
    assert_eq!(s.state()["bob"].refs(), vec!["R4"]);
    assert_eq!(s.state()["bob"].metas[0]["status"], "away");
    let changes = s.handle(
        PRESENCE_DIFF,
        &json!({"joins": {}, "leaves": {"bob": {"metas": [m("R4", json!({}))]}}}),
        Some("1"),
    );
    assert!(
        matches!(&changes[0], PresenceChange::Leave { key, current, .. } if key == "bob" && current.metas.is_empty())
    );
    assert!(!s.state().contains_key("bob"));
    assert_eq!(
        s.list_by(|k, p| format!("{k}:{}", p.metas.len())),
        vec!["alice:2"]
    );
}

#[test]
fn a_rejoin_holds_diffs_until_the_new_state_and_reports_who_vanished() {
    let mut s = PresenceSync::new();
    s.handle(
        PRESENCE_STATE,
        &json!({"a": {"metas": [m("R1", json!({}))]}, "b": {"metas": [m("R2", json!({}))]}}),
        Some("1"),
    );
    // The channel rejoined with join_ref 3: a diff before the new state waits.
    assert!(s
        .handle(
            PRESENCE_DIFF,
            &json!({"joins": {"c": {"metas": [m("R5", json!({}))]}}, "leaves": {}}),
            Some("3")
        )
        .is_empty());
    let changes = s.handle(
        PRESENCE_STATE,
        &json!({"a": {"metas": [m("R1", json!({}))]}, "d": {"metas": [m("R4", json!({}))]}}),
        Some("3"),
    );
    let leaves: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            PresenceChange::Leave { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let joins: Vec<_> = changes
        .iter()
        .filter_map(|c| match c {
            PresenceChange::Join { key, .. } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(leaves, vec!["b"]);
    assert_eq!(joins, vec!["d", "c"]);
    assert_eq!(s.state().keys().collect::<Vec<_>>(), vec!["a", "c", "d"]);
}

/// Phoenix's side, as phx-server and the Tracker produce it: entries in join order, each
/// change one diff.
#[derive(Default, Clone)]
struct Server {
    entries: Vec<(String, Value)>,
    next: u32,
}

impl Server {
    fn fresh(&mut self) -> String {
        self.next += 1;
        format!("R{}", self.next)
    }

    fn state(&self) -> Value {
        let mut o = Map::new();
        for (k, meta) in &self.entries {
            let e = o.entry(k.clone()).or_insert_with(|| json!({"metas": []}));
            if let Some(a) = e["metas"].as_array_mut() {
                a.push(meta.clone());
            }
        }
        Value::Object(o)
    }

    /// Applies op (kind, key, pick); returns its diff if it changed anything.
    fn op(&mut self, kind: u8, key: u8, pick: usize) -> Option<Value> {
        match kind % 3 {
            0 => {
                let (k, r) = (format!("k{}", key % 4), self.fresh());
                let meta = m(&r, json!({"n": pick}));
                self.entries.push((k.clone(), meta.clone()));
                Some(json!({"joins": {k: {"metas": [meta]}}, "leaves": {}}))
            }
            1 if !self.entries.is_empty() => {
                let i = pick % self.entries.len();
                let r = self.fresh();
                let (k, old) = self.entries[i].clone();
                let prev = old["phx_ref"].clone();
                let new = m(&r, json!({"phx_ref_prev": prev, "status": pick}));
                self.entries[i].1 = new.clone();
                Some(
                    json!({"joins": {k.clone(): {"metas": [new]}}, "leaves": {k: {"metas": [old]}}}),
                )
            }
            2 if !self.entries.is_empty() => {
                let (k, old) = self.entries.remove(pick % self.entries.len());
                Some(json!({"joins": {}, "leaves": {k: {"metas": [old]}}}))
            }
            _ => None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The client subscribes after `sub` ops, the state is taken after `snap` ≥ `sub` ops and
    /// arrives at any position among the diffs from `sub` on (before, among or after them, as
    /// the Tracker's asynchronous diffs allow); optionally the link drops after `cut` ops and the
    /// channel rejoins (new join_ref) with a new subscription and state. The view ends equal to
    /// the server's final state.
    #[test]
    fn any_interleaving_phoenix_can_produce_ends_in_the_final_state(
        ops in prop::collection::vec((0u8..3, 0u8..8, 0usize..64), 0..40),
        sub in 0usize..40, snap_after in 0usize..40, at in 0usize..50,
        rejoin in prop::option::of((0usize..40, 0usize..40, 0usize..50)),
    ) {
        let mut server = Server::default();
        let mut diffs = Vec::new();
        let mut states = Vec::new();
        for (i, (kind, key, pick)) in ops.iter().enumerate() {
            states.push(server.state());
            if let Some(d) = server.op(*kind, *key, *pick) {
                diffs.push((i, d));
            }
        }
        states.push(server.state());
        let n = ops.len();
        let deliver = |client: &mut PresenceSync, sub: usize, snap: usize, at: usize, until: usize, jr: &str| {
            let stream: Vec<&Value> = diffs.iter().filter(|(i, _)| *i >= sub && *i < until).map(|(_, d)| d).collect();
            let at = at % (stream.len() + 1);
            for (j, d) in stream.iter().enumerate() {
                if j == at {
                    client.handle(PRESENCE_STATE, &states[snap], Some(jr));
                }
                client.handle(PRESENCE_DIFF, d, Some(jr));
            }
            if at == stream.len() {
                client.handle(PRESENCE_STATE, &states[snap], Some(jr));
            }
        };
        let sub = sub.min(n);
        let snap = (sub + snap_after).min(n);
        let mut client = PresenceSync::new();
        match rejoin {
            None => deliver(&mut client, sub, snap, at, n, "1"),
            Some((cut, sub2, at2)) => {
                let cut = (sub + cut).min(n);
                // The first join's stream stops at the cut (its state may never have come).
                deliver(&mut client, sub, snap.min(cut), at, cut, "1");
                let sub2 = (cut + sub2).min(n);
                deliver(&mut client, sub2, (sub2 + snap_after).min(n), at2, n, "2");
            }
        }
        prop_assert_eq!(by_ref(client.to_value()), by_ref(server.state()));
    }
}

/// A view with each key's metas sorted by `phx_ref`: the order of metas within a key is not
/// part of a view's identity (phoenix.js appends an updated meta; Phoenix lists in its table's
/// order), the set of metas is.
fn by_ref(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        for p in o.values_mut() {
            if let Some(a) = p["metas"].as_array_mut() {
                a.sort_by(|x, y| x["phx_ref"].as_str().cmp(&y["phx_ref"].as_str()));
            }
        }
    }
    v
}
