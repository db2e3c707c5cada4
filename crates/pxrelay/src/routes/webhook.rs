//! `POST /webhook` and `POST /webhook/{secret}`: TradingView alert → authenticated, validated, deduplicated,
//! journaled, queued for the executor, answered within `WEBHOOK_WAIT_MS`.
//!
//! Order of checks: webhooks enabled (a `WEBHOOK_SECRET` exists, else 503) → not stopping (503 `shutting_down`) →
//! startup finished (503 `not_ready`, see [`crate::warmup`]) → sender address (optional allowlist) → body parsed far
//! enough to find a body secret → secret (path, `?secret=`, or body; constant-time; 401) → trading fields (400
//! naming the field) → symbol allowed and resolved (422) → account → journal (duplicates answered from it) → queue
//! (full → 503) → wait for the outcome (200) or answer 202 `pending`. Nothing reaches the gateway for a rejected
//! alert, and nothing logged contains the offered secret.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use tokio::sync::oneshot;

use super::secret::{BodySecret, OfferedSecret};
use crate::error::{ApiError, body_rejection};
use crate::executor::Job;
use crate::executor::reference::{self, Reference};
use crate::journal::{NewAlert, Recorded};
use crate::metrics::{Metrics, Stage, WebhookOutcome};
use crate::outcome::{AlertStatus, Answer, Outcome};
use crate::signal::{self, Envelope};
use crate::state::{AppState, WebhookState};

/// TradingView's webhook sender addresses (its documentation lists these four).
pub const TRADINGVIEW_IPS: [IpAddr; 4] = [
    IpAddr::V4(std::net::Ipv4Addr::new(52, 89, 214, 238)),
    IpAddr::V4(std::net::Ipv4Addr::new(34, 212, 75, 30)),
    IpAddr::V4(std::net::Ipv4Addr::new(54, 218, 53, 128)),
    IpAddr::V4(std::net::Ipv4Addr::new(52, 32, 178, 7)),
];

/// Largest accepted body.
pub const BODY_LIMIT: usize = 64 * 1024;

/// `/webhook`, `/webhook/{secret}`, each answer counted in `pxrelay_webhooks` by [`count_webhooks`].
pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/webhook", post(webhook))
        .route("/webhook/{secret}", post(webhook))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(axum::middleware::from_fn_with_state(state, count_webhooks))
}

/// Counts each webhook answer by the [`WebhookOutcome`] its producer attached (an [`ApiError`] attaches its own;
/// accepted and duplicate answers attach theirs), never by its status code.
pub async fn count_webhooks(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let outcome = response.extensions().get::<WebhookOutcome>().copied().unwrap_or(WebhookOutcome::Failed);
    state.metrics.webhook(outcome);
    response
}

/// Both routes: `/webhook/{secret}` carries the secret in its path, which then wins over the other places.
async fn webhook(
    State(state): State<AppState>,
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
    handle(state, peer, offered, &headers, body).await
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
    offered: OfferedSecret,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let arrived = tokio::time::Instant::now();
    match check_and_accept(&state, peer, offered, headers, body, arrived).await {
        Ok(response) => response,
        Err(refusal) => {
            // The message names the field or the reason; it never holds the secret or the raw body.
            tracing::warn!(
                error = refusal.code(),
                status = refusal.status().as_u16(),
                reason = %refusal,
                latency_ms = arrived.elapsed().as_millis() as u64,
                "webhook refused"
            );
            refusal.into_response()
        }
    }
}

async fn check_and_accept(
    state: &AppState,
    peer: SocketAddr,
    offered: OfferedSecret,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    arrived: tokio::time::Instant,
) -> Result<Response, ApiError> {
    let hooks = &state.webhook;
    if hooks.secret.is_none() {
        return Err(ApiError::WebhookDisabled);
    }
    // With a Postgres journal, an instance that cannot execute the alert now journals it for the leader.
    let for_the_leader = super::queued::for_the_leader(state);
    if state.shutdown.is_cancelled() && !for_the_leader {
        return Err(ApiError::ShuttingDown);
    }
    // Before the warm-up is done nothing may be journaled (SQLite): the executor is not to run alerts yet.
    if !for_the_leader {
        state.warmup.allowed_products()?;
    }
    let (envelope, redacted) =
        authenticate(hooks.secret.as_ref(), hooks.ip_allowlist, peer, offered, headers, body, &state.metrics)?;
    let reading = tokio::time::Instant::now();
    // Authenticated from here on: a refusal is journaled with its reason, so the trader sees it in `/alerts`.
    let intent = match envelope.and_then(|e| e.intent()) {
        Ok(intent) => intent,
        Err(e) => return Err(journal_refusal(state, redacted, None, ApiError::BadPayload(e.to_string())).await),
    };
    state.metrics.stage(Stage::Fields, reading);
    if for_the_leader {
        check_clock(&intent)?;
        return super::queued::record_and_wait(state, intent, redacted, arrived).await;
    }
    match accept(state, intent.clone(), redacted.clone(), arrived).await {
        Err(refusal) if refusal.status().is_client_error() => {
            Err(journal_refusal(state, redacted, Some(intent), refusal).await)
        }
        other => other,
    }
}

/// The checks every webhook passes before its fields are read (`serve`'s and the relay's): the sender's address
/// (`TRADINGVIEW_IP_ALLOWLIST`), the body size, then the secret (path, `?secret=`, bearer or body; constant time).
/// Returns the parsed envelope (or why the body does not read) and the body to journal, secret fields removed. The
/// parse and the secret check are observed in `metrics` ([`Stage::Parse`], [`Stage::Auth`]).
pub(crate) fn authenticate(
    secret: Option<&secrecy::SecretString>,
    ip_allowlist: bool,
    peer: SocketAddr,
    offered: OfferedSecret,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    metrics: &Metrics,
) -> Result<(Result<Envelope, signal::SignalError>, String), ApiError> {
    if ip_allowlist {
        let ip = client_ip(peer, headers);
        if !TRADINGVIEW_IPS.contains(&ip) {
            tracing::warn!(client.ip = %ip, "webhook from an address outside TradingView's list refused");
            return Err(ApiError::Forbidden);
        }
    }
    let body = body.map_err(|r| body_rejection(&r, BODY_LIMIT))?;
    let parsing = tokio::time::Instant::now();
    let envelope = Envelope::parse(&body);
    let unreadable = envelope.as_ref().err().map(|e| e.message.clone());
    let hint = envelope.as_ref().ok().and_then(Envelope::secret_hint);
    let body_secret = match (&envelope, &unreadable, &hint) {
        (Ok(e), _, hint) => match (e.offered_secret(), hint) {
            (Some(secret), _) => BodySecret::Offered(secret),
            (None, Some(hint)) => BodySecret::Hint(hint),
            (None, None) => BodySecret::None,
        },
        (Err(_), Some(why), _) => BodySecret::Unreadable(why),
        (Err(_), None, _) => BodySecret::None,
    };
    let checking = metrics.stage(Stage::Parse, parsing);
    offered.check(secret, body_secret)?;
    metrics.stage(Stage::Auth, checking);
    let redacted = envelope.as_ref().map_or_else(|_| UNREADABLE_BODY.to_owned(), |e| e.redacted_body().to_owned());
    Ok((envelope, redacted))
}

/// What the journal keeps of a body that is not a JSON object: nothing, since its secret fields cannot be removed.
const UNREADABLE_BODY: &str = "(not a JSON object; not stored, as it may hold secrets)";

/// Journals an authenticated alert's refusal (status `rejected`, the refusal as its error) and hands it back.
async fn journal_refusal(
    state: &AppState,
    redacted: String,
    intent: Option<signal::Intent>,
    refusal: ApiError,
) -> ApiError {
    let outcome = Outcome::new(AlertStatus::Rejected, refusal.to_string(), format!("refused: {}", refusal.code()));
    if let Err(e) = state.webhook.journal.record_refusal(Utc::now(), redacted, intent, &outcome).await {
        tracing::error!(error = %e, "could not journal a refused alert");
    }
    refusal
}

/// The whole answer fits in `WEBHOOK_WAIT_MS` from arrival (TradingView gives up at 3 s): resolving the symbol and
/// the account (cached; a slow gateway on a cache miss) must finish within it, or the answer is 503 with nothing
/// recorded; the outcome is awaited until the same deadline, then the answer is 202 `pending`.
async fn accept(
    state: &AppState,
    intent: signal::Intent,
    redacted: String,
    arrived: tokio::time::Instant,
) -> Result<Response, ApiError> {
    let deadline = arrived + state.webhook.wait;
    let resolving = tokio::time::Instant::now();
    let (contract, mut targets) =
        tokio::time::timeout_at(deadline, prepare(state, &intent)).await.map_err(|_| ApiError::GatewaySlow)??;
    state.metrics.stage(Stage::Resolve, resolving);
    check_clock(&intent)?;
    if targets.len() > 1 {
        return super::fanout::record_and_wait(state, intent, redacted, arrived, contract, targets).await;
    }
    let target = targets.pop().ok_or_else(|| ApiError::BadAccount("account: no account to trade".to_owned()))?;
    if !target.can_trade {
        return Err(ApiError::BadAccount(format!(
            "account: `{}` ({}) cannot trade (inactive, blocked by its firm, or past its daily loss at the gateway)",
            target.name, target.account
        )));
    }
    record_and_wait(state, intent, redacted, arrived, contract, target.account).await
}

/// Refuses an alert whose own timestamp is ahead of this server's clock by more than [`crate::executor::FUTURE_SKEW`].
pub(crate) fn check_clock(intent: &signal::Intent) -> Result<(), ApiError> {
    let received_at = Utc::now();
    if let Some(sent_at) = intent.sent_at
        && sent_at - received_at > crate::executor::FUTURE_SKEW
    {
        return Err(ApiError::BadPayload(format!(
            "the alert's timestamp (`timenow`/`alertTimestamp`/`time`/`date`) {} is {} s ahead of this server's clock \
             (more than the {} s allowed for clock differences); send \"time\": \"{{{{timenow}}}}\"",
            sent_at.to_rfc3339(),
            (sent_at - received_at).num_seconds(),
            crate::executor::FUTURE_SKEW.num_seconds()
        )));
    }
    Ok(())
}

/// What recording and queueing an alert came to.
enum Enqueued {
    /// Journaled and handed to the executor.
    Queued,
    /// Seen before: the original answer.
    Duplicate(Answer),
    /// Journaled and finished without the executor (too old by its own timestamp).
    Finished(Answer),
}

/// Resolves the contract and the accounts (a group, a list, one account, or the default: [`crate::accounts::Accounts::targets`])
/// and checks what can be checked before recording. Also the dashboard's "test it" ([`crate::routes::dashboard`]).
pub(crate) async fn prepare(
    state: &AppState,
    intent: &signal::Intent,
) -> Result<(Arc<projectx::Contract>, Vec<crate::accounts::Target>), ApiError> {
    let hooks = &state.webhook;
    let contract = match state.quotes.resolver().resolve(&intent.symbol).await {
        Ok(c) => c,
        Err(e) if e.is_client_error() => return Err(ApiError::UnknownAlertSymbol(format!("symbol: {e}"))),
        Err(e) => return Err(ApiError::Gateway(format!("could not resolve the symbol: {e}"))),
    };
    let allowed = state.warmup.allowed_products()?;
    if !allowed.is_empty() && !contract.symbol_id.as_ref().is_some_and(|p| allowed.iter().any(|a| a == p)) {
        return Err(ApiError::SymbolNotAllowed(format!("symbol: {} is not in ALLOWED_SYMBOLS", intent.symbol)));
    }
    precheck_brackets(state, intent, &contract).await.map_err(|e| ApiError::BadPayload(e.to_string()))?;
    let targets = hooks
        .accounts
        .targets(&intent.requested_accounts())
        .await
        .map_err(|m| ApiError::BadAccount(format!("account: {m}")))?;
    Ok((contract, targets))
}

async fn record_and_wait(
    state: &AppState,
    intent: signal::Intent,
    redacted: String,
    arrived: tokio::time::Instant,
    contract: Arc<projectx::Contract>,
    account_id: projectx::AccountId,
) -> Result<Response, ApiError> {
    let hooks = &state.webhook;
    let record = NewAlert {
        contract_id: Some(contract.id.clone()),
        account_id: Some(account_id),
        ..NewAlert::arriving(intent.clone(), redacted, hooks.duplicate_window)
    };
    let (alert_id, received_at) = (record.alert_id.clone(), record.received_at);
    // Recording and queueing run in their own task: if TradingView hangs up meanwhile (its 3 s), this handler is
    // dropped, but an alert that was journaled is always queued (or finished as failed), never left half done.
    let (reply, wait) = oneshot::channel();
    let touch = arrival_touch(state, &contract);
    let job = Job { alert_id: alert_id.clone(), intent, contract, account_id, received_at, arrived, touch, reply };
    let journaling = tokio::time::Instant::now();
    let enqueue = tokio::spawn(record_and_enqueue(state.webhook.clone(), record, job));
    match enqueue.await.map_err(|e| ApiError::Internal(format!("the journal task failed: {e}")))?? {
        Enqueued::Queued => {
            state.metrics.stage(Stage::Journal, journaling);
        }
        Enqueued::Duplicate(mut answer) => {
            tracing::info!(alert.id = %alert_id, outcome = "duplicate", "duplicate alert: nothing sent");
            answer.duplicate = true;
            durable_before(&hooks.journal, &answer).await;
            return Ok(with_outcome((StatusCode::OK, Json(answer)), WebhookOutcome::Duplicate));
        }
        Enqueued::Finished(answer) => {
            durable_before(&hooks.journal, &answer).await;
            return Ok(with_outcome((StatusCode::OK, Json(answer)), WebhookOutcome::Accepted));
        }
    }
    let (code, answer) = match tokio::time::timeout_at(arrived + hooks.wait, wait).await {
        Ok(Ok(answer)) => (StatusCode::OK, answer),
        Ok(Err(_)) => return Err(ApiError::Internal("the executor stopped".to_owned())),
        Err(_) => (StatusCode::ACCEPTED, Answer::pending(alert_id)),
    };
    durable_before(&hooks.journal, &answer).await;
    Ok(with_outcome((code, Json(answer)), WebhookOutcome::Accepted))
}

/// Before `answer` goes out: the journal reaches the disk when its status needs it
/// ([`AlertStatus::durable_before_answer`]: everything but an order the gateway acknowledged, or a dry run). A
/// failed sync is logged and the answer still goes: the alert is journaled and queued either way, and a refusal now
/// would only make the sender believe it was not.
pub(crate) async fn durable_before(journal: &crate::journal::Journal, answer: &Answer) {
    if !answer.status.durable_before_answer() {
        return;
    }
    if let Err(e) = journal.durable().await {
        tracing::error!(alert.id = %answer.alert_id, error = %e, "the journal could not be synced to disk before the answer");
    }
}

pub(super) fn with_outcome(answer: impl IntoResponse, outcome: WebhookOutcome) -> Response {
    let mut response = answer.into_response();
    response.extensions_mut().insert(outcome);
    response
}

/// Journals the alert (or finds it is a duplicate) and hands it to the executor.
async fn record_and_enqueue(hooks: Arc<WebhookState>, record: NewAlert, job: Job) -> Result<Enqueued, ApiError> {
    let alert_id = record.alert_id.clone();
    match hooks.journal.record(record).await {
        Ok(Recorded::New) => {}
        Ok(Recorded::Duplicate(row)) => {
            let answer = row.response.clone().unwrap_or_else(|| Answer {
                alert_id: alert_id.clone(),
                status: row.status,
                orders: vec![],
                message: None,
                duplicate: true,
                accounts: Vec::new(),
            });
            return Ok(Enqueued::Duplicate(answer));
        }
        Err(e) => {
            tracing::error!(alert.id = %alert_id, error = %e, "journal write failed; alert refused");
            return Err(ApiError::JournalUnavailable("the alert could not be journaled; nothing was sent".to_owned()));
        }
    }
    if let Some(expired) = crate::executor::expired(job.intent.sent_at, job.arrived, hooks.guards.max_age) {
        tracing::warn!(alert.id = %alert_id, reason = expired.message.as_deref().unwrap_or_default(), "stale alert: nothing sent");
        if let Err(e) = hooks.journal.finish(&alert_id, &expired).await {
            tracing::error!(alert.id = %alert_id, error = %e, "could not journal an alert's outcome");
        }
        return Ok(Enqueued::Finished(expired.answer(&alert_id)));
    }
    match hooks.jobs.try_send(crate::executor::Work::Alert(Box::new(job))) {
        Ok(()) => Ok(Enqueued::Queued),
        Err(_) => {
            let outcome = Outcome::new(AlertStatus::Failed, "executor queue full; nothing sent", "queue full");
            let _ = hooks.journal.finish(&alert_id, &outcome).await;
            Err(ApiError::Busy)
        }
    }
}

/// The contract's best bid and ask now, from a fresh streamed quote (never the network): the slippage reference
/// at arrival ([`reference::at_arrival`]).
pub(super) fn arrival_touch(state: &AppState, contract: &projectx::Contract) -> Option<reference::Touch> {
    let quote = state.quotes.market().quotes().get(&contract.id)?;
    (quote.received_at.elapsed() <= state.quotes.max_age())
        .then(|| reference::Touch { bid: quote.bid(), ask: quote.ask() })
        .filter(|t| t.bid.is_some() || t.ask.is_some())
}

/// The contract's market price from a fresh streamed quote (never the network), for checking brackets before an
/// order exists; `None` without a fresh quote.
pub(crate) fn streamed_market_price(state: &AppState, contract: &projectx::Contract) -> Option<rust_decimal::Decimal> {
    state
        .quotes
        .market()
        .quotes()
        .get(&contract.id)
        .filter(|q| q.received_at.elapsed() <= state.quotes.max_age())
        .and_then(|q| reference::market_price(q.last(), q.bid(), q.ask()))
}

/// Checks the brackets against the contract's tick grid and the entry price before anything is journaled, so a stop
/// on the wrong side is a 400 naming the field. It never waits on the network: the market price is a fresh streamed
/// quote; without one the executor checks at execution time (prices move anyway, so it checks again there).
async fn precheck_brackets(
    state: &AppState,
    intent: &signal::Intent,
    contract: &projectx::Contract,
) -> Result<(), signal::SignalError> {
    let Some(side) = intent.action.side().filter(|_| intent.is_entry()) else { return Ok(()) };
    intent.order.check_tick_aligned(contract.tick_size)?;
    if intent.stop_loss.is_none() && intent.take_profit.is_none() {
        return Ok(());
    }
    let streamed = || std::future::ready(streamed_market_price(state, contract));
    match reference::bracket_reference(intent, streamed).await {
        Reference::Unavailable => Ok(()),
        r => {
            // Dollar and percent risk first (the cap is the executor's business: `u32::MAX` here).
            let sized =
                crate::executor::sizing::size(intent, contract.tick_size, contract.tick_value, r.price(), u32::MAX)?;
            signal::bracket_ticks(&sized.intent, side, r.price(), contract.tick_size).map(drop)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
