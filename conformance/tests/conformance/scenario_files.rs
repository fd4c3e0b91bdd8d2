//! Scenario files (conformance/SCENARIOS.md): parse errors with file:line, a user directory run
//! through `phx check --scenarios` (exit codes), matchers and captures against the embedded
//! server, and the protocol profile in both compat modes.

use crate::support;
use crate::support::phx;
use phx_conformance::runner::{self, EngineOptions, Status};
use phx_conformance::scenario_files::{self, LoadError, Params, Profile};
use phx_conformance::target::{Adapter, PhoenixVersion, Target};
use predicates::prelude::*;
use std::path::Path;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("write scenario file");
}

const GOOD: &str = r#"id: heartbeat_captured
name: a heartbeat reply echoes the ref, captured and compared
tags: [mine]
steps:
  - connect c1: {}
  - send c1: [null,"41","phoenix","heartbeat",{}]
  - expect c1: [!type null, !capture r, !regex '^phoe', "phx_reply", {"response": {}, "status": !any}]
  - send c1: [null,"${r}","phoenix","heartbeat",{}]
  - expect c1 within=2s: [null, !same r, "phoenix", "phx_reply", !type object]
  - send c1: [null,7,"phoenix","heartbeat",{}]
  - expect c1: [null, !range [5, 9], "phoenix", "phx_reply", {"response":{},"status":"ok"}]
  - join c1: {topic: ping, ref: "2"}
  - control: {post: /api/broadcast, body: {"topic":"ping","event":"plain_event","payload":{"n":3}}, capture: sent}
  - expect c1: [null,null,"ping","plain_event",{"n": !range [3, 3]}]
  - http: {method: GET, path: /api/info, headers: {authorization: Bearer phx-conformance}, status: 200, capture: info}
  - unordered c1:
      - [null,"9","phoenix","phx_reply",{"response":{},"status":"ok"}]
      - [null,"8","phoenix","phx_reply",{"response":{},"status":"ok"}]
    # (the two sends come after: an unordered group only reads)
  - close c1
  - connect c2: {path: /auth_socket, status: 403}
  - connect c3: {path: /socket, vsn: "1.0.0"}
  - close c3
"#;

#[test]
fn a_parse_error_names_the_file_the_line_and_what_was_expected() {
    let cases = [
        // (text, line, fragment of the message)
        ("id: x\nname: y\nsteps:\n  - connect c1: {}\n  - expct c1: [1]\n", 5, "expected a step"),
        ("id: x\nname: y\nsteps:\n  - expect c1: [1, !rgx 'a']\n", 4, "expected a matcher"),
        ("id: x\nname: y\nsteps:\n  - silence c1: soon\n", 4, "expected a duration"),
        // The parser notices at the end; the message names where the sequence opened.
        ("id: x\nname: y\nsteps:\n  - send c1: [1, 2\n  - close c1\n", 6, "opened on line 4"),
        ("id: x\nsteps: []\n", 1, "expected a `name:`"),
        (
            "id: x\nname: y\nsteps:\n  - if: {has: no_such_rule}\n    then: []\n",
            4,
            "expected a behaviour id",
        ),
        (
            "id: x\nname: y\nsteps:\n  - if: {has: max_channels}\n    then:\n      - closed c1: soon\n",
            6,
            "expected a close code",
        ),
    ];
    for (text, line, fragment) in cases {
        match scenario_files::load_str("dir/bad.yaml", text, &Params::new()) {
            Err(LoadError::Invalid {
                file,
                line: got,
                message,
            }) => {
                assert_eq!(file, "dir/bad.yaml");
                assert_eq!(got, line, "{text}: {message}");
                assert!(message.contains(fragment), "{text}: {message}");
                let shown = LoadError::Invalid {
                    file,
                    line: got,
                    message,
                }
                .to_string();
                assert!(
                    shown.starts_with(&format!("dir/bad.yaml:{line}: ")),
                    "{shown}"
                );
            }
            other => panic!("{text}: expected a parse error, got {other:?}"),
        }
    }
}

#[test]
fn a_user_directory_runs_through_phx_check_with_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "a_good.yaml", &GOOD.replace(
        "  - unordered c1:",
        "  - send c1: [null,\"8\",\"phoenix\",\"heartbeat\",{}]\n  - send c1: [null,\"9\",\"phoenix\",\"heartbeat\",{}]\n  - unordered c1:",
    ));
    let d = dir.path().to_str().expect("utf-8 path");
    phx(&["list", "--scenarios", d])
        .assert()
        .success()
        .stdout(predicate::str::contains("heartbeat_captured"))
        .stdout(predicate::str::contains("join_ok").not());
    phx(&["check", "--scenarios", d])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("1 passed, 0 failed"));

    // A failing expectation: exit 1, the step and both sides in the report.
    write(
        dir.path(),
        "b_wrong.yaml",
        "id: wrong\nname: expects the wrong status\nsteps:\n  - connect c1: {}\n  - send c1: [null,\"1\",\"phoenix\",\"heartbeat\",{}]\n  - expect c1: [null,\"1\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"error\"}]\n",
    );
    phx(&["check", "--scenarios", d])
        .assert()
        .code(1)
        .stdout(predicate::str::contains("FAILED wrong"))
        .stdout(predicate::str::contains("\"status\":\"error\""))
        .stdout(predicate::str::contains("1 passed, 1 failed"));

    // A file that does not load: exit 2 before anything runs, with file:line.
    write(
        dir.path(),
        "c_bad.yaml",
        "id: bad\nname: bad\nsteps:\n  - expct c1: [1]\n",
    );
    phx(&["check", "--scenarios", d])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("c_bad.yaml:4: expected a step"));
    phx(&["list", "--scenarios", d]).assert().code(2);

    let empty = tempfile::tempdir().expect("tempdir");
    phx(&[
        "check",
        "--scenarios",
        empty.path().to_str().expect("utf-8"),
    ])
    .assert()
    .code(2)
    .stderr(predicate::str::contains("no scenario files"));
}

#[test]
fn matchers_captures_and_control_steps_run_against_the_embedded_server() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "good.yaml", &GOOD.replace(
        "  - unordered c1:",
        "  - send c1: [null,\"8\",\"phoenix\",\"heartbeat\",{}]\n  - send c1: [null,\"9\",\"phoenix\",\"heartbeat\",{}]\n  - unordered c1:",
    ));
    let all = scenario_files::load_dir(dir.path()).expect("load");
    assert_eq!(all.len(), 1);
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_8)
            .await
            .expect("embedded");
        let r = runner::run_scenario(&target, &all[0], &EngineOptions::default()).await;
        assert_eq!(r.status, Status::Passed, "{:?}", r.status);
        assert_eq!(r.outcome.captures["r"], serde_json::json!("41"));
        assert!(
            r.outcome.captures["sent"].is_object(),
            "{:?}",
            r.outcome.captures
        );
        assert!(
            r.outcome
                .tolerances
                .iter()
                .any(|t| t.contains("(recorded ")),
            "{:?}",
            r.outcome.tolerances
        );
    });
}

fn protocol_params() -> Params {
    let mut p = Params::new();
    p.insert("topic".into(), "ping".into());
    p.insert("topic2".into(), "ping:two".into());
    p.insert("join_payload".into(), "{}".into());
    p.insert("topic_pattern".into(), "ping:{i}".into());
    p
}

fn protocol_passes(version: PhoenixVersion, adapter: Adapter) {
    let all = scenario_files::profile(Profile::Protocol, &protocol_params()).expect("load");
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded_on(version, adapter)
            .await
            .expect("embedded");
        let results = runner::run_all(&target, &all, &EngineOptions::default(), |_| {}).await;
        let mut failed = Vec::new();
        let mut skipped = Vec::new();
        for r in &results {
            match &r.status {
                Status::Failed(f) => failed.push(format!("{}: {f}", r.id)),
                Status::Skipped(why) => skipped.push(format!("{}: {why}", r.id)),
                Status::Passed => {}
            }
        }
        assert!(failed.is_empty(), "{}", failed.join("\n"));
        let expected_skips =
            usize::from(!version.has(phx_protocol::version::Behaviour::MaxChannels));
        assert_eq!(skipped.len(), expected_skips, "{skipped:?}");
        assert_eq!(results.len(), 16);
    });
}

#[test]
fn the_protocol_profile_passes_against_phx_server_as_1_8() {
    protocol_passes(PhoenixVersion::V1_8, Adapter::Cowboy);
}

#[test]
fn the_protocol_profile_passes_against_phx_server_as_1_7_on_bandit() {
    protocol_passes(PhoenixVersion::V1_7, Adapter::Bandit);
}

#[test]
fn the_protocol_profile_via_the_cli_says_what_is_not_applicable() {
    phx(&[
        "check",
        "--profile",
        "protocol",
        "--phoenix",
        "1.7",
        "--topic",
        "ping",
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains("not applicable: needs --topic2"))
    .stdout(predicate::str::contains(
        "not applicable: needs --topic-pattern",
    ));
    phx(&["check", "--profile", "protocol"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("needs --topic"));
    phx(&["check", "--topic", "ping", "--join-payload", "[1]"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("expected a JSON object"));
}

#[test]
fn every_builtin_file_is_embedded() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for (profile, dir) in [
        (Profile::HelloSockets, "hello-sockets"),
        (Profile::Protocol, "protocol"),
    ] {
        let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
            .expect("scenario dir")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.ends_with(".yaml"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = profile
            .files()
            .iter()
            .map(|(n, _)| (*n).to_owned())
            .collect();
        embedded.sort();
        assert_eq!(
            on_disk, embedded,
            "{dir}: every file is embedded, and only those"
        );
        // A copy of the directory loads the same scenarios as the embedded profile.
        let loaded =
            scenario_files::load_dir_with(&root.join(dir), &protocol_params()).expect("load dir");
        assert_eq!(loaded.len(), embedded.len());
    }
    assert_eq!(Profile::HelloSockets.files().len(), 36);
}

/// The protocol profile's parameters for the rooms app (w11c's second app: `room:*`, a join
/// needs `{"name": …}`, pushes `welcome` and presence after the join).
fn rooms_params() -> Params {
    let mut p = Params::new();
    p.insert("topic".into(), "room:lobby".into());
    p.insert("topic2".into(), "room:side".into());
    p.insert("join_payload".into(), r#"{"name":"ann"}"#.into());
    p.insert("topic_pattern".into(), "room:{i}".into());
    p
}

/// The protocol profile against a phx-server serving the rooms app (optionally with one rule
/// broken): the results by scenario id.
fn protocol_against_rooms(
    version: PhoenixVersion,
    breakage: Option<phx_server::Breakage>,
    only: &[&str],
) -> Vec<runner::ScenarioResult> {
    use phx_server::apps::rooms::Rooms;
    use phx_server::testing::TestServer;
    let mut all = scenario_files::profile(Profile::Protocol, &rooms_params()).expect("load");
    all.retain(|s| only.is_empty() || only.contains(&s.id.as_str()));
    let rt = support::runtime();
    rt.block_on(async {
        let config = phx_server::Config {
            compat: version,
            breakage,
            ..phx_server::Config::default()
        };
        let server = TestServer::start_app(config, Rooms, None).await;
        let target = phx_conformance::target::External {
            url: format!("ws://{}/socket", server.addr()),
            version: Some(version),
            ..Default::default()
        }
        .connect()
        .await
        .expect("target");
        let results = runner::run_all(&target, &all, &EngineOptions::default(), |_| {}).await;
        drop(server);
        results
    })
}

fn failures(results: &[runner::ScenarioResult]) -> Vec<(String, String)> {
    results
        .iter()
        .filter_map(|r| match &r.status {
            Status::Failed(f) => Some((r.id.clone(), f.to_string())),
            _ => None,
        })
        .collect()
}

#[test]
fn the_protocol_profile_passes_against_the_rooms_app_in_both_compat_modes() {
    for version in [PhoenixVersion::V1_8, PhoenixVersion::V1_7] {
        let results = protocol_against_rooms(version, None, &[]);
        assert!(
            failures(&results).is_empty(),
            "{version}: {:?}",
            failures(&results)
        );
        // The app's own pushes (welcome, presence) were seen and reported, not failed.
        // (a 300 ms silence right after the join: the welcome push comes within it)
        let leave = results
            .iter()
            .find(|r| r.id == "protocol_leave_mismatched_join_ref")
            .expect("scenario");
        assert!(
            leave
                .outcome
                .app_traffic
                .iter()
                .any(|t| t.contains("welcome")),
            "{version}: {:?}",
            leave.outcome.app_traffic
        );
        let skipped: Vec<&str> = results
            .iter()
            .filter(|r| matches!(r.status, Status::Skipped(_)))
            .map(|r| r.id.as_str())
            .collect();
        // No --idle-timeout-ms; 1.7.14 has no channel limit.
        let mut want = vec!["protocol_idle_timeout"];
        if version == PhoenixVersion::V1_7 {
            want.insert(0, "protocol_max_channels");
        }
        assert_eq!(skipped, want, "{version}");
    }
}

#[test]
fn the_protocol_profile_fails_with_a_useful_message_against_each_broken_rule() {
    use phx_server::Breakage;
    // (the rule broken, a scenario that must fail, what its message must show)
    let cases = [
        (
            Breakage::OmitLeaveClose,
            "protocol_leave",
            r#"expected: ["5","5","room:lobby","phx_close",{}]"#,
        ),
        (
            Breakage::HeartbeatJoinRef,
            "protocol_heartbeat",
            r#"expected: [null,"1","phoenix","phx_reply",{"response":{},"status":"ok"}]"#,
        ),
        (
            Breakage::KeepOldChannelOnDuplicateJoin,
            "protocol_duplicate_join",
            r#"expected: ["4","4","room:lobby","phx_close",{}]"#,
        ),
    ];
    for (breakage, id, shown) in cases {
        let results = protocol_against_rooms(PhoenixVersion::V1_8, Some(breakage), &[id]);
        let failed = failures(&results);
        let Some((_, message)) = failed.iter().find(|(f, _)| f == id) else {
            panic!("{breakage:?}: {id} did not fail; failures: {failed:?}");
        };
        assert!(message.contains(shown), "{breakage:?}: {message}");
        // The actual side names what came instead (or that nothing did).
        assert!(message.contains("actual:"), "{message}");
    }
    // The heartbeat rule's reply is shown as it came, with its join_ref.
    let results = protocol_against_rooms(
        PhoenixVersion::V1_8,
        Some(Breakage::HeartbeatJoinRef),
        &["protocol_heartbeat"],
    );
    let failed = failures(&results);
    let hb = &failed
        .iter()
        .find(|(f, _)| f == "protocol_heartbeat")
        .expect("fails")
        .1;
    assert!(
        hb.contains(r#"actual:   ["1","1","phoenix","phx_reply""#),
        "{hb}"
    );
}

#[test]
fn the_hello_sockets_profile_stops_at_once_on_another_app_and_names_the_protocol_profile() {
    use phx_server::apps::rooms::Rooms;
    use phx_server::testing::TestServer;
    let rt = support::runtime();
    let server = rt.block_on(TestServer::start_app(
        phx_server::Config::default(),
        Rooms,
        None,
    ));
    let url = format!("ws://{}/socket", server.addr());
    phx(&["check", "--url", &url])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "not the HelloSockets tutorial app",
        ))
        .stderr(predicate::str::contains("--profile protocol --topic"))
        .stdout(predicate::str::is_empty());
    // The protocol profile against the same server, through the CLI: passes, and reports the
    // app's own pushes as app traffic.
    phx(&[
        "check",
        "--url",
        &url,
        "--topic",
        "room:lobby",
        "--join-payload",
        r#"{"name":"ann"}"#,
    ])
    .assert()
    .code(0)
    .stdout(predicate::str::contains(
        "app traffic in protocol_leave_mismatched_join_ref",
    ))
    .stdout(predicate::str::contains("0 failed"));
    drop(server);
}

/// The example files for the rooms app (conformance/scenarios/examples/rooms, models for a
/// user's own app) pass against it in both compat modes.
#[test]
fn the_example_scenario_files_pass_against_the_rooms_app() {
    use phx_server::apps::rooms::Rooms;
    use phx_server::testing::TestServer;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/examples/rooms");
    let all = scenario_files::load_dir(&dir).expect("load the examples");
    assert_eq!(all.len(), 2);
    let rt = support::runtime();
    for version in [PhoenixVersion::V1_8, PhoenixVersion::V1_7] {
        rt.block_on(async {
            let config = phx_server::Config {
                compat: version,
                ..phx_server::Config::default()
            };
            let server = TestServer::start_app(config, Rooms, None).await;
            let target = phx_conformance::target::External {
                url: format!("ws://{}/socket", server.addr()),
                version: Some(version),
                ..Default::default()
            }
            .connect()
            .await
            .expect("target");
            let results = runner::run_all(&target, &all, &EngineOptions::default(), |_| {}).await;
            assert!(
                failures(&results).is_empty(),
                "{version}: {:?}",
                failures(&results)
            );
            assert!(
                results.iter().all(|r| r.status == Status::Passed),
                "{version}"
            );
            let join = &results[0];
            assert!(
                join.outcome.captures.contains_key("ref"),
                "{:?}",
                join.outcome.captures
            );
        });
    }
}

/// `after=` is a lower timing bound: a reply that comes at once fails it, and says so; the same
/// file without it passes.
#[test]
fn a_frame_earlier_than_its_after_bound_fails() {
    let text = "id: early\nname: a reply that must not come before 300 ms\nsteps:\n  - connect c1: {}\n  - send c1: [null,\"1\",\"phoenix\",\"heartbeat\",{}]\n  - expect c1 after=300ms within=2s: [null,\"1\",\"phoenix\",\"phx_reply\",{\"response\":{},\"status\":\"ok\"}]\n  - close c1\n";
    let early = scenario_files::load_str("early.yaml", text, &Params::new()).expect("load");
    let on_time = scenario_files::load_str(
        "on_time.yaml",
        &text.replace(" after=300ms", ""),
        &Params::new(),
    )
    .expect("load");
    let bad = scenario_files::load_str(
        "bad.yaml",
        &text.replace("within=2s", "within=100ms"),
        &Params::new(),
    );
    assert!(
        matches!(&bad, Err(LoadError::Invalid { line: 6, message, .. }) if message.contains("later than after=")),
        "{bad:?}"
    );
    let rt = support::runtime();
    rt.block_on(async {
        let target = Target::embedded(PhoenixVersion::V1_8)
            .await
            .expect("embedded");
        let r = runner::run_scenario(&target, &early, &EngineOptions::default()).await;
        match &r.status {
            Status::Failed(f) => {
                assert!(f.expected.contains("nothing for 300ms"), "{f}");
                assert!(f.actual.contains("phx_reply"), "{f}");
            }
            other => panic!("expected a failure, got {other:?}"),
        }
        let r = runner::run_scenario(&target, &on_time, &EngineOptions::default()).await;
        assert_eq!(r.status, Status::Passed);
    });
}
