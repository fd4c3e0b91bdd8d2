# Each recipe wraps a plain cargo command.

# Run every test (what CI runs).
test:
    INSTA_UPDATE=no cargo test --workspace

# Format check and clippy, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Start the reference server on port 4000.
serve:
    cargo run -p phx-server -- serve

# Run the conformance suite against the embedded reference server.
check:
    cargo run -p phx-conformance --bin phx -- check

# Load bench (release build): `just bench fanout --baseline`, `just bench joins`, … (see README).
bench *ARGS:
    cargo run --release -p phx-conformance --bin phx -- bench {{ARGS}}

# Review pending insta snapshots.
snap:
    cargo insta review
