//! Configured accounts (`ACCOUNT_GROUPS`, `ACCOUNT_LIMITS`): an account the login does not have stops startup with
//! a configuration problem naming it (exit 78); every configured account is watched and listed on
//! `/status.accounts[]` with `can_trade` and its groups, an account that cannot trade included (it never stops the
//! relay); an account's own `max_contracts` replaces `MAX_CONTRACTS` for it alone.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::SimConfig;
use pxrelay_e2e::{TestApp, alert, app_on, env_for, spawn_app, start_sim};
use serde_json::{Value, json};

/// Four paper accounts, `SIM-PAPER-1` … `SIM-PAPER-4` (ids 9001 …), the fourth unable to trade.
async fn four_accounts() -> projectx_sim::SimHandle {
    let mut cfg = SimConfig::default().with_paper_accounts(4);
    cfg.accounts[3].can_trade = false;
    let sim = start_sim(cfg).await;
    sim.set_quotes_per_second(0);
    sim
}

/// Polls `/status` until its `accounts[]` holds `n` entries (5 s deadline), sorted by id.
async fn status_accounts(app: &TestApp, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        let mut accounts = status["accounts"].as_array().cloned().unwrap_or_default();
        if accounts.len() >= n {
            accounts.sort_by_key(|a| a["id"].as_i64());
            return accounts;
        }
        assert!(tokio::time::Instant::now() < deadline, "/status.accounts never had {n} entries: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn an_unknown_account_in_account_groups_stops_startup_with_a_configuration_problem_naming_it() {
    let sim = four_accounts().await;
    let mut env = env_for(&sim);
    env.insert("ACCOUNT_GROUPS".into(), "evals=SIM-PAPER-1,SIM-PAPER-9*2".into());
    let err = spawn_app(sim.clone(), env).await.unwrap_err();
    let config = err.downcast_ref::<pxrelay::config::ConfigError>().unwrap_or_else(|| panic!("not exit 78: {err:#}"));
    assert_eq!(config.problems.len(), 1, "{config}");
    let problem = &config.problems[0];
    assert!(
        problem.starts_with("ACCOUNT_GROUPS: account `SIM-PAPER-9` (group `evals`) is not an account of this login"),
        "{problem}"
    );
    assert!(problem.contains("SIM-PAPER-4 (9004, cannot trade)"), "lists what exists: {problem}");

    let mut env = env_for(&sim);
    env.insert("ACCOUNT_LIMITS".into(), "9999:max_contracts=1".into());
    let err = spawn_app(sim.clone(), env).await.unwrap_err();
    let config = err.downcast_ref::<pxrelay::config::ConfigError>().unwrap_or_else(|| panic!("not exit 78: {err:#}"));
    assert!(config.problems[0].starts_with("ACCOUNT_LIMITS: account `9999` is not"), "{config}");
}

#[tokio::test]
async fn status_lists_every_configured_account_with_can_trade_and_its_groups() {
    let sim = four_accounts().await;
    let app = app_on(
        &sim,
        &[
            ("ACCOUNT_GROUPS", "evals=SIM-PAPER-1*1,9002*2;funded=sim-paper-2,SIM-PAPER-4"),
            ("ACCOUNT_LIMITS", "SIM-PAPER-3:max_contracts=1"),
        ],
    )
    .await;
    let accounts = status_accounts(&app, 4).await;
    let shown: Vec<Value> = accounts.iter().map(|a| json!([a["id"], a["name"], a["can_trade"], a["groups"]])).collect();
    assert_eq!(
        shown,
        [
            json!([9001, "SIM-PAPER-1", true, ["evals"]]),
            json!([9002, "SIM-PAPER-2", true, ["evals", "funded"]]),
            json!([9003, "SIM-PAPER-3", true, []]),
            json!([9004, "SIM-PAPER-4", false, ["funded"]]),
        ],
        "an account that cannot trade is listed and does not stop the relay"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_accounts_own_max_contracts_replaces_the_global_one_for_that_account_only() {
    let sim = four_accounts().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10"), ("ACCOUNT_LIMITS", "SIM-PAPER-2:max_contracts=2")]).await;
    let (code, capped) =
        app.alert(alert(json!({"action": "buy", "quantity": 3, "account": "SIM-PAPER-2", "id": "cap-2"}))).await;
    assert_eq!((code, &capped["status"]), (200, &json!("rejected")), "{capped}");
    assert!(capped["message"].as_str().unwrap().contains("exceeds MAX_CONTRACTS 2"), "{capped}");
    let (code, placed) =
        app.alert(alert(json!({"action": "buy", "quantity": 3, "account": "SIM-PAPER-1", "id": "cap-1"}))).await;
    assert_eq!((code, &placed["status"]), (200, &json!("placed")), "{placed}");
    let sizes: Vec<(i32, i32)> = sim.positions().iter().map(|p| (p.account_id, p.size)).collect();
    assert_eq!(sizes, [(9001, 3)], "nothing was sent for SIM-PAPER-2");
    app.stop().await.unwrap();
}
