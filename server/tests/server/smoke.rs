use phx_server::testing::TestServer;
use phx_server::Config;
use serde_json::json;

#[tokio::test]
async fn join_ping_and_heartbeat() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client("/socket", &[]).await.unwrap();
    let (status, resp) = c.join("ping", json!({})).await;
    assert_eq!(status, "ok");
    assert_eq!(resp, json!({}).into());
    let r = c.push("ping", "ping", json!({})).await.unwrap();
    assert_eq!(
        c.assert_reply(&r, "ok").await,
        json!({"ping": "pong"}).into()
    );
    server.stop().await;
}
