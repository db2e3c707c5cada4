//! The middleware in front of every REST route. Order matters and is part of the contract:
//! count the call → chaos `fail_next`/`fail_for` (answered unprocessed) → rate limits (429 with
//! `Retry-After`) → bearer auth (bare 401 with `WWW-Authenticate: Bearer`; login and ping are public)
//! → the handler → chaos `fail_next_after_processing` (processed, answer replaced) → count 401/429
//! answers → added latency (that of the most specific `Scope` set for the path). Injected and refused
//! answers have empty bodies.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;

use crate::auth::Claims;
use crate::state::Shared;

/// Paths answered without a bearer token.
const PUBLIC_PATHS: &[&str] = &["/api/Auth/loginKey", "/api/Status/ping"];

pub(super) async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    shared.counters.lock().record_call(&path);
    let now = Instant::now();
    let response = if let Some(status) = shared.chaos.before(&path, now) {
        injected(&shared, status)
    } else if let Err(wait) = shared.limiter.admit(&path, now) {
        too_many_requests(wait)
    } else {
        match bearer(&shared, req.headers()) {
            None if !PUBLIC_PATHS.contains(&path.as_str()) => unauthorized(),
            claims => {
                if let Some(claims) = claims {
                    req.extensions_mut().insert(claims);
                }
                let answer = next.run(req).await;
                match shared.chaos.after(&path, Instant::now()) {
                    Some(status) => injected(&shared, status),
                    None => answer,
                }
            }
        }
    };
    shared.counters.lock().record_answer(response.status());
    let latency = shared.chaos.latency(&path);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    response
}

/// The verified claims of the request's bearer token, if it has a valid one.
fn bearer(shared: &Shared, headers: &HeaderMap) -> Option<Claims> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    match shared.tokens.verify(token.trim()) {
        Ok(claims) => Some(claims),
        Err(reason) => {
            tracing::debug!(?reason, "bearer token refused");
            None
        }
    }
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response()
}

fn too_many_requests(wait: Duration) -> Response {
    (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, retry_after(wait))]).into_response()
}

/// Whole seconds until a slot frees, rounded up, at least 1.
fn retry_after(wait: Duration) -> HeaderValue {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    HeaderValue::from(secs.max(1))
}

/// An injected failure; 401 and 429 carry the headers a real one would.
fn injected(shared: &Shared, status: StatusCode) -> Response {
    shared.counters.lock().injected_failures += 1;
    match status {
        StatusCode::UNAUTHORIZED => unauthorized(),
        StatusCode::TOO_MANY_REQUESTS => too_many_requests(Duration::from_secs(1)),
        _ => status.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::ZERO), "1");
        assert_eq!(retry_after(Duration::from_millis(1)), "1");
        assert_eq!(retry_after(Duration::from_millis(29_001)), "30");
        assert_eq!(retry_after(Duration::from_secs(6)), "6");
    }
}
