//! Apps plug in: a second app mounts beside HelloSockets in a few lines, with its own control
//! route, and the generic control API serves it.

use phx_protocol::Payload;
use phx_server::apps::hello_sockets::HelloSockets;
use phx_server::apps::{App, ControlFuture};
use phx_server::control::{Client, ControlError};
use phx_server::socket::{Assigns, ConnectRefused, Params};
use phx_server::testing::TestServer;
use phx_server::{
    Channel, ChannelContext, Compat, Crash, Endpoint, JoinOutcome, Mount, Outcome, SocketHandler,
};
use serde_json::{json, Value};

use crate::support::*;

/// A counter app: `/counter` with `count:*` topics; `POST /api/bump` broadcasts the count.
struct Counter;

struct CounterSocket;

struct CounterChannel;

impl Channel for CounterChannel {
    fn join(
        &mut self,
        _topic: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        Ok(JoinOutcome::Ok(json!({"hello": "counter"}).into()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        _payload: Payload,
        _ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        Err(Crash::no_clause("handle_in/3", event))
    }
}

impl SocketHandler for CounterSocket {
    fn module(&self) -> &str {
        "Elixir.CounterWeb.Socket"
    }
    fn connect(&self, _: &Params, _: &Endpoint) -> Result<Assigns, ConnectRefused> {
        Ok(Assigns::new())
    }
    fn id(&self, _: &Assigns) -> Option<String> {
        None
    }
    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        topic
            .starts_with("count:")
            .then(|| Box::new(CounterChannel) as Box<dyn Channel>)
    }
}

impl App for Counter {
    fn name(&self) -> &str {
        "Counter"
    }
    fn mounts(&self) -> Vec<Mount> {
        vec![Mount::new("/counter", CounterSocket)]
    }
    fn control<'a>(
        &'a self,
        route: &str,
        body: &'a [u8],
        endpoint: &'a Endpoint,
    ) -> Option<ControlFuture<'a>> {
        (route == "bump").then(|| {
            Box::pin(async move {
                let v: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
                let n = v["n"].as_u64().ok_or("\"n\" must be a number")?;
                endpoint.broadcast("count:1", "bumped", json!({ "n": n }).into());
                Ok(json!({"ok": true}))
            }) as ControlFuture<'a>
        })
    }
}

#[tokio::test]
async fn a_second_app_mounts_with_its_own_control_route_beside_hello_sockets() {
    let endpoint = Endpoint::builder(config(Compat::V1_8))
        .app(HelloSockets::default())
        .app(Counter)
        .build();
    assert!(endpoint.app::<Counter>().is_some());
    assert!(endpoint.mount("/socket").is_some() && endpoint.mount("/counter").is_some());

    let server = TestServer::start_app(config(Compat::V1_8), Counter, None).await;
    let mut c = server
        .client("/counter", &[("vsn", "2.0.0")])
        .await
        .unwrap();
    exchange(
        &mut c,
        r#"["1","1","count:1","phx_join",{}]"#,
        &[r#"["1","1","count:1","phx_reply",{"response":{"hello":"counter"},"status":"ok"}]"#],
    )
    .await;
    let client = Client::new(server.addr().to_string(), None);
    client.post("/api/bump", &json!({"n": 3})).await.unwrap();
    expect(&mut c, r#"[null,null,"count:1","bumped",{"n":3}]"#).await;
    // The app's error is a 400; HelloSockets' route is not served without HelloSockets.
    let bad = client.post("/api/bump", &json!({})).await;
    assert!(
        matches!(bad, Err(ControlError::Status { status: 400, .. })),
        "{bad:?}"
    );
    let absent = client
        .post("/api/dedupe", &json!({"numbers": [1], "times": 1}))
        .await;
    assert!(
        matches!(absent, Err(ControlError::Status { status: 404, .. })),
        "{absent:?}"
    );
    // /socket is HelloSockets': not mounted here.
    assert!(server.client("/socket", &[]).await.is_err());
}

#[tokio::test]
async fn the_typed_client_reads_info_and_signs_tokens() {
    let server = start(Compat::V1_7).await;
    let client = Client::new(server.addr().to_string(), None);
    let info = client.info().await.unwrap();
    assert_eq!(
        (info.node.as_str(), info.compat.as_str()),
        ("server@127.0.0.1", "1.7.14")
    );
    let token = client
        .sign_token(&phx_server::control::TokenRequest {
            salt: "salt identifier".into(),
            data: json!(1),
            signed_at: None,
            max_age: None,
        })
        .await
        .unwrap();
    assert_eq!(
        server
            .endpoint()
            .verify_token("salt identifier", &token, 60)
            .unwrap(),
        json!(1)
    );
    let unreachable = Client::new("127.0.0.1:1", None).info().await;
    assert!(
        matches!(unreachable, Err(ControlError::Unreachable { .. })),
        "{unreachable:?}"
    );
}
