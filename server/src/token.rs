//! Phoenix.Token for the endpoint: a thin adapter over `phx_protocol::token`.

use serde_json::Value;

/// Why a token was not accepted (the AuthSocket logs these as `:invalid`, `:expired`, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Bad signature, wrong salt, or not a token at all (`:invalid`).
    #[error("invalid")]
    Invalid,
    /// Older than `max_age` (`:expired`).
    #[error("expired")]
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
    imp::sign(secret_key_base, salt, data, signed_at, max_age)
}

/// `Phoenix.Token.verify(endpoint, salt, token, max_age: max_age)` (seconds).
pub fn verify(secret_key_base: &str, salt: &str, token: &str, max_age: u64) -> Result<Value, TokenError> {
    imp::verify(secret_key_base, salt, token, max_age)
}

mod imp {
    use super::*;

    pub(super) fn sign(
        _secret_key_base: &str,
        _salt: &str,
        _data: &Value,
        _signed_at: Option<u64>,
        _max_age: Option<u64>,
    ) -> Result<String, TokenError> {
        Err(TokenError::Unsignable("phx_protocol::token is not available yet".into()))
    }

    pub(super) fn verify(_secret_key_base: &str, _salt: &str, _token: &str, _max_age: u64) -> Result<Value, TokenError> {
        Err(TokenError::Invalid)
    }
}
