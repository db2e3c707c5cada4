//! The HTTP routes, one module each, merged into one router.

use axum::Router;

use crate::state::AppState;

pub mod alerts;
pub mod health;
pub mod metrics;
pub mod quote;
pub mod status;
pub mod webhook;

/// All routes with their state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(status::router())
        .merge(quote::router())
        .merge(webhook::router())
        .merge(alerts::router())
        .merge(metrics::router())
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .with_state(state)
}
