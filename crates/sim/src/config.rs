//! Start-up configuration of a simulator: credentials, token lifetime, rate limits, accounts and
//! contracts. `SimConfig::default()` is a ready-to-use paper-trading gateway with one tradable
//! account and a handful of CME futures in their fixed December 2025 months, so tests only override
//! what they care about; [`SimConfig::on`] / [`SimConfig::today`] list the months trading on a date
//! instead (the contract table and its month rules live in `contracts`).

use std::fmt;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::contracts::{contracts_on, default_contracts};

/// How a simulator is set up; every field has a sensible default (see `Default`).
#[derive(Clone)]
pub struct SimConfig {
    /// Accepted `userName` for `/api/Auth/loginKey` (default `"sim-user"`).
    pub username: String,
    /// Accepted `apiKey` for `/api/Auth/loginKey` (default `"sim-api-key"`).
    pub api_key: String,
    /// Lifetime of tokens from login and validate; the JWT `exp` is now + lifetime (default 24 h).
    pub token_lifetime: Duration,
    /// Sliding-window limit over every `/api/` request (default 200 per 60 s); `None` = unlimited.
    pub general_limit: Option<RateLimit>,
    /// Extra sliding-window limit for `/api/History/retrieveBars` (default 50 per 30 s).
    pub history_limit: Option<RateLimit>,
    /// Trading accounts (default: one tradable account 9001 "SIM-PAPER-1" with 50 000).
    pub accounts: Vec<SimAccount>,
    /// Contracts the gateway knows, with their starting prices (default: the fixed December 2025
    /// set of [`default_contracts`]; [`SimConfig::on`] puts in the months trading on a date).
    pub contracts: Vec<SimContract>,
    /// Hubs: a server Ping (`{"type":6}`) is written when this long passed since the connection's
    /// last write (default 15 s, ASP.NET's `KeepAliveInterval`).
    pub keep_alive: Duration,
    /// Hubs: a client that sent no parsed message (pings included) for this long is dropped
    /// (default 30 s, ASP.NET's `ClientTimeoutInterval`).
    pub client_timeout: Duration,
    /// Hubs: how long a new socket may take to send its handshake (default 15 s).
    pub handshake_timeout: Duration,
    /// Market hub: automatic quotes per second per subscribed contract (default 4; 0 = none).
    /// Changeable at run time with `SimHandle::set_quotes_per_second`. Every ticker step is a price
    /// move, so it can fill resting orders and bracket legs (see the crate doc).
    pub quotes_per_second: u32,
    /// What happens to a position's Auto-OCO bracket legs (the stop and target children of a filled
    /// entry) when the position goes flat by other means (`Position/closeContract`, a partial
    /// close that flattens, an opposite order). Default `false`: they stay **working**, like on the
    /// live gateway (API reference §9 item 21: closing does not cancel the legs; the client must).
    /// `true`: the simulator cancels them (its behaviour before it was made live-like).
    pub cancel_brackets_when_flat: bool,
    /// How user-hub events carry their data object (default [`UserEventShape::Bare`], as the
    /// Gateway docs show; §7.5 and §9 items 8 and 25).
    pub user_event_shape: UserEventShape,
    /// When the REST answer of a trading call is written relative to the user-hub events the call
    /// caused (default [`UserEventTiming::EventsFirst`]: events first, as seen on the live gateway).
    pub user_event_timing: UserEventTiming,
    /// Close a REST connection once nothing was read or written on it for this long, as a load
    /// balancer in front of the gateway does with idle keep-alive connections (an AWS ALB after
    /// 60 s by default); hub connections are exempt. Default `None`: never. Tests shorten a long
    /// quiet period to a second or two; changeable at run time with `SimHandle::set_idle_close`.
    /// `Counters::rest_connections` shows whether a client had to open a new connection.
    pub idle_close: Option<Duration>,
}

/// How a user-hub event's single argument is shaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserEventShape {
    /// `GatewayUserOrder(data)` with the bare model object, as documented.
    #[default]
    Bare,
    /// `GatewayUserOrder({"action": n, "data": {...}})`, the Admin API's wrapper that some SDKs
    /// report on the Gateway too (§9 item 25). `action`: 0 create (an order's first snapshot, a
    /// position opening, every trade), 1 update (later order snapshots, position size changes,
    /// account balances), 2 delete (a position going flat; `data.size` is still 0).
    Wrapped,
}

/// Order of a trading call's REST answer and the user-hub events it caused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UserEventTiming {
    /// The answer of `Order/place`, `modify`, `cancel` and the position closes is held until every
    /// connection subscribed to the call's events has written them to its socket (at most 1 s per
    /// call), so a client always receives the events before the answer (with the order id it is
    /// waiting for). The live gateway often behaves like this.
    #[default]
    EventsFirst,
    /// The events are queued to the hub connections before the answer is written, without
    /// waiting: which one a client reads first is a race (usually the events on loopback).
    Race,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            username: "sim-user".to_owned(),
            api_key: "sim-api-key".to_owned(),
            token_lifetime: Duration::from_secs(24 * 60 * 60),
            general_limit: Some(RateLimit { requests: 200, window: Duration::from_secs(60) }),
            history_limit: Some(RateLimit { requests: 50, window: Duration::from_secs(30) }),
            accounts: vec![SimAccount::paper(1)],
            contracts: default_contracts(),
            keep_alive: Duration::from_secs(15),
            client_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(15),
            quotes_per_second: 4,
            cancel_brackets_when_flat: false,
            user_event_shape: UserEventShape::Bare,
            user_event_timing: UserEventTiming::EventsFirst,
            idle_close: None,
        }
    }
}

impl SimConfig {
    /// The default configuration with the contract months that trade on `date` (see [`contracts_on`]
    /// for the rules) instead of the fixed December 2025 set.
    pub fn on(date: chrono::NaiveDate) -> Self {
        Self { contracts: contracts_on(date), ..Self::default() }
    }

    /// [`SimConfig::on`] today's UTC date, so a paper-mode simulator quotes the contracts a trader
    /// sees in today's market. The months are chosen here, once: a simulator running across a roll
    /// date keeps them. Used by `pxrelay serve --sim` and `pxrelay quote --sim`.
    pub fn today() -> Self {
        Self::on(chrono::Utc::now().date_naive())
    }

    /// This configuration with `n` tradable paper accounts instead of its own: ids 9001, 9002, …,
    /// names `SIM-PAPER-1`, `SIM-PAPER-2`, …, 50 000 each (for fan-out tests; each account has its
    /// own orders, positions, trades, balance and user-hub topics).
    pub fn with_paper_accounts(self, n: u16) -> Self {
        let accounts = (1..=i32::from(n)).map(SimAccount::paper).collect();
        Self { accounts, ..self }
    }
}

// Hand-written so the API key never lands in logs, even though it is a fake one.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("username", &self.username)
            .field("api_key", &"<redacted>")
            .field("token_lifetime", &self.token_lifetime)
            .field("general_limit", &self.general_limit)
            .field("history_limit", &self.history_limit)
            .field("accounts", &self.accounts)
            .field("contracts", &self.contracts)
            .field("keep_alive", &self.keep_alive)
            .field("client_timeout", &self.client_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("quotes_per_second", &self.quotes_per_second)
            .field("cancel_brackets_when_flat", &self.cancel_brackets_when_flat)
            .field("user_event_shape", &self.user_event_shape)
            .field("user_event_timing", &self.user_event_timing)
            .field("idle_close", &self.idle_close)
            .finish()
    }
}

/// A sliding-window budget: at most `requests` admitted requests in any `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests admitted per window.
    pub requests: u32,
    /// Length of the sliding window.
    pub window: Duration,
}

/// A trading account as `/api/Account/search` reports it (`isVisible` and `simulated` are always true).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimAccount {
    /// Account id used by every order, position and trade call.
    pub id: i32,
    /// Display name.
    pub name: String,
    /// Cash balance; realised P&L and fees are booked into it.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub balance: Decimal,
    /// False makes order placement fail with `AccountRejected` and hides the account from
    /// `onlyActiveAccounts: true` searches.
    pub can_trade: bool,
}

impl SimAccount {
    /// The `n`th paper account (from 1): id `9000 + n`, name `SIM-PAPER-<n>`, 50 000, tradable.
    pub fn paper(n: i32) -> Self {
        Self { id: 9000 + n, name: format!("SIM-PAPER-{n}"), balance: Decimal::new(50_000, 0), can_trade: true }
    }

    /// The account as `Account/search` and `GatewayUserAccount` send it (with `isVisible` and
    /// `simulated`, always true here).
    pub(crate) fn to_wire(&self) -> serde_json::Value {
        let mut wire = serde_json::json!(self);
        if let serde_json::Value::Object(fields) = &mut wire {
            fields.insert("isVisible".into(), serde_json::Value::Bool(true));
            fields.insert("simulated".into(), serde_json::Value::Bool(true));
        }
        wire
    }
}

/// A futures contract and its current (last) price.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimContract {
    /// Gateway id `CON.F.US.<root>.<month letter><2-digit year>`, e.g. `CON.F.US.MNQ.Z25`.
    pub id: String,
    /// Exchange-style name `<CME root><month letter><1-digit year>`, e.g. `MNQZ5`.
    pub name: String,
    /// Human description `<product>: <month name> <4-digit year>`, e.g.
    /// `Micro E-mini Nasdaq-100: December 2025`.
    pub description: String,
    /// Minimum price increment; order prices must be multiples of it.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub tick_size: Decimal,
    /// USD per tick per contract; drives realised P&L.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub tick_value: Decimal,
    /// `activeContract` on the wire; orders on inactive contracts are refused (code 9).
    #[serde(rename = "activeContract")]
    pub active: bool,
    /// Product id, e.g. `F.US.MNQ`.
    pub symbol_id: String,
    /// Last price: market orders fill here and the newest bar closes here. Not on the wire.
    #[serde(skip)]
    pub price: Decimal,
}
