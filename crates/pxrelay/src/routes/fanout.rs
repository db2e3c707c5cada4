//! One alert, many accounts (issue 13): an alert whose `account`/`accounts` names a group or several accounts is
//! journaled as a **parent** row plus one **child** row per account (`<alert id>@<account id>`), each child executed
//! as an alert of its own on its account's queue, so every account keeps its own status, orders, timeline, fills and
//! `customTag` (derived from the child's id: unique within the account, which is all the gateway needs).
//!
//! Sizes: the account's multiplier scales `quantity` (rounded down), `target_position` (toward zero) and `risk_usd`;
//! an entry whose size rounds to 0 is skipped on that account (`noop`, said in its message). An account that cannot
//! trade is `rejected` on its own, never failing the others. Nothing else differs between accounts.
//!
//! The answer waits, up to `WEBHOOK_WAIT_MS` from arrival, for every account; its `status` is the accounts' common
//! status, `partial` when some accounts succeeded and some did not ([`overall`]), and `accounts` lists each one. The
//! parent row is finished once every account has its outcome (by a task of its own, so a 202 `pending` answer still
//! ends with the parent finished), and a duplicate of the alert returns that answer again.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use projectx::AccountId;
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::oneshot;

use super::webhook::{durable_before, with_outcome};
use crate::accounts::Target;
use crate::error::ApiError;
use crate::executor::{Job, Work};
use crate::journal::{NewAlert, Recorded};
use crate::metrics::WebhookOutcome;
use crate::outcome::{AccountAnswer, AlertStatus, Answer, Outcome, overall, summary};
use crate::signal::Intent;
use crate::state::{AppState, WebhookState};

/// The journal id of `account`'s row of fan-out `parent`.
pub fn child_id(parent: &str, account: AccountId) -> String {
    format!("{parent}@{account}")
}

/// `intent` for an account with `multiplier`: the scaled copy, or why the account is skipped (its size rounds to 0).
pub fn scaled(intent: &Intent, multiplier: Decimal, account: AccountId) -> Result<Intent, String> {
    let mut scaled = intent.clone();
    scaled.account = Some(account.to_string());
    scaled.accounts = Vec::new();
    if multiplier == Decimal::ONE {
        return Ok(scaled);
    }
    scaled.quantity = crate::accounts::scaled(intent.quantity, multiplier);
    scaled.target_position = intent.target_position.map(|t| crate::accounts::scaled_target(t, multiplier));
    scaled.risk_usd = intent.risk_usd.map(|r| (r * multiplier).round_dp(2));
    let sized_by_quantity = intent.is_entry() && intent.target_position.is_none() && intent.risk_usd.is_none();
    if sized_by_quantity && scaled.quantity == 0 {
        return Err(format!(
            "skipped: quantity {} × multiplier {} rounds down to 0 contracts; nothing sent",
            intent.quantity,
            multiplier.normalize()
        ));
    }
    Ok(scaled)
}

/// Journals the fan-out (parent, then each account's row), queues each account's job, and answers within
/// `WEBHOOK_WAIT_MS` from arrival (else 202 `pending`).
pub async fn record_and_wait(
    state: &AppState,
    intent: Intent,
    redacted: String,
    arrived: tokio::time::Instant,
    contract: Arc<projectx::Contract>,
    targets: Vec<Target>,
) -> Result<Response, ApiError> {
    let hooks = state.webhook.clone();
    let record = NewAlert {
        contract_id: Some(contract.id.clone()),
        ..NewAlert::arriving(intent.clone(), redacted.clone(), hooks.duplicate_window)
    };
    let (parent, received_at) = (record.alert_id.clone(), record.received_at);
    let fan = Fan::new(state, parent.clone(), intent, redacted, contract, received_at, arrived);
    // Journaling, queueing and finishing the parent run in their own task: a sender that hangs up never leaves the
    // fan-out half done.
    let (answer_tx, answer_rx) = oneshot::channel();
    tokio::spawn(fan.run(record, targets, answer_tx));
    match tokio::time::timeout_at(arrived + hooks.wait, answer_rx).await {
        Ok(Ok(Ok((answer, duplicate)))) => {
            let outcome = if duplicate { WebhookOutcome::Duplicate } else { WebhookOutcome::Accepted };
            if duplicate {
                tracing::info!(alert.id = %parent, outcome = "duplicate", "duplicate alert: nothing sent");
            }
            durable_before(&hooks.journal, &answer).await;
            Ok(with_outcome((StatusCode::OK, Json(answer)), outcome))
        }
        Ok(Ok(Err(refusal))) => Err(refusal),
        Ok(Err(_)) => Err(ApiError::Internal("the fan-out task stopped".to_owned())),
        Err(_) => {
            let pending = Answer::pending(parent);
            durable_before(&hooks.journal, &pending).await;
            Ok(with_outcome((StatusCode::ACCEPTED, Json(pending)), WebhookOutcome::Accepted))
        }
    }
}

type Reply = oneshot::Sender<Result<(Answer, bool), ApiError>>;

/// One fan-out in flight.
pub(super) struct Fan {
    hooks: Arc<WebhookState>,
    parent: String,
    intent: Intent,
    redacted: String,
    contract: Arc<projectx::Contract>,
    received_at: DateTime<Utc>,
    arrived: tokio::time::Instant,
    touch: Option<crate::executor::reference::Touch>,
}

impl Fan {
    /// A fan-out of `parent` (journaled, or about to be), arrived at `arrived`.
    pub(super) fn new(
        state: &AppState,
        parent: String,
        intent: Intent,
        redacted: String,
        contract: Arc<projectx::Contract>,
        received_at: DateTime<Utc>,
        arrived: tokio::time::Instant,
    ) -> Self {
        let touch = super::webhook::arrival_touch(state, &contract);
        Self { hooks: state.webhook.clone(), parent, intent, redacted, contract, received_at, arrived, touch }
    }

    /// Records the parent (or finds it is a duplicate), then [`Self::spread`]s it and answers `reply`.
    async fn run(self, record: NewAlert, targets: Vec<Target>, reply: Reply) {
        match self.hooks.journal.record(record).await {
            Ok(Recorded::New) => {}
            Ok(Recorded::Duplicate(row)) => {
                let mut answer = row.response.clone().unwrap_or_else(|| Answer::pending(self.parent.clone()));
                answer.duplicate = true;
                let _ = reply.send(Ok((answer, true)));
                return;
            }
            Err(e) => {
                tracing::error!(alert.id = %self.parent, error = %e, "journal write failed; alert refused");
                let refusal = ApiError::JournalUnavailable("the alert could not be journaled; nothing was sent".into());
                let _ = reply.send(Err(refusal));
                return;
            }
        }
        let answer = self.spread(targets).await;
        let _ = reply.send(Ok((answer, false)));
    }

    /// For a parent already journaled (a queued alert the leader took): [`Self::spread`], the answer kept in the row.
    pub(super) async fn spread_and_finish(self, targets: Vec<Target>) {
        self.spread(targets).await;
    }

    /// Journals every account's row, queues their jobs, waits for every account's outcome and finishes the parent
    /// with the overall answer, which it returns.
    async fn spread(&self, mut targets: Vec<Target>) -> Answer {
        let mut waiting: Vec<(Target, oneshot::Receiver<Answer>)> = Vec::new();
        let mut parts: Vec<AccountAnswer> = Vec::new();
        // Every account's row in one transaction (one commit), then the jobs: the last account does not wait for one
        // journal write per account before it.
        let rows: Vec<NewAlert> = targets.iter().map(|t| self.child_row(t)).collect();
        if let Err(e) = self.hooks.journal.record_children(rows).await {
            tracing::error!(alert.id = %self.parent, error = %e, "journal write failed; no account traded");
            parts.extend(
                targets
                    .iter()
                    .map(|t| part(t, AlertStatus::Failed, "the account's row could not be journaled; nothing sent")),
            );
            targets.clear();
        }
        for target in targets {
            match self.start(&target).await {
                Ok(wait) => waiting.push((target, wait)),
                Err(part) => parts.push(part),
            }
        }
        for (target, wait) in waiting {
            let mut part = match wait.await {
                Ok(answer) => answer.accounts.into_iter().next().unwrap_or_else(|| AccountAnswer {
                    account_id: target.account,
                    name: target.name.clone(),
                    status: answer.status,
                    orders: answer.orders,
                    message: answer.message,
                }),
                Err(_) => part(&target, AlertStatus::Failed, "the executor stopped before this account's outcome"),
            };
            // The listing's name, even when the account's book never saw it (a blocked account is not active).
            part.name = target.name.clone();
            parts.push(part);
        }
        parts.sort_by_key(|p| p.account_id);
        let status = overall(&parts);
        let message = summary(&parts);
        let orders: Vec<Value> = parts.iter().flat_map(|p| p.orders.clone()).collect();
        let answer = Answer {
            alert_id: self.parent.clone(),
            status,
            orders: orders.clone(),
            message: Some(message.clone()),
            duplicate: false,
            accounts: parts,
        };
        let outcome =
            Outcome::new(status, message, format!("fan-out to {} accounts", answer.accounts.len())).with_orders(orders);
        if let Err(e) = self.hooks.journal.finish_answer(&self.parent, &outcome, &answer).await {
            tracing::error!(alert.id = %self.parent, error = %e, "could not journal a fan-out's outcome");
        }
        tracing::info!(alert.id = %self.parent, outcome = %status, accounts = answer.accounts.len(), "fan-out handled");
        answer
    }

    /// `target`'s row: its scaled intent (the alert's own when the account is skipped).
    fn child_row(&self, target: &Target) -> NewAlert {
        let scaled = scaled(&self.intent, target.multiplier, target.account);
        NewAlert {
            alert_id: child_id(&self.parent, target.account),
            received_at: self.received_at,
            raw_body: self.redacted.clone(),
            intent: scaled.unwrap_or_else(|_| self.intent.clone()),
            contract_id: Some(self.contract.id.clone()),
            account_id: Some(target.account),
            content: None,
            parent_id: Some(self.parent.clone()),
        }
    }

    /// Queues `target`'s job (its row is journaled); an account that is skipped, cannot trade, or whose queue is full
    /// gets its part at once (`Err`), journaled.
    async fn start(&self, target: &Target) -> Result<oneshot::Receiver<Answer>, AccountAnswer> {
        let journal = &self.hooks.journal;
        let id = child_id(&self.parent, target.account);
        let scaled = scaled(&self.intent, target.multiplier, target.account);
        let row = id.clone();
        let finished = |status, message: String| async move {
            let outcome = Outcome::new(status, message.clone(), "fan-out").for_account(target.account, &target.name);
            if let Err(e) = journal.finish(&row, &outcome).await {
                tracing::error!(alert.id = %row, error = %e, "could not journal an account's outcome");
            }
            part(target, status, &message)
        };
        let intent = match scaled {
            Ok(intent) => intent,
            Err(why) => return Err(finished(AlertStatus::Noop, why).await),
        };
        if !target.can_trade {
            let why = format!(
                "account {} ({}) cannot trade (inactive, blocked by its firm, or past its daily loss at the gateway); \
                 nothing sent on it",
                target.name, target.account
            );
            return Err(finished(AlertStatus::Rejected, why).await);
        }
        let (reply, wait) = oneshot::channel();
        let job = Job {
            alert_id: id.clone(),
            intent,
            contract: self.contract.clone(),
            account_id: target.account,
            received_at: self.received_at,
            arrived: self.arrived,
            touch: self.touch,
            reply,
        };
        match self.hooks.jobs.try_send(Work::Alert(Box::new(job))) {
            Ok(()) => Ok(wait),
            Err(_) => Err(finished(AlertStatus::Failed, "executor queue full; nothing sent".to_owned()).await),
        }
    }
}

fn part(target: &Target, status: AlertStatus, message: &str) -> AccountAnswer {
    AccountAnswer {
        account_id: target.account,
        name: target.name.clone(),
        status,
        orders: Vec::new(),
        message: Some(message.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipliers_scale_the_size_rounding_down_and_a_zero_size_is_skipped() {
        let intent = |body: &str| crate::signal::parse_alert(body.as_bytes()).expect("a valid alert").intent;
        let account = AccountId::new(7);
        let buy = intent(r#"{"symbol":"MNQ","action":"buy","quantity":3}"#);
        assert_eq!(scaled(&buy, Decimal::new(2, 0), account).unwrap().quantity, 6);
        assert_eq!(scaled(&buy, Decimal::new(5, 1), account).unwrap().quantity, 1, "1.5 rounds down");
        let one = intent(r#"{"symbol":"MNQ","action":"buy","quantity":1}"#);
        let skipped = scaled(&one, Decimal::new(5, 1), account).unwrap_err();
        assert!(skipped.starts_with("skipped: quantity 1 × multiplier 0.5 rounds down to 0"), "{skipped}");
        let target = intent(r#"{"symbol":"MNQ","target_position":-3}"#);
        assert_eq!(scaled(&target, Decimal::new(5, 1), account).unwrap().target_position, Some(-1), "toward zero");
        let exit = intent(r#"{"symbol":"MNQ","action":"exit"}"#);
        assert!(scaled(&exit, Decimal::new(5, 1), account).is_ok(), "an exit has no size to scale");
        assert_eq!(scaled(&buy, Decimal::ONE, account).unwrap().account.as_deref(), Some("7"));
    }
}
