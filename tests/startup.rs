//! Startup authenticates through `ensure_valid_token()`: a valid JWT_TOKEN costs no auth call, an expired one
//! costs exactly one login, and /status tells which happened.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::SimConfig;
use pxrelay_e2e::{env_for, spawn_app, start_sim};

#[tokio::test]
async fn a_valid_jwt_token_starts_the_app_with_zero_auth_calls() {
    let sim = start_sim(SimConfig::default()).await;
    let mut env = env_for(&sim);
    env.insert("JWT_TOKEN".into(), sim.issue_token(Duration::from_secs(24 * 3600)));
    let app = spawn_app(sim.clone(), env).await.unwrap();
    let (code, status) = app.get_json("/status").await;
    assert_eq!(code, 200);
    assert_eq!(status["mode"], "live");
    assert_eq!(status["token"]["source"], "env");
    assert_eq!(status["token"]["refreshes"], 0);
    assert!(status["token"]["seconds_left"].as_u64().unwrap() > 23 * 3600);
    assert_eq!(sim.counters().auth_calls(), 0, "{:?}", sim.counters());
    app.stop().await.unwrap();
}

#[tokio::test]
async fn an_expired_jwt_token_with_credentials_starts_with_exactly_one_login() {
    let sim = start_sim(SimConfig::default()).await;
    let mut env = env_for(&sim);
    env.insert("JWT_TOKEN".into(), sim.issue_expired_token());
    let app = spawn_app(sim.clone(), env).await.unwrap();
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["token"]["source"], "login");
    assert_eq!(status["token"]["refreshes"], 1);
    let c = sim.counters();
    assert_eq!((c.logins, c.auth_calls()), (1, 1), "{c:?}");
    app.stop().await.unwrap();
}

#[tokio::test]
async fn no_jwt_token_with_credentials_logs_in_once() {
    let sim = start_sim(SimConfig::default()).await;
    let app = spawn_app(sim.clone(), env_for(&sim)).await.unwrap();
    assert_eq!(sim.counters().logins, 1);
    assert_eq!(app.get_json("/health").await, (200, serde_json::json!({"status": "ok"})));
    app.stop().await.unwrap();
}

#[tokio::test]
async fn the_running_app_refreshes_its_token_in_the_background() {
    let sim = start_sim(SimConfig { token_lifetime: Duration::from_secs(6), ..SimConfig::default() }).await;
    let mut env = env_for(&sim);
    env.insert("TOKEN_REFRESH_MARGIN_SECS".into(), "2".into());
    let app = spawn_app(sim.clone(), env).await.unwrap();
    let first = app.gateway.tokens().current().unwrap().revision();
    let mut rx = app.gateway.tokens().subscribe();
    rx.borrow_and_update();
    tokio::time::timeout(Duration::from_secs(10), rx.changed()).await.unwrap().unwrap();
    assert!(app.gateway.tokens().current().unwrap().revision() > first);
    let (_, status) = app.get_json("/status").await;
    assert!(status["token"]["refreshes"].as_u64().unwrap() >= 2, "{status}");
    app.stop().await.unwrap();
}
