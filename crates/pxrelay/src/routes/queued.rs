//! Alerts for the leader (issue 14, Postgres journal only). An instance that cannot execute an alert itself — a
//! standby, the leader while it warms up, or any instance while it stops — journals it **queued** (authenticated,
//! validated, deduplicated, unclaimed, announced with `NOTIFY`) and answers with the outcome the leader records, up
//! to `WEBHOOK_WAIT_MS` from arrival (then 202 `pending`). The symbol, the account and `ALLOWED_SYMBOLS` are resolved
//! by the leader (a standby never calls the gateway: TopstepX allows one session per user), so a refusal there is an
//! answer with status `rejected` and the reason, not a 4xx.
//!
//! The leader's side is [`run_queue`]: it takes queued alerts in arrival order (`FOR UPDATE SKIP LOCKED`), when a
//! `NOTIFY` wakes it or every [`QUEUE_POLL`] (the safety net), and hands each to the executor exactly as if it had
//! received it (one account or a fan-out).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Utc;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::webhook::with_outcome;
use crate::error::ApiError;
use crate::executor::{Job, Work};
use crate::journal::postgres::{Postgres, QUEUE_CHANNEL};
use crate::journal::{NewAlert, Recorded, StoredAlert};
use crate::metrics::WebhookOutcome;
use crate::outcome::{AlertStatus, Answer, Outcome};
use crate::signal::Intent;
use crate::state::AppState;

/// The leader looks for queued alerts at least this often, `NOTIFY` or not.
pub const QUEUE_POLL: Duration = Duration::from_secs(1);

/// How often a waiting webhook reads its row for the leader's outcome.
const OUTCOME_POLL: Duration = Duration::from_millis(20);

/// Whether this instance journals alerts for the leader instead of executing them: a Postgres journal, and this
/// instance is not the leader, or has not finished warming up, or is stopping.
pub fn for_the_leader(state: &AppState) -> bool {
    let Some(leadership) = &state.leadership else { return false };
    let leads = matches!(leadership.role(), crate::leader::Role::Leader { .. });
    !leads || state.shutdown.is_cancelled() || state.warmup.allowed_products().is_err()
}

/// `Err(503 not_ready)` on a standby, for what needs the gateway (a quote, the builder's dry run): a standby never
/// calls it (TopstepX allows one session per user, so its login could end the leader's session).
pub fn refuse_on_standby(state: &AppState, what: &str) -> Result<(), ApiError> {
    let Some(leadership) = &state.leadership else { return Ok(()) };
    match leadership.role() {
        crate::leader::Role::Leader { .. } => Ok(()),
        _ => Err(ApiError::NotReady(format!(
            "{what} needs the gateway, and this instance is a standby (another instance leads; a standby never logs              in, since TopstepX allows one session per user): ask the leader (its /status shows \"role\": \"leader\")"
        ))),
    }
}

/// The channel a kill-switch change made on a standby is announced on, for the leader to apply (`kill:on`,
/// `kill:off`, `kill:on:flatten`).
pub const CONTROL_CHANNEL: &str = "pxrelay_control";

/// Journals `intent` queued for the leader and waits for its outcome (see the module). The journal is Postgres here,
/// whose commits are durable when they return: no answer waits for a sync (docs/decisions/0008-journal-durability.md).
pub(super) async fn record_and_wait(
    state: &AppState,
    intent: Intent,
    redacted: String,
    arrived: tokio::time::Instant,
) -> Result<Response, ApiError> {
    let store = state.webhook.journal.postgres().cloned().ok_or_else(|| ApiError::Internal("no queue".into()))?;
    let record = NewAlert::arriving(intent, redacted, state.webhook.duplicate_window);
    let alert_id = record.alert_id.clone();
    // In its own task: a sender that hangs up never leaves the write half done.
    let recorded = tokio::spawn(async move { store.record_queued(record).await })
        .await
        .map_err(|e| ApiError::Internal(format!("the journal task failed: {e}")))?;
    match recorded {
        Ok(Recorded::New) => {}
        Ok(Recorded::Duplicate(row)) => {
            tracing::info!(alert.id = %alert_id, outcome = "duplicate", "duplicate alert: nothing sent");
            let mut answer = answer_of(&row).unwrap_or_else(|| Answer::pending(row.alert_id.clone()));
            answer.duplicate = true;
            return Ok(with_outcome((StatusCode::OK, Json(answer)), WebhookOutcome::Duplicate));
        }
        Err(e) => {
            tracing::error!(alert.id = %alert_id, error = %e, "journal write failed; alert refused");
            return Err(ApiError::JournalUnavailable("the alert could not be journaled; nothing was sent".into()));
        }
    }
    tracing::info!(alert.id = %alert_id, "alert queued for the leader");
    let deadline = arrived + state.webhook.wait;
    loop {
        if let Ok(Some(row)) = state.webhook.journal.get(&alert_id).await
            && let Some(answer) = answer_of(&row)
        {
            return Ok(with_outcome((StatusCode::OK, Json(answer)), WebhookOutcome::Accepted));
        }
        // A stopping instance answers at once: the alert is journaled and the next leader executes it, while waiting
        // could outlast the shutdown grace period and cut the connection without an answer.
        if state.shutdown.is_cancelled() || tokio::time::Instant::now() + OUTCOME_POLL >= deadline {
            let pending = Answer::pending(alert_id);
            return Ok(with_outcome((StatusCode::ACCEPTED, Json(pending)), WebhookOutcome::Accepted));
        }
        tokio::select! {
            () = state.shutdown.cancelled() => {}
            () = tokio::time::sleep(OUTCOME_POLL) => {}
        }
    }
}

/// The finished row's answer; `None` while it has no outcome.
pub(crate) fn answer_of(row: &StoredAlert) -> Option<Answer> {
    if matches!(row.status, AlertStatus::Received | AlertStatus::Pending) {
        return None;
    }
    Some(row.response.clone().unwrap_or_else(|| Answer {
        alert_id: row.alert_id.clone(),
        status: row.status,
        orders: Vec::new(),
        message: row.error.clone(),
        duplicate: false,
        accounts: Vec::new(),
    }))
}

/// The leader's queue runner: started once the warm-up is done; runs until `cancel`.
pub async fn run_queue(state: AppState, cancel: CancellationToken) {
    let Some(store) = state.webhook.journal.postgres().cloned() else { return };
    // A kill switch set while another instance led (or on a standby) is in the journal: this leader applies it.
    if let Ok(Some(saved)) = state.webhook.journal.state(super::kill::KILL_SWITCH_STATE).await
        && saved == "on"
    {
        state.webhook.guards.kill_switch.store(true, std::sync::atomic::Ordering::Relaxed);
        tracing::warn!("kill switch is on (from the journal): entries are refused");
    }
    let mut listener = match sqlx::postgres::PgListener::connect_with(store.pool()).await {
        Ok(mut l) => match l.listen_all([QUEUE_CHANNEL, CONTROL_CHANNEL]).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "queue: LISTEN failed; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "queue: no listener connection; polling only");
            None
        }
    };
    loop {
        drain(&state, &store).await;
        let woken = async {
            match listener.as_mut() {
                Some(l) => l.recv().await.ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            notification = woken => {
                if let Some(n) = notification.filter(|n| n.channel() == CONTROL_CHANNEL) {
                    control(&state, n.payload()).await;
                }
            }
            () = tokio::time::sleep(QUEUE_POLL) => {}
        }
    }
}

/// Applies a kill-switch change a standby passed on ([`CONTROL_CHANNEL`]).
async fn control(state: &AppState, payload: &str) {
    let (enabled, flatten) = match payload {
        "kill:on" => (true, false),
        "kill:off" => (false, false),
        "kill:on:flatten" => (true, true),
        "kill:off:flatten" => (false, true),
        other => {
            tracing::warn!(payload = other, "unknown control message ignored");
            return;
        }
    };
    tracing::warn!(kill_switch = enabled, flatten, "kill switch change passed on by a standby");
    if let Err(e) = super::kill::switch(state, enabled, flatten).await {
        tracing::error!(error = %e, "the kill switch change passed on by a standby failed");
    }
}

/// Takes every queued alert, oldest first, and hands each on. First, alerts a former leader took on and never sent
/// are queued again: it may have journaled one after this leader's warm-up looked (it learns it lost the lead only at
/// its next ping or send, and its sends are refused by the epoch check), so they are looked for on every round.
async fn drain(state: &AppState, store: &Arc<Postgres>) {
    match store.requeue_unsent().await {
        Ok(0) => {}
        Ok(n) => tracing::warn!(alerts = n, "alerts a former leader took on and never sent: queued again"),
        Err(e) => tracing::warn!(error = %e, "queue: could not look for alerts a former leader left unsent"),
    }
    loop {
        let rows = match store.claim_queued(32).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "queue: could not take queued alerts");
                return;
            }
        };
        if rows.is_empty() {
            return;
        }
        for row in rows {
            admit(state, row).await;
        }
    }
}

/// Resolves a journaled alert's symbol and accounts and queues its job(s), or finishes it with the refusal: a queued
/// alert on the Postgres leader, or an alert the relay sent to `pxrelay execute` ([`crate::relay::executor_link`]).
/// With Postgres the row's contract and account are recorded too (`assign`).
pub(crate) async fn admit(state: &AppState, row: StoredAlert) {
    let journal = &state.webhook.journal;
    let id = row.alert_id.clone();
    let done = |outcome: Outcome| finish(journal, row.alert_id.clone(), outcome);
    let Some(intent) = row.intent.clone() else {
        return done(Outcome::new(AlertStatus::Failed, "queued without an intent; nothing sent", "queue")).await;
    };
    let received_at = chrono::DateTime::parse_from_rfc3339(&row.received_at).map_or_else(|_| Utc::now(), |t| t.into());
    let waited = (Utc::now() - received_at).to_std().unwrap_or_default();
    let arrived = tokio::time::Instant::now().checked_sub(waited).unwrap_or_else(tokio::time::Instant::now);
    let (contract, mut targets) = match super::webhook::prepare(state, &intent).await {
        Ok(prepared) => prepared,
        Err(refusal) => {
            let outcome =
                Outcome::new(AlertStatus::Rejected, refusal.to_string(), format!("refused: {}", refusal.code()));
            return done(outcome).await;
        }
    };
    if targets.len() > 1 {
        let fan = super::fanout::Fan::new(state, id, intent, row.raw_body.clone(), contract, received_at, arrived);
        tokio::spawn(fan.spread_and_finish(targets));
        return;
    }
    let Some(target) = targets.pop().filter(|t| t.can_trade) else {
        let why = "account: the account cannot trade (inactive, blocked by its firm, or past its daily loss at the \
                   gateway), or none was found; nothing sent";
        return done(Outcome::new(AlertStatus::Rejected, why, "refused: bad_account")).await;
    };
    if let Some(store) = journal.postgres()
        && let Err(e) = store.assign(&id, &contract.id, target.account).await
    {
        tracing::error!(alert.id = %id, error = %e, "could not record a queued alert's account");
    }
    let (reply, _) = oneshot::channel();
    let touch = super::webhook::arrival_touch(state, &contract);
    let job = Job { alert_id: id, intent, contract, account_id: target.account, received_at, arrived, touch, reply };
    if let Err(e) = state.webhook.jobs.try_send(Work::Alert(Box::new(job))) {
        let Work::Alert(job) = e.into_inner() else { return };
        let outcome = Outcome::new(AlertStatus::Failed, "executor queue full; nothing sent", "queue full");
        finish(journal, job.alert_id, outcome).await;
    }
}

async fn finish(journal: &crate::journal::Journal, alert_id: String, outcome: Outcome) {
    if let Err(e) = journal.finish(&alert_id, &outcome).await {
        tracing::error!(alert.id = %alert_id, error = %e, "could not journal a queued alert's outcome");
    }
}
