//! `POST /kill`: the kill switch. With the secret (see [`super::secret`]); body `{}` or empty turns it on,
//! `{"enabled": false}` turns it off. While it is on, entries are refused and exits still go through.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::secret::{BodySecret, OfferedSecret};
use crate::error::{ApiError, body_rejection};
use crate::state::AppState;

/// Largest accepted body: the switch takes two fields.
const BODY_LIMIT: usize = 4 * 1024;

/// `/kill`.
pub fn router() -> Router<AppState> {
    Router::new().route("/kill", post(kill))
}

async fn kill(
    State(state): State<AppState>,
    offered: OfferedSecret,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let hooks = &state.webhook;
    let body = body.map_err(|r| body_rejection(&r, BODY_LIMIT))?;
    if body.len() > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    let text = std::str::from_utf8(&body).map(str::trim).unwrap_or("\u{fffd}");
    let parsed: Result<Value, String> = if text.is_empty() {
        Ok(json!({}))
    } else {
        serde_json::from_str(text).map_err(|e| format!("is not valid JSON ({e})"))
    };
    let body_secret = match &parsed {
        Ok(v) => v["secret"].as_str().map_or(BodySecret::None, BodySecret::Offered),
        Err(why) => BodySecret::Unreadable(why),
    };
    offered.check(hooks.secret.as_ref(), body_secret)?;
    let parsed = parsed.map_err(|why| ApiError::BadPayload(format!("body: {why}; send {{\"enabled\": true}}")))?;
    let enabled = match &parsed["enabled"] {
        Value::Null => true,
        Value::Bool(b) => *b,
        other => {
            return Err(ApiError::BadPayload(format!("enabled: `{other}` is not accepted; use true or false")));
        }
    };
    hooks.guards.kill_switch.store(enabled, std::sync::atomic::Ordering::Relaxed);
    tracing::warn!(kill_switch = enabled, "kill switch changed");
    Ok(Json(json!({ "kill_switch": enabled })))
}
