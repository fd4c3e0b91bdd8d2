//! The phx-conformance integration tests: one binary, one module per area.

mod certify;
mod cli_bench;
mod cli_check;
mod cli_connect;
mod cli_env;
#[cfg(feature = "tls")]
mod cli_tls;
mod cli_token;
mod erlang_rpc;
mod fixtures;
mod properties;
mod scenario_files;
mod scenarios;
mod support;
#[cfg(feature = "testkit")]
mod testkit;
