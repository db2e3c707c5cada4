//! `GET /quote/{symbol}`: the latest quote, streamed or from bars. Invalid symbol → 400 `invalid_symbol`, unknown
//! symbol → 404 `unknown_symbol`, gateway failure while resolving → 502 `gateway_error`, nothing available → 503
//! `quote_unavailable` (see [`ApiError`]).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use projectx::ResolveError;

use crate::error::ApiError;
use crate::quotes::{QuoteError, QuoteView};
use crate::state::AppState;

/// `/quote/{symbol}`.
pub fn router() -> Router<AppState> {
    Router::new().route("/quote/{symbol}", get(quote))
}

async fn quote(State(state): State<AppState>, Path(symbol): Path<String>) -> Result<Json<QuoteView>, ApiError> {
    super::queued::refuse_on_standby(&state, "a quote")?;
    state.quotes.quote(&symbol).await.map(Json).map_err(|e| match &e {
        QuoteError::Resolve(ResolveError::InvalidSymbol { .. }) => ApiError::InvalidSymbol(e.to_string()),
        QuoteError::Resolve(ResolveError::UnknownSymbol { .. }) => ApiError::UnknownSymbol(e.to_string()),
        QuoteError::Resolve(_) => ApiError::Gateway(e.to_string()),
        QuoteError::Unavailable { .. } => ApiError::QuoteUnavailable(e.to_string()),
    })
}
