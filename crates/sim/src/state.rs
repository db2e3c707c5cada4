//! The state every request handler, hub connection and `SimHandle` clone shares: credentials,
//! tokens, chaos rules, the rate limiter, counters, the exchange and the hubs. Each part guards
//! itself with a `parking_lot` mutex held for a statement or a short block, never across an
//! `.await`. Lock order: `exchange` before the hubs' registry, never the other way round (a price
//! change or a fill is published while the exchange lock is still held, so subscribers see
//! changes in the order they happened).

use std::time::Duration;

use chrono::Utc;
use parking_lot::Mutex;
use rust_decimal::Decimal;
use tokio::sync::watch;

use crate::auth::Tokens;
use crate::chaos::{Chaos, RateLimiter};
use crate::config::{SimConfig, UserEventTiming};
use crate::conn::Period;
use crate::counters::Counters;
use crate::exchange::{Book, Exchange, UserEvent};
use crate::hub::{Hubs, Receipt};
use crate::market::Market;

/// Longest a REST answer waits for its user events to be written (`UserEventTiming::EventsFirst`).
const DELIVERY_LIMIT: Duration = Duration::from_secs(1);

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
    /// The load-balancer-like idle close of REST connections; written by the handle, read by
    /// every connection while it waits for a request.
    pub(crate) idle_close: Period,
    /// The handshake time a new connection waits before its first request is read (`SimHandle::set_connect_delay`).
    pub(crate) connect_delay: Period,
    /// `SimConfig::user_event_timing`; fixed at start.
    user_event_timing: UserEventTiming,
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
            exchange: Mutex::new(Exchange {
                market: Market::new(cfg.contracts),
                book: Book::new(cfg.accounts, cfg.cancel_brackets_when_flat),
            }),
            user_event_timing: cfg.user_event_timing,
            idle_close: Period::new(cfg.idle_close),
            connect_delay: Period::new(None),
        }
    }

    /// Runs one trading operation (a REST call) under the exchange lock and publishes the user-hub
    /// events it queued before releasing the lock (lock order: exchange → hubs). With
    /// `UserEventTiming::EventsFirst` it then waits (at most 1 s) until the subscribers' sockets
    /// have them, so the caller's answer is written after the events.
    pub(crate) async fn trade<T>(&self, op: impl FnOnce(&mut Exchange) -> T) -> T {
        let (outcome, receipt) = {
            let mut exchange = self.exchange.lock();
            let outcome = op(&mut exchange);
            (outcome, self.publish_events(&mut exchange))
        };
        if self.user_event_timing == UserEventTiming::EventsFirst {
            receipt.delivered(DELIVERY_LIMIT).await;
        }
        outcome
    }

    /// Sends the user-hub events queued in the book. Call with the exchange lock held.
    fn publish_events(&self, exchange: &mut Exchange) -> Receipt {
        if exchange.book.events.is_empty() {
            return Receipt::default();
        }
        let events = std::mem::take(&mut exchange.book.events);
        self.hubs.registry().publish_user_events(&events, self.hubs.user_event_shape)
    }

    /// Sets an account's `canTrade` and publishes the account to the user hub; false if unknown.
    pub(crate) fn set_can_trade(&self, account_id: i32, can_trade: bool) -> bool {
        let mut exchange = self.exchange.lock();
        let Some(account) = exchange.book.accounts.iter_mut().find(|a| a.id == account_id) else {
            return false;
        };
        account.can_trade = can_trade;
        let account = account.clone();
        exchange.book.events.push(UserEvent::Account(account));
        self.publish_events(&mut exchange);
        true
    }

    /// Sets a contract's last price, publishes the quote delta, then fills the working orders the
    /// new price reaches and publishes their user events; false if the contract is unknown.
    pub(crate) fn set_price(&self, contract_id: &str, price: Decimal) -> bool {
        let mut exchange = self.exchange.lock();
        if !exchange.market.set_price(contract_id, price) {
            return false;
        }
        if let Some(contract) = exchange.market.get(contract_id) {
            self.hubs.registry().price_moved(contract, None);
        }
        exchange.cross(contract_id, Utc::now());
        self.publish_events(&mut exchange);
        true
    }
}
