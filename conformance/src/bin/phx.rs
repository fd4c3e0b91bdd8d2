//! The `phx` CLI: a thin wrapper over [`phx_conformance::cli`].
//!
//! Run with: `cargo run -p phx-conformance --bin phx -- --help`

fn main() -> std::process::ExitCode {
    phx_conformance::cli::main()
}
