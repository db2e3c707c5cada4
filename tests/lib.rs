//! Shared helpers for the end-to-end tests: a simulator, settings pointed at it (no process environment is read
//! or changed), and an in-process pxrelay serving on 127.0.0.1 with port 0.

use std::collections::HashMap;
use std::net::SocketAddr;

use projectx_sim::{Sim, SimConfig, SimHandle};
use pxrelay::config::Settings;
use pxrelay::startup::App;
use pxrelay::state::Mode;
use pxrelay::warmup::Stage;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running pxrelay and the simulator it talks to.
#[derive(Debug)]
pub struct TestApp {
    /// Where pxrelay listens.
    pub addr: SocketAddr,
    /// The gateway simulator.
    pub sim: SimHandle,
    /// The gateway client pxrelay uses (to look at its token state).
    pub gateway: projectx::Client,
    /// An HTTP client for requests to pxrelay.
    pub http: reqwest::Client,
    /// How far pxrelay's warm-up (the startup steps that need the gateway) is.
    pub warmup: std::sync::Arc<pxrelay::warmup::Warmup>,
    /// The account books (user hub), to compare with the gateway.
    pub books: std::sync::Arc<pxrelay::books::Books>,
    /// The journal (to see what reached the disk, issue 17).
    pub journal: pxrelay::journal::Journal,
    stop: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

/// The webhook secret the webhook tests configure.
pub const SECRET: &str = "tv-secret-5b1f";
/// The simulator's fixed front-month MNQ contract (`SimConfig::default()`).
pub const MNQ: &str = "CON.F.US.MNQ.Z25";

/// A default simulator whose quote ticker is off (order tests need no quotes, and quiet logs).
pub async fn quiet_sim() -> SimHandle {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(0);
    sim
}

/// pxrelay against `sim` with [`SECRET`] and the `extra` variables.
pub async fn app_on(sim: &SimHandle, extra: &[(&str, &str)]) -> TestApp {
    let mut env = env_for(sim);
    env.insert("WEBHOOK_SECRET".into(), SECRET.into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    spawn_app(sim.clone(), env).await.expect("pxrelay starts")
}

/// pxrelay against `sim` with [`SECRET`] and the `extra` variables, its market clock reading `clock` (time rules:
/// `MARKET_HOURS`, `FLAT_BY`, `TRADING_WINDOWS`; the env sets `MARKET_HOURS=always` unless `extra` says otherwise).
pub async fn app_at(sim: &SimHandle, extra: &[(&str, &str)], clock: &TestClock) -> TestApp {
    let mut env = env_for(sim);
    env.insert("WEBHOOK_SECRET".into(), SECRET.into());
    for (k, v) in extra {
        env.insert((*k).into(), (*v).into());
    }
    let now = clock.now_fn();
    spawn_app_with(sim.clone(), env, move |s| s.market = s.market.clone().with_now(now)).await.expect("pxrelay starts")
}

/// pxrelay against `sim` with [`SECRET`] and the `extra` variables, its market time on `clock` (same as [`app_at`]).
pub async fn app_on_clock(sim: &SimHandle, extra: &[(&str, &str)], clock: &TestClock) -> TestApp {
    app_at(sim, extra, clock).await
}

/// A settable clock for pxrelay's market time ([`pxrelay::market_time::MarketClock::with_now`]): the system time
/// plus an offset the test moves, so a test jumps to 15:08 Chicago time without waiting, and the simulator's fills
/// (stamped with the system time) fall in the trading day the clock is in until the test moves it to another one.
#[derive(Clone, Debug, Default)]
pub struct TestClock {
    offset: std::sync::Arc<std::sync::Mutex<chrono::TimeDelta>>,
}

impl TestClock {
    /// A clock that reads `rfc3339` now (e.g. `2026-12-01T22:30:00Z`, Tuesday 16:30 in Chicago) and runs on.
    pub fn at(rfc3339: &str) -> Self {
        let clock = Self::default();
        clock.set(rfc3339);
        clock
    }

    /// The clock's current instant.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        chrono::Utc::now() + *self.offset.lock().expect("the clock's lock is never poisoned")
    }

    /// Moves the clock so that it reads `rfc3339` now.
    pub fn set(&self, rfc3339: &str) {
        self.set_to(rfc3339.parse().expect("an RFC 3339 instant"));
    }

    /// Moves the clock so that it reads `at` now (and runs on from there).
    pub fn set_to(&self, at: chrono::DateTime<chrono::Utc>) {
        *self.offset.lock().expect("the clock's lock is never poisoned") = at - chrono::Utc::now();
    }

    /// The time source for `MarketClock::with_now`.
    pub fn now_fn(&self) -> pxrelay::market_time::Now {
        let clock = self.clone();
        std::sync::Arc::new(move || clock.now())
    }
}

/// The signed MNQ position at the simulator (long > 0).
pub fn mnq_position(sim: &SimHandle) -> i64 {
    sim.positions()
        .iter()
        .filter(|p| p.contract_id == MNQ)
        .map(|p| if p.position_type == 2 { -i64::from(p.size) } else { i64::from(p.size) })
        .sum()
}

/// An MNQ alert with [`SECRET`] and `fields`.
pub fn alert(fields: serde_json::Value) -> serde_json::Value {
    let mut body = serde_json::json!({"secret": SECRET, "symbol": "MNQ"});
    for (k, v) in fields.as_object().expect("an object of fields") {
        body[k] = v.clone();
    }
    body
}

/// Starts a simulator with `cfg`.
pub async fn start_sim(cfg: SimConfig) -> SimHandle {
    Sim::start(cfg).await.expect("simulator starts")
}

/// Environment variables that point pxrelay at `sim` with its credentials, on 127.0.0.1:0.
pub fn env_for(sim: &SimHandle) -> HashMap<String, String> {
    [
        ("PROJECT_X_API_URL", sim.base_url()),
        ("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url()),
        ("PROJECT_X_USER_HUB_URL", sim.user_hub_url()),
        ("PROJECT_X_USERNAME", sim.username().to_owned()),
        ("PROJECT_X_API_KEY", sim.api_key().to_owned()),
        ("HOST", "127.0.0.1".to_owned()),
        ("DATABASE_URL", temp_journal().display().to_string()),
        ("PORT", "0".to_owned()),
        // Live mode against the simulator, whose market never closes: no CME hours unless a test asks for them
        // (a weekend run would refuse every entry).
        ("MARKET_HOURS", "always".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A gateway client of its own on `sim`'s credentials: orders placed through it are "elsewhere" (the trader in the
/// platform), not pxrelay's.
pub fn other_client(sim: &SimHandle) -> projectx::Client {
    let mut cfg = projectx::ClientConfig::new(sim.base_url().parse().expect("the sim's URL"));
    cfg.token.credentials =
        Some(projectx::Credentials { username: sim.username().to_owned(), api_key: sim.api_key().to_owned().into() });
    projectx::Client::new(cfg).expect("a gateway client")
}

/// A journal path in a fresh temporary directory (every app gets its own unless a test shares one on purpose).
pub fn temp_journal() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    std::env::temp_dir().join(format!("pxrelay-e2e-{}-{n}", std::process::id())).join("journal.db")
}

/// Builds and serves pxrelay in live mode against `sim` with `env`, and waits until its warm-up is done (webhooks
/// are accepted); a warm-up that fails (a refused login, an unknown symbol) is this call's error.
pub async fn spawn_app(sim: SimHandle, env: HashMap<String, String>) -> anyhow::Result<TestApp> {
    spawn_app_with(sim, env, |_| {}).await
}

/// [`spawn_app`], with the loaded settings changed by `adjust` before the app is built.
pub async fn spawn_app_with(
    sim: SimHandle,
    env: HashMap<String, String>,
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let mut app = start_app_with(sim, env, adjust).await?;
    let mut stage = app.warmup.subscribe();
    let stopped = tokio::select! {
        r = stage.wait_for(|s| *s == Stage::Ready) => {
            r.map_err(|_| anyhow::anyhow!("the warm-up's state was dropped"))?;
            None
        }
        r = &mut app.task => Some(r),
    };
    match stopped {
        None => Ok(app),
        Some(ended) => Err(ended?.err().unwrap_or_else(|| anyhow::anyhow!("pxrelay stopped during its warm-up"))),
    }
}

/// Builds and serves pxrelay in live mode against `sim` with `env`; returns as soon as it listens, before the
/// warm-up (the first token and what follows it) is done.
pub async fn start_app(sim: SimHandle, env: HashMap<String, String>) -> anyhow::Result<TestApp> {
    start_app_with(sim, env, |_| {}).await
}

/// [`start_app`], with the loaded settings changed by `adjust` before the app is built (e.g. a test clock).
pub async fn start_app_with(
    sim: SimHandle,
    env: HashMap<String, String>,
    adjust: impl FnOnce(&mut Settings),
) -> anyhow::Result<TestApp> {
    let mut settings = Settings::load(None, &env)?;
    adjust(&mut settings);
    let app = App::build(settings, Mode::Live).await?;
    let addr = app.local_addr();
    let gateway = app.state().gateway.clone();
    let warmup = app.state().warmup.clone();
    let books = app.state().books.clone();
    let journal = app.state().webhook.journal.clone();
    let stop = CancellationToken::new();
    let task = tokio::spawn(app.run_until(stop.clone().cancelled_owned()));
    projectx::tls::install_crypto_provider();
    Ok(TestApp { addr, sim, gateway, http: reqwest::Client::new(), warmup, books, journal, stop, task })
}

impl TestApp {
    /// GET `path` and parse the JSON answer.
    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let resp = self.http.get(format!("http://{}{path}", self.addr)).send().await.expect("pxrelay answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.expect("a JSON body"))
    }

    /// POSTs `body` to `path` (e.g. `/webhook`) as `content_type`; returns the status and the JSON answer.
    pub async fn post(&self, path: &str, content_type: &str, body: &str) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("http://{}{path}", self.addr))
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .await
            .expect("pxrelay answers");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// POSTs a JSON alert to `/webhook`.
    pub async fn alert(&self, body: serde_json::Value) -> (u16, serde_json::Value) {
        self.post("/webhook", "application/json", &body.to_string()).await
    }

    /// Stops the app and returns how its run ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.task.await?
    }
}
