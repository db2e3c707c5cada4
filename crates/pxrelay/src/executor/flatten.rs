//! The risk flatten (issue 12): cancel an account's working orders and close its positions, for the kill switch
//! (`POST /kill {"flatten": true}`), the daily loss limit and the flat-by time. It runs as a job in the executor
//! queue like an alert, so it never interleaves with an alert's orders and an alert's ambiguous outcome is settled
//! before it starts. Nothing is retried blindly: a close whose answer is lost is checked by reading the position.
//!
//! Order of work, and why:
//! 1. **journal** a row of its own (`flatten-<account>-<ms>`, `GET /alerts/{id}`) before anything is sent;
//! 2. **cancel** the working orders in scope first: a stop or target left working while its position closes would
//!    open a new position when touched (the orphan-leg problem, API notes §9.21);
//! 3. **close** every position in scope with `Position/closeContract` (their fills land on the entry alerts'
//!    timelines as `closed` with `by: flatten`);
//! 4. **sweep**: read the working orders again over REST and cancel what is still in scope on a closed contract (an
//!    order that appeared meanwhile).
//!
//! [`FlattenScope::Managed`] leaves **foreign** positions ([`crate::provenance`]) and the trader's own orders on their
//! contracts alone, and lists them; [`FlattenScope::All`] takes everything on the account.

use std::collections::HashSet;

use chrono::Utc;
use projectx::book::signed_size;
use projectx::{AccountId, ContractId, Error, Order, OrderId, Position};
use serde::Serialize;
use serde_json::json;
use tokio::sync::oneshot;

use super::Executor;
use crate::fills::{Owner, Reference, Role};
use crate::legs;
use crate::outcome::{AlertStatus, Outcome};
use crate::provenance::OpenedBy;

/// Which positions and orders a flatten takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FlattenScope {
    /// Every position and working order of the account (the daily loss limit protects the account, whoever opened
    /// what).
    All,
    /// Every position that is not foreign (pxrelay's, or of unknown origin: a position held since before the book's
    /// trades), the working orders on their contracts, and pxrelay's own orders anywhere. Foreign positions and the
    /// trader's orders on their contracts are left and listed.
    Managed,
}

/// A flatten for the executor queue.
#[derive(Debug)]
pub struct FlattenJob {
    /// The account.
    pub account_id: AccountId,
    /// What it takes.
    pub scope: FlattenScope,
    /// Why, for the journal and the logs: e.g. `kill switch`, `daily loss limit`, `FLAT_BY 15:08`.
    pub by: String,
    /// The report goes here (dropped receiver: nobody waits).
    pub reply: oneshot::Sender<FlattenReport>,
}

/// A closed position: its contract and the signed size it had (long > 0).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ClosedPosition {
    /// The contract.
    pub contract_id: ContractId,
    /// The signed size closed.
    pub size: i64,
}

/// A position the flatten left open, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LeftPosition {
    /// The contract.
    pub contract_id: ContractId,
    /// The signed size still open.
    pub size: i64,
    /// `foreign` (out of scope), or the gateway's refusal.
    pub why: String,
}

/// What a flatten did, for the kill switch's answer, the logs and the journal row.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlattenReport {
    /// The account.
    pub account_id: AccountId,
    /// The journal row (`GET /alerts/{id}`).
    pub id: String,
    /// `closed` (something was closed or cancelled, nothing failed), `noop` (nothing in scope), `failed` (a cancel
    /// or close was refused or could not be confirmed: see `left` and `errors`).
    pub status: AlertStatus,
    /// Positions closed.
    pub closed: Vec<ClosedPosition>,
    /// Working orders cancelled.
    pub cancelled: Vec<OrderId>,
    /// Positions left open: foreign ones (managed scope) and failed closes.
    pub left: Vec<LeftPosition>,
    /// What went wrong, in words (refused cancels, failed closes, failed reads).
    pub errors: Vec<String>,
}

impl Executor {
    /// Runs one flatten (see the module docs) and answers its report.
    pub(super) async fn flatten(&self, job: FlattenJob) {
        let report = self.run_flatten(&job).await;
        let counts = (report.closed.len(), report.cancelled.len(), report.left.len());
        if report.status == AlertStatus::Failed {
            tracing::error!(account.id = %job.account_id, by = %job.by, id = %report.id, errors = ?report.errors, left = ?report.left, "flatten incomplete: check the platform");
        } else {
            tracing::warn!(account.id = %job.account_id, by = %job.by, id = %report.id, closed = counts.0, cancelled = counts.1, left = counts.2, "account flattened");
        }
        let name = self.books.account_name(job.account_id).unwrap_or_else(|| job.account_id.to_string());
        if let Some(n) = flattened_notice(&name, &job.by, &report) {
            self.notify.emit(n);
        }
        let _ = job.reply.send(report);
    }

    async fn run_flatten(&self, job: &FlattenJob) -> FlattenReport {
        let account = job.account_id;
        let id = format!("flatten-{account}-{}", Utc::now().timestamp_micros());
        let mut report = FlattenReport {
            account_id: account,
            id: id.clone(),
            status: AlertStatus::Failed,
            closed: Vec::new(),
            cancelled: Vec::new(),
            left: Vec::new(),
            errors: Vec::new(),
        };
        let raw = json!({ "flatten": job.by, "scope": job.scope, "account_id": account }).to_string();
        if let Err(e) = self.journal.record_action(&id, Utc::now(), raw, account).await {
            report.errors.push(format!("journal unavailable, nothing sent: {e}"));
            return report;
        }
        self.books.watch(account).await;
        let (positions, working) = match self.open_state(account).await {
            Ok(state) => state,
            Err(e) => {
                report.errors.push(format!("could not read the positions and working orders, nothing sent: {e}"));
                return self.finish_flatten(job, report).await;
            }
        };
        let (to_close, foreign): (Vec<Position>, Vec<Position>) = positions
            .into_iter()
            .partition(|p| job.scope == FlattenScope::All || self.books.opened_by(account, p) != OpenedBy::Foreign);
        report.left.extend(foreign.iter().map(|p| LeftPosition {
            contract_id: p.contract_id.clone(),
            size: signed_size(p),
            why: "foreign: opened outside pxrelay, not in scope".to_owned(),
        }));
        let foreign_contracts: HashSet<ContractId> = foreign.iter().map(|p| p.contract_id.clone()).collect();
        let doomed = self.in_scope(job.scope, &foreign_contracts, working);
        if to_close.is_empty() && doomed.is_empty() {
            report.status = AlertStatus::Noop;
            return self.finish_flatten(job, report).await;
        }
        if let Err(e) = self.journal.mark_sent(&id, crate::journal::Sending::Untagged).await {
            report.errors.push(format!("journal unavailable, nothing sent: {e}"));
            return self.finish_flatten(job, report).await;
        }
        self.cancel_all(&mut report, doomed).await;
        for position in to_close {
            self.close_for_flatten(&id, &mut report, &position).await;
        }
        // The sweep: anything in scope still working on a closed contract.
        let closed: HashSet<ContractId> = report.closed.iter().map(|c| c.contract_id.clone()).collect();
        match self.gateway.open_orders(account).await {
            Ok(open) => {
                let open = open.into_iter().filter(|o| closed.contains(&o.contract_id)).collect();
                let again = self.in_scope(job.scope, &foreign_contracts, open);
                self.cancel_all(&mut report, again).await;
            }
            Err(e) => report.errors.push(format!("could not read the working orders after closing: {e}")),
        }
        let clean = report.errors.is_empty() && report.left.iter().all(|l| l.why.starts_with("foreign"));
        report.status = if clean { AlertStatus::Closed } else { AlertStatus::Failed };
        self.finish_flatten(job, report).await
    }

    /// Positions and working orders: from the live book, else over REST.
    async fn open_state(&self, account: AccountId) -> Result<(Vec<Position>, Vec<Order>), Error> {
        if let Some(state) = self.books.live_state(account) {
            return Ok(state);
        }
        tokio::try_join!(self.gateway.open_positions(account), self.gateway.open_orders(account))
    }

    /// The working orders a flatten of `scope` cancels (see [`FlattenScope`]).
    fn in_scope(&self, scope: FlattenScope, foreign: &HashSet<ContractId>, working: Vec<Order>) -> Vec<Order> {
        working
            .into_iter()
            .filter(|o| o.status.is_working())
            .filter(|o| {
                scope == FlattenScope::All
                    || !foreign.contains(&o.contract_id)
                    || legs::is_pxrelay_tag(o.custom_tag.as_deref())
                    || o.parent_order_id.is_some_and(|p| self.books.placed_by_pxrelay(p))
            })
            .collect()
    }

    async fn cancel_all(&self, report: &mut FlattenReport, orders: Vec<Order>) {
        if orders.is_empty() {
            return;
        }
        let round = legs::cancel_round(&self.gateway, orders).await;
        self.metrics.orphan_cancels("cancelled", round.cancelled.len());
        self.metrics.orphan_cancels("refused", round.refused.len());
        report.cancelled.extend(round.cancelled);
        report.errors.extend(round.refused.into_iter().map(|(o, e)| format!("order {} not cancelled: {e}", o.id)));
    }

    /// `Position/closeContract` for one position; a lost answer is settled by reading the position back.
    async fn close_for_flatten(&self, id: &str, report: &mut FlattenReport, position: &Position) {
        let (account, contract) = (position.account_id, &position.contract_id);
        let size = signed_size(position);
        self.books.closing(account, contract);
        let owner = Owner { alert_id: id.to_owned(), role: Role::Flatten };
        // No reference price: a flatten's fills carry no slippage.
        let reference = Reference { price: None, tick_size: rust_decimal::Decimal::ZERO };
        self.fills.closing(account, contract.clone(), owner.clone(), reference);
        let closed = match self.gateway.close_position(account, contract).await {
            Ok(()) => Ok(()),
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(flatten.id = %id, contract.id = %contract, error = %e, "flatten close outcome unknown; checking the position");
                tokio::time::sleep(super::reconcile::RETRY_DELAY).await;
                match self.gateway.open_positions(account).await {
                    Ok(open) if !open.iter().any(|p| &p.contract_id == contract) => Ok(()),
                    Ok(_) => Err(format!("close of {contract} not confirmed: the position is still open ({e})")),
                    Err(read) => Err(format!("close of {contract} unknown ({e}); reading it back failed: {read}")),
                }
            }
            Err(e) => Err(format!("close of {contract} failed: {e}")),
        };
        match closed {
            Ok(()) => {
                self.books.expect(account, contract, 0);
                self.fills.acknowledged(owner, None).await;
                report.closed.push(ClosedPosition { contract_id: contract.clone(), size });
            }
            Err(why) => {
                report.left.push(LeftPosition { contract_id: contract.clone(), size, why: why.clone() });
                report.errors.push(why);
            }
        }
    }

    /// Journals the report as the row's outcome.
    async fn finish_flatten(&self, job: &FlattenJob, report: FlattenReport) -> FlattenReport {
        let message = format!(
            "flatten ({}): {} position(s) closed, {} order(s) cancelled{}{}",
            job.by,
            report.closed.len(),
            report.cancelled.len(),
            if report.left.is_empty() { String::new() } else { format!(", {} left open", report.left.len()) },
            if report.errors.is_empty() { String::new() } else { format!("; {}", report.errors.join("; ")) },
        );
        let outcome = Outcome::new(report.status, message, format!("flatten ({})", job.by))
            .with_orders(report.cancelled.iter().map(|id| json!(id)).collect());
        if let Err(e) = self.journal.finish(&report.id, &outcome).await {
            tracing::error!(flatten.id = %report.id, error = %e, "could not journal a flatten's outcome");
        }
        report
    }
}

/// The executor has stopped (the process is stopping): the flatten was not run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the executor has stopped: the flatten was not run")]
pub struct ExecutorStopped;

/// Queues a flatten of `account_id` and waits for its report. The queue is awaited, never skipped or `try_send`-ed:
/// a risk flatten is not dropped because alerts filled the queue.
pub async fn request(
    jobs: &tokio::sync::mpsc::Sender<super::Work>,
    account_id: AccountId,
    scope: FlattenScope,
    by: impl Into<String>,
) -> Result<FlattenReport, ExecutorStopped> {
    let (reply, report) = oneshot::channel();
    let job = FlattenJob { account_id, scope, by: by.into(), reply };
    jobs.send(super::Work::Flatten(job)).await.map_err(|_| ExecutorStopped)?;
    report.await.map_err(|_| ExecutorStopped)
}

/// A risk flatten on `account` (its name) that did something or failed; `None` when there was nothing to do.
fn flattened_notice(account: &str, by: &str, report: &FlattenReport) -> Option<crate::notify::Notice> {
    if report.status == AlertStatus::Noop {
        return None;
    }
    let mut message = format!(
        "{account} flattened ({by}): {} position(s) closed, {} order(s) cancelled",
        report.closed.len(),
        report.cancelled.len()
    );
    if report.status == AlertStatus::Failed {
        message = format!("{account} flatten INCOMPLETE ({by}): {}; check the platform", report.errors.join("; "));
    }
    Some(
        crate::notify::Notice::new(crate::notify::EventKind::Flattened, message)
            .alert(report.id.clone())
            .account(account)
            .field("status", report.status.as_str())
            .field("by", by)
            .field("closed", report.closed.len())
            .field("cancelled", report.cancelled.len())
            .field("left", report.left.len()),
    )
}
