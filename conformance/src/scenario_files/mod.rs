//! Scenario files: the YAML format of `conformance/SCENARIOS.md`, compiled into the runner's
//! [`Step`]s. The built-in suites are such files, embedded in the binary ([`builtin`]): the
//! `hello-sockets` profile (the tutorial app's scenarios) and the `protocol` profile (what any
//! Phoenix app guarantees, parameterised by `{topic}` and `{join_payload}`).
//!
//! - [`yaml`]: the document as a tree of nodes that know their line.
//! - [`compile`]: header and steps, with every error at a line.
//!
//! A user directory is loaded with [`load_dir`]; its scenarios run like the built-in ones
//! ([`crate::runner::run_all`]).

pub mod compile;
pub mod yaml;

use crate::runner::step::Step;
use crate::scenarios::{Ctx, Scenario, Versions};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why scenario files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file is not a valid scenario: the file, the line and what was expected there.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The file (its path, or `builtin:PROFILE/NAME`).
        file: String,
        /// The 1-based line.
        line: usize,
        /// What was expected there.
        message: String,
    },
    /// A file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The directory holds no `*.yaml`/`*.yml` file.
    #[error("{0}: no scenario files (*.yaml, *.yml)")]
    Empty(PathBuf),
    /// Two files have the same id.
    #[error("{file}: scenario id {id:?} is also the id of {other}")]
    Duplicate {
        /// The second file.
        file: String,
        /// The id.
        id: String,
        /// The first file.
        other: String,
    },
}

/// Values for `{name}` in scenario files: the protocol profile's `topic`, `topic2`,
/// `join_payload` and `topic_pattern`, or any a user's files use.
pub type Params = BTreeMap<String, String>;

/// A scenario file as loaded: its text and parameters, compiled again for each context.
#[derive(Debug)]
pub struct Source {
    /// Where it came from (a path, or `builtin:PROFILE/NAME`).
    pub file: String,
    /// The text.
    pub text: String,
    /// The parameters given.
    pub params: Params,
    /// The parameters it cannot run without (`params:`), missing from [`Source::params`].
    pub missing: Vec<String>,
    /// `app_traffic: tolerate`: the app's own pushes are skipped and reported.
    pub app_traffic: bool,
}

impl Source {
    /// The steps for `ctx`.
    pub fn steps(&self, ctx: &Ctx) -> Result<Vec<Step>, LoadError> {
        let text = substitute(&self.text, &self.params, Some(ctx));
        let root = self.parse(&text)?;
        let (_, steps) = compile::header(&root).map_err(|e| self.at(e))?;
        let given: BTreeSet<String> = self.params.keys().cloned().collect();
        let mut out = Vec::new();
        compile::steps(steps, &compile::Mode::Run(ctx, &given), &mut out)
            .map_err(|e| self.at(e))?;
        Ok(out)
    }

    fn parse(&self, text: &str) -> Result<yaml::Node, LoadError> {
        yaml::parse(text).map_err(|e| LoadError::Invalid {
            file: self.file.clone(),
            line: e.line,
            message: e.message,
        })
    }

    fn at(&self, e: compile::At) -> LoadError {
        LoadError::Invalid {
            file: self.file.clone(),
            line: e.line,
            message: e.message,
        }
    }
}

/// The values a context gives scenario files: `{disconnect_code}`, `{idle_close_code}`,
/// `{idle_quiet}`, `{idle_close_within}`, `{dedupe_wait}`, `{dedupe_quiet}`, `{recurring_wait}`.
pub fn ctx_params(ctx: &Ctx) -> Params {
    use std::time::Duration;
    let ms = |d: Duration| format!("{}ms", d.as_secs_f64() * 1000.0);
    let (lower, upper) = crate::scenarios::idle::idle_window(
        ctx.idle_timeout.unwrap_or(Duration::from_secs(60)),
        ctx.adapter,
    );
    let dedupe_quiet = (ctx.dedupe_window.as_millis() as u64).clamp(100, 1500);
    [
        ("disconnect_code", ctx.disconnect_code().to_string()),
        ("idle_close_code", ctx.idle_close_code().to_string()),
        ("idle_quiet", ms(lower)),
        ("idle_close_within", ms(upper - lower)),
        (
            "dedupe_wait",
            ms(ctx.dedupe_window + Duration::from_secs(3)),
        ),
        ("dedupe_quiet", format!("{dedupe_quiet}ms")),
        (
            "recurring_wait",
            ms(ctx.recurring_interval * 2 + Duration::from_secs(2)),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// `{name}` → its value, for the given parameters and (when known) the context's values.
/// Names that are not parameters are left as written (`{}` stays an empty mapping).
fn substitute(text: &str, params: &Params, ctx: Option<&Ctx>) -> String {
    let ctx = ctx_params(&ctx.copied().unwrap_or_else(Ctx::default_for_check));
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let name = &after[..name_len];
        let closes = after[name_len..].starts_with('}');
        match params.get(name).or_else(|| ctx.get(name)) {
            Some(v) if closes && !name.is_empty() => {
                out.push_str(v);
                rest = &after[name_len + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Loads one scenario from text (`file` names it in errors), with `params` for `{name}`. Every
/// branch is compiled once, so that an error anywhere is reported now, not when it runs.
pub fn load_str(file: &str, text: &str, params: &Params) -> Result<Scenario, LoadError> {
    let mut check_params = params.clone();
    let probe = Source {
        file: file.to_owned(),
        text: text.to_owned(),
        params: Params::new(),
        missing: Vec::new(),
        app_traffic: false,
    };
    // First pass: the header, to learn the required parameters.
    let root = probe.parse(&substitute(text, params, None))?;
    let (header, _) = compile::header(&root).map_err(|e| probe.at(e))?;
    let missing: Vec<String> = header
        .params
        .iter()
        .filter(|p| !params.contains_key(*p))
        .cloned()
        .collect();
    // Check with stand-ins for missing parameters (an empty mapping or string).
    for m in &missing {
        check_params.insert(m.clone(), "{}".into());
    }
    let root = probe.parse(&substitute(text, &check_params, None))?;
    let (_, steps) = compile::header(&root).map_err(|e| probe.at(e))?;
    compile::steps(steps, &compile::Mode::Check, &mut Vec::new()).map_err(|e| probe.at(e))?;
    Ok(Scenario {
        id: header.id,
        name: header.name,
        about: header.about,
        tags: header.tags,
        versions: Versions {
            requires: header.requires,
            depends_on: header.depends_on,
        },
        needs: header.needs,
        source: Arc::new(Source {
            file: file.to_owned(),
            text: text.to_owned(),
            params: params.clone(),
            missing,
            app_traffic: header.app_traffic,
        }),
    })
}

fn check_unique(scenarios: &[Scenario]) -> Result<(), LoadError> {
    let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
    for s in scenarios {
        if let Some(other) = seen.insert(&s.id, &s.source.file) {
            return Err(LoadError::Duplicate {
                file: s.source.file.clone(),
                id: s.id.clone(),
                other: other.to_owned(),
            });
        }
    }
    Ok(())
}

/// Loads every `*.yaml`/`*.yml` file of `dir` (sorted by name, not recursive), with no
/// parameters. The scenarios run with [`crate::runner::run_all`] like the built-in ones.
pub fn load_dir(dir: &Path) -> Result<Vec<Scenario>, LoadError> {
    load_dir_with(dir, &Params::new())
}

/// [`load_dir`] with values for `{name}` parameters.
pub fn load_dir_with(dir: &Path, params: &Params) -> Result<Vec<Scenario>, LoadError> {
    let io = |source| LoadError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LoadError::Empty(dir.to_owned()));
    }
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| LoadError::Io {
            path: f.clone(),
            source,
        })?;
        out.push(load_str(&f.display().to_string(), &text, params)?);
    }
    check_unique(&out)?;
    Ok(out)
}

/// The built-in profiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Profile {
    /// The HelloSockets tutorial app's scenarios (`conformance/scenarios/hello-sockets/`).
    HelloSockets,
    /// What Phoenix guarantees whatever the app does (`conformance/scenarios/protocol/`);
    /// needs `topic` and `join_payload`.
    Protocol,
}

impl Profile {
    /// `hello-sockets` or `protocol`.
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::HelloSockets => "hello-sockets",
            Profile::Protocol => "protocol",
        }
    }

    /// The embedded files, in run order.
    pub fn files(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Profile::HelloSockets => builtin::HELLO_SOCKETS,
            Profile::Protocol => builtin::PROTOCOL,
        }
    }
}

/// The embedded scenario files.
pub mod builtin {
    macro_rules! files {
        ($dir:literal: $($name:literal),* $(,)?) => {
            &[$(($name, include_str!(concat!("../../scenarios/", $dir, "/", $name)))),*]
        };
    }

    /// `conformance/scenarios/hello-sockets/`, in run order.
    pub const HELLO_SOCKETS: &[(&str, &str)] = files!("hello-sockets":
        "heartbeat.yaml",
        "join_ok.yaml",
        "unmatched_topic.yaml",
        "push_before_join.yaml",
        "reply_ok.yaml",
        "reply_error.yaml",
        "no_reply.yaml",
        "stop_close.yaml",
        "crash_error.yaml",
        "duplicate_join.yaml",
        "leave.yaml",
        "leave_never_joined.yaml",
        "wildcard_join.yaml",
        "leave_join_refs.yaml",
        "max_channels.yaml",
        "v1_frames.yaml",
        "v2_binary.yaml",
        "v2_binary_broadcast.yaml",
        "invalid_frame.yaml",
        "lenient_frames.yaml",
        "refused_vsn.yaml",
        "intercept.yaml",
        "fastlane.yaml",
        "dedupe.yaml",
        "broadcast_from_node_b.yaml",
        "two_node_broadcast.yaml",
        "auth_missing.yaml",
        "auth_invalid.yaml",
        "auth_expired.yaml",
        "auth_ok.yaml",
        "recurring_token.yaml",
        "disconnect.yaml",
        "idle_timeout.yaml",
        "presence.yaml",
        "presence_errors.yaml",
        "presence_cluster.yaml",
    );

    /// `conformance/scenarios/protocol/`, in run order.
    pub const PROTOCOL: &[(&str, &str)] = files!("protocol":
        "heartbeat.yaml",
        "unmatched_topic.yaml",
        "push_before_join.yaml",
        "join_leave.yaml",
        "leave_never_joined.yaml",
        "leave_mismatched_join_ref.yaml",
        "duplicate_join.yaml",
        "stale_join_ref.yaml",
        "two_topics.yaml",
        "invalid_frame.yaml",
        "lenient_frames.yaml",
        "refused_vsn.yaml",
        "v1_frames.yaml",
        "v2_binary.yaml",
        "max_channels.yaml",
        "idle_timeout.yaml",
    );
}

/// The scenarios of a built-in profile, with `params` for its `{name}`s.
pub fn profile(p: Profile, params: &Params) -> Result<Vec<Scenario>, LoadError> {
    let out = p
        .files()
        .iter()
        .map(|(name, text)| load_str(&format!("builtin:{}/{name}", p.as_str()), text, params))
        .collect::<Result<Vec<_>, _>>()?;
    check_unique(&out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_replaced_by_name_only() {
        let mut p = Params::new();
        p.insert("topic".into(), "room:1".into());
        assert_eq!(
            substitute(
                r#"["1","1","{topic}","phx_join",{}] {nope} {x: 1}"#,
                &p,
                None
            ),
            r#"["1","1","room:1","phx_join",{}] {nope} {x: 1}"#
        );
    }
}
