//! The generic triggers of scenario files ([`super::Step::Call`]): an Erlang RPC of any
//! `Module.function(args)` on node A or B, a control API request, or a plain HTTP request to the
//! target's host. Each may capture its result for later steps.

use super::pattern::Captures;
use crate::target::Target;
use crate::triggers::erlang::terms;
use crate::triggers::{Backend, Node};
use eetf::Term;
use serde_json::Value;

/// An argument of an Erlang RPC: JSON as Elixir sees it after Jason decoding (strings are
/// binaries, objects maps with binary keys, null is `nil`), or an atom.
#[derive(Clone, Debug, PartialEq)]
pub enum RpcArg {
    /// A JSON value.
    Json(Value),
    /// An atom (`!atom ok`, or a module `!atom Elixir.MyAppWeb.Endpoint`).
    Atom(String),
    /// A list of arguments (a keyword list holds tuples).
    List(Vec<RpcArg>),
    /// A tuple (`!tuple [!atom signed_at, 0]`).
    Tuple(Vec<RpcArg>),
}

impl RpcArg {
    fn term(&self, captures: &Captures) -> Term {
        match self {
            RpcArg::Json(v) => terms::from_json(&substitute_json(v, captures)),
            RpcArg::Atom(a) => terms::atom(a),
            RpcArg::List(items) => terms::list(items.iter().map(|a| a.term(captures)).collect()),
            RpcArg::Tuple(items) => terms::tuple(items.iter().map(|a| a.term(captures)).collect()),
        }
    }
}

/// `${name}` replaced in every string of `v`.
fn substitute_json(v: &Value, captures: &Captures) -> Value {
    match v {
        Value::String(s) => Value::String(super::pattern::substitute(s, captures)),
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute_json(x, captures)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute_json(x, captures)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// A term as `returns:` compares it: an atom's name, a UTF-8 binary's text, else the term
/// printed.
fn printed(t: &Term) -> String {
    match t {
        Term::Atom(a) => a.name.clone(),
        _ => terms::as_bytes(t)
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(|| t.to_string()),
    }
}

/// A generic trigger.
#[derive(Clone, Debug, PartialEq)]
pub enum Call {
    /// `Module.function(args…)` by Erlang RPC on a node of the target.
    Rpc {
        /// Which node.
        node: Node,
        /// The module as Erlang names it (`Elixir.MyAppWeb.Endpoint`, `erlang`).
        module: String,
        /// The function.
        function: String,
        /// The arguments.
        args: Vec<RpcArg>,
        /// The result must print as this (an atom's name, e.g. `ok`; a binary's text), when
        /// given.
        returns: Option<String>,
        /// Capture the result (an atom's name, a binary as a string, else the term printed)
        /// under this name.
        capture: Option<String>,
    },
    /// A request to phx-server's control API (or an app route behind it) on a node.
    Control {
        /// Which node.
        node: Node,
        /// `GET` or `POST`.
        method: String,
        /// The path, e.g. `/api/broadcast`.
        path: String,
        /// The JSON body of a POST.
        body: Value,
        /// Capture the JSON answer under this name.
        capture: Option<String>,
    },
    /// A plain HTTP/1.1 request to the host and port of node A's socket URL (`ws://` only).
    Http {
        /// The method.
        method: String,
        /// The path and query.
        path: String,
        /// Extra request headers (e.g. `authorization`).
        headers: Vec<(String, String)>,
        /// The request body.
        body: String,
        /// The expected status, when given.
        status: Option<u16>,
        /// Capture the response body (JSON when it parses, else a string) under this name.
        capture: Option<String>,
    },
}

/// How a call ended.
pub enum CallError {
    /// The target cannot do this; the scenario is skipped with this reason.
    Unsupported(String),
    /// The call failed or answered something else.
    Failed(String),
}

impl Call {
    /// How the call is written in transcripts.
    pub fn render(&self) -> String {
        match self {
            Call::Rpc {
                node,
                module,
                function,
                args,
                ..
            } => {
                let a: Vec<String> = args
                    .iter()
                    .map(|a| a.term(&Captures::new()).to_string())
                    .collect();
                let on = if *node == Node::B { " remote" } else { "" };
                format!("rpc {module}:{function}({}){on}", a.join(", "))
            }
            Call::Control {
                node, method, path, ..
            } => {
                let on = if *node == Node::B { " remote" } else { "" };
                format!("control {method} {path}{on}")
            }
            Call::Http { method, path, .. } => format!("http {method} {path}"),
        }
    }

    /// Runs the call against `target`; returns the value to capture, if any.
    pub async fn run(
        &self,
        target: &Target,
        captures: &Captures,
    ) -> Result<Option<(String, Value)>, CallError> {
        let backend = |node: &Node| match node {
            Node::A => target.triggers.a.as_ref(),
            Node::B => target.triggers.b.as_ref(),
        };
        match self {
            Call::Rpc {
                node,
                module,
                function,
                args,
                returns,
                capture,
            } => {
                let Some(Backend::Erlang(rpc)) = backend(node) else {
                    return Err(CallError::Unsupported(format!(
                        "needs an Erlang node for node {node:?} (give --erlang-node and --cookie)"
                    )));
                };
                let args = args.iter().map(|a| a.term(captures)).collect();
                let t = rpc
                    .node
                    .call(module, function, args)
                    .await
                    .map_err(|e| CallError::Failed(e.to_string()))?;
                let value = printed(&t);
                if let Some(want) = returns {
                    if *want != value {
                        return Err(CallError::Failed(format!(
                            "{module}.{function} returned {t}, expected {want}"
                        )));
                    }
                }
                Ok(capture.clone().map(|n| (n, Value::String(value))))
            }
            Call::Control {
                node,
                method,
                path,
                body,
                capture,
            } => {
                let Some(Backend::Control(api)) = backend(node) else {
                    return Err(CallError::Unsupported(format!(
                        "needs phx-server's control API for node {node:?} (give --control)"
                    )));
                };
                let v = api
                    .request(method, path, body)
                    .await
                    .map_err(|e| CallError::Failed(e.to_string()))?;
                Ok(capture.clone().map(|n| (n, v)))
            }
            Call::Http {
                method,
                path,
                headers,
                body,
                status,
                capture,
            } => {
                let (got, text) = http(&target.socket_url, method, path, headers, body)
                    .await
                    .map_err(CallError::Failed)?;
                if let Some(want) = status {
                    if got != *want {
                        return Err(CallError::Failed(format!(
                            "{method} {path} answered HTTP {got}, expected {want}: {text}"
                        )));
                    }
                }
                let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
                Ok(capture.clone().map(|n| (n, v)))
            }
        }
    }
}

/// One HTTP/1.1 request to the authority of a `ws://` URL; the status and body.
async fn http(
    socket_url: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<(u16, String), String> {
    use http_body_util::{BodyExt, Full};
    if socket_url.starts_with("wss:") {
        return Err("http steps support ws:// targets only".into());
    }
    let authority = crate::target::authority(socket_url).ok_or("no host in the target URL")?;
    let tcp = tokio::net::TcpStream::connect(&authority)
        .await
        .map_err(|e| format!("cannot reach {authority}: {e}"))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder();
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let req = req
        .method(method)
        .uri(path)
        .header("host", &authority)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_owned())))
        .map_err(|e| e.to_string())?;
    let res = tokio::time::timeout(std::time::Duration::from_secs(10), send.send_request(req))
        .await
        .map_err(|_| format!("{method} {path}: no answer within 10 s"))?
        .map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}
