//! Boolean settings as operators write them. Containers, systemd units and
//! shell scripts say `1`, `yes` or `on` as often as `true`, so every boolean
//! setting of `sse serve` takes `1/0`, `true/false`, `yes/no` and `on/off`
//! in any case, from a flag, its environment variable and the TOML file
//! alike. This is the one place that decides what a boolean is.

use std::fmt;

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
        _ => Err(format!("expected {ACCEPTED}")),
    }
}

/// `deserialize_with` for an `Option<bool>` in the TOML file: a TOML
/// boolean, one of the words as a string, or the integers 1 and 0.
pub fn deserialize_opt<'de, D>(deserializer: D) -> Result<Option<bool>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer.deserialize_any(Visitor).map(Some)
}

struct Visitor;

impl serde::de::Visitor<'_> for Visitor {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a boolean ({ACCEPTED})")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<bool, E> {
        match v {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(E::invalid_value(serde::de::Unexpected::Signed(v), &self)),
        }
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<bool, E> {
        match v {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(E::invalid_value(serde::de::Unexpected::Unsigned(v), &self)),
        }
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<bool, E> {
        parse(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
    }
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

    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default, deserialize_with = "deserialize_opt")]
        flag: Option<bool>,
    }

    fn file(text: &str) -> Result<Option<bool>, String> {
        toml::from_str::<File>(text)
            .map(|f| f.flag)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_file_takes_booleans_words_and_one_or_zero() {
        assert_eq!(file(""), Ok(None));
        assert_eq!(file("flag = true"), Ok(Some(true)));
        assert_eq!(file("flag = false"), Ok(Some(false)));
        assert_eq!(file("flag = 1"), Ok(Some(true)));
        assert_eq!(file("flag = 0"), Ok(Some(false)));
        assert_eq!(file("flag = \"on\""), Ok(Some(true)));
        assert_eq!(file("flag = \"No\""), Ok(Some(false)));
        let err = file("flag = 2").unwrap_err();
        assert!(err.contains("yes/no"), "{err}");
        let err = file("flag = \"maybe\"").unwrap_err();
        assert!(err.contains("yes/no"), "{err}");
    }
}
