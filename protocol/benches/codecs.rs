//! Throughput of Phoenix.Token and the frame codecs (plain timing loop, no extra dependencies).
//!
//! Run: `cargo bench -p phx-protocol --bench codecs`. Each case runs a fixed number of iterations
//! and prints nanoseconds per operation.

use phx_protocol::token::{self, key, MaxAge, SecretKeyBase, SignOptions, VerifyOptions};
use phx_protocol::{Frame, Message, Payload, Reply, ServerMessage, Vsn};
use serde_json::json;
use std::hint::black_box;
use std::time::Instant;

fn time(name: &str, iters: u32, mut f: impl FnMut()) {
    for _ in 0..iters / 10 {
        f();
    }
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let per = start.elapsed().as_nanos() / u128::from(iters);
    println!("{name:<40} {per:>10} ns/op  ({iters} iterations)");
}

fn main() {
    let kb = SecretKeyBase::new("bench-secret-key-base-0123456789abcdefghijklmnop")
        .expect("long enough");
    let data = json!({"user_id": 42, "role": "admin", "scopes": ["read", "write"]});
    let opts = SignOptions::new().signed_at_secs(1_700_000_000.0);
    let tok = token::sign(&kb, "user socket", &data, &opts).expect("signable");
    let vopts = VerifyOptions::new().max_age(MaxAge::Infinity);

    time("pbkdf2 key derivation (uncached)", 200, || {
        black_box(key::derive(
            kb.as_bytes(),
            b"user socket",
            key::ITERATIONS,
            32,
        ));
    });
    time("token sign (cached key)", 20_000, || {
        black_box(token::sign(&kb, "user socket", &data, &opts).expect("signable"));
    });
    time("token verify (cached key)", 20_000, || {
        black_box(
            token::verify_at(&kb, "user socket", &tok, &vopts, 1_800_000_000_000).expect("valid"),
        );
    });

    let text = Frame::text(r#"["3","4","room:lobby","new_msg",{"body":"hello","n":1}]"#);
    time("v2 decode_client (text)", 200_000, || {
        black_box(Vsn::V2.decode_client(&text).expect("valid"));
    });
    let msg = Vsn::V2.decode_client(&text).expect("valid");
    let reply = ServerMessage::Reply(Reply::ok(&msg, json!({"ping": "pong"})));
    time("v2 encode_server (reply)", 200_000, || {
        black_box(Vsn::V2.encode_server(&reply).expect("encodable"));
    });
    let bin = Vsn::V2
        .encode_client(&Message::new(
            "3",
            "4",
            "room:lobby",
            "bin",
            Payload::binary(vec![7u8; 256]),
        ))
        .expect("encodable");
    time("v2 decode_client (binary, 256 B)", 200_000, || {
        black_box(Vsn::V2.decode_client(&bin).expect("valid"));
    });
}
