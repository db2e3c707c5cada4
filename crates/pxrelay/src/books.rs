//! [`Books`]: the live account books. Owns the user hub handle and one [`AccountBook`] per watched account, fed by a
//! task that consumes the hub's ordered update stream:
//! - `Connected` → every book starts syncing (events are buffered), then each watched account gets a REST snapshot
//!   (`Account/search`, `Order/searchOpen` joined with `Order/search` since 24 hours ago for the Suspended legs
//!   searchOpen hides, `Position/searchOpen`, `Trade/search` since the trading day's start, see below) and goes live;
//!   a position the snapshot finds flat that was open before (closed while the hub was away) has its legs tidied as
//!   on a flat event;
//! - `Disconnected` → every book is down (reads fall back to REST);
//! - account, order, position and trade events → the account's book.
//!
//! A snapshot only lands if no `syncing`/`down` happened to its book since it started (a generation counter), so a
//! snapshot overtaken by a reconnect never makes a stale book live. The lock is a `parking_lot::RwLock`, never held
//! across an await.
//!
//! "Today's" trades: the CME trading day starts at `SESSION_OPEN` (17:00 America/Chicago) the evening before
//! ([`MarketClock`]), so the snapshot asks `Trade/search` from the earlier of 24 hours ago and the trading day's
//! start (a day can last 25 hours across a daylight-saving change): the day is always complete, which the daily loss
//! limit needs ([`crate::risk`] counts only the trades since the day's start). `realized_pnl_today` and `fees_today`
//! in `/status` are over every trade the book holds (that window, plus the fills since).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use projectx::book::Change;
use projectx::book::{AccountBook, BookEvent, Snapshot, signed_size};
use projectx::{AccountId, ContractId, OrderId, UserEvent, UserHub, UserUpdate};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::legs::{self, CancelOnFlat};
use crate::market_time::MarketClock;
use crate::metrics::Metrics;
use crate::pnl::{self, Mark};
use crate::provenance::{self, OpenedBy};

/// How far back the snapshot's `Trade/search` reaches at least (see the module docs): the earlier of this and the
/// trading day's start.
const TRADES_SINCE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Snapshot attempts after a (re)connect before the book is left not live (REST reads) until the next one.
const SNAPSHOT_ATTEMPTS: u32 = 3;

#[derive(Debug, Default)]
struct Entry {
    book: AccountBook,
    /// Bumped by every `syncing`/`down`: a snapshot started at another generation is stale.
    generation: u64,
}

/// How long after pxrelay's own close a `Flat` event for that contract is taken as that close's (the executor
/// cancels the legs itself; the books task does not do it twice, and never touches a reverse's new entry).
const OWN_CLOSE_WINDOW: Duration = Duration::from_secs(5);

/// A working order a cancel round could not cancel (issue 11), for `/status.accounts[].orphans`.
#[derive(Clone, Debug)]
struct Orphan {
    order: projectx::Order,
    /// The gateway's answer to the cancel.
    error: String,
}

/// The account books and the user hub that feeds them. Shared as `Arc<Books>`.
#[derive(Debug)]
pub struct Books {
    hub: UserHub,
    gateway: projectx::Client,
    books: RwLock<BTreeMap<AccountId, Entry>>,
    /// `CANCEL_ON_FLAT`.
    cancel_on_flat: CancelOnFlat,
    /// Counts cancel rounds' results (`pxrelay_orphan_cancels_total`).
    metrics: Arc<Metrics>,
    /// Ids of the orders pxrelay placed since it started (the parents whose legs `brackets` cancels).
    placed: parking_lot::Mutex<HashSet<OrderId>>,
    /// When pxrelay last closed a position itself, per account and contract (see [`OWN_CLOSE_WINDOW`]).
    own_closes: parking_lot::Mutex<HashMap<(AccountId, ContractId), tokio::time::Instant>>,
    /// Orders the last cancel round on a contract could not cancel, per account.
    orphans: RwLock<BTreeMap<AccountId, Vec<Orphan>>>,
    /// Snapshots applied (a book went live after a (re)connect or a new watch): [`Books::resyncs`].
    resyncs: tokio::sync::watch::Sender<u64>,
    /// Fills on every alert: told of each order and trade event ([`Books::attach_fills`]; none in some tests).
    fills: std::sync::OnceLock<Arc<crate::fills::Fills>>,
    /// The trading day, for how far back a snapshot reads trades.
    clock: MarketClock,
    /// Orphan legs are told here ([`Books::attach_notifier`]; none in some tests).
    notify: std::sync::OnceLock<crate::notify::Notifier>,
}

impl Books {
    /// Books fed by `hub` (snapshots and cancels through `gateway`), cancelling on flat per `cancel_on_flat`, with
    /// snapshots reading the trades of `clock`'s trading day. Start the feeding task with [`Books::run`].
    pub fn new(
        hub: UserHub,
        gateway: projectx::Client,
        cancel_on_flat: CancelOnFlat,
        metrics: Arc<Metrics>,
        clock: MarketClock,
    ) -> Arc<Self> {
        Arc::new(Self {
            hub,
            gateway,
            books: RwLock::new(BTreeMap::new()),
            cancel_on_flat,
            metrics,
            placed: parking_lot::Mutex::new(HashSet::new()),
            own_closes: parking_lot::Mutex::new(HashMap::new()),
            orphans: RwLock::new(BTreeMap::new()),
            resyncs: tokio::sync::watch::Sender::new(0),
            fills: std::sync::OnceLock::new(),
            clock,
            notify: std::sync::OnceLock::new(),
        })
    }

    /// Order and trade events are passed on to `fills` from now on (set once, at startup).
    pub fn attach_fills(&self, fills: Arc<crate::fills::Fills>) {
        let _ = self.fills.set(fills);
    }

    /// The fills attached by [`Books::attach_fills`], if any.
    pub fn fills(&self) -> Option<&Arc<crate::fills::Fills>> {
        self.fills.get()
    }

    /// Orphan legs are told to `notify` from now on (set once, at startup).
    pub fn attach_notifier(&self, notify: crate::notify::Notifier) {
        let _ = self.notify.set(notify);
    }

    /// pxrelay placed order `id` (its legs are pxrelay's to cancel under `CANCEL_ON_FLAT=brackets`).
    pub fn placed(&self, id: OrderId) {
        self.placed.lock().insert(id);
    }

    /// Orders pxrelay placed before this process started (from the journal): their legs are pxrelay's, and the
    /// positions they opened are not foreign ([`crate::provenance`]).
    pub fn seed_placed(&self, ids: impl IntoIterator<Item = OrderId>) {
        self.placed.lock().extend(ids);
    }

    /// Counts the snapshots applied so far (each one a book gone live after a hub (re)connect or a new watch); the
    /// receiver wakes on every one. What a resync may settle (alerts left `unknown`) is re-checked on it.
    pub fn resyncs(&self) -> tokio::sync::watch::Receiver<u64> {
        self.resyncs.subscribe()
    }

    /// pxrelay is about to close the position in `contract` itself: the `Flat` event that follows is that close's
    /// (the executor calls [`Books::tidy_flat`] after it).
    pub fn closing(&self, account: AccountId, contract: &ContractId) {
        self.own_closes.lock().insert((account, contract.clone()), tokio::time::Instant::now());
    }

    /// The position in `contract` is flat: cancels the working orders that belonged to it ([`legs::belonging`],
    /// read from the live book, else `Order/searchOpen`). Orders the gateway refuses to cancel become the
    /// account's orphans for that contract (logged at `error`, counted, shown in `/status`); a round that leaves
    /// none clears them. `why` names the trigger for the log; orders in `keep` are never cancelled (an order this
    /// alert just sent).
    pub async fn tidy_flat(&self, account: AccountId, contract: &ContractId, why: &str, keep: &[projectx::OrderId]) {
        if self.cancel_on_flat == CancelOnFlat::None {
            return;
        }
        let live: Option<Vec<projectx::Order>> = self
            .books
            .read()
            .get(&account)
            .filter(|e| e.book.is_live())
            .map(|e| e.book.working_on(contract).cloned().collect());
        let working = match live {
            Some(w) => w,
            None => match self.gateway.open_orders(account).await {
                Ok(w) => w,
                Err(e) => {
                    tracing::error!(account.id = %account, contract.id = %contract, error = %e, trigger = why, "position flat but its working orders could not be read: check for orphan legs");
                    return;
                }
            },
        };
        let doomed = {
            let placed = self.placed.lock();
            let mut doomed = legs::belonging(self.cancel_on_flat, contract, &working, |id| placed.contains(&id));
            doomed.retain(|o| !keep.contains(&o.id));
            doomed
        };
        if doomed.is_empty()
            && !self.orphans.read().get(&account).is_some_and(|o| o.iter().any(|o| &o.order.contract_id == contract))
        {
            return;
        }
        let round = legs::cancel_round(&self.gateway, doomed).await;
        self.metrics.orphan_cancels("cancelled", round.cancelled.len());
        self.metrics.orphan_cancels("refused", round.refused.len());
        if !round.cancelled.is_empty() {
            tracing::info!(account.id = %account, contract.id = %contract, trigger = why, cancelled = ?round.cancelled, "position flat: cancelled its working orders");
        }
        for (order, error) in &round.refused {
            tracing::error!(account.id = %account, contract.id = %contract, order.id = %order.id, trigger = why, error = %error, "orphan leg: the gateway refused to cancel a working order of a flat position; cancel it in the platform");
            if let Some(notify) = self.notify.get() {
                let name = self.account_name(account).unwrap_or_else(|| account.to_string());
                notify.emit(crate::notify::notices::orphan(&name, order, error));
            }
        }
        let mut orphans = self.orphans.write();
        let list = orphans.entry(account).or_default();
        list.retain(|o| &o.order.contract_id != contract);
        list.extend(round.refused.into_iter().map(|(order, error)| Orphan { order, error }));
    }

    /// The user hub's status (for `/status`).
    pub fn hub_status(&self) -> projectx::UserStatus {
        self.hub.status()
    }

    /// The user hub (`POST /user-hub/resume` ends its re-login pause).
    pub fn hub(&self) -> &UserHub {
        &self.hub
    }

    /// Watches `account`: a book for it, and its hub subscriptions. Cheap when already watched. When the hub was
    /// already connected (no `Connected` marker will come for it), the snapshot is taken here once the hub confirmed
    /// the subscriptions. A hub refusal is logged; reads for the account then stay on REST.
    pub async fn watch(&self, account: AccountId) {
        if self.hub.is_watching(account) && self.books.read().contains_key(&account) {
            return;
        }
        self.books.write().entry(account).or_default();
        match self.hub.watch_account(account).await {
            Ok(()) => {
                let down = self.books.read().get(&account).is_some_and(|e| e.book.sync() == projectx::book::Sync::Down);
                if self.hub.is_connected() && down {
                    self.sync(account).await;
                }
            }
            Err(e) => tracing::warn!(account.id = %account, error = %e, "the user hub did not watch the account"),
        }
    }

    /// The signed position (long > 0) of `account` in `contract`, `Some` only while that book is live.
    pub fn position(&self, account: AccountId, contract: &ContractId) -> Option<i64> {
        let books = self.books.read();
        let entry = books.get(&account).filter(|e| e.book.is_live())?;
        Some(entry.book.position(contract))
    }

    /// `account`'s name as its book last saw it (`Account/search`, `GatewayUserAccount`), if it has one.
    pub fn account_name(&self, account: AccountId) -> Option<String> {
        self.books.read().get(&account).and_then(|e| e.book.account()).map(|a| a.name.clone())
    }

    /// The watched accounts.
    pub fn accounts(&self) -> Vec<AccountId> {
        self.books.read().keys().copied().collect()
    }

    /// Who opened `position` of `account` ([`crate::provenance`], from the account's book trades; `Unknown` when
    /// the account has no book).
    pub fn opened_by(&self, account: AccountId, position: &projectx::Position) -> OpenedBy {
        let placed = self.placed.lock().clone();
        let books = self.books.read();
        match books.get(&account) {
            Some(entry) => provenance::opened_by(position, entry.book.trades(), |id| placed.contains(&id)).0,
            None => OpenedBy::Unknown,
        }
    }

    /// Whether pxrelay placed order `id` (since start, or within the journal's lookback before it).
    pub fn placed_by_pxrelay(&self, id: OrderId) -> bool {
        self.placed.lock().contains(&id)
    }

    /// The contracts of every open position in every book (what [`Books::status`] needs marks for).
    pub fn position_contracts(&self) -> Vec<ContractId> {
        let books = self.books.read();
        let mut contracts: Vec<ContractId> =
            books.values().flat_map(|e| e.book.positions().map(|p| p.contract_id.clone())).collect();
        contracts.sort();
        contracts.dedup();
        contracts
    }

    /// `account`'s open positions and working orders as the book holds them (every field), `None` unless that book
    /// is live. For comparing the book with the gateway's REST view.
    pub fn live_state(&self, account: AccountId) -> Option<(Vec<projectx::Position>, Vec<projectx::Order>)> {
        let books = self.books.read();
        let book = &books.get(&account).filter(|e| e.book.is_live())?.book;
        Some((book.positions().cloned().collect(), book.working_orders().cloned().collect()))
    }

    /// `account`'s trades since `since` and its open positions, `None` unless that book is live (the daily loss
    /// limit's inputs, [`crate::risk::day`]).
    pub fn live_day(
        &self,
        account: AccountId,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<(Vec<projectx::Trade>, Vec<projectx::Position>)> {
        let books = self.books.read();
        let book = &books.get(&account).filter(|e| e.book.is_live())?.book;
        let trades = book.trades().filter(|t| t.creation_timestamp >= since).cloned().collect();
        Some((trades, book.positions().cloned().collect()))
    }

    /// pxrelay just sent an order (or a close) that leaves `contract` at `position` once done (see
    /// [`AccountBook::expect`]).
    pub fn expect(&self, account: AccountId, contract: &ContractId, position: i64) {
        if let Some(entry) = self.books.write().get_mut(&account) {
            entry.book.expect(contract, position);
        }
    }

    /// Every book for `/status`: `id`, `name`, `balance`, `live`, `realized_pnl_today`, `fees_today` (USD, over the
    /// snapshot's trade window), `positions[]` (`contract_id`, signed `size`, `average_price`) and
    /// `working_orders[]` (`id`, `contract_id`, `side`, `size`, `type`, `status`, `limit_price`, `stop_price`) and
    /// `orphans[]` (`id`, `contract_id`, `parent_order_id`, `side`, `size`, `type`, `error`: working orders of a flat
    /// position the gateway refused to cancel). Each position says who opened it (`opened_by`: `pxrelay`, `foreign`,
    /// `unknown`, and `opening_order_id`; [`crate::provenance`]); `foreign[]` repeats the foreign ones (`contract_id`,
    /// `size`, `average_price`, `opened_at`, `opening_order_id`). With `marks` (by contract, see
    /// [`Books::position_contracts`]) each position has its `symbol`, `mark_price` and `open_pnl` (USD,
    /// [`crate::pnl::open_pnl`]; `null` without a quote), and the account its `open_pnl` (the sum; `null` when a
    /// position has none).
    pub fn status(&self, marks: &HashMap<ContractId, Mark>) -> Vec<Value> {
        let orphans = self.orphans.read();
        let placed = self.placed.lock().clone();
        self.books
            .read()
            .iter()
            .map(|(id, entry)| {
                let orphans: Vec<Value> = orphans
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|o| {
                        json!({
                            "id": o.order.id,
                            "contract_id": o.order.contract_id,
                            "parent_order_id": o.order.parent_order_id,
                            "side": o.order.side,
                            "size": o.order.size,
                            "type": o.order.order_type,
                            "error": o.error,
                        })
                    })
                    .collect();
                let book = &entry.book;
                let account = book.account();
                let positions: Vec<(&projectx::Position, OpenedBy, Option<OrderId>)> = book
                    .positions()
                    .map(|p| {
                        let (by, order) = provenance::opened_by(p, book.trades(), |id| placed.contains(&id));
                        (p, by, order)
                    })
                    .collect();
                let priced: Vec<(Option<&Mark>, Option<rust_decimal::Decimal>)> = positions
                    .iter()
                    .map(|(p, _, _)| {
                        let mark = marks.get(&p.contract_id);
                        (mark, mark.and_then(|m| pnl::open_pnl(p, m)))
                    })
                    .collect();
                let open_pnl: Option<rust_decimal::Decimal> = priced.iter().map(|(_, pnl)| *pnl).sum();
                json!({
                    "id": id,
                    "name": account.map(|a| a.name.clone()),
                    "balance": account.map(|a| a.balance),
                    "can_trade": account.map(|a| a.can_trade),
                    "live": book.is_live(),
                    "realized_pnl_today": book.realized_pnl(),
                    "open_pnl": open_pnl,
                    "fees_today": book.fees(),
                    "positions": positions.iter().zip(&priced).map(|((p, by, order), (mark, pnl))| json!({
                        "contract_id": p.contract_id,
                        "symbol": mark.map(|m| m.symbol.clone()),
                        "size": signed_size(p),
                        "average_price": p.average_price,
                        "mark_price": mark.and_then(|m| m.price),
                        "open_pnl": pnl,
                        "opened_by": by.as_str(),
                        "opening_order_id": order,
                    })).collect::<Vec<_>>(),
                    "foreign": positions.iter().filter(|(_, by, _)| *by == OpenedBy::Foreign).map(|(p, _, order)| json!({
                        "contract_id": p.contract_id,
                        "size": signed_size(p),
                        "average_price": p.average_price,
                        "opened_at": p.creation_timestamp,
                        "opening_order_id": order,
                    })).collect::<Vec<_>>(),
                    "working_orders": book.working_orders().map(|o| json!({
                        "id": o.id,
                        "contract_id": o.contract_id,
                        "side": o.side,
                        "size": o.size,
                        "type": o.order_type,
                        "status": o.status,
                        "limit_price": o.limit_price,
                        "stop_price": o.stop_price,
                    })).collect::<Vec<_>>(),
                    "orphans": orphans,
                })
            })
            .collect()
    }

    /// Consumes the hub's update stream until `cancel` fires or the stream ends. Returns at once if the stream was
    /// already taken. The cancel rounds of positions gone flat run on `tracker` (so a stopping process waits for
    /// them), one task each, so a slow cancel never holds up the events behind it.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken, tracker: TaskTracker) {
        let Some(mut updates) = self.hub.take_events() else {
            tracing::error!("the user hub's update stream was already taken; account books stay on REST");
            return;
        };
        loop {
            let update = tokio::select! {
                biased;
                () = cancel.cancelled() => return,
                u = updates.recv() => match u {
                    Some(u) => u,
                    None => return,
                },
            };
            for (account, contract) in self.apply(update, &cancel).await {
                // pxrelay's own close: the executor cancels its legs (and a reverse's new entry is not touched).
                let own = self.own_closes.lock().remove(&(account, contract.clone()));
                if own.is_some_and(|at| at.elapsed() < OWN_CLOSE_WINDOW) {
                    continue;
                }
                let books = self.clone();
                tracker
                    .spawn(async move { books.tidy_flat(account, &contract, "position went flat (event)", &[]).await });
            }
        }
    }

    /// Applies one update; returns the positions an event left flat.
    async fn apply(&self, update: UserUpdate, cancel: &CancellationToken) -> Vec<(AccountId, ContractId)> {
        match update.event {
            UserEvent::Connected { epoch } => {
                let accounts: Vec<AccountId> = {
                    let mut books = self.books.write();
                    for entry in books.values_mut() {
                        entry.book.syncing();
                        entry.generation += 1;
                    }
                    books.keys().copied().collect()
                };
                tracing::info!(epoch, accounts = accounts.len(), "user hub synced: taking account snapshots");
                // Positions that went flat while the hub was away (a close in the platform, a bracket fill): their
                // legs are tidied like those of a flat seen live.
                let mut flat = Vec::new();
                for account in accounts {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return Vec::new(),
                        changes = self.snapshot_with_retries(account) => {
                            flat.extend(changes.into_iter().map(|Change::Flat(contract)| (account, contract)));
                        }
                    }
                }
                flat
            }
            UserEvent::Disconnected { epoch } => {
                tracing::warn!(epoch, "user hub disconnected: positions are read over REST until it is back");
                for entry in self.books.write().values_mut() {
                    entry.book.down();
                    entry.generation += 1;
                }
                Vec::new()
            }
            event => {
                let Some(event) = BookEvent::from_user(event) else { return Vec::new() };
                let account = event.account_id();
                let for_fills = self.fills.get().filter(|_| matches!(event, BookEvent::Order(_) | BookEvent::Trade(_)));
                let for_fills = for_fills.map(|f| (f.clone(), event.clone()));
                let changes = match self.books.write().get_mut(&account) {
                    Some(entry) => entry.book.event(event),
                    None => Vec::new(),
                };
                if let Some((fills, event)) = for_fills {
                    fills.event(&event, |contract| self.position(account, contract).map(|p| p == 0)).await;
                }
                changes.into_iter().map(|Change::Flat(contract)| (account, contract)).collect()
            }
        }
    }

    /// Marks `account`'s book syncing and snapshots it (a watch while the hub was already connected).
    async fn sync(&self, account: AccountId) {
        if let Some(entry) = self.books.write().get_mut(&account) {
            entry.book.syncing();
            entry.generation += 1;
        }
        self.snapshot_with_retries(account).await;
    }

    /// Snapshots `account` (retrying a failed read); returns the positions the snapshot found flat that the book
    /// held open before (see [`AccountBook::snapshot`]).
    async fn snapshot_with_retries(&self, account: AccountId) -> Vec<Change> {
        for attempt in 1..=SNAPSHOT_ATTEMPTS {
            let Some(generation) = self.books.read().get(&account).map(|e| e.generation) else { return Vec::new() };
            match self.take_snapshot(account).await {
                Ok(snapshot) => {
                    let mut books = self.books.write();
                    let Some(entry) = books.get_mut(&account).filter(|e| e.generation == generation) else {
                        return Vec::new();
                    };
                    let changes = entry.book.snapshot(snapshot);
                    tracing::info!(account.id = %account, "account book live");
                    self.metrics.book_resyncs.inc();
                    self.resyncs.send_modify(|n| *n += 1);
                    return changes;
                }
                Err(e) => {
                    tracing::warn!(account.id = %account, attempt, error = %e, "account snapshot failed");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
        }
        Vec::new()
    }

    async fn take_snapshot(&self, account: AccountId) -> Result<Snapshot, projectx::Error> {
        let g = &self.gateway;
        let now = self.clock.now();
        let since = (now - TRADES_SINCE).min(self.clock.trading_day_start(now));
        let (accounts, open, searched, positions, trades) = tokio::try_join!(
            // Every account, not only the active ones: a blocked account keeps its name and shows `canTrade: false`.
            g.accounts(false),
            g.open_orders(account),
            g.search_orders(account, since, None),
            g.open_positions(account),
            g.search_trades(account, since, None),
        )?;
        let orders = Snapshot::working_orders(open, searched);
        Ok(Snapshot { account: accounts.into_iter().find(|a| a.id == account), orders, positions, trades })
    }
}
