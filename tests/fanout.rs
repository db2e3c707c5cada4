//! One alert, many accounts (issue 13): a group with multipliers trades each account its own size, an exit to the
//! group leaves every account flat with no legs, an account the gateway refuses makes the answer `partial` naming
//! it, ten accounts are placed in overlapping calls, a duplicate returns the original per-account outcomes, and
//! `/alerts/{id}` shows each account's row.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{Scope, SimConfig, SimHandle};
use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, start_sim};
use rust_decimal::Decimal;
use serde_json::{Value, json};

async fn sim_with(accounts: u16) -> SimHandle {
    let sim = start_sim(SimConfig::default().with_paper_accounts(accounts)).await;
    sim.set_quotes_per_second(0);
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    sim
}

/// The signed MNQ position of `account` at the simulator.
fn position(sim: &SimHandle, account: i32) -> i64 {
    sim.positions()
        .iter()
        .filter(|p| p.contract_id == MNQ && p.account_id == account)
        .map(|p| if p.position_type == 2 { -i64::from(p.size) } else { i64::from(p.size) })
        .sum()
}

fn working(sim: &SimHandle) -> usize {
    sim.orders().iter().filter(|o| o.status == 1).count()
}

/// Each account's part of an answer, by account id: (status, message).
fn parts(answer: &Value) -> Vec<(i64, String, String)> {
    answer["accounts"]
        .as_array()
        .unwrap_or_else(|| panic!("accounts: {answer}"))
        .iter()
        .map(|a| {
            (
                a["account_id"].as_i64().unwrap(),
                a["status"].as_str().unwrap().to_owned(),
                a["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// Polls until `check` holds (5 s deadline).
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_group_with_multipliers_trades_each_account_its_size_and_an_exit_leaves_all_flat_without_legs() {
    let sim = sim_with(3).await;
    let groups = "trio=9001*1,SIM-PAPER-2*2,9003";
    let app = app_on(&sim, &[("ACCOUNT_GROUPS", groups), ("MAX_CONTRACTS", "5")]).await;
    let (code, answer) = app
        .alert(alert(json!({
            "action": "buy", "account": "trio", "id": "g-1", "stop_loss_ticks": 40, "take_profit_ticks": 80,
        })))
        .await;
    assert_eq!((code, &answer["status"]), (200, &json!("placed")), "{answer}");
    assert_eq!(answer["alert_id"], "g-1", "{answer}");
    let statuses: Vec<(i64, String)> = parts(&answer).into_iter().map(|(a, s, _)| (a, s)).collect();
    assert_eq!(statuses, [9001, 9002, 9003].map(|a| (a, "placed".to_owned())), "{answer}");
    assert_eq!([position(&sim, 9001), position(&sim, 9002), position(&sim, 9003)], [1, 2, 1]);
    until("each account's two legs work", || working(&sim) == 6).await;

    let (code, answer) = app.alert(alert(json!({"action": "exit", "account": "trio", "id": "g-2"}))).await;
    assert_eq!((code, &answer["status"]), (200, &json!("closed")), "{answer}");
    assert_eq!([position(&sim, 9001), position(&sim, 9002), position(&sim, 9003)], [0, 0, 0]);
    until("no leg is left working on any account", || working(&sim) == 0).await;

    // The journal: the parent lists each account's row, each with its own orders and timeline.
    let (_, row) = app.get_json(&format!("/alerts/g-1?secret={SECRET}")).await;
    assert_eq!(row["status"], "placed", "{row}");
    let accounts = row["accounts"].as_array().unwrap();
    assert_eq!(accounts.len(), 3, "{row}");
    for (child, account) in accounts.iter().zip([9001, 9002, 9003]) {
        assert_eq!(child["alert_id"], format!("g-1@{account}"), "{child}");
        assert_eq!(child["account_id"], account, "{child}");
        assert_eq!(child["status"], "placed", "{child}");
        assert_eq!(child["orders"].as_array().unwrap().len(), 1, "{child}");
    }
    let (_, list) = app.get_json(&format!("/alerts?secret={SECRET}")).await;
    let ids: Vec<&str> = list["alerts"].as_array().unwrap().iter().filter_map(|a| a["alert_id"].as_str()).collect();
    assert!(
        ids.contains(&"g-1") && !ids.iter().any(|id| id.contains('@')),
        "children are listed under their parent: {ids:?}"
    );
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_account_the_gateway_refuses_makes_the_answer_partial_and_names_it() {
    let sim = sim_with(3).await;
    let app = app_on(&sim, &[("ACCOUNT_GROUPS", "trio=9001,9002,9003")]).await;
    // Blocked at the firm after startup: the gateway refuses its orders.
    assert!(sim.set_can_trade(9002, false));
    let (code, answer) = app.alert(alert(json!({"action": "buy", "account": "trio", "id": "p-1"}))).await;
    assert_eq!((code, &answer["status"]), (200, &json!("partial")), "{answer}");
    let parts = parts(&answer);
    assert_eq!(
        parts.iter().map(|(a, s, _)| (*a, s.as_str())).collect::<Vec<_>>(),
        [(9001, "placed"), (9002, "rejected"), (9003, "placed")]
    );
    let message = answer["message"].as_str().unwrap();
    assert!(message.contains("SIM-PAPER-2 (9002)"), "the answer names the failing account: {message}");
    assert!(parts[1].2.contains("AccountRejected") || parts[1].2.contains("rejected"), "and why: {answer}");
    assert_eq!([position(&sim, 9001), position(&sim, 9002), position(&sim, 9003)], [1, 0, 1]);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_fan_out_to_ten_accounts_places_in_overlapping_calls_and_a_duplicate_sends_nothing() {
    let sim = sim_with(10).await;
    let members: Vec<String> = (9001..=9010).map(|a| a.to_string()).collect();
    let groups = format!("ten={}", members.join(","));
    let app = app_on(&sim, &[("ACCOUNT_GROUPS", groups.as_str())]).await;
    // Every account's book watched and live first (startup watches configured accounts), then 150 ms per place.
    until_live(&app, 10).await;
    sim.set_latency_for(Scope::Path("/api/Order/place".into()), Duration::from_millis(150));
    let started = tokio::time::Instant::now();
    let (code, answer) = app.alert(alert(json!({"action": "buy", "account": "ten", "id": "t-1"}))).await;
    let took = started.elapsed();
    assert_eq!((code, &answer["status"]), (200, &json!("placed")), "{answer}");
    assert_eq!(parts(&answer).len(), 10, "{answer}");
    // Concurrent: the ten orders reached the gateway within one place's latency of each other.
    let created: Vec<_> = sim.orders().iter().map(|o| o.created).collect();
    assert_eq!(created.len(), 10);
    let spread = *created.iter().max().unwrap() - *created.iter().min().unwrap();
    assert!(
        spread < chrono::TimeDelta::milliseconds(150),
        "the calls overlapped: spread {spread}, answered in {took:?}"
    );

    // The same alert id again: the original per-account outcomes, nothing sent.
    let (code, again) = app.alert(alert(json!({"action": "buy", "account": "ten", "id": "t-1"}))).await;
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["duplicate"], true, "{again}");
    assert_eq!(again["accounts"], answer["accounts"], "{again}");
    assert_eq!(sim.orders().len(), 10, "no new order");
    app.stop().await.unwrap();
}

/// Waits until `n` account books are live (5 s deadline).
async fn until_live(app: &TestApp, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = app.get_json("/status").await;
        let live = status["accounts"].as_array().map_or(0, |a| a.iter().filter(|a| a["live"] == true).count());
        if live >= n {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{live} of {n} books live: {status}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
