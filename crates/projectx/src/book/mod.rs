//! [`AccountBook`]: one account's live state — working orders (bracket legs included), open positions, today's
//! trades with realized P&L and fees, the balance — seeded by a REST [`Snapshot`] on every (re)connect of the user hub
//! and then driven by its events. Pure state (no I/O): the app feeds it and reads it.
//!
//! **Ordering.** Every user-hub event carries a whole object (an order, a position, a trade, the account), never a
//! delta, and the hub delivers them in order on one connection. So:
//! - while the snapshot of a (re)connect is in flight, events are **buffered**; when it lands, the snapshot replaces
//!   the state and the buffered events are replayed over it in arrival order. An event older than the snapshot is
//!   then followed by the newer events that the snapshot already reflects, so the last write is the newest state;
//!   nothing that arrived while the snapshot was in flight is lost;
//! - an order event whose `updateTimestamp` is older than the one the book holds for that order is ignored (a late
//!   event never overwrites a newer state); trades are kept by id (a repeat is the same trade).
//!
//! **Orders pxrelay sends.** The book does not wait for events to know what it just did: [`AccountBook::expect`] sets
//! the position a contract will have once an order (or a close) sent now is done; reads return it until the next
//! position event for that contract, or until the expectation is older than [`EXPECTATION_TTL`].

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Serialize;
use tokio::time::Instant;

use crate::{Account, ContractId, Order, OrderId, Position, PositionType, Trade};

/// How long an expectation set by [`AccountBook::expect`] stands without a position event for its contract. A market
/// order's events arrive within milliseconds; after this the book trusts its events again (and says so).
pub const EXPECTATION_TTL: Duration = Duration::from_secs(5);

/// One user-hub event, typed.
#[derive(Clone, Debug, PartialEq)]
pub enum BookEvent {
    /// `GatewayUserAccount`.
    Account(Account),
    /// `GatewayUserOrder`.
    Order(Order),
    /// `GatewayUserPosition` (`size` 0 means flat).
    Position(Position),
    /// `GatewayUserTrade`.
    Trade(Trade),
}

impl BookEvent {
    /// The data event of a user-hub event; `None` for the connection markers (`Connected`, `Disconnected`), which
    /// drive [`AccountBook::syncing`], [`AccountBook::snapshot`] and [`AccountBook::down`] instead.
    pub fn from_user(event: crate::UserEvent) -> Option<Self> {
        use crate::UserEvent as U;
        match event {
            U::Account(a) => Some(Self::Account(a)),
            U::Order(o) => Some(Self::Order(o)),
            U::Position(p) => Some(Self::Position(p)),
            U::Trade(t) => Some(Self::Trade(t)),
            U::Connected { .. } | U::Disconnected { .. } => None,
        }
    }

    /// The account the event belongs to.
    pub fn account_id(&self) -> crate::AccountId {
        match self {
            Self::Account(a) => a.id,
            Self::Order(o) => o.account_id,
            Self::Position(p) => p.account_id,
            Self::Trade(t) => t.account_id,
        }
    }
}

/// The REST view of an account taken after a (re)connect: `Account/search`, `Order/searchOpen`,
/// `Position/searchOpen`, `Trade/search` since the start of the trading day.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Snapshot {
    /// The account, when listed.
    pub account: Option<Account>,
    /// Working orders.
    pub orders: Vec<Order>,
    /// Open positions.
    pub positions: Vec<Position>,
    /// Today's trades.
    pub trades: Vec<Trade>,
}

impl Snapshot {
    /// The working orders of a snapshot from both order queries: `Order/searchOpen` (every working order, however old)
    /// and `Order/search` over the trading day, whose working ones include the Suspended (8) bracket legs that
    /// `Order/searchOpen` omits (API notes §9.16 [T]; the "v2 query" there is undocumented, so the history search
    /// stands in for it). One entry per id; when both list an order, the later `updateTimestamp` wins.
    pub fn working_orders(open: Vec<Order>, searched: Vec<Order>) -> Vec<Order> {
        let mut by_id: BTreeMap<OrderId, Order> = BTreeMap::new();
        for order in open.into_iter().chain(searched).filter(|o| o.status.is_working()) {
            match by_id.get(&order.id) {
                Some(held) if held.update_timestamp > order.update_timestamp => {}
                _ => {
                    by_id.insert(order.id, order);
                }
            }
        }
        by_id.into_values().collect()
    }
}

/// What an event or a snapshot changed that the app acts on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// A position on this contract went flat (by a close, a bracket fill, or anything else): its leftover working
    /// orders may now be orphans.
    Flat(ContractId),
}

/// Whether the book can be trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sync {
    /// No hub connection: reads are not live (use REST).
    Down,
    /// Connected, snapshot in flight; events are buffered.
    Syncing,
    /// Snapshot applied and events flowing: reads are live.
    Live,
}

#[derive(Clone, Debug)]
struct Expectation {
    /// The signed position expected once the sent order is done.
    position: i64,
    since: Instant,
}

/// One account's state. See the module docs for how events and snapshots combine.
#[derive(Debug)]
pub struct AccountBook {
    account: Option<Account>,
    /// Working orders by id (Open, Pending, Suspended, PendingCancellation); finished ones are removed.
    orders: BTreeMap<OrderId, Order>,
    /// Orders seen finished (filled, cancelled, rejected, expired) and when: a late event for one is ignored.
    finished: HashMap<OrderId, Option<chrono::DateTime<chrono::Utc>>>,
    /// Open positions by contract; a flat position is removed.
    positions: BTreeMap<ContractId, Position>,
    /// Today's trades by id.
    trades: BTreeMap<i64, Trade>,
    sync: Sync,
    /// Events received while the snapshot is in flight, replayed over it in order.
    buffered: Vec<BookEvent>,
    expected: HashMap<ContractId, Expectation>,
}

impl Default for AccountBook {
    fn default() -> Self {
        Self {
            account: None,
            orders: BTreeMap::new(),
            finished: HashMap::new(),
            positions: BTreeMap::new(),
            trades: BTreeMap::new(),
            sync: Sync::Down,
            buffered: Vec::new(),
            expected: HashMap::new(),
        }
    }
}

/// The signed size of a position (long > 0).
pub fn signed_size(p: &Position) -> i64 {
    match p.position_type {
        PositionType::Short => -i64::from(p.size),
        _ => i64::from(p.size),
    }
}

impl AccountBook {
    /// A book that is not live yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The hub (re)connected and resubscribed: buffer events until [`Self::snapshot`].
    pub fn syncing(&mut self) {
        self.sync = Sync::Syncing;
        self.buffered.clear();
    }

    /// The hub connection is gone: reads are not live until the next snapshot.
    pub fn down(&mut self) {
        self.sync = Sync::Down;
        self.buffered.clear();
    }

    /// Whether reads reflect the gateway (connected and synced).
    pub fn sync(&self) -> Sync {
        self.sync.clone()
    }

    /// Whether reads reflect the gateway (connected and synced).
    pub fn is_live(&self) -> bool {
        self.sync == Sync::Live
    }

    /// Replaces the state with `snapshot`, replays the events buffered meanwhile, and goes live. Returns the
    /// contracts whose positions the snapshot or the replay found flat that the book held open before.
    pub fn snapshot(&mut self, snapshot: Snapshot) -> Vec<Change> {
        let before: Vec<ContractId> = self.positions.keys().cloned().collect();
        self.account = snapshot.account.or(self.account.take());
        self.orders = snapshot.orders.into_iter().filter(|o| o.status.is_working()).map(|o| (o.id, o)).collect();
        self.finished.retain(|id, _| !self.orders.contains_key(id));
        self.positions =
            snapshot.positions.into_iter().filter(|p| p.size != 0).map(|p| (p.contract_id.clone(), p)).collect();
        for trade in snapshot.trades {
            self.trades.insert(trade.id, trade);
        }
        self.expected.clear();
        let buffered = std::mem::take(&mut self.buffered);
        self.sync = Sync::Live;
        let mut changes: Vec<Change> =
            before.into_iter().filter(|c| !self.positions.contains_key(c)).map(Change::Flat).collect();
        for event in buffered {
            changes.extend(self.apply(event));
        }
        changes
    }

    /// Applies an event (buffered while syncing). Returns what it changed that the app acts on.
    pub fn event(&mut self, event: BookEvent) -> Vec<Change> {
        if self.sync == Sync::Syncing {
            self.buffered.push(event);
            return Vec::new();
        }
        self.apply(event)
    }

    fn apply(&mut self, event: BookEvent) -> Vec<Change> {
        match event {
            BookEvent::Account(a) => self.account = Some(a),
            BookEvent::Order(o) => {
                let held =
                    self.orders.get(&o.id).map(|h| h.update_timestamp).or_else(|| self.finished.get(&o.id).copied());
                // Older than what the book holds: a late event. Equal times are not "older": same state again.
                let older = matches!((held, o.update_timestamp), (Some(Some(h)), Some(n)) if n < h);
                // A finished order never works again, whatever the timestamps say.
                let reopened = self.finished.contains_key(&o.id) && o.status.is_working();
                if !older && !reopened {
                    if o.status.is_working() {
                        self.orders.insert(o.id, o);
                    } else {
                        self.orders.remove(&o.id);
                        self.finished.insert(o.id, o.update_timestamp);
                    }
                }
            }
            BookEvent::Position(p) => {
                self.expected.remove(&p.contract_id);
                if p.size == 0 {
                    let was_open = self.positions.remove(&p.contract_id).is_some();
                    return if was_open { vec![Change::Flat(p.contract_id)] } else { Vec::new() };
                }
                self.positions.insert(p.contract_id.clone(), p);
            }
            BookEvent::Trade(t) => {
                self.trades.insert(t.id, t);
            }
        }
        Vec::new()
    }

    /// pxrelay just sent an order (or a close) that will leave `contract` at `position` (signed): reads return that
    /// until the next position event for the contract, or for [`EXPECTATION_TTL`].
    pub fn expect(&mut self, contract: &ContractId, position: i64) {
        self.expected.insert(contract.clone(), Expectation { position, since: Instant::now() });
    }

    /// The signed position on `contract` (long > 0): an expectation set by [`Self::expect`] while it stands, else
    /// the last position event or snapshot.
    pub fn position(&self, contract: &ContractId) -> i64 {
        if let Some(e) = self.expected.get(contract).filter(|e| e.since.elapsed() < EXPECTATION_TTL) {
            return e.position;
        }
        self.positions.get(contract).map_or(0, signed_size)
    }

    /// The account as last seen.
    pub fn account(&self) -> Option<&Account> {
        self.account.as_ref()
    }

    /// Open positions.
    pub fn positions(&self) -> impl Iterator<Item = &Position> {
        self.positions.values()
    }

    /// Working orders (bracket legs included), oldest id first.
    pub fn working_orders(&self) -> impl Iterator<Item = &Order> {
        self.orders.values()
    }

    /// Working orders on `contract`.
    pub fn working_on<'a>(&'a self, contract: &'a ContractId) -> impl Iterator<Item = &'a Order> + 'a {
        self.orders.values().filter(move |o| &o.contract_id == contract)
    }

    /// Today's trades, in id order.
    pub fn trades(&self) -> impl Iterator<Item = &Trade> {
        self.trades.values()
    }

    /// Realized P&L of today's trades (USD, before fees; voided trades excluded).
    pub fn realized_pnl(&self) -> Decimal {
        self.trades.values().filter(|t| !t.voided).filter_map(|t| t.profit_and_loss).sum()
    }

    /// Fees of today's trades (USD; voided trades excluded).
    pub fn fees(&self) -> Decimal {
        self.trades.values().filter(|t| !t.voided).map(|t| t.fees).sum()
    }
}

#[cfg(test)]
mod tests;
