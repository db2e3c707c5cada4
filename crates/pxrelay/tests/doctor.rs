//! `pxrelay doctor`, the real binary against a simulator started here: a healthy setup passes (exit 0), a refused
//! API key or an unknown symbol fails (exit 1) naming what to fix, `--json` is redacted (no key, no token, no
//! balance unless `--include-balances`), a working order with no position is reported as a possible orphan, and no
//! money-moving endpoint is ever called.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::process::{Command, Output};

use projectx_sim::{Sim, SimConfig, SimHandle};

const API_KEY: &str = "APIKEY-doctor-sentinel-5c1e";
const WEBHOOK_SECRET: &str = "WHSECRET-doctor-sentinel-93ab";
/// The endpoints that move money: the doctor must never call them.
const MONEY: [&str; 4] = ["/api/Order/place", "/api/Order/cancel", "/api/Order/modify", "/api/Position/closeContract"];

/// A simulator quoting today's contracts (so the front month is not about to expire).
async fn sim() -> SimHandle {
    Sim::start(SimConfig { api_key: API_KEY.into(), ..SimConfig::today() }).await.unwrap()
}

/// `pxrelay doctor ARGS` with a clean environment pointing at `sim`, plus `extra` variables.
fn doctor(sim: &SimHandle, args: &[&str], extra: &[(&str, &str)]) -> (Output, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pxrelay"));
    cmd.env_clear()
        .current_dir(env!("CARGO_TARGET_TMPDIR"))
        .arg("doctor")
        .args(args)
        .env("PROJECT_X_API_URL", sim.base_url())
        .env("PROJECT_X_MARKET_HUB_URL", sim.market_hub_url())
        .env("PROJECT_X_USER_HUB_URL", sim.user_hub_url())
        .env("PROJECT_X_USERNAME", sim.username())
        .env("PROJECT_X_API_KEY", API_KEY)
        .env("WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("QUOTE_SYMBOLS", "MNQ")
        .env("ALLOWED_SYMBOLS", "MNQ,ES");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out, all)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn assert_nothing_moved(sim: &SimHandle) {
    for path in MONEY {
        assert_eq!(sim.counters().calls(path), 0, "{path} was called");
    }
}

/// The sim account's balance as the gateway reports it (e.g. `50000`).
fn balance(sim: &SimHandle) -> String {
    sim.accounts()[0].balance.normalize().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_healthy_sim_passes_every_check_and_exits_zero_without_moving_money() {
    let sim = sim().await;
    let (out, all) = doctor(&sim, &[], &[]);
    assert!(out.status.success(), "{all}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    for check in
        ["session", "accounts", "symbol MNQ", "symbol ES", "market hub", "user hub", "clock skew", "rate budget"]
    {
        let line = lines
            .iter()
            .find(|l| l[6..].starts_with(&format!("{check}:")))
            .unwrap_or_else(|| panic!("{check}: {text}"));
        assert!(line.starts_with("PASS  "), "{line}");
    }
    assert!(lines.iter().all(|l| l.starts_with("PASS  ") || l.starts_with("WARN  ")), "{text}");
    assert!(text.contains("alerts without `account` use SIM-PAPER-1 (9001)"), "{text}");
    assert!(text.contains("CON.F.US.MNQ.Z") && text.contains("tick 0.25 = $0.5"), "{text}");
    assert!(!all.contains(API_KEY) && !all.contains("eyJ") && !all.contains(WEBHOOK_SECRET), "{all}");
    assert!(!text.contains(&balance(&sim)), "balance shown without --include-balances: {text}");
    assert_nothing_moved(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_api_key_fails_the_session_and_exits_one() {
    let sim = sim().await;
    let (out, all) = doctor(&sim, &[], &[("PROJECT_X_API_KEY", "wrong-key-sentinel")]);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let text = stdout(&out);
    let session = text.lines().find(|l| l.contains("session:")).unwrap();
    assert!(session.starts_with("FAIL  session:") && session.contains("PROJECT_X_API_KEY"), "{session}");
    assert!(!all.contains("wrong-key-sentinel"), "{all}");
    assert_nothing_moved(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_allowed_symbol_fails_naming_it() {
    let sim = sim().await;
    let (out, all) = doctor(&sim, &[], &[("ALLOWED_SYMBOLS", "MNQ,MNX")]);
    assert_eq!(out.status.code(), Some(1), "{all}");
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("MNX")).unwrap_or_else(|| panic!("{text}"));
    assert!(line.starts_with("FAIL  symbol MNX:") && line.contains("ALLOWED_SYMBOLS"), "{line}");
    assert!(text.lines().any(|l| l.starts_with("PASS  symbol MNQ:")), "{text}");
    assert_nothing_moved(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn json_is_redacted_and_shows_balances_only_when_asked() {
    let sim = sim().await;
    let balance = balance(&sim);
    let (out, all) = doctor(&sim, &["--json"], &[]);
    assert!(out.status.success(), "{all}");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    let checks = report["checks"].as_array().unwrap();
    assert!(checks.len() >= 8, "{report}");
    for check in checks {
        assert!(["PASS", "WARN"].contains(&check["result"].as_str().unwrap()), "{check}");
        assert!(check["name"].is_string() && check["detail"].is_string() && check["advice"].is_string(), "{check}");
    }
    let json = stdout(&out);
    assert!(!all.contains(API_KEY) && !all.contains("eyJ") && !all.contains(WEBHOOK_SECRET), "{all}");
    assert!(!json.contains(&balance), "balance {balance} in {json}");

    let (out, all) = doctor(&sim, &["--json", "--include-balances"], &[]);
    assert!(out.status.success(), "{all}");
    let json = stdout(&out);
    assert!(json.contains(&format!("balance {balance}")), "balance {balance} missing from {json}");
    assert!(!all.contains(API_KEY) && !all.contains("eyJ"), "{all}");
    assert_nothing_moved(&sim);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_order_without_a_position_is_a_possible_orphan_leg() {
    let sim = sim().await;
    // The test itself places a resting limit order far below the market: a working order with no position.
    let client = projectx::Client::new({
        let mut cfg = projectx::ClientConfig::new(sim.base_url().parse().unwrap());
        cfg.token.credentials =
            Some(projectx::Credentials { username: sim.username().to_owned(), api_key: API_KEY.to_owned().into() });
        cfg
    })
    .unwrap();
    let contract =
        client.search_contracts("MNQ", false).await.unwrap().into_iter().find(|c| c.active_contract).unwrap();
    let order = projectx::PlaceOrder {
        account_id: projectx::AccountId::new(9001),
        contract_id: contract.id.clone(),
        order_type: projectx::OrderType::Limit,
        side: projectx::OrderSide::Bid,
        size: 1,
        limit_price: Some(rust_decimal::Decimal::new(1000, 0)),
        stop_price: None,
        trail_price: None,
        custom_tag: None,
        stop_loss_bracket: None,
        take_profit_bracket: None,
    };
    let id = client.place_order(&order).await.unwrap();
    let (out, all) = doctor(&sim, &[], &[]);
    assert!(out.status.success(), "a warning is not a failure: {all}");
    let text = stdout(&out);
    let line = text.lines().find(|l| l.contains("user hub:")).unwrap();
    assert!(line.starts_with("WARN  user hub:"), "{line}");
    assert!(line.contains(&format!("#{id}")) && line.contains("possible orphan"), "{line}");
    // Only the test's own order: the doctor placed, cancelled and modified nothing.
    assert_eq!(sim.counters().calls("/api/Order/place"), 1);
    for path in &MONEY[1..] {
        assert_eq!(sim.counters().calls(path), 0, "{path} was called");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_or_inactive_contract_is_a_warning_not_a_failure() {
    // The default simulator lists the December 2025 contracts: MNQ's front month expired on 2025-12-19, and
    // CON.F.US.MNQ.H26 is listed but not active yet.
    let sim = Sim::start(SimConfig { api_key: API_KEY.into(), ..SimConfig::default() }).await.unwrap();
    let (out, all) = doctor(&sim, &[], &[("ALLOWED_SYMBOLS", "MNQ,CON.F.US.MNQ.H26")]);
    assert!(out.status.success(), "{all}");
    let text = stdout(&out);
    let line = |prefix: &str| text.lines().find(|l| l.contains(prefix)).unwrap_or_else(|| panic!("{prefix}: {text}"));
    let mnq = line("symbol MNQ:");
    assert!(mnq.starts_with("WARN  ") && mnq.contains("CON.F.US.MNQ.Z25") && mnq.contains("expired"), "{mnq}");
    let h26 = line("symbol CON.F.US.MNQ.H26:");
    assert!(h26.starts_with("WARN  ") && h26.contains("not yet the active contract (CON.F.US.MNQ.Z25)"), "{h26}");
    assert_nothing_moved(&sim);
}
