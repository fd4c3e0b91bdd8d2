//! Running steps and scenarios.
//!
//! - [`step`]: the step model ([`Step`]) and small constructors ([`step::build`]).
//! - [`conn`]: a raw WebSocket connection.
//! - [`pattern`]: expected frames with matchers and captures (scenario files).
//! - [`call`]: the generic triggers of scenario files (Erlang RPC, control API, HTTP).
//! - [`engine`]: executes steps, records the transcript, stops at the first difference.
//! - [`run_scenario`] / [`run_all`]: scenarios against a target, with skip reasons.

pub mod call;
pub mod conn;
pub mod engine;
pub mod pattern;
pub mod step;

pub use engine::{Engine, EngineOptions, Failure, RunOutcome};
pub use step::Step;

use crate::scenarios::{Ctx, Scenario};
use crate::target::Target;
use std::time::{Duration, Instant};

/// How a scenario ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// Every expectation held.
    Passed,
    /// The first difference.
    Failed(Failure),
    /// Not run, and why.
    Skipped(String),
}

/// One scenario's result.
#[derive(Clone, Debug)]
pub struct ScenarioResult {
    /// The scenario id.
    pub id: String,
    /// The scenario sentence.
    pub name: String,
    /// How it ended.
    pub status: Status,
    /// Wall time.
    pub duration: Duration,
    /// The run's outcome (transcript and bindings); empty when skipped.
    pub outcome: RunOutcome,
}

impl ScenarioResult {
    /// True for a failure.
    pub fn failed(&self) -> bool {
        matches!(self.status, Status::Failed(_))
    }
}

/// Runs one scenario against a target.
pub async fn run_scenario(
    target: &Target,
    scenario: &Scenario,
    opts: &EngineOptions,
) -> ScenarioResult {
    let start = Instant::now();
    let mut result = ScenarioResult {
        id: scenario.id.clone(),
        name: scenario.name.clone(),
        status: Status::Passed,
        duration: Duration::ZERO,
        outcome: RunOutcome::default(),
    };
    if let Some(reason) = scenario.skip_reason(target) {
        result.status = Status::Skipped(reason);
        return result;
    }
    let steps = match scenario.steps(&Ctx::of(target)) {
        Ok(s) => s,
        Err(e) => {
            result.status = Status::Failed(Failure {
                step: 0,
                conn: None,
                expected: "a scenario file that compiles".into(),
                actual: e.to_string(),
                unreachable: false,
            });
            return result;
        }
    };
    let mut opts = opts.clone();
    opts.tolerate_app_pushes |= scenario.source.app_traffic;
    let outcome = Engine::new(target, opts).run(&steps).await;
    result.status = match (&outcome.failure, &outcome.skipped) {
        (Some(f), _) => Status::Failed(f.clone()),
        (None, Some(reason)) => Status::Skipped(reason.clone()),
        (None, None) => Status::Passed,
    };
    result.outcome = outcome;
    result.duration = start.elapsed();
    result
}

/// Runs scenarios one after another (a disconnect scenario would cut a concurrent one's
/// socket), calling `progress` after each.
pub async fn run_all(
    target: &Target,
    scenarios: &[Scenario],
    opts: &EngineOptions,
    mut progress: impl FnMut(&ScenarioResult),
) -> Vec<ScenarioResult> {
    let mut results = Vec::with_capacity(scenarios.len());
    for s in scenarios {
        let r = run_scenario(target, s, opts).await;
        progress(&r);
        results.push(r);
    }
    results
}
