//! Cross-checks against the real Erlang/OTP on this machine (`escript` from Debian's
//! erlang-base): `term_to_binary/1` of random data, whole Plug.Crypto-style tokens (HS256, HS384,
//! HS512, compressed payloads), and Jason's float printing (`io_lib_format:fwrite_g/1`).
//!
//! Needs `escript` on PATH (`apt-get install erlang-base`); set PHX_SKIP_ERLANG=1 to skip
//! explicitly on a machine without Erlang.

use crate::props::json_value;
use phx_protocol::token::{
    self, encode, AtomEncoding, Digest, MaxAge, SecretKeyBase, SignOptions, VerifyOptions,
};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use serde_json::Value;
use std::process::Command;

/// Runs an escript body (the `main(_) -> …` clause and helpers) and returns its stdout lines.
fn escript(name: &str, body: &str) -> Option<Vec<String>> {
    let missing = || Command::new("escript").arg("-h").output().is_err();
    if std::env::var_os("PHX_SKIP_ERLANG").is_some()
        || (std::env::var("PHX_SKIP_MISSING").as_deref() == Ok("1") && missing())
    {
        eprintln!(
            "SKIPPED the Erlang cross-check {name}: PHX_SKIP_ERLANG is set, or escript is \
             missing and PHX_SKIP_MISSING=1"
        );
        return None;
    }
    let path = std::env::temp_dir().join(format!(
        "phx-protocol-{}-{name}.escript",
        std::process::id()
    ));
    std::fs::write(&path, format!("#!/usr/bin/env escript\n{body}\n")).unwrap();
    let out = Command::new("escript").arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let out = out.unwrap_or_else(|e| {
        panic!("cannot run escript ({e}): install Erlang (apt-get install erlang-base) or set PHX_SKIP_ERLANG=1")
    });
    assert!(
        out.status.success(),
        "escript {name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
    )
}

const HELPERS: &str = r#"
b64(B) -> S1 = base64:encode(B), S2 = binary:replace(S1, <<"+">>, <<"-">>, [global]),
  S3 = binary:replace(S2, <<"/">>, <<"_">>, [global]), binary:replace(S3, <<"=">>, <<>>, [global]).
tok(Dig, Key, Payload) ->
  Prot = case Dig of sha256 -> <<"HS256">>; sha384 -> <<"HS384">>; sha512 -> <<"HS512">> end,
  Plain = <<(b64(Prot))/binary, ".", (b64(Payload))/binary>>,
  <<Plain/binary, ".", (b64(crypto:mac(hmac, Dig, Key, Plain)))/binary>>.
hex(T) -> binary:encode_hex(term_to_binary(T)).
"#;

/// Erlang source for the term Phoenix holds after decoding `v` from JSON.
fn erl(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => erl_float(f),
            _ => unreachable!("serde_json numbers are i64, u64 or f64"),
        },
        Value::String(s) => erl_binary(s),
        Value::Array(items) => format!("[{}]", items.iter().map(erl).collect::<Vec<_>>().join(",")),
        Value::Object(m) => {
            let kv: Vec<String> = m
                .iter()
                .map(|(k, v)| format!("{} => {}", erl_binary(k), erl(v)))
                .collect();
            format!("#{{{}}}", kv.join(","))
        }
    }
}

fn erl_binary(s: &str) -> String {
    format!(
        "<<{}>>",
        s.bytes()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(",")
    )
}

/// A float literal Erlang parses to the same double (`{:e}` is shortest round-trip).
fn erl_float(f: f64) -> String {
    let s = format!("{f:e}");
    let (mantissa, exp) = s.split_once('e').unwrap();
    let mantissa = if mantissa.contains('.') {
        mantissa.to_owned()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}e{exp}")
}

fn samples(n: usize) -> Vec<Value> {
    let mut runner = TestRunner::deterministic();
    let strategy = json_value();
    (0..n)
        .map(|_| strategy.new_tree(&mut runner).unwrap().current())
        .collect()
}

#[test]
fn term_to_binary_matches_erlang_for_random_data() {
    let values = samples(300);
    let terms: Vec<String> = values.iter().map(erl).collect();
    let body = format!(
        "{HELPERS}\nmain(_) -> lists:foreach(fun(T) -> io:format(\"~s~n\", [hex(T)]) end, [{}]).",
        terms.join(",\n")
    );
    let Some(lines) = escript("terms", &body) else {
        return;
    };
    assert_eq!(lines.len(), values.len());
    for (v, erl_hex) in values.iter().zip(lines) {
        let ours = hex::encode_upper(encode::term(v, AtomEncoding::Latin1).unwrap());
        assert_eq!(ours, erl_hex, "term_to_binary({})", erl(v));
    }
}

#[test]
fn whole_tokens_match_erlang_and_verify() {
    let key_base = "erlang-cross-check-secret-key-base-0123456789";
    let salt = "cross salt";
    let kb = SecretKeyBase::new(key_base).unwrap();
    let values = samples(40);
    let digests = [
        (Digest::Sha256, "sha256"),
        (Digest::Sha384, "sha384"),
        (Digest::Sha512, "sha512"),
    ];
    let max_ages = [
        (MaxAge::Seconds(3600), "3600"),
        (MaxAge::SecondsF64(1.5), "1.5"),
        (MaxAge::Infinity, "infinity"),
    ];
    let mut cases = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let (digest, dig_erl) = digests[i % 3];
        let (max_age, age_erl) = max_ages[(i / 3) % 3];
        let signed_ms = 1_700_000_000_000_i64 + i as i64;
        cases.push((
            v,
            digest,
            max_age,
            signed_ms,
            format!("{{{dig_erl}, {{{}, {signed_ms}, {age_erl}}}}}", erl(v)),
        ));
    }
    let list: Vec<&str> = cases.iter().map(|c| c.4.as_str()).collect();
    let body = format!(
        "{HELPERS}\nmain(_) ->\n  Key = crypto:pbkdf2_hmac(sha256, <<\"{key_base}\">>, <<\"{salt}\">>, 1000, 32),\n  \
         lists:foreach(fun({{D, P}}) -> io:format(\"~s ~s~n\", [tok(D, Key, term_to_binary(P)), tok(D, Key, term_to_binary(P, [compressed]))]) end,\n  [{}]).",
        list.join(",\n")
    );
    let Some(lines) = escript("tokens", &body) else {
        return;
    };
    assert_eq!(lines.len(), cases.len());
    for ((v, digest, max_age, signed_ms, _), line) in cases.iter().zip(lines) {
        let (plain, compressed) = line.split_once(' ').unwrap();
        let opts = SignOptions::new()
            .signed_at_ms(*signed_ms)
            .max_age(*max_age)
            .digest(*digest);
        assert_eq!(
            token::sign(&kb, salt, v, &opts).unwrap(),
            plain,
            "{}",
            erl(v)
        );
        for t in [plain, compressed] {
            assert_eq!(
                token::verify_at(&kb, salt, t, &VerifyOptions::new(), signed_ms + 1000).as_ref(),
                Ok(*v),
                "{t}"
            );
        }
    }
}

#[test]
fn json_floats_print_like_jason() {
    let mut runner = TestRunner::deterministic();
    let bits = proptest::num::u64::ANY;
    let mut floats: Vec<f64> = (0..400)
        .map(|_| f64::from_bits(bits.new_tree(&mut runner).unwrap().current()))
        .filter(|f| f.is_finite())
        .collect();
    // Decimal-looking values, where the plain/scientific choice matters most.
    for e in -12..24 {
        for m in [
            1.0,
            1.5,
            12.0,
            123.0,
            1234.5,
            9_007.199_254_740_992,
            99_999.0,
        ] {
            floats.push(m * 10f64.powi(e));
        }
    }
    let list: Vec<String> = floats.iter().map(|f| erl_float(*f)).collect();
    let body = format!("main(_) -> lists:foreach(fun(F) -> io:format(\"~s~n\", [io_lib_format:fwrite_g(F)]) end, [{}]).", list.join(","));
    let Some(lines) = escript("floats", &body) else {
        return;
    };
    assert_eq!(lines.len(), floats.len());
    for (f, erl_text) in floats.iter().zip(lines) {
        assert_eq!(
            phx_protocol::json::to_string(&Value::from(*f)),
            erl_text,
            "{f:e}"
        );
    }
}
