//! The cargo-test API: replay a directory of recorded transcripts and scenario files against the
//! target the `PHX_*` variables name, with insta snapshots of each run after the redactions.
//!
//! ```no_run
//! // tests/phx.rs of your app's Rust test crate (phx-conformance as a dev-dependency)
//! #[test]
//! fn recorded_sessions_replay() {
//!     phx_conformance::replay_dir!("tests/phx");
//! }
//! ```
//!
//! - **Target.** `PHX_URL` (and the other `PHX_*` variables of
//!   [`crate::target::External::from_env`]) names the server. With no `PHX_URL` the call
//!   **panics** with what to set, unless `PHX_SKIP=1`: then it writes a `SKIPPED` line to the
//!   terminal (straight to stderr, so cargo's output capture does not hide it) and returns no
//!   results. Rust's test harness has no "skipped" outcome, so a panic by default is the only
//!   way a run without a server cannot look like a pass; `PHX_SKIP=1` makes the skip a
//!   decision somebody wrote down. [`Suite::embedded_when_unset`] instead replays against the
//!   embedded phx-server (and says so on stderr): for transcripts recorded against phx-server
//!   itself, as this crate's own example is.
//! - **Files**, dispatched by extension, in sorted order, subdirectories included (`snapshots/`
//!   and dotfiles skipped): `.jsonl` a transcript; `.yaml`/`.yml` a scenario file
//!   ([`crate::scenario_files`], `conformance/SCENARIOS.md`), run as `phx check --scenarios`
//!   runs it (a scenario the target cannot run, by version or trigger, fails the suite rather
//!   than passing); `.rules` a rules file ([`crate::transcript::rules`]) applied to every file
//!   of the suite; `.md` and `.txt` are documentation. Any other file is an error.
//! - **Snapshots.** [`replay_dir!`](crate::replay_dir) asserts one insta snapshot per
//!   transcript (named after its path in the directory): the run's transcript with the
//!   redactions applied, node names and captured values as their placeholders, tokens as
//!   `[token]`, no timings, frames that raced in their recorded order. Each tolerance used is
//!   printed on stderr, not snapshotted. In CI, run with `INSTA_UPDATE=no` so that a missing
//!   snapshot fails.
//! - **Failures.** Every transcript is replayed; then the call panics listing each difference
//!   (and each transcript that could not run because the target lacks an endpoint or a trigger),
//!   before any snapshot is compared.

use crate::runner::{Engine, EngineOptions};
use crate::target::{External, PhoenixVersion, Target, TargetError};
use crate::transcript::matcher::Bindings;
use crate::transcript::normalise::{snapshot_text, Normaliser};
use crate::transcript::redact::Redactor;
use crate::transcript::replay::{self, ReplayError, ReplayOptions};
use crate::transcript::rules::{Rules, RulesError};
use crate::transcript::{Event, Transcript, TranscriptError};
use std::path::{Path, PathBuf};

/// insta, re-exported for [`replay_dir!`](crate::replay_dir) (its snapshots are taken at the
/// caller, so they live next to the caller's test file).
pub use insta;

/// Why a suite could not run.
#[derive(Debug, thiserror::Error)]
pub enum TestkitError {
    /// No target: `PHX_URL` is unset and the suite has no embedded fallback.
    #[error(
        "phx_conformance::testkit: no target to replay {dir} against. Set PHX_URL=ws://HOST:PORT/socket \
         (with PHX_PHOENIX=1.7|1.8, and PHX_CONTROL=1 or PHX_ERLANG_NODE + PHX_COOKIE for transcripts \
         with ctl lines), or PHX_SKIP=1 to skip with a visible SKIPPED line. A test that did not run \
         must not pass."
    )]
    NoTarget {
        /// The directory.
        dir: String,
    },
    /// The target could not be set up (unreachable Erlang node, bad URL, embedded start).
    #[error("phx_conformance::testkit: {0}")]
    Target(#[from] TargetError),
    /// The directory could not be read.
    #[error("cannot read {path}: {source}")]
    Dir {
        /// The directory.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds no transcript or scenario file: nothing would run.
    #[error("{dir} holds no .jsonl transcript and no .yaml scenario file: nothing to replay")]
    Empty {
        /// The directory.
        dir: String,
    },
    /// A file of a kind the testkit does not run.
    #[error("{path}: cannot replay .{ext} files: only .jsonl transcripts, .yaml/.yml scenario files and .rules files are run")]
    Unsupported {
        /// The file.
        path: String,
        /// Its extension.
        ext: String,
    },
    /// A rule (a `.rules` file, or one given to the [`Suite`]) is malformed.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// A transcript does not parse.
    #[error(transparent)]
    Transcript(#[from] TranscriptError),
    /// A scenario file does not parse (its file, line and what was expected).
    #[error(transparent)]
    Scenario(#[from] crate::scenario_files::LoadError),
    /// A transcript cannot be turned into steps.
    #[error("{path}: {source}")]
    Replay {
        /// The file.
        path: String,
        /// Why.
        source: ReplayError,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// What one transcript's replay produced.
#[derive(Clone, Debug)]
pub struct FileResult {
    /// The snapshot name: the path inside the directory without `.jsonl`, `/` as `__`.
    pub name: String,
    /// The transcript file.
    pub path: PathBuf,
    /// The run as snapshot text (see the module docs).
    pub snapshot: String,
    /// Each tolerance used (`tolerated: …`).
    pub tolerances: Vec<String>,
    /// The first difference, with the transcript so far.
    pub failure: Option<String>,
    /// Why the replay stopped early (the target lacks an endpoint or a trigger).
    pub skipped: Option<String>,
}

/// How a suite ended.
#[derive(Clone, Debug)]
pub enum Outcome {
    /// Every transcript was replayed (each may have failed).
    Ran(Vec<FileResult>),
    /// Nothing ran: `PHX_SKIP=1` without a target (the reason, as printed).
    Skipped(String),
}

/// Where a suite runs, decided from the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Choice {
    /// `PHX_URL` is set: [`External::from_env`].
    External,
    /// No `PHX_URL`, and the suite falls back to the embedded phx-server.
    Embedded(PhoenixVersion),
    /// No target, and `PHX_SKIP=1`.
    Skip,
    /// No target: an error.
    Missing,
}

/// Decides where a suite runs from `var` (the environment in [`Suite::run`]).
pub fn choose(var: impl Fn(&str) -> Option<String>, embedded: Option<PhoenixVersion>) -> Choice {
    let set = |k: &str| var(k).filter(|v| !v.is_empty());
    if set("PHX_URL").is_some() {
        return Choice::External;
    }
    if let Some(v) = embedded {
        return Choice::Embedded(v);
    }
    match set("PHX_SKIP").as_deref() {
        Some("0" | "false") | None => Choice::Missing,
        Some(_) => Choice::Skip,
    }
}

/// A line on the terminal even while cargo captures the test's output (`eprintln!` is captured;
/// a direct write to stderr is not).
pub fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A directory of transcripts to replay.
#[derive(Clone, Debug)]
pub struct Suite {
    dir: PathBuf,
    rules: Rules,
    rule_errors: Vec<String>,
    embedded: Option<PhoenixVersion>,
    default_unordered: bool,
}

impl Suite {
    /// The transcripts under `dir` (relative paths: from the working directory, which `cargo
    /// test` sets to the package root).
    pub fn new(dir: impl AsRef<Path>) -> Suite {
        Suite {
            dir: dir.as_ref().to_owned(),
            rules: Rules::default(),
            rule_errors: Vec::new(),
            embedded: None,
            default_unordered: true,
        }
    }

    /// Adds a redaction rule (`$..phx_ref => [ref]`); a malformed one fails the run.
    pub fn redact(mut self, rule: &str) -> Self {
        match Rules::from_flags(&[rule.to_owned()], &[], &[]) {
            Ok(r) => self.rules.extend(r),
            Err(e) => self.rule_errors.push(e.to_string()),
        }
        self
    }

    /// Adds an order tolerance (`room:*:presence_state,presence_diff`); a malformed one fails
    /// the run.
    pub fn unordered(mut self, rule: &str) -> Self {
        match Rules::from_flags(&[], &[], &[rule.to_owned()]) {
            Ok(r) => self.rules.extend(r),
            Err(e) => self.rule_errors.push(e.to_string()),
        }
        self
    }

    /// Drops the default order tolerances.
    pub fn strict_order(mut self) -> Self {
        self.default_unordered = false;
        self
    }

    /// Without `PHX_URL`, replay against the embedded phx-server as `version` (printed on
    /// stderr), instead of failing: for transcripts recorded against phx-server.
    pub fn embedded_when_unset(mut self, version: PhoenixVersion) -> Self {
        self.embedded = Some(version);
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Replays every transcript (on a thread of its own, so it works inside a tokio test too).
    pub fn run(&self) -> Result<Outcome, TestkitError> {
        std::thread::scope(|s| {
            s.spawn(|| self.run_here())
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    fn run_here(&self) -> Result<Outcome, TestkitError> {
        let dir = self.dir.display().to_string();
        if let Some(e) = self.rule_errors.first() {
            return Err(TestkitError::Rules(RulesError::Line {
                origin: "Suite".into(),
                line: 1,
                reason: e.clone(),
            }));
        }
        let Files {
            transcripts,
            scenarios,
            mut rules,
        } = self.files()?;
        rules.extend(self.rules.clone());
        let choice = choose(|k| std::env::var(k).ok(), self.embedded);
        if choice == Choice::Missing {
            return Err(TestkitError::NoTarget { dir });
        }
        if choice == Choice::Skip {
            let why = format!(
                "SKIPPED phx_conformance::testkit: {} file(s) in {dir} not replayed: no PHX_URL, and PHX_SKIP is set",
                transcripts.len() + scenarios.len()
            );
            notice(&why);
            return Ok(Outcome::Skipped(why));
        }
        let opts = ReplayOptions {
            redactions: rules.redactions.clone(),
            unordered: rules.unordered.clone(),
            default_unordered: self.default_unordered,
        };
        let mut plans = Vec::new();
        for (name, path) in transcripts {
            let t = Transcript::read(&path)?;
            let steps = replay::steps_with(&t, &opts).map_err(|source| TestkitError::Replay {
                path: path.display().to_string(),
                source,
            })?;
            plans.push((name, path, steps));
        }
        let mut loaded = Vec::new();
        for (name, path) in scenarios {
            let text = std::fs::read_to_string(&path).map_err(|source| TestkitError::Dir {
                path: path.display().to_string(),
                source,
            })?;
            let params = crate::scenario_files::Params::new();
            let scenario =
                crate::scenario_files::load_str(&path.display().to_string(), &text, &params)?;
            loaded.push((name, path, scenario));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(TestkitError::Runtime)?;
        rt.block_on(async {
            let target = match choice {
                Choice::Embedded(v) => {
                    notice(&format!(
                        "phx_conformance::testkit: PHX_URL is not set: replaying {dir} against the embedded phx-server (Phoenix {v})"
                    ));
                    Target::embedded(v).await?
                }
                _ => match External::from_env()? {
                    Some(ext) => ext.connect().await?,
                    None => return Err(TestkitError::NoTarget { dir: dir.clone() }),
                },
            };
            let mut results = Vec::new();
            for (name, path, steps) in plans {
                let out = Engine::new(&target, EngineOptions::default())
                    .run(&steps)
                    .await;
                let snapshot = snapshot(&out.transcript, &out.bindings, &rules);
                for t in &out.tolerances {
                    notice(&format!("note {}: {t}", path.display()));
                }
                results.push(FileResult {
                    failure: out.failure.as_ref().map(|f| {
                        format!(
                            "{} differs from {}: {f}\n--- transcript so far:\n{snapshot}",
                            path.display(),
                            target.description
                        )
                    }),
                    skipped: out.skipped.clone(),
                    tolerances: out.tolerances.clone(),
                    name,
                    path,
                    snapshot,
                });
            }
            for (name, path, scenario) in loaded {
                let r =
                    crate::runner::run_scenario(&target, &scenario, &EngineOptions::default())
                        .await;
                let snapshot = snapshot(&r.outcome.transcript, &r.outcome.bindings, &rules);
                let (failure, skipped) = match &r.status {
                    crate::runner::Status::Passed => (None, None),
                    crate::runner::Status::Failed(f) => (
                        Some(format!(
                            "{} ({}) differs from {}: {f}\n--- transcript so far:\n{snapshot}",
                            path.display(),
                            scenario.name,
                            target.description
                        )),
                        None,
                    ),
                    crate::runner::Status::Skipped(why) => (None, Some(why.clone())),
                };
                results.push(FileResult {
                    failure,
                    skipped,
                    tolerances: r.outcome.tolerances.clone(),
                    name,
                    path,
                    snapshot,
                });
            }
            Ok(Outcome::Ran(results))
        })
    }

    /// The transcripts and scenario files (snapshot name, path) and the `.rules` files' rules,
    /// in sorted order.
    fn files(&self) -> Result<Files, TestkitError> {
        let mut all = Vec::new();
        walk(&self.dir, &mut all)?;
        all.sort();
        let mut transcripts = Vec::new();
        let mut scenarios = Vec::new();
        let mut rules = Rules::default();
        for path in all {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .unwrap_or("")
                .to_owned();
            let rel = path.strip_prefix(&self.dir).unwrap_or(&path);
            let name = rel
                .with_extension("")
                .to_string_lossy()
                .replace(['/', '\\'], "__");
            match ext.as_str() {
                "jsonl" => transcripts.push((name, path)),
                "yaml" | "yml" => scenarios.push((name, path)),
                "rules" => rules.extend(Rules::read(&path)?),
                "md" | "txt" => {}
                _ => {
                    return Err(TestkitError::Unsupported {
                        path: path.display().to_string(),
                        ext,
                    })
                }
            }
        }
        if transcripts.is_empty() && scenarios.is_empty() {
            return Err(TestkitError::Empty {
                dir: self.dir.display().to_string(),
            });
        }
        Ok(Files {
            transcripts,
            scenarios,
            rules,
        })
    }

    /// Runs the suite and panics on anything that is not a clean pass: no target (unless
    /// `PHX_SKIP=1`, then no results), an unusable file, a difference, a transcript the target
    /// could not run. What [`replay_dir!`](crate::replay_dir) calls before its snapshots.
    pub fn run_or_panic(&self) -> Vec<FileResult> {
        let results = match self.run() {
            Ok(Outcome::Ran(r)) => r,
            Ok(Outcome::Skipped(_)) => return Vec::new(),
            Err(e) => panic!("{e}"),
        };
        let mut problems = Vec::new();
        for r in &results {
            if let Some(f) = &r.failure {
                problems.push(f.clone());
            } else if let Some(s) = &r.skipped {
                problems.push(format!("{} did not run to its end: {s}", r.path.display()));
            }
        }
        assert!(
            problems.is_empty(),
            "{} of {} file(s) in {} failed:\n\n{}",
            problems.len(),
            results.len(),
            self.dir.display(),
            problems.join("\n\n")
        );
        results
    }
}

/// A suite directory's files, by kind.
#[derive(Debug)]
struct Files {
    transcripts: Vec<(String, PathBuf)>,
    scenarios: Vec<(String, PathBuf)>,
    rules: Rules,
}

/// Every file under `dir`, skipping `snapshots/` and dotfiles.
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), TestkitError> {
    let err = |source| TestkitError::Dir {
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let path = entry.map_err(err)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') || name == "snapshots" {
            continue;
        }
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

/// A run's transcript as snapshot text: redacted, captured values as their placeholders, no
/// `tolerated:` lines (they depend on the race, and are printed instead).
pub fn snapshot(t: &Transcript, bindings: &Bindings, rules: &Rules) -> String {
    let mut t = t.clone();
    t.entries
        .retain(|e| !matches!(e.as_event(), Some(Event::Tolerated(_))));
    Redactor::new(rules.redactions.clone()).transcript(&mut t);
    let mut n = Normaliser::new();
    for (concrete, placeholder) in bindings.reversed() {
        n = n.node(concrete, placeholder);
    }
    snapshot_text(&t, &n)
}

/// Replays the transcripts under `dir` (from the working directory) against the `PHX_*`
/// target and panics unless all pass; no snapshots (use [`replay_dir!`](crate::replay_dir)).
pub fn replay_dir(dir: impl AsRef<Path>) -> Vec<FileResult> {
    Suite::new(dir).run_or_panic()
}

/// Replays a directory of transcripts against the `PHX_*` target and asserts an insta snapshot
/// of each run (see [`testkit`](crate::testkit)). Returns the [`FileResult`]s.
///
/// - `replay_dir!("tests/phx")`: the directory, relative to the calling crate's root.
/// - `replay_dir!(suite = Suite::new(…).redact(…).embedded_when_unset(…))`: a configured
///   [`Suite`].
#[macro_export]
macro_rules! replay_dir {
    (suite = $suite:expr) => {{
        let suite: $crate::testkit::Suite = $suite;
        let results = suite.run_or_panic();
        let mut settings = $crate::testkit::insta::Settings::clone_current();
        settings.set_omit_expression(true);
        settings.bind(|| {
            for r in &results {
                $crate::testkit::insta::assert_snapshot!(r.name.as_str(), r.snapshot.as_str());
            }
        });
        results
    }};
    ($dir:expr) => {
        $crate::replay_dir!(
            suite = $crate::testkit::Suite::new(
                ::std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join($dir)
            )
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_target_the_choice_is_an_error_or_an_explicit_skip() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(choose(env(&[]), None), Choice::Missing);
        assert_eq!(choose(env(&[("PHX_URL", "")]), None), Choice::Missing);
        assert_eq!(choose(env(&[("PHX_SKIP", "0")]), None), Choice::Missing);
        assert_eq!(choose(env(&[("PHX_SKIP", "1")]), None), Choice::Skip);
        assert_eq!(
            choose(
                env(&[("PHX_URL", "ws://h:1/socket"), ("PHX_SKIP", "1")]),
                None
            ),
            Choice::External
        );
        assert_eq!(
            choose(env(&[("PHX_SKIP", "1")]), Some(PhoenixVersion::V1_8)),
            Choice::Embedded(PhoenixVersion::V1_8)
        );
    }

    #[test]
    fn a_directory_with_an_unknown_file_kind_is_an_error() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        std::fs::write(dir.join("a.jsonl"), "").expect("write");
        std::fs::write(dir.join("b.toml"), "").expect("write");
        let e = Suite::new(&dir).files().expect_err("toml");
        assert!(e.to_string().contains("cannot replay .toml files"), "{e}");
        std::fs::remove_file(dir.join("b.toml")).expect("rm");
        std::fs::write(dir.join("x.rules"), "redcat $..a\n").expect("write");
        let e = Suite::new(&dir).files().expect_err("bad rules");
        assert!(e.to_string().contains("x.rules:1: unknown rule"), "{e}");
        std::fs::remove_file(dir.join("x.rules")).expect("rm");
        std::fs::remove_file(dir.join("a.jsonl")).expect("rm");
        let e = Suite::new(&dir).files().expect_err("empty");
        assert!(e.to_string().contains("holds no .jsonl transcript"), "{e}");
    }
}
