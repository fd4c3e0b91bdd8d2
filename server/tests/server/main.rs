//! Integration tests of phx-server: one binary, one module per behaviour.

mod broadcast;
mod channels;
mod control;
mod smoke;
mod sockets;
mod support;
mod transport;
