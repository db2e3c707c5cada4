//! `App::build` wires everything in order — journal, gateway client, market hub, executor, the listener — and
//! starts the warm-up ([`crate::warmup`]: the first token via `ensure_valid_token()` (never a bare login), quote
//! subscriptions, recovery, `ALLOWED_SYMBOLS`) and the token refresher behind it. Only what needs no gateway can
//! fail in `build`, so a port is bound (and `/health` answers) even while the gateway is down; `run_until_stopped`
//! serves until a signal, a critical task ending, or the warm-up failing (a definitive refusal, an unknown symbol).

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
use crate::config::{GatewaySettings, Settings};
use crate::executor::{Executor, Guards};
use crate::journal::Journal;
use crate::quotes::{QuoteService, QuoteSettings};
use crate::state::{AppState, Mode, WebhookState};
use crate::warmup::Warmup;

/// A built, not yet serving, application.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    /// How long stopping may take before the process exits anyway (Railway kills 3 s after SIGTERM by default).
    grace: Duration,
    /// The gateway-dependent startup steps; an error from it stops the process.
    warmup: JoinHandle<anyhow::Result<()>>,
    refresher: JoinHandle<()>,
    market: JoinHandle<()>,
    executor: JoinHandle<()>,
    /// The leader lock (Postgres): ends with an error when the lead is lost.
    leader: JoinHandle<anyhow::Result<()>>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Keeps the in-process simulator alive in sim mode.
    sim: Option<projectx_sim::SimHandle>,
}

impl App {
    /// Opens the journal, starts the simulator (sim mode), the market hub and the executor, binds the listener, and
    /// starts the warm-up and the token refresher. Returns without waiting for the gateway: the warm-up's progress
    /// is [`AppState::warmup`] (and `/ready`).
    pub async fn build(mut settings: Settings, mode: Mode) -> anyhow::Result<Self> {
        // First, so a second relay pointed at the same journal, or one in the other mode (live vs sim), stops before it
        // does anything at all.
        let journal = Journal::connect(&settings.webhook.database, settings.webhook.dedup_window, mode)
            .await
            .with_context(|| format!("opening the journal (DATABASE_URL) {}", settings.webhook.database.describe()))?;
        tracing::info!(journal = %journal.describe(), "journal open");
        // A Postgres journal may be shared: this instance leads (executes) only while it holds the leader lock.
        let leadership =
            journal.postgres().map(|store| Arc::new(crate::leader::Leadership::new(store.clone(), mode == Mode::Sim)));
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

        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        // GATEWAY_KEEPWARM_SECS: pings the gateway after quiet periods so the next alert finds its connection open;
        // ends on shutdown (or at once when off). Not critical: the app runs on without it.
        tracker.spawn(gateway.run_keep_warm(cancel.child_token()));
        match settings.gateway.keep_warm.as_secs() {
            0 => {
                tracing::info!("gateway keep-warm off (GATEWAY_KEEPWARM_SECS=0): an idle connection closes after 90 s")
            }
            secs => tracing::info!(every_secs = secs, "gateway keep-warm on: a Status/ping after each quiet period"),
        }
        // The hub's first connect waits for the warm-up's token (one login in flight at a time).
        let (quotes, market) = start_quotes(&settings, &gateway, &cancel, &tracker);
        metrics.register_live(crate::metrics::Live {
            tokens: gateway.tokens().clone(),
            market: quotes.market().clone(),
            gateway: gateway.clone(),
        });
        // KILL_SWITCH=true forces it on; otherwise the state the last `POST /kill` left in the journal.
        let saved = journal.state(crate::routes::kill::KILL_SWITCH_STATE).await.context("reading the kill switch")?;
        let kill_switch = settings.webhook.kill_switch || saved.as_deref() == Some("on");
        if kill_switch {
            tracing::warn!(saved = saved.as_deref().unwrap_or("never set"), "kill switch is on: entries are refused");
        }
        // ACCOUNT_LIMITS by id: resolved by the warm-up's account check, read by the guards.
        let account_limits = Arc::new(crate::accounts::LimitsById::default());
        let guards = Arc::new(Guards {
            kill_switch: AtomicBool::new(kill_switch),
            max_contracts: settings.webhook.max_contracts,
            account_limits: account_limits.clone(),
            dry_run: settings.webhook.dry_run,
            max_age: settings.webhook.max_alert_age,
            hours: crate::hours::Hours::new(settings.market.clone(), settings.hours.clone()),
        });
        if guards.dry_run {
            tracing::warn!("DRY_RUN: alerts are processed and journaled but no order is sent");
        }
        if settings.webhook.secret.is_none() {
            tracing::warn!("WEBHOOK_SECRET is not set: every webhook is refused (503)");
        }
        // Blocks of today's trading day (DAILY_LOSS_LIMIT, DAILY_PROFIT_TARGET) hold across a restart.
        let risk = crate::risk::DailyRisk::restore(
            settings.risk.clone(),
            settings.market.clone(),
            journal.clone(),
            metrics.clone(),
        )
        .await
        .context("reading the daily risk blocks")?
        .with_limits(Arc::new(LimitsAsRisk(account_limits.clone())));
        let risk = Arc::new(risk);
        // The executor gets no job before the warm-up finished: webhooks are refused (503 `not_ready`) until then.
        let (jobs, queue) = mpsc::channel(settings.webhook.queue_capacity);
        let books = start_books(&settings, &gateway, &metrics, &cancel, &tracker);
        let notify = crate::notify::Notifier::start(&settings.notify, metrics.clone(), &tracker, &cancel)?;
        tracker.spawn(crate::notify::outage::watch(
            crate::notify::outage::Watched {
                tokens: gateway.tokens().clone(),
                market: quotes.market().clone(),
                user: books.hub().clone(),
            },
            notify.clone(),
            settings.notify.outage_after,
            cancel.child_token(),
        ));
        books.attach_notifier(notify.clone());
        let (fills, writer) = crate::fills::Fills::new(journal.clone(), metrics.clone(), notify.clone());
        tracker.spawn(writer.run(cancel.child_token()));
        books.attach_fills(fills.clone());
        let executor = Executor::new(
            gateway.clone(),
            journal.clone(),
            quotes.clone(),
            guards.clone(),
            metrics.clone(),
            books.clone(),
            fills,
        )
        .with_breakeven(crate::executor::breakeven_watch::Watcher::new(
            jobs.clone(),
            journal.clone(),
            quotes.clone(),
            books.clone(),
            tracker.clone(),
            cancel.child_token(),
        ))
        // Each account's lane holds as many waiting alerts as the shared queue (`WEBHOOK_QUEUE_CAPACITY`).
        .with_lane_capacity(settings.webhook.queue_capacity)
        .with_risk(risk.clone())
        .with_notifier(notify.clone());
        // `drained` fires once the executor finished what it held: only then does a leader hand the lock over.
        let drained = CancellationToken::new();
        let executor = {
            let (drained, cancel) = (drained.clone(), cancel.child_token());
            tracker.spawn(async move {
                executor.run(queue, cancel).await;
                drained.cancel();
            })
        };
        let leader = match &leadership {
            Some(l) => tracker.spawn(l.clone().run(cancel.child_token(), drained)),
            None => {
                let stop = cancel.child_token();
                tracker.spawn(async move {
                    stop.cancelled().await;
                    Ok(())
                })
            }
        };
        let monitor = crate::risk::monitor::Monitor {
            risk: risk.clone(),
            books: books.clone(),
            quotes: quotes.clone(),
            jobs: jobs.clone(),
            notify: notify.clone(),
        };
        tracker.spawn(monitor.run(cancel.child_token()));
        let webhook = Arc::new(WebhookState {
            secret: settings.webhook.secret.clone(),
            ip_allowlist: settings.webhook.ip_allowlist,
            wait: settings.webhook.wait,
            duplicate_window: settings.webhook.duplicate_window,
            journal: journal.clone(),
            jobs,
            guards,
            accounts: Arc::new(
                Accounts::new(gateway.clone(), settings.webhook.account.clone())
                    .with_settings(settings.accounts.clone(), account_limits),
            ),
        });

        let addr = SocketAddr::new(settings.http.host, settings.http.port);
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let warm = Arc::new(if leadership.is_some() { Warmup::standby() } else { Warmup::new() });
        let refresher =
            tracker.spawn(crate::warmup::refresher(gateway.tokens().clone(), warm.subscribe(), cancel.child_token()));
        let steps = crate::warmup::Steps {
            gateway: gateway.clone(),
            quotes: quotes.clone(),
            journal,
            accounts: webhook.accounts.clone(),
            books: books.clone(),
            quote_symbols: settings.feed.quote_symbols.clone(),
            allowed_symbols: settings.webhook.allowed_symbols.clone(),
            leadership: leadership.clone(),
        };
        let warmup = tracker.spawn(crate::warmup::run(warm.clone(), steps, tracker.clone(), cancel.child_token()));
        crate::flat_by::spawn(
            webhook.guards.hours.clone(),
            webhook.jobs.clone(),
            books.clone(),
            &warm,
            &tracker,
            cancel.child_token(),
        );
        let state = AppState {
            mode,
            gateway,
            quotes,
            webhook,
            metrics,
            books,
            risk,
            notify,
            warmup: warm.clone(),
            leadership,
            dashboard: Arc::new(crate::access::Access::new(settings.http.dashboard_password.clone(), mode)),
            shutdown: cancel.clone(),
            started: tokio::time::Instant::now(),
        };
        if state.leadership.is_some() {
            // The leader takes queued alerts (journaled by standbys, or here before it was ready) once warmed up.
            let (state, cancel, mut stage) = (state.clone(), cancel.child_token(), warm.subscribe());
            tracker.spawn(async move {
                if stage.wait_for(|s| *s == crate::warmup::Stage::Ready).await.is_ok() {
                    crate::routes::queued::run_queue(state, cancel).await;
                }
            });
        }
        let grace = settings.http.shutdown_grace;
        Ok(Self { listener, state, grace, warmup, refresher, market, executor, leader, cancel, tracker, sim })
    }

    /// The bound address (the real port when `PORT=0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound TCP listener has an address")
    }

    /// The shared state (the gateway client and the warm-up's progress, for tests and commands).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs `task` with the app's other tasks: stopping waits for it (within the grace period), so it must end when
    /// [`AppState::shutdown`] fires (`pxrelay execute`'s link to the relay).
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        self.tracker.spawn(task);
    }

    /// The simulator in sim mode.
    pub fn sim(&self) -> Option<&projectx_sim::SimHandle> {
        self.sim.as_ref()
    }

    /// Serves until SIGTERM/SIGINT.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(crate::shutdown::signal()).await
    }

    /// Serves until `stop` completes, a critical task ends or the warm-up fails (its error is returned as it is:
    /// the process exits with it); then stops within the grace period. While the executor drains, the listener
    /// still accepts, so a late webhook is answered 503 `shutting_down` rather than refused at the TCP level; the
    /// listener closes once every other task has ended, or when the grace period is over.
    pub async fn run_until(self, stop: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self { listener, state, grace, warmup, refresher, market, executor, leader, cancel, tracker, sim } = self;
        tracing::info!(addr = %listener.local_addr()?, mode = state.mode.as_str(), "pxrelay listening");
        let router = crate::routes::router(state);
        let (http_stop, http_tracker) = (CancellationToken::new(), TaskTracker::new());
        let http = http_tracker.spawn(
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(http_stop.clone().cancelled_owned())
                .into_future(),
        );
        http_tracker.close();
        tracker.close();
        let outcome = supervise(stop, Critical { warmup, refresher, market, executor, leader, http }).await;
        tracing::info!(grace_ms = grace.as_millis() as u64, "stopping: no new alerts; finishing those in flight");
        cancel.cancel();
        let drain = async {
            tracker.wait().await;
            http_stop.cancel();
            http_tracker.wait().await;
        };
        if tokio::time::timeout(grace, drain).await.is_err() {
            http_stop.cancel();
            tracing::warn!(grace_ms = grace.as_millis() as u64, "tasks still running after the grace period");
        }
        if let Some(sim) = sim {
            sim.shutdown();
        }
        tracing::info!("pxrelay stopped");
        outcome
    }
}

/// The tasks whose end stops the process.
struct Critical {
    warmup: JoinHandle<anyhow::Result<()>>,
    refresher: JoinHandle<()>,
    market: JoinHandle<()>,
    executor: JoinHandle<()>,
    leader: JoinHandle<anyhow::Result<()>>,
    http: JoinHandle<std::io::Result<()>>,
}

/// Waits for `stop`, a critical task ending, or the warm-up failing; the warm-up finishing well is not an end.
/// A warm-up error is returned as it is, so the process exits with the message a failed start always printed.
async fn supervise(stop: impl Future<Output = ()>, tasks: Critical) -> anyhow::Result<()> {
    let Critical { mut warmup, mut refresher, mut market, mut executor, mut leader, mut http } = tasks;
    tokio::pin!(stop);
    let mut warming = true;
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            r = &mut warmup, if warming => match r {
                Ok(Ok(())) => warming = false,
                Ok(Err(e)) => return Err(e),
                Err(e) => return exited("warm-up", Err(e)),
            },
            r = &mut refresher => return exited("token refresher", r.map(Ok)),
            r = &mut market => return exited("market hub", r.map(Ok)),
            r = &mut executor => return exited("order executor", r.map(Ok)),
            r = &mut leader => return exited("leader lock", r),
            r = &mut http => return exited("http server", r.map(|r| r.map_err(anyhow::Error::from))),
        }
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

/// Starts the user hub (it connects once an account is watched; `USER_HUB_LOGOUT_PAUSE_SECS` is its logout pause),
/// the task that feeds the account books from it and the one that logs its re-login pauses ([`crate::logout`]), all
/// on `tracker` and stopped by `cancel`.
pub fn start_books(
    settings: &Settings,
    gateway: &projectx::Client,
    metrics: &Arc<crate::metrics::Metrics>,
    cancel: &CancellationToken,
    tracker: &TaskTracker,
) -> Arc<crate::books::Books> {
    let mut cfg = projectx::UserConfig::new(settings.gateway.user_hub_url.clone());
    cfg.logout_pause = settings.gateway.logout_pause;
    let (hub, task) = projectx::UserHub::start(cfg, gateway.tokens().clone(), cancel.child_token());
    tracker.spawn(async move {
        let _ = task.await;
    });
    tracker.spawn(crate::logout::watch(hub.clone(), cancel.child_token()));
    let books = crate::books::Books::new(
        hub,
        gateway.clone(),
        settings.webhook.cancel_on_flat,
        metrics.clone(),
        settings.market.clone(),
    );
    tracker.spawn(books.clone().run(cancel.child_token(), tracker.clone()));
    books
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
    cfg.keep_warm = g.keep_warm;
    cfg
}

/// `ACCOUNT_LIMITS` (by id, filled by the warm-up's account check) as the daily risk's per-account overrides.
#[derive(Debug)]
struct LimitsAsRisk(Arc<crate::accounts::LimitsById>);

impl crate::risk::RiskOverrides for LimitsAsRisk {
    fn for_account(&self, account: projectx::AccountId) -> crate::risk::AccountRisk {
        let own = self.0.get(account);
        crate::risk::AccountRisk {
            loss_limit: own.daily_loss_limit,
            profit_target: own.daily_profit_target,
            action: own.daily_loss_action.map(|a| match a {
                crate::config::DailyLossAction::Flatten => crate::risk::BreachAction::Flatten,
                crate::config::DailyLossAction::Block => crate::risk::BreachAction::Block,
            }),
        }
    }

    fn any_daily_limit(&self) -> bool {
        self.0.any(|l| l.daily_loss_limit.is_some() || l.daily_profit_target.is_some())
    }
}
