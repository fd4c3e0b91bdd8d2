//! The attacks. Each returns (held, what was measured).

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use phx_protocol::token::{verifier, Digest, SecretKeyBase};
use rand::Rng;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep, timeout, Instant};

use super::raw::{http, status_of, upgrade_request, Ending, RawFrame, RawWs};
use super::{Codes, Plan, ServerProcess, HARNESS_KEY};
use crate::apps::hello_sockets::AUTH_SALT;
use crate::config::FIXTURE_SECRET_KEY_BASE;
use crate::testing::client::TestClient;

const V2: &str = "vsn=2.0.0";

fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// The status of an upgrade to `/auth_socket` with `token`, and how long the answer took.
async fn auth_upgrade(server: &ServerProcess, token: &str) -> (u16, Duration) {
    let req = upgrade_request(
        &format!("/auth_socket/websocket?{V2}&token={token}"),
        "dGhlIHNhbXBsZSBub25jZQ==",
    );
    let t0 = Instant::now();
    let status = status_of(server.addr, req.as_bytes(), Duration::from_secs(30)).await;
    (status, t0.elapsed())
}

/// `{data, signed_at, max_age}` around `data` (ETF without the version byte), zlib-compressed
/// as `term_to_binary(_, [:compressed])` writes it.
fn compressed_payload(data: &[u8]) -> Vec<u8> {
    let mut inner = vec![104, 3];
    inner.extend_from_slice(data);
    inner.push(110);
    inner.push(8);
    inner.push(0);
    inner.extend_from_slice(&phx_protocol::token::now_ms().to_le_bytes());
    inner.extend_from_slice(&[98, 0, 1, 0x51, 0x80]);
    let mut enc = match libflate::zlib::Encoder::new(Vec::new()) {
        Ok(e) => e,
        Err(_) => return Vec::new(),
    };
    let _ = enc.write_all(&inner);
    let z = enc.finish().into_result().unwrap_or_default();
    let mut out = vec![131, 80];
    out.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    out.extend_from_slice(&z);
    out
}

fn sign_raw(key_base: &str, payload: &[u8]) -> String {
    match SecretKeyBase::new(key_base.as_bytes().to_vec()) {
        Ok(k) => verifier::sign(payload, &k.signing_key(AUTH_SALT), Digest::default()),
        Err(_) => String::new(),
    }
}

/// A server started without `--secret-key-base` must refuse a token minted with the public
/// fixture key.
pub(super) async fn unkeyed_server(binary: &PathBuf) -> (bool, String) {
    let server = match ServerProcess::start(binary, &[]).await {
        Ok(s) => s,
        Err(e) => return (false, e.to_string()),
    };
    let token = match crate::token::sign(FIXTURE_SECRET_KEY_BASE, AUTH_SALT, &json!(1), None, None)
    {
        Ok(t) => t,
        Err(e) => return (false, e.to_string()),
    };
    let (status, _) = auth_upgrade(&server, &token).await;
    server.stop();
    (
        status == 403,
        format!("fixture-key token against a server with no key: HTTP {status}"),
    )
}

/// Validly signed tokens whose payloads are decompression and allocation bombs.
pub(super) async fn etf_bombs(server: &ServerProcess, plan: &Plan) -> (bool, String) {
    let mut bignum = vec![111];
    bignum.extend_from_slice(&(4u32 << 20).to_be_bytes());
    bignum.push(0);
    bignum.extend(std::iter::repeat_n(0xff, 4 << 20));
    let mut binary = vec![109];
    binary.extend_from_slice(&(16u32 << 20).to_be_bytes());
    binary.extend(std::iter::repeat_n(b'a', 16 << 20));
    let mut nils = vec![108];
    nils.extend_from_slice(&(1u32 << 20).to_be_bytes());
    nils.extend(std::iter::repeat_n(106, (1 << 20) + 1));
    let mut small_bignum = vec![110, 200, 0];
    small_bignum.extend(std::iter::repeat_n(0x7f, 200));
    let bombs = [
        (
            "4 MiB bignum",
            sign_raw(HARNESS_KEY, &compressed_payload(&bignum)),
        ),
        (
            "16 MiB binary",
            sign_raw(HARNESS_KEY, &compressed_payload(&binary)),
        ),
        (
            "1 Mi-element list",
            sign_raw(HARNESS_KEY, &compressed_payload(&nils)),
        ),
    ];
    // The verification itself, in this process: over budget must be :invalid at once.
    let mut slowest_verify = Duration::ZERO;
    if let Ok(key) = SecretKeyBase::new(HARNESS_KEY.as_bytes().to_vec()) {
        let opts = phx_protocol::token::VerifyOptions::new();
        for (_, token) in &bombs {
            let _ = phx_protocol::token::verify(&key, AUTH_SALT, token, &opts);
            let t0 = std::time::Instant::now();
            let r = phx_protocol::token::verify(&key, AUTH_SALT, token, &opts);
            slowest_verify = slowest_verify.max(t0.elapsed());
            if r != Err(phx_protocol::token::VerifyError::Invalid) {
                return (false, format!("a bomb verified as {r:?}"));
            }
        }
    }
    let mut worst = Duration::ZERO;
    let mut all_refused = true;
    let mut sizes = Vec::new();
    for (name, token) in &bombs {
        let mut statuses = std::collections::BTreeSet::new();
        for _ in 0..plan.bomb_tries {
            let (status, took) = auth_upgrade(server, token).await;
            worst = worst.max(took);
            // 403: connect/3 refused the token; 414: the request line is over Cowboy's
            // 8,000 bytes, so the token never reaches connect/3 (as on Cowboy).
            all_refused &= status == 403 || status == 414;
            statuses.insert(status);
        }
        sizes.push(format!("{name} ({} B token): {statuses:?}", token.len()));
    }
    // A legitimate token with a 200-byte bignum still works (budgets are not too tight).
    let ok_token = sign_raw(HARNESS_KEY, &compressed_payload(&small_bignum));
    let (ok_status, _) = auth_upgrade(server, &ok_token).await;
    (
        all_refused && ok_status == 101 && worst < Duration::from_millis(500),
        format!(
            "{}; all refused: {all_refused}; slowest answer {}; slowest verify (:invalid) {} µs; a 200-byte bignum token: HTTP {ok_status}",
            sizes.join(", "),
            secs(worst),
            slowest_verify.as_micros()
        ),
    )
}

/// One bad frame per connection, each with the close code Cowboy sends.
pub(super) async fn protocol_errors(server: &ServerProcess, codes: &Codes) -> (bool, String) {
    let mut rsv = RawFrame::text("[]");
    rsv.rsv = 4;
    let mut unmasked = RawFrame::text("[]");
    unmasked.masked = false;
    let mut frag_ping = RawFrame::new(9, b"x".to_vec());
    frag_ping.fin = false;
    let mut huge = RawFrame::new(2, Vec::new());
    huge.declared_len = Some(64 << 20);
    let mut orphan = RawFrame::new(0, b"x".to_vec());
    orphan.fin = true;
    let cases: Vec<(&str, RawFrame, u16)> = vec![
        ("RSV1 set", rsv, 1002),
        (
            "reserved data opcode 3",
            RawFrame::new(3, b"x".to_vec()),
            1002,
        ),
        (
            "reserved control opcode 11",
            RawFrame::new(11, b"x".to_vec()),
            1002,
        ),
        ("unmasked client frame", unmasked, 1002),
        ("126-byte ping", RawFrame::new(9, vec![0u8; 126]), 1002),
        ("fragmented ping", frag_ping, 1002),
        ("continuation without a start", orphan, 1002),
        (
            "invalid UTF-8 text",
            RawFrame::new(1, vec![0xff, 0xfe, b'[']),
            1007,
        ),
        ("64 MiB frame header", huge, 1009),
        ("undecodable Phoenix frame", RawFrame::text("hello"), 1011),
    ];
    let mut wrong = Vec::new();
    for (name, frame, want) in cases {
        let ending = match RawWs::open(server.addr, &format!("/socket/websocket?{V2}")).await {
            Ok(mut ws) => {
                let _ = ws.send(&frame).await;
                ws.ending(Duration::from_secs(10)).await
            }
            Err(e) => {
                wrong.push(format!("{name}: {e}"));
                continue;
            }
        };
        codes.note(ending);
        if ending != Ending::Close(Some(want)) {
            wrong.push(format!("{name}: {ending:?}, want {want}"));
        }
    }
    (
        wrong.is_empty(),
        if wrong.is_empty() {
            "10 protocol errors, each closed with Cowboy's code (1002 x7, 1007, 1009, 1011)".into()
        } else {
            wrong.join("; ")
        },
    )
}

/// A mutated Phoenix frame, random bytes, or a random raw frame.
fn fuzzed(rng: &mut impl Rng) -> Vec<u8> {
    let valid = [
        r#"["1","1","ping","phx_join",{}]"#,
        r#"["1","2","ping","ping",{}]"#,
        r#"[null,"3","phoenix","heartbeat",{}]"#,
        r#"["1","4","ping","param_ping",{"a":[1,2,{"b":null}]}]"#,
        r#"["9","9","wild:1:2","phx_join",{}]"#,
    ];
    match rng.random_range(0..10) {
        0..=5 => {
            let mut bytes = valid[rng.random_range(0..valid.len())].as_bytes().to_vec();
            for _ in 0..rng.random_range(1..4) {
                if bytes.is_empty() {
                    break;
                }
                let i = rng.random_range(0..bytes.len());
                match rng.random_range(0..3) {
                    0 => bytes[i] ^= 1 << rng.random_range(0..8),
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, rng.random()),
                }
            }
            let opcode = if rng.random_bool(0.8) { 1 } else { 2 };
            RawFrame::new(opcode, bytes).encode()
        }
        6..=7 => {
            let n = rng.random_range(0..300);
            let payload: Vec<u8> = (0..n).map(|_| rng.random()).collect();
            let mut f = RawFrame::new(rng.random_range(0..16), payload);
            f.fin = rng.random_bool(0.8);
            f.rsv = if rng.random_bool(0.1) {
                rng.random_range(0..8)
            } else {
                0
            };
            f.masked = rng.random_bool(0.95);
            f.encode()
        }
        _ => (0..rng.random_range(1..64)).map(|_| rng.random()).collect(),
    }
}

/// Fuzzed and mutated frames from many connections; reconnects after each close.
pub(super) async fn fuzz(server: &ServerProcess, plan: &Plan, codes: &Codes) -> (bool, String) {
    let per_conn = plan.fuzz_frames / plan.fuzz_conns.max(1);
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..plan.fuzz_conns {
        let (addr, codes, sent) = (server.addr, codes.clone(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(300);
            let mut done = 0;
            let mut refused = 0;
            while done < per_conn && Instant::now() < deadline {
                let Ok(mut ws) = RawWs::open(addr, &format!("/socket/websocket?{V2}")).await else {
                    refused += 1;
                    if refused > 100 {
                        return;
                    }
                    continue;
                };
                // Up to 64 frames per connection, then see how it ended.
                let burst = 64.min(per_conn - done);
                let bytes: Vec<u8> = {
                    let mut rng = rand::rng();
                    (0..burst).flat_map(|_| fuzzed(&mut rng)).collect()
                };
                done += burst;
                sent.fetch_add(burst, std::sync::atomic::Ordering::Relaxed);
                if ws.write(&bytes).await.is_err() {
                    codes.note(Ending::Dropped);
                    continue;
                }
                codes.note(ws.ending(Duration::from_millis(200)).await);
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let sent = sent.load(std::sync::atomic::Ordering::Relaxed);
    let alive = http(
        server.addr,
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .0 == 200;
    (
        alive && sent >= plan.fuzz_frames / 2,
        format!(
            "{sent} fuzzed frames over {} connections; server alive: {alive}",
            plan.fuzz_conns
        ),
    )
}

async fn info(server: &ServerProcess) -> serde_json::Value {
    let (_, text) = http(
        server.addr,
        b"GET /api/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await;
    text.split("\r\n\r\n")
        .nth(1)
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or_default()
}

/// Clients that push 1 MiB `param_ping` echoes and never read.
pub(super) async fn non_readers(
    server: &ServerProcess,
    plan: &Plan,
    codes: &Codes,
) -> (bool, String) {
    let drops_before = info(server).await["slow_consumer_drops"]
        .as_u64()
        .unwrap_or(0);
    let rss_before = server.rss_kib();
    let blob = "x".repeat(1 << 20);
    let mut tasks = Vec::new();
    for _ in 0..plan.non_readers {
        let addr = server.addr;
        let blob = blob.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = RawWs::open(addr, &format!("/socket/websocket?{V2}"))
                .await
                .ok()?;
            ws.send(&RawFrame::text(r#"["1","1","ping","phx_join",{}]"#))
                .await
                .ok()?;
            let push = RawFrame::text(&format!(
                r#"["1","2","ping","param_ping",{{"blob":"{blob}"}}]"#
            ))
            .encode();
            // Write until the server stops taking bytes (its reader paused) for 1 s, or drops us.
            let mut written = 0usize;
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(120) {
                match timeout(Duration::from_secs(1), ws.write(&push)).await {
                    Ok(Ok(())) => written += push.len(),
                    Ok(Err(_)) => return Some((written, None)),
                    Err(_) => break,
                }
            }
            // Kept open (and unread) until the server drops it.
            Some((written, Some(ws)))
        }));
    }
    let mut written = 0;
    let mut held_open = Vec::new();
    for t in tasks {
        if let Ok(Some((w, ws))) = t.await {
            written += w;
            match ws {
                Some(ws) => held_open.push(ws),
                None => codes.note(Ending::Dropped),
            }
        }
    }
    let peak_during = server.rss_kib();
    // The server must drop them once their sockets take no bytes for slow_consumer_timeout.
    let t0 = Instant::now();
    let limit = plan.slow_consumer_timeout * 3 + Duration::from_secs(5);
    let mut drops = 0;
    while t0.elapsed() < limit {
        drops = info(server).await["slow_consumer_drops"]
            .as_u64()
            .unwrap_or(0)
            - drops_before;
        if drops >= plan.non_readers as u64 {
            break;
        }
        sleep(Duration::from_millis(100)).await;
    }
    let dropped_after = t0.elapsed();
    drop(held_open);
    let queued = info(server).await["outbound_queued_bytes"]
        .as_u64()
        .unwrap_or(u64::MAX);
    (
        drops >= plan.non_readers as u64 && queued < (1 << 20),
        format!(
            "{} clients wrote {:.1} MiB of 1 MiB echoes without reading; RSS {:.1} -> {:.1} MiB; all dropped {} after they stopped (slow_consumer_timeout {}); {drops} drops counted; {queued} bytes left queued",
            plan.non_readers,
            written as f64 / 1048576.0,
            rss_before as f64 / 1024.0,
            peak_during as f64 / 1024.0,
            secs(dropped_after),
            secs(plan.slow_consumer_timeout),
        ),
    )
}

/// Writes many heartbeats in one go, then reads: every one must be answered.
pub(super) async fn pipelining(server: &ServerProcess, plan: &Plan) -> (bool, String) {
    let Ok(mut ws) = RawWs::open(server.addr, &format!("/socket/websocket?{V2}")).await else {
        return (false, "could not connect".into());
    };
    let bytes: Vec<u8> = (0..plan.pipelined)
        .flat_map(|i| {
            RawFrame::text(&format!(r#"[null,"{i}","phoenix","heartbeat",{{}}]"#)).encode()
        })
        .collect();
    let t0 = Instant::now();
    if ws.write(&bytes).await.is_err() {
        return (false, "the write failed".into());
    }
    let mut replies = 0;
    while replies < plan.pipelined {
        match ws.read_frame(Duration::from_secs(10)).await {
            Some((1, p)) if p.windows(9).any(|w| w == b"phx_reply") => replies += 1,
            Some(_) => {}
            None => break,
        }
    }
    (
        replies == plan.pipelined,
        format!(
            "{replies} of {} pipelined heartbeats answered in {}",
            plan.pipelined,
            secs(t0.elapsed())
        ),
    )
}

/// A client that keeps reading gets every broadcast of a burst.
pub(super) async fn burst(server: &ServerProcess, plan: &Plan) -> (bool, String) {
    let Ok(mut c) = TestClient::connect(&server.ws_url("/socket"), &[]).await else {
        return (false, "could not connect".into());
    };
    c.join("ping", json!({})).await;
    let body = json!({"topic": "ping", "event": "burst", "payload": {"n": 1}, "count": plan.burst})
        .to_string();
    let req = format!(
        "POST /api/broadcast HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let addr = server.addr;
    let post =
        tokio::spawn(async move { http(addr, req.as_bytes(), Duration::from_secs(120)).await });
    let t0 = Instant::now();
    let mut got = 0u64;
    while got < plan.burst {
        match c.recv_frame(Duration::from_secs(10)).await {
            Ok(_) => got += 1,
            Err(_) => break,
        }
    }
    let took = t0.elapsed();
    let status = post.await.map(|r| r.0).unwrap_or(0);
    (
        got == plan.burst && status == 200,
        format!(
            "{got} of {} broadcasts received in {} ({:.0}/s); POST answered {status}",
            plan.burst,
            secs(took),
            got as f64 / took.as_secs_f64().max(1e-9)
        ),
    )
}

/// Silent and trickling connections before the upgrade, and oversized or lax request heads.
pub(super) async fn handshakes(server: &ServerProcess, plan: &Plan) -> (bool, String) {
    let addr = server.addr;
    let fds_before = open_fds(server);
    let mut silent = Vec::new();
    for _ in 0..plan.silent_conns {
        if let Ok(s) = TcpStream::connect(addr).await {
            silent.push(s);
        }
    }
    let opened = silent.len();
    let t0 = Instant::now();
    let trickle = tokio::spawn(async move {
        let Ok(mut s) = TcpStream::connect(addr).await else {
            return None;
        };
        let head = upgrade_request("/socket/websocket", "dGhlIHNhbXBsZSBub25jZQ==");
        let t0 = Instant::now();
        for b in head.bytes() {
            if s.write_all(&[b]).await.is_err() {
                return Some(t0.elapsed());
            }
            sleep(Duration::from_millis(200)).await;
            if t0.elapsed() > Duration::from_secs(60) {
                return None;
            }
        }
        None
    });
    let waits = silent.into_iter().map(|mut s| async move {
        let mut b = [0u8; 64];
        let _ = timeout(Duration::from_secs(60), s.read(&mut b)).await;
    });
    futures_util::future::join_all(waits).await;
    let silent_closed = t0.elapsed();
    let trickle_closed = trickle.await.ok().flatten();
    let fds_after = open_fds(server);

    let big = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let (big_status, _) = http(addr, big.as_bytes(), Duration::from_secs(5)).await;
    let many: String = (0..101).map(|i| format!("x-h{i}: 1\r\n")).collect();
    let many = format!("GET / HTTP/1.1\r\nhost: x\r\n{many}connection: close\r\n\r\n");
    let (many_status, _) = http(addr, many.as_bytes(), Duration::from_secs(5)).await;
    let http10 = upgrade_request("/socket/websocket", "dGhlIHNhbXBsZSBub25jZQ==")
        .replace("HTTP/1.1", "HTTP/1.0");
    let http10_status = status_of(addr, http10.as_bytes(), Duration::from_secs(5)).await;
    let empty_key = upgrade_request("/socket/websocket", "");
    let empty_key_status = status_of(addr, empty_key.as_bytes(), Duration::from_secs(5)).await;

    let bound = plan.request_timeout * 2 + Duration::from_secs(2);
    let held = silent_closed < bound
        && trickle_closed.is_some_and(|t| t < bound)
        && big_status == 431
        && many_status == 431
        && http10_status == 400
        && empty_key_status == 101;
    (
        held,
        format!(
            "{opened} silent connections closed within {}, a 1 byte/200 ms head cut after {} (request_timeout {}); open fds {fds_before} -> {fds_after}; 100 KB header: {big_status}; 101 headers: {many_status}; HTTP/1.0 upgrade: {http10_status}; empty key: {empty_key_status} (as Cowboy)",
            secs(silent_closed),
            trickle_closed.map(secs).unwrap_or_else(|| "never".into()),
            secs(plan.request_timeout)
        ),
    )
}

fn open_fds(server: &ServerProcess) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.child.id()))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Unbounded loops and fuzzed bodies on the control API: every answer comes in time.
pub(super) async fn control_abuse(server: &ServerProcess, plan: &Plan) -> (bool, String) {
    let post = |path: &str, body: String| {
        format!(
            "POST {path} HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let fixed = [
        (
            "/api/dedupe",
            r#"{"numbers":[],"times":18446744073709551615}"#.to_string(),
        ),
        (
            "/api/dedupe",
            r#"{"numbers":[1],"times":18446744073709551615}"#.to_string(),
        ),
        (
            "/api/dedupe",
            r#"{"numbers":[1,2,3],"times":9999999999}"#.to_string(),
        ),
        (
            "/api/broadcast",
            r#"{"topic":"x","event":"e","count":18446744073709551615}"#.to_string(),
        ),
        (
            "/api/token",
            format!(r#"{{"salt":"s","data":"{}"}}"#, "a".repeat(1 << 20)),
        ),
        (
            "/api/token",
            format!(
                r#"{{"salt":"s","data":{}1{}}}"#,
                "[".repeat(5000),
                "]".repeat(5000)
            ),
        ),
    ];
    let mut worst = Duration::ZERO;
    let mut statuses = std::collections::BTreeMap::<u16, u32>::new();
    let mut run = |status: u16, took: Duration| {
        worst = worst.max(took);
        *statuses.entry(status).or_default() += 1;
    };
    for (path, body) in &fixed {
        let t0 = Instant::now();
        let (status, _) = http(
            server.addr,
            post(path, body.clone()).as_bytes(),
            Duration::from_secs(60),
        )
        .await;
        run(status, t0.elapsed());
    }
    let paths = [
        "/api/broadcast",
        "/api/dedupe",
        "/api/disconnect",
        "/api/token",
        "/api/nope",
    ];
    let seeds = [
        r#"{"topic":"ping","event":"e","payload":{"$binary":"00ff"},"count":3,"stamp":true}"#,
        r#"{"numbers":[1,2],"times":2}"#,
        r#"{"socket_id":"auth_socket:1"}"#,
        r#"{"salt":"s","data":{"a":1},"signed_at":1,"max_age":5}"#,
    ];
    for _ in 0..plan.control_requests {
        let (path, body) = {
            let mut rng = rand::rng();
            let mut b = seeds[rng.random_range(0..seeds.len())].as_bytes().to_vec();
            for _ in 0..rng.random_range(0..4) {
                if b.is_empty() {
                    break;
                }
                let i = rng.random_range(0..b.len());
                match rng.random_range(0..3) {
                    0 => b[i] = rng.random(),
                    1 => b.truncate(i),
                    _ => b.insert(i, b"0123456789{}[]\",:"[rng.random_range(0..17)]),
                }
            }
            (
                paths[rng.random_range(0..paths.len())],
                String::from_utf8_lossy(&b).into_owned(),
            )
        };
        let t0 = Instant::now();
        let (status, _) = http(
            server.addr,
            post(path, body).as_bytes(),
            Duration::from_secs(60),
        )
        .await;
        run(status, t0.elapsed());
    }
    let no_5xx = statuses.keys().all(|s| (200..500).contains(s));
    (
        no_5xx && worst < Duration::from_secs(5),
        format!(
            "{} requests (unbounded loops, 1 MiB and 5,000-deep data, fuzzed bodies); slowest answer {}; statuses {statuses:?}",
            fixed.len() + plan.control_requests,
            secs(worst)
        ),
    )
}
