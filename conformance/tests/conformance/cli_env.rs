//! The `PHX_*` switches are read by the CLI as the library reads them: `1`, `yes`, `on` and
//! `true` mean on, `0`, `no`, `off` and `false` mean off (clap's own bool parser refused `1`).

use crate::support::phx;
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
        phx(&["check", "--url", "ws://127.0.0.1:1/socket"])
            .args(["--scenario", "heartbeat"])
            .env(var, value)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("cannot reach"));
    }
    phx(&["check", "--url", "ws://127.0.0.1:1/socket"])
        .env("PHX_CONTROL", "maybe")
        .assert()
        .code(2);
}
