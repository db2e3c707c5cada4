//! Shared setup for the client tests: a simulator and a client pointed at it.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use projectx::backoff::Backoff;
use projectx::{Client, ClientConfig, Credentials, TokenSettings};
use projectx_sim::{Sim, SimConfig, SimHandle};
use secrecy::SecretString;

pub async fn sim() -> SimHandle {
    sim_with(SimConfig::default()).await
}

pub async fn sim_with(cfg: SimConfig) -> SimHandle {
    Sim::start(cfg).await.expect("simulator starts")
}

pub fn credentials(sim: &SimHandle) -> Credentials {
    Credentials { username: sim.username().to_owned(), api_key: SecretString::from(sim.api_key().to_owned()) }
}

/// Client settings for tests: short backoff so recovery is quick, the sim's URL.
pub fn config(sim: &SimHandle, credentials: Option<Credentials>, initial: Option<String>) -> ClientConfig {
    let mut cfg = ClientConfig::new(sim.base_url().parse().unwrap());
    cfg.request_timeout = Duration::from_secs(5);
    cfg.read_backoff = Backoff::try_new(Duration::from_millis(20), Duration::from_millis(200)).unwrap();
    cfg.token = TokenSettings {
        credentials,
        initial_token: initial.map(SecretString::from),
        backoff: Backoff::try_new(Duration::from_millis(100), Duration::from_secs(2)).unwrap(),
        ..TokenSettings::default()
    };
    cfg
}

pub fn client(cfg: ClientConfig) -> Client {
    Client::new(cfg).expect("client builds")
}

pub const ACCOUNT: projectx::AccountId = projectx::AccountId::new(9001);
