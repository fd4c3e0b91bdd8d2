//! `phx token sign|verify` (being built).

use clap::Subcommand;
use std::process::ExitCode;

/// `phx token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign DATA_JSON.
    Sign,
}

/// Runs a `phx token` subcommand.
pub fn run(_cmd: TokenCommand) -> ExitCode {
    ExitCode::from(2)
}
