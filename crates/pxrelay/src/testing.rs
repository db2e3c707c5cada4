//! Unit-test support: settings and a gateway client pointed at an in-process simulator, for tests of modules that
//! talk to the gateway (accounts, quotes) without starting the whole app, and an [`AppState`](crate::state::AppState)
//! for router tests.

use std::collections::HashMap;

use projectx_sim::{Sim, SimConfig, SimHandle};

use crate::config::Settings;

/// A simulator with default contracts and accounts, settings pointed at it (plus `extra` variables), and a
/// gateway client built from those settings.
pub(crate) async fn sim_gateway(extra: &[(&str, &str)]) -> (SimHandle, Settings, projectx::Client) {
    let sim = Sim::start(SimConfig::default()).await.expect("simulator starts");
    let mut env: HashMap<String, String> = [
        ("PROJECT_X_API_URL", sim.base_url()),
        ("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url()),
        ("PROJECT_X_USER_HUB_URL", sim.user_hub_url()),
        ("PROJECT_X_USERNAME", sim.username().to_owned()),
        ("PROJECT_X_API_KEY", sim.api_key().to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::load(None, &env).expect("valid test settings");
    let gateway = projectx::Client::new(crate::startup::client_config(&settings.gateway)).expect("client builds");
    (sim, settings, gateway)
}

/// State pointing at a closed port (nothing answers, which `/health` and `/status` must not mind), with a journal
/// in a fresh temporary directory. For router tests.
pub(crate) fn test_state(mode: crate::state::Mode) -> crate::state::AppState {
    use std::sync::atomic::AtomicBool;

    let env =
        [("PROJECT_X_API_URL", "http://127.0.0.1:9"), ("PROJECT_X_MARKET_HUB_URL", "http://127.0.0.1:9/hubs/market")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
    let settings = crate::config::Settings::load(None, &env).expect("defaults are valid");
    let gateway = projectx::Client::new(crate::startup::client_config(&settings.gateway)).expect("client builds");
    let cancel = tokio_util::sync::CancellationToken::new();
    let tracker = tokio_util::task::TaskTracker::new();
    let (quotes, _) = crate::startup::start_quotes(&settings, &gateway, &cancel, &tracker);
    let dir = std::env::temp_dir().join(format!("pxrelay-state-{}-{}", std::process::id(), next_test_dir()));
    let journal =
        crate::journal::Journal::open(&dir.join("j.db"), std::time::Duration::from_secs(60), mode).expect("journal");
    let guards = std::sync::Arc::new(crate::executor::Guards {
        kill_switch: AtomicBool::new(false),
        max_contracts: 1,
        account_limits: std::sync::Arc::new(crate::executor::NoCaps),
        dry_run: true,
        max_age: std::time::Duration::from_secs(30),
        hours: crate::hours::Hours::new(
            settings.market.clone(),
            crate::hours::HoursRules { venue: crate::hours::Venue::Always, ..settings.hours.clone() },
        ),
    });
    let (jobs, _) = tokio::sync::mpsc::channel(1);
    let webhook = std::sync::Arc::new(crate::state::WebhookState {
        secret: None,
        ip_allowlist: false,
        wait: std::time::Duration::from_millis(10),
        duplicate_window: std::time::Duration::from_secs(10),
        journal,
        jobs,
        guards,
        accounts: std::sync::Arc::new(crate::accounts::Accounts::new(gateway.clone(), None)),
    });
    let metrics = crate::metrics::Metrics::new();
    let books = crate::startup::start_books(&settings, &gateway, &metrics, &cancel, &tracker);
    let risk = std::sync::Arc::new(crate::risk::DailyRisk::new(
        settings.risk.clone(),
        settings.market.clone(),
        webhook.journal.clone(),
        metrics.clone(),
    ));
    crate::state::AppState {
        mode,
        gateway,
        quotes,
        webhook,
        metrics,
        books,
        risk,
        notify: crate::notify::Notifier::disabled(),
        warmup: std::sync::Arc::new(crate::warmup::Warmup::finished(vec![])),
        leadership: None,
        dashboard: std::sync::Arc::new(crate::access::Access::new(None, mode)),
        shutdown: cancel,
        started: tokio::time::Instant::now(),
    }
}

fn next_test_dir() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}
