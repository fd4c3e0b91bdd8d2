//! The phx-conformance integration tests: one binary, one module per area.

mod cli_bench;
mod cli_check;
mod cli_connect;
mod cli_token;
mod erlang_rpc;
mod fixtures;
mod properties;
mod scenarios;
mod support;
