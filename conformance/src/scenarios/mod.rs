//! The scenario library. Each scenario is a scenario file (`conformance/SCENARIOS.md`):
//! named like Phoenix's own tests ("refuses websocket events that haven't joined"), declaring
//! the Phoenix versions it applies to ([`Versions`]): which behaviours of the version table
//! ([`phx_protocol::version::BEHAVIOURS`]) its steps depend on (`if: {has: …}`), or require.
//! The built-in ones are embedded ([`crate::scenario_files::builtin`]): [`all`] is the
//! `hello-sockets` profile, the tutorial app's scenarios under `conformance/scenarios/hello-sockets/`
//! (heartbeat, channels, serializers, broadcast, auth, idle, presence); [`idle`] holds the idle
//! timeout's window.

pub mod idle;

use crate::runner::step::{Socket, Step};
use crate::scenario_files::{self, LoadError, Profile, Source};
use crate::target::{Adapter, PhoenixVersion, Target};
use crate::triggers::Capability;
use phx_protocol::version::{Behaviour, Evidence};
use std::sync::Arc;
use std::time::Duration;

/// Something a scenario needs from the target; without it the scenario is skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// A trigger capability.
    Trigger(Capability),
    /// A socket endpoint.
    Socket(Socket),
}

/// What a scenario's steps may depend on.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    /// The Phoenix version whose behaviour is expected.
    pub version: PhoenixVersion,
    /// The web server adapter (decides two close codes).
    pub adapter: Adapter,
    /// RecurringChannel's interval on the target.
    pub recurring_interval: Duration,
    /// DedupeChannel's window on the target.
    pub dedupe_window: Duration,
    /// The idle timeout of the idle socket, if known.
    pub idle_timeout: Option<Duration>,
}

impl Ctx {
    /// The close code of a disconnect broadcast to the socket id (COMPAT D4).
    pub fn disconnect_code(&self) -> u16 {
        if self.version.has(Behaviour::DisconnectGoingAway) {
            return 1001;
        }
        match self.adapter {
            Adapter::Cowboy => 1000,
            Adapter::Bandit => 1011,
        }
    }

    /// The close code of the idle timeout.
    pub fn idle_close_code(&self) -> u16 {
        match self.adapter {
            Adapter::Cowboy => 1000,
            Adapter::Bandit => 1002,
        }
    }

    /// The context scenario files are checked with at load time (Phoenix 1.8, Cowboy, the
    /// HelloSockets app's intervals).
    pub fn default_for_check() -> Self {
        Ctx {
            version: PhoenixVersion::V1_8,
            adapter: Adapter::Cowboy,
            recurring_interval: Duration::from_secs(5),
            dedupe_window: Duration::from_secs(1),
            idle_timeout: None,
        }
    }

    /// The context for a target.
    pub fn of(target: &Target) -> Self {
        Ctx {
            version: target.version,
            adapter: target.adapter,
            recurring_interval: target.recurring_interval,
            dedupe_window: target.dedupe_window,
            idle_timeout: target.idle_timeout,
        }
    }
}

/// One scenario: a loaded scenario file.
#[derive(Clone)]
pub struct Scenario {
    /// Short id, used for `--scenario` and snapshot names.
    pub id: String,
    /// The sentence that names it.
    pub name: String,
    /// What it shows, and where the behaviour comes from.
    pub about: String,
    /// Tags for `--tag`.
    pub tags: Vec<String>,
    /// The Phoenix versions it applies to, and the behaviours its steps depend on.
    pub versions: Versions,
    /// What it needs from the target.
    pub needs: Vec<Need>,
    /// The file, compiled into steps for each context.
    pub source: Arc<Source>,
}

impl std::fmt::Debug for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scenario").field("id", &self.id).finish()
    }
}

impl Scenario {
    /// True when `names` is empty or names this scenario (by id or full sentence), and `tags` is
    /// empty or holds one of its tags.
    pub fn selected(&self, names: &[String], tags: &[String]) -> bool {
        (names.is_empty() || names.iter().any(|n| *n == self.id || *n == self.name))
            && (tags.is_empty() || tags.iter().any(|t| self.tags.contains(t)))
    }

    /// True when it has this tag.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Its steps for a context.
    pub fn steps(&self, ctx: &Ctx) -> Result<Vec<Step>, LoadError> {
        self.source.steps(ctx)
    }

    /// The reason this scenario cannot run on `target`, if any.
    pub fn skip_reason(&self, target: &Target) -> Option<String> {
        if !self.source.missing.is_empty() {
            let flags: Vec<String> = self
                .source
                .missing
                .iter()
                .map(|p| format!("--{}", p.replace('_', "-")))
                .collect();
            return Some(format!("not applicable: needs {}", flags.join(" and ")));
        }
        if let Some(b) = self.versions.requires {
            if !target.version.has(b) {
                return Some(format!(
                    "applies to Phoenix with {} ({}) only",
                    b.id(),
                    b.row().since
                ));
            }
        }
        for need in &self.needs {
            match need {
                Need::Trigger(cap) => {
                    if let Some(r) = target.triggers.lacks(*cap) {
                        return Some(r);
                    }
                }
                Need::Socket(s) => {
                    if target.socket_url(*s).is_none() {
                        let flag = match s {
                            Socket::Auth => "--auth-url",
                            Socket::NodeB => "--node-b-url",
                            Socket::Idle => {
                                "--idle-timeout-ms (slow: waits the server's idle timeout)"
                            }
                            Socket::Main => "--url",
                        };
                        return Some(format!("needs {} (give {flag})", s.label()));
                    }
                }
            }
        }
        None
    }
}

/// Every scenario of the `hello-sockets` profile, in run order.
pub fn all() -> Vec<Scenario> {
    // The embedded files are part of the build; `builtin_files_load` tests that they load.
    scenario_files::profile(Profile::HelloSockets, &scenario_files::Params::new())
        .unwrap_or_else(|e| panic!("a built-in scenario file does not load: {e}"))
}

/// Which Phoenix releases a scenario runs on, and which rows of the version table its steps
/// depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Versions {
    /// Runs only on releases with this behaviour.
    pub requires: Option<Behaviour>,
    /// Behaviours whose presence changes the steps.
    pub depends_on: Vec<Behaviour>,
}

impl Versions {
    /// True when the scenario runs on `v`.
    pub fn runs_on(&self, v: PhoenixVersion) -> bool {
        self.requires.is_none_or(|b| v.has(b))
    }

    /// The versions it expects, for `phx list`: the release ranges, the recorded releases it
    /// runs on, and that every other release is inferred from the version table.
    pub fn describe(&self) -> String {
        let recorded: Vec<String> = PhoenixVersion::RECORDED
            .iter()
            .filter(|v| self.runs_on(**v))
            .map(|v| v.to_string())
            .collect();
        let range = match self.requires {
            Some(b) => format!("{} ({})", b.row().since, b.id()),
            None => "all".to_owned(),
        };
        let varies: Vec<String> = self
            .depends_on
            .iter()
            .map(|b| format!("{} {}", b.id(), b.row().since))
            .collect();
        let mut s = format!("{range}; recorded {}", recorded.join(", "));
        if !varies.is_empty() {
            s.push_str(&format!("; varies with {}", varies.join(", ")));
        }
        if self.requires.is_some() || !varies.is_empty() {
            s.push_str(&format!("; other releases {}", Evidence::Inferred.as_str()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_files_load() {
        for p in [Profile::HelloSockets, Profile::Protocol] {
            let mut params = scenario_files::Params::new();
            params.insert("topic".into(), "ping".into());
            params.insert("join_payload".into(), "{}".into());
            let all = scenario_files::profile(p, &params).expect("built-in files load");
            assert!(!all.is_empty());
            for s in &all {
                s.steps(&Ctx::default_for_check()).expect("steps compile");
            }
        }
        assert_eq!(all().len(), 36);
    }

    #[test]
    fn close_codes_follow_version_and_adapter() {
        let ctx = |version, adapter| Ctx {
            version,
            adapter,
            recurring_interval: Duration::ZERO,
            dedupe_window: Duration::ZERO,
            idle_timeout: None,
        };
        assert_eq!(
            ctx(PhoenixVersion::V1_7, Adapter::Cowboy).disconnect_code(),
            1000
        );
        assert_eq!(
            ctx(PhoenixVersion::V1_7, Adapter::Bandit).disconnect_code(),
            1011
        );
        assert_eq!(
            ctx(PhoenixVersion::V1_8, Adapter::Bandit).disconnect_code(),
            1001
        );
        assert_eq!(
            ctx(PhoenixVersion::V1_8, Adapter::Bandit).idle_close_code(),
            1002
        );
        assert_eq!(
            ctx(PhoenixVersion::V1_8, Adapter::Cowboy).idle_close_code(),
            1000
        );
    }
}
