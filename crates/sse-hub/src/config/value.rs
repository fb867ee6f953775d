//! [`Value`]: one setting's value as a source gave it, before the setting
//! reads it. A TOML file gives typed values (`15`, `0.25`, `true`, a list);
//! the environment and command-line flags give text (`"15"`, `"yes"`,
//! `"a,b"`). Each conversion takes both, so a setting is written once and
//! reads the same from every source.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};

use super::boolean;

/// The longest duration setting accepted: a year, far beyond any sensible
/// timeout, and safely inside `Duration`'s range.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// A setting's value from a file, a variable or a flag.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A TOML boolean.
    Bool(bool),
    /// A TOML integer.
    Int(i64),
    /// A TOML float.
    Float(f64),
    /// Text: a TOML string, an environment variable, a flag's value.
    Text(String),
    /// A TOML array, or a repeated flag.
    List(Vec<Value>),
}

/// Why a value does not fit a setting; the caller adds which setting and
/// which value (see [`ConfigError`](super::ConfigError)).
pub type Reason = String;

impl Value {
    /// A boolean: `true`/`false`, the integers 1 and 0, or text in
    /// [`boolean::parse`]'s words.
    ///
    /// # Errors
    /// Anything else.
    pub fn to_bool(&self) -> Result<bool, Reason> {
        match self {
            Value::Bool(b) => Ok(*b),
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            Value::Text(t) => boolean::parse(t),
            _ => Err(boolean::expected()),
        }
    }

    /// A count: a non-negative integer (text is parsed, spaces trimmed).
    ///
    /// # Errors
    /// A negative, fractional or non-numeric value.
    pub fn to_count(&self) -> Result<usize, Reason> {
        let n = match self {
            Value::Int(n) => usize::try_from(*n).ok(),
            Value::Text(t) => t.trim().parse::<usize>().ok(),
            _ => None,
        };
        n.ok_or_else(|| "expected a whole number, 0 or more".to_owned())
    }

    /// A count of at least 1 (a bound of 0 would refuse everything).
    ///
    /// # Errors
    /// As [`to_count`](Self::to_count), and 0.
    pub fn to_positive_count(&self) -> Result<usize, Reason> {
        match self.to_count() {
            Ok(0) => Err("must be at least 1".to_owned()),
            other => other,
        }
    }

    /// A size in bytes of at least 1: a whole number, or text with a
    /// binary suffix (`512KiB`, `64 MiB`, `1GiB`; spaces trimmed).
    ///
    /// # Errors
    /// 0, a negative, fractional or non-numeric value, another suffix, or
    /// more than `u64::MAX` bytes.
    pub fn to_positive_byte_size(&self) -> Result<u64, Reason> {
        const EXPECTED: &str = "expected a size in bytes, at least 1: a whole number, \
                                optionally followed by KiB, MiB or GiB";
        let size = match self {
            Value::Int(n) => u64::try_from(*n).ok(),
            Value::Text(t) => {
                let t = t.trim();
                let (digits, unit) = [("KiB", 1u64 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)]
                    .iter()
                    .find_map(|(suffix, unit)| {
                        t.strip_suffix(suffix).map(|d| (d.trim_end(), *unit))
                    })
                    .unwrap_or((t, 1));
                digits
                    .parse::<u64>()
                    .ok()
                    .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
                    .and_then(|n| n.checked_mul(unit))
            }
            _ => None,
        };
        size.filter(|n| *n > 0).ok_or_else(|| EXPECTED.to_owned())
    }

    /// Seconds, fractions allowed, from 0 to [`MAX_SECONDS`].
    ///
    /// # Errors
    /// A negative, non-finite, too large or non-numeric value.
    pub fn to_seconds(&self) -> Result<Duration, Reason> {
        #[allow(clippy::cast_precision_loss)] // integers of a year's seconds are exact
        let secs = match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(f) => Some(*f),
            Value::Text(t) => t.trim().parse::<f64>().ok(),
            _ => None,
        };
        match secs {
            Some(s) if (0.0..=MAX_SECONDS).contains(&s) => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("expected seconds from 0 to {MAX_SECONDS}")),
        }
    }

    /// Seconds, more than 0 (a timeout of 0 would fire at once).
    ///
    /// # Errors
    /// As [`to_seconds`](Self::to_seconds), and 0.
    pub fn to_positive_seconds(&self) -> Result<Duration, Reason> {
        match self.to_seconds() {
            Ok(d) if d.is_zero() => Err("must be more than 0 seconds".to_owned()),
            other => other,
        }
    }

    /// Text, as given.
    ///
    /// # Errors
    /// A TOML value that is not a string.
    pub fn into_text(self) -> Result<String, Reason> {
        match self {
            Value::Text(t) => Ok(t),
            _ => Err("expected a string".to_owned()),
        }
    }

    /// Text parsed by `T::from_str` (an address, a path), with `what` in
    /// the error.
    ///
    /// # Errors
    /// A value that is not a string, or that `T` refuses.
    pub fn parse_text<T: std::str::FromStr>(self, what: &str) -> Result<T, Reason> {
        self.into_text()?
            .trim()
            .parse()
            .map_err(|_| format!("expected {what}"))
    }

    /// A list of strings: a TOML array of strings, or text with items
    /// separated by commas (as in an environment variable), each trimmed,
    /// empty items dropped.
    ///
    /// # Errors
    /// An item that is not a string.
    pub fn into_list(self) -> Result<Vec<String>, Reason> {
        match self {
            Value::List(items) => items
                .into_iter()
                .flat_map(|item| match item.into_list() {
                    Ok(v) => v.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                })
                .collect(),
            Value::Text(t) => Ok(t
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            _ => Err("expected a list of strings".to_owned()),
        }
    }
}

impl fmt::Display for Value {
    /// The value as it would be written in TOML (for error messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(n) => write!(f, "{n}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => write!(f, "{t:?}"),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, a number, a string or a list of strings")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Text(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Text(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Value {
        Value::Text(s.to_owned())
    }

    #[test]
    fn byte_sizes_take_a_count_or_a_binary_suffix() {
        assert_eq!(Value::Int(4096).to_positive_byte_size(), Ok(4096));
        assert_eq!(text(" 4096 ").to_positive_byte_size(), Ok(4096));
        assert_eq!(text("512KiB").to_positive_byte_size(), Ok(512 << 10));
        assert_eq!(text("64 MiB").to_positive_byte_size(), Ok(64 << 20));
        assert_eq!(text("1GiB").to_positive_byte_size(), Ok(1 << 30));
        for bad in [
            "0",
            "0MiB",
            "-1",
            "1.5MiB",
            "MiB",
            "1 MB",
            "1kib",
            "+1",
            "99999999999GiB",
        ] {
            assert!(text(bad).to_positive_byte_size().is_err(), "{bad:?}");
        }
        assert!(Value::Int(-1).to_positive_byte_size().is_err());
    }

    #[test]
    fn text_and_typed_values_read_alike() {
        assert_eq!(Value::Int(15).to_seconds(), text("15").to_seconds());
        assert_eq!(
            Value::Float(0.25).to_seconds(),
            Ok(Duration::from_millis(250))
        );
        assert_eq!(text(" 0.25 ").to_seconds(), Ok(Duration::from_millis(250)));
        assert!(text("-1").to_seconds().is_err());
        assert!(Value::Float(f64::NAN).to_seconds().is_err());
        assert!(Value::Float(MAX_SECONDS * 2.0).to_seconds().is_err());
        assert!(text("0").to_positive_seconds().is_err());
        assert_eq!(Value::Int(7).to_count(), text("7").to_count());
        assert!(Value::Int(-1).to_count().is_err());
        assert!(Value::Float(1.5).to_count().is_err());
        assert!(text("0").to_positive_count().is_err());
        assert_eq!(Value::Int(1).to_bool(), text("yes").to_bool());
        assert!(Value::Int(2).to_bool().is_err());
        assert_eq!(
            text("a, b,,c").into_list(),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            Value::List(vec![text("a"), text("b,c")]).into_list(),
            Ok(vec!["a".into(), "b".into(), "c".into()])
        );
        assert!(Value::List(vec![Value::Int(1)]).into_list().is_err());
        assert!(Value::Int(1).into_text().is_err());
        assert_eq!(
            Value::List(vec![text("a"), Value::Int(2)]).to_string(),
            "[\"a\", 2]"
        );
    }
}
