//! Per-account lanes (issue 13, execution): accounts run concurrently (ten alerts to ten accounts with 150 ms added
//! on `Order/place` are placed in overlapping calls, read from the simulator's order timestamps, not the wall time),
//! and one account's alerts still run one at a time in arrival order (`buy`, `reverse`, `exit` sent back to back).

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{Scope, SimConfig, SimOrder};
use pxrelay_e2e::{SECRET, TestApp, alert, app_on, start_sim};
use serde_json::{Value, json};

const PLACE: &str = "/api/Order/place";
const CLOSE: &str = "/api/Position/closeContract";

/// Polls `/alerts/{id}` until it has an outcome (no longer `received`; 10 s deadline).
async fn finished(app: &TestApp, id: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (_, row) = app.get_json(&format!("/alerts/{id}?secret={SECRET}")).await;
        if row["status"].is_string() && row["status"] != "received" {
            return row;
        }
        assert!(tokio::time::Instant::now() < deadline, "alert {id} never finished: {row}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_fan_out_to_ten_accounts_places_in_overlapping_calls() {
    let sim = start_sim(SimConfig::default().with_paper_accounts(10)).await;
    sim.set_quotes_per_second(0);
    let app = app_on(&sim, &[]).await;
    let accounts: Vec<i32> = (9001..=9010).collect();
    // Each account's first job starts watching its book; an `exit` while flat sends nothing and takes that out of
    // the measurement.
    for account in &accounts {
        let (_, body) = app.alert(alert(json!({"action": "exit", "account": account.to_string()}))).await;
        assert_eq!(body["status"], "noop", "{body}");
    }
    sim.set_latency_for(Scope::Path(PLACE.into()), Duration::from_millis(150));
    let app = std::sync::Arc::new(app);
    let started = tokio::time::Instant::now();
    let sends: Vec<_> = accounts
        .iter()
        .map(|account| {
            let (app, body) = (app.clone(), alert(json!({"action": "buy", "account": account.to_string()})));
            tokio::spawn(async move { app.alert(body).await })
        })
        .collect();
    for send in sends {
        let (code, body) = send.await.unwrap();
        assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    }
    let answered = started.elapsed();
    let orders: Vec<SimOrder> = sim.orders();
    let mut placed: Vec<i32> = orders.iter().map(|o| o.account_id).collect();
    placed.sort_unstable();
    assert_eq!(placed, accounts, "one order per account");
    let first = orders.iter().map(|o| o.created).min().unwrap();
    let last = orders.iter().map(|o| o.created).max().unwrap();
    // One after the other, each `Order/place` would start only after the previous one's 150 ms answer.
    let spread = (last - first).to_std().unwrap();
    assert!(
        spread < Duration::from_millis(150),
        "the ten Order/place calls did not overlap: the last was created {spread:?} after the first"
    );
    eprintln!("ten accounts placed: answered in {answered:?}, Order/place creations spread over {spread:?}");
    std::sync::Arc::into_inner(app).unwrap().stop().await.unwrap();
}

#[tokio::test]
async fn one_accounts_buy_reverse_exit_sent_back_to_back_run_in_arrival_order() {
    let sim = start_sim(SimConfig::default()).await;
    sim.set_quotes_per_second(0);
    // Answers give up after 50 ms, while each order or close takes 250 ms: the three alerts are all queued before
    // the first one has finished.
    let app = app_on(&sim, &[("WEBHOOK_WAIT_MS", "50")]).await;
    let (_, warm) = app.alert(alert(json!({"action": "exit", "id": "warm"}))).await;
    assert_eq!(warm["status"], "noop", "{warm}");
    for path in [PLACE, CLOSE] {
        sim.set_latency_for(Scope::Path(path.into()), Duration::from_millis(250));
    }
    for (id, action) in [("order-buy", "buy"), ("order-rev", "reverse"), ("order-exit", "exit")] {
        let (code, body) = app.alert(alert(json!({"action": action, "id": id}))).await;
        assert_eq!((code, body["status"].as_str()), (202, Some("pending")), "{id} is accepted, not yet done: {body}");
    }
    assert_eq!(finished(&app, "order-buy").await["status"], "placed");
    assert_eq!(finished(&app, "order-rev").await["status"], "placed");
    assert_eq!(finished(&app, "order-exit").await["status"], "closed");
    // The simulator's order log: (side, customTag). Entries carry pxrelay's tag of their alert; closes
    // (`Position/closeContract`) carry none.
    let log: Vec<(i32, Option<String>)> =
        sim.orders().into_iter().filter(|o| o.parent_order_id.is_none()).map(|o| (o.side, o.custom_tag)).collect();
    // Leg 1 is an entry's opening part, leg 2 a reverse's entry after its close (`signal::custom_tag`).
    let tag = |leg: u8, id: &str| Some(format!("pxr{leg}-{id}"));
    assert_eq!(
        log,
        [(0, tag(1, "order-buy")), (1, None), (1, tag(2, "order-rev")), (0, None)],
        "buy, the reverse's close, its sell entry, the exit's close"
    );
    assert_eq!(pxrelay_e2e::mnq_position(&sim), 0);
    app.stop().await.unwrap();
}
