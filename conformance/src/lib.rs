//! # phx-conformance
//!
//! The Phoenix Channels conformance suite: named scenarios over raw WebSocket connections, run
//! against the embedded reference server or a real Phoenix app, plus record/replay of
//! transcripts and the `phx` CLI.
//!
//! ## Layout
//! - [`transcript`]: the JSONL transcript format, normalising (tokens, node names) and matching,
//!   and turning a recorded transcript into steps ([`transcript::replay`]).
//! - [`runner`]: the engine. A [`runner::Step`] list runs over raw connections
//!   ([`runner::conn`]), records a transcript and reports the first difference.
//! - [`scenarios`]: the scenario library, one file per area, each scenario named like Phoenix's
//!   own tests and declaring the Phoenix versions it applies to.
//! - [`scenario_files`]: the YAML scenario format (`conformance/SCENARIOS.md`), the embedded
//!   profiles (`hello-sockets`, `protocol`) and [`scenario_files::load_dir`] for a user's files.
//! - [`target`]: what the suite runs against: the embedded phx-server (in-process, port 0) or an
//!   external URL, `ws://` or `wss://` (the target's `tls` is phx-client's `TlsConfig`), and the
//!   expected [`target::PhoenixVersion`] (phx-protocol's version type, with its behaviour table;
//!   phx-server's `Compat` is the same type).
//! - [`triggers`]: server-side actions: phx-server's control API, or Erlang RPC on a Phoenix node.
//! - [`report`]: human, JSON and JUnit reports of a run.
//! - [`record`]: the recording proxy behind `phx record` (TLS on either side).
//! - [`bench`](mod@bench): `phx bench`, the load generator (fan-out, joins, idle, reconnect storm,
//!   cross-node) with exact per-connection delivery counts and a same-run baseline.
//! - [`certify`]: `phx certify`: a client's reconnect and rejoin under injected faults, through
//!   a fault proxy in front of an embedded phx-server.
//! - [`testkit`] (feature `testkit`, on by default): the cargo-test API, [`replay_dir!`]: a
//!   directory of transcripts replayed against the `PHX_*` target with insta snapshots.
//! - [`cli`]: the `phx` command line, one module per subcommand; `cli::tls_args` holds the
//!   `--cacert`/`--insecure` flags every dialling command shares.
//!
//! ## Example
//! ```no_run
//! use phx_conformance::runner::{self, EngineOptions};
//! use phx_conformance::{scenarios, target::{PhoenixVersion, Target}};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let target = Target::embedded(PhoenixVersion::V1_8).await?;
//! let results = runner::run_all(&target, &scenarios::all(), &EngineOptions::default(), |_| {}).await;
//! assert!(results.iter().all(|r| !r.failed()));
//! # Ok(()) }
//! ```

pub mod bench;
pub mod certify;
pub mod cli;
pub mod record;
pub mod report;
pub mod runner;
pub mod scenario_files;
pub mod scenarios;
pub mod target;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod transcript;
pub mod triggers;

/// The workspace README's Rust examples, compiled and run as doctests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
