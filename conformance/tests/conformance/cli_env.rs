//! The `PHX_*` switches are read by the CLI as the library reads them: `1`, `yes`, `on` and
//! `true` mean on, `0`, `no`, `off` and `false` mean off (clap's own bool parser refused `1`).

use assert_cmd::Command;
use predicates::prelude::*;

#[test]
fn boolish_env_switches_are_accepted_not_usage_errors() {
    for (var, value) in [
        ("PHX_CONTROL", "1"),
        ("PHX_CONTROL", "0"),
        ("PHX_CONTROL", "yes"),
        ("PHX_INSECURE", "1"),
        ("PHX_INSECURE", "false"),
    ] {
        // Port 1 refuses: exit 3 (unreachable), never 2 (usage).
        Command::cargo_bin("phx")
            .expect("phx binary")
            .env(var, value)
            .args([
                "check",
                "--url",
                "ws://127.0.0.1:1/socket",
                "--scenario",
                "heartbeat",
            ])
            .assert()
            .code(3)
            .stderr(predicate::str::contains("cannot reach"));
    }
    Command::cargo_bin("phx")
        .expect("phx binary")
        .env("PHX_CONTROL", "maybe")
        .args(["check", "--url", "ws://127.0.0.1:1/socket"])
        .assert()
        .code(2);
}
