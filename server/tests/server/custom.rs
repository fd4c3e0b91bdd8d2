//! The Channel and SocketHandler traits with a hand-written app: panics, crashes, terminate,
//! timers and pushes behave like Phoenix channel processes.

use std::time::Duration;

use phx_protocol::Payload;
use phx_server::channel::{Info, ReplyWith};
use phx_server::socket::{Assigns, ConnectRefused, Params};
use phx_server::testing::TestServer;
use phx_server::{
    Channel, ChannelContext, Compat, Crash, Endpoint, JoinOutcome, Mount, Outcome, SocketHandler,
    StopReason,
};
use serde_json::json;

use crate::support::*;

struct Misbehaving;

impl Channel for Misbehaving {
    fn join(
        &mut self,
        topic: &str,
        _payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<JoinOutcome, Crash> {
        if topic == "room:panic_in_join" {
            panic!("boom in join");
        }
        ctx.send_after(Duration::from_millis(50), Box::new("tick"));
        Ok(JoinOutcome::Ok(json!({"welcome": topic}).into()))
    }

    fn handle_in(
        &mut self,
        event: &str,
        payload: Payload,
        ctx: &mut ChannelContext<'_>,
    ) -> Result<Outcome, Crash> {
        match event {
            "panic" => panic!("boom"),
            "crash" => Err(Crash::new("asked to crash")),
            "push_then_reply" => {
                ctx.push("first", json!({"n": 1}));
                Ok(Outcome::Reply(ReplyWith {
                    status: "custom".into(),
                    payload,
                }))
            }
            "async_work" => {
                // Work in another task that reports back like a message to self().
                let me = ctx.handle().expect("a live channel has a handle");
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    me.send(Box::new("async_done")).await.expect("socket alive");
                });
                Ok(Outcome::NoReply)
            }
            "stop_abnormal" => Ok(Outcome::Stop {
                reason: StopReason::Other("oops".into()),
                reply: None,
            }),
            _ => Ok(Outcome::NoReply),
        }
    }

    fn handle_info(&mut self, msg: Info, ctx: &mut ChannelContext<'_>) -> Result<Outcome, Crash> {
        match msg.downcast_ref::<&str>() {
            Some(&"tick") => ctx.push("ticked", json!({})),
            Some(&"async_done") => ctx.push("async_done", json!({})),
            _ => {}
        }
        Ok(Outcome::NoReply)
    }

    fn terminate(&mut self, _reason: &StopReason, ctx: &mut ChannelContext<'_>) {
        ctx.push("you_left", json!({}));
    }
}

struct RoomSocket;

impl SocketHandler for RoomSocket {
    fn module(&self) -> &str {
        "Elixir.Test.RoomSocket"
    }

    fn connect(&self, params: &Params, _endpoint: &Endpoint) -> Result<Assigns, ConnectRefused> {
        if params.contains_key("boom") {
            panic!("boom in connect");
        }
        Ok(Assigns::new())
    }

    fn id(&self, _assigns: &Assigns) -> Option<String> {
        None
    }

    fn channel(&self, topic: &str) -> Option<Box<dyn Channel>> {
        topic
            .starts_with("room:")
            .then(|| Box::new(Misbehaving) as Box<dyn Channel>)
    }
}

#[tokio::test]
async fn panics_and_crashes_become_phx_error_and_never_kill_the_socket() {
    let server = TestServer::start_with_mounts(
        config(Compat::V1_8),
        vec![Mount::new("/socket", RoomSocket)],
    )
    .await;
    let mut c = v2(&server).await;
    exchange(&mut c, r#"["1","1","room:panic_in_join","phx_join",{}]"#, &[r#"["1","1","room:panic_in_join","phx_reply",{"response":{"reason":"join crashed"},"status":"error"}]"#]).await;
    exchange(
        &mut c,
        r#"["2","2","room:a","phx_join",{}]"#,
        &[r#"["2","2","room:a","phx_reply",{"response":{"welcome":"room:a"},"status":"ok"}]"#],
    )
    .await;
    // The join's timer fires handle_info, which pushes.
    expect(&mut c, r#"["2",null,"room:a","ticked",{}]"#).await;
    // Pushes made in a callback go out before its reply; any status atom is allowed.
    exchange(
        &mut c,
        r#"["2","3","room:a","push_then_reply",{"x":1}]"#,
        &[
            r#"["2",null,"room:a","first",{"n":1}]"#,
            r#"["2","3","room:a","phx_reply",{"response":{"x":1},"status":"custom"}]"#,
        ],
    )
    .await;
    exchange(
        &mut c,
        r#"["2","4","room:a","panic",{}]"#,
        &[r#"["2","2","room:a","phx_error",{"reason":"channel_crash"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["5","5","room:b","phx_join",{}]"#,
        &[r#"["5","5","room:b","phx_reply",{"response":{"welcome":"room:b"},"status":"ok"}]"#],
    )
    .await;
    expect(&mut c, r#"["5",null,"room:b","ticked",{}]"#).await;
    exchange(
        &mut c,
        r#"["5","6","room:b","crash",{}]"#,
        &[r#"["5","5","room:b","phx_error",{"reason":"channel_crash"}]"#],
    )
    .await;
    exchange(
        &mut c,
        r#"["7","7","room:c","phx_join",{}]"#,
        &[r#"["7","7","room:c","phx_reply",{"response":{"welcome":"room:c"},"status":"ok"}]"#],
    )
    .await;
    expect(&mut c, r#"["7",null,"room:c","ticked",{}]"#).await;
    // An abnormal stop is reported like a crash, after what terminate pushed.
    exchange(
        &mut c,
        r#"["7","8","room:c","stop_abnormal",{}]"#,
        &[
            r#"["7",null,"room:c","you_left",{}]"#,
            r#"["7","7","room:c","phx_error",{"reason":"channel_crash"}]"#,
        ],
    )
    .await;
    // Leave: reply, close, then what terminate pushed.
    exchange(
        &mut c,
        r#"["9","9","room:d","phx_join",{}]"#,
        &[r#"["9","9","room:d","phx_reply",{"response":{"welcome":"room:d"},"status":"ok"}]"#],
    )
    .await;
    expect(&mut c, r#"["9",null,"room:d","ticked",{}]"#).await;
    exchange(
        &mut c,
        r#"["9","10","room:d","phx_leave",{}]"#,
        &[
            r#"["9","10","room:d","phx_reply",{"response":{},"status":"ok"}]"#,
            r#"["9","9","room:d","phx_close",{}]"#,
            r#"["9",null,"room:d","you_left",{}]"#,
        ],
    )
    .await;
    exchange(
        &mut c,
        r#"[null,"11","phoenix","heartbeat",{}]"#,
        &[r#"[null,"11","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
    )
    .await;
    assert!(
        server.logs().contains("panic: boom"),
        "{}",
        server.logs().contents()
    );
}

/// connect/3 runs on the async worker for a short query and on the blocking pool for a long one
/// (over 1 KiB); a raise is a 500 either way, and the server keeps accepting.
#[tokio::test]
async fn a_raising_connect_is_a_500_on_either_path_and_the_server_carries_on() {
    use phx_protocol::Vsn;
    use phx_server::testing::{ClientError, TestClient};
    let server = TestServer::start_with_mounts(
        config(Compat::V1_8),
        vec![Mount::new("/socket", RoomSocket)],
    )
    .await;
    let long = "x".repeat(2000);
    for query in [
        "vsn=2.0.0&boom=1".to_owned(),
        format!("vsn=2.0.0&boom=1&pad={long}"),
    ] {
        let url = format!("{}?{query}", server.ws_url("/socket"));
        match TestClient::connect_raw(&url, Vsn::V2).await {
            Err(ClientError::Refused { status: 500, .. }) => {}
            Err(e) => panic!("{} bytes: expected 500, got {e}", query.len()),
            Ok(_) => panic!("{} bytes: expected 500, got a socket", query.len()),
        }
    }
    for query in ["vsn=2.0.0".to_owned(), format!("vsn=2.0.0&pad={long}")] {
        let url = format!("{}?{query}", server.ws_url("/socket"));
        let mut c = TestClient::connect_raw(&url, Vsn::V2)
            .await
            .unwrap_or_else(|e| panic!("{} bytes: {e}", query.len()));
        exchange(
            &mut c,
            r#"[null,"1","phoenix","heartbeat",{}]"#,
            &[r#"[null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
    }
    assert!(
        server.logs().contains("boom in connect"),
        "{}",
        server.logs().contents()
    );
}
