//! # phx-conformance
//!
//! Conformance scenarios and the `phx` CLI (work in progress).
//!
//! ## Layout
//! - [`cli`]: the `phx` command line, one module per subcommand.

pub mod cli;
