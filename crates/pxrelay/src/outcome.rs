//! What became of an alert: [`AlertStatus`] (the one list of statuses, used by the executor, the journal, the
//! metrics and the routes), [`Outcome`] (a status with the orders, the message and the path taken) and [`Answer`]
//! (what the webhook answers, and answers again for a duplicate).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// An alert's status. Serialised in snake case (`dry_run`); the journal stores the same text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    /// Journaled, not finished yet (the journal's state until an outcome is written).
    Received,
    /// Accepted, outcome not known within `WEBHOOK_WAIT_MS` (the webhook's 202 answer; never stored).
    Pending,
    /// An order was placed (confirmed by the gateway, or found by its `customTag`).
    Placed,
    /// A position was closed.
    Closed,
    /// Working orders were cancelled.
    Cancelled,
    /// Nothing to do (closing when flat, cancelling with no working order); nothing was sent.
    Noop,
    /// Refused by a guard (kill switch, `MAX_CONTRACTS`) or by the gateway; nothing is working.
    Rejected,
    /// Not executed: expired, journal or gateway failure before sending, or reconciliation found no order.
    Failed,
    /// Something was sent and its effect could not be established: check the platform.
    Unknown,
    /// Too old to act on (its own timestamp, or its wait in the queue, beyond `MAX_ALERT_AGE_SECS`); nothing sent.
    Expired,
    /// `DRY_RUN`: the requests that would have been sent.
    DryRun,
    /// A fan-out to several accounts where some accounts succeeded and some did not (each account's own status is
    /// in the answer's `accounts`).
    Partial,
}

impl AlertStatus {
    /// Every status, in the order of the list above.
    pub const ALL: [Self; 12] = [
        Self::Received,
        Self::Pending,
        Self::Placed,
        Self::Closed,
        Self::Cancelled,
        Self::Noop,
        Self::Rejected,
        Self::Failed,
        Self::Unknown,
        Self::Expired,
        Self::DryRun,
        Self::Partial,
    ];

    /// The serialised name (`placed`, `dry_run`, …); also the `pxrelay_orders` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Pending => "pending",
            Self::Placed => "placed",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::Noop => "noop",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Expired => "expired",
            Self::DryRun => "dry_run",
            Self::Partial => "partial",
        }
    }

    /// Whether the outcome is a refusal or failure whose message belongs in the journal's `error` column.
    pub fn is_error(self) -> bool {
        matches!(self, Self::Rejected | Self::Failed | Self::Unknown | Self::Expired | Self::Partial)
    }

    /// Whether a webhook answer with this status must wait until the journal has reached the disk
    /// ([`crate::journal::Journal::durable`], docs/decisions/0008-journal-durability.md): every answer that accepts
    /// an alert must be kept through a host crash unless the broker keeps it instead. `placed`, `closed` and
    /// `cancelled` report what the gateway acknowledged (an order under the alert's `customTag`; an untagged call
    /// reached the disk before it was sent): no wait. Everything else does: `pending` (queued, nothing at the broker
    /// yet), `received` (a duplicate of an alert in progress), refusals and failures (nothing at the broker: the
    /// journal is the only record), `unknown`, `partial`. A `dry_run` does not wait either (issue 17): it never
    /// trades, its row survives a process crash like every commit and reaches the disk within the background
    /// syncer's 100 ms, so a host crash can lose a rehearsal, never an order.
    pub fn durable_before_answer(self) -> bool {
        !matches!(self, Self::Placed | Self::Closed | Self::Cancelled | Self::DryRun)
    }

    /// Whether an account's outcome counts as done as asked (for a fan-out's overall status): placed, closed,
    /// cancelled, nothing to do, or a dry run.
    pub fn is_success(self) -> bool {
        matches!(self, Self::Placed | Self::Closed | Self::Cancelled | Self::Noop | Self::DryRun)
    }
}

impl fmt::Display for AlertStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A status name that is not one of [`AlertStatus::ALL`].
#[derive(Debug, thiserror::Error)]
#[error("unknown alert status `{0}`")]
pub struct UnknownStatus(String);

impl FromStr for AlertStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|status| status.as_str() == s).ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// Where the executor read an alert's position: the live account book, or `Position/searchOpen` (the user hub was
/// not live).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSource {
    /// The live account book.
    Book,
    /// `Position/searchOpen` (REST fallback).
    Rest,
}

impl PositionSource {
    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Book => "book",
            Self::Rest => "rest",
        }
    }
}

/// How one alert ended: what the executor (or the startup recovery) found, written to the journal and answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The status.
    pub status: AlertStatus,
    /// Gateway order ids, or in dry-run mode the requests that would have been sent.
    pub orders: Vec<Value>,
    /// What happened, for a person.
    pub message: Option<String>,
    /// How it was reached, for an operator (`placed`, `ambiguous -> reconciled by customTag: found`, …).
    pub path: String,
    /// Where the executor read the position, when it read one (journaled as `position_source`; the path starts with
    /// it).
    pub position_source: Option<PositionSource>,
    /// The reference price at arrival of the first order or close sent (journaled as `reference_price`).
    pub reference_price: Option<rust_decimal::Decimal>,
    /// The account it was executed on (id and name): the answer's one-element `accounts` list.
    pub account: Option<(projectx::AccountId, String)>,
}

impl Outcome {
    /// An outcome with no orders.
    pub fn new(status: AlertStatus, message: impl Into<String>, path: impl Into<String>) -> Self {
        Self {
            status,
            orders: Vec::new(),
            message: Some(message.into()),
            path: path.into(),
            position_source: None,
            reference_price: None,
            account: None,
        }
    }

    /// The same outcome, noting where the position was read (unless already noted).
    pub fn with_position_source(mut self, source: PositionSource) -> Self {
        self.position_source.get_or_insert(source);
        self
    }

    /// The same outcome listing `orders`.
    pub fn with_orders(mut self, orders: Vec<Value>) -> Self {
        self.orders = orders;
        self
    }

    /// The journal's `error` text: the message of a refusal or failure, else nothing.
    pub fn error(&self) -> Option<String> {
        self.status.is_error().then(|| self.message.clone().unwrap_or_default())
    }

    /// The webhook's answer for `alert_id`.
    pub fn answer(&self, alert_id: &str) -> Answer {
        Answer {
            alert_id: alert_id.to_owned(),
            status: self.status,
            orders: self.orders.clone(),
            message: self.message.clone(),
            duplicate: false,
            accounts: self.account_answer().into_iter().collect(),
        }
    }

    /// The same outcome, executed on `account` (named `name`): its answer lists that one account.
    pub fn for_account(mut self, account: projectx::AccountId, name: &str) -> Self {
        self.account = Some((account, name.to_owned()));
        self
    }

    /// This outcome as the part of an answer for its account, when the account is known.
    pub fn account_answer(&self) -> Option<AccountAnswer> {
        let (account_id, name) = self.account.clone()?;
        Some(AccountAnswer {
            account_id,
            name,
            status: self.status,
            orders: self.orders.clone(),
            message: self.message.clone(),
        })
    }
}

/// The answer to a webhook: `{"alert_id", "status", "orders", "message"?, "duplicate"}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Answer {
    /// The journal key.
    pub alert_id: String,
    /// The status (`pending` when the outcome was not known in time).
    pub status: AlertStatus,
    /// Gateway order ids (or, in dry-run mode, the exact requests that would have been sent).
    pub orders: Vec<Value>,
    /// What happened, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether this alert had been seen before (the answer is then the original one).
    #[serde(default)]
    pub duplicate: bool,
    /// Each account's part (issue 13): one element for a single-account alert, one per account of a fan-out.
    /// Answers journaled before accounts were listed read back with none.
    #[serde(default)]
    pub accounts: Vec<AccountAnswer>,
}

impl Answer {
    /// The 202 answer of an alert whose outcome was not known within `WEBHOOK_WAIT_MS`.
    pub fn pending(alert_id: String) -> Self {
        Self {
            alert_id,
            status: AlertStatus::Pending,
            orders: Vec::new(),
            message: None,
            duplicate: false,
            accounts: Vec::new(),
        }
    }
}

/// One account's part of an answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountAnswer {
    /// The account.
    pub account_id: projectx::AccountId,
    /// Its name on the platform.
    pub name: String,
    /// What became of the alert on this account.
    pub status: AlertStatus,
    /// This account's gateway order ids (or dry-run requests).
    pub orders: Vec<Value>,
    /// What happened there, for a person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The overall status of a fan-out from its accounts' statuses: all succeeded → `placed` if any account placed an
/// order, else `closed` if any closed, else their common status (`cancelled`, `noop`, `dry_run`); none succeeded → their
/// common status, `failed` when they differ; some of each → `partial`. `pending` while any account is still pending.
pub fn overall(parts: &[AccountAnswer]) -> AlertStatus {
    let statuses: Vec<AlertStatus> = parts.iter().map(|p| p.status).collect();
    let common =
        |fallback| statuses.first().copied().filter(|first| statuses.iter().all(|s| s == first)).unwrap_or(fallback);
    if statuses.contains(&AlertStatus::Pending) {
        return AlertStatus::Pending;
    }
    let ok = statuses.iter().filter(|s| s.is_success()).count();
    if ok == statuses.len() {
        [AlertStatus::Placed, AlertStatus::Closed]
            .into_iter()
            .find(|s| statuses.contains(s))
            .unwrap_or(common(AlertStatus::Noop))
    } else if ok == 0 {
        common(AlertStatus::Failed)
    } else {
        AlertStatus::Partial
    }
}

/// A fan-out answer's message: how many accounts ended how, and why each that did not succeed did not.
pub fn summary(parts: &[AccountAnswer]) -> String {
    let mut counts: Vec<(AlertStatus, usize)> = Vec::new();
    for p in parts {
        match counts.iter_mut().find(|(s, _)| *s == p.status) {
            Some((_, n)) => *n += 1,
            None => counts.push((p.status, 1)),
        }
    }
    let counted: Vec<String> = counts.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let failures: Vec<String> = parts
        .iter()
        .filter(|p| !p.status.is_success())
        .map(|p| format!("{} ({}): {}", p.name, p.account_id, p.message.as_deref().unwrap_or(p.status.as_str())))
        .collect();
    let mut text = format!("{} accounts: {}", parts.len(), counted.join(", "));
    if !failures.is_empty() {
        text.push_str("; ");
        text.push_str(&failures.join("; "));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_round_trips_through_its_name_and_serde() {
        for status in AlertStatus::ALL {
            assert_eq!(status.as_str().parse::<AlertStatus>().unwrap(), status);
            assert_eq!(serde_json::to_value(status).unwrap(), Value::String(status.as_str().to_owned()));
        }
        assert_eq!(AlertStatus::DryRun.as_str(), "dry_run");
        assert!("placedd".parse::<AlertStatus>().is_err());
    }

    #[test]
    fn only_refusals_and_failures_carry_an_error_text() {
        assert_eq!(Outcome::new(AlertStatus::Failed, "boom", "x").error().as_deref(), Some("boom"));
        assert_eq!(Outcome::new(AlertStatus::Placed, "order placed", "placed").error(), None);
    }

    fn parts(statuses: &[AlertStatus]) -> Vec<AccountAnswer> {
        statuses
            .iter()
            .enumerate()
            .map(|(i, s)| AccountAnswer {
                account_id: projectx::AccountId::new(i as i32),
                name: format!("A{i}"),
                status: *s,
                orders: Vec::new(),
                message: None,
            })
            .collect()
    }

    #[test]
    fn the_overall_status_is_common_partial_or_the_strongest_success() {
        use AlertStatus::*;
        assert_eq!(overall(&parts(&[Placed, Placed, Placed])), Placed);
        assert_eq!(overall(&parts(&[Placed, Noop])), Placed);
        assert_eq!(overall(&parts(&[Closed, Noop])), Closed);
        assert_eq!(overall(&parts(&[Noop, Noop])), Noop);
        assert_eq!(overall(&parts(&[Placed, Rejected, Placed])), Partial);
        assert_eq!(overall(&parts(&[Rejected, Rejected])), Rejected);
        assert_eq!(overall(&parts(&[Rejected, Unknown])), Failed);
        assert_eq!(overall(&parts(&[Placed, Pending])), Pending);
    }
}
