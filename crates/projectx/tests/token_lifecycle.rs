//! The token lifecycle against the simulator: seeding, single-flight refresh, 401 replay, outages, rotation.
#![allow(clippy::unwrap_used, reason = "tests: a panic is the failure report")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use projectx::{AuthError, TokenSource};
use projectx_sim::Scope;

#[tokio::test]
async fn a_valid_seed_token_is_used_with_no_auth_call() {
    let sim = sim().await;
    let seed = sim.issue_token(Duration::from_secs(24 * 3600));
    let client = client(config(&sim, Some(credentials(&sim)), Some(seed)));
    let token = client.tokens().ensure_valid_token().await.unwrap();
    assert_eq!(token.source(), TokenSource::Env);
    let accounts = client.accounts(true).await.unwrap();
    assert_eq!(accounts[0].id, ACCOUNT);
    let c = sim.counters();
    assert_eq!(c.auth_calls(), 0, "{c:?}");
    assert_eq!(c.calls("/api/Account/search"), 1);
}

#[tokio::test]
async fn an_expired_seed_with_credentials_logs_in_exactly_once() {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_expired_token())));
    let token = client.tokens().ensure_valid_token().await.unwrap();
    assert_eq!(token.source(), TokenSource::Login);
    client.accounts(true).await.unwrap();
    client.tokens().ensure_valid_token().await.unwrap();
    let c = sim.counters();
    assert_eq!((c.logins, c.validates, c.auth_calls()), (1, 0, 1), "{c:?}");
}

#[tokio::test]
async fn no_usable_token_and_no_credentials_names_the_variables_to_set() {
    let sim = sim().await;
    for seed in [None, Some(sim.issue_expired_token())] {
        let client = client(config(&sim, None, seed));
        let err = client.tokens().ensure_valid_token().await.unwrap_err();
        assert!(matches!(err, AuthError::NoCredentials { .. }));
        let text = err.to_string();
        for var in ["PROJECT_X_USERNAME", "PROJECT_X_API_KEY", "JWT_TOKEN"] {
            assert!(text.contains(var), "{var} not named in: {text}");
        }
    }
    let client = client(config(&sim, None, Some("not-a-jwt-SENTINEL".to_owned())));
    let text = client.tokens().ensure_valid_token().await.unwrap_err().to_string();
    assert!(text.contains("JWT_TOKEN is set but is not a JWT"), "a malformed token is not called missing: {text}");
    assert!(!text.contains("SENTINEL"), "the value is never printed: {text}");
    assert_eq!(sim.counters().auth_calls(), 0, "nothing to call the gateway with");
}

#[tokio::test]
async fn bad_credentials_are_a_definitive_error_with_the_provider_code() {
    let sim = sim().await;
    let mut creds = credentials(&sim);
    creds.api_key = "wrong".to_owned().into();
    let client = client(config(&sim, Some(creds), None));
    let err = client.tokens().ensure_valid_token().await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains("InvalidCredentials (errorCode 3)"), "{text}");
    assert!(text.contains("PROJECT_X_API_KEY"), "{text}");
    assert!(!text.contains("wrong"), "the key must not be echoed: {text}");
}

#[tokio::test]
async fn two_hundred_concurrent_callers_inside_the_margin_cause_one_gateway_call() {
    let sim = sim().await;
    // 4 minutes left with the default 5 minute margin: a refresh is due.
    let seed = sim.issue_token(Duration::from_secs(240));
    let client = client(config(&sim, Some(credentials(&sim)), Some(seed)));
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.tokens().ensure_valid_token().await })
        })
        .collect();
    let mut revisions = Vec::new();
    for t in tasks {
        revisions.push(t.await.unwrap().unwrap().revision());
    }
    assert!(revisions.iter().all(|r| *r == 2), "every caller gets the one refreshed token");
    let c = sim.counters();
    assert_eq!(c.auth_calls(), 1, "{c:?}");
    assert_eq!(c.validates, 1, "validate is used while the token is still accepted");
    assert_eq!(client.tokens().status().refreshes, 1);
}

#[tokio::test]
async fn a_revoked_token_is_refreshed_once_and_the_request_replayed() {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600)))));
    sim.revoke_all_tokens();
    let accounts = client.accounts(true).await.unwrap();
    assert_eq!(accounts.len(), 1);
    let c = sim.counters();
    assert_eq!(c.unauthorized, 1, "{c:?}");
    assert_eq!((c.logins, c.validates), (1, 0), "a refused token is not validated: {c:?}");
    assert_eq!(c.calls("/api/Account/search"), 2);
    assert_eq!(client.tokens().status().refreshes, 1);
}

#[tokio::test]
async fn many_requests_failing_on_the_same_revoked_token_cause_one_login() {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600)))));
    client.accounts(true).await.unwrap();
    sim.revoke_all_tokens();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.accounts(true).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(sim.counters().logins, 1, "{:?}", sim.counters());
}

#[tokio::test]
async fn an_order_refused_with_401_is_replayed_once_because_the_gateway_did_not_act() {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_token(Duration::from_secs(3600)))));
    sim.revoke_all_tokens();
    let id = client.place_order(&market_buy("tag-401")).await.unwrap();
    assert_eq!(sim.orders().iter().filter(|o| o.id == id.get()).count(), 1);
    assert_eq!(sim.orders().len(), 1, "exactly one order despite the replay");
}

/// An outage of the auth endpoints while a refresh is due: the still-valid token keeps every call working, the
/// refresh is retried with backoff and succeeds once the gateway is back.
#[tokio::test]
async fn a_twenty_second_auth_outage_during_a_due_refresh_never_logs_out() {
    let sim = sim().await;
    let seed = sim.issue_token(Duration::from_secs(40));
    let mut cfg = config(&sim, Some(credentials(&sim)), Some(seed));
    cfg.token.refresh_margin = Duration::from_secs(35);
    let client = client(cfg);
    sim.fail_for(Duration::from_secs(20), 503, Scope::Auth);
    let start = tokio::time::Instant::now();
    let mut calls = 0;
    while start.elapsed() < Duration::from_secs(24) {
        client.accounts(true).await.expect("calls keep working during the auth outage");
        calls += 1;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = client.tokens().status();
    assert!(status.failures >= 3, "refresh was attempted and failed during the outage: {status:?}");
    assert!(status.refreshes >= 1, "and succeeded after it: {status:?}");
    assert!(status.last_error.is_none(), "{status:?}");
    let c = sim.counters();
    assert!(c.injected_failures >= 3, "{c:?}");
    assert_eq!(c.unauthorized, 0, "{c:?}");
    assert!(calls > 50);
}

/// With no usable token at all, callers wait (single-flight) for the outage to end instead of failing.
#[tokio::test]
async fn with_no_usable_token_callers_wait_out_an_outage() {
    let sim = sim().await;
    let client = client(config(&sim, Some(credentials(&sim)), Some(sim.issue_expired_token())));
    sim.fail_for(Duration::from_secs(3), 503, Scope::Auth);
    let waiters: Vec<_> = (0..10)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move { c.accounts(true).await })
        })
        .collect();
    for w in waiters {
        w.await.unwrap().expect("served once the gateway is back");
    }
    assert_eq!(sim.counters().logins, 1);
}

/// 13-second tokens and two minutes of continuous calls: the background refresher rotates ahead of expiry, so no
/// call fails and the gateway never answers 401.
#[tokio::test]
async fn thirteen_second_tokens_rotate_ahead_of_expiry_for_two_minutes() {
    let sim = sim_with(projectx_sim::SimConfig {
        token_lifetime: Duration::from_secs(13),
        ..projectx_sim::SimConfig::default()
    })
    .await;
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    cfg.token.refresh_margin = Duration::from_secs(4);
    cfg.token.check_interval = Duration::from_secs(5);
    let client = client(cfg);
    client.tokens().ensure_valid_token().await.unwrap();
    let cancel = tokio_util::sync::CancellationToken::new();
    let refresher = tokio::spawn(client.tokens().clone().run_refresher(cancel.clone()));
    let tokens = client.tokens().subscribe();

    let start = tokio::time::Instant::now();
    let (mut ok, mut min_left) = (0u32, Duration::MAX);
    while start.elapsed() < Duration::from_secs(120) {
        let before = client.tokens().current().unwrap();
        min_left = min_left.min(before.time_left());
        client.accounts(true).await.expect("no call fails across token rotations");
        ok += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    cancel.cancel();
    refresher.await.unwrap();
    assert!(tokens.has_changed().unwrap());
    let status = client.tokens().status();
    let c = sim.counters();
    assert_eq!(c.unauthorized, 0, "no request ever used an expired token: {c:?}");
    assert!(status.refreshes >= 9, "about one refresh per 8-9 s: {status:?}");
    assert!(min_left > Duration::from_secs(2), "requests always had a token with time left: {min_left:?}");
    assert!(ok > 300, "{ok} calls");
}

#[tokio::test]
async fn the_refresher_publishes_every_new_token_on_the_watch_channel() {
    let sim = sim_with(projectx_sim::SimConfig {
        token_lifetime: Duration::from_secs(6),
        ..projectx_sim::SimConfig::default()
    })
    .await;
    let mut cfg = config(&sim, Some(credentials(&sim)), None);
    cfg.token.refresh_margin = Duration::from_secs(2);
    let client = client(cfg);
    let first = client.tokens().ensure_valid_token().await.unwrap();
    let mut rx = client.tokens().subscribe();
    rx.borrow_and_update();
    let cancel = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(client.tokens().clone().run_refresher(cancel.clone()));
    tokio::time::timeout(Duration::from_secs(10), rx.changed())
        .await
        .expect("a new token within its lifetime")
        .unwrap();
    let next: Arc<projectx::Token> = rx.borrow().clone().unwrap();
    assert!(next.revision() > first.revision());
    assert!(next.expires_at() > first.expires_at());
    cancel.cancel();
    task.await.unwrap();
}

fn market_buy(tag: &str) -> projectx::PlaceOrder {
    projectx::PlaceOrder {
        account_id: ACCOUNT,
        contract_id: "CON.F.US.MNQ.Z25".into(),
        order_type: projectx::OrderType::Market,
        side: projectx::OrderSide::Bid,
        size: 1,
        limit_price: None,
        stop_price: None,
        trail_price: None,
        custom_tag: Some(tag.into()),
        stop_loss_bracket: None,
        take_profit_bracket: None,
    }
}
