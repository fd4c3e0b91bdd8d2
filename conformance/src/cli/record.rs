//! `phx record`: a recording proxy in front of a real server.

use crate::record::{self, RecordOptions};
use std::process::ExitCode;

/// Arguments of `phx record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Where clients connect instead of the server (loopback), e.g. 127.0.0.1:4999.
    #[arg(long)]
    listen: String,
    /// The real server, e.g. ws://127.0.0.1:4000 (each client's path and query are kept).
    #[arg(long)]
    upstream: String,
    /// The JSONL transcript to append to.
    #[arg(long, short, default_value = "transcript.jsonl")]
    output: std::path::PathBuf,
}

/// Runs the proxy until Ctrl-C.
pub fn run(args: RecordArgs) -> ExitCode {
    let rt = match super::runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let listen_ip = args
        .listen
        .rsplit_once(':')
        .map(|(h, _)| h.trim_matches(['[', ']']));
    if !matches!(listen_ip, Some("127.0.0.1" | "::1" | "localhost")) {
        eprintln!("error: --listen must be a loopback address such as 127.0.0.1:4999");
        return ExitCode::from(2);
    }
    eprintln!(
        "phx record: ws://{} -> {}, writing {} (Ctrl-C to stop)",
        args.listen,
        args.upstream,
        args.output.display()
    );
    let opts = RecordOptions {
        listen: args.listen,
        upstream: args.upstream,
        output: args.output,
    };
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    match rt.block_on(record::run(opts, shutdown)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ record::RecordError::BadUpstream(_)) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(3)
        }
    }
}
