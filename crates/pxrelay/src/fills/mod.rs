//! Fills on every alert (issue 11): [`Fills`] attributes the user hub's order and trade events to alerts
//! ([`attribution`]) and writes what they mean to the alerts' timelines; it counts fills and slippage in
//! `/metrics`.
//!
//! Who calls what: the executor registers what it sends ([`Fills::sending`], [`Fills::closing`]) and what the
//! gateway answered ([`Fills::acknowledged`]); the books task calls [`Fills::event`] once per order or trade event,
//! after the book applied it. Journal writes go through a bounded queue to one [`Writer`] task (in order, batched),
//! so neither the alert's answer nor the books task waits on SQLite; the books task waits only when the queue is full.

pub mod attribution;

use std::sync::Arc;

use chrono::Utc;
use projectx::book::BookEvent;
use projectx::{AccountId, ContractId, OrderId};
use serde_json::json;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use attribution::Attribution;
pub use attribution::{Owner, Reference, Role};

use crate::journal::{Event, Journal, TimelineWrite};
use crate::metrics::Metrics;

/// Timeline batches waiting for the writer.
const QUEUE: usize = 1024;

/// Alert ids kept for a slow [`Fills::written`] subscriber; beyond that it is told it lagged.
const WRITTEN: usize = 1024;

/// The attribution state and the way to the journal. Shared as `Arc<Fills>`.
#[derive(Debug)]
pub struct Fills {
    /// Written by the executor (registrations) and the books task (events); held for a statement, never across an
    /// await.
    state: parking_lot::Mutex<Attribution>,
    /// To the [`Writer`] task.
    writes: mpsc::Sender<Vec<TimelineWrite>>,
    /// Fills and slippage.
    metrics: Arc<Metrics>,
    /// Each `filled` event is told here (never waits).
    notify: crate::notify::Notifier,
    /// The alerts whose timeline the writer just wrote to ([`Fills::written`]).
    written: broadcast::Sender<String>,
}

/// The task that writes timeline events to the journal, in the order they were queued.
#[derive(Debug)]
pub struct Writer {
    journal: Journal,
    queue: mpsc::Receiver<Vec<TimelineWrite>>,
    written: broadcast::Sender<String>,
}

impl Fills {
    /// The attribution state, and the writer task to run ([`Writer::run`]); fills are told to `notify`.
    pub fn new(journal: Journal, metrics: Arc<Metrics>, notify: crate::notify::Notifier) -> (Arc<Self>, Writer) {
        let (writes, queue) = mpsc::channel(QUEUE);
        let written = broadcast::Sender::new(WRITTEN);
        let state = parking_lot::Mutex::new(Attribution::default());
        let fills = Arc::new(Self { state, writes, metrics, notify, written: written.clone() });
        (fills, Writer { journal, queue, written })
    }

    /// The id of each alert whose timeline the writer has written events to (once per alert per batch, after the
    /// batch is in the journal, so a read of the alert sees them), from now on. A receiver more than 1024 ids behind
    /// gets `Lagged` (it should then re-read whatever it follows).
    pub fn written(&self) -> broadcast::Receiver<String> {
        self.written.subscribe()
    }

    /// An order with `tag` is about to be sent for `owner`; its slippage is measured against `reference`.
    pub fn sending(&self, tag: String, owner: Owner, reference: Reference) {
        self.state.lock().sending(tag, owner, reference);
    }

    /// `Position/closeContract` is about to be sent for `alert_id` (see [`attribution::CLOSE_WINDOW`]).
    pub fn closing(&self, account: AccountId, contract: ContractId, owner: Owner, reference: Reference) {
        self.state.lock().closing(account, contract, owner, reference, tokio::time::Instant::now());
    }

    /// The gateway answered a call of `owner`'s: the `acknowledged` event (with the order id, when it gave one).
    pub async fn acknowledged(&self, owner: Owner, id: Option<OrderId>) {
        if let Some(id) = id {
            self.state.lock().acknowledged(id, owner.clone());
        }
        let data = match id {
            Some(id) => json!({ "order_id": id, "role": owner.role.as_str() }),
            None => json!({ "endpoint": "/api/Position/closeContract", "role": owner.role.as_str() }),
        };
        self.write(vec![TimelineWrite { alert_id: owner.alert_id, event: Event::Acknowledged, at: Utc::now(), data }])
            .await;
    }

    /// The books task's hook: one order or trade event, after the book applied it. `flat_after(contract)` says
    /// whether the position there is flat now (`None` when the book is not live).
    pub async fn event(&self, event: &BookEvent, flat_after: impl Fn(&ContractId) -> Option<bool>) {
        let writes = match event {
            BookEvent::Order(order) => self.state.lock().order(order),
            BookEvent::Trade(trade) => {
                let flat = flat_after(&trade.contract_id);
                let (writes, stat) = self.state.lock().trade(trade, flat, tokio::time::Instant::now());
                if let Some(stat) = stat {
                    self.metrics.fill(stat.role.as_str(), stat.slippage_ticks);
                }
                for write in writes.iter().filter(|w| w.event == Event::Filled) {
                    self.notify.emit(crate::notify::notices::fill(write, trade.account_id, &trade.contract_id));
                }
                writes
            }
            BookEvent::Account(_) | BookEvent::Position(_) => Vec::new(),
        };
        self.write(writes).await;
    }

    async fn write(&self, writes: Vec<TimelineWrite>) {
        if writes.is_empty() {
            return;
        }
        if self.writes.send(writes).await.is_err() {
            tracing::warn!("the timeline writer has stopped: fill events are not journaled");
        }
    }
}

impl Writer {
    /// Writes queued batches until `cancel` fires, then what is already queued, and returns. A failed write is
    /// logged at `error` (the events are lost; the alert's outcome is not).
    pub async fn run(mut self, cancel: CancellationToken) {
        loop {
            let batch = tokio::select! {
                biased;
                () = cancel.cancelled() => break,
                b = self.queue.recv() => match b {
                    Some(b) => b,
                    None => return,
                },
            };
            self.write(batch).await;
        }
        self.queue.close();
        while let Some(batch) = self.queue.recv().await {
            self.write(batch).await;
        }
    }

    /// Writes `batch` and whatever else is queued already, in one transaction.
    async fn write(&mut self, mut batch: Vec<TimelineWrite>) {
        while let Ok(more) = self.queue.try_recv() {
            batch.extend(more);
        }
        let count = batch.len();
        let mut ids: Vec<String> = batch.iter().map(|w| w.alert_id.clone()).collect();
        if let Err(e) = self.journal.append(batch).await {
            tracing::error!(error = %e, events = count, "could not journal timeline events");
            return;
        }
        ids.sort();
        ids.dedup();
        for id in ids {
            // No subscriber (only `pxrelay execute` has one): nothing to tell.
            let _ = self.written.send(id);
        }
    }
}
