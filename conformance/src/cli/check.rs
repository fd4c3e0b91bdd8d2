//! `phx check`: every scenario against the target, a progress line each, then a summary.

use super::scenario_args::{ScenarioArgs, SelectError};
use super::target_args::{target_error_code, TargetArgs};
use crate::report::{self, Format};
use crate::runner::step::{Expected, Outgoing, Socket, Step};
use crate::runner::Engine;
use crate::runner::{self, EngineOptions, Status};
use crate::scenario_files::Profile;
use crate::target::Target;
use std::io::Write;
use std::process::ExitCode;

/// Arguments of `phx check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[command(flatten)]
    select: ScenarioArgs,
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
    let all = match args.select.load() {
        Ok(all) => all,
        Err(e @ SelectError::Usage(_)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
        Err(SelectError::Load(e)) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let selected: Vec<_> = all
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
    let profile = args.select.profile();
    if profile == Some(Profile::HelloSockets) && !args.target.is_embedded() {
        if let Some(why) = not_hello_sockets(&target).await {
            eprintln!(
                "error: {why}: this server is not the HelloSockets tutorial app, which the \
                 hello-sockets profile (the default) checks.\n\
                 Run the checks that hold for any Phoenix app against one of its own topics:\n  \
                 phx check --profile protocol --topic TOPIC [--join-payload '{{\"key\":\"value\"}}'] --url {}",
                target.socket_url
            );
            return ExitCode::from(2);
        }
    }
    let what = match profile {
        Some(p) => format!("profile {}", p.as_str()),
        None => "scenario files".to_owned(),
    };
    eprintln!(
        "phx check: {} scenarios ({what}) against {}",
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

/// Some(reason) when joining `ping` is refused as an unmatched topic: the server has none of
/// HelloSockets' channels. None when it joins (or when the probe cannot tell, e.g. the target is
/// unreachable: the run reports that).
async fn not_hello_sockets(target: &Target) -> Option<String> {
    let steps = [
        Step::Connect {
            conn: "probe".into(),
            socket: Socket::Main,
            query: "vsn=2.0.0".into(),
            status: 101,
        },
        Step::Send {
            conn: "probe".into(),
            frame: Outgoing::Text(r#"["1","1","ping","phx_join",{}]"#.into()),
        },
        Step::Expect {
            conn: "probe".into(),
            frame: Expected::Json(
                serde_json::json!([null,"1","ping","phx_reply",{"response":{"reason":"unmatched topic"},"status":"error"}]),
            ),
            within: None,
        },
    ];
    let outcome = Engine::new(target, EngineOptions::default())
        .run(&steps)
        .await;
    (outcome.failure.is_none() && outcome.skipped.is_none())
        .then(|| "joining \"ping\" was refused as \"unmatched topic\"".to_owned())
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
