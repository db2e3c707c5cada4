//! Keep-warm against the simulator closing idle connections like a load balancer: with it, the call after a quiet
//! period reuses the connection; without it, the client has to open a new one.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;

use std::time::Duration;

use common::*;
use projectx::KeepWarmStats;
use projectx_sim::{Counters, SimConfig};
use tokio_util::sync::CancellationToken;

/// The simulator's idle close: a stand-in for a load balancer's 60 s.
const IDLE_CLOSE: Duration = Duration::from_millis(600);

/// One call, a deliberate quiet period of three idle-close periods, another call: the simulator's counters and the
/// client's keep-warm counts after it.
async fn call_quiet_call(keep_warm: Duration) -> (Counters, KeepWarmStats) {
    let sim = sim_with(SimConfig { idle_close: Some(IDLE_CLOSE), ..SimConfig::default() }).await;
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    cfg.keep_warm = keep_warm;
    let client = client(cfg);
    let stop = CancellationToken::new();
    let task = tokio::spawn(client.run_keep_warm(stop.clone()));

    client.accounts(true).await.unwrap();
    assert_eq!(sim.counters().rest_connections, 1, "login and the search share one connection");
    tokio::time::sleep(IDLE_CLOSE * 3).await;
    if !keep_warm.is_zero() {
        // Right after a ping, so the call cannot meet one in flight (HTTP/1.1 would then open a second connection).
        let sent = client.keep_warm_stats().sent;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while client.keep_warm_stats().sent == sent {
            assert!(tokio::time::Instant::now() < deadline, "no keep-warm ping within 5 s");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    client.accounts(true).await.unwrap();

    stop.cancel();
    task.await.unwrap();
    (sim.counters(), client.keep_warm_stats())
}

#[tokio::test]
async fn keep_warm_pings_hold_the_connection_open_through_a_quiet_period() {
    let (counters, stats) = call_quiet_call(Duration::from_millis(200)).await;
    assert_eq!(counters.rest_connections, 1, "the call after the quiet period reused the connection");
    assert_eq!(counters.idle_closed, 0);
    let pings = counters.calls("/api/Status/ping");
    assert!(pings >= 3, "about one ping per 200 ms of quiet, got {pings}");
    assert_eq!(stats, KeepWarmStats { sent: pings, failed: 0, skipped: 0 });
    assert_eq!(counters.auth_calls(), 1, "pings need no token: one login only");
}

#[tokio::test]
async fn without_keep_warm_the_idle_connection_is_closed_and_the_next_call_opens_another() {
    let (counters, stats) = call_quiet_call(Duration::ZERO).await;
    assert_eq!(counters.idle_closed, 1);
    assert_eq!(counters.rest_connections, 2, "a new TCP connection for the call after the quiet period");
    assert_eq!(counters.calls("/api/Status/ping"), 0);
    assert_eq!(stats, KeepWarmStats::default());
}
