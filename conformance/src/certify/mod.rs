//! `phx certify`: certifies any Phoenix Channels client's reconnect and rejoin under injected
//! faults, the way Autobahn|Testsuite certifies WebSocket clients.
//!
//! ## The contract with the client under test
//! The client command is started once per case with `PHX_CERTIFY_URL` (the socket URL),
//! `PHX_CERTIFY_TOPICS` (comma-separated topics, each joined with payload `{}`) and
//! `PHX_CERTIFY_HEARTBEAT_MS` (the heartbeat interval to use); `PHX_CERTIFY_CASE` names the case,
//! for the client's own logs. The client joins every topic and answers every `echo` event
//! with an `echo_reply` push of the same payload on that topic. Nothing else: every check is
//! made on the server side.
//!
//! ## Layout
//! - [`cases`]: the case list and how each case is driven and checked.
//! - [`proxy`]: the fault proxy between the client and the embedded server.
//! - [`app`]: the certification socket and channel on an embedded phx-server.
//! - [`observer`]: the server-side event log and the checks over it (pure).
//! - [`wsframe`]: the little WebSocket framing the proxy needs (sans-IO).
//! - [`report`]: human, JSON, JUnit and self-contained HTML reports.

pub mod app;
pub mod cases;
pub mod observer;
pub mod proxy;
pub mod report;
pub mod wsframe;

use std::time::Duration;

pub use cases::{all, find, CaseId, CaseInfo};

/// What a certification run needs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The client command and its arguments.
    pub command: Vec<String>,
    /// The topics the client joins.
    pub topics: Vec<String>,
    /// The heartbeat interval the client is asked to use.
    pub heartbeat: Duration,
    /// How long `refuse_connections` refuses.
    pub outage: Duration,
}

impl Settings {
    /// Defaults for `command`: three topics, a 500 ms heartbeat, a 2 s outage.
    pub fn new(command: Vec<String>) -> Self {
        Settings {
            command,
            topics: vec!["certify:a".into(), "certify:b".into(), "certify:c".into()],
            heartbeat: Duration::from_millis(500),
            outage: Duration::from_secs(2),
        }
    }
}

/// A case's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check passed.
    Pass,
    /// At least one check failed.
    Fail,
    /// Not applicable to this client (why).
    Skip(String),
}

/// One check of a case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What is checked ("rejoined", "back-off", …).
    pub name: &'static str,
    /// Whether it held.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case name.
    pub name: &'static str,
    /// The fault injected.
    pub fault: &'static str,
    /// The verdict.
    pub verdict: Verdict,
    /// Wall time of the case.
    pub duration: Duration,
    /// Every check, in order.
    pub checks: Vec<Check>,
    /// Measured timings (label, ms).
    pub timings: Vec<(String, u64)>,
    /// Remarks that are not checks.
    pub notes: Vec<String>,
    /// Server-side log lines around the fault.
    pub frames: Vec<String>,
    /// The last lines the client printed.
    pub client_output: Vec<String>,
    /// The client exited without ever connecting.
    pub never_connected: bool,
}

impl CaseResult {
    /// The failed checks.
    pub fn failures(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| !c.ok)
    }
}

/// The client command could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    /// No command was given.
    #[error("no client command given (phx certify [flags] -- CMD ARGS...)")]
    Empty,
    /// It started but exited without ever connecting.
    #[error(
        "the client command `{command}` exited without ever connecting; its last output:\n{output}"
    )]
    NeverConnected {
        /// The command line.
        command: String,
        /// Its last lines of output.
        output: String,
    },
    /// The OS refused to start it.
    #[error("cannot start the client command `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Runs `selected` cases back to back, calling `progress` after each.
pub async fn certify(
    settings: &Settings,
    selected: &[&CaseInfo],
    mut progress: impl FnMut(&CaseResult),
) -> Result<Vec<CaseResult>, SpawnError> {
    let mut out = Vec::new();
    for case in selected {
        let r = cases::run(case, settings).await?;
        progress(&r);
        if r.never_connected {
            // Every further case would end the same way.
            return Err(SpawnError::NeverConnected {
                command: settings.command.join(" "),
                output: r.client_output.join("\n"),
            });
        }
        out.push(r);
    }
    Ok(out)
}

/// Which cases a client that ignores the requested heartbeat cannot be certified on.
pub fn heartbeat_cases() -> Vec<&'static str> {
    all()
        .iter()
        .filter(|c| c.needs_heartbeat)
        .map(|c| c.name)
        .collect()
}
