//! `phx record`: a recording proxy in front of a real server. `--upstream wss://…` dials TLS
//! (`--cacert`, `--insecure`); `--tls-cert/--tls-key` make the proxy itself serve `wss://`.

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
    let opts = RecordOptions {
        upstream_tls,
        listen_tls,
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
