//! `phx list`: the scenario library.

use crate::scenarios;
use std::io::Write;
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
    // `phx list | head`: stop quietly when the reader goes away (`println!` would panic).
    let mut out = std::io::stdout().lock();
    for s in scenarios::all() {
        let versions: Vec<_> = s.versions.iter().map(|v| v.as_str()).collect();
        let line = writeln!(
            out,
            "{:<22} [{}] {:<28} {}",
            s.id,
            versions.join(","),
            s.tags.join(","),
            s.name
        );
        let about = if args.verbose {
            writeln!(out, "    {}\n", s.about)
        } else {
            Ok(())
        };
        if line.and(about).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}
