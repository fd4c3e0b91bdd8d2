//! Replays every recorded transcript of real Phoenix (fixtures/) against the embedded server
//! with the matching compat mode: frame by frame per connection, after normalising tokens and
//! node names, with `ctl` lines triggered through the control API. The two-node broadcast runs
//! on two in-process nodes sharing a bus, the idle one against a short idle timeout.

use crate::support;
use phx_conformance::runner::{Engine, EngineOptions};
use phx_conformance::target::{PhoenixVersion, Target};
use phx_conformance::transcript::{replay, Transcript};
use std::path::Path;

fn replay_file(path: &Path, version: PhoenixVersion) -> String {
    let transcript = Transcript::read(path).expect("read transcript");
    let steps = replay::steps(&transcript).expect("transcript converts to steps");
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(version).await.expect("embedded server");
        let out = Engine::new(&target, EngineOptions::default())
            .run(&steps)
            .await;
        assert!(
            out.skipped.is_none(),
            "{}: skipped: {:?}",
            path.display(),
            out.skipped
        );
        if let Some(f) = &out.failure {
            panic!(
                "{} differs from the embedded server ({version}): {f}\n--- transcript so far:\n{}",
                path.display(),
                out.snapshot()
            );
        }
        out.snapshot()
    })
}

#[test]
fn phoenix_1_7_14_transcripts_replay_cleanly() {
    insta::glob!(
        "../../../fixtures",
        "phoenix-1.7.14/transcripts/*.jsonl",
        |path| {
            insta::assert_snapshot!(replay_file(path, PhoenixVersion::V1_7));
        }
    );
}

#[test]
fn phoenix_1_8_12_transcripts_replay_cleanly() {
    insta::glob!(
        "../../../fixtures",
        "phoenix-1.8.12/transcripts/*.jsonl",
        |path| {
            insta::assert_snapshot!(replay_file(path, PhoenixVersion::V1_8));
        }
    );
}

#[test]
fn a_changed_expectation_is_reported_as_a_difference() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/phoenix-1.8.12/transcripts/ping.jsonl");
    let text = std::fs::read_to_string(base).expect("fixture");
    // Tamper with one server frame: the replay must point at it.
    let tampered = text.replacen(r#"{\"ping\":\"pong\"}"#, r#"{\"ping\":\"PONG\"}"#, 1);
    assert_ne!(text, tampered);
    let steps =
        replay::steps(&Transcript::parse(&tampered, "tampered").expect("parse")).expect("steps");
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_8)
            .await
            .expect("embedded");
        let out = Engine::new(&target, EngineOptions::default())
            .run(&steps)
            .await;
        let f = out.failure.expect("a difference");
        assert!(f.expected.contains("PONG"), "{f}");
        assert!(f.actual.contains(r#""ping":"pong""#), "{f}");
    });
}

#[test]
fn phoenix_1_7_14_presence_recordings_replay_cleanly() {
    insta::glob!(
        "../../../fixtures",
        "phoenix-1.7.14/presence/**/*.jsonl",
        |path| {
            insta::assert_snapshot!(replay_file(path, PhoenixVersion::V1_7));
        }
    );
}

#[test]
fn phoenix_1_8_12_presence_recordings_replay_cleanly() {
    insta::glob!(
        "../../../fixtures",
        "phoenix-1.8.12/presence/**/*.jsonl",
        |path| {
            insta::assert_snapshot!(replay_file(path, PhoenixVersion::V1_8));
        }
    );
}

#[test]
fn a_presence_ref_that_changes_identity_is_a_difference() {
    // The update's phx_ref_prev must be bob's join ref; point it at alice's instead.
    let base = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/phoenix-1.7.14/presence/presence_basic.jsonl");
    let text = std::fs::read_to_string(base).expect("fixture");
    let tampered = text.replacen(
        r#"\"phx_ref_prev\":\"GO04oPqh20uC-gTC\""#,
        r#"\"phx_ref_prev\":\"GO04oIMO7HqC-gSi\""#,
        1,
    );
    assert_ne!(text, tampered);
    let steps =
        replay::steps(&Transcript::parse(&tampered, "tampered").expect("parse")).expect("steps");
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_7)
            .await
            .expect("embedded");
        let out = Engine::new(&target, EngineOptions::default())
            .run(&steps)
            .await;
        let f = out.failure.expect("a difference");
        assert!(f.expected.contains("phx_ref_prev"), "{f}");
    });
}

/// Every event line the real recordings have prints back exactly from its typed [`Event`], and
/// the typed kinds the replayer relies on are recognised (not left as notes).
#[test]
fn every_recorded_event_line_parses_and_prints_back_exactly() {
    use phx_conformance::transcript::{Dir, Event};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut lines = 0;
    let mut typed = 0;
    for version in ["phoenix-1.7.14", "phoenix-1.8.12"] {
        let dir = root.join(version).join("transcripts");
        for f in std::fs::read_dir(&dir).expect("fixtures dir") {
            let path = f.expect("entry").path();
            let t = Transcript::read(&path).expect("read transcript");
            for e in t.entries.iter().filter(|e| e.dir == Dir::Event) {
                let event = Event::parse(&e.frame);
                assert_eq!(event.to_string(), e.frame, "{}", path.display());
                let looks_typed = [
                    "connect ",
                    "http status ",
                    "connection closed",
                    "client closing",
                    "ctl ",
                    "scenario ",
                    "not sent (",
                ]
                .iter()
                .any(|p| e.frame.starts_with(p));
                assert_eq!(
                    looks_typed,
                    !matches!(event, Event::Note(_)),
                    "{}: {:?} parsed as {event:?}",
                    path.display(),
                    e.frame
                );
                lines += 1;
                typed += usize::from(looks_typed);
            }
        }
    }
    assert!(
        lines > 100 && typed > 80,
        "{lines} event lines, {typed} typed"
    );
}
