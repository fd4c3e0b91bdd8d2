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

/// At the total cap, the connections that drain least go first; a reading one keeps going.
#[tokio::test]
async fn over_the_total_outbound_cap_the_non_readers_are_dropped_first() {
    use crate::support::*;
    use phx_server::Compat;
    use serde_json::json;

    let mut cfg = config(Compat::V1_8);
    cfg.outbound_total_bytes = 4 * 1024 * 1024;
    // Neither the per-connection maximum nor the stall timeout may be what drops them.
    cfg.outbound_max_bytes = 64 * 1024 * 1024;
    cfg.slow_consumer_timeout = Duration::from_secs(600);
    let server = phx_server::testing::TestServer::start(cfg).await;
    let mut readers_and_not = Vec::new();
    for _ in 0..3 {
        let mut c = v2(&server).await;
        exchange(
            &mut c,
            r#"["1","1","ping","phx_join",{}]"#,
            &[r#"["1","1","ping","phx_reply",{"response":{},"status":"ok"}]"#],
        )
        .await;
        readers_and_not.push(c);
    }
    let mut reader = readers_and_not.pop().unwrap();
    let payload = json!({"blob": "x".repeat(64 * 1024)});
    let mut sent = 0;
    let mut received = 0;
    // Bounded by count: 4 MiB / 64 KiB = 64 broadcasts fill the non-readers' queues once the
    // kernel buffers are full; 2,000 is far more than enough.
    while server.endpoint().slow_consumer_drops() < 2 && sent < 2000 {
        server.broadcast("ping", "blob", payload.clone().into());
        sent += 1;
        while let Ok(_f) = reader.recv_frame(Duration::from_millis(2)).await {
            received += 1;
        }
    }
    assert_eq!(
        server.endpoint().slow_consumer_drops(),
        2,
        "after {sent} broadcasts"
    );
    server
        .wait_for_log("over outbound_total_bytes", WAIT)
        .await
        .unwrap();
    server
        .wait_until("the two non-readers are gone", WAIT, |s| {
            s.connection_count() == 1
        })
        .await
        .unwrap();
    // The reader got (or will get) every broadcast.
    let deadline = tokio::time::Instant::now() + WAIT;
    while received < sent && tokio::time::Instant::now() < deadline {
        if reader.recv_frame(WAIT).await.is_ok() {
            received += 1;
        }
    }
    assert_eq!(received, sent);
    assert!(server.endpoint().outbound_queued_bytes() < 1024 * 1024);
}
