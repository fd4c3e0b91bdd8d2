//! Erlang distribution: the harness joins a Phoenix cluster as a hidden node and calls functions
//! by RPC, as the tutorial's `remote@127.0.0.1` node does.
//!
//! - [`stream`]: the TCP stream erl_dist drives (TCP_NODELAY set: without it each call costs
//!   about 44 ms of Nagle plus delayed ACK).
//! - [`terms`]: Elixir-shaped terms (strings are binaries, modules are atoms).
//! - [`ErlangNode`]: one distribution connection. A driver task owns the sender, answers
//!   `io_request`s (so a remote `IO.puts` cannot wedge later calls), ignores monitors and sends
//!   ticks so the peer keeps the link up.
//! - [`PhoenixRpc`]: the HelloSockets actions (broadcast, dedupe, sign, disconnect), on the
//!   app's endpoint module ([`PhoenixRpc::with_endpoint`]: `--endpoint-module`,
//!   `PHX_ENDPOINT_MODULE`; [`module_atom`] turns `MyAppWeb.Endpoint` into its atom).

pub mod stream;
pub mod terms;

use super::{Action, SignRequest};
use eetf::{Pid, Reference, Term};
use erl_dist::message::Message;
use erl_dist::node::{Creation, LocalNode, NodeName};
use phx_protocol::Payload;
use std::collections::HashMap;
use std::time::Duration;
use stream::SharedTcp;
use terms::{atom, binary, int, list, tuple};
use tokio::sync::{mpsc, oneshot};

/// EPMD's default port.
pub const DEFAULT_EPMD_PORT: u16 = 4369;
/// How often the harness ticks by default (the peer's `net_ticktime` defaults to 60 s, and it
/// drops a peer it has heard nothing from for that long).
pub const DEFAULT_TICK_INTERVAL: Duration = Duration::from_secs(15);

/// The endpoint module RPC triggers call by default: the tutorial app's.
pub const DEFAULT_ENDPOINT_MODULE: &str = "Elixir.HelloSocketsWeb.Endpoint";

/// The atom of a module as written in Elixir or Erlang: `MyAppWeb.Endpoint` (an Elixir alias,
/// capitalised) becomes `Elixir.MyAppWeb.Endpoint`; `Elixir.MyAppWeb.Endpoint`, `my_endpoint`
/// and `:my_endpoint` name the atom as written (without the colon).
pub fn module_atom(name: &str) -> String {
    let name = name.trim();
    if let Some(erlang) = name.strip_prefix(':') {
        return erlang.to_owned();
    }
    if name.starts_with("Elixir.") || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
        name.to_owned()
    } else {
        format!("Elixir.{name}")
    }
}

/// Why an RPC failed.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// The node name is not `name@host`.
    #[error("invalid node name {0:?}: use a long name such as server@127.0.0.1")]
    BadNodeName(String),
    /// EPMD could not be reached on the node's host.
    #[error("cannot reach EPMD at {addr}: {reason} (is the Erlang node running? set ERL_EPMD_PORT if EPMD uses another port)")]
    Epmd {
        /// host:port.
        addr: String,
        /// What went wrong.
        reason: String,
    },
    /// EPMD does not know the node.
    #[error("EPMD at {0} knows no node named {1:?}: check the node name")]
    UnknownNode(String, String),
    /// The handshake failed; a wrong cookie shows up as an EOF here.
    #[error("distribution handshake with {node} failed: {reason} (check the cookie: the node rejects a wrong one by closing the connection)")]
    Handshake {
        /// The peer node.
        node: String,
        /// What went wrong.
        reason: String,
    },
    /// The connection to the node is gone.
    #[error("the connection to the Erlang node closed: {0}")]
    Closed(String),
    /// No reply within the per-call timeout (the remote call may still be running).
    #[error("{0} did not answer within {1:?}")]
    Timeout(String, Duration),
    /// The call raised or the function is missing.
    #[error("{call} failed on the node: {reason}")]
    BadRpc {
        /// `Mod.fun/arity`.
        call: String,
        /// The `{badrpc, Reason}` reason.
        reason: String,
    },
    /// The endpoint module is not loaded on the node: the app's endpoint has another name.
    #[error("{call} failed on the node: {module} is undefined there (set --endpoint-module or PHX_ENDPOINT_MODULE to the app's endpoint, e.g. MyAppWeb.Endpoint; the default is HelloSocketsWeb.Endpoint)")]
    EndpointUndefined {
        /// `Mod.fun/arity`.
        call: String,
        /// The endpoint module's atom.
        module: String,
    },
    /// The call returned something the harness did not expect.
    #[error("{call} returned {value}, expected {expected}")]
    Unexpected {
        /// `Mod.fun/arity`.
        call: String,
        /// The term returned.
        value: String,
        /// What was expected.
        expected: &'static str,
    },
}

/// How to reach a node.
#[derive(Clone, Debug)]
pub struct ErlangOptions {
    /// The peer, e.g. `server@127.0.0.1`.
    pub node: String,
    /// The cluster cookie.
    pub cookie: String,
    /// The harness's own node name (default `phx_check_<pid>_<n>@127.0.0.1`).
    pub local_name: Option<String>,
    /// EPMD's port on the peer's host.
    pub epmd_port: u16,
    /// Per-call timeout.
    pub call_timeout: Duration,
    /// How often to tick when idle; keep it well under the peer's `net_ticktime`.
    pub tick_interval: Duration,
}

impl ErlangOptions {
    /// Options with the default EPMD port (or `ERL_EPMD_PORT`) and a 5 s call timeout.
    pub fn new(node: impl Into<String>, cookie: impl Into<String>) -> Self {
        let epmd_port = std::env::var("ERL_EPMD_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(DEFAULT_EPMD_PORT);
        ErlangOptions {
            node: node.into(),
            cookie: cookie.into(),
            local_name: None,
            epmd_port,
            call_timeout: Duration::from_secs(5),
            tick_interval: DEFAULT_TICK_INTERVAL,
        }
    }
}

struct CallRequest {
    module: String,
    function: String,
    args: Vec<Term>,
    reply: oneshot::Sender<Result<Term, RpcError>>,
}

/// One distribution connection to a node, as a hidden node.
#[derive(Clone)]
pub struct ErlangNode {
    calls: mpsc::Sender<CallRequest>,
    peer: String,
    timeout: Duration,
}

fn unique_local_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "phx_check_{}_{}@127.0.0.1",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl ErlangNode {
    /// Looks the node up in EPMD, does the handshake and starts the driver task.
    pub async fn connect(opts: &ErlangOptions) -> Result<ErlangNode, RpcError> {
        let peer: NodeName = opts
            .node
            .parse()
            .map_err(|_| RpcError::BadNodeName(opts.node.clone()))?;
        let local_name = opts.local_name.clone().unwrap_or_else(unique_local_name);
        let local: NodeName = local_name
            .parse()
            .map_err(|_| RpcError::BadNodeName(local_name.clone()))?;

        let epmd_addr = format!("{}:{}", peer.host(), opts.epmd_port);
        let epmd_err = |e: &dyn std::fmt::Display| RpcError::Epmd {
            addr: epmd_addr.clone(),
            reason: e.to_string(),
        };
        let s = tokio::net::TcpStream::connect(&epmd_addr)
            .await
            .map_err(|e| epmd_err(&e))?;
        let _ = s.set_nodelay(true);
        let entry = erl_dist::epmd::EpmdClient::new(SharedTcp::new(s))
            .get_node(peer.name())
            .await
            .map_err(|e| epmd_err(&e))?
            .ok_or_else(|| RpcError::UnknownNode(epmd_addr.clone(), peer.name().to_owned()))?;

        let hs_err = |e: &dyn std::fmt::Display| RpcError::Handshake {
            node: opts.node.clone(),
            reason: e.to_string(),
        };
        let s = tokio::net::TcpStream::connect((peer.host(), entry.port))
            .await
            .map_err(|e| hs_err(&e))?;
        s.set_nodelay(true).map_err(|e| hs_err(&e))?;
        let creation = Creation::random();
        let local_node = LocalNode::new(local.clone(), creation);
        let flags = local_node.flags;
        let mut hs = erl_dist::handshake::ClientSideHandshake::new(
            SharedTcp::new(s),
            local_node,
            &opts.cookie,
        );
        hs.execute_send_name(erl_dist::LOWEST_DISTRIBUTION_PROTOCOL_VERSION)
            .await
            .map_err(|e| hs_err(&e))?;
        let (conn, peer_node) = hs.execute_rest(true).await.map_err(|e| hs_err(&e))?;
        let (tx, rx) = erl_dist::message::channel(conn, flags & peer_node.flags);

        let self_pid = Pid::new(local.to_string(), 1, 0, creation.get());
        let (calls_tx, calls_rx) = mpsc::channel(16);
        let (in_tx, in_rx) = mpsc::channel(64);
        tokio::spawn(read_loop(rx, in_tx));
        tokio::spawn(drive(
            tx,
            calls_rx,
            in_rx,
            self_pid,
            local.to_string(),
            creation.get(),
            opts.tick_interval,
        ));
        Ok(ErlangNode {
            calls: calls_tx,
            peer: opts.node.clone(),
            timeout: opts.call_timeout,
        })
    }

    /// The peer's node name.
    pub fn peer(&self) -> &str {
        &self.peer
    }

    /// `Module:function(Args…)` on the peer, through `rex`, within the per-call timeout.
    pub async fn call(
        &self,
        module: &str,
        function: &str,
        args: Vec<Term>,
    ) -> Result<Term, RpcError> {
        let name = format!("{module}.{function}/{}", args.len());
        let (reply, rx) = oneshot::channel();
        let req = CallRequest {
            module: module.to_owned(),
            function: function.to_owned(),
            args,
            reply,
        };
        self.calls
            .send(req)
            .await
            .map_err(|_| RpcError::Closed("driver stopped".into()))?;
        match tokio::time::timeout(self.timeout, rx).await {
            Err(_) => Err(RpcError::Timeout(name, self.timeout)),
            Ok(Err(_)) => Err(RpcError::Closed("connection lost during the call".into())),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok(Term::Tuple(t))))
                if t.elements.len() == 2 && terms::is_atom(&t.elements[0], "badrpc") =>
            {
                Err(RpcError::BadRpc {
                    call: name,
                    reason: t.elements[1].to_string(),
                })
            }
            Ok(Ok(Ok(term))) => Ok(term),
        }
    }
}

type Receiver = erl_dist::message::Receiver<SharedTcp>;
type Sender = erl_dist::message::Sender<SharedTcp>;

async fn read_loop(mut rx: Receiver, out: mpsc::Sender<Result<Message, String>>) {
    loop {
        let msg = rx.recv().await.map_err(|e| e.to_string());
        let stop = msg.is_err();
        if out.send(msg).await.is_err() || stop {
            return;
        }
    }
}

/// The message a `Send`-family distribution message carries.
fn carried(msg: Message) -> Option<Term> {
    match msg {
        Message::Send(m) => Some(m.message),
        Message::SendSender(m) => Some(m.message),
        Message::SendTt(m) => Some(m.message),
        Message::SendSenderTt(m) => Some(m.message),
        Message::AliasSend(m) => Some(m.message),
        Message::AliasSendTt(m) => Some(m.message),
        Message::RegSend(m) => Some(m.message),
        Message::RegSendTt(m) => Some(m.message),
        _ => None,
    }
}

async fn drive(
    mut tx: Sender,
    mut calls: mpsc::Receiver<CallRequest>,
    mut incoming: mpsc::Receiver<Result<Message, String>>,
    self_pid: Pid,
    node: String,
    creation: u32,
    tick_every: Duration,
) {
    let mut pending: HashMap<Vec<u32>, oneshot::Sender<Result<Term, RpcError>>> = HashMap::new();
    let mut next_ref: u32 = 1;
    // `interval` panics on zero; `tick_interval` is a public option.
    let mut tick = tokio::time::interval(tick_every.max(Duration::from_millis(1)));
    loop {
        tokio::select! {
            req = calls.recv() => {
                let Some(req) = req else { return };
                // Forget calls whose caller timed out, so a hung `rex` cannot grow the map.
                pending.retain(|_, p| !p.is_closed());
                let id = vec![next_ref, 0, 0];
                next_ref = next_ref.wrapping_add(1);
                let reference = Reference { node: eetf::Atom::from(node.as_str()), id: id.clone(), creation };
                // gen_server:call(rex, {call, M, F, A, GroupLeader}); we are the group leader,
                // so remote IO comes back to us as io_request.
                let request = tuple(vec![
                    atom("call"), atom(&req.module), atom(&req.function), list(req.args), self_pid.clone().into(),
                ]);
                let msg = tuple(vec![
                    atom("$gen_call"),
                    tuple(vec![self_pid.clone().into(), reference.into()]),
                    request,
                ]);
                match tx.send(Message::reg_send(self_pid.clone(), eetf::Atom::from("rex"), msg)).await {
                    Ok(()) => { pending.insert(id, req.reply); }
                    Err(e) => { let _ = req.reply.send(Err(RpcError::Closed(e.to_string()))); }
                }
            }
            msg = incoming.recv() => {
                let msg = match msg {
                    Some(Ok(m)) => m,
                    Some(Err(reason)) => {
                        for (_, p) in pending.drain() { let _ = p.send(Err(RpcError::Closed(reason.clone()))); }
                        return;
                    }
                    None => return,
                };
                if matches!(msg, Message::Tick) {
                    let _ = tx.send(Message::Tick).await;
                    continue;
                }
                let Some(Term::Tuple(t)) = carried(msg) else { continue };
                match t.elements.as_slice() {
                    [Term::Reference(r), reply] => {
                        if let Some(p) = pending.remove(&r.id) { let _ = p.send(Ok(reply.clone())); }
                    }
                    [io_request, Term::Pid(from), reply_as, _request] if terms::is_atom(io_request, "io_request") => {
                        let answer = tuple(vec![atom("io_reply"), reply_as.clone(), atom("ok")]);
                        let _ = tx.send(Message::send(from.clone(), answer)).await;
                    }
                    _ => {}
                }
            }
            _ = tick.tick() => {
                let _ = tx.send(Message::Tick).await;
            }
        }
    }
}

/// The HelloSockets app's server-side actions, by RPC on a Phoenix node.
#[derive(Clone)]
pub struct PhoenixRpc {
    /// The connection.
    pub node: ErlangNode,
    /// The endpoint module (default `Elixir.HelloSocketsWeb.Endpoint`).
    pub endpoint: String,
    /// The dedupe channel module (default `Elixir.HelloSocketsWeb.DedupeChannel`).
    pub dedupe: String,
}

impl PhoenixRpc {
    /// The HelloSockets modules on `node`.
    pub fn hello_sockets(node: ErlangNode) -> Self {
        PhoenixRpc {
            node,
            endpoint: DEFAULT_ENDPOINT_MODULE.into(),
            dedupe: "Elixir.HelloSocketsWeb.DedupeChannel".into(),
        }
    }

    /// Broadcasts, disconnects and tokens through the app's own endpoint `module`
    /// (`MyAppWeb.Endpoint` or its atom, see [`module_atom`]); the dedupe action stays
    /// HelloSockets'.
    pub fn with_endpoint(node: ErlangNode, module: &str) -> Self {
        PhoenixRpc {
            endpoint: module_atom(module),
            ..Self::hello_sockets(node)
        }
    }

    /// A `badrpc` whose reason is the endpoint module being undefined (`{undef, [{Endpoint, …}
    /// | _]}`: the first frame of the stack is a call into it) becomes
    /// [`RpcError::EndpointUndefined`], which says how to name the app's endpoint.
    fn explain(&self, e: RpcError) -> RpcError {
        match e {
            RpcError::BadRpc { call, reason }
                if reason.contains(&format!("'undef',[{{'{}',", self.endpoint)) =>
            {
                RpcError::EndpointUndefined {
                    call,
                    module: self.endpoint.clone(),
                }
            }
            other => other,
        }
    }

    fn expect_ok(call: String, t: Term) -> Result<(), RpcError> {
        if terms::is_atom(&t, "ok") {
            Ok(())
        } else {
            Err(RpcError::Unexpected {
                call,
                value: t.to_string(),
                expected: "ok",
            })
        }
    }

    /// `Endpoint.broadcast/3`, `DedupeChannel.broadcast/2`, or a disconnect broadcast.
    pub async fn run(&self, action: &Action) -> Result<(), RpcError> {
        let (module, function, args) = match action {
            Action::Broadcast {
                topic,
                event,
                payload,
                ..
            } => {
                let payload = match payload {
                    Payload::Json(v) => terms::from_json(v),
                    Payload::Binary(b) => {
                        tuple(vec![atom("binary"), eetf::Binary::from(b.to_vec()).into()])
                    }
                };
                (
                    &self.endpoint,
                    "broadcast",
                    vec![binary(topic), binary(event), payload],
                )
            }
            Action::Dedupe { numbers, times } => (
                &self.dedupe,
                "broadcast",
                vec![
                    list(numbers.iter().map(|n| int(*n)).collect()),
                    int(i64::from(*times)),
                ],
            ),
            Action::Disconnect { socket_id } => (
                &self.endpoint,
                "broadcast",
                vec![
                    binary(socket_id),
                    binary("disconnect"),
                    terms::from_json(&serde_json::json!({})),
                ],
            ),
        };
        let t = self
            .node
            .call(module, function, args)
            .await
            .map_err(|e| self.explain(e))?;
        Self::expect_ok(format!("{module}.{function}"), t)
    }

    /// `Phoenix.Token.sign(Endpoint, salt, data, signed_at: …)`.
    pub async fn sign(&self, req: &SignRequest) -> Result<String, RpcError> {
        let mut args = vec![atom(&self.endpoint), binary(&req.salt), int(req.data)];
        if req.age_offset_s != 0 {
            let at = super::now_s() + req.age_offset_s;
            args.push(list(vec![tuple(vec![atom("signed_at"), int(at)])]));
        }
        let t = self
            .node
            .call("Elixir.Phoenix.Token", "sign", args)
            .await
            .map_err(|e| self.explain(e))?;
        terms::as_bytes(&t)
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| RpcError::Unexpected {
                call: "Elixir.Phoenix.Token.sign".into(),
                value: t.to_string(),
                expected: "a token binary",
            })
    }
}

#[cfg(test)]
mod tests {
    use super::module_atom;

    #[test]
    fn module_atom_prefixes_elixir_aliases_only() {
        assert_eq!(module_atom("MyAppWeb.Endpoint"), "Elixir.MyAppWeb.Endpoint");
        assert_eq!(
            module_atom(" Elixir.RoomsWeb.Endpoint "),
            "Elixir.RoomsWeb.Endpoint"
        );
        assert_eq!(module_atom("my_endpoint"), "my_endpoint");
        assert_eq!(module_atom(":my_endpoint"), "my_endpoint");
    }
}
