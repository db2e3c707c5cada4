//! The relay's HTTP routes: `/health`, `/ready` (503 while no executor is connected), `/status` (`role: "relay"` and
//! the executor: connected, since, round-trip time, backlog), `/metrics`, `/webhook` and `/webhook/{secret}`,
//! `/alerts` and `/alerts/{id}` (the webhook secret, as on `serve`), the `/executor` WebSocket, and the dashboard
//! ([`super::dashboard`]: `GET /`, `/login`, `/logout`, `/dashboard/live`, `/dashboard/alerts/{id}`).
//!
//! A webhook gets the same checks as on `serve` up to the intent (secret in constant time, sender allowlist, body
//! parsed and validated, clock), is journaled (deduplicated as on `serve`, secret fields removed) with status
//! `received`, and is answered with the executor's outcome once it arrives within `WEBHOOK_WAIT_MS` from arrival,
//! else 202 with status `pending` and the message `relayed: waiting for the executor`. The symbol, the account and
//! the broker's rules are the executor's business: it alone talks to the broker.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use serde_json::{Value, json};

use super::Relay;
use crate::error::ApiError;
use crate::journal::{NewAlert, Recorded};
use crate::metrics::WebhookOutcome;
use crate::outcome::Answer;
use crate::routes::secret::{BodySecret, OfferedSecret, secret_matches};
use crate::routes::webhook::{BODY_LIMIT, client_ip};
use crate::signal;

type Shared = Arc<Relay>;

/// How often a waiting webhook reads its row for the executor's outcome.
const OUTCOME_POLL: Duration = Duration::from_millis(20);

/// The message of a webhook answered before the executor's outcome arrived.
pub const RELAYED: &str = "relayed: waiting for the executor";

/// Every route of the relay.
pub fn router(relay: Shared) -> Router {
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "ok", "role": "relay"})) }))
        .route("/ready", get(ready))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route("/webhook", post(webhook))
        .route("/webhook/{secret}", post(webhook))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .route("/alerts", get(alerts))
        .route("/alerts/{id}", get(alert))
        .route(super::protocol::PATH, get(executor))
        .merge(super::dashboard::router())
        .fallback(crate::error::route_not_found)
        .with_state(relay)
}

async fn ready(State(relay): State<Shared>) -> Response {
    if relay.link.connected() {
        return Json(json!({"ready": true})).into_response();
    }
    let reason = "no executor is connected: alerts are journaled but not executed until `pxrelay execute` connects";
    (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"ready": false, "reason": reason}))).into_response()
}

/// The executor as `/status` shows it: `{"connected": bool, "since": RFC 3339 | null, "rtt_ms": f64 | null (the last
/// ping's round trip), "backlog": alerts not yet acknowledged | null (journal unreadable), "refused": connections
/// refused since start}`. The relay's dashboard shows the same value.
pub async fn executor_status(relay: &Relay) -> Value {
    let backlog = super::link::backlog(relay).await.map(|rows| rows.len()).ok();
    let link = relay.link.status();
    json!({
        "connected": link.connected,
        "since": link.since,
        "rtt_ms": link.rtt_ms,
        "backlog": backlog,
        "refused": relay.metrics.executor_refusals.get(),
    })
}

async fn status(State(relay): State<Shared>) -> Json<Value> {
    Json(json!({
        "role": "relay",
        "version": env!("CARGO_PKG_VERSION"),
        "mode": relay.journal.mode().as_str(),
        "uptime_secs": relay.started.elapsed().as_secs(),
        "journal": relay.journal.describe(),
        "executor": executor_status(&relay).await,
    }))
}

async fn metrics(State(relay): State<Shared>) -> Response {
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], relay.metrics.render())
        .into_response()
}

/// `/executor`: the token first (401 before any upgrade), then the WebSocket with the size limit.
async fn executor(
    State(relay): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let offered = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if !offered.is_some_and(|offered| secret_matches(&relay.token, offered)) {
        relay.metrics.executor_refusals.inc();
        let why = if offered.is_some() { "wrong EXECUTOR_TOKEN" } else { "no EXECUTOR_TOKEN offered" };
        tracing::warn!(client.ip = %client_ip(peer, &headers), reason = why, "executor connection refused");
        return ApiError::Unauthorized(format!("{why}: send `Authorization: Bearer <EXECUTOR_TOKEN>`")).into_response();
    }
    let upgrade = match upgrade {
        Ok(u) => u,
        Err(e) => {
            return (e.status(), Json(json!({"error": "not_a_websocket", "message": e.body_text()}))).into_response();
        }
    };
    let limit = super::protocol::MAX_MESSAGE;
    upgrade
        .max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| super::link::serve(relay, socket, peer))
}

async fn alerts(
    State(relay): State<Shared>,
    offered: OfferedSecret,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    offered.check(relay.secret.as_ref(), BodySecret::None)?;
    let limit = query.get("limit").and_then(|l| l.trim().parse::<u32>().ok()).unwrap_or(50).clamp(1, 1000);
    let rows = relay.journal.list(limit).await.map_err(journal_error)?;
    Ok(Json(json!({ "alerts": rows })))
}

async fn alert(
    State(relay): State<Shared>,
    Path(id): Path<String>,
    offered: OfferedSecret,
) -> Result<Response, ApiError> {
    offered.check(relay.secret.as_ref(), BodySecret::None)?;
    let row = relay.journal.get(&id).await.map_err(journal_error)?.ok_or(ApiError::AlertNotFound(id))?;
    Ok(Json(row).into_response())
}

fn journal_error(e: crate::journal::JournalError) -> ApiError {
    ApiError::JournalUnavailable(format!("the journal could not be read: {e}"))
}

async fn webhook(
    State(relay): State<Shared>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    path_secret: Option<Path<String>>,
    offered: OfferedSecret,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let offered = match path_secret {
        Some(Path(secret)) => offered.with_path(secret),
        None => offered,
    };
    let arrived = tokio::time::Instant::now();
    let (response, outcome) = match accept(&relay, peer, offered, &headers, body, arrived).await {
        Ok(ok) => ok,
        Err(refusal) => {
            tracing::warn!(error = refusal.code(), status = refusal.status().as_u16(), reason = %refusal, "webhook refused");
            let outcome = refusal.outcome();
            (refusal.into_response(), outcome)
        }
    };
    relay.metrics.webhook(outcome);
    response
}

async fn accept(
    relay: &Relay,
    peer: SocketAddr,
    offered: OfferedSecret,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    arrived: tokio::time::Instant,
) -> Result<(Response, WebhookOutcome), ApiError> {
    if relay.secret.is_none() {
        return Err(ApiError::WebhookDisabled);
    }
    let (envelope, redacted) = crate::routes::webhook::authenticate(
        relay.secret.as_ref(),
        relay.ip_allowlist,
        peer,
        offered,
        headers,
        body,
        &relay.metrics,
    )?;
    // Authenticated: only the redacted body (secret fields removed) is ever journaled or sent to the executor.
    let intent = match envelope.and_then(|e| e.intent()) {
        Ok(intent) => intent,
        Err(e) => return Err(journal_refusal(relay, redacted, None, ApiError::BadPayload(e.to_string())).await),
    };
    if let Err(refusal) = crate::routes::webhook::check_clock(&intent) {
        return Err(journal_refusal(relay, redacted, Some(intent), refusal).await);
    }
    let record = NewAlert::arriving(intent, redacted, relay.duplicate_window);
    let alert_id = record.alert_id.clone();
    // In its own task: a sender that hangs up never leaves the write half done.
    let journal = relay.journal.clone();
    let recorded = tokio::spawn(async move { journal.record(record).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the journal task failed: {e}")))?;
    match recorded {
        Ok(Recorded::New) => {}
        Ok(Recorded::Duplicate(row)) => {
            tracing::info!(alert.id = %alert_id, outcome = "duplicate", "duplicate alert: nothing relayed");
            let mut answer = crate::routes::queued::answer_of(&row).unwrap_or_else(|| relayed(row.alert_id.clone()));
            answer.duplicate = true;
            crate::routes::webhook::durable_before(&relay.journal, &answer).await;
            return Ok(((StatusCode::OK, Json(answer)).into_response(), WebhookOutcome::Duplicate));
        }
        Err(e) => {
            tracing::error!(alert.id = %alert_id, error = %e, "journal write failed; alert refused");
            return Err(ApiError::JournalUnavailable("the alert could not be journaled; nothing was relayed".into()));
        }
    }
    tracing::info!(alert.id = %alert_id, executor_connected = relay.link.connected(), "alert journaled for the executor");
    relay.link.wake.notify_one();
    let deadline = arrived + relay.wait;
    loop {
        if let Ok(Some(row)) = relay.journal.get(&alert_id).await
            && let Some(answer) = crate::routes::queued::answer_of(&row)
        {
            crate::routes::webhook::durable_before(&relay.journal, &answer).await;
            return Ok(((StatusCode::OK, Json(answer)).into_response(), WebhookOutcome::Accepted));
        }
        if tokio::time::Instant::now() + OUTCOME_POLL >= deadline {
            // Nothing is at the broker yet: the relay's row is the only record of the alert (issue 17).
            let pending = relayed(alert_id);
            crate::routes::webhook::durable_before(&relay.journal, &pending).await;
            return Ok(((StatusCode::ACCEPTED, Json(pending)).into_response(), WebhookOutcome::Accepted));
        }
        tokio::time::sleep(OUTCOME_POLL).await;
    }
}

/// Journals an authenticated alert's refusal (status `rejected`, as `serve` does), so `/alerts` shows it; hands it back.
async fn journal_refusal(
    relay: &Relay,
    redacted: String,
    intent: Option<signal::Intent>,
    refusal: ApiError,
) -> ApiError {
    let outcome = crate::outcome::Outcome::new(
        crate::outcome::AlertStatus::Rejected,
        refusal.to_string(),
        format!("refused: {}", refusal.code()),
    );
    if let Err(e) = relay.journal.record_refusal(Utc::now(), redacted, intent, &outcome).await {
        tracing::error!(error = %e, "could not journal a refused alert");
    }
    refusal
}

/// 202's answer: status `pending`, message [`RELAYED`].
fn relayed(alert_id: String) -> Answer {
    Answer { message: Some(RELAYED.to_owned()), ..Answer::pending(alert_id) }
}
