//! Frame patterns with matchers, as scenario files write them (`conformance/SCENARIOS.md`):
//! any value, any value of a type, a regex, a number range, a capture and the same value as a
//! capture. A subtree without matchers is a [`Pattern::Literal`] and is matched by
//! [`crate::transcript::matcher::matches`], so its string placeholders (`[token]`, `[any]`,
//! `[node:NAME]`, `[ref:NAME]`) keep their meaning.

use crate::transcript::matcher::{self, Bindings};
use serde_json::Value;
use std::collections::BTreeMap;

/// Values captured by [`Pattern::Capture`] (and tokens minted by a `sign` step), by name.
pub type Captures = BTreeMap<String, Value>;

/// A JSON type, for [`Pattern::Type`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonType {
    /// A string.
    String,
    /// Any number.
    Number,
    /// An integer.
    Integer,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An array.
    Array,
    /// An object.
    Object,
}

impl JsonType {
    /// The type named `s` (`string`, `number`, `integer`, `bool`, `null`, `array`, `object`).
    pub fn parse(s: &str) -> Option<JsonType> {
        Some(match s {
            "string" => JsonType::String,
            "number" => JsonType::Number,
            "integer" => JsonType::Integer,
            "bool" | "boolean" => JsonType::Bool,
            "null" => JsonType::Null,
            "array" => JsonType::Array,
            "object" => JsonType::Object,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            JsonType::String => "string",
            JsonType::Number => "number",
            JsonType::Integer => "integer",
            JsonType::Bool => "bool",
            JsonType::Null => "null",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }

    fn holds(self, v: &Value) -> bool {
        match self {
            JsonType::String => v.is_string(),
            JsonType::Number => v.is_number(),
            JsonType::Integer => v.is_i64() || v.is_u64(),
            JsonType::Bool => v.is_boolean(),
            JsonType::Null => v.is_null(),
            JsonType::Array => v.is_array(),
            JsonType::Object => v.is_object(),
        }
    }
}

/// A compiled regex, compared by its source.
#[derive(Clone, Debug)]
pub struct Regex(pub regex::Regex);

impl PartialEq for Regex {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// An expected JSON value.
#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// A value without matchers (placeholders allowed).
    Literal(Value),
    /// An array of exactly these elements.
    Array(Vec<Pattern>),
    /// An object with exactly these keys.
    Object(Vec<(String, Pattern)>),
    /// Any value (`!any`).
    Any,
    /// Any value of a type (`!type string`).
    Type(JsonType),
    /// A string the regex finds a match in (`!regex '^SFMyNTY'`).
    Regex(Regex),
    /// A number within bounds, inclusive (`!range [1, 10]`).
    Range {
        /// Lower bound.
        min: Option<f64>,
        /// Upper bound.
        max: Option<f64>,
    },
    /// Any value, captured under this name (`!capture jr`).
    Capture(String),
    /// The value captured under this name (`!same jr`).
    Same(String),
}

impl Pattern {
    /// True when `actual` matches; captures and placeholder bindings are committed only then.
    pub fn matches(
        &self,
        actual: &Value,
        bindings: &mut Bindings,
        captures: &mut Captures,
    ) -> bool {
        let (mut b, mut c) = (bindings.clone(), captures.clone());
        if self.inner(actual, &mut b, &mut c) {
            *bindings = b;
            *captures = c;
            true
        } else {
            false
        }
    }

    fn inner(&self, actual: &Value, b: &mut Bindings, c: &mut Captures) -> bool {
        match self {
            Pattern::Literal(e) => matcher::matches(e, actual, b),
            Pattern::Array(items) => match actual {
                Value::Array(a) => {
                    items.len() == a.len() && items.iter().zip(a).all(|(p, v)| p.inner(v, b, c))
                }
                _ => false,
            },
            Pattern::Object(entries) => match actual {
                Value::Object(o) => {
                    entries.len() == o.len()
                        && entries
                            .iter()
                            .all(|(k, p)| o.get(k).is_some_and(|v| p.inner(v, b, c)))
                }
                _ => false,
            },
            Pattern::Any => true,
            Pattern::Type(t) => t.holds(actual),
            Pattern::Regex(r) => actual.as_str().is_some_and(|s| r.0.is_match(s)),
            Pattern::Range { min, max } => actual
                .as_f64()
                .is_some_and(|n| min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)),
            Pattern::Capture(name) => {
                c.insert(name.clone(), actual.clone());
                true
            }
            Pattern::Same(name) => c.get(name) == Some(actual),
        }
    }
}

impl std::fmt::Display for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Pattern::Literal(v) => f.write_str(&phx_protocol::json::to_string(v)),
            Pattern::Array(items) => {
                f.write_str("[")?;
                for (i, p) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{p}")?;
                }
                f.write_str("]")
            }
            Pattern::Object(entries) => {
                f.write_str("{")?;
                for (i, (k, p)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{}:{p}", Value::String(k.clone()))?;
                }
                f.write_str("}")
            }
            Pattern::Any => f.write_str("!any"),
            Pattern::Type(t) => write!(f, "!type {}", t.name()),
            Pattern::Regex(r) => write!(f, "!regex {:?}", r.0.as_str()),
            Pattern::Range { min, max } => {
                let show = |b: &Option<f64>| b.map_or("null".to_owned(), |n| n.to_string());
                write!(f, "!range [{}, {}]", show(min), show(max))
            }
            Pattern::Capture(n) => write!(f, "!capture {n}"),
            Pattern::Same(n) => write!(f, "!same {n}"),
        }
    }
}

/// Replaces each `${name}` in `text` by the captured value (a string's characters, any other
/// value as JSON); an unknown name is left as written.
pub fn substitute(text: &str, captures: &Captures) -> String {
    if captures.is_empty() || !text.contains("${") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match captures.get(name) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v) => out.push_str(&phx_protocol::json::to_string(v)),
                    None => out.push_str(&rest[start..start + 2 + end + 1]),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matchers_capture_and_compare() {
        let mut b = Bindings::default();
        let mut c = Captures::new();
        let p = Pattern::Array(vec![
            Pattern::Capture("jr".into()),
            Pattern::Type(JsonType::String),
            Pattern::Regex(Regex(regex::Regex::new("^room:").expect("re"))),
            Pattern::Range {
                min: Some(1.0),
                max: Some(3.0),
            },
            Pattern::Literal(json!({"a": "[any]"})),
        ]);
        assert!(p.matches(&json!(["7", "x", "room:1", 2, {"a": 1}]), &mut b, &mut c));
        assert_eq!(c["jr"], json!("7"));
        assert!(!p.matches(&json!(["7", 1, "room:1", 2, {"a": 1}]), &mut b, &mut c));
        assert!(!p.matches(&json!(["7", "x", "room:1", 4, {"a": 1}]), &mut b, &mut c));
        assert!(Pattern::Same("jr".into()).matches(&json!("7"), &mut b, &mut c));
        assert!(!Pattern::Same("jr".into()).matches(&json!("8"), &mut b, &mut c));
        assert_eq!(
            substitute(r#"["${jr}","${nope}"]"#, &c),
            r#"["7","${nope}"]"#
        );
    }
}
