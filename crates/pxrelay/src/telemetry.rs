//! Logging: JSON lines in production (Railway), human-readable lines locally, filtered by `RUST_LOG`. JSON lines
//! carry `timestamp`, a lower-case `level` (`info`, `warn`, …: what Railway's log explorer reads), the event's
//! fields with `message`, `target`, and `spans` when inside any (see `json.rs`).
//!
//! Nothing here ever formats a secret: tokens and keys are `SecretString`, and the HTTP client marks the bearer
//! header sensitive. A test scans the output of full runs for the API key and tokens.

mod json;

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, LogSettings};

/// Installs the global subscriber writing to stdout. Call once, first thing in `main`.
pub fn init(settings: &LogSettings) {
    init_with(settings, std::io::stdout);
}

/// Installs the global subscriber writing to `writer` (the `token` command logs to stderr so stdout carries only
/// the token).
pub fn init_with<W>(settings: &LogSettings, writer: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    // A second init (tests building several apps in one process) keeps the first subscriber.
    let _ = subscriber(settings, writer).try_init();
}

/// The subscriber `init_with` installs: `settings`' filter and format, writing to `writer`.
fn subscriber<W>(settings: &LogSettings, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: Railway and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    match settings.format {
        LogFormat::Json => Box::new(builder.fmt_fields(JsonFields::new()).event_format(json::JsonLines).finish()),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use super::*;

    /// A `MakeWriter` whose every writer appends to one shared buffer.
    #[derive(Clone, Default)]
    struct Buffer(Arc<parking_lot::Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    impl Buffer {
        fn lines(&self) -> Vec<String> {
            String::from_utf8(self.0.lock().clone()).unwrap().lines().map(str::to_owned).collect()
        }
    }

    fn json(filter: &str) -> LogSettings {
        LogSettings { format: LogFormat::Json, filter: filter.into() }
    }

    /// The same events at every level, some with fields of each kind, one inside nested spans.
    fn emit() {
        tracing::trace!("t");
        tracing::debug!(latency_ms = 12_u64, "d");
        tracing::info!(addr = %"127.0.0.1:8080", ok = true, delta = -3_i64, ratio = 0.5, "pxrelay listening");
        tracing::warn!(error = ?std::io::ErrorKind::TimedOut, "w");
        let outer = tracing::info_span!("webhook", alert.id = "a-1");
        let _outer = outer.enter();
        let inner = tracing::info_span!("order", contract.id = "CON.F.US.MNQ.M25", size = 2_u64);
        let _inner = inner.enter();
        tracing::error!(order.id = 42_u64, "e \"quoted\"\nnew line");
    }

    fn captured(subscriber: Box<dyn Subscriber + Send + Sync>, buffer: &Buffer) -> Vec<String> {
        tracing::subscriber::with_default(subscriber, emit);
        buffer.lines()
    }

    #[test]
    fn json_lines_carry_lower_case_levels() {
        let buffer = Buffer::default();
        let lines = captured(subscriber(&json("trace"), buffer.clone()), &buffer);
        let levels: Vec<String> = lines
            .iter()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["level"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(levels, ["trace", "debug", "info", "warn", "error"], "{lines:#?}");
    }

    /// The fields, their order and their values are tracing-subscriber's flattened JSON, byte for byte, except
    /// for the level's case (and the timestamp, which differs between two runs).
    #[test]
    fn json_lines_are_tracing_subscribers_json_with_only_the_level_in_lower_case() {
        let ours = Buffer::default();
        let ours = captured(subscriber(&json("trace"), ours.clone()), &ours);
        let stock = Buffer::default();
        let builder = tracing_subscriber::fmt().with_env_filter("trace").with_writer(stock.clone());
        let stock = captured(Box::new(builder.json().flatten_event(true).with_current_span(false).finish()), &stock);
        assert_eq!(ours.len(), 5, "{ours:#?}");
        for (ours, stock) in ours.iter().zip(&stock) {
            let value: serde_json::Value = serde_json::from_str(ours).unwrap();
            let timestamp = value["timestamp"].as_str().unwrap();
            assert!(chrono::DateTime::parse_from_rfc3339(timestamp).is_ok() && timestamp.ends_with('Z'), "{ours}");
            let level = value["level"].as_str().unwrap();
            let expected = without_timestamp(stock).replacen(
                &format!("\"level\":\"{}\"", level.to_uppercase()),
                &format!("\"level\":\"{level}\""),
                1,
            );
            assert_eq!(without_timestamp(ours), expected);
        }
        let last: serde_json::Value = serde_json::from_str(&ours[4]).unwrap();
        assert_eq!(last["spans"][1]["contract.id"], "CON.F.US.MNQ.M25", "{last}");
        assert_eq!(last["order.id"], 42);
        assert_eq!(last["target"], module_path!());
    }

    /// `{"timestamp":"…",` → `{"timestamp":"",`
    fn without_timestamp(line: &str) -> String {
        let rest = line.strip_prefix("{\"timestamp\":\"").unwrap_or_else(|| panic!("timestamp first: {line}"));
        let end = rest.find('"').unwrap();
        format!("{{\"timestamp\":\"{}", &rest[end..])
    }

    #[test]
    fn pretty_lines_are_not_json() {
        let buffer = Buffer::default();
        let settings = LogSettings { format: LogFormat::Pretty, filter: "info".into() };
        let lines = captured(subscriber(&settings, buffer.clone()), &buffer);
        assert!(lines.iter().all(|l| serde_json::from_str::<serde_json::Value>(l).is_err()), "{lines:#?}");
        assert!(lines[0].contains(" INFO ") && lines[0].contains("pxrelay listening"), "{lines:#?}");
    }
}
