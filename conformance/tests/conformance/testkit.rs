//! Volatile values and the cargo-test API, end to end (conformance/TRANSCRIPTS.md, "Worked
//! example"): a Presence session recorded through `phx record`'s proxy with redactions gives the
//! same bytes every time (and the committed `tests/phx/presence_session.jsonl`); the testkit
//! replays that directory with stable insta snapshots; the presence race tolerance makes a
//! reordered transcript pass, and fails it without; no target is never a silent pass.

use crate::support::phx;
use phx_conformance::record::{self, RecordOptions};
use phx_conformance::runner::conn::{RawConn, Received};
use phx_conformance::target::{PhoenixVersion, Target};
use phx_conformance::testkit::Suite;
use phx_conformance::transcript::rules::Rules;
use phx_conformance::transcript::{Dir, Transcript};
use std::path::{Path, PathBuf};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phx")
}

/// The event of a V2 frame, or what arrived instead.
fn event_of(r: &Received) -> String {
    match r {
        Received::Text(t) => serde_json::from_str::<serde_json::Value>(t)
            .ok()
            .and_then(|v| v.get(3).and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| t.clone()),
        other => format!("{other:?}"),
    }
}

/// Reads `events.len()` frames on `c` and checks their events (in this order: phx-server's).
async fn expect_events(c: &mut RawConn, who: &str, events: &[&str]) {
    for want in events {
        let got = c.next(WAIT).await;
        assert_eq!(event_of(&got), *want, "{who}: {got:?}");
    }
}

async fn connect(url: &str) -> RawConn {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match RawConn::connect(url, &Default::default()).await {
            Ok(c) => return c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "proxy did not come up: {e}"
                );
                // The proxy task binds its listener asynchronously: retry until it accepts.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// Two clients on `presence:testkit` through a `phx record --stable --redact-file phx.rules`
/// proxy in front of `target`: alice joins, bob joins, bob updates and leaves, both close. Each
/// step waits for every frame it causes, as a test driving phoenix.js would. Returns the bytes.
async fn record_presence_session(target: &Target) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = dir.path().join("rec.jsonl");
    let listen = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let upstream = target.socket_url.trim_end_matches("/socket").to_owned();
    let rules = Rules::read(&example_dir().join("phx.rules")).expect("rules");
    let opts = RecordOptions {
        redactions: rules.redactions,
        stable: true,
        ..RecordOptions::new(listen.to_string(), upstream, output.clone())
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let proxy = tokio::spawn(record::run(opts, async {
        let _ = stop_rx.await;
    }));
    let url = format!("ws://{listen}/socket/websocket?vsn=2.0.0");
    // Not the scenarios' `presence:lobby`: against one external server they run side by side.
    let topic = "presence:testkit";
    let mut alice = connect(&url).await;
    alice
        .send_text(&format!(
            r#"["1","1","{topic}","phx_join",{{"user_id":"alice","device":"web"}}]"#
        ))
        .await
        .expect("send");
    expect_events(
        &mut alice,
        "alice",
        &["phx_reply", "presence_diff", "presence_state"],
    )
    .await;
    let mut bob = connect(&url).await;
    bob.send_text(&format!(
        r#"["1","1","{topic}","phx_join",{{"user_id":"bob","device":"phone"}}]"#
    ))
    .await
    .expect("send");
    expect_events(
        &mut bob,
        "bob",
        &["phx_reply", "presence_diff", "presence_state"],
    )
    .await;
    expect_events(&mut alice, "alice", &["presence_diff"]).await;
    bob.send_text(&format!(
        r#"["1","2","{topic}","update",{{"status":"away"}}]"#
    ))
    .await
    .expect("send");
    expect_events(&mut bob, "bob", &["phx_reply", "presence_diff"]).await;
    expect_events(&mut alice, "alice", &["presence_diff"]).await;
    bob.send_text(&format!(r#"["1","3","{topic}","phx_leave",{{}}]"#))
        .await
        .expect("send");
    expect_events(&mut bob, "bob", &["phx_reply", "phx_close"]).await;
    expect_events(&mut alice, "alice", &["presence_diff"]).await;
    for (who, c) in [("bob", &mut bob), ("alice", &mut alice)] {
        let (early, code) = c.close(WAIT).await;
        assert!(early.is_empty(), "{who}: {early:?}");
        assert_eq!(code, Some(1000), "{who}");
    }
    let _ = stop_tx.send(());
    proxy.await.expect("proxy task").expect("proxy ran");
    std::fs::read_to_string(&output).expect("transcript")
}

/// The worked example's recording step. `PHX_RECORD_UPDATE=1` rewrites the committed file.
#[test]
fn a_redacted_presence_recording_is_byte_identical_across_runs() {
    let rt = crate::support::runtime();
    let (first, second) = rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_8)
            .await
            .expect("embedded");
        let first = record_presence_session(&target).await;
        let second = record_presence_session(&target).await;
        (first, second)
    });
    assert_eq!(first, second, "two recordings of one session differ");
    // Redacted: no raw presence ref, no port, no timing; captures in place of the refs.
    let t = Transcript::parse(&first, "recording").expect("parses");
    assert!(t.entries.iter().all(|e| e.t_ms.is_none()));
    assert!(first.contains(r#"\"phx_ref\":\"[ref:1]\""#), "{first}");
    assert!(first.contains(r#"\"phx_ref_prev\":\"[ref:2]\""#), "{first}");
    assert!(
        first.contains("connect ws://127.0.0.1:4000/socket"),
        "{first}"
    );
    assert!(first.contains(r#"\"online_at\":\"[any]\""#), "{first}");
    let refs = t
        .entries
        .iter()
        .filter(|e| e.dir == Dir::Recv && e.frame.contains("phx_ref"))
        .count();
    assert!(refs >= 6, "{refs} presence frames");
    let committed = example_dir().join("presence_session.jsonl");
    if std::env::var_os("PHX_RECORD_UPDATE").is_some() {
        std::fs::write(&committed, &first).expect("update the committed transcript");
    }
    let on_disk = std::fs::read_to_string(&committed).unwrap_or_default();
    assert_eq!(
        on_disk,
        first,
        "{} is not what recording the session gives now; rerun with PHX_RECORD_UPDATE=1",
        committed.display()
    );
}

/// The worked example's CI step: the directory replayed through the cargo-test API, one insta
/// snapshot per transcript, stable across runs (refs and online_at redacted).
#[test]
fn the_example_directory_replays_through_the_testkit_with_stable_snapshots() {
    let suite = Suite::new(example_dir()).embedded_when_unset(PhoenixVersion::V1_8);
    let results = phx_conformance::replay_dir!(suite = suite.clone());
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["hand_written", "presence_session", "presence_update"]
    );
    // A second run gives the same snapshot text (refs are new random values on every run).
    let again = suite.run_or_panic();
    for (a, b) in again.iter().zip(&results) {
        assert_eq!(a.snapshot, b.snapshot, "{}", a.name);
        assert!(a.snapshot.contains("[ref:1]"), "{}", a.snapshot);
        assert!(
            !a.snapshot.contains("\"online_at\":\"0\""),
            "{}",
            a.snapshot
        );
    }
}

/// A copy of the example with alice's `presence_state` recorded before her own join diff: what
/// Phoenix 1.8.12 was seen to do (fixtures/presence-README.md). phx-server sends the diff first.
fn reordered_example(dir: &Path) -> PathBuf {
    let text =
        std::fs::read_to_string(example_dir().join("presence_session.jsonl")).expect("example");
    let mut lines: Vec<&str> = text.lines().collect();
    let diff = lines
        .iter()
        .position(|l| l.contains(r#""conn":"c1""#) && l.contains("presence_diff"))
        .expect("alice's own diff");
    assert!(
        lines[diff + 1].contains("presence_state"),
        "{}",
        lines[diff + 1]
    );
    lines.swap(diff, diff + 1);
    let path = dir.join("reordered.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write");
    path
}

#[test]
fn the_presence_race_tolerance_passes_a_reordered_transcript_and_strict_order_fails_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = reordered_example(dir.path());
    let ok = phx(&[])
        .args(["replay", "--phoenix", "1.8"])
        .arg(&path)
        .timeout(Duration::from_secs(60))
        .assert()
        .success();
    let out = String::from_utf8_lossy(&ok.get_output().stdout).into_owned();
    assert!(
        out.contains("tolerated: c1 received presence_diff on presence:testkit, presence_state on presence:testkit (recorded presence_state on presence:testkit, presence_diff on presence:testkit)"),
        "{out}"
    );
    let strict = phx(&[])
        .args(["replay", "--phoenix", "1.8", "--strict-order"])
        .arg(&path)
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1);
    let out = String::from_utf8_lossy(&strict.get_output().stdout).into_owned();
    assert!(out.contains("DIFF"), "{out}");
    assert!(out.contains("presence_state"), "{out}");
}

#[test]
fn redaction_and_tolerance_flags_that_do_not_parse_are_usage_errors() {
    for (args, says) in [
        (
            vec!["replay", "x.jsonl", "--redact", "$..["],
            "invalid JSON path",
        ),
        (
            vec!["replay", "x.jsonl", "--unordered", "presence_diff"],
            "invalid unordered rule",
        ),
        (
            vec![
                "record",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                "ws://127.0.0.1:1",
                "--redact",
                "re:(",
            ],
            "invalid regex",
        ),
    ] {
        phx(&[])
            .args(&args)
            .timeout(Duration::from_secs(30))
            .assert()
            .code(2)
            .stderr(predicates::str::contains(says));
    }
}

/// Run only by the test below, in a child process with no target set.
#[test]
#[ignore = "run by without_a_target_the_testkit_fails_or_prints_skipped, in a child process"]
fn child_replays_the_example_without_a_target() {
    phx_conformance::replay_dir!("tests/phx");
}

#[test]
fn without_a_target_the_testkit_fails_or_prints_skipped() {
    let child = |skip: Option<&str>| {
        let mut cmd = std::process::Command::new(std::env::current_exe().expect("test binary"));
        cmd.args([
            "--exact",
            "testkit::child_replays_the_example_without_a_target",
            "--ignored",
        ])
        .env_remove("PHX_URL")
        .env_remove("PHX_SKIP");
        if let Some(v) = skip {
            cmd.env("PHX_SKIP", v);
        }
        let out = cmd.output().expect("run the test binary");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (passed, stdout, _) = child(None);
    assert!(!passed, "no target must not pass:\n{stdout}");
    assert!(stdout.contains("no target to replay"), "{stdout}");
    let (passed, stdout, stderr) = child(Some("1"));
    assert!(passed, "{stdout}\n{stderr}");
    // Printed although cargo captures the test's output.
    assert!(
        stderr.contains("SKIPPED phx_conformance::testkit: 3 file(s) in"),
        "{stderr}"
    );
}

/// The real 1.8.12 presence recording with its `online_at` values changed to timestamps (what a
/// typical app sends): the replay differs until `--redact` turns them into placeholders.
#[test]
fn a_volatile_recorded_value_fails_replay_until_redacted() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/phoenix-1.8.12/presence/presence_basic.jsonl");
    let text = std::fs::read_to_string(fixture).expect("fixture");
    let changed = text.replace(r#"\"online_at\":\"0\""#, r#"\"online_at\":\"1733000000\""#);
    assert_ne!(text, changed);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("presence_basic.jsonl");
    std::fs::write(&path, changed).expect("write");
    let replay = |extra: &[&str]| {
        phx(&[])
            .arg("replay")
            .arg(&path)
            .args(["--phoenix", "1.8"])
            .args(extra)
            .timeout(Duration::from_secs(60))
            .assert()
    };
    let out = replay(&[]).code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        stdout.contains("DIFF") && stdout.contains("1733000000"),
        "{stdout}"
    );
    let out = replay(&["--redact", r#"re:"online_at":"(\d+)""#]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("ok   "), "{stdout}");
    let out = replay(&["--redact", "$..online_at => [any:string]"]).success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(stdout.contains("ok   "), "{stdout}");
}

/// A scenario file in a testkit directory runs like a transcript: one that expects what the
/// server does not send is a failure naming the file and the difference, not a pass.
#[test]
fn a_scenario_file_that_expects_the_wrong_reply_fails_the_suite() {
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        tmp.path().join("wrong.yaml"),
        r#"id: wrong
name: expects pong in capitals
about: PingChannel answers {"ping":"pong"}, not PONG.
steps:
  - connect c1: {}
  - join c1: {topic: ping, ref: "1"}
  - send c1: ["1","2","ping","ping",{}]
  - expect c1: ["1","2","ping","phx_reply",{"response":{"ping":"PONG"},"status":"ok"}]
"#,
    )
    .expect("write");
    let suite = Suite::new(tmp.path()).embedded_when_unset(PhoenixVersion::V1_8);
    let Ok(phx_conformance::testkit::Outcome::Ran(results)) = suite.run() else {
        panic!("the suite did not run");
    };
    assert_eq!(results.len(), 1);
    let failure = results[0].failure.as_deref().expect("a failure");
    assert!(failure.contains("wrong.yaml"), "{failure}");
    assert!(failure.contains("PONG"), "{failure}");
}
