//! The HTTP routes, one module each, merged into one router. Every answer is JSON, the router's own included: an
//! unknown path is 404 `not_found`, a wrong method 405 `method_not_allowed` (see [`crate::error::ApiError`]).

use axum::Router;

use crate::state::AppState;

pub mod alerts;
pub mod dashboard;
pub mod fanout;
pub mod health;
pub mod kill;
pub mod metrics;
pub mod queued;
pub mod quote;
pub mod secret;
pub mod status;
pub mod user_hub;
pub mod webhook;

#[cfg(test)]
mod tests;

/// All routes with their state.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(status::router())
        .merge(quote::router())
        .merge(webhook::router(state.clone()))
        .merge(kill::router())
        .merge(user_hub::router())
        .merge(alerts::router())
        .merge(metrics::router())
        .merge(dashboard::router())
        .fallback(crate::error::route_not_found)
        .method_not_allowed_fallback(crate::error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .with_state(state)
}
