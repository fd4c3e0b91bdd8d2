//! The `phx` command line: one module per subcommand.
//!
//! Exit codes are part of the interface: 0 success; 1 a failed check, difference or
//! verification; 2 a usage error (clap's default), including an input file that cannot be read
//! or parsed; 3 the target cannot be reached or refused the connection (or the output cannot be
//! written).

pub mod bench;
pub mod certify;
pub mod check;
pub mod connect;
pub mod list;
pub mod record;
pub mod redact_args;
pub mod replay;
pub mod scenario_args;
pub mod target_args;
pub mod tls_args;
pub mod token;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// phx: test Phoenix Channels servers and clients.
#[derive(Debug, Parser)]
#[command(name = "phx", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sign and verify Phoenix.Token tokens (byte-compatible with Phoenix).
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Run every conformance scenario against a server (default: the embedded phx-server).
    Check(Box<check::CheckArgs>),
    /// List the conformance scenarios.
    List(list::ListArgs),
    /// Record a JSONL transcript through a transparent WebSocket proxy.
    Record(record::RecordArgs),
    /// Replay the client side of transcripts against a server and report differences.
    Replay(replay::ReplayArgs),
    /// Connect to a Phoenix socket like wscat, with heartbeats, reconnects and rejoins.
    Connect(connect::ConnectArgs),
    /// Load-test a Phoenix endpoint: fan-out, joins, idle, reconnect storm, cross-node.
    Bench(bench::BenchArgs),
    /// Certify a client's reconnect and rejoin under injected faults (`-- CMD ARGS...`).
    Certify(certify::CertifyArgs),
}

/// Parses the arguments and runs the subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Token(cmd) => token::run(cmd),
        Command::Check(args) => check::run(*args),
        Command::List(args) => list::run(args),
        Command::Record(args) => record::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Connect(args) => connect::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Certify(args) => certify::run(args),
    }
}

/// The tokio runtime every async subcommand runs on; when it cannot start, the error is printed
/// and the exit code (3) is returned for the caller to hand back.
fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(3)
        })
}
