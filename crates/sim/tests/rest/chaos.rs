//! Chaos controls and rate limits: injected failures, ambiguous outcomes, 429s, latency, shutdown.

use super::support::*;

#[tokio::test]
async fn fail_next_scoped_to_auth_spares_other_paths() {
    let t = spawn_default().await;
    let token = t.sim.issue_token(Duration::from_secs(600));
    t.sim.fail_next(2, 503, Scope::Auth);
    let login = json!({ "userName": "sim-user", "apiKey": "sim-api-key" });
    for _ in 0..2 {
        let resp = t.post("/api/Auth/loginKey", None, login.clone()).await;
        assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(resp.text().await.unwrap().is_empty());
    }
    t.call("/api/Account/search", &token, json!({ "onlyActiveAccounts": true })).await;
    t.login().await;
    let counters = t.sim.counters();
    assert_eq!((counters.injected_failures, counters.logins, counters.auth_calls()), (2, 1, 3));
}

#[tokio::test]
async fn fail_for_scoped_to_auth_ends_after_the_window() {
    let t = spawn_default().await;
    let token = t.sim.issue_token(Duration::from_secs(600));
    t.sim.fail_for(Duration::from_millis(300), 500, Scope::Auth);
    let login = json!({ "userName": "sim-user", "apiKey": "sim-api-key" });
    let resp = t.post("/api/Auth/loginKey", None, login.clone()).await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    t.call("/api/Contract/available", &token, json!({ "live": false })).await;
    tokio::time::sleep(Duration::from_millis(350)).await;
    t.login().await;
    assert_eq!(t.sim.counters().injected_failures, 1);
}

#[tokio::test]
async fn fail_after_processing_places_the_order_and_a_retry_with_the_tag_is_refused() {
    let t = spawn_default().await;
    let token = t.login().await;
    t.sim.fail_next_after_processing(1, 504, Scope::Path("/api/Order/place".into()));
    let mut order = market_order(MNQ, 0, 1);
    order["customTag"] = json!("alert-42");
    let resp = t.post("/api/Order/place", Some(&token), order.clone()).await;
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(t.sim.orders().len(), 1, "the order was really placed");
    assert_eq!(t.sim.positions()[0].size, 1);
    let retry = t.place(&token, order).await;
    assert_eq!(retry["success"], false);
    assert_eq!(retry["errorCode"], 2);
    assert!(retry["errorMessage"].as_str().unwrap().contains("not unique"), "{retry}");
    assert!(retry["orderId"].is_i64(), "a rejected order still gets an id");
    assert_eq!(t.sim.orders()[1].status, 5);
    assert_eq!(t.sim.positions()[0].size, 1, "the duplicate did not trade");
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let cfg = SimConfig {
        general_limit: Some(RateLimit { requests: 3, window: Duration::from_secs(60) }),
        history_limit: Some(RateLimit { requests: 1, window: Duration::from_secs(30) }),
        ..SimConfig::default()
    };
    let t = spawn_sim(cfg).await;
    let token = t.sim.issue_token(Duration::from_secs(600));
    let now = chrono::Utc::now();
    let bars = json!({
        "contractId": MNQ, "live": false, "startTime": now - chrono::TimeDelta::hours(1), "endTime": now,
        "unit": 2, "unitNumber": 1, "limit": 5, "includePartialBar": true,
    });
    t.call("/api/History/retrieveBars", &token, bars.clone()).await;
    let refused = t.post("/api/History/retrieveBars", Some(&token), bars).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    t.call("/api/Contract/available", &token, json!({ "live": false })).await;
    t.call("/api/Contract/available", &token, json!({ "live": false })).await;
    let refused = t.post("/api/Contract/available", Some(&token), json!({ "live": false })).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert!(refused.text().await.unwrap().is_empty());
    assert_eq!(t.sim.counters().rate_limited, 2);
}

#[tokio::test]
async fn ping_latency_and_shutdown() {
    let t = spawn_default().await;
    let ping = t.http.get(format!("{}/api/Status/ping", t.sim.base_url())).send().await.unwrap();
    assert_eq!(ping.text().await.unwrap(), "pong");
    t.sim.set_latency(Duration::from_millis(150));
    let started = tokio::time::Instant::now();
    t.http.get(format!("{}/api/Status/ping", t.sim.base_url())).send().await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    t.sim.clear_chaos();
    t.sim.shutdown();
    let fresh = reqwest::Client::new();
    let mut refused = false;
    for _ in 0..50 {
        if fresh.get(format!("{}/api/Status/ping", t.sim.base_url())).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(refused, "the server stops accepting connections");
}

#[tokio::test]
async fn a_latency_for_one_path_slows_only_that_path_after_processing() {
    let t = spawn_default().await;
    let token = t.login().await;
    t.sim.set_latency_for(Scope::Path("/api/Order/place".into()), Duration::from_millis(150));
    let started = tokio::time::Instant::now();
    t.call("/api/Account/search", &token, json!({ "onlyActiveAccounts": true })).await;
    assert!(started.elapsed() < Duration::from_millis(150), "other paths answer at once");
    let started = tokio::time::Instant::now();
    let placed = t.place(&token, market_order(MNQ, 0, 1)).await;
    let waited = started.elapsed();
    assert_eq!(placed["success"], true, "{placed}");
    assert!(waited >= Duration::from_millis(150), "Order/place waited {waited:?}");
    let order = t.sim.orders().pop().expect("the order is recorded");
    let answered = chrono::Utc::now() - order.created;
    assert!(answered >= chrono::TimeDelta::milliseconds(150), "the order was created before the wait: {answered}");
}
