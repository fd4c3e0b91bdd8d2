//! # phx-client
//!
//! An async Phoenix Channels client (work in progress).
