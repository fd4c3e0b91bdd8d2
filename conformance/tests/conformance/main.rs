//! The phx-conformance integration tests: one binary, one module per area.

mod cli_connect;
mod cli_token;
