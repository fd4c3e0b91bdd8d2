//! Matching an expected frame (which may hold placeholders) against a received one.
//!
//! Placeholders inside expected JSON strings:
//! - `[token]` matches any Phoenix.Token string;
//! - `[any]` matches any value;
//! - `[node:NAME]` matches any string and binds NAME to it: later uses must see the same value.

use super::normalise::{is_token, TOKEN_PLACEHOLDER};
use serde_json::Value;
use std::collections::BTreeMap;

/// Placeholder bindings made while matching (`NAME` of `[node:NAME]` → the value seen).
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// The bound values, by placeholder (e.g. `[node:server]`).
    pub values: BTreeMap<String, String>,
}

impl Bindings {
    /// `(concrete, placeholder)` pairs for a [`super::normalise::Normaliser`].
    pub fn reversed(&self) -> Vec<(String, String)> {
        self.values
            .iter()
            .map(|(p, v)| (v.clone(), p.clone()))
            .collect()
    }
}

/// True when `actual` matches `expected`; binds placeholders on success.
pub fn matches(expected: &Value, actual: &Value, bindings: &mut Bindings) -> bool {
    let mut trial = bindings.clone();
    if matches_inner(expected, actual, &mut trial) {
        *bindings = trial;
        true
    } else {
        false
    }
}

fn matches_inner(expected: &Value, actual: &Value, b: &mut Bindings) -> bool {
    match (expected, actual) {
        (Value::String(e), _) if e == "[any]" => true,
        (Value::String(e), Value::String(a)) if e == TOKEN_PLACEHOLDER => is_token(a),
        (Value::String(e), Value::String(a)) if e.starts_with("[node:") && e.ends_with(']') => {
            match b.values.get(e) {
                Some(bound) => bound == a,
                // Two placeholders never bind one value: two nodes must have two names.
                None if b.values.values().any(|v| v == a) => false,
                None => {
                    b.values.insert(e.clone(), a.clone());
                    true
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            e.len() == a.len() && e.iter().zip(a).all(|(e, a)| matches_inner(e, a, b))
        }
        (Value::Object(e), Value::Object(a)) => {
            e.len() == a.len()
                && e.iter()
                    .all(|(k, ev)| a.get(k).is_some_and(|av| matches_inner(ev, av, b)))
        }
        _ => expected == actual,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn node_placeholders_bind_once() {
        let mut b = Bindings::default();
        let e = json!(["1", null, "ping", "send_ping", {"from_node": "[node:server]"}]);
        assert!(matches(
            &e,
            &json!(["1", null, "ping", "send_ping", {"from_node": "a@h"}]),
            &mut b
        ));
        assert!(!matches(
            &e,
            &json!(["1", null, "ping", "send_ping", {"from_node": "b@h"}]),
            &mut b
        ));
        assert_eq!(b.values["[node:server]"], "a@h");
        let other = json!({"from_node": "[node:remote]"});
        assert!(!matches(&other, &json!({"from_node": "a@h"}), &mut b));
        assert!(matches(&other, &json!({"from_node": "b@h"}), &mut b));
    }

    #[test]
    fn tokens_and_types_are_checked() {
        let mut b = Bindings::default();
        assert!(matches(
            &json!({"token": "[token]"}),
            &json!({"token": "SFMyNTY.a.b"}),
            &mut b
        ));
        assert!(!matches(
            &json!({"token": "[token]"}),
            &json!({"token": "x"}),
            &mut b
        ));
        assert!(!matches(&json!(["1"]), &json!([1]), &mut b));
        assert!(!matches(&json!({"a": 1}), &json!({"a": 1, "b": 2}), &mut b));
    }
}
