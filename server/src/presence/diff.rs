//! A presence diff: the `presence_diff` payload, `{"joins": {key: {"metas": [...]}}, "leaves": …}`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

/// One meta as sent: `phx_ref`, optionally `phx_ref_prev`, then the app's keys.
pub type Meta = Map<String, Value>;

/// The joins and leaves of one change on one topic, keyed by presence key (sorted, as Phoenix
/// writes them), metas in the order they joined.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Diff {
    /// Metas that appeared, by key.
    pub joins: BTreeMap<String, Vec<Meta>>,
    /// Metas that went away, by key.
    pub leaves: BTreeMap<String, Vec<Meta>>,
}

impl Diff {
    /// True when nothing joined or left.
    pub fn is_empty(&self) -> bool {
        self.joins.is_empty() && self.leaves.is_empty()
    }

    /// Adds a joined meta under `key`.
    pub fn join(&mut self, key: &str, meta: Meta) {
        self.joins.entry(key.to_owned()).or_default().push(meta);
    }

    /// Adds a meta that left under `key`.
    pub fn leave(&mut self, key: &str, meta: Meta) {
        self.leaves.entry(key.to_owned()).or_default().push(meta);
    }

    /// Appends `other` (a later change) to this diff.
    pub fn extend(&mut self, other: Diff) {
        for (k, metas) in other.joins {
            self.joins.entry(k).or_default().extend(metas);
        }
        for (k, metas) in other.leaves {
            self.leaves.entry(k).or_default().extend(metas);
        }
    }

    /// The `presence_diff` payload.
    pub fn to_payload(&self) -> Value {
        json!({"joins": metas_by_key(&self.joins), "leaves": metas_by_key(&self.leaves)})
    }
}

/// `{key: {"metas": [...]}}`, the shape of both `presence_state` and each half of a diff.
pub fn metas_by_key<'a>(entries: impl IntoIterator<Item = (&'a String, &'a Vec<Meta>)>) -> Value {
    let mut out = Map::new();
    for (key, metas) in entries {
        let metas: Vec<Value> = metas.iter().cloned().map(Value::Object).collect();
        out.insert(key.clone(), json!({ "metas": metas }));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_diff_has_the_key_in_both_halves() {
        let mut d = Diff::default();
        let new = json!({"phx_ref": "B", "phx_ref_prev": "A", "status": "away"});
        let old = json!({"phx_ref": "A"});
        d.join("bob", new.as_object().cloned().unwrap_or_default());
        d.leave("bob", old.as_object().cloned().unwrap_or_default());
        assert_eq!(
            d.to_payload(),
            json!({"joins": {"bob": {"metas": [new]}}, "leaves": {"bob": {"metas": [old]}}})
        );
        assert!(!d.is_empty());
        assert!(Diff::default().is_empty());
        assert_eq!(
            Diff::default().to_payload(),
            json!({"joins": {}, "leaves": {}})
        );
    }
}
