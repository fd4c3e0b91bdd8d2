//! Shared test helpers: the target under test (embedded, or external via `PHX_URL`).

use phx_conformance::target::{External, PhoenixVersion, Target};
use std::sync::{Mutex, MutexGuard};

/// The target for the suite of `recorded` (1.7.14 or 1.8.12): the `PHX_URL` target when it is
/// set and on the same Phoenix line (then its own `PHX_PHOENIX` release is expected, e.g.
/// 1.7.24), else the embedded server as `recorded`. Either way the suite runs: nothing is
/// skipped because the external target has another version.
pub async fn target(recorded: PhoenixVersion) -> Target {
    if let Some(ext) = External::from_env().expect("the PHX_* variables") {
        let v = ext.version.unwrap_or_default().release();
        if v.same_line(recorded.release()) {
            return ext.connect().await.expect("connect to the PHX_URL target");
        }
        eprintln!("PHX_URL expects Phoenix {v}: the {recorded} suite runs on the embedded server");
    }
    Target::embedded(recorded)
        .await
        .expect("start the embedded server")
}

/// The target for version-independent tests (the properties): `PHX_URL` whatever its version,
/// else the embedded 1.8 server.
pub async fn any_target() -> Target {
    match External::from_env().expect("the PHX_* variables") {
        Some(ext) => ext.connect().await.expect("connect to the PHX_URL target"),
        None => Target::embedded(PhoenixVersion::V1_8)
            .await
            .expect("start the embedded server"),
    }
}

/// Held by every test that uses a topic it cannot make unique (`dupe`: DedupeChannel always
/// broadcasts there), so that against one external server they never see each other's frames.
pub fn shared_topic_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    // A test that panicked while holding it leaves nothing to clean up.
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// A name no other test in this process (or another process's) uses: `<prefix><pid>-<n>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A multi-threaded runtime for tests that drive async code from sync closures.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// `phx ARGS…` with no `PHX_*` variable of the caller's environment leaking in (the external
/// suite sets them for the library tests; the CLI tests name their targets with flags).
pub fn phx(args: &[&str]) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("phx").expect("phx binary");
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("PHX_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args);
    cmd
}
