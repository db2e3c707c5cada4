//! Reconciliation by `customTag`: the one place that answers "did the gateway take this alert's order?" when the
//! answer to the send was lost (an ambiguous outcome, a duplicate-tag refusal, or a process that stopped after
//! sending). Used by the executor right after an ambiguous send, and at startup for alerts the last run left
//! unfinished. Nothing else is sent on the account until it has answered.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use projectx::{AccountId, OrderId};
use serde_json::json;

use crate::journal::Journal;
use crate::outcome::{AlertStatus, Outcome};
use crate::signal::{Action, custom_tag};

/// How far before the alert's arrival the order search starts. An order for an alert cannot be older than the
/// alert, so the margin only covers a disagreement between our clock and the gateway's `creationTimestamp`; five
/// minutes is far more than any skew seen, and still keeps the search to a handful of orders.
pub const LOOKBACK: TimeDelta = TimeDelta::minutes(5);

/// Order searches tried before giving up (the search is a read: safe to repeat).
const ATTEMPTS: u32 = 4;

/// Pause before each retry, times the attempt number (300, 600, 900 ms): the gateway that just failed a send is
/// often briefly unwell.
pub const RETRY_DELAY: Duration = Duration::from_millis(300);

/// What a search by `customTag` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The ids of the account's orders carrying one of the tags.
    Found(Vec<OrderId>),
    /// The search worked and no order carries any of the tags: the gateway did not take the order.
    NotFound,
    /// The search itself failed every time: the outcome stays unknown.
    Failed(String),
}

/// Searches `account_id`'s orders since `received_at - LOOKBACK` for the given tags (exact match), retrying the
/// search itself up to `ATTEMPTS` times.
pub async fn orders_by_tag(
    gateway: &projectx::Client,
    account_id: AccountId,
    tags: &[String],
    received_at: DateTime<Utc>,
) -> Lookup {
    let mut last_error = String::new();
    for attempt in 1..=ATTEMPTS {
        match gateway.search_orders(account_id, received_at - LOOKBACK, None).await {
            Ok(orders) => {
                let found: Vec<OrderId> = orders
                    .iter()
                    .filter(|o| o.custom_tag.as_ref().is_some_and(|t| tags.contains(t)))
                    .map(|o| o.id)
                    .collect();
                return if found.is_empty() { Lookup::NotFound } else { Lookup::Found(found) };
            }
            Err(e) => {
                tracing::warn!(account.id = account_id.get(), attempt, error = %e, "order search by customTag failed");
                last_error = e.to_string();
                if attempt < ATTEMPTS {
                    tokio::time::sleep(RETRY_DELAY * attempt).await;
                }
            }
        }
    }
    Lookup::Failed(last_error)
}

/// The outcome of an order whose send was ambiguous (`why`), from a search by its tag.
pub async fn placed_order(
    gateway: &projectx::Client,
    account_id: AccountId,
    tag: &str,
    received_at: DateTime<Utc>,
    why: &str,
) -> Outcome {
    match orders_by_tag(gateway, account_id, &[tag.to_owned()], received_at).await {
        Lookup::Found(ids) => Outcome::new(
            AlertStatus::Placed,
            "order placed (confirmed by customTag)",
            format!("{why} -> reconciled by customTag: found"),
        )
        .with_orders(ids.into_iter().map(|id| json!(id)).collect()),
        Lookup::NotFound => Outcome::new(
            AlertStatus::Failed,
            "the gateway did not take the order (no order with its customTag)",
            format!("{why} -> reconciled by customTag: not found"),
        ),
        Lookup::Failed(_) => Outcome::new(
            AlertStatus::Unknown,
            format!("outcome unknown: order {tag} could not be looked up; check the platform before re-sending"),
            format!("{why} -> reconciliation failed"),
        ),
    }
}

/// Alerts the last run accepted but did not finish. Never executed late (an old signal is not a signal). An alert
/// that may have sent tagged orders (a buy, sell, reverse or target) is looked up by its `customTag` **whether or not
/// its `sent` mark is there**: with `synchronous=NORMAL` a host crash can lose the mark of a tagged send (only an
/// untagged call waits for the disk, docs/decisions/0008-journal-durability.md), so the broker, not the mark, says
/// whether it was sent (one `Order/search` per such row, at startup only):
/// - an order with its tag is found → `placed`;
/// - none, and no `sent` mark → `failed`, nothing was sent (an untagged call would have left its mark on disk);
/// - none, and a `sent` mark → `unknown` (a close or reduce carries no tag, so what it did cannot be told);
/// - the search fails → `unknown` with a path [`resolve_unknown`] settles once the gateway answers (no mark), or left
///   for the next start (a mark).
///
/// A close or cancel (no tag) is `failed` without its mark, `unknown` with it.
pub async fn recover_unfinished(journal: &Journal, gateway: &projectx::Client) {
    let rows = match journal.unfinished().await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "could not read unfinished alerts");
            return;
        }
    };
    let mut parents = Vec::new();
    for row in rows {
        // A fan-out's parent (no account of its own) is settled from its accounts' rows, once those are.
        if row.account_id.is_none() && row.intent.is_some() && row.parent_id.is_none() {
            parents.push(row.alert_id);
            continue;
        }
        let Some(outcome) = interrupted(&row, gateway).await else { continue };
        tracing::warn!(alert.id = %row.alert_id, outcome = %outcome.status, path = %outcome.path, "interrupted alert closed out");
        if let Err(e) = journal.finish(&row.alert_id, &outcome).await {
            tracing::error!(alert.id = %row.alert_id, error = %e, "could not close out an interrupted alert");
        }
    }
    for parent in parents {
        settle_parent(journal, &parent).await;
    }
}

/// The outcome of an alert the last run left unfinished ([`recover_unfinished`]); `None`: leave it for next time.
async fn interrupted(row: &crate::journal::StoredAlert, gateway: &projectx::Client) -> Option<Outcome> {
    let sent = row.sent_at.is_some();
    let tagged = row.intent.as_ref().is_some_and(carries_tag);
    let account = match row.account_id {
        Some(account) if tagged => account,
        _ if sent && row.account_id.is_some() => {
            return Some(Outcome::new(
                AlertStatus::Unknown,
                "pxrelay stopped after sending a close or cancel; check the platform",
                "interrupted after sending",
            ));
        }
        _ => {
            return Some(Outcome::new(
                AlertStatus::Failed,
                "pxrelay stopped before this alert was sent; nothing was sent",
                "interrupted before sending",
            ));
        }
    };
    let received_at = DateTime::parse_from_rfc3339(&row.received_at)
        .map_or_else(|_| Utc::now() - TimeDelta::days(7), |t| t.with_timezone(&Utc));
    let tags = [custom_tag(&row.alert_id, 1), custom_tag(&row.alert_id, 2)];
    let when = if sent { "interrupted after sending" } else { "interrupted (no sent mark)" };
    Some(match orders_by_tag(gateway, account, &tags, received_at).await {
        Lookup::Found(ids) => Outcome::new(
            AlertStatus::Placed,
            "order placed before the restart (confirmed by customTag)",
            format!("{when} -> reconciled by customTag: {} found", ids.len()),
        )
        .with_orders(ids.into_iter().map(|id| json!(id)).collect()),
        Lookup::NotFound if !sent => Outcome::new(
            AlertStatus::Failed,
            "pxrelay stopped before this alert's order reached the gateway (no order with its customTag); nothing \
             was sent",
            format!("{when} -> reconciled by customTag: 0 found"),
        ),
        // No tagged order; but the alert may have closed or reduced a position first (a close carries no tag), so
        // what it did cannot be told from here.
        Lookup::NotFound => Outcome::new(
            AlertStatus::Unknown,
            "interrupted after sending; no order with its customTag, but a close or reduce carries none: check the \
             platform",
            format!("{when} -> reconciled by customTag: 0 found"),
        ),
        // Without a mark nothing untagged was sent: a later search settles it ([`resolve_unknown`]).
        Lookup::Failed(e) if !sent => {
            tracing::error!(alert.id = %row.alert_id, error = %e, "could not reconcile an interrupted alert");
            Outcome::new(
                AlertStatus::Unknown,
                format!(
                    "pxrelay stopped while handling this alert and its order could not be looked up ({e}); \
                         check the platform"
                ),
                format!("{when} -> reconciliation failed"),
            )
        }
        Lookup::Failed(e) => {
            tracing::error!(alert.id = %row.alert_id, error = %e, "could not reconcile an interrupted alert");
            return None;
        }
    })
}

/// Finishes an interrupted fan-out's parent from its accounts' rows (each settled above like any alert): the overall
/// status and each account's part, as the webhook would have answered.
async fn settle_parent(journal: &Journal, parent: &str) {
    let row = match journal.get(parent).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            tracing::error!(alert.id = %parent, error = %e, "could not read an interrupted fan-out");
            return;
        }
    };
    let parts: Vec<crate::outcome::AccountAnswer> = row
        .accounts
        .iter()
        .filter_map(|child| {
            Some(crate::outcome::AccountAnswer {
                account_id: child.account_id?,
                name: child.account_id?.to_string(),
                status: child.status,
                orders: child.orders.as_array().cloned().unwrap_or_default(),
                message: child.error.clone().or_else(|| child.path.clone()),
            })
        })
        .collect();
    let status = if parts.is_empty() { AlertStatus::Failed } else { crate::outcome::overall(&parts) };
    let message = format!("pxrelay stopped during this fan-out; {}", crate::outcome::summary(&parts));
    let orders: Vec<serde_json::Value> = parts.iter().flat_map(|p| p.orders.clone()).collect();
    let outcome = Outcome::new(status, message.clone(), "interrupted fan-out -> settled from its accounts")
        .with_orders(orders.clone());
    let answer = crate::outcome::Answer {
        alert_id: parent.to_owned(),
        status,
        orders,
        message: Some(message),
        duplicate: false,
        accounts: parts,
    };
    tracing::warn!(alert.id = %parent, outcome = %status, "interrupted fan-out closed out");
    if let Err(e) = journal.finish_answer(parent, &outcome, &answer).await {
        tracing::error!(alert.id = %parent, error = %e, "could not close out an interrupted fan-out");
    }
}

/// Whether an alert's orders carry its `customTag`: a buy, sell, reverse or target-position alert may have sent
/// tagged orders; a close (`exit`, close-only), or a cancel sends none.
fn carries_tag(intent: &crate::signal::Intent) -> bool {
    matches!(intent.action, Action::Buy | Action::Sell | Action::Reverse | Action::Target) && !intent.close_only
}

/// How far back [`resolve_unknown`] looks for alerts left `unknown` (a week: older ones are the operator's).
pub const UNKNOWN_LOOKBACK: TimeDelta = TimeDelta::days(7);

/// Settles alerts left `unknown` (an order whose answer was lost and whose search failed; a run interrupted after
/// sending), run at startup and after every user-hub resync (issue 11), when the gateway can answer again:
/// - an order carrying the alert's `customTag` is found → `placed`, its ids recorded;
/// - none is found, and the alert was one order whose outcome was unknown only because the search failed (path
///   ending `reconciliation failed`, no earlier part sent) → `failed`: the gateway did not take it;
/// - otherwise (a close or reduce carries no tag, so what the alert did cannot be told) it stays `unknown`.
///
/// Returns how many alerts it settled. Reads only: nothing is sent.
pub async fn resolve_unknown(journal: &Journal, gateway: &projectx::Client) -> usize {
    let rows = match journal.in_status(AlertStatus::Unknown, Utc::now() - UNKNOWN_LOOKBACK).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::error!(error = %e, "could not read the alerts left unknown");
            return 0;
        }
    };
    let mut settled = 0;
    for row in rows {
        let (Some(account), Some(intent)) = (row.account_id, row.intent.as_ref()) else { continue };
        if !carries_tag(intent) {
            continue;
        }
        let received_at = DateTime::parse_from_rfc3339(&row.received_at)
            .map_or_else(|_| Utc::now() - UNKNOWN_LOOKBACK, |t| t.with_timezone(&Utc));
        let tags = [custom_tag(&row.alert_id, 1), custom_tag(&row.alert_id, 2)];
        let path = row.path.clone().unwrap_or_default();
        let outcome = match orders_by_tag(gateway, account, &tags, received_at).await {
            Lookup::Found(ids) => {
                let mut orders: Vec<serde_json::Value> = row.orders.as_array().cloned().unwrap_or_default();
                orders.extend(ids.iter().map(|id| json!(id)).filter(|id| !orders.contains(id)).collect::<Vec<_>>());
                Outcome::new(
                    AlertStatus::Placed,
                    "order placed (found by its customTag once the gateway answered again)",
                    format!("{path} -> resolved by customTag: {} found", ids.len()),
                )
                .with_orders(orders)
            }
            Lookup::NotFound if path.ends_with("reconciliation failed") && !path.contains(" then ") => Outcome::new(
                AlertStatus::Failed,
                "the gateway did not take the order (no order with its customTag)",
                format!("{path} -> resolved by customTag: not found"),
            ),
            Lookup::NotFound => continue,
            Lookup::Failed(e) => {
                tracing::warn!(alert.id = %row.alert_id, error = %e, "an unknown alert could not be looked up yet");
                continue;
            }
        };
        tracing::warn!(alert.id = %row.alert_id, outcome = %outcome.status, path = %outcome.path, "alert left unknown is now settled");
        match journal.finish(&row.alert_id, &outcome).await {
            Ok(()) => settled += 1,
            Err(e) => tracing::error!(alert.id = %row.alert_id, error = %e, "could not record a settled alert"),
        }
    }
    settled
}
