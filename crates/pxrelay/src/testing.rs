//! Unit-test support: settings and a gateway client pointed at an in-process simulator, for tests of modules that
//! talk to the gateway (accounts, quotes) without starting the whole app.

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
