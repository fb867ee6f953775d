//! Tests that need an outside program (`redis-server`, `node`, `nginx`,
//! `chromium`…): skip with a message under a bare `cargo test`, where a
//! developer may not have installed it, and fail when `SSE_TEST_STRICT` is
//! on, as `scripts/test.sh` sets it, so that CI can never pass by
//! skipping.
//!
//! `SSE_TEST_STRICT` is a boolean like every other in the project: `1`,
//! `true`, `yes`, `on` turn it on; unset, empty, `0`, `false`, `no`, `off`
//! leave it off.

use std::process::{Command, Stdio};

/// Whether `SSE_TEST_STRICT` is on.
///
/// # Panics
///
/// When the variable holds something that is not a boolean: a typo must
/// not turn strict mode off silently.
pub fn strict() -> bool {
    let Some(value) = std::env::var_os("SSE_TEST_STRICT") else {
        return false;
    };
    let value = value.to_string_lossy().trim().to_ascii_lowercase();
    match value.as_str() {
        "" | "0" | "false" | "no" | "off" => false,
        "1" | "true" | "yes" | "on" => true,
        other => {
            panic!("SSE_TEST_STRICT={other:?} is not a boolean (1/0/true/false/yes/no/on/off)")
        }
    }
}

/// Says why a test skips, or fails the test under `SSE_TEST_STRICT`.
///
/// # Panics
///
/// When [`strict`] is on.
pub fn skip(reason: &str) {
    assert!(!strict(), "{reason} (SSE_TEST_STRICT is on: not skipping)");
    eprintln!("skipping: {reason}");
}

/// Whether `program arg` runs and exits with success (`arg` is usually
/// `--version`). When it does not, the test should return early: this has
/// [`skip`]ped it already (a message, or a failure under `SSE_TEST_STRICT`).
///
/// # Panics
///
/// When the program does not run and [`strict`] is on.
pub fn have(program: &str, arg: &str) -> bool {
    let ok = Command::new(program)
        .arg(arg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        skip(&format!("{program} is not installed or does not run"));
    }
    ok
}
