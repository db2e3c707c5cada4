//! A warm gateway connection (issue 17): the first alert after a long quiet period goes out on the connection the
//! previous alert used, not on a new one. The simulator closes idle REST connections like a load balancer does
//! (after 1.5 s here, standing in for an ALB's 60 s) and counts the REST connections it accepted; pxrelay's
//! keep-warm (`GATEWAY_KEEPWARM_SECS`, 0.5 s here) has to keep its connection open through 3 s of silence. The
//! converse, with keep-warm off, shows the test can fail: the same sequence opens a new connection.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use pxrelay_e2e::*;
use serde_json::json;
use tokio::time::Instant;

/// The simulator's load-balancer-like idle close.
const IDLE_CLOSE: Duration = Duration::from_millis(1500);
/// The deliberate silence between the two alerts: two idle-close periods.
const QUIET: Duration = Duration::from_secs(3);

/// Polls `check` every 5 ms for up to 10 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// pxrelay against a simulator that closes idle REST connections, with keep-warm `keep_warm` (`None`: off through
/// `GATEWAY_KEEPWARM_SECS=0`).
async fn app(keep_warm: Option<Duration>) -> TestApp {
    let sim = quiet_sim().await;
    sim.set_idle_close(Some(IDLE_CLOSE));
    let mut env = env_for(&sim);
    env.insert("WEBHOOK_SECRET".into(), SECRET.into());
    if keep_warm.is_none() {
        env.insert("GATEWAY_KEEPWARM_SECS".into(), "0".into());
    }
    spawn_app_with(sim, env, |s| {
        if let Some(every) = keep_warm {
            s.gateway.keep_warm = every;
        }
    })
    .await
    .expect("pxrelay starts")
}

/// An entry, then [`QUIET`] with no alert, then its exit: the simulator's REST connection count just before the
/// quiet period and just after the exit.
async fn entry_quiet_exit(app: &TestApp, warm: bool) -> (u64, u64) {
    // The account's book syncs after the warm-up with concurrent reads that open connections of their own: wait for
    // it, so the count below sees only the alerts' and the pings' connections.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, status) = app.get_json("/status").await;
        if status["accounts"][0]["live"] == true {
            break;
        }
        assert!(Instant::now() < deadline, "the account's book goes live: {status}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (_, body) = app.alert(alert(json!({"action": "buy", "quantity": 1, "id": "warm-1"}))).await;
    assert_eq!(body["status"], "placed", "{body}");
    let before = app.sim.counters().rest_connections;
    let quiet_from = Instant::now();
    if warm {
        // Pings keep coming through the silence...
        let pings = app.sim.counters().calls("/api/Status/ping");
        tokio::time::sleep(QUIET).await;
        let during = app.sim.counters().calls("/api/Status/ping") - pings;
        assert!(during >= 4, "about one keep-warm ping per 0.5 s of silence, got {during}");
        // ...and the exit goes right after one, so it cannot meet a ping in flight (HTTP/1.1 would then need a
        // second connection, which is not what this test is about).
        let sent = app.gateway.keep_warm_stats().sent;
        eventually("the next keep-warm ping", || app.gateway.keep_warm_stats().sent > sent).await;
    } else {
        eventually("the simulator closed the idle connection", || app.sim.counters().idle_closed >= 1).await;
        tokio::time::sleep(QUIET.saturating_sub(quiet_from.elapsed())).await;
    }
    assert!(quiet_from.elapsed() >= QUIET);
    let (_, body) = app.alert(alert(json!({"action": "exit", "id": "warm-2"}))).await;
    assert_eq!(body["status"], "closed", "{body}");
    (before, app.sim.counters().rest_connections)
}

#[tokio::test]
async fn the_first_alert_after_a_long_idle_reuses_the_warm_connection() {
    let app = app(Some(Duration::from_millis(500))).await;
    let (before, after) = entry_quiet_exit(&app, true).await;
    assert_eq!(after, before, "no new TCP connection for the alert after the quiet period");
    // `idle_closed` is not 0: the warm-up's concurrent reads open several connections and the pings keep only the
    // most recently used one open (the one the next call takes from the pool); the others close.
    let stats = app.gateway.keep_warm_stats();
    assert_eq!((stats.failed, stats.skipped), (0, 0), "{stats:?}");
    assert!(stats.sent >= 5, "{stats:?}");
    // What /metrics shows is the client's count, read at scrape time.
    let text = app.http.get(format!("http://{}/metrics", app.addr)).send().await.unwrap().text().await.unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
    let sent = scrape
        .samples
        .iter()
        .find(|s| s.metric == "pxrelay_gateway_keepwarm_pings_total" && s.labels.get("outcome") == Some("sent"))
        .map(|s| s.value.clone());
    match sent {
        Some(prometheus_parse::Value::Counter(n) | prometheus_parse::Value::Untyped(n)) => {
            assert!(n >= stats.sent as f64, "{n} < {stats:?}")
        }
        other => panic!("no keep-warm counter in /metrics: {other:?}\n{text}"),
    }
    app.stop().await.expect("pxrelay stops cleanly");
}

#[tokio::test]
async fn without_keep_warm_the_first_alert_after_a_long_idle_opens_a_new_connection() {
    let app = app(None).await;
    let (before, after) = entry_quiet_exit(&app, false).await;
    assert!(after > before, "the idle connection was closed, so the exit needed a new one ({before} -> {after})");
    assert_eq!(app.sim.counters().calls("/api/Status/ping"), 0, "keep-warm off: no ping");
    app.stop().await.expect("pxrelay stops cleanly");
}
