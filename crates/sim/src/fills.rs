//! Fills: trade records, net positions and realised P&L. A fill first closes against an opposite
//! position (one trade with `profitAndLoss` = price move / tickSize × tickValue × closed size), and
//! any remainder opens or extends a position (a trade with `profitAndLoss: null`), so a reversal
//! writes two trades. Fees are a flat 0.37 per contract per fill; P&L minus fees is booked into the
//! account balance. Each part of a fill queues user-hub events in this order: position (size 0 when
//! flat), trade, account (new balance). When a position goes flat its bracket legs stay working
//! (live behaviour), unless `SimConfig::cancel_brackets_when_flat` is set: then its Open bracket
//! children on that contract are cancelled after those events.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::SimContract;
use crate::exchange::{Book, UserEvent};
use crate::orders::{BUY, CANCELLED, OPEN};

pub(crate) const LONG: i32 = 1;
pub(crate) const SHORT: i32 = 2;

/// Fee per contract per fill.
const FEE_PER_CONTRACT: Decimal = Decimal::from_parts(37, 0, 0, false, 2);
/// Decimal places kept for average prices.
const PRICE_DP: u32 = 9;

/// A net open position (`positions[]`); removed when flat.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimPosition {
    /// Position id; a new one each time a position opens.
    pub id: i32,
    /// Owning account.
    pub account_id: i32,
    /// Contract id.
    pub contract_id: String,
    /// `creationTimestamp`: when the position opened.
    #[serde(rename = "creationTimestamp")]
    pub created: DateTime<Utc>,
    /// PositionType (`type` on the wire): 1 Long, 2 Short.
    #[serde(rename = "type")]
    pub position_type: i32,
    /// Contracts, always positive.
    pub size: i32,
    /// Volume-weighted entry price (9 decimal places at most).
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub average_price: Decimal,
}

/// A half-turn fill (`trades[]`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SimTrade {
    /// Trade id.
    pub id: i64,
    /// Owning account.
    pub account_id: i32,
    /// Contract id.
    pub contract_id: String,
    /// `creationTimestamp`.
    #[serde(rename = "creationTimestamp")]
    pub created: DateTime<Utc>,
    /// Fill price.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub price: Decimal,
    /// Realised P&L of a closing fill; `None` (null) for opening fills.
    #[serde(with = "rust_decimal::serde::arbitrary_precision_option")]
    pub profit_and_loss: Option<Decimal>,
    /// Fees for this fill.
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub fees: Decimal,
    /// OrderSide: 0 buy, 1 sell.
    pub side: i32,
    /// Contracts.
    pub size: i32,
    /// Always false.
    pub voided: bool,
    /// The order that filled.
    pub order_id: i64,
}

/// One execution to book.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fill {
    pub(crate) account_id: i32,
    pub(crate) side: i32,
    pub(crate) size: i32,
    pub(crate) price: Decimal,
    pub(crate) order_id: i64,
    pub(crate) at: DateTime<Utc>,
}

impl Book {
    /// Books an execution: position, trades, balance (and the optional cleanup when flat).
    pub(crate) fn fill(&mut self, contract: &SimContract, fill: Fill) {
        let direction = if fill.side == BUY { LONG } else { SHORT };
        let mut remaining = fill.size;
        let existing =
            self.positions.iter().position(|p| p.account_id == fill.account_id && p.contract_id == contract.id);
        if let Some(index) = existing {
            let position = &mut self.positions[index];
            if position.position_type == direction {
                let total = position.size + remaining;
                let cost =
                    position.average_price * Decimal::from(position.size) + fill.price * Decimal::from(remaining);
                position.average_price = (cost / Decimal::from(total)).round_dp(PRICE_DP).normalize();
                position.size = total;
                let changed = position.clone();
                self.events.push(UserEvent::Position { position: changed, opened: false });
                self.record_trade(contract, fill, remaining, None);
                return;
            }
            let closed = remaining.min(position.size);
            let sign = if position.position_type == LONG { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            let pnl = if contract.tick_size.is_zero() {
                Decimal::ZERO
            } else {
                (fill.price - position.average_price) * sign / contract.tick_size
                    * contract.tick_value
                    * Decimal::from(closed)
            };
            position.size -= closed;
            remaining -= closed;
            let changed = position.clone();
            self.events.push(UserEvent::Position { position: changed, opened: false });
            self.record_trade(contract, fill, closed, Some(pnl.round_dp(PRICE_DP).normalize()));
            if self.positions[index].size == 0 {
                self.positions.remove(index);
                if self.cancel_brackets_when_flat {
                    self.cancel_brackets(fill.account_id, &contract.id, fill.at);
                }
            }
        }
        if remaining > 0 {
            let id = self.next_position_id;
            self.next_position_id += 1;
            let position = SimPosition {
                id,
                account_id: fill.account_id,
                contract_id: contract.id.clone(),
                created: fill.at,
                position_type: direction,
                size: remaining,
                average_price: fill.price.normalize(),
            };
            self.positions.push(position.clone());
            self.events.push(UserEvent::Position { position, opened: true });
            self.record_trade(contract, fill, remaining, None);
        }
    }

    fn record_trade(&mut self, contract: &SimContract, fill: Fill, size: i32, pnl: Option<Decimal>) {
        let fees = (FEE_PER_CONTRACT * Decimal::from(size)).normalize();
        let mut account_changed = None;
        if let Some(account) = self.accounts.iter_mut().find(|a| a.id == fill.account_id) {
            account.balance = (account.balance + pnl.unwrap_or_default() - fees).normalize();
            account_changed = Some(account.clone());
        }
        let id = self.next_trade_id;
        self.next_trade_id += 1;
        let trade = SimTrade {
            id,
            account_id: fill.account_id,
            contract_id: contract.id.clone(),
            created: fill.at,
            price: fill.price.normalize(),
            profit_and_loss: pnl,
            fees,
            side: fill.side,
            size,
            voided: false,
            order_id: fill.order_id,
        };
        self.trades.push(trade.clone());
        self.events.push(UserEvent::Trade(trade));
        self.events.extend(account_changed.map(UserEvent::Account));
    }

    /// `cancel_brackets_when_flat`: cancels the account's Open bracket children on the contract.
    fn cancel_brackets(&mut self, account_id: i32, contract_id: &str, at: DateTime<Utc>) {
        let children = self.orders.iter_mut().filter(|o| {
            o.account_id == account_id
                && o.contract_id == contract_id
                && o.parent_order_id.is_some()
                && o.status == OPEN
        });
        for child in children {
            child.status = CANCELLED;
            child.updated = Some(at);
            self.events.push(UserEvent::Order(child.clone()));
        }
    }
}
