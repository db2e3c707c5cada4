//! `GET /health`: pure liveness for Railway's health check. It never looks at the gateway, so a gateway outage
//! never blocks a deploy or restarts a healthy process.

use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::state::AppState;

/// `/health`.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}
