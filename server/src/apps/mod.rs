//! Applications served by the endpoint. [`hello_sockets`] is the tutorial's app.

pub mod hello_sockets;
