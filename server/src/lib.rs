//! # phx-server
//!
//! A reference Phoenix server (work in progress).
