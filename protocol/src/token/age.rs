//! The age rules of `Plug.Crypto.verify`:
//!
//! - signed_at after now → `invalid` (checked first), from Plug.Crypto #48 (inferred 2.2.0);
//!   with [`FutureSignedAt::Accept`] (2.1.1 and older) only the max_age rule applies;
//! - the effective max_age is the one given to verify, else the one in the token (86400 for
//!   the legacy two-field shapes);
//! - `infinity` never expires; `max_age <= 0` is expired;
//! - otherwise expired when `signed + trunc(max_age * 1000) < now_ms`.
//!
//! Arithmetic is on big integers, so no value in a token can overflow it. A signed_at that is not
//! an integer (Plug.Crypto always writes one), or an embedded max_age that is neither a number nor
//! `infinity`, is `invalid` (Elixir would raise).

use super::decode::Payload;
use super::{FutureSignedAt, MaxAge, VerifyError, DEFAULT_MAX_AGE_SECS};
use eetf::Term;
use num_bigint::BigInt;
use num_traits::{FromPrimitive, Signed, Zero};

/// Checks `payload`'s age against `now_ms`, with `override_max_age` and the future signed_at
/// policy from the verify options.
pub fn check(
    payload: &Payload,
    override_max_age: Option<MaxAge>,
    future: FutureSignedAt,
    now_ms: i64,
) -> Result<(), VerifyError> {
    let signed = integer(&payload.signed).ok_or(VerifyError::Invalid)?;
    let now = BigInt::from(now_ms);
    if future == FutureSignedAt::Reject && signed > now {
        return Err(VerifyError::Invalid);
    }
    let max_age = match override_max_age {
        Some(m) => Age::from(m),
        None => match &payload.max_age {
            None => Age::Int(BigInt::from(DEFAULT_MAX_AGE_SECS)),
            Some(t) => Age::from_term(t).ok_or(VerifyError::Invalid)?,
        },
    };
    let max_age_ms = match max_age {
        Age::Infinity => return Ok(()),
        Age::Int(i) if !i.is_positive() => return Err(VerifyError::Expired),
        Age::Float(f) if f <= 0.0 => return Err(VerifyError::Expired),
        Age::Int(i) => i * 1000,
        Age::Float(f) => BigInt::from_f64((f * 1000.0).trunc()).ok_or(VerifyError::Invalid)?,
    };
    if signed + max_age_ms < now {
        Err(VerifyError::Expired)
    } else {
        Ok(())
    }
}

enum Age {
    Int(BigInt),
    Float(f64),
    Infinity,
}

impl Age {
    fn from_term(t: &Term) -> Option<Age> {
        match t {
            Term::Atom(a) if a.name == "infinity" => Some(Age::Infinity),
            Term::Float(f) => Some(Age::Float(f.value)),
            other => integer(other).map(Age::Int),
        }
    }
}

impl From<MaxAge> for Age {
    fn from(m: MaxAge) -> Self {
        match m {
            MaxAge::Seconds(s) => Age::Int(BigInt::from(s)),
            // A non-finite override cannot come from parsing; treat NaN as expired, +inf as never.
            MaxAge::SecondsF64(f) if f.is_nan() => Age::Int(BigInt::zero()),
            MaxAge::SecondsF64(f) if f == f64::INFINITY => Age::Infinity,
            MaxAge::SecondsF64(f) => Age::Float(f),
            MaxAge::Infinity => Age::Infinity,
        }
    }
}

fn integer(t: &Term) -> Option<BigInt> {
    match t {
        Term::FixInteger(i) => Some(BigInt::from(i.value)),
        Term::BigInteger(b) => Some(b.value.clone()),
        _ => None,
    }
}
