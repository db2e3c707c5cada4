//! `AppState`: what the HTTP handlers share. Cheap to clone; every field is a handle.

use std::sync::Arc;

use secrecy::SecretString;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::executor::{Guards, Work};
use crate::journal::Journal;
pub use crate::mode::Mode;
use crate::quotes::QuoteService;

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
    /// The live account books (user hub): positions, working orders, today's P&L per watched account.
    pub books: Arc<crate::books::Books>,
    /// The daily loss limit and profit target: limits and blocks per account (`/status.accounts[].risk`).
    pub risk: Arc<crate::risk::DailyRisk>,
    /// Notifications (`NOTIFY_URLS`): `emit` never waits ([`crate::notify`]).
    pub notify: crate::notify::Notifier,
    /// The startup steps that need the gateway: until they are done, webhooks are refused with 503 `not_ready`.
    pub warmup: Arc<crate::warmup::Warmup>,
    /// With a Postgres journal: this instance's role (leader or standby, issue 14); `None` with SQLite.
    pub leadership: Option<Arc<crate::leader::Leadership>>,
    /// The dashboard's password and sessions (`DASHBOARD_PASSWORD`, [`crate::access`]).
    pub dashboard: Arc<crate::access::Access>,
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
    pub jobs: mpsc::Sender<Work>,
    /// Kill switch, limits, dry run.
    pub guards: Arc<Guards>,
    /// Account selection (shared with the warm-up, which watches the default account's book).
    pub accounts: Arc<Accounts>,
}
