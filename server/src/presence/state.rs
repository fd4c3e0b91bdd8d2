//! The presences of one node's view, sans-IO: every operation returns the [`Diff`] it caused,
//! and the caller broadcasts it.
//!
//! Identity follows Phoenix.Tracker: an entry is (owner, topic, key); its meta carries the
//! `phx_ref` minted when it was tracked; an update replaces the meta with a new `phx_ref` and
//! `phx_ref_prev` = the old one, and reports the old meta as a leave and the new as a join.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use serde_json::Value;

use super::diff::{metas_by_key, Diff, Meta};

/// Who owns a presence: a tracked channel on some node (Phoenix: a pid).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Owner {
    /// The owning node's key (name plus incarnation).
    pub node: String,
    /// Unique on that node.
    pub id: u64,
}

/// One tracked presence.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// Who tracks it.
    pub owner: Owner,
    /// The presence key (`user_id`).
    pub key: String,
    /// The meta, with `phx_ref` (and `phx_ref_prev` after an update).
    pub meta: Meta,
}

impl Entry {
    /// The entry's `phx_ref`.
    pub fn phx_ref(&self) -> &str {
        self.meta
            .get("phx_ref")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Every topic's entries, in the order they joined.
#[derive(Debug, Default)]
pub struct PresenceState {
    topics: HashMap<String, Vec<Entry>>,
}

impl PresenceState {
    /// Adds an entry; the diff is its join.
    pub fn join(&mut self, topic: &str, entry: Entry) -> Diff {
        let mut diff = Diff::default();
        diff.join(&entry.key, entry.meta.clone());
        self.topics.entry(topic.to_owned()).or_default().push(entry);
        diff
    }

    /// Replaces the meta of `owner`'s entry under `key` with `meta` (which carries the new
    /// `phx_ref`); the diff leaves the old meta and joins the new. Empty when there is no such
    /// entry (Phoenix: `{:error, :nopresence}`).
    pub fn update(&mut self, topic: &str, owner: &Owner, key: &str, meta: Meta) -> Diff {
        let mut diff = Diff::default();
        let Some(entry) = self
            .topics
            .get_mut(topic)
            .and_then(|es| es.iter_mut().find(|e| &e.owner == owner && e.key == key))
        else {
            return diff;
        };
        let old = std::mem::replace(&mut entry.meta, meta);
        diff.join(key, entry.meta.clone());
        diff.leave(key, old);
        diff
    }

    /// The current meta of `owner`'s entry under `key`.
    pub fn meta(&self, topic: &str, owner: &Owner, key: &str) -> Option<&Meta> {
        self.topics
            .get(topic)?
            .iter()
            .find(|e| &e.owner == owner && e.key == key)
            .map(|e| &e.meta)
    }

    /// Removes `owner`'s entry under `key`; the diff is its leave (empty if it was not there).
    pub fn leave(&mut self, topic: &str, owner: &Owner, key: &str) -> Diff {
        let mut diff = Diff::default();
        if let Some(es) = self.topics.get_mut(topic) {
            if let Some(i) = es.iter().position(|e| &e.owner == owner && e.key == key) {
                let e = es.remove(i);
                diff.leave(&e.key, e.meta);
            }
            if es.is_empty() {
                self.topics.remove(topic);
            }
        }
        diff
    }

    /// Removes every entry of `node`: one leave diff per topic that had any.
    pub fn remove_node(&mut self, node: &str) -> Vec<(String, Diff)> {
        self.replace_node(node, Vec::new())
    }

    /// Makes `node`'s entries exactly `entries` (`(topic, entry)`, e.g. a state that node sent):
    /// entries that vanished leave, new ones join, one diff per changed topic. An entry that is
    /// still there with the same `phx_ref` is left alone (no diff).
    pub fn replace_node(
        &mut self,
        node: &str,
        entries: Vec<(String, Entry)>,
    ) -> Vec<(String, Diff)> {
        let mut diffs: BTreeMap<String, Diff> = BTreeMap::new();
        let wanted: std::collections::HashSet<(String, String)> = entries
            .iter()
            .map(|(t, e)| (t.clone(), e.phx_ref().to_owned()))
            .collect();
        let mut present = std::collections::HashSet::new();
        self.topics.retain(|topic, es| {
            es.retain(|e| {
                if e.owner.node != node {
                    return true;
                }
                if wanted.contains(&(topic.clone(), e.phx_ref().to_owned())) {
                    present.insert((topic.clone(), e.phx_ref().to_owned()));
                    return true;
                }
                diffs
                    .entry(topic.clone())
                    .or_default()
                    .leave(&e.key, e.meta.clone());
                false
            });
            !es.is_empty()
        });
        for (topic, entry) in entries {
            if entry.owner.node != node
                || present.contains(&(topic.clone(), entry.phx_ref().to_owned()))
            {
                continue;
            }
            let d = self.join(&topic, entry);
            diffs.entry(topic).or_default().extend(d);
        }
        diffs.into_iter().filter(|(_, d)| !d.is_empty()).collect()
    }

    /// `node`'s entries, for a state message.
    pub fn entries_of(&self, node: &str) -> Vec<(String, Entry)> {
        let mut out = Vec::new();
        for (topic, es) in &self.topics {
            out.extend(
                es.iter()
                    .filter(|e| e.owner.node == node)
                    .map(|e| (topic.clone(), e.clone())),
            );
        }
        out
    }

    /// A cheap fingerprint of `node`'s entries (count, hash of topics and refs, order-free),
    /// so that two views can tell they differ without sending the entries.
    pub fn digest(&self, node: &str) -> (u64, u64) {
        let (mut count, mut sum) = (0u64, 0u64);
        for (topic, es) in &self.topics {
            for e in es.iter().filter(|e| e.owner.node == node) {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                (topic, e.phx_ref()).hash(&mut h);
                count += 1;
                sum = sum.wrapping_add(h.finish());
            }
        }
        (count, sum)
    }

    /// `Presence.list(topic)`: `{key: {"metas": [...]}}`, metas in join order.
    pub fn list(&self, topic: &str) -> Value {
        let mut by_key: BTreeMap<String, Vec<Meta>> = BTreeMap::new();
        for e in self.topics.get(topic).into_iter().flatten() {
            by_key
                .entry(e.key.clone())
                .or_default()
                .push(e.meta.clone());
        }
        metas_by_key(&by_key)
    }

    /// Presences on `topic`.
    pub fn count(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, Vec::len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn meta(v: Value) -> Meta {
        v.as_object().cloned().unwrap_or_default()
    }

    fn entry(node: &str, id: u64, key: &str, r: &str) -> Entry {
        Entry {
            owner: Owner {
                node: node.into(),
                id,
            },
            key: key.into(),
            meta: meta(json!({"phx_ref": r})),
        }
    }

    #[test]
    fn two_metas_under_one_key_list_in_join_order_and_leave_one_by_one() {
        let mut s = PresenceState::default();
        s.join("t", entry("a", 1, "alice", "R1"));
        s.join("t", entry("a", 2, "bob", "R2"));
        let d = s.join("t", entry("a", 3, "alice", "R3"));
        assert_eq!(
            d.to_payload(),
            json!({"joins": {"alice": {"metas": [{"phx_ref": "R3"}]}}, "leaves": {}})
        );
        assert_eq!(
            s.list("t"),
            json!({"alice": {"metas": [{"phx_ref": "R1"}, {"phx_ref": "R3"}]}, "bob": {"metas": [{"phx_ref": "R2"}]}})
        );
        let owner3 = Owner {
            node: "a".into(),
            id: 3,
        };
        let d = s.leave("t", &owner3, "alice");
        assert_eq!(
            d.to_payload(),
            json!({"joins": {}, "leaves": {"alice": {"metas": [{"phx_ref": "R3"}]}}})
        );
        assert!(s.leave("t", &owner3, "alice").is_empty());
        assert_eq!(s.count("t"), 2);
        assert_eq!(s.list("other"), json!({}));
    }

    #[test]
    fn an_update_leaves_the_old_meta_and_joins_the_new() {
        let mut s = PresenceState::default();
        s.join("t", entry("a", 1, "bob", "R1"));
        let owner = Owner {
            node: "a".into(),
            id: 1,
        };
        let new = meta(json!({"phx_ref": "R2", "phx_ref_prev": "R1", "status": "away"}));
        let d = s.update("t", &owner, "bob", new.clone());
        assert_eq!(d.joins["bob"], vec![new.clone()]);
        assert_eq!(d.leaves["bob"], vec![meta(json!({"phx_ref": "R1"}))]);
        assert_eq!(s.meta("t", &owner, "bob"), Some(&new));
        let stranger = Owner {
            node: "a".into(),
            id: 9,
        };
        assert!(s.update("t", &stranger, "bob", Meta::new()).is_empty());
    }

    #[test]
    fn replacing_a_nodes_entries_reports_only_what_changed() {
        let mut s = PresenceState::default();
        s.join("t", entry("b", 1, "bob", "R1"));
        s.join("t", entry("b", 2, "carol", "R2"));
        s.join("t", entry("a", 1, "alice", "R3"));
        let before = s.digest("b");
        let diffs = s.replace_node(
            "b",
            vec![
                ("t".into(), entry("b", 1, "bob", "R1")),
                ("u".into(), entry("b", 3, "dave", "R4")),
            ],
        );
        assert_eq!(diffs.len(), 2);
        assert_eq!(diffs[0].0, "t");
        assert_eq!(
            diffs[0].1.to_payload(),
            json!({"joins": {}, "leaves": {"carol": {"metas": [{"phx_ref": "R2"}]}}})
        );
        assert_eq!(
            diffs[1].1.to_payload(),
            json!({"joins": {"dave": {"metas": [{"phx_ref": "R4"}]}}, "leaves": {}})
        );
        assert_ne!(s.digest("b"), before);
        let gone = s.remove_node("b");
        assert_eq!(gone.len(), 2);
        assert_eq!(
            s.list("t"),
            json!({"alice": {"metas": [{"phx_ref": "R3"}]}})
        );
        assert_eq!(s.digest("b"), (0, 0));
    }
}
