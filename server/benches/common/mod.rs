//! What the server benches share: a server child process on a free loopback port, and its RSS
//! and CPU read from /proc.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// A server child process, killed when dropped.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub pid: u32,
}

/// A port the OS just handed out on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The release `phx-server serve --port PORT ARGS…`.
pub fn phx_server(port: u16, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_phx-server"));
    c.args(["serve", "--port", &port.to_string()]).args(args);
    c
}

/// Starts `command` (which listens on `port`) with `RUST_LOG=rust_log` and waits, at most
/// 10 s, until the port accepts.
pub async fn start(mut command: Command, port: u16, rust_log: &str) -> Server {
    let mut child = command
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(Instant::now() < deadline, "server did not start");
        assert!(child.try_wait().unwrap().is_none(), "server exited");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Server { child, port, pid }
}

/// VmRSS of `pid`, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// utime + stime of `pid` (or `"self"`) in clock ticks (100/s on Linux).
pub fn cpu_ticks(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}
