//! `GET /status`: what an operator asks first: live or sim (and dry run / kill switch / the time rules now,
//! `hours`: `market_open`, `window_open`, `flat_by_block`, `next_entry_allowed_at`), how far startup is
//! (`startup`), the token's expiry and refresh count, the market hub and its subscriptions, the user hub (and, on
//! top, `user_hub_pause`: `null`, or why re-login is paused because another session uses this login and what to
//! do), the watched accounts (`accounts[]`: every configured account, with `can_trade` and `groups`, and its daily
//! risk, `risk`: day P&L, limit, room left, block; [`crate::risk::DailyRisk::status`]), webhook counters, the journal
//! file, uptime, version. Never shows a token or a secret.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use projectx::AccountId;

use crate::metrics::WebhookOutcome;
use crate::state::AppState;

/// `/status`.
pub fn router() -> Router<AppState> {
    Router::new().route("/status", get(status))
}

/// `name`, `can_trade` and `groups` for each account entry of [`crate::books::Books::status`]: `groups` (its
/// `ACCOUNT_GROUPS` groups) and, until its book has had a snapshot, `name` and `can_trade` from the last account
/// listing (never a gateway call).
fn describe_accounts(state: &AppState, accounts: &mut [Value]) {
    let described = state.webhook.accounts.describe();
    for entry in accounts {
        let id = entry["id"].as_i64().and_then(|id| i32::try_from(id).ok()).map(projectx::AccountId::new);
        let info = id.and_then(|id| described.get(&id));
        if let Some(info) = info {
            if entry["name"].is_null() {
                entry["name"] = Value::from(info.name.clone());
            }
            if entry["can_trade"].is_null() {
                entry["can_trade"] = Value::from(info.can_trade);
            }
        }
        entry["groups"] = info.map(|i| Value::from(i.groups.clone())).unwrap_or_else(|| Value::Array(Vec::new()));
    }
}

/// The `/status` answer; the dashboard ([`crate::routes::dashboard`]) renders the same value.
pub async fn status(State(state): State<AppState>) -> Json<Value> {
    let token = state.gateway.tokens().status();
    let hooks = &state.webhook;
    let m = &state.metrics;
    let user_hub = state.books.hub_status();
    let marks = crate::pnl::marks(&state.quotes, state.books.position_contracts()).await;
    let mut accounts = state.books.status(&marks);
    describe_accounts(&state, &mut accounts);
    for account in &mut accounts {
        if let Some(id) = account["id"].as_i64().and_then(|id| i32::try_from(id).ok()) {
            account["risk"] = state.risk.status(&state.books, AccountId::new(id), &marks);
        }
    }
    let leader = crate::leader::status(state.leadership.as_deref());
    Json(json!({
        "mode": state.mode.as_str(),
        "role": leader["role"],
        "epoch": leader["epoch"],
        "instance": leader["instance"],
        "dry_run": hooks.guards.dry_run,
        "kill_switch": hooks.guards.kill_switch.load(std::sync::atomic::Ordering::Relaxed),
        "hours": hooks.guards.hours.status(hooks.guards.hours.now()),
        "webhooks_enabled": hooks.secret.is_some(),
        "startup": state.warmup.status(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": state.started.elapsed().as_secs(),
        "token": token,
        "market": state.quotes.market().status(),
        "user_hub_pause": crate::logout::status_entry(&user_hub),
        "user_hub": user_hub,
        "accounts": accounts,
        "webhooks": WebhookOutcome::ALL
            .into_iter()
            .map(|o| (o.as_str().to_owned(), Value::from(m.webhook_count(o))))
            .collect::<serde_json::Map<_, _>>(),
        "journal": hooks.journal.describe(),
    }))
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    use crate::state::{AppState, Mode};

    fn state(mode: Mode) -> AppState {
        crate::testing::test_state(mode)
    }

    async fn get_json(mode: Mode, path: &str) -> (StatusCode, serde_json::Value) {
        let resp =
            crate::routes::router(state(mode)).oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn health_is_ok_without_any_gateway() {
        let (code, body) = get_json(Mode::Live, "/health").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body, serde_json::json!({"status": "ok"}));
    }

    #[tokio::test]
    async fn status_shows_the_mode_and_an_absent_token() {
        let (code, body) = get_json(Mode::Sim, "/status").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(body["mode"], "sim");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert!(body["token"]["expires_at"].is_null());
        assert_eq!(body["token"]["refreshes"], 0);
        assert_eq!(body["market"]["connected"], false);
        let hours = serde_json::json!({
            "market_open": true, "window_open": true, "flat_by_block": false, "next_entry_allowed_at": null
        });
        assert_eq!(body["hours"], hours, "no time rule in force");
    }

    #[tokio::test]
    async fn ready_has_a_user_hub_check_and_status_no_pause_by_default() {
        let (_, ready) = get_json(Mode::Live, "/ready").await;
        let check = &ready["checks"]["user_hub"];
        assert_eq!(check["ok"], true, "{ready}");
        assert!(check["reason"].as_str().unwrap().contains("not trading"), "dry run, no secret: {ready}");
        let (_, status) = get_json(Mode::Live, "/status").await;
        assert_eq!(status["user_hub_pause"], serde_json::Value::Null, "{status}");
        assert_eq!(status["user_hub"]["logged_out_by_other_session"], false);
    }
}
