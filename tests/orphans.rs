//! No orphan legs (issue 11): after pxrelay closes a position (exit, close-only sell, the close half of a reverse)
//! or a bracket fill leaves it flat, the position's working bracket legs are cancelled (`CANCEL_ON_FLAT`); a cancel
//! the gateway refuses leaves them listed as orphans in `/status`, logged at `error` and counted in `/metrics`.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::sync::Arc;
use std::time::Duration;

use projectx_sim::{Scope, SimHandle, SimOrder};
use pxrelay_e2e::{MNQ, TestApp, alert, app_on, mnq_position, quiet_sim};
use rust_decimal::Decimal;
use serde_json::json;

/// The simulator's working orders on MNQ.
fn working(sim: &SimHandle) -> Vec<SimOrder> {
    sim.orders().into_iter().filter(|o| o.contract_id == MNQ && o.status == 1).collect()
}

/// Polls until `check` holds (deadline `within`); panics naming `what` with the sim's working orders.
async fn until(sim: &SimHandle, within: Duration, what: &str, check: impl Fn(&[SimOrder]) -> bool) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let now = working(sim);
        if check(&now) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what}: working orders {now:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `fields` and asserts the outcome's status.
async fn send(app: &TestApp, fields: serde_json::Value, status: &str) {
    let (code, body) = app.alert(alert(fields)).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], status, "{body}");
}

/// A long of 1 with a stop 40 ticks away and a target 80 ticks away; returns once both legs work at the sim.
async fn bracketed_long(app: &TestApp, id: &str) {
    send(app, json!({"action": "buy", "id": id, "stop_loss_ticks": 40, "take_profit_ticks": 80}), "placed").await;
    until(&app.sim, Duration::from_secs(2), "the entry's two legs work", |w| w.len() == 2).await;
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

#[tokio::test]
async fn an_exit_cancels_the_entrys_bracket_legs() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "o-1").await;
    send(&app, json!({"action": "exit", "id": "o-2"}), "closed").await;
    assert_eq!(mnq_position(&sim), 0);
    until(&sim, Duration::from_secs(1), "no working order left on MNQ", <[SimOrder]>::is_empty).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_close_only_sell_cancels_the_entrys_bracket_legs() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "s-1").await;
    send(&app, json!({"action": "sell", "market_position": "flat", "id": "s-2"}), "closed").await;
    assert_eq!(mnq_position(&sim), 0);
    until(&sim, Duration::from_secs(1), "no working order left on MNQ", <[SimOrder]>::is_empty).await;
    app.stop().await.unwrap();
}

#[tokio::test]
async fn after_a_reverse_only_the_new_entrys_legs_remain() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "r-1").await;
    let old: Vec<i64> = working(&sim).iter().map(|o| o.id).collect();
    send(&app, json!({"action": "reverse", "id": "r-2", "stop_loss_ticks": 40, "take_profit_ticks": 80}), "placed")
        .await;
    assert_eq!(mnq_position(&sim), -1);
    until(&sim, Duration::from_secs(1), "exactly the new entry's two legs", |w| {
        w.len() == 2 && w.iter().all(|o| !old.contains(&o.id) && o.parent_order_id.is_some())
    })
    .await;
    // And they stay: the books task does not cancel them when the close half's flat event arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(working(&sim).len(), 2, "{:?}", working(&sim));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_target_fill_leaves_no_stop_behind_and_no_orphans() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "t-1").await;
    let target = working(&sim).iter().find_map(|o| o.limit_price).expect("the target leg's limit price");
    sim.move_price_to(MNQ, target + Decimal::new(100, 2), 4);
    until(&sim, Duration::from_secs(1), "the stop leg is gone with the target fill", <[SimOrder]>::is_empty).await;
    assert_eq!(mnq_position(&sim), 0);
    // The flat event's cancel round finds nothing working (the sim's OCO already cancelled the stop): no orphans.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["accounts"][0]["orphans"], json!([]), "{status}");
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("pxrelay_orphan_cancels_total{result=\"refused\"}"), "{metrics}");
    app.stop().await.unwrap();
}

/// Collects the formatted log lines of the app (the tests' runtime is single-threaded, so a thread-default
/// subscriber sees every task).
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn a_refused_cancel_leaves_the_legs_listed_as_orphans_and_logged() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "f-1").await;
    let legs: Vec<i64> = working(&sim).iter().map(|o| o.id).collect();
    // The sim cannot refuse a cancel of a working order with a business error, so the gateway answers 500.
    sim.fail_next(2, 500, Scope::Path("/api/Order/cancel".into()));
    send(&app, json!({"action": "exit", "id": "f-2"}), "closed").await;
    // The legs are cancelled right after the exit's answer (issue 17): wait for that round to end.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let (status, mut orphans) = loop {
        let (_, status) = app.get_json("/status").await;
        let orphans: Vec<i64> = status["accounts"][0]["orphans"]
            .as_array()
            .unwrap_or_else(|| panic!("orphans: {status}"))
            .iter()
            .map(|o| o["id"].as_i64().unwrap())
            .collect();
        if orphans.len() >= 2 || tokio::time::Instant::now() > deadline {
            break (status, orphans);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    orphans.sort_unstable();
    let mut expected = legs.clone();
    expected.sort_unstable();
    assert_eq!(orphans, expected, "{status}");
    assert_eq!(working(&sim).len(), 2, "the legs still work at the gateway");
    let text = logs.text();
    assert!(text.lines().any(|l| l.contains("ERROR") && l.contains("orphan leg")), "{text}");
    let metrics = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("pxrelay_orphan_cancels_total{result=\"refused\"} 2"), "{metrics}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn cancel_on_flat_none_leaves_the_legs() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("CANCEL_ON_FLAT", "none")]).await;
    live_book(&app).await;
    bracketed_long(&app, "n-1").await;
    send(&app, json!({"action": "exit", "id": "n-2"}), "closed").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(working(&sim).len(), 2, "CANCEL_ON_FLAT=none cancels nothing");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_order_that_crosses_zero_in_one_go_cancels_the_old_positions_legs() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    live_book(&app).await;
    bracketed_long(&app, "x1").await;
    // Long 1 with a sell stop and a sell limit working; a plain `sell 2` (no brackets) is one order to short 1.
    send(&app, json!({"action": "sell", "quantity": 2, "id": "x2"}), "placed").await;
    assert_eq!(mnq_position(&sim), -1);
    until(&sim, Duration::from_secs(1), "the long's legs are gone (a sell stop would add to the short)", |w| {
        w.is_empty()
    })
    .await;
    app.stop().await.unwrap();
}
