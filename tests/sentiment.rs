//! Sentiment, reversals and brackets end to end (issue: faults from the field, B): a stated side is where the
//! position ends; the part of an order that reduces or closes never carries brackets; an order crossing zero is a
//! close, then an entry with brackets sized to it; `MAX_CONTRACTS` never limits the closing part.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use projectx_sim::SimHandle;
use pxrelay_e2e::{MNQ, TestApp, alert, app_on, mnq_position, quiet_sim};
use serde_json::{Value, json};

/// Sends `fields` as an MNQ alert with an id of its own (two identical entries within seconds would otherwise be one
/// alert: see tests/duplicates.rs) and returns the answer's status.
async fn send(app: &TestApp, mut fields: Value) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    fields["id"] = json!(format!("s-{}", N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!(code, 200, "{body}");
    body["status"].as_str().unwrap().to_owned()
}

/// Working (open) MNQ orders at the simulator as (side, size): 0 buy, 1 sell.
fn working(sim: &SimHandle) -> Vec<(i32, i32)> {
    let mut open: Vec<(i32, i32)> =
        sim.orders().iter().filter(|o| o.contract_id == MNQ && o.status == 1).map(|o| (o.side, o.size)).collect();
    open.sort_unstable();
    open
}

#[tokio::test]
async fn a_stated_side_is_where_the_position_ends() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    assert_eq!(send(&app, json!({"action": "sell", "quantity": 1})).await, "placed");
    // Short 1, `buy` + bullish: TradersPost covers the short and buys 1 → long 1 (not flat).
    send(&app, json!({"action": "buy", "sentiment": "bullish", "quantity": 1})).await;
    assert_eq!(mnq_position(&sim), 1);
    // Long 1, `sell 3` + long: reduce-only, capped at flat.
    send(&app, json!({"action": "sell", "market_position": "long", "quantity": 3})).await;
    assert_eq!(mnq_position(&sim), 0);
    // Flat, `sell` + long: nothing to reduce, nothing sent.
    assert_eq!(send(&app, json!({"action": "sell", "market_position": "long", "quantity": 1})).await, "noop");
    // TradingView's own reversal: short 1, `buy 2` + long nets to long 1 and must stay long 1.
    send(&app, json!({"action": "sell", "quantity": 1})).await;
    send(&app, json!({"action": "buy", "market_position": "long", "quantity": 2})).await;
    assert_eq!(mnq_position(&sim), 1);
    // Without a sentiment: a plain net buy/sell.
    send(&app, json!({"action": "sell", "quantity": 3})).await;
    assert_eq!(mnq_position(&sim), -2);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reversal_with_brackets_protects_exactly_the_new_position() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    send(&app, json!({"action": "sell", "quantity": 2})).await;
    // Short 2, strategy `buy 4` + long + SL/TP: close 2, then enter 2 with a 2-lot stop and a 2-lot target.
    let status = send(
        &app,
        json!({"action": "buy", "quantity": 4, "market_position": "long", "stop_loss_ticks": 40, "take_profit_ticks": 80}),
    )
    .await;
    assert_eq!(status, "placed");
    assert_eq!(mnq_position(&sim), 2);
    assert_eq!(working(&sim), vec![(1, 2), (1, 2)], "sell stop 2 and sell limit 2, not 4");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_order_that_only_reduces_never_carries_brackets() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    send(&app, json!({"action": "buy", "quantity": 1})).await;
    // An indicator `sell 1` with a stop, meant to leave the long: flat, and no buy stop left behind.
    send(&app, json!({"action": "sell", "quantity": 1, "stop_loss_ticks": 40})).await;
    assert_eq!(mnq_position(&sim), 0);
    assert_eq!(working(&sim), vec![], "no order without a position behind it");
    // Long 3 reduced by 1 with brackets on the alert: long 2, still no bracket legs from the reducing order.
    send(&app, json!({"action": "buy", "quantity": 3})).await;
    send(&app, json!({"action": "sell", "quantity": 1, "stop_loss_ticks": 40, "take_profit_ticks": 40})).await;
    assert_eq!((mnq_position(&sim), working(&sim)), (2, vec![]));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn max_contracts_limits_the_opening_part_never_the_closing_part() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "10")]).await;
    for _ in 0..2 {
        send(&app, json!({"action": "sell", "quantity": 3})).await;
    }
    assert_eq!(mnq_position(&sim), -6);
    // The strategy's reversal `buy 12`: a 6-lot close and a 6-lot entry, both within the limit of 10.
    assert_eq!(send(&app, json!({"action": "buy", "quantity": 12, "market_position": "long"})).await, "placed");
    assert_eq!(mnq_position(&sim), 6);
    // An entry whose resulting position would be 11 is refused, and nothing is sent.
    let places = sim.counters().calls("/api/Order/place");
    assert_eq!(send(&app, json!({"action": "buy", "quantity": 5})).await, "rejected");
    assert_eq!((sim.counters().calls("/api/Order/place"), mnq_position(&sim)), (places, 6));
    app.stop().await.unwrap();
}
