//! `breakeven_after_ticks` (issue 12): for an entry that carries it, a small watcher that reads the contract's
//! streamed quotes and, once the open profit reaches N ticks, sends **one** break-even move through the executor
//! queue (so it is ordered, journaled and deduplicated like every alert: its id is the entry's id + `-be`, and a
//! second move with that id within the dedup window is a duplicate, never sent).
//!
//! Open profit in ticks = (bid − average) ÷ tick for a long, (average − ask) ÷ tick for a short (the last trade when
//! the side is missing), with the position and its average price from the live account book. The contract is
//! subscribed for good ([`QuoteService::watch`]), so quotes keep streaming while the watcher waits.
//!
//! Bounded and cancellable: at most [`MAX_WATCHERS`] at once (a further entry's watcher is not started, logged);
//! each checks the quote cache every [`CHECK_EVERY`] (never a busy loop), runs on the app's `TaskTracker`, stops
//! on shutdown, when it has sent its move, when the position it watched is flat again, or after [`MAX_LIFETIME`].
//! A watcher does not survive a restart (the entry's stop stays where it is; send `breakeven` by hand).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use chrono::Utc;
use projectx::{AccountId, Contract, PositionType};
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::books::Books;
use crate::executor::{Job, Work};
use crate::journal::{Journal, NewAlert, Recorded};
use crate::quotes::QuoteService;
use crate::signal::{Action, Intent};

/// Most watchers at once.
pub const MAX_WATCHERS: usize = 64;
/// How often a watcher looks at the quote cache.
pub const CHECK_EVERY: Duration = Duration::from_millis(250);
/// A watcher stops after this long (a resting entry that never filled, a position held for days).
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a watcher waits for the position to show in the book before giving up (a limit entry that rests).
pub const FILL_WAIT: Duration = Duration::from_secs(6 * 60 * 60);

/// One entry to watch.
#[derive(Clone, Debug)]
pub struct Watch {
    /// The entry's alert id (the move's id is this + `-be`).
    pub alert_id: String,
    /// The entry's intent (symbol, account and `offset_ticks` are carried to the move).
    pub intent: Intent,
    /// The contract.
    pub contract: Arc<Contract>,
    /// The account.
    pub account_id: AccountId,
    /// Ticks of open profit that trigger the move.
    pub after_ticks: u32,
}

/// Starts watchers; cheap to clone (the executor holds one).
#[derive(Clone, Debug)]
pub struct Watcher {
    /// The executor's queue: the move goes in here, awaited (a command, never dropped).
    jobs: mpsc::Sender<Work>,
    journal: Journal,
    quotes: Arc<QuoteService>,
    books: Arc<Books>,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Watchers running now (written by each watcher as it starts and ends).
    running: Arc<AtomicUsize>,
}

impl Watcher {
    /// Watchers that send into `jobs` and run on `tracker` until `cancel`.
    pub fn new(
        jobs: mpsc::Sender<Work>,
        journal: Journal,
        quotes: Arc<QuoteService>,
        books: Arc<Books>,
        tracker: TaskTracker,
        cancel: CancellationToken,
    ) -> Self {
        Self { jobs, journal, quotes, books, tracker, cancel, running: Arc::new(AtomicUsize::new(0)) }
    }

    /// Starts watching `watch` (unless [`MAX_WATCHERS`] are running).
    pub fn watch(&self, watch: Watch) {
        if self.running.fetch_add(1, Ordering::SeqCst) >= MAX_WATCHERS {
            self.running.fetch_sub(1, Ordering::SeqCst);
            tracing::warn!(alert.id = %watch.alert_id, max = MAX_WATCHERS, "too many break-even watchers: this entry's stop will not be moved automatically");
            return;
        }
        let this = self.clone();
        self.tracker.spawn(async move {
            this.run(watch).await;
            this.running.fetch_sub(1, Ordering::SeqCst);
        });
    }

    async fn run(&self, watch: Watch) {
        if let Err(e) = self.quotes.watch(&watch.intent.symbol).await {
            tracing::warn!(alert.id = %watch.alert_id, error = %e, "break-even watcher: could not subscribe the contract's quotes");
        }
        let started = tokio::time::Instant::now();
        let mut seen_open = false;
        let mut every = tokio::time::interval(CHECK_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                () = self.cancel.cancelled() => return,
                _ = every.tick() => {}
            }
            let age = started.elapsed();
            if age > MAX_LIFETIME || (!seen_open && age > FILL_WAIT) {
                tracing::info!(alert.id = %watch.alert_id, "break-even watcher ended: time limit");
                return;
            }
            let position = self.books.live_state(watch.account_id).map(|(positions, _)| {
                positions.into_iter().find(|p| p.contract_id == watch.contract.id && p.size != 0)
            });
            let held = match position {
                None => continue, // the book is not live: wait
                Some(None) if seen_open => {
                    tracing::info!(alert.id = %watch.alert_id, "break-even watcher ended: the position is flat");
                    return;
                }
                Some(None) => continue,
                Some(Some(p)) => p,
            };
            seen_open = true;
            let long = held.position_type != PositionType::Short;
            let Some(quote) = self.quotes.market().quotes().get(&watch.contract.id) else { continue };
            if quote.received_at.elapsed() > self.quotes.max_age() {
                continue;
            }
            let price = if long { quote.bid() } else { quote.ask() }.or(quote.last());
            let Some(price) = price else { continue };
            let profit = profit_ticks(long, held.average_price, price, watch.contract.tick_size);
            if profit >= Decimal::from(watch.after_ticks) {
                tracing::info!(alert.id = %watch.alert_id, profit_ticks = %profit, after_ticks = watch.after_ticks, "open profit reached breakeven_after_ticks: moving the stop");
                self.send_move(&watch).await;
                return;
            }
        }
    }

    /// Journals and queues the one break-even move of `watch`; a duplicate id means it was sent before.
    async fn send_move(&self, watch: &Watch) {
        let alert_id = format!("{}-be", watch.alert_id);
        let intent = Intent {
            action: Action::Breakeven,
            close_only: false,
            sentiment: None,
            quantity: 1,
            stop_loss: None,
            take_profit: None,
            target_position: None,
            sent_at: None,
            risk_usd: None,
            breakeven_after_ticks: None,
            alert_id: Some(alert_id.clone()),
            ..watch.intent.clone()
        };
        let received_at = Utc::now();
        let raw_body = serde_json::json!({
            "source": "breakeven_after_ticks",
            "entry": watch.alert_id,
            "after_ticks": watch.after_ticks,
        })
        .to_string();
        let record = NewAlert {
            alert_id: alert_id.clone(),
            received_at,
            raw_body,
            intent: intent.clone(),
            contract_id: Some(watch.contract.id.clone()),
            account_id: Some(watch.account_id),
            content: None,
            parent_id: None,
        };
        match self.journal.record(record).await {
            Ok(Recorded::New) => {}
            Ok(Recorded::Duplicate(_)) => {
                tracing::info!(alert.id = %alert_id, "break-even move already journaled: not sent again");
                return;
            }
            Err(e) => {
                tracing::error!(alert.id = %alert_id, error = %e, "break-even move could not be journaled: not sent");
                return;
            }
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            alert_id: alert_id.clone(),
            intent,
            contract: watch.contract.clone(),
            account_id: watch.account_id,
            received_at,
            arrived: tokio::time::Instant::now(),
            touch: None,
            reply,
        };
        tokio::select! {
            biased;
            () = self.cancel.cancelled() => return,
            sent = self.jobs.send(Work::Alert(Box::new(job))) => if sent.is_err() { return },
        }
        // The executor logs the outcome; waiting keeps the watcher counted until the move is done.
        let _ = answer.await;
    }
}

/// Open profit in ticks (negative for a loss): (price − average) ÷ tick for a long, the reverse for a short.
pub fn profit_ticks(long: bool, average: Decimal, price: Decimal, tick_size: Decimal) -> Decimal {
    if tick_size <= Decimal::ZERO {
        return Decimal::ZERO;
    }
    let diff = if long { price - average } else { average - price };
    diff / tick_size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profit_is_counted_in_ticks_from_the_average_on_the_position_side() {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        assert_eq!(profit_ticks(true, d("21000"), d("21005"), d("0.25")), d("20"));
        assert_eq!(profit_ticks(false, d("21000"), d("21005"), d("0.25")), d("-20"));
        assert_eq!(profit_ticks(false, d("21000"), d("20997.5"), d("0.25")), d("10"));
        assert_eq!(profit_ticks(true, d("21000"), d("21005"), Decimal::ZERO), Decimal::ZERO);
    }
}
