//! `GET /quote/{symbol}`: the latest quote, streamed or from bars. Unknown symbol → 404, invalid symbol → 400,
//! nothing available → 503, gateway failure while resolving → 502. Errors are JSON `{"error","message"}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use projectx::ResolveError;
use serde_json::json;

use crate::quotes::QuoteError;
use crate::state::AppState;

/// `/quote/{symbol}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/quote/{symbol}", get(quote))
}

async fn quote(State(state): State<AppState>, Path(symbol): Path<String>) -> Response {
    match state.quotes.quote(&symbol).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => error_response(&e),
    }
}

fn error_response(e: &QuoteError) -> Response {
    let (status, code) = match e {
        QuoteError::Resolve(ResolveError::InvalidSymbol { .. }) => (StatusCode::BAD_REQUEST, "invalid_symbol"),
        QuoteError::Resolve(ResolveError::UnknownSymbol { .. }) => (StatusCode::NOT_FOUND, "unknown_symbol"),
        QuoteError::Resolve(_) => (StatusCode::BAD_GATEWAY, "gateway_error"),
        QuoteError::Unavailable { .. } => (StatusCode::SERVICE_UNAVAILABLE, "quote_unavailable"),
    };
    (status, Json(json!({ "error": code, "message": e.to_string() }))).into_response()
}
