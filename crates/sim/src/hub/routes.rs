//! The hubs' HTTP surface: `GET /hubs/{market,user}` (the WebSocket upgrade, with or without a
//! prior negotiate) and `POST /hubs/{market,user}/negotiate`. Both check, in this order: chaos
//! refusal (503), the token (`access_token` query parameter, else `Authorization: Bearer`; 401 if
//! missing, garbage, expired or revoked), then for the upgrade a negotiated `id` (404 unknown or
//! for the other hub, 409 already used). These routes sit outside the REST gate: REST chaos rules,
//! rate limits and counters do not apply to them.

use std::sync::Arc;

use axum::Router;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use tokio::time::Instant;

use super::{HubKind, Negotiation, session};
use crate::auth::Claims;
use crate::state::Shared;

/// The four hub routes.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/hubs/market", get(market_socket))
        .route("/hubs/user", get(user_socket))
        .route("/hubs/market/negotiate", post(market_negotiate))
        .route("/hubs/user/negotiate", post(user_negotiate))
        .with_state(shared)
}

/// The query parameters SignalR clients send; others (e.g. `transport`) are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct HubQuery {
    access_token: Option<String>,
    id: Option<String>,
    #[serde(rename = "negotiateVersion")]
    negotiate_version: Option<u32>,
}

type Upgrade = Result<WebSocketUpgrade, WebSocketUpgradeRejection>;

async fn market_socket(State(s): State<Arc<Shared>>, Query(q): Query<HubQuery>, h: HeaderMap, ws: Upgrade) -> Response {
    socket(HubKind::Market, s, q, &h, ws)
}

async fn user_socket(State(s): State<Arc<Shared>>, Query(q): Query<HubQuery>, h: HeaderMap, ws: Upgrade) -> Response {
    socket(HubKind::User, s, q, &h, ws)
}

async fn market_negotiate(State(s): State<Arc<Shared>>, Query(q): Query<HubQuery>, h: HeaderMap) -> Response {
    negotiate(HubKind::Market, &s, &q, &h)
}

async fn user_negotiate(State(s): State<Arc<Shared>>, Query(q): Query<HubQuery>, h: HeaderMap) -> Response {
    negotiate(HubKind::User, &s, &q, &h)
}

fn socket(kind: HubKind, shared: Arc<Shared>, query: HubQuery, headers: &HeaderMap, upgrade: Upgrade) -> Response {
    let claims = match admit(kind, &shared, &query, headers) {
        Ok(claims) => claims,
        Err(status) => return refusal(status),
    };
    if let Some(id) = &query.id {
        let mut registry = shared.hubs.registry();
        match registry.negotiated.get_mut(id) {
            Some(negotiation) if negotiation.kind == kind && !negotiation.used => negotiation.used = true,
            Some(negotiation) if negotiation.kind == kind => {
                return (StatusCode::CONFLICT, "Connection ID already in use").into_response();
            }
            _ => return (StatusCode::NOT_FOUND, "No Connection with that ID").into_response(),
        }
    }
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        Err(rejection) => return rejection.into_response(),
    };
    upgrade.on_upgrade(move |socket| session::run(socket, shared, kind, claims.jti))
}

fn negotiate(kind: HubKind, shared: &Shared, query: &HubQuery, headers: &HeaderMap) -> Response {
    if let Err(status) = admit(kind, shared, query, headers) {
        return refusal(status);
    }
    let connection_id = random_id();
    let transports = json!([{ "transport": "WebSockets", "transferFormats": ["Text", "Binary"] }]);
    let mut registry = shared.hubs.registry();
    registry.conns.counters.negotiations += 1;
    let negotiation = Negotiation { kind, used: false };
    let body = if query.negotiate_version.unwrap_or(0) >= 1 {
        let token = random_id();
        registry.negotiated.insert(token.clone(), negotiation);
        json!({
            "negotiateVersion": 1,
            "connectionId": connection_id,
            "connectionToken": token,
            "availableTransports": transports,
        })
    } else {
        registry.negotiated.insert(connection_id.clone(), negotiation);
        json!({ "negotiateVersion": 0, "connectionId": connection_id, "availableTransports": transports })
    };
    axum::Json(body).into_response()
}

/// 503 while refusing, 401 without a valid token; otherwise the token's claims.
fn admit(kind: HubKind, shared: &Shared, query: &HubQuery, headers: &HeaderMap) -> Result<Claims, StatusCode> {
    {
        let mut registry = shared.hubs.registry();
        if registry.refuse_until.is_some_and(|until| Instant::now() < until) {
            registry.conns.counters.refused_upgrades += 1;
            return Err(StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let token = query.access_token.as_deref().or_else(|| bearer(headers));
    let refusal = match token.map(|token| shared.tokens.verify(token)) {
        Some(Ok(claims)) => return Ok(claims),
        Some(Err(reason)) => format!("{reason:?}"),
        None => "missing".to_owned(),
    };
    tracing::debug!(hub = ?kind, reason = %refusal, "hub token refused");
    shared.hubs.registry().conns.counters.rejected_upgrades += 1;
    Err(StatusCode::UNAUTHORIZED)
}

/// A bare refusal; a 401 says which scheme it wants, like the REST gate's.
fn refusal(status: StatusCode) -> Response {
    if status == StatusCode::UNAUTHORIZED {
        return (status, [(header::WWW_AUTHENTICATE, "Bearer")]).into_response();
    }
    status.into_response()
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// A 22-character random id, like ASP.NET's connection ids and tokens.
fn random_id() -> String {
    std::iter::repeat_with(fastrand::alphanumeric).take(22).collect()
}
