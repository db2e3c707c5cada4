//! The order executor: one task fed by a bounded queue, executing each account's alerts **one at a time in arrival
//! order** so a reverse's close lands before its entry and an ambiguous outcome is reconciled before anything else is
//! sent on that account; different accounts run concurrently, each on its own lane ([`lanes`]).
//!
//! Money-moving calls are never retried. After an ambiguous outcome (timeout after sending, 5xx, reset) the order
//! is looked up by its `customTag` ([`reconcile`]; a close by the position) and the path taken is journaled. Every
//! job ends with an [`Outcome`] written to the journal and sent to the waiting HTTP handler (if it still waits).
//!
//! Every order sent is registered with [`Fills`] (its `customTag`, role and the alert's reference price at arrival,
//! then the id the gateway answered), so its fills, legs and closes land on the alert's timeline; the outcome
//! carries where the position was read (`book`, or `rest` when the user hub was not live: counted in
//! `pxrelay_position_rest_fallbacks_total`) and the reference price, both journaled with it.
//!
//! Layout: this file (guards, entries, closes, cancels) · [`lanes`] (the dispatcher and the per-account lanes) ·
//! [`reconcile`] (by `customTag`, also used at startup) · [`reference`] (the entry reference price for price
//! brackets, also used by the webhook's pre-check) ·
//! `refusal` (why entries are refused now: the kill switch, the user hub's re-login pause, a time rule or a daily risk
//! block) · [`sizing`] (dollar and percent risk → contracts and ticks) · [`breakeven`] (moving the stop-loss leg to
//! break-even) and [`breakeven_watch`] (`breakeven_after_ticks`) · [`flatten`] (the risk flatten: cancel an
//! account's working orders, close its positions).

mod after_answer;
pub mod breakeven;
pub mod breakeven_watch;
pub mod flatten;
pub mod lanes;
pub mod plan;
pub mod reconcile;
pub mod reference;
mod refusal;
pub mod sizing;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use chrono::{DateTime, Utc};
use projectx::{AccountId, Contract, Error, OrderId, OrderSide, OrderType, PlaceOrder, PositionType};
use serde_json::json;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::books::Books;
use crate::fills::{Fills, Owner, Role};
use crate::journal::{Execution, Journal, PositionSource, Sending};
use crate::metrics::{Metrics, Stage};
use crate::outcome::{AlertStatus, Answer, Outcome};
use crate::quotes::QuoteService;
use crate::signal::{self, Action, Intent, OrderKind};
use refusal::EntryRefusal;

/// What the executor queue carries: an alert, or a risk flatten ([`flatten`]), executed one at a time in order per
/// account ([`lanes`]).
#[derive(Debug)]
pub enum Work {
    /// An alert.
    Alert(Box<Job>),
    /// Cancel an account's working orders and close its positions.
    Flatten(flatten::FlattenJob),
}

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
    pub account_id: AccountId,
    /// When the alert arrived (bounds the reconciliation search).
    pub received_at: DateTime<Utc>,
    /// When the webhook arrived (for the arrival → outcome latency).
    pub arrived: tokio::time::Instant,
    /// The contract's touch (best bid and ask) of a fresh streamed quote at arrival, if any: the reference price of
    /// a market order ([`reference::at_arrival`]).
    pub touch: Option<reference::Touch>,
    /// The waiting handler, if it still waits.
    pub reply: oneshot::Sender<Answer>,
}

/// Runtime guards shared with the HTTP side (the kill switch can be flipped by `POST /kill`).
#[derive(Debug)]
pub struct Guards {
    /// Refuse entries, allow exits.
    pub kill_switch: AtomicBool,
    /// Most contracts per order and per resulting position (`MAX_CONTRACTS`); an account's `ACCOUNT_LIMITS`
    /// `max_contracts` replaces it ([`Guards::max_contracts_for`]).
    pub max_contracts: u32,
    /// `ACCOUNT_LIMITS`' `max_contracts` by account (filled by the warm-up's account check, before any alert runs).
    pub account_limits: Arc<dyn ContractCaps>,
    /// Send nothing; answer with the requests.
    pub dry_run: bool,
    /// An alert that waited longer than this (queue, gateway outage) is not sent: an old signal is not a signal.
    pub max_age: Duration,
    /// The time rules on the market clock (`MARKET_HOURS`, `FLAT_BY`, `TRADING_WINDOWS`): entries refused outside.
    pub hours: crate::hours::Hours,
}

impl Guards {
    /// The contract cap of `account`: its `ACCOUNT_LIMITS` `max_contracts`, else `MAX_CONTRACTS`.
    pub fn max_contracts_for(&self, account: AccountId) -> u32 {
        self.account_limits.max_contracts(account).unwrap_or(self.max_contracts)
    }
}

/// Per-account contract caps (`ACCOUNT_LIMITS` `max_contracts`): a trait here so the executor does not depend on the
/// account configuration's modules (`crate::accounts::LimitsById` implements it).
pub trait ContractCaps: std::fmt::Debug + Send + Sync {
    /// `account`'s own cap, if it has one.
    fn max_contracts(&self, account: AccountId) -> Option<u32>;
}

/// No per-account caps: `MAX_CONTRACTS` applies to every account.
#[derive(Debug, Default)]
pub struct NoCaps;

impl ContractCaps for NoCaps {
    fn max_contracts(&self, _: AccountId) -> Option<u32> {
        None
    }
}

/// Something that blocks entries on one account for a while: the daily loss limit and profit target
/// (`crate::risk::DailyRisk`). A trait here, so the executor does not depend on the module that queues flattens
/// into it.
pub trait AccountBlock: std::fmt::Debug + Send + Sync {
    /// `Some((why, todo))` while entries on `account` are refused: `why` names the rule (e.g. `daily loss limit
    /// (DAILY_LOSS_LIMIT) 50 reached: day P&L -60.37`), `todo` is `""` or `"; <when entries are allowed again>"`.
    fn refusal(&self, account: AccountId) -> Option<(String, String)>;
}

/// The executor task's state.
#[derive(Debug)]
pub struct Executor {
    gateway: projectx::Client,
    journal: Journal,
    quotes: Arc<QuoteService>,
    guards: Arc<Guards>,
    metrics: Arc<Metrics>,
    books: Arc<Books>,
    /// Attribution of orders and fills to alerts.
    fills: Arc<Fills>,
    /// Starts `breakeven_after_ticks` watchers for the entries that carry it; `None` until
    /// [`Executor::with_breakeven`] (then the field is ignored with a warning).
    breakeven: Option<breakeven_watch::Watcher>,
    /// Room for waiting jobs in each account's lane ([`Executor::with_lane_capacity`]).
    lane_capacity: usize,
    /// The daily loss limit and profit target's blocks (`crate::risk`); `None` until [`Executor::with_risk`].
    risk: Option<Arc<dyn AccountBlock>>,
    /// Outcomes and flattens are told here (never waits); disabled until [`Executor::with_notifier`].
    notify: crate::notify::Notifier,
    /// Cancels of a closed position's legs, run after the alert was answered ([`after_answer`]).
    after_answer: after_answer::AfterAnswer,
}

/// Waiting jobs per account lane unless [`Executor::with_lane_capacity`] says otherwise.
pub const DEFAULT_LANE_CAPACITY: usize = 64;

/// The path of an alert this instance could not send because it lost the lead (issue 14): nothing was sent, its
/// journal row went back to the queue, and the next leader executes it; so its outcome is not journaled here.
pub const HANDED_OVER: &str = "fenced: queued again for the next leader";

/// The path prefix of an outcome whose position came from the live account book.
pub const POSITION_FROM_BOOK: &str = "position from the book";
/// The path prefix of an outcome whose position came from `Position/searchOpen` (the book was not live).
pub const POSITION_FROM_REST: &str = "position from REST (user hub not live)";

impl Executor {
    /// An executor over the gateway, journal, quote service and account books (positions are read from a live
    /// book, else over REST), registering what it sends with `fills`.
    pub fn new(
        gateway: projectx::Client,
        journal: Journal,
        quotes: Arc<QuoteService>,
        guards: Arc<Guards>,
        metrics: Arc<Metrics>,
        books: Arc<Books>,
        fills: Arc<Fills>,
    ) -> Self {
        Self {
            gateway,
            journal,
            quotes,
            guards,
            metrics,
            books,
            fills,
            breakeven: None,
            risk: None,
            notify: crate::notify::Notifier::disabled(),
            lane_capacity: DEFAULT_LANE_CAPACITY,
            after_answer: after_answer::AfterAnswer::default(),
        }
    }

    /// Lets placed entries carrying `breakeven_after_ticks` start their watcher ([`breakeven_watch`]).
    pub fn with_breakeven(mut self, watcher: breakeven_watch::Watcher) -> Self {
        self.breakeven = Some(watcher);
        self
    }

    /// Refuses entries on an account the daily loss limit or profit target blocked (`crate::risk::DailyRisk`).
    pub fn with_risk(mut self, risk: Arc<dyn AccountBlock>) -> Self {
        self.risk = Some(risk);
        self
    }

    /// Tells `notify` of outcomes (`placed`, `rejected`, `failed`, `unknown`, `expired`) and risk flattens.
    pub fn with_notifier(mut self, notify: crate::notify::Notifier) -> Self {
        self.notify = notify;
        self
    }

    /// How many jobs of any kind may wait in each account's lane (default [`DEFAULT_LANE_CAPACITY`]); protective
    /// work has [`lanes::PROTECTIVE_RESERVE`] more places ([`lanes`]).
    pub fn with_lane_capacity(mut self, capacity: usize) -> Self {
        self.lane_capacity = capacity.max(1);
        self
    }

    /// Executes jobs until `cancel` fires; then stops taking new ones and finishes those already queued. Jobs run
    /// one at a time per account, in arrival order; accounts run concurrently ([`lanes`]).
    pub async fn run(self, jobs: mpsc::Receiver<Work>, cancel: CancellationToken) {
        let capacity = self.lane_capacity;
        lanes::dispatch(Arc::new(self), jobs, capacity, cancel).await;
    }

    async fn handle(&self, mut job: Job) {
        let started = tokio::time::Instant::now();
        // The account's book (the first alert for an account starts watching it; cheap when already watched).
        self.books.watch(job.account_id).await;
        let mut outcome = match self.expired(&job) {
            Some(expired) => expired,
            None => self.execute_following_a_roll(&mut job).await,
        };
        let answering = self.metrics.stage(Stage::Execute, started);
        if let Some(source) = outcome.position_source {
            let words = match source {
                PositionSource::Book => POSITION_FROM_BOOK,
                PositionSource::Rest => POSITION_FROM_REST,
            };
            outcome.path = format!("{words} -> {}", outcome.path);
        }
        let name = self.books.account_name(job.account_id).unwrap_or_else(|| job.account_id.to_string());
        outcome.account = Some((job.account_id, name.clone()));
        let execution =
            Execution { reference_price: outcome.reference_price, position_source: outcome.position_source };
        // A handed-over alert is the next leader's to finish (its row is queued again); its path may carry a prefix.
        if !outcome.path.ends_with(HANDED_OVER)
            && let Err(e) = self.journal.finish_with(&job.alert_id, &outcome, execution).await
        {
            tracing::error!(alert.id = %job.alert_id, error = %e, "could not journal an alert's outcome");
        }
        self.metrics.order(outcome.status, job.arrived.elapsed());
        let (latency_ms, execution_ms) =
            (job.arrived.elapsed().as_millis() as u64, started.elapsed().as_millis() as u64);
        let (alert_id, action, contract) = (&job.alert_id, job.intent.action.as_str(), &job.contract);
        let (status, path, reason) = (outcome.status, &outcome.path, outcome.message.as_deref().unwrap_or_default());
        // Which contract, and what a tick of it is worth (`NQ1!` is ten times `MNQ1!` per tick), on every line.
        let (description, tick_value) = (&contract.description, contract.tick_value);
        // A refusal (a guard, the gateway), a failure or an unknown outcome is something the trader must see.
        if status.is_error() {
            tracing::warn!(alert.id = %alert_id, alert.action = action, contract.id = %contract.id, contract.description = %description, contract.tick_value = %tick_value, outcome = %status, path = %path, reason, latency_ms, execution_ms, "alert handled");
        } else {
            tracing::info!(alert.id = %alert_id, alert.action = action, contract.id = %contract.id, contract.description = %description, contract.tick_value = %tick_value, outcome = %status, path = %path, answer = reason, latency_ms, execution_ms, "alert handled");
        }
        if let Some(n) = crate::notify::notices::outcome(alert_id, action, &job.intent.symbol, &name, &outcome) {
            self.notify.emit(n);
        }
        self.metrics.stage(Stage::Answer, answering);
        let _ = job.reply.send(outcome.answer(&job.alert_id));
        // Answered: now the closed position's legs, before this account's next job ([`after_answer`]).
        for tidy in self.after_answer.take(job.account_id) {
            self.books.tidy_flat(job.account_id, &tidy.contract, tidy.why, &tidy.keep).await;
        }
    }

    /// Executes the job; when the gateway refuses its first order because the contract is no longer active (the
    /// front month rolled while the resolution was cached), the symbol's resolution is forgotten and resolved again,
    /// the quote subscriptions follow, and the job is executed once more on the new contract — safe, since the
    /// refusal was definitive and nothing was placed. A symbol naming an explicit month (`MNQZ26`, a contract id) is
    /// never moved. The outcome's path and message record the roll.
    async fn execute_following_a_roll(&self, job: &mut Job) -> Outcome {
        let first = self.execute(job).await;
        if first.path != CONTRACT_NOT_ACTIVE {
            return first;
        }
        let follows_the_front_month = matches!(
            projectx::contracts::parse_symbol(&job.intent.symbol),
            Ok(projectx::contracts::SymbolRef::Root { .. })
        );
        if !follows_the_front_month {
            return Outcome {
                message: first
                    .message
                    .map(|m| format!("{m}; `{}` names that month, so it is not moved", job.intent.symbol)),
                ..first
            };
        }
        let resolver = self.quotes.resolver();
        resolver.invalidate(&job.intent.symbol);
        let rolled = match resolver.resolve(&job.intent.symbol).await {
            Ok(c) if c.id != job.contract.id => c,
            Ok(_) => return first,
            Err(e) => {
                return Outcome {
                    message: first.message.map(|m| format!("{m}; resolving `{}` again failed: {e}", job.intent.symbol)),
                    ..first
                };
            }
        };
        let old = std::mem::replace(&mut job.contract, rolled);
        tracing::warn!(alert.id = %job.alert_id, symbol = %job.intent.symbol, contract.id = %old.id, new_contract.id = %job.contract.id, "contract rolled: executing on the new front month");
        self.quotes.rolled(&old.id).await;
        let second = self.execute(job).await;
        Outcome {
            message: Some(format!(
                "{} is no longer active; the front month rolled to {}: {}",
                old.id,
                job.contract.id,
                second.message.clone().unwrap_or_default()
            )),
            path: format!("{CONTRACT_NOT_ACTIVE} ({}) -> rolled to {} -> {}", old.id, job.contract.id, second.path),
            ..second
        }
    }

    /// Executes one job: sizing first ([`sizing`]: dollar and percent risk need the contract), then the action;
    /// the sizing arithmetic goes in front of the answer's message. An entry carrying `breakeven_after_ticks` that
    /// was placed starts its watcher ([`breakeven_watch`]).
    async fn execute(&self, job: &mut Job) -> Outcome {
        if !(job.intent.is_entry() && job.intent.needs_sizing()) {
            let outcome = self.execute_sized(job).await;
            self.after_entry(job, &outcome);
            return outcome;
        }
        let sized = match self.size(job).await {
            Ok(sized) => sized,
            Err(e) => return Outcome::new(AlertStatus::Rejected, e.to_string(), "sizing"),
        };
        let original = std::mem::replace(&mut job.intent, sized.intent);
        let outcome = self.execute_sized(job).await;
        self.after_entry(job, &outcome);
        job.intent = original;
        let notes = sized.notes.join("; ");
        Outcome { message: Some(format!("{notes}; {}", outcome.message.clone().unwrap_or_default())), ..outcome }
    }

    /// [`sizing::size`] for the job's contract, against the entry reference price ([`reference::bracket_reference`])
    /// and `MAX_CONTRACTS`.
    async fn size(&self, job: &Job) -> Result<sizing::Sized, signal::SignalError> {
        let fresh_market_price = || async {
            let quote = self.quotes.quote(job.contract.id.as_str()).await.ok().filter(|q| !q.stale)?;
            reference::market_price(quote.last, quote.bid, quote.ask)
        };
        let reference = reference::bracket_reference(&job.intent, fresh_market_price).await.price();
        let contract = &job.contract;
        sizing::size(
            &job.intent,
            contract.tick_size,
            contract.tick_value,
            reference,
            self.guards.max_contracts_for(job.account_id),
        )
    }

    /// After an entry was placed: starts its break-even watcher when it carries `breakeven_after_ticks`.
    fn after_entry(&self, job: &Job, outcome: &Outcome) {
        if let (Some(after), Some(watcher), AlertStatus::Placed) =
            (job.intent.breakeven_after_ticks, &self.breakeven, outcome.status)
        {
            watcher.watch(breakeven_watch::Watch {
                alert_id: job.alert_id.clone(),
                intent: job.intent.clone(),
                contract: job.contract.clone(),
                account_id: job.account_id,
                after_ticks: after,
            });
        }
    }

    async fn execute_sized(&self, job: &Job) -> Outcome {
        let intent = &job.intent;
        match intent.action {
            Action::Breakeven => self.breakeven(job).await,
            Action::Cancel => self.cancel_orders(job).await,
            Action::Exit => self.close(job, None).await,
            Action::Buy | Action::Sell if intent.close_only => {
                // TradersPost semantics: `sell` + flat closes a long, never opens a short (and `buy` + flat a short).
                let closes = if intent.action == Action::Sell { PositionType::Long } else { PositionType::Short };
                self.close(job, Some(closes)).await
            }
            Action::Buy | Action::Sell | Action::Reverse | Action::Target => self.trade(job).await,
        }
    }

    /// The last checks before a money-moving call: the alert is not too old, and the journal notes the send (on disk
    /// first when the call is [`Sending::Untagged`]). `Some(outcome)` means nothing may be sent.
    async fn before_sending(&self, job: &Job, sending: Sending) -> Option<Outcome> {
        if let Some(expired) = self.expired(job) {
            return Some(expired);
        }
        match self.journal.mark_sent(&job.alert_id, sending).await {
            Ok(()) => None,
            Err(e @ crate::journal::JournalError::Fenced { .. }) => {
                tracing::warn!(alert.id = %job.alert_id, error = %e, "not the leader any more: nothing sent; queued again");
                let why = "this instance lost the lead: nothing was sent, and the alert is queued for the next leader";
                Some(Outcome::new(AlertStatus::Pending, why, HANDED_OVER))
            }
            Err(e) => {
                Some(Outcome::new(AlertStatus::Failed, format!("journal unavailable, nothing sent: {e}"), "journal"))
            }
        }
    }

    fn expired(&self, job: &Job) -> Option<Outcome> {
        expired(job.intent.sent_at, job.arrived, self.guards.max_age)
    }

    /// The signed position in the job's contract (long > 0) and where it was read: from the account's book while
    /// it is live, else `Position/searchOpen` (counted in `pxrelay_position_rest_fallbacks_total`).
    async fn position(&self, job: &Job) -> Result<(i64, PositionSource), Error> {
        if let Some(position) = self.books.position(job.account_id, &job.contract.id) {
            return Ok((position, PositionSource::Book));
        }
        self.metrics.position_rest_fallbacks.inc();
        let positions = self.gateway.open_positions(job.account_id).await?;
        let signed = positions
            .iter()
            .filter(|p| p.contract_id == job.contract.id)
            .map(|p| match p.position_type {
                PositionType::Short => -i64::from(p.size),
                _ => i64::from(p.size),
            })
            .sum();
        Ok((signed, PositionSource::Rest))
    }

    /// What an order of this job on `side` is measured against ([`reference::at_arrival`]).
    fn reference(&self, job: &Job, side: OrderSide) -> crate::fills::Reference {
        crate::fills::Reference {
            price: reference::at_arrival(job.intent.order, side, job.touch),
            tick_size: job.contract.tick_size,
        }
    }

    /// A buy, sell or reverse: the target position ([`plan::target`]; reverse: `quantity` on the other side), then
    /// the closing part (no brackets; `Position/closeContract` when a market order closes everything) and the opening
    /// part (with the alert's brackets), in that order. Everything that could refuse the entry (`MAX_CONTRACTS`,
    /// brackets, prices) is checked before anything is sent; the kill switch refuses the entry but lets the closing
    /// part go (exits are always allowed).
    async fn trade(&self, job: &Job) -> Outcome {
        match self.position(job).await {
            Ok((current, source)) => self.trade_from(job, current).await.with_position_source(source),
            Err(e) => position_unknown(&e),
        }
    }

    /// [`Executor::trade`] from the `current` position.
    async fn trade_from(&self, job: &Job, current: i64) -> Outcome {
        let intent = &job.intent;
        let to = match intent.action {
            _ if intent.target_position.is_some() => intent.target_position.unwrap_or_default(),
            Action::Reverse if current == 0 => {
                return Outcome::new(
                    AlertStatus::Noop,
                    format!("no open position in {} to reverse; nothing sent", job.contract.id),
                    "flat",
                );
            }
            Action::Reverse => -current.signum() * i64::from(intent.quantity),
            action => plan::target(current, action, intent.quantity, intent.sentiment),
        };
        let plan = plan::plan(current, to);
        if plan.close.is_none() && plan.open.is_none() {
            let why = if intent.target_position.is_some() {
                "already at the target position"
            } else {
                "the alert asks for no change (reduce-only: nothing to reduce)"
            };
            return Outcome::new(
                AlertStatus::Noop,
                format!("the position is {}: {why}; nothing sent", position_words(current)),
                "no change",
            );
        }
        let outcome = self.execute_plan(job, &plan).await;
        self.expect_after(job, &plan, &outcome);
        match intent.target_position {
            // Say which order the target required.
            Some(target) => Outcome {
                message: Some(format!(
                    "target position {target} from {}: {}",
                    position_words(current),
                    outcome.message.clone().unwrap_or_default()
                )),
                ..outcome
            },
            None => outcome,
        }
    }

    /// Why entries on `account` are refused now, if they are: the kill switch, the user hub's re-login pause
    /// (another session on this login, [`crate::logout`]), a time rule ([`crate::hours`]) or the account's daily risk
    /// block ([`AccountBlock`]). Exits are never refused.
    fn entry_refusal(&self, account: AccountId) -> Option<EntryRefusal> {
        EntryRefusal::now(&self.guards, &self.books.hub_status()).or_else(|| {
            let (why, todo) = self.risk.as_ref()?.refusal(account)?;
            Some(EntryRefusal::new(why, todo))
        })
    }

    /// After a plan was sent at market and the gateway took it, tells the book the position it leads to (a refused
    /// entry, by the kill switch or a re-login pause, let only the closing part go: flat), so the next alert does not wait for the hub's events. A limit or
    /// stop order may not fill now: no expectation then.
    fn expect_after(&self, job: &Job, plan: &plan::Plan, outcome: &Outcome) {
        let market = job.intent.order == OrderKind::Market;
        if !market || !matches!(outcome.status, AlertStatus::Placed | AlertStatus::Closed) {
            return;
        }
        let killed = plan.open.is_some() && self.entry_refusal(job.account_id).is_some();
        let to = if killed { 0 } else { plan.to };
        self.books.expect(job.account_id, &job.contract.id, to);
    }

    /// Sends a plan's parts. A plan that crosses zero is one order when the alert carries no brackets (nothing to
    /// size, and one gateway round trip); with brackets, or for a `reverse`, it is a close, then the entry.
    async fn execute_plan(&self, job: &Job, plan: &plan::Plan) -> Outcome {
        let intent = &job.intent;
        let current = plan.from;
        let no_brackets = intent.stop_loss.is_none() && intent.take_profit.is_none();
        if let (Some(close), Some(open), true) =
            // One order only at market: a resting limit/stop that crosses zero would leave the old position's legs
            // working until it fills, so those go the two-part way (a close, then the entry).
            (
                plan.close,
                plan.open,
                no_brackets && intent.action != Action::Reverse && intent.order == OrderKind::Market,
            )
        {
            if let Err(message) = plan.check_limit(self.guards.max_contracts_for(job.account_id)) {
                return Outcome::new(AlertStatus::Rejected, message, "guard");
            }
            if let Some(refusal) = self.entry_refusal(job.account_id) {
                // The closing part alone: exits are always allowed.
                let closing = plan::Plan { open: None, to: 0, ..*plan };
                let closed = Box::pin(self.execute_plan(job, &closing)).await;
                return Outcome {
                    message: Some(format!(
                        "{}; {}",
                        closed.message.clone().unwrap_or_default(),
                        refusal.text("the entry part was refused")
                    )),
                    ..closed
                };
            }
            let order = match self.build_order(job, open.side, close.size + open.size, 1, false).await {
                Ok(order) => order,
                Err(message) => return Outcome::new(AlertStatus::Rejected, message, "validation"),
            };
            if self.guards.dry_run {
                return dry_run(vec![json!({ "endpoint": "/api/Order/place", "body": order })]);
            }
            let placed = self.place(job, &order, Role::Entry).await;
            if placed.status == AlertStatus::Placed {
                // The position went through flat: the old position's legs go (never the order just sent).
                let sent: Vec<projectx::OrderId> =
                    placed.orders.iter().filter_map(serde_json::Value::as_i64).map(projectx::OrderId::new).collect();
                let tidy = after_answer::Tidy {
                    contract: job.contract.id.clone(),
                    why: "the position crossed zero",
                    keep: sent,
                };
                self.after_answer.defer(job.account_id, tidy);
            }
            return placed;
        }
        // Read once: the refusal and its message must agree even if the switch or the pause changes meanwhile.
        let refusal = plan.open.and_then(|_| self.entry_refusal(job.account_id));
        let entry = match plan.open {
            None => None,
            Some(_) if refusal.is_some() => None,
            Some(open) => {
                if let Err(message) = plan.check_limit(self.guards.max_contracts_for(job.account_id)) {
                    return Outcome::new(AlertStatus::Rejected, message, "guard");
                }
                let leg = if plan.close.is_some() { 2 } else { 1 };
                match self.build_order(job, open.side, open.size, leg, true).await {
                    Ok(order) => Some(order),
                    Err(message) => return Outcome::new(AlertStatus::Rejected, message, "validation"),
                }
            }
        };
        let killed = plan.open.is_some() && entry.is_none();
        if let (Some(refusal), None) = (&refusal, plan.close) {
            return Outcome::new(AlertStatus::Rejected, refusal.text("entries are refused"), "guard");
        }
        let close = match plan.close {
            None => None,
            // A reverse closes at market whatever its entry's order type, as it always has.
            Some(_) if plan.closes_all() && (intent.order == OrderKind::Market || intent.action == Action::Reverse) => {
                Some(Closing::Contract)
            }
            Some(part) => match self.build_order(job, part.side, part.size, 1, false).await {
                Ok(order) => Some(Closing::Order(order)),
                Err(message) => return Outcome::new(AlertStatus::Rejected, message, "validation"),
            },
        };
        if self.guards.dry_run {
            let mut requests: Vec<serde_json::Value> = close.iter().map(|c| c.request(job)).collect();
            requests.extend(entry.iter().map(|o| json!({ "endpoint": "/api/Order/place", "body": o })));
            return dry_run(requests);
        }
        let closed = match close {
            None => None,
            Some(closing) => {
                let outcome = match closing {
                    // Ends flat: the legs are cancelled after the answer; an entry follows: before it.
                    Closing::Contract => self.close_contract(job, current, entry.is_none()).await,
                    Closing::Order(order) => self.place(job, &order, Role::Close).await,
                };
                if !matches!(outcome.status, AlertStatus::Closed | AlertStatus::Placed) {
                    return outcome;
                }
                Some(outcome)
            }
        };
        let entered = match entry {
            Some(order) => Some(self.place(job, &order, Role::Entry).await),
            None if killed => Some(Outcome::new(
                AlertStatus::Rejected,
                refusal.map(|r| r.text("the entry part was refused")).unwrap_or_default(),
                "guard",
            )),
            None => None,
        };
        match (closed, entered) {
            (Some(closed), Some(entered)) => Outcome {
                status: if killed { closed.status } else { entered.status },
                orders: closed.orders.into_iter().chain(entered.orders).collect(),
                message: Some(format!(
                    "{}; {}",
                    closed.message.unwrap_or_default(),
                    entered.message.unwrap_or_default()
                )),
                path: format!("{} then {}", closed.path, entered.path),
                position_source: closed.position_source.or(entered.position_source),
                reference_price: closed.reference_price.or(entered.reference_price),
                account: closed.account.or(entered.account),
            },
            (Some(only), None) | (None, Some(only)) => only,
            (None, None) => unreachable!("a plan with neither part returned early"),
        }
    }

    /// Sends one order in `role` (after the last checks) and reads the answer: placed, refused, or reconciled by
    /// its `customTag` when the answer was lost or the tag already exists.
    async fn place(&self, job: &Job, order: &PlaceOrder, role: Role) -> Outcome {
        let sending = if order.custom_tag.is_some() { Sending::Tagged } else { Sending::Untagged };
        if let Some(refused) = self.before_sending(job, sending).await {
            return refused;
        }
        let tag = order.custom_tag.as_deref().unwrap_or_default();
        let owner = Owner { alert_id: job.alert_id.clone(), role };
        let reference = self.reference(job, order.side);
        self.fills.sending(tag.to_owned(), owner.clone(), reference);
        let sending = tokio::time::Instant::now();
        let outcome = match self.gateway.place_order(order).await {
            Ok(id) => Outcome::new(AlertStatus::Placed, "order placed", "acknowledged by the gateway")
                .with_orders(vec![json!(id)]),
            // The gateway already holds an order with this customTag: this alert was placed before.
            Err(e) if e.is_duplicate_custom_tag() => {
                reconcile::placed_order(&self.gateway, job.account_id, tag, job.received_at, "duplicate customTag")
                    .await
            }
            Err(Error::Rejected { name, message, order_id, code, .. }) => Outcome::new(
                AlertStatus::Rejected,
                format!("gateway rejected the order: {name} ({code}) {}", message.unwrap_or_default()),
                if name == "ContractNotActive" { CONTRACT_NOT_ACTIVE } else { "refused by the gateway" },
            )
            .with_orders(order_id.map(|id| json!(id)).into_iter().collect()),
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(alert.id = %job.alert_id, error = %e, "order outcome unknown; reconciling by customTag");
                reconcile::placed_order(&self.gateway, job.account_id, tag, job.received_at, "ambiguous").await
            }
            Err(e) => Outcome::new(AlertStatus::Failed, format!("not sent: {e}"), "not sent"),
        };
        self.metrics.stage(Stage::Send, sending);
        if outcome.status == AlertStatus::Placed {
            // Its bracket legs are pxrelay's to cancel once the position is flat (`CANCEL_ON_FLAT=brackets`).
            for id in outcome.orders.iter().filter_map(serde_json::Value::as_i64) {
                self.books.placed(OrderId::from(id));
                self.fills.acknowledged(owner.clone(), Some(OrderId::from(id))).await;
            }
        }
        let outcome = Outcome { reference_price: outcome.reference_price.or(reference.price), ..outcome };
        match outcome.status {
            // Which contract, and what a tick of it is worth: `NQ1!` is ten times `MNQ1!` per tick.
            AlertStatus::Placed => Outcome {
                message: Some(format!(
                    "{}: {} × {}",
                    outcome.message.as_deref().unwrap_or("order placed"),
                    order.size,
                    contract_words(&job.contract)
                )),
                ..outcome
            },
            _ => outcome,
        }
    }

    /// The order for one part of a plan: the alert's order type and price, `size` contracts, the `customTag` of
    /// `leg`, and the alert's brackets only when `brackets` (an opening part).
    async fn build_order(
        &self,
        job: &Job,
        side: OrderSide,
        size: i64,
        leg: u8,
        brackets: bool,
    ) -> Result<PlaceOrder, String> {
        let intent = &job.intent;
        let (limit_price, stop_price, trail_price) = match intent.order {
            OrderKind::Market => (None, None, None),
            OrderKind::Limit(p) => (Some(p), None, None),
            OrderKind::Stop(p) => (None, Some(p), None),
            OrderKind::TrailingStop(p) => (None, None, Some(p)),
        };
        let fresh_market_price = || async {
            let quote = self.quotes.quote(job.contract.id.as_str()).await.ok().filter(|q| !q.stale)?;
            reference::market_price(quote.last, quote.bid, quote.ask)
        };
        let (sl, tp) = if brackets {
            let reference = reference::bracket_reference(intent, fresh_market_price).await.price();
            signal::bracket_ticks(intent, side, reference, job.contract.tick_size).map_err(|e| e.to_string())?
        } else {
            (None, None)
        };
        Ok(PlaceOrder {
            account_id: job.account_id,
            contract_id: job.contract.id.clone(),
            order_type: intent.order.order_type(),
            side,
            size: i32::try_from(size).map_err(|_| "quantity is too large".to_owned())?,
            limit_price,
            stop_price,
            trail_price,
            custom_tag: Some(signal::custom_tag(&job.alert_id, leg)),
            stop_loss_bracket: sl.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Stop }),
            take_profit_bracket: tp.map(|ticks| projectx::Bracket { ticks, order_type: OrderType::Limit }),
        })
    }

    /// Closes the position (only one on the `only` side, when given).
    async fn close(&self, job: &Job, only: Option<PositionType>) -> Outcome {
        match self.position(job).await {
            Ok((current, source)) => self.close_from(job, only, current).await.with_position_source(source),
            Err(e) => position_unknown(&e),
        }
    }

    /// [`Executor::close`] from the `current` position.
    async fn close_from(&self, job: &Job, only: Option<PositionType>, current: i64) -> Outcome {
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
            return Outcome::new(AlertStatus::Noop, format!("{what} in {}; nothing sent", job.contract.id), "flat");
        }
        if self.guards.dry_run {
            return dry_run(vec![Closing::Contract.request(job)]);
        }
        let outcome = self.close_contract(job, current, true).await;
        if outcome.status == AlertStatus::Closed {
            self.books.expect(job.account_id, &job.contract.id, 0);
        }
        outcome
    }

    /// `Position/closeContract` for the job's contract (the whole `current` position), after the last checks. An
    /// ambiguous answer is settled by reading the position back. Once closed, the position's working orders are
    /// cancelled per `CANCEL_ON_FLAT` ([`Books::tidy_flat`]) before anything else is sent on the account: right
    /// after the answer when `ends_flat` ([`after_answer`]), else now (a reverse's entry comes after, so its legs
    /// are never touched).
    async fn close_contract(&self, job: &Job, current: i64, ends_flat: bool) -> Outcome {
        if let Some(refused) = self.before_sending(job, Sending::Untagged).await {
            return refused;
        }
        self.books.closing(job.account_id, &job.contract.id);
        let side = if current > 0 { OrderSide::Ask } else { OrderSide::Bid };
        let reference = self.reference(job, side);
        let owner = Owner { alert_id: job.alert_id.clone(), role: Role::Close };
        self.fills.closing(job.account_id, job.contract.id.clone(), owner, reference);
        let sending = tokio::time::Instant::now();
        let outcome = self.send_close(job, current).await;
        self.metrics.stage(Stage::Send, sending);
        let outcome = Outcome { reference_price: reference.price, ..outcome };
        if outcome.status == AlertStatus::Closed {
            self.fills.acknowledged(Owner { alert_id: job.alert_id.clone(), role: Role::Close }, None).await;
            let why = "pxrelay closed the position";
            if ends_flat {
                self.after_answer.defer(
                    job.account_id,
                    after_answer::Tidy { contract: job.contract.id.clone(), why, keep: Vec::new() },
                );
            } else {
                self.books.tidy_flat(job.account_id, &job.contract.id, why, &[]).await;
            }
        }
        outcome
    }

    async fn send_close(&self, job: &Job, current: i64) -> Outcome {
        match self.gateway.close_position(job.account_id, &job.contract.id).await {
            Ok(()) => Outcome::new(
                AlertStatus::Closed,
                format!("closed {} of {}", position_words(current), contract_words(&job.contract)),
                "closed",
            ),
            Err(e @ Error::Ambiguous { .. }) => {
                tracing::warn!(alert.id = %job.alert_id, error = %e, "close outcome unknown; checking the position");
                tokio::time::sleep(reconcile::RETRY_DELAY).await;
                match self.position(job).await.map(|(p, _)| p) {
                    Ok(0) => Outcome::new(
                        AlertStatus::Closed,
                        "position closed (confirmed)",
                        "ambiguous -> reconciled by position: flat",
                    ),
                    Ok(p) => Outcome::new(
                        AlertStatus::Failed,
                        format!("close not confirmed: the position is {}", position_words(p)),
                        "ambiguous -> reconciled by position: open",
                    ),
                    Err(e) => Outcome::new(
                        AlertStatus::Unknown,
                        format!("close outcome unknown: {e}"),
                        "ambiguous -> reconciliation failed",
                    ),
                }
            }
            Err(e) => Outcome::new(AlertStatus::Failed, format!("close failed: {e}"), "close failed"),
        }
    }

    async fn cancel_orders(&self, job: &Job) -> Outcome {
        let open = match self.gateway.open_orders(job.account_id).await {
            Ok(o) => o,
            Err(e) => {
                return Outcome::new(
                    AlertStatus::Failed,
                    format!("could not read working orders: {e}"),
                    "order lookup",
                );
            }
        };
        let ids: Vec<OrderId> = open.iter().filter(|o| o.contract_id == job.contract.id).map(|o| o.id).collect();
        if ids.is_empty() {
            return Outcome::new(
                AlertStatus::Noop,
                format!("no working orders in {}; nothing sent", job.contract.id),
                "none",
            );
        }
        if self.guards.dry_run {
            let account_id = job.account_id;
            return dry_run(
                ids.iter()
                    .map(
                        |id| json!({"endpoint": "/api/Order/cancel", "body": {"accountId": account_id, "orderId": id}}),
                    )
                    .collect(),
            );
        }
        if let Some(refused) = self.before_sending(job, Sending::Untagged).await {
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
        let count = plural(cancelled.len(), "order");
        let (status, message) = if errors.is_empty() {
            (AlertStatus::Cancelled, format!("cancelled {count}"))
        } else {
            (AlertStatus::Failed, format!("cancelled {count}; failed: {}", errors.join("; ")))
        };
        Outcome::new(status, message, "cancel").with_orders(cancelled)
    }
}

/// How far an alert's own timestamp may be ahead of this server's clock and still count as fresh (age 0): the
/// two clocks are NTP-synchronised in practice, and `{{timenow}}` is truncated to the second; a minute covers both
/// with room. Further ahead, the timestamp is refused as a bad field (see the webhook).
pub const FUTURE_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

/// An alert's age: the longer of its wait since arrival and, when it carries its own timestamp, the time since
/// then (a timestamp within [`FUTURE_SKEW`] ahead counts as 0).
pub fn alert_age(sent_at: Option<DateTime<Utc>>, arrived: tokio::time::Instant) -> Duration {
    let by_timestamp = sent_at.and_then(|t| (Utc::now() - t).to_std().ok()).unwrap_or_default();
    arrived.elapsed().max(by_timestamp)
}

/// `Some(expired outcome)` when the alert is older than `max_age` (`MAX_ALERT_AGE_SECS`): it is never sent.
pub fn expired(sent_at: Option<DateTime<Utc>>, arrived: tokio::time::Instant, max_age: Duration) -> Option<Outcome> {
    let age = alert_age(sent_at, arrived);
    (age > max_age).then(|| {
        let since = match sent_at {
            Some(t) => format!("it was sent at {} and is {:.1} s old", t.to_rfc3339(), age.as_secs_f64()),
            None => format!("it waited {:.1} s", age.as_secs_f64()),
        };
        Outcome::new(
            AlertStatus::Expired,
            format!("{since} (more than MAX_ALERT_AGE_SECS = {} s); nothing sent", max_age.as_secs()),
            "expired before sending",
        )
    })
}

/// The path of an order refused with `ContractNotActive` (Order/place errorCode 9): the cue to follow a roll.
const CONTRACT_NOT_ACTIVE: &str = "refused: contract not active";

/// How a plan's closing part is sent.
enum Closing {
    /// `Position/closeContract`: a market order closing the whole position.
    Contract,
    /// An order without brackets (reducing only part of the position, or at the alert's limit/stop price).
    Order(PlaceOrder),
}

impl Closing {
    /// The request as `DRY_RUN` shows it.
    fn request(&self, job: &Job) -> serde_json::Value {
        match self {
            Self::Contract => json!({
                "endpoint": "/api/Position/closeContract",
                "body": {"accountId": job.account_id, "contractId": job.contract.id},
            }),
            Self::Order(order) => json!({ "endpoint": "/api/Order/place", "body": order }),
        }
    }
}

/// `DRY_RUN`'s outcome: the requests that would have been sent.
fn dry_run(requests: Vec<serde_json::Value>) -> Outcome {
    Outcome::new(AlertStatus::DryRun, "DRY_RUN: nothing was sent", "dry run").with_orders(requests)
}

/// The position could not be read, so nothing was decided or sent.
fn position_unknown(e: &Error) -> Outcome {
    Outcome::new(AlertStatus::Failed, format!("could not read the position: {e}"), "position lookup")
}

/// A contract for a person: its description, id and dollar value per tick, e.g. `E-mini NASDAQ-100: December
/// 2025 (CON.F.US.ENQ.Z25, $5.00 per tick)` (the gateway's `description` and `tickValue`, USD per tick per
/// contract; its `name` when it gave no description).
pub fn contract_words(contract: &Contract) -> String {
    let what = if contract.description.trim().is_empty() { &contract.name } else { &contract.description };
    let value = contract.tick_value.normalize();
    let value = if value.scale() <= 2 { format!("{value:.2}") } else { value.to_string() };
    format!("{what} ({}, ${value} per tick)", contract.id)
}

/// `1 contract`, `3 contracts`.
fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

/// A signed position in words: `1 contract (long)`, `2 contracts (short)`, `no contracts`.
fn position_words(signed: i64) -> String {
    let count = plural(usize::try_from(signed.unsigned_abs()).unwrap_or(usize::MAX), "contract");
    match signed.signum() {
        1 => format!("{count} (long)"),
        -1 => format!("{count} (short)"),
        _ => "no contracts".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_counts_read_as_english() {
        assert_eq!(position_words(1), "1 contract (long)");
        assert_eq!(position_words(-1), "1 contract (short)");
        assert_eq!(position_words(-3), "3 contracts (short)");
        assert_eq!(position_words(0), "no contracts");
        assert_eq!(plural(1, "order"), "1 order");
        assert_eq!(plural(0, "order"), "0 orders");
    }

    #[test]
    fn a_contract_reads_as_its_description_id_and_dollars_per_tick() {
        let contract = |description: &str, tick_value: &str| Contract {
            id: "CON.F.US.ENQ.Z25".into(),
            name: "NQZ5".into(),
            description: description.into(),
            tick_size: "0.25".parse().unwrap(),
            tick_value: tick_value.parse().unwrap(),
            active_contract: true,
            symbol_id: Some("F.US.ENQ".into()),
        };
        let nq = contract("E-mini NASDAQ-100: December 2025", "5");
        assert_eq!(contract_words(&nq), "E-mini NASDAQ-100: December 2025 (CON.F.US.ENQ.Z25, $5.00 per tick)");
        assert_eq!(contract_words(&contract("", "0.5")), "NQZ5 (CON.F.US.ENQ.Z25, $0.50 per tick)");
        assert_eq!(contract_words(&contract("x", "12.500")), "x (CON.F.US.ENQ.Z25, $12.50 per tick)");
        assert_eq!(contract_words(&contract("x", "0.125")), "x (CON.F.US.ENQ.Z25, $0.125 per tick)");
    }
}
