//! The executor reads positions from the live account book (user hub + REST snapshot), not `Position/searchOpen`;
//! with the user hub down it falls back to REST and says so in the outcome's path; `/status` shows the books.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, mnq_position, quiet_sim};
use rust_decimal::Decimal;
use serde_json::json;

const SEARCH_OPEN: &str = "/api/Position/searchOpen";

/// Polls `/status` until `check` holds for its first account (5 s deadline).
async fn status_until(app: &TestApp, what: &str, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if check(&status["accounts"][0]) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `/status.accounts[0].positions` as (contract, signed size) pairs.
fn book_positions(status: &serde_json::Value) -> Vec<(String, i64)> {
    status["accounts"][0]["positions"]
        .as_array()
        .expect("positions")
        .iter()
        .map(|p| (p["contract_id"].as_str().unwrap().to_owned(), p["size"].as_i64().unwrap()))
        .collect()
}

async fn path_of(app: &TestApp, id: &str) -> String {
    let (_, row) = app.get_json(&format!("/alerts/{id}?secret={SECRET}")).await;
    row["path"].as_str().unwrap_or_else(|| panic!("a path: {row}")).to_owned()
}

#[tokio::test]
async fn with_the_book_live_a_hundred_entries_read_no_position_over_rest() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "100")]).await;
    let status = status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    assert_eq!(status["user_hub"]["connected"], true, "{status}");
    let before = sim.counters().calls(SEARCH_OPEN);
    for i in 0..100 {
        let (action, quantity) = if i % 2 == 0 { ("buy", 2) } else { ("sell", 1) };
        let (code, body) =
            app.alert(alert(json!({"action": action, "quantity": quantity, "id": format!("e-{i}")}))).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], "placed", "{body}");
    }
    assert_eq!(sim.counters().calls(SEARCH_OPEN) - before, 0, "no position read over REST while the book is live");
    assert_eq!(mnq_position(&sim), 50);
    assert!(path_of(&app, "e-99").await.starts_with("position from the book"));
    let status = status_until(&app, "the book shows the sim's position", |a| {
        a["positions"].as_array().is_some_and(|p| p.len() == 1 && p[0]["size"] == 50)
    })
    .await;
    assert_eq!(book_positions(&status), vec![(MNQ.to_owned(), 50)]);
    assert_eq!(status["accounts"][0]["working_orders"], json!([]), "{status}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_user_hub_down_entries_execute_over_rest_and_say_so() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    sim.refuse_hub_connects_for(Duration::from_secs(60));
    sim.drop_hub_connections();
    status_until(&app, "the book is down with the hub", |a| a["live"] == false).await;
    let before = sim.counters().calls(SEARCH_OPEN);
    for (i, action) in ["buy", "buy", "sell"].into_iter().enumerate() {
        let (code, body) = app.alert(alert(json!({"action": action, "id": format!("r-{i}")}))).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["status"], "placed", "{body}");
        let path = path_of(&app, &format!("r-{i}")).await;
        assert!(path.starts_with("position from REST (user hub not live)"), "{path}");
    }
    assert_eq!(sim.counters().calls(SEARCH_OPEN) - before, 3, "one REST read per entry");
    assert_eq!(mnq_position(&sim), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn status_shows_the_account_its_positions_and_working_orders() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    let (code, body) = app.alert(alert(json!({"action": "sell", "quantity": 3, "id": "s-1"}))).await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    let status = status_until(&app, "the short shows in the book", |a| {
        a["positions"].as_array().is_some_and(|p| p.len() == 1 && p[0]["size"] == -3)
    })
    .await;
    let account = &status["accounts"][0];
    assert_eq!(mnq_position(&sim), -3);
    assert_eq!(book_positions(&status), vec![(MNQ.to_owned(), -3)]);
    assert!(account["id"].is_number() && account["name"].is_string() && !account["balance"].is_null(), "{account}");
    assert!(
        account["positions"][0]["average_price"].is_string() || account["positions"][0]["average_price"].is_number()
    );
    assert!(status["user_hub"]["synced"].is_boolean(), "{status}");
    // A limit buy far below the market stays working: the book lists it.
    let (code, body) =
        app.alert(alert(json!({"action": "buy", "order_type": "limit", "limit_price": 1000.25, "id": "w-1"}))).await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    let status = status_until(&app, "the working order shows in the book", |a| {
        a["working_orders"].as_array().is_some_and(|o| o.len() == 1)
    })
    .await;
    let order = &status["accounts"][0]["working_orders"][0];
    assert_eq!(order["contract_id"], MNQ, "{order}");
    assert_eq!(order["size"], 1, "{order}");
    assert_eq!(order["limit_price"].to_string().trim_matches('"'), "1000.25", "{order}");
    assert!(order["id"].is_number() && !order["side"].is_null() && !order["type"].is_null(), "{order}");
    assert!(!order["status"].is_null(), "{order}");
    let working: Vec<i64> = sim.orders().iter().filter(|o| o.status == 1).map(|o| o.id).collect();
    assert_eq!(working, vec![order["id"].as_i64().unwrap()], "the sim's one working order");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn status_marks_open_positions_at_the_quote_with_the_contracts_tick_value() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10"), ("QUOTE_SYMBOLS", "MNQ")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    let (code, body) = app.alert(alert(json!({"action": "buy", "quantity": 2, "id": "m-1"}))).await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    let average = sim.positions()[0].average_price;
    sim.set_price(MNQ, Decimal::new(2_101_025, 2));
    let status = status_until(&app, "the position is marked at the new price", |a| {
        a["positions"][0]["mark_price"].to_string().trim_matches('"') == "21010.25"
    })
    .await;
    // MNQ: $0.50 per 0.25-point tick, 2 contracts long.
    let expected =
        ((Decimal::new(2_101_025, 2) - average) / Decimal::new(25, 2) * Decimal::new(50, 2) * Decimal::TWO).round_dp(2);
    let account = &status["accounts"][0];
    let number = |v: &serde_json::Value| v.to_string().trim_matches('"').parse::<Decimal>().unwrap();
    assert_eq!(number(&account["positions"][0]["open_pnl"]), expected, "{account}");
    assert_eq!(number(&account["open_pnl"]), expected, "{account}");
    assert_eq!(account["positions"][0]["symbol"], "MNQZ5", "{account}");
    app.stop().await.unwrap();
}
