//! The hostile-input harness, short run: a real `phx-server` process (the debug build) attacked
//! over the wire while a bystander heartbeats. The long run is
//! `cargo bench -p phx-server --bench hostile`.

use std::path::PathBuf;
use std::time::Duration;

use phx_server::testing::hostile::{run, Scale};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_holds_against_the_short_hostile_run() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_phx-server"));
    let report = tokio::time::timeout(Duration::from_secs(120), run(binary, Scale::Short))
        .await
        .expect("the short run finishes in time")
        .expect("the harness runs");
    println!("{report}");
    for f in &report.findings {
        assert!(f.held, "{}: {}\n{report}", f.attack, f.detail);
    }
    assert!(report.panics.is_empty(), "{report}");
    assert!(report.alive_at_end, "{report}");
    assert!(!report.bystander_lost, "{report}");
    assert!(report.bystander_replies > 10, "{report}");
    // Wide margins: a debug build on a shared 2-core machine. The figures themselves come
    // from the release build in the long run.
    assert!(
        report.bystander_max_gap < Duration::from_secs(3),
        "{report}"
    );
    assert!(report.peak_rss_kib < 512 * 1024, "{report}");
    assert!(report.close_codes.contains_key(&1002), "{report}");
    assert!(report.close_codes.contains_key(&1007), "{report}");
    assert!(report.close_codes.contains_key(&1009), "{report}");
}
