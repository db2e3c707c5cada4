//! The simulated exchange: accounts, the order book, positions and fills, behind one lock so every
//! operation is atomic. Market orders fill at once at the contract's last price; limit, stop and
//! join orders rest as Open (trailing stops too, but they never trigger) until a price move reaches
//! them (`matching.rs`: triggers, bracket legs, OCO). Position accounting and trade records live in
//! `fills.rs`, the `Order/place` rules in `validate.rs`.
//!
//! Every change a user-hub client would hear about is also queued in `Book::events`, in life-cycle
//! order: an order's Open snapshot, its Filled snapshot, the position, the trade, the account
//! balance, then bracket legs created or cancelled. `Shared::trade` drains the queue after each
//! operation and hands it to the hubs while the lock is still held, so events reach subscribers
//! in the order the exchange made the changes.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::config::{SimAccount, SimContract};
use crate::fills::{LONG, SimPosition, SimTrade};
use crate::market::Market;
use crate::orders::{
    BUY, Bracket, CANCELLED, JOIN_ASK, JOIN_BID, MARKET, Modify, OPEN, PlaceOrder, REJECTED, Reason, Refusal, SELL,
    SimOrder, new_order, refuse,
};
use crate::validate;

/// Accounts and everything traded on them. Plain data inside the exchange lock.
#[derive(Debug)]
pub(crate) struct Book {
    pub(crate) accounts: Vec<SimAccount>,
    pub(crate) orders: Vec<SimOrder>,
    pub(crate) positions: Vec<SimPosition>,
    pub(crate) trades: Vec<SimTrade>,
    pub(crate) next_order_id: i64,
    pub(crate) next_trade_id: i64,
    pub(crate) next_position_id: i32,
    /// Changes for the user hub, oldest first; drained by `Shared::trade` after every operation.
    pub(crate) events: Vec<UserEvent>,
    /// Indices into `orders` of orders that may trigger on a price move (resting limits, stops,
    /// joins, bracket legs); entries whose order left Open are dropped lazily by the matcher.
    pub(crate) working: Vec<usize>,
    /// Brackets of entries that have not filled yet, by entry order id: `[stop loss, take profit]`.
    /// The legs are created when the entry fills, at their tick offsets from the fill price.
    pub(crate) pending_brackets: HashMap<i64, [Option<Bracket>; 2]>,
    /// `SimConfig::cancel_brackets_when_flat`.
    pub(crate) cancel_brackets_when_flat: bool,
}

/// One change the user hub reports (`GatewayUserAccount`/`Order`/`Position`/`Trade`).
#[derive(Debug, Clone)]
pub(crate) enum UserEvent {
    Account(SimAccount),
    Order(SimOrder),
    /// A position after the change (`size` 0 when it went flat) and whether the change opened it.
    Position {
        position: SimPosition,
        opened: bool,
    },
    Trade(SimTrade),
}

impl UserEvent {
    /// The `action` of the `{"action", "data"}` wrapper (`UserEventShape::Wrapped`): 0 create,
    /// 1 update, 2 delete.
    pub(crate) fn action(&self) -> u8 {
        match self {
            Self::Order(order) if order.updated.is_none() => 0,
            Self::Position { opened: true, .. } | Self::Trade(_) => 0,
            Self::Position { position, .. } if position.size == 0 => 2,
            Self::Account(_) | Self::Order(_) | Self::Position { .. } => 1,
        }
    }
}

impl Book {
    pub(crate) fn new(accounts: Vec<SimAccount>, cancel_brackets_when_flat: bool) -> Self {
        Self {
            accounts,
            orders: Vec::new(),
            positions: Vec::new(),
            trades: Vec::new(),
            next_order_id: 100_000_001,
            next_trade_id: 500_000_001,
            next_position_id: 1,
            events: Vec::new(),
            working: Vec::new(),
            pending_brackets: HashMap::new(),
            cancel_brackets_when_flat,
        }
    }

    /// Queues a snapshot of the order with this id (the last one pushed, if ids repeat).
    pub(crate) fn emit_order(&mut self, id: i64) {
        if let Some(order) = self.orders.iter().rev().find(|o| o.id == id) {
            self.events.push(UserEvent::Order(order.clone()));
        }
    }

    pub(crate) fn account(&self, id: i32) -> Result<&SimAccount, Refusal> {
        match self.accounts.iter().find(|a| a.id == id) {
            Some(account) => Ok(account),
            None => refuse(Reason::AccountNotFound, format!("Account {id} not found.")),
        }
    }

    pub(crate) fn order_id(&mut self) -> i64 {
        let id = self.next_order_id;
        self.next_order_id += 1;
        id
    }

    /// Records a market order (Open snapshot) and fills it at once at the last price.
    pub(crate) fn market_fill(
        &mut self,
        contract: &SimContract,
        account_id: i32,
        side: i32,
        size: i32,
        now: DateTime<Utc>,
    ) -> i64 {
        let id = self.order_id();
        let index = self.orders.len();
        self.orders.push(new_order(id, account_id, contract, MARKET, side, size, now));
        self.emit_order(id);
        self.execute(contract, index, contract.price, now);
        id
    }
}

/// Everything behind the simulator's one trading lock.
#[derive(Debug)]
pub(crate) struct Exchange {
    pub(crate) market: Market,
    pub(crate) book: Book,
}

impl Exchange {
    /// `Order/place`: an unknown account gets no id; every other refusal is stored as Rejected.
    pub(crate) fn place(&mut self, req: PlaceOrder, now: DateTime<Utc>) -> (Option<i64>, Result<(), Refusal>) {
        let can_trade = match self.book.account(req.account_id) {
            Ok(account) => account.can_trade,
            Err(refusal) => return (None, Err(refusal)),
        };
        let tag_taken = req.custom_tag.as_ref().is_some_and(|tag| {
            let book = &self.book;
            book.orders
                .iter()
                .any(|o| o.account_id == req.account_id && o.status != REJECTED && o.custom_tag.as_ref() == Some(tag))
        });
        let contract = self.market.get(&req.contract_id).cloned();
        let id = self.book.order_id();
        let mut order = SimOrder {
            contract_id: req.contract_id.clone(),
            limit_price: req.limit_price,
            stop_price: req.stop_price,
            trail_price: req.trail_price,
            custom_tag: req.custom_tag.clone(),
            ..new_order(
                id,
                req.account_id,
                contract.as_ref().unwrap_or(&UNKNOWN),
                req.order_type,
                req.side,
                req.size,
                now,
            )
        };
        let contract = match validate::place(&req, can_trade, contract.as_ref(), tag_taken) {
            Ok(contract) => contract.clone(),
            Err(refusal) => {
                order.status = REJECTED;
                order.rejection = Some(refusal.message.clone());
                self.book.orders.push(order);
                self.book.emit_order(id);
                return (Some(id), Err(refusal));
            }
        };
        match req.order_type {
            JOIN_BID => order.limit_price = Some((contract.price - contract.tick_size).normalize()),
            JOIN_ASK => order.limit_price = Some((contract.price + contract.tick_size).normalize()),
            _ => {}
        }
        let index = self.book.orders.len();
        self.book.orders.push(order);
        self.book.emit_order(id);
        if req.stop_loss.is_some() || req.take_profit.is_some() {
            self.book.pending_brackets.insert(id, [req.stop_loss, req.take_profit]);
        }
        if req.order_type == MARKET {
            self.book.execute(&contract, index, contract.price, now);
        } else {
            self.book.working.push(index);
            self.book.fill_if_marketable(&contract, index, now);
        }
        (Some(id), Ok(()))
    }

    /// `Order/modify`: changes the given fields of an Open order.
    pub(crate) fn modify(
        &mut self,
        account_id: i32,
        order_id: i64,
        change: Modify,
        now: DateTime<Utc>,
    ) -> Result<(), Refusal> {
        let order = self.open_order(account_id, order_id)?;
        let tick = self.market.get(&order.contract_id).map_or(Decimal::ZERO, |c| c.tick_size);
        validate::modify(order, &change, tick)?;
        let order = self.open_order_mut(account_id, order_id)?;
        order.size = change.size.unwrap_or(order.size);
        order.limit_price = change.limit_price.or(order.limit_price);
        order.stop_price = change.stop_price.or(order.stop_price);
        order.trail_price = change.trail_price.or(order.trail_price);
        order.updated = Some(now);
        self.book.emit_order(order_id);
        let index = self.book.orders.iter().position(|o| o.id == order_id && o.account_id == account_id);
        let index = index.expect("open_order_mut just found this order");
        if let Some(contract) = self.market.get(&self.book.orders[index].contract_id).cloned() {
            self.book.fill_if_marketable(&contract, index, now);
        }
        Ok(())
    }

    /// `Order/cancel`: Open → Cancelled.
    pub(crate) fn cancel(&mut self, account_id: i32, order_id: i64, now: DateTime<Utc>) -> Result<(), Refusal> {
        let order = self.open_order_mut(account_id, order_id)?;
        order.status = CANCELLED;
        order.updated = Some(now);
        self.book.pending_brackets.remove(&order_id);
        self.book.emit_order(order_id);
        Ok(())
    }

    /// `Position/closeContract` (`size: None`) and `partialCloseContract`: a filled market order
    /// against the position.
    pub(crate) fn close(
        &mut self,
        account_id: i32,
        contract_id: &str,
        size: Option<i32>,
        now: DateTime<Utc>,
    ) -> Result<i64, Refusal> {
        if !self.book.account(account_id)?.can_trade {
            return refuse(Reason::AccountRejected, format!("Account {account_id} is not allowed to trade."));
        }
        let Some(contract) = self.market.get(contract_id).cloned() else {
            return refuse(Reason::ContractNotFound, format!("Contract {contract_id} not found."));
        };
        let Some(position) =
            self.book.positions.iter().find(|p| p.account_id == account_id && p.contract_id == contract_id)
        else {
            return refuse(Reason::PositionNotFound, format!("No open position in {contract_id}."));
        };
        let size = match size {
            None => position.size,
            Some(n) if n > 0 && n <= position.size => n,
            Some(n) => {
                return refuse(
                    Reason::InvalidCloseSize,
                    format!("Invalid close size ({n}). The position holds {}.", position.size),
                );
            }
        };
        let side = if position.position_type == LONG { SELL } else { BUY };
        Ok(self.book.market_fill(&contract, account_id, side, size, now))
    }

    fn open_order(&self, account_id: i32, order_id: i64) -> Result<&SimOrder, Refusal> {
        self.book.account(account_id)?;
        let Some(order) = self.book.orders.iter().find(|o| o.id == order_id && o.account_id == account_id) else {
            return refuse(Reason::OrderNotFound, format!("Order {order_id} not found."));
        };
        if order.status != OPEN {
            return refuse(Reason::Rejected, format!("Order {order_id} is not open (status {}).", order.status));
        }
        Ok(order)
    }

    fn open_order_mut(&mut self, account_id: i32, order_id: i64) -> Result<&mut SimOrder, Refusal> {
        self.open_order(account_id, order_id)?;
        let order = self.book.orders.iter_mut().find(|o| o.id == order_id && o.account_id == account_id);
        Ok(order.expect("open_order just found this order"))
    }
}

/// Stand-in for orders on unknown contracts (they are rejected, but still get an id and a record).
static UNKNOWN: SimContract = SimContract {
    id: String::new(),
    name: String::new(),
    description: String::new(),
    tick_size: Decimal::ZERO,
    tick_value: Decimal::ZERO,
    active: false,
    symbol_id: String::new(),
    price: Decimal::ZERO,
};
