//! Redactions: volatile values in transcripts become placeholders the replayer accepts, the way
//! insta's redactions work (`{".id" => "[id]"}`), applied by `phx record --redact` (so the
//! committed transcript is stable), by `phx replay --redact` (so an old recording replays) and by
//! [`crate::testkit`] before snapshotting a run.
//!
//! A rule ([`Redaction`]) is a JSON path, a regex, or both, and an optional replacement:
//!
//! ```text
//! RULE        := SELECTOR [ " => " REPLACEMENT ]
//! SELECTOR    := PATH | "re:" REGEX | PATH " re:" REGEX
//! REPLACEMENT := "[any]" | "[any:TYPE]" | "[NAME]" | TEXT
//! ```
//!
//! - `PATH` selects values inside a received JSON frame (`$` is the whole decoded frame: the V2
//!   array `[join_ref, ref, topic, event, payload]` or the V1 object). Subset ([`JsonPath`]):
//!   `$`, `.key`, `.*`, `..key` (recursive descent), `..*`, `[n]`, `[*]`, `["key"]`.
//! - `re:REGEX` alone works on the raw text of a received frame or of an event line: the match
//!   is replaced, or only its first group if it has one; a match of the form `"key":value` keeps
//!   the key and replaces the value. After a path, it filters: only values whose text (a
//!   string's contents, else the JSON) the regex finds a match in are replaced.
//! - Replacements: without one, a path rule writes `[any:TYPE]` (the type of the value replaced)
//!   and a regex rule `[any]`. `[NAME]` numbers distinct values by first appearance,
//!   `[NAME:1]`, `[NAME:2]`, …, which the matcher treats as captures (same value wherever it
//!   recurs, two captures never one value): `$..phx_ref => [ref]` keeps the identity of
//!   presence refs. Any other text is written as is (e.g. `=> 4000` for a port).
//!
//! Sent frames are never redacted: replay sends them as recorded. A frame a path rule changed
//! is written back compactly with its object keys sorted; frames no rule touches stay byte for
//! byte.

use super::matcher::is_placeholder;
use super::{Dir, Entry, Transcript};
use regex::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// Why a rule cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedactionError {
    /// The rule is empty.
    #[error("empty redaction rule: expected a JSON path ($..key) or re:REGEX")]
    Empty,
    /// The JSON path is not in the supported subset.
    #[error("invalid JSON path {path:?} at byte {at}: expected {expected}")]
    Path {
        /// The path.
        path: String,
        /// Where parsing stopped.
        at: usize,
        /// What was expected there.
        expected: &'static str,
    },
    /// The regex does not compile.
    #[error("invalid regex {regex:?}: {reason}")]
    Regex {
        /// The regex.
        regex: String,
        /// The regex crate's message.
        reason: String,
    },
    /// Something other than `re:REGEX` follows the path.
    #[error("unexpected {0:?} after the JSON path: expected \" re:REGEX\" or \" => REPLACEMENT\"")]
    Trailing(String),
    /// `=>` with nothing after it.
    #[error("empty replacement after \"=>\"")]
    EmptyReplacement,
}

/// One step of a [`JsonPath`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Seg {
    /// `.key` or `["key"]`.
    Key(String),
    /// `.*` or `[*]`: every child.
    Any,
    /// `[n]`.
    Index(usize),
    /// `..key`: `key` at any depth below.
    Descend(String),
    /// `..*`: every value at any depth below.
    DescendAny,
}

/// A JSON path in the subset `$`, `.key`, `.*`, `..key`, `..*`, `[n]`, `[*]`, `["key"]` (keys of
/// letters, digits, `_` and `-` unquoted; anything in quotes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JsonPath {
    segs: Vec<Seg>,
    text: String,
}

impl JsonPath {
    /// Parses a path.
    pub fn parse(s: &str) -> Result<JsonPath, RedactionError> {
        let err = |at: usize, expected: &'static str| RedactionError::Path {
            path: s.to_owned(),
            at,
            expected,
        };
        let b = s.as_bytes();
        if b.first() != Some(&b'$') {
            return Err(err(0, "\"$\""));
        }
        let key_end = |from: usize| {
            s[from..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .map_or(s.len(), |n| from + n)
        };
        let mut segs = Vec::new();
        let mut i = 1;
        while i < b.len() {
            match b[i] {
                b'.' if b.get(i + 1) == Some(&b'.') => {
                    if b.get(i + 2) == Some(&b'*') {
                        segs.push(Seg::DescendAny);
                        i += 3;
                        continue;
                    }
                    let end = key_end(i + 2);
                    if end == i + 2 {
                        return Err(err(i + 2, "a key or * after \"..\""));
                    }
                    segs.push(Seg::Descend(s[i + 2..end].to_owned()));
                    i = end;
                }
                b'.' => {
                    if b.get(i + 1) == Some(&b'*') {
                        segs.push(Seg::Any);
                        i += 2;
                        continue;
                    }
                    let end = key_end(i + 1);
                    if end == i + 1 {
                        return Err(err(i + 1, "a key or * after \".\""));
                    }
                    segs.push(Seg::Key(s[i + 1..end].to_owned()));
                    i = end;
                }
                b'[' => {
                    let close = s[i..]
                        .find(']')
                        .map(|n| i + n)
                        .ok_or_else(|| err(i, "\"]\""))?;
                    let inner = &s[i + 1..close];
                    let seg = if inner == "*" {
                        Seg::Any
                    } else if let Ok(n) = inner.parse::<usize>() {
                        Seg::Index(n)
                    } else if inner.len() >= 2
                        && ((inner.starts_with('"') && inner.ends_with('"'))
                            || (inner.starts_with('\'') && inner.ends_with('\'')))
                    {
                        Seg::Key(inner[1..inner.len() - 1].to_owned())
                    } else {
                        return Err(err(i + 1, "an index, * or a quoted key inside [ ]"));
                    };
                    segs.push(seg);
                    i = close + 1;
                }
                _ => return Err(err(i, "\".\", \"..\" or \"[\"")),
            }
        }
        Ok(JsonPath {
            segs,
            text: s.to_owned(),
        })
    }

    /// The locations the path selects in `v`, in document order (object keys sorted).
    fn select(&self, v: &Value) -> Vec<Vec<Loc>> {
        let mut cur: Vec<(Vec<Loc>, &Value)> = vec![(Vec::new(), v)];
        for seg in &self.segs {
            let mut next = Vec::new();
            for (loc, v) in cur {
                match seg {
                    Seg::Key(k) => {
                        if let Some(c) = v.as_object().and_then(|o| o.get(k)) {
                            next.push((with(&loc, Loc::Key(k.clone())), c));
                        }
                    }
                    Seg::Index(n) => {
                        if let Some(c) = v.as_array().and_then(|a| a.get(*n)) {
                            next.push((with(&loc, Loc::Index(*n)), c));
                        }
                    }
                    Seg::Any => children(&loc, v, &mut next),
                    Seg::Descend(k) => descend(&loc, v, &mut |l, k2, c| {
                        if k2 == Some(k.as_str()) {
                            next.push((l, c));
                        }
                    }),
                    Seg::DescendAny => descend(&loc, v, &mut |l, _, c| next.push((l, c))),
                }
            }
            cur = next;
        }
        cur.into_iter().map(|(l, _)| l).collect()
    }

    /// The last key the path names (`$..phx_ref` → `phx_ref`), for messages.
    pub fn last_key(&self) -> Option<&str> {
        self.segs.iter().rev().find_map(|s| match s {
            Seg::Key(k) | Seg::Descend(k) => Some(k.as_str()),
            _ => None,
        })
    }
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A step from a value to one of its children.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Loc {
    Key(String),
    Index(usize),
}

fn with(loc: &[Loc], l: Loc) -> Vec<Loc> {
    let mut v = loc.to_vec();
    v.push(l);
    v
}

fn children<'v>(loc: &[Loc], v: &'v Value, out: &mut Vec<(Vec<Loc>, &'v Value)>) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                out.push((with(loc, Loc::Key(k.clone())), c));
            }
        }
        Value::Array(a) => {
            for (n, c) in a.iter().enumerate() {
                out.push((with(loc, Loc::Index(n)), c));
            }
        }
        _ => {}
    }
}

/// Calls `f(location, key, value)` for every value strictly below `v`, depth first.
fn descend<'v>(loc: &[Loc], v: &'v Value, f: &mut impl FnMut(Vec<Loc>, Option<&str>, &'v Value)) {
    match v {
        Value::Object(o) => {
            for (k, c) in o {
                let l = with(loc, Loc::Key(k.clone()));
                f(l.clone(), Some(k), c);
                descend(&l, c, f);
            }
        }
        Value::Array(a) => {
            for (n, c) in a.iter().enumerate() {
                let l = with(loc, Loc::Index(n));
                f(l.clone(), None, c);
                descend(&l, c, f);
            }
        }
        _ => {}
    }
}

fn get_mut<'v>(v: &'v mut Value, loc: &[Loc]) -> Option<&'v mut Value> {
    let mut cur = v;
    for l in loc {
        cur = match (l, cur) {
            (Loc::Key(k), Value::Object(o)) => o.get_mut(k)?,
            (Loc::Index(n), Value::Array(a)) => a.get_mut(*n)?,
            _ => return None,
        };
    }
    Some(cur)
}

/// What a redacted value becomes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Replacement {
    /// The default: `[any:TYPE]` for a path rule, `[any]` for a regex rule.
    Default,
    /// `[NAME]`: distinct values numbered `[NAME:1]`, `[NAME:2]`, … by first appearance.
    Capture(String),
    /// Written as is (`[any]`, `[any:string]`, `4000`, …).
    Literal(String),
}

/// One redaction rule (see the module docs for the syntax).
#[derive(Clone, Debug)]
pub struct Redaction {
    path: Option<JsonPath>,
    regex: Option<Regex>,
    replacement: Replacement,
    text: String,
}

impl PartialEq for Redaction {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn compile(re: &str) -> Result<Regex, RedactionError> {
    Regex::new(re).map_err(|e| RedactionError::Regex {
        regex: re.to_owned(),
        reason: e.to_string(),
    })
}

impl Redaction {
    /// Parses `SELECTOR [=> REPLACEMENT]` (the last ` => ` separates the replacement).
    pub fn parse(rule: &str) -> Result<Redaction, RedactionError> {
        let text = rule.trim().to_owned();
        let (selector, replacement) = match text.rsplit_once("=>") {
            Some((s, r)) if s.ends_with(' ') || s.is_empty() => {
                let r = r.trim();
                if r.is_empty() {
                    return Err(RedactionError::EmptyReplacement);
                }
                let rep = match r.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
                    Some(name) if is_name(name) && name != "any" && name != "token" => {
                        Replacement::Capture(name.to_owned())
                    }
                    _ => Replacement::Literal(r.to_owned()),
                };
                (s.trim(), rep)
            }
            _ => (text.as_str(), Replacement::Default),
        };
        if selector.is_empty() {
            return Err(RedactionError::Empty);
        }
        let (path, regex) = if let Some(re) = selector.strip_prefix("re:") {
            (None, Some(compile(re)?))
        } else {
            let (p, rest) = match selector.split_once(char::is_whitespace) {
                Some((p, rest)) => (p, rest.trim()),
                None => (selector, ""),
            };
            let path = JsonPath::parse(p)?;
            let regex = match rest {
                "" => None,
                r => match r.strip_prefix("re:") {
                    Some(re) => Some(compile(re)?),
                    None => return Err(RedactionError::Trailing(r.to_owned())),
                },
            };
            (Some(path), regex)
        };
        Ok(Redaction {
            path,
            regex,
            replacement,
            text,
        })
    }

    /// The rule as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Redaction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for Redaction {
    type Err = RedactionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Redaction::parse(s)
    }
}

/// `[any:TYPE]` for a JSON value.
pub fn typed_any(v: &Value) -> String {
    let t = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    format!("[any:{t}]")
}

/// Applies rules to transcript lines, numbering `[NAME]` captures by first appearance across
/// every line it sees (one [`Redactor`] per transcript).
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    rules: Vec<Redaction>,
    /// Per capture name: each distinct value (as JSON text) and its number.
    seen: HashMap<String, HashMap<String, usize>>,
    /// Rules that once produced a frame that is no longer JSON (the frame was kept unredacted).
    pub broken: Vec<String>,
}

impl Redactor {
    /// A redactor for `rules`, applied in order.
    pub fn new(rules: Vec<Redaction>) -> Self {
        Redactor {
            rules,
            ..Default::default()
        }
    }

    /// True when there are no rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    fn replacement(&mut self, rule: &Replacement, old: &Value, regex_rule: bool) -> String {
        match rule {
            Replacement::Default if regex_rule => "[any]".into(),
            Replacement::Default => typed_any(old),
            Replacement::Literal(s) => s.clone(),
            Replacement::Capture(name) => {
                let key = match old {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let seen = self.seen.entry(name.clone()).or_default();
                let n = seen.len() + 1;
                let n = *seen.entry(key).or_insert(n);
                format!("[{name}:{n}]")
            }
        }
    }

    /// Redacts one line in place (received frames and event lines; sent frames are left alone).
    pub fn entry(&mut self, e: &mut Entry) {
        if e.dir == Dir::Send || e.is_binary() || self.rules.is_empty() {
            return;
        }
        let rules = self.rules.clone();
        for rule in &rules {
            let out = match (&rule.path, &rule.regex) {
                (Some(path), filter) if e.dir == Dir::Recv => {
                    self.by_path(&e.frame, path, filter.as_ref(), &rule.replacement)
                }
                (None, Some(re)) => self.by_regex(&e.frame, re, &rule.replacement, e.dir),
                _ => None,
            };
            match out {
                Some(Ok(text)) => e.frame = text,
                Some(Err(())) if !self.broken.contains(&rule.text) => {
                    self.broken.push(rule.text.clone());
                }
                Some(Err(())) | None => {}
            }
        }
    }

    /// Redacts every line of a transcript.
    pub fn transcript(&mut self, t: &mut Transcript) {
        for e in &mut t.entries {
            self.entry(e);
        }
    }

    fn by_path(
        &mut self,
        frame: &str,
        path: &JsonPath,
        filter: Option<&Regex>,
        rep: &Replacement,
    ) -> Option<Result<String, ()>> {
        let mut v: Value = serde_json::from_str(frame).ok()?;
        let locs = path.select(&v);
        let mut changed = false;
        for loc in locs {
            let Some(old) = get_mut(&mut v, &loc).map(|x| x.clone()) else {
                continue;
            };
            let text = match &old {
                // Already a placeholder (a redacted transcript redacted again): kept.
                Value::String(s) if is_placeholder(s) => continue,
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if filter.is_some_and(|re| !re.is_match(&text)) {
                continue;
            }
            let new = Value::String(self.replacement(rep, &old, false));
            if let Some(slot) = get_mut(&mut v, &loc) {
                if *slot != new {
                    *slot = new;
                    changed = true;
                }
            }
        }
        changed.then(|| Ok(serde_json::to_string(&v).unwrap_or_default()))
    }

    fn by_regex(
        &mut self,
        text: &str,
        re: &Regex,
        rep: &Replacement,
        dir: Dir,
    ) -> Option<Result<String, ()>> {
        let json = dir == Dir::Recv && serde_json::from_str::<Value>(text).is_ok();
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut changed = false;
        for caps in re.captures_iter(text) {
            let Some(whole) = caps.get(0) else { continue };
            let (mut start, end) = match caps.get(1) {
                Some(g) => (g.start(), g.end()),
                None => (whole.start(), whole.end()),
            };
            // `"key":value` keeps the key.
            if caps.get(1).is_none() && json && text[start..end].starts_with('"') {
                if let Some(k) = text[start..end].find("\":") {
                    start += k + 2;
                }
            }
            if start < last {
                continue;
            }
            let span = &text[start..end];
            let quoted = span.len() >= 2 && span.starts_with('"') && span.ends_with('"');
            let inner = if quoted {
                &span[1..span.len() - 1]
            } else {
                span
            };
            if is_placeholder(inner) {
                continue;
            }
            let old = Value::String(inner.to_owned());
            let new = self.replacement(rep, &old, true);
            out.push_str(&text[last..start]);
            let in_string = start > 0
                && text.as_bytes().get(start - 1) == Some(&b'"')
                && text.as_bytes().get(end) == Some(&b'"');
            if json && !in_string {
                out.push_str(&Value::String(new).to_string());
            } else {
                out.push_str(&new);
            }
            last = end;
            changed = true;
        }
        if !changed {
            return None;
        }
        out.push_str(&text[last..]);
        if json && serde_json::from_str::<Value>(&out).is_err() {
            return Some(Err(()));
        }
        Some(Ok(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn recv(frame: &str) -> Entry {
        Entry::new(0.0, Dir::Recv, frame)
    }

    #[test]
    fn the_path_subset_selects_what_it_documents() {
        let v = json!({"a": {"b": [1, {"c": 2}], "c": 3}, "d": [4, 5]});
        let sel = |p: &str| {
            let path = JsonPath::parse(p).expect(p);
            path.select(&v).len()
        };
        assert_eq!(sel("$"), 1);
        assert_eq!(sel("$.a.c"), 1);
        assert_eq!(sel("$..c"), 2);
        assert_eq!(sel("$.d[1]"), 1);
        assert_eq!(sel("$.d[2]"), 0);
        assert_eq!(sel("$.d[*]"), 2);
        assert_eq!(sel("$.a.*"), 2);
        assert_eq!(sel("$['a'][\"c\"]"), 1);
        assert_eq!(sel("$..*"), 9);
        assert_eq!(sel("$.a.b[1].c"), 1);
        assert_eq!(sel("$.nope..c"), 0);
    }

    #[test]
    fn bad_paths_say_where_and_what_was_expected() {
        for (p, at, expected) in [
            ("..phx_ref", 0, "\"$\""),
            ("$.", 2, "a key or * after \".\""),
            ("$..", 3, "a key or * after \"..\""),
            ("$[1", 1, "\"]\""),
            ("$[x]", 2, "an index, * or a quoted key inside [ ]"),
            ("$a", 1, "\".\", \"..\" or \"[\""),
        ] {
            assert_eq!(
                JsonPath::parse(p),
                Err(RedactionError::Path {
                    path: p.into(),
                    at,
                    expected
                }),
                "{p}"
            );
        }
    }

    #[test]
    fn rules_parse_and_bad_rules_are_errors() {
        assert!(Redaction::parse("$..phx_ref").is_ok());
        assert!(Redaction::parse(r#"re:"online_at":"\d+""#).is_ok());
        assert!(Redaction::parse(r"$..online_at re:^\d+$ => [any:string]").is_ok());
        let r = Redaction::parse("$..phx_ref => [ref]").expect("rule");
        assert_eq!(r.replacement, Replacement::Capture("ref".into()));
        let r = Redaction::parse("$..x => [any]").expect("rule");
        assert_eq!(r.replacement, Replacement::Literal("[any]".into()));
        assert_eq!(Redaction::parse("  "), Err(RedactionError::Empty));
        assert_eq!(
            Redaction::parse("$.a =>"),
            Err(RedactionError::EmptyReplacement)
        );
        assert!(matches!(
            Redaction::parse("re:(unclosed"),
            Err(RedactionError::Regex { .. })
        ));
        assert_eq!(
            Redaction::parse("$.a b"),
            Err(RedactionError::Trailing("b".into()))
        );
        // A `=>` inside a regex without spaces around it is part of the regex.
        assert!(Redaction::parse("re:a=>b").expect("rule").regex.is_some());
    }

    #[test]
    fn path_rules_write_typed_placeholders_and_number_captures() {
        let mut r = Redactor::new(vec![
            Redaction::parse("$..phx_ref => [ref]").expect("rule"),
            Redaction::parse("$..phx_ref_prev => [ref]").expect("rule"),
            Redaction::parse("$..online_at").expect("rule"),
        ]);
        let mut a = recv(
            r#"[null,null,"p","presence_diff",{"joins":{"u":{"metas":[{"phx_ref":"X","online_at":17}]}}}]"#,
        );
        let mut b = recv(
            r#"[null,null,"p","presence_diff",{"joins":{"u":{"metas":[{"phx_ref":"Y","phx_ref_prev":"X","online_at":"9"}]}}}]"#,
        );
        r.entry(&mut a);
        r.entry(&mut b);
        assert_eq!(
            a.frame,
            r#"[null,null,"p","presence_diff",{"joins":{"u":{"metas":[{"online_at":"[any:integer]","phx_ref":"[ref:1]"}]}}}]"#
        );
        assert_eq!(
            b.frame,
            r#"[null,null,"p","presence_diff",{"joins":{"u":{"metas":[{"online_at":"[any:string]","phx_ref":"[ref:2]","phx_ref_prev":"[ref:1]"}]}}}]"#
        );
        // Redacting again changes nothing.
        let before = b.frame.clone();
        r.entry(&mut b);
        assert_eq!(b.frame, before);
        // Sent frames are replayed as recorded: never redacted.
        let mut s = Entry::new(0.0, Dir::Send, r#"{"phx_ref":"X"}"#);
        r.entry(&mut s);
        assert_eq!(s.frame, r#"{"phx_ref":"X"}"#);
    }

    #[test]
    fn regex_rules_replace_groups_values_or_spans() {
        let mut r = Redactor::new(vec![Redaction::parse(r#"re:"online_at":"\d+""#).expect("r")]);
        let mut e = recv(r#"{"device":"web","online_at":"1733000000"}"#);
        r.entry(&mut e);
        assert_eq!(e.frame, r#"{"device":"web","online_at":"[any]"}"#);

        let mut r = Redactor::new(vec![Redaction::parse(r#"re:"n":(\d+)"#).expect("r")]);
        let mut e = recv(r#"{"n":42}"#);
        r.entry(&mut e);
        assert_eq!(e.frame, r#"{"n":"[any]"}"#);

        // Event lines: the text as is.
        let mut r = Redactor::new(vec![
            Redaction::parse(r"re:127\.0\.0\.1:(\d+) => 4000").expect("r")
        ]);
        let mut e = Entry::new(
            0.0,
            Dir::Event,
            "connect ws://127.0.0.1:39211/socket/websocket?vsn=2.0.0",
        );
        r.entry(&mut e);
        assert_eq!(
            e.frame,
            "connect ws://127.0.0.1:4000/socket/websocket?vsn=2.0.0"
        );

        // A path plus a regex filter: only the values the regex finds.
        let mut r = Redactor::new(vec![
            Redaction::parse(r"$..at re:^\d{6,}$ => [any]").expect("r")
        ]);
        let mut e = recv(r#"[{"at":"0"},{"at":"1733000000"}]"#);
        r.entry(&mut e);
        assert_eq!(e.frame, r#"[{"at":"0"},{"at":"[any]"}]"#);
    }

    #[test]
    fn a_regex_that_would_break_the_json_keeps_the_frame_and_says_so() {
        let mut r = Redactor::new(vec![Redaction::parse(r#"re:\{"#).expect("r")]);
        let mut e = recv(r#"{"a":1}"#);
        r.entry(&mut e);
        assert_eq!(e.frame, r#"{"a":1}"#);
        assert_eq!(r.broken, vec![r"re:\{".to_owned()]);
    }
}
