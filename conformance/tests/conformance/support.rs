//! Shared test helpers: the target under test (embedded, or external via `PHX_URL`).

use phx_conformance::target::{External, PhoenixVersion, Target};

/// The target for `version`: the embedded server, or the `PHX_URL` target when it is set and
/// expects this version (None: this version is not under test).
pub async fn target(version: PhoenixVersion) -> Option<Target> {
    match External::from_env() {
        Some(ext) => {
            if ext.version.unwrap_or(PhoenixVersion::V1_8) != version {
                eprintln!("PHX_URL is set for another Phoenix version; skipping {version}");
                return None;
            }
            Some(ext.connect().await.expect("connect to the PHX_URL target"))
        }
        None => Some(
            Target::embedded(version)
                .await
                .expect("start the embedded server"),
        ),
    }
}

/// A multi-threaded runtime for tests that drive async code from sync closures.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
