//! The TLS flags of every `phx` command that dials (`check`, `connect`, `replay`, `record`'s
//! upstream): which CAs to trust for `wss://`, or none (`--insecure`).

use phx_client::{TlsConfig, TlsConfigError, TlsOptions};

/// `--cacert FILE` (repeatable) and `--insecure`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Trust this PEM CA file for wss:// besides Mozilla's roots (repeatable).
    #[arg(long = "cacert", env = "PHX_CACERT", value_name = "FILE")]
    pub ca_files: Vec<std::path::PathBuf>,
    /// Do not verify TLS certificates (development only: anyone can pose as the server).
    // 1/0, yes/no, on/off and true/false from the environment, as the library reads them.
    #[arg(long, env = "PHX_INSECURE", action = clap::ArgAction::SetTrue,
          value_parser = clap::builder::BoolishValueParser::new())]
    pub insecure: bool,
}

impl TlsArgs {
    /// The TLS setup; prints a warning to stderr when `--insecure` is on. An unreadable CA
    /// file is a usage error (exit 2) for the caller.
    pub fn config(&self) -> Result<TlsConfig, TlsConfigError> {
        if self.insecure {
            eprintln!("warning: --insecure: TLS certificates are NOT verified (development only)");
        }
        TlsConfig::new(&TlsOptions {
            ca_files: self.ca_files.clone(),
            insecure: self.insecure,
            ..TlsOptions::default()
        })
    }
}
