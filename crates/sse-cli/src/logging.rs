//! The hub's log output: human-readable text (the default) or JSON, one
//! object per line, for collectors (Loki, Elasticsearch, CloudWatch…).
//!
//! Levels come from `SSE_LOG`, else `RUST_LOG` (`info` when neither is
//! set), in `EnvFilter` syntax. Colour is used only when stderr is a
//! terminal: escape codes in a file or a collector are noise.
//!
//! Nothing here filters secrets: the hub never logs a token or a payload at
//! any level (`tests/logs.rs` checks both formats), so a format cannot leak
//! what was never handed to it.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// How log lines are written to stderr.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One line per event for people: time, level, target, message, fields.
    #[default]
    Text,
    /// One JSON object per line:
    /// `{"time","level","target","message","fields":{…}}`.
    Json,
}

/// Installs the global subscriber (a no-op when one is already set).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("SSE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => builder.event_format(JsonLines).try_init(),
    };
}

/// The JSON line format. Written here rather than taken from
/// tracing-subscriber's `json` feature, whose objects nest the message
/// inside `fields` and name the time `timestamp`: a collector query should
/// read `message` and `fields.x` without knowing which library logged.
struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut time = String::new();
        SystemTime.format_time(&mut Writer::new(&mut time))?;
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let line = json_line(
            &time,
            meta.level().as_str(),
            meta.target(),
            fields.message,
            fields.rest,
        );
        writeln!(writer, "{line}")
    }
}

/// One log object; `serde_json` escapes control characters, so a value
/// with a line break still makes exactly one line.
fn json_line(
    time: &str,
    level: &str,
    target: &str,
    message: String,
    fields: Map<String, Value>,
) -> String {
    let mut object = Map::new();
    object.insert("time".into(), time.into());
    object.insert("level".into(), level.into());
    object.insert("target".into(), target.into());
    object.insert("message".into(), message.into());
    object.insert("fields".into(), Value::Object(fields));
    Value::Object(object).to_string()
}

/// An event's fields: `message` apart, the others typed where tracing
/// gives a type (numbers and booleans stay JSON numbers and booleans).
#[derive(Default)]
struct Fields {
    message: String,
    rest: Map<String, Value>,
}

impl Fields {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.rest.insert(field.name().to_owned(), value);
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_line_is_one_object_on_one_line() {
        let mut fields = Map::new();
        fields.insert("peer".into(), "127.0.0.1:1".into());
        fields.insert("n".into(), 3.into());
        let line = json_line(
            "2026-01-01T00:00:00.000000Z",
            "INFO",
            "sse_hub::hub",
            "two\nlines".into(),
            fields,
        );
        assert!(!line.contains('\n'), "{line}");
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["message"], "two\nlines");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "sse_hub::hub");
        assert_eq!(v["fields"]["n"], 3);
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["time", "level", "target", "message", "fields"]);
    }
}
