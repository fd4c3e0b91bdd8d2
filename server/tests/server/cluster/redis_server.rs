//! A real `redis-server` on a free loopback port, killed on drop.

use std::io::Write as _;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{sleep, Instant};

/// How to get redis-server, for the failure message in CI.
const INSTALL_HINT: &str =
    "install it: `sudo apt-get install redis-server` (Debian/Ubuntu) or `brew install redis` (macOS)";

pub struct RedisServer {
    port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts redis-server. When it is not installed the test fails (a test that did not run
    /// must not pass), unless `PHX_SKIP_MISSING=1` asks to skip: then `None`, with a notice that
    /// the test harness's capture does not hide.
    pub async fn start(test: &str) -> Option<RedisServer> {
        if !on_path("redis-server") {
            if std::env::var("PHX_SKIP_MISSING").as_deref() != Ok("1") {
                panic!(
                    "redis-server is not on PATH, and the cluster tests need it: {INSTALL_HINT} \
                     (or set PHX_SKIP_MISSING=1 to skip them, visibly)"
                );
            }
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED cluster test {test}: redis-server is not on PATH and PHX_SKIP_MISSING=1"
            );
            return None;
        }
        let port = free_port();
        let mut server = RedisServer { port, child: None };
        server.spawn().await;
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server and waits until its port refuses connections.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not go away",
                self.port
            );
            sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts it again on the same port.
    pub async fn restart(&mut self) {
        self.kill().await;
        self.spawn().await;
    }

    async fn spawn(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let child = Command::new("redis-server")
                .args([
                    "--port",
                    &self.port.to_string(),
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
                .kill_on_drop(true)
                .spawn()
                .expect("spawn redis-server");
            self.child = Some(child);
            if self.wait_for_ping(deadline).await {
                return;
            }
            // It exited (e.g. the port was taken meanwhile); try again until the deadline.
            assert!(
                Instant::now() < deadline,
                "redis-server on port {} did not answer PING within 10 s",
                self.port
            );
            sleep(Duration::from_millis(50)).await;
        }
    }

    /// True once PING answers +PONG; false if the process exited.
    async fn wait_for_ping(&mut self, deadline: Instant) -> bool {
        while Instant::now() < deadline {
            if let Some(child) = &mut self.child {
                if let Ok(Some(_status)) = child.try_wait() {
                    self.child = None;
                    return false;
                }
            }
            if self
                .command(&["PING"])
                .await
                .is_ok_and(|r| r.starts_with("+PONG"))
            {
                return true;
            }
            sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Sends one command in RESP and returns the raw reply (first read).
    pub async fn command(&self, args: &[&str]) -> std::io::Result<String> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).await?;
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            req.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            req.extend_from_slice(a.as_bytes());
            req.extend_from_slice(b"\r\n");
        }
        s.write_all(&req).await?;
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .map_err(|_| std::io::Error::other("no reply from redis within 5 s"))??;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// A port that was free a moment ago (bind :0, read, release).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl RedisServer {
    /// [`RedisServer::command`] with owned arguments (for closures).
    pub async fn command_owned(&self, args: Vec<String>) -> std::io::Result<String> {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.command(&args).await
    }
}

impl RedisServer {
    /// SIGSTOP: the process keeps its sockets open but answers nothing (a hung server, or a
    /// half-open connection as the client sees it). `false` when not running.
    pub async fn freeze(&self, frozen: bool) -> bool {
        let Some(pid) = self.child.as_ref().and_then(Child::id) else {
            return false;
        };
        let signal = if frozen { "-STOP" } else { "-CONT" };
        Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .await
            .is_ok_and(|s| s.success())
    }
}
