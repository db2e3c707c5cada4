//! Break-even and dollar risk (issue 12) against the simulator: `action: breakeven` moves the entry's stop leg with
//! `Order/modify` (the sim's order book shows the new stop price) and never loosens it; `breakeven_after_ticks`
//! moves it once the open profit reaches N ticks; `risk_usd` and `stop_loss_usd` size with MNQ's $0.50 tick value.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{SimHandle, SimOrder};
use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, mnq_position, quiet_sim};
use rust_decimal::Decimal;
use serde_json::json;

/// The simulator's working stop orders (type 4) on MNQ.
fn stops(sim: &SimHandle) -> Vec<SimOrder> {
    sim.orders().into_iter().filter(|o| o.contract_id == MNQ && o.status == 1 && o.order_type == 4).collect()
}

fn average(sim: &SimHandle) -> Decimal {
    sim.positions().iter().find(|p| p.contract_id == MNQ).map(|p| p.average_price).expect("an MNQ position")
}

fn price(sim: &SimHandle) -> Decimal {
    sim.trades().last().map(|t| t.price).expect("a fill")
}

/// Sends `fields`; asserts the status and returns the answer.
async fn send(app: &TestApp, fields: serde_json::Value, status: &str) -> serde_json::Value {
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], status, "{body}");
    body
}

async fn live_book(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == true {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the book goes live: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls until `check` holds on the sim (deadline `within`), naming `what` with the working stops.
async fn until(sim: &SimHandle, within: Duration, what: &str, check: impl Fn(&SimHandle) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check(sim) {
        assert!(tokio::time::Instant::now() < deadline, "{what}: stops {:?}", stops(sim));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A long of 1 with a stop 40 ticks under the fill; returns once the stop leg works, then lifts the market 5
/// points (20 ticks, short of the 80-tick target) so a break-even stop sits under the bid.
async fn long_in_profit(app: &TestApp, id: &str, extra: serde_json::Value) {
    let mut fields = json!({"action": "buy", "id": id, "stop_loss_ticks": 40, "take_profit_ticks": 80});
    fields.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    send(app, fields, "placed").await;
    until(&app.sim, Duration::from_secs(2), "the stop leg works", |s| stops(s).len() == 1).await;
    let stop = stops(&app.sim)[0].stop_price.unwrap();
    assert_eq!(average(&app.sim) - stop, Decimal::from(10), "40 ticks of 0.25 under the average");
}

#[tokio::test]
async fn breakeven_moves_the_stop_leg_to_the_average_price_and_never_loosens_it() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    long_in_profit(&app, "be-1", json!({})).await;
    let avg = average(&sim);
    sim.move_price_to(MNQ, avg + Decimal::from(5), 4);
    let answer = send(&app, json!({"action": "breakeven", "id": "be-2"}), "placed").await;
    assert!(answer["message"].as_str().unwrap().contains("moved the stop to break-even"), "{answer}");
    assert_eq!(stops(&sim)[0].stop_price, Some(avg), "the sim's stop leg is at the average price");
    // Tighter with an offset, then a plain break-even would loosen it: noop, nothing sent.
    send(&app, json!({"action": "move_to_breakeven", "offset_ticks": 4, "id": "be-3"}), "placed").await;
    assert_eq!(stops(&sim)[0].stop_price, Some(avg + Decimal::ONE));
    let answer = send(&app, json!({"action": "breakeven", "id": "be-4"}), "noop").await;
    assert!(answer["message"].as_str().unwrap().contains("never loosened"), "{answer}");
    assert_eq!(stops(&sim)[0].stop_price, Some(avg + Decimal::ONE), "unchanged");
    assert_eq!(mnq_position(&sim), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn breakeven_without_a_position_is_a_noop() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    let answer = send(&app, json!({"action": "breakeven", "id": "be-flat"}), "noop").await;
    assert!(answer["message"].as_str().unwrap().contains("no open position"), "{answer}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn breakeven_after_ticks_moves_the_stop_once_the_profit_is_reached() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    long_in_profit(&app, "bea-1", json!({"breakeven_after_ticks": 8, "offset_ticks": 1})).await;
    let avg = average(&sim);
    let stop = stops(&sim)[0].stop_price;
    // 4 ticks of profit: not yet.
    sim.move_price_to(MNQ, avg + Decimal::ONE, 2);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(stops(&sim)[0].stop_price, stop, "not moved below the threshold");
    sim.move_price_to(MNQ, avg + Decimal::from(3), 4);
    let target = avg + Decimal::new(25, 2);
    until(&sim, Duration::from_secs(5), "the stop moves to average + 1 tick", |s| {
        stops(s).first().and_then(|o| o.stop_price) == Some(target)
    })
    .await;
    let (_, moved) = app.get_json(&format!("/alerts/bea-1-be?secret={SECRET}")).await;
    assert_eq!(moved["status"], "placed", "{moved}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn risk_usd_sizes_the_entry_and_a_dollar_stop_becomes_ticks() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10")]).await;
    live_book(&app).await;
    let answer =
        send(&app, json!({"action": "buy", "id": "r-1", "risk_usd": 100, "stop_loss_ticks": 40}), "placed").await;
    let message = answer["message"].as_str().unwrap();
    assert!(message.starts_with("risk_usd $100.00 ÷ (40 ticks × $0.50) = 5 contracts"), "{answer}");
    assert_eq!(mnq_position(&sim), 5);
    send(&app, json!({"action": "exit", "id": "r-2"}), "closed").await;
    // $50 on 2 MNQ = 50 ticks = 12.5 points under the fill.
    let answer = send(&app, json!({"action": "buy", "id": "r-3", "quantity": 2, "stop_loss_usd": 50}), "placed").await;
    assert!(answer["message"].as_str().unwrap().contains("= 50 ticks"), "{answer}");
    until(&sim, Duration::from_secs(2), "the stop leg works", |s| stops(s).len() == 1).await;
    assert_eq!(price(&sim) - stops(&sim)[0].stop_price.unwrap(), Decimal::new(125, 1));
    // Capped by MAX_CONTRACTS; refused when not one contract fits.
    send(&app, json!({"action": "exit", "id": "r-4"}), "closed").await;
    let (code, body) =
        app.alert(alert(json!({"action": "buy", "id": "r-5", "risk_usd": 10, "stop_loss_ticks": 40}))).await;
    assert!(code == 400 || body["status"] == "rejected", "{code} {body}");
    assert!(body.to_string().contains("not even 1 contract fits"), "{body}");
    assert_eq!(mnq_position(&sim), 0, "nothing sent");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn risk_usd_is_capped_by_max_contracts() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "3")]).await;
    live_book(&app).await;
    let answer =
        send(&app, json!({"action": "buy", "id": "c-1", "risk_usd": 100, "stop_loss_ticks": 40}), "placed").await;
    assert!(answer["message"].as_str().unwrap().contains("= 5 contracts, capped at MAX_CONTRACTS = 3"), "{answer}");
    assert_eq!(mnq_position(&sim), 3);
    app.stop().await.unwrap();
}
