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

/// Where orders go.
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
    /// Product ids (`F.US.MNQ`) allowed to trade; empty = all (`ALLOWED_SYMBOLS`).
    pub allowed_products: Vec<String>,
    /// The journal.
    pub journal: Journal,
    /// The executor's queue.
    pub jobs: mpsc::Sender<Job>,
    /// Kill switch, limits, dry run.
    pub guards: Arc<Guards>,
    /// Account selection.
    pub accounts: Accounts,
}

/// State pointing at a closed port (nothing answers, which `/health` and `/status` must not mind), with a journal
/// in a fresh temporary directory. For router tests.
#[cfg(test)]
pub(crate) fn test_state(mode: Mode) -> AppState {
    use std::sync::atomic::AtomicBool;

    let env =
        [("PROJECT_X_API_URL", "http://127.0.0.1:9"), ("PROJECT_X_MARKET_HUB_URL", "http://127.0.0.1:9/hubs/market")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let settings = crate::config::Settings::load(None, &env).expect("defaults are valid");
    let gateway = projectx::Client::new(crate::startup::client_config(&settings.gateway)).expect("client builds");
    let cancel = CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let (quotes, _) = crate::startup::start_quotes(&settings, &gateway, &cancel, &tracker);
    let dir = std::env::temp_dir().join(format!("pxrelay-state-{}-{}", std::process::id(), next_test_dir()));
    let journal =
        crate::journal::Journal::open(&dir.join("j.db"), std::time::Duration::from_secs(60)).expect("journal");
    let guards = Arc::new(crate::executor::Guards {
        kill_switch: AtomicBool::new(false),
        max_contracts: 1,
        dry_run: true,
        max_age: std::time::Duration::from_secs(30),
    });
    let (jobs, _) = tokio::sync::mpsc::channel(1);
    let webhook = Arc::new(WebhookState {
        secret: None,
        ip_allowlist: false,
        wait: std::time::Duration::from_millis(10),
        allowed_products: vec![],
        journal,
        jobs,
        guards,
        accounts: crate::accounts::Accounts::new(gateway.clone(), None),
    });
    let metrics = crate::metrics::Metrics::new();
    AppState { mode, gateway, quotes, webhook, metrics, shutdown: cancel, started: Instant::now() }
}

#[cfg(test)]
fn next_test_dir() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
