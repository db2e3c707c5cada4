//! Duplicates and stale alerts end to end (issue: faults from the field, A): the alert's own timestamp decides, not
//! the minute it arrived in; alerts without id or timestamp are never swallowed unless they are an identical entry
//! re-delivered within seconds; an alert older than `MAX_ALERT_AGE_SECS` by its own timestamp is never sent.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use chrono::{SecondsFormat, TimeDelta, Utc};
use pxrelay_e2e::{alert, app_on, mnq_position, quiet_sim};
use serde_json::json;

const PLACE: &str = "/api/Order/place";
const CLOSE: &str = "/api/Position/closeContract";

/// What `{{timenow}}` gives: UTC, whole seconds, `Z`.
fn timenow(offset: TimeDelta) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[tokio::test]
async fn the_same_timenow_resent_across_a_minute_boundary_is_one_order() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    // TradingView fills the same `timenow` into both copies; the arrival minute no longer matters, so sending the
    // copy at once is the same as sending it at hh:mm+1:00.3 after hh:mm:59.6.
    let body = alert(json!({"action": "buy", "quantity": 1, "time": timenow(TimeDelta::zero())}));
    let (code, first) = app.alert(body.clone()).await;
    assert_eq!((code, first["status"].as_str()), (200, Some("placed")), "{first}");
    let (code, again) = app.alert(body).await;
    assert_eq!((code, again["duplicate"].as_bool()), (200, Some(true)), "{again}");
    assert_eq!(again["alert_id"], first["alert_id"]);
    assert_eq!((sim.counters().calls(PLACE), mnq_position(&sim)), (1, 1), "one order, long 1");
    // The next firing carries a new `timenow`: a new alert.
    let next = alert(json!({"action": "buy", "quantity": 1, "time": timenow(TimeDelta::seconds(1))}));
    let (_, third) = app.alert(next).await;
    assert_eq!((third["status"].as_str(), third["duplicate"].as_bool()), (Some("placed"), Some(false)), "{third}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn indicator_templates_without_id_or_time_are_never_swallowed() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    // The docs' indicator templates as a new user sends them: buy, exit, sell, exit within a minute.
    let mut statuses = Vec::new();
    for action in ["buy", "exit", "sell", "exit"] {
        let (code, body) = app.alert(alert(json!({"action": action, "quantity": 1}))).await;
        assert_eq!(code, 200, "{body}");
        assert_eq!(body["duplicate"], false, "{action} swallowed: {body}");
        statuses.push(body["status"].as_str().unwrap().to_owned());
    }
    assert_eq!(statuses, ["placed", "closed", "placed", "closed"]);
    assert_eq!(mnq_position(&sim), 0, "no short left open");
    assert_eq!((sim.counters().calls(PLACE), sim.counters().calls(CLOSE)), (2, 2));
    // An exit repeated at once is executed again (a noop when flat), never answered from the first one.
    let (_, repeat) = app.alert(alert(json!({"action": "exit"}))).await;
    assert_eq!((repeat["status"].as_str(), repeat["duplicate"].as_bool()), (Some("noop"), Some(false)), "{repeat}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_identical_entry_redelivered_within_the_window_is_a_duplicate_and_later_it_is_not() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[("DUPLICATE_WINDOW_SECS", "2")]).await;
    let body = alert(json!({"action": "buy", "quantity": 1}));
    let (_, first) = app.alert(body.clone()).await;
    assert_eq!(first["status"], "placed", "{first}");
    let (_, again) = app.alert(body.clone()).await;
    assert_eq!((again["duplicate"].as_bool(), &again["alert_id"]), (Some(true), &first["alert_id"]), "{again}");
    assert_eq!(sim.counters().calls(PLACE), 1);
    // Past the window (2 s here, sliding) the same content is a new signal.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let (_, later) = app.alert(body.clone()).await;
        if later["duplicate"] == false {
            assert_eq!(later["status"], "placed", "{later}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still a duplicate 10 s later: {later}");
    }
    assert_eq!((sim.counters().calls(PLACE), mnq_position(&sim)), (2, 2));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_alert_older_than_max_alert_age_by_its_own_timestamp_is_expired_and_nothing_is_sent() {
    let sim = quiet_sim().await;
    let app = app_on(&sim, &[]).await;
    let old = alert(json!({"action": "buy", "quantity": 1, "timenow": timenow(TimeDelta::minutes(-5))}));
    let (code, body) = app.alert(old.clone()).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("expired")), "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains("s old") && message.contains("MAX_ALERT_AGE_SECS"), "{message}");
    let (_, row) =
        app.get_json(&format!("/alerts/{}?secret={}", body["alert_id"].as_str().unwrap(), pxrelay_e2e::SECRET)).await;
    assert_eq!(row["status"], "expired", "{row}");
    // TradingView re-delivering the stale alert gets the same answer, still nothing sent.
    let (_, again) = app.alert(old).await;
    assert_eq!((again["status"].as_str(), again["duplicate"].as_bool()), (Some("expired"), Some(true)), "{again}");
    assert_eq!(sim.counters().calls(PLACE), 0);
    // A clock a little ahead is fine; far ahead is a bad timestamp.
    let (_, ahead) = app.alert(alert(json!({"action": "buy", "time": timenow(TimeDelta::seconds(20))}))).await;
    assert_eq!(ahead["status"], "placed", "20 s of clock difference must not refuse a fresh alert: {ahead}");
    let (code, far) = app.alert(alert(json!({"action": "buy", "time": timenow(TimeDelta::minutes(10))}))).await;
    assert_eq!((code, far["error"].as_str()), (400, Some("bad_payload")), "{far}");
    assert!(far["message"].as_str().unwrap().contains("ahead of this server's clock"), "{far}");
    assert_eq!(sim.counters().calls(PLACE), 1);
    app.stop().await.unwrap();
}
