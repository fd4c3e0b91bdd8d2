//! Integration tests of phx-server: one binary, one module per behaviour.

mod smoke;
