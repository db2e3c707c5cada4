//! Startup authenticates through `ensure_valid_token()`: a valid JWT_TOKEN costs no auth call, an expired one
//! costs exactly one login, and /status tells which happened. The listener is bound before the gateway is asked
//! anything: during a login outage `/health` answers at once and webhooks wait (503 `not_ready`) for the first token.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

use std::time::Duration;

use projectx_sim::{Scope, SimConfig};
use pxrelay::warmup::Stage;
use pxrelay_e2e::{SECRET, alert, env_for, quiet_sim, spawn_app, start_app, start_sim};
use serde_json::json;

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

#[tokio::test]
async fn during_a_login_outage_health_answers_at_once_and_webhooks_wait_for_the_first_token() {
    let sim = quiet_sim().await;
    let started = tokio::time::Instant::now();
    sim.fail_for(Duration::from_secs(5), 503, Scope::Auth);
    let mut env = env_for(&sim);
    env.insert("WEBHOOK_SECRET".into(), SECRET.into());
    let app = start_app(sim.clone(), env).await.unwrap();
    assert_eq!(app.get_json("/health").await, (200, json!({"status": "ok"})));
    assert!(started.elapsed() < Duration::from_secs(1), "/health answered after {:?}", started.elapsed());

    let (code, ready) = app.get_json("/ready").await;
    assert_eq!(code, 503, "{ready}");
    assert_eq!(ready["checks"]["token"]["ok"], false, "{ready}");
    assert_eq!(ready["checks"]["startup"]["stage"], "token", "{ready}");
    assert!(ready["checks"]["startup"]["waiting_for"].as_str().unwrap().contains("session token"), "{ready}");
    let (_, status) = app.get_json("/status").await;
    assert_eq!(status["startup"]["ready"], false, "{status}");
    assert_eq!(status["startup"]["stage"], "token", "{status}");

    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "outage-1"}))).await;
    assert_eq!((code, body["error"].as_str()), (503, Some("not_ready")), "{body}");
    assert!(body["message"].as_str().unwrap().contains("session token"), "{body}");
    let (code, body) = app.get_json(&format!("/alerts/outage-1?secret={SECRET}")).await;
    assert_eq!((code, body["error"].as_str()), (404, Some("not_found")), "nothing journaled: {body}");
    assert!(sim.orders().is_empty());
    assert!(started.elapsed() < Duration::from_secs(5), "all of the above happened during the outage");

    let mut stage = app.warmup.subscribe();
    tokio::time::timeout(Duration::from_secs(40), stage.wait_for(|s| *s == Stage::Ready)).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_secs(5), "no token while logins failed");
    // The default account's book is watched from the end of the warm-up on, and /ready waits for its user hub.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (code, ready) = app.get_json("/ready").await;
        if code == 200 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{ready}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(app.get_json("/status").await.1["startup"], json!({"ready": true, "stage": "ready"}));
    let (code, body) = app.alert(alert(json!({"action": "buy", "id": "outage-2"}))).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("placed")), "{body}");
    assert_eq!(sim.orders().len(), 1);
    app.stop().await.unwrap();
}
