//! How a fan-out run publishes its M stamped broadcasts, always inside the server so that the
//! trigger itself is not what is measured:
//!
//! - `control:http://HOST:PORT`: phx-server's `POST /api/broadcast` with `count` and `stamp`
//!   (one request publishes all M, each payload `{"i":I,"t":unix µs}`).
//! - `erl:NODE:COOKIE`: a real Phoenix node over Erlang distribution: one RPC evaluates
//!   `lists:foreach(fun(I) -> Endpoint:broadcast(T, E, #{i => I, t => now}) end, lists:seq(0, M-1))`
//!   inside the node (parsed there by `erl_scan`/`erl_parse`, run by `erl_eval`).
//! - the built-in baseline server, called directly.

use std::time::Duration;

use eetf::Term;

use super::baseline::BaselineServer;
use crate::triggers::erlang::terms::{atom, list};
use crate::triggers::erlang::{ErlangNode, ErlangOptions};
use phx_client::TlsConfig;
use phx_protocol::Payload;
use phx_server::control::{BroadcastRequest, Client};

/// A parsed `--trigger`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerSpec {
    /// phx-server's control API at `host:port`, with an optional bearer token.
    Control {
        /// `host:port`.
        authority: String,
        /// `--control-token`.
        token: Option<String>,
        /// `control:https://…`: HTTPS (phx-server serving TLS on its socket port).
        https: bool,
    },
    /// A Phoenix node.
    Erl {
        /// `name@host`.
        node: String,
        /// The cookie.
        cookie: String,
        /// The endpoint module, e.g. `Elixir.HelloSocketsWeb.Endpoint`.
        endpoint: String,
    },
}

/// The default endpoint module of the erl trigger (the suite's one default).
pub use crate::triggers::erlang::DEFAULT_ENDPOINT_MODULE as DEFAULT_ENDPOINT;

impl TriggerSpec {
    /// Parses `control:http://HOST:PORT`, `control:https://HOST:PORT` or `erl:NODE:COOKIE`.
    pub fn parse(s: &str, token: Option<String>, endpoint: &str) -> Result<TriggerSpec, String> {
        if let Some(url) = s.strip_prefix("control:") {
            let u = url::Url::parse(url).map_err(|e| format!("--trigger {s:?}: {e}"))?;
            let https = match u.scheme() {
                "http" => false,
                "https" => true,
                other => return Err(format!("--trigger {s:?}: {other}:// is not http or https")),
            };
            let host = u
                .host_str()
                .ok_or_else(|| format!("--trigger {s:?}: no host"))?;
            let port = u
                .port_or_known_default()
                .ok_or_else(|| format!("--trigger {s:?}: no port"))?;
            return Ok(TriggerSpec::Control {
                authority: format!("{host}:{port}"),
                token,
                https,
            });
        }
        if let Some(rest) = s.strip_prefix("erl:") {
            let (node, cookie) = rest
                .split_once(':')
                .filter(|(n, c)| n.contains('@') && !c.is_empty())
                .ok_or_else(|| format!("--trigger {s:?}: use erl:NAME@HOST:COOKIE"))?;
            return Ok(TriggerSpec::Erl {
                node: node.into(),
                cookie: cookie.into(),
                endpoint: endpoint.into(),
            });
        }
        Err(format!(
            "--trigger {s:?}: use control:http://HOST:PORT or erl:NAME@HOST:COOKIE"
        ))
    }
}

/// A connected trigger.
pub enum Trigger<'a> {
    /// phx-server's control API (its typed client).
    Control(Client),
    /// A Phoenix node.
    Erl {
        /// The connection.
        node: ErlangNode,
        /// The endpoint module.
        endpoint: String,
    },
    /// The baseline server.
    Baseline(&'a BaselineServer),
}

impl Trigger<'_> {
    /// Connects `spec` (the erl trigger's calls may take up to `timeout`; an HTTPS control API
    /// is dialled with `tls`).
    pub async fn connect(
        spec: &TriggerSpec,
        timeout: Duration,
        tls: &TlsConfig,
    ) -> Result<Trigger<'static>, String> {
        match spec {
            TriggerSpec::Control {
                authority,
                token,
                https,
            } => {
                let client = Client::new(authority.clone(), token.clone()).with_timeout(timeout);
                Ok(Trigger::Control(if *https {
                    client.with_transport(crate::triggers::control_api::https(tls.clone()))
                } else {
                    client
                }))
            }
            TriggerSpec::Erl {
                node,
                cookie,
                endpoint,
            } => {
                let mut opts = ErlangOptions::new(node.clone(), cookie.clone());
                opts.call_timeout = timeout;
                let node = ErlangNode::connect(&opts)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(Trigger::Erl {
                    node,
                    endpoint: endpoint.clone(),
                })
            }
        }
    }

    /// Publishes `count` stamped broadcasts of `event` on `topic` inside the server.
    pub async fn broadcast(&self, topic: &str, event: &str, count: u64) -> Result<(), String> {
        match self {
            Trigger::Control(client) => {
                let mut req = BroadcastRequest::new(topic, event, &Payload::empty_object());
                req.count = Some(count);
                req.stamp = true;
                match client.broadcast(&req).await {
                    Ok(n) if n == count => Ok(()),
                    Ok(n) => Err(format!("the control API published {n} of {count}")),
                    Err(e) => Err(e.to_string()),
                }
            }
            Trigger::Erl { node, endpoint } => {
                erl_broadcast(node, endpoint, topic, event, count).await
            }
            Trigger::Baseline(b) => b.broadcast(topic, event, count).await,
        }
    }
}

/// The Erlang expression the erl trigger evaluates inside the node.
pub fn erl_expression(
    endpoint: &str,
    topic: &str,
    event: &str,
    count: u64,
) -> Result<String, String> {
    let plain = |s: &str| !s.contains(['"', '\\', '\'']) && !s.chars().any(char::is_control);
    if !plain(topic) || !plain(event) || !plain(endpoint) {
        return Err(
            "the erl trigger needs topic, event and endpoint without quotes or backslashes".into(),
        );
    }
    Ok(format!(
        "lists:foreach(fun(I) -> '{endpoint}':broadcast(<<\"{topic}\"/utf8>>, <<\"{event}\"/utf8>>, \
         #{{<<\"i\">> => I, <<\"t\">> => os:system_time(microsecond)}}) end, lists:seq(0, {count} - 1))."
    ))
}

async fn erl_broadcast(
    node: &ErlangNode,
    endpoint: &str,
    topic: &str,
    event: &str,
    count: u64,
) -> Result<(), String> {
    let src = erl_expression(endpoint, topic, event, count)?;
    let err = |e: crate::triggers::erlang::RpcError| e.to_string();
    let scanned = node
        .call(
            "erl_scan",
            "string",
            vec![Term::from(eetf::ByteList::from(src.into_bytes()))],
        )
        .await
        .map_err(err)?;
    let tokens = ok_element(&scanned, 1, "erl_scan:string/1")?;
    let parsed = node
        .call("erl_parse", "parse_exprs", vec![tokens])
        .await
        .map_err(err)?;
    let exprs = ok_element(&parsed, 1, "erl_parse:parse_exprs/1")?;
    let value = node
        .call("erl_eval", "exprs", vec![exprs, list(vec![])])
        .await
        .map_err(err)?;
    // {value, ok, Bindings}
    match &value {
        Term::Tuple(t) if t.elements.len() == 3 && t.elements[1] == atom("ok") => Ok(()),
        other => Err(format!(
            "the broadcast loop returned {other}, expected {{value, ok, _}}"
        )),
    }
}

/// Element `n` of an `{ok, …}` tuple.
fn ok_element(t: &Term, n: usize, call: &str) -> Result<Term, String> {
    match t {
        Term::Tuple(tup) if tup.elements.first() == Some(&atom("ok")) => tup
            .elements
            .get(n)
            .cloned()
            .ok_or_else(|| format!("{call} returned {t}")),
        _ => Err(format!("{call} returned {t}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triggers_parse() {
        assert_eq!(
            TriggerSpec::parse("control:http://127.0.0.1:4000", None, DEFAULT_ENDPOINT),
            Ok(TriggerSpec::Control {
                authority: "127.0.0.1:4000".into(),
                token: None,
                https: false,
            })
        );
        assert_eq!(
            TriggerSpec::parse("control:https://localhost", None, DEFAULT_ENDPOINT),
            Ok(TriggerSpec::Control {
                authority: "localhost:443".into(),
                token: None,
                https: true,
            })
        );
        assert!(TriggerSpec::parse("control:ws://127.0.0.1:1", None, DEFAULT_ENDPOINT).is_err());
        assert_eq!(
            TriggerSpec::parse("erl:server@127.0.0.1:secret", None, DEFAULT_ENDPOINT),
            Ok(TriggerSpec::Erl {
                node: "server@127.0.0.1".into(),
                cookie: "secret".into(),
                endpoint: DEFAULT_ENDPOINT.into()
            })
        );
        assert!(TriggerSpec::parse("erl:nohost:c", None, DEFAULT_ENDPOINT).is_err());
        assert!(TriggerSpec::parse("ftp://x", None, DEFAULT_ENDPOINT).is_err());
    }

    #[test]
    fn the_erlang_loop_is_quoted_safely() {
        let e = erl_expression(DEFAULT_ENDPOINT, "ping:b", "tick", 5).unwrap();
        assert!(e.contains("'Elixir.HelloSocketsWeb.Endpoint':broadcast(<<\"ping:b\"/utf8>>"));
        assert!(e.ends_with("lists:seq(0, 5 - 1))."));
        assert!(erl_expression(DEFAULT_ENDPOINT, "a\"b", "tick", 1).is_err());
    }
}
