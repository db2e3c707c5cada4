//! Logging: JSON lines in production (Railway), human-readable lines locally, filtered by `RUST_LOG`.
//!
//! Nothing here ever formats a secret: tokens and keys are `SecretString`, and the HTTP client marks the bearer
//! header sensitive. A test scans the output of full runs for the API key and tokens.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal: Railway and log files get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    // A second init (tests building several apps in one process) keeps the first subscriber.
    let _ = match settings.format {
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
