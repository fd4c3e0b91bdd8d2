//! The hostile-input harness at full size against the release `phx-server` binary (not a timed
//! test; `cargo test` does not run it).
//!
//! Run with: `cargo bench -p phx-server --bench hostile`
//!
//! 200,000 fuzzed frames, 4 non-reading 1 MiB echo pushers, 10,000 pipelined heartbeats, a
//! 200,000-broadcast burst, 1,000 silent connections, ETF-bomb tokens and control API abuse,
//! with Cowboy's default timeouts; see `phx_server::testing::hostile`. Prints the report and
//! exits 1 if anything did not hold.

#![allow(missing_docs)]

use std::path::PathBuf;
use std::process::ExitCode;

use phx_server::testing::hostile::{run, Scale};

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start a runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_phx-server"));
    match rt.block_on(run(binary, Scale::Long)) {
        Ok(report) => {
            println!("{report}");
            if report.held() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("the harness could not run: {e}");
            ExitCode::from(3)
        }
    }
}
