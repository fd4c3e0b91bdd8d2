//! Phoenix.Token for the endpoint: a thin adapter over `phx_protocol::token`.

use phx_protocol::token::{
    self as t, MaxAge, SecretKeyBase, SignOptions, VerifyError, VerifyOptions,
};
use serde_json::Value;

/// Why a token was not accepted (the AuthSocket logs these as `:invalid`, `:expired`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, wrong salt, or not a token at all (`:invalid`).
    #[error("invalid: the token is malformed or signed with another secret_key_base or salt; sign a new one")]
    Invalid,
    /// An empty token (`:missing`).
    #[error("missing: no token was given")]
    Missing,
    /// Older than `max_age` (`:expired`).
    #[error("expired: the token is older than max_age; sign a fresh one")]
    Expired,
    /// The data cannot be carried in a token (sign side).
    #[error("cannot sign this data: {0}")]
    Unsignable(String),
}

impl TokenError {
    /// The Elixir atom Phoenix logs, e.g. `:invalid`.
    pub fn as_atom(&self) -> &'static str {
        match self {
            TokenError::Invalid => ":invalid",
            TokenError::Expired => ":expired",
            TokenError::Missing => ":missing",
            TokenError::Unsignable(_) => ":invalid",
        }
    }
}

/// `Phoenix.Token.sign(endpoint, salt, data, signed_at: signed_at)`; `signed_at` in unix seconds
/// (now when `None`); `max_age` in seconds (86400 when `None`).
pub fn sign(
    secret_key_base: &str,
    salt: &str,
    data: &Value,
    signed_at: Option<u64>,
    max_age: Option<u64>,
) -> Result<String, TokenError> {
    let mut opts = SignOptions::new();
    if let Some(at) = signed_at {
        opts = opts.signed_at_secs(at as f64);
    }
    if let Some(age) = max_age {
        opts = opts.max_age(MaxAge::Seconds(i64::try_from(age).unwrap_or(i64::MAX)));
    }
    t::sign(&key_base(secret_key_base)?, salt, data, &opts)
        .map_err(|e| TokenError::Unsignable(e.to_string()))
}

/// `Phoenix.Token.verify(endpoint, salt, token, max_age: max_age)` (seconds), with the rules of
/// `plug_crypto`.
pub fn verify(
    secret_key_base: &str,
    salt: &str,
    token: &str,
    max_age: u64,
    plug_crypto: phx_protocol::version::PlugCryptoVersion,
) -> Result<Value, TokenError> {
    let key = key_base(secret_key_base).map_err(|_| TokenError::Invalid)?;
    let opts = VerifyOptions::new()
        .max_age(MaxAge::Seconds(i64::try_from(max_age).unwrap_or(i64::MAX)))
        .plug_crypto(plug_crypto);
    // Query params are strings, never nil: Plug.Crypto answers `:invalid` for `""`
    // (`:missing` is only for a nil token), so `?token=` logs `connect error :invalid`.
    if token.is_empty() {
        return Err(TokenError::Invalid);
    }
    t::verify(&key, salt, token, &opts).map_err(|e| match e {
        VerifyError::Missing => TokenError::Missing,
        VerifyError::Expired => TokenError::Expired,
        _ => TokenError::Invalid,
    })
}

fn key_base(secret_key_base: &str) -> Result<SecretKeyBase, TokenError> {
    SecretKeyBase::new(secret_key_base.as_bytes().to_vec())
        .map_err(|e| TokenError::Unsignable(e.to_string()))
}
