//! `phx replay`: the client side of transcripts against a target, reporting differences.
//! `--redact`/`--redact-file` turn recorded volatile values into placeholders first;
//! `--unordered` adds order tolerances to the defaults (`--strict-order` drops those).

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
    #[command(flatten)]
    redact: super::redact_args::RedactArgs,
    /// Frames that may arrive in any order (repeatable): TOPIC_GLOB:EVENT,EVENT, e.g.
    /// 'room:*:presence_state,presence_diff'. Each use is printed as a `tolerated:` note.
    #[arg(long, value_name = "TOPIC_GLOB:EVENTS")]
    unordered: Vec<String>,
    /// Drop the default tolerances (a joiner's own presence_diff and presence_state; an
    /// update's phx_reply and its presence_diff: the races real Phoenix shows).
    #[arg(long)]
    strict_order: bool,
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
    let rules = match args.redact.rules(&args.unordered) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let opts = replay::ReplayOptions {
        redactions: rules.redactions,
        unordered: rules.unordered,
        default_unordered: !args.strict_order,
    };
    let mut plans = Vec::new();
    for f in &args.files {
        let steps = Transcript::read(f)
            .map_err(|e| e.to_string())
            .and_then(|t| {
                replay::steps_with(&t, &opts).map_err(|e| format!("{}: {e}", f.display()))
            });
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
