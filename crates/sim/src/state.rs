//! The state every request handler, hub connection and `SimHandle` clone shares: credentials,
//! tokens, chaos rules, the rate limiter, counters, the exchange and the hubs. Each part guards
//! itself with a `parking_lot` mutex held for a statement or a short block, never across an
//! `.await`. Lock order: `exchange` before the hubs' registry, never the other way round (a price
//! change or a fill is published while the exchange lock is still held, so subscribers see
//! changes in the order they happened).

use parking_lot::Mutex;
use rust_decimal::Decimal;
use tokio::sync::watch;

use crate::auth::Tokens;
use crate::chaos::{Chaos, RateLimiter};
use crate::config::SimConfig;
use crate::counters::Counters;
use crate::exchange::{Book, Exchange};
use crate::hub::Hubs;
use crate::market::Market;

/// Shared by the router (as axum state) and the handle (as `Arc<Shared>`). No `Debug`: it holds
/// the API key and the signing secret.
pub(crate) struct Shared {
    /// Accepted `userName`.
    pub(crate) username: String,
    /// Accepted `apiKey`.
    pub(crate) api_key: String,
    /// Token issue/verify/revoke; written by login, validate, logout and the handle.
    pub(crate) tokens: Tokens,
    /// Scripted failures and latency; written by the handle, consumed by the gate.
    pub(crate) chaos: Chaos,
    /// General and history budgets; used by the gate only.
    pub(crate) limiter: RateLimiter,
    /// Written by the gate and the auth handlers, read (cloned) by the handle.
    pub(crate) counters: Mutex<Counters>,
    /// Contracts, prices, accounts, orders, positions, trades: one lock so every trading operation
    /// is atomic. Written by the trading handlers, `set_price` and the quote ticker, read by
    /// searches, snapshots and hub subscribes.
    pub(crate) exchange: Mutex<Exchange>,
    /// SignalR hubs: connections, subscriptions, quote state, hub chaos and counters.
    pub(crate) hubs: Hubs,
}

impl Shared {
    /// `stopped` turns true (or closes) when the simulator shuts down; hub tasks watch it.
    pub(crate) fn new(cfg: SimConfig, stopped: watch::Receiver<bool>) -> Self {
        Self {
            tokens: Tokens::new(&cfg.username, cfg.token_lifetime),
            hubs: Hubs::new(&cfg, stopped),
            username: cfg.username,
            api_key: cfg.api_key,
            chaos: Chaos::default(),
            limiter: RateLimiter::new(cfg.general_limit, cfg.history_limit),
            counters: Mutex::new(Counters::default()),
            exchange: Mutex::new(Exchange { market: Market::new(cfg.contracts), book: Book::new(cfg.accounts) }),
        }
    }

    /// Runs one trading operation under the exchange lock, then publishes the user-hub events it
    /// queued before releasing the lock (lock order: exchange → hubs).
    pub(crate) fn trade<T>(&self, op: impl FnOnce(&mut Exchange) -> T) -> T {
        let mut exchange = self.exchange.lock();
        let outcome = op(&mut exchange);
        if !exchange.book.events.is_empty() {
            let events = std::mem::take(&mut exchange.book.events);
            self.hubs.publish_user_events(&events);
        }
        outcome
    }

    /// Sets a contract's last price and publishes the quote delta; false if the contract is unknown.
    pub(crate) fn set_price(&self, contract_id: &str, price: Decimal) -> bool {
        let mut exchange = self.exchange.lock();
        if !exchange.market.set_price(contract_id, price) {
            return false;
        }
        if let Some(contract) = exchange.market.get(contract_id) {
            self.hubs.registry().price_moved(contract, None);
        }
        true
    }
}
