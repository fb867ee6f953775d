//! Settings as tables: each setting is written once, as a [`Setting`]
//! (its TOML key, its `SSE_*` environment variable, its flag, its help
//! line, and how it applies to the configuration it belongs to), and every
//! source reads through that one entry:
//!
//! - a TOML (or any serde) map: [`HubConfig`](crate::HubConfig) implements
//!   `serde::Deserialize` from its [`HUB_SETTINGS`], refusing an unknown
//!   key with the key named, and [`deserialize_into`] reads one map into several
//!   tables (the `sse` binary's file holds the hub's settings and the
//!   binary's own);
//! - the environment: [`HubConfig::from_env`](crate::HubConfig::from_env)
//!   and [`Target::apply_env`], where every value is text (booleans take
//!   [`boolean::parse`]'s words, durations are seconds with fractions);
//! - command-line flags: the `sse` binary builds its clap flags from the
//!   same tables (name, variable, value name, help), so `sse serve --help`
//!   lists every setting.
//!
//! Sources are applied in turn onto one value (a file, then the
//! environment, then flags), each overriding what the previous one set:
//! a setting's `apply` only ever overwrites what it owns.
//!
//! ```
//! use std::time::Duration;
//! use sse_hub::HubConfig;
//!
//! let config: HubConfig = toml::from_str("heartbeat = 2.5\nqueue_frames = 64\n").unwrap();
//! assert_eq!(config.heartbeat, Some(Duration::from_millis(2500)));
//! assert_eq!(config.limits.queue_frames, 64);
//! let err = toml::from_str::<HubConfig>("queue_frame = 64").unwrap_err();
//! assert!(err.to_string().contains("unknown setting `queue_frame` (did you mean `queue_frames`?)"));
//! ```
//!
//! Key material is never a setting: keys come from files or environment
//! variables that the embedding program reads (the `sse` binary:
//! `SSE_PUBLISHER_JWT_KEY` or `publisher_jwt_key_file`), never from a
//! config file's text.

pub mod boolean;
mod hub_settings;
mod value;

use std::ffi::OsString;
use std::fmt;

use serde::de::{self, MapAccess};

pub use self::hub_settings::HUB_SETTINGS;
pub use self::value::{Reason, Value, MAX_SECONDS};

/// How a setting takes its value on a command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// One value (`--heartbeat 15`).
    Value,
    /// A boolean: `--legacy` alone means true; `--legacy=no` is taken.
    Switch,
    /// Repeatable (`--cors-origin A --cors-origin B`); comma-separated in
    /// its environment variable.
    List,
}

/// One setting of a configuration `T`: where it is read from, how it is
/// documented, and what it does to `T`.
pub struct Setting<T: 'static> {
    name: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    kind: Kind,
    value_name: &'static str,
    help: &'static str,
    apply: fn(&mut T, Value) -> Result<(), Reason>,
}

impl<T> Setting<T> {
    /// A single-valued setting: `name` is the TOML key (snake_case; the
    /// flag is the same with dashes), `env` its variable, `value_name` and
    /// `help` what `--help` shows, `apply` what a value does to `T` (it
    /// refuses a value with the reason; the caller names the setting).
    pub const fn new(
        name: &'static str,
        env: &'static str,
        value_name: &'static str,
        help: &'static str,
        apply: fn(&mut T, Value) -> Result<(), Reason>,
    ) -> Self {
        Setting {
            name,
            env,
            flag: None,
            kind: Kind::Value,
            value_name,
            help,
            apply,
        }
    }

    /// Makes this a boolean [`Kind::Switch`].
    #[must_use]
    pub const fn switch(mut self) -> Self {
        self.kind = Kind::Switch;
        self
    }

    /// Makes this a repeatable [`Kind::List`].
    #[must_use]
    pub const fn list(mut self) -> Self {
        self.kind = Kind::List;
        self
    }

    /// A long flag other than the name with dashes (`cors-origin` for the
    /// repeated `cors_origins`).
    #[must_use]
    pub const fn flag(mut self, long: &'static str) -> Self {
        self.flag = Some(long);
        self
    }

    /// The TOML key.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The environment variable.
    pub fn env(&self) -> &'static str {
        self.env
    }

    /// The long flag, without `--`.
    pub fn long(&self) -> String {
        self.flag
            .map_or_else(|| self.name.replace('_', "-"), str::to_owned)
    }

    /// How it takes a value on a command line.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The value's placeholder in `--help` (`SECS`, `N`, `URL`).
    pub fn value_name(&self) -> &'static str {
        self.value_name
    }

    /// The help text.
    pub fn help(&self) -> &'static str {
        self.help
    }

    /// Applies `value` to `target`; `from` names the source in an error.
    ///
    /// # Errors
    /// The value does not fit (the error names the setting as `from` says
    /// it, and the value).
    pub fn apply(&self, target: &mut T, value: Value, from: Source) -> Result<(), ConfigError> {
        let shown = value.to_string();
        (self.apply)(target, value).map_err(|reason| ConfigError {
            inner: Inner::Invalid {
                key: match from {
                    Source::File => self.name.to_owned(),
                    Source::Env => self.env.to_owned(),
                    Source::Flag => format!("--{}", self.long()),
                },
                value: shown,
                reason,
            },
        })
    }
}

impl<T> fmt::Debug for Setting<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setting")
            .field("name", &self.name)
            .field("env", &self.env)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// Where a value came from, for error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A configuration file: the setting is named by its key.
    File,
    /// The environment: named by its variable.
    Env,
    /// The command line: named by its flag.
    Flag,
}

/// A configuration value being filled from a table of its settings,
/// remembering which settings were given (to tell "set to the default"
/// from "not set", where a default is derived from something else).
pub struct Target<'a, T: 'static> {
    table: &'static [Setting<T>],
    value: &'a mut T,
    given: Vec<&'static str>,
}

impl<'a, T> Target<'a, T> {
    /// Fills `value` through `table`.
    pub fn new(table: &'static [Setting<T>], value: &'a mut T) -> Self {
        Target {
            table,
            value,
            given: Vec::new(),
        }
    }

    /// The names of the settings applied so far, in order.
    pub fn given(&self) -> &[&'static str] {
        &self.given
    }

    /// Applies every setting whose variable `var` returns (an empty value
    /// counts as unset, as in clap and most shells' `${X:-}` habits).
    ///
    /// # Errors
    /// A variable that is not UTF-8, or whose value does not fit.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<OsString>) -> Result<(), ConfigError> {
        for setting in self.table {
            let Some(text) = var(setting.env).filter(|v| !v.is_empty()) else {
                continue;
            };
            let text = text.into_string().map_err(|_| ConfigError {
                inner: Inner::NotUnicode {
                    var: setting.env.to_owned(),
                },
            })?;
            setting.apply(self.value, Value::Text(text), Source::Env)?;
            self.given.push(setting.name);
        }
        Ok(())
    }
}

/// A table being filled, whatever the type it fills: what [`deserialize_into`]
/// dispatches keys to.
pub trait Section {
    /// Applies `key`'s value when this section has that setting (`None`
    /// when it has not).
    fn set(&mut self, key: &str, value: Value, from: Source) -> Option<Result<(), ConfigError>>;
    /// Every key this section knows.
    fn keys(&self) -> Vec<&'static str>;
}

impl<T> Section for Target<'_, T> {
    fn set(&mut self, key: &str, value: Value, from: Source) -> Option<Result<(), ConfigError>> {
        let setting = self.table.iter().find(|s| s.name == key)?;
        let applied = setting.apply(self.value, value, from);
        if applied.is_ok() {
            self.given.push(setting.name);
        }
        Some(applied)
    }

    fn keys(&self) -> Vec<&'static str> {
        self.table.iter().map(|s| s.name).collect()
    }
}

/// Reads a serde map (a TOML document's top-level table) into `sections`:
/// each key goes to the section that has it. A key no section has is
/// refused, naming it (and the closest known key, for a typo), as is a
/// value that does not fit, naming key and value. With toml, the error
/// points at the key's or the value's line.
///
/// ```
/// use sse_hub::config::{deserialize_into, Target, HUB_SETTINGS};
/// use sse_hub::HubConfig;
///
/// let mut config = HubConfig::default();
/// let mut hub = Target::new(HUB_SETTINGS, &mut config);
/// let file = toml::de::Deserializer::parse("max_body = 4096").unwrap();
/// deserialize_into(file, &mut [&mut hub]).unwrap();
/// assert_eq!(hub.given(), ["max_body"]);
/// assert_eq!(config.publish.max_body, 4096);
/// ```
///
/// # Errors
/// The deserializer's own errors (not a map, bad syntax), an unknown key,
/// a value that does not fit.
pub fn deserialize_into<'de, D: de::Deserializer<'de>>(
    deserializer: D,
    sections: &mut [&mut dyn Section],
) -> Result<(), D::Error> {
    deserializer.deserialize_map(Sections(sections))
}

struct Sections<'s, 'a>(&'s mut [&'a mut dyn Section]);

impl<'de> de::Visitor<'de> for Sections<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a table of settings")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        read_map(map, self.0)
    }
}

fn read_map<'de, A: MapAccess<'de>>(
    mut map: A,
    sections: &mut [&mut dyn Section],
) -> Result<(), A::Error> {
    // The key and the value are checked inside their own seeds, so that a
    // deserializer with positions (toml) points at the line of the key or
    // of the value, not at the start of the table.
    while let Some(key) = map.next_key_seed(KnownKey(sections))? {
        map.next_value_seed(Apply {
            sections,
            key: &key,
        })?;
    }
    Ok(())
}

/// Reads a key, refusing one no section has.
struct KnownKey<'s, 'a>(&'s [&'a mut dyn Section]);

impl<'de> de::DeserializeSeed<'de> for KnownKey<'_, '_> {
    type Value = String;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        let key = <String as de::Deserialize>::deserialize(deserializer)?;
        if self.0.iter().any(|s| s.keys().contains(&key.as_str())) {
            return Ok(key);
        }
        let known: Vec<_> = self.0.iter().flat_map(|s| s.keys()).collect();
        Err(de::Error::custom(ConfigError::unknown(&key, &known)))
    }
}

/// Reads a value and applies it to the section that has the key.
struct Apply<'s, 'a, 'k> {
    sections: &'s mut [&'a mut dyn Section],
    key: &'k str,
}

impl<'de> de::DeserializeSeed<'de> for Apply<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        let value = <Value as de::Deserialize>::deserialize(deserializer)?;
        // `KnownKey` lets through only a key that some section has.
        let section = self
            .sections
            .iter_mut()
            .find(|s| s.keys().contains(&self.key));
        match section.and_then(|s| s.set(self.key, value, Source::File)) {
            Some(applied) => applied.map_err(de::Error::custom),
            None => Ok(()),
        }
    }
}

/// A setting that could not be read.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConfigError {
    inner: Inner,
}

#[derive(Debug, thiserror::Error)]
enum Inner {
    #[error("unknown setting `{key}`{hint}")]
    Unknown { key: String, hint: String },
    #[error("invalid value {value} for {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
    #[error("{var} is not valid UTF-8")]
    NotUnicode { var: String },
}

impl ConfigError {
    fn unknown(key: &str, known: &[&str]) -> Self {
        let closest = known
            .iter()
            .map(|k| (edit_distance(key, k), *k))
            .filter(|(d, _)| *d <= 2)
            .min();
        ConfigError {
            inner: Inner::Unknown {
                key: key.to_owned(),
                hint: closest.map_or(String::new(), |(_, k)| format!(" (did you mean `{k}`?)")),
            },
        }
    }

    /// The key is no setting.
    pub fn is_unknown_key(&self) -> bool {
        matches!(self.inner, Inner::Unknown { .. })
    }

    /// The value does not fit its setting (or is not UTF-8).
    pub fn is_invalid_value(&self) -> bool {
        matches!(self.inner, Inner::Invalid { .. } | Inner::NotUnicode { .. })
    }

    /// Why the value does not fit (without the setting's name and the
    /// value, for a caller that prints those itself, as clap does).
    pub fn reason(&self) -> &str {
        match &self.inner {
            Inner::Invalid { reason, .. } => reason,
            Inner::Unknown { .. } => "unknown setting",
            Inner::NotUnicode { .. } => "not valid UTF-8",
        }
    }

    /// The setting as its source names it: the TOML key, the variable or
    /// the flag.
    pub fn key(&self) -> &str {
        match &self.inner {
            Inner::Unknown { key, .. } | Inner::Invalid { key, .. } => key,
            Inner::NotUnicode { var } => var,
        }
    }
}

/// Levenshtein distance, for "did you mean" (keys are short: quadratic is
/// nothing).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<ConfigError>();
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distance() {
        assert_eq!(edit_distance("stroe", "store"), 2);
        assert_eq!(edit_distance("queue_frame", "queue_frames"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
