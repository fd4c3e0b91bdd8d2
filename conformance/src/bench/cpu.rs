//! CPU time and memory from `/proc` (Linux): the generator's own threads, named
//! [`GENERATOR_THREAD`], are counted apart from an embedded server's threads in the same process.

use std::time::Duration;

/// The name of the generator's runtime threads.
pub const GENERATOR_THREAD: &str = "phx-bench-gen";
/// The name of an embedded server's runtime threads.
pub const SERVER_THREAD: &str = "phx-bench-srv";

/// Clock ticks per second of `/proc/*/stat` (USER_HZ, 100 on every Linux this runs on).
const TICKS_PER_S: u64 = 100;

/// utime + stime of one `/proc/.../stat` line.
fn stat_cpu(stat: &str) -> Option<Duration> {
    let after_comm = stat.get(stat.rfind(')')? + 2..)?;
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / TICKS_PER_S))
}

/// CPU used so far by this process's threads whose name starts with `prefix`.
pub fn threads_cpu(prefix: &str) -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut total = Duration::ZERO;
    for task in dir.flatten() {
        let path = task.path();
        let named = std::fs::read_to_string(path.join("comm"))
            .map(|c| c.trim_end().starts_with(prefix))
            .unwrap_or(false);
        if named {
            if let Some(cpu) = std::fs::read_to_string(path.join("stat"))
                .ok()
                .as_deref()
                .and_then(stat_cpu)
            {
                total += cpu;
            }
        }
    }
    total
}

/// CPU used so far by process `pid`, or `None` when it cannot be read.
pub fn process_cpu(pid: u32) -> Option<Duration> {
    stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Resident memory of process `pid` in KiB (`VmRSS`), or `None`.
pub fn process_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A CPU meter over an interval: the generator's threads and, when known, the server's.
pub struct CpuMeter {
    generator: Duration,
    server: Option<Duration>,
    server_source: ServerCpu,
}

/// Where the server's CPU comes from.
#[derive(Clone, Copy, Debug)]
pub enum ServerCpu {
    /// Not known (a remote server without `--server-pid`).
    Unknown,
    /// An embedded server's threads in this process.
    Embedded,
    /// Another process.
    Pid(u32),
}

impl ServerCpu {
    fn read(self) -> Option<Duration> {
        match self {
            ServerCpu::Unknown => None,
            ServerCpu::Embedded => Some(threads_cpu(SERVER_THREAD)),
            ServerCpu::Pid(pid) => process_cpu(pid),
        }
    }
}

/// CPU used over an interval, as a fraction of one core (1.0 = one core busy).
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct CpuUse {
    /// The generator's threads.
    pub generator_cores: f64,
    /// The server, when known.
    pub server_cores: Option<f64>,
    /// Server CPU in µs, when known.
    pub server_cpu_us: Option<u64>,
}

impl CpuMeter {
    /// Starts measuring.
    pub fn start(server: ServerCpu) -> Self {
        CpuMeter {
            generator: threads_cpu(GENERATOR_THREAD),
            server: server.read(),
            server_source: server,
        }
    }

    /// CPU used since [`CpuMeter::start`], over `wall`.
    pub fn stop(&self, wall: Duration) -> CpuUse {
        let secs = wall.as_secs_f64().max(1e-9);
        let generator = threads_cpu(GENERATOR_THREAD).saturating_sub(self.generator);
        let server = match (self.server, self.server_source.read()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a)),
            _ => None,
        };
        CpuUse {
            generator_cores: generator.as_secs_f64() / secs,
            server_cores: server.map(|s| s.as_secs_f64() / secs),
            server_cpu_us: server.map(|s| s.as_micros() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_spaces_in_the_name() {
        let line = "42 (a b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 1 1 1";
        assert_eq!(stat_cpu(line), Some(Duration::from_millis(3000)));
        assert_eq!(stat_cpu("garbage"), None);
    }

    #[test]
    fn reads_this_process() {
        let pid = std::process::id();
        assert!(process_rss_kib(pid).is_some_and(|k| k > 0));
        assert!(process_cpu(pid).is_some());
    }
}
