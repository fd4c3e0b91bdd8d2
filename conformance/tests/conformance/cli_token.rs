//! `phx token` CLI tests (being built).
