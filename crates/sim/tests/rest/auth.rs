//! `/api/Auth/*` and bearer checks: login, bad credentials, 401s, validate, logout, lifetime.

use super::support::*;

#[tokio::test]
async fn login_returns_a_24h_jwt_and_accepts_the_username_alias() {
    let t = spawn_default().await;
    let token = t.login().await;
    let c = claims(&token);
    assert_eq!(c["sub"], "sim-user");
    let lifetime = c["exp"].as_i64().unwrap() - c["iat"].as_i64().unwrap();
    assert!((86_399..=86_400).contains(&lifetime), "{c}");
    assert!(c["jti"].is_string());
    let alias = t.post("/api/Auth/loginKey", None, json!({ "username": "sim-user", "apiKey": "sim-api-key" })).await;
    let env: Value = alias.json().await.unwrap();
    assert_eq!(env["success"], true);
    assert_ne!(env["token"].as_str().unwrap(), token, "tokens issued in the same second differ");
    assert_eq!(t.sim.counters().logins, 2);
}

#[tokio::test]
async fn wrong_credentials_fail_with_code_3_and_a_null_token() {
    let t = spawn_default().await;
    let resp = t.post("/api/Auth/loginKey", None, json!({ "userName": "sim-user", "apiKey": "nope" })).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let env: Value = resp.json().await.unwrap();
    assert_eq!(env, json!({ "success": false, "errorCode": 3, "errorMessage": null, "token": null }));
    assert_eq!(t.sim.counters().login_failures, 1);
    assert_eq!(t.sim.counters().logins, 0);
}

#[tokio::test]
async fn missing_garbage_expired_and_revoked_tokens_get_a_bare_401() {
    let t = spawn_default().await;
    let before_revoke = t.sim.issue_token(Duration::from_secs(600));
    t.sim.revoke_all_tokens();
    let after_revoke = t.sim.issue_token(Duration::from_secs(600));
    let body = json!({ "onlyActiveAccounts": true });
    for token in [None, Some("garbage"), Some(t.sim.issue_expired_token().as_str()), Some(before_revoke.as_str())] {
        let resp = t.post("/api/Account/search", token, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
        assert!(resp.text().await.unwrap().is_empty());
    }
    let env = t.call("/api/Account/search", &after_revoke, body).await;
    assert_eq!(env["accounts"][0]["id"], ACCOUNT);
    let counters = t.sim.counters();
    assert_eq!(counters.unauthorized, 4);
    assert_eq!(counters.calls("/api/Account/search"), 5, "refused calls are counted too");
}

#[tokio::test]
async fn validate_returns_a_new_token_and_logout_revokes_only_the_presented_one() {
    let t = spawn_default().await;
    let old = t.login().await;
    let env = t.call("/api/Auth/validate", &old, json!({})).await;
    let new = env["newToken"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert_eq!(t.sim.counters().validates, 1);
    t.call("/api/Account/search", &old, json!({ "onlyActiveAccounts": true })).await;
    let expired = t.post("/api/Auth/validate", Some(&t.sim.issue_expired_token()), json!({})).await;
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
    t.call("/api/Auth/logout", &old, json!({})).await;
    let after = t.post("/api/Account/search", Some(&old), json!({ "onlyActiveAccounts": true })).await;
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
    t.call("/api/Account/search", &new, json!({ "onlyActiveAccounts": true })).await;
    assert_eq!(t.sim.counters().validates, 1);
}

#[tokio::test]
async fn short_token_lifetime_makes_tokens_expire() {
    let t = spawn_default().await;
    t.sim.set_token_lifetime(Duration::ZERO);
    let token = t.login().await;
    let resp = t.post("/api/Account/search", Some(&token), json!({ "onlyActiveAccounts": true })).await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}
