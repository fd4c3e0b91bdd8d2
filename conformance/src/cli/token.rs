//! `phx token sign|verify`: Phoenix.Token from the command line, via [`phx_protocol::token`].
//!
//! ```text
//! phx token sign   --secret-key-base KEY --salt SALT [--signed-at SECS] [--max-age SECS|infinity] DATA_JSON
//! phx token verify --secret-key-base KEY --salt SALT [--max-age SECS|infinity] TOKEN
//! ```
//!
//! `sign` prints the token and nothing else. `verify` prints the data as compact JSON with sorted
//! keys and exits 0, or prints `invalid`, `expired` or `missing` (an empty TOKEN) to stderr and
//! exits 1. Usage errors (bad flags, invalid DATA_JSON, a key base under 20 bytes) exit 2.
//! `SECRET_KEY_BASE` in the environment stands in for `--secret-key-base`.

use clap::{Args, Subcommand};
use phx_protocol::token::{self, MaxAge, SecretKeyBase, SignOptions, VerifyOptions};
use serde_json::Value;
use std::process::ExitCode;

/// `phx token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Sign DATA_JSON as Phoenix.Token.sign does; prints the token.
    Sign(SignArgs),
    /// Verify TOKEN as Phoenix.Token.verify does; prints the data as compact JSON.
    Verify(VerifyArgs),
}

/// The key base and salt both subcommands need.
#[derive(Debug, Args)]
pub struct KeyArgs {
    /// The endpoint's secret_key_base (at least 20 bytes).
    // Checked in run(), not by clap: clap's error would echo the (secret) value.
    #[arg(
        long,
        env = "SECRET_KEY_BASE",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub secret_key_base: String,
    /// The salt, e.g. "user socket".
    #[arg(long, value_name = "SALT")]
    pub salt: String,
}

/// Arguments of `phx token sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Key base and salt.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Signing time in seconds since the epoch (fractions allowed; default: now).
    #[arg(long, value_name = "SECS", value_parser = parse_signed_at)]
    pub signed_at: Option<SignedAt>,
    /// max_age embedded in the token: seconds (integer or fractional) or "infinity" (default 86400).
    #[arg(long, value_name = "SECS", value_parser = parse_max_age, allow_hyphen_values = true)]
    pub max_age: Option<MaxAge>,
    /// The data to sign, as JSON (e.g. 1, "abc" or '{"user_id":1}').
    #[arg(value_name = "DATA_JSON", value_parser = parse_json, allow_hyphen_values = true)]
    pub data: Value,
}

/// Arguments of `phx token verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Key base and salt.
    #[command(flatten)]
    pub key: KeyArgs,
    /// Override the token's embedded max_age: seconds or "infinity".
    #[arg(long, value_name = "SECS", value_parser = parse_max_age, allow_hyphen_values = true)]
    pub max_age: Option<MaxAge>,
    /// Follow this Plug.Crypto release's rules: before 2.2.0 (inferred) a token signed in the
    /// future verifies; from it, it is invalid. Default: the one that goes with `--phoenix`.
    #[arg(long, value_name = "VERSION", conflicts_with = "phoenix")]
    pub plug_crypto: Option<phx_protocol::version::PlugCryptoVersion>,
    /// The Phoenix release whose Plug.Crypto to follow (1.7.14 → 2.1.1, 1.8.10+ → 2.2.0).
    /// Without this or --plug-crypto, the stricter rule: a future signed_at is invalid.
    #[arg(long, value_name = "VERSION")]
    pub phoenix: Option<phx_protocol::version::PhoenixVersion>,
    /// The token (an empty string verifies as "missing").
    #[arg(value_name = "TOKEN")]
    pub token: String,
}

/// `--signed-at`: whole seconds are multiplied exactly; fractional ones go through
/// `trunc(secs * 1000)`, as Plug.Crypto does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SignedAt {
    /// Whole seconds, as milliseconds.
    Ms(i64),
    /// Fractional seconds.
    Secs(f64),
}

impl KeyArgs {
    /// The validated key base, or the usage error (exit 2) that says why not, without the value.
    fn key_base(&self) -> Result<SecretKeyBase, ExitCode> {
        SecretKeyBase::new(self.secret_key_base.as_bytes()).map_err(|e| {
            eprintln!("error: invalid --secret-key-base / SECRET_KEY_BASE: {e}");
            ExitCode::from(2)
        })
    }
}

fn parse_json(s: &str) -> Result<Value, String> {
    serde_json::from_str(s)
        .map_err(|e| format!("DATA_JSON is not valid JSON ({e}); quote strings, e.g. '\"abc\"'"))
}

fn parse_max_age(s: &str) -> Result<MaxAge, String> {
    s.parse::<MaxAge>().map_err(|e| e.to_string())
}

fn parse_signed_at(s: &str) -> Result<SignedAt, String> {
    let bad = || format!("{s:?} is not a time in seconds that fits in 64-bit milliseconds");
    if let Ok(secs) = s.trim().parse::<i64>() {
        return secs.checked_mul(1000).map(SignedAt::Ms).ok_or_else(bad);
    }
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() && (f * 1000.0).abs() < 9.2e18 => Ok(SignedAt::Secs(f)),
        _ => Err(bad()),
    }
}

/// Runs a `phx token` subcommand. Exit codes: 0 ok, 1 verification failed, 2 usage error.
pub fn run(cmd: TokenCommand) -> ExitCode {
    match cmd {
        TokenCommand::Sign(args) => sign(args),
        TokenCommand::Verify(args) => verify(args),
    }
}

fn sign(args: SignArgs) -> ExitCode {
    let key_base = match args.key.key_base() {
        Ok(k) => k,
        Err(code) => return code,
    };
    let mut opts = SignOptions::new();
    match args.signed_at {
        Some(SignedAt::Ms(ms)) => opts = opts.signed_at_ms(ms),
        Some(SignedAt::Secs(s)) => opts = opts.signed_at_secs(s),
        None => {}
    }
    if let Some(max_age) = args.max_age {
        opts = opts.max_age(max_age);
    }
    match token::sign(&key_base, &args.key.salt, &args.data, &opts) {
        Ok(tok) => {
            println!("{tok}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: cannot sign: {e}");
            ExitCode::from(2)
        }
    }
}

fn verify(args: VerifyArgs) -> ExitCode {
    let key_base = match args.key.key_base() {
        Ok(k) => k,
        Err(code) => return code,
    };
    let mut opts = VerifyOptions::new();
    if let Some(max_age) = args.max_age {
        opts = opts.max_age(max_age);
    }
    if let Some(pc) = args.plug_crypto.or(args.phoenix.map(|p| p.plug_crypto())) {
        opts = opts.plug_crypto(pc);
    }
    match token::verify(&key_base, &args.key.salt, &args.token, &opts) {
        Ok(data) => {
            println!("{}", phx_protocol::json::to_string(&data));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}", e.as_str());
            ExitCode::from(1)
        }
    }
}
