//! The state every request handler and every `SimHandle` clone shares: credentials, tokens, chaos
//! rules, the rate limiter, counters and the exchange. Each part guards itself with a
//! `parking_lot` mutex held for a statement or a short block, never across an `.await`.

use parking_lot::Mutex;

use crate::auth::Tokens;
use crate::chaos::{Chaos, RateLimiter};
use crate::config::SimConfig;
use crate::counters::Counters;
use crate::exchange::{Book, Exchange};
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
    /// is atomic. Written by the trading handlers and `set_price`, read by searches and snapshots.
    pub(crate) exchange: Mutex<Exchange>,
}

impl Shared {
    pub(crate) fn new(cfg: SimConfig) -> Self {
        Self {
            tokens: Tokens::new(&cfg.username, cfg.token_lifetime),
            username: cfg.username,
            api_key: cfg.api_key,
            chaos: Chaos::default(),
            limiter: RateLimiter::new(cfg.general_limit, cfg.history_limit),
            counters: Mutex::new(Counters::default()),
            exchange: Mutex::new(Exchange { market: Market::new(cfg.contracts), book: Book::new(cfg.accounts) }),
        }
    }
}
