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

use crate::config::{GatewaySettings, Settings};
use crate::state::{AppState, Mode};

/// How long stopping may take before the process exits anyway (Railway kills 3 s after SIGTERM by default).
const GRACE: Duration = Duration::from_secs(2);

/// A built, not yet serving, application.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    refresher: JoinHandle<()>,
    cancel: CancellationToken,
    tracker: TaskTracker,
    /// Keeps the in-process simulator alive in sim mode.
    sim: Option<projectx_sim::SimHandle>,
}

impl App {
    /// Starts the simulator (sim mode), authenticates, binds the listener and starts the token refresher.
    pub async fn build(mut settings: Settings, mode: Mode) -> anyhow::Result<Self> {
        let sim = match mode {
            Mode::Sim => {
                let sim = projectx_sim::Sim::start(projectx_sim::SimConfig::default())
                    .await
                    .context("starting the in-process simulator")?;
                point_at_sim(&mut settings.gateway, &sim)?;
                tracing::warn!(
                    mode = "sim",
                    gateway = %sim.base_url(),
                    "SIM mode (paper trading): orders go to the in-process simulator, never to a broker"
                );
                Some(sim)
            }
            Mode::Live => {
                tracing::info!(mode = "live", gateway = %settings.gateway.api_url, "LIVE mode: orders go to the ProjectX gateway");
                None
            }
        };
        let gateway = projectx::Client::new(client_config(&settings.gateway)).context("building the gateway client")?;
        let token = gateway.tokens().ensure_valid_token().await.context("authenticating with the gateway")?;
        tracing::info!(
            token.source = ?token.source(),
            token.expires_at = %token.expires_at(),
            token.seconds_left = token.time_left().as_secs(),
            "session token ready"
        );

        let addr = SocketAddr::new(settings.http.host, settings.http.port);
        let listener = TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let refresher = tracker.spawn(gateway.tokens().clone().run_refresher(cancel.child_token()));
        let state = AppState { mode, gateway, started: tokio::time::Instant::now() };
        Ok(Self { listener, state, refresher, cancel, tracker, sim })
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
        let Self { listener, state, refresher, cancel, tracker, sim } = self;
        tracing::info!(addr = %listener.local_addr()?, mode = state.mode.as_str(), "pxrelay listening");
        let router = crate::routes::router(state);
        let http = tracker.spawn(
            axum::serve(listener, router).with_graceful_shutdown(cancel.clone().cancelled_owned()).into_future(),
        );
        tracker.close();
        let outcome = tokio::select! {
            () = stop => Ok(()),
            r = refresher => exited("token refresher", r.map(Ok)),
            r = http => exited("http server", r.map(|r| r.map_err(anyhow::Error::from))),
        };
        cancel.cancel();
        if tokio::time::timeout(GRACE, tracker.wait()).await.is_err() {
            tracing::warn!(grace_ms = GRACE.as_millis() as u64, "tasks still running after the grace period");
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

/// Sim mode: the simulator's URL and credentials replace whatever gateway settings were configured.
fn point_at_sim(gateway: &mut GatewaySettings, sim: &projectx_sim::SimHandle) -> anyhow::Result<()> {
    if gateway.username.is_some() || gateway.jwt_token.is_some() {
        tracing::warn!("sim mode ignores PROJECT_X_USERNAME, PROJECT_X_API_KEY and JWT_TOKEN");
    }
    gateway.api_url = sim.base_url().parse().context("simulator URL")?;
    gateway.username = Some(sim.username().to_owned());
    gateway.api_key = Some(sim.api_key().to_owned().into());
    gateway.jwt_token = None;
    Ok(())
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
