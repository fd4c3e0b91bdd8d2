//! Phoenix.Token `sign`/`verify`, byte-compatible with Plug.Crypto (PROTOCOL.md §4).
//!
//! A token is `b64url(protected) "." b64url(payload) "." b64url(HMAC(key, first two parts))`,
//! where the payload is `:erlang.term_to_binary({data, signed_at_ms, max_age_secs})` and the key is
//! PBKDF2-HMAC-SHA256(secret_key_base, salt, 1000 iterations, 32 bytes).
//!
//! - [`key`]: the PBKDF2 key derivation and its bounded cache.
//! - [`verifier`]: the `protected.payload.mac` string (`Plug.Crypto.MessageVerifier`).
//! - [`encode`]: JSON data → Erlang external term format, byte for byte as `term_to_binary`.
//! - [`decode`]: a bounded ETF reader into [`eetf::Term`]s, and the payload tuple shapes.
//! - [`json_view`]: the documented mapping of decoded terms back to JSON.
//! - [`age`]: the max_age / signed_at rules of `Plug.Crypto.verify`.
//!
//! ```
//! use phx_protocol::token::{self, MaxAge, SecretKeyBase, SignOptions, VerifyError, VerifyOptions};
//! use serde_json::json;
//!
//! let key_base = SecretKeyBase::new("a".repeat(64)).unwrap();
//! let opts = SignOptions::new().signed_at_secs(0.0);
//! let tok = token::sign(&key_base, "user socket", &json!(1), &opts).unwrap();
//! assert_eq!(tok, "SFMyNTY.g2gDYQFhAGIAAVGA.3r4fjnrWe_6ii6l-DnXGmNMc4d7VCK1fu-NpOxznyn4");
//!
//! // Signed at the epoch with the default max_age of one day: long expired.
//! assert_eq!(token::verify(&key_base, "user socket", &tok, &VerifyOptions::new()), Err(VerifyError::Expired));
//! let forever = VerifyOptions::new().max_age(MaxAge::Infinity);
//! assert_eq!(token::verify(&key_base, "user socket", &tok, &forever), Ok(json!(1)));
//! ```
//!
//! What is refused: a secret_key_base under 20 bytes ([`KeyBaseError`]); on verify, anything that
//! is not a well-formed HS256/HS384/HS512 token with a matching MAC, whose payload is not one of
//! Plug.Crypto's three shapes, carries executable terms (funs), or was signed in the future, is
//! [`VerifyError::Invalid`]. The last rule is Plug.Crypto's newer one ([`FutureSignedAt`]):
//! [`VerifyOptions::plug_crypto`] picks the rules of an older release, which accepted it.

pub mod age;
pub mod decode;
pub mod encode;
pub mod json_view;
pub mod key;
pub mod verifier;

pub use eetf::Term;
pub use verifier::Digest;

use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// The shortest secret_key_base Phoenix.Token accepts (`byte_size(key_base) >= 20`).
pub const MIN_KEY_BASE_LEN: usize = 20;

/// The max_age written into a token when none is given at sign time: one day.
pub const DEFAULT_MAX_AGE_SECS: i64 = 86_400;

/// A validated `secret_key_base` (at least [`MIN_KEY_BASE_LEN`] bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKeyBase(Vec<u8>);

/// Why a secret_key_base was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyBaseError {
    /// Phoenix refuses key bases shorter than 20 bytes (FunctionClauseError); use a longer one,
    /// e.g. the 64 bytes `mix phx.gen.secret` prints.
    #[error("secret_key_base is {len} bytes; Phoenix.Token needs at least 20")]
    TooShort {
        /// The length that was given.
        len: usize,
    },
}

impl SecretKeyBase {
    /// Accepts `bytes` as a key base when it is at least 20 bytes long, as Phoenix does.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, KeyBaseError> {
        let bytes = bytes.into();
        if bytes.len() < MIN_KEY_BASE_LEN {
            return Err(KeyBaseError::TooShort { len: bytes.len() });
        }
        Ok(SecretKeyBase(bytes))
    }

    /// The raw key base.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The 32-byte signing key for `salt` (cached, see [`key::derive_cached`]).
    pub fn signing_key(&self, salt: impl AsRef<[u8]>) -> [u8; 32] {
        key::derive_cached(&self.0, salt.as_ref())
    }
}

impl fmt::Debug for SecretKeyBase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKeyBase({} bytes, redacted)", self.0.len())
    }
}

/// A token's max_age: integer seconds, fractional seconds, or `:infinity`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxAge {
    /// Whole seconds (encoded as an Erlang integer).
    Seconds(i64),
    /// Fractional seconds (encoded as an Erlang float; must be finite).
    SecondsF64(f64),
    /// Never expires (the atom `infinity`).
    Infinity,
}

impl Default for MaxAge {
    fn default() -> Self {
        MaxAge::Seconds(DEFAULT_MAX_AGE_SECS)
    }
}

/// Why a max_age string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("max_age {0:?} is not a number of seconds (e.g. 86400 or 1.5) or \"infinity\"")]
pub struct MaxAgeParseError(pub String);

impl FromStr for MaxAge {
    type Err = MaxAgeParseError;

    /// `"infinity"`, an integer (`"86400"`) or a finite float (`"1.5"`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "infinity" {
            return Ok(MaxAge::Infinity);
        }
        if let Ok(i) = s.parse::<i64>() {
            return Ok(MaxAge::Seconds(i));
        }
        match s.parse::<f64>() {
            Ok(f) if f.is_finite() && !s.eq_ignore_ascii_case("nan") => Ok(MaxAge::SecondsF64(f)),
            _ => Err(MaxAgeParseError(s.to_owned())),
        }
    }
}

impl fmt::Display for MaxAge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxAge::Seconds(s) => write!(f, "{s}"),
            MaxAge::SecondsF64(s) => write!(f, "{s}"),
            MaxAge::Infinity => f.write_str("infinity"),
        }
    }
}

/// How atoms (`nil`, `true`, `false`, `infinity`) are written into the payload.
///
/// Both decode everywhere; the choice only matters for byte-for-byte equality with a given OTP.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AtomEncoding {
    /// `ATOM_EXT` (tag 100), as OTP 25 and older emit; the recorded Phoenix servers ran OTP 25.
    #[default]
    Latin1,
    /// `SMALL_ATOM_UTF8_EXT` (tag 119), as OTP 26 and newer emit.
    Utf8,
}

/// Options for [`sign`] (Phoenix.Token.sign's `:signed_at` and `:max_age`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SignOptions {
    signed_at: Option<SignedAt>,
    max_age: MaxAge,
    atoms: AtomEncoding,
    digest: Digest,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum SignedAt {
    Secs(f64),
    Ms(i64),
}

impl SignOptions {
    /// Defaults: signed now, max_age 86400, OTP 25 atoms, HS256.
    pub fn new() -> Self {
        Self::default()
    }

    /// `signed_at:` in seconds; stored as `trunc(secs * 1000)` milliseconds, as Plug.Crypto does.
    pub fn signed_at_secs(mut self, secs: f64) -> Self {
        self.signed_at = Some(SignedAt::Secs(secs));
        self
    }

    /// signed_at in milliseconds, stored as is.
    pub fn signed_at_ms(mut self, ms: i64) -> Self {
        self.signed_at = Some(SignedAt::Ms(ms));
        self
    }

    /// The max_age embedded in the token (verify uses it unless it passes its own).
    pub fn max_age(mut self, max_age: MaxAge) -> Self {
        self.max_age = max_age;
        self
    }

    /// Which atom tag to write (see [`AtomEncoding`]).
    pub fn atoms(mut self, atoms: AtomEncoding) -> Self {
        self.atoms = atoms;
        self
    }

    /// The MAC digest. Phoenix.Token always signs HS256; the others exist to test verification.
    pub fn digest(mut self, digest: Digest) -> Self {
        self.digest = digest;
        self
    }
}

/// What verify does with a token whose signed_at is after now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FutureSignedAt {
    /// `:invalid`, as Plug.Crypto from "Reject tokens with future signed_at timestamps" (#48,
    /// inferred 2.2.0; [`crate::version::FUTURE_SIGNED_AT`]). The stricter rule, and the default.
    #[default]
    Reject,
    /// Only the max_age check applies, as Plug.Crypto 2.1.1 and older (recorded: Phoenix 1.7.14
    /// with 2.1.0 verifies a token signed one hour ahead).
    Accept,
}

impl FutureSignedAt {
    /// The rule of a Plug.Crypto release.
    pub fn of(plug_crypto: crate::version::PlugCryptoVersion) -> Self {
        if plug_crypto.rejects_future_signed_at() {
            FutureSignedAt::Reject
        } else {
            FutureSignedAt::Accept
        }
    }
}

/// Options for [`verify`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VerifyOptions {
    max_age: Option<MaxAge>,
    future_signed_at: FutureSignedAt,
}

impl VerifyOptions {
    /// Defaults: the max_age embedded in the token applies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Overrides the token's embedded max_age.
    pub fn max_age(mut self, max_age: MaxAge) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The override, if any.
    pub fn max_age_override(&self) -> Option<MaxAge> {
        self.max_age
    }

    /// What to do with a signed_at after now (default: reject, the newer Plug.Crypto rule).
    pub fn future_signed_at(mut self, policy: FutureSignedAt) -> Self {
        self.future_signed_at = policy;
        self
    }

    /// The rules of a Plug.Crypto release (e.g. the one that goes with a Phoenix release:
    /// [`crate::version::PhoenixVersion::plug_crypto`]).
    pub fn plug_crypto(self, version: crate::version::PlugCryptoVersion) -> Self {
        self.future_signed_at(FutureSignedAt::of(version))
    }

    /// The future signed_at policy.
    pub fn future_signed_at_policy(&self) -> FutureSignedAt {
        self.future_signed_at
    }
}

/// Why [`sign`] refused its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SignError {
    /// signed_at in seconds was not finite or `secs * 1000` does not fit in an i64.
    #[error("signed_at {0} s is not a finite time that fits in 64-bit milliseconds")]
    InvalidSignedAt(f64),
    /// A fractional max_age must be finite.
    #[error("max_age {0} is not finite; use MaxAge::Infinity for no expiry")]
    InvalidMaxAge(f64),
    /// The data nests deeper than the verifier would read back.
    #[error("data nests deeper than {limit} levels")]
    TooDeep {
        /// The nesting limit.
        limit: usize,
    },
    /// A list or object with more than u32::MAX entries (cannot be written as ETF).
    #[error("a list or object has too many entries for the external term format")]
    TooLarge,
}

/// Why [`verify`] rejected a token: exactly Plug.Crypto's three reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum VerifyError {
    /// No token (an empty string).
    #[error("missing: no token was given")]
    Missing,
    /// Malformed, tampered with, signed with another key or salt, an unreadable payload, or
    /// signed in the future. The client needs a new token.
    #[error("invalid: the token is malformed, was tampered with, or was signed with another key or salt")]
    Invalid,
    /// Older than its max_age. The client needs a fresh token.
    #[error("expired: the token is older than its max_age")]
    Expired,
}

impl VerifyError {
    /// The Phoenix atom name: `"missing"`, `"invalid"` or `"expired"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerifyError::Missing => "missing",
            VerifyError::Invalid => "invalid",
            VerifyError::Expired => "expired",
        }
    }
}

/// Milliseconds since the Unix epoch from the system clock (`System.system_time(:millisecond)`).
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

/// `Phoenix.Token.sign(key_base, salt, data, opts)`: signs `data` (JSON, mapped to Erlang terms
/// as Phoenix receives JSON; see [`encode`]).
pub fn sign(
    key_base: &SecretKeyBase,
    salt: impl AsRef<[u8]>,
    data: &Value,
    opts: &SignOptions,
) -> Result<String, SignError> {
    let payload = encode_payload(data, opts, now_ms)?;
    let key = key_base.signing_key(salt);
    Ok(verifier::sign(&payload, &key, opts.digest))
}

/// The ETF payload [`sign`] would sign (`term_to_binary({data, signed_at_ms, max_age})`).
pub fn encode_payload(
    data: &Value,
    opts: &SignOptions,
    now: impl FnOnce() -> i64,
) -> Result<Vec<u8>, SignError> {
    let signed_at_ms = match opts.signed_at {
        None => now(),
        Some(SignedAt::Ms(ms)) => ms,
        Some(SignedAt::Secs(secs)) => secs_to_ms(secs).ok_or(SignError::InvalidSignedAt(secs))?,
    };
    if let MaxAge::SecondsF64(f) = opts.max_age {
        if !f.is_finite() {
            return Err(SignError::InvalidMaxAge(f));
        }
    }
    encode::payload(data, signed_at_ms, opts.max_age, opts.atoms)
}

/// `trunc(secs * 1000)`, when it fits.
fn secs_to_ms(secs: f64) -> Option<i64> {
    let ms = (secs * 1000.0).trunc();
    // i64::MAX as f64 rounds up to 2^63, which does not fit: hence the strict bound.
    (ms.is_finite() && ms >= i64::MIN as f64 && ms < i64::MAX as f64).then_some(ms as i64)
}

/// `Phoenix.Token.verify(key_base, salt, token, opts)` against the system clock.
pub fn verify(
    key_base: &SecretKeyBase,
    salt: impl AsRef<[u8]>,
    token: &str,
    opts: &VerifyOptions,
) -> Result<Value, VerifyError> {
    verify_at(key_base, salt, token, opts, now_ms())
}

/// [`verify`] as if the clock read `now_ms` (milliseconds since the epoch).
///
/// The data comes back through [`json_view::term_to_json`]; use [`verify_term_at`] for the raw term.
pub fn verify_at(
    key_base: &SecretKeyBase,
    salt: impl AsRef<[u8]>,
    token: &str,
    opts: &VerifyOptions,
    now_ms: i64,
) -> Result<Value, VerifyError> {
    verify_term_at(key_base, salt, token, opts, now_ms).map(|t| json_view::term_to_json(&t))
}

/// [`verify_at`], returning the data as the Erlang term it was signed as.
pub fn verify_term_at(
    key_base: &SecretKeyBase,
    salt: impl AsRef<[u8]>,
    token: &str,
    opts: &VerifyOptions,
    now_ms: i64,
) -> Result<Term, VerifyError> {
    if token.is_empty() {
        return Err(VerifyError::Missing);
    }
    let key = key_base.signing_key(salt);
    let payload = verifier::verify(token, &key).ok_or(VerifyError::Invalid)?;
    let decoded = decode::payload(&payload).ok_or(VerifyError::Invalid)?;
    age::check(&decoded, opts.max_age, opts.future_signed_at, now_ms)?;
    Ok(decoded.data)
}
