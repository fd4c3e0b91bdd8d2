//! Rules files (`--redact-file F`, and `*.rules` in a [`crate::testkit`] directory): redactions
//! and order tolerances, one per line.
//!
//! ```text
//! # comments and blank lines are ignored
//! redact $..phx_ref => [ref]
//! redact $..phx_ref_prev => [ref]
//! redact re:"online_at":"(\d+)"
//! unordered presence:*:presence_state,presence_diff
//! ```
//!
//! A line is `redact RULE` ([`super::redact`] syntax) or `unordered TOPIC_GLOB:EVENT,EVENT…`
//! ([`Unordered`]). Plain lines rather than TOML or YAML: a regex is written exactly as on the
//! command line, with no second layer of escaping.

use super::redact::{Redaction, RedactionError};
use serde_json::Value;
use std::path::Path;

/// Why a rules file or an `--unordered` rule cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// A line is not a rule.
    #[error("{origin}:{line}: {reason}")]
    Line {
        /// The file (or `--redact`).
        origin: String,
        /// 1-based line.
        line: usize,
        /// What was expected.
        reason: String,
    },
    /// An `--unordered` value is malformed.
    #[error("invalid unordered rule {rule:?}: expected TOPIC_GLOB:EVENT,EVENT (e.g. presence:*:presence_state,presence_diff)")]
    Unordered {
        /// The rule.
        rule: String,
    },
    /// An `--redact` value is malformed.
    #[error("--redact {rule:?}: {source}")]
    Redact {
        /// The rule.
        rule: String,
        /// Why.
        source: RedactionError,
    },
}

/// Frames of one topic that may arrive in any order: consecutive expected frames on one
/// connection whose topic matches `topic` (a glob: `*` is any text) and whose event is one of
/// `events` are accepted in any order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unordered {
    /// The topic glob, e.g. `presence:*` or `*`.
    pub topic: String,
    /// The events, e.g. `presence_state`, `presence_diff`.
    pub events: Vec<String>,
}

impl Unordered {
    /// Parses `TOPIC_GLOB:EVENT,EVENT` (the last `:` ends the topic, which may hold `:`).
    pub fn parse(s: &str) -> Result<Unordered, RulesError> {
        let bad = || RulesError::Unordered { rule: s.to_owned() };
        let (topic, events) = s.trim().rsplit_once(':').ok_or_else(bad)?;
        let events: Vec<String> = events
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(str::to_owned)
            .collect();
        if topic.is_empty() || events.is_empty() {
            return Err(bad());
        }
        Ok(Unordered {
            topic: topic.to_owned(),
            events,
        })
    }

    /// The tolerances on by default, where the recordings of real Phoenix show a race
    /// (`fixtures/presence-README.md`, "What varies between runs"): a joiner's own join diff
    /// and `presence_state`, and an update's reply and its diff.
    pub fn defaults() -> Vec<Unordered> {
        vec![
            Unordered {
                topic: "*".into(),
                events: vec!["presence_state".into(), "presence_diff".into()],
            },
            Unordered {
                topic: "*".into(),
                events: vec!["phx_reply".into(), "presence_diff".into()],
            },
        ]
    }

    /// True when a frame's topic and event fall under the rule.
    pub fn covers(&self, topic: &str, event: &str) -> bool {
        self.events.iter().any(|e| e == event) && glob(&self.topic, topic)
    }

    /// True for a V2 array or V1 object frame the rule covers.
    pub fn covers_frame(&self, v: &Value) -> bool {
        let te = match v {
            Value::Array(a) => a
                .get(2)
                .and_then(Value::as_str)
                .zip(a.get(3).and_then(Value::as_str)),
            Value::Object(o) => o
                .get("topic")
                .and_then(Value::as_str)
                .zip(o.get("event").and_then(Value::as_str)),
            _ => None,
        };
        te.is_some_and(|(t, e)| self.covers(t, e))
    }
}

impl std::fmt::Display for Unordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.topic, self.events.join(","))
    }
}

/// `*` matches any text (including none); everything else literally.
pub fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// The rules of a file or of command-line flags.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rules {
    /// Redactions, in order.
    pub redactions: Vec<Redaction>,
    /// Order tolerances (added to the defaults unless those are turned off).
    pub unordered: Vec<Unordered>,
}

impl Rules {
    /// Parses a rules file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Rules, RulesError> {
        let mut rules = Rules::default();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: String| RulesError::Line {
                origin: origin.to_owned(),
                line: i + 1,
                reason,
            };
            let (kind, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            match kind {
                "redact" => rules
                    .redactions
                    .push(Redaction::parse(rest).map_err(|e| err(e.to_string()))?),
                "unordered" => rules
                    .unordered
                    .push(Unordered::parse(rest).map_err(|e| err(e.to_string()))?),
                other => {
                    return Err(err(format!(
                        "unknown rule {other:?}: expected \"redact RULE\" or \"unordered TOPIC_GLOB:EVENT,EVENT\""
                    )))
                }
            }
        }
        Ok(rules)
    }

    /// Reads a rules file.
    pub fn read(path: &Path) -> Result<Rules, RulesError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulesError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// The rules of `--redact`, `--redact-file` and `--unordered` flags, files first.
    pub fn from_flags(
        redact: &[String],
        files: &[std::path::PathBuf],
        unordered: &[String],
    ) -> Result<Rules, RulesError> {
        let mut rules = Rules::default();
        for f in files {
            rules.extend(Rules::read(f)?);
        }
        for r in redact {
            rules
                .redactions
                .push(Redaction::parse(r).map_err(|source| RulesError::Redact {
                    rule: r.clone(),
                    source,
                })?);
        }
        for u in unordered {
            rules.unordered.push(Unordered::parse(u)?);
        }
        Ok(rules)
    }

    /// Appends another set of rules.
    pub fn extend(&mut self, other: Rules) {
        self.redactions.extend(other.redactions);
        self.unordered.extend(other.unordered);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rules_file_parses_and_errors_name_the_line() {
        let text = "# presence\n\nredact $..phx_ref => [ref]\nunordered presence:*:presence_state,presence_diff\n";
        let r = Rules::parse(text, "phx.rules").expect("rules");
        assert_eq!(r.redactions.len(), 1);
        assert_eq!(
            r.unordered,
            vec![Unordered {
                topic: "presence:*".into(),
                events: vec!["presence_state".into(), "presence_diff".into()]
            }]
        );
        let e = Rules::parse("redact $..a\nredact $..[\n", "f.rules").expect_err("bad");
        assert!(
            e.to_string().starts_with("f.rules:2: invalid JSON path"),
            "{e}"
        );
        let e = Rules::parse("redcat $..a", "f.rules").expect_err("bad");
        assert!(
            e.to_string().contains("f.rules:1: unknown rule \"redcat\""),
            "{e}"
        );
        let e = Rules::parse("unordered presence_diff", "f.rules").expect_err("bad");
        assert!(
            e.to_string().contains("f.rules:1: invalid unordered rule"),
            "{e}"
        );
    }

    #[test]
    fn unordered_rules_match_topic_globs_and_events() {
        let u = Unordered::parse("presence:*:presence_state,presence_diff").expect("rule");
        assert!(u.covers("presence:lobby", "presence_diff"));
        assert!(!u.covers("room:lobby", "presence_diff"));
        assert!(!u.covers("presence:lobby", "phx_reply"));
        assert!(Unordered::parse(":a").is_err());
        assert!(Unordered::parse("t:").is_err());
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "a-b-c"));
        assert!(!glob("a*b*c", "a-c-b"));
        assert!(!glob("ab*ba", "aba"));
    }
}
