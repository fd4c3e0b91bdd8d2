//! A scenario file's tree ([`super::yaml::Node`]) into a header and the runner's [`Step`]s.
//! Every error names the line and what was expected there.

use super::yaml::{Kind, Node};
use crate::runner::call::{Call, RpcArg};
use crate::runner::pattern::{JsonType, Pattern, Regex};
use crate::runner::step::{Expected, Outgoing, Socket, Step};
use crate::scenarios::{Ctx, Need};
use crate::target::{Adapter, PhoenixVersion};
use crate::triggers::{Action, Capability, Node as TNode, SignRequest};
use phx_protocol::version::{Behaviour, BEHAVIOURS};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::time::Duration;

/// An error at a line: "expected …".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct At {
    /// The 1-based line.
    pub line: usize,
    /// What was expected, and what was found.
    pub message: String,
}

type R<T> = Result<T, At>;

fn err<T>(n: &Node, expected: &str) -> R<T> {
    let found = match &n.kind {
        Kind::Scalar { value, .. } => format!("{value:?}"),
        _ => n.describe().to_owned(),
    };
    Err(At {
        line: n.line,
        message: format!("expected {expected}, found {found}"),
    })
}

fn at<T>(line: usize, message: impl Into<String>) -> R<T> {
    Err(At {
        line,
        message: message.into(),
    })
}

/// The header of a scenario file.
#[derive(Clone, Debug, Default)]
pub struct Header {
    /// `id`.
    pub id: String,
    /// `name`.
    pub name: String,
    /// `about`.
    pub about: String,
    /// `tags`.
    pub tags: Vec<String>,
    /// `requires`.
    pub requires: Option<Behaviour>,
    /// `depends_on`.
    pub depends_on: Vec<Behaviour>,
    /// `needs`.
    pub needs: Vec<Need>,
    /// `params`: parameters the scenario cannot run without.
    pub params: Vec<String>,
    /// `app_traffic: tolerate`.
    pub app_traffic: bool,
}

const HEADER_KEYS: &str =
    "id, name, about, tags, requires, depends_on, needs, params, app_traffic or steps";

fn str_of<'a>(n: &'a Node, what: &str) -> R<&'a str> {
    match &n.kind {
        Kind::Scalar { value, .. } if !n.is_null() => Ok(value),
        _ => err(n, what),
    }
}

fn seq_of<'a>(n: &'a Node, what: &str) -> R<&'a [Node]> {
    match &n.kind {
        Kind::Seq(items) => Ok(items),
        _ => err(n, what),
    }
}

fn map_of<'a>(n: &'a Node, what: &str) -> R<&'a [(Node, Node)]> {
    match &n.kind {
        Kind::Map(items) => Ok(items),
        _ if n.is_null() => Ok(&[]),
        _ => err(n, what),
    }
}

fn behaviour(n: &Node) -> R<Behaviour> {
    let s = str_of(n, "a behaviour id")?;
    match BEHAVIOURS.iter().find(|r| r.id == s) {
        Some(r) => Ok(r.behaviour),
        None => {
            let ids: Vec<&str> = BEHAVIOURS.iter().map(|r| r.id).collect();
            err(n, &format!("a behaviour id ({})", ids.join(", ")))
        }
    }
}

fn need(n: &Node) -> R<Need> {
    Ok(match str_of(n, "a need")? {
        "actions" => Need::Trigger(Capability::Actions),
        "node_b_actions" => Need::Trigger(Capability::NodeBActions),
        "sign" => Need::Trigger(Capability::Sign),
        "auth_socket" => Need::Socket(Socket::Auth),
        "node_b_socket" => Need::Socket(Socket::NodeB),
        "idle_socket" => Need::Socket(Socket::Idle),
        _ => {
            return err(
                n,
                "a need (actions, node_b_actions, sign, auth_socket, node_b_socket, idle_socket)",
            )
        }
    })
}

/// The header, and the `steps` node.
pub fn header(root: &Node) -> R<(Header, &Node)> {
    let top = match &root.kind {
        Kind::Map(m) => m,
        _ => return err(root, "a mapping with id, name and steps"),
    };
    let mut h = Header::default();
    let mut steps = None;
    for (k, v) in top {
        match str_of(k, HEADER_KEYS)? {
            "id" => h.id = str_of(v, "the scenario id")?.to_owned(),
            "name" => h.name = str_of(v, "the scenario's sentence")?.to_owned(),
            "about" => h.about = str_of(v, "a description")?.trim().to_owned(),
            "tags" => {
                for t in seq_of(v, "a list of tags")? {
                    h.tags.push(str_of(t, "a tag")?.to_owned());
                }
            }
            "requires" => h.requires = Some(behaviour(v)?),
            "depends_on" => {
                for b in seq_of(v, "a list of behaviour ids")? {
                    h.depends_on.push(behaviour(b)?);
                }
            }
            "needs" => {
                for n in seq_of(v, "a list of needs")? {
                    h.needs.push(need(n)?);
                }
            }
            "params" => {
                for p in seq_of(v, "a list of parameter names")? {
                    h.params.push(str_of(p, "a parameter name")?.to_owned());
                }
            }
            "app_traffic" => {
                h.app_traffic = match str_of(v, "tolerate or fail")? {
                    "tolerate" => true,
                    "fail" => false,
                    _ => return err(v, "tolerate or fail"),
                }
            }
            "steps" => steps = Some(v),
            _ => return err(k, HEADER_KEYS),
        }
    }
    if h.id.is_empty() {
        return at(root.line, "expected an `id:` (the scenario's short id)");
    }
    if h.name.is_empty() {
        return at(
            root.line,
            "expected a `name:` (the sentence that names the scenario)",
        );
    }
    match steps {
        Some(s) => Ok((h, s)),
        None => at(root.line, "expected `steps:` (a list of steps)"),
    }
}

/// A scalar as JSON: plain `null`/`~`, `true`/`false` and numbers are themselves; anything
/// quoted is a string.
fn scalar_json(value: &str, plain: bool) -> Value {
    if plain {
        match value {
            "null" | "~" | "" => return Value::Null,
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            _ => {}
        }
        if value.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
            if let Ok(n) = serde_json::from_str::<serde_json::Number>(value) {
                return Value::Number(n);
            }
        }
    }
    Value::String(value.to_owned())
}

/// A tag-free node as JSON.
fn json(n: &Node) -> R<Value> {
    if let Some(t) = &n.tag {
        return at(
            n.line,
            format!("a matcher (!{t}) is only allowed in an expected frame"),
        );
    }
    Ok(match &n.kind {
        Kind::Scalar { value, plain } => scalar_json(value, *plain),
        Kind::Seq(items) => Value::Array(items.iter().map(json).collect::<R<_>>()?),
        Kind::Map(pairs) => {
            let mut m = Map::new();
            for (k, v) in pairs {
                m.insert(str_of(k, "a key")?.to_owned(), json(v)?);
            }
            Value::Object(m)
        }
    })
}

/// A tag-free node as JSON text, keys in the order written.
fn json_text(n: &Node, out: &mut String) -> R<()> {
    if let Some(t) = &n.tag {
        return at(
            n.line,
            format!("a matcher (!{t}) is only allowed in an expected frame"),
        );
    }
    match &n.kind {
        Kind::Scalar { value, plain } => {
            out.push_str(&phx_protocol::json::to_string(&scalar_json(value, *plain)))
        }
        Kind::Seq(items) => {
            out.push('[');
            for (i, it) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_text(it, out)?;
            }
            out.push(']');
        }
        Kind::Map(pairs) => {
            out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&phx_protocol::json::to_string(&Value::String(
                    str_of(k, "a key")?.to_owned(),
                )));
                out.push(':');
                json_text(v, out)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn has_tags(n: &Node) -> bool {
    n.tag.is_some()
        || match &n.kind {
            Kind::Scalar { .. } => false,
            Kind::Seq(items) => items.iter().any(has_tags),
            Kind::Map(pairs) => pairs.iter().any(|(_, v)| has_tags(v)),
        }
}

const MATCHERS: &str = "!any, !type, !regex, !range, !capture, !same or !token";

fn number(n: &Node) -> R<Option<f64>> {
    if n.is_null() {
        return Ok(None);
    }
    match scalar_json(str_of(n, "a number or null")?, true) {
        Value::Number(x) => Ok(x.as_f64()),
        _ => err(n, "a number or null"),
    }
}

/// An expected value.
pub fn pattern(n: &Node) -> R<Pattern> {
    if !has_tags(n) {
        return Ok(Pattern::Literal(json(n)?));
    }
    if let Some(tag) = &n.tag {
        let arg = || match &n.kind {
            Kind::Scalar { value, .. } if !value.is_empty() => Ok(value.as_str()),
            _ => err(n, &format!("an argument to !{tag}")),
        };
        return Ok(match tag.as_str() {
            "any" => Pattern::Any,
            "token" => Pattern::Literal(Value::String(
                crate::transcript::normalise::TOKEN_PLACEHOLDER.into(),
            )),
            "type" => match JsonType::parse(arg()?) {
                Some(t) => Pattern::Type(t),
                None => {
                    return err(
                        n,
                        "a type (string, number, integer, bool, null, array, object)",
                    )
                }
            },
            "regex" => match regex::Regex::new(arg()?) {
                Ok(r) => Pattern::Regex(Regex(r)),
                Err(e) => return at(n.line, format!("expected a valid regex: {e}")),
            },
            "range" => match seq_of(n, "[min, max] after !range")? {
                [lo, hi] => Pattern::Range {
                    min: number(lo)?,
                    max: number(hi)?,
                },
                _ => return err(n, "[min, max] after !range"),
            },
            "capture" => Pattern::Capture(arg()?.to_owned()),
            "same" => Pattern::Same(arg()?.to_owned()),
            other => {
                return at(
                    n.line,
                    format!("expected a matcher ({MATCHERS}), found !{other}"),
                )
            }
        });
    }
    Ok(match &n.kind {
        Kind::Seq(items) => Pattern::Array(items.iter().map(pattern).collect::<R<_>>()?),
        Kind::Map(pairs) => Pattern::Object(
            pairs
                .iter()
                .map(|(k, v)| Ok((str_of(k, "a key")?.to_owned(), pattern(v)?)))
                .collect::<R<_>>()?,
        ),
        Kind::Scalar { .. } => Pattern::Literal(json(n)?),
    })
}

fn expected(n: &Node) -> R<Expected> {
    if n.tag.as_deref() == Some("binary") {
        return Ok(Expected::Binary(hex_of(n)?));
    }
    Ok(match pattern(n)? {
        Pattern::Literal(v) => Expected::Json(v),
        p => Expected::Pattern(p),
    })
}

fn hex_of(n: &Node) -> R<Vec<u8>> {
    let s: String = str_of(n, "hex bytes after !binary")
        .or_else(|e| if n.is_null() { Ok("") } else { Err(e) })?
        .split_whitespace()
        .collect();
    hex::decode(&s).or_else(|_| err(n, "hex bytes after !binary (e.g. 0001ff)"))
}

fn outgoing(n: &Node) -> R<Outgoing> {
    match (&n.tag, &n.kind) {
        (Some(t), _) if t == "binary" => Ok(Outgoing::Binary(hex_of(n)?)),
        (Some(t), _) => at(n.line, format!("expected a frame or !binary, found !{t}")),
        (None, Kind::Scalar { value, .. }) => Ok(Outgoing::Text(value.clone())),
        _ => {
            let mut s = String::new();
            json_text(n, &mut s)?;
            Ok(Outgoing::Text(s))
        }
    }
}

/// `300ms`, `2s`, `1.5s` or a plain number of milliseconds.
fn duration(n: &Node) -> R<Duration> {
    let s = str_of(n, "a duration (300ms, 2s)")?;
    parse_duration(s).map_or_else(|| err(n, "a duration (300ms, 2s)"), Ok)
}

fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    let ms: f64 = num.trim().parse().ok()?;
    (ms >= 0.0 && ms.is_finite()).then(|| Duration::from_secs_f64(ms * scale / 1000.0))
}

fn u16_of(n: &Node, what: &str) -> R<u16> {
    str_of(n, what)?.parse().or_else(|_| err(n, what))
}

/// The verb of a step key and its words: `expect c1 within=2s` → ("expect", ["c1"], [("within", "2s")]).
struct Key<'a> {
    verb: &'a str,
    args: Vec<&'a str>,
    opts: Vec<(&'a str, &'a str)>,
    line: usize,
}

impl Key<'_> {
    fn conn(&self) -> R<String> {
        match self.args.as_slice() {
            [c] => Ok((*c).to_owned()),
            _ => at(
                self.line,
                format!("expected `{} CONN` (one connection label)", self.verb),
            ),
        }
    }

    fn node(&self) -> R<TNode> {
        match self.args.as_slice() {
            [] | ["a"] => Ok(TNode::A),
            ["b"] => Ok(TNode::B),
            _ => at(
                self.line,
                format!(
                    "expected `{}` or `{} b` (node a or b)",
                    self.verb, self.verb
                ),
            ),
        }
    }

    /// `within=DUR` and `after=DUR`: (how long the step waits, counted after `after`; the
    /// quiet time before it).
    fn timing(&self) -> R<(Option<Duration>, Option<Duration>)> {
        let (mut within, mut after) = (None, None);
        for (k, v) in &self.opts {
            let slot = match *k {
                "within" => &mut within,
                "after" => &mut after,
                other => {
                    return at(
                        self.line,
                        format!(
                            "expected the option within=DURATION or after=DURATION, found {other}="
                        ),
                    )
                }
            };
            match parse_duration(v) {
                Some(d) => *slot = Some(d),
                None => {
                    return at(
                        self.line,
                        format!("expected {k}=DURATION (300ms, 2s), found {k}={v}"),
                    )
                }
            }
        }
        if let (Some(w), Some(a)) = (within, after) {
            if w <= a {
                return at(
                    self.line,
                    format!("expected within= ({w:?}) later than after= ({a:?})"),
                );
            }
            within = Some(w - a);
        }
        Ok((within, after))
    }
}

fn key(k: &str, line: usize) -> Key<'_> {
    let mut words = k.split_whitespace();
    let verb = words.next().unwrap_or("");
    let mut args = Vec::new();
    let mut opts = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((a, b)) => opts.push((a, b)),
            None => args.push(w),
        }
    }
    Key {
        verb,
        args,
        opts,
        line,
    }
}

const VERBS: &str = "a step (connect, send, expect, unordered, closed, silence, close, join, note, sign, broadcast, dedupe, disconnect, rpc, control, http, if, repeat)";

/// Where the steps are compiled: for a context (conditions decided), or for checking only
/// (every branch is compiled and checked, none emitted).
pub enum Mode<'a> {
    /// Run on this context.
    Run(&'a Ctx, &'a BTreeSet<String>),
    /// Check every branch.
    Check,
}

/// Compiles a list of steps into `out`.
pub fn steps(n: &Node, mode: &Mode<'_>, out: &mut Vec<Step>) -> R<()> {
    for s in seq_of(n, "a list of steps")? {
        step(s, mode, out)?;
    }
    Ok(())
}

fn fields<'a>(n: &'a Node, what: &str, allowed: &[&str]) -> R<Vec<(&'a str, &'a Node)>> {
    let mut v = Vec::new();
    for (k, val) in map_of(n, what)? {
        let name = str_of(k, "a key")?;
        if !allowed.contains(&name) {
            return err(k, &format!("one of {}", allowed.join(", ")));
        }
        v.push((name, val));
    }
    Ok(v)
}

fn get<'a>(f: &[(&str, &'a Node)], name: &str) -> Option<&'a Node> {
    f.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

fn step(n: &Node, mode: &Mode<'_>, out: &mut Vec<Step>) -> R<()> {
    let null = Node {
        line: n.line,
        tag: None,
        kind: Kind::Scalar {
            value: String::new(),
            plain: true,
        },
    };
    let (k, v, rest): (&str, &Node, &[(Node, Node)]) = match &n.kind {
        Kind::Scalar { value, .. } => (value, &null, &[]),
        Kind::Map(pairs) if !pairs.is_empty() => {
            (str_of(&pairs[0].0, VERBS)?, &pairs[0].1, &pairs[1..])
        }
        _ => return err(n, VERBS),
    };
    let key = key(k, n.line);
    if key.verb == "if" {
        return if_step(n, v, rest, mode, out);
    }
    if key.verb == "repeat" {
        return repeat_step(n, v, rest, mode, out);
    }
    if let Some((extra, _)) = rest.first() {
        return err(extra, "one step per list item (start the next with `- `)");
    }
    match key.verb {
        "note" => out.push(Step::Note(str_of(v, "the note's text")?.to_owned())),
        "connect" => {
            let conn = key.conn()?;
            let f = fields(
                v,
                "connect options",
                &["socket", "path", "vsn", "params", "status"],
            )?;
            let mut query = Vec::new();
            match get(&f, "vsn") {
                Some(x) if x.is_null() => {}
                Some(x) => query.push(format!("vsn={}", str_of(x, "a vsn such as \"2.0.0\"")?)),
                None => query.push("vsn=2.0.0".to_owned()),
            }
            if let Some(p) = get(&f, "params") {
                for (pk, pv) in map_of(p, "a mapping of query params")? {
                    let value = match json(pv)? {
                        Value::String(s) => s,
                        other => phx_protocol::json::to_string(&other),
                    };
                    query.push(format!("{}={value}", str_of(pk, "a param name")?));
                }
            }
            let query = query.join("&");
            let status = get(&f, "status").map_or(Ok(101), |s| u16_of(s, "an HTTP status"))?;
            if let Some(path) = get(&f, "path") {
                if get(&f, "socket").is_some() {
                    return at(v.line, "expected either socket: or path:, not both");
                }
                let path = str_of(path, "a socket path such as /socket")?.to_owned();
                out.push(Step::ConnectPath {
                    conn,
                    path,
                    query,
                    status,
                });
            } else {
                let socket = match get(&f, "socket")
                    .map(|s| str_of(s, "a socket"))
                    .transpose()?
                {
                    None | Some("main") => Socket::Main,
                    Some("auth") => Socket::Auth,
                    Some("node_b") => Socket::NodeB,
                    Some("idle") => Socket::Idle,
                    Some(_) => {
                        return err(
                            get(&f, "socket").unwrap_or(v),
                            "a socket (main, auth, node_b, idle)",
                        )
                    }
                };
                out.push(Step::Connect {
                    conn,
                    socket,
                    query,
                    status,
                });
            }
        }
        "send" => out.push(Step::Send {
            conn: key.conn()?,
            frame: outgoing(v)?,
        }),
        "expect" | "unordered" | "closed" => {
            let conn = key.conn()?;
            let (within, after) = key.timing()?;
            if let Some(quiet) = after {
                // Not before `after`: nothing may arrive until then.
                out.push(Step::ExpectSilence {
                    conn: conn.clone(),
                    quiet,
                });
            }
            out.push(match key.verb {
                "expect" => Step::Expect {
                    conn,
                    within,
                    frame: expected(v)?,
                },
                "unordered" => Step::ExpectUnordered {
                    conn,
                    within,
                    frames: seq_of(v, "a list of expected frames")?
                        .iter()
                        .map(expected)
                        .collect::<R<_>>()?,
                },
                _ => Step::ExpectClosed {
                    conn,
                    within,
                    code: u16_of(v, "a close code such as 1011")?,
                },
            });
        }
        "silence" => out.push(Step::ExpectSilence {
            conn: key.conn()?,
            quiet: duration(v)?,
        }),
        "close" => {
            if !v.is_null() {
                return err(v, "nothing after `close CONN`");
            }
            out.push(Step::Close { conn: key.conn()? })
        }
        "join" => {
            let conn = key.conn()?;
            let f = fields(
                v,
                "join options",
                &["topic", "ref", "join_ref", "payload", "reply", "status"],
            )?;
            let topic = str_of(get(&f, "topic").unwrap_or(v), "topic: the topic to join")?;
            let r = get(&f, "ref").map_or(Ok("1"), |r| str_of(r, "a ref"))?;
            let jr = get(&f, "join_ref").map_or(Ok(r), |r| str_of(r, "a join_ref"))?;
            let payload = match get(&f, "payload") {
                Some(p) => {
                    let mut s = String::new();
                    json_text(p, &mut s)?;
                    s
                }
                None => "{}".into(),
            };
            let tv = Value::String(topic.to_owned());
            let (jv, rv) = (Value::String(jr.to_owned()), Value::String(r.to_owned()));
            out.push(Step::Send {
                conn: conn.clone(),
                frame: Outgoing::Text(format!("[{jv},{rv},{tv},\"phx_join\",{payload}]")),
            });
            let response = match get(&f, "reply") {
                Some(p) => pattern(p)?,
                None => Pattern::Literal(Value::Object(Map::new())),
            };
            let status = get(&f, "status").map_or(Ok("ok"), |s| str_of(s, "ok or error"))?;
            let reply = Pattern::Array(vec![
                Pattern::Literal(jv),
                Pattern::Literal(rv),
                Pattern::Literal(tv),
                Pattern::Literal("phx_reply".into()),
                Pattern::Object(vec![
                    ("response".into(), response),
                    ("status".into(), Pattern::Literal(status.into())),
                ]),
            ]);
            out.push(Step::Expect {
                conn,
                within: None,
                frame: simplify(reply),
            });
        }
        "sign" => {
            let var = key.conn()?;
            let f = fields(v, "sign options", &["salt", "data", "age_offset_s"])?;
            let salt = str_of(get(&f, "salt").unwrap_or(v), "salt: the token's salt")?.to_owned();
            let int = |name: &str, d: i64| -> R<i64> {
                match get(&f, name) {
                    None => Ok(d),
                    Some(x) => str_of(x, "an integer")?
                        .parse()
                        .or_else(|_| err(x, "an integer")),
                }
            };
            out.push(Step::Sign {
                var: format!("${{{var}}}"),
                request: SignRequest {
                    salt,
                    data: int("data", 1)?,
                    age_offset_s: int("age_offset_s", 0)?,
                },
            });
        }
        "broadcast" => {
            let node = key.node()?;
            let f = fields(v, "broadcast options", &["topic", "event", "payload"])?;
            let topic = str_of(get(&f, "topic").unwrap_or(v), "topic:")?.to_owned();
            let event = str_of(get(&f, "event").unwrap_or(v), "event:")?.to_owned();
            let payload = match get(&f, "payload") {
                Some(p) if p.tag.as_deref() == Some("binary") => {
                    phx_protocol::Payload::binary(hex_of(p)?)
                }
                Some(p) => json(p)?.into(),
                None => Value::Object(Map::new()).into(),
            };
            out.push(Step::Trigger(Action::Broadcast {
                node,
                topic,
                event,
                payload,
            }));
        }
        "dedupe" => {
            let f = fields(v, "dedupe options", &["numbers", "times"])?;
            let numbers = seq_of(get(&f, "numbers").unwrap_or(v), "numbers: [1, 2, 3]")?
                .iter()
                .map(|x| {
                    str_of(x, "an integer")?
                        .parse()
                        .or_else(|_| err(x, "an integer"))
                })
                .collect::<R<_>>()?;
            let times = get(&f, "times").map_or(Ok(1), |t| {
                str_of(t, "an integer")?
                    .parse()
                    .or_else(|_| err(t, "an integer"))
            })?;
            out.push(Step::Trigger(Action::Dedupe { numbers, times }));
        }
        "disconnect" => out.push(Step::Trigger(Action::Disconnect {
            socket_id: str_of(v, "a socket id such as user_socket:1")?.to_owned(),
        })),
        "rpc" => {
            let node = key.node()?;
            let f = fields(v, "rpc options", &["call", "args", "returns", "capture"])?;
            let call = str_of(get(&f, "call").unwrap_or(v), "call: Module.function")?;
            let (module, function) =
                match call.rsplit_once('.') {
                    Some((m, f)) if !m.is_empty() && !f.is_empty() => (m, f),
                    _ => return err(
                        get(&f, "call").unwrap_or(v),
                        "call: Module.function (e.g. MyAppWeb.Endpoint.broadcast, :erlang.node)",
                    ),
                };
            let module = match module.strip_prefix(':') {
                Some(erl) => erl.to_owned(),
                None if module.starts_with("Elixir.") => module.to_owned(),
                None => format!("Elixir.{module}"),
            };
            let args = match get(&f, "args") {
                Some(a) => seq_of(a, "a list of arguments")?
                    .iter()
                    .map(rpc_arg)
                    .collect::<R<_>>()?,
                None => Vec::new(),
            };
            out.push(Step::Call(Call::Rpc {
                node,
                module,
                function: function.to_owned(),
                args,
                returns: get(&f, "returns")
                    .map(|r| str_of(r, "the printed result, e.g. ok"))
                    .transpose()?
                    .map(str::to_owned),
                capture: get(&f, "capture")
                    .map(|c| str_of(c, "a capture name"))
                    .transpose()?
                    .map(str::to_owned),
            }));
        }
        "control" => {
            let node = key.node()?;
            let f = fields(v, "control options", &["get", "post", "body", "capture"])?;
            let (method, path) = match (get(&f, "get"), get(&f, "post")) {
                (Some(p), None) => ("GET", p),
                (None, Some(p)) => ("POST", p),
                _ => return err(v, "either get: PATH or post: PATH"),
            };
            out.push(Step::Call(Call::Control {
                node,
                method: method.into(),
                path: str_of(path, "a path such as /api/broadcast")?.to_owned(),
                body: get(&f, "body").map_or(Ok(Value::Object(Map::new())), json)?,
                capture: get(&f, "capture")
                    .map(|c| str_of(c, "a capture name"))
                    .transpose()?
                    .map(str::to_owned),
            }));
        }
        "http" => {
            let f = fields(
                v,
                "http options",
                &["method", "path", "headers", "body", "status", "capture"],
            )?;
            let body = match get(&f, "body") {
                None => String::new(),
                Some(b) if matches!(b.kind, Kind::Scalar { .. }) => str_of(b, "a body")?.to_owned(),
                Some(b) => {
                    let mut s = String::new();
                    json_text(b, &mut s)?;
                    s
                }
            };
            let mut headers = Vec::new();
            if let Some(h) = get(&f, "headers") {
                for (hk, hv) in map_of(h, "a mapping of header names to values")? {
                    headers.push((
                        str_of(hk, "a header name")?.to_owned(),
                        str_of(hv, "a header value")?.to_owned(),
                    ));
                }
            }
            out.push(Step::Call(Call::Http {
                headers,
                method: get(&f, "method")
                    .map_or(Ok("GET"), |m| str_of(m, "an HTTP method"))?
                    .to_owned(),
                path: str_of(get(&f, "path").unwrap_or(v), "path: /some/path")?.to_owned(),
                body,
                status: get(&f, "status")
                    .map(|s| u16_of(s, "an HTTP status"))
                    .transpose()?,
                capture: get(&f, "capture")
                    .map(|c| str_of(c, "a capture name"))
                    .transpose()?
                    .map(str::to_owned),
            }));
        }
        _ => return at(n.line, format!("expected {VERBS}, found {:?}", key.verb)),
    }
    Ok(())
}

fn simplify(p: Pattern) -> Expected {
    fn lit(p: &Pattern) -> Option<Value> {
        match p {
            Pattern::Literal(v) => Some(v.clone()),
            Pattern::Array(items) => items
                .iter()
                .map(lit)
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            Pattern::Object(e) => e
                .iter()
                .map(|(k, p)| lit(p).map(|v| (k.clone(), v)))
                .collect::<Option<Map<_, _>>>()
                .map(Value::Object),
            _ => None,
        }
    }
    match lit(&p) {
        Some(v) => Expected::Json(v),
        None => Expected::Pattern(p),
    }
}

fn rpc_arg(n: &Node) -> R<RpcArg> {
    match n.tag.as_deref() {
        Some("atom") => Ok(RpcArg::Atom(str_of(n, "an atom name")?.to_owned())),
        Some("list") => Ok(RpcArg::List(
            seq_of(n, "a list")?.iter().map(rpc_arg).collect::<R<_>>()?,
        )),
        Some("tuple") => Ok(RpcArg::Tuple(
            seq_of(n, "a list of tuple elements")?
                .iter()
                .map(rpc_arg)
                .collect::<R<_>>()?,
        )),
        Some(t) => at(
            n.line,
            format!("expected an argument (JSON, !atom, !list or !tuple), found !{t}"),
        ),
        None if has_tags(n) => match &n.kind {
            Kind::Seq(items) => Ok(RpcArg::List(items.iter().map(rpc_arg).collect::<R<_>>()?)),
            _ => at(
                n.line,
                "expected JSON without tags inside a mapping argument",
            ),
        },
        None => Ok(RpcArg::Json(json(n)?)),
    }
}

fn cond(n: &Node, ctx: &Ctx, params: &BTreeSet<String>) -> R<bool> {
    const CONDS: &str = "a condition (has, lacks, version, adapter, param, not, all, any)";
    let pairs = map_of(n, CONDS)?;
    let [(k, v)] = pairs else {
        return err(n, &format!("{CONDS} with one key"));
    };
    Ok(match str_of(k, CONDS)? {
        "has" => ctx.version.has(behaviour(v)?),
        "lacks" => !ctx.version.has(behaviour(v)?),
        "adapter" => match str_of(v, "cowboy or bandit")? {
            "cowboy" => ctx.adapter == Adapter::Cowboy,
            "bandit" => ctx.adapter == Adapter::Bandit,
            _ => return err(v, "cowboy or bandit"),
        },
        "version" => {
            let s = str_of(v, "a comparison such as \">= 1.8.0\"")?;
            let (op, rest) = ["<=", ">=", "==", "<", ">"]
                .iter()
                .find_map(|op| s.trim().strip_prefix(op).map(|r| (*op, r)))
                .map_or_else(|| err(v, "a comparison such as \">= 1.8.0\""), Ok)?;
            let Ok(want) = rest.trim().parse::<PhoenixVersion>() else {
                return err(v, "a comparison such as \">= 1.8.0\"");
            };
            let (a, b) = (ctx.version.release(), want.release());
            let (a, b) = ((a.major, a.minor, a.patch), (b.major, b.minor, b.patch));
            match op {
                "<=" => a <= b,
                ">=" => a >= b,
                "==" => a == b,
                "<" => a < b,
                _ => a > b,
            }
        }
        "param" => params.contains(str_of(v, "a parameter name")?),
        "not" => !cond(v, ctx, params)?,
        "all" => {
            let mut all = true;
            for c in seq_of(v, "a list of conditions")? {
                all &= cond(c, ctx, params)?;
            }
            all
        }
        "any" => {
            let mut any = false;
            for c in seq_of(v, "a list of conditions")? {
                any |= cond(c, ctx, params)?;
            }
            any
        }
        _ => return err(k, CONDS),
    })
}

fn if_step(
    n: &Node,
    c: &Node,
    rest: &[(Node, Node)],
    mode: &Mode<'_>,
    out: &mut Vec<Step>,
) -> R<()> {
    let mut then = None;
    let mut otherwise = None;
    for (k, v) in rest {
        match str_of(k, "then or else")? {
            "then" => then = Some(v),
            "else" => otherwise = Some(v),
            _ => return err(k, "then: or else: after if:"),
        }
    }
    let Some(then) = then else {
        return at(
            n.line,
            "expected then: (the steps when the condition holds) after if:",
        );
    };
    match mode {
        Mode::Run(ctx, params) => {
            if cond(c, ctx, params)? {
                steps(then, mode, out)
            } else if let Some(e) = otherwise {
                steps(e, mode, out)
            } else {
                Ok(())
            }
        }
        Mode::Check => {
            let ctx = Ctx::default_for_check();
            cond(c, &ctx, &BTreeSet::new())?;
            let mut scratch = Vec::new();
            steps(then, mode, &mut scratch)?;
            if let Some(e) = otherwise {
                steps(e, mode, &mut scratch)?;
            }
            Ok(())
        }
    }
}

/// `{var}`, `{var+K}` and `{var-K}` in every scalar of `n`.
fn subst_var(n: &Node, var: &str, value: i64) -> Node {
    let mut n = n.clone();
    fn walk(n: &mut Node, var: &str, value: i64) {
        match &mut n.kind {
            Kind::Scalar { value: s, .. } => {
                if s.contains('{') {
                    *s = replace_var(s, var, value);
                }
            }
            Kind::Seq(items) => items.iter_mut().for_each(|i| walk(i, var, value)),
            Kind::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
                walk(k, var, value);
                walk(v, var, value);
            }),
        }
    }
    walk(&mut n, var, value);
    n
}

fn replace_var(s: &str, var: &str, value: i64) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let inner = after[..end].trim();
        let v = if inner == var {
            Some(value)
        } else if let Some(k) = inner.strip_prefix(var).map(str::trim) {
            k.strip_prefix('+')
                .and_then(|k| k.trim().parse::<i64>().ok())
                .map(|k| value + k)
                .or_else(|| {
                    k.strip_prefix('-')
                        .and_then(|k| k.trim().parse::<i64>().ok())
                        .map(|k| value - k)
                })
        } else {
            None
        };
        match v {
            Some(v) => out.push_str(&v.to_string()),
            None => out.push_str(&rest[start..start + 1 + end + 1]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn repeat_step(
    n: &Node,
    spec: &Node,
    rest: &[(Node, Node)],
    mode: &Mode<'_>,
    out: &mut Vec<Step>,
) -> R<()> {
    let f = fields(
        spec,
        "repeat options {var: i, from: 0, to: 99}",
        &["var", "from", "to"],
    )?;
    let var = str_of(get(&f, "var").unwrap_or(spec), "var: the loop variable")?;
    let int = |name: &str| -> R<i64> {
        let x = get(&f, name)
            .map_or_else(|| at(spec.line, format!("expected {name}: an integer")), Ok)?;
        str_of(x, "an integer")?
            .parse()
            .or_else(|_| err(x, "an integer"))
    };
    let (from, to) = (int("from")?, int("to")?);
    if to < from || to - from > 10_000 {
        return at(spec.line, "expected from <= to, at most 10000 apart");
    }
    let body = match rest {
        [(k, v)] if k.as_str() == Some("steps") => v,
        _ => {
            return at(
                n.line,
                "expected steps: (the steps to repeat) after repeat:",
            )
        }
    };
    if let Mode::Check = mode {
        return steps(&subst_var(body, var, from), mode, &mut Vec::new());
    }
    for i in from..=to {
        steps(&subst_var(body, var, i), mode, out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_variables_take_offsets() {
        assert_eq!(
            replace_var("ping:{i} {i+1} {i - 1} {x}", "i", 5),
            "ping:5 6 4 {x}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("300ms"), Some(Duration::from_millis(300)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("soon"), None);
    }
}
