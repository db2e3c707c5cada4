//! `projectx-sim`: a fake ProjectX Gateway on 127.0.0.1 for tests, benchmarks and
//! `pxrelay serve --sim` (paper trading with no credentials).
//!
//! [`Sim::start`] binds `127.0.0.1:0`, serves the gateway's REST API (every endpoint of the API
//! reference's §6 with its exact camelCase field names, per-endpoint error codes, HTTP 200 +
//! `success: false` business failures, 400 for malformed bodies, bare 401s, sliding-window 429s)
//! and returns a [`SimHandle`] that scripts misbehaviour (token lifetime and revocation, injected
//! failures, latency), moves prices, and exposes snapshots and counters for assertions.
//!
//! Layout:
//! - `config`: [`SimConfig`] and its parts, with the defaults (one account, nine contracts), and
//!   the live-likeness knobs ([`UserEventShape`], [`UserEventTiming`], bracket cleanup).
//! - `contracts`: the contract table and its month rules: [`contracts_on`] a date (paper mode, via
//!   [`SimConfig::today`]) and the fixed December 2025 set of [`default_contracts`] (tests).
//! - `state`: the `Shared` state behind the router and every handle clone.
//! - `auth`: HS256 JWT issue/verify with a per-simulator secret; revocation.
//! - `chaos`: scripted failures, latency, the sliding-window rate limiter; [`Scope`].
//! - `counters`: [`Counters`].
//! - `conn`: the listener and its streams: TCP accepts counted, connections told apart (REST or
//!   hub) by their first request, and the load-balancer-like idle close ([`SimConfig::idle_close`]).
//! - `market`: contracts, last prices, synthetic bars (newest first, closing at the last price).
//! - `orders`: the order model and enums, domain requests and refusals; [`SimOrder`].
//! - `exchange`: accounts + order book behind one lock: place, modify, cancel, close.
//! - `validate`: the `Order/place` and `Order/modify` rules and their messages.
//! - `matching`: price moves against working orders; bracket legs and their OCO.
//! - `fills`: trades, positions, realised P&L and fees; [`SimPosition`], [`SimTrade`].
//! - `rest`: the axum router, the response envelope and body extractor, the gate middleware
//!   (counters → chaos → rate limit → auth → handler → latency), handlers per API area.
//! - `hub`: the SignalR market and user hubs (JSON hub protocol over WebSocket at `/hubs/market`
//!   and `/hubs/user`, negotiate included), the quote ticker, hub chaos; [`HubConnectionInfo`],
//!   [`HubCounters`]. Its router is merged next to the REST one in `app()`.
//!
//! Trading behaves like the live gateway by default:
//! - Market orders (and position closes) fill at once at the last price. Limit, stop and join
//!   orders rest as Open until a price move reaches them (a quote-ticker step,
//!   [`SimHandle::set_price`], [`SimHandle::move_price_to`]): a buy limit fills when the price is at
//!   or below it, a sell limit at or above, both **at the limit price**; a buy stop triggers at or
//!   above its stop, a sell stop at or below, and fills **at the price that reached it** (a jump
//!   slips). An order already reached when placed or modified fills at once at the last price.
//!   JoinBid and JoinAsk rest one tick below / above the last price. Trailing stops rest and never
//!   trigger (unsupported).
//! - Brackets (`stopLossBracket`, `takeProfitBracket`) become Auto-OCO legs when the entry fills
//!   (market or resting), at their tick offsets from the fill price, with `parentOrderId` and
//!   `linkedOrderId`. A leg that fills cancels its sibling. Closing the position
//!   (`Position/closeContract`, partial closes, opposite orders) leaves the legs **working**
//!   (API reference §9 item 21); [`SimConfig::cancel_brackets_when_flat`] restores the old
//!   cancel-when-flat cleanup. There is no Suspended (8) state: legs do not exist before their
//!   entry fills, so `Order/searchOpen` hides nothing and there is no `Order/v2/query`.
//! - User-hub events follow the order life cycle: for a market entry `GatewayUserOrder` (Open),
//!   `GatewayUserOrder` (Filled), `GatewayUserPosition`, `GatewayUserTrade`, `GatewayUserAccount`,
//!   then the legs' `GatewayUserOrder` (Open); a flat position is `GatewayUserPosition` with
//!   `size: 0`. [`SimConfig::user_event_shape`] wraps them as `{"action", "data"}`;
//!   [`SimConfig::user_event_timing`] decides whether the REST answer waits until the events are
//!   on the subscribers' sockets (default: it does, so events arrive first).
//! - Fees are 0.37 per contract per fill; `profitAndLoss` of a closing trade is gross (price move /
//!   tickSize × tickValue × size), and P&L minus fees is booked into the balance. Legs keep their
//!   size when the position changes by other means.

mod auth;
mod chaos;
mod config;
mod conn;
mod contracts;
mod counters;
mod exchange;
mod fills;
mod hub;
mod market;
mod matching;
mod orders;
mod rest;
mod state;
mod validate;

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use chaos::Scope;
pub use config::{RateLimit, SimAccount, SimConfig, SimContract, UserEventShape, UserEventTiming};
pub use contracts::{contracts_on, default_contracts};
pub use counters::Counters;
pub use fills::{SimPosition, SimTrade};
pub use hub::{HubConnectionInfo, HubCounters, HubFraming, HubKind};
pub use orders::SimOrder;

use state::Shared;

/// Entry point: `Sim::start(SimConfig::default()).await?`.
#[derive(Debug)]
pub struct Sim;

impl Sim {
    /// Binds `127.0.0.1:0` and serves the fake gateway on a spawned task until
    /// [`SimHandle::shutdown`] is called or the last handle clone is dropped.
    pub async fn start(cfg: SimConfig) -> std::io::Result<SimHandle> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (stop, mut stopped) = watch::channel(false);
        let shared = Arc::new(Shared::new(cfg, stopped.clone()));
        let app = app(Arc::clone(&shared)).into_make_service_with_connect_info::<conn::Conn>();
        let listener = conn::SimListener { tcp: listener, shared: Arc::clone(&shared) };
        // Detached like the server: it ends when `stopped` turns true or closes.
        tokio::spawn(hub::market::run_ticker(Arc::clone(&shared)));
        // Detached on purpose: it ends on shutdown (or when every handle is gone, which closes
        // the channel), and its only failure mode is logged here.
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            };
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                tracing::error!(%error, "simulator server failed");
            }
        });
        tracing::debug!(%addr, "simulator listening");
        Ok(SimHandle { inner: Arc::new(Inner { addr, shared, stop }) })
    }
}

/// The whole HTTP surface: REST (behind its gate) and the hubs (with their own auth), each
/// connection's first request marking it as one or the other.
fn app(shared: Arc<Shared>) -> Router {
    rest::router(Arc::clone(&shared))
        .merge(hub::router(Arc::clone(&shared)))
        .layer(axum::middleware::from_fn_with_state(shared, conn::classify))
}

/// Control and inspection of a running simulator. Cheap to clone; dropping the last clone stops
/// the server.
#[derive(Clone)]
pub struct SimHandle {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    shared: Arc<Shared>,
    /// `true` asks the server task to shut down; dropping it does too.
    stop: watch::Sender<bool>,
}

impl fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimHandle")
            .field("addr", &self.inner.addr)
            .field("username", &self.inner.shared.username)
            .finish_non_exhaustive()
    }
}

impl SimHandle {
    /// The bound address (always 127.0.0.1 and an ephemeral port).
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// `http://127.0.0.1:PORT`; REST paths hang off `/api/...`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    /// The accepted `userName`.
    pub fn username(&self) -> &str {
        &self.shared().username
    }

    /// The accepted `apiKey`.
    pub fn api_key(&self) -> &str {
        &self.shared().api_key
    }

    /// A valid token for `lifetime`, without a login (not counted).
    pub fn issue_token(&self, lifetime: Duration) -> String {
        self.shared().tokens.issue(lifetime)
    }

    /// A correctly signed token whose `exp` passed an hour ago.
    pub fn issue_expired_token(&self) -> String {
        self.shared().tokens.issue_expired()
    }

    /// Lifetime of tokens issued from now on by login and validate.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        self.shared().tokens.set_lifetime(lifetime);
    }

    /// Every token issued so far is answered with 401 from now on; later tokens work.
    pub fn revoke_all_tokens(&self) {
        self.shared().tokens.revoke_all();
    }

    /// The next `n` requests matching `scope` get `status` with an empty body and are not processed.
    pub fn fail_next(&self, n: u32, status: u16, scope: Scope) {
        self.shared().chaos.fail_next(n, status, scope);
    }

    /// Every request matching `scope` during `d` gets `status` and is not processed.
    pub fn fail_for(&self, d: Duration, status: u16, scope: Scope) {
        self.shared().chaos.fail_for(d, status, scope);
    }

    /// The next `n` requests matching `scope` are processed (an order really is placed) but
    /// answered with `status` and an empty body: an ambiguous outcome for the client.
    pub fn fail_next_after_processing(&self, n: u32, status: u16, scope: Scope) {
        self.shared().chaos.fail_next_after_processing(n, status, scope);
    }

    /// Delay added before every answer (including 401, 429 and injected failures); a latency set
    /// for a narrower scope ([`SimHandle::set_latency_for`]) wins for its requests.
    pub fn set_latency(&self, d: Duration) {
        self.shared().chaos.set_latency(Scope::All, d);
    }

    /// Delay added before the answers of the requests in `scope` only, e.g.
    /// `set_latency_for(Scope::Path("/api/Order/place".into()), 150 ms)`. The request is processed
    /// first (an order's `created` is its arrival), then the answer waits. Each scope has one
    /// latency (setting it again replaces it; zero removes the slowdown for that scope); the most
    /// specific matching scope applies: `Path`, then `Auth`, then `All`.
    pub fn set_latency_for(&self, scope: Scope, d: Duration) {
        self.shared().chaos.set_latency(scope, d);
    }

    /// Makes an account tradable or not, like a firm blocking it (or a daily loss limit reached):
    /// while `false`, `Order/place` is refused with `AccountRejected` (code 10, the order stored
    /// as Rejected), position closes with `AccountRejected`, and `onlyActiveAccounts: true`
    /// searches hide it. User-hub subscribers get a `GatewayUserAccount` with the new `canTrade`.
    /// Returns false (and changes nothing) for an unknown account.
    pub fn set_can_trade(&self, account_id: i32, can_trade: bool) -> bool {
        self.shared().set_can_trade(account_id, can_trade)
    }

    /// Removes every failure rule and every latency.
    pub fn clear_chaos(&self) {
        self.shared().chaos.clear();
    }

    /// Sets a contract's last price (market fills, bars, the hub's `lastPrice`), sends quote
    /// subscribers the delta at once, then fills every working order the new price reaches
    /// (limits, stops, bracket legs; see the crate doc) and sends their user-hub events. A jump
    /// fills stops at the new price. Unknown contracts are ignored with a warning.
    pub fn set_price(&self, contract_id: &str, price: Decimal) {
        if !self.shared().set_price(contract_id, price) {
            tracing::warn!(contract.id = contract_id, "set_price on an unknown contract ignored");
        }
    }

    /// Moves a contract's price to `price` in `steps` equal moves (at least one), each rounded to
    /// the tick grid (toward the start) and applied like [`SimHandle::set_price`]: a quote per
    /// step and the fills each step reaches, so stops fill near their level instead of at the end
    /// of a jump. Steps that round to the same price are skipped; the last one is `price` exactly.
    /// Unknown contracts are ignored with a warning.
    pub fn move_price_to(&self, contract_id: &str, price: Decimal, steps: u32) {
        let start = self.shared().exchange.lock().market.get(contract_id).map(|c| (c.price, c.tick_size));
        let Some((from, tick)) = start else {
            tracing::warn!(contract.id = contract_id, "move_price_to on an unknown contract ignored");
            return;
        };
        let steps = steps.max(1);
        let mut last = from;
        for k in 1..=steps {
            let mut next = from + (price - from) * Decimal::from(k) / Decimal::from(steps);
            if k < steps && !tick.is_zero() {
                next = ((next - from) / tick).trunc() * tick + from;
            }
            let next = if k == steps { price } else { next.normalize() };
            if next != last {
                self.shared().set_price(contract_id, next);
                last = next;
            }
        }
    }

    /// Rolls a product: `contract_id` becomes its active contract and the product's other contracts inactive (what
    /// the gateway shows after an expiry roll). Unknown contracts are ignored with a warning.
    pub fn roll_to(&self, contract_id: &str) {
        if !self.shared().exchange.lock().market.roll_to(contract_id) {
            tracing::warn!(contract.id = contract_id, "roll_to an unknown contract ignored");
        }
    }

    /// Every order ever placed (including rejected ones and bracket children), oldest first.
    pub fn orders(&self) -> Vec<SimOrder> {
        self.shared().exchange.lock().book.orders.clone()
    }

    /// Open positions.
    pub fn positions(&self) -> Vec<SimPosition> {
        self.shared().exchange.lock().book.positions.clone()
    }

    /// Every fill, oldest first.
    pub fn trades(&self) -> Vec<SimTrade> {
        self.shared().exchange.lock().book.trades.clone()
    }

    /// Accounts with their current balances.
    pub fn accounts(&self) -> Vec<SimAccount> {
        self.shared().exchange.lock().book.accounts.clone()
    }

    /// Closes REST connections on which nothing was read or written for `period`, like a load
    /// balancer's idle timeout (`None` = never, the default; see [`SimConfig::idle_close`]). Open
    /// connections use the new period from their next wait for a request.
    pub fn set_idle_close(&self, period: Option<Duration>) {
        self.shared().idle_close.set(period);
    }

    /// Holds the first read of every connection accepted from now on for `delay` (`None` = none, the default):
    /// the TCP and TLS handshakes a new connection to the live gateway pays before its first request reaches
    /// the server (TCP 1 round trip + TLS 1.3 1 round trip: `2 × RTT`), which loopback plain HTTP does not. With
    /// [`SimHandle::set_latency`] it lets a benchmark tell a cold connection from a warm one.
    pub fn set_connect_delay(&self, delay: Option<Duration>) {
        self.shared().connect_delay.set(delay);
    }

    /// A snapshot of the counters.
    pub fn counters(&self) -> Counters {
        self.shared().counters.lock().clone()
    }

    /// `http://127.0.0.1:PORT/hubs/market` (http like the docs' https; WebSocket clients switch
    /// the scheme to ws).
    pub fn market_hub_url(&self) -> String {
        format!("{}/hubs/market", self.base_url())
    }

    /// `http://127.0.0.1:PORT/hubs/user`.
    pub fn user_hub_url(&self) -> String {
        format!("{}/hubs/user", self.base_url())
    }

    /// Automatic quotes per second for each contract with quote subscribers (0 = none; the price
    /// then only moves through `set_price`).
    pub fn set_quotes_per_second(&self, per_contract: u32) {
        self.shared().hubs.set_rate(per_contract);
    }

    /// Sends exactly `GatewayQuote(contract_id, data)` to the contract's quote subscribers
    /// (nothing while frozen). The simulator's quote state and price are not changed.
    pub fn push_quote(&self, contract_id: &str, data: serde_json::Value) {
        self.shared().hubs.registry().push_quote(contract_id, &data);
    }

    /// Frozen: hub connections stay open and pinged but get no market data (quotes, trades,
    /// depth); unfreezing sends each quote and depth subscriber a fresh snapshot.
    pub fn freeze_quotes(&self, frozen: bool) {
        self.shared().hubs.freeze(frozen);
    }

    /// Ends every hub connection abruptly: no Close message, no close frame.
    pub fn drop_hub_connections(&self) {
        self.shared().hubs.drop_all();
    }

    /// Sends every hub connection a Close message (`{"type":7}` with `error` and
    /// `allowReconnect: true` when given), then a close frame.
    pub fn close_hub_connections(&self, error: Option<&str>, allow_reconnect: bool) {
        self.shared().hubs.close_all(error, allow_reconnect);
    }

    /// What the gateway does when the same user logs in elsewhere (TopstepX allows one session at
    /// a time, API notes §9.22): every token issued so far is revoked (401 from now on, on REST
    /// and on hub upgrades; tokens issued later work), then every user-hub connection is sent
    /// `GatewayLogout` with no arguments (§9.23) and left open: what the live message carries,
    /// and whether the live gateway closes the connection after it, is unknown [I]. Market-hub
    /// connections get nothing (their next upgrade meets the 401). Returns how many user-hub
    /// connections got the message (also counted in `HubCounters::logouts_sent`).
    pub fn log_out_sessions(&self) -> usize {
        self.shared().tokens.revoke_all();
        self.shared().hubs.log_out_user_connections()
    }

    /// Hub upgrades and negotiates are answered 503 for `d` from now.
    pub fn refuse_hub_connects_for(&self, d: Duration) {
        self.shared().hubs.refuse_for(d);
    }

    /// Server keep-alive pings on (default) or off, for client server-timeout tests.
    pub fn set_hub_pings(&self, enabled: bool) {
        self.shared().hubs.set_pings(enabled);
    }

    /// How hub records are cut into WebSocket frames (default [`HubFraming::Batched`]).
    pub fn set_hub_framing(&self, framing: HubFraming) {
        self.shared().hubs.set_framing(framing);
    }

    /// Currently open hub connections (handshake done), oldest first.
    pub fn hub_connections(&self) -> Vec<HubConnectionInfo> {
        self.shared().hubs.connections()
    }

    /// A snapshot of the hub counters.
    pub fn hub_counters(&self) -> HubCounters {
        self.shared().hubs.counters()
    }

    /// Stops the server: the listener closes, open REST connections are shut down gracefully and
    /// hub sockets are dropped.
    pub fn shutdown(&self) {
        self.inner.stop.send_replace(true);
    }

    fn shared(&self) -> &Shared {
        &self.inner.shared
    }
}
