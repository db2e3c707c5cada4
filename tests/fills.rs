//! Fills on every alert (issue 11), through the real app against the simulator: an entry's `/alerts/{id}` shows its
//! timeline (received → journaled → sent → acknowledged → filled → legs) with the sim's fill price and the slippage
//! against the touch at arrival within 1 s of the fill; an exit and a target fill put the sim's realized P&L on
//! the `closed` events; `GET /alerts` rows carry fill price and P&L; with the user hub down the position comes from
//! REST and the row says so.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::SimTrade;
use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, mnq_position, quiet_sim};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// The simulator's MNQ tick size.
const TICK: Decimal = Decimal::from_parts(25, 0, 0, false, 2);

fn dec(v: &Value) -> Decimal {
    v.to_string().trim_matches('"').parse().unwrap_or_else(|_| panic!("a decimal: {v}"))
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Polls `/alerts/{id}` until `check` holds (deadline `within`); panics naming `what` with the row.
async fn row_until(app: &TestApp, id: &str, within: Duration, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (code, row) = app.get_json(&format!("/alerts/{id}?secret={SECRET}")).await;
        if code == 200 && check(&row) {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {row}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The names of a row's timeline events, in order.
fn events(row: &Value) -> Vec<String> {
    row["timeline"].as_array().unwrap().iter().map(|e| e["event"].as_str().unwrap().to_owned()).collect()
}

/// The row's `closed` events.
fn closed(row: &Value) -> Vec<Value> {
    row["timeline"].as_array().unwrap().iter().filter(|e| e["event"] == "closed").cloned().collect()
}

/// Polls until `check` holds (5 s).
async fn until(what: &str, check: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// pxrelay with a live book and MNQ quotes streamed, the price set to `price` and that touch seen by pxrelay.
async fn trading_at(price: Decimal) -> TestApp {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("QUOTE_SYMBOLS", "MNQ")]).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        sim.set_price(MNQ, price);
        let (_, status) = app.get_json("/status").await;
        let (_, quote) = app.get_json("/quote/MNQ").await;
        if status["accounts"][0]["live"] == true && quote["source"] == "signalr" && quote["ask"] == json!(price + TICK)
        {
            return app;
        }
        assert!(tokio::time::Instant::now() < deadline, "book live and touch streamed: {status} {quote}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn send(app: &TestApp, fields: Value, status: &str) {
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!((code, body["status"].as_str()), (200, Some(status)), "{body}");
}

/// The sim's trade of order `id`.
fn trade_of(app: &TestApp, id: i64) -> SimTrade {
    app.sim.trades().into_iter().find(|t| t.order_id == id).unwrap_or_else(|| panic!("a sim trade of order {id}"))
}

#[tokio::test]
async fn a_market_entry_shows_its_fill_slippage_and_legs_then_an_exit_its_realized_pnl() {
    let app = trading_at(d("21000")).await;
    send(&app, json!({"action": "buy", "id": "f-1", "stop_loss_ticks": 40, "take_profit_ticks": 80}), "placed").await;
    // Within 1 s of the fill (the fill happened before the webhook answered).
    let row = row_until(&app, "f-1", Duration::from_secs(1), "filled and both legs within 1 s", |r| {
        let e = events(r);
        e.contains(&"filled".to_owned()) && e.iter().filter(|e| *e == "legs").count() == 2
    })
    .await;
    let names = events(&row);
    for (i, name) in ["received", "journaled", "sent"].iter().enumerate() {
        assert_eq!(names[i], *name, "{row}");
    }
    assert!(names.contains(&"acknowledged".to_owned()), "{row}");
    assert!(row["timeline"].as_array().unwrap().iter().all(|e| e["at"].as_str().is_some_and(|t| t.ends_with('Z'))));
    let fill = &row["fills"][0];
    let trade = trade_of(&app, fill["order_id"].as_i64().unwrap());
    assert_eq!((dec(&fill["price"]), dec(&fill["fees"]), fill["size"].as_i64()), (trade.price, trade.fees, Some(1)));
    // A buy at market: the reference is the ask at arrival (21000.25); the sim fills at the last price, 21000:
    // one tick better than the touch.
    assert_eq!(dec(&row["reference_price"]), d("21000.25"), "{row}");
    assert_eq!(row["slippage_ticks"], json!(-1.0), "{row}");
    assert_eq!(dec(&row["fill_price"]), trade.price, "{row}");
    assert_eq!(row["position_source"], "book", "{row}");
    let legs: Vec<&Value> = row["timeline"].as_array().unwrap().iter().filter(|e| e["event"] == "legs").collect();
    let mut prices: Vec<(String, Decimal)> =
        legs.iter().map(|l| (l["role"].as_str().unwrap().to_owned(), dec(&l["price"]))).collect();
    prices.sort();
    assert_eq!(prices, vec![("stop".to_owned(), d("20990")), ("target".to_owned(), d("21020"))], "{row}");

    // Up 10 points, then an exit: the close's P&L is the sim's trade P&L, on both alerts.
    app.sim.set_price(MNQ, d("21010"));
    send(&app, json!({"action": "exit", "id": "f-2"}), "closed").await;
    assert_eq!(mnq_position(&app.sim), 0);
    let exit =
        row_until(&app, "f-2", Duration::from_secs(1), "the exit's closed event", |r| !closed(r).is_empty()).await;
    let close_trade = app.sim.trades().into_iter().rev().find(|t| t.profit_and_loss.is_some()).unwrap();
    let event = &closed(&exit)[0];
    assert_eq!(dec(&event["realized_pnl"]), close_trade.profit_and_loss.unwrap(), "{exit}");
    assert_eq!(dec(&event["realized_pnl"]), d("20"), "10 points of MNQ: 40 ticks × $0.50");
    assert_eq!((event["by"].as_str(), dec(&event["exit_price"])), (Some("alert"), close_trade.price), "{exit}");
    assert_eq!(dec(&exit["realized_pnl"]), d("20"), "{exit}");
    assert_eq!(exit["fills"][0]["role"], "close", "{exit}");
    let entry =
        row_until(&app, "f-1", Duration::from_secs(1), "the entry's closed event", |r| !closed(r).is_empty()).await;
    let event = &closed(&entry)[0];
    assert_eq!((event["by"].as_str(), event["closed_by"].as_str()), (Some("alert"), Some("f-2")), "{entry}");
    assert_eq!(dec(&event["realized_pnl"]), d("20"), "{entry}");

    // The list: fill price and P&L per row.
    let (_, list) = app.get_json(&format!("/alerts?secret={SECRET}")).await;
    let rows = list["alerts"].as_array().unwrap();
    let by_id = |id: &str| rows.iter().find(|r| r["alert_id"] == id).unwrap_or_else(|| panic!("{id} listed: {list}"));
    assert_eq!(dec(&by_id("f-1")["fill_price"]), trade.price);
    assert_eq!(dec(&by_id("f-1")["realized_pnl"]), d("20"));
    assert_eq!(dec(&by_id("f-2")["fill_price"]), close_trade.price);
    assert_eq!(dec(&by_id("f-2")["realized_pnl"]), d("20"));

    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pxrelay_fills_total{role=\"entry\"} 1"), "{metrics}");
    assert!(metrics.contains("pxrelay_fills_total{role=\"close\"} 1"), "{metrics}");
    assert!(metrics.contains("pxrelay_slippage_ticks_count 2"), "{metrics}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_target_fill_closes_the_entry_by_target_with_the_sims_pnl() {
    let app = trading_at(d("21000")).await;
    send(&app, json!({"action": "sell", "id": "t-1", "stop_loss_ticks": 40, "take_profit_ticks": 80}), "placed").await;
    let row = row_until(&app, "t-1", Duration::from_secs(1), "both legs", |r| {
        events(r).iter().filter(|e| *e == "legs").count() == 2
    })
    .await;
    // A sell at market: the reference is the bid (20999.75); filled at 21000, one tick better.
    assert_eq!(row["slippage_ticks"], json!(-1.0), "{row}");
    let target = row["timeline"].as_array().unwrap().iter().find(|e| e["role"] == "target").map(|e| dec(&e["price"]));
    let target = target.unwrap_or_else(|| panic!("a target leg: {row}"));
    app.sim.move_price_to(MNQ, target - d("1"), 4);
    until("flat after the target fill", || mnq_position(&app.sim) == 0).await;
    let row = row_until(&app, "t-1", Duration::from_secs(1), "closed by the target", |r| !closed(r).is_empty()).await;
    let close_trade = app.sim.trades().into_iter().rev().find(|t| t.profit_and_loss.is_some()).unwrap();
    let event = &closed(&row)[0];
    assert_eq!(event["by"], "target", "{row}");
    assert_eq!(dec(&event["realized_pnl"]), close_trade.profit_and_loss.unwrap(), "{row}");
    assert_eq!(dec(&event["exit_price"]), close_trade.price, "{row}");
    assert_eq!(dec(&event["fees"]), close_trade.fees, "{row}");
    assert!(event["closed_by"].is_null(), "{row}");
    assert_eq!(row["fills"].as_array().unwrap().len(), 1, "the leg's fill is a close, not the alert's own fill");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_user_hub_down_the_position_comes_from_rest_and_the_row_says_so() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    until("the hub connects", || !sim.hub_connections().is_empty()).await;
    sim.refuse_hub_connects_for(Duration::from_secs(60));
    sim.drop_hub_connections();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == false {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the book is down: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    send(&app, json!({"action": "buy", "id": "r-1"}), "placed").await;
    let (_, row) = app.get_json(&format!("/alerts/r-1?secret={SECRET}")).await;
    assert_eq!(row["position_source"], "rest", "{row}");
    assert!(row["path"].as_str().unwrap().starts_with("position from REST"), "{row}");
    // No quote was streamed for MNQ: no reference, no slippage (and no fill events without the hub).
    assert!(row["reference_price"].is_null() && row["slippage_ticks"].is_null(), "{row}");
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pxrelay_position_rest_fallbacks_total 1"), "{metrics}");
    app.stop().await.unwrap();
}
