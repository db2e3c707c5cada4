//! The kill switch that acts (issue 12): `POST /kill {"enabled": true, "flatten": true}` cancels the working orders
//! and closes the managed positions before it answers, leaves a foreign position alone, is journaled as its own row
//! whose fills close the entry alerts `by: flatten`, and the switch survives a restart.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx::{AccountId, ContractId, OrderSide, OrderType, PlaceOrder};
use pxrelay_e2e::{MNQ, SECRET, TestApp, alert, app_on, mnq_position, other_client, quiet_sim, temp_journal};
use rust_decimal::Decimal;
use serde_json::{Value, json};

const MES: &str = "CON.F.US.MES.Z25";

async fn live_book(app: &TestApp) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == true {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "the book never went live: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn kill(app: &TestApp, body: Value) -> (u16, Value) {
    let mut body = body;
    body["secret"] = json!(SECRET);
    app.post("/kill", "application/json", &body.to_string()).await
}

/// Polls `/alerts/{id}` until `check` holds on it (5 s deadline).
async fn row_until(app: &TestApp, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, row) = app.get_json(&format!("/alerts/{id}?secret={SECRET}")).await;
        if check(&row) {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: {row}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn kill_with_flatten_closes_the_managed_position_and_its_legs_before_answering_and_survives_a_restart() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let journal = temp_journal().display().to_string();
    let env = [("MAX_CONTRACTS", "5"), ("DATABASE_URL", journal.as_str())];
    let app = app_on(&sim, &env).await;
    live_book(&app).await;
    let (code, body) = app
        .alert(alert(
            json!({"action": "buy", "quantity": 2, "stop_loss_ticks": 40, "take_profit_ticks": 80, "id": "k-1"}),
        ))
        .await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    // The trader's own short in MES, opened in the platform: foreign, left alone.
    let account = AccountId::new(sim.accounts()[0].id);
    other_client(&sim)
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
    let working = |sim: &projectx_sim::SimHandle| sim.orders().iter().filter(|o| o.status == 1).count();
    assert_eq!(working(&sim), 2, "the two legs work");

    let (code, body) = kill(&app, json!({"enabled": true, "flatten": true})).await;
    assert_eq!(code, 200, "{body}");
    // Done before the answer: nothing of pxrelay's is left at the gateway.
    assert_eq!(mnq_position(&sim), 0, "{body}");
    assert_eq!(working(&sim), 0, "the legs are cancelled: {body}");
    let mes: Vec<i32> = sim.positions().iter().filter(|p| p.contract_id == MES).map(|p| p.size).collect();
    assert_eq!(mes, vec![1], "the foreign short is untouched");
    assert_eq!((&body["kill_switch"], &body["complete"]), (&json!(true), &json!(true)), "{body}");
    let report = &body["flattened"][0];
    assert_eq!(report["status"], "closed", "{report}");
    assert_eq!(report["closed"], json!([{"contract_id": MNQ, "size": 2}]), "{report}");
    assert_eq!(report["cancelled"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["left"][0]["contract_id"], MES, "{report}");

    // The flatten has its own journal row, and the entry's timeline says what closed it.
    let id = report["id"].as_str().unwrap();
    let row = row_until(&app, id, "the flatten row is finished", |r| r["status"] == "closed").await;
    assert!(row["path"].as_str().unwrap().starts_with("flatten (kill switch)"), "{row}");
    let entry = row_until(&app, "k-1", "the entry shows closed by flatten", |r| {
        r["timeline"].as_array().is_some_and(|t| t.iter().any(|e| e["event"] == "closed" && e["by"] == "flatten"))
    })
    .await;
    let trade_pnl: Decimal = sim.trades().iter().filter_map(|t| t.profit_and_loss).sum();
    let closed = entry["timeline"].as_array().unwrap().iter().find(|e| e["event"] == "closed").unwrap().clone();
    assert_eq!(closed["realized_pnl"].to_string().trim_matches('"').parse::<Decimal>().unwrap(), trade_pnl);

    // Entries are refused; after a restart the switch is still on.
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "k-2"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    app.stop().await.unwrap();
    let app = app_on(&sim, &env).await;
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["kill_switch"], true, "{status}");
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "k-3"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert_eq!(mnq_position(&sim), 0);
    // Off again, and that is remembered too.
    let (code, _) = kill(&app, json!({"enabled": false})).await;
    assert_eq!(code, 200);
    app.stop().await.unwrap();
    let app = app_on(&sim, &env).await;
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["kill_switch"], false, "{status}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn flatten_without_enabling_the_switch_is_refused_naming_the_field() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    let (code, body) = kill(&app, json!({"enabled": false, "flatten": true})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("flatten: needs `enabled: true`"), "{body}");
    let (code, body) = kill(&app, json!({"flatten": "yes"})).await;
    assert_eq!(code, 400, "{body}");
    assert!(body["message"].as_str().unwrap().starts_with("flatten: `\"yes\"` is not accepted"), "{body}");
    app.stop().await.unwrap();
}
