//! `GET /health`: pure liveness for Railway's health check. It never looks at the gateway, so a gateway outage
//! never blocks a deploy or restarts a healthy process.
//!
//! `GET /ready`: the truth. 200 only when startup has finished the steps that need the gateway
//! ([`crate::warmup`]), the session token is valid, if any symbols are subscribed the market hub is connected and
//! quotes are fresh, and the user hub passes [`crate::logout::ready_check`] (synced while trading with an account
//! watched; never while re-login is paused because another session uses this login); otherwise 503 with the failing
//! checks.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

/// `/health`.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health)).route("/ready", get(ready))
}

async fn ready(State(state): State<AppState>) -> Response {
    let token = match state.gateway.tokens().current() {
        Some(t) if t.is_usable() => json!({"ok": true, "seconds_left": t.time_left().as_secs()}),
        Some(_) => json!({"ok": false, "reason": "the session token is expired or was refused"}),
        None => json!({
            "ok": false,
            "reason": "no session token yet: the first login has not succeeded",
            "last_error": state.gateway.tokens().status().last_error,
        }),
    };
    let market = state.quotes.market().status();
    let stale_after = state.quotes.stale_after();
    let market_check = if market.subscriptions.is_empty() {
        json!({"ok": true, "reason": "no subscriptions"})
    } else if !market.connected {
        json!({"ok": false, "reason": "the market hub is not connected"})
    } else {
        match market.last_quote_age_ms {
            Some(ms) if u128::from(ms) <= stale_after.as_millis() => json!({"ok": true, "last_quote_age_ms": ms}),
            Some(ms) => json!({"ok": false, "reason": "quotes are stale", "last_quote_age_ms": ms}),
            None => json!({"ok": false, "reason": "no quote received yet"}),
        }
    };
    // Trading: orders may be sent (webhooks enabled and not a dry run).
    let trading = state.webhook.secret.is_some() && !state.webhook.guards.dry_run;
    let user_hub = crate::logout::ready_check(&state.books.hub_status(), trading);
    let shutting_down = state.shutdown.is_cancelled();
    let startup = state.warmup.status();
    let leader = crate::leader::status(state.leadership.as_deref());
    // A standby executes nothing: it is ready when it can journal alerts for the leader (issue 14), so a deploy
    // that overlaps the leader becomes healthy.
    if leader["role"] == "standby" && !shutting_down {
        let body = json!({"ready": true, "role": "standby", "checks": {"accepting_alerts": true, "startup": startup}});
        return (StatusCode::OK, Json(body)).into_response();
    }
    let ok = token["ok"] == true
        && market_check["ok"] == true
        && user_hub["ok"] == true
        && startup["ready"] == true
        && !shutting_down;
    let body = json!({
        "ready": ok,
        "role": leader["role"],
        "checks": {
            "token": token,
            "market": market_check,
            "user_hub": user_hub,
            "startup": startup,
            "accepting_alerts": !shutting_down,
        },
    });
    let code = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(body)).into_response()
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
