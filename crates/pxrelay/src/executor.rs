//! The order executor: one task fed by a bounded queue, executing alerts **one at a time in arrival order** so a
//! reverse's close lands before its entry and an ambiguous outcome is reconciled before anything else is sent.
//!
//! Money-moving calls are never retried. After an ambiguous outcome (timeout after sending, 5xx, reset) the order
//! is looked up by its `customTag` (a close by the position) and the path taken is journaled. Every job ends with an
//! outcome written to the journal and sent to the waiting HTTP handler (if it still waits).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{Contract, Error, OrderSide, OrderType, PlaceOrder, PositionType};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::journal::{Journal, Outcome};
use crate::metrics::Metrics;
use crate::quotes::QuoteService;
use crate::signal::{self, Action, Intent, OrderKind};

/// Reconciliation lookups after an ambiguous outcome.
const RECONCILE_ATTEMPTS: u32 = 4;
const RECONCILE_DELAY: Duration = Duration::from_millis(300);

/// One alert to execute.
#[derive(Debug)]
pub struct Job {
    /// The journal key.
    pub alert_id: String,
    /// What to do.
    pub intent: Intent,
    /// The resolved contract.
    pub contract: Arc<Contract>,
    /// The account.
    pub account_id: i32,
    /// When the alert arrived (bounds the reconciliation search).
    pub received_at: DateTime<Utc>,
    /// When the webhook arrived (for the arrival → outcome latency).
    pub arrived: tokio::time::Instant,
    /// The waiting handler, if it still waits.
    pub reply: oneshot::Sender<Answer>,
}

/// The answer to a webhook.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Answer {
    /// The journal key.
    pub alert_id: String,
    /// `placed`, `closed`, `cancelled`, `noop`, `rejected`, `failed`, `dry_run` (or `pending` from the handler).
    pub status: &'static str,
    /// Gateway order ids (or, in dry-run mode, the exact requests that would have been sent).
    pub orders: Vec<Value>,
    /// What happened, for a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Whether this alert id had been seen before.
    pub duplicate: bool,
}

/// Runtime guards shared with the HTTP side (the kill switch can be flipped by `POST /kill`).
#[derive(Debug)]
pub struct Guards {
    /// Refuse entries, allow exits.
    pub kill_switch: AtomicBool,
    /// Most contracts per order and per resulting position.
    pub max_contracts: u32,
    /// Send nothing; answer with the requests.
    pub dry_run: bool,
    /// An alert that waited longer than this (queue, gateway outage) is not sent: an old signal is not a signal.
    pub max_age: Duration,
}

/// The executor task's state.
#[derive(Debug)]
pub struct Executor {
    gateway: projectx::Client,
    journal: Journal,
    quotes: Arc<QuoteService>,
    guards: Arc<Guards>,
    metrics: Arc<Metrics>,
}

struct Step {
    status: &'static str,
    orders: Vec<Value>,
    message: Option<String>,
    path: String,
}

impl Step {
    fn new(status: &'static str, message: impl Into<String>, path: &str) -> Self {
        Self { status, orders: Vec::new(), message: Some(message.into()), path: path.to_owned() }
    }
}

impl Executor {
    /// An executor over the gateway, journal and quote service.
    pub fn new(
        gateway: projectx::Client,
        journal: Journal,
        quotes: Arc<QuoteService>,
        guards: Arc<Guards>,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self { gateway, journal, quotes, guards, metrics }
    }

    /// Executes jobs until `cancel` fires; then stops taking new ones and finishes those already queued.
    pub async fn run(self, mut jobs: mpsc::Receiver<Job>, cancel: CancellationToken) {
        loop {
            let job = tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    jobs.close();
                    break;
                }
                job = jobs.recv() => match job {
                    Some(job) => job,
                    None => return,
                },
            };
            self.handle(job).await;
        }
        while let Some(job) = jobs.recv().await {
            self.handle(job).await;
        }
    }

    async fn handle(&self, job: Job) {
        let started = tokio::time::Instant::now();
        let step = match self.expired(&job) {
            Some(expired) => expired,
            None => self.execute(&job).await,
        };
        let answer = Answer {
            alert_id: job.alert_id.clone(),
            status: step.status,
            orders: step.orders.clone(),
            message: step.message.clone(),
            duplicate: false,
        };
        let outcome = Outcome {
            status: step.status.to_owned(),
            path: Some(step.path.clone()),
            orders: Value::Array(step.orders),
            error: matches!(step.status, "failed" | "rejected").then(|| step.message.clone().unwrap_or_default()),
            response: serde_json::to_value(&answer).ok(),
        };
        if let Err(e) = self.journal.finish(&job.alert_id, outcome).await {
            tracing::error!(alert.id = %job.alert_id, error = %e, "could not journal an alert's outcome");
        }
        self.metrics.order(step.status, job.arrived.elapsed());
        tracing::info!(
            alert.id = %job.alert_id,
            alert.action = job.intent.action.as_str(),
            contract.id = %job.contract.id,
            outcome = step.status,
            path = %step.path,
            latency_ms = job.arrived.elapsed().as_millis() as u64,
            execution_ms = started.elapsed().as_millis() as u64,
            "alert handled"
        );
        let _ = job.reply.send(answer);
    }

    async fn execute(&self, job: &Job) -> Step {
        let intent = &job.intent;
        match intent.action {
            Action::Cancel => self.cancel_orders(job).await,
            Action::Exit => self.close(job, None).await,
            Action::Buy | Action::Sell if intent.close_only => {
                // TradersPost semantics: `sell` + flat closes a long, never opens a short (and `buy` + flat a short).
                let closes = if intent.action == Action::Sell { PositionType::Long } else { PositionType::Short };
                self.close(job, Some(closes)).await
            }
            Action::Buy => self.enter(job, OrderSide::Bid, 1).await,
            Action::Sell => self.enter(job, OrderSide::Ask, 1).await,
            Action::Reverse => self.reverse(job).await,
        }
    }

    /// The last checks before a money-moving call: the alert is not too old, and the journal notes the send.
    /// `Some(step)` means nothing may be sent.
    async fn before_sending(&self, job: &Job) -> Option<Step> {
        if let Some(expired) = self.expired(job) {
            return Some(expired);
        }
        match self.journal.mark_sent(&job.alert_id).await {
            Ok(()) => None,
            Err(e) => Some(Step::new("failed", format!("journal unavailable, nothing sent: {e}"), "journal")),
        }
    }

    fn expired(&self, job: &Job) -> Option<Step> {
        let waited = job.arrived.elapsed();
        (waited > self.guards.max_age).then(|| {
            Step::new(
                "failed",
                format!(
                    "the alert waited {:.1} s (more than MAX_ALERT_AGE_SECS = {} s); nothing sent",
                    waited.as_secs_f64(),
                    self.guards.max_age.as_secs()
                ),
                "expired before sending",
            )
        })
    }

    /// The signed position in the job's contract (long > 0).
    async fn position(&self, job: &Job) -> Result<i64, Error> {
        let positions = self.gateway.open_positions(job.account_id).await?;
        Ok(positions
            .iter()
            .filter(|p| p.contract_id == job.contract.id)
            .map(|p| match p.position_type {
                PositionType::Short => -i64::from(p.size),
                _ => i64::from(p.size),
            })
            .sum())
    }

    async fn enter(&self, job: &Job, side: OrderSide, leg: u8) -> Step {
        let intent = &job.intent;
        if self.guards.kill_switch.load(Ordering::Relaxed) {
            return Step::new("rejected", "kill switch is on: entries are refused (exits are still allowed)", "guard");
        }
        let max = i64::from(self.guards.max_contracts);
        let qty = i64::from(intent.quantity);
        if qty > max {
            return Step::new("rejected", format!("quantity {qty} exceeds MAX_CONTRACTS {max}"), "guard");
        }
        let current = match self.position(job).await {
            Ok(p) => p,
            Err(e) => return Step::new("failed", format!("could not read the position: {e}"), "position lookup"),
        };
        let after = current + if side == OrderSide::Bid { qty } else { -qty };
        if after.abs() > max && after.abs() > current.abs() {
            return Step::new(
                "rejected",
                format!("the position would be {after} contracts, beyond MAX_CONTRACTS {max}"),
                "guard",
            );
        }
        let order = match self.build_order(job, side, leg).await {
            Ok(o) => o,
            Err(message) => return Step::new("rejected", message, "validation"),
        };
        if self.guards.dry_run {
            let mut step = Step::new("dry_run", "DRY_RUN: nothing was sent", "dry run");
            step.orders.push(json!({ "endpoint": "/api/Order/place", "body": order }));
            return step;
        }
        if let Some(refused) = self.before_sending(job).await {
            return refused;
        }
        match self.gateway.place_order(&order).await {
            Ok(id) => Step { orders: vec![json!(id)], ..Step::new("placed", "order placed", "placed") },
            Err(Error::Rejected { name, message, order_id, code, .. }) => {
                let text = message.unwrap_or_default();
                let lower = text.to_ascii_lowercase();
                let duplicate_tag = code == 2
                    && (lower.contains("customtag") || lower.contains("custom tag"))
                    && (lower.contains("unique") || lower.contains("duplicate") || lower.contains("already"));
                if duplicate_tag {
                    // The gateway already holds an order with this customTag: this alert was placed before.
                    return self.reconcile_order(job, &order, "duplicate customTag").await;
                }
                let mut step =
                    Step::new("rejected", format!("gateway rejected the order: {name} ({code}) {text}"), "rejected");
                step.orders.extend(order_id.map(|id| json!(id)));
                step
            }
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(alert.id = %job.alert_id, error = %e, "order outcome unknown; reconciling by customTag");
                self.reconcile_order(job, &order, "ambiguous").await
            }
            Err(e) => Step::new("failed", format!("not sent: {e}"), "not sent"),
        }
    }

    /// Looks the order up by its customTag: found → placed; not found → failed. Nothing else is sent meanwhile.
    async fn reconcile_order(&self, job: &Job, order: &PlaceOrder, why: &str) -> Step {
        let tag = order.custom_tag.as_deref().unwrap_or_default();
        let since = job.received_at - chrono::TimeDelta::minutes(5);
        for attempt in 1..=RECONCILE_ATTEMPTS {
            match self.gateway.search_orders(job.account_id, since, None).await {
                Ok(orders) => {
                    return match orders.iter().find(|o| o.custom_tag.as_deref() == Some(tag)) {
                        Some(found) => Step {
                            orders: vec![json!(found.id)],
                            ..Step::new(
                                "placed",
                                "order placed (confirmed by customTag)",
                                &format!("{why} -> reconciled by customTag: found"),
                            )
                        },
                        None => Step::new(
                            "failed",
                            "the gateway did not take the order (no order with its customTag)",
                            &format!("{why} -> reconciled by customTag: not found"),
                        ),
                    };
                }
                Err(e) => {
                    tracing::warn!(alert.id = %job.alert_id, attempt, error = %e, "reconciliation lookup failed");
                    tokio::time::sleep(RECONCILE_DELAY * attempt).await;
                }
            }
        }
        Step::new(
            "failed",
            format!("outcome unknown: order {tag} could not be looked up; check the platform before re-sending"),
            &format!("{why} -> reconciliation failed"),
        )
    }

    async fn build_order(&self, job: &Job, side: OrderSide, leg: u8) -> Result<PlaceOrder, String> {
        let intent = &job.intent;
        let (limit_price, stop_price, trail_price) = match intent.order {
            OrderKind::Market => (None, None, None),
            OrderKind::Limit(p) => (Some(p), None, None),
            OrderKind::Stop(p) => (None, Some(p), None),
            OrderKind::TrailingStop(p) => (None, None, Some(p)),
        };
        let reference = match (intent.order.entry_price(), intent.has_price_bracket()) {
            (Some(p), _) => Some(p),
            // A stale quote would put the native stop where the alert did not ask for it: no reference then.
            (None, true) => self
                .quotes
                .quote(&job.contract.id)
                .await
                .ok()
                .filter(|q| !q.stale)
                .and_then(|q| q.last.or(q.bid).or(q.ask)),
            (None, false) => None,
        };
        let (sl, tp) =
            signal::bracket_ticks(intent, side, reference, job.contract.tick_size).map_err(|e| e.to_string())?;
        Ok(PlaceOrder {
            account_id: job.account_id,
            contract_id: job.contract.id.clone(),
            order_type: intent.order.order_type(),
            side,
            size: i32::try_from(intent.quantity).map_err(|_| "quantity is too large".to_owned())?,
            limit_price,
            stop_price,
            trail_price,
            custom_tag: Some(signal::custom_tag(&job.alert_id, leg)),
            stop_loss_bracket: sl.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Stop }),
            take_profit_bracket: tp.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Limit }),
        })
    }

    /// Closes the position (only one on the `only` side, when given).
    async fn close(&self, job: &Job, only: Option<PositionType>) -> Step {
        let current = match self.position(job).await {
            Ok(p) => p,
            Err(e) => return Step::new("failed", format!("could not read the position: {e}"), "position lookup"),
        };
        let side_ok = match only {
            Some(PositionType::Long) => current > 0,
            Some(PositionType::Short) => current < 0,
            _ => current != 0,
        };
        if !side_ok {
            let what = match only {
                Some(PositionType::Long) => "no long position",
                Some(PositionType::Short) => "no short position",
                _ => "no open position",
            };
            return Step::new("noop", format!("{what} in {}; nothing sent", job.contract.id), "flat");
        }
        if self.guards.dry_run {
            let mut step = Step::new("dry_run", "DRY_RUN: nothing was sent", "dry run");
            step.orders.push(json!({
                "endpoint": "/api/Position/closeContract",
                "body": {"accountId": job.account_id, "contractId": job.contract.id},
            }));
            return step;
        }
        if let Some(refused) = self.before_sending(job).await {
            return refused;
        }
        match self.gateway.close_position(job.account_id, &job.contract.id).await {
            Ok(()) => Step::new("closed", format!("closed {current} contracts"), "closed"),
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(alert.id = %job.alert_id, error = %e, "close outcome unknown; checking the position");
                tokio::time::sleep(RECONCILE_DELAY).await;
                match self.position(job).await {
                    Ok(0) => {
                        Step::new("closed", "position closed (confirmed)", "ambiguous -> reconciled by position: flat")
                    }
                    Ok(p) => Step::new(
                        "failed",
                        format!("close not confirmed: position is {p}"),
                        "ambiguous -> reconciled by position: open",
                    ),
                    Err(e) => {
                        Step::new("failed", format!("close outcome unknown: {e}"), "ambiguous -> reconciliation failed")
                    }
                }
            }
            Err(e) => Step::new("failed", format!("close failed: {e}"), "close failed"),
        }
    }

    async fn reverse(&self, job: &Job) -> Step {
        let current = match self.position(job).await {
            Ok(p) => p,
            Err(e) => return Step::new("failed", format!("could not read the position: {e}"), "position lookup"),
        };
        if current == 0 {
            return Step::new(
                "noop",
                format!("no open position in {} to reverse; nothing sent", job.contract.id),
                "flat",
            );
        }
        let closed = self.close(job, None).await;
        if closed.status != "closed" {
            return closed;
        }
        let side = if current > 0 { OrderSide::Ask } else { OrderSide::Bid };
        let entered = self.enter(job, side, 2).await;
        Step {
            path: format!("reverse: {} then {}", closed.path, entered.path),
            message: Some(format!(
                "{}; {}",
                closed.message.unwrap_or_default(),
                entered.message.clone().unwrap_or_default()
            )),
            ..entered
        }
    }

    async fn cancel_orders(&self, job: &Job) -> Step {
        let open = match self.gateway.open_orders(job.account_id).await {
            Ok(o) => o,
            Err(e) => return Step::new("failed", format!("could not read working orders: {e}"), "order lookup"),
        };
        let ids: Vec<i64> = open.iter().filter(|o| o.contract_id == job.contract.id).map(|o| o.id).collect();
        if ids.is_empty() {
            return Step::new("noop", format!("no working orders in {}; nothing sent", job.contract.id), "none");
        }
        if self.guards.dry_run {
            let mut step = Step::new("dry_run", "DRY_RUN: nothing was sent", "dry run");
            step.orders = ids
                .iter()
                .map(
                    |id| json!({"endpoint": "/api/Order/cancel", "body": {"accountId": job.account_id, "orderId": id}}),
                )
                .collect();
            return step;
        }
        if let Some(refused) = self.before_sending(job).await {
            return refused;
        }
        let mut cancelled = Vec::new();
        let mut errors = Vec::new();
        for id in ids {
            match self.gateway.cancel_order(job.account_id, id).await {
                Ok(()) => cancelled.push(json!(id)),
                Err(e) => errors.push(format!("{id}: {e}")),
            }
        }
        let status = if errors.is_empty() { "cancelled" } else { "failed" };
        let message = if errors.is_empty() {
            format!("cancelled {} orders", cancelled.len())
        } else {
            format!("cancelled {}; failed: {}", cancelled.len(), errors.join("; "))
        };
        Step { orders: cancelled, ..Step::new(status, message, "cancel") }
    }
}
