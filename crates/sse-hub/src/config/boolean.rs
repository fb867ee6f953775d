//! Boolean settings as operators write them. Containers, systemd units and
//! shell scripts say `1`, `yes` or `on` as often as `true`, so every boolean
//! setting takes `1/0`, `true/false`, `yes/no` and `on/off` in any case,
//! from a flag, its environment variable and a TOML file alike (where the
//! TOML booleans and the integers 1 and 0 are also taken, see
//! [`Value::to_bool`](super::Value::to_bool)). This is the one place that
//! decides what a boolean is; the `sse` binary uses it for its own flags.

/// The words accepted, for error messages.
const ACCEPTED: &str = "1/0, true/false, yes/no or on/off";

/// Parses one boolean word (surrounding spaces ignored, any case).
///
/// # Errors
/// Anything but the eight words above, with a message that lists them
/// (clap prints it after the flag's or variable's name).
pub fn parse(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(expected()),
    }
}

/// The error message for a value that is not a boolean.
pub(crate) fn expected() -> String {
    format!("expected {ACCEPTED}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_in_any_case() {
        for word in ["1", "true", "TRUE", "Yes", "on", "ON", " yes "] {
            assert_eq!(parse(word), Ok(true), "{word:?}");
        }
        for word in ["0", "false", "False", "NO", "off", "Off"] {
            assert_eq!(parse(word), Ok(false), "{word:?}");
        }
        for word in ["", "2", "y", "n", "enabled", "truee", "-1"] {
            let err = parse(word).unwrap_err();
            assert!(err.contains("yes/no"), "{word:?}: {err}");
        }
    }
}
