//! Phoenix.Token against recorded vectors (fixtures/phoenix-1.7.14/tokens.json, made by real
//! Phoenix 1.7.14 / plug_crypto 2.1.0) and PROTOCOL.md §4.7, plus the verify rules.

use crate::support::read_json;
use phx_protocol::token::{
    self, decode, encode, key, AtomEncoding, Digest, KeyBaseError, MaxAge, SecretKeyBase,
    SignError, SignOptions, VerifyError, VerifyOptions,
};
use serde_json::{json, Value};

const SALT: &str = "salt identifier";

fn kb(s: &str) -> SecretKeyBase {
    SecretKeyBase::new(s).unwrap()
}

/// Parses `"{:ok, 1}"`-style inspect() output into the expected verify result.
fn expected_result(inspect: &str, data: &Value) -> Result<Value, VerifyError> {
    match inspect {
        "{:error, :expired}" => Err(VerifyError::Expired),
        "{:error, :invalid}" => Err(VerifyError::Invalid),
        "{:error, :missing}" => Err(VerifyError::Missing),
        ok if ok.starts_with("{:ok, ") => Ok(data.clone()),
        other => panic!("unexpected recorded result {other}"),
    }
}

#[test]
fn every_recorded_vector_signs_and_verifies_like_phoenix() {
    let doc = read_json("phoenix-1.7.14/tokens.json");
    let now_ms = doc["generated_at_unix"].as_i64().unwrap() * 1000;
    let vectors = doc["token_vectors"].as_array().unwrap();
    assert!(vectors.len() >= 7, "fixture has {} vectors", vectors.len());
    for v in vectors {
        let key_base = kb(v["secret_key_base"].as_str().unwrap());
        let salt = v["salt"].as_str().unwrap();
        let data = &v["data"];
        let max_age = MaxAge::Seconds(v["embedded_max_age"].as_i64().unwrap());
        let opts = SignOptions::new()
            .signed_at_secs(v["signed_at"].as_f64().unwrap())
            .max_age(max_age);
        let want_token = v["token"].as_str().unwrap();

        let payload =
            token::encode_payload(data, &opts, || unreachable!("signed_at is given")).unwrap();
        assert_eq!(
            hex::encode(&payload),
            v["payload_etf_hex"].as_str().unwrap(),
            "payload of {want_token}"
        );
        assert_eq!(
            token::sign(&key_base, salt, data, &opts).unwrap(),
            want_token
        );

        let at = |o: &VerifyOptions| token::verify_at(&key_base, salt, want_token, o, now_ms);
        let recorded = |field: &str| expected_result(v[field].as_str().unwrap(), data);
        assert_eq!(
            at(&VerifyOptions::new()),
            recorded("verify_no_max_age_at_generation_time"),
            "{want_token}"
        );
        assert_eq!(
            at(&VerifyOptions::new().max_age(MaxAge::Seconds(86_400))),
            recorded("verify_max_age_86400_at_generation_time")
        );
        assert_eq!(
            at(&VerifyOptions::new().max_age(MaxAge::Infinity)),
            recorded("verify_max_age_infinity")
        );
        assert_eq!(
            at(&VerifyOptions::new().max_age(MaxAge::Infinity)),
            Ok(data.clone())
        );
        let wrong_salt = if salt == "invalid" { SALT } else { "invalid" };
        assert_eq!(
            token::verify_at(
                &key_base,
                wrong_salt,
                want_token,
                &VerifyOptions::new().max_age(MaxAge::Infinity),
                now_ms
            ),
            recorded("verify_wrong_salt")
        );
        // Just after signing, the embedded max_age alone decides.
        let signed_ms = (v["signed_at"].as_f64().unwrap() * 1000.0) as i64;
        assert_eq!(
            token::verify_at(
                &key_base,
                salt,
                want_token,
                &VerifyOptions::new(),
                signed_ms + 1000
            ),
            Ok(data.clone())
        );
    }
}

#[test]
fn derived_keys_match_plug_crypto_key_generator() {
    let doc = read_json("phoenix-1.7.14/tokens.json");
    for k in doc["derived_keys"].as_array().unwrap() {
        let secret = k["secret_key_base"].as_str().unwrap();
        let salt = k["salt"].as_str().unwrap();
        assert_eq!(k["iterations"], 1000);
        assert_eq!(
            hex::encode(kb(secret).signing_key(salt)),
            k["key_hex"].as_str().unwrap(),
            "{salt}"
        );
        assert_eq!(
            hex::encode(key::derive(secret.as_bytes(), salt.as_bytes(), 1000, 32)),
            k["key_hex"].as_str().unwrap()
        );
        assert_eq!(
            hex::encode(key::derive(secret.as_bytes(), salt.as_bytes(), 1000, 64)),
            k["key_hex_64_bytes"].as_str().unwrap()
        );
        // A second lookup comes from the cache and must be the same key.
        assert_eq!(
            hex::encode(kb(secret).signing_key(salt)),
            k["key_hex"].as_str().unwrap()
        );
    }
}

#[test]
fn protocol_md_4_7_vector() {
    let key_base = kb(&"a".repeat(64));
    let opts = SignOptions::new().signed_at_secs(0.0);
    let payload = token::encode_payload(&json!(1), &opts, || unreachable!()).unwrap();
    assert_eq!(
        payload,
        [0x83, 0x68, 0x03, 0x61, 0x01, 0x61, 0x00, 0x62, 0x00, 0x01, 0x51, 0x80]
    );
    let tok = token::sign(&key_base, "user socket", &json!(1), &opts).unwrap();
    assert_eq!(
        tok,
        "SFMyNTY.g2gDYQFhAGIAAVGA.3r4fjnrWe_6ii6l-DnXGmNMc4d7VCK1fu-NpOxznyn4"
    );
    assert_eq!(
        token::verify(&key_base, "user socket", &tok, &VerifyOptions::new()),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        token::verify(
            &key_base,
            "user socket",
            &tok,
            &VerifyOptions::new().max_age(MaxAge::Infinity)
        ),
        Ok(json!(1))
    );
}

#[test]
fn tokens_from_the_recorded_auth_scenario_verify() {
    // `ctl sign 1` in fixtures/phoenix-1.7.14/transcripts/auth.jsonl, valid at recording time.
    let key_base = kb(
        "realphx-fixed-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV",
    );
    let good = "SFMyNTY.g2gDYQFuBgDP1VQeogFiAAFRgA.LLBgi3YN7MEQ1tA58mkAomI3sf2moZGTh-qeiracaRQ";
    let signed_ms = 0x01a2_1e54_d5cf_i64; // from the payload's SMALL_BIG_EXT
    assert_eq!(
        token::verify_at(&key_base, SALT, good, &VerifyOptions::new(), signed_ms + 10),
        Ok(json!(1))
    );
    assert_eq!(
        token::verify_at(
            &key_base,
            SALT,
            good,
            &VerifyOptions::new(),
            signed_ms + 86_400_000 + 1
        ),
        Err(VerifyError::Expired)
    );
    // Signed with salt "invalid": refused under "salt identifier".
    let bad_salt = "SFMyNTY.g2gDYQFuBgCD1FQeogFiAAFRgA.GjLvVYwdFrqDf5W_iKIDDU_eThUkDJEb0zXcQT0q0Ts";
    assert_eq!(
        token::verify_at(&key_base, SALT, bad_salt, &VerifyOptions::new(), signed_ms),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        token::verify_at(
            &key_base,
            "invalid",
            bad_salt,
            &VerifyOptions::new(),
            signed_ms
        ),
        Ok(json!(1))
    );
    // Signed 90000 s in the past: expired under the default one-day max_age.
    let expired = "SFMyNTY.g2gDYQFuBgCIh_cYogFiAAFRgA.KqOVl70xIJddba0irp39ehqbbAxuUsFHZQ0cGTC90uA";
    assert_eq!(
        token::verify_at(&key_base, SALT, expired, &VerifyOptions::new(), signed_ms),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        token::verify_at(
            &key_base,
            SALT,
            "nonsense",
            &VerifyOptions::new(),
            signed_ms
        ),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn short_key_bases_are_refused_like_phoenix() {
    assert_eq!(
        SecretKeyBase::new("x".repeat(19)).unwrap_err(),
        KeyBaseError::TooShort { len: 19 }
    );
    assert_eq!(
        SecretKeyBase::new("").unwrap_err(),
        KeyBaseError::TooShort { len: 0 }
    );
    assert!(SecretKeyBase::new("x".repeat(20)).is_ok());
    assert!(
        !format!("{:?}", kb(&"secret!".repeat(4))).contains("secret!"),
        "Debug must not leak the key base"
    );
}

fn key_base() -> SecretKeyBase {
    kb(&"k".repeat(64))
}

#[test]
fn empty_token_is_missing_and_garbage_is_invalid() {
    let k = key_base();
    let v = |t: &str| token::verify_at(&k, SALT, t, &VerifyOptions::new(), 0);
    assert_eq!(v(""), Err(VerifyError::Missing));
    for bad in [
        "x",
        "a.b",
        "a.b.c",
        "SFMyNTY..",
        "SFMyNTY.g2gDYQFhAGIAAVGA.",
        "...",
        "SFMyNTY.g2gD.YQ.Fh",
    ] {
        assert_eq!(v(bad), Err(VerifyError::Invalid), "{bad:?}");
    }
    assert_eq!(VerifyError::Missing.as_str(), "missing");
    assert_eq!(VerifyError::Invalid.as_str(), "invalid");
    assert_eq!(VerifyError::Expired.as_str(), "expired");
}

#[test]
fn max_age_rules() {
    let k = key_base();
    let signed = 1_700_000_000_000_i64;
    let sign = |m: MaxAge| {
        token::sign(
            &k,
            SALT,
            &json!("d"),
            &SignOptions::new().signed_at_ms(signed).max_age(m),
        )
        .unwrap()
    };
    let at = |t: &str, o: VerifyOptions, now: i64| token::verify_at(&k, SALT, t, &o, now);
    let ok = Ok(json!("d"));

    // Embedded integer max_age: the boundary is `signed + max_age*1000 < now`.
    let t = sign(MaxAge::Seconds(10));
    assert_eq!(at(&t, VerifyOptions::new(), signed + 10_000), ok);
    assert_eq!(
        at(&t, VerifyOptions::new(), signed + 10_001),
        Err(VerifyError::Expired)
    );
    // An explicit max_age overrides the embedded one, both ways.
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::Seconds(20)),
            signed + 15_000
        ),
        ok
    );
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::Seconds(1)),
            signed + 1_001
        ),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        at(&t, VerifyOptions::new().max_age(MaxAge::Infinity), i64::MAX),
        ok
    );
    // <= 0 is always expired, even at the signing instant.
    assert_eq!(
        at(&t, VerifyOptions::new().max_age(MaxAge::Seconds(0)), signed),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::Seconds(-5)),
            signed
        ),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::SecondsF64(-0.5)),
            signed
        ),
        Err(VerifyError::Expired)
    );
    // Fractional: trunc(1.5 * 1000) = 1500 ms.
    let f = sign(MaxAge::SecondsF64(1.5));
    assert_eq!(at(&f, VerifyOptions::new(), signed + 1_500), ok);
    assert_eq!(
        at(&f, VerifyOptions::new(), signed + 1_501),
        Err(VerifyError::Expired)
    );
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::SecondsF64(0.0015)),
            signed + 1
        ),
        ok
    );
    assert_eq!(
        at(
            &t,
            VerifyOptions::new().max_age(MaxAge::SecondsF64(0.0015)),
            signed + 2
        ),
        Err(VerifyError::Expired)
    );
    // Embedded infinity and embedded <= 0.
    assert_eq!(
        at(&sign(MaxAge::Infinity), VerifyOptions::new(), i64::MAX),
        ok
    );
    assert_eq!(
        at(&sign(MaxAge::Seconds(0)), VerifyOptions::new(), signed),
        Err(VerifyError::Expired)
    );
    // Signed in the future: invalid, whatever the max_age.
    assert_eq!(
        at(&t, VerifyOptions::new(), signed - 1),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        at(&sign(MaxAge::Infinity), VerifyOptions::new(), signed - 1),
        Err(VerifyError::Invalid)
    );
    // Default embedded max_age is one day.
    let d = token::sign(
        &k,
        SALT,
        &json!("d"),
        &SignOptions::new().signed_at_ms(signed),
    )
    .unwrap();
    assert_eq!(at(&d, VerifyOptions::new(), signed + 86_400_000), ok);
    assert_eq!(
        at(&d, VerifyOptions::new(), signed + 86_400_001),
        Err(VerifyError::Expired)
    );
}

#[test]
fn signed_at_seconds_are_truncated_to_milliseconds() {
    let p = |s: f64| {
        token::encode_payload(
            &json!(0),
            &SignOptions::new().signed_at_secs(s),
            || unreachable!(),
        )
        .unwrap()
    };
    let q = |ms: i64| {
        token::encode_payload(
            &json!(0),
            &SignOptions::new().signed_at_ms(ms),
            || unreachable!(),
        )
        .unwrap()
    };
    assert_eq!(p(1.2349), q(1234));
    assert_eq!(p(-1.2349), q(-1234));
    assert_eq!(p(1_700_000_000.0), q(1_700_000_000_000));
    let bad = token::encode_payload(
        &json!(0),
        &SignOptions::new().signed_at_secs(f64::NAN),
        || 0,
    );
    assert!(matches!(bad, Err(SignError::InvalidSignedAt(_))));
    let bad = token::encode_payload(&json!(0), &SignOptions::new().signed_at_secs(1e300), || 0);
    assert!(matches!(bad, Err(SignError::InvalidSignedAt(_))));
    let bad = token::encode_payload(
        &json!(0),
        &SignOptions::new().max_age(MaxAge::SecondsF64(f64::INFINITY)),
        || 0,
    );
    assert_eq!(bad, Err(SignError::InvalidMaxAge(f64::INFINITY)));
    // Without signed_at the clock is asked.
    assert_eq!(
        token::encode_payload(&json!(0), &SignOptions::new(), || 1234).unwrap(),
        q(1234)
    );
}

#[test]
fn default_sign_uses_the_clock_and_verifies_now() {
    let k = key_base();
    let before = token::now_ms();
    let t = token::sign(&k, SALT, &json!({"user_id": 7}), &SignOptions::new()).unwrap();
    let term = token::verify_term_at(
        &k,
        SALT,
        &t,
        &VerifyOptions::new().max_age(MaxAge::Infinity),
        i64::MAX,
    )
    .unwrap();
    assert!(matches!(term, token::Term::Map(_)));
    assert_eq!(
        token::verify(&k, SALT, &t, &VerifyOptions::new()),
        Ok(json!({"user_id": 7}))
    );
    let payload = decode::payload(
        &token::encode_payload(&json!(1), &SignOptions::new(), token::now_ms).unwrap(),
    )
    .unwrap();
    let token::Term::BigInteger(signed) = payload.signed else {
        panic!("signed_at should be a bignum: {payload:?}")
    };
    let signed: i64 = (&signed.value).try_into().unwrap();
    assert!(
        signed >= before && signed <= token::now_ms(),
        "{before} <= {signed}"
    );
}

/// Builds a token around hand-made ETF bytes, MAC'd with the real derived key.
fn token_around(k: &SecretKeyBase, payload: &[u8]) -> String {
    phx_protocol::token::verifier::sign(payload, &k.signing_key(SALT), Digest::Sha256)
}

#[test]
fn legacy_payload_shapes_mean_one_day() {
    let k = key_base();
    let signed = 1_000_000_i64; // fits INTEGER_EXT
    let two_tuple = [
        &[131u8, 104, 2, 97, 5, 98][..],
        &(signed as i32).to_be_bytes(),
    ]
    .concat();
    // %{data: 5, signed: 1000000} with ATOM_EXT and SMALL_ATOM_UTF8_EXT keys.
    let map = [
        &[131u8, 116, 0, 0, 0, 2, 100, 0, 4][..],
        b"data",
        &[97, 5, 119, 6],
        b"signed",
        &[98],
        &(signed as i32).to_be_bytes(),
    ]
    .concat();
    for payload in [two_tuple, map] {
        let t = token_around(&k, &payload);
        assert_eq!(
            token::verify_at(&k, SALT, &t, &VerifyOptions::new(), signed + 86_400_000),
            Ok(json!(5))
        );
        assert_eq!(
            token::verify_at(&k, SALT, &t, &VerifyOptions::new(), signed + 86_400_001),
            Err(VerifyError::Expired)
        );
    }
    // Other shapes are invalid, even with a valid MAC.
    for payload in [
        &[131u8, 97, 1][..],
        &[131, 104, 4, 97, 1, 97, 1, 97, 1, 97, 1],
        &[131, 104, 3, 97, 1, 100, 0, 1, b'x', 97, 1],
    ] {
        let t = token_around(&k, payload);
        assert_eq!(
            token::verify_at(&k, SALT, &t, &VerifyOptions::new(), 1000),
            Err(VerifyError::Invalid),
            "{payload:?}"
        );
    }
    // An embedded max_age that is not a number or infinity is invalid; an override makes it moot.
    let odd = [131u8, 104, 3, 97, 1, 97, 0, 100, 0, 3, b'f', b'o', b'o'];
    let t = token_around(&k, &odd);
    assert_eq!(
        token::verify_at(&k, SALT, &t, &VerifyOptions::new(), 0),
        Err(VerifyError::Invalid)
    );
    assert_eq!(
        token::verify_at(
            &k,
            SALT,
            &t,
            &VerifyOptions::new().max_age(MaxAge::Seconds(1)),
            0
        ),
        Ok(json!(1))
    );
    // Funs are refused (non_executable_binary_to_term).
    let fun = [
        131u8, 104, 3, 113, 100, 0, 1, b'm', 100, 0, 1, b'f', 97, 0, 97, 0, 97, 1,
    ];
    assert_eq!(
        token::verify_at(&k, SALT, &token_around(&k, &fun), &VerifyOptions::new(), 0),
        Err(VerifyError::Invalid)
    );
    // Trailing bytes after the term are refused.
    let trailing = [131u8, 104, 3, 97, 1, 97, 0, 97, 1, 0];
    assert_eq!(
        token::verify_at(
            &k,
            SALT,
            &token_around(&k, &trailing),
            &VerifyOptions::new(),
            0
        ),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn every_atom_tag_and_big_and_float_forms_decode() {
    // {nil, 0, infinity} with each atom tag for nil and infinity.
    let k = key_base();
    for (tag, wide) in [(100u8, true), (115, false), (118, true), (119, false)] {
        let atom = |name: &[u8]| {
            let mut v = vec![tag];
            if wide {
                v.extend_from_slice(&(name.len() as u16).to_be_bytes());
            } else {
                v.push(name.len() as u8);
            }
            v.extend_from_slice(name);
            v
        };
        let payload = [
            &[131u8, 104, 3][..],
            &atom(b"nil"),
            &[97, 0],
            &atom(b"infinity"),
        ]
        .concat();
        assert_eq!(
            token::verify_at(
                &k,
                SALT,
                &token_around(&k, &payload),
                &VerifyOptions::new(),
                i64::MAX
            ),
            Ok(Value::Null),
            "tag {tag}"
        );
    }
    // signed_at as LARGE_BIG_EXT (111), max_age as NEW_FLOAT_EXT (70) 2.5 s.
    let mut payload = vec![
        131u8, 104, 3, 107, 0, 2, 1, 2, 111, 0, 0, 0, 2, 0, 0x10, 0x27,
    ]; // data [1,2]; signed 10000
    payload.push(70);
    payload.extend_from_slice(&2.5f64.to_be_bytes());
    let t = token_around(&k, &payload);
    assert_eq!(
        token::verify_at(&k, SALT, &t, &VerifyOptions::new(), 12_500),
        Ok(json!([1, 2]))
    );
    assert_eq!(
        token::verify_at(&k, SALT, &t, &VerifyOptions::new(), 12_501),
        Err(VerifyError::Expired)
    );
    // Latin-1 atoms keep their characters.
    let latin = [
        131u8, 104, 3, 100, 0, 3, b'c', 0xe9, b'x', 97, 0, 100, 0, 8, b'i', b'n', b'f', b'i', b'n',
        b'i', b't', b'y',
    ];
    assert_eq!(
        token::verify_at(
            &k,
            SALT,
            &token_around(&k, &latin),
            &VerifyOptions::new(),
            0
        ),
        Ok(json!("c\u{e9}x"))
    );
}

#[test]
fn compressed_payload_tag_80_decodes() {
    // term_to_binary({<<"hello hello hello hello">>, 0, 86400}, [compressed]) on OTP 25.
    let compressed =
        hex::decode("835000000025789ccb60ce65606010cf48cdc9c957c0201319921818031b00cbbb0b35")
            .unwrap();
    let k = key_base();
    let t = token_around(&k, &compressed);
    assert_eq!(
        token::verify_at(&k, SALT, &t, &VerifyOptions::new(), 1),
        Ok(json!("hello hello hello hello"))
    );
    // A wrong uncompressed size is refused.
    let mut wrong = compressed.clone();
    wrong[5] ^= 1;
    assert_eq!(
        token::verify_at(
            &k,
            SALT,
            &token_around(&k, &wrong),
            &VerifyOptions::new(),
            1
        ),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn hs384_and_hs512_tokens_verify() {
    // Made by Erlang/OTP 25: Plug.Crypto.MessageVerifier.sign(term_to_binary({1, 0, infinity}), key, :sha384 | :sha512)
    // with key = pbkdf2_hmac(sha256, 64 x "a", "user socket", 1000, 32).
    let k = kb(&"a".repeat(64));
    for (digest, tok) in [
        (Digest::Sha384, "SFMzODQ.g2gDYQFhAGQACGluZmluaXR5.Z6cH8Zdp2sZbE3CuJrpnBH7DhdmIMReHUB4sPu7B43ZIhRloBlU2FXL_xl42J-_-"),
        (Digest::Sha512, "SFM1MTI.g2gDYQFhAGQACGluZmluaXR5.GzRClNmIWIsjY8FS_bBl_fCcA-oWRYoOAvF1nr4TNdSuZw0Csgj12lsI0WFwAxqg6VTMYYvPVNc0DvxPrKNCUw"),
    ] {
        assert_eq!(token::verify_at(&k, "user socket", tok, &VerifyOptions::new(), 5), Ok(json!(1)), "{digest:?}");
        let opts = SignOptions::new().signed_at_ms(0).max_age(MaxAge::Infinity).digest(digest);
        assert_eq!(token::sign(&k, "user socket", &json!(1), &opts).unwrap(), tok);
    }
    // A protected header naming another algorithm is invalid even with a matching HS256 MAC.
    let good = token::sign(&k, "s", &json!(1), &SignOptions::new()).unwrap();
    let none = good.replacen("SFMyNTY", "bm9uZQ", 1);
    assert_eq!(
        token::verify_at(&k, "s", &none, &VerifyOptions::new(), token::now_ms()),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn json_maps_to_the_terms_phoenix_holds() {
    let bytes = |v: Value| hex::encode(encode::term(&v, AtomEncoding::Latin1).unwrap());
    // Expected bytes from term_to_binary/1 on OTP 25.
    assert_eq!(bytes(json!([1, 2, 3])), "836b0003010203");
    assert_eq!(
        bytes(json!([1, 2, 300])),
        "836c0000000361016102620000012c6a"
    );
    assert_eq!(bytes(json!([-1])), "836c0000000162ffffffff6a");
    assert_eq!(bytes(json!([])), "836a");
    assert_eq!(
        bytes(json!({"b": 1, "a": 2, "aa": 3})),
        "8374000000036d000000016161026d00000002616161036d00000001626101"
    );
    assert_eq!(bytes(json!(-5_000_000_000_i64)), "836e050100f2052a01");
    assert_eq!(bytes(json!(null)), "836400036e696c");
    assert_eq!(bytes(json!(1.5)), "83463ff8000000000000");
    assert_eq!(
        hex::encode(encode::term(&json!(true), AtomEncoding::Utf8).unwrap()),
        "83770474727565"
    );
    assert_eq!(bytes(json!(u64::MAX)), "836e0800ffffffffffffffff");
    // Too deep to read back: refused at sign time.
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = Value::Array(vec![deep]);
    }
    assert_eq!(
        encode::term(&deep, AtomEncoding::Latin1),
        Err(SignError::TooDeep {
            limit: encode::MAX_DEPTH
        })
    );
}

#[test]
fn terms_json_cannot_express_follow_the_documented_mapping() {
    use phx_protocol::token::json_view::term_to_json;
    let t = |hex_str: &str| {
        term_to_json(&decode::binary_to_term(&hex::decode(hex_str).unwrap()).unwrap())
    };
    assert_eq!(t("8364000561646d696e"), json!("admin")); // :admin
    assert_eq!(t("83680261016d000000017a"), json!([1, "z"])); // {1, <<"z">>}
    assert_eq!(t("836b0002686b"), json!([104, 107])); // 'hk' charlist
    assert_eq!(t("836c0000000161016102"), json!([1, 2])); // [1 | 2]
    assert_eq!(t("8374000000016400016b6101"), json!({"k": 1})); // #{k => 1}
    assert_eq!(t("83740000000161026103"), json!({"2": 3})); // #{2 => 3}
    assert_eq!(t("836d00000002ff41"), json!("\u{fffd}A")); // <<255, "A">>
                                                           // 2^400 (SMALL_BIG_EXT, 51 bytes) becomes a float.
    let big = t("836e3300000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001");
    assert!(big.is_f64(), "{big}");
    // A pid prints as text.
    let pid = t("835864000d6e6f6e6f6465406e6f686f7374000000010000000200000000"); // <0.1.2>
    assert!(
        pid.as_str().is_some_and(|s| s.contains("nonode@nohost")),
        "{pid}"
    );
}

/// A token signed one hour ahead: Plug.Crypto 2.1.0/2.1.1 verify it (recorded on Phoenix
/// 1.7.14: `{:ok, 1}` with max_age 86400); from #48 (inferred 2.2.0) it is invalid.
#[test]
fn future_signed_at_follows_the_plug_crypto_release() {
    use phx_protocol::token::{
        self, FutureSignedAt, MaxAge, SecretKeyBase, SignOptions, VerifyError, VerifyOptions,
    };
    use phx_protocol::version::{PhoenixVersion, PlugCryptoVersion};
    let kb = SecretKeyBase::new("k".repeat(64)).expect("key base");
    let now = 1_700_000_000_000i64;
    let tok = token::sign(
        &kb,
        "salt identifier",
        &serde_json::json!(1),
        &SignOptions::new().signed_at_ms(now + 3_600_000),
    )
    .expect("sign");
    let day = VerifyOptions::new().max_age(MaxAge::Seconds(86_400));
    let at = |o: &VerifyOptions| token::verify_at(&kb, "salt identifier", &tok, o, now);
    assert_eq!(
        at(&day),
        Err(VerifyError::Invalid),
        "the default keeps the stricter rule"
    );
    let old = day
        .clone()
        .plug_crypto("2.1.1".parse::<PlugCryptoVersion>().expect("v"));
    assert_eq!(old.future_signed_at_policy(), FutureSignedAt::Accept);
    assert_eq!(at(&old), Ok(serde_json::json!(1)));
    let new = day.clone().plug_crypto(PlugCryptoVersion::V2_2_0);
    assert_eq!(at(&new), Err(VerifyError::Invalid));
    // Derived from Phoenix: 1.7.14 goes with 2.1.x, 1.8.12 (mix.exs ~> 2.2) with 2.2.
    assert_eq!(
        at(&day.clone().plug_crypto(PhoenixVersion::V1_7.plug_crypto())),
        Ok(serde_json::json!(1))
    );
    assert_eq!(
        at(&day.clone().plug_crypto(PhoenixVersion::V1_8.plug_crypto())),
        Err(VerifyError::Invalid)
    );
    // Accepting the future does not skip the max_age rule.
    let expired = token::sign(
        &kb,
        "salt identifier",
        &serde_json::json!(1),
        &SignOptions::new().signed_at_ms(now - 90_000_000),
    )
    .expect("sign");
    assert_eq!(
        token::verify_at(&kb, "salt identifier", &expired, &old, now),
        Err(VerifyError::Expired)
    );
}
