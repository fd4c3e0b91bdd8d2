//! The scenario library. Each scenario is a named, documented list of steps over raw
//! connections, named the way Phoenix's own tests are ("refuses websocket events that haven't
//! joined"), and declares the Phoenix versions it applies to ([`Versions`]): which behaviours of
//! the version table ([`phx_protocol::version::BEHAVIOURS`]) its steps depend on, or require.
//! Where releases differ (`fixtures/COMPAT-1.7-vs-1.8.md`) its steps ask
//! `ctx.version.has(Behaviour::…)`.
//!
//! One file per area: [`heartbeat`], [`channels`] (join, leave, replies, stop, crash),
//! [`serializers`] (V1, V2 binary, invalid frames, vsn), [`broadcast`] (intercept, fastlane,
//! dedupe, two nodes), [`auth`] (tokens, authorization, recurring, disconnect), [`idle`],
//! [`presence`] (Phoenix.Presence on one node and across two).

pub mod auth;
pub mod broadcast;
pub mod channels;
pub mod heartbeat;
pub mod idle;
pub mod presence;
pub mod serializers;

use crate::runner::step::{Socket, Step};
use crate::target::{Adapter, PhoenixVersion, Target};
use crate::triggers::Capability;
use phx_protocol::version::{Behaviour, Evidence};
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

/// One scenario.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Short id, used for `--scenario` and snapshot names.
    pub id: &'static str,
    /// The sentence that names it.
    pub name: &'static str,
    /// What it shows, and where the behaviour comes from.
    pub about: &'static str,
    /// Tags for `--tag`.
    pub tags: &'static [&'static str],
    /// The Phoenix versions it applies to, and the behaviours its steps depend on.
    pub versions: Versions,
    /// What it needs from the target.
    pub needs: &'static [Need],
    /// Its steps for a context.
    pub steps: fn(&Ctx) -> Vec<Step>,
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
        (names.is_empty() || names.iter().any(|n| n == self.id || n == self.name))
            && (tags.is_empty() || tags.iter().any(|t| self.tags.contains(&t.as_str())))
    }

    /// The reason this scenario cannot run on `target`, if any.
    pub fn skip_reason(&self, target: &Target) -> Option<String> {
        if let Some(b) = self.versions.requires {
            if !target.version.has(b) {
                return Some(format!(
                    "applies to Phoenix with {} ({}) only",
                    b.id(),
                    b.row().since
                ));
            }
        }
        for need in self.needs {
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

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    let mut v = Vec::new();
    v.extend(heartbeat::scenarios());
    v.extend(channels::scenarios());
    v.extend(serializers::scenarios());
    v.extend(broadcast::scenarios());
    v.extend(auth::scenarios());
    v.extend(idle::scenarios());
    v.extend(presence::scenarios());
    v
}

/// Which Phoenix releases a scenario runs on, and which rows of the version table its steps
/// depend on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Versions {
    /// Runs only on releases with this behaviour.
    pub requires: Option<Behaviour>,
    /// Behaviours whose presence changes the steps.
    pub depends_on: &'static [Behaviour],
}

impl Versions {
    /// Every release, with the same steps.
    pub const ALL: Versions = Versions {
        requires: None,
        depends_on: &[],
    };

    /// Every release; the steps depend on these behaviours.
    pub const fn depends(depends_on: &'static [Behaviour]) -> Versions {
        Versions {
            requires: None,
            depends_on,
        }
    }

    /// Only releases with `b`.
    pub const fn requires(b: Behaviour) -> Versions {
        Versions {
            requires: Some(b),
            depends_on: &[],
        }
    }

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
