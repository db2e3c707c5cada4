//! `GET /alerts?limit=N` and `GET /alerts/{id}`: read the journal. They show trading history, so they need the
//! webhook secret (see [`super::secret`]: `Authorization: Bearer <secret>` or `?secret=`).

use std::collections::HashMap;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::secret::{BodySecret, OfferedSecret};
use crate::error::ApiError;
use crate::journal::StoredAlert;
use crate::state::AppState;

/// Rows listed when `limit` is not given.
const DEFAULT_LIMIT: u32 = 50;
/// Most rows one request may list.
const MAX_LIMIT: u32 = 1000;

/// `/alerts`, `/alerts/{id}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/alerts", get(list)).route("/alerts/{id}", get(one))
}

async fn list(
    State(state): State<AppState>,
    offered: OfferedSecret,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    offered.check(state.webhook.secret.as_ref(), BodySecret::None)?;
    let Query(query) = query.map_err(|e| ApiError::BadQuery(format!("query: {}", e.body_text())))?;
    let limit = match query.get("limit").map(|l| l.trim()) {
        None => DEFAULT_LIMIT,
        Some(text) => text.parse::<u32>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
            ApiError::BadQuery(format!(
                "limit: `{text}` is not accepted; expected a whole number from 1 to {MAX_LIMIT}"
            ))
        })?,
    };
    let rows = state.webhook.journal.list(limit).await.map_err(journal_error)?;
    Ok(Json(json!({ "alerts": rows })))
}

async fn one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    offered: OfferedSecret,
) -> Result<Json<StoredAlert>, ApiError> {
    offered.check(state.webhook.secret.as_ref(), BodySecret::None)?;
    state.webhook.journal.get(&id).await.map_err(journal_error)?.map(Json).ok_or(ApiError::AlertNotFound(id))
}

fn journal_error(e: crate::journal::JournalError) -> ApiError {
    ApiError::JournalUnavailable(format!("the journal could not be read: {e}"))
}
