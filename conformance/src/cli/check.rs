//! `phx check`: every scenario against the target, a progress line each, then a summary.

use super::target_args::{target_error_code, TargetArgs};
use crate::report::{self, Format};
use crate::runner::{self, EngineOptions, Status};
use crate::scenarios;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `phx check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Write the report here instead of stdout (progress still goes to stderr).
    #[arg(long)]
    output: Option<std::path::PathBuf>,
    /// Run only these scenarios (id or full name; repeatable).
    #[arg(long = "scenario")]
    scenarios: Vec<String>,
    /// Run only scenarios with one of these tags (repeatable).
    #[arg(long = "tag")]
    tags: Vec<String>,
    /// Write each scenario's transcript (JSONL, the fixtures' format) into this directory.
    #[arg(long)]
    transcripts: Option<std::path::PathBuf>,
}

/// Runs `phx check`.
pub fn run(args: CheckArgs) -> ExitCode {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(check(args))
}

async fn check(args: CheckArgs) -> ExitCode {
    let selected: Vec<_> = scenarios::all()
        .into_iter()
        .filter(|s| s.selected(&args.scenarios, &args.tags))
        .collect();
    if selected.is_empty() {
        eprintln!("error: no scenario matches the --scenario/--tag selection (see `phx list`)");
        return ExitCode::from(2);
    }
    let target = match args.target.build().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(target_error_code(&e));
        }
    };
    eprintln!(
        "phx check: {} scenarios against {}",
        selected.len(),
        target.description
    );
    let results = runner::run_all(&target, &selected, &EngineOptions::default(), |r| {
        eprintln!("{}", report::progress_line(r));
    })
    .await;
    if let Some(dir) = &args.transcripts {
        if let Err(e) = write_transcripts(dir, &results) {
            eprintln!("error: cannot write transcripts to {}: {e}", dir.display());
            return ExitCode::from(3);
        }
    }
    let text = report::render(args.format, &target.description, &results);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(3);
            }
            if args.format != Format::Human {
                eprint!(
                    "{}",
                    report::render(Format::Human, &target.description, &results)
                );
            }
        }
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
    let unreachable = results
        .iter()
        .any(|r| matches!(&r.status, Status::Failed(f) if f.unreachable));
    if unreachable && results.iter().all(|r| !matches!(r.status, Status::Passed)) {
        eprintln!("error: cannot reach the target at {}", target.socket_url);
        return ExitCode::from(3);
    }
    if results.iter().any(|r| r.failed()) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn write_transcripts(
    dir: &std::path::Path,
    results: &[runner::ScenarioResult],
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for r in results
        .iter()
        .filter(|r| !r.outcome.transcript.entries.is_empty())
    {
        std::fs::write(
            dir.join(format!("{}.jsonl", r.id)),
            r.outcome.transcript.to_jsonl(),
        )?;
    }
    Ok(())
}
