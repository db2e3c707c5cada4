//! `POST /kill`: the kill switch. With the secret (see [`super::secret`]); body `{}` or empty turns it on,
//! `{"enabled": false}` turns it off. While it is on, entries are refused and exits still go through. The state is
//! kept in the journal ([`KILL_SWITCH_STATE`]), so it survives a restart.
//!
//! `{"enabled": true, "flatten": true}` also flattens, before answering: every watched account's working orders
//! are cancelled and its managed positions closed ([`crate::executor::flatten`], foreign positions left and
//! listed). The answer lists, per account, what was closed, cancelled and left; `complete` is `false` when a cancel
//! or close failed (the answer is still 200: the switch is on either way; the failures are named).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::secret::{OfferedSecret, control_body};
use crate::error::ApiError;
use crate::executor::flatten::{FlattenScope, request};
use crate::outcome::AlertStatus;
use crate::state::AppState;

/// Largest accepted body: the switch takes two fields.
const BODY_LIMIT: usize = 4 * 1024;

/// `/kill`.
pub fn router() -> Router<AppState> {
    Router::new().route("/kill", post(kill))
}

async fn kill(
    State(state): State<AppState>,
    offered: OfferedSecret,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let hooks = &state.webhook;
    let parsed = control_body(&offered, hooks.secret.as_ref(), body, BODY_LIMIT)?;
    let parsed = parsed.map_err(|why| ApiError::BadPayload(format!("body: {why}; send {{\"enabled\": true}}")))?;
    let flag = |field: &str, default: bool| match &parsed[field] {
        Value::Null => Ok(default),
        Value::Bool(b) => Ok(*b),
        other => Err(ApiError::BadPayload(format!("{field}: `{other}` is not accepted; use true or false"))),
    };
    let (enabled, flatten) = (flag("enabled", true)?, flag("flatten", false)?);
    if flatten && !enabled {
        return Err(ApiError::BadPayload(
            "flatten: needs `enabled: true` (a flatten with the switch off would let the next alert open again)".into(),
        ));
    }
    switch(&state, enabled, flatten).await.map(Json)
}

/// Turns the kill switch on or off (kept in the journal), and with `flatten` (only with `enabled`) flattens every
/// watched account before answering: the body of `POST /kill`'s answer. Also the dashboard's kill switch and
/// "flatten all" ([`crate::routes::dashboard`]), so both go one way.
pub async fn switch(state: &AppState, enabled: bool, flatten: bool) -> Result<Value, ApiError> {
    let hooks = &state.webhook;
    hooks.guards.kill_switch.store(enabled, std::sync::atomic::Ordering::Relaxed);
    let state_word = if enabled { "on" } else { "off" };
    if let Err(e) = hooks.journal.set_state(KILL_SWITCH_STATE, state_word.to_owned()).await {
        tracing::error!(error = %e, "the kill switch could not be saved in the journal: a restart would forget it");
    }
    tracing::warn!(kill_switch = enabled, flatten, "kill switch changed");
    if let Some(store) = state.webhook.journal.postgres()
        && super::queued::refuse_on_standby(state, "").is_err()
    {
        // A standby holds no positions and sends nothing: the leader applies the change (and the flatten).
        let payload = format!("kill:{state_word}{}", if flatten { ":flatten" } else { "" });
        let sent = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(super::queued::CONTROL_CHANNEL)
            .bind(&payload)
            .execute(store.pool())
            .await;
        if let Err(e) = sent {
            tracing::error!(error = %e, "the kill switch change could not be passed to the leader");
            return Err(ApiError::JournalUnavailable(
                "this instance is a standby and could not reach the database to pass the change to the leader".into(),
            ));
        }
        return Ok(json!({
            "kill_switch": enabled,
            "role": "standby",
            "relayed_to_leader": true,
            "complete": false,
            "message": if flatten {
                "this instance is a standby: the leader was asked to apply the kill switch and flatten; check the \
                 leader's /status (role leader) and GET /alerts for the flatten-… rows"
            } else {
                "this instance is a standby: the leader was asked to apply the kill switch; check the leader's /status"
            },
        }));
    }
    if !flatten {
        return Ok(json!({ "kill_switch": enabled }));
    }
    let mut reports = Vec::new();
    for account in state.books.accounts() {
        match request(&hooks.jobs, account, FlattenScope::Managed, "kill switch").await {
            Ok(report) => reports.push(report),
            Err(e) => {
                tracing::error!(account.id = %account, error = %e, "kill switch flatten not run");
                return Err(ApiError::ShuttingDown);
            }
        }
    }
    let complete = reports.iter().all(|r| r.status != AlertStatus::Failed);
    Ok(json!({ "kill_switch": enabled, "complete": complete, "flattened": reports }))
}

/// The journal key of the kill switch's state (`on`/`off`), read at startup ([`crate::startup`]).
pub const KILL_SWITCH_STATE: &str = "kill_switch";
