//! The account book after restarts and user-hub drops (issue 11): it equals the gateway again once it resyncs,
//! it tells pxrelay's positions from foreign ones (also after a restart), and alerts left `unknown` are settled once
//! the gateway answers again.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx::{AccountId, ContractId, OrderSide, OrderType, PlaceOrder};
use projectx_sim::Scope;
use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, mnq_position, other_client, quiet_sim, temp_journal};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const MES: &str = "CON.F.US.MES.Z25";

/// Polls `/status` until `check` holds for its first account (10 s deadline: a hub reconnect waits out a backoff).
async fn status_until(app: &TestApp, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = app.get_json("/status").await;
        if check(&status["accounts"][0]) {
            return status;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `/alerts/{id}` until its status is `status` (30 s deadline: a failing search is retried for seconds).
async fn row_until(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, row) = app.get_json(&format!("/alerts/{id}?secret={SECRET}")).await;
        if row["status"] == status {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "{id} never became {status}: {row}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn account(app: &TestApp) -> AccountId {
    AccountId::new(app.sim.accounts()[0].id)
}

/// Waits until the live book equals the gateway's REST view (`Position/searchOpen`, `Order/searchOpen`) in every
/// field it keeps, and returns that view.
async fn book_equals_gateway(app: &TestApp, what: &str) -> (Vec<projectx::Position>, Vec<projectx::Order>) {
    let account = account(app);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut positions = app.gateway.open_positions(account).await.unwrap();
        let mut orders = app.gateway.open_orders(account).await.unwrap();
        positions.sort_by(|a, b| a.contract_id.cmp(&b.contract_id));
        orders.sort_by_key(|o| o.id);
        let book = app.books.live_state(account);
        if book.as_ref() == Some(&(positions.clone(), orders.clone())) {
            return (positions, orders);
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: the book {book:#?}\n != the gateway {positions:#?}\n{orders:#?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_hub_drop_while_an_order_fills_ends_with_the_book_equal_to_the_gateway() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let app = app_on(&sim, &[("MAX_CONTRACTS", "5")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    // A resting limit buy with brackets: it fills when the price comes down to it.
    let (code, body) = app
        .alert(alert(json!({
            "action": "buy", "quantity": 2, "order_type": "limit", "limit_price": 20990,
            "stop_loss_ticks": 40, "take_profit_ticks": 80, "id": "rest-1",
        })))
        .await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    book_equals_gateway(&app, "the resting order is in the book").await;

    // The user hub goes away (and stays away a moment); the order fills meanwhile.
    sim.refuse_hub_connects_for(Duration::from_millis(800));
    sim.drop_hub_connections();
    status_until(&app, "the book is down with the hub", |a| a["live"] == false).await;
    sim.set_price(MNQ, Decimal::new(20_985, 0));
    assert_eq!(mnq_position(&sim), 2, "the limit order filled while the hub was down");

    // Reconnected and resynced: the long and its two legs, exactly as the gateway has them.
    status_until(&app, "the book is live again", |a| a["live"] == true).await;
    let (positions, orders) = book_equals_gateway(&app, "after the resync").await;
    assert_eq!(positions.len(), 1, "{positions:?}");
    assert_eq!(orders.len(), 2, "the stop and the target: {orders:?}");

    // Events keep it equal afterwards: the target fills, the stop is cancelled, the book is flat with the gateway.
    sim.move_price_to(MNQ, Decimal::new(21_020, 0), 10);
    let (positions, orders) = book_equals_gateway(&app, "after the target filled").await;
    assert!(positions.is_empty() && orders.is_empty(), "{positions:?} {orders:?}");
    assert_eq!(mnq_position(&sim), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn after_a_restart_status_tells_the_relays_position_from_a_foreign_one() {
    let sim = quiet_sim().await;
    let journal = temp_journal().display().to_string();
    let env = [("MAX_CONTRACTS", "5"), ("DATABASE_URL", journal.as_str())];
    let app = app_on(&sim, &env).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    let (code, body) = app.alert(alert(json!({"action": "buy", "quantity": 2, "id": "mine-1"}))).await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    let account = account(&app);
    app.stop().await.unwrap();

    // Meanwhile the trader opens a position in the platform: a short MES pxrelay never sent.
    let other = other_client(&sim);
    other
        .place_order(&PlaceOrder {
            account_id: account,
            contract_id: ContractId::from(MES),
            order_type: OrderType::Market,
            side: OrderSide::Ask,
            size: 1,
            limit_price: None,
            stop_price: None,
            trail_price: None,
            custom_tag: None,
            stop_loss_bracket: None,
            take_profit_bracket: None,
        })
        .await
        .unwrap();

    let app = app_on(&sim, &env).await;
    let status = status_until(&app, "both positions are in the book", |a| {
        a["live"] == true && a["positions"].as_array().is_some_and(|p| p.len() == 2)
    })
    .await;
    let account = &status["accounts"][0];
    let by_contract = |id: &str| -> Value {
        account["positions"].as_array().unwrap().iter().find(|p| p["contract_id"] == id).unwrap().clone()
    };
    assert_eq!((by_contract(MNQ)["opened_by"].clone(), by_contract(MNQ)["size"].clone()), (json!("pxrelay"), json!(2)));
    assert_eq!(
        (by_contract(MES)["opened_by"].clone(), by_contract(MES)["size"].clone()),
        (json!("foreign"), json!(-1))
    );
    let foreign = account["foreign"].as_array().unwrap();
    assert_eq!(foreign.len(), 1, "{account}");
    assert_eq!(foreign[0]["contract_id"], MES, "{account}");
    assert_eq!(foreign[0]["size"], -1, "{account}");
    // Never touched: an exit for MNQ leaves the foreign MES short alone.
    let (code, body) = app.alert(alert(json!({"action": "exit", "id": "mine-2"}))).await;
    assert_eq!((code, &body["status"]), (200, &json!("closed")), "{body}");
    let mes: Vec<i32> = app.sim.positions().iter().filter(|p| p.contract_id == MES).map(|p| p.size).collect();
    assert_eq!(mes, vec![1], "the foreign short is still open");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn alerts_left_unknown_are_settled_by_their_custom_tag_after_the_book_resyncs() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("MAX_CONTRACTS", "5")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    // The order is taken but its answer is lost, and the search by customTag fails every time: unknown.
    sim.fail_next_after_processing(1, 503, Scope::Path("/api/Order/place".into()));
    sim.fail_for(Duration::from_secs(60), 503, Scope::Path("/api/Order/search".into()));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "lost-1"}))).await;
    assert!(code == 200 || code == 202, "{code} {body}");
    let row = row_until(&app, "lost-1", "unknown").await;
    assert!(row["path"].as_str().unwrap().ends_with("reconciliation failed"), "{row}");
    assert_eq!(mnq_position(&sim), 1, "the gateway did take the order");
    // A second one whose order the gateway never took (refused before processing), equally unknown.
    sim.fail_next(1, 503, Scope::Path("/api/Order/place".into()));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "lost-2"}))).await;
    assert!(code == 200 || code == 202, "{code} {body}");
    row_until(&app, "lost-2", "unknown").await;
    assert_eq!(mnq_position(&sim), 1, "the second order was not taken");

    // The gateway answers searches again; the user hub drops and comes back: the resync settles the alert.
    sim.clear_chaos();
    sim.drop_hub_connections();
    let row = row_until(&app, "lost-1", "placed").await;
    let placed: Vec<Value> = sim.orders().iter().map(|o| json!(o.id)).collect();
    assert_eq!(row["orders"], json!(placed), "{row}");
    assert!(row["path"].as_str().unwrap().ends_with("resolved by customTag: 1 found"), "{row}");
    let row = row_until(&app, "lost-2", "failed").await;
    assert!(row["path"].as_str().unwrap().ends_with("resolved by customTag: not found"), "{row}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_position_closed_elsewhere_while_the_hub_was_down_has_its_legs_cancelled_at_the_resync() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let app = app_on(&sim, &[("MAX_CONTRACTS", "5")]).await;
    status_until(&app, "the default account's book goes live", |a| a["live"] == true).await;
    let (code, body) = app
        .alert(alert(json!({"action": "buy", "stop_loss_ticks": 40, "take_profit_ticks": 80, "id": "away-1"})))
        .await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    let working = |sim: &projectx_sim::SimHandle| sim.orders().iter().filter(|o| o.status == 1).count();
    book_equals_gateway(&app, "the long and its legs are in the book").await;
    assert_eq!(working(&sim), 2);

    // The hub is away; the trader closes the position in the platform, which leaves the legs working.
    sim.refuse_hub_connects_for(Duration::from_millis(800));
    sim.drop_hub_connections();
    status_until(&app, "the book is down with the hub", |a| a["live"] == false).await;
    other_client(&sim).close_position(account(&app), &ContractId::from(MNQ)).await.unwrap();
    assert_eq!((mnq_position(&sim), working(&sim)), (0, 2), "flat, with both legs left working");

    // Back: the snapshot finds the position flat, and its legs are cancelled.
    status_until(&app, "the book is live again", |a| a["live"] == true).await;
    let (positions, orders) = book_equals_gateway(&app, "the legs are gone after the resync").await;
    assert!(positions.is_empty() && orders.is_empty(), "{positions:?} {orders:?}");
    assert_eq!(working(&sim), 0);
    app.stop().await.unwrap();
}
