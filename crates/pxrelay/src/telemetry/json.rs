//! The JSON line format: tracing-subscriber's flattened JSON (`timestamp`, `level`, the event's fields with
//! `message`, `target`, and `spans` when inside any), except that levels are lower case (`info`, `warn`, …) as
//! Railway's log explorer expects. tracing-subscriber's `Json` writes `"INFO"` and has no option for it
//! (tokio-rs/tracing#2129, #2671), so this is its event formatter with that one change.

use std::fmt;

use serde::Serializer as _;
use serde::ser::SerializeMap;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{FormatEvent, JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// One JSON object per event and line, with lower-case levels. Span fields are recorded by [`JsonFields`] (the
/// type parameter makes that the only field formatter it can be installed with), so they are JSON already.
#[derive(Debug, Default)]
pub(super) struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let mut line = Vec::with_capacity(256);
        write_object(&mut line, &timestamp, ctx, event).map_err(|_| fmt::Error)?;
        writer.write_str(std::str::from_utf8(&line).map_err(|_| fmt::Error)?)?;
        writeln!(writer)
    }
}

/// The event as one JSON object (no newline), keys in tracing-subscriber's order.
fn write_object<S>(
    out: &mut Vec<u8>,
    timestamp: &str,
    ctx: &FmtContext<'_, S, JsonFields>,
    event: &Event<'_>,
) -> Result<(), serde_json::Error>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let meta = event.metadata();
    let mut serializer = serde_json::Serializer::new(out);
    let mut map = serializer.serialize_map(None)?;
    map.serialize_entry("timestamp", timestamp)?;
    map.serialize_entry("level", level_name(*meta.level()))?;
    let mut fields = FieldVisitor { map: &mut map, result: Ok(()) };
    event.record(&mut fields);
    fields.result?;
    map.serialize_entry("target", meta.target())?;
    if let Some(scope) = ctx.event_scope() {
        let spans: Vec<SpanObject> = scope.from_root().map(|span| SpanObject::of(&span)).collect();
        map.serialize_entry("spans", &spans)?;
    }
    map.end()
}

/// `info`, `warn`, `error`, `debug`, `trace`.
fn level_name(level: Level) -> &'static str {
    match level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// A span as tracing-subscriber's `Json` shows it: its recorded fields, then `name`.
struct SpanObject {
    fields: serde_json::Map<String, serde_json::Value>,
    name: &'static str,
}

impl SpanObject {
    fn of<R: for<'a> LookupSpan<'a>>(span: &tracing_subscriber::registry::SpanRef<'_, R>) -> Self {
        let fields = span
            .extensions()
            .get::<FormattedFields<JsonFields>>()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or_default();
        Self { fields, name: span.name() }
    }
}

impl serde::Serialize for SpanObject {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len() + 1))?;
        for (key, value) in &self.fields {
            map.serialize_entry(key, value)?;
        }
        map.serialize_entry("name", self.name)?;
        map.end()
    }
}

/// Writes each event field as an entry of the line's object, with its natural JSON type (as tracing-serde does):
/// numbers and booleans as such, strings as strings, anything else by its `Debug` text.
struct FieldVisitor<'a, M> {
    map: &'a mut M,
    /// The first failure; later fields are skipped.
    result: Result<(), serde_json::Error>,
}

impl<M: SerializeMap<Error = serde_json::Error>> FieldVisitor<'_, M> {
    fn entry<V: serde::Serialize + ?Sized>(&mut self, field: &Field, value: &V) {
        if self.result.is_ok() {
            self.result = self.map.serialize_entry(field.name(), value);
        }
    }
}

impl<M: SerializeMap<Error = serde_json::Error>> Visit for FieldVisitor<'_, M> {
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.entry(field, &value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.entry(field, &value);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.entry(field, &value);
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.entry(field, &value);
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.entry(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.entry(field, &format_args!("{value:?}"));
    }
}
