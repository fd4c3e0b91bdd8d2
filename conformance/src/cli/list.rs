//! `phx list`: the scenario library.

use super::scenario_args::ScenarioArgs;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `phx list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Also print what each scenario shows.
    #[arg(long, short)]
    verbose: bool,
    /// Print the version table instead: which behaviour starts at which Phoenix (and
    /// Plug.Crypto) release, and where that comes from.
    #[arg(long)]
    behaviours: bool,
    #[command(flatten)]
    select: ScenarioArgs,
}

fn behaviour_table(out: &mut impl Write) -> std::io::Result<()> {
    use phx_protocol::version::{BEHAVIOURS, FUTURE_SIGNED_AT};
    let recorded: Vec<String> = crate::target::PhoenixVersion::RECORDED
        .iter()
        .map(|v| v.to_string())
        .collect();
    writeln!(
        out,
        "Recorded: Phoenix {} (fixtures); every other release is inferred from this table.",
        recorded.join(", ")
    )?;
    for r in BEHAVIOURS {
        let mark = if r.inferred { " (inferred)" } else { "" };
        writeln!(
            out,
            "{:<24} Phoenix {}{mark}\n    {}",
            r.id, r.since, r.source
        )?;
    }
    let f = FUTURE_SIGNED_AT;
    let mark = if f.inferred { " (inferred)" } else { "" };
    writeln!(
        out,
        "{:<24} Plug.Crypto {}+{mark}\n    {}",
        f.id, f.since, f.source
    )
}

/// Prints every scenario: id, tags, name and the Phoenix versions it expects (or, with
/// `--behaviours`, the version table).
pub fn run(args: ListArgs) -> ExitCode {
    // `phx list | head`: stop quietly when the reader goes away (`println!` would panic).
    let mut out = std::io::stdout().lock();
    if args.behaviours {
        let _ = behaviour_table(&mut out);
        return ExitCode::SUCCESS;
    }
    let all = match args.select.load_for_list() {
        Ok(all) => all,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for s in all {
        let line = writeln!(
            out,
            "{:<22} {:<28} {}\n    Phoenix: {}",
            s.id,
            s.tags.join(","),
            s.name,
            s.versions.describe()
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
