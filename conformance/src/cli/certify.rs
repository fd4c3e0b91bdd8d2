//! `phx certify [flags] -- CMD ARGS...`: runs every certification case (or `--case`) against
//! the client command, a progress line each on stderr, then the report. `--list` lists the
//! cases. Exit codes: 0 every case passed (or was skipped), 1 a case failed, 2 usage, 3 the
//! client command cannot start (or never connected in any case, or a report cannot be
//! written).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use crate::certify::{self, report, CaseInfo, Settings};
use crate::report::Format;

/// Arguments of `phx certify`.
#[derive(Debug, clap::Args)]
pub struct CertifyArgs {
    /// List the cases and exit.
    #[arg(long)]
    list: bool,
    /// Run only these cases (repeatable; see --list).
    #[arg(long = "case")]
    cases: Vec<String>,
    /// Report format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
    /// Write the report here instead of stdout (progress still goes to stderr).
    #[arg(long)]
    output: Option<std::path::PathBuf>,
    /// Also write a self-contained HTML report here.
    #[arg(long)]
    html: Option<std::path::PathBuf>,
    /// The heartbeat interval the client is asked to use (PHX_CERTIFY_HEARTBEAT_MS).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    heartbeat_ms: u64,
    /// How long `refuse_connections` refuses new connections.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(100..=30_000))]
    outage_ms: u64,
    /// Comma-separated topics the client joins (PHX_CERTIFY_TOPICS; at least two).
    #[arg(long, default_value = "certify:a,certify:b,certify:c")]
    topics: String,
    /// The client command and its arguments, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

/// Runs `phx certify`.
pub fn run(args: CertifyArgs) -> ExitCode {
    if args.list {
        for c in certify::all() {
            println!(
                "{:<22} {}\n{:<22} expect: {}{}",
                c.name,
                c.fault,
                "",
                c.expect,
                if c.needs_heartbeat {
                    " (needs the requested heartbeat)"
                } else {
                    ""
                }
            );
        }
        return ExitCode::SUCCESS;
    }
    if args.command.is_empty() {
        eprintln!("error: give the client command after `--`, e.g. `phx certify -- node client.js` (or use --list)");
        return ExitCode::from(2);
    }
    let topics: Vec<String> = args
        .topics
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    if topics.len() < 2 || topics.iter().any(|t| t == "phoenix") {
        eprintln!("error: --topics needs at least two topics, none of them `phoenix`");
        return ExitCode::from(2);
    }
    let mut selected: Vec<&CaseInfo> = Vec::new();
    for name in &args.cases {
        match certify::find(name) {
            Some(c) => selected.push(c),
            None => {
                eprintln!("error: no case named {name:?} (see `phx certify --list`)");
                return ExitCode::from(2);
            }
        }
    }
    if selected.is_empty() {
        selected = certify::all().iter().collect();
    }
    let settings = Settings {
        topics,
        heartbeat: Duration::from_millis(args.heartbeat_ms),
        outage: Duration::from_millis(args.outage_ms),
        ..Settings::new(args.command.clone())
    };
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let client = args.command.join(" ");
    eprintln!("phx certify: {} cases against `{client}`", selected.len());
    let results = match rt.block_on(certify::certify(&settings, &selected, |r| {
        eprintln!("{}", report::progress_line(r));
    })) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(3);
        }
    };
    let text = report::render(args.format, &client, &results);
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &text) {
                eprintln!("error: cannot write {}: {e}", path.display());
                return ExitCode::from(3);
            }
            if args.format != Format::Human {
                eprint!("{}", report::render(Format::Human, &client, &results));
            }
        }
        None => {
            let _ = std::io::stdout().write_all(text.as_bytes());
        }
    }
    if let Some(path) = &args.html {
        if let Err(e) = std::fs::write(path, report::html(&client, &results)) {
            eprintln!("error: cannot write {}: {e}", path.display());
            return ExitCode::from(3);
        }
    }
    if !results.is_empty() && results.iter().all(|r| r.never_connected) {
        eprintln!("error: the client command exited without ever connecting");
        return ExitCode::from(3);
    }
    if results.iter().any(|r| r.verdict == certify::Verdict::Fail) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
