//! `App::build` wires everything in order — gateway client, `ensure_valid_token()` (never a bare login), the
//! listener, the background token refresher — and `run_until_stopped` serves until a signal or a critical task
//! ends. Everything that can fail fails here, before a port is bound.

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use std::sync::Arc;

use projectx::contracts::{ContractResolver, DEFAULT_TTL};
use projectx::{MarketConfig, MarketHub};

use std::sync::atomic::AtomicBool;

use tokio::sync::mpsc;

use crate::accounts::Accounts;
use crate::config::{FeedSettings, GatewaySettings, Settings};
use crate::executor::{Executor, Guards};
use crate::journal::Journal;
use crate::quotes::{QuoteService, QuoteSettings};
use crate::state::{AppState, Mode, WebhookState};

/// A built, not yet serving, application.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// How long stopping may take before the process exits anyway (Railway kills 3 s after SIGTERM by default).
    grace: Duration,
    refresher: JoinHandle<()>,
    market: JoinHandle<()>,
    executor: JoinHandle<()>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Keeps the in-process simulator alive in sim mode.
    sim: Option<projectx_sim::SimHandle>,
}

impl App {
    /// Starts the simulator (sim mode), authenticates, binds the listener and starts the token refresher.
    pub async fn build(mut settings: Settings, mode: Mode) -> anyhow::Result<Self> {
        // First, so a second relay pointed at the same journal, or one in the other mode (live vs sim), stops before it
        // does anything at all.
        let journal = Journal::open(&settings.webhook.database, settings.webhook.dedup_window, mode)
            .with_context(|| format!("opening the journal (DATABASE_URL) {}", settings.webhook.database.display()))?;
        tracing::info!(journal = %journal.path().display(), "journal open");
        let sim = match mode {
            Mode::Sim => Some(start_sim(&mut settings.gateway).await?),
            Mode::Live => {
                tracing::info!(mode = "live", gateway = %settings.gateway.api_url, "LIVE mode: orders go to the ProjectX gateway");
                None
            }
        };
        let metrics = crate::metrics::Metrics::new();
        let mut client_cfg = client_config(&settings.gateway);
        client_cfg.observer = Some(metrics.gateway_observer());
        let gateway = projectx::Client::new(client_cfg).context("building the gateway client")?;
        let token = gateway.tokens().ensure_valid_token().await.context("authenticating with the gateway")?;
        tracing::info!(
            token.source = ?token.source(),
            token.expires_at = %token.expires_at(),
            token.seconds_left = token.time_left().as_secs(),
            "session token ready"
        );

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let (quotes, market) = start_quotes(&settings, &gateway, &cancel, &tracker);
        metrics
            .register_live(crate::metrics::Live { tokens: gateway.tokens().clone(), market: quotes.market().clone() });
        watch_symbols(&quotes, &settings.feed, &tracker, &cancel).await?;

        crate::executor::reconcile::recover_unfinished(&journal, &gateway).await;
        let allowed_products = allowed_products(&quotes, &settings.webhook.allowed_symbols).await?;
        let guards = Arc::new(Guards {
            kill_switch: AtomicBool::new(settings.webhook.kill_switch),
            max_contracts: settings.webhook.max_contracts,
            dry_run: settings.webhook.dry_run,
            max_age: settings.webhook.max_alert_age,
        });
        if guards.dry_run {
            tracing::warn!("DRY_RUN: alerts are processed and journaled but no order is sent");
        }
        if settings.webhook.secret.is_none() {
            tracing::warn!("WEBHOOK_SECRET is not set: every webhook is refused (503)");
        }
        let (jobs, queue) = mpsc::channel(settings.webhook.queue_capacity);
        let executor = Executor::new(gateway.clone(), journal.clone(), quotes.clone(), guards.clone(), metrics.clone());
        let executor = tracker.spawn(executor.run(queue, cancel.child_token()));
        let webhook = Arc::new(WebhookState {
            secret: settings.webhook.secret.clone(),
            ip_allowlist: settings.webhook.ip_allowlist,
            wait: settings.webhook.wait,
            duplicate_window: settings.webhook.duplicate_window,
            allowed_products,
            journal,
            jobs,
            guards,
            accounts: Accounts::new(gateway.clone(), settings.webhook.account.clone()),
        });

        let addr = SocketAddr::new(settings.http.host, settings.http.port);
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let refresher = tracker.spawn(gateway.tokens().clone().run_refresher(cancel.child_token()));
        let state = AppState {
            mode,
            gateway,
            quotes,
            webhook,
            metrics,
            shutdown: cancel.clone(),
            started: tokio::time::Instant::now(),
        };
        let grace = settings.http.shutdown_grace;
        Ok(Self { listener, state, grace, refresher, market, executor, cancel, tracker, sim })
    }

    /// The bound address (the real port when `PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound TCP listener has an address")
    }

    /// The shared state (the gateway client, for tests and commands).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The simulator in sim mode.
    pub fn sim(&self) -> Option<&projectx_sim::SimHandle> {
        self.sim.as_ref()
    }

    /// Serves until SIGTERM/SIGINT.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(crate::shutdown::signal()).await
    }

    /// Serves until `stop` completes or a critical task ends; then stops every task within the grace period.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self { listener, state, grace, refresher, market, executor, cancel, tracker, sim } = self;
        tracing::info!(addr = %listener.local_addr()?, mode = state.mode.as_str(), "pxrelay listening");
        let router = crate::routes::router(state);
        let http = tracker.spawn(
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(cancel.clone().cancelled_owned())
                .into_future(),
        );
        tracker.close();
        let outcome = tokio::select! {
            () = stop => Ok(()),
            r = refresher => exited("token refresher", r.map(Ok)),
            r = market => exited("market hub", r.map(Ok)),
            r = executor => exited("order executor", r.map(Ok)),
            r = http => exited("http server", r.map(|r| r.map_err(anyhow::Error::from))),
        };
        tracing::info!(grace_ms = grace.as_millis() as u64, "stopping: no new alerts; finishing those in flight");
        cancel.cancel();
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            tracing::warn!(grace_ms = grace.as_millis() as u64, "tasks still running after the grace period");
        }
        if let Some(sim) = sim {
            sim.shutdown();
        }
        tracing::info!("pxrelay stopped");
        outcome
    }
}

/// A critical task ended before shutdown was asked for: always an error, so the platform restarts the process.
fn exited(task: &str, result: Result<anyhow::Result<()>, tokio::task::JoinError>) -> anyhow::Result<()> {
    let err = match result {
        Ok(Ok(())) => anyhow::anyhow!("{task} stopped unexpectedly"),
        Ok(Err(e)) => e.context(format!("{task} failed")),
        Err(e) => anyhow::anyhow!("{task} panicked: {e}"),
    };
    tracing::error!(error = %format!("{err:#}"), "critical task ended; stopping");
    Err(err)
}

/// Sim mode: starts the in-process simulator and points `gateway` at it.
pub async fn start_sim(gateway: &mut GatewaySettings) -> anyhow::Result<projectx_sim::SimHandle> {
    let sim = projectx_sim::Sim::start(projectx_sim::SimConfig::today())
        .await
        .context("starting the in-process simulator")?;
    point_at_sim(gateway, &sim)?;
    tracing::warn!(
        mode = "sim",
        gateway = %sim.base_url(),
        "SIM mode (paper trading): orders go to the in-process simulator, never to a broker"
    );
    Ok(sim)
}

/// The simulator's URLs and credentials replace whatever gateway settings were configured.
fn point_at_sim(gateway: &mut GatewaySettings, sim: &projectx_sim::SimHandle) -> anyhow::Result<()> {
    if gateway.username.is_some() || gateway.jwt_token.is_some() {
        tracing::warn!("sim mode ignores PROJECT_X_USERNAME, PROJECT_X_API_KEY and JWT_TOKEN");
    }
    gateway.api_url = sim.base_url().parse().context("simulator URL")?;
    gateway.market_hub_url = sim.market_hub_url().parse().context("simulator market hub URL")?;
    gateway.user_hub_url = sim.user_hub_url().parse().context("simulator user hub URL")?;
    gateway.username = Some(sim.username().to_owned());
    gateway.api_key = Some(sim.api_key().to_owned().into());
    gateway.jwt_token = None;
    Ok(())
}

/// Starts the market hub task (on `tracker`) and the quote service over it.
pub fn start_quotes(
    settings: &Settings,
    gateway: &projectx::Client,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> (Arc<QuoteService>, JoinHandle<()>) {
    let mut cfg = MarketConfig::new(settings.gateway.market_hub_url.clone());
    cfg.stale_after = settings.feed.stale_after;
    cfg.max_subscriptions = settings.feed.max_subscriptions;
    let (market, task) = MarketHub::start(cfg, gateway.tokens().clone(), cancel.child_token());
    let task = tracker.spawn(async move {
        let _ = task.await;
    });
    let resolver = ContractResolver::new(gateway.clone(), DEFAULT_TTL);
    let quote_settings = QuoteSettings {
        max_age: settings.feed.quote_max_age,
        stale_after: settings.feed.stale_after,
        bars_ttl: settings.feed.bars_ttl,
    };
    (Arc::new(QuoteService::new(resolver, market, gateway.clone(), quote_settings)), task)
}

/// Subscribes `QUOTE_SYMBOLS`. A symbol that is invalid or unknown stops startup (a typo should not go unnoticed);
/// a gateway failure is logged and retried by a background task, which also re-resolves every symbol daily so
/// contract rolls are picked up.
async fn watch_symbols(
    quotes: &Arc<QuoteService>,
    feed: &FeedSettings,
    tracker: &TaskTracker,
    cancel: &CancellationToken,
) -> anyhow::Result<()> {
    let mut retry = false;
    for symbol in &feed.quote_symbols {
        match quotes.watch(symbol).await {
            Ok(contract) => tracing::info!(symbol, contract.id = %contract, "subscribed to quotes"),
            Err(crate::quotes::QuoteError::Resolve(e)) if e.is_client_error() => {
                anyhow::bail!("QUOTE_SYMBOLS: `{symbol}`: {e}")
            }
            Err(e) => {
                tracing::warn!(symbol, error = %e, "could not subscribe yet; retrying in the background");
                retry = true;
            }
        }
    }
    if feed.quote_symbols.is_empty() {
        return Ok(());
    }
    let (quotes, symbols, cancel) = (quotes.clone(), feed.quote_symbols.clone(), cancel.child_token());
    tracker.spawn(async move {
        loop {
            let wait = if retry { Duration::from_secs(60) } else { Duration::from_secs(24 * 3600) };
            tokio::select! {
                () = cancel.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
            }
            retry = false;
            for symbol in &symbols {
                if let Err(e) = quotes.watch(symbol).await {
                    tracing::warn!(symbol, error = %e, "re-subscribing a QUOTE_SYMBOLS entry failed");
                    retry = true;
                }
            }
        }
    });
    Ok(())
}

/// `ALLOWED_SYMBOLS` → product ids (`F.US.MNQ`). A symbol that does not resolve stops startup.
async fn allowed_products(quotes: &QuoteService, symbols: &[String]) -> anyhow::Result<Vec<String>> {
    let mut products = Vec::new();
    for symbol in symbols {
        let contract =
            quotes.resolver().resolve(symbol).await.with_context(|| format!("ALLOWED_SYMBOLS: `{symbol}`"))?;
        products.push(contract.symbol_id.clone().unwrap_or_else(|| contract.id.to_string()));
    }
    Ok(products)
}

/// Settings → the SDK's plain config struct (the projectx crate never sees the config crate).
pub fn client_config(g: &GatewaySettings) -> projectx::ClientConfig {
    let mut cfg = projectx::ClientConfig::new(g.api_url.clone());
    cfg.request_timeout = g.request_timeout;
    cfg.general_limit = g.general_limit;
    cfg.history_limit = g.history_limit;
    cfg.token = projectx::TokenSettings {
        credentials: g
            .username
            .clone()
            .zip(g.api_key.clone())
            .map(|(username, api_key)| projectx::Credentials { username, api_key }),
        initial_token: g.jwt_token.clone(),
        refresh_margin: g.refresh_margin,
        check_interval: g.check_interval,
        ..projectx::TokenSettings::default()
    };
    cfg
}
