//! `phx list`: the scenario library.

use crate::scenarios;
use std::process::ExitCode;

/// Arguments of `phx list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also print what each scenario shows.
    #[arg(long, short)]
    verbose: bool,
}

/// Prints every scenario: id, versions, tags and name.
pub fn run(args: ListArgs) -> ExitCode {
    for s in scenarios::all() {
        let versions: Vec<_> = s.versions.iter().map(|v| v.as_str()).collect();
        println!(
            "{:<22} [{}] {:<28} {}",
            s.id,
            versions.join(","),
            s.tags.join(","),
            s.name
        );
        if args.verbose {
            println!("    {}\n", s.about);
        }
    }
    ExitCode::SUCCESS
}
