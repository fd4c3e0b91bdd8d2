//! Matching an expected frame (which may hold placeholders) against a received one.
//!
//! Placeholders inside expected JSON strings (conformance/TRANSCRIPTS.md has the full list):
//! - `[token]` matches any Phoenix.Token string;
//! - `[any]` matches any value; inside a longer string it matches any text (`"v[any]"` matches
//!   `"v1.2"`);
//! - `[any:TYPE]` matches any value of a type: `string`, `number`, `integer`, `bool`, `null`,
//!   `object`, `array`;
//! - `[NAME:ID]` (NAME lowercase letters, digits and `_`, not `any`) is a capture: it matches any
//!   string, number or bool and binds to it; later uses must see the same value, and two
//!   captures never bind one value. `[node:server]`, a presence `[ref:R1]` and the `[ref:1]` a
//!   `=> [ref]` redaction writes are captures: the identity of each value is compared, not the
//!   value.
//!
//! [`race`] decides which orders of a pipelined `phx_leave` + `phx_join` are valid.

use super::normalise::{is_token, TOKEN_PLACEHOLDER};
use serde_json::Value;
use std::collections::BTreeMap;

/// Placeholder bindings made while matching (`[node:NAME]` → the value seen).
#[derive(Clone, Debug, Default)]
pub struct Bindings {
    /// The bound string values, by placeholder (e.g. `[node:server]`).
    pub values: BTreeMap<String, String>,
    /// Captures bound to numbers or bools, by placeholder.
    pub scalars: BTreeMap<String, Value>,
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

/// The type of a `[any:TYPE]` placeholder.
fn typed(e: &str) -> Option<&str> {
    e.strip_prefix("[any:")?.strip_suffix(']')
}

/// True when `e` is a capture `[NAME:ID]`.
pub fn is_capture(e: &str) -> bool {
    let Some((name, id)) = e
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .and_then(|x| x.split_once(':'))
    else {
        return false;
    };
    name != "any"
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !id.is_empty()
        && !id.contains(['[', ']', '"'])
}

/// True when `e` is any placeholder this module interprets (a string to leave alone when
/// renaming recorded values).
pub fn is_placeholder(e: &str) -> bool {
    e == "[any]" || e == TOKEN_PLACEHOLDER || typed(e).is_some() || is_capture(e)
}

/// `"a[any]b"`: the literal parts must appear in order, `[any]` stands for any text.
fn template(e: &str, a: &str) -> bool {
    let parts: Vec<&str> = e.split("[any]").collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !a.starts_with(first) || a.len() < first.len() + last.len() || !a.ends_with(last) {
        return false;
    }
    let mut rest = &a[first.len()..a.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn capture(e: &str, actual: &Value, b: &mut Bindings) -> bool {
    match actual {
        Value::String(a) => match b.values.get(e) {
            Some(bound) => bound == a,
            // Two placeholders never bind one value: two nodes must have two names.
            None if b.values.values().any(|v| v == a) || b.scalars.contains_key(e) => false,
            None => {
                b.values.insert(e.to_owned(), a.clone());
                true
            }
        },
        Value::Number(_) | Value::Bool(_) => match b.scalars.get(e) {
            Some(bound) => bound == actual,
            None if b.scalars.values().any(|v| v == actual) || b.values.contains_key(e) => false,
            None => {
                b.scalars.insert(e.to_owned(), actual.clone());
                true
            }
        },
        _ => false,
    }
}

fn matches_inner(expected: &Value, actual: &Value, b: &mut Bindings) -> bool {
    match (expected, actual) {
        (Value::String(e), _) if e == "[any]" => true,
        (Value::String(e), Value::String(a)) if e == TOKEN_PLACEHOLDER => is_token(a),
        (Value::String(e), _) if typed(e).is_some() => match (typed(e), actual) {
            (Some("string"), Value::String(_))
            | (Some("number"), Value::Number(_))
            | (Some("bool"), Value::Bool(_))
            | (Some("null"), Value::Null)
            | (Some("object"), Value::Object(_))
            | (Some("array"), Value::Array(_)) => true,
            (Some("integer"), Value::Number(n)) => n.is_i64() || n.is_u64(),
            _ => false,
        },
        (Value::String(e), _) if is_capture(e) => capture(e, actual, b),
        (Value::String(e), Value::String(a)) if e.contains("[any]") => template(e, a),
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

/// The pipelined `phx_leave` (old join_ref) + `phx_join` (new join_ref) of one topic.
///
/// The socket process handles the leave by forwarding it to the old channel (which replies
/// R, then its exit sends C, the `phx_close` of the old join_ref), and the join by starting the
/// new channel, whose reply is J. If the join is handled while the old channel is still
/// registered, it is a duplicate join: the old channel is shut down, so C follows J and the
/// leave finds no channel and gets no reply (J C), or the old channel already replied (J R C).
/// Otherwise the leave's reply comes first, and C and J race (R C J, R J C). Nothing else is
/// possible: C always follows R when both come, and C never comes first.
pub mod race {
    /// One of the three frames.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Frame {
        /// The join's reply.
        J,
        /// The leave's reply.
        R,
        /// `phx_close` of the old join_ref.
        C,
    }

    /// The four valid orders.
    pub const VALID: [&[Frame]; 4] = [
        &[Frame::J, Frame::C],
        &[Frame::J, Frame::R, Frame::C],
        &[Frame::R, Frame::C, Frame::J],
        &[Frame::R, Frame::J, Frame::C],
    ];

    /// Where a sequence of frames stands.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum Progress {
        /// A proper prefix of a valid order: read another frame.
        More,
        /// A whole valid order.
        Done,
        /// No valid order starts like this.
        Invalid,
    }

    /// Classifies `seen`.
    pub fn progress(seen: &[Frame]) -> Progress {
        if VALID.contains(&seen) {
            Progress::Done
        } else if VALID.iter().any(|v| v.starts_with(seen)) {
            Progress::More
        } else {
            Progress::Invalid
        }
    }

    /// `"R J C"`.
    pub fn show(order: &[Frame]) -> String {
        let v: Vec<String> = order.iter().map(|f| format!("{f:?}")).collect();
        v.join(" ")
    }

    #[cfg(test)]
    mod tests {
        use super::Frame::{C, J, R};
        use super::*;

        #[test]
        fn each_of_the_four_orders_is_accepted() {
            for order in VALID {
                for i in 1..order.len() {
                    assert_eq!(progress(&order[..i]), Progress::More, "{order:?}");
                }
                assert_eq!(progress(order), Progress::Done, "{order:?}");
            }
        }

        #[test]
        fn any_other_order_is_refused() {
            for wrong in [
                &[C][..],
                &[J, J],
                &[R, R],
                &[R, C, C],
                &[C, J],
                &[C, R, J],
                &[J, C, R],
                &[R, C, R],
            ] {
                assert_ne!(progress(wrong), Progress::More, "{wrong:?}");
                assert_ne!(progress(wrong), Progress::Done, "{wrong:?}");
            }
            // J C is complete: an R after it is not part of the race (the next step sees it).
            assert_eq!(progress(&[J, C]), Progress::Done);
            assert_eq!(progress(&[R]), Progress::More);
        }
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
    fn typed_any_templates_and_generic_captures() {
        let mut b = Bindings::default();
        let m = |e: Value, a: Value, b: &mut Bindings| matches(&e, &a, b);
        assert!(m(json!("[any:string]"), json!("x"), &mut b));
        assert!(!m(json!("[any:string]"), json!(1), &mut b));
        assert!(m(json!("[any:integer]"), json!(17), &mut b));
        assert!(!m(json!("[any:integer]"), json!(1.5), &mut b));
        assert!(m(json!("[any:number]"), json!(1.5), &mut b));
        assert!(m(json!("[any:object]"), json!({"a": 1}), &mut b));
        assert!(m(json!("[any:null]"), json!(null), &mut b));
        assert!(!m(json!("[any:bool]"), json!("true"), &mut b));
        assert!(m(json!("v[any]-x"), json!("v1.2-x"), &mut b));
        assert!(!m(json!("v[any]-x"), json!("w1.2-x"), &mut b));
        // Captures: the same value where they recur, never two captures for one value.
        assert!(m(json!(["[ref:1]", "[ref:1]"]), json!(["a", "a"]), &mut b));
        assert!(!m(json!("[ref:1]"), json!("b"), &mut b));
        assert!(!m(json!("[ref:2]"), json!("a"), &mut b));
        assert!(m(json!("[at:1]"), json!(17), &mut b));
        assert!(!m(json!("[at:1]"), json!(18), &mut b));
        assert!(is_placeholder("[node:server]") && is_placeholder("[any:string]"));
        assert!(!is_placeholder("[Ref:1]") && !is_placeholder("[x]"));
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
