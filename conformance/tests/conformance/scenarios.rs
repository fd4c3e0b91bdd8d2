//! Every scenario against the target, for each Phoenix version; each scenario's normalised
//! transcript is an insta snapshot (`<id>@<version>`), the same file whatever the target.

use crate::support;
use phx_conformance::runner::{self, EngineOptions, Status};
use phx_conformance::scenarios;
use phx_conformance::target::{Adapter, PhoenixVersion};

/// Snapshots are named by line for the recorded releases (`@1.8` is 1.8.12) and by the full
/// release otherwise (an inferred release gets its own snapshots).
fn snapshot_version(v: PhoenixVersion) -> String {
    let r = v.release();
    if PhoenixVersion::RECORDED.contains(&v) {
        format!("{}.{}", r.major, r.minor)
    } else {
        r.to_string()
    }
}

fn run_suite(version: PhoenixVersion) {
    run_suite_on(version, None)
}

/// `adapter`: the embedded server with that adapter's close codes (never `PHX_URL`).
fn run_suite_on(version: PhoenixVersion, adapter: Option<Adapter>) {
    let rt = support::runtime();
    rt.block_on(async {
        let target = match adapter {
            None => support::target(version).await,
            Some(adapter) => phx_conformance::target::Target::embedded_on(version, adapter)
                .await
                .expect("start the embedded server"),
        };
        let all = scenarios::all();
        let mut results = Vec::with_capacity(all.len());
        for s in &all {
            // DedupeChannel always broadcasts on `dupe`: hold its lock (see the properties).
            let _dupe = s.has_tag("dedupe").then(support::shared_topic_lock);
            results.push(runner::run_scenario(&target, s, &EngineOptions::default()).await);
        }
        let mut failures = Vec::new();
        for r in &results {
            match &r.status {
                Status::Passed => {
                    // Only the close codes of these two differ with Bandit: their snapshots are per adapter.
                    let bandit = target.adapter == Adapter::Bandit && ["disconnect", "idle_timeout"].contains(&r.id.as_str());
                    let name = format!("{}@{}{}", r.id, snapshot_version(target.version), if bandit { "-bandit" } else { "" });
                    insta::assert_snapshot!(name, r.outcome.snapshot());
                }
                Status::Failed(f) => failures.push(format!("{} ({}): {f}", r.id, r.name)),
                Status::Skipped(why) => eprintln!("skipped {}: {why}", r.id),
            }
        }
        assert!(
            failures.is_empty(),
            "failed scenarios on {}:\n{}",
            target.description,
            failures.join("\n")
        );
        if target.description.starts_with("embedded") {
            // The embedded target offers every trigger: nothing may be skipped there, except
            // a scenario that does not apply to this Phoenix version.
            let skipped: Vec<_> = results
                .iter()
                .filter(|r| matches!(&r.status, Status::Skipped(why) if !why.starts_with("applies to Phoenix")))
                .map(|r| r.id.as_str())
                .collect();
            assert!(
                skipped.is_empty(),
                "skipped on the embedded target: {skipped:?}"
            );
        }
    });
}

#[test]
fn every_scenario_passes_as_phoenix_1_7() {
    run_suite(PhoenixVersion::V1_7);
}

#[test]
fn every_scenario_passes_as_phoenix_1_8() {
    run_suite(PhoenixVersion::V1_8);
}

/// `phx-server --adapter bandit`: the same frames (the shared snapshots), and Bandit's close
/// codes in the `-bandit` snapshots of `disconnect` and `idle_timeout`.
#[test]
fn every_scenario_passes_as_phoenix_1_7_on_bandit() {
    run_suite_on(PhoenixVersion::V1_7, Some(Adapter::Bandit));
}

#[test]
fn every_scenario_passes_as_phoenix_1_8_on_bandit() {
    run_suite_on(PhoenixVersion::V1_8, Some(Adapter::Bandit));
}

#[test]
fn scenario_ids_are_unique_and_each_applies_to_some_version() {
    let all = scenarios::all();
    let mut ids: Vec<_> = all.iter().map(|s| s.id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all.len(), "duplicate scenario ids");
    assert!(all
        .iter()
        .all(|s| !s.name.is_empty() && !s.about.is_empty()));
    for s in &all {
        assert!(
            PhoenixVersion::RECORDED
                .iter()
                .any(|v| s.versions.runs_on(*v)),
            "{} runs on no recorded version",
            s.id
        );
    }
}

/// A release between the recorded ones: 1.8.5 has the stale join_ref rule but not yet the
/// null join_ref fix (#6800), the 1001 disconnect, the channel limit or the phx_error reason.
/// The embedded server imitates it from the same version table the scenarios read, so every
/// scenario that applies passes (no snapshots: these expectations are inferred, not recorded).
#[test]
fn every_scenario_passes_as_the_inferred_release_1_8_5() {
    let v: PhoenixVersion = "1.8.5".parse().expect("version");
    let rt = support::runtime();
    rt.block_on(async {
        let target = phx_conformance::target::Target::embedded(v)
            .await
            .expect("embedded");
        assert!(
            target.description.contains("inferred"),
            "{}",
            target.description
        );
        let results = runner::run_all(
            &target,
            &scenarios::all(),
            &EngineOptions::default(),
            |_| {},
        )
        .await;
        let failed: Vec<String> = results
            .iter()
            .filter_map(|r| match &r.status {
                Status::Failed(f) => Some(format!("{}: {f}", r.id)),
                _ => None,
            })
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
        let skipped: Vec<_> = results
            .iter()
            .filter(|r| matches!(r.status, Status::Skipped(_)))
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            skipped,
            ["max_channels"],
            "only the channel limit does not apply"
        );
    });
}
