//! TCP connections: every accept is counted, REST connections apart, and the load-balancer-like idle
//! close ends a quiet connection so the client's next request needs a new one.

use crate::support::*;

/// `GET /api/Status/ping` on `http` (public, no token).
async fn ping(t: &TestSim, http: &reqwest::Client) {
    let resp = http.get(format!("{}/api/Status/ping", t.sim.base_url())).send().await.expect("ping answered");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.expect("a body"), "pong");
}

/// Polls `check` every 10 ms for up to 5 s.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_keep_alive_client_uses_one_connection_and_each_new_client_is_counted() {
    let t = spawn_default().await;
    for _ in 0..3 {
        ping(&t, &t.http).await;
    }
    let counters = t.sim.counters();
    assert_eq!((counters.tcp_connections, counters.rest_connections), (1, 1));

    ping(&t, &reqwest::Client::new()).await;
    let counters = t.sim.counters();
    assert_eq!((counters.tcp_connections, counters.rest_connections, counters.idle_closed), (2, 2, 0));
}

#[tokio::test]
async fn idle_close_ends_a_quiet_connection_and_the_next_request_opens_another() {
    let t = spawn_sim(SimConfig { idle_close: Some(Duration::from_millis(300)), ..SimConfig::default() }).await;
    ping(&t, &t.http).await;
    eventually("the idle connection closed", || t.sim.counters().idle_closed == 1).await;
    ping(&t, &t.http).await;
    assert_eq!(t.sim.counters().rest_connections, 2, "the client had to connect again");
}

#[tokio::test]
async fn traffic_inside_the_idle_period_keeps_the_connection_open() {
    let t = spawn_default().await;
    t.sim.set_idle_close(Some(Duration::from_millis(400)));
    // 1.5 s in all, never quiet for more than 100 ms (plus a round trip).
    for _ in 0..15 {
        ping(&t, &t.http).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let counters = t.sim.counters();
    assert_eq!((counters.rest_connections, counters.idle_closed), (1, 0));

    t.sim.set_idle_close(None);
    // Off again: a quiet period three times the old one closes nothing.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ping(&t, &t.http).await;
    let counters = t.sim.counters();
    assert_eq!((counters.rest_connections, counters.idle_closed), (1, 0));
}

#[tokio::test]
async fn a_connect_delay_holds_a_new_connections_first_request_and_not_a_reused_ones() {
    let t = spawn_default().await;
    ping(&t, &t.http).await;
    t.sim.set_connect_delay(Some(Duration::from_millis(300)));
    let started = tokio::time::Instant::now();
    ping(&t, &reqwest::Client::new()).await;
    let cold = started.elapsed();
    assert!(cold >= Duration::from_millis(300), "a new connection waited for its handshakes: {cold:?}");
    let started = tokio::time::Instant::now();
    ping(&t, &t.http).await;
    let warm = started.elapsed();
    assert!(warm < cold, "the connection accepted before the delay was set is not held: {warm:?} vs {cold:?}");
    assert_eq!(t.sim.counters().rest_connections, 2);
}
