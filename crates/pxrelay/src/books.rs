//! [`Books`]: the live account books. Owns the user hub handle and one [`AccountBook`] per watched account, fed by a
//! task that consumes the hub's ordered update stream:
//! - `Connected` → every book starts syncing (events are buffered), then each watched account gets a REST snapshot
//!   (`Account/search`, `Order/searchOpen`, `Position/searchOpen`, `Trade/search` since 24 hours ago) and goes live;
//! - `Disconnected` → every book is down (reads fall back to REST);
//! - account, order, position and trade events → the account's book.
//!
//! A snapshot only lands if no `syncing`/`down` happened to its book since it started (a generation counter), so a
//! snapshot overtaken by a reconnect never makes a stale book live. The lock is a `parking_lot::RwLock`, never held
//! across an await.
//!
//! "Today's" trades: the CME trading day starts at 17:00 America/Chicago the evening before, but the workspace has no
//! time-zone database, so the snapshot asks for the trades of the last 24 hours (`realized_pnl_today`,
//! `fees_today` in `/status` are over that window).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use projectx::book::{AccountBook, BookEvent, Snapshot, signed_size};
use projectx::{AccountId, ContractId, UserEvent, UserHub, UserUpdate};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// How far back the snapshot's `Trade/search` reaches (see the module docs).
const TRADES_SINCE: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Snapshot attempts after a (re)connect before the book is left not live (REST reads) until the next one.
const SNAPSHOT_ATTEMPTS: u32 = 3;

#[derive(Debug, Default)]
struct Entry {
    book: AccountBook,
    /// Bumped by every `syncing`/`down`: a snapshot started at another generation is stale.
    generation: u64,
}

/// The account books and the user hub that feeds them. Shared as `Arc<Books>`.
#[derive(Debug)]
pub struct Books {
    hub: UserHub,
    gateway: projectx::Client,
    books: RwLock<BTreeMap<AccountId, Entry>>,
}

impl Books {
    /// Books fed by `hub` (snapshots through `gateway`). Start the feeding task with [`Books::run`].
    pub fn new(hub: UserHub, gateway: projectx::Client) -> Arc<Self> {
        Arc::new(Self { hub, gateway, books: RwLock::new(BTreeMap::new()) })
    }

    /// The user hub's status (for `/status`).
    pub fn hub_status(&self) -> projectx::UserStatus {
        self.hub.status()
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

    /// pxrelay just sent an order (or a close) that leaves `contract` at `position` once done (see
    /// [`AccountBook::expect`]).
    pub fn expect(&self, account: AccountId, contract: &ContractId, position: i64) {
        if let Some(entry) = self.books.write().get_mut(&account) {
            entry.book.expect(contract, position);
        }
    }

    /// Every book for `/status`: `id`, `name`, `balance`, `live`, `realized_pnl_today`, `fees_today` (USD, over the
    /// snapshot's trade window), `positions[]` (`contract_id`, signed `size`, `average_price`) and
    /// `working_orders[]` (`id`, `contract_id`, `side`, `size`, `type`, `status`, `limit_price`, `stop_price`).
    pub fn status(&self) -> Vec<Value> {
        self.books
            .read()
            .iter()
            .map(|(id, entry)| {
                let book = &entry.book;
                let account = book.account();
                json!({
                    "id": id,
                    "name": account.map(|a| a.name.clone()),
                    "balance": account.map(|a| a.balance),
                    "live": book.is_live(),
                    "realized_pnl_today": book.realized_pnl(),
                    "fees_today": book.fees(),
                    "positions": book.positions().map(|p| json!({
                        "contract_id": p.contract_id,
                        "size": signed_size(p),
                        "average_price": p.average_price,
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
                })
            })
            .collect()
    }

    /// Consumes the hub's update stream until `cancel` fires or the stream ends. Returns at once if the stream was
    /// already taken.
    pub async fn run(self: Arc<Self>, cancel: CancellationToken) {
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
            self.apply(update, &cancel).await;
        }
    }

    async fn apply(&self, update: UserUpdate, cancel: &CancellationToken) {
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
                for account in accounts {
                    tokio::select! {
                        biased;
                        () = cancel.cancelled() => return,
                        () = self.snapshot_with_retries(account) => {}
                    }
                }
            }
            UserEvent::Disconnected { epoch } => {
                tracing::warn!(epoch, "user hub disconnected: positions are read over REST until it is back");
                for entry in self.books.write().values_mut() {
                    entry.book.down();
                    entry.generation += 1;
                }
            }
            event => {
                let Some(event) = BookEvent::from_user(event) else { return };
                if let Some(entry) = self.books.write().get_mut(&event.account_id()) {
                    entry.book.event(event);
                }
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

    async fn snapshot_with_retries(&self, account: AccountId) {
        for attempt in 1..=SNAPSHOT_ATTEMPTS {
            let Some(generation) = self.books.read().get(&account).map(|e| e.generation) else { return };
            match self.take_snapshot(account).await {
                Ok(snapshot) => {
                    let mut books = self.books.write();
                    if let Some(entry) = books.get_mut(&account).filter(|e| e.generation == generation) {
                        entry.book.snapshot(snapshot);
                        tracing::info!(account.id = %account, "account book live");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!(account.id = %account, attempt, error = %e, "account snapshot failed");
                    tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
                }
            }
        }
    }

    async fn take_snapshot(&self, account: AccountId) -> Result<Snapshot, projectx::Error> {
        let g = &self.gateway;
        let since = chrono::Utc::now() - TRADES_SINCE;
        let (accounts, orders, positions, trades) = tokio::try_join!(
            g.accounts(true),
            g.open_orders(account),
            g.open_positions(account),
            g.search_trades(account, since, None),
        )?;
        Ok(Snapshot { account: accounts.into_iter().find(|a| a.id == account), orders, positions, trades })
    }
}
