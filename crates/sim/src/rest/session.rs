//! `/api/Auth/*` and `/api/Status/ping`. Login with wrong credentials is a business failure
//! (HTTP 200, errorCode 3, `token: null`); validate issues a fresh token and leaves the old one
//! valid until its own expiry; logout revokes only the presented token.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::{ApiJson, ok, reply};
use crate::auth::Claims;
use crate::state::Shared;

/// LoginErrorCode 3.
const INVALID_CREDENTIALS: i32 = 3;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct LoginKey {
    user_name: String,
    api_key: String,
}

pub(super) async fn ping() -> &'static str {
    "pong"
}

pub(super) async fn login_key(State(shared): State<Arc<Shared>>, ApiJson(req): ApiJson<LoginKey>) -> Response {
    if req.user_name == shared.username && req.api_key == shared.api_key {
        let token = shared.tokens.issue_default();
        shared.counters.lock().logins += 1;
        ok(json!({ "token": token }))
    } else {
        shared.counters.lock().login_failures += 1;
        reply(INVALID_CREDENTIALS, None, json!({ "token": null }))
    }
}

pub(super) async fn validate(State(shared): State<Arc<Shared>>) -> Response {
    let token = shared.tokens.issue_default();
    shared.counters.lock().validates += 1;
    ok(json!({ "newToken": token }))
}

pub(super) async fn logout(State(shared): State<Arc<Shared>>, Extension(claims): Extension<Claims>) -> Response {
    shared.tokens.revoke(&claims);
    ok(json!({}))
}
