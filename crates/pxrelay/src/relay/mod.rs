//! The cloud relay and the local executor (issue 16): `pxrelay relay` receives, authenticates, validates, dedups and
//! journals webhooks on a public server, holding **no broker credentials**; `pxrelay execute --relay <url>` runs on
//! the trader's own machine, holds the ProjectX credentials, runs everything `serve` runs, and executes what the relay
//! sends over one outbound WebSocket (`/executor`). See docs/relay.md.
//!
//! - [`protocol`]: the messages both sides exchange.
//! - [`link`]: the relay's side of the WebSocket (authentication, delivery, acks and outcomes, round-trip time).
//! - [`http`]: the relay's HTTP routes (`/health`, `/ready`, `/status`, `/metrics`, `/webhook`, `/alerts`).
//! - [`dashboard`]: the relay's dashboard at `GET /` (the executor link and the last alerts with their fills).
//! - [`executor_link`]: the executor's side (connect, reconnect with backoff, journal, ack, run, report).
//! - [`watch`]: the `executor_down` notification when no executor is connected for `NOTIFY_OUTAGE_SECS`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::Access;
use crate::config::Settings;
use crate::journal::Journal;
use crate::mode::Mode;

pub mod dashboard;
pub mod executor_link;
pub mod http;
pub mod link;
pub mod protocol;
pub mod watch;

/// The variable holding the shared token the executor presents to the relay (`Authorization: Bearer`).
pub const EXECUTOR_TOKEN: &str = "EXECUTOR_TOKEN";

/// The variable holding the relay's address for `pxrelay execute` (also `--relay`).
pub const RELAY_URL: &str = "RELAY_URL";

/// The shortest `EXECUTOR_TOKEN` accepted, in characters: it is the only thing between the internet and the
/// executor's WebSocket, so it must not be guessable (`openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LEN: usize = 24;

/// Broker credentials the relay must not hold: it refuses to start while any is set.
pub const BROKER_CREDENTIALS: [&str; 2] = ["PROJECT_X_API_KEY", "JWT_TOKEN"];

/// The broker credentials set (non-blank) in `env`, by name.
pub fn credentials_present(env: &HashMap<String, String>) -> Vec<&'static str> {
    BROKER_CREDENTIALS.into_iter().filter(|name| env.get(*name).is_some_and(|v| !v.trim().is_empty())).collect()
}

/// `EXECUTOR_TOKEN` from `env`, or why it cannot be used (never its value).
pub fn executor_token(env: &HashMap<String, String>) -> Result<SecretString, String> {
    match env.get(EXECUTOR_TOKEN).map(|v| v.trim()) {
        None | Some("") => Err(format!(
            "{EXECUTOR_TOKEN} is not set: the relay and the executor share it (e.g. `openssl rand -hex 32`)"
        )),
        Some(t) if t.chars().count() < MIN_TOKEN_LEN => Err(format!(
            "{EXECUTOR_TOKEN} is too short: at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
        )),
        Some(t) => Ok(SecretString::from(t.to_owned())),
    }
}

/// What the relay's handlers share. `Debug` shows no secret (the secrets are `SecretString`s).
#[derive(Debug)]
pub struct Relay {
    /// The relay's own journal: every alert, its delivery state (`received` = not yet acknowledged by the executor,
    /// `pending` = acknowledged), and the outcome the executor reported.
    pub journal: Journal,
    /// `WEBHOOK_SECRET`; `None` refuses every webhook (503 `webhook_disabled`).
    pub secret: Option<SecretString>,
    /// `TRADINGVIEW_IP_ALLOWLIST`.
    pub ip_allowlist: bool,
    /// `WEBHOOK_WAIT_MS`: how long a webhook answer waits for the executor's outcome, from arrival.
    pub wait: Duration,
    /// `DUPLICATE_WINDOW_SECS`.
    pub duplicate_window: Duration,
    /// `EXECUTOR_TOKEN`.
    pub token: SecretString,
    /// The connected executor, if any.
    pub link: Arc<link::Link>,
    /// Prometheus metrics (webhooks by outcome, refused executor connections).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Process start.
    pub started: tokio::time::Instant,
    /// `DASHBOARD_PASSWORD` and the dashboard's sessions ([`crate::access`]); always [`Mode::Live`]'s rule, as the
    /// relay has no sim mode: without a password the dashboard is off.
    pub dashboard: Access,
}

/// Runs `pxrelay relay` until SIGTERM/SIGINT: opens the journal, binds `HOST:PORT`, serves. It never builds a
/// gateway client: it has no credentials to log in with.
pub async fn run(settings: Settings, token: SecretString) -> anyhow::Result<()> {
    let webhook = &settings.webhook;
    let journal = Journal::connect(&webhook.database, webhook.dedup_window, settings.mode)
        .await
        .with_context(|| format!("opening the relay's journal (DATABASE_URL) {}", webhook.database.describe()))?;
    let metrics = crate::metrics::Metrics::new();
    let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
    let notify = crate::notify::Notifier::start(&settings.notify, metrics.clone(), &tracker, &cancel)?;
    let relay = Arc::new(Relay {
        journal,
        secret: webhook.secret.clone(),
        ip_allowlist: webhook.ip_allowlist,
        wait: webhook.wait,
        duplicate_window: webhook.duplicate_window,
        token,
        link: Arc::new(link::Link::default()),
        metrics,
        started: tokio::time::Instant::now(),
        dashboard: Access::new(settings.http.dashboard_password.clone(), Mode::Live),
    });
    tracker.spawn(watch::run(relay.link.clone(), notify, settings.notify.outage_after, cancel.child_token()));
    let addr = SocketAddr::new(settings.http.host, settings.http.port);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, role = "relay", mode = settings.mode.as_str(), "pxrelay listening");
    let router = http::router(relay.clone());
    let (stop, link, grace) = (cancel.clone(), relay.link.clone(), settings.http.shutdown_grace);
    let served = axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            crate::shutdown::signal().await;
            tracing::info!("stopping: closing the executor's connection");
            stop.cancel();
            link.close_all(grace).await;
        })
        .await;
    cancel.cancel();
    tracker.close();
    let _ = tokio::time::timeout(settings.http.shutdown_grace, tracker.wait()).await;
    served.context("serving HTTP")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_credentials_are_named_and_the_token_is_checked_without_echoing_it() {
        let env: HashMap<String, String> =
            [("JWT_TOKEN", "x"), ("PROJECT_X_API_KEY", " ")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        assert_eq!(credentials_present(&env), vec!["JWT_TOKEN"]);
        let short: HashMap<String, String> = [(EXECUTOR_TOKEN.to_owned(), "short-TOKEN".to_owned())].into();
        let why = executor_token(&short).unwrap_err();
        assert!(why.contains("too short") && !why.contains("short-TOKEN"), "{why}");
        assert!(executor_token(&HashMap::new()).unwrap_err().contains("not set"));
    }
}
