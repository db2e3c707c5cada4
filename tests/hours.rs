//! Trading hours end to end (issue 12), on a settable market clock ([`TestClock`]): CME's maintenance break refuses
//! an entry with the reopening time and sends nothing while an exit still goes through; `TRADING_WINDOWS` names the
//! next window; `FLAT_BY` flattens the managed positions and cancels their working orders, then refuses entries until
//! the session opens while an exit still works.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx::{AccountId, ContractId, OrderSide, OrderType, PlaceOrder};
use projectx_sim::SimHandle;
use pxrelay_e2e::{MNQ, TestApp, TestClock, alert, app_at, mnq_position, other_client, quiet_sim};
use serde_json::{Value, json};

/// Tuesday 2026-12-01 16:30 CST: inside CME's daily maintenance break.
const TUESDAY_1630_CT: &str = "2026-12-01T22:30:00Z";
/// The same Tuesday at 17:00 CST: CME reopens (Wednesday's trading day starts).
const TUESDAY_1700_CT: &str = "2026-12-01T23:00:00Z";

async fn send(app: &TestApp, fields: Value) -> Value {
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!(code, 200, "{body}");
    body
}

const MES: &str = "CON.F.US.MES.Z25";
const ENQ: &str = "CON.F.US.ENQ.Z25";

/// The signed position in `contract` at the simulator (long > 0).
fn position(sim: &SimHandle, contract: &str) -> i64 {
    sim.positions()
        .iter()
        .filter(|p| p.contract_id == contract)
        .map(|p| if p.position_type == 2 { -i64::from(p.size) } else { i64::from(p.size) })
        .sum()
}

/// The simulator's working orders (status 1).
fn working(sim: &SimHandle) -> usize {
    sim.orders().iter().filter(|o| o.status == 1).count()
}

#[tokio::test]
async fn an_entry_in_the_cme_maintenance_break_is_refused_with_the_reopening_time_and_nothing_is_sent() {
    let sim = quiet_sim().await;
    let clock = TestClock::at(TUESDAY_1630_CT);
    let app = app_at(&sim, &[("MARKET_HOURS", "cme")], &clock).await;

    let refused = send(&app, json!({"action": "buy", "id": "in-the-break", "stop_loss_ticks": 40})).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert_eq!(
        message,
        "the CME daily maintenance break (16:00-17:00 CT, Monday to Thursday): entries are refused (exits are still \
         allowed); the market reopens at 17:00 CST"
    );
    assert!(sim.orders().is_empty(), "nothing sent: {:?}", sim.orders());
    assert_eq!(mnq_position(&sim), 0);
    let (_, status) = app.get_json("/status").await;
    assert_eq!(
        status["hours"],
        json!({"market_open": false, "window_open": true, "flat_by_block": false,
               "next_entry_allowed_at": "2026-12-01T17:00:00-06:00"}),
        "{status}"
    );

    // At 17:00 the entry goes through; back in the next day's break, an exit still does.
    clock.set(TUESDAY_1700_CT);
    let placed = send(&app, json!({"action": "buy", "id": "after-the-break"})).await;
    assert_eq!((placed["status"].as_str(), mnq_position(&sim)), (Some("placed"), 1), "{placed}");
    clock.set("2026-12-02T22:15:00Z"); // Wednesday 16:15 CST
    let closed = send(&app, json!({"action": "exit", "id": "exit-in-the-break"})).await;
    assert_eq!((closed["status"].as_str(), mnq_position(&sim)), (Some("closed"), 0), "{closed}");
    // And a reverse-sized sell in the break only closes: its entry part is refused, naming the rule.
    clock.set("2026-12-02T23:00:00Z");
    send(&app, json!({"action": "buy", "id": "long-again"})).await;
    clock.set("2026-12-03T22:15:00Z"); // Thursday 16:15 CST
    let half = send(&app, json!({"action": "sell", "quantity": 2, "id": "sell-through-zero"})).await;
    assert_eq!(mnq_position(&sim), 0, "closed, not reversed: {half}");
    assert!(half["message"].as_str().unwrap().contains("the entry part was refused"), "{half}");
    assert_eq!(working(&sim), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_entry_outside_the_trading_windows_names_the_next_window() {
    let sim = quiet_sim().await;
    let clock = TestClock::at("2026-12-01T18:00:00Z"); // Tuesday 12:00 CST
    let app = app_at(&sim, &[("TRADING_WINDOWS", "08:30-11:30,13:00-15:00")], &clock).await;
    let refused = send(&app, json!({"action": "buy", "id": "at-noon"})).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    assert_eq!(
        refused["message"],
        "outside TRADING_WINDOWS 08:30-11:30,13:00-15:00: entries are refused (exits are still allowed); the next \
         window starts at 13:00 CST"
    );
    assert!(sim.orders().is_empty());
    clock.set("2026-12-01T19:00:00Z"); // 13:00 CST
    let placed = send(&app, json!({"action": "buy", "id": "at-one"})).await;
    assert_eq!(placed["status"], "placed", "{placed}");
    assert_eq!(sim.positions().iter().filter(|p| p.contract_id == MNQ).count(), 1);
    app.stop().await.unwrap();
}

/// Waits (polling the simulator) until `check` holds, at most `within`.
async fn until(sim: &SimHandle, within: Duration, what: &str, check: impl Fn(&SimHandle) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    while !check(sim) {
        assert!(tokio::time::Instant::now() < deadline, "{what}: {:?} {:?}", sim.positions(), sim.orders());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/status` until `check` holds on it (at most 5 s); returns it.
async fn status_until(app: &TestApp, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, status) = app.get_json("/status").await;
        if check(&status) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn at_flat_by_both_managed_positions_go_flat_with_their_orders_and_entries_wait_for_the_session_open() {
    let sim = quiet_sim().await;
    let clock = TestClock::at("2026-12-01T21:00:00Z"); // Tuesday 15:00 CST
    let app = app_at(&sim, &[("FLAT_BY", "15:08"), ("MARKET_HOURS", "cme"), ("MAX_CONTRACTS", "5")], &clock).await;
    status_until(&app, "the default account's book goes live", |s| s["accounts"][0]["live"] == true).await;
    let account = AccountId::new(sim.accounts()[0].id);

    // Two managed positions (a bracketed MNQ long, an MES short of 2), a working limit order, and a foreign ENQ long.
    let long = send(&app, json!({"action": "buy", "id": "mnq-long", "stop_loss_ticks": 40, "take_profit_ticks": 80}));
    assert_eq!(long.await["status"], "placed");
    let short = send(&app, json!({"action": "sell", "quantity": 2, "symbol": MES, "id": "mes-short"})).await;
    assert_eq!(short["status"], "placed", "{short}");
    let limit = send(&app, json!({"action": "buy", "symbol": MES, "order_type": "limit", "price": 1, "id": "mes-bid"}));
    let limit = limit.await;
    assert_eq!(limit["status"], "placed", "{limit}");
    let foreign = PlaceOrder {
        account_id: account,
        contract_id: ContractId::from(ENQ),
        order_type: OrderType::Market,
        side: OrderSide::Bid,
        size: 1,
        limit_price: None,
        stop_price: None,
        trail_price: None,
        custom_tag: None,
        stop_loss_bracket: None,
        take_profit_bracket: None,
    };
    other_client(&sim).place_order(&foreign).await.unwrap();
    until(&sim, Duration::from_secs(2), "three positions, three working orders", |sim| {
        sim.positions().len() == 3 && working(sim) == 3
    })
    .await;
    status_until(&app, "the book sees the foreign position", |s| {
        s["accounts"][0]["foreign"].as_array().is_some_and(|f| f.len() == 1)
    })
    .await;
    assert_eq!((position(&sim, MNQ), position(&sim, MES), position(&sim, ENQ)), (1, -2, 1));

    // 15:08 Chicago: within a couple of seconds both managed positions are flat and the orders cancelled.
    clock.set("2026-12-01T21:08:00Z");
    until(&sim, Duration::from_secs(3), "flat by FLAT_BY", |sim| {
        position(sim, MNQ) == 0 && position(sim, MES) == 0 && working(sim) == 0
    })
    .await;
    assert_eq!(position(&sim, ENQ), 1, "the foreign position is left to its owner");
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["hours"]["flat_by_block"], true, "{status}");
    assert_eq!(status["hours"]["next_entry_allowed_at"], "2026-12-01T17:00:00-06:00", "{status}");

    // Entries are refused until the session opens, nothing sent; an exit (of the ENQ long) still works.
    let orders = sim.orders().len();
    let refused = send(&app, json!({"action": "buy", "id": "after-flat-by"})).await;
    assert_eq!(refused["status"], "rejected", "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.starts_with("FLAT_BY 15:08 has passed"), "{message}");
    assert!(message.ends_with("the next session opens at 17:00 CST (SESSION_OPEN)"), "{message}");
    assert_eq!(sim.orders().len(), orders, "nothing sent");
    clock.set("2026-12-01T21:30:00Z");
    let exit = send(&app, json!({"action": "exit", "symbol": ENQ, "id": "exit-in-the-block"})).await;
    assert_eq!((exit["status"].as_str(), position(&sim, ENQ)), (Some("closed"), 0), "{exit}");

    // 17:00: the next session opens; entries go through again.
    clock.set("2026-12-01T23:00:00Z");
    let placed = send(&app, json!({"action": "buy", "id": "next-session"})).await;
    assert_eq!((placed["status"].as_str(), mnq_position(&sim)), (Some("placed"), 1), "{placed}");
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["hours"]["flat_by_block"], false, "{status}");
    app.stop().await.unwrap();
}
