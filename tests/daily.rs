//! The daily loss limit and profit target (issue 12): a long MNQ whose open loss passes `DAILY_LOSS_LIMIT` is
//! flattened (legs cancelled) within 2 s, entries are refused naming the limit, `/status` shows the block, a restart
//! on the same journal keeps it, and the next 17:00 Chicago (an injected clock) ends it. `DAILY_LOSS_ACTION=block`
//! refuses entries without closing anything; `DAILY_PROFIT_TARGET` locks in the day the same way.

#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use pxrelay_e2e::{MNQ, TestApp, TestClock, alert, app_on_clock, mnq_position, quiet_sim, temp_journal};
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// Polls `/status` until `check` holds on the first account (`deadline`), and returns that status.
async fn status_until(app: &TestApp, what: &str, deadline: Duration, check: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let (_, status) = app.get_json("/status").await;
        if check(&status["accounts"][0]) {
            return status;
        }
        assert!(tokio::time::Instant::now() < until, "{what}: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls the simulator until `check` holds (`deadline`).
async fn sim_until(sim: &projectx_sim::SimHandle, what: &str, deadline: Duration, check: impl Fn() -> bool) {
    let until = tokio::time::Instant::now() + deadline;
    while !check() {
        assert!(tokio::time::Instant::now() < until, "{what}: positions {:?}", sim.positions());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The journal's flatten rows (`flatten-<account>-<µs>`).
async fn flatten_rows(app: &TestApp) -> Vec<Value> {
    let (_, list) = app.get_json(&format!("/alerts?secret={}", pxrelay_e2e::SECRET)).await;
    let rows = list["alerts"].as_array().unwrap().iter();
    rows.filter(|r| r["alert_id"].as_str().or(r["id"].as_str()).is_some_and(|id| id.starts_with("flatten-")))
        .cloned()
        .collect()
}

fn working(sim: &projectx_sim::SimHandle) -> usize {
    sim.orders().iter().filter(|o| o.status == 1).count()
}

/// Buys 1 MNQ at 21000 with legs 400 ticks away and waits until `/status` prices the day.
async fn long_one_priced(app: &TestApp, id: &str) {
    status_until(app, "the book goes live", Duration::from_secs(10), |a| a["live"] == true).await;
    let (code, body) = app
        .alert(alert(
            json!({"action": "buy", "quantity": 1, "stop_loss_ticks": 400, "take_profit_ticks": 400, "id": id}),
        ))
        .await;
    assert_eq!((code, &body["status"]), (200, &json!("placed")), "{body}");
    status_until(app, "the position's open P&L is known", Duration::from_secs(5), |a| {
        a["risk"]["day_pnl"].is_number() && a["positions"].as_array().is_some_and(|p| !p.is_empty())
    })
    .await;
}

#[tokio::test]
async fn a_breached_daily_loss_limit_flattens_blocks_until_the_next_session_open_and_survives_a_restart() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let journal = temp_journal().display().to_string();
    let env = [("DAILY_LOSS_LIMIT", "50"), ("DATABASE_URL", journal.as_str())];
    let clock = TestClock::default();
    let app = app_on_clock(&sim, &env, &clock).await;
    long_one_priced(&app, "d-1").await;
    assert_eq!((mnq_position(&sim), working(&sim)), (1, 2), "long 1 with two legs");
    let (_, status) = app.get_json("/status").await;
    let risk = &status["accounts"][0]["risk"];
    assert_eq!((risk["limit"].as_f64(), &risk["blocked"]), (Some(50.0), &json!(false)), "{risk}");

    // 30 points down: 120 ticks × $0.50 = $60 open loss, past the $50 limit.
    let moved = tokio::time::Instant::now();
    sim.move_price_to(MNQ, Decimal::new(20_970, 0), 6);
    sim_until(&sim, "flat and legs cancelled within 2 s", Duration::from_secs(2), || {
        mnq_position(&sim) == 0 && working(&sim) == 0
    })
    .await;
    assert!(moved.elapsed() < Duration::from_secs(2));
    let status =
        status_until(&app, "/status shows the block", Duration::from_secs(2), |a| a["risk"]["blocked"] == true).await;
    let risk = &status["accounts"][0]["risk"];
    let reason = risk["blocked_reason"].as_str().unwrap();
    assert!(reason.starts_with("daily loss limit (DAILY_LOSS_LIMIT) 50 reached: day P&L -"), "{risk}");
    assert!(risk["day_pnl"].as_f64().unwrap() <= -50.0, "{risk}");
    assert_eq!(risk["room_left"].as_f64(), Some(0.0), "{risk}");
    let until: chrono::DateTime<chrono::Utc> = serde_json::from_value(risk["blocked_until"].clone()).unwrap();
    let chicago = pxrelay::market_time::MarketClock::default();
    assert_eq!(until, chicago.next_session_open(clock.now()), "the next 17:00 Chicago: {risk}");
    assert_eq!(chicago.local(until).format("%H:%M").to_string(), "17:00");

    // The next entry is refused naming the limit and when entries come back.
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "d-2"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("DAILY_LOSS_LIMIT") && message.contains("entries are allowed again at"), "{message}");
    assert_eq!(mnq_position(&sim), 0);

    // Once per breach: one flatten row in the journal, whose path names the limit.
    let flattens = flatten_rows(&app).await;
    assert_eq!(flattens.len(), 1, "{flattens:?}");
    assert!(
        flattens[0]["path"].as_str().unwrap().starts_with("flatten (daily loss limit (DAILY_LOSS_LIMIT) 50"),
        "{flattens:?}"
    );

    // A restart on the same journal, the same trading day: still blocked.
    app.stop().await.unwrap();
    let app = app_on_clock(&sim, &env, &clock).await;
    let (_, status) = app.get_json("/status").await;
    let risk = &status["accounts"][0]["risk"];
    assert_eq!(risk["blocked"], true, "{status}");
    assert_eq!(risk["blocked_reason"].as_str(), Some(reason), "{risk}");
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "d-3"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert!(body["message"].as_str().unwrap().contains("DAILY_LOSS_LIMIT"), "{body}");
    assert_eq!(flatten_rows(&app).await.len(), 1, "a restored block does not flatten again");

    // The next 17:00 Chicago: a new trading day, entries allowed again.
    clock.set_to(until + chrono::TimeDelta::seconds(1));
    status_until(&app, "the block ends at the session open", Duration::from_secs(2), |a| a["risk"]["blocked"] == false)
        .await;
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "d-4"}))).await;
    assert_eq!(body["status"], "placed", "{body}");
    assert_eq!(mnq_position(&sim), 1);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn daily_loss_action_block_refuses_entries_but_closes_nothing_and_exits_still_work() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let clock = TestClock::default();
    let app = app_on_clock(&sim, &[("DAILY_LOSS_LIMIT", "50"), ("DAILY_LOSS_ACTION", "block")], &clock).await;
    long_one_priced(&app, "b-1").await;
    sim.move_price_to(MNQ, Decimal::new(20_970, 0), 6);
    let status = status_until(&app, "blocked", Duration::from_secs(2), |a| a["risk"]["blocked"] == true).await;
    assert_eq!(status["accounts"][0]["risk"]["action"], "block", "{status}");
    // Entries refused; the executor queue is in order, so a flatten queued at the breach would have run by now.
    let (_, body) = app.alert(alert(json!({"action": "buy", "id": "b-2"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert!(body["message"].as_str().unwrap().contains("daily loss limit (DAILY_LOSS_LIMIT) 50 reached"), "{body}");
    assert_eq!((mnq_position(&sim), working(&sim)), (1, 2), "block closes nothing");
    // Exits are always allowed.
    let (_, body) = app.alert(alert(json!({"action": "exit", "id": "b-3"}))).await;
    assert_eq!(body["status"], "closed", "{body}");
    assert_eq!(mnq_position(&sim), 0);
    app.stop().await.unwrap();
}

#[tokio::test]
async fn a_reached_daily_profit_target_locks_in_the_day() {
    let sim = quiet_sim().await;
    sim.set_price(MNQ, Decimal::new(21_000, 0));
    let clock = TestClock::default();
    let app = app_on_clock(&sim, &[("DAILY_LOSS_LIMIT", "500"), ("DAILY_PROFIT_TARGET", "20")], &clock).await;
    long_one_priced(&app, "p-1").await;
    // 15 points up: 60 ticks × $0.50 = $30 open profit, past the $20 target.
    sim.move_price_to(MNQ, Decimal::new(21_015, 0), 3);
    sim_until(&sim, "flat and legs cancelled", Duration::from_secs(2), || {
        mnq_position(&sim) == 0 && working(&sim) == 0
    })
    .await;
    let status = status_until(&app, "blocked", Duration::from_secs(2), |a| a["risk"]["blocked"] == true).await;
    let risk = &status["accounts"][0]["risk"];
    assert!(
        risk["blocked_reason"].as_str().unwrap().starts_with("daily profit target (DAILY_PROFIT_TARGET) 20"),
        "{risk}"
    );
    assert!(risk["day_pnl"].as_f64().unwrap() >= 20.0, "the profit is realized: {risk}");
    let (_, body) = app.alert(alert(json!({"action": "sell", "id": "p-2"}))).await;
    assert_eq!(body["status"], "rejected", "{body}");
    assert!(body["message"].as_str().unwrap().contains("DAILY_PROFIT_TARGET"), "{body}");
    let text = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("pxrelay_daily_risk_breaches_total{kind=\"profit_target\"} 1"), "{text}");
    app.stop().await.unwrap();
}
