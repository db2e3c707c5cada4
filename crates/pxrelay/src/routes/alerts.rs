//! `GET /alerts?limit=N` and `GET /alerts/{id}`: read the journal. They show trading history, so they need the
//! webhook secret (`Authorization: Bearer <secret>` or `?secret=`).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::routes::webhook::secret_matches;
use crate::state::AppState;

/// `/alerts`, `/alerts/{id}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/alerts", get(list)).route("/alerts/{id}", get(one))
}

/// `Some(refusal)` unless the request carries the secret.
fn refused(state: &AppState, query: &HashMap<String, String>, headers: &HeaderMap) -> Option<Response> {
    let Some(expected) = state.webhook.secret.as_ref() else {
        return Some((StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "webhook_disabled"}))).into_response());
    };
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    match bearer.or(query.get("secret").map(String::as_str)) {
        Some(offered) if secret_matches(expected, offered) => None,
        _ => Some((StatusCode::UNAUTHORIZED, Json(json!({"error": "unauthorized"}))).into_response()),
    }
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&state, &query, &headers) {
        return r;
    }
    let limit = query.get("limit").and_then(|l| l.parse::<u32>().ok()).unwrap_or(50).clamp(1, 1000);
    match state.webhook.journal.list(limit).await {
        Ok(rows) => Json(json!({ "alerts": rows })).into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "journal_unavailable", "message": e.to_string()})))
                .into_response()
        }
    }
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&state, &query, &headers) {
        return r;
    }
    match state.webhook.journal.get(&id).await {
        Ok(Some(row)) => Json(row).into_response(),
        Ok(None) => (StatusCode::NOT_FOUND, Json(json!({"error": "not_found", "message": format!("no alert `{id}`")})))
            .into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"error": "journal_unavailable", "message": e.to_string()})))
                .into_response()
        }
    }
}
