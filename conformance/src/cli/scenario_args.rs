//! The flags that choose the scenarios, shared by `phx check` and `phx list`: a built-in
//! profile (`--profile hello-sockets|protocol` with its `--topic`/`--join-payload`) or a
//! directory of scenario files (`--scenarios DIR`).

use crate::scenario_files::{self, LoadError, Params, Profile};
use crate::scenarios::Scenario;
use std::path::PathBuf;

/// Which scenarios to run or list.
#[derive(Debug, Clone, clap::Args)]
pub struct ScenarioArgs {
    /// The built-in profile: `hello-sockets` (the tutorial app's scenarios; default) or
    /// `protocol` (what any Phoenix app guarantees; needs --topic and --join-payload, and is
    /// the default when --topic is given).
    #[arg(long, value_enum)]
    pub profile: Option<Profile>,
    /// Run the scenario files (*.yaml) of this directory instead of a profile
    /// (conformance/SCENARIOS.md).
    #[arg(long = "scenarios", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// protocol profile: a topic the app lets you join, e.g. `room:lobby` (`{topic}`).
    #[arg(long)]
    pub topic: Option<String>,
    /// protocol profile: a second joinable topic (`{topic2}`; enables the two-topic check).
    #[arg(long)]
    pub topic2: Option<String>,
    /// protocol profile: the join payload, a JSON object (`{join_payload}`; default `{}`).
    #[arg(long)]
    pub join_payload: Option<String>,
    /// protocol profile: joinable topics with a number placeholder, e.g. `room:{i}`
    /// (`{topic_pattern}`; enables the channel-limit check, which joins 101 of them).
    #[arg(
        long,
        help = "protocol profile: joinable topics with a number placeholder, e.g. 'room:{i}' \
                ({topic_pattern}; enables the channel-limit check, which joins 101 of them)"
    )]
    pub topic_pattern: Option<String>,
    /// A value for `{NAME}` in scenario files (`NAME=VALUE`, repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
}

/// Why the selection cannot be loaded (a usage error: exit 2).
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A flag's value is unusable.
    #[error("{0}")]
    Usage(String),
    /// A scenario file does not load.
    #[error(transparent)]
    Load(#[from] LoadError),
}

fn plain(flag: &str, v: &str) -> Result<String, SelectError> {
    if v.is_empty() || v.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(SelectError::Usage(format!(
            "{flag} {v:?}: expected a non-empty value without quotes, backslashes or control characters"
        )));
    }
    Ok(v.to_owned())
}

impl ScenarioArgs {
    /// The profile in effect: `--profile`, else `protocol` when `--topic` is given, else
    /// `hello-sockets`; None with `--scenarios`.
    pub fn profile(&self) -> Option<Profile> {
        if self.dir.is_some() && self.profile.is_none() {
            return None;
        }
        Some(self.profile.unwrap_or(if self.topic.is_some() {
            Profile::Protocol
        } else {
            Profile::HelloSockets
        }))
    }

    /// The `{name}` values the flags give.
    pub fn params(&self) -> Result<Params, SelectError> {
        let mut p = Params::new();
        for kv in &self.params {
            let Some((k, v)) = kv.split_once('=') else {
                return Err(SelectError::Usage(format!(
                    "--param {kv:?}: expected NAME=VALUE"
                )));
            };
            if v.chars().any(char::is_control) {
                return Err(SelectError::Usage(format!(
                    "--param {k}: expected a value without control characters (newlines)"
                )));
            }
            p.insert(k.to_owned(), v.to_owned());
        }
        if let Some(t) = &self.topic {
            p.insert("topic".into(), plain("--topic", t)?);
        }
        if let Some(t) = &self.topic2 {
            p.insert("topic2".into(), plain("--topic2", t)?);
        }
        if let Some(t) = &self.topic_pattern {
            if !t.contains("{i}") {
                return Err(SelectError::Usage(format!(
                    "--topic-pattern {t:?}: expected {{i}} where the number goes, e.g. room:{{i}}"
                )));
            }
            p.insert("topic_pattern".into(), plain("--topic-pattern", t)?);
        }
        let payload = self.join_payload.as_deref().unwrap_or("{}");
        match serde_json::from_str::<serde_json::Value>(payload) {
            Ok(v @ serde_json::Value::Object(_)) => {
                p.insert("join_payload".into(), phx_protocol::json::to_string(&v));
            }
            _ => {
                return Err(SelectError::Usage(format!(
                    "--join-payload {payload:?}: expected a JSON object, e.g. '{{\"auth\":\"x\"}}'"
                )))
            }
        }
        Ok(p)
    }

    /// Loads the selected scenarios to run (the protocol profile needs `--topic`).
    pub fn load(&self) -> Result<Vec<Scenario>, SelectError> {
        self.load_as(true)
    }

    /// Loads the selected scenarios to list (missing parameters only mark them).
    pub fn load_for_list(&self) -> Result<Vec<Scenario>, SelectError> {
        self.load_as(false)
    }

    fn load_as(&self, to_run: bool) -> Result<Vec<Scenario>, SelectError> {
        let params = self.params()?;
        if let Some(dir) = &self.dir {
            let mut v = scenario_files::load_dir_with(dir, &params)?;
            if let Some(p) = self.profile {
                v.splice(0..0, scenario_files::profile(p, &params)?);
            }
            return Ok(v);
        }
        let profile = self.profile().unwrap_or(Profile::HelloSockets);
        if to_run && profile == Profile::Protocol && self.topic.is_none() {
            return Err(SelectError::Usage(
                "--profile protocol needs --topic T (a topic the app lets you join) and, when \
                 its join needs params, --join-payload JSON"
                    .into(),
            ));
        }
        Ok(scenario_files::profile(profile, &params)?)
    }
}
