//! `phx replay`: the client side of transcripts against a target, reporting differences.

use super::target_args::{target_error_code, TargetArgs};
use crate::runner::{Engine, EngineOptions};
use crate::transcript::{replay, Transcript};
use std::process::ExitCode;

/// Arguments of `phx replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// Transcript files (JSONL).
    #[arg(required = true)]
    files: Vec<std::path::PathBuf>,
    #[command(flatten)]
    target: TargetArgs,
}

/// Replays each file; exit 1 if any differs.
pub fn run(args: ReplayArgs) -> ExitCode {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    rt.block_on(replay_all(args))
}

async fn replay_all(args: ReplayArgs) -> ExitCode {
    let mut plans = Vec::new();
    for f in &args.files {
        let steps = Transcript::read(f)
            .map_err(|e| e.to_string())
            .and_then(|t| replay::steps(&t).map_err(|e| format!("{}: {e}", f.display())));
        match steps {
            Ok(s) => plans.push((f, s)),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let target = match args.target.build().await {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(target_error_code(&e));
        }
    };
    let mut failed = false;
    for (file, steps) in plans {
        let out = Engine::new(&target, EngineOptions::default())
            .run(&steps)
            .await;
        for t in &out.tolerances {
            say(format_args!("note {}: {t}", file.display()));
        }
        match (&out.failure, &out.skipped) {
            (Some(f), _) if f.unreachable => {
                eprintln!("error: {}: {}", file.display(), f.actual);
                return ExitCode::from(3);
            }
            (Some(f), _) => {
                failed = true;
                say(format_args!("DIFF {}: {f}", file.display()));
            }
            (None, Some(why)) => say(format_args!("SKIP {}: {why}", file.display())),
            (None, None) => say(format_args!(
                "ok   {} ({} lines)",
                file.display(),
                out.transcript.entries.len()
            )),
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// One result line; a closed stdout (`phx replay … | head`) must not panic the run, whose exit
/// code still reports the outcome.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
