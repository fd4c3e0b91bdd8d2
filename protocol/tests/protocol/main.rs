//! phx-protocol integration tests: one binary, one module per area.
//!
//! - `token_vectors`: tokens.json from real Phoenix 1.7.14, PROTOCOL.md §4.7, legacy shapes,
//!   other digests, max_age rules.
//! - `token_budget`: validly signed ETF bombs are `:invalid` at once; each budget limit.
//! - `token_erlang`: cross-checks against the local Erlang/OTP (`erl`, Debian's erlang-base).
//! - `transcripts`: every recorded frame decodes; every server frame re-encodes byte for byte.
//! - `serializer_vectors`: Phoenix's own serializer byte vectors and the 255-byte limits.
//! - `props`: proptest round trips, tamper detection, and no-panic fuzzing of every decoder.
//! - `support`: fixture paths and helpers.

// Helpers outside #[test] fns are test code too; clippy.toml only covers the fns themselves.
#![allow(clippy::unwrap_used)]

mod props;
mod serializer_vectors;
mod support;
mod token_budget;
mod token_erlang;
mod token_vectors;
mod transcripts;
