//! `phx bench`: every mode against the embedded phx-server and the baseline with small N (a few
//! seconds each), asserting exact counts and the JSON object's shape; cross-node on a real
//! `redis-server` (skipped with a notice when it is not installed, except under `CI`). These
//! check that the bench counts correctly, not how fast anything is.

use std::io::Write as _;
use std::net::TcpStream;
use std::process::{Child, Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use serde_json::Value;

/// Runs `phx bench ARGS --json` and returns its exit code and JSON object.
fn bench(args: &[&str]) -> (i32, Value) {
    let out = Command::cargo_bin("phx")
        .expect("phx binary")
        .arg("bench")
        .args(args)
        .args(["--json", "--timeout", "30"])
        .timeout(Duration::from_secs(120))
        .output()
        .expect("run phx bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "not one JSON object ({e}): {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), v)
}

/// The fields every mode's JSON carries, with sane values.
fn assert_sane(v: &Value, mode: &str) {
    assert_eq!(v["mode"], mode, "{v}");
    for field in [
        "rate",
        "missing",
        "duplicated",
        "p50_us",
        "p99_us",
        "p999_us",
        "max_us",
    ] {
        assert!(v[field].is_number(), "{field} missing in {v}");
    }
    assert!(v["rate"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert_eq!(v["missing"], 0, "{v}");
    assert_eq!(v["duplicated"], 0, "{v}");
    assert_eq!(v["connections_failed"], 0, "{v}");
    let (p50, p99, p999, max) = (
        v["p50_us"].as_u64().unwrap_or(0),
        v["p99_us"].as_u64().unwrap_or(0),
        v["p999_us"].as_u64().unwrap_or(0),
        v["max_us"].as_u64().unwrap_or(0),
    );
    assert!(p50 > 0 && p50 <= p99 && p99 <= p999 && p999 <= max, "{v}");
}

fn assert_with_baseline(v: &Value, mode: &str) {
    assert_sane(v, mode);
    assert!(v["baseline_rate"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert!(v["ratio"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    assert_sane(&v["baseline"], mode);
}

#[test]
fn fanout_counts_every_delivery_against_embedded_and_baseline() {
    let (code, v) = bench(&[
        "fanout",
        "--clients",
        "40",
        "--messages",
        "50",
        "--baseline",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_with_baseline(&v, "fanout");
    assert_eq!(v["delivered"], 2000, "{v}");
    assert_eq!(v["baseline"]["delivered"], 2000, "{v}");
    assert_eq!(v["out_of_order"], 0, "{v}");
}

#[test]
fn fanout_against_a_url_uses_its_control_api() {
    // phx-server on a runtime of this test process, reached by --url like any Phoenix endpoint.
    let rt = crate::support::runtime();
    let server = rt.block_on(phx_server::testing::TestServer::start(phx_server::Config {
        control: true,
        ..phx_server::Config::default()
    }));
    let url = server.ws_url("/socket");
    let pid = std::process::id().to_string();
    let (code, v) = bench(&[
        "fanout",
        "--url",
        &url,
        "--clients",
        "20",
        "--messages",
        "30",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(code, 0, "{v}");
    assert_sane(&v, "fanout");
    assert_eq!(v["delivered"], 600, "{v}");
    assert!(
        v["cpu"]["server_cores"].is_number(),
        "--server-pid gives the server's CPU: {v}"
    );
    drop(server);
}

#[test]
fn joins_reports_a_rate_for_every_client() {
    let (code, v) = bench(&[
        "joins",
        "--clients",
        "60",
        "--concurrency",
        "10",
        "--baseline",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_with_baseline(&v, "joins");
    assert_eq!(v["joined"], 60, "{v}");
}

#[test]
fn idle_holds_every_connection() {
    let (code, v) = bench(&["idle", "--clients", "50", "--duration", "0.5"]);
    assert_eq!(code, 0, "{v}");
    assert_sane(&v, "idle");
    assert_eq!(v["still_connected"], 50, "{v}");
    assert!(v["rss_per_connection_kib"].is_number(), "{v}");
}

#[test]
fn storm_rejoins_every_client_after_a_restart() {
    let (code, v) = bench(&["storm", "--clients", "50", "--baseline"]);
    assert_eq!(code, 0, "{v}");
    assert_with_baseline(&v, "storm");
    assert_eq!(v["rejoined"], 50, "{v}");
    assert!(v["reconnect_attempts"].as_u64().unwrap_or(0) >= 50, "{v}");
}

#[test]
fn a_server_that_is_not_there_exits_3() {
    let port = free_port();
    let url = format!("ws://127.0.0.1:{port}/socket");
    let out = Command::cargo_bin("phx")
        .expect("phx binary")
        .args([
            "bench",
            "fanout",
            "--url",
            &url,
            "--clients",
            "3",
            "--messages",
            "1",
            "--json",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .expect("run phx bench");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no client could join") && stderr.contains("tcp connect"),
        "{stderr}"
    );
}

#[test]
fn cross_node_over_a_real_redis_loses_nothing() {
    let Some(redis) = Redis::start() else { return };
    let url = format!("redis://127.0.0.1:{}", redis.port);
    for shape in [
        ["--clients", "30", "--messages", "40"],
        ["--clients", "3", "--messages", "2000"],
    ] {
        let mut args = vec!["cross-node", "--redis", &url, "--baseline"];
        args.extend_from_slice(&shape);
        let (code, v) = bench(&args);
        assert_eq!(code, 0, "{v}");
        assert_with_baseline(&v, "cross-node");
        assert_eq!(v["out_of_order"], 0, "{v}");
    }
    let (code, v) = bench(&[
        "cross-node",
        "--redis",
        &url,
        "--split",
        "--clients",
        "20",
        "--messages",
        "20",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_sane(&v, "cross-node");
    assert_eq!(v["delivered"], 400, "{v}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A child process killed on drop.
struct Killed(Option<Child>);

impl Killed {
    fn kill(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real redis-server on a free loopback port.
struct Redis {
    port: u16,
    _child: Killed,
}

impl Redis {
    fn start() -> Option<Redis> {
        let on_path = StdCommand::new("redis-server")
            .arg("--version")
            .output()
            .is_ok();
        if !on_path {
            assert!(
                std::env::var("PHX_SKIP_MISSING").as_deref() == Ok("1"),
                "redis-server is not on PATH and the cross-node bench test needs it: apt-get install redis-server, or set PHX_SKIP_MISSING=1 to skip it"
            );
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED the cross-node bench test: redis-server is not on PATH and PHX_SKIP_MISSING=1"
            );
            return None;
        }
        let port = free_port();
        let child = StdCommand::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let child = Killed(Some(child));
        assert!(wait_for_port(port), "redis-server did not listen on {port}");
        Some(Redis {
            port,
            _child: child,
        })
    }
}
