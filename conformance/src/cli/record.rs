//! `phx record`: a recording proxy in front of a real server. `--upstream wss://…` dials TLS
//! (`--cacert`, `--insecure`); `--tls-cert/--tls-key` make the proxy itself serve `wss://`.
//! `--redact`/`--redact-file` and `--stable` write a transcript to commit
//! (conformance/TRANSCRIPTS.md).

use crate::record::{self, RecordOptions};
use std::process::ExitCode;

/// Arguments of `phx record`.
#[derive(Debug, clap::Args)]
pub struct RecordArgs {
    /// Where clients connect instead of the server (loopback), e.g. 127.0.0.1:4999.
    #[arg(long)]
    listen: String,
    /// The real server, e.g. ws://127.0.0.1:4000 or wss://app.example.com (each client's path
    /// and query are kept).
    #[arg(long)]
    upstream: String,
    /// The JSONL transcript to append to.
    #[arg(long, short, default_value = "transcript.jsonl")]
    output: std::path::PathBuf,
    /// Serve clients over TLS (wss://) with this PEM certificate chain; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
    /// TLS trust for a wss:// upstream.
    #[command(flatten)]
    tls: super::tls_args::TlsArgs,
    /// Redactions applied to what is written (the proxy forwards the real frames).
    #[command(flatten)]
    redact: super::redact_args::RedactArgs,
    /// For a transcript to commit: no t_ms, and server lines between two client actions
    /// grouped by connection, so that one session recorded twice gives the same bytes.
    #[arg(long)]
    stable: bool,
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
    let rules = match args.redact.rules(&[]) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if !rules.unordered.is_empty() {
        eprintln!("phx record: the rules files' `unordered` lines apply to phx replay, not here");
    }
    let upstream_tls = match args.tls.config() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let listen_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => match phx_server::TlsAcceptor::from_pem_files(cert, key) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        _ => None,
    };
    eprintln!(
        "phx record: {}://{} -> {}, writing {} (Ctrl-C to stop)",
        if listen_tls.is_some() { "wss" } else { "ws" },
        args.listen,
        args.upstream,
        args.output.display()
    );
    for r in &rules.redactions {
        eprintln!("phx record: redacting {r}");
    }
    let opts = RecordOptions {
        upstream_tls,
        listen_tls,
        redactions: rules.redactions,
        stable: args.stable,
        ..RecordOptions::new(args.listen, args.upstream, args.output)
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
