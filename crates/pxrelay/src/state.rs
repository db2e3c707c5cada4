//! `AppState`: what the HTTP handlers share. Cheap to clone; every field is a handle.

use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::executor::{Guards, Job};
use crate::journal::Journal;
use crate::quotes::QuoteService;

/// Where orders go: `PXRELAY_MODE` (`live` by default), or `sim` by `--sim`, which wins over the variable (it can
/// only turn live into paper, never the reverse). The journal records it: a journal written in one mode is refused
/// by a process in the other (`journal::JournalError::WrongMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The configured ProjectX gateway: real orders.
    Live,
    /// The in-process simulator (`serve --sim`): paper trading, no credentials.
    Sim,
}

impl Mode {
    /// `live` or `sim`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Sim => "sim",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name other than `live` or `sim`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a mode; use `live` or `sim`")]
pub struct UnknownMode(String);

impl std::str::FromStr for Mode {
    type Err = UnknownMode;

    /// `live` or `sim`, in any case (`PXRELAY_MODE`, the journal's `mode` column).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "live" => Ok(Self::Live),
            "sim" => Ok(Self::Sim),
            _ => Err(UnknownMode(s.to_owned())),
        }
    }
}

/// Shared by every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Live or sim; shown on every status output.
    pub mode: Mode,
    /// The gateway client (and through it the token manager).
    pub gateway: projectx::Client,
    /// Quotes: resolver, market hub, bars fallback.
    pub quotes: Arc<QuoteService>,
    /// Webhooks: secret, journal, executor queue, guards, accounts.
    pub webhook: Arc<WebhookState>,
    /// Prometheus metrics.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The startup steps that need the gateway: until they are done, webhooks are refused with 503 `not_ready`.
    pub warmup: Arc<crate::warmup::Warmup>,
    /// Fires when the process starts stopping: new alerts are refused with 503.
    pub shutdown: CancellationToken,
    /// Process start, for uptime.
    pub started: Instant,
}

/// What the webhook and journal routes share.
#[derive(Debug)]
pub struct WebhookState {
    /// `WEBHOOK_SECRET`; `None` disables webhooks (and every route that needs the secret).
    pub secret: Option<SecretString>,
    /// Admit only TradingView's addresses (`TRADINGVIEW_IP_ALLOWLIST`).
    pub ip_allowlist: bool,
    /// How long to wait for the outcome, from arrival, before answering 202 (`WEBHOOK_WAIT_MS`).
    pub wait: std::time::Duration,
    /// An entry without id or timestamp is a duplicate of an identical one this recent (`DUPLICATE_WINDOW_SECS`).
    pub duplicate_window: std::time::Duration,
    /// The journal.
    pub journal: Journal,
    /// The executor's queue.
    pub jobs: mpsc::Sender<Job>,
    /// Kill switch, limits, dry run.
    pub guards: Arc<Guards>,
    /// Account selection.
    pub accounts: Accounts,
}
