//! `phx token sign|verify`: output, stderr and exit codes (0 ok, 1 verification failed, 2 usage),
//! checked against tokens real Phoenix produced (fixtures/phoenix-1.7.14/tokens.json).

use assert_cmd::Command;
use phx_protocol::token::{self, SecretKeyBase, SignOptions};
use predicates::prelude::*;
use serde_json::json;

const PHX_KEY: &str =
    "realphx-fixed-secret-key-base-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
const SALT: &str = "salt identifier";

/// `phx token …` with no SECRET_KEY_BASE leaking in from the caller's environment.
fn phx_token(args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("phx").expect("phx binary");
    cmd.env_remove("SECRET_KEY_BASE").arg("token").args(args);
    cmd
}

fn sign(key: &str, salt: &str, extra: &[&str]) -> Command {
    let mut args = vec!["sign", "--secret-key-base", key, "--salt", salt];
    args.extend_from_slice(extra);
    phx_token(&args)
}

fn verify(key: &str, salt: &str, extra: &[&str]) -> Command {
    let mut args = vec!["verify", "--secret-key-base", key, "--salt", salt];
    args.extend_from_slice(extra);
    phx_token(&args)
}

#[test]
fn sign_reproduces_phoenix_tokens_byte_for_byte() {
    for (extra, want) in [
        (vec!["--signed-at", "1700000000", "1"], "SFMyNTY.g2gDYQFuBgAAaOXPiwFiAAFRgA.jLqYDSfaKRfWSJ2onzVZ3EnRBpEtXYeeQWmz11pUbp4"),
        (vec!["--signed-at", "1700000000", "-5"], "SFMyNTY.g2gDYv____tuBgAAaOXPiwFiAAFRgA.NFQFKVAY380L8zVa9pjg2yEaRhBdbuWgixwyBr0atNY"),
        (
            vec!["--signed-at", "1234567890", "--max-age", "3600", "42"],
            "SFMyNTY.g2gDYSpuBgBQBPtxHwFiAAAOEA.6jB2qakZ2LRB_8nAKN0fadZezM8oSOqznRhuPRpnD2w",
        ),
        (
            vec!["--signed-at", "1700000000", r#"{"user_id":1,"role":"admin"}"#],
            "SFMyNTY.g2gDdAAAAAJtAAAABHJvbGVtAAAABWFkbWlubQAAAAd1c2VyX2lkYQFuBgAAaOXPiwFiAAFRgA.yc1MV1YosEyYveM28A1I4t1HcaYeaPXKjF5E8ucTFBM",
        ),
        (
            vec!["--signed-at", "1700000000", r#""hello""#],
            "SFMyNTY.g2gDbQAAAAVoZWxsb24GAABo5c-LAWIAAVGA.Q825FS0ULbJcNdKN8INL-uA82jrO1cCaCtodc75Ix-Q",
        ),
    ] {
        sign(PHX_KEY, SALT, &extra).assert().success().stdout(format!("{want}\n")).stderr("");
    }
    // PROTOCOL.md §4.7.
    sign(&"a".repeat(64), "user socket", &["--signed-at", "0", "1"])
        .assert()
        .success()
        .stdout("SFMyNTY.g2gDYQFhAGIAAVGA.3r4fjnrWe_6ii6l-DnXGmNMc4d7VCK1fu-NpOxznyn4\n");
}

#[test]
fn fractional_signed_at_and_max_age_follow_the_library() {
    let kb = SecretKeyBase::new(PHX_KEY).unwrap();
    let opts = SignOptions::new()
        .signed_at_secs(1_700_000_000.5)
        .max_age("1.5".parse().unwrap());
    let want = token::sign(&kb, SALT, &json!([1, 2]), &opts).unwrap();
    sign(
        PHX_KEY,
        SALT,
        &["--signed-at", "1700000000.5", "--max-age", "1.5", "[1,2]"],
    )
    .assert()
    .success()
    .stdout(format!("{want}\n"));
}

#[test]
fn verify_prints_sorted_compact_json_and_exits_0() {
    let map_token = "SFMyNTY.g2gDdAAAAAJtAAAABHJvbGVtAAAABWFkbWlubQAAAAd1c2VyX2lkYQFuBgAAaOXPiwFiAAFRgA.yc1MV1YosEyYveM28A1I4t1HcaYeaPXKjF5E8ucTFBM";
    verify(PHX_KEY, SALT, &["--max-age", "infinity", map_token])
        .assert()
        .success()
        .stdout("{\"role\":\"admin\",\"user_id\":1}\n")
        .stderr("");
    // A token signed now verifies under its default one-day max_age.
    let out = sign(PHX_KEY, SALT, &[r#"{"b":[true,null],"a":"x"}"#])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let fresh = String::from_utf8(out).unwrap();
    verify(PHX_KEY, SALT, &[fresh.trim()])
        .assert()
        .success()
        .stdout("{\"a\":\"x\",\"b\":[true,null]}\n");
}

#[test]
fn verify_failures_print_the_reason_to_stderr_and_exit_1() {
    let recorded = "SFMyNTY.g2gDYQFuBgAAaOXPiwFiAAFRgA.jLqYDSfaKRfWSJ2onzVZ3EnRBpEtXYeeQWmz11pUbp4";
    verify(PHX_KEY, SALT, &[recorded])
        .assert()
        .code(1)
        .stdout("")
        .stderr("expired\n");
    verify(PHX_KEY, SALT, &["--max-age", "86400", recorded])
        .assert()
        .code(1)
        .stderr("expired\n");
    verify(PHX_KEY, "invalid", &["--max-age", "infinity", recorded])
        .assert()
        .code(1)
        .stdout("")
        .stderr("invalid\n");
    verify(PHX_KEY, SALT, &["nonsense"])
        .assert()
        .code(1)
        .stderr("invalid\n");
    verify(PHX_KEY, SALT, &[""])
        .assert()
        .code(1)
        .stdout("")
        .stderr("missing\n");
    // Signed in the future: invalid.
    sign(PHX_KEY, SALT, &["--signed-at", "99999999999", "1"])
        .assert()
        .success();
    let out = sign(PHX_KEY, SALT, &["--signed-at", "99999999999", "1"])
        .output()
        .unwrap();
    let future = String::from_utf8(out.stdout).unwrap();
    verify(PHX_KEY, SALT, &["--max-age", "infinity", future.trim()])
        .assert()
        .code(1)
        .stderr("invalid\n");
    // ... unless the Plug.Crypto is older than #48 (recorded: Phoenix 1.7.14 with 2.1.0).
    for flags in [["--plug-crypto", "2.1.1"], ["--phoenix", "1.7.14"]] {
        let mut args = flags.to_vec();
        args.extend(["--max-age", "infinity", future.trim()]);
        verify(PHX_KEY, SALT, &args)
            .assert()
            .success()
            .stdout("1\n");
    }
    for flags in [["--plug-crypto", "2.2.0"], ["--phoenix", "1.8.12"]] {
        let mut args = flags.to_vec();
        args.extend(["--max-age", "infinity", future.trim()]);
        verify(PHX_KEY, SALT, &args)
            .assert()
            .code(1)
            .stderr("invalid\n");
    }
    // The recorded token is fine with no expiry.
    verify(PHX_KEY, SALT, &["--max-age", "infinity", recorded])
        .assert()
        .success()
        .stdout("1\n");
}

#[test]
fn secret_key_base_may_come_from_the_environment() {
    let recorded = "SFMyNTY.g2gDYQFuBgAAaOXPiwFiAAFRgA.jLqYDSfaKRfWSJ2onzVZ3EnRBpEtXYeeQWmz11pUbp4";
    phx_token(&["verify", "--salt", SALT, "--max-age", "infinity", recorded])
        .env("SECRET_KEY_BASE", PHX_KEY)
        .assert()
        .success()
        .stdout("1\n");
    phx_token(&["sign", "--salt", SALT, "--signed-at", "1700000000", "1"])
        .env("SECRET_KEY_BASE", PHX_KEY)
        .assert()
        .success()
        .stdout(format!("{recorded}\n"));
    // The flag wins over the environment.
    phx_token(&[
        "verify",
        "--secret-key-base",
        PHX_KEY,
        "--salt",
        SALT,
        "--max-age",
        "infinity",
        recorded,
    ])
    .env("SECRET_KEY_BASE", "another-key-base-of-enough-length")
    .assert()
    .success()
    .stdout("1\n");
    // Neither: a usage error.
    phx_token(&["verify", "--salt", SALT, recorded])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--secret-key-base"));
}

#[test]
fn usage_errors_exit_2_with_a_clear_message() {
    sign(PHX_KEY, SALT, &["{not json"])
        .assert()
        .code(2)
        .stdout("")
        .stderr(predicate::str::contains("DATA_JSON is not valid JSON"));
    sign(PHX_KEY, SALT, &["abc"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("quote strings"));
    sign("too-short", SALT, &["1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least 20"));
    verify("too-short", SALT, &["x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("at least 20"));
    sign(PHX_KEY, SALT, &["--max-age", "soon", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("infinity"));
    verify(PHX_KEY, SALT, &["--max-age", "NaN", "x"])
        .assert()
        .code(2);
    sign(PHX_KEY, SALT, &["--signed-at", "yesterday", "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("seconds"));
    sign(PHX_KEY, SALT, &["--signed-at", "1e300", "1"])
        .assert()
        .code(2);
    phx_token(&["sign", "--secret-key-base", PHX_KEY, "1"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--salt"));
    phx_token(&["verify", "--secret-key-base", PHX_KEY, "--salt", SALT])
        .assert()
        .code(2);
    phx_token(&["frobnicate"]).assert().code(2);
}
