//! `POST /webhook` and `POST /webhook/{secret}`: TradingView alert → authenticated, validated, deduplicated,
//! journaled, queued for the executor, answered within `WEBHOOK_WAIT_MS`.
//!
//! Order of checks: webhooks enabled (a `WEBHOOK_SECRET` exists, else 503) → sender address (optional allowlist) →
//! body parsed far enough to find a body secret → secret (path, `?secret=`, or body; constant-time; 401) → trading
//! fields (400 naming the field) → symbol allowed and resolved (422) → account → journal (duplicates answered from
//! it) → queue (full → 503) → wait for the outcome (200) or answer 202 `pending`. Nothing reaches the gateway for a
//! rejected alert, and nothing logged contains the offered secret.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::accounts::Accounts;
use crate::executor::{Answer, Guards, Job};
use crate::journal::{Journal, NewAlert, Outcome, Recorded};
use crate::signal::{self, Envelope};
use crate::state::AppState;

/// TradingView's webhook sender addresses (its documentation lists these four).
pub const TRADINGVIEW_IPS: [IpAddr; 4] = [
    IpAddr::V4(std::net::Ipv4Addr::new(52, 89, 214, 238)),
    IpAddr::V4(std::net::Ipv4Addr::new(34, 212, 75, 30)),
    IpAddr::V4(std::net::Ipv4Addr::new(54, 218, 53, 128)),
    IpAddr::V4(std::net::Ipv4Addr::new(52, 32, 178, 7)),
];

/// Largest accepted body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// What the webhook handlers share.
#[derive(Debug)]
pub struct WebhookState {
    /// `WEBHOOK_SECRET`; `None` disables webhooks.
    pub secret: Option<SecretString>,
    /// Admit only TradingView's addresses.
    pub ip_allowlist: bool,
    /// How long to wait for the outcome before answering 202.
    pub wait: std::time::Duration,
    /// Product ids (`F.US.MNQ`) allowed to trade; empty = all.
    pub allowed_products: Vec<String>,
    /// The journal.
    pub journal: Journal,
    /// The executor's queue.
    pub jobs: mpsc::Sender<Job>,
    /// Kill switch, limits, dry run.
    pub guards: Arc<Guards>,
    /// Account selection.
    pub accounts: Accounts,
}

/// `/webhook`, `/webhook/{secret}`, `/kill`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/webhook/{secret}", post(webhook_with_secret))
        .route("/kill", post(kill))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
}

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": code, "message": message.into() }))).into_response()
}

async fn webhook(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, peer, query.get("secret").map(String::as_str), &headers, &body).await
}

async fn webhook_with_secret(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Path(secret): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(state, peer, Some(&secret), &headers, &body).await
}

/// Constant-time comparison: both sides are hashed to 32 bytes first, so neither length nor content leaks timing.
pub fn secret_matches(expected: &SecretString, offered: &str) -> bool {
    let a = ring::digest::digest(&ring::digest::SHA256, expected.expose_secret().as_bytes());
    let b = ring::digest::digest(&ring::digest::SHA256, offered.as_bytes());
    a.as_ref().iter().zip(b.as_ref()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The sender's address. Behind a proxy (the peer is a private or loopback address, as Railway's edge is) it is the
/// **right-most** `X-Forwarded-For` entry, the one the proxy appended; the left-most entries are whatever the
/// client sent and can be spoofed.
pub fn client_ip(peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
    let peer_ip = peer.ip();
    let behind_proxy = match peer_ip {
        IpAddr::V4(v4) => v4.is_private() || v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local(),
    };
    if !behind_proxy {
        return peer_ip;
    }
    // Only the very last entry counts: if it is unreadable, fall back to the peer, never to an earlier entry.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer_ip)
}

async fn handle(
    state: AppState,
    peer: SocketAddr,
    url_secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    let arrived = tokio::time::Instant::now();
    let response = check_and_accept(&state, peer, url_secret, headers, body, arrived).await;
    let outcome = match (response.status().as_u16(), response.extensions().get::<Duplicate>()) {
        (_, Some(_)) => "duplicate",
        (200 | 202, None) => "accepted",
        (401 | 403, _) => "unauthorized",
        (400..=499, _) => "rejected",
        _ => "failed",
    };
    state.metrics.webhook(outcome);
    if outcome != "accepted" && outcome != "duplicate" {
        tracing::info!(
            outcome,
            status = response.status().as_u16(),
            latency_ms = arrived.elapsed().as_millis() as u64,
            "webhook refused"
        );
    }
    response
}

/// Marks a duplicate answer for the metrics.
#[derive(Clone, Copy, Debug)]
struct Duplicate;

async fn check_and_accept(
    state: &AppState,
    peer: SocketAddr,
    url_secret: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
    arrived: tokio::time::Instant,
) -> Response {
    let hooks = &state.webhook;
    let Some(expected) = hooks.secret.as_ref() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "webhook_disabled",
            "WEBHOOK_SECRET is not set: webhooks are refused",
        );
    };
    if state.shutdown.is_cancelled() {
        return error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", "pxrelay is stopping; alert not accepted");
    }
    if hooks.ip_allowlist {
        let ip = client_ip(peer, headers);
        if !TRADINGVIEW_IPS.contains(&ip) {
            tracing::warn!(client.ip = %ip, "webhook from an address outside TradingView's list refused");
            return error(StatusCode::FORBIDDEN, "forbidden", "sender address is not one of TradingView's");
        }
    }
    let envelope = Envelope::parse(body);
    let offered = url_secret.or_else(|| envelope.as_ref().ok().and_then(Envelope::offered_secret));
    if !offered.is_some_and(|s| secret_matches(expected, s)) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong secret");
    }
    let (intent, redacted) = match envelope.and_then(|e| Ok((e.intent()?, e.redacted_body().to_owned()))) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, "bad_payload", e.to_string()),
    };
    accept(state, intent, redacted, arrived).await
}

/// The whole answer fits in `WEBHOOK_WAIT_MS` from arrival (TradingView gives up at 3 s): resolving the symbol and
/// the account (cached; a slow gateway on a cache miss) must finish within it, or the answer is 503 with nothing
/// recorded; the outcome is awaited until the same deadline, then the answer is 202 `pending`.
async fn accept(state: &AppState, intent: signal::Intent, redacted: String, arrived: tokio::time::Instant) -> Response {
    let deadline = arrived + state.webhook.wait;
    let (contract, account_id) = match tokio::time::timeout_at(deadline, prepare(state, &intent)).await {
        Ok(Ok(prepared)) => prepared,
        Ok(Err(refusal)) => return refusal,
        Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "gateway_slow",
                "the gateway was too slow to resolve the symbol or account; nothing was recorded or sent",
            );
        }
    };
    record_and_wait(state, intent, redacted, arrived, contract, account_id).await
}

/// What recording and queueing an alert came to.
enum Enqueued {
    Queued,
    Duplicate(Value),
    JournalFailed,
    Busy,
}

/// Resolves the contract and the account and checks what can be checked before recording: `Err` is the refusal.
async fn prepare(state: &AppState, intent: &signal::Intent) -> Result<(Arc<projectx::Contract>, i32), Response> {
    let hooks = &state.webhook;
    let contract = match state.quotes.resolver().resolve(&intent.symbol).await {
        Ok(c) => c,
        Err(e) if e.is_client_error() => {
            return Err(error(StatusCode::UNPROCESSABLE_ENTITY, "unknown_symbol", format!("symbol: {e}")));
        }
        Err(e) => {
            return Err(error(StatusCode::BAD_GATEWAY, "gateway_error", format!("could not resolve the symbol: {e}")));
        }
    };
    if !hooks.allowed_products.is_empty()
        && !contract.symbol_id.as_ref().is_some_and(|p| hooks.allowed_products.contains(p))
    {
        return Err(error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "symbol_not_allowed",
            format!("symbol: {} is not in ALLOWED_SYMBOLS", intent.symbol),
        ));
    }
    if let Err(e) = precheck_brackets(state, intent, &contract) {
        return Err(error(StatusCode::BAD_REQUEST, "bad_payload", e.to_string()));
    }
    match hooks.accounts.pick(intent.account.as_deref()).await {
        Ok(id) => Ok((contract, id)),
        Err(message) => Err(error(StatusCode::UNPROCESSABLE_ENTITY, "bad_account", format!("account: {message}"))),
    }
}

async fn record_and_wait(
    state: &AppState,
    intent: signal::Intent,
    redacted: String,
    arrived: tokio::time::Instant,
    contract: Arc<projectx::Contract>,
    account_id: i32,
) -> Response {
    let hooks = &state.webhook;
    let received_at = Utc::now();
    let alert_id =
        intent.alert_id.clone().unwrap_or_else(|| signal::fallback_alert_id(&intent, received_at.timestamp() / 60));
    let record = NewAlert {
        alert_id: alert_id.clone(),
        received_at,
        raw_body: redacted,
        intent: serde_json::to_value(&intent).unwrap_or(Value::Null),
        contract_id: Some(contract.id.clone()),
        account_id: Some(account_id),
    };
    // Recording and queueing run in their own task: if TradingView hangs up meanwhile (its 3 s), this handler is
    // dropped, but an alert that was journaled is always queued (or finished as failed), never left half done.
    let (reply, wait) = oneshot::channel();
    let job = Job { alert_id: alert_id.clone(), intent, contract, account_id, received_at, arrived, reply };
    let enqueue = tokio::spawn(record_and_enqueue(state.webhook.clone(), record, job));
    match enqueue.await {
        Ok(Enqueued::Queued) => {}
        Ok(Enqueued::Duplicate(mut answer)) => {
            tracing::info!(alert.id = %alert_id, outcome = "duplicate", "duplicate alert: nothing sent");
            answer["duplicate"] = Value::Bool(true);
            let mut response = (StatusCode::OK, Json(answer)).into_response();
            response.extensions_mut().insert(Duplicate);
            return response;
        }
        Ok(Enqueued::JournalFailed) | Err(_) => {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "journal_unavailable",
                "the alert could not be journaled; nothing was sent",
            );
        }
        Ok(Enqueued::Busy) => {
            return error(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many alerts in flight; nothing was sent");
        }
    }
    match tokio::time::timeout_at(arrived + hooks.wait, wait).await {
        Ok(Ok(answer)) => (StatusCode::OK, Json(answer)).into_response(),
        Ok(Err(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the executor stopped"),
        Err(_) => {
            let pending = Answer { alert_id, status: "pending", orders: vec![], message: None, duplicate: false };
            (StatusCode::ACCEPTED, Json(pending)).into_response()
        }
    }
}

/// Journals the alert (or finds it is a duplicate) and hands it to the executor.
async fn record_and_enqueue(hooks: Arc<WebhookState>, record: NewAlert, job: Job) -> Enqueued {
    let alert_id = record.alert_id.clone();
    match hooks.journal.record(record).await {
        Ok(Recorded::New) => {}
        Ok(Recorded::Duplicate(row)) => {
            let answer = row.response.clone().unwrap_or_else(|| json!({"alert_id": alert_id, "status": row.status}));
            return Enqueued::Duplicate(answer);
        }
        Err(e) => {
            tracing::error!(alert.id = %alert_id, error = %e, "journal write failed; alert refused");
            return Enqueued::JournalFailed;
        }
    }
    match hooks.jobs.try_send(job) {
        Ok(()) => Enqueued::Queued,
        Err(_) => {
            let outcome = Outcome {
                status: "failed".into(),
                path: Some("queue full".into()),
                error: Some("executor queue full; nothing sent".into()),
                ..Outcome::default()
            };
            let _ = hooks.journal.finish(&alert_id, outcome).await;
            Enqueued::Busy
        }
    }
}

/// Checks the brackets against the contract's tick grid and the entry price before anything is journaled, so a stop
/// on the wrong side is a 400 naming the field. It never waits on the network: the reference is the order's own
/// limit/stop price or a fresh streamed quote; without one the executor checks at execution time (prices move
/// anyway, so it checks again there).
fn precheck_brackets(
    state: &AppState,
    intent: &signal::Intent,
    contract: &projectx::Contract,
) -> Result<(), signal::SignalError> {
    let Some(side) = intent.action.side().filter(|_| intent.is_entry()) else { return Ok(()) };
    intent.order.check_tick_aligned(contract.tick_size)?;
    if intent.stop_loss.is_none() && intent.take_profit.is_none() {
        return Ok(());
    }
    let streamed = || {
        state
            .quotes
            .market()
            .quotes()
            .get(&contract.id)
            .filter(|q| q.received_at.elapsed() <= state.quotes.max_age())
            .and_then(|q| q.last().or(q.bid()).or(q.ask()))
    };
    let reference = match (intent.order.entry_price(), intent.has_price_bracket()) {
        (Some(p), _) => Some(p),
        (None, true) => match streamed() {
            Some(p) => Some(p),
            None => return Ok(()),
        },
        (None, false) => None,
    };
    signal::bracket_ticks(intent, side, reference, contract.tick_size).map(drop)
}

/// `POST /kill` with the secret (`?secret=` or body `{"secret":…}`), body `{"enabled": false}` to switch it off.
async fn kill(State(state): State<AppState>, Query(query): Query<HashMap<String, String>>, body: Bytes) -> Response {
    let hooks = &state.webhook;
    let Some(expected) = hooks.secret.as_ref() else {
        return error(StatusCode::SERVICE_UNAVAILABLE, "webhook_disabled", "WEBHOOK_SECRET is not set");
    };
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let offered = query.get("secret").map(String::as_str).or_else(|| parsed["secret"].as_str());
    if !offered.is_some_and(|s| secret_matches(expected, s)) {
        return error(StatusCode::UNAUTHORIZED, "unauthorized", "missing or wrong secret");
    }
    let enabled = parsed["enabled"].as_bool().unwrap_or(true);
    hooks.guards.kill_switch.store(enabled, Ordering::Relaxed);
    tracing::warn!(kill_switch = enabled, "kill switch changed");
    Json(json!({ "kill_switch": enabled })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_by_value() {
        let s = SecretString::from("hunter2");
        assert!(secret_matches(&s, "hunter2"));
        assert!(!secret_matches(&s, "hunter3"));
        assert!(!secret_matches(&s, ""));
    }

    #[test]
    fn the_client_address_behind_a_proxy_is_the_right_most_forwarded_entry() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "52.89.214.238, 203.0.113.9".parse().unwrap());
        let proxy: SocketAddr = "10.0.0.5:4000".parse().unwrap();
        assert_eq!(client_ip(proxy, &h), "203.0.113.9".parse::<IpAddr>().unwrap(), "a spoofed left entry is ignored");
        let direct: SocketAddr = "198.51.100.7:4000".parse().unwrap();
        assert_eq!(client_ip(direct, &h), direct.ip(), "headers from a direct client are not trusted");
        assert_eq!(client_ip(proxy, &HeaderMap::new()), proxy.ip());
    }
}
