//! [`HUB_SETTINGS`]: every setting of a [`HubConfig`], the one place a hub
//! setting is added (an entry here, and the field it sets). The TOML keys
//! are those of the `sse` binary's `hub.toml`; the help lines are what
//! `sse serve --help` prints.

// `|c, v| Ok(c.field = v.to_count()?)`: each entry sets its field and
// returns in one expression, which keeps the table one short entry per
// setting.
#![allow(clippy::unit_arg)]

use std::ffi::OsString;

use serde::de::{Deserialize, Deserializer};

use super::{deserialize_into, ConfigError, Setting, Target};
use crate::hub::HubConfig;
use crate::subscribe::SubscriptionFormat;

type S = Setting<HubConfig>;

/// Every [`HubConfig`] setting, in `--help` order.
pub static HUB_SETTINGS: &[S] = &[
    S::new(
        "public_url",
        "SSE_PUBLIC_URL",
        "URL",
        "The hub's public URL, as clients reach it (default: derived from --addr). Also the \
         default token audience.",
        |c, v| {
            let url = v.into_text()?;
            // The audience follows the URL unless it was set apart.
            if c.auth.audience == c.hub_url {
                c.auth.audience.clone_from(&url);
            }
            c.hub_url = url;
            Ok(())
        },
    ),
    S::new(
        "audience",
        "SSE_AUDIENCE",
        "ID",
        "The audience (`aud`) tokens must carry (default: the public URL).",
        |c, v| Ok(c.auth.audience = v.into_text()?),
    ),
    S::new(
        "jwt_issuer",
        "SSE_JWT_ISSUER",
        "ISS",
        "When set, tokens must carry exactly this `iss`.",
        |c, v| Ok(c.auth.issuer = Some(v.into_text()?)),
    ),
    S::new(
        "allow_anonymous",
        "SSE_ALLOW_ANONYMOUS",
        "BOOL",
        "Serve subscribers that present no token (public updates only).",
        |c, v| Ok(c.allow_anonymous = v.to_bool()?),
    )
    .switch(),
    S::new(
        "cors_origins",
        "SSE_CORS_ORIGINS",
        "ORIGIN",
        "A browser origin allowed to use the hub with credentials (repeat the flag; in \
         SSE_CORS_ORIGINS, comma-separated). Never `*`.",
        |c, v| {
            let origins = v.into_list()?;
            if origins.iter().any(|o| o == "*") {
                return Err("`*` is refused: credentialed CORS needs explicit origins".into());
            }
            c.cors_origins = origins;
            Ok(())
        },
    )
    .list()
    .flag("cors-origin"),
    S::new(
        "history_size",
        "SSE_HISTORY_SIZE",
        "N",
        "Updates kept in history (default 10000).",
        // A new bound of the same retention: the byte and age limits stay.
        |c, v| Ok(c.retention = c.retention.with_max_entries(v.to_positive_count()?)),
    ),
    S::new(
        "history_bytes",
        "SSE_HISTORY_BYTES",
        "BYTES",
        "Update bytes kept in history (id, data, type and topics), beside --history-size: \
         the oldest go first, the newest always stays (default 64MiB; a plain count or \
         KiB, MiB, GiB).",
        |c, v| Ok(c.retention = c.retention.with_max_bytes(v.to_positive_byte_size()?)),
    ),
    S::new(
        "history_age",
        "SSE_HISTORY_AGE",
        "SECS",
        "Longest an update stays in history, in seconds (default: no limit beyond the size).",
        |c, v| Ok(c.retention = c.retention.with_max_age(v.to_positive_seconds()?)),
    ),
    S::new(
        "heartbeat",
        "SSE_HEARTBEAT",
        "SECS",
        "Idle seconds before a keep-alive comment is sent (0: none; default 15; fractions \
         allowed, as for every SECS).",
        |c, v| {
            let every = v.to_seconds()?;
            c.heartbeat = (!every.is_zero()).then_some(every);
            Ok(())
        },
    ),
    S::new(
        "max_connections",
        "SSE_MAX_CONNECTIONS",
        "N",
        "Most subscriber connections (default 10000).",
        |c, v| Ok(c.limits.max_connections = v.to_positive_count()?),
    ),
    S::new(
        "write_timeout",
        "SSE_WRITE_TIMEOUT",
        "SECS",
        "Seconds a subscriber may take nothing we write (it stopped reading, or its network \
         went silent) before it is disconnected (default 30).",
        |c, v| Ok(c.limits.write_timeout = v.to_positive_seconds()?),
    ),
    S::new(
        "retry",
        "SSE_RETRY",
        "SECS",
        "Reconnection delay sent as `retry:` at the start of every stream (default: none, \
         clients use their own).",
        |c, v| Ok(c.retry = Some(v.to_seconds()?)),
    ),
    S::new(
        "shutdown_retry",
        "SSE_SHUTDOWN_RETRY",
        "SECS",
        "Reconnection delay sent to open streams at shutdown (default 1).",
        |c, v| Ok(c.shutdown_retry = v.to_seconds()?),
    ),
    S::new(
        "max_connection_lifetime",
        "SSE_MAX_CONNECTION_LIFETIME",
        "SECS",
        "Longest life of a subscriber stream, whatever its token says (default: until the \
         token expires).",
        |c, v| Ok(c.limits.max_connection_lifetime = Some(v.to_positive_seconds()?)),
    ),
    S::new(
        "max_connections_per_subject",
        "SSE_MAX_CONNECTIONS_PER_SUBJECT",
        "N",
        "Most open streams per token subject (`iss` + `sub`); one more is answered 429 \
         (default: no cap).",
        |c, v| Ok(c.limits.max_connections_per_subject = Some(v.to_positive_count()?)),
    ),
    S::new(
        "queue_frames",
        "SSE_QUEUE_FRAMES",
        "N",
        "Updates one subscriber may have waiting before it is disconnected (it resumes with \
         Last-Event-ID; default 256).",
        |c, v| Ok(c.limits.queue_frames = v.to_positive_count()?),
    ),
    S::new(
        "queue_bytes",
        "SSE_QUEUE_BYTES",
        "BYTES",
        "Bytes one subscriber may have waiting (default 1048576).",
        |c, v| Ok(c.limits.queue_bytes = v.to_positive_count()?),
    ),
    S::new(
        "max_body",
        "SSE_MAX_BODY",
        "BYTES",
        "Largest publish body; larger is a 413 (default 1048576).",
        |c, v| Ok(c.publish.max_body = v.to_positive_count()?),
    ),
    S::new(
        "max_topics",
        "SSE_MAX_TOPICS",
        "N",
        "Most `topic` fields in one publish; more is a 413 (default 32).",
        |c, v| Ok(c.publish.max_topics = v.to_positive_count()?),
    ),
    S::new(
        "max_topic_len",
        "SSE_MAX_TOPIC_LEN",
        "BYTES",
        "Longest topic in a publish; longer is a 413 (default 2048).",
        |c, v| Ok(c.publish.max_topic_len = v.to_positive_count()?),
    ),
    S::new(
        "max_id_len",
        "SSE_MAX_ID_LEN",
        "BYTES",
        "Longest update `id`; longer is a 413 (default 1024).",
        |c, v| Ok(c.publish.max_id_len = v.to_positive_count()?),
    ),
    S::new(
        "max_type_len",
        "SSE_MAX_TYPE_LEN",
        "BYTES",
        "Longest update `type`; longer is a 413 (default 256).",
        |c, v| Ok(c.publish.max_type_len = v.to_positive_count()?),
    ),
    S::new(
        "max_matchers",
        "SSE_MAX_MATCHERS",
        "N",
        "Most matchers in one subscribe request; more is a 400 (default 100).",
        |c, v| Ok(c.subscribe.max_matchers = v.to_positive_count()?),
    ),
    S::new(
        "max_pattern_len",
        "SSE_MAX_PATTERN_LEN",
        "BYTES",
        "Longest matcher in a subscribe request; longer is a 400 (default 2048).",
        |c, v| Ok(c.subscribe.max_pattern_len = v.to_positive_count()?),
    ),
    S::new(
        "subscription_format",
        "SSE_SUBSCRIPTION_FORMAT",
        "FORMAT",
        "Shape of subscription events and API bodies for current clients: `json` (the newest \
         text, default) or `jsonld` (the previous one).",
        |c, v| {
            c.subscription_format = match v.into_text()?.as_str() {
                "json" => SubscriptionFormat::Json,
                "jsonld" => SubscriptionFormat::JsonLd,
                _ => return Err("expected json or jsonld".into()),
            };
            Ok(())
        },
    ),
    S::new(
        "subscriptions",
        "SSE_SUBSCRIPTIONS",
        "BOOL",
        "Active subscriptions: subscription events and the subscriptions API.",
        |c, v| Ok(c.subscriptions = v.to_bool()?),
    )
    .switch(),
    S::new(
        "legacy",
        "SSE_LEGACY",
        "BOOL",
        "Also accept the deployed 0.x generation: tokens with a `mercure` claim (no `typ: \
         at+jwt`), and token query parameters on 0.x (`topic=`) subscriptions. Current \
         requests and the metadata are unchanged.",
        |c, v| {
            let legacy = v.to_bool()?;
            c.auth.legacy_tokens = legacy;
            c.auth.query_token = legacy;
            Ok(())
        },
    )
    .switch(),
];

impl HubConfig {
    /// [`HubConfig::default`] with every `SSE_*` variable of
    /// [`HUB_SETTINGS`] applied.
    ///
    /// # Errors
    /// A variable whose value does not fit (the error names it and its
    /// value).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut config = HubConfig::default();
        config.apply_env()?;
        Ok(config)
    }

    /// Applies every `SSE_*` variable of [`HUB_SETTINGS`] that is set,
    /// over what this configuration holds (a file read before, say).
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn apply_env(&mut self) -> Result<(), ConfigError> {
        self.apply_vars(|name| std::env::var_os(name))
    }

    /// [`apply_env`](Self::apply_env) with the variables from `var`
    /// instead of the process environment.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn apply_vars(
        &mut self,
        var: impl Fn(&str) -> Option<OsString>,
    ) -> Result<(), ConfigError> {
        Target::new(HUB_SETTINGS, self).apply_env(var)
    }
}

impl<'de> Deserialize<'de> for HubConfig {
    /// A map of [`HUB_SETTINGS`] keys (the flat `hub.toml` shape) over
    /// [`HubConfig::default`]: `heartbeat = 15`, `cors_origins = [...]`.
    /// Unknown keys are refused, naming the key; a value that does not fit
    /// names the key and the value.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut config = HubConfig::default();
        deserialize_into(
            deserializer,
            &mut [&mut Target::new(HUB_SETTINGS, &mut config)],
        )?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::Kind;

    /// Every key, each set away from its default.
    const EVERY_KEY: &str = r#"
public_url = "https://hub.example/.well-known/mercure"
audience = "urn:aud"
jwt_issuer = "https://idp.example/"
allow_anonymous = "yes"
cors_origins = ["https://a.example", "https://b.example"]
history_size = 42
history_bytes = "2MiB"
history_age = 3600
heartbeat = 2.5
max_connections = 7
write_timeout = 5
retry = 0.25
shutdown_retry = 3
max_connection_lifetime = 60
max_connections_per_subject = 4
queue_frames = 8
queue_bytes = 4096
max_body = 1000
max_topics = 3
max_topic_len = 100
max_id_len = 50
max_type_len = 20
max_matchers = 5
max_pattern_len = 200
subscription_format = "jsonld"
subscriptions = 1
legacy = true
"#;

    fn assert_every_key_set(c: &HubConfig) {
        assert_eq!(c.hub_url, "https://hub.example/.well-known/mercure");
        assert_eq!(c.auth.audience, "urn:aud");
        assert_eq!(c.auth.issuer.as_deref(), Some("https://idp.example/"));
        assert!(c.allow_anonymous);
        assert_eq!(c.cors_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(c.retention.max_entries(), 42);
        assert_eq!(c.retention.max_bytes(), 2 * 1024 * 1024);
        assert_eq!(c.retention.max_age(), Some(Duration::from_secs(3600)));
        assert_eq!(c.heartbeat, Some(Duration::from_millis(2500)));
        assert_eq!(c.limits.max_connections, 7);
        assert_eq!(c.limits.write_timeout, Duration::from_secs(5));
        assert_eq!(c.retry, Some(Duration::from_millis(250)));
        assert_eq!(c.shutdown_retry, Duration::from_secs(3));
        assert_eq!(
            c.limits.max_connection_lifetime,
            Some(Duration::from_secs(60))
        );
        assert_eq!(c.limits.max_connections_per_subject, Some(4));
        assert_eq!(c.limits.queue_frames, 8);
        assert_eq!(c.limits.queue_bytes, 4096);
        assert_eq!(c.publish.max_body, 1000);
        assert_eq!(c.publish.max_topics, 3);
        assert_eq!(c.publish.max_topic_len, 100);
        assert_eq!(c.publish.max_id_len, 50);
        assert_eq!(c.publish.max_type_len, 20);
        assert_eq!(c.subscribe.max_matchers, 5);
        assert_eq!(c.subscribe.max_pattern_len, 200);
        assert_eq!(c.subscription_format, SubscriptionFormat::JsonLd);
        assert!(c.subscriptions);
        assert!(c.auth.legacy_tokens && c.auth.query_token);
    }

    #[test]
    fn toml_with_every_key_sets_every_field() {
        let c: HubConfig = toml::from_str(EVERY_KEY).unwrap();
        assert_every_key_set(&c);
        let keys = EVERY_KEY.lines().filter(|l| l.contains(" = ")).count();
        assert_eq!(keys, HUB_SETTINGS.len(), "EVERY_KEY lists every setting");
    }

    #[test]
    fn environment_strings_set_every_field() {
        let vars: Vec<(String, String)> = EVERY_KEY
            .lines()
            .filter_map(|l| l.split_once(" = "))
            .map(|(key, value)| {
                let setting = HUB_SETTINGS.iter().find(|s| s.name() == key).unwrap();
                // Text as a variable holds it: no quotes, lists comma-separated.
                let text = value
                    .trim_matches(['[', ']'])
                    .replace('"', "")
                    .replace(", ", ",");
                (setting.env().to_owned(), text)
            })
            .collect();
        assert_eq!(vars.len(), HUB_SETTINGS.len());
        let mut c = HubConfig::default();
        c.apply_vars(|name| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| OsString::from(v))
        })
        .unwrap();
        assert_every_key_set(&c);
    }

    #[test]
    fn unset_and_empty_variables_change_nothing_and_later_sources_win() {
        let mut c: HubConfig = toml::from_str("heartbeat = 3\nmax_body = 10").unwrap();
        c.apply_vars(|name| match name {
            "SSE_HEARTBEAT" => Some("0".into()),
            "SSE_MAX_BODY" => Some(OsString::new()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            c.heartbeat, None,
            "0 turns heartbeats off, and env beats file"
        );
        assert_eq!(c.publish.max_body, 10, "an empty variable is unset");
        let d = HubConfig::default();
        assert_eq!(c.limits.queue_frames, d.limits.queue_frames);
    }

    #[test]
    fn the_audience_follows_the_url_unless_set() {
        let c: HubConfig =
            toml::from_str("public_url = \"https://h/.well-known/mercure\"").unwrap();
        assert_eq!(c.auth.audience, "https://h/.well-known/mercure");
        let c: HubConfig =
            toml::from_str("audience = \"urn:a\"\npublic_url = \"https://h/x\"").unwrap();
        assert_eq!(c.auth.audience, "urn:a");
        assert_eq!(c.hub_url, "https://h/x");
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        let err = toml::from_str::<HubConfig>("heartbeat = 1\nstroe = 2").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("unknown setting `stroe`"), "{msg}");
        assert!(msg.contains("line 2"), "the file's line is kept: {msg}");
        let err = toml::from_str::<HubConfig>("heartbeats = 1").unwrap_err();
        assert!(
            err.to_string().contains("(did you mean `heartbeat`?)"),
            "{err}"
        );
        let err = toml::from_str::<HubConfig>("zzz = 1").unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key_and_the_value() {
        for (text, needle) in [
            (
                "heartbeat = -1",
                "invalid value -1 for heartbeat: expected seconds",
            ),
            (
                "heartbeat = \"soon\"",
                "invalid value \"soon\" for heartbeat",
            ),
            (
                "queue_frames = 0",
                "invalid value 0 for queue_frames: must be at least 1",
            ),
            (
                "write_timeout = 0",
                "for write_timeout: must be more than 0 seconds",
            ),
            (
                "legacy = \"maybe\"",
                "invalid value \"maybe\" for legacy: expected 1/0",
            ),
            ("cors_origins = [\"*\"]", "for cors_origins: `*` is refused"),
            ("subscription_format = \"xml\"", "expected json or jsonld"),
            ("max_body = 1.5", "invalid value 1.5 for max_body"),
            (
                "audience = 3",
                "invalid value 3 for audience: expected a string",
            ),
        ] {
            let err = toml::from_str::<HubConfig>(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let mut c = HubConfig::default();
        let err = c
            .apply_vars(|n| (n == "SSE_QUEUE_BYTES").then(|| "lots".into()))
            .unwrap_err();
        assert!(err.is_invalid_value() && !err.is_unknown_key());
        assert_eq!(err.key(), "SSE_QUEUE_BYTES");
        assert_eq!(
            err.to_string(),
            "invalid value \"lots\" for SSE_QUEUE_BYTES: expected a whole number, 0 or more"
        );
    }

    #[test]
    fn names_follow_one_rule() {
        for s in HUB_SETTINGS {
            let env = format!("SSE_{}", s.name().to_ascii_uppercase());
            assert_eq!(s.env(), env, "{}", s.name());
            if s.kind() != Kind::List {
                assert_eq!(s.long(), s.name().replace('_', "-"));
            }
            assert!(!s.help().is_empty() && !s.value_name().is_empty());
        }
        let mut names: Vec<_> = HUB_SETTINGS.iter().map(Setting::name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), HUB_SETTINGS.len(), "no setting twice");
    }

    /// Adding a setting is one entry: this one exists only here, and a
    /// file, a variable and the flag metadata all see it.
    #[test]
    fn one_entry_is_a_whole_setting() {
        static EXTRA: &[S] = &[S::new(
            "replay_page",
            "SSE_REPLAY_PAGE",
            "N",
            "History entries read per replay page.",
            |c, v| Ok(c.limits.replay_page = v.to_positive_count()?),
        )];
        let mut c = HubConfig::default();
        let mut target = Target::new(EXTRA, &mut c);
        let file = toml::de::Deserializer::parse("replay_page = 7").unwrap();
        crate::config::deserialize_into(file, &mut [&mut target]).unwrap();
        target
            .apply_env(|n| (n == "SSE_REPLAY_PAGE").then(|| "9".into()))
            .unwrap();
        assert_eq!(target.given(), ["replay_page", "replay_page"]);
        assert_eq!(c.limits.replay_page, 9, "the variable over the file");
        assert_eq!(EXTRA[0].long(), "replay-page");
        let file = toml::de::Deserializer::parse("replay_page = 0").unwrap();
        let err = crate::config::deserialize_into(file, &mut [&mut Target::new(EXTRA, &mut c)]);
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("invalid value 0 for replay_page"));
    }
}
